// DataKit's JSON write body: [{"measurement":..,"tags":{..},"fields":{..},"time":..}, ...]
// (a single object is accepted too). Pure; thread-safe (a parser per call).
//
// Better than DataKit: a JSON integer stays an integer (int64, or uint64 above INT64_MAX); a
// JSON number with a fraction or exponent is a float; true/false a bool; a string a string.
// A null field is dropped. An array of scalars of one JSON type is an Array field: all-integer
// arrays are int64 (uint64 if one is above INT64_MAX; a negative one then is an error), integers
// mixed with floats all become floats, strings stay strings, bools bools; an empty array is an
// empty Array. Mixing types (number/string/bool), null elements, nested arrays and objects are
// errors naming the point and field. JSON has no bytes type, so Bytes never come from this format.
// Tag values must be strings (numbers and bools are converted to their JSON text). "time" is an
// integer in the request's precision (magnitude-detected when absent); missing time = now.
#pragma once

#include <string_view>

#include "model/line_protocol.h"

namespace pythond::model {

ParseResult ParseJsonPoints(std::string_view body, const ParseOptions& options);

}  // namespace pythond::model
