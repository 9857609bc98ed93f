// The embedded time-series store: SQLite (WAL mode) at data/pythond.db, schema 3
// (docs/STORE.md). A write is acknowledged once its points are committed as one WAL record
// (group commit: every batch waiting when the writer wakes goes into one transaction). After
// the answers the writer appends the points to their series' open chunks in memory
// (store/chunk_codec.h); a fold later writes those chunks in one transaction that also deletes
// the WAL records, so a reader sees every point exactly once. After a crash (or a failed fold)
// the WAL is replayed onto the chunk rows instead. Readers go through the `points` view over
// the `pythond_points` virtual table (store/points_vtab.h).
//
// Threads: Write(), WriteAsync(), HasRoom(), Flush() and Stats() may be called from any thread
// (a mutex guards the pending queue); the writer thread "store-writer" does the group commits,
// folds and retention (by age and by size; at start, after folds, and then once a minute);
// "store-checkpt" copies SQLite's -wal file into the database with its own connection
// (checkpoint_mu_ guards its wake-up flags).
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
#include <unordered_set>
#include <vector>

#include "outputs/output.h"
#include "store/chunk_codec.h"
#include "store/wal_record.h"

namespace pythond::store {

struct StoreOptions {
  std::filesystem::path path;
  int64_t retention_ns = 7 * 86400e9;  // chunks whose newest point arrived before are deleted
  int64_t max_size_bytes = 0;          // 0: no cap; else the oldest chunks go first
  // Accepted batches waiting for their commit: HasRoom() is false from here (the HTTP server
  // then holds request bodies back).
  int64_t max_queue_bytes = 4 << 20;
  // Write() refuses a batch that would take the backlog beyond this (0: 4× max_queue_bytes).
  // It must hold what was admitted before HasRoom() turned false: bodies already being read
  // or parsed then (the agent: at least 64 MiB).
  int64_t max_backlog_bytes = 0;
  bool sync_full = false;      // synchronous=FULL: survive power loss, not only a crash
  int busy_timeout_ms = 5000;  // how long one statement waits for another process's lock
  // Fold WAL records into chunks when they hold this many points, or when the oldest is this
  // old (and always before stopping).
  int64_t fold_points = 500'000;
  int64_t fold_interval_ns = 5'000'000'000;
  ChunkLimits chunk_limits;
  // A chunk takes new points for at most this long after its first (then a new one starts);
  // capped at retention/8 so retention drops data in fine steps.
  int64_t chunk_max_age_ns = 3600e9;
  size_t max_open_chunk_bytes = 32 << 20;  // open chunks kept in memory between folds
  // Runs a write's completion on the caller's thread (the agent posts to its event loop);
  // unset: completions run on the writer thread.
  std::function<void(std::function<void()>)> post;
  // Wall clock in unix ns, for retention; injectable for tests.
  std::function<int64_t()> now_ns;
};

struct StoreStats {
  uint64_t rows_written = 0;  // points committed (to the WAL)
  uint64_t transactions = 0;  // group commits
  uint64_t write_errors = 0;
  uint64_t rows_expired = 0;     // points in chunks deleted by retention
  uint64_t batches_dropped = 0;  // data SQLite refused (logged), or given up at shutdown
  uint64_t queued_bytes = 0;
  uint64_t folds = 0;
  uint64_t points_folded = 0;
  uint64_t chunks_written = 0;  // chunk rows inserted or rewritten
  uint64_t wal_points = 0;      // points committed but not yet folded
  uint64_t size_bytes = 0;      // the database's pages in use (after the last check)
  uint64_t file_bytes = 0;      // the database file, its WAL file included
  uint64_t checkpoints = 0;     // background checkpoints of the -wal file
  std::string last_error;
};

class SqliteStore : public outputs::Output {
 public:
  // Creates the folder, opens (or creates) the database, converts an older schema (1 or 2),
  // applies the schema and starts the writer thread. Errors: kIoError when the file cannot be
  // opened or is not a pythond store; kUnavailable when another process has it open for
  // writing (<path>.lock is locked).
  static StatusOr<std::unique_ptr<SqliteStore>> Open(StoreOptions options);
  ~SqliteStore() override;  // Stop()s

  std::string_view name() const override { return "store"; }
  // Queues the batch; it is durable once a later Flush() returns. kResourceExhausted when the
  // backlog is over 4× max_queue_bytes, kFailedPrecondition once stopped.
  Status Write(model::PointBatchPtr batch) override;
  // `done` runs once the batch is committed (through options.post; on the writer thread when
  // unset): OK, or the error that kept it out — at once (on the caller's thread) when the
  // backlog is full or the store stopped.
  void WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) override;
  // Blocks until everything written before is committed (not necessarily folded).
  void Flush() override;
  bool HasRoom() const override;
  // Commits what is queued, folds everything into chunks and stops the writer thread. Later
  // writes fail with kFailedPrecondition.
  void Stop();
  // Blocks until everything written before is committed and folded (tests, benchmarks).
  void FoldNow();
  StoreStats Stats() const;

 private:
  struct Pending {
    model::PointBatchPtr batch;
    std::function<void(Status)> done;
    uint64_t bytes;
    uint64_t seq;  // 1, 2, ... in the order of Write/WriteAsync
  };
  struct OpenChunk;

  SqliteStore(StoreOptions options, sqlite3* db);
  Status Enqueue(model::PointBatchPtr batch, std::function<void(Status)> done);
  void WriterLoop();
  // One transaction: the batches' series and their WAL record. With append_now, then
  // AppendToHeads(); else the caller does that (after answering).
  Status Commit(const std::deque<Pending>& batches, bool append_now);
  StatusOr<int64_t> SeriesId(std::string_view category, const model::Point& point,
                             const std::string& input);
  // After the last Commit(): appends the batches' points (in the same order) to their series'
  // open chunks in memory, so a fold only writes chunks. When a chunk cannot be read back
  // (logged), the chunks in memory are dropped and the WAL replayed by the next folds.
  void AppendToHeads(const std::vector<model::PointBatchPtr>& batches);
  // Appends one point to its series' open chunk; a full one moves to sealed_.
  Status AppendPoint(int64_t series_id, int64_t received, int64_t time_ns,
                     const std::vector<model::Field>& fields);
  Status Fold();
  // Writes the sealed and dirty open chunks and deletes the WAL records they hold.
  Status FoldHeads();
  // Reads the WAL records and folds them into chunks (records left by a crash, or after a
  // fold failed and the chunks in memory were dropped); in slices, like the old fold.
  Status ReplayWal();
  // Inside the fold's transaction: writes the sealed and dirty open chunks, deletes the WAL
  // records up to `last_wal_id` and commits; the chunks written. On failure rolls back, drops
  // the chunks in memory and sets replay_.
  StatusOr<size_t> CommitHeads(int64_t last_wal_id);
  // After a fold committed: trims the chunks kept in memory to the budget, counts.
  void FinishFold(uint64_t points);
  Status WriteChunk(int64_t series_id, OpenChunk& chunk);
  StatusOr<OpenChunk*> FindOpenChunk(int64_t series_id, int64_t now);
  void DropHeads();  // forgets the chunks in memory (ReplayWal() rebuilds from the WAL)
  void ExpireOld();
  // Deletes the chunks matching `where` (SQL), which hold `points`; false (logged) on failure.
  bool DeleteChunks(const std::string& where, const char* why, int64_t points);
  void EnforceMaxSize();
  void DeleteEmptySeries();
  void UpdateSizes();
  // SQLite's WAL hook on the writer's connection: after each commit, wakes the checkpointer
  // once the -wal file holds kCheckpointPages.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  // Thread "store-checkpoint": copies the -wal file's pages into the database with its own
  // connection (a passive checkpoint never holds the write lock), so the writer never waits
  // for that I/O and its fsync.
  void CheckpointLoop();
  void Complete(std::deque<Pending>& done, const Status& s);
  // What written_seq_ is once the writer is not holding batches (mu_ held).
  uint64_t DoneSeq() const;

  const StoreOptions options_;
  sqlite3* db_;       // owned; used only on the writer thread after Open
  int lock_fd_ = -1;  // owned: flock(LOCK_EX) on <path>.lock while the store is open
  // Writer thread only:
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
  Stmt insert_series_, select_series_, insert_wal_, select_wal_, delete_wal_, last_chunk_,
      insert_chunk_, update_chunk_;
  // series key (category, measurement, tags JSON, input) → series id; bounded, cleared when full.
  static constexpr size_t kMaxCachedSeries = 200'000;
  // Series keys are ~100-300 bytes and every stored point looks one up: hashed 8 bytes a step.
  struct SeriesKeyHash {
    size_t operator()(const std::string& key) const noexcept;
  };
  std::unordered_map<std::string, int64_t, SeriesKeyHash> series_ids_;
  std::vector<std::string> new_series_;  // created by the open transaction
  std::string series_key_;
  WalRecordWriter wal_writer_;  // Commit's, reused (its zstd context and buffers)
  // Open chunks by series id (the newest, not yet full chunk of each series; dirty ones hold
  // points that are only in the WAL yet).
  std::unordered_map<int64_t, std::unique_ptr<OpenChunk>> open_;
  // Chunks that took their last point since the last fold, waiting for it to write them.
  std::vector<std::pair<int64_t, std::unique_ptr<OpenChunk>>> sealed_;
  // The WAL holds records whose points are not in open_/sealed_ (start after a crash, a failed
  // fold): commits leave the chunks alone and the next folds replay the WAL.
  bool replay_ = false;
  std::vector<int64_t> commit_series_;        // Commit(): the series id of each point, in order
  int64_t commit_received_ = 0;               // Commit(): its time (unix ns)
  std::unordered_set<int64_t> fresh_series_;  // created by the last Commit(): no chunk row yet
  int64_t last_wal_id_ = 0;                   // the newest WAL row committed
  size_t open_bytes_ = 0;
  uint64_t fold_serial_ = 1;
  int64_t wal_points_ = 0;        // committed, not folded
  int64_t oldest_wal_ns_ = 0;     // steady-clock time of the oldest unfolded commit
  bool fold_complete_ = true;     // the last Fold() folded every record (else: a slice)
  int64_t fold_retry_at_ns_ = 0;  // steady ns: after a failed fold, wait before the next

  mutable std::mutex mu_;            // guards everything below
  std::condition_variable wake_;     // writer: work or stop
  std::condition_variable drained_;  // Flush()/FoldNow(): written
  std::deque<Pending> pending_;
  uint64_t pending_bytes_ = 0;
  uint64_t enqueued_seq_ = 0;  // batches handed to Write
  uint64_t written_seq_ = 0;   // batches 1..written_seq_ are committed (or failed)
  uint64_t fold_target_ = 0;   // FoldNow(): fold once written_seq_ reaches this
  uint64_t folded_seq_ = 0;    // batches folded into chunks
  bool stopping_ = false;
  bool writer_done_ = false;
  std::chrono::milliseconds retry_delay_{0};
  int stop_retries_ = 0;
  StoreStats stats_;
  std::thread writer_;

  sqlite3* checkpoint_db_ = nullptr;  // owned; the checkpointer's connection
  std::mutex checkpoint_mu_;          // guards the two flags below
  std::condition_variable checkpoint_wake_;
  bool checkpoint_wanted_ = false;
  bool checkpoint_stop_ = false;
  std::thread checkpointer_;
};

// Rough in-memory size of a batch, for the queue bound.
uint64_t ApproximateBytes(const model::PointBatch& batch);

}  // namespace pythond::store
