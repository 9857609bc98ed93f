#include "ingest/query_string.h"

#include "common/strings.h"

namespace pythond::ingest {

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
