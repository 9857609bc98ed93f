// The agent: wires configuration, store, ingest and the supervisor onto one io_context and
// runs until SIGTERM/SIGINT. Threads: the event loop (this thread) and the store writer.
#pragma once

#include <filesystem>
#include <string>

namespace pythond::agent {

struct RunOptions {
  std::filesystem::path root = ".";
  std::string listen;     // overrides [http_api] listen when set
  std::string log_level;  // overrides [log] level when set
};

// Runs the agent in the foreground. Returns the process exit code: 0 after a clean stop,
// 1 when start-up failed (the reason is logged).
int RunAgent(const RunOptions& options);

// `pythond query`: returns the exit code.
int RunQueryCommand(const std::filesystem::path& root, const std::string& format,
                    const std::string& sql);

}  // namespace pythond::agent
