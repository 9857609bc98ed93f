#include "config/env_expand.h"

namespace pythond::config {

namespace {
bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
}  // namespace

bool ExpandEnv(std::string_view text, const EnvLookup& lookup, std::string* out,
               std::string* error) {
  out->clear();
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      *out += c;
      ++i;
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {
      *out += '$';
      i += 2;
    } else if (next == '{') {
      size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        *error = "unterminated ${ at byte " + std::to_string(i + 1);
        return false;
      }
      std::string name(text.substr(i + 2, close - i - 2));
      if (name.empty() || !IsNameStart(name[0])) {
        *error = "invalid variable name '${" + name + "}'";
        return false;
      }
      for (char ch : name) {
        if (!IsNameChar(ch)) {
          *error = "invalid variable name '${" + name + "}'";
          return false;
        }
      }
      if (const char* v = lookup(name)) *out += v;
      i = close + 1;
    } else if (IsNameStart(next)) {
      size_t end = i + 1;
      while (end < text.size() && IsNameChar(text[end])) ++end;
      if (const char* v = lookup(std::string(text.substr(i + 1, end - i - 1)))) *out += v;
      i = end;
    } else {
      *out += '$';
      ++i;
    }
  }
  return true;
}

}  // namespace pythond::config
