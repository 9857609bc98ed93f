#include "ingest/query_string.h"

#include "common/strings.h"

namespace pythond::ingest {

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

QueryString::QueryString(std::string_view raw) {
  if (!raw.empty() && raw.front() == '?') raw.remove_prefix(1);
  for (const auto& part : SplitString(raw, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string::npos) {
      params_.emplace_back(PercentDecode(part), "");
    } else {
      params_.emplace_back(PercentDecode(std::string_view(part).substr(0, eq)),
                           PercentDecode(std::string_view(part).substr(eq + 1)));
    }
  }
}

std::optional<std::string> QueryString::Get(std::string_view key) const {
  for (const auto& [k, v] : params_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

bool QueryString::GetBool(std::string_view key) const {
  auto v = Get(key);
  if (!v) return false;
  return *v != "false" && *v != "0" && *v != "f" && *v != "F" && *v != "False";
}

}  // namespace pythond::ingest
