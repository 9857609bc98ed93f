#include "runner/cli_log.h"

#include <spdlog/sinks/rotating_file_sink.h>

namespace pythond::runner {

StatusOr<std::shared_ptr<spdlog::logger>> OpenCliLog(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto path = dir / kCliLogName;
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path.string(), 4 << 20, 5);
    auto logger = std::make_shared<spdlog::logger>("pythond_cli", sink);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);
    return logger;
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IoError("cannot open " + path.string() + ": " + e.what());
  }
}

}  // namespace pythond::runner
