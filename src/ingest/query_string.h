// URL query strings: "a=1&b=x%20y" → ordered key/value pairs. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/strings.h"  // PercentDecode

namespace pythond::ingest {

class QueryString {
 public:
  explicit QueryString(std::string_view raw);
  // The first value of `key`, or nullopt when absent. "?dry" gives "".
  std::optional<std::string> Get(std::string_view key) const;
  // DataKit's boolean parameters: present and not "false"/"0"/"f" means true.
  bool GetBool(std::string_view key) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

}  // namespace pythond::ingest
