// File helpers with no pythond concepts. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace pythond {

StatusOr<std::string> ReadFile(const std::filesystem::path& path);
// Writes via a temporary file and rename, so readers never see a partial file.
[[nodiscard]] Status WriteFileAtomic(const std::filesystem::path& path, const std::string& data);
// "~" or "~/x" expands to $HOME; anything else is returned unchanged.
std::filesystem::path ExpandHome(const std::string& path);

}  // namespace pythond
