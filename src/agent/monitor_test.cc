#include "agent/monitor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/strings.h"
#include "temp_dir.h"

namespace pythond::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1'700'000'100'000'000'000;  // the agent's clock in the canned document
constexpr int64_t kSecond = 1'000'000'000;

// A /v1/stats document as the agent writes it (docs/API.md), with every section. Times are
// written as {now}, or {now-3s} / {now+7s} relative to it.
constexpr const char* kStatsTemplate = R"json({
 "agent":{"version":"0.1.0","pid":{pid},"now_unix_ns":{now},"started_unix_ns":{started},
          "uptime_s":3723.4,"rss_bytes":8278016,"rss_peak_bytes":8278016},
 "inputs":[
  {"name":"web","file":"/r/conf.d/p.conf","line":1,"isolation":"input","loaded_unix_ns":1,
   "problems":[],
   "workers":[{"label":"web","state":"running","pid":7519,"restarts":1,"crash_loop":false,
     "last_exit":"","last_recycle":"","rss_bytes":24576000,"rss_peak_bytes":24727552,
     "started_unix_ns":1,"python":"3.11.2","executable":"/usr/bin/python3",
     "import_errors":[{"module":"bad","file":"/r/python.d/web/bad.py",
       "error":"SyntaxError: invalid syntax (bad.py, line 3)",
       "traceback":"  File \"/r/python.d/web/bad.py\", line 3\n    def (\n        ^\nSyntaxError: invalid syntax\n",
       "hint":""}]}],
   "plugins":[
    {"name":"healthy","module":"a","class":"Healthy","file":"/r/a.py","repo":"","state":"running",
     "worker":"web","interval_s":10,"timeout_s":10,"offset_s":0.048,"runs":42,"failures":0,
     "timeouts":0,"skipped":0,"last_duration_s":0.0123,
     "duration_s":{"p50":0.01,"p99":0.0456,"max":0.05},
     "lateness_ms":{"p50":0.5,"p99":0.9,"max":0.9},
     "last_run_unix_ns":{now-3s},"next_run_unix_ns":{now+7s},
     "last_error":"","last_traceback":"","last_hint":"","last_error_unix_ns":0,"warnings":[]},
    {"name":"boom","module":"b","class":"Boom","file":"/r/b.py","repo":"","state":"failing",
     "worker":"web","interval_s":1,"timeout_s":1,"offset_s":0.5,"runs":7,"failures":7,
     "timeouts":0,"skipped":2,"last_duration_s":0.002,
     "duration_s":{"p50":0.002,"p99":0.003,"max":0.004},
     "lateness_ms":{"p50":0.5,"p99":0.9,"max":0.9},
     "last_run_unix_ns":{now-65s},"next_run_unix_ns":{now+0.5s},
     "last_error":"{boom}\nsecond line of the error",
     "last_traceback":"Traceback (most recent call last):\n  File \"/r/b.py\", line 9, in run\n    raise RuntimeError('boom')\nRuntimeError: boom\n",
     "last_hint":"","last_error_unix_ns":{now-2s},"warnings":[]}],
   "points":{"metric":1200}},
  {"name":"idle-input","file":"/r/conf.d/q.conf","line":1,"isolation":"input","loaded_unix_ns":1,
   "problems":["dirs entry 'gone' not found"],
   "workers":[{"label":"idle-input","state":"idle","pid":0,"restarts":0,"crash_loop":false,
     "last_exit":"","last_recycle":"","rss_bytes":0,"rss_peak_bytes":0,"started_unix_ns":0,
     "python":"","executable":"","import_errors":[]}],
   "plugins":[]}],
 "ingest":{"requests":60,"write_requests":50,"bad_requests":1,"busy":0,"rate_limited":0,
   "forbidden":0,
   "points":{"metric":{metric},"network":0,"keyevent":0,"object":0,"custom_object":0,
             "logging":{logging},"tracing":0,"rum":0,"security":0,"profiling":0},
   "by_input":{}},
 "outputs":[
  {"name":"vm","type":"influxdb","target":"http://127.0.0.1:8428/write","state":"retrying",
   "queue":{"records":3,"bytes":2048,"appended":10,"consumed":7,"dropped_records":0,
            "corrupt_records":0,"torn_tail_bytes":0,"fsyncs":10,"append_errors":0,"last_error":""},
   "points_in":100,"points_filtered":0,"points_sent":97,"batches_sent":7,"retries":4,
   "deadletter_batches":1,"deadletter_points":5,"deadletter_files_removed":0,
   "last_error":"connection refused","last_error_unix_ns":1,"last_sent_unix_ns":1},
  {"name":"prom","type":"prometheus","path":"/metrics","series":12,"samples_written":340,
   "samples_out_of_order":0,"dropped_series":0,"expired_series":0}],
 "reload":{"reloads":1,"rejected":1,"last_unix_ns":1,"last_trigger":"conf.d/p.conf changed",
   "last_ok":false,"last_result":"conf.d/p.conf:3: expected a string","pending_restart":[]},
 "git_repos":[{"name":"conf","url":"https://git.example.com/ops/conf.git","branch":"master",
   "head":"5d6e7f8a9b0c1d2e","head_summary":"raise the interval",
   "last_pull_unix_ns":{now-30s},"last_change_unix_ns":1,"last_ok":true,"last_error":"",
   "rejected_commit":"","pulls":42,"failures":3,"changes":2}],
 "store":{"rows_written":1240,"transactions":50,"write_errors":0,"rows_expired":0,
   "batches_dropped":0,"queued_bytes":0,"last_error":""}})json";

// kStatsTemplate with its placeholders filled. `boom` is JSON string content (escapes allowed).
std::string StatsJson(int64_t now = kNow, uint64_t metric_points = 1200,
                      uint64_t logging_points = 40, int pid = 7431,
                      const std::string& boom = "RuntimeError: boom") {
  std::string s = kStatsTemplate;
  const std::vector<std::pair<std::string, int64_t>> times_ms = {
      {"{now-65s}", -65000}, {"{now-30s}", -30000}, {"{now-3s}", -3000}, {"{now-2s}", -2000},
      {"{now+0.5s}", 500},   {"{now+7s}", 7000},    {"{now}", 0}};
  for (const auto& [text, offset_ms] : times_ms) {
    s = ReplaceAll(s, text, std::to_string(now + offset_ms * 1'000'000));
  }
  s = ReplaceAll(s, "{started}", std::to_string(kNow - 3723 * kSecond));  // one process
  s = ReplaceAll(s, "{pid}", std::to_string(pid));
  s = ReplaceAll(s, "{metric}", std::to_string(metric_points));
  s = ReplaceAll(s, "{logging}", std::to_string(logging_points));
  return ReplaceAll(s, "{boom}", boom);
}

StatsView Parse(const std::string& json) {
  auto v = ParseStats(json);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? *v : StatsView{};
}

std::vector<std::string> Lines(const std::string& frame) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < frame.size()) {
    size_t nl = frame.find('\n', start);
    if (nl == std::string::npos) nl = frame.size();
    out.push_back(frame.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// The line that contains `needle` ("" when none does).
std::string LineWith(const std::string& frame, const std::string& needle) {
  for (const std::string& l : Lines(frame)) {
    if (l.find(needle) != std::string::npos) return l;
  }
  return "";
}

std::string StripSgr(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      size_t m = s.find('m', i);
      if (m != std::string::npos) {
        i = m;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// `s` with every run of spaces made one space.
std::string Collapse(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  return out;
}

// The first line of `frame` that starts with `prefix` once its spaces are collapsed (collapsed).
std::string RowStartingWith(const std::string& frame, const std::string& prefix) {
  for (const std::string& l : Lines(frame)) {
    if (Collapse(l).starts_with(prefix)) return Collapse(l);
  }
  return "";
}

RenderOptions Options(size_t width) {
  RenderOptions o;
  o.width = width;
  o.address = "127.0.0.1:9529";
  o.refreshed_at = "14:03:07";
  o.refresh = "1s";
  return o;
}

TEST(ParseStatsTest, ReadsEverySection) {
  StatsView s = Parse(StatsJson());
  EXPECT_EQ(s.version, "0.1.0");
  EXPECT_EQ(s.pid, 7431);
  EXPECT_EQ(s.now_unix_ns, kNow);
  EXPECT_EQ(s.rss_bytes, 8278016u);
  ASSERT_EQ(s.inputs.size(), 2u);
  ASSERT_EQ(s.inputs[0].plugins.size(), 2u);
  const MonitorPlugin& boom = s.inputs[0].plugins[1];
  EXPECT_EQ(boom.state, "failing");
  EXPECT_EQ(boom.runs, 7u);
  EXPECT_EQ(boom.skipped, 2u);
  EXPECT_DOUBLE_EQ(boom.p99_duration_s, 0.003);
  EXPECT_THAT(boom.last_traceback, HasSubstr("in run"));
  ASSERT_EQ(s.inputs[0].workers.size(), 1u);
  EXPECT_EQ(s.inputs[0].workers[0].pid, 7519);
  ASSERT_EQ(s.inputs[0].workers[0].import_errors.size(), 1u);
  EXPECT_EQ(s.inputs[1].problems.size(), 1u);
  ASSERT_TRUE(s.ingest.has_value());
  ASSERT_EQ(s.ingest->points.size(), 10u);
  EXPECT_EQ(s.ingest->points[0].first, "metric");
  EXPECT_EQ(s.ingest->points[0].second, 1200u);
  ASSERT_TRUE(s.outputs.has_value());
  ASSERT_EQ(s.outputs->size(), 2u);
  EXPECT_TRUE((*s.outputs)[0].has_queue);
  EXPECT_EQ((*s.outputs)[0].queue_bytes, 2048u);
  EXPECT_FALSE((*s.outputs)[1].has_queue);
  EXPECT_EQ((*s.outputs)[1].target, "/metrics");
  ASSERT_TRUE(s.git_repos.has_value());
  EXPECT_EQ((*s.git_repos)[0].failures, 3u);
  ASSERT_TRUE(s.store.has_value());
  EXPECT_EQ(s.store->rows_written, 1240u);
  ASSERT_TRUE(s.reload.has_value());
  EXPECT_FALSE(s.reload->last_ok);
}

TEST(ParseStatsTest, RejectsWhatIsNotTheStats) {
  EXPECT_FALSE(ParseStats("not json").ok());
  EXPECT_FALSE(ParseStats("[1,2]").ok());
  EXPECT_FALSE(ParseStats(R"({"status":"ok"})").ok());
  EXPECT_FALSE(ParseStats(R"({"agent":3})").ok());
}

TEST(RenderMonitorTest, ShowsEverySection) {
  StatsView s = Parse(StatsJson());
  std::string frame = RenderMonitor(s, nullptr, Options(160));
  EXPECT_THAT(frame, Not(HasSubstr("\x1b")));
  std::string header = Lines(frame)[0];
  EXPECT_THAT(header, HasSubstr("pythond 0.1.0"));
  EXPECT_THAT(header, HasSubstr("pid 7431"));
  EXPECT_THAT(header, HasSubstr("up 1h2m3s"));
  EXPECT_THAT(header, HasSubstr("rss 7.9 MiB"));
  EXPECT_THAT(header, HasSubstr("listen 127.0.0.1:9529"));
  EXPECT_THAT(header, HasSubstr("refreshed 14:03:07"));
  EXPECT_THAT(frame, HasSubstr("2 inputs, 2 plugins: 1 running, 1 failing"));

  std::string healthy = LineWith(frame, "healthy");
  EXPECT_THAT(healthy, HasSubstr("healthy  running"));  // room enough: two spaces apart
  EXPECT_THAT(healthy, HasSubstr("running"));
  EXPECT_THAT(healthy, HasSubstr("42"));
  EXPECT_THAT(healthy, HasSubstr("12ms"));    // last duration
  EXPECT_THAT(healthy, HasSubstr("46ms"));    // p99
  EXPECT_THAT(healthy, HasSubstr("3s ago"));  // last run
  EXPECT_THAT(healthy, HasSubstr("in 7s"));   // next run
  EXPECT_THAT(healthy, HasSubstr("7519"));    // worker pid
  EXPECT_THAT(healthy, HasSubstr("23 MiB"));  // worker RSS
  std::string boom = LineWith(frame, "boom ");
  EXPECT_THAT(boom, HasSubstr("failing"));
  EXPECT_THAT(boom, HasSubstr("1m5s ago"));
  EXPECT_THAT(boom, HasSubstr("in <1s"));
  EXPECT_THAT(LineWith(frame, "idle-input"), HasSubstr("idle"));

  EXPECT_THAT(frame, HasSubstr("bad requests 1"));
  EXPECT_THAT(LineWith(frame, "category"), HasSubstr("logging"));
  EXPECT_THAT(LineWith(frame, "category"), Not(HasSubstr("network")));  // zero: not shown
  EXPECT_THAT(LineWith(frame, "points  "), HasSubstr("1240"));          // total

  std::string vm = LineWith(frame, "http://127.0.0.1:8428/write");
  EXPECT_THAT(vm, HasSubstr("retrying"));
  EXPECT_THAT(vm, HasSubstr("2.0 KiB"));
  EXPECT_THAT(vm, HasSubstr("connection refused"));
  EXPECT_THAT(LineWith(frame, "prometheus"), HasSubstr("/metrics (12 series)"));
  EXPECT_THAT(frame, HasSubstr("rows written 1240"));
  std::string repo = LineWith(frame, "raise the interval");
  EXPECT_THAT(repo, HasSubstr("5d6e7f8 "));
  EXPECT_THAT(repo, HasSubstr("30s ago"));

  EXPECT_THAT(frame, HasSubstr("web/boom  failing  2s ago  RuntimeError: boom\n"));
  EXPECT_THAT(frame, Not(HasSubstr("second line of the error")));
  EXPECT_THAT(frame, HasSubstr("import bad  SyntaxError: invalid syntax (bad.py, line 3)"));
  EXPECT_THAT(frame, HasSubstr("reload rejected  conf.d/p.conf:3: expected a string"));
  EXPECT_THAT(frame, HasSubstr("dirs entry 'gone' not found"));
  EXPECT_THAT(frame, Not(HasSubstr("Traceback")));
  EXPECT_THAT(frame, Not(HasSubstr("keys:")));  // not interactive
}

TEST(RenderMonitorTest, TracebacksOnRequest) {
  StatsView s = Parse(StatsJson());
  RenderOptions o = Options(160);
  o.interactive = true;
  std::string hidden = RenderMonitor(s, nullptr, o);
  EXPECT_THAT(hidden, HasSubstr("(e: show tracebacks)"));
  EXPECT_THAT(hidden, HasSubstr("keys: q quit  e show tracebacks  r refresh now  (every 1s)"));
  EXPECT_THAT(hidden, Not(HasSubstr("raise RuntimeError")));
  o.tracebacks = true;
  std::string shown = RenderMonitor(s, nullptr, o);
  EXPECT_THAT(shown, HasSubstr("(e: hide tracebacks)"));
  EXPECT_THAT(shown, HasSubstr("\n    Traceback (most recent call last):\n"));
  EXPECT_THAT(shown, HasSubstr("\n        raise RuntimeError('boom')\n"));
  EXPECT_THAT(shown, HasSubstr("\n      File \"/r/python.d/web/bad.py\", line 3\n"));
}

TEST(RenderMonitorTest, EveryLineFitsTheWidth) {
  StatsView s = Parse(
      StatsJson(kNow, 1200, 40, 7431, "RuntimeError: " + std::string(300, 'x') + " 中文 tail"));
  for (size_t width : {20u, 40u, 60u, 80u, 100u, 120u, 160u, 250u}) {
    for (bool color : {false, true}) {
      RenderOptions o = Options(width);
      o.color = color;
      o.interactive = true;
      o.tracebacks = true;
      std::string frame = RenderMonitor(s, nullptr, o);
      for (const std::string& line : Lines(frame)) {
        EXPECT_LE(DisplayWidth(StripSgr(line)), width) << width << ": " << line;
      }
    }
  }
}

TEST(RenderMonitorTest, NarrowTerminalsCutCellsWithAnEllipsis) {
  StatsView s = Parse(StatsJson(kNow, 1200, 40, 7431, "RuntimeError: " + std::string(300, 'x')));
  std::string frame = RenderMonitor(s, nullptr, Options(80));
  // Short headers first, then text columns shrink.
  std::string header = LineWith(frame, "plugin");
  EXPECT_THAT(header, HasSubstr("fail"));
  EXPECT_THAT(header, Not(HasSubstr("failures")));
  std::string error = LineWith(frame, "web/boom");
  EXPECT_EQ(DisplayWidth(error), 80u);
  EXPECT_THAT(error, HasSubstr("xxx…"));
  EXPECT_THAT(frame, Not(HasSubstr(std::string(300, 'x'))));
  // A long output target is cut, and optional columns left out; the counts stay whole.
  std::string vm = LineWith(frame, "vm ");
  EXPECT_THAT(vm, HasSubstr("http://127.0.0.…"));
  EXPECT_THAT(vm, HasSubstr("retrying     3   97    1 connection"));
  EXPECT_THAT(vm, Not(HasSubstr("KiB")));
}

TEST(RenderMonitorTest, NarrowTerminalsLeaveOptionalColumnsOutBeforeCuttingNames) {
  StatsView s = Parse(StatsJson());
  std::string wide = RenderMonitor(s, nullptr, Options(160));
  EXPECT_EQ(RowStartingWith(wide, "input plugin "),
            "input plugin state runs failures timeouts skipped duration p99 last run next run "
            "pid rss restarts");
  std::string narrow = RenderMonitor(s, nullptr, Options(60));
  EXPECT_EQ(RowStartingWith(narrow, "input plugin "), "input plugin state runs fail dur last next");
  EXPECT_EQ(RowStartingWith(narrow, "web boom "), "web boom failing 7 7 2.0ms 1m5s ago in <1s");
  EXPECT_EQ(RowStartingWith(narrow, "idle-input "), "idle-input - idle - - - - -");
  // Key/value lines wrap instead of being cut.
  EXPECT_THAT(narrow, HasSubstr("\n  listen 127.0.0.1:9529  refreshed 14:03:07\n"));
  EXPECT_THAT(narrow, HasSubstr("\n  rate limited (429) 0  forbidden (403) 0\n"));
}

TEST(RenderMonitorTest, RatesBetweenTwoSnapshots) {
  StatsView before = Parse(StatsJson(kNow - 10 * kSecond, 1000, 30));
  StatsView now = Parse(StatsJson(kNow, 1200, 40));
  std::string frame = RenderMonitor(now, &before, Options(160));
  std::string header = LineWith(frame, "category");
  std::string rates = LineWith(frame, "points/s");
  ASSERT_FALSE(rates.empty());
  // Columns: category, metric, logging, total; right-aligned under their headers.
  EXPECT_EQ(rates.substr(0, 8), "points/s");
  EXPECT_THAT(rates, HasSubstr(" 20 "));   // metric: 200 in 10 s
  EXPECT_THAT(rates, HasSubstr(" 1.0 "));  // logging: 10 in 10 s
  EXPECT_TRUE(rates.ends_with(" 21"));     // total
  EXPECT_EQ(header.size(), rates.size());  // the last column is right-aligned too

  // Without a previous snapshot, or from another agent process: no rate.
  EXPECT_THAT(LineWith(RenderMonitor(now, nullptr, Options(160)), "points/s"), HasSubstr("-"));
  StatsView other = Parse(StatsJson(kNow - 10 * kSecond, 1000, 30, 999));
  std::string restarted = LineWith(RenderMonitor(now, &other, Options(160)), "points/s");
  EXPECT_THAT(restarted, Not(HasSubstr("20")));
  // A snapshot that is not earlier gives no rate either.
  std::string same = LineWith(RenderMonitor(now, &now, Options(160)), "points/s");
  EXPECT_EQ(Collapse(same), "points/s - - -");
}

TEST(RenderMonitorTest, MissingSectionsAreLeftOut) {
  StatsView s = Parse(R"({"agent":{"version":"0.0.9","pid":12}})");
  std::string frame = RenderMonitor(s, nullptr, Options(100));
  EXPECT_THAT(frame, HasSubstr("pythond 0.0.9  pid 12  up 0s  rss -"));
  EXPECT_THAT(frame, HasSubstr("no inputs configured"));
  EXPECT_THAT(frame, Not(HasSubstr("Ingest")));
  EXPECT_THAT(frame, Not(HasSubstr("Outputs")));
  EXPECT_THAT(frame, Not(HasSubstr("Store")));
  EXPECT_THAT(frame, Not(HasSubstr("Git")));
  EXPECT_THAT(frame, HasSubstr("Errors\nnone\n"));

  // Plugins that never ran, an ingest with no points, an empty outputs list.
  StatsView fresh = Parse(R"({"agent":{"version":"0.1.0","pid":12,"now_unix_ns":5},
    "inputs":[{"name":"i","workers":[],"plugins":[{"name":"p","state":"starting"}]}],
    "ingest":{"points":{"metric":0}},"outputs":[]})");
  frame = RenderMonitor(fresh, nullptr, Options(100));
  EXPECT_EQ(RowStartingWith(frame, "i p "), "i p starting 0 0 0 0 - - - - - - -");
  EXPECT_THAT(frame, HasSubstr("no points yet"));
  EXPECT_THAT(frame, HasSubstr("Outputs  none configured"));
}

TEST(RenderMonitorTest, ColourOnlyWhenAsked) {
  StatsView s = Parse(StatsJson());
  RenderOptions o = Options(160);
  EXPECT_THAT(RenderMonitor(s, nullptr, o), Not(HasSubstr("\x1b")));
  o.color = true;
  std::string frame = RenderMonitor(s, nullptr, o);
  EXPECT_THAT(frame, HasSubstr("\x1b[32mrunning"));
  EXPECT_THAT(frame, HasSubstr("\x1b[31mfailing"));
  EXPECT_THAT(frame, HasSubstr("\x1b[2midle"));
  // Only SGR: no cursor movement or screen clearing inside a frame.
  EXPECT_THAT(StripSgr(frame), Not(HasSubstr("\x1b")));
  o.color = false;
  EXPECT_EQ(StripSgr(frame), RenderMonitor(s, nullptr, o));
}

TEST(RenderMonitorTest, ScriptTextCannotDriveTheTerminal) {
  StatsView s = Parse(StatsJson(kNow, 1200, 40, 7431, R"(evil\u001b[2J\u001b]0;title\u0007\tend)"));
  RenderOptions o = Options(160);
  o.tracebacks = true;
  std::string frame = RenderMonitor(s, nullptr, o);
  EXPECT_THAT(frame, Not(HasSubstr("\x1b")));
  EXPECT_THAT(frame, Not(HasSubstr("\a")));
  EXPECT_THAT(frame, HasSubstr("evil [2J ]0;title  end"));
}

TEST(RenderMonitorTest, TallFramesAreCutToTheHeight) {
  StatsView s = Parse(StatsJson());
  RenderOptions o = Options(160);
  o.height = 10;
  std::vector<std::string> lines = Lines(RenderMonitor(s, nullptr, o));
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_THAT(lines[9], HasSubstr("more lines"));
  o.height = 200;
  EXPECT_THAT(RenderMonitor(s, nullptr, o), Not(HasSubstr("more lines")));
}

TEST(RenderUnreachableTest, SaysWhyAndWhen) {
  RenderOptions o = Options(160);
  std::string frame = RenderUnreachable("connection refused", nullptr, "", o);
  EXPECT_THAT(frame, HasSubstr("cannot reach the agent at 127.0.0.1:9529: connection refused; "
                               "retrying every 1s\n"));
  StatsView s = Parse(StatsJson());
  frame = RenderUnreachable("no answer within 2s", &s, "14:03:01", o);
  EXPECT_THAT(frame, HasSubstr("last answer at 14:03:01 from pid 7431"));
  o.width = 30;
  for (const std::string& line : Lines(RenderUnreachable("connection refused", &s, "x", o))) {
    EXPECT_LE(DisplayWidth(line), 30u) << line;
  }
}

TEST(ParseHttpResponseTest, BodiesAndStatuses) {
  auto ok = ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(*ok, "hello");
  auto until_close = ParseHttpResponse("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n{}");
  ASSERT_TRUE(until_close.ok());
  EXPECT_EQ(*until_close, "{}");
  auto chunked = ParseHttpResponse(
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\na;x=1\r\n0123456789\r\n"
      "0\r\n\r\n");
  ASSERT_TRUE(chunked.ok()) << chunked.status().message();
  EXPECT_EQ(*chunked, "abc0123456789");

  std::string body = "{\"error_code\":\"datakit.publicAccessDisabled\"}\nmore";
  auto forbidden =
      ParseHttpResponse("HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body);
  ASSERT_FALSE(forbidden.ok());
  EXPECT_TRUE(forbidden.status().retryable());
  EXPECT_THAT(forbidden.status().message(), HasSubstr("HTTP 403: {\"error_code\""));

  EXPECT_FALSE(ParseHttpResponse("SSH-2.0-OpenSSH_9.2\r\n\r\n").ok());
  EXPECT_FALSE(ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").ok());
  EXPECT_FALSE(ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n").ok());
  EXPECT_FALSE(
      ParseHttpResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").ok());
  EXPECT_FALSE(
      ParseHttpResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab").ok());
}

TEST(ResolveMonitorAddressTest, ToThenRunJsonThenDefault) {
  pythond::testing::TempDir dir;
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", ""), "127.0.0.1:9529");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", "10.0.0.2:9000"), "10.0.0.2:9000");
  dir.Write("data/run.json", R"({"pid":1,"listen":"127.0.0.1:41234","store":"x"})");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", ""), "127.0.0.1:41234");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", "h:1"), "h:1");
  dir.Write("data/run.json", R"({"pid":1,"listen":"0.0.0.0:9529"})");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", ""), "127.0.0.1:9529");
  dir.Write("data/run.json", R"({"pid":1,"listen":"[::]:9529"})");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", ""), "[::1]:9529");
  dir.Write("data/run.json", "{half");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", ""), "127.0.0.1:9529");
  // The agent stopped (run.json is gone): keep watching the address used so far.
  std::filesystem::remove(dir.path() / "data/run.json");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", "", "127.0.0.1:41234"), "127.0.0.1:41234");
  EXPECT_EQ(ResolveMonitorAddress(dir.path() / "data", "h:2", "127.0.0.1:41234"), "h:2");
}

TEST(DisplayWidthTest, CountsColumns) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("…"), 1u);
  EXPECT_EQ(DisplayWidth("中文"), 4u);
  EXPECT_EQ(DisplayWidth("e\xcc\x81"), 1u);  // e + combining acute
  EXPECT_EQ(DisplayWidth("\xff\xfe"), 2u);   // invalid bytes: one column each
}

}  // namespace
}  // namespace pythond::agent
