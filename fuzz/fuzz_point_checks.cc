// libFuzzer target: DataKit's point checks (CheckPoint) on points parsed from arbitrary line
// protocol. First byte: the category (low 3 bits) and small limits (bit 3), so the cutting and
// renaming rules are reached. Oracle: the checks are idempotent — a point they kept passes them
// again unchanged, without a warning — and what they keep has a measurement, at least one field
// and no key twice. (One exception, DataKit's: a required key added past max_fields.)
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "model/line_protocol.h"
#include "model/point_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pythond;
  if (size < 1) return 0;
  const auto category = static_cast<model::Category>(data[0] & 7);
  model::CheckLimits limits;
  if (data[0] & 8) {
    limits.max_tags = 3;
    limits.max_fields = 3;
    limits.max_tag_key_len = 8;
    limits.max_field_key_len = 8;
    limits.max_tag_value_len = 8;
    limits.max_field_value_len = 8;
    limits.max_measurement_len = 8;
  }
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  model::ParseResult parsed = model::ParseLineProtocol(body, fuzz::FuzzOptions());
  for (model::Point& p : parsed.points) {
    const model::CheckOutcome first = model::CheckPoint(category, p, limits);
    if (first.refused) continue;
    // As DataKit's checker does, a required key (logging status, object name) is added after the
    // fields were cut to max_fields, so such a point may hold one field more than the limit: the
    // second pass would cut again. Not idempotent by design (compatibility); not checked.
    bool added = false;
    for (const auto& w : first.warnings) added |= w.reason == model::CheckReason::kRequiredKeyAdded;
    if (added && p.fields.size() > limits.max_fields) continue;
    std::string before;
    model::AppendLineProtocol(before, p);
    if (p.measurement.empty() || p.fields.empty()) {
      fuzz::Die("a kept point has no measurement or no field", body, before, nullptr);
    }
    std::set<std::string> keys;
    for (const auto& t : p.tags) {
      if (!keys.insert(t.key).second)
        fuzz::Die("a kept point repeats a key", body, before, nullptr);
    }
    for (const auto& f : p.fields) {
      if (!keys.insert(f.key).second)
        fuzz::Die("a kept point repeats a key", body, before, nullptr);
    }
    const model::CheckOutcome second = model::CheckPoint(category, p, limits);
    std::string after;
    model::AppendLineProtocol(after, p);
    if (second.refused || !second.warnings.empty() || after != before) {
      fuzz::Die(
          ("the checks are not idempotent: " +
           (second.warnings.empty() ? std::string("changed") : second.warnings.front().message))
              .c_str(),
          body, before + " => " + after, nullptr);
    }
  }
  return 0;
}
