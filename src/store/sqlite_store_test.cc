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

TEST(SqliteStoreTest, TypedFieldsInThePointsView) {
  testing::TempDir dir;
  auto store = SqliteStore::Open({dir.path() / "data/pythond.db"});
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
  auto store = SqliteStore::Open({dir.path() / "s.db"});
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
  StoreOptions o;
  o.path = dir.path() / "s.db";
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
  StoreOptions o;
  o.path = dir.path() / "s.db";
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
  StoreOptions o;
  o.path = dir.path() / "s.db";
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
  StoreOptions o;
  o.path = path;
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
            "value\n2\n");
}

TEST(QueryTest, ReadOnlyOneStatementAndJson) {
  testing::TempDir dir;
  auto store = SqliteStore::Open({dir.path() / "s.db"});
  ASSERT_TRUE(store.ok());
  model::Point p{"m", {{"t", "a\tb"}}, {{"v", int64_t{1}}}, 7};
  ASSERT_TRUE((*store)->Write(Batch(model::Category::kObject, "x", {p})).ok());
  (*store)->Flush();
  auto db = dir.path() / "s.db";
  std::ostringstream out;
  Status s = RunQuery(db, "DELETE FROM samples", QueryFormat::kTsv, out);
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
