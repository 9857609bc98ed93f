// What InfluxDB and VictoriaMetrics accept of DataKit-dialect line protocol. Pure; thread-safe.
//
// Our line protocol (model::AppendLineProtocol) has three things InfluxDB's has not everywhere:
//   - bytes fields, "aGk="b: no engine reads them. They become string fields holding the base64
//     text ("aGk="), so the point's other fields are kept (InfluxDB refuses the line, and
//     VictoriaMetrics skips it whole, otherwise).
//   - array fields, [1i,2i]: likewise, string fields holding the array's text ("[1i,2i]").
//   - unsigned fields, 12u: InfluxDB 2 reads them; InfluxDB 1.x OSS does not ("invalid number",
//     the whole request refused with 400). For the v1 /write API (keep_unsigned = false) they
//     become integers: 12u is 12i, and a value above INT64_MAX is written as INT64_MAX, as
//     Telegraf does with influx_uint_support = false. Clamping keeps the field an integer for
//     InfluxDB, whose fields keep one type per shard: writing the rare huge value as a float
//     would make InfluxDB refuse that batch with a field type conflict, and 2^63 and above is
//     out of reach of an int64 anyway.
#pragma once

#include <string>
#include <string_view>

namespace pythond::outputs {

// Rewrites `lines` (one point per '\n'-terminated line, ns timestamps) as above. Returns false
// and leaves *out alone when nothing needs it (the common case, found with a scan, no parse), or
// when the batch does not parse (not ours to fix: the backend says what is wrong). Otherwise
// returns true with *out the whole batch re-encoded in canonical form.
bool ToInfluxLines(std::string_view lines, bool keep_unsigned, std::string* out);

}  // namespace pythond::outputs
