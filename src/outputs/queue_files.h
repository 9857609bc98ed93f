// The file layer the disk queue does all its I/O through (an Env seam, as in LevelDB): the real
// POSIX implementation, and FaultyFiles, an in-memory file system for tests that keeps the page
// cache apart from durable storage and injects the failures a disk produces (no space, a failed
// fsync, a torn write, flipped bytes).
//
// Threads: every QueueFiles and QueueFile method may be called from any thread. Two handles on
// one file may be used at once (one appending, one reading below what was appended); one handle
// is not shared by threads that write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pythond::outputs {

// An open file. Errors are kIoError with the path and the OS's words.
class QueueFile {
 public:
  virtual ~QueueFile() = default;
  // Writes all of `data` at the end of the file (O_APPEND). On an error a prefix of `data` may
  // have landed: the caller cuts it back with Truncate.
  [[nodiscard]] virtual Status Append(std::string_view data) = 0;
  // Reads up to n bytes at offset into buf; fewer only at the end of the file.
  virtual StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) = 0;
  // Makes what was written durable (fdatasync).
  [[nodiscard]] virtual Status Sync() = 0;
  [[nodiscard]] virtual Status Truncate(uint64_t size) = 0;
  virtual StatusOr<uint64_t> Size() = 0;
};

class QueueFiles {
 public:
  enum class OpenMode {
    kRead,      // an existing file, read only (kNotFound when missing)
    kAppend,    // read and append; created when missing, kept when present
    kTruncate,  // read and append; created when missing, emptied when present
  };
  virtual ~QueueFiles() = default;
  virtual StatusOr<std::unique_ptr<QueueFile>> Open(const std::filesystem::path& path,
                                                    OpenMode mode) = 0;
  // Creates the folder and its parents (no error when it exists).
  [[nodiscard]] virtual Status CreateDir(const std::filesystem::path& dir) = 0;
  // The names (not paths) of the entries of a folder, in no order.
  virtual StatusOr<std::vector<std::string>> List(const std::filesystem::path& dir) = 0;
  // Replaces `to` atomically. Durable once the folder is synced.
  [[nodiscard]] virtual Status Rename(const std::filesystem::path& from,
                                      const std::filesystem::path& to) = 0;
  // kNotFound when missing. Durable once the folder is synced.
  [[nodiscard]] virtual Status Remove(const std::filesystem::path& path) = 0;
  // Makes the folder's entries (creations, renames, removals) durable.
  [[nodiscard]] virtual Status SyncDir(const std::filesystem::path& dir) = 0;
  virtual StatusOr<uint64_t> FileSize(const std::filesystem::path& path) = 0;
};

// The real file system. The object lives for the whole process.
QueueFiles* PosixQueueFiles();

// In-memory files for tests. Each file has two copies of its bytes: what readers see (the page
// cache) and what a power cut leaves (durable storage, updated by Sync). Folder entries are
// durable once SyncDir is called on their folder; folders themselves always are. Crash() throws
// away everything not durable and makes every handle opened before it fail.
//
// Faults (each a switch a test sets before the operation it targets):
//   SetSpaceLeft(n)   later appends may add n more bytes in all; the append that crosses the
//                     limit writes what fits and fails (ENOSPC); truncating gives no space back
//   FailSyncs(n)      the next n Sync() calls fail (EIO) and make nothing durable
//   TearNextWrite(k)  the next append lands only its first k bytes — on durable storage too, as
//                     the file's pages reach the disk at the moment of a power cut — and fails;
//                     the file system is then "crashed": every call fails until Crash()
//   CrashAtNextSync() the next Sync() does nothing and crashes the file system likewise
//   Corrupt(p, off)   flips bits of one stored byte (page cache and durable copy)
class FaultyFiles : public QueueFiles {
 public:
  static constexpr uint64_t kUnlimited = ~uint64_t{0};

  StatusOr<std::unique_ptr<QueueFile>> Open(const std::filesystem::path& path,
                                            OpenMode mode) override;
  Status CreateDir(const std::filesystem::path& dir) override;
  StatusOr<std::vector<std::string>> List(const std::filesystem::path& dir) override;
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status Remove(const std::filesystem::path& path) override;
  Status SyncDir(const std::filesystem::path& dir) override;
  StatusOr<uint64_t> FileSize(const std::filesystem::path& path) override;

  void SetSpaceLeft(uint64_t bytes);
  void FailSyncs(int count);
  void TearNextWrite(size_t keep_bytes);
  void CrashAtNextSync();
  // Called at the start of every file Sync(), outside the file system's lock (a test may block
  // in it, e.g. to make concurrent appenders queue up behind a commit). Empty: none.
  void SetSyncHook(std::function<void()> hook);
  // kNotFound when the file or the offset does not exist.
  [[nodiscard]] Status Corrupt(const std::filesystem::path& path, uint64_t offset,
                               uint8_t xor_mask = 0xff);
  // A power cut and a restart: only durable bytes and durable folder entries remain, faults are
  // cleared (space too), and handles opened before fail.
  void Crash();

  bool crashed() const;
  uint64_t file_syncs() const;  // successful file Sync() calls
  // What a reader sees in the file now; nullopt when it does not exist.
  std::optional<std::string> Contents(const std::filesystem::path& path) const;

 private:
  friend class FaultyFile;
  struct Inode {
    std::string data;     // the page cache
    std::string durable;  // what survives Crash()
  };
  // Fails when crashed or `generation` is stale; requires mu_.
  Status CheckAliveLocked(uint64_t generation) const;
  Status AppendLocked(Inode& inode, std::string_view data);
  Status SyncFile(Inode& inode, uint64_t generation);

  mutable std::mutex mu_;                                // guards everything below and every Inode
  std::map<std::string, std::shared_ptr<Inode>> files_;  // path → file, as readers see it
  std::map<std::string, std::shared_ptr<Inode>> durable_;  // path → file after a power cut
  std::set<std::string> dirs_;                             // folders (always durable)
  uint64_t generation_ = 0;                                // bumped by Crash()
  bool crashed_ = false;
  uint64_t space_left_ = kUnlimited;
  int failing_syncs_ = 0;
  std::optional<size_t> tear_next_write_;
  bool crash_at_next_sync_ = false;
  std::function<void()> sync_hook_;
  uint64_t file_syncs_ = 0;
};

}  // namespace pythond::outputs
