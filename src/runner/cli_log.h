// The seed's runner log, `_datakit_pythond_cli.log`: what ran and what failed, one line per
// event, in the folder set by [log] seed_log_dir (default: the home directory). Rotated at
// 4 MiB, 5 files kept. Thread-safe (spdlog _mt sink).
#pragma once

#include <spdlog/logger.h>

#include <filesystem>
#include <memory>

#include "common/status.h"

namespace pythond::runner {

inline constexpr const char* kCliLogName = "_datakit_pythond_cli.log";

StatusOr<std::shared_ptr<spdlog::logger>> OpenCliLog(const std::filesystem::path& dir);

}  // namespace pythond::runner
