// Small string helpers with no pythond concepts. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pythond {

std::vector<std::string> SplitString(std::string_view s, char sep);
std::string_view TrimSpace(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
// `s` with every occurrence of `from` (non-empty) replaced by `to`.
std::string ReplaceAll(std::string s, std::string_view from, std::string_view to);
// Percent-decodes s ('+' is a space). Malformed escapes are kept literally.
std::string PercentDecode(std::string_view s);
// Appends s to out as the body of a JSON string (without the quotes), escaping as RFC 8259
// requires. Invalid UTF-8 bytes are replaced with U+FFFD so the result is always valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view s);
std::string JsonQuote(std::string_view s);
// A name from a client (an input or plugin name) made safe to show anywhere: invalid UTF-8
// bytes and control characters become U+FFFD, and it is cut to at most `max_bytes` bytes
// without splitting a character.
std::string SafeName(std::string_view s, size_t max_bytes = 128);
// `s` as valid UTF-8 (invalid bytes become U+FFFD; control characters kept), cut to at most
// `max_bytes` bytes without splitting a character.
std::string ValidUtf8(std::string_view s, size_t max_bytes);
// Text from a client or a script made fit for one log line: valid UTF-8, control characters
// escaped (\n, \t, \x1b...), cut after `max_bytes` input bytes with "… (N more bytes)".
std::string LogSafe(std::string_view s, size_t max_bytes = 512);
// Shortest decimal text that reads back as the same double, always with a '.' or exponent so
// JSON readers (SQLite's json_type) see a real, not an integer. Requires a finite value.
void AppendJsonDouble(std::string& out, double v);
// Parses a duration like "10s", "1.5m", "500ms", "2h", "7d" into nanoseconds; a bare number is
// seconds. Returns false on bad input.
bool ParseDuration(std::string_view text, int64_t* out_ns);

}  // namespace pythond
