#include "ingest/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

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
    Request r;
    r.method = "POST";
    r.target = target_;
    r.content_type = ct_;
    r.plugin_header = plugin_;
    r.body = body_;
    r.remote_is_loopback = loopback_;
    return api_.Handle(r);
  }
  Answer Get(std::string target) {
    target_ = std::move(target);
    Request r;
    r.method = "GET";
    r.target = target_;
    r.remote_is_loopback = loopback_;
    return api_.Handle(r);
  }
  static ApiOptions Options() {
    ApiOptions o;
    o.version = "0.1.0";
    o.hostname = "box";
    return o;
  }
  RecordingSink sink_;
  int64_t mono_ = 1'000'000'000;
  bool loopback_ = true;
  Api api_{&sink_, [] { return int64_t{1'700'000'000'123'000'000}; }, [this] { return mono_; },
           Options()};
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
  Answer ping = Get("/v1/ping");
  EXPECT_EQ(ping.status, 200);
  EXPECT_THAT(ping.body, HasSubstr("\"version\":\"0.1.0\""));
  EXPECT_THAT(ping.body, HasSubstr("\"host\":\"box\""));
  Answer le = Post("/v1/lasterror", R"({"input":"in1","err_content":"boom"})");
  EXPECT_EQ(le.status, 200);
  EXPECT_EQ(api_.stats().inputs.at(std::string(kOtherStats)).last_error, "boom");
  EXPECT_EQ(Post("/v1/lasterror", "nope").status, 400);
  EXPECT_EQ(Get("/nope").status, 404);
  EXPECT_EQ(Get("/v1/write/metric").status, 405);
}

// 3,000 refused writes with made-up input and plugin names once left 3,000 permanent entries
// each; now they share one, and names that passed the checks are capped.
TEST_F(ApiTest, MadeUpNamesCannotGrowTheStats) {
  for (int i = 0; i < 3000; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_EQ(Post("/v1/write/metric?input=in" + n, "bad line").status, 400);
    ASSERT_EQ(Post("/v1/write/metric", "bad line", "", "in" + n + "/p").status, 400);
  }
  const ApiStats& st = api_.stats();
  ASSERT_EQ(st.inputs.size(), 1u);
  ASSERT_EQ(st.plugins.size(), 1u);
  EXPECT_EQ(st.inputs.at(std::string(kOtherStats)).requests, 6000u);
  EXPECT_EQ(st.inputs.at(std::string(kOtherStats)).refused_requests, 6000u);
  EXPECT_EQ(st.plugins.at(std::string(kOtherStats)).requests, 3000u);
  // A write that passes the checks earns its name an entry, up to max_stats_names (256).
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(Post("/v1/write/metric?input=ok" + std::to_string(i), "m v=1").status, 200);
  }
  EXPECT_EQ(st.inputs.size(), 256u);
  EXPECT_EQ(st.inputs.at("ok0").points[0], 1u);
  EXPECT_EQ(st.inputs.at("ok0").requests, 1u);
  EXPECT_EQ(st.inputs.count("ok299"), 0u);
  EXPECT_EQ(st.inputs.at(std::string(kOtherStats)).requests, 6000u + 300 - 255);
  // Once it has an entry, its refusals are counted there.
  ASSERT_EQ(Post("/v1/write/metric?input=ok0", "bad line").status, 400);
  EXPECT_EQ(st.inputs.at("ok0").refused_requests, 1u);
}

TEST(ApiStatsNamesTest, ConfiguredNamesHaveEntriesBeforeAnyWritePasses) {
  RecordingSink sink;
  ApiOptions o;
  o.is_configured = [](std::string_view input, std::string_view plugin) {
    return input == "cfg" && (plugin.empty() || plugin == "p1");
  };
  Api api(
      &sink, [] { return int64_t{1}; }, [] { return int64_t{1}; }, o);
  Request r;
  r.method = "POST";
  r.target = "/v1/write/metric";
  r.body = "bad line";
  r.plugin_header = "cfg/p1";
  EXPECT_EQ(api.Handle(r).status, 400);
  r.plugin_header = "cfg/p2";
  EXPECT_EQ(api.Handle(r).status, 400);
  EXPECT_EQ(api.stats().inputs.at("cfg").refused_requests, 2u);
  EXPECT_EQ(api.stats().plugins.at("cfg/p1").refused_requests, 1u);
  EXPECT_EQ(api.stats().plugins.at(std::string(kOtherStats)).refused_requests, 1u);
  EXPECT_EQ(api.stats().plugins.count("cfg/p2"), 0u);
}

// ?input=%FF once put invalid UTF-8 into /metrics (Prometheus then refused every scrape).
TEST_F(ApiTest, NamesAreMadeValidUtf8WithoutControlCharacters) {
  ASSERT_EQ(Post("/v1/write/metric?input=a%FFb%0A", "m v=1").status, 200);
  EXPECT_EQ(sink_.batches.back()->input,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(api_.stats().inputs.count("a\xEF\xBF\xBD"
                                      "b\xEF\xBF\xBD"),
            1u);
  ASSERT_EQ(Post("/v1/write/metric", "m v=1", "", "x%C3/p%FF").status, 200);
  EXPECT_EQ(api_.stats().plugins.count("x\xEF\xBF\xBD/p\xEF\xBF\xBD"), 1u);
  ASSERT_EQ(Post("/v1/write/metric?input=" + std::string(300, 'n'), "m v=1").status, 200);
  EXPECT_EQ(sink_.batches.back()->input, std::string(128, 'n'));
}

// /v1/lasterror kept up to 32 MiB per distinct input forever and logged it whole.
TEST_F(ApiTest, LastErrorIsBoundedAndKeptWithTheInputsStats) {
  ASSERT_EQ(Post("/v1/write/metric?input=in1", "m v=1").status, 200);
  const std::string big(1 << 20, 'e');
  ASSERT_EQ(Post("/v1/lasterror", R"({"input":"in1","err_content":")" + big + "\"}").status, 200);
  EXPECT_EQ(api_.stats().inputs.at("in1").last_error.size(), kMaxLastErrorBytes);
  EXPECT_GT(api_.stats().inputs.at("in1").last_error_unix_ns, 0);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(
        Post("/v1/lasterror", R"({"input":"x)" + std::to_string(i) + R"(","err_content":"boom"})")
            .status,
        200);
  }
  EXPECT_EQ(api_.stats().inputs.size(), 2u);  // in1 and kOtherStats
}

// GET /v1/stats with Host: rebind.attacker.example answered 200 (DNS rebinding), and a
// text/plain POST with a foreign Origin wrote points (CSRF).
TEST(ApiScreenTest, HostsAndOriginsOfOtherSitesAreRefused) {
  RecordingSink sink;
  ApiOptions o;
  o.hostname = "Box.example.net";
  o.stats_json = [] { return std::string("{}"); };
  o.allowed_hosts = {"metrics.lan", "*.corp.example"};
  o.allowed_origins = {"https://grafana.corp.example"};
  Api api(
      &sink, [] { return int64_t{1}; }, [] { return int64_t{1}; }, o);
  auto get = [&](std::string_view host) {
    Request r;
    r.method = "GET";
    r.target = "/v1/stats";
    r.host = host;
    return api.Handle(r).status;
  };
  for (std::string_view ok :
       {"", "127.0.0.1:9529", "[::1]:9529", "10.1.2.3", "localhost:9529", "LOCALHOST.",
        "app.localhost", "box", "box.example.net:80", "metrics.lan", "a.corp.example:9529"}) {
    EXPECT_EQ(get(ok), 200) << ok;
  }
  for (std::string_view bad : {"rebind.attacker.example", "rebind.attacker.example:9529",
                               "corp.example", "box.evil", "localhost.evil.com", ":9529"}) {
    EXPECT_EQ(get(bad), 403) << bad;
  }
  EXPECT_EQ(api.stats().forbidden, 6u);
  EXPECT_EQ(api.stats().routes.at("/v1/stats").by_status.at(403), 6u);
  // A network client reaches only the public routes, under whatever name it uses (a container
  // calls the agent by its service name): its Host is not checked.
  Request remote;
  remote.method = "POST";
  remote.target = "/v1/write/metric";
  remote.host = "pythond:9529";
  remote.remote_is_loopback = false;
  remote.body = "m v=1";
  EXPECT_EQ(api.Handle(remote).status, 200);
  sink.batches.clear();

  auto post = [&](std::string_view origin, std::string_view host) {
    Request r;
    r.method = "POST";
    r.target = "/v1/write/metric";
    r.content_type = "text/plain";
    r.host = host;
    r.origin = origin;
    r.body = "m v=1";
    return api.Handle(r).status;
  };
  EXPECT_EQ(post("http://evil.example", "127.0.0.1:9529"), 403);
  EXPECT_EQ(post("null", "127.0.0.1:9529"), 403);
  EXPECT_EQ(post("http://127.0.0.1:9529", "127.0.0.1:9529"), 200);  // the agent's own page
  EXPECT_EQ(post("https://grafana.corp.example", "127.0.0.1:9529"), 200);
  EXPECT_EQ(post("", "127.0.0.1:9529"), 200);  // curl, the SDK: no Origin
  EXPECT_EQ(sink.batches.size(), 3u);
  EXPECT_EQ(api.stats().inputs.count(std::string(kOtherStats)), 0u);  // refused before a write
}

// A 6 KB gzip body that decoded to 4 MiB of tiny lines cost 168 MiB of RSS.
TEST_F(ApiTest, ACompressedBodyMayNotExpandWithoutBound) {
  std::string lines;
  for (int i = 0; i < 700'000; ++i) lines += "m v=1\n";  // 4.2 MB
  uLongf size = compressBound(lines.size());
  std::string zlib(size, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(zlib.data()), &size,
                      reinterpret_cast<const Bytef*>(lines.data()), lines.size(), 9),
            Z_OK);
  zlib.resize(size);
  ASSERT_LT(zlib.size(), 16'384u);
  target_ = "/v1/write/metric";
  Request r;
  r.method = "POST";
  r.target = target_;
  r.content_encoding = "deflate";
  r.body = zlib;
  Answer a = api_.Handle(r);
  EXPECT_EQ(a.status, 413);
  EXPECT_THAT(a.body, HasSubstr("256 times its size"));
  EXPECT_TRUE(sink_.batches.empty());
}

TEST_F(ApiTest, MorePointsThanMaxPointsPerRequestGet413) {
  std::string lines;
  for (int i = 0; i < 100'001; ++i) lines += "m v=1\n";
  Answer a = Post("/v1/write/metric", lines);
  EXPECT_EQ(a.status, 413);
  EXPECT_THAT(a.body, HasSubstr("more than 100000 points"));
  lines.resize(lines.size() - 6);
  EXPECT_EQ(Post("/v1/write/metric", lines).status, 200);
}

TEST_F(ApiTest, EncodingOnlyAsAHeader) {
  Answer a = Post("/v1/write/metric?encoding=gzip", "m v=1");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("Content-Encoding header"));
  EXPECT_TRUE(sink_.batches.empty());
}

TEST(ApiScreenTest, TheRateLimitIsDecidedOnTheHeaders) {
  RecordingSink sink;
  ApiOptions o;
  o.write_rate_limit = 1;
  Api api(
      &sink, [] { return int64_t{1}; }, [] { return int64_t{1}; }, o);
  Request r;
  r.method = "POST";
  r.target = "/v1/write/metric?input=x";
  EXPECT_FALSE(api.Screen(r).has_value());  // the one token
  r.screened = true;
  r.body = "m v=1";
  EXPECT_EQ(api.Handle(r).status, 200);  // not limited twice
  std::optional<Answer> refused = api.Screen(r);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(api.stats().rate_limited, 1u);
  EXPECT_EQ(api.stats().bad_requests, 0u);  // counted as rate_limited, as before
  EXPECT_EQ(api.stats().inputs.at("x").refused_requests, 1u);
}

TEST_F(ApiTest, NonLoopbackClientsReachOnlyPublicApis) {
  loopback_ = false;
  EXPECT_EQ(Post("/v1/write/metric", "m v=1").status, 200);
  EXPECT_EQ(Get("/v1/ping").status, 200);
  Answer a = Post("/v1/lasterror", R"({"input":"in1","err_content":"boom"})");
  EXPECT_EQ(a.status, 403);
  EXPECT_THAT(a.body, HasSubstr("datakit.publicAccessDisabled"));
  EXPECT_EQ(api_.stats().forbidden, 1u);
  loopback_ = true;
  EXPECT_EQ(Post("/v1/lasterror", R"({"input":"in1","err_content":"boom"})").status, 200);
}

TEST_F(ApiTest, EchoReturnsThePointsAsStored) {
  Answer lp = Post("/v1/write/metric?echo=lp", "m,t=x v=1i,s=\"q\" 5");
  ASSERT_EQ(lp.status, 200) << lp.body;
  EXPECT_EQ(lp.body, "m,t=x v=1i,s=\"q\" 5000000000\n");
  Answer json = Post("/v1/write/metric?echo=json&precision=n", "m,t=x v=1i 5");
  EXPECT_EQ(json.body, R"([{"measurement":"m","tags":{"t":"x"},"fields":{"v":1},"time":5}])");
  EXPECT_EQ(Post("/v1/write/metric?echo=yaml", "m v=1").status, 400);
}

TEST_F(ApiTest, RefusalsAreCountedPerInput) {
  EXPECT_EQ(Post("/v1/write/metric?input=a", "m v=1").status, 200);
  EXPECT_EQ(Post("/v1/write/metric?input=a", "bad").status, 400);
  EXPECT_EQ(Post("/v1/write/logging?input=b", "m v=1\nm v=2").status, 200);
  const auto& inputs = api_.stats().inputs;
  EXPECT_EQ(inputs.at("a").requests, 2u);
  EXPECT_EQ(inputs.at("a").refused_requests, 1u);
  EXPECT_EQ(inputs.at("a").points[0], 1u);
  EXPECT_EQ(inputs.at("b").points[1], 2u);
}

TEST(ApiCheckedTest, OnCheckedSeesKeptPointsFindingsAndRefusals) {
  RecordingSink sink;
  ApiOptions options;
  options.global_tags = {{"host", "box"}};
  std::vector<std::string> seen;
  options.on_checked = [&seen](const CheckedWrite& w) {
    std::string text =
        std::string(model::CategoryName(w.category)) + " input=" + std::string(w.input) +
        " plugin=" + std::string(w.plugin_header) + " kept=" + std::to_string(w.kept->size());
    for (const auto& f : w.findings) {
      text += " [" + std::to_string(f.point) + " " +
              std::string(model::CheckReasonName(f.warning.reason)) + "]";
    }
    for (size_t i : w.refused) text += " refused=" + std::to_string(i);
    seen.push_back(text);
  };
  Api api(
      &sink, [] { return int64_t{1}; }, [] { return int64_t{1}; }, options);
  std::string target = "/v1/write/metric?input=in&strict=true";
  std::string body = "ok v=1i\nclash,t=1 t=2i,v=1i\n";
  Request r;
  r.method = "POST";
  r.target = target;
  r.plugin_header = "in/plug";
  r.body = body;
  // `strict` refuses the body, but on_checked still sees what the checks found.
  EXPECT_EQ(api.Handle(r).status, 400);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_THAT(seen[0], HasSubstr("metric input=in plugin=in/plug"));
  EXPECT_THAT(seen[0], HasSubstr("[2 tag_field_conflict]"));
  EXPECT_TRUE(sink.batches.empty());
  target = "/v1/write/logging";
  body = "app message=\"hi\"\n";
  r.target = target;
  r.body = body;
  EXPECT_EQ(api.Handle(r).status, 200);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_THAT(seen[1], HasSubstr("logging input=in plugin=in/plug kept=1 "
                                 "[1 required_key_added]"));
}

TEST_F(ApiTest, RoutesAndPluginsAreCounted) {
  EXPECT_EQ(Post("/v1/write/metric", "cpu v=1i\n", "", "in/plug%2Fx").status, 200);
  EXPECT_EQ(Post("/v1/write/metric", "cpu v=\n", "", "in/plug%2Fx").status, 400);
  EXPECT_EQ(Post("/v1/write/nope", "cpu v=1i\n").status, 400);
  EXPECT_EQ(Get("/random/path").status, 404);
  EXPECT_EQ(Get("/other/path").status, 404);
  const auto& routes = api_.stats().routes;
  ASSERT_TRUE(routes.count("/v1/write/metric"));
  EXPECT_EQ(routes.at("/v1/write/metric").by_status.at(200), 1u);
  EXPECT_EQ(routes.at("/v1/write/metric").by_status.at(400), 1u);
  EXPECT_EQ(routes.at("/v1/write/metric").bytes_in, 16u);
  EXPECT_GT(routes.at("/v1/write/metric").bytes_out, 0u);
  EXPECT_EQ(routes.at("/v1/write/(invalid)").by_status.at(400), 1u);
  EXPECT_EQ(routes.at("(other)").by_status.at(404), 2u);  // unknown paths share one row
  const auto& plugin = api_.stats().plugins.at("in/plug/x");
  EXPECT_EQ(plugin.requests, 2u);
  EXPECT_EQ(plugin.refused_requests, 1u);
  EXPECT_EQ(plugin.points[0], 1u);
}

TEST(ApiRateLimitTest, WritesBeyondTheRateGet429) {
  RecordingSink sink;
  int64_t mono = 1'000'000'000;
  ApiOptions o;
  o.write_rate_limit = 2;
  Api api(
      &sink, [] { return int64_t{1}; }, [&] { return mono; }, o);
  std::string body = "m v=1";
  auto post = [&] {
    Request r;
    r.method = "POST";
    r.target = "/v1/write/metric";
    r.body = body;
    return api.Handle(r).status;
  };
  EXPECT_EQ(post(), 200);
  EXPECT_EQ(post(), 200);
  EXPECT_EQ(post(), 429);
  mono += 500'000'000;  // half a second: one more token
  EXPECT_EQ(post(), 200);
  EXPECT_EQ(api.stats().rate_limited, 1u);
}

TEST(GlobalTagsTest, AddedUnlessThePointHasTheKey) {
  model::Point p{"m", {{"host", "mine"}}, {{"env", std::string("f")}}, 1};
  AddGlobalTags(p, {{"host", "agent"}, {"env", "prod"}, {"dc", "x"}});
  EXPECT_EQ(model::TagsToJson(p.tags), R"({"host":"mine","dc":"x"})");
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
