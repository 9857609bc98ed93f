#include "ingest/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ingest/query_string.h"
#include "model/line_protocol.h"

namespace pythond::ingest {
namespace {

using ::testing::HasSubstr;

class RecordingSink : public outputs::Output {
 public:
  std::string_view name() const override { return "recording"; }
  Status Write(model::PointBatchPtr batch) override {
    if (refuse) return Status::ResourceExhausted("full");
    batches.push_back(std::move(batch));
    return Status::Ok();
  }
  void Flush() override {}
  std::vector<model::PointBatchPtr> batches;
  bool refuse = false;
};

class ApiTest : public ::testing::Test {
 protected:
  Answer Post(std::string target, std::string body, std::string content_type = "",
              std::string plugin = "") {
    target_ = std::move(target);
    body_ = std::move(body);
    ct_ = std::move(content_type);
    plugin_ = std::move(plugin);
    return api_.Handle(Request{"POST", target_, ct_, plugin_, body_});
  }
  RecordingSink sink_;
  Api api_{&sink_, [] { return int64_t{1'700'000'000'123'000'000}; }, "0.1.0", "box"};
  std::string target_, body_, ct_, plugin_;
};

TEST_F(ApiTest, LineProtocolIsStoredExactly) {
  Answer a = Post("/v1/write/metric", "cpu,host=a usage=0.5,n=3i,msg=\"hi\" 1700000000000000000");
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(sink_.batches.size(), 1u);
  const auto& b = *sink_.batches[0];
  EXPECT_EQ(b.category, model::Category::kMetric);
  EXPECT_EQ(b.input, "datakit-http");
  ASSERT_EQ(b.points.size(), 1u);
  EXPECT_EQ(b.points[0].time_ns, 1700000000000000000);
  EXPECT_EQ(model::FieldsToJson(b.points[0].fields), R"({"usage":0.5,"n":3,"msg":"hi"})");
  EXPECT_EQ(model::TagsToJson(b.points[0].tags), R"({"host":"a"})");
}

TEST_F(ApiTest, BadLineGives400WithLineAndPosition) {
  Answer a = Post("/v1/write/metric", "cpu,host=a usage=");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("\"error_code\":\"datakit.invalidLinePoint\""));
  EXPECT_THAT(a.body, HasSubstr("line 1, column"));
  EXPECT_TRUE(sink_.batches.empty());
}

TEST_F(ApiTest, OneBadLineRefusesTheWholeBody) {
  Answer a = Post("/v1/write/logging", "ok v=1i\nbad\nok v=2i\nalso bad=\n");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("line 2"));
  EXPECT_THAT(a.body, HasSubstr("line 4"));
  EXPECT_TRUE(sink_.batches.empty());
}

TEST_F(ApiTest, ManyBadLinesAreCountedNotAllKept) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "bad\n";
  Answer a = Post("/v1/write/metric", body);
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("line 20, column"));
  EXPECT_THAT(a.body, HasSubstr("and 980 more errors"));
  model::ParseResult r = model::ParseLineProtocol(body, {});
  EXPECT_EQ(r.errors.size(), 100u);
  EXPECT_EQ(r.error_count, 1000u);
}

TEST_F(ApiTest, UnknownCategory) {
  Answer a = Post("/v1/write/metrics", "cpu v=1");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("datakit.invalidCategory"));
  EXPECT_THAT(a.body, HasSubstr("'metrics'"));
}

TEST_F(ApiTest, EveryCategoryIsAccepted) {
  for (const char* c :
       {"metric", "logging", "object", "custom_object", "keyevent", "rum", "network", "security"}) {
    EXPECT_EQ(Post(std::string("/v1/write/") + c, "m v=1i").status, 200) << c;
  }
  EXPECT_EQ(sink_.batches.size(), 8u);
  EXPECT_EQ(sink_.batches[3]->category, model::Category::kCustomObject);
}

TEST_F(ApiTest, EmptyBodyAndNoPoints) {
  EXPECT_THAT(Post("/v1/write/metric", "").body, HasSubstr("datakit.emptyBody"));
  Answer a = Post("/v1/write/metric", "# only a comment\n");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("datakit.noPoints"));
}

TEST_F(ApiTest, JsonBodyKeepsIntegers) {
  Answer a =
      Post("/v1/write/metric?input=datakitpy",
           R"([{"measurement":"abc","tags":{"t1":"b"},"fields":{"f1":123,"f2":3.4,"f3":"s"}}])",
           "application/json");
  ASSERT_EQ(a.status, 200) << a.body;
  const auto& b = *sink_.batches[0];
  EXPECT_EQ(b.input, "datakitpy");
  EXPECT_EQ(model::FieldsToJson(b.points[0].fields), R"({"f1":123,"f2":3.4,"f3":"s"})");
  EXPECT_EQ(b.points[0].time_ns, 1'700'000'000'123'000'000);  // receive time
  Answer bad = Post("/v1/write/metric", "[{\"measurement\":1}]", "application/json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("datakit.invalidJsonPoint"));
}

TEST_F(ApiTest, PrecisionExplicitAndDetected) {
  ASSERT_EQ(Post("/v1/write/metric?precision=s", "m v=1i 1700000000").status, 200);
  ASSERT_EQ(Post("/v1/write/metric", "m v=1i 1700000000123").status, 200);
  EXPECT_EQ(sink_.batches[0]->points[0].time_ns, 1700000000000000000);
  EXPECT_EQ(sink_.batches[1]->points[0].time_ns, 1700000000123000000);
  EXPECT_THAT(Post("/v1/write/metric?precision=x", "m v=1").body,
              HasSubstr("datakit.invalidPrecision"));
}

TEST_F(ApiTest, InputFromSdkHeaderAndDryRun) {
  ASSERT_EQ(Post("/v1/write/metric", "m v=1", "", "my-input/MyTest").status, 200);
  EXPECT_EQ(sink_.batches[0]->input, "my-input");
  ASSERT_EQ(Post("/v1/write/metric?dry=true", "m v=1").status, 200);
  EXPECT_EQ(sink_.batches.size(), 1u);
}

TEST_F(ApiTest, FullSinkAnswers503) {
  sink_.refuse = true;
  Answer a = Post("/v1/write/metric", "m v=1");
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(api_.stats().busy, 1u);
}

TEST_F(ApiTest, PingLastErrorAndUnknownRoutes) {
  Answer ping = api_.Handle(Request{"GET", "/v1/ping", "", "", ""});
  EXPECT_EQ(ping.status, 200);
  EXPECT_THAT(ping.body, HasSubstr("\"version\":\"0.1.0\""));
  EXPECT_THAT(ping.body, HasSubstr("\"host\":\"box\""));
  Answer le = Post("/v1/lasterror", R"({"input":"in1","err_content":"boom"})");
  EXPECT_EQ(le.status, 200);
  EXPECT_EQ(api_.last_errors().at("in1").message, "boom");
  EXPECT_EQ(Post("/v1/lasterror", "nope").status, 400);
  EXPECT_EQ(api_.Handle(Request{"GET", "/nope", "", "", ""}).status, 404);
  EXPECT_EQ(api_.Handle(Request{"GET", "/v1/write/metric", "", "", ""}).status, 405);
}

TEST(QueryStringTest, DecodesAndFindsValues) {
  QueryString q("input=a%20b&dry&precision=ms&x=1+2&strict=false");
  EXPECT_EQ(q.Get("input"), "a b");
  EXPECT_EQ(q.Get("dry"), "");
  EXPECT_TRUE(q.GetBool("dry"));
  EXPECT_FALSE(q.GetBool("strict"));
  EXPECT_FALSE(q.GetBool("missing"));
  EXPECT_EQ(q.Get("x"), "1 2");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
}

}  // namespace
}  // namespace pythond::ingest
