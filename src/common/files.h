// File helpers with no pythond concepts. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pythond {

StatusOr<std::string> ReadFile(const std::filesystem::path& path);
// Writes via a temporary file and rename, so readers never see a partial file.
[[nodiscard]] Status WriteFileAtomic(const std::filesystem::path& path, const std::string& data);
// The same, durable and owner-only: the file is created 0600, its data fdatasync'ed before the
// rename and its folder fsync'ed after, so once this returns OK the file survives a crash or a
// power cut (what must be on disk before a queue's cursor moves past its records).
[[nodiscard]] Status WriteFileDurable(const std::filesystem::path& path, std::string_view data);
// "~" or "~/x" expands to $HOME; anything else is returned unchanged.
std::filesystem::path ExpandHome(const std::string& path);

}  // namespace pythond
