#include "store/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <simdjson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <chrono>

#include "common/logging.h"
#include "store/points_vtab.h"
#include "store/wal_record.h"

namespace pythond::store {

namespace {

constexpr int kSchemaVersion = 3;
constexpr size_t kMaxRecordBytes = 8 << 20;  // a WAL record is cut at this raw size
constexpr uint64_t kHardLimit = 4;           // × max_queue_bytes: the default backlog cap
// A WAL replay (ReplayWal) gives the writes waiting for their commit a turn after this long;
// each slice rewrites the open chunks it touched, so shorter slices cost throughput.
constexpr int64_t kFoldSliceNs = 100'000'000;
// The -wal file's pages (16 KiB) that wake the checkpointer thread: 64 MiB. SQLite's own
// automatic checkpoint ran inside the commit that crossed its limit, on the writer thread:
// under bench/ingest's flood that stopped commits for 100-150 ms every few seconds.
constexpr int kCheckpointPages = 4096;

// auto_vacuum takes effect only before the first table is created: new stores shrink their
// file when retention frees pages; converted ones reuse the pages instead.
constexpr const char* kPragmas = R"sql(
PRAGMA page_size=16384;                -- new stores: chunks of a few KiB pack with less slack
PRAGMA auto_vacuum=INCREMENTAL;
PRAGMA journal_mode=WAL;
PRAGMA wal_autocheckpoint=0;          -- the checkpointer thread does it (kCheckpointPages)
PRAGMA journal_size_limit=16777216;    -- truncate the -wal file back to 16 MiB after checkpoints
PRAGMA cache_size=-6144;               -- 6 MiB
)sql";

// Schema 3 (docs/STORE.md): series, the write-ahead records, and per-series chunks.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS pythond_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series(
  id          INTEGER PRIMARY KEY,
  category    TEXT NOT NULL,
  measurement TEXT NOT NULL,
  tags        TEXT NOT NULL,  -- JSON object
  input       TEXT NOT NULL,
  UNIQUE(measurement, category, tags, input)
);
CREATE TABLE IF NOT EXISTS wal(
  id       INTEGER PRIMARY KEY,
  received INTEGER NOT NULL,  -- unix ns of the commit
  points   INTEGER NOT NULL,
  data     BLOB NOT NULL      -- a WAL record
);
CREATE TABLE IF NOT EXISTS chunks(
  id             INTEGER PRIMARY KEY,
  series_id      INTEGER NOT NULL,
  t_min          INTEGER NOT NULL,  -- unix ns, the oldest point's time
  t_max          INTEGER NOT NULL,
  points         INTEGER NOT NULL,
  first_received INTEGER NOT NULL,  -- unix ns: arrival of the first and the newest point
  last_received  INTEGER NOT NULL,
  data           BLOB NOT NULL      -- a chunk
);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks(series_id, t_max);
)sql";

// Schema 1 (one wide row per point) → schema 2, in one transaction; schema 2 then converts.
constexpr const char* kMigrateFrom1 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS samples(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL,
  time INTEGER NOT NULL, fields TEXT NOT NULL);
INSERT OR IGNORE INTO series(category, measurement, tags, input)
  SELECT DISTINCT category, measurement, tags, input FROM point_rows;
INSERT INTO samples(id, series_id, time, fields)
  SELECT p.id, s.id, p.time, p.fields FROM point_rows p JOIN series s
    ON s.measurement = p.measurement AND s.category = p.category AND s.tags = p.tags
   AND s.input = p.input;
DROP VIEW IF EXISTS points;
DROP TABLE point_rows;
COMMIT;
)sql";

constexpr const char* kView = R"sql(
DROP VIEW IF EXISTS points;
CREATE VIEW points AS
  SELECT category, measurement, time, tags, fields, input FROM pythond_points;
INSERT OR REPLACE INTO pythond_meta(key, value) VALUES ('schema_version', '3');
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

Status Exec(sqlite3* db, const char* sql, const std::string& what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = what + ": " + (err ? err : "unknown error");
    sqlite3_free(err);
    return Status::IoError(msg);
  }
  return Status::Ok();
}

bool TableExists(sqlite3* db, const char* name) {
  sqlite3_stmt* st = nullptr;
  bool found = false;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1,
                         &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return found;
}

int64_t QueryInt(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  int64_t v = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return v;
}

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A schema-2 `fields` JSON object back into typed fields (integers stay integers, numbers with
// a '.' or exponent are floats). False when it is not such an object.
bool FieldsFromJson(simdjson::dom::parser& parser, std::string_view json,
                    std::vector<model::Field>* out) {
  out->clear();
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size()).get(object) != simdjson::SUCCESS) return false;
  auto scalar = [](simdjson::dom::element e, model::ArrayElement* v) {
    switch (e.type()) {
      case simdjson::dom::element_type::INT64:
        *v = int64_t(e);
        return true;
      case simdjson::dom::element_type::UINT64:
        *v = uint64_t(e);
        return true;
      case simdjson::dom::element_type::DOUBLE:
        *v = double(e);
        return true;
      case simdjson::dom::element_type::BOOL:
        *v = bool(e);
        return true;
      case simdjson::dom::element_type::STRING:
        *v = std::string(std::string_view(e));
        return true;
      default:
        return false;
    }
  };
  for (auto [key, value] : object) {
    model::Field f;
    f.key = std::string(key);
    if (value.type() == simdjson::dom::element_type::ARRAY) {
      model::Array array;
      for (auto e : simdjson::dom::array(value)) {
        model::ArrayElement v;
        if (!scalar(e, &v)) return false;
        array.values.push_back(std::move(v));
      }
      f.value = std::move(array);
    } else {
      model::ArrayElement v;
      if (!scalar(value, &v)) return false;
      f.value = std::visit([](auto&& x) -> model::FieldValue { return x; }, std::move(v));
    }
    out->push_back(std::move(f));
  }
  return true;
}

// Schema 2 (a row per point in `samples`) → chunks, in one transaction.
Status ConvertSamples(sqlite3* db, const ChunkLimits& limits, int64_t now) {
  if (Status s = Exec(db, "BEGIN IMMEDIATE", "convert"); !s.ok()) return s;
  auto fail = [db](Status s) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  sqlite3_stmt* read = nullptr;
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT series_id, time, fields FROM samples ORDER BY series_id, id",
                         -1, &read, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO chunks(series_id, t_min, t_max, points, first_received, "
                         "last_received, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         -1, &insert, nullptr) != SQLITE_OK) {
    Status s = Status::IoError(SqliteError(db, "convert"));
    sqlite3_finalize(read);
    sqlite3_finalize(insert);
    return fail(s);
  }
  simdjson::dom::parser parser;
  ChunkBuilder builder(limits);
  int64_t series = -1;
  uint64_t points = 0, bad = 0;
  std::vector<model::Field> fields;
  auto flush = [&]() -> bool {
    if (builder.empty()) return true;
    std::string data = builder.Finish();
    sqlite3_bind_int64(insert, 1, series);
    sqlite3_bind_int64(insert, 2, builder.min_time());
    sqlite3_bind_int64(insert, 3, builder.max_time());
    sqlite3_bind_int64(insert, 4, static_cast<int64_t>(builder.samples()));
    sqlite3_bind_int64(insert, 5, now);
    sqlite3_bind_int64(insert, 6, now);
    sqlite3_bind_blob(insert, 7, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    int rc = sqlite3_step(insert);
    sqlite3_reset(insert);
    builder = ChunkBuilder(limits);
    return rc == SQLITE_DONE;
  };
  int rc;
  bool ok = true;
  while (ok && (rc = sqlite3_step(read)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(read, 0);
    int64_t time = sqlite3_column_int64(read, 1);
    std::string_view json(reinterpret_cast<const char*>(sqlite3_column_text(read, 2)),
                          sqlite3_column_bytes(read, 2));
    if (!FieldsFromJson(parser, json, &fields)) {
      ++bad;
      continue;
    }
    if (id != series) {
      ok = flush();
      series = id;
    }
    if (ok && !builder.Append(time, fields)) {
      ok = flush() && builder.Append(time, fields);
    }
    ++points;
  }
  ok = ok && rc == SQLITE_DONE && flush();
  sqlite3_finalize(read);
  sqlite3_finalize(insert);
  if (!ok) return fail(Status::IoError(SqliteError(db, "convert samples to chunks")));
  Status s = Exec(db,
                  "DROP VIEW IF EXISTS points; DROP TABLE samples; "
                  "DROP TABLE IF EXISTS store_commits; COMMIT;",
                  "convert");
  if (!s.ok()) return fail(s);
  LOG_INFO("store: converted {} point(s) to chunks{}", points,
           bad ? " (" + std::to_string(bad) + " unreadable row(s) skipped)" : std::string());
  return Status::Ok();
}

}  // namespace

struct SqliteStore::OpenChunk {
  ChunkBuilder builder;
  int64_t row_id = 0;  // 0: not in the database yet
  int64_t first_received = 0;
  int64_t last_received = 0;
  bool dirty = false;
  uint64_t last_fold = 0;  // the fold that last appended to it
};

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
  if (!options.now_ns) options.now_ns = SystemNowNs;
  if (options.max_backlog_bytes <= 0) {
    options.max_backlog_bytes = options.max_queue_bytes * static_cast<int64_t>(kHardLimit);
  }
  options.chunk_max_age_ns =
      std::max<int64_t>(1, std::min(options.chunk_max_age_ns, options.retention_ns / 8));
  // One writer per store: a second agent on the same root would fold from stale open chunks.
  // flock, not SQLite's exclusive locking mode, so `pythond query` and the page still read.
  std::string lock_path = options.path.string() + ".lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return Status::IoError("cannot open " + lock_path + ": " + std::strerror(errno));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      return Status::Unavailable("store " + options.path.string() +
                                 " is open for writing by another process (another agent on "
                                 "this root? its lock: " +
                                 lock_path + ")");
    }
    return Status::IoError("cannot lock " + lock_path + ": " + std::strerror(err));
  }
  // Owner-only, like the disk queues: the points may be private. SQLite gives the -wal and -shm
  // files the database's mode. A database made by an older version (0644) is narrowed.
  if (int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    struct stat st {};
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
      if (fchmod(fd, st.st_mode & 0700) == 0) {
        for (const char* suffix : {"-wal", "-shm"}) {
          std::string other = options.path.string() + suffix;
          if (::chmod(other.c_str(), st.st_mode & 0700) != 0 && errno != ENOENT) {
            LOG_WARN("store: cannot make {} owner-only: {}", other, std::strerror(errno));
          }
        }
      } else {
        LOG_WARN("store: cannot make {} owner-only: {}", options.path.string(),
                 std::strerror(errno));
      }
    }
    ::close(fd);
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(options.path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    ::close(lock_fd);
    return Status::IoError("cannot open store " + options.path.string() + ": " + msg);
  }
  auto close_with = [&db, &options, lock_fd](const Status& s) {
    sqlite3_close(db);
    ::close(lock_fd);
    return Status::IoError("store " + options.path.string() + ": " + s.message());
  };
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  RegisterPointsModule(db);
  if (Status s = Exec(db, kPragmas, "cannot set up the store"); !s.ok()) return close_with(s);
  if (Status s =
          Exec(db, options.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
               "cannot set up the store");
      !s.ok()) {
    return close_with(s);
  }
  if (Status s = Exec(db, kSchema, "cannot set up the store schema"); !s.ok()) return close_with(s);
  if (TableExists(db, "point_rows")) {
    LOG_INFO("store: converting {} from schema 1", options.path.string());
    if (Status s = Exec(db, kMigrateFrom1, "cannot convert schema 1"); !s.ok()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return close_with(s);
    }
  }
  if (TableExists(db, "samples")) {
    LOG_INFO("store: converting {} from schema 2 (a row per point) to chunks",
             options.path.string());
    if (Status s = ConvertSamples(db, options.chunk_limits, options.now_ns()); !s.ok()) {
      return close_with(s);
    }
  }
  if (QueryInt(db, "SELECT value FROM pythond_meta WHERE key = 'schema_version'") !=
          kSchemaVersion ||
      !QueryInt(db, "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'points'")) {
    if (Status s = Exec(db, kView, "cannot create the points view"); !s.ok()) {
      return close_with(s);
    }
  }
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(std::move(options), db));
  store->lock_fd_ = lock_fd;
  struct {
    const char* sql;
    Stmt* stmt;
  } statements[] = {
      {"INSERT INTO series(category, measurement, tags, input) VALUES (?, ?, ?, ?) "
       "ON CONFLICT DO NOTHING",
       &store->insert_series_},
      {"SELECT id FROM series WHERE measurement = ? AND category = ? AND tags = ? AND input = ?",
       &store->select_series_},
      {"INSERT INTO wal(received, points, data) VALUES (?, ?, ?)", &store->insert_wal_},
      {"SELECT id, received, data FROM wal ORDER BY id", &store->select_wal_},
      {"DELETE FROM wal WHERE id <= ?", &store->delete_wal_},
      {"SELECT id, points, first_received, last_received, data FROM chunks WHERE series_id = ? "
       "ORDER BY id DESC LIMIT 1",
       &store->last_chunk_},
      {"INSERT INTO chunks(series_id, t_min, t_max, points, first_received, last_received, "
       "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
       &store->insert_chunk_},
      {"UPDATE chunks SET t_min = ?, t_max = ?, points = ?, last_received = ?, data = ? "
       "WHERE id = ?",
       &store->update_chunk_},
  };
  for (auto& st : statements) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, st.sql, -1, &raw, nullptr) != SQLITE_OK) {
      return Status::IoError(SqliteError(db, "cannot prepare store statements"));
    }
    st.stmt->reset(raw);
  }
  // Records left by a crash are folded by the writer before anything else.
  store->wal_points_ = QueryInt(db, "SELECT coalesce(sum(points), 0) FROM wal");
  store->replay_ = store->wal_points_ > 0 || QueryInt(db, "SELECT count(*) FROM wal") > 0;
  store->oldest_wal_ns_ = SteadyNowNs() - store->options_.fold_interval_ns;
  store->stats_.wal_points = store->wal_points_;
  // Retention at start (then every minute on the writer thread); with records left by a
  // crash, after the writer's first fold.
  if (store->wal_points_ == 0) {
    store->ExpireOld();
    store->EnforceMaxSize();
  }
  store->UpdateSizes();
  // The checkpointer's own connection (only checkpoints: a small page cache).
  sqlite3* checkpoint_db = nullptr;
  if (sqlite3_open_v2(store->options_.path.c_str(), &checkpoint_db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK ||
      Exec(checkpoint_db,
           store->options_.sync_full ? "PRAGMA synchronous=FULL; PRAGMA cache_size=-1024; PRAGMA "
                                       "journal_size_limit=16777216"
                                     : "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-1024; PRAGMA "
                                       "journal_size_limit=16777216",
           "checkpoint connection")
              .ok() == false) {
    std::string msg = checkpoint_db ? sqlite3_errmsg(checkpoint_db) : "out of memory";
    sqlite3_close(checkpoint_db);
    return Status::IoError("store " + store->options_.path.string() +
                           ": cannot open its checkpoint connection: " + msg);
  }
  sqlite3_busy_timeout(checkpoint_db, store->options_.busy_timeout_ms);
  store->checkpoint_db_ = checkpoint_db;
  sqlite3_wal_hook(db, &SqliteStore::OnWalCommit, store.get());
  store->checkpointer_ = std::thread([s = store.get()] { s->CheckpointLoop(); });
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

SqliteStore::SqliteStore(StoreOptions options, sqlite3* db)
    : options_(std::move(options)), db_(db) {}

SqliteStore::~SqliteStore() {
  Stop();
  insert_series_.reset();
  select_series_.reset();
  insert_wal_.reset();
  select_wal_.reset();
  delete_wal_.reset();
  last_chunk_.reset();
  insert_chunk_.reset();
  update_chunk_.reset();
  sqlite3_close(db_);
  sqlite3_close(checkpoint_db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status SqliteStore::Write(model::PointBatchPtr batch) { return Enqueue(std::move(batch), nullptr); }

void SqliteStore::WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) {
  Status refused = Enqueue(std::move(batch), done);
  if (!refused.ok()) done(refused);
}

Status SqliteStore::Enqueue(model::PointBatchPtr batch, std::function<void(Status)> done) {
  uint64_t bytes = ApproximateBytes(*batch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::FailedPrecondition("store is stopped");
    // HasRoom() turns false at max_queue_bytes (the HTTP server then holds bodies back);
    // writes that were admitted just before may take it up to the hard limit.
    if (pending_bytes_ + bytes > static_cast<uint64_t>(options_.max_backlog_bytes) &&
        !pending_.empty()) {
      return Status::ResourceExhausted("store backlog is full (" +
                                       std::to_string(pending_bytes_ >> 20) + " MiB queued)");
    }
    pending_.push_back(Pending{std::move(batch), std::move(done), bytes, ++enqueued_seq_});
    pending_bytes_ += bytes;
  }
  wake_.notify_one();
  return Status::Ok();
}

uint64_t SqliteStore::DoneSeq() const {
  // Batches leave pending_ in order and failed ones come back to its front: everything before
  // its first batch is done.
  return pending_.empty() ? enqueued_seq_ : pending_.front().seq - 1;
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

void SqliteStore::FoldNow() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = enqueued_seq_;
  fold_target_ = std::max(fold_target_, target);
  wake_.notify_one();
  drained_.wait(lock, [&] { return folded_seq_ >= target || writer_done_; });
}

void SqliteStore::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_wake_.notify_one();
  if (checkpointer_.joinable()) checkpointer_.join();
}

int SqliteStore::OnWalCommit(void* self, sqlite3*, const char*, int pages) {
  if (pages >= kCheckpointPages) {
    auto* store = static_cast<SqliteStore*>(self);
    {
      std::lock_guard<std::mutex> lock(store->checkpoint_mu_);
      store->checkpoint_wanted_ = true;
    }
    store->checkpoint_wake_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::CheckpointLoop() {
  pthread_setname_np(pthread_self(), "store-checkpt");
  while (true) {
    {
      std::unique_lock<std::mutex> lock(checkpoint_mu_);
      checkpoint_wake_.wait(lock, [&] { return checkpoint_wanted_ || checkpoint_stop_; });
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
    }
    // Passive: copies what no reader still needs, without the write lock; the writer's next
    // transaction then starts the -wal file over. A reader holding an old snapshot leaves the
    // rest for the next round.
    int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                       nullptr);
    std::lock_guard<std::mutex> lock(mu_);
    if (rc == SQLITE_OK) {
      ++stats_.checkpoints;
    } else if (rc != SQLITE_BUSY) {
      stats_.last_error = SqliteError(checkpoint_db_, "checkpoint");
      LOG_WARN("store: {}", stats_.last_error);
    }
  }
}

StoreStats SqliteStore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats s = stats_;
  s.queued_bytes = pending_bytes_;
  return s;
}

void SqliteStore::Complete(std::deque<Pending>& batches, const Status& s) {
  for (Pending& p : batches) {
    if (!p.done) continue;
    if (options_.post) {
      options_.post([done = std::move(p.done), s] { done(s); });
    } else {
      p.done(s);
    }
  }
  batches.clear();
}

void SqliteStore::WriterLoop() {
  pthread_setname_np(pthread_self(), "store-writer");
  using Clock = std::chrono::steady_clock;
  auto next_maintenance = Clock::now() + std::chrono::minutes(1);  // Open() ran the first
  while (true) {
    std::deque<Pending> batches;
    bool stop, fold_wanted;
    uint64_t committed_before;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // After a failed fold, nothing but new batches or Stop() wakes the writer before
      // fold_retry_at_ns_ (no spinning on a store that stays locked or full).
      int64_t due_ns = wal_points_ > 0
                           ? std::max(oldest_wal_ns_ + options_.fold_interval_ns, fold_retry_at_ns_)
                           : INT64_MAX / 2;
      // A FoldNow() waiting on a fold that failed: wake for the retry, not for the next
      // interval or maintenance (up to a minute).
      if (fold_target_ > folded_seq_) due_ns = std::min(due_ns, fold_retry_at_ns_);
      auto fold_due = Clock::time_point(std::chrono::nanoseconds(due_ns));
      wake_.wait_until(lock, std::min(next_maintenance, fold_due), [&] {
        return stopping_ || !pending_.empty() ||
               (fold_target_ > folded_seq_ && SteadyNowNs() >= fold_retry_at_ns_);
      });
      // The batches stay counted in pending_bytes_ until committed: they hold memory, and
      // HasRoom() must stay false while a slow commit runs.
      batches.swap(pending_);
      stop = stopping_;
      committed_before = written_seq_;
    }
    uint64_t taken_bytes = 0;
    for (const Pending& p : batches) taken_bytes += p.bytes;
    if (!batches.empty()) {
      // The points go into the chunks in memory after the answers: durability needs only the
      // commit (a group of 26,000 new series took a second more under ASan).
      Status s = Commit(batches, /*append_now=*/false);
      if (!s.ok() && !s.retryable()) {
        // The data of one batch cannot be written: write them one by one, so only that one
        // is lost (and its writer told).
        std::deque<Pending> retry, ok;
        for (auto& b : batches) {
          std::deque<Pending> one;
          one.push_back(std::move(b));
          Status each = Commit(one, /*append_now=*/true);
          if (each.ok()) {
            ok.push_back(std::move(one.front()));
          } else if (each.retryable()) {
            retry.push_back(std::move(one.front()));
            s = each;
          } else {
            LOG_ERROR("store: dropped a batch of {} point(s) from input '{}': {}",
                      one.front().batch->points.size(), one.front().batch->input, each.message());
            {
              std::lock_guard<std::mutex> lock(mu_);
              ++stats_.batches_dropped;
              ++stats_.write_errors;
              stats_.last_error = each.message();
            }
            std::deque<Pending> dropped;
            dropped.push_back(std::move(one.front()));
            Complete(dropped,
                     Status::IoError("the store could not keep this write: " + each.message()));
          }
        }
        Complete(ok, Status::Ok());
        batches.swap(retry);
        if (batches.empty()) s = Status::Ok();
      }
      uint64_t kept_bytes = 0;
      for (const Pending& p : batches) kept_bytes += p.bytes;
      std::unique_lock<std::mutex> lock(mu_);
      if (!s.ok()) pending_bytes_ -= taken_bytes - kept_bytes;
      if (s.ok()) {
        written_seq_ = DoneSeq();
        retry_delay_ = std::chrono::milliseconds(0);
        lock.unlock();
        std::vector<model::PointBatchPtr> committed;  // empty after the one-by-one route
        for (const Pending& p : batches) committed.push_back(p.batch);
        Complete(batches, Status::Ok());
        AppendToHeads(committed);
        lock.lock();
        // Counted until appended: HasRoom() stays false meanwhile, so the bodies the early
        // answers invite wait unread instead of piling up parsed.
        pending_bytes_ -= taken_bytes;
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
        // Give up on a store that stays unwritable while stopping: bounded shutdown.
        if (stopping_ && ++stop_retries_ > 20) {
          LOG_ERROR("store: giving up on {} batch(es) at shutdown: {}",
                    batches.size() + pending_.size(), s.message());
          for (auto& p : pending_) batches.push_back(std::move(p));
          stats_.batches_dropped += batches.size();
          pending_.clear();
          pending_bytes_ = 0;
          written_seq_ = DoneSeq();
          lock.unlock();
          Complete(batches, Status::Unavailable("the store is stopping: " + s.message()));
          lock.lock();
          drained_.notify_all();
        } else {
          for (auto it = batches.rbegin(); it != batches.rend(); ++it) {
            pending_.push_front(std::move(*it));  // still counted in pending_bytes_
          }
          // Only up to the first kept batch: Flush() must not return while an earlier write
          // waits (one batch of a failed group may be kept while later ones got through).
          written_seq_ = DoneSeq();
          drained_.notify_all();
          wake_.wait_for(lock, retry_delay_, [&] { return false; });
        }
        continue;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fold_wanted = fold_target_ > folded_seq_ && written_seq_ >= fold_target_;
      committed_before = written_seq_;
    }
    bool maintenance = Clock::now() >= next_maintenance;
    bool folded_now = false;
    bool may_fold = stop || SteadyNowNs() >= fold_retry_at_ns_;
    if (may_fold &&
        (wal_points_ >= options_.fold_points || fold_wanted || stop || maintenance ||
         (wal_points_ > 0 && SteadyNowNs() - oldest_wal_ns_ >= options_.fold_interval_ns))) {
      Status s = Fold();
      folded_now = s.ok();
      std::lock_guard<std::mutex> lock(mu_);
      if (s.ok()) {
        if (fold_complete_) folded_seq_ = committed_before;
        fold_retry_at_ns_ = 0;
      } else {
        fold_retry_at_ns_ = SteadyNowNs() + 1'000'000'000;  // the WAL keeps the points meanwhile
        ++stats_.write_errors;
        stats_.last_error = s.message();
        LOG_ERROR("store: folding the WAL into chunks: {}", s.message());
      }
    }
    if (folded_now) EnforceMaxSize();  // before FoldNow() returns: the cap holds after it
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (folded_now) drained_.notify_all();
    }
    if (maintenance) {
      if (wal_points_ == 0) ExpireOld();
      UpdateSizes();
      next_maintenance = Clock::now() + std::chrono::minutes(1);
    }
    if (stop) {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty() && (wal_points_ == 0 || stop_retries_ > 20)) break;
      if (wal_points_ > 0) ++stop_retries_;
    }
  }
  // Give the pages the folded WAL records used back to the file system (auto_vacuum
  // incremental; a converted store keeps them for reuse), then fold the WAL file back so a
  // reader without write access sees everything.
  sqlite3_exec(db_, "PRAGMA incremental_vacuum", nullptr, nullptr, nullptr);
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  UpdateSizes();
  std::lock_guard<std::mutex> lock(mu_);
  writer_done_ = true;
  drained_.notify_all();
}

size_t SqliteStore::SeriesKeyHash::operator()(const std::string& key) const noexcept {
  // A multiply-xorshift mix over 8-byte words: quick for keys this long, and the keys come
  // from the agent's own length-prefixed encoding, not a hash-flooding adversary's choice
  // (the cache is bounded and a collision costs only a comparison).
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = key.size() * kMul;
  const char* p = key.data();
  size_t n = key.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  h = (h ^ tail) * kMul;
  return static_cast<size_t>(h ^ (h >> 32));
}

StatusOr<int64_t> SqliteStore::SeriesId(std::string_view category, const model::Point& point,
                                        const std::string& input) {
  // The cache key: every part length-prefixed (so no two tag sets share a key), built without
  // the JSON text, which only a miss needs.
  auto put = [this](std::string_view part) {
    auto n = static_cast<uint32_t>(part.size());
    series_key_.append(reinterpret_cast<const char*>(&n), sizeof n).append(part);
  };
  series_key_.clear();
  series_key_.reserve(256);
  put(category);
  put(point.measurement);
  put(input);
  for (const model::Tag& t : point.tags) {
    put(t.key);
    put(t.value);
  }
  if (auto it = series_ids_.find(series_key_); it != series_ids_.end()) return it->second;
  const std::string& measurement = point.measurement;
  std::string tags = model::TagsToJson(point.tags);

  auto bind = [&](sqlite3_stmt* st) {
    sqlite3_bind_text(st, 1, measurement.data(), measurement.size(), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, category.data(), category.size(), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tags.data(), tags.size(), SQLITE_STATIC);
    sqlite3_bind_text(st, 4, input.data(), input.size(), SQLITE_STATIC);
  };
  sqlite3_stmt* ins = insert_series_.get();
  sqlite3_bind_text(ins, 1, category.data(), category.size(), SQLITE_STATIC);
  sqlite3_bind_text(ins, 2, measurement.data(), measurement.size(), SQLITE_STATIC);
  sqlite3_bind_text(ins, 3, tags.data(), tags.size(), SQLITE_STATIC);
  sqlite3_bind_text(ins, 4, input.data(), input.size(), SQLITE_STATIC);
  int rc = sqlite3_step(ins);
  sqlite3_reset(ins);
  if (rc != SQLITE_DONE) return SqliteFailure(db_, "insert series");
  int64_t id;
  if (sqlite3_changes(db_) > 0) {
    id = sqlite3_last_insert_rowid(db_);
    fresh_series_.insert(id);  // no chunk row to look for yet
  } else {
    // Already there (written before this process started): look it up.
    sqlite3_stmt* sel = select_series_.get();
    bind(sel);
    rc = sqlite3_step(sel);
    id = rc == SQLITE_ROW ? sqlite3_column_int64(sel, 0) : -1;
    sqlite3_reset(sel);
    if (id < 0) return SqliteFailure(db_, "find series");
  }
  if (series_ids_.size() >= kMaxCachedSeries) series_ids_.clear();
  series_ids_.emplace(series_key_, id);
  new_series_.push_back(series_key_);
  return id;
}

Status SqliteStore::Commit(const std::deque<Pending>& batches, bool append_now) {
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteFailure(db_, "begin");
  }
  new_series_.clear();
  commit_series_.clear();
  fresh_series_.clear();
  // On failure the transaction is rolled back: forget the series ids it created.
  auto fail = [&](Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    for (const auto& key : new_series_) series_ids_.erase(key);
    new_series_.clear();
    fresh_series_.clear();
    return s;
  };
  int64_t received = options_.now_ns();
  uint64_t points = 0;
  WalRecordWriter& record = wal_writer_;
  record.Clear();
  auto put_record = [&]() -> Status {
    if (record.samples() == 0) return Status::Ok();
    int64_t n = static_cast<int64_t>(record.samples());
    std::string data = record.Finish();
    sqlite3_stmt* st = insert_wal_.get();
    sqlite3_bind_int64(st, 1, received);
    sqlite3_bind_int64(st, 2, n);
    sqlite3_bind_blob(st, 3, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? Status::Ok() : SqliteFailure(db_, "insert WAL record");
  };
  for (const Pending& pending : batches) {
    const model::PointBatch& batch = *pending.batch;
    std::string_view category = model::CategoryName(batch.category);
    for (const auto& p : batch.points) {
      auto series = SeriesId(category, p, batch.input);
      if (!series.ok()) return fail(series.status());
      record.Add(*series, p.time_ns, p.fields);
      commit_series_.push_back(*series);
      ++points;
      if (record.raw_bytes() >= kMaxRecordBytes) {
        if (Status s = put_record(); !s.ok()) return fail(s);
      }
    }
  }
  if (Status s = put_record(); !s.ok()) return fail(s);
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail(SqliteFailure(db_, "commit"));
  }
  new_series_.clear();
  if (wal_points_ == 0) oldest_wal_ns_ = SteadyNowNs();
  wal_points_ += static_cast<int64_t>(points);
  commit_received_ = received;
  if (append_now) {
    std::vector<model::PointBatchPtr> committed;
    for (const Pending& p : batches) committed.push_back(p.batch);
    AppendToHeads(committed);
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.rows_written += points;
  stats_.wal_points = wal_points_;
  ++stats_.transactions;
  return Status::Ok();
}

StatusOr<SqliteStore::OpenChunk*> SqliteStore::FindOpenChunk(int64_t series_id, int64_t now) {
  auto it = open_.find(series_id);
  if (it != open_.end()) {
    OpenChunk* c = it->second.get();
    if (now - c->first_received < options_.chunk_max_age_ns) return c;
    // Old enough: sealed as it is (written already, or by the next fold).
    if (c->dirty) sealed_.emplace_back(series_id, std::move(it->second));
    open_.erase(it);
  }
  auto chunk = std::make_unique<OpenChunk>();
  chunk->builder = ChunkBuilder(options_.chunk_limits);
  chunk->first_received = chunk->last_received = now;
  // A series the last commit created has no chunk row yet.
  if (fresh_series_.erase(series_id) > 0) {
    OpenChunk* raw = chunk.get();
    open_[series_id] = std::move(chunk);
    return raw;
  }
  // The series' newest chunk in the database takes more points while it is young and not full.
  // (A chunk sealed above is not young, so it is never read back here before it is written.)
  sqlite3_stmt* st = last_chunk_.get();
  sqlite3_bind_int64(st, 1, series_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW &&
      static_cast<size_t>(sqlite3_column_int64(st, 1)) < options_.chunk_limits.max_samples &&
      now - sqlite3_column_int64(st, 2) < options_.chunk_max_age_ns) {
    std::string_view blob(static_cast<const char*>(sqlite3_column_blob(st, 4)),
                          sqlite3_column_bytes(st, 4));
    ChunkReader reader;
    ChunkBuilder builder(options_.chunk_limits);
    bool reopened = reader.Open(blob).ok();
    int64_t time;
    std::vector<model::Field> fields;
    while (reopened && reader.Next(&time, &fields)) reopened = builder.Append(time, fields);
    if (reopened && reader.status().ok() && !builder.empty()) {
      chunk->builder = std::move(builder);
      chunk->row_id = sqlite3_column_int64(st, 0);
      chunk->first_received = sqlite3_column_int64(st, 2);
      chunk->last_received = sqlite3_column_int64(st, 3);
    }
  } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    sqlite3_reset(st);
    return SqliteFailure(db_, "find the open chunk");
  }
  sqlite3_reset(st);
  OpenChunk* raw = chunk.get();
  open_[series_id] = std::move(chunk);
  return raw;
}

Status SqliteStore::AppendPoint(int64_t series_id, int64_t received, int64_t time_ns,
                                const std::vector<model::Field>& fields) {
  auto chunk = FindOpenChunk(series_id, received);
  if (!chunk.ok()) return chunk.status();
  OpenChunk* c = *chunk;
  if (!c->builder.Append(time_ns, fields)) {
    // Full, or the point's fields do not fit its columns: this chunk is done; the next fold
    // writes it.
    auto done = std::make_unique<OpenChunk>(std::move(*c));
    c->builder = ChunkBuilder(options_.chunk_limits);
    c->row_id = 0;
    c->first_received = c->last_received = received;
    c->dirty = false;
    sealed_.emplace_back(series_id, std::move(done));
    if (!c->builder.Append(time_ns, fields)) {
      return Status::Internal("a new chunk refused a point");
    }
  }
  c->last_received = std::max(c->last_received, received);
  c->dirty = true;
  c->last_fold = fold_serial_;
  return Status::Ok();
}

void SqliteStore::AppendToHeads(const std::vector<model::PointBatchPtr>& batches) {
  struct Forget {  // whatever happens below, "fresh" holds only until the next commit
    std::unordered_set<int64_t>& set;
    ~Forget() { set.clear(); }
  } forget{fresh_series_};
  if (replay_) return;  // the next folds read these points from the WAL
  size_t i = 0;
  for (const auto& batch : batches) {
    for (const auto& p : batch->points) {
      if (Status s = AppendPoint(commit_series_[i++], commit_received_, p.time_ns, p.fields);
          !s.ok()) {
        LOG_ERROR("store: {}; the next fold reads the WAL back instead", s.message());
        DropHeads();
        return;
      }
    }
  }
}

void SqliteStore::DropHeads() {
  open_.clear();
  sealed_.clear();
  open_bytes_ = 0;
  // Points committed since the last fold were only in these chunks besides the WAL.
  if (wal_points_ > 0) replay_ = true;
}

Status SqliteStore::WriteChunk(int64_t series_id, OpenChunk& c) {
  std::string data = c.builder.Finish();
  const ChunkBuilder& b = c.builder;
  int rc;
  if (c.row_id != 0) {
    sqlite3_stmt* st = update_chunk_.get();
    sqlite3_bind_int64(st, 1, b.min_time());
    sqlite3_bind_int64(st, 2, b.max_time());
    sqlite3_bind_int64(st, 3, static_cast<int64_t>(b.samples()));
    sqlite3_bind_int64(st, 4, c.last_received);
    sqlite3_bind_blob(st, 5, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, c.row_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return SqliteFailure(db_, "update chunk");
    if (sqlite3_changes(db_) == 1) {
      c.dirty = false;
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.chunks_written;
      return Status::Ok();
    }
    c.row_id = 0;  // deleted meanwhile (retention): write it anew
  }
  sqlite3_stmt* st = insert_chunk_.get();
  sqlite3_bind_int64(st, 1, series_id);
  sqlite3_bind_int64(st, 2, b.min_time());
  sqlite3_bind_int64(st, 3, b.max_time());
  sqlite3_bind_int64(st, 4, static_cast<int64_t>(b.samples()));
  sqlite3_bind_int64(st, 5, c.first_received);
  sqlite3_bind_int64(st, 6, c.last_received);
  sqlite3_bind_blob(st, 7, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return SqliteFailure(db_, "insert chunk");
  c.row_id = sqlite3_last_insert_rowid(db_);
  c.dirty = false;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.chunks_written;
  return Status::Ok();
}

Status SqliteStore::Fold() {
  fold_complete_ = true;
  if (!replay_) return FoldHeads();
  Status s = ReplayWal();
  if (s.ok() && fold_complete_) replay_ = false;  // the WAL is empty: commits append again
  return s;
}

Status SqliteStore::FoldHeads() {
  if (wal_points_ == 0 && sealed_.empty()) return Status::Ok();
  const int64_t started = SteadyNowNs();
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteFailure(db_, "begin fold");
  }
  // Every record in the WAL was appended to the chunks in memory.
  StatusOr<size_t> chunks = CommitHeads(INT64_MAX);
  if (!chunks.ok()) return chunks.status();
  auto points = static_cast<uint64_t>(wal_points_);
  LOG_DEBUG("store: folded {} point(s): {} chunk(s) written in {} ms", points, *chunks,
            (SteadyNowNs() - started) / 1'000'000);
  wal_points_ = 0;
  FinishFold(points);
  return Status::Ok();
}

StatusOr<size_t> SqliteStore::CommitHeads(int64_t last_wal_id) {
  // On failure the chunks in memory are dropped (some got row ids the rollback undid, or hold
  // points of the rolled-back transaction) and the WAL, which still holds every point, is
  // replayed by the next fold.
  auto fail = [&](Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    replay_ = true;
    DropHeads();
    return s;
  };
  size_t chunks = sealed_.size();
  for (auto& [series, c] : sealed_) {
    if (Status s = WriteChunk(series, *c); !s.ok()) return fail(s);
  }
  for (auto& [series, c] : open_) {
    if (!c->dirty) continue;
    if (Status s = WriteChunk(series, *c); !s.ok()) return fail(s);
    ++chunks;
  }
  sqlite3_bind_int64(delete_wal_.get(), 1, last_wal_id);
  int rc = sqlite3_step(delete_wal_.get());
  sqlite3_reset(delete_wal_.get());
  if (rc != SQLITE_DONE) return fail(SqliteFailure(db_, "delete folded WAL records"));
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail(SqliteFailure(db_, "commit fold"));
  }
  sealed_.clear();
  return chunks;
}

void SqliteStore::FinishFold(uint64_t points) {
  // Full chunks are done; the open ones stay cached while they fit the memory budget.
  open_bytes_ = 0;
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second->builder.samples() >= options_.chunk_limits.max_samples) {
      it = open_.erase(it);
    } else {
      open_bytes_ += it->second->builder.memory_bytes();
      ++it;
    }
  }
  // Over the budget: drop the chunks this fold did not touch first, then others, until it fits
  // (a dropped chunk is read back from its row when its series gets points again).
  for (int pass = 0; pass < 2 && open_bytes_ > options_.max_open_chunk_bytes; ++pass) {
    for (auto it = open_.begin();
         it != open_.end() && open_bytes_ > options_.max_open_chunk_bytes;) {
      if (pass == 0 && it->second->last_fold == fold_serial_) {
        ++it;
        continue;
      }
      open_bytes_ -= std::min(open_bytes_, it->second->builder.memory_bytes());
      it = open_.erase(it);
    }
  }
  ++fold_serial_;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.folds;
  stats_.points_folded += points;
  stats_.wal_points = static_cast<uint64_t>(wal_points_);
}

Status SqliteStore::ReplayWal() {
  if (wal_points_ == 0 && QueryInt(db_, "SELECT count(*) FROM wal") == 0) return Status::Ok();
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteFailure(db_, "begin fold");
  }
  auto fail = [&](Status s) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    DropHeads();  // they may hold points of the rolled-back transaction
    return s;
  };
  sqlite3_stmt* read = select_wal_.get();
  const int64_t fold_started = SteadyNowNs();
  bool stopping_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_now = stopping_;
  }
  int64_t last_id = -1;
  uint64_t points = 0;
  WalRecordReader record;
  std::vector<model::Field> fields;
  int rc;
  while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
    last_id = sqlite3_column_int64(read, 0);
    int64_t received = sqlite3_column_int64(read, 1);
    std::string_view blob(static_cast<const char*>(sqlite3_column_blob(read, 2)),
                          sqlite3_column_bytes(read, 2));
    if (!record.Open(blob).ok()) {
      // Committed bytes that do not decode: our bug or a damaged disk. Keep going with the
      // rest; the record is dropped with the others, and said so.
      LOG_ERROR("store: WAL record {} cannot be folded and is dropped: {}", last_id,
                record.status().message());
      continue;
    }
    int64_t series, time;
    while (record.Next(&series, &time, &fields)) {
      if (Status s = AppendPoint(series, received, time, fields); !s.ok()) {
        sqlite3_reset(read);
        return fail(s);
      }
      ++points;
    }
    if (!record.status().ok()) {
      LOG_ERROR("store: WAL record {} is damaged after {} point(s): {}", last_id, points,
                record.status().message());
    }
    // Commits wait while a fold holds the writer: a long fold stops after a whole record and
    // commits what it folded; the next loop serves the waiting writes, then folds on.
    if (!stopping_now && SteadyNowNs() - fold_started >= kFoldSliceNs) {
      rc = SQLITE_DONE;
      fold_complete_ = false;
      break;
    }
  }
  sqlite3_reset(read);
  if (rc != SQLITE_DONE) return fail(SqliteFailure(db_, "read the WAL"));
  if (StatusOr<size_t> chunks = CommitHeads(last_id); !chunks.ok()) return chunks.status();
  wal_points_ = fold_complete_ ? 0 : std::max<int64_t>(0, wal_points_ - int64_t(points));
  FinishFold(points);
  return Status::Ok();
}

void SqliteStore::DeleteEmptySeries() {
  // Only with the WAL empty: its records refer to series that may have no chunk yet.
  if (wal_points_ != 0) return;
  char* err = nullptr;
  if (sqlite3_exec(db_,
                   "DELETE FROM series WHERE NOT EXISTS "
                   "(SELECT 1 FROM chunks WHERE chunks.series_id = series.id)",
                   nullptr, nullptr, &err) != SQLITE_OK) {
    LOG_ERROR("store: retention: deleting empty series: {}", err ? err : "unknown error");
    sqlite3_free(err);
  }
  series_ids_.clear();
}

void SqliteStore::ExpireOld() {
  int64_t cutoff = options_.now_ns() - options_.retention_ns;
  sqlite3_stmt* count = nullptr;
  int64_t points = 0;
  if (sqlite3_prepare_v2(db_, "SELECT coalesce(sum(points), 0) FROM chunks WHERE last_received < ?",
                         -1, &count, nullptr) == SQLITE_OK) {
    sqlite3_bind_int64(count, 1, cutoff);
    if (sqlite3_step(count) == SQLITE_ROW) points = sqlite3_column_int64(count, 0);
  }
  sqlite3_finalize(count);
  if (points == 0) return;
  if (!DeleteChunks("last_received < " + std::to_string(cutoff), "retention", points)) return;
  LOG_INFO("store: retention deleted {} point(s) that arrived more than {} s ago", points,
           options_.retention_ns / 1'000'000'000);
}

bool SqliteStore::DeleteChunks(const std::string& where, const char* why, int64_t points) {
  std::string sql = "DELETE FROM chunks WHERE " + where;
  if (Status s = Exec(db_, sql.c_str(), why); !s.ok()) {
    LOG_ERROR("store: {}", s.message());
    return false;
  }
  // Cached open chunks may be among them; series may have lost their last chunk.
  DropHeads();
  DeleteEmptySeries();
  sqlite3_exec(db_, "PRAGMA incremental_vacuum", nullptr, nullptr, nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.rows_expired += points;
  return true;
}

void SqliteStore::EnforceMaxSize() {
  if (options_.max_size_bytes <= 0) return;
  int64_t page = QueryInt(db_, "PRAGMA page_size");
  int64_t used =
      (QueryInt(db_, "PRAGMA page_count") - QueryInt(db_, "PRAGMA freelist_count")) * page;
  if (used <= options_.max_size_bytes) return;
  // Free down to 90% of the cap, so this does not run at every fold. The chunks whose newest
  // point is oldest go first: an open chunk keeps its id while it grows, so id order would
  // drop a series' newest points with its oldest.
  int64_t excess = used - options_.max_size_bytes * 9 / 10;
  sqlite3_stmt* st = nullptr;
  int64_t last_t = 0, last_id = -1, freed = 0, points = 0;
  if (sqlite3_prepare_v2(db_,
                         "SELECT t_max, id, length(data) + 48, points FROM chunks "
                         "ORDER BY t_max, id",
                         -1, &st, nullptr) == SQLITE_OK) {
    while (freed < excess && sqlite3_step(st) == SQLITE_ROW) {
      last_t = sqlite3_column_int64(st, 0);
      last_id = sqlite3_column_int64(st, 1);
      freed += sqlite3_column_int64(st, 2);
      points += sqlite3_column_int64(st, 3);
    }
  }
  sqlite3_finalize(st);
  if (last_id < 0) return;
  if (!DeleteChunks(
          "(t_max, id) <= (" + std::to_string(last_t) + ", " + std::to_string(last_id) + ")",
          "size cap", points)) {
    return;
  }
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  LOG_WARN("store: over max_size ({} KiB used, cap {} KiB): deleted the {} oldest point(s)",
           used >> 10, options_.max_size_bytes >> 10, points);
}

void SqliteStore::UpdateSizes() {
  int64_t page = QueryInt(db_, "PRAGMA page_size");
  int64_t used =
      (QueryInt(db_, "PRAGMA page_count") - QueryInt(db_, "PRAGMA freelist_count")) * page;
  std::error_code ec;
  uint64_t file = 0;
  for (const char* suffix : {"", "-wal"}) {
    auto size = std::filesystem::file_size(options_.path.string() + suffix, ec);
    if (!ec) file += size;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.size_bytes = static_cast<uint64_t>(used);
  stats_.file_bytes = file;
}

}  // namespace pythond::store
