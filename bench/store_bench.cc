// The embedded store alone (no HTTP, no parsing): how fast batches are committed (the WAL
// step a write waits for) and folded into chunks, the bytes per point on disk, and how long
// one series' last hour takes through the `points` view with many points stored.
//
// Data: SERIES series (5 measurements × hosts, 8 tags each) × ROUNDS rounds 10 s apart, each
// point with a 2-decimal float, a counter, a random full-precision float, a string from a
// small set and a bool — written one round (one batch of SERIES points) at a time.
// Env: BENCH_STORE_SERIES (10000), BENCH_STORE_ROUNDS (1000: 10 M points), BENCH_STORE_QUERIES
// (200). Prints RESULT lines: bench=store_write, bench=store_query.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/points_vtab.h"
#include "store/sqlite_store.h"

namespace {

using namespace pythond;
using Clock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

constexpr int64_t kBase = 1'704'067'200'000'000'000;  // 2024-01-01
constexpr int64_t kStep = 10'000'000'000;             // 10 s
const char* kMeasurements[] = {"cpu", "mem", "disk", "net", "diskio"};

std::vector<model::Tag> HostTags(int series) {
  int host = series / 5;
  std::string region =
      std::vector<std::string>{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"}[host % 4];
  return {{"az", region + "abc"[host % 3]},
          {"dc", region.substr(0, 2) + std::to_string(host % 2 + 1)},
          {"env", host % 10 < 6   ? "prod"
                  : host % 10 < 9 ? "staging"
                                  : "dev"},
          {"host", "service-" + std::to_string(host) + "." + region + ".internal"},
          {"rack", "r" + std::to_string(host % 60)},
          {"region", region},
          {"service", "svc-" + std::to_string(host % 24)},
          {"team", "team-" + std::to_string(host % 10)}};
}

}  // namespace

int main() {
  const int64_t series = EnvInt("BENCH_STORE_SERIES", 10'000);
  const int64_t rounds = EnvInt("BENCH_STORE_ROUNDS", 1'000);
  const int64_t queries = EnvInt("BENCH_STORE_QUERIES", 200);
  std::string tmpl = (std::filesystem::temp_directory_path() / "pythond-bench-XXXXXX").string();
  std::filesystem::path dir = mkdtemp(tmpl.data());
  store::StoreOptions options;
  options.path = dir / "bench.db";
  options.max_queue_bytes = int64_t{256} << 20;
  options.retention_ns = int64_t{100} * 365 * 86400 * 1'000'000'000;
  auto store = store::SqliteStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<std::vector<model::Tag>> tags;
  for (int64_t s = 0; s < series; ++s) tags.push_back(HostTags(static_cast<int>(s)));
  std::mt19937_64 rng(20240101);
  std::vector<int64_t> counters(series, 0);
  double generate_s = 0;
  auto start = Clock::now();
  for (int64_t r = 0; r < rounds; ++r) {
    auto gen = Clock::now();
    auto batch = std::make_shared<model::PointBatch>();
    batch->input = "bench";
    batch->points.reserve(series);
    for (int64_t s = 0; s < series; ++s) {
      counters[s] += static_cast<int64_t>(rng() % 100000);
      model::Point p;
      p.measurement = kMeasurements[s % 5];
      p.tags = tags[s];
      p.fields = {{"pct", static_cast<double>(rng() % 10000) / 100},
                  {"total", counters[s]},
                  {"rate", std::uniform_real_distribution<double>(0, 1)(rng)},
                  {"state", std::string(rng() % 10 ? "ok" : "degraded")},
                  {"up", rng() % 50 != 0}};
      p.time_ns = kBase + r * kStep + s * 1000;
      batch->points.push_back(std::move(p));
    }
    generate_s += Seconds(gen);
    // Wait for room rather than measure refusals: this is the store's own speed.
    while (!(*store)->HasRoom()) usleep(200);
    if (!(*store)->Write(std::move(batch)).ok()) return 1;
  }
  (*store)->Flush();
  double commit_s = Seconds(start) - generate_s;
  auto fold_start = Clock::now();
  (*store)->FoldNow();
  double fold_s = Seconds(fold_start);
  auto stats = (*store)->Stats();
  (*store)->Stop();
  std::error_code ec;
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) bytes += e.file_size(ec);
  const double points = static_cast<double>(stats.rows_written);
  std::printf(
      "RESULT bench=store_write points=%.0f commit_points_per_s=%.0f us_per_point=%.2f "
      "total_us_per_point=%.2f folds=%llu chunks=%llu bytes_per_point=%.1f\n",
      points, points / commit_s, commit_s * 1e6 / points, (commit_s + fold_s) * 1e6 / points,
      static_cast<unsigned long long>(stats.folds),
      static_cast<unsigned long long>(stats.chunks_written), bytes / points);

  // One series' last hour, as a user (or the explorer) asks for it.
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    return 1;
  }
  store::RegisterPointsModule(db);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT time, fields FROM points WHERE measurement = ?1 AND tags = ?2 "
                         "AND time >= ?3 ORDER BY time",
                         -1, &st, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "%s\n", sqlite3_errmsg(db));
    return 1;
  }
  const int64_t last = kBase + (rounds - 1) * kStep;
  std::vector<double> ms;
  int64_t rows = 0;
  for (int64_t q = 0; q < queries; ++q) {
    int64_t s = static_cast<int64_t>(rng() % series);
    std::string t = model::TagsToJson(tags[s]);
    auto t0 = Clock::now();
    sqlite3_bind_text(st, 1, kMeasurements[s % 5], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t.data(), static_cast<int>(t.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, last - int64_t{3600} * 1'000'000'000);
    while (sqlite3_step(st) == SQLITE_ROW) {
      ++rows;
      (void)sqlite3_column_text(st, 1);
    }
    sqlite3_reset(st);
    ms.push_back(Seconds(t0) * 1e3);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::sort(ms.begin(), ms.end());
  std::printf(
      "RESULT bench=store_query points_stored=%.0f query=series_last_hour rows_per_query=%.0f "
      "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
      points, static_cast<double>(rows) / queries, ms[ms.size() / 2], ms[ms.size() * 99 / 100],
      ms.back());
  std::filesystem::remove_all(dir, ec);
  return 0;
}
