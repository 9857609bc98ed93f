// The store's write-ahead record: the samples of one write transaction, each tagged with its
// series id, in arrival order. A write is answered once its record is committed; the fold step
// moves records into chunks. Byte-by-byte specification: docs/STORE.md ("WAL record").
// Pure and thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/point.h"

namespace pythond::store {

class WalRecordWriter {
 public:
  WalRecordWriter();
  ~WalRecordWriter();
  WalRecordWriter(const WalRecordWriter&) = delete;
  WalRecordWriter& operator=(const WalRecordWriter&) = delete;
  void Add(int64_t series_id, int64_t time_ns, const std::vector<model::Field>& fields);
  size_t samples() const { return count_; }
  size_t raw_bytes() const { return body_.size(); }
  // The record (compressed with zstd level `level` when that pays); Clear()s for the next one.
  std::string Finish(int level = 1);
  void Clear();

 private:
  std::string body_;
  size_t count_ = 0;
  int64_t prev_time_ = 0;
  // Reused across records: a fresh zstd context per record allocates and clears its tables.
  struct ZstdContext;
  std::unique_ptr<ZstdContext> zstd_;
  std::string packed_;
};

// Decodes a record. Any inconsistency is kIoError "corrupt WAL record: ...".
class WalRecordReader {
 public:
  [[nodiscard]] Status Open(std::string_view record);
  size_t samples() const { return count_; }
  // False after the last sample (check status()).
  bool Next(int64_t* series_id, int64_t* time_ns, std::vector<model::Field>* fields);
  const Status& status() const { return status_; }

 private:
  bool Corrupt(const std::string& why);
  std::string owned_;
  std::string_view in_;
  size_t count_ = 0, i_ = 0;
  int64_t prev_time_ = 0;
  Status status_;
};

}  // namespace pythond::store
