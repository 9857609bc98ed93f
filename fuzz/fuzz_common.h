// Shared checks for the model fuzz targets (fuzz/*.cc). Each failed check prints what it saw and
// aborts, which libFuzzer reports as a crash with the input saved.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "model/line_protocol.h"
#include "model/point.h"

namespace pythond::fuzz {

inline constexpr int64_t kNow = 1'700'000'000'123'456'789;

inline model::ParseOptions FuzzOptions() {
  model::ParseOptions options;
  options.precision = model::Precision::kAuto;
  options.now_ns = kNow;
  options.max_errors = 5;
  return options;
}

[[noreturn]] inline void Die(const char* what, std::string_view input, std::string_view encoded,
                             const model::ParseResult* again) {
  std::fprintf(stderr, "%s\n  input (%zu bytes): %.*s\n  encoded: %.*s\n", what, input.size(),
               static_cast<int>(std::min<size_t>(input.size(), 2000)), input.data(),
               static_cast<int>(std::min<size_t>(encoded.size(), 2000)), encoded.data());
  if (again) {
    std::fprintf(stderr, "  re-parse: %zu points, errors: %s\n", again->points.size(),
                 model::FormatParseErrors(again->errors, false).c_str());
  }
  std::abort();
}

// Error bookkeeping every parser shares: at most max_errors kept, all counted, and each error
// has a reason; FormatParseErrors must cope with whatever was produced.
inline void CheckErrors(const model::ParseResult& result, const model::ParseOptions& options,
                        bool json, std::string_view input) {
  if (result.errors.size() > options.max_errors || result.error_count < result.errors.size()) {
    Die("error bookkeeping: too many kept or too few counted", input, "", nullptr);
  }
  for (const model::ParseError& e : result.errors) {
    if (e.reason.empty()) Die("an error without a reason", input, "", nullptr);
    if (!json && (e.line < 1 || e.column < 1 || e.excerpt.size() > 80)) {
      Die("line protocol error with a bad line/column/excerpt", input, "", nullptr);
    }
  }
  (void)model::FormatParseErrors(result.errors, json, 20, result.error_count);
}

// What line protocol cannot carry by design: empty names, empty tag values, and newlines in
// names (AppendLineProtocol turns those into an escaped space).
inline bool Representable(const model::Point& p) {
  auto ok = [](const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; };
  if (!ok(p.measurement) || p.fields.empty()) return false;
  for (const model::Tag& t : p.tags) {
    if (!ok(t.key) || !ok(t.value)) return false;
  }
  for (const model::Field& f : p.fields) {
    if (!ok(f.key)) return false;
  }
  return true;
}

// Writes every point with AppendLineProtocol and parses it back (timestamps are then ns): each
// point must come back equal, alone and within the whole re-encoded body. With
// `only_representable`, points line protocol cannot carry (see Representable) are only encoded.
inline void CheckLineProtocolRoundTrip(const std::vector<model::Point>& points,
                                       std::string_view input, bool only_representable) {
  model::ParseOptions ns = FuzzOptions();
  ns.precision = model::Precision::kNanosecond;
  std::string all;
  std::vector<model::Point> expected;
  for (const model::Point& point : points) {
    std::string line;
    model::AppendLineProtocol(line, point);
    if (only_representable && !Representable(point)) continue;
    const model::ParseResult again = model::ParseLineProtocol(line, ns);
    if (!again.errors.empty() || again.points.size() != 1) {
      Die("line protocol round trip: re-parse failed", input, line, &again);
    }
    if (!(again.points[0] == point)) {
      Die("line protocol round trip: point differs", input, line, &again);
    }
    all += line;
    expected.push_back(point);
  }
  const model::ParseResult again = model::ParseLineProtocol(all, ns);
  if (!again.errors.empty() || again.points != expected) {
    Die("line protocol round trip: whole body differs", input, all, &again);
  }
}

}  // namespace pythond::fuzz
