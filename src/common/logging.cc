#include "common/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <vector>

namespace pythond {

Status SetLogLevel(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  // from_str returns "off" for unknown names; only accept "off" when asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return Status::InvalidArgument("unknown log level '" + level +
                                   "' (want trace, debug, info, warn, error or off)");
  }
  spdlog::set_level(parsed);
  return Status::Ok();
}

Status InitLogging(const std::string& level, const std::string& file) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!file.empty()) {
    try {
      sinks.push_back(
          std::make_shared<spdlog::sinks::rotating_file_sink_mt>(file, 16 * 1024 * 1024, 5));
    } catch (const spdlog::spdlog_ex& e) {
      return Status::IoError("cannot open log file " + file + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("pythond", sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
  spdlog::set_default_logger(logger);
  // A log file is read with `tail -f` (the service's /var/log/pythond/pythond.log): each line
  // of info and above is written at once, not when a buffer fills. stderr alone: warn.
  spdlog::flush_on(file.empty() ? spdlog::level::warn : spdlog::level::info);
  return SetLogLevel(level);
}

}  // namespace pythond
