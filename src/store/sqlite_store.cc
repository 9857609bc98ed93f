#include "store/sqlite_store.h"

#include <pthread.h>

#include <chrono>

#include "common/logging.h"

namespace pythond::store {

namespace {

// Schema 2: a point is a sample (time, fields) of a series (category, measurement, tags,
// input). Tags are stored once per series, not once per point: rows are about half the size,
// and the writer pays one index, (series_id, time), per point.
constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA wal_autocheckpoint=8192;
PRAGMA cache_size=-16384;  -- 16 MiB: most of the speed of a big cache, bounded memory
CREATE TABLE IF NOT EXISTS pythond_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series(
  id          INTEGER PRIMARY KEY,
  category    TEXT NOT NULL,
  measurement TEXT NOT NULL,
  tags        TEXT NOT NULL,  -- JSON object
  input       TEXT NOT NULL,
  UNIQUE(measurement, category, tags, input)
);
CREATE TABLE IF NOT EXISTS samples(
  id        INTEGER PRIMARY KEY,
  series_id INTEGER NOT NULL,
  time      INTEGER NOT NULL,  -- unix ns
  fields    TEXT    NOT NULL   -- JSON object, typed values
);
CREATE INDEX IF NOT EXISTS samples_by_series ON samples(series_id, time);
-- One row per write transaction: the last sample id it wrote and when. Retention deletes whole
-- id ranges through it, so samples need no index on arrival time.
CREATE TABLE IF NOT EXISTS store_commits(last_id INTEGER PRIMARY KEY, received INTEGER NOT NULL);
)sql";

// Schema 1 (one wide row per point) → schema 2, in one transaction.
constexpr const char* kMigrateFrom1 = R"sql(
BEGIN IMMEDIATE;
INSERT OR IGNORE INTO series(category, measurement, tags, input)
  SELECT DISTINCT category, measurement, tags, input FROM point_rows;
INSERT INTO samples(id, series_id, time, fields)
  SELECT p.id, s.id, p.time, p.fields FROM point_rows p JOIN series s
    ON s.measurement = p.measurement AND s.category = p.category AND s.tags = p.tags
   AND s.input = p.input;
DELETE FROM store_commits;
INSERT OR IGNORE INTO store_commits(last_id, received)
  SELECT max(id), max(received) FROM point_rows HAVING count(*) > 0;
DROP VIEW IF EXISTS points;
DROP TABLE point_rows;
COMMIT;
)sql";

constexpr const char* kView = R"sql(
CREATE VIEW IF NOT EXISTS points AS
  SELECT s.category AS category, s.measurement AS measurement, p.time AS time, s.tags AS tags,
         p.fields AS fields, s.input AS input
  FROM samples p JOIN series s ON s.id = p.series_id;
INSERT OR REPLACE INTO pythond_meta(key, value) VALUES ('schema_version', '2');
)sql";

std::string SqliteError(sqlite3* db, const std::string& what) {
  return what + ": " + sqlite3_errmsg(db);
}

// A failed statement: kUnavailable when waiting may help (locked by another process, disk
// full, I/O error), kIoError when the data itself cannot be written.
Status SqliteFailure(sqlite3* db, const std::string& what) {
  switch (sqlite3_errcode(db) & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Status::Unavailable(SqliteError(db, what));
    default:
      return Status::IoError(SqliteError(db, what));
  }
}

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

uint64_t ApproximateBytes(const model::PointBatch& batch) {
  uint64_t n = sizeof(batch) + batch.input.size();
  for (const auto& p : batch.points) {
    n += sizeof(p) + p.measurement.size();
    for (const auto& t : p.tags) n += sizeof(t) + t.key.size() + t.value.size();
    for (const auto& f : p.fields) {
      n += sizeof(f) + f.key.size();
      if (auto* s = std::get_if<std::string>(&f.value)) {
        n += s->size();
      } else if (auto* b = std::get_if<model::Bytes>(&f.value)) {
        n += b->data.size();
      } else if (auto* a = std::get_if<model::Array>(&f.value)) {
        n += a->values.size() * sizeof(model::ArrayElement);
        for (const auto& e : a->values) {
          if (auto* es = std::get_if<std::string>(&e)) n += es->size();
        }
      }
    }
  }
  return n;
}

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(StoreOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(options.path.parent_path(), ec);
  if (ec) {
    return Status::IoError("cannot create " + options.path.parent_path().string() + ": " +
                           ec.message());
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(options.path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::IoError("cannot open store " + options.path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  char* err = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return Status::IoError("cannot set up store schema in " + options.path.string() + ": " + msg);
  }
  bool has_v1 = false;
  sqlite3_exec(
      db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'point_rows'",
      [](void* flag, int, char**, char**) {
        *static_cast<bool*>(flag) = true;
        return 0;
      },
      &has_v1, nullptr);
  if (has_v1) {
    LOG_INFO("store: converting {} to schema 2 (series + samples)", options.path.string());
    if (sqlite3_exec(db, kMigrateFrom1, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db);
      return Status::IoError("cannot convert store " + options.path.string() + ": " + msg);
    }
  }
  if (sqlite3_exec(db, kView, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return Status::IoError("cannot set up store schema in " + options.path.string() + ": " + msg);
  }
  if (!options.now_ns) options.now_ns = SystemNowNs;
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(std::move(options), db));
  struct {
    const char* sql;
    sqlite3_stmt** stmt;
  } statements[] = {
      {"INSERT INTO samples(series_id, time, fields) VALUES (?, ?, ?)", &store->insert_},
      {"INSERT INTO series(category, measurement, tags, input) VALUES (?, ?, ?, ?) "
       "ON CONFLICT DO NOTHING",
       &store->insert_series_},
      {"SELECT id FROM series WHERE measurement = ? AND category = ? AND tags = ? AND input = ?",
       &store->select_series_},
  };
  for (auto& st : statements) {
    if (sqlite3_prepare_v2(db, st.sql, -1, st.stmt, nullptr) != SQLITE_OK) {
      return Status::IoError(SqliteError(db, "cannot prepare store statements"));
    }
  }
  if (sqlite3_prepare_v2(db, "INSERT INTO store_commits(last_id, received) VALUES (?, ?)", -1,
                         &store->commit_mark_, nullptr) != SQLITE_OK) {
    return Status::IoError(SqliteError(db, "cannot prepare commit mark"));
  }
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

SqliteStore::SqliteStore(StoreOptions options, sqlite3* db)
    : options_(std::move(options)), db_(db) {}

SqliteStore::~SqliteStore() {
  Stop();
  sqlite3_finalize(insert_);
  sqlite3_finalize(insert_series_);
  sqlite3_finalize(select_series_);
  sqlite3_finalize(commit_mark_);
  sqlite3_close(db_);
}

Status SqliteStore::Write(model::PointBatchPtr batch) {
  uint64_t bytes = ApproximateBytes(*batch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::FailedPrecondition("store is stopped");
    if (pending_bytes_ + bytes > static_cast<uint64_t>(options_.max_queue_bytes) &&
        !pending_.empty()) {
      return Status::ResourceExhausted("store backlog is full (" +
                                       std::to_string(pending_bytes_ >> 20) + " MiB queued)");
    }
    pending_.push_back(std::move(batch));
    pending_bytes_ += bytes;
    ++enqueued_seq_;
  }
  wake_.notify_one();
  return Status::Ok();
}

bool SqliteStore::HasRoom() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_bytes_ < static_cast<uint64_t>(options_.max_queue_bytes);
}

void SqliteStore::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = enqueued_seq_;
  drained_.wait(lock, [&] { return written_seq_ >= target || writer_done_; });
}

void SqliteStore::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

StoreStats SqliteStore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats s = stats_;
  s.queued_bytes = pending_bytes_;
  return s;
}

void SqliteStore::WriterLoop() {
  pthread_setname_np(pthread_self(), "store-writer");
  using Clock = std::chrono::steady_clock;
  auto next_expiry = Clock::now();
  while (true) {
    std::deque<model::PointBatchPtr> batches;
    bool stop;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_until(lock, next_expiry, [&] { return stopping_ || !pending_.empty(); });
      batches.swap(pending_);
      pending_bytes_ = 0;
      stop = stopping_;
    }
    if (!batches.empty()) {
      Status s = WriteBatches(batches);
      if (!s.ok() && !s.retryable() && batches.size() > 1) {
        // The data of one batch cannot be written: write them one by one, so only that one
        // is lost.
        std::deque<model::PointBatchPtr> retry;
        for (auto& b : batches) {
          std::deque<model::PointBatchPtr> one{b};
          Status each = WriteBatches(one);
          if (each.retryable()) {
            retry.push_back(b);
            s = each;
          } else if (!each.ok()) {
            DropBatch(*b, each);
          }
        }
        batches.swap(retry);
        if (batches.empty()) s = Status::Ok();
      } else if (!s.ok() && !s.retryable()) {
        DropBatch(*batches.front(), s);
        batches.clear();
        s = Status::Ok();
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (s.ok()) {
        written_seq_ += batches.size() + dropped_since_;
        dropped_since_ = 0;
        retry_delay_ = std::chrono::milliseconds(0);
        drained_.notify_all();
      } else {
        // Transient (locked, disk full): keep the batches, in order, and try again later.
        ++stats_.write_errors;
        stats_.last_error = s.message();
        retry_delay_ = std::min<std::chrono::milliseconds>(
            std::chrono::milliseconds(5000),
            std::max<std::chrono::milliseconds>(std::chrono::milliseconds(100), retry_delay_ * 2));
        LOG_ERROR("store: {}; {} batch(es) kept, retrying in {} ms", s.message(), batches.size(),
                  retry_delay_.count());
        for (auto it = batches.rbegin(); it != batches.rend(); ++it) {
          pending_bytes_ += ApproximateBytes(**it);
          pending_.push_front(*it);
        }
        // Give up on a store that stays unwritable while stopping: bounded shutdown.
        if (stopping_ && ++stop_retries_ > 20) {
          LOG_ERROR("store: giving up on {} batch(es) at shutdown: {}", pending_.size(),
                    s.message());
          stats_.batches_dropped += pending_.size();
          written_seq_ += pending_.size();
          pending_.clear();
          pending_bytes_ = 0;
          drained_.notify_all();
        } else {
          wake_.wait_for(lock, retry_delay_, [&] { return false; });
        }
      }
    }
    if (Clock::now() >= next_expiry) {
      ExpireOld();
      next_expiry = Clock::now() + std::chrono::minutes(1);
    }
    if (stop) {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty()) break;
    }
  }
  // Fold the WAL back so a reader without write access sees everything.
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  writer_done_ = true;
  drained_.notify_all();
}

StatusOr<int64_t> SqliteStore::SeriesId(std::string_view category, const std::string& measurement,
                                        const std::string& tags, const std::string& input) {
  series_key_.clear();
  series_key_.append(category).append(1, '\0').append(measurement).append(1, '\0');
  series_key_.append(tags).append(1, '\0').append(input);
  if (auto it = series_ids_.find(series_key_); it != series_ids_.end()) return it->second;

  auto bind = [&](sqlite3_stmt* st, int first) {
    sqlite3_bind_text(st, first, category.data(), category.size(), SQLITE_STATIC);
    sqlite3_bind_text(st, first + 1, measurement.data(), measurement.size(), SQLITE_STATIC);
    sqlite3_bind_text(st, first + 2, tags.data(), tags.size(), SQLITE_STATIC);
    sqlite3_bind_text(st, first + 3, input.data(), input.size(), SQLITE_STATIC);
  };
  bind(insert_series_, 1);
  int rc = sqlite3_step(insert_series_);
  sqlite3_reset(insert_series_);
  if (rc != SQLITE_DONE) return SqliteFailure(db_, "insert series");
  int64_t id;
  if (sqlite3_changes(db_) > 0) {
    id = sqlite3_last_insert_rowid(db_);
  } else {
    // Already there (written before this process started): look it up.
    sqlite3_bind_text(select_series_, 1, measurement.data(), measurement.size(), SQLITE_STATIC);
    sqlite3_bind_text(select_series_, 2, category.data(), category.size(), SQLITE_STATIC);
    sqlite3_bind_text(select_series_, 3, tags.data(), tags.size(), SQLITE_STATIC);
    sqlite3_bind_text(select_series_, 4, input.data(), input.size(), SQLITE_STATIC);
    rc = sqlite3_step(select_series_);
    id = rc == SQLITE_ROW ? sqlite3_column_int64(select_series_, 0) : -1;
    sqlite3_reset(select_series_);
    if (id < 0) return SqliteFailure(db_, "find series");
  }
  if (series_ids_.size() >= kMaxCachedSeries) series_ids_.clear();
  series_ids_.emplace(series_key_, id);
  new_series_.push_back(series_key_);
  return id;
}

Status SqliteStore::WriteBatches(const std::deque<model::PointBatchPtr>& batches) {
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteFailure(db_, "begin");
  }
  new_series_.clear();
  // On failure the transaction is rolled back: forget the series ids it created.
  auto fail = [&](Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    for (const auto& key : new_series_) series_ids_.erase(key);
    new_series_.clear();
    return s;
  };
  uint64_t rows = 0;
  int64_t received = options_.now_ns();
  std::string tags, fields;
  for (const auto& batch : batches) {
    std::string_view category = model::CategoryName(batch->category);
    for (const auto& p : batch->points) {
      tags = model::TagsToJson(p.tags);
      auto series = SeriesId(category, p.measurement, tags, batch->input);
      if (!series.ok()) return fail(series.status());
      fields = model::FieldsToJson(p.fields);
      sqlite3_bind_int64(insert_, 1, *series);
      sqlite3_bind_int64(insert_, 2, p.time_ns);
      sqlite3_bind_text(insert_, 3, fields.data(), fields.size(), SQLITE_STATIC);
      int rc = sqlite3_step(insert_);
      sqlite3_reset(insert_);
      if (rc != SQLITE_DONE) return fail(SqliteFailure(db_, "insert"));
      ++rows;
    }
  }
  if (rows > 0) {
    sqlite3_bind_int64(commit_mark_, 1, sqlite3_last_insert_rowid(db_));
    sqlite3_bind_int64(commit_mark_, 2, received);
    int rc = sqlite3_step(commit_mark_);
    sqlite3_reset(commit_mark_);
    if (rc != SQLITE_DONE) return fail(SqliteFailure(db_, "commit mark"));
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail(SqliteFailure(db_, "commit"));
  }
  new_series_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.rows_written += rows;
  ++stats_.transactions;
  return Status::Ok();
}

void SqliteStore::DropBatch(const model::PointBatch& batch, const Status& why) {
  LOG_ERROR("store: dropped a batch of {} point(s) from input '{}': {}", batch.points.size(),
            batch.input, why.message());
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.batches_dropped;
  ++stats_.write_errors;
  stats_.last_error = why.message();
  ++dropped_since_;
}

void SqliteStore::ExpireOld() {
  int64_t cutoff = options_.now_ns() - options_.retention_ns;
  // The newest transaction stored before the cut-off: every row up to its last id goes.
  sqlite3_stmt* find = nullptr;
  int64_t last_id = -1;
  if (sqlite3_prepare_v2(db_, "SELECT max(last_id) FROM store_commits WHERE received < ?", -1,
                         &find, nullptr) == SQLITE_OK) {
    sqlite3_bind_int64(find, 1, cutoff);
    if (sqlite3_step(find) == SQLITE_ROW && sqlite3_column_type(find, 0) != SQLITE_NULL) {
      last_id = sqlite3_column_int64(find, 0);
    }
  }
  sqlite3_finalize(find);
  if (last_id < 0) return;
  std::string sql = "BEGIN IMMEDIATE; DELETE FROM samples WHERE id <= " + std::to_string(last_id) +
                    "; DELETE FROM store_commits WHERE last_id <= " + std::to_string(last_id) +
                    "; COMMIT;";
  int64_t before = sqlite3_total_changes64(db_);
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    LOG_ERROR("store: retention: {}", err ? err : "unknown error");
    sqlite3_free(err);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return;
  }
  int64_t changes = sqlite3_total_changes64(db_) - before;
  if (changes > 0) {
    LOG_INFO("store: retention deleted the rows stored before the cut-off");
    std::lock_guard<std::mutex> lock(mu_);
    stats_.rows_expired += changes;  // rows plus their commit marks; close enough for a counter
  }
}

}  // namespace pythond::store
