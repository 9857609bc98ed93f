// InfluxDB line protocol, DataKit's dialect: decode a request body into typed points, and
// encode points back to line protocol. Pure functions; thread-safe.
//
// Decoding rules (docs/API.md has the user-facing list):
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
//   - `\,` `\ ` and `\\` escape in measurements; `\,` `\=` `\ ` and `\\` in tag keys/values and
//     field keys (InfluxDB 2 and VictoriaMetrics read `\\` so; a lone `\` stays literal).
//   - Field values: 12i (int64), 12u (uint64), 1.5 / -2 / 1e3 (float), t T true True TRUE
//     f F false False FALSE (bool), "text" with \" and \\ escapes and raw newlines (string),
//     "aGVsbG8="b (bytes: base64, standard or URL-safe alphabet, '=' padding optional, CR/LF
//     skipped; bad base64 is an error naming the field).
//   - Arrays: [1i,2i] [1u] [1.5,2] [true,f] ["a","b"] []: elements are the scalars above, all of
//     one type (else "array elements must all have one type"); spaces/tabs may stand around
//     elements and one trailing comma is allowed. Arrays of bytes and nested arrays are errors.
//   - Lines starting with '#' (after optional spaces) and blank lines are skipped; CRLF is
//     accepted. A missing timestamp means ParseOptions::now_ns.
//   - Repeated tag keys are an error; a repeated field key keeps its last value.
// A body with any bad line yields its errors (line, column, reason; the first
// ParseOptions::max_errors kept, all counted) and the caller refuses the body whole, as
// DataKit does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/point.h"
#include "model/precision.h"

namespace pythond::model {

struct ParseOptions {
  Precision precision = Precision::kAuto;
  int64_t now_ns = 0;  // time given to points without a timestamp
  // At most this many errors are kept (all are counted): a body of a million bad lines must
  // not cost a million error strings.
  size_t max_errors = 100;
  // More points than this (0: no limit) refuse the body before any point is built: the body's
  // lines for line protocol, the array's length for JSON (ParseResult::too_many_points).
  size_t max_points = 0;
};

struct ParseError {
  // Line protocol: 1-based line number and 1-based byte column within that line.
  // JSON and PB-JSON: line is the 1-based point index in the array (0 for an error about the
  // whole body) and column is 0.
  int line = 0;
  int column = 0;
  std::string reason;
  std::string excerpt;  // the offending line (line protocol), cut to 80 bytes
};

struct ParseResult {
  std::vector<Point> points;
  std::vector<ParseError> errors;  // non-empty means: refuse the whole body
  size_t error_count = 0;          // every bad line/point, kept in `errors` or not
  bool too_many_points = false;    // over ParseOptions::max_points (one error says so)
};

// Checks `count` against options.max_points: false (and the error recorded) when over.
bool WithinMaxPoints(ParseResult& result, const ParseOptions& options, size_t count);

ParseResult ParseLineProtocol(std::string_view body, const ParseOptions& options);

// Counts an error in `result` and keeps it while fewer than options.max_errors are kept
// (for the JSON decoders: `line` is the 1-based point index, 0 for the body).
void AddParseError(ParseResult& result, const ParseOptions& options, int line, std::string reason);

// One message for a 400 body: "line 1, column 16: expected a field value (cpu,host=a usage=)"
// for each error, joined with "; ". At most `max_errors` are listed, then "and N more".
// `total` is the number of errors found (ParseResult::error_count) when more were found than
// kept; "and N more" counts from it.
std::string FormatParseErrors(const std::vector<ParseError>& errors, bool json,
                              size_t max_errors = 20, size_t total = 0);

// Appends one line (with trailing '\n') in canonical line protocol: ints with 'i', uints with
// 'u', floats in shortest round-trip form, strings quoted and escaped, bytes as "<base64>"b
// (standard alphabet, padded), arrays as [e,e,...] with elements written the same way, timestamp
// in ns. ParseLineProtocol reads the line back to an equal point.
void AppendLineProtocol(std::string& out, const Point& point);

}  // namespace pythond::model
