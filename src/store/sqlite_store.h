// The embedded store: SQLite (WAL) at data/pythond.db, written by one writer thread in batched
// transactions. Schema and the `points` view: docs/STORE.md.
//
// Threads: Write() and Stats() may be called from any thread (a mutex guards the pending
// queue); all SQLite work happens on the writer thread "store-writer". Retention (delete rows
// stored more than `retention_ns` ago — by arrival, so backfilled points with old timestamps are
// kept for the full period) runs on the writer thread at start and then once a minute.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "outputs/output.h"

namespace pythond::store {

struct StoreOptions {
  std::filesystem::path path;
  int64_t retention_ns = 7 * 86400e9;
  int64_t max_queue_bytes = 16 << 20;
  int busy_timeout_ms = 5000;  // how long one statement waits for another process's lock
  // Wall clock in unix ns, for retention; injectable for tests.
  std::function<int64_t()> now_ns;
};

struct StoreStats {
  uint64_t rows_written = 0;
  uint64_t transactions = 0;
  uint64_t write_errors = 0;
  uint64_t rows_expired = 0;     // rows (and commit marks) deleted by retention
  uint64_t batches_dropped = 0;  // data SQLite refused (logged), or given up at shutdown
  uint64_t queued_bytes = 0;
  std::string last_error;
};

class SqliteStore : public outputs::Output {
 public:
  // Creates the folder, opens (or creates) the database, applies the schema and starts the
  // writer thread. Errors: kIoError when the file cannot be opened or is not a pythond store.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(StoreOptions options);
  ~SqliteStore() override;  // Stop()s

  std::string_view name() const override { return "store"; }
  Status Write(model::PointBatchPtr batch) override;
  void Flush() override;
  bool HasRoom() const override;
  // Flushes and stops the writer thread. Later writes fail with kFailedPrecondition.
  void Stop();
  StoreStats Stats() const;

 private:
  SqliteStore(StoreOptions options, sqlite3* db);
  void WriterLoop();
  Status WriteBatches(const std::deque<model::PointBatchPtr>& batches);
  StatusOr<int64_t> SeriesId(std::string_view category, const std::string& measurement,
                             const std::string& tags, const std::string& input);
  void ExpireOld();
  void DropBatch(const model::PointBatch& batch, const Status& why);

  const StoreOptions options_;
  sqlite3* db_;  // owned; used only on the writer thread after Open
  // Writer thread only:
  sqlite3_stmt* insert_ = nullptr;  // a sample
  sqlite3_stmt* insert_series_ = nullptr;
  sqlite3_stmt* select_series_ = nullptr;
  sqlite3_stmt* commit_mark_ = nullptr;
  // series key (category, measurement, tags JSON, input) → series id; bounded, cleared when full.
  static constexpr size_t kMaxCachedSeries = 200'000;
  std::unordered_map<std::string, int64_t> series_ids_;
  std::vector<std::string> new_series_;  // created by the open transaction
  std::string series_key_;

  mutable std::mutex mu_;            // guards everything below
  std::condition_variable wake_;     // writer: work or stop
  std::condition_variable drained_;  // Flush(): queue written
  std::deque<model::PointBatchPtr> pending_;
  uint64_t pending_bytes_ = 0;
  uint64_t enqueued_seq_ = 0;  // batches handed to Write
  uint64_t written_seq_ = 0;   // batches committed (or failed)
  bool stopping_ = false;
  bool writer_done_ = false;
  uint64_t dropped_since_ = 0;  // batches dropped in the current write cycle
  std::chrono::milliseconds retry_delay_{0};
  int stop_retries_ = 0;
  StoreStats stats_;
  std::thread writer_;
};

// Rough in-memory size of a batch, for the queue bound.
uint64_t ApproximateBytes(const model::PointBatch& batch);

}  // namespace pythond::store
