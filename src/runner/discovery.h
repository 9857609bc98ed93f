// Script discovery (DESIGN §2.1): which Python modules an input's `dirs` name. Pure apart from
// listing folders; thread-safe.
//
// For each entry of `dirs` (relative to python.d, or absolute):
//   - a folder: every *.py in it is a module named after the file ("demo"), and every *.py in
//     each direct sub-folder is a module "sub.file"; __init__.py, hidden entries and
//     __pycache__ are skipped;
//   - a single .py file: that module alone;
//   - a relative entry that escapes python.d ("../x") is refused.
// Modules are listed in entry order, then by path.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace pythond::runner {

struct ScriptModule {
  std::string name;                // "test", "sub.file"
  std::filesystem::path file;      // absolute path of the .py
  std::filesystem::path sys_path;  // folder to put on sys.path (the listed dir)
  std::string dir_entry;           // the `dirs` entry it came from
  bool operator==(const ScriptModule&) const = default;
};

struct DiscoveryResult {
  std::vector<ScriptModule> modules;
  std::vector<std::string> problems;  // entries refused or missing, one message each
};

DiscoveryResult DiscoverModules(const std::filesystem::path& python_d,
                                const std::vector<std::string>& dirs);

}  // namespace pythond::runner
