#include "store/store_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace pythond::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;

model::Point MakePoint(std::string measurement, std::vector<model::Tag> tags,
                       std::vector<model::Field> fields, int64_t time_ns) {
  model::Point p;
  p.measurement = std::move(measurement);
  p.tags = std::move(tags);
  p.fields = std::move(fields);
  p.time_ns = time_ns;
  return p;
}

class StoreReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.path = db_path_;
    auto opened = SqliteStore::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }

  void Write(model::Category category, std::string input, std::vector<model::Point> points) {
    auto b = std::make_shared<model::PointBatch>();
    b->category = category;
    b->input = std::move(input);
    b->points = std::move(points);
    ASSERT_TRUE(store_->Write(std::move(b)).ok());
    store_->Flush();
  }

  // Runs a request and waits for its answer (the reader posts it inline, on its thread).
  StatusOr<std::vector<MeasurementInfo>> Measurements(StoreReader& reader, int64_t since_ns) {
    std::promise<StatusOr<std::vector<MeasurementInfo>>> done;
    reader.Measurements(since_ns, [&done](auto r) { done.set_value(std::move(r)); });
    return WaitFor(done.get_future());
  }
  StatusOr<SeriesResult> Series(StoreReader& reader, SeriesQuery q) {
    std::promise<StatusOr<SeriesResult>> done;
    reader.Series(std::move(q), [&done](auto r) { done.set_value(std::move(r)); });
    return WaitFor(done.get_future());
  }
  template <typename T>
  T WaitFor(std::future<T> f) {
    EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    return f.get();
  }

  static StoreReader::Post Inline() {
    return [](std::function<void()> f) { f(); };
  }

  testing::TempDir dir_;
  std::filesystem::path db_path_ = dir_.path() / "data/pythond.db";
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreReaderTest, MeasurementsListNumericFieldsAndCountPointsInTheWindow) {
  Write(model::Category::kMetric, "in1",
        {MakePoint("cpu", {{"host", "a"}},
                   {{"usage", 0.5}, {"n", int64_t{3}}, {"msg", std::string("hi")}, {"ok", true}},
                   kT0),
         MakePoint("cpu", {{"host", "b"}}, {{"usage", 0.25}, {"big", uint64_t{7}}}, kT0 + kSecond),
         MakePoint("cpu", {{"host", "a"}}, {{"usage", 0.75}}, kT0 - 100 * kSecond),  // too old
         MakePoint("mem", {}, {{"used", int64_t{10}}}, kT0)});
  Write(model::Category::kLogging, "in1",
        {MakePoint("app", {}, {{"message", std::string("x")}, {"status", std::string("info")}},
                   kT0)});
  StoreReader reader(db_path_, Inline());
  auto ms = Measurements(reader, kT0 - 10 * kSecond);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  ASSERT_EQ(ms->size(), 3u);
  EXPECT_EQ((*ms)[0].category, "logging");
  EXPECT_EQ((*ms)[0].measurement, "app");
  EXPECT_TRUE((*ms)[0].fields.empty());  // strings only
  EXPECT_EQ((*ms)[0].points, 1u);
  EXPECT_EQ((*ms)[1].measurement, "cpu");
  EXPECT_THAT((*ms)[1].fields, ElementsAre("big", "n", "ok", "usage"));
  EXPECT_EQ((*ms)[1].points, 2u);
  EXPECT_EQ((*ms)[2].measurement, "mem");
  EXPECT_THAT((*ms)[2].fields, ElementsAre("used"));

  auto none = Measurements(reader, kT0 + 3600 * kSecond);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(StoreReaderTest, SeriesAreGroupedByTagSetAndTimeOrdered) {
  // host=a from two inputs is one line; booleans read as 0/1.
  Write(model::Category::kMetric, "in1",
        {MakePoint("cpu", {{"host", "a"}}, {{"usage", 0.5}, {"ok", true}}, kT0 + 2 * kSecond),
         MakePoint("cpu", {{"host", "b"}}, {{"usage", int64_t{4}}, {"ok", false}}, kT0),
         MakePoint("cpu", {{"host", "a"}}, {{"usage", 0.25}}, kT0)});
  Write(model::Category::kMetric, "in2",
        {MakePoint("cpu", {{"host", "a"}}, {{"usage", 0.125}}, kT0 + kSecond)});
  Write(model::Category::kLogging, "in1",
        {MakePoint("cpu", {{"host", "a"}}, {{"usage", 9.0}}, kT0 + kSecond)});
  StoreReader reader(db_path_, Inline());

  SeriesQuery q;
  q.measurement = "cpu";
  q.field = "usage";
  q.category = "metric";
  q.since_ns = kT0 - kSecond;
  auto r = Series(reader, q);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_EQ(r->series_total, 2u);
  EXPECT_EQ(r->stride, 1u);
  EXPECT_EQ(r->series[0].tags, R"({"host":"a"})");
  EXPECT_THAT(r->series[0].points, ElementsAre(Pair(kT0, 0.25), Pair(kT0 + kSecond, 0.125),
                                               Pair(kT0 + 2 * kSecond, 0.5)));
  EXPECT_EQ(r->series[1].tags, R"({"host":"b"})");
  EXPECT_THAT(r->series[1].points, ElementsAre(Pair(kT0, 4.0)));

  q.field = "ok";
  r = Series(reader, q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_THAT(r->series[0].points, ElementsAre(Pair(kT0 + 2 * kSecond, 1.0)));
  EXPECT_THAT(r->series[1].points, ElementsAre(Pair(kT0, 0.0)));

  // Every category: the logging point joins host=a.
  q.field = "usage";
  q.category = "";
  r = Series(reader, q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_EQ(r->series[0].points.size(), 4u);
}

TEST_F(StoreReaderTest, UnknownMeasurementOrFieldGivesNoSeries) {
  Write(model::Category::kMetric, "in1",
        {MakePoint("cpu", {}, {{"usage", 0.5}, {"msg", std::string("hi")}}, kT0)});
  StoreReader reader(db_path_, Inline());
  for (auto [measurement, field] :
       {std::pair{"nope", "usage"}, std::pair{"cpu", "nope"}, std::pair{"cpu", "msg"}}) {
    SeriesQuery q;
    q.measurement = measurement;
    q.field = field;
    auto r = Series(reader, q);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->series.empty()) << measurement << "." << field;
  }
}

TEST_F(StoreReaderTest, LimitThinsEachSeriesKeepingItsNewestPoint) {
  std::vector<model::Point> points;
  for (int i = 0; i < 100; ++i) {
    points.push_back(MakePoint("m", {{"t", "a"}}, {{"v", int64_t{i}}}, kT0 + i * kSecond));
  }
  for (int i = 0; i < 10; ++i) {
    points.push_back(MakePoint("m", {{"t", "b"}}, {{"v", int64_t{i}}}, kT0 + i * kSecond));
  }
  Write(model::Category::kMetric, "in1", std::move(points));
  StoreReader reader(db_path_, Inline());
  SeriesQuery q;
  q.measurement = "m";
  q.field = "v";
  q.limit = 20;
  auto r = Series(reader, q);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_EQ(r->points_total, 110u);
  size_t kept = r->series[0].points.size() + r->series[1].points.size();
  EXPECT_LE(kept, 20u);
  EXPECT_GE(kept, 15u);
  EXPECT_EQ(r->series[0].points.back().second, 99.0);  // the newest is always kept
  EXPECT_EQ(r->series[1].points.back().second, 9.0);
  uint64_t stride = r->stride;
  EXPECT_GT(stride, 1u);
  EXPECT_EQ(r->series[0].points[r->series[0].points.size() - 2].second, 99.0 - stride);

  q.limit = 1000;
  r = Series(reader, q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stride, 1u);
  EXPECT_EQ(r->series[0].points.size(), 100u);

  q.limit = 0;
  EXPECT_EQ(Series(reader, q).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreReaderTest, AtMostMaxSeriesTagSets) {
  std::vector<model::Point> points;
  for (int i = 0; i < 25; ++i) {
    char tag[8];
    std::snprintf(tag, sizeof tag, "%02d", i);
    points.push_back(MakePoint("m", {{"t", tag}}, {{"v", 1.0}}, kT0));
  }
  Write(model::Category::kMetric, "in1", std::move(points));
  StoreReader reader(db_path_, Inline());
  SeriesQuery q;
  q.measurement = "m";
  q.field = "v";
  q.max_series = 20;
  auto r = Series(reader, q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->series.size(), 20u);
  EXPECT_EQ(r->series_total, 25u);
  EXPECT_EQ(r->series.front().tags, R"({"t":"00"})");
  EXPECT_EQ(r->series.back().tags, R"({"t":"19"})");
}

TEST_F(StoreReaderTest, AFullQueueRefusesAtOnce) {
  Write(model::Category::kMetric, "in1", {MakePoint("m", {}, {{"v", 1.0}}, kT0)});
  // The first answer's post blocks the reader thread until released, so the queue fills.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> first_posted;
  bool first = true;
  StoreReader reader(
      db_path_,
      [&](std::function<void()> f) {
        if (first) {
          first = false;
          first_posted.set_value();
          released.wait();
        }
        f();
      },
      /*max_queue=*/1);
  std::promise<StatusOr<std::vector<MeasurementInfo>>> a, b, c;
  reader.Measurements(0, [&a](auto r) { a.set_value(std::move(r)); });
  first_posted.get_future().wait();
  reader.Measurements(0, [&b](auto r) { b.set_value(std::move(r)); });  // waits in the queue
  reader.Measurements(0, [&c](auto r) { c.set_value(std::move(r)); });  // refused
  auto refused = WaitFor(c.get_future());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("busy"));
  release.set_value();
  EXPECT_TRUE(WaitFor(a.get_future()).ok());
  EXPECT_TRUE(WaitFor(b.get_future()).ok());
}

TEST_F(StoreReaderTest, StoppedReaderRefusesAndAMissingStoreIsAnError) {
  StoreReader missing(dir_.path() / "nope.db", Inline());
  auto r = Measurements(missing, 0);
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_THAT(r.status().message(), HasSubstr("no store"));

  StoreReader reader(db_path_, Inline());
  EXPECT_TRUE(Measurements(reader, 0).ok());
  reader.Stop();
  reader.Stop();
  EXPECT_EQ(Measurements(reader, 0).status().code(), StatusCode::kUnavailable);
}

TEST_F(StoreReaderTest, ReadsDoNotBlockTheWriter) {
  Write(model::Category::kMetric, "in1", {MakePoint("m", {}, {{"v", 1.0}}, kT0)});
  StoreReader reader(db_path_, Inline());
  ASSERT_TRUE(Measurements(reader, 0).ok());
  // The reader keeps its connection open; the writer still commits, and the reader sees it.
  Write(model::Category::kMetric, "in1", {MakePoint("m", {}, {{"v", 2.0}}, kT0 + kSecond)});
  EXPECT_EQ(store_->Stats().write_errors, 0u);
  auto ms = Measurements(reader, 0);
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->size(), 1u);
  EXPECT_EQ((*ms)[0].points, 2u);
}

}  // namespace
}  // namespace pythond::store
