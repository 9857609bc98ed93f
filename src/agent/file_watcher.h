// Watches folder trees with inotify for the reload (docs/RUNNER.md, "Reload"): a file created,
// written, moved or deleted anywhere under them is reported with its path. Editor droppings (hidden
// names, "~" backups, .swp), __pycache__ and .pyc are ignored. A tree that does not exist yet
// is watched through its nearest existing parent, so creating it is noticed too.
// Event-loop thread only.
#pragma once

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace pythond::agent {

class FileWatcher {
 public:
  using OnChange = std::function<void(const std::string& path)>;

  FileWatcher(boost::asio::io_context& io, OnChange on_change);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Watches every folder under each of `trees` (dropping the watches of folders no longer
  // under any). Call again after a change to pick up new trees. Fails only when inotify
  // itself is unavailable; folders that cannot be watched (the kernel's watch limit) are
  // counted in `unwatched()` and logged once.
  Status Watch(const std::vector<std::filesystem::path>& trees);
  void Stop();
  size_t watches() const { return dirs_.size(); }
  size_t unwatched() const { return unwatched_; }

 private:
  void AddTree(const std::filesystem::path& dir, int depth);
  bool AddDir(const std::filesystem::path& dir, bool recursive);
  void Read();
  void OnEvents(size_t bytes);

  boost::asio::posix::stream_descriptor stream_;
  OnChange on_change_;
  struct Watched {
    std::filesystem::path dir;
    bool recursive = true;  // false: a parent watched only until a tree appears in it
  };
  std::map<int, Watched> dirs_;  // watch descriptor → folder
  std::vector<std::filesystem::path> trees_;
  size_t unwatched_ = 0;
  bool warned_limit_ = false;
  std::array<char, 64 * 1024> buffer_{};
};

// Whether a changed file's name matters to a reload (not an editor's or Python's droppings).
bool RelevantName(std::string_view name);

}  // namespace pythond::agent
