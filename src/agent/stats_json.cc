#include "agent/stats_json.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/strings.h"
#include "model/point.h"
#include "model/point_checks.h"

namespace pythond::agent {

namespace {

// Appends `"key":value` pairs with commas; numbers printed in full precision.
class Obj {
 public:
  explicit Obj(std::string* out) : out_(out) { *out_ += '{'; }
  Obj& Str(const char* key, std::string_view v) {
    Key(key);
    *out_ += JsonQuote(v);
    return *this;
  }
  Obj& Int(const char* key, int64_t v) {
    Key(key);
    *out_ += std::to_string(v);
    return *this;
  }
  Obj& Uint(const char* key, uint64_t v) {
    Key(key);
    *out_ += std::to_string(v);
    return *this;
  }
  Obj& Num(const char* key, double v) {
    Key(key);
    if (!std::isfinite(v)) {
      *out_ += "null";
      return *this;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    *out_ += buf;
    return *this;
  }
  Obj& Bool(const char* key, bool v) {
    Key(key);
    *out_ += v ? "true" : "false";
    return *this;
  }
  // The value is appended by the caller right after.
  std::string& Raw(const char* key) {
    Key(key);
    return *out_;
  }
  void End() { *out_ += '}'; }

 private:
  void Key(const char* key) {
    if (!first_) *out_ += ',';
    first_ = false;
    *out_ += JsonQuote(key);
    *out_ += ':';
  }
  std::string* out_;
  bool first_ = true;
};

void StringArray(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += JsonQuote(items[i]);
  }
  out += ']';
}

void PercentilesJson(std::string& out, const runner::Percentiles& p) {
  Obj o(&out);
  o.Num("p50", p.p50).Num("p99", p.p99).Num("max", p.max);
  o.End();
}

void CategoryCounts(std::string& out, const uint64_t (&points)[model::kCategoryCount]);

// What one input or plugin sent: requests, points per category, refusals, check findings.
void IngestJson(Obj& x, const ingest::InputIngestStats& st) {
  x.Uint("requests", st.requests).Uint("refused_requests", st.refused_requests);
  x.Uint("points_refused", st.points_refused);
  x.Str("last_error", st.last_error).Int("last_error_unix_ns", st.last_error_unix_ns);
  CategoryCounts(x.Raw("points"), st.points);
  Obj checks(&x.Raw("checks"));
  for (size_t r = 0; r < model::kCheckReasonCount; ++r) {
    if (st.checks[r] == 0) continue;
    std::string reason(model::CheckReasonName(static_cast<model::CheckReason>(r)));
    checks.Uint(reason.c_str(), st.checks[r]);
  }
  checks.End();
}

void PluginJson(std::string& out, const runner::PluginStats& p,
                const ingest::InputIngestStats* ingest) {
  Obj o(&out);
  o.Str("name", p.name).Str("module", p.module).Str("class", p.class_name).Str("file", p.file);
  o.Str("repo", p.repo);
  o.Str("state", p.state).Str("worker", p.worker);
  o.Num("interval_s", p.interval_s).Num("timeout_s", p.timeout_s).Num("offset_s", p.offset_s);
  o.Uint("runs", p.runs).Uint("failures", p.failures).Uint("timeouts", p.timeouts);
  o.Uint("skipped", p.skipped).Num("last_duration_s", p.last_duration_s);
  PercentilesJson(o.Raw("duration_s"), p.duration_s);
  PercentilesJson(o.Raw("lateness_ms"), p.lateness_ms);
  o.Int("last_run_unix_ns", p.last_run_unix_ns).Int("next_run_unix_ns", p.next_run_unix_ns);
  o.Str("last_error", p.last_error).Str("last_traceback", p.last_traceback);
  o.Str("last_hint", p.last_hint).Int("last_error_unix_ns", p.last_error_unix_ns);
  StringArray(o.Raw("warnings"), p.warnings);
  Obj x(&o.Raw("ingest"));  // what it reported (the SDK names the plugin in each request)
  IngestJson(x, ingest ? *ingest : ingest::InputIngestStats{});
  x.End();
  o.End();
}

void WorkerJson(std::string& out, const runner::WorkerStats& w) {
  Obj o(&out);
  o.Str("label", w.label).Str("state", w.state).Int("pid", w.pid).Uint("restarts", w.restarts);
  o.Bool("crash_loop", w.crash_loop).Str("last_exit", w.last_exit);
  o.Str("last_recycle", w.last_recycle).Uint("rss_bytes", w.rss_bytes);
  o.Uint("rss_peak_bytes", w.rss_peak_bytes).Int("started_unix_ns", w.started_unix_ns);
  o.Str("python", w.python_version).Str("executable", w.executable);
  std::string& errs = o.Raw("import_errors");
  errs += '[';
  for (size_t i = 0; i < w.import_errors.size(); ++i) {
    if (i) errs += ',';
    Obj e(&errs);
    e.Str("module", w.import_errors[i].module).Str("file", w.import_errors[i].file);
    e.Str("error", w.import_errors[i].error).Str("traceback", w.import_errors[i].traceback);
    e.Str("hint", w.import_errors[i].hint);
    e.End();
  }
  errs += ']';
  o.End();
}

void CategoryCounts(std::string& out, const uint64_t (&points)[model::kCategoryCount]) {
  Obj o(&out);
  for (int c = 0; c < model::kCategoryCount; ++c) {
    std::string name(model::CategoryName(static_cast<model::Category>(c)));
    o.Uint(name.c_str(), points[c]);
  }
  o.End();
}

}  // namespace

ProcessFacts ReadProcessFacts() {
  ProcessFacts f;
  SelfRss(&f.rss_bytes, &f.rss_peak_bytes);
  if (FILE* st = std::fopen("/proc/self/status", "re")) {
    char line[256];
    unsigned long long n = 0;
    while (std::fgets(line, sizeof line, st)) {
      if (std::sscanf(line, "Threads: %llu", &n) == 1) f.threads = n;
    }
    std::fclose(st);
  }
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    f.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                    ru.ru_stime.tv_usec / 1e6;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++f.open_files;
  }
  if (f.open_files > 0) --f.open_files;  // the listing's own descriptor
  return f;
}

void SelfRss(uint64_t* rss_bytes, uint64_t* peak_bytes) {
  *rss_bytes = *peak_bytes = 0;
  FILE* f = std::fopen("/proc/self/status", "re");
  if (!f) return;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "VmRSS: %llu kB", &kb) == 1) *rss_bytes = kb * 1024;
    if (std::sscanf(line, "VmHWM: %llu kB", &kb) == 1) *peak_bytes = kb * 1024;
  }
  std::fclose(f);
}

std::string StatsJson(const StatsSnapshot& s) {
  std::string out;
  out.reserve(4096);
  Obj root(&out);
  {
    ProcessFacts f = ReadProcessFacts();
    Obj a(&root.Raw("agent"));
    a.Str("version", s.version).Int("pid", s.pid).Int("now_unix_ns", s.now_unix_ns);
    a.Int("started_unix_ns", s.started_unix_ns);
    a.Num("uptime_s", (s.now_unix_ns - s.started_unix_ns) / 1e9);
    a.Uint("rss_bytes", f.rss_bytes).Uint("rss_peak_bytes", f.rss_peak_bytes);
    a.Num("cpu_seconds", f.cpu_seconds).Uint("threads", f.threads);
    a.Uint("open_files", f.open_files);
    a.End();
  }
  std::string& inputs = root.Raw("inputs");
  inputs += '[';
  if (s.inputs) {
    for (size_t i = 0; i < s.inputs->size(); ++i) {
      const runner::InputStats& in = (*s.inputs)[i];
      if (i) inputs += ',';
      Obj o(&inputs);
      o.Str("name", in.name).Str("file", in.file).Int("line", in.line);
      o.Str("isolation", in.isolation).Int("loaded_unix_ns", in.loaded_unix_ns);
      o.Str("repo", in.repo);
      StringArray(o.Raw("problems"), in.problems);
      std::string& workers = o.Raw("workers");
      workers += '[';
      for (size_t w = 0; w < in.workers.size(); ++w) {
        if (w) workers += ',';
        WorkerJson(workers, in.workers[w]);
      }
      workers += ']';
      std::string& plugins = o.Raw("plugins");
      plugins += '[';
      for (size_t p = 0; p < in.plugins.size(); ++p) {
        if (p) plugins += ',';
        const ingest::InputIngestStats* ingest = nullptr;
        if (s.api) {
          auto it = s.api->plugins.find(in.name + "/" + in.plugins[p].name);
          if (it != s.api->plugins.end()) ingest = &it->second;
        }
        PluginJson(plugins, in.plugins[p], ingest);
      }
      plugins += ']';
      if (s.api) {
        auto found = s.api->inputs.find(in.name);
        if (found != s.api->inputs.end()) {
          CategoryCounts(o.Raw("points"), found->second.points);
        }
      }
      o.End();
    }
  }
  inputs += ']';
  if (s.api) {
    const ingest::ApiStats& a = *s.api;
    Obj o(&root.Raw("ingest"));
    o.Uint("requests", a.requests).Uint("write_requests", a.write_requests);
    o.Uint("bad_requests", a.bad_requests).Uint("busy", a.busy);
    o.Uint("rate_limited", a.rate_limited).Uint("forbidden", a.forbidden);
    o.Uint("held", s.http_held).Uint("held_refused", s.http_held_refused);
    CategoryCounts(o.Raw("points"), a.points_accepted);
    std::string& by_input = o.Raw("by_input");
    Obj bi(&by_input);
    for (const auto& [name, st] : a.inputs) {
      Obj x(&bi.Raw(name.c_str()));
      IngestJson(x, st);
      x.End();
    }
    bi.End();
    Obj routes(&o.Raw("routes"));
    for (const auto& [route, rs] : a.routes) {
      Obj r(&routes.Raw(route.c_str()));
      Obj codes(&r.Raw("by_status"));
      for (const auto& [status, n] : rs.by_status) codes.Uint(std::to_string(status).c_str(), n);
      codes.End();
      r.Uint("bytes_in", rs.bytes_in).Uint("bytes_out", rs.bytes_out);
      r.End();
    }
    routes.End();
    o.End();
  }
  if (s.outputs || s.prometheus) {
    std::string& list = root.Raw("outputs");
    list += '[';
    bool first = true;
    if (s.outputs) {
      for (const outputs::QueuedOutputStats& q : *s.outputs) {
        if (!first) list += ',';
        first = false;
        Obj o(&list);
        o.Str("name", q.name).Str("type", q.type).Str("target", q.target).Str("state", q.state);
        {
          Obj d(&o.Raw("queue"));
          d.Uint("records", q.queue.records).Uint("bytes", q.queue.bytes);
          d.Uint("appended", q.queue.appended).Uint("consumed", q.queue.consumed);
          d.Uint("dropped_records", q.queue.dropped_records);
          d.Uint("corrupt_records", q.queue.corrupt_records);
          d.Uint("torn_tail_bytes", q.queue.torn_tail_bytes).Uint("fsyncs", q.queue.fsyncs);
          d.Uint("append_errors", q.queue.append_errors).Str("last_error", q.queue.last_error);
          d.End();
        }
        o.Uint("points_in", q.points_in).Uint("points_filtered", q.points_filtered);
        o.Uint("points_sent", q.points_sent).Uint("batches_sent", q.batches_sent);
        o.Uint("retries", q.retries).Uint("deadletter_batches", q.deadletter_batches);
        o.Uint("deadletter_points", q.deadletter_points);
        o.Uint("deadletter_files_removed", q.deadletter_files_removed);
        o.Str("last_error", q.last_error).Int("last_error_unix_ns", q.last_error_unix_ns);
        o.Int("last_sent_unix_ns", q.last_sent_unix_ns);
        o.End();
      }
    }
    if (s.prometheus) {
      for (const PrometheusOutputStats& p : *s.prometheus) {
        if (!first) list += ',';
        first = false;
        Obj o(&list);
        o.Str("name", p.name).Str("type", "prometheus").Str("path", p.path);
        o.Uint("series", p.stats.series).Uint("samples_written", p.stats.samples_written);
        o.Uint("samples_out_of_order", p.stats.samples_out_of_order);
        o.Uint("dropped_series", p.stats.dropped_series);
        o.Uint("expired_series", p.stats.expired_series);
        o.End();
      }
    }
    list += ']';
  }
  if (s.reload) {
    Obj o(&root.Raw("reload"));
    o.Uint("reloads", s.reload->reloads).Uint("rejected", s.reload->rejected);
    o.Int("last_unix_ns", s.reload->last_unix_ns).Str("last_trigger", s.reload->last_trigger);
    o.Bool("last_ok", s.reload->last_ok).Str("last_result", s.reload->last_result);
    StringArray(o.Raw("pending_restart"), s.reload->pending_restart);
    o.End();
  }
  if (s.git) {
    std::string& repos = root.Raw("git_repos");
    repos += '[';
    for (size_t i = 0; i < s.git->size(); ++i) {
      const git::RepoStatus& r = (*s.git)[i];
      if (i) repos += ',';
      Obj o(&repos);
      o.Str("name", r.name).Str("url", r.url).Str("branch", r.branch);
      o.Str("head", r.head).Str("head_summary", r.head_summary);
      o.Int("last_pull_unix_ns", r.last_pull_unix_ns);
      o.Int("last_change_unix_ns", r.last_change_unix_ns).Bool("last_ok", r.last_ok);
      o.Str("last_error", r.last_error).Str("rejected_commit", r.rejected_commit);
      o.Uint("pulls", r.pulls).Uint("failures", r.failures).Uint("changes", r.changes);
      o.End();
    }
    repos += ']';
  }
  if (s.store) {
    Obj o(&root.Raw("store"));
    o.Uint("rows_written", s.store->rows_written).Uint("transactions", s.store->transactions);
    o.Uint("write_errors", s.store->write_errors).Uint("rows_expired", s.store->rows_expired);
    o.Uint("batches_dropped", s.store->batches_dropped);
    o.Uint("queued_bytes", s.store->queued_bytes).Str("last_error", s.store->last_error);
    o.Uint("size_bytes", s.store_size_bytes).Num("retention_s", s.store_retention_s);
    o.Uint("used_bytes", s.store->size_bytes).Uint("max_size_bytes", s.store_max_size_bytes);
    o.Uint("wal_points", s.store->wal_points).Uint("folds", s.store->folds);
    o.Uint("points_folded", s.store->points_folded).Uint("chunks_written", s.store->chunks_written);
    o.End();
  }
  root.End();
  return out;
}

}  // namespace pythond::agent
