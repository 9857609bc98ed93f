// StoreReader: read-only queries over the store for the status page's explorer
// (GET /v1/store/measurements and /v1/store/series, docs/WEB.md), off the event loop.
//
// Threads: one thread, "store-reader", owns a read-only SQLite connection (SQLITE_OPEN_READONLY,
// `query_only`) and runs the requests of a small bounded queue in order. The store is in WAL
// mode, so these reads neither block the writer thread nor wait for it. Each request's result is
// handed to the `post` function given to the constructor (the agent posts it to its
// io_context), so callbacks run wherever `post` runs them, never on the caller's stack.
// Measurements(), Series() and Stop() may be called from any thread.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pythond::store {

// One measurement seen in the window: its numeric fields and how many points it has there.
struct MeasurementInfo {
  std::string category;  // "metric", "logging", ...
  std::string measurement;
  // Numeric fields (integer, unsigned, float, bool), sorted, taken from the newest 8 points of
  // each series in the window (a field that only older points carry is not listed).
  std::vector<std::string> fields;
  uint64_t points = 0;  // points in the window, all series
};

struct SeriesQuery {
  std::string measurement;
  std::string field;
  std::string category;  // "": every category
  int64_t since_ns = 0;  // points with time >= since_ns (unix ns)
  size_t limit = 5000;   // at most this many points over all series (>= 1)
  size_t max_series = 20;
};

// The points of one tag set (the series of every input with these tags, merged).
struct SeriesData {
  std::string tags;                                // JSON object, as stored
  std::vector<std::pair<int64_t, double>> points;  // (unix ns, value), time order; bool: 0/1
};

struct SeriesResult {
  // Ordered by their tags' JSON text; at most max_series.
  std::vector<SeriesData> series;
  size_t series_total = 0;    // tag sets with points in the window (may exceed series.size())
  uint64_t points_total = 0;  // points of the returned series in the window, before thinning
  // When the window holds more than `limit` points, every `stride`-th point of each series is
  // kept, counted from its newest (which is always kept). 1: every point.
  uint64_t stride = 1;
};

class StoreReader {
 public:
  using Post = std::function<void(std::function<void()>)>;
  static constexpr size_t kDefaultMaxQueue = 16;
  static constexpr int64_t kDefaultQueryBudgetMs = 10'000;

  // Nothing is opened yet: the connection opens on the reader thread at the first request
  // (and again after a failure), so the store may be created after this. `post` must stay
  // valid until Stop() returns. A request that finds `max_queue` requests waiting fails at once
  // with kUnavailable; one that runs longer than `query_budget_ms` is interrupted (kUnavailable).
  StoreReader(std::filesystem::path db_path, Post post, size_t max_queue = kDefaultMaxQueue,
              int64_t query_budget_ms = kDefaultQueryBudgetMs);
  ~StoreReader();  // Stop()s
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  using MeasurementsDone = std::function<void(StatusOr<std::vector<MeasurementInfo>>)>;
  using SeriesDone = std::function<void(StatusOr<SeriesResult>)>;

  // Every (category, measurement) with points at or after `since_ns`, ordered by category and
  // measurement. Errors: kUnavailable (queue full, store busy, too slow, stopped), kIoError (the
  // store cannot be opened or read).
  void Measurements(int64_t since_ns, MeasurementsDone done);
  // The `field` of `measurement` by tag set, from `since_ns` on. An unknown measurement or
  // field gives no series. Errors: as Measurements, and kInvalidArgument for limit 0.
  void Series(SeriesQuery query, SeriesDone done);

  // Interrupts the running query, fails the waiting requests (kUnavailable, through `post`)
  // and joins the thread. Later requests fail at once. Idempotent.
  void Stop();

 private:
  // A request: `run` on the reader thread with the open connection (or the error opening it).
  using Job = std::function<void(sqlite3* db, const Status& open_error)>;
  void Enqueue(Job job);
  void Loop();
  Status EnsureOpen();

  const std::filesystem::path db_path_;
  const Post post_;
  const size_t max_queue_;
  const int64_t query_budget_ms_;
  sqlite3* db_ = nullptr;  // owned; opened, used and closed on the reader thread only

  std::mutex mu_;  // guards jobs_, stopping_ and interruptible_
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  sqlite3* interruptible_ = nullptr;  // db_ while a query runs (for sqlite3_interrupt in Stop)
  std::thread thread_;
};

}  // namespace pythond::store
