#include "agent/web_routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <optional>

#include "ingest/web_assets.h"
#include "store/sqlite_store.h"
#include "temp_dir.h"

namespace pythond::agent {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kNow = 1'700'000'000 * kSecond;

class NullSink : public outputs::Output {
 public:
  std::string_view name() const override { return "null"; }
  Status Write(model::PointBatchPtr) override { return Status::Ok(); }
  void Flush() override {}
};

class WebRoutesTest : public ::testing::Test {
 protected:
  WebRoutesTest() {
    store::StoreOptions store_options;
    store_options.path = db_path_;
    auto opened = store::SqliteStore::Open(store_options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
    ingest::ApiOptions options;
    AddWebRoutes(&options, &reader_, [] { return kNow; });
    api_ = std::make_unique<ingest::Api>(
        &sink_, [] { return kNow; }, [] { return int64_t{0}; }, std::move(options));
  }

  void WritePoints(std::vector<model::Point> points) {
    auto b = std::make_shared<model::PointBatch>();
    b->category = model::Category::kMetric;
    b->input = "in1";
    b->points = std::move(points);
    ASSERT_TRUE(store_->Write(std::move(b)).ok());
    store_->Flush();
  }

  // Sends a request through the Api and runs the event loop until it is answered.
  ingest::Answer Get(std::string target, bool loopback = true, std::string method = "GET") {
    ingest::Request r;
    r.method = method;
    r.target = target;
    r.remote_is_loopback = loopback;
    std::optional<ingest::Answer> answer;
    api_->Handle(r, [&answer](ingest::Answer a) { answer = std::move(a); });
    io_.restart();
    auto busy = asio::make_work_guard(io_);  // run_one_for waits for the reader's post
    while (!answer && io_.run_one_for(std::chrono::seconds(20)) > 0) {
    }
    EXPECT_TRUE(answer) << target << ": no answer";
    return answer ? std::move(*answer) : ingest::Answer{};
  }

  static std::string Header(const ingest::Answer& a, std::string_view name) {
    for (const auto& [k, v] : a.headers) {
      if (k == name) return v;
    }
    return "";
  }

  testing::TempDir dir_;
  std::filesystem::path db_path_ = dir_.path() / "pythond.db";
  std::unique_ptr<store::SqliteStore> store_;
  asio::io_context io_;
  // Answers come back through the event loop, as in the agent.
  store::StoreReader reader_{db_path_,
                             [this](std::function<void()> f) { asio::post(io_, std::move(f)); }};
  NullSink sink_;
  std::unique_ptr<ingest::Api> api_;
};

TEST_F(WebRoutesTest, ServesThePageAndItsAssets) {
  ingest::Answer page = Get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Header(page, "Cache-Control"), "no-cache");
  EXPECT_THAT(page.body, HasSubstr("<!doctype html>"));
  EXPECT_THAT(page.body, HasSubstr("/ui/uPlot.iife.min.js"));

  ingest::Answer js = Get("/ui/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/ui/style.css").content_type, "text/css; charset=utf-8");

  ingest::Answer uplot = Get("/ui/uPlot.iife.min.js");
  EXPECT_EQ(uplot.status, 200);
  EXPECT_THAT(uplot.body, HasSubstr("uPlot"));
  EXPECT_GT(uplot.body.size(), 20'000u);
  EXPECT_EQ(Header(uplot, "Cache-Control"), "public, max-age=3600");
  EXPECT_EQ(Get("/ui/uPlot.min.css").content_type, "text/css; charset=utf-8");

  EXPECT_EQ(Get("/ui/nope.js").status, 404);
  EXPECT_EQ(Get("/", true, "POST").status, 405);
  ASSERT_NE(ingest::FindWebAsset("/ui/app.js"), nullptr);
  EXPECT_EQ(ingest::FindWebAsset("/ui/app.js")->body, js.body);
}

TEST_F(WebRoutesTest, NonLoopbackClientsAreRefused) {
  for (const char* path :
       {"/", "/ui/app.js", "/v1/store/measurements", "/v1/store/series?measurement=m&field=v"}) {
    ingest::Answer a = Get(path, /*loopback=*/false);
    EXPECT_EQ(a.status, 403) << path;
    EXPECT_THAT(a.body, HasSubstr("datakit.publicAccessDisabled"));
  }
  EXPECT_EQ(Get("/v1/store/measurements", true, "POST").status, 405);
}

TEST_F(WebRoutesTest, MeasurementsOfTheLastHourByDefault) {
  WritePoints({{"cpu", {{"host", "a"}}, {{"usage", 0.5}, {"msg", std::string("x")}}, kNow},
               {"old", {}, {{"v", 1.0}}, kNow - 2 * 3600 * kSecond}});
  ingest::Answer a = Get("/v1/store/measurements");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body,
            R"({"measurements":[{"category":"metric","measurement":"cpu","fields":["usage"],)"
            R"("points":1}]})");
  EXPECT_EQ(Header(a, "Cache-Control"), "no-store");
  a = Get("/v1/store/measurements?since=0");
  EXPECT_THAT(a.body, HasSubstr(R"("measurement":"old")"));
  a = Get("/v1/store/measurements?since=1699999999.5");
  EXPECT_THAT(a.body, HasSubstr(R"("measurement":"cpu")"));
}

TEST_F(WebRoutesTest, BadParametersAnswer400) {
  for (const char* target :
       {"/v1/store/measurements?since=abc", "/v1/store/measurements?since=",
        "/v1/store/measurements?since=-5", "/v1/store/measurements?since=1e400",
        "/v1/store/measurements?since=12x", "/v1/store/series?field=v",
        "/v1/store/series?measurement=m", "/v1/store/series?measurement=m&field=v&since=x",
        "/v1/store/series?measurement=m&field=v&limit=0",
        "/v1/store/series?measurement=m&field=v&limit=-3",
        "/v1/store/series?measurement=m&field=v&limit=ten",
        "/v1/store/series?measurement=m&field=v&category=metrics"}) {
    ingest::Answer a = Get(target);
    EXPECT_EQ(a.status, 400) << target;
    EXPECT_THAT(a.body, HasSubstr("datakit.badRequest")) << target;
  }
  EXPECT_THAT(Get("/v1/store/measurements?since=abc").body, HasSubstr("since"));
  EXPECT_THAT(Get("/v1/store/series?measurement=m&field=v&limit=0").body, HasSubstr("limit"));
}

TEST_F(WebRoutesTest, UnknownMeasurementGivesNoSeries) {
  WritePoints({{"cpu", {}, {{"usage", 0.5}}, kNow}});
  ingest::Answer a = Get("/v1/store/series?measurement=nope&field=usage");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, R"({"series":[],"series_total":0,"points_total":0,"stride":1})");
}

TEST_F(WebRoutesTest, SeriesByTagSetWithTimesInSeconds) {
  WritePoints({{"cpu", {{"host", "a"}}, {{"usage", 0.5}}, kNow - kSecond / 2},
               {"cpu", {{"host", "a"}}, {{"usage", int64_t{2}}}, kNow},
               {"cpu", {{"host", "b"}}, {{"usage", true}}, kNow}});
  ingest::Answer a = Get("/v1/store/series?measurement=cpu&field=usage&category=metric");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body,
            R"({"series":[{"tags":{"host":"a"},"points":[[1699999999.500,0.5],)"
            R"([1700000000.000,2.0]]},{"tags":{"host":"b"},"points":[[1700000000.000,1.0]]}],)"
            R"("series_total":2,"points_total":3,"stride":1})");
}

TEST_F(WebRoutesTest, LimitIsCappedNotRefused) {
  std::vector<model::Point> points;
  for (int i = 0; i < 10; ++i) {
    points.push_back({"m", {}, {{"v", int64_t{i}}}, kNow - (10 - i) * kSecond});
  }
  WritePoints(std::move(points));
  // Above the cap, even beyond 64 bits: capped, so every point comes back.
  for (const char* limit : {"1000000000", "99999999999999999999999"}) {
    ingest::Answer a = Get(std::string("/v1/store/series?measurement=m&field=v&limit=") + limit);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_THAT(a.body, HasSubstr(R"("points_total":10,"stride":1})"));
  }
  ingest::Answer a = Get("/v1/store/series?measurement=m&field=v&limit=3");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_THAT(a.body, HasSubstr(R"("stride":4})"));  // ceil(10 / 4) = 3 points
  EXPECT_THAT(a.body, HasSubstr(",9.0]]}"));         // the newest is kept
  EXPECT_EQ(kMaxSeriesLimit, 100'000u);
}

}  // namespace
}  // namespace pythond::agent
