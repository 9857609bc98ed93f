#include "agent/file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/logging.h"
#include "common/strings.h"

namespace pythond::agent {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kTreeMask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                               IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr int kMaxDepth = 16;

}  // namespace

bool RelevantName(std::string_view name) {
  if (name.empty()) return true;  // the watched folder itself
  if (name[0] == '.' || name.back() == '~') return false;
  if (name == "__pycache__" || name == "4913") return false;  // 4913: vim's write probe
  for (std::string_view ext : {".pyc", ".swp", ".swx", ".tmp"}) {
    if (EndsWith(name, ext)) return false;
  }
  return true;
}

FileWatcher::FileWatcher(boost::asio::io_context& io, OnChange on_change)
    : stream_(io), on_change_(std::move(on_change)) {}

FileWatcher::~FileWatcher() { Stop(); }

void FileWatcher::Stop() {
  boost::system::error_code ec;
  if (stream_.is_open()) stream_.close(ec);  // closing the fd drops every watch
  dirs_.clear();
}

Status FileWatcher::Watch(const std::vector<fs::path>& trees) {
  if (!stream_.is_open()) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return Status::IoError(std::string("inotify_init1: ") + strerror(errno));
    stream_.assign(fd);
    Read();
  }
  // Start over: watches of folders that are gone were dropped by the kernel (IN_IGNORED), and
  // inotify_add_watch on a folder already watched returns its descriptor again.
  for (const auto& [wd, w] : dirs_) inotify_rm_watch(stream_.native_handle(), wd);
  dirs_.clear();
  unwatched_ = 0;
  trees_ = trees;
  for (const fs::path& tree : trees_) {
    std::error_code ec;
    if (fs::is_directory(tree, ec)) {
      AddTree(tree, 0);
      continue;
    }
    // Not there yet: watch the nearest existing parent for its creation.
    fs::path parent = tree.parent_path();
    while (!parent.empty() && !fs::is_directory(parent, ec) && parent != parent.root_path()) {
      parent = parent.parent_path();
    }
    if (!parent.empty()) AddDir(parent, false);
  }
  return Status::Ok();
}

bool FileWatcher::AddDir(const fs::path& dir, bool recursive) {
  int wd = inotify_add_watch(stream_.native_handle(), dir.c_str(), kTreeMask);
  if (wd < 0) {
    ++unwatched_;
    if (errno == ENOSPC && !warned_limit_) {
      warned_limit_ = true;
      LOG_WARN(
          "reload: the kernel's inotify watch limit is reached (fs.inotify.max_user_watches); "
          "changes under {} and further folders need SIGHUP",
          dir.string());
    }
    return false;
  }
  auto [it, added] = dirs_.try_emplace(wd, Watched{dir, recursive});
  if (!added && recursive) it->second.recursive = true;
  return true;
}

void FileWatcher::AddTree(const fs::path& dir, int depth) {
  if (!AddDir(dir, true) || depth >= kMaxDepth) return;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (RelevantName(name) && it->is_directory(type_ec) && !it->is_symlink(type_ec)) {
      AddTree(it->path(), depth + 1);
    }
  }
}

void FileWatcher::Read() {
  stream_.async_read_some(boost::asio::buffer(buffer_),
                          [this](const boost::system::error_code& ec, size_t bytes) {
                            if (ec) return;  // closed by Stop()
                            OnEvents(bytes);
                            Read();
                          });
}

void FileWatcher::OnEvents(size_t bytes) {
  std::set<std::string> changed;
  for (size_t off = 0; off + sizeof(inotify_event) <= bytes;) {
    inotify_event ev;
    std::memcpy(&ev, buffer_.data() + off, sizeof ev);
    std::string_view name;
    if (ev.len > 0)
      name = std::string_view(buffer_.data() + off + sizeof ev,
                              strnlen(buffer_.data() + off + sizeof ev, ev.len));
    off += sizeof ev + ev.len;
    if (ev.mask & IN_Q_OVERFLOW) {
      changed.insert("(inotify queue overflow)");
      continue;
    }
    auto it = dirs_.find(ev.wd);
    if (it == dirs_.end()) continue;
    if (ev.mask & IN_IGNORED) {
      dirs_.erase(it);
      continue;
    }
    const Watched& w = it->second;
    if (!RelevantName(name)) continue;
    fs::path path = name.empty() ? w.dir : w.dir / std::string(name);
    if (!w.recursive) {
      // A parent watched for a tree that did not exist: only that tree's appearance counts.
      bool leads_to_tree = false;
      for (const fs::path& tree : trees_) {
        auto rel = tree.lexically_relative(path);
        if (path == tree || (!rel.empty() && *rel.begin() != "..")) leads_to_tree = true;
      }
      if (!leads_to_tree) continue;
    } else if ((ev.mask & IN_ISDIR) && (ev.mask & (IN_CREATE | IN_MOVED_TO))) {
      AddTree(path, 1);  // a new folder: its files are watched from now on
    }
    changed.insert(path.string());
  }
  for (const std::string& path : changed) on_change_(path);
}

}  // namespace pythond::agent
