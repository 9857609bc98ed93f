// The agent's log: spdlog, one logger named "pythond", to stderr and optionally to a file.
// Thread-safe (spdlog's _mt sinks). Call InitLogging once in main before any thread starts.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "common/status.h"

namespace pythond {

// level: trace, debug, info, warn, error, off. file: "" for stderr only.
[[nodiscard]] Status InitLogging(const std::string& level, const std::string& file);
// Changes the level of the agent log (e.g. after agent.conf is read).
[[nodiscard]] Status SetLogLevel(const std::string& level);

}  // namespace pythond

#define LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define LOG_DEBUG(...) spdlog::debug(__VA_ARGS__)
#define LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define LOG_ERROR(...) spdlog::error(__VA_ARGS__)
