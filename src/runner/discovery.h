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

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"

namespace pythond::runner {

struct ScriptModule {
  std::string name;                // "test", "sub.file"
  std::filesystem::path file;      // absolute path of the .py
  std::filesystem::path sys_path;  // folder to put on sys.path (the listed dir)
  std::string dir_entry;           // the `dirs` entry it came from
  std::string repo;                // the git repository it came from; empty: local
  bool operator==(const ScriptModule&) const = default;
};

struct DiscoveryResult {
  std::vector<ScriptModule> modules;
  std::vector<std::string> problems;  // entries refused or missing, one message each
};

DiscoveryResult DiscoverModules(const std::filesystem::path& python_d,
                                const std::vector<std::string>& dirs);
// The same over several roots (git repositories' python.d, then the local one; docs/GIT.md): a
// relative entry is the first root's that has it; absolute entries ignore the roots.
DiscoveryResult DiscoverModules(const std::vector<config::ScriptRoot>& roots,
                                const std::vector<std::string>& dirs);

// What a reload compares to decide whether an input's scripts changed: a 64-bit hash over the
// modules found, the problems, and every file a module could import from its folder — each
// folder a module came from, recursively (paths and contents; files over 1 MiB by size and
// mtime; hidden entries and __pycache__ skipped; at most 20,000 files), or the file itself
// when the `dirs` entry names one. Touching a file without changing it changes nothing.
uint64_t FingerprintScripts(const DiscoveryResult& found);

}  // namespace pythond::runner
