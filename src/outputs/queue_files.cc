#include "outputs/queue_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pythond::outputs {

namespace {

Status ErrnoStatus(const char* what, const std::filesystem::path& path, int err) {
  std::string message = std::string(what) + " " + path.string() + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(std::move(message));
  return Status::IoError(std::move(message));
}

// An fd, closed when the object goes away.
class PosixFile : public QueueFile {
 public:
  PosixFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("cannot write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("cannot read", path_, errno);
      }
      if (got == 0) break;  // end of file
      done += static_cast<size_t>(got);
    }
    return done;
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("cannot fsync", path_, errno);
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("cannot truncate", path_, errno);
    }
    return Status::Ok();
  }

  StatusOr<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("cannot stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  const int fd_;
  const std::filesystem::path path_;
};

class PosixFiles : public QueueFiles {
 public:
  StatusOr<std::unique_ptr<QueueFile>> Open(const std::filesystem::path& path,
                                            OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kAppend:
        flags |= O_RDWR | O_APPEND | O_CREAT;
        break;
      case OpenMode::kTruncate:
        flags |= O_RDWR | O_APPEND | O_CREAT | O_TRUNC;
        break;
    }
    int fd = ::open(path.c_str(), flags, 0600);  // queued points are nobody else's business
    if (fd < 0) return ErrnoStatus("cannot open", path, errno);
    return std::unique_ptr<QueueFile>(std::make_unique<PosixFile>(fd, path));
  }

  Status CreateDir(const std::filesystem::path& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IoError("cannot create " + dir.string() + ": " + ec.message());
    return Status::Ok();
  }

  StatusOr<std::vector<std::string>> List(const std::filesystem::path& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("cannot list", dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return ErrnoStatus("cannot list", dir, err);
    return names;
  }

  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("cannot rename", from, errno);
    return Status::Ok();
  }

  Status Remove(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("cannot remove", path, errno);
    return Status::Ok();
  }

  Status SyncDir(const std::filesystem::path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("cannot open", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("cannot fsync", dir, err);
    return Status::Ok();
  }

  StatusOr<uint64_t> FileSize(const std::filesystem::path& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }
};

std::string Key(const std::filesystem::path& path) { return path.lexically_normal().string(); }
std::string ParentKey(const std::string& key) {
  return std::filesystem::path(key).parent_path().string();
}

}  // namespace

QueueFiles* PosixQueueFiles() {
  static PosixFiles* files = new PosixFiles();  // never destroyed: used until the process ends
  return files;
}

// --- FaultyFiles ---

class FaultyFile : public QueueFile {
 public:
  FaultyFile(FaultyFiles* fs, std::shared_ptr<FaultyFiles::Inode> inode, uint64_t generation,
             bool writable)
      : fs_(fs), inode_(std::move(inode)), generation_(generation), writable_(writable) {}

  Status Append(std::string_view data) override {
    std::lock_guard lock(fs_->mu_);
    if (Status s = Check(); !s.ok()) return s;
    return fs_->AppendLocked(*inode_, data);
  }

  StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    std::lock_guard lock(fs_->mu_);
    if (Status s = fs_->CheckAliveLocked(generation_); !s.ok()) return s;
    const std::string& data = inode_->data;
    if (offset >= data.size()) return size_t{0};
    size_t got = std::min<uint64_t>(n, data.size() - offset);
    std::memcpy(buf, data.data() + offset, got);
    return got;
  }

  Status Sync() override { return fs_->SyncFile(*inode_, generation_); }

  Status Truncate(uint64_t size) override {
    std::lock_guard lock(fs_->mu_);
    if (Status s = Check(); !s.ok()) return s;
    inode_->data.resize(size, '\0');
    return Status::Ok();
  }

  StatusOr<uint64_t> Size() override {
    std::lock_guard lock(fs_->mu_);
    if (Status s = fs_->CheckAliveLocked(generation_); !s.ok()) return s;
    return uint64_t{inode_->data.size()};
  }

 private:
  Status Check() const {
    if (Status s = fs_->CheckAliveLocked(generation_); !s.ok()) return s;
    if (!writable_) return Status::IoError("file opened read-only");
    return Status::Ok();
  }

  FaultyFiles* const fs_;
  const std::shared_ptr<FaultyFiles::Inode> inode_;
  const uint64_t generation_;
  const bool writable_;
};

Status FaultyFiles::CheckAliveLocked(uint64_t generation) const {
  if (crashed_) return Status::IoError("simulated crash: the file system is gone");
  if (generation != generation_) return Status::IoError("handle opened before a simulated crash");
  return Status::Ok();
}

Status FaultyFiles::AppendLocked(Inode& inode, std::string_view data) {
  if (tear_next_write_) {
    size_t keep = std::min(*tear_next_write_, data.size());
    tear_next_write_.reset();
    inode.data.append(data.substr(0, keep));
    inode.durable = inode.data;
    crashed_ = true;
    return Status::IoError("simulated power cut during a write");
  }
  if (space_left_ != kUnlimited && data.size() > space_left_) {
    inode.data.append(data.substr(0, space_left_));
    space_left_ = 0;
    return Status::IoError("cannot write: No space left on device (simulated)");
  }
  if (space_left_ != kUnlimited) space_left_ -= data.size();
  inode.data.append(data);
  return Status::Ok();
}

Status FaultyFiles::SyncFile(Inode& inode, uint64_t generation) {
  std::function<void()> hook;
  {
    std::lock_guard lock(mu_);
    hook = sync_hook_;
  }
  if (hook) hook();
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation); !s.ok()) return s;
  if (crash_at_next_sync_) {
    crash_at_next_sync_ = false;
    crashed_ = true;
    return Status::IoError("simulated power cut before an fsync");
  }
  if (failing_syncs_ > 0) {
    --failing_syncs_;
    return Status::IoError("cannot fsync: Input/output error (simulated)");
  }
  inode.durable = inode.data;
  ++file_syncs_;
  return Status::Ok();
}

StatusOr<std::unique_ptr<QueueFile>> FaultyFiles::Open(const std::filesystem::path& path,
                                                       OpenMode mode) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  std::string key = Key(path);
  if (!dirs_.contains(ParentKey(key))) return Status::NotFound("no folder for " + key);
  auto it = files_.find(key);
  if (mode == OpenMode::kRead) {
    if (it == files_.end()) return Status::NotFound("cannot open " + key + ": no such file");
    return std::unique_ptr<QueueFile>(
        std::make_unique<FaultyFile>(this, it->second, generation_, false));
  }
  if (it == files_.end()) {
    it = files_.emplace(key, std::make_shared<Inode>()).first;
  } else if (mode == OpenMode::kTruncate) {
    it->second->data.clear();
  }
  return std::unique_ptr<QueueFile>(
      std::make_unique<FaultyFile>(this, it->second, generation_, true));
}

Status FaultyFiles::CreateDir(const std::filesystem::path& dir) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  for (std::filesystem::path p = dir.lexically_normal(); !p.empty(); p = p.parent_path()) {
    dirs_.insert(p.string());
    if (p == p.parent_path()) break;
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> FaultyFiles::List(const std::filesystem::path& dir) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  std::string key = Key(dir);
  if (!dirs_.contains(key)) return Status::NotFound("cannot list " + key + ": no such folder");
  std::vector<std::string> names;
  for (const auto& [path, inode] : files_) {
    if (ParentKey(path) == key) names.push_back(std::filesystem::path(path).filename().string());
  }
  for (const auto& d : dirs_) {
    if (d != key && ParentKey(d) == key) {
      names.push_back(std::filesystem::path(d).filename().string());
    }
  }
  return names;
}

Status FaultyFiles::Rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  auto it = files_.find(Key(from));
  if (it == files_.end()) return Status::NotFound("cannot rename " + Key(from) + ": no such file");
  if (!dirs_.contains(ParentKey(Key(to)))) return Status::NotFound("no folder for " + Key(to));
  auto inode = it->second;
  files_.erase(it);
  files_[Key(to)] = std::move(inode);
  return Status::Ok();
}

Status FaultyFiles::Remove(const std::filesystem::path& path) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  if (files_.erase(Key(path)) == 0) {
    return Status::NotFound("cannot remove " + Key(path) + ": no such file");
  }
  return Status::Ok();
}

Status FaultyFiles::SyncDir(const std::filesystem::path& dir) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  std::string key = Key(dir);
  if (!dirs_.contains(key)) return Status::NotFound("cannot fsync " + key + ": no such folder");
  std::erase_if(durable_, [&](const auto& entry) { return ParentKey(entry.first) == key; });
  for (const auto& [path, inode] : files_) {
    if (ParentKey(path) == key) durable_[path] = inode;
  }
  return Status::Ok();
}

StatusOr<uint64_t> FaultyFiles::FileSize(const std::filesystem::path& path) {
  std::lock_guard lock(mu_);
  if (Status s = CheckAliveLocked(generation_); !s.ok()) return s;
  auto it = files_.find(Key(path));
  if (it == files_.end()) return Status::NotFound("cannot stat " + Key(path) + ": no such file");
  return uint64_t{it->second->data.size()};
}

void FaultyFiles::SetSpaceLeft(uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_left_ = bytes;
}

void FaultyFiles::FailSyncs(int count) {
  std::lock_guard lock(mu_);
  failing_syncs_ = count;
}

void FaultyFiles::TearNextWrite(size_t keep_bytes) {
  std::lock_guard lock(mu_);
  tear_next_write_ = keep_bytes;
}

void FaultyFiles::CrashAtNextSync() {
  std::lock_guard lock(mu_);
  crash_at_next_sync_ = true;
}

void FaultyFiles::SetSyncHook(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  sync_hook_ = std::move(hook);
}

Status FaultyFiles::Corrupt(const std::filesystem::path& path, uint64_t offset, uint8_t xor_mask) {
  std::lock_guard lock(mu_);
  auto it = files_.find(Key(path));
  if (it == files_.end() || offset >= it->second->data.size()) {
    return Status::NotFound("nothing to corrupt at " + Key(path) + ":" + std::to_string(offset));
  }
  Inode& inode = *it->second;
  inode.data[offset] = static_cast<char>(inode.data[offset] ^ xor_mask);
  if (offset < inode.durable.size()) {
    inode.durable[offset] = static_cast<char>(inode.durable[offset] ^ xor_mask);
  }
  return Status::Ok();
}

void FaultyFiles::Crash() {
  std::lock_guard lock(mu_);
  files_ = durable_;
  for (auto& [path, inode] : files_) inode->data = inode->durable;
  ++generation_;
  crashed_ = false;
  space_left_ = kUnlimited;
  failing_syncs_ = 0;
  tear_next_write_.reset();
  crash_at_next_sync_ = false;
}

bool FaultyFiles::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

uint64_t FaultyFiles::file_syncs() const {
  std::lock_guard lock(mu_);
  return file_syncs_;
}

std::optional<std::string> FaultyFiles::Contents(const std::filesystem::path& path) const {
  std::lock_guard lock(mu_);
  auto it = files_.find(Key(path));
  if (it == files_.end()) return std::nullopt;
  return it->second->data;
}

}  // namespace pythond::outputs
