// Small helpers the JSON and PB-JSON decoders share for their error messages. Pure.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

namespace pythond::model {

// 'text' for a message, cut to 64 bytes with "...".
inline std::string QuotedForMessage(std::string_view s) {
  constexpr size_t kMaxQuotedBytes = 64;
  std::string out = "'";
  if (s.size() > kMaxQuotedBytes) {
    out.append(s.substr(0, kMaxQuotedBytes));
    out += "...";
  } else {
    out.append(s);
  }
  out += '\'';
  return out;
}

// "an array", "an integer", ... for "must be X, not Y" messages.
inline const char* JsonTypeName(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
      return "an integer";
    case element_type::DOUBLE:
      return "a float";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a bool";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

}  // namespace pythond::model
