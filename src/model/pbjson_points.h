// DataKit's PB-JSON write body (Content-Type: application/pbjson; proto=com.guance.Point): the
// protojson form of GuanceCloud's point.PBPoint messages. Pure; thread-safe (a parser per call).
//
//   [{"name":"cpu",
//     "fields":[{"key":"host","s":"web-1","is_tag":true},
//               {"key":"usage","f":12.5,"type":"GAUGE","unit":"%"},
//               {"key":"count","i":"42"}, {"key":"total","u":"18446744073709551615"},
//               {"key":"ok","b":true}, {"key":"raw","d":"aGVsbG8="},
//               {"key":"ids","a":{"@type":"type.googleapis.com/point.Array",
//                                 "arr":[{"i":"1"},{"i":"2"}]}}],
//     "time":"1709523668830398000"}]
//
// Rules:
//   - The body is a JSON array of points; a PBPoints object {"arr":[...]} and a single point
//     object are accepted too. Keys are case-sensitive, as in protojson; unknown keys are errors.
//   - A point has "name" (required, non-empty), "fields" (required: an array of fields) and
//     "time" (int64 as a JSON string or integer, in the request's precision, magnitude-detected
//     when absent; absent, null or 0 = now, since proto3 cannot tell 0 from unset). "warns" and
//     "debugs" are read past and ignored.
//   - A field has "key" (required, non-empty) and at most one value: "i" int64 and "u" uint64
//     (JSON string or integer), "f" double (JSON number or numeric string; NaN/Infinity are
//     errors), "b" bool, "d" bytes (base64, standard or URL-safe, padding optional), "s" string,
//     "a" an Any holding a point.Array (see below). A field with no value (or only null values) is
//     dropped, like a null JSON field. "is_tag" (also "isTag") true makes the field a tag, whose
//     value must be "s" (or "d", taken as text). "type" (metric type) and "unit" are accepted and
//     ignored.
//   - "a": {"@type":"type.googleapis.com/point.Array","arr":[{"i":"1"},...]}: elements are
//     {"<x>":value} with x one of i u f b s, all the same x; an empty or missing "arr" is an empty
//     array. Arrays of bytes (d), point.Map values and other Any types are errors.
//   - Repeated tag or field keys keep their first position and last value. A point needs at least
//     one field that is not a tag.
// Errors use ParseError with line = the 1-based point index (0 for body-level errors) and
// column 0, as the JSON parser does; FormatParseErrors(errors, /*json=*/true) prints them.
#pragma once

#include <string_view>

#include "model/line_protocol.h"

namespace pythond::model {

ParseResult ParsePbJsonPoints(std::string_view body, const ParseOptions& options);

}  // namespace pythond::model
