#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "store/query.h"
#include "temp_dir.h"

namespace pythond::store {
namespace {

using model::Field;
using ::testing::HasSubstr;

model::PointBatchPtr Batch(model::Category c, std::string input, std::vector<model::Point> pts) {
  auto b = std::make_shared<model::PointBatch>();
  b->category = c;
  b->input = std::move(input);
  b->points = std::move(pts);
  return b;
}

std::string Query(const std::filesystem::path& db, const std::string& sql,
                  QueryFormat f = QueryFormat::kTsv) {
  std::ostringstream out;
  Status s = RunQuery(db, sql, f, out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out.str();
}

StoreOptions At(const std::filesystem::path& path) {
  StoreOptions o;
  o.path = path;
  return o;
}

TEST(SqliteStoreTest, TypedFieldsInThePointsView) {
  testing::TempDir dir;
  auto store = SqliteStore::Open(At(dir.path() / "data/pythond.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  model::Point p;
  p.measurement = "cpu";
  p.tags = {{"host", "a"}, {"q", "x\"y"}};
  p.fields = {{"usage", 0.5},
              {"n", int64_t{3}},
              {"msg", std::string("hi")},
              {"ok", true},
              {"big", uint64_t{18446744073709551615ULL}},
              {"whole", 3.0}};
  p.time_ns = 1700000000000000000;
  ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "in1", {p})).ok());
  (*store)->Flush();

  auto db = dir.path() / "data/pythond.db";
  EXPECT_EQ(Query(db, "SELECT category, measurement, time, tags, fields, input FROM points"),
            "category\tmeasurement\ttime\ttags\tfields\tinput\n"
            "metric\tcpu\t1700000000000000000\t{\"host\":\"a\",\"q\":\"x\\\\\"y\"}\t"
            "{\"usage\":0.5,\"n\":3,\"msg\":\"hi\",\"ok\":true,\"big\":18446744073709551615,"
            "\"whole\":3.0}\tin1\n");
  EXPECT_EQ(Query(db,
                  "SELECT json_type(fields,'$.n'), json_type(fields,'$.usage'), "
                  "json_type(fields,'$.whole'), json_type(fields,'$.ok') FROM points"),
            "json_type(fields,'$.n')\tjson_type(fields,'$.usage')\tjson_type(fields,'$.whole')\t"
            "json_type(fields,'$.ok')\ninteger\treal\treal\ttrue\n");
  EXPECT_EQ((*store)->Stats().rows_written, 1u);
}

TEST(SqliteStoreTest, ManyBatchesAreGroupCommitted) {
  testing::TempDir dir;
  auto store = SqliteStore::Open(At(dir.path() / "s.db"));
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 500; ++i) {
    model::Point p{"m", {}, {{"i", int64_t{i}}}, i};
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kLogging, "x", {p})).ok());
  }
  (*store)->Flush();
  EXPECT_EQ(
      Query(dir.path() / "s.db", "SELECT count(*), sum(json_extract(fields,'$.i')) FROM points"),
      "count(*)\tsum(json_extract(fields,'$.i'))\n500\t124750\n");
  EXPECT_LE((*store)->Stats().transactions, 500u);
}

TEST(SqliteStoreTest, RetentionDeletesOldRows) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.retention_ns = 1000;
  int64_t now = 5;
  o.now_ns = [&now] { return now; };
  {
    auto store = SqliteStore::Open(o);
    ASSERT_TRUE(store.ok());
    model::Point old_point{"m", {}, {{"v", int64_t{1}}}, 123};
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "x", {old_point})).ok());
    (*store)->Flush();
    now = 9'500;
    // An old timestamp arriving late is kept: retention counts from arrival.
    model::Point late_point{"m", {}, {{"v", int64_t{2}}}, 1};
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "x", {late_point})).ok());
    (*store)->Flush();
  }
  now = 10'000;
  // Retention runs at start-up of the writer and then every minute.
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  (*store)->Stop();
  EXPECT_EQ(Query(o.path, "SELECT time FROM points"), "time\n1\n");
}

TEST(SqliteStoreTest, FullBacklogIsRefusedNotBlocking) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.max_queue_bytes = 1;  // anything beyond one queued batch is refused
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  model::Point p{"m", {}, {{"v", int64_t{1}}}, 1};
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    Status s = (*store)->Write(Batch(model::Category::kMetric, "x", {p}));
    if (!s.ok()) {
      EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  (*store)->Flush();
  EXPECT_GT(refused, 0);
}

TEST(SqliteStoreTest, ALockedDatabaseIsRetriedNotDropped) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.busy_timeout_ms = 20;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  // Another process holds the write lock.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  model::Point p{"m", {}, {{"v", int64_t{1}}}, 1};
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "x", {p})).ok());
  }
  // Wait (bounded) until the writer has met the lock at least once.
  for (int i = 0; i < 500 && (*store)->Stats().write_errors == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT((*store)->Stats().write_errors, 0u);
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  (*store)->Flush();
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM points"), "n\n10\n");
  EXPECT_EQ((*store)->Stats().batches_dropped, 0u);
}

TEST(SqliteStoreTest, SchemaOneIsConverted) {
  testing::TempDir dir;
  auto path = dir.path() / "old.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, R"sql(
    CREATE TABLE pythond_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO pythond_meta VALUES ('schema_version', '1');
    CREATE TABLE point_rows(id INTEGER PRIMARY KEY, category TEXT NOT NULL,
      measurement TEXT NOT NULL, time INTEGER NOT NULL, tags TEXT NOT NULL, fields TEXT NOT NULL,
      input TEXT NOT NULL, received INTEGER NOT NULL);
    CREATE TABLE store_commits(last_id INTEGER PRIMARY KEY, received INTEGER NOT NULL);
    INSERT INTO point_rows VALUES (1, 'metric', 'cpu', 10, '{"h":"a"}', '{"v":1}', 'in', 100),
                                  (2, 'metric', 'cpu', 20, '{"h":"a"}', '{"v":2}', 'in', 100),
                                  (3, 'logging', 'app', 30, '{}', '{"message":"x"}', 'in', 100);
    CREATE VIEW points AS SELECT category, measurement, time, tags, fields, input FROM point_rows;
  )sql",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  StoreOptions o = At(path);
  o.now_ns = [] { return int64_t{200}; };
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  model::Point p{"cpu", {{"h", "a"}}, {{"v", int64_t{3}}}, 40};
  ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "in", {p})).ok());
  (*store)->Stop();
  EXPECT_EQ(
      Query(path, "SELECT category, measurement, time, tags, fields FROM points ORDER BY time"),
      "category\tmeasurement\ttime\ttags\tfields\n"
      "metric\tcpu\t10\t{\"h\":\"a\"}\t{\"v\":1}\n"
      "metric\tcpu\t20\t{\"h\":\"a\"}\t{\"v\":2}\n"
      "logging\tapp\t30\t{}\t{\"message\":\"x\"}\n"
      "metric\tcpu\t40\t{\"h\":\"a\"}\t{\"v\":3}\n");
  EXPECT_EQ(Query(path, "SELECT count(*) AS n FROM series"), "n\n2\n");
  EXPECT_EQ(Query(path, "SELECT value FROM pythond_meta WHERE key = 'schema_version'"),
            "value\n3\n");
}

model::Point Pt(std::string m, std::vector<model::Tag> tags, std::vector<Field> fields, int64_t t) {
  model::Point p;
  p.measurement = std::move(m);
  p.tags = std::move(tags);
  p.fields = std::move(fields);
  p.time_ns = t;
  return p;
}

// Writes points i = from..to-1 of "cpu", one per batch: host h<i % 3>, v = i, at t0 + i.
void WriteCpu(SqliteStore& store, int from, int to, int64_t t0) {
  for (int i = from; i < to; ++i) {
    ASSERT_TRUE(store
                    .Write(Batch(model::Category::kMetric, "in",
                                 {Pt("cpu", {{"host", "h" + std::to_string(i % 3)}},
                                     {{"v", int64_t{i}}}, t0 + i)}))
                    .ok());
  }
}

TEST(SqliteStoreTest, PointsAreVisibleExactlyOnceBeforeAndAfterTheFold) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.fold_interval_ns = int64_t{3600} * 1'000'000'000;  // only FoldNow() folds
  o.fold_points = 1'000'000;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  WriteCpu(**store, 0, 300, 1000);
  (*store)->Flush();
  const std::string sql = "SELECT count(*), sum(json_extract(fields,'$.v')) FROM points";
  const std::string want = "count(*)\tsum(json_extract(fields,'$.v'))\n300\t44850\n";
  EXPECT_EQ(Query(o.path, sql), want);
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM chunks"), "n\n0\n");  // all in the WAL
  (*store)->FoldNow();
  EXPECT_EQ(Query(o.path, sql), want);
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n, sum(points) AS p FROM chunks"), "n\tp\n3\t300\n");
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM wal"), "n\n0\n");
  // Half in chunks, half in the WAL: still each once, and the open chunks grow.
  WriteCpu(**store, 300, 600, 1000);
  (*store)->Flush();
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM points"), "n\n600\n");
  (*store)->FoldNow();
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM points"), "n\n600\n");
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM chunks"), "n\n3\n");  // 200 each, one chunk
  // Time order within a series is the arrival order.
  EXPECT_EQ(Query(o.path,
                  "SELECT group_concat(time - 1000, ',') AS t FROM (SELECT time FROM points "
                  "WHERE tags = '{\"host\":\"h1\"}' AND time < 1010)"),
            "t\n1,4,7\n");
}

TEST(SqliteStoreTest, CommittedPointsSurviveACrashAndAreFoldedOnOpen) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.fold_interval_ns = int64_t{3600} * 1'000'000'000;
  o.fold_points = 1'000'000;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*store)
                    ->Write(Batch(model::Category::kLogging, "in",
                                  {Pt("app", {}, {{"message", "line " + std::to_string(i)}}, i)}))
                    .ok());
  }
  (*store)->Flush();
  // A copy of the files as they are now is what a crash (kill -9) would leave.
  auto copy = dir.path() / "copy";
  std::filesystem::create_directories(copy);
  for (const char* suffix : {"", "-wal"}) {
    std::filesystem::copy_file(o.path.string() + suffix, (copy / "s.db").string() + suffix);
  }
  StoreOptions c = o;
  c.path = copy / "s.db";
  auto recovered = SqliteStore::Open(c);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(Query(c.path, "SELECT count(*) AS n FROM points"), "n\n50\n");
  (*recovered)->Stop();  // folds
  EXPECT_EQ(Query(c.path, "SELECT count(*) AS n, sum(points) AS p FROM chunks"), "n\tp\n1\t50\n");
  EXPECT_EQ(Query(c.path, "SELECT count(*) AS n FROM wal"), "n\n0\n");
  EXPECT_EQ(Query(c.path, "SELECT fields FROM points WHERE time = 49"),
            "fields\n{\"message\":\"line 49\"}\n");
}

// Commits append to chunks in memory and a fold only writes them: a crash between folds
// leaves points in the WAL, in chunk rows, and in both's gap. The store opened on those files
// replays the WAL onto the rows (commits made meanwhile wait in the WAL too), each point once.
TEST(SqliteStoreTest, ACrashBetweenFoldsIsReplayedOntoTheChunkRows) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.fold_interval_ns = int64_t{3600} * 1'000'000'000;
  o.fold_points = 1'000'000;
  auto write = [](SqliteStore& store, int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(store
                      .Write(Batch(model::Category::kMetric, "in",
                                   {Pt("cpu", {{"host", "a"}}, {{"v", int64_t{i}}}, i)}))
                      .ok());
    }
  };
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  write(**store, 0, 100);
  (*store)->FoldNow();  // 100 in an open chunk's row
  write(**store, 100, 150);
  (*store)->Flush();  // 50 in the WAL and in the chunk in memory only
  auto copy = dir.path() / "copy";
  std::filesystem::create_directories(copy);
  for (const char* suffix : {"", "-wal"}) {
    std::filesystem::copy_file(o.path.string() + suffix, (copy / "s.db").string() + suffix);
  }
  (*store)->Stop();
  StoreOptions c = o;
  c.path = copy / "s.db";
  auto recovered = SqliteStore::Open(c);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  write(**recovered, 150, 175);
  (*recovered)->Flush();
  const std::string sql = "SELECT count(*), sum(json_extract(fields,'$.v')) FROM points";
  const std::string want = "count(*)\tsum(json_extract(fields,'$.v'))\n175\t15225\n";
  EXPECT_EQ(Query(c.path, sql), want);
  (*recovered)->FoldNow();
  EXPECT_EQ(Query(c.path, sql), want);
  write(**recovered, 175, 200);  // and back to appending in memory
  (*recovered)->Stop();
  EXPECT_EQ(Query(c.path, "SELECT count(*) AS n, sum(points) AS p FROM chunks"), "n\tp\n1\t200\n");
  EXPECT_EQ(Query(c.path, "SELECT count(*) AS n FROM wal"), "n\n0\n");
  EXPECT_EQ(
      Query(c.path,
            "SELECT group_concat(json_extract(fields,'$.v') - time, ',') AS d, "
            "min(time) AS lo, max(time) AS hi FROM points"),
      "d\tlo\thi\n" +
          [] {
            std::string zeros;
            for (int i = 0; i < 200; ++i) zeros += i ? ",0" : "0";
            return zeros;
          }() +
          "\t0\t199\n");
}

// A fold that cannot start (another process holds the write lock) keeps the chunks in memory
// and the WAL; the next one writes them, each point once.
TEST(SqliteStoreTest, AFoldThatCannotStartIsRetriedWithNothingLost) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.busy_timeout_ms = 20;
  o.fold_interval_ns = int64_t{3600} * 1'000'000'000;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  WriteCpu(**store, 0, 30, 0);
  (*store)->Flush();
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread fold([&] { (*store)->FoldNow(); });
  for (int i = 0; i < 500 && (*store)->Stats().write_errors == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT((*store)->Stats().write_errors, 0u);
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  fold.join();  // the retry a second later folds
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n, sum(points) AS p FROM chunks"), "n\tp\n3\t30\n");
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM points"), "n\n30\n");
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM wal"), "n\n0\n");
}

TEST(SqliteStoreTest, FiltersArePushedDownAndAgreeWithAFullScan) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.chunk_limits.max_samples = 16;  // many chunks per series
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  for (int round = 0; round < 100; ++round) {
    std::vector<model::Point> pts;
    for (int h = 0; h < 20; ++h) {
      pts.push_back(Pt(h % 2 ? "cpu" : "mem", {{"host", "h" + std::to_string(h)}},
                       {{"v", round * 0.5}, {"n", int64_t{h}}},
                       int64_t{1'700'000'000'000'000'000} + round * 10'000'000'000LL + h));
    }
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "in", std::move(pts))).ok());
    if (round % 30 == 0) (*store)->FoldNow();
  }
  (*store)->Flush();  // some points in chunks, the rest in the WAL
  const int64_t t0 = 1'700'000'000'000'000'000;
  for (const std::string& where :
       {std::string("measurement = 'cpu'"), std::string("tags = '{\"host\":\"h3\"}'"),
        "time >= " + std::to_string(t0 + 500'000'000'000LL),
        "time > " + std::to_string(t0 + 10'000'000'003LL) +
            " AND time <= " + std::to_string(t0 + 40'000'000'000LL) + " AND measurement = 'cpu'",
        "time = " + std::to_string(t0 + 20'000'000'005LL), std::string("category = 'metric'"),
        std::string("input = 'in' AND tags = '{\"host\":\"h4\"}'"), std::string("time = 'x'"),
        std::string("measurement = 'nope'")}) {
    // The CROSS JOIN form makes SQLite filter rows itself, without handing the constraint on.
    std::string pushed = Query(o.path,
                               "SELECT count(*) AS n, total(json_extract(fields,'$.v')) "
                               "AS s FROM points WHERE " +
                                   where);
    std::string scanned = Query(o.path,
                                "SELECT count(*) AS n, total(json_extract(fields,'$.v')) "
                                "AS s FROM (SELECT * FROM points LIMIT -1) WHERE " +
                                    where);
    EXPECT_EQ(pushed, scanned) << where;
  }
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM points WHERE measurement = 'cpu'"),
            "n\n1000\n");
}

TEST(SqliteStoreTest, SeriesFromManyBatchesCompressIntoChunks) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  int64_t counter = 0;
  for (int round = 0; round < 240; ++round) {
    std::vector<model::Point> pts;
    for (int h = 0; h < 50; ++h) {
      counter += 1000 + h;
      pts.push_back(
          Pt("disk", {{"host", "host-" + std::to_string(h)}, {"dev", "sda"}},
             {{"used", counter}, {"pct", (round % 100) + 0.25}, {"fs", std::string("ext4")}},
             int64_t{1'700'000'000'000'000'000} + round * 10'000'000'000LL));
    }
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "in", std::move(pts))).ok());
    if (round % 60 == 59) (*store)->FoldNow();
  }
  (*store)->Stop();
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n, sum(points) AS p FROM chunks"),
            "n\tp\n50\t12000\n");
  std::string bytes = Query(o.path, "SELECT sum(length(data)) FROM chunks");
  int64_t total = std::stoll(bytes.substr(bytes.find('\n') + 1));
  EXPECT_LT(total, 12000 * 8) << total << " bytes for 12000 points";
}

TEST(SqliteStoreTest, MaxSizeHoldsTheCap) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.max_size_bytes = 256 << 10;
  o.fold_points = 20'000;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  uint64_t seed = 1;
  for (int round = 0; round < 200; ++round) {
    std::vector<model::Point> pts;
    for (int h = 0; h < 200; ++h) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      pts.push_back(Pt("m", {{"host", "h" + std::to_string(h)}},
                       {{"r", static_cast<double>(seed >> 11) / 9007199254740992.0},
                        {"msg", "event " + std::to_string(seed % 100000)}},
                       round * 1000 + h));
    }
    ASSERT_TRUE((*store)->Write(Batch(model::Category::kMetric, "in", std::move(pts))).ok());
    if (round % 20 == 19) (*store)->FoldNow();
  }
  (*store)->Stop();
  auto stats = (*store)->Stats();
  EXPECT_GT(stats.rows_expired, 0u);
  EXPECT_LE(stats.size_bytes, static_cast<uint64_t>(o.max_size_bytes) * 11 / 10);
  EXPECT_LE(std::filesystem::file_size(o.path), static_cast<uint64_t>(o.max_size_bytes) * 13 / 10);
  // The oldest went and the newest point is there: chunks go in the order of their newest
  // point (whole chunks, so a series can lose its last round with its first).
  EXPECT_EQ(Query(o.path, "SELECT min(time) > 0 AS gone, max(time) AS newest FROM points"),
            "gone\tnewest\n1\t199199\n");
}

TEST(SqliteStoreTest, TheLoadableExtensionReadsPointsInPlainSqlite) {
  testing::TempDir dir;
  auto path = dir.path() / "s.db";
  {
    auto store = SqliteStore::Open(At(path));
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)
                    ->Write(Batch(model::Category::kMetric, "in",
                                  {Pt("cpu", {{"host", "a"}}, {{"usage", 0.5}}, 7)}))
                    .ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  char* err = nullptr;
  EXPECT_NE(sqlite3_exec(db, "SELECT * FROM points", nullptr, nullptr, &err), SQLITE_OK);
  EXPECT_THAT(err ? err : "", HasSubstr("pythond_points"));
  sqlite3_free(err);
  err = nullptr;
  sqlite3_enable_load_extension(db, 1);
  ASSERT_EQ(sqlite3_load_extension(db, PYTHOND_SQLITE_EXT_PATH, nullptr, &err), SQLITE_OK)
      << (err ? err : "");
  std::string got;
  ASSERT_EQ(sqlite3_exec(
                db, "SELECT measurement || ' ' || time || ' ' || tags || ' ' || fields FROM points",
                [](void* out, int, char** values, char**) {
                  *static_cast<std::string*>(out) += values[0];
                  return 0;
                },
                &got, &err),
            SQLITE_OK)
      << (err ? err : "");
  EXPECT_EQ(got, "cpu 7 {\"host\":\"a\"} {\"usage\":0.5}");
  sqlite3_close(db);
}

TEST(SqliteStoreTest, SchemaTwoIsConverted) {
  testing::TempDir dir;
  auto path = dir.path() / "v2.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, R"sql(
    PRAGMA journal_mode=WAL;
    CREATE TABLE pythond_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO pythond_meta VALUES ('schema_version', '2');
    CREATE TABLE series(id INTEGER PRIMARY KEY, category TEXT NOT NULL, measurement TEXT NOT NULL,
      tags TEXT NOT NULL, input TEXT NOT NULL, UNIQUE(measurement, category, tags, input));
    CREATE TABLE samples(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL,
      time INTEGER NOT NULL, fields TEXT NOT NULL);
    CREATE INDEX samples_by_series ON samples(series_id, time);
    CREATE TABLE store_commits(last_id INTEGER PRIMARY KEY, received INTEGER NOT NULL);
    INSERT INTO series VALUES (1, 'metric', 'cpu', '{"h":"a"}', 'in'),
                              (2, 'logging', 'app', '{}', 'in');
    INSERT INTO samples VALUES
      (1, 1, 10, '{"v":1,"f":1.5,"w":3.0,"u":18446744073709551615,"b":true,"s":"x","a":[1,2]}'),
      (2, 2, 30, '{"message":"hello"}'),
      (3, 1, 20, '{"v":-2,"f":2.5e-7}');
    INSERT INTO store_commits VALUES (3, 100);
    CREATE VIEW points AS SELECT s.category AS category, s.measurement AS measurement,
      p.time AS time, s.tags AS tags, p.fields AS fields, s.input AS input
      FROM samples p JOIN series s ON s.id = p.series_id;
  )sql",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  StoreOptions o = At(path);
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  (*store)->Stop();
  EXPECT_EQ(
      Query(path, "SELECT category, measurement, time, tags, fields FROM points ORDER BY time"),
      "category\tmeasurement\ttime\ttags\tfields\n"
      "metric\tcpu\t10\t{\"h\":\"a\"}\t{\"v\":1,\"f\":1.5,\"w\":3.0,"
      "\"u\":18446744073709551615,\"b\":true,\"s\":\"x\",\"a\":[1,2]}\n"
      "metric\tcpu\t20\t{\"h\":\"a\"}\t{\"v\":-2,\"f\":2.5e-07}\n"
      "logging\tapp\t30\t{}\t{\"message\":\"hello\"}\n");
  EXPECT_EQ(Query(path,
                  "SELECT count(*) AS n FROM sqlite_master WHERE name IN "
                  "('samples', 'store_commits')"),
            "n\n0\n");
}

TEST(SqliteStoreTest, OneWriterPerStore) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  auto first = SqliteStore::Open(o);
  ASSERT_TRUE(first.ok());
  auto second = SqliteStore::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("another process"));
  (*first)->Stop();
  first->reset();
  EXPECT_TRUE(SqliteStore::Open(o).ok());  // released with the first
}

TEST(SqliteStoreTest, OrAcrossColumnsAndCollationsKeepEveryRow) {
  testing::TempDir dir;
  StoreOptions o = At(dir.path() / "s.db");
  o.fold_interval_ns = int64_t{3600} * 1'000'000'000;
  o.fold_points = 1'000'000;
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        (*store)
            ->Write(Batch(model::Category::kMetric, "in", {Pt("a", {}, {{"v", int64_t{i}}}, i)}))
            .ok());
    ASSERT_TRUE(
        (*store)
            ->Write(Batch(model::Category::kMetric, "other", {Pt("b", {}, {{"v", int64_t{i}}}, i)}))
            .ok());
  }
  (*store)->Flush();
  // SQLite answers OR on two columns with two scans and drops rows whose rowid it has seen.
  const std::string sql =
      "SELECT count(*) AS n FROM points WHERE measurement = 'a' OR input = 'other'";
  EXPECT_EQ(Query(o.path, sql), "n\n6\n");  // from the WAL records
  (*store)->FoldNow();
  EXPECT_EQ(Query(o.path, sql), "n\n6\n");  // from chunks
  EXPECT_EQ(
      Query(o.path, "SELECT count(*) AS n FROM points WHERE measurement = 'A' COLLATE NOCASE"),
      "n\n3\n");
  EXPECT_EQ(Query(o.path, "SELECT count(*) AS n FROM points WHERE input = 'in  ' COLLATE RTRIM"),
            "n\n3\n");
}

TEST(QueryTest, ReadOnlyOneStatementAndJson) {
  testing::TempDir dir;
  auto store = SqliteStore::Open(At(dir.path() / "s.db"));
  ASSERT_TRUE(store.ok());
  model::Point p{"m", {{"t", "a\tb"}}, {{"v", int64_t{1}}}, 7};
  ASSERT_TRUE((*store)->Write(Batch(model::Category::kObject, "x", {p})).ok());
  (*store)->Flush();
  auto db = dir.path() / "s.db";
  std::ostringstream out;
  Status s = RunQuery(db, "DELETE FROM chunks", QueryFormat::kTsv, out);
  EXPECT_THAT(s.message(), HasSubstr("read-only"));
  s = RunQuery(db, "SELECT 1; SELECT 2", QueryFormat::kTsv, out);
  EXPECT_THAT(s.message(), HasSubstr("one statement"));
  s = RunQuery(db, "SELECT nope FROM points", QueryFormat::kTsv, out);
  EXPECT_THAT(s.message(), HasSubstr("no such column"));
  s = RunQuery(dir.path() / "missing.db", "SELECT 1", QueryFormat::kTsv, out);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(Query(db, "SELECT json_extract(tags,'$.t') AS t FROM points"), "t\na\\tb\n");
  EXPECT_EQ(Query(db, "SELECT category, time, 1.5 AS f, NULL AS n FROM points", QueryFormat::kJson),
            "[\n{\"category\":\"object\",\"time\":7,\"f\":1.5,\"n\":null}\n]\n");
  EXPECT_EQ(Query(db, "SELECT * FROM points WHERE 0", QueryFormat::kJson), "[]\n");
}

}  // namespace
}  // namespace pythond::store
