#include "outputs/influxdb_lines.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "model/line_protocol.h"
#include "model/point.h"

namespace pythond::outputs {

namespace {

bool IsValueEnd(std::string_view s, size_t i) {
  return i == s.size() || s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\r';
}

// True when `lines` may hold a field to rewrite. A false positive (the same bytes inside a
// string or a tag) only costs a parse that changes nothing.
bool MayNeedRewrite(std::string_view lines, bool keep_unsigned) {
  for (size_t i = 1; i < lines.size(); ++i) {
    const char c = lines[i];
    const char before = lines[i - 1];
    if ((c == '[' && before == '=') || (c == 'b' && before == '"' && IsValueEnd(lines, i + 1)) ||
        (!keep_unsigned && c == 'u' && before >= '0' && before <= '9' &&
         IsValueEnd(lines, i + 1))) {
      return true;
    }
  }
  return false;
}

// The array's line-protocol text ("[1i,2i]"), exactly as AppendLineProtocol writes it.
std::string ArrayText(const model::Array& array) {
  model::Point point{.measurement = "m", .tags = {}, .fields = {{"f", array}}, .time_ns = 0};
  std::string line;
  model::AppendLineProtocol(line, point);  // "m f=[1i,2i] 0\n"
  constexpr size_t kBefore = 4;            // "m f="
  constexpr size_t kAfter = 3;             // " 0\n"
  return line.substr(kBefore, line.size() - kBefore - kAfter);
}

void RewriteFields(model::Point& point, bool keep_unsigned) {
  constexpr uint64_t kMaxInt = std::numeric_limits<int64_t>::max();
  for (model::Field& field : point.fields) {
    model::FieldValue& v = field.value;
    if (auto* u = std::get_if<uint64_t>(&v); u && !keep_unsigned) {
      v = static_cast<int64_t>(std::min(*u, kMaxInt));
    } else if (auto* bytes = std::get_if<model::Bytes>(&v)) {
      std::string text;
      model::AppendBase64(text, bytes->data);
      v = std::move(text);
    } else if (auto* array = std::get_if<model::Array>(&v)) {
      v = ArrayText(*array);
    }
  }
}

}  // namespace

bool ToInfluxLines(std::string_view lines, bool keep_unsigned, std::string* out) {
  if (!MayNeedRewrite(lines, keep_unsigned)) return false;
  // The whole batch at once: a string field may hold a raw newline, so lines are the parser's
  // to find.
  model::ParseOptions options;
  options.precision = model::Precision::kNanosecond;
  options.max_errors = 1;
  model::ParseResult parsed = model::ParseLineProtocol(lines, options);
  if (parsed.error_count > 0) return false;  // not ours to fix: the backend says what is wrong
  std::string result;
  result.reserve(lines.size() + lines.size() / 8);
  for (model::Point& point : parsed.points) {
    RewriteFields(point, keep_unsigned);
    model::AppendLineProtocol(result, point);
  }
  *out = std::move(result);
  return true;
}

}  // namespace pythond::outputs
