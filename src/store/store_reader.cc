#include "store/store_reader.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "store/points_vtab.h"

namespace pythond::store {

namespace {

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Numeric JSON values as json_each() types them: integers (unsigned ones beyond int64 become
// 'real'), floats, and booleans (values 1 and 0).
constexpr const char* kNumericTypes = "('integer','real','true','false')";

// Every (category, measurement) with points in the window and how many. The `points` view
// pushes the time bound down to the chunks (store/points_vtab.h).
constexpr const char* kCountSql =
    "SELECT category, measurement, count(*) FROM points WHERE time >= ?1 GROUP BY 1, 2 "
    "ORDER BY 1, 2";

// The numeric field names of the newest 8 points of each series in the window.
const std::string kFieldsSql =
    std::string(
        "SELECT DISTINCT w.category, w.measurement, j.key FROM (SELECT category, measurement, "
        "fields, row_number() OVER (PARTITION BY category, measurement, tags, input ORDER BY "
        "time DESC) AS rn FROM points WHERE time >= ?1) AS w CROSS JOIN json_each(w.fields) j "
        "WHERE w.rn <= 8 AND j.type IN ") +
    kNumericTypes;

// Tag sets of a measurement with points in the window, and how many each has.
constexpr const char* kGroupsSql =
    "SELECT tags, count(*) FROM points WHERE measurement = ?1 AND (?2 = '' OR category = ?2) "
    "AND time >= ?3 GROUP BY tags ORDER BY tags";

// One tag set's values of a field: every ?5-th point counted from the newest (rn 1), oldest
// first.
const std::string kPointsSql =
    std::string(
        "SELECT w.t, j.value FROM (SELECT p.time AS t, p.fields AS f, row_number() OVER (ORDER "
        "BY p.time DESC) AS rn FROM points p WHERE p.measurement = ?1 AND (?2 = '' OR "
        "p.category = ?2) AND p.tags = ?3 AND p.time >= ?4) AS w CROSS JOIN json_each(w.f) j "
        "WHERE (w.rn - 1) % ?5 = 0 AND j.key = ?6 AND j.type IN ") +
    kNumericTypes + " ORDER BY w.t";

Status ReadError(sqlite3* db, const std::string& what) {
  int code = sqlite3_errcode(db) & 0xff;
  std::string message = what + ": " + sqlite3_errmsg(db);
  if (code == SQLITE_INTERRUPT) {
    return Status::Unavailable(what + ": the query took too long or the agent is stopping");
  }
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return Status::Unavailable(message);
  return Status::IoError(message);
}

StatusOr<Stmt> Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    sqlite3_finalize(raw);
    return ReadError(db, "store read");
  }
  return Stmt(raw);
}

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

StatusOr<std::vector<MeasurementInfo>> ReadMeasurements(sqlite3* db, int64_t since_ns) {
  auto count = Prepare(db, kCountSql);
  if (!count.ok()) return count.status();
  sqlite3_bind_int64(count->get(), 1, since_ns);
  std::vector<MeasurementInfo> out;
  std::map<std::pair<std::string, std::string>, size_t> index;
  int rc;
  while ((rc = sqlite3_step(count->get())) == SQLITE_ROW) {
    MeasurementInfo m;
    m.category = ColumnText(count->get(), 0);
    m.measurement = ColumnText(count->get(), 1);
    m.points = static_cast<uint64_t>(sqlite3_column_int64(count->get(), 2));
    index[{m.category, m.measurement}] = out.size();
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return ReadError(db, "store read (measurements)");

  auto fields = Prepare(db, kFieldsSql);
  if (!fields.ok()) return fields.status();
  sqlite3_bind_int64(fields->get(), 1, since_ns);
  std::vector<std::set<std::string>> names(out.size());
  while ((rc = sqlite3_step(fields->get())) == SQLITE_ROW) {
    auto it = index.find({ColumnText(fields->get(), 0), ColumnText(fields->get(), 1)});
    if (it != index.end()) names[it->second].insert(ColumnText(fields->get(), 2));
  }
  if (rc != SQLITE_DONE) return ReadError(db, "store read (fields)");
  for (size_t i = 0; i < out.size(); ++i) out[i].fields.assign(names[i].begin(), names[i].end());
  return out;
}

// The smallest stride k with sum(ceil(n_i / k)) <= limit (each n_i >= 1, count <= limit).
uint64_t StrideFor(const std::vector<uint64_t>& counts, uint64_t limit) {
  auto kept = [&](uint64_t k) {
    uint64_t n = 0;
    for (uint64_t c : counts) n += (c + k - 1) / k;
    return n;
  };
  uint64_t lo = 1, hi = 1;
  for (uint64_t c : counts) hi = std::max(hi, c);
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (kept(mid) <= limit) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

StatusOr<SeriesResult> ReadSeries(sqlite3* db, const SeriesQuery& q) {
  if (q.limit == 0) return Status::InvalidArgument("limit must be at least 1");
  auto groups = Prepare(db, kGroupsSql);
  if (!groups.ok()) return groups.status();
  BindText(groups->get(), 1, q.measurement);
  BindText(groups->get(), 2, q.category);
  sqlite3_bind_int64(groups->get(), 3, q.since_ns);
  SeriesResult result;
  std::vector<uint64_t> counts;
  int rc;
  while ((rc = sqlite3_step(groups->get())) == SQLITE_ROW) {
    ++result.series_total;
    // Each series keeps at least its newest point, so no more series than points.
    if (result.series.size() >= std::min(q.max_series, q.limit)) continue;
    SeriesData d;
    d.tags = ColumnText(groups->get(), 0);
    counts.push_back(static_cast<uint64_t>(sqlite3_column_int64(groups->get(), 1)));
    result.points_total += counts.back();
    result.series.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return ReadError(db, "store read (series)");
  if (result.series.empty()) return result;
  result.stride = StrideFor(counts, q.limit);

  auto points = Prepare(db, kPointsSql);
  if (!points.ok()) return points.status();
  for (SeriesData& d : result.series) {
    sqlite3_stmt* s = points->get();
    sqlite3_reset(s);
    BindText(s, 1, q.measurement);
    BindText(s, 2, q.category);
    BindText(s, 3, d.tags);
    sqlite3_bind_int64(s, 4, q.since_ns);
    sqlite3_bind_int64(s, 5, static_cast<int64_t>(result.stride));
    BindText(s, 6, q.field);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      d.points.emplace_back(sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1));
    }
    if (rc != SQLITE_DONE) return ReadError(db, "store read (points)");
  }
  // An unknown field matches no point: no series rather than empty lines.
  std::erase_if(result.series, [](const SeriesData& d) { return d.points.empty(); });
  return result;
}

// Aborts a statement that runs past its deadline (sqlite3_progress_handler).
struct Budget {
  std::chrono::steady_clock::time_point deadline;
  static int Check(void* self) {
    return std::chrono::steady_clock::now() > static_cast<Budget*>(self)->deadline ? 1 : 0;
  }
};

}  // namespace

StoreReader::StoreReader(std::filesystem::path db_path, Post post, size_t max_queue,
                         int64_t query_budget_ms)
    : db_path_(std::move(db_path)),
      post_(std::move(post)),
      max_queue_(max_queue),
      query_budget_ms_(query_budget_ms),
      thread_([this] { Loop(); }) {}

StoreReader::~StoreReader() { Stop(); }

void StoreReader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (interruptible_) sqlite3_interrupt(interruptible_);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreReader::Enqueue(Job job) {
  Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refused = Status::Unavailable("the store reader is stopped");
    } else if (jobs_.size() >= max_queue_) {
      refused = Status::Unavailable("the store reader is busy (" + std::to_string(max_queue_) +
                                    " requests waiting); retry later");
    } else {
      jobs_.push_back(std::move(job));
    }
  }
  if (!refused.ok()) {
    job(nullptr, refused);
    return;
  }
  wake_.notify_one();
}

Status StoreReader::EnsureOpen() {
  if (db_) return Status::Ok();
  std::error_code ec;
  if (!std::filesystem::exists(db_path_, ec)) {
    return Status::IoError("no store at " + db_path_.string());
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::IoError("cannot open " + db_path_.string() + " read-only: " + message);
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_exec(db, "PRAGMA query_only=1", nullptr, nullptr, nullptr);
  RegisterPointsModule(db);
  db_ = db;
  return Status::Ok();
}

void StoreReader::Loop() {
  pthread_setname_np(pthread_self(), "store-reader");
  Budget budget;
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) break;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Status open = EnsureOpen();
    if (db_) {
      budget.deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(query_budget_ms_);
      sqlite3_progress_handler(db_, 1000, &Budget::Check, &budget);
      std::lock_guard<std::mutex> lock(mu_);
      interruptible_ = db_;
      if (stopping_) sqlite3_interrupt(db_);
    }
    job(db_, open);
    if (db_) {
      std::lock_guard<std::mutex> lock(mu_);
      interruptible_ = nullptr;
    }
  }
  std::deque<Job> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(jobs_);
  }
  for (Job& job : left) job(nullptr, Status::Unavailable("the store reader is stopped"));
  if (db_) {
    sqlite3_close(db_);
    db_ = nullptr;
  }
}

void StoreReader::Measurements(int64_t since_ns, MeasurementsDone done) {
  Enqueue([this, since_ns, done = std::move(done)](sqlite3* db, const Status& error) {
    auto result = std::make_shared<StatusOr<std::vector<MeasurementInfo>>>(
        db ? ReadMeasurements(db, since_ns) : StatusOr<std::vector<MeasurementInfo>>(error));
    post_([done, result] { done(std::move(*result)); });
  });
}

void StoreReader::Series(SeriesQuery query, SeriesDone done) {
  Enqueue(
      [this, query = std::move(query), done = std::move(done)](sqlite3* db, const Status& error) {
        auto result = std::make_shared<StatusOr<SeriesResult>>(db ? ReadSeries(db, query)
                                                                  : StatusOr<SeriesResult>(error));
        post_([done, result] { done(std::move(*result)); });
      });
}

}  // namespace pythond::store
