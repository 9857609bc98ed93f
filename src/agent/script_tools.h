// The script author's commands (docs/WRITING-SCRIPTS.md):
//   pythond test PATH...   runs each plugin once (or --times N) with the real worker, SDK and
//                          point checks, prints what it reported and what the checks would
//                          repair or refuse; nothing is stored or forwarded.
//   pythond check          validates the configuration, imports every input's modules in its
//                          own interpreter and lists inputs → plugins, with warnings about
//                          what bites people; `--env INPUT` prints a worker's environment.
// Both run on the calling thread (their own event loop) and return the process exit code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace pythond::agent {

struct TestCommandOptions {
  std::filesystem::path root = ".";
  std::vector<std::string> paths;  // script files, folders, or input names
  int times = 1;                   // runs per plugin, `interval` apart
  std::string format = "lp";       // "lp", "json" or "table"
  std::string cmd;                 // the Python to use for paths no input runs; default python3
  std::string log_level = "off";   // the agent's own log (stderr)
};
int RunTestCommand(const TestCommandOptions& options);

struct CheckCommandOptions {
  std::filesystem::path root = ".";
  std::string env_input;  // non-empty: print this input's worker environment instead
};
int RunCheckCommand(const CheckCommandOptions& options);

// What `pythond test` runs for each PATH: an existing .py file or folder becomes an input of
// its own (the settings of the configured input whose `dirs` hold it, else `cmd` and no envs);
// anything else must be the name of an input in `cfg` (null: the configuration did not load).
// Errors name the PATH that is neither.
struct TestTarget {
  config::InputConfig input;
  std::string origin;  // "file", "folder" or "input"
  std::string path;    // as given
};
StatusOr<std::vector<TestTarget>> ResolveTestTargets(const std::vector<std::string>& paths,
                                                     const std::filesystem::path& root,
                                                     const config::Config* cfg,
                                                     const std::string& cmd);

// `pythond check --env`: how `worker` (KEY=VALUE entries) differs from `shell`, one line each:
// "+ KEY=VALUE" (only the worker has it), "- KEY" (only the shell), "~ KEY=VALUE (shell: OLD)".
std::vector<std::string> EnvironmentDiff(const std::vector<std::string>& shell,
                                         const std::vector<std::string>& worker);

}  // namespace pythond::agent
