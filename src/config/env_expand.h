// $VAR / ${VAR} expansion for `envs` entries. Pure; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace pythond::config {

// Returns the value of a variable, or nullptr when unset.
using EnvLookup = std::function<const char*(const std::string&)>;

// Expands $NAME and ${NAME} (NAME = [A-Za-z_][A-Za-z0-9_]*) from `lookup`; an unset variable
// expands to "" as in a POSIX shell. "$$" is a literal '$'; a '$' not followed by a name or '{'
// is kept as is. An unterminated "${" is an error: returns false and sets *error.
bool ExpandEnv(std::string_view text, const EnvLookup& lookup, std::string* out,
               std::string* error);

}  // namespace pythond::config
