#include "outputs/prometheus_output.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "model/line_protocol.h"

namespace pythond::outputs {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// A batch from line protocol (the test's points are written the way clients write them).
model::PointBatchPtr Batch(std::string_view lines,
                           model::Category category = model::Category::kMetric) {
  model::ParseResult parsed = model::ParseLineProtocol(lines, {});
  EXPECT_TRUE(parsed.errors.empty()) << model::FormatParseErrors(parsed.errors, false);
  auto batch = std::make_shared<model::PointBatch>();
  batch->category = category;
  batch->points = std::move(parsed.points);
  return batch;
}

class PrometheusOutputTest : public ::testing::Test {
 protected:
  PrometheusOutputTest() { config_.type = "prometheus"; }

  std::unique_ptr<PrometheusOutput> Make(size_t max_series = PrometheusOutput::kDefaultMaxSeries) {
    return std::make_unique<PrometheusOutput>(
        config_, [this] { return now_ns_; }, max_series);
  }

  void Write(PrometheusOutput& out, std::string_view lines,
             model::Category category = model::Category::kMetric) {
    ASSERT_TRUE(out.Write(Batch(lines, category)).ok());
  }

  // A logging, an object and a metric point through a new output; its page.
  std::string RenderOneOfEachCategory() {
    auto out = Make();
    Write(*out, "app n=1i 1\n", model::Category::kLogging);
    Write(*out, "host n=2i 1\n", model::Category::kObject);
    Write(*out, "cpu n=3i 1\n", model::Category::kMetric);
    return out->Render(now_ns_);
  }

  config::OutputConfig config_;
  int64_t now_ns_ = 1'700'000'000 * kSecond;
};

std::string MetricName(std::string_view text) {
  std::string out;
  AppendPrometheusMetricName(out, text);
  return out;
}

std::string LabelName(std::string_view text) {
  std::string out;
  AppendPrometheusLabelName(out, text);
  return out;
}

std::string LabelValue(std::string_view text) {
  std::string out;
  AppendPrometheusLabelValue(out, text);
  return out;
}

std::string Value(double v) {
  std::string out;
  AppendPrometheusValue(out, v);
  return out;
}

TEST(PrometheusNamingTest, MetricNames) {
  EXPECT_EQ(MetricName("cpu_usage"), "cpu_usage");
  EXPECT_EQ(MetricName("cpu.usage-total"), "cpu_usage_total");
  EXPECT_EQ(MetricName("ns:metric"), "ns:metric");
  EXPECT_EQ(MetricName("1m_load"), "_1m_load");
  EXPECT_EQ(MetricName("a b/c"), "a_b_c");
  EXPECT_EQ(MetricName("temp\xC3\xA9rature"), "temp__rature");  // one '_' per UTF-8 byte
  EXPECT_EQ(MetricName(""), "_");
}

TEST(PrometheusNamingTest, LabelNames) {
  EXPECT_EQ(LabelName("host"), "host");
  EXPECT_EQ(LabelName("host-name"), "host_name");
  EXPECT_EQ(LabelName("a:b"), "a_b");  // no ':' in label names
  EXPECT_EQ(LabelName("9lives"), "_9lives");
  EXPECT_EQ(LabelName("__name__"), "_name__");  // "__" is reserved
  EXPECT_EQ(LabelName("..x"), "_x");
  EXPECT_EQ(LabelName("_x"), "_x");
  EXPECT_EQ(LabelName(""), "_");
}

TEST(PrometheusNamingTest, LabelValues) {
  EXPECT_EQ(LabelValue("plain"), "plain");
  EXPECT_EQ(LabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(LabelValue("tab\tok"), "tab\tok");
  EXPECT_EQ(LabelValue("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(LabelValue("bad\xFFx"), "bad\xEF\xBF\xBDx");
  EXPECT_EQ(LabelValue("cut\xE2\x82"), "cut\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(LabelValue("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(LabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
}

TEST(PrometheusNamingTest, Values) {
  EXPECT_EQ(Value(0.5), "0.5");
  EXPECT_EQ(Value(3), "3");
  EXPECT_EQ(Value(-2.25), "-2.25");
  EXPECT_EQ(Value(1e21), "1e+21");
  EXPECT_EQ(Value(0.1), "0.1");
  EXPECT_EQ(Value(std::nan("")), "NaN");
  EXPECT_EQ(Value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST_F(PrometheusOutputTest, RendersNumericFieldsAsGauges) {
  auto out = Make();
  Write(*out,
        "cpu,host=a,cpu=cpu-total usage=0.5,n=3i,u=18446744073709551615u,up=true,down=false,"
        "msg=\"hi\",raw=\"aGk=\"b,list=[1i,2i] 1700000000000000000\n");
  EXPECT_EQ(out->Render(now_ns_),
            "# TYPE cpu_down gauge\n"
            "cpu_down{cpu=\"cpu-total\",host=\"a\"} 0\n"
            "# TYPE cpu_n gauge\n"
            "cpu_n{cpu=\"cpu-total\",host=\"a\"} 3\n"
            "# TYPE cpu_u gauge\n"
            // max uint64 as the nearest double, 2^64
            "cpu_u{cpu=\"cpu-total\",host=\"a\"} 18446744073709551616\n"
            "# TYPE cpu_up gauge\n"
            "cpu_up{cpu=\"cpu-total\",host=\"a\"} 1\n"
            "# TYPE cpu_usage gauge\n"
            "cpu_usage{cpu=\"cpu-total\",host=\"a\"} 0.5\n");
  PrometheusStats stats = out->Stats();
  EXPECT_EQ(stats.series, 5u);
  EXPECT_EQ(stats.samples_written, 5u);
  EXPECT_EQ(stats.dropped_series, 0u);
}

TEST_F(PrometheusOutputTest, SanitizesNamesAndEscapesLabels) {
  auto out = Make();
  Write(*out, "disk.io,dev\\ name=sda\\,1,__meta=x,path=C:\\\\tmp read-bytes=1i,2xx=2i 1\n");
  // Tag values come out of line protocol unescaped ("sda,1", "C:\\tmp"); the Prometheus page
  // escapes the backslash again. "__meta" loses its reserved "__".
  EXPECT_EQ(out->Render(now_ns_),
            "# TYPE disk_io_2xx gauge\n"
            "disk_io_2xx{_meta=\"x\",dev_name=\"sda,1\",path=\"C:\\\\tmp\"} 2\n"
            "# TYPE disk_io_read_bytes gauge\n"
            "disk_io_read_bytes{_meta=\"x\",dev_name=\"sda,1\",path=\"C:\\\\tmp\"} 1\n");
}

TEST_F(PrometheusOutputTest, NoLabelsAndLabelsAreDistinctSeriesKeptTogether) {
  auto out = Make();
  Write(*out,
        "a v=1\n"
        "a,k=x v=2\n"
        "a_b v=3\n"
        "a,k=w v=4\n");
  // All "a_v" samples stay under one TYPE line even though "a_v{" sorts after "a_v_...".
  Write(*out, "a v_x=5\n");
  EXPECT_EQ(out->Render(now_ns_),
            "# TYPE a_b_v gauge\n"
            "a_b_v 3\n"
            "# TYPE a_v gauge\n"
            "a_v 1\n"
            "a_v{k=\"w\"} 4\n"
            "a_v{k=\"x\"} 2\n"
            "# TYPE a_v_x gauge\n"
            "a_v_x 5\n");
}

TEST_F(PrometheusOutputTest, EmptyTagValuesAreLeftOutAndCollidingLabelsKeepTheFirst) {
  auto out = Make();
  model::Point point;
  point.measurement = "m";
  point.tags = {{"a.b", "first"}, {"a_b", "second"}, {"e", ""}};
  point.fields = {{"f", int64_t{1}}};
  point.time_ns = 1;
  auto batch = std::make_shared<model::PointBatch>();
  batch->points.push_back(point);
  ASSERT_TRUE(out->Write(batch).ok());
  EXPECT_EQ(out->Render(now_ns_), "# TYPE m_f gauge\nm_f{a_b=\"first\"} 1\n");
}

TEST_F(PrometheusOutputTest, LatestValueWinsByPointTime) {
  auto out = Make();
  Write(*out, "cpu,host=a usage=1 2000\n");
  Write(*out, "cpu,host=a usage=2 3000\n");
  EXPECT_EQ(out->Render(now_ns_), "# TYPE cpu_usage gauge\ncpu_usage{host=\"a\"} 2\n");

  // An older point arriving later does not replace the newer one.
  Write(*out, "cpu,host=a usage=9 2500\n");
  EXPECT_EQ(out->Render(now_ns_), "# TYPE cpu_usage gauge\ncpu_usage{host=\"a\"} 2\n");
  EXPECT_EQ(out->Stats().samples_out_of_order, 1u);

  // An equal time replaces (the later write of the same instant wins), as does a newer one
  // within the same batch.
  Write(*out, "cpu,host=a usage=3 3000\ncpu,host=a usage=4 4000\ncpu,host=a usage=0 3500\n");
  EXPECT_EQ(out->Render(now_ns_), "# TYPE cpu_usage gauge\ncpu_usage{host=\"a\"} 4\n");
  PrometheusStats stats = out->Stats();
  EXPECT_EQ(stats.series, 1u);
  EXPECT_EQ(stats.samples_written, 4u);
  EXPECT_EQ(stats.samples_out_of_order, 2u);
}

TEST_F(PrometheusOutputTest, TypeChangesKeepTheSeries) {
  auto out = Make();
  Write(*out, "m v=1i 1\n");
  Write(*out, "m v=2u 2\n");
  Write(*out, "m v=true 3\n");
  Write(*out, "m v=\"text\" 4\n");  // skipped: the gauge keeps its last number
  Write(*out, "m v=4.5 5\n");
  EXPECT_EQ(out->Render(now_ns_), "# TYPE m_v gauge\nm_v 4.5\n");
  EXPECT_EQ(out->Stats().samples_written, 4u);
}

TEST_F(PrometheusOutputTest, PointsWithoutNumericFieldsAddNothing) {
  auto out = Make();
  Write(*out, "log msg=\"x\",b=\"aGk=\"b,a=[\"x\"] 1\n");
  EXPECT_EQ(out->Render(now_ns_), "");
  EXPECT_EQ(out->Stats().series, 0u);
}

TEST_F(PrometheusOutputTest, TagOrderDoesNotMatter) {
  auto out = Make();
  Write(*out, "m,b=2,a=1 v=1 1\n");
  Write(*out, "m,a=1,b=2 v=2 2\n");
  EXPECT_EQ(out->Render(now_ns_), "# TYPE m_v gauge\nm_v{a=\"1\",b=\"2\"} 2\n");
}

TEST_F(PrometheusOutputTest, OnlyMetricCategoryByDefault) {
  EXPECT_EQ(RenderOneOfEachCategory(), "# TYPE cpu_n gauge\ncpu_n 3\n");
}

TEST_F(PrometheusOutputTest, CategoriesFilterReplacesTheDefault) {
  config_.categories = {"logging", "object"};
  EXPECT_EQ(RenderOneOfEachCategory(),
            "# TYPE app_n gauge\napp_n 1\n# TYPE host_n gauge\nhost_n 2\n");
}

TEST_F(PrometheusOutputTest, MeasurementsFilterExactAndPrefix) {
  config_.measurements = {"cpu*", "mem"};
  auto out = Make();
  Write(*out,
        "cpu v=1 1\n"
        "cpu_core v=2 1\n"
        "mem v=3 1\n"
        "memory v=4 1\n"
        "disk v=5 1\n");
  EXPECT_EQ(out->Render(now_ns_),
            "# TYPE cpu_core_v gauge\ncpu_core_v 2\n"
            "# TYPE cpu_v gauge\ncpu_v 1\n"
            "# TYPE mem_v gauge\nmem_v 3\n");
}

TEST_F(PrometheusOutputTest, SeriesExpireWhenNotUpdated) {
  config_.prometheus.expire_ns = 60 * kSecond;
  auto out = Make();
  Write(*out, "m,k=old v=1 1\nm,k=kept v=1 1\n");
  now_ns_ += 30 * kSecond;
  Write(*out, "m,k=kept v=2 2\n");
  // Expiry is by the clock at Write time, not the point's time (1 ns after the epoch here).
  EXPECT_EQ(out->Render(now_ns_ + 30 * kSecond - 1),
            "# TYPE m_v gauge\nm_v{k=\"kept\"} 2\nm_v{k=\"old\"} 1\n");
  EXPECT_EQ(out->Render(now_ns_ + 30 * kSecond), "# TYPE m_v gauge\nm_v{k=\"kept\"} 2\n");
  EXPECT_EQ(out->Render(now_ns_ + 60 * kSecond), "");
  PrometheusStats stats = out->Stats();
  EXPECT_EQ(stats.series, 0u);
  EXPECT_EQ(stats.expired_series, 2u);
}

TEST_F(PrometheusOutputTest, ExpiredSeriesTakesAnOlderPointAsNew) {
  config_.prometheus.expire_ns = 60 * kSecond;
  auto out = Make();
  Write(*out, "m v=2 2000\n");
  now_ns_ += 60 * kSecond;
  Write(*out, "m v=1 1000\n");  // the kept sample has expired though no Render removed it
  EXPECT_EQ(out->Render(now_ns_), "# TYPE m_v gauge\nm_v 1\n");
  EXPECT_EQ(out->Stats().samples_out_of_order, 0u);
}

TEST_F(PrometheusOutputTest, SeriesCapDropsNewSeriesOnly) {
  config_.prometheus.expire_ns = 60 * kSecond;
  auto out = Make(/*max_series=*/2);
  Write(*out, "m,k=a v=1 1\nm,k=b v=1 1\nm,k=c v=1 1\n");
  Write(*out, "m,k=a v=2 2\nm,k=d v=2 2\n");
  EXPECT_EQ(out->Render(now_ns_), "# TYPE m_v gauge\nm_v{k=\"a\"} 2\nm_v{k=\"b\"} 1\n");
  PrometheusStats stats = out->Stats();
  EXPECT_EQ(stats.series, 2u);
  EXPECT_EQ(stats.dropped_series, 2u);
  EXPECT_EQ(stats.samples_written, 3u);

  // A full table makes room by expiring, even when nobody renders.
  now_ns_ += 30 * kSecond;
  Write(*out, "m,k=a v=3 3\n");
  now_ns_ += 30 * kSecond;  // "b" is now 60 s old, "a" 30 s
  Write(*out, "m,k=e v=3 3\n");
  stats = out->Stats();
  EXPECT_EQ(stats.dropped_series, 2u);
  EXPECT_EQ(stats.expired_series, 1u);
  EXPECT_EQ(out->Render(now_ns_), "# TYPE m_v gauge\nm_v{k=\"a\"} 3\nm_v{k=\"e\"} 3\n");
}

TEST_F(PrometheusOutputTest, RenderIsDeterministic) {
  const std::string lines[] = {
      "z,host=b v=1 1\n",       "a,host=b v=2 1\n",        "a,host=a v=3 1\n",
      "m,x=1,y=2 v=4,w=5i 1\n", "a,host=a,zone=z v=6 1\n", "a v=7 1\n",
  };
  auto forward = Make();
  auto backward = Make();
  for (const std::string& l : lines) Write(*forward, l);
  for (auto it = std::rbegin(lines); it != std::rend(lines); ++it) Write(*backward, *it);
  const std::string text = forward->Render(now_ns_);
  EXPECT_EQ(text, backward->Render(now_ns_));
  EXPECT_EQ(text, forward->Render(now_ns_));
  EXPECT_EQ(text,
            "# TYPE a_v gauge\n"
            "a_v 7\n"
            "a_v{host=\"a\",zone=\"z\"} 6\n"
            "a_v{host=\"a\"} 3\n"
            "a_v{host=\"b\"} 2\n"
            "# TYPE m_v gauge\n"
            "m_v{x=\"1\",y=\"2\"} 4\n"
            "# TYPE m_w gauge\n"
            "m_w{x=\"1\",y=\"2\"} 5\n"
            "# TYPE z_v gauge\n"
            "z_v{host=\"b\"} 1\n");
}

TEST_F(PrometheusOutputTest, NameComesFromConfig) {
  EXPECT_EQ(Make()->name(), "prometheus");
  config_.name = "scrape";
  EXPECT_EQ(Make()->name(), "scrape");
}

// Render from another thread while the event loop writes (meaningful under TSan): every page is
// well formed and the last one shows the last value.
TEST_F(PrometheusOutputTest, RenderWhileWriting) {
  auto out = Make();
  constexpr int kWrites = 2000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 1; i <= kWrites; ++i) {
      std::string lines = "m,k=" + std::to_string(i % 50) + " v=" + std::to_string(i) + " " +
                          std::to_string(i) + "\n";
      EXPECT_TRUE(out->Write(Batch(lines)).ok());
    }
    done = true;
  });
  while (!done) {
    const std::string page = out->Render(now_ns_);
    ASSERT_TRUE(page.empty() || page.starts_with("# TYPE m_v gauge\n")) << page;
    ASSERT_TRUE(page.empty() || page.ends_with("\n"));
  }
  writer.join();
  EXPECT_NE(out->Render(now_ns_).find("m_v{k=\"0\"} 2000\n"), std::string::npos);
  EXPECT_EQ(out->Stats().series, 50u);
}

}  // namespace
}  // namespace pythond::outputs
