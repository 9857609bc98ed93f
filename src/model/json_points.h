// DataKit's JSON write body: [{"measurement":..,"tags":{..},"fields":{..},"time":..}, ...]
// (a single object is accepted too). Pure; thread-safe (a parser per call).
//
// Better than DataKit: a JSON integer stays an integer (int64, or uint64 above INT64_MAX); a
// JSON number with a fraction or exponent is a float; true/false a bool; a string a string.
// A null field is dropped. Nested objects/arrays as field values are errors. Tag values must be
// strings (numbers and bools are converted to their JSON text). "time" is an integer in the
// request's precision (magnitude-detected when absent); missing time = now.
#pragma once

#include <string_view>

#include "model/line_protocol.h"

namespace pythond::model {

ParseResult ParseJsonPoints(std::string_view body, const ParseOptions& options);

}  // namespace pythond::model
