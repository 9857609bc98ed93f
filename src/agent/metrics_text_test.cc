#include "agent/metrics_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pythond::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTextTest, FamiliesLabelsAndEscaping) {
  std::vector<runner::InputStats> inputs(1);
  inputs[0].name = "in \"quoted\"";
  runner::PluginStats p;
  p.name = "p\\1";
  p.state = "failing";
  p.runs = 7;
  p.failures = 2;
  p.duration_s.p99 = 0.25;
  inputs[0].plugins.push_back(p);
  runner::WorkerStats w;
  w.label = "in";
  w.state = "running";
  w.restarts = 3;
  inputs[0].workers.push_back(w);
  ingest::ApiStats api;
  api.points_accepted[0] = 42;
  api.plugins["in \"quoted\"/p\\1"].points[0] = 40;
  api.routes["/v1/write/metric"].by_status[200] = 5;
  api.routes["/v1/write/metric"].by_status[400] = 1;
  StatsSnapshot s;
  s.version = "0.1.0";
  s.inputs = &inputs;
  s.api = &api;
  std::string text = MetricsText(s);
  EXPECT_THAT(text, HasSubstr("# HELP pythond_plugin_runs_total "));
  EXPECT_THAT(text, HasSubstr("# TYPE pythond_plugin_runs_total counter\n"
                              "pythond_plugin_runs_total{input=\"in \\\"quoted\\\"\","
                              "plugin=\"p\\\\1\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("pythond_plugin_state{input=\"in \\\"quoted\\\"\",plugin=\"p\\\\1\","
                              "state=\"failing\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("state=\"running\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("pythond_plugin_duration_p99_seconds{input=\"in \\\"quoted\\\"\","
                              "plugin=\"p\\\\1\"} 0.25\n"));
  EXPECT_THAT(text, HasSubstr("category=\"metric\"} 40\n"));
  EXPECT_THAT(text, HasSubstr("pythond_ingest_points_total{category=\"metric\"} 42\n"));
  EXPECT_THAT(
      text, HasSubstr("pythond_http_requests_total{route=\"/v1/write/metric\",code=\"400\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("pythond_worker_restarts_total{input=\"in \\\"quoted\\\"\",worker=\"in\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pythond_build_info{version=\"0.1.0\"} 1\n"));
  // Sections without data leave their families out (no HELP without samples).
  EXPECT_THAT(text, Not(HasSubstr("pythond_store_")));
  EXPECT_THAT(text, Not(HasSubstr("pythond_git_")));
  // Each family's HELP/TYPE appears once.
  size_t first = text.find("# TYPE pythond_plugin_state gauge");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(text.find("# TYPE pythond_plugin_state gauge", first + 1), std::string::npos);
}

TEST(MetricsTextTest, LabelEscapes) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace pythond::agent
