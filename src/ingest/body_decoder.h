// Request-body decompression for the write API: DataKit's `encoding` query parameter or the
// Content-Encoding header. Pure functions; thread-safe (each call owns its zlib/zstd state).
//
// Encodings (names are matched case-insensitively, surrounding spaces ignored):
//   "" / "identity"     not compressed
//   "gzip" / "x-gzip"   RFC 1952; concatenated members are decoded one after another (as
//                       `gzip -d` and Go's gzip.Reader do)
//   "deflate"           RFC 1950 zlib-wrapped deflate; raw RFC 1951 deflate when the first two
//                       bytes are not a zlib header (what some clients send, browsers accept)
//   "zstd"              RFC 8878 zstd frames, one or several, with or without the content size
//                       in the frame header (skippable frames are skipped)
// Anything else is kInvalidArgument "unsupported encoding 'br' (want gzip, deflate or zstd)".
//
// Limits: decoding stops as soon as the output passes `max_decoded_bytes` (kResourceExhausted
// "decoded body is larger than the limit of N bytes"), so a decompression bomb costs at most
// max_decoded_bytes + 1 bytes of output buffer, never its full size. A zstd frame that declares a
// larger content size is refused before decoding. The limit applies to identity bodies too, so a
// caller can use one limit for "bytes to parse". A zstd frame whose window needs more memory than
// the limit justifies (at least 8 MiB, at most 128 MiB) is kResourceExhausted as well.
//
// Errors: corrupt or truncated data, and anything after the last gzip member / deflate stream /
// zstd frame (even zero padding), is kInvalidArgument with zlib's / zstd's reason, e.g.
// "invalid gzip body: incorrect header check" or "truncated zstd body (the stream ends early)".
// An empty body decodes to an empty body whatever the encoding (there is nothing to decode).
//
// No copy for uncompressed bodies: call ParseBodyEncoding first and use the body in place when it
// gives kIdentity; DecodeBody(string_view encoding) is the convenience that always returns an
// owned string (copying an identity body).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pythond::ingest {

enum class BodyEncoding { kIdentity, kGzip, kDeflate, kZstd };

// "identity", "gzip", "deflate", "zstd".
std::string_view BodyEncodingName(BodyEncoding encoding);

// Parses an `encoding` parameter / Content-Encoding value. kInvalidArgument for unknown names.
StatusOr<BodyEncoding> ParseBodyEncoding(std::string_view name);

// Decodes `body`. For kIdentity the result is a copy of `body` (after the limit check).
StatusOr<std::string> DecodeBody(std::string_view body, BodyEncoding encoding,
                                 size_t max_decoded_bytes);

// ParseBodyEncoding + DecodeBody.
StatusOr<std::string> DecodeBody(std::string_view body, std::string_view encoding,
                                 size_t max_decoded_bytes);

}  // namespace pythond::ingest
