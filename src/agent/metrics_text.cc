#include "agent/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "model/point.h"
#include "model/point_checks.h"

namespace pythond::agent {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// One metric family at a time: HELP and TYPE once, then its samples.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Family(const std::string& name, const char* type, const char* help,
              const std::function<void(const std::function<void(const Labels&, double)>&)>& each) {
    bool any = false;
    std::string samples;
    each([&](const Labels& labels, double value) {
      any = true;
      samples += name;
      if (!labels.empty()) {
        samples += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
          if (i) samples += ',';
          samples += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
        }
        samples += '}';
      }
      samples += ' ' + Number(value) + '\n';
    });
    if (!any) return;
    *out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + samples;
  }

  // A family with one unlabelled sample.
  void One(const std::string& name, const char* type, const char* help, double value) {
    Family(name, type, help, [value](const auto& emit) { emit({}, value); });
  }

  static std::string Number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 9.007e15) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.0f", v);
      return buf;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }

 private:
  std::string* out_;
};

const char* const kPluginStates[] = {"starting",  "running",    "failing",
                                     "timed_out", "restarting", "stopped"};

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string MetricsText(const StatsSnapshot& s) {
  std::string out;
  out.reserve(16384);
  Writer w(&out);
  ProcessFacts f = ReadProcessFacts();
  w.Family("pythond_build_info", "gauge", "The running pythond's version (value 1).",
           [&](const auto& emit) {
             emit({{"version", s.version}}, 1);
           });
  w.One("process_start_time_seconds", "gauge", "When the agent started, unix seconds.",
        s.started_unix_ns / 1e9);
  w.One("process_resident_memory_bytes", "gauge", "The agent's resident memory.", f.rss_bytes);
  w.One("process_cpu_seconds_total", "counter", "The agent's user and system CPU time.",
        f.cpu_seconds);
  w.One("process_open_fds", "gauge", "The agent's open file descriptors.", f.open_files);
  w.One("pythond_threads", "gauge", "The agent's threads.", f.threads);

  // Inputs, workers, plugins.
  const std::vector<runner::InputStats> none;
  const auto& inputs = s.inputs ? *s.inputs : none;
  auto plugins =
      [&](const std::function<void(const runner::InputStats&, const runner::PluginStats&)>& fn) {
        for (const auto& in : inputs) {
          for (const auto& p : in.plugins) fn(in, p);
        }
      };
  auto plugin_family = [&](const std::string& name, const char* type, const char* help,
                           const std::function<double(const runner::PluginStats&)>& value) {
    w.Family(name, type, help, [&](const auto& emit) {
      plugins([&](const auto& in, const auto& p) {
        emit({{"input", in.name}, {"plugin", p.name}}, value(p));
      });
    });
  };
  plugin_family("pythond_plugin_runs_total", "counter", "Runs of the plugin that finished.",
                [](const auto& p) { return p.runs; });
  plugin_family("pythond_plugin_failures_total", "counter",
                "Runs that raised, or whose worker died during them.",
                [](const auto& p) { return p.failures; });
  plugin_family("pythond_plugin_timeouts_total", "counter", "Runs still going after their timeout.",
                [](const auto& p) { return p.timeouts; });
  plugin_family("pythond_plugin_skipped_runs_total", "counter",
                "Slots not run because the previous run was still going.",
                [](const auto& p) { return p.skipped; });
  plugin_family("pythond_plugin_interval_seconds", "gauge", "The plugin's interval.",
                [](const auto& p) { return p.interval_s; });
  plugin_family("pythond_plugin_last_duration_seconds", "gauge", "The last run's duration.",
                [](const auto& p) { return p.last_duration_s; });
  plugin_family("pythond_plugin_duration_p50_seconds", "gauge",
                "Median run duration over the last 256 runs.",
                [](const auto& p) { return p.duration_s.p50; });
  plugin_family("pythond_plugin_duration_p99_seconds", "gauge",
                "99th percentile run duration over the last 256 runs.",
                [](const auto& p) { return p.duration_s.p99; });
  plugin_family("pythond_plugin_lateness_p99_seconds", "gauge",
                "99th percentile of run start minus its slot, over the last 256 runs.",
                [](const auto& p) { return p.lateness_ms.p99 / 1e3; });
  plugin_family("pythond_plugin_last_run_timestamp_seconds", "gauge",
                "Start of the last run, unix seconds (0: none yet).",
                [](const auto& p) { return p.last_run_unix_ns / 1e9; });
  plugin_family("pythond_plugin_next_run_timestamp_seconds", "gauge",
                "The next slot, unix seconds (0: not scheduled).",
                [](const auto& p) { return p.next_run_unix_ns / 1e9; });
  w.Family("pythond_plugin_state", "gauge", "1 for the plugin's current state, 0 for the others.",
           [&](const auto& emit) {
             plugins([&](const auto& in, const auto& p) {
               for (const char* state : kPluginStates) {
                 emit({{"input", in.name}, {"plugin", p.name}, {"state", state}},
                      p.state == state ? 1 : 0);
               }
             });
           });
  const ingest::ApiStats* api = s.api;
  auto plugin_ingest = [&](const runner::InputStats& in,
                           const runner::PluginStats& p) -> const ingest::InputIngestStats* {
    if (!api) return nullptr;
    auto it = api->plugins.find(in.name + "/" + p.name);
    return it == api->plugins.end() ? nullptr : &it->second;
  };
  w.Family(
      "pythond_plugin_points_total", "counter",
      "Points the plugin reported that the agent accepted, by category.", [&](const auto& emit) {
        plugins([&](const auto& in, const auto& p) {
          const ingest::InputIngestStats* st = plugin_ingest(in, p);
          for (int c = 0; c < model::kCategoryCount; ++c) {
            emit({{"input", in.name},
                  {"plugin", p.name},
                  {"category", std::string(model::CategoryName(static_cast<model::Category>(c)))}},
                 st ? st->points[c] : 0);
          }
        });
      });
  w.Family("pythond_plugin_points_refused_total", "counter",
           "Points of the plugin that the checks could not keep.", [&](const auto& emit) {
             plugins([&](const auto& in, const auto& p) {
               const ingest::InputIngestStats* st = plugin_ingest(in, p);
               emit({{"input", in.name}, {"plugin", p.name}}, st ? st->points_refused : 0);
             });
           });
  w.Family("pythond_plugin_check_findings_total", "counter",
           "Repairs and refusals of DataKit's point checks on the plugin's points, by rule.",
           [&](const auto& emit) {
             plugins([&](const auto& in, const auto& p) {
               const ingest::InputIngestStats* st = plugin_ingest(in, p);
               if (!st) return;
               for (size_t r = 0; r < model::kCheckReasonCount; ++r) {
                 if (st->checks[r] == 0) continue;
                 emit({{"input", in.name},
                       {"plugin", p.name},
                       {"reason",
                        std::string(model::CheckReasonName(static_cast<model::CheckReason>(r)))}},
                      st->checks[r]);
               }
             });
           });
  auto workers = [&](const std::string& name, const char* type, const char* help,
                     const std::function<double(const runner::WorkerStats&)>& value) {
    w.Family(name, type, help, [&](const auto& emit) {
      for (const auto& in : inputs) {
        for (const auto& wk : in.workers) {
          emit({{"input", in.name}, {"worker", wk.label}}, value(wk));
        }
      }
    });
  };
  workers("pythond_worker_up", "gauge", "1 while the worker runs its plugins.",
          [](const auto& wk) { return wk.state == "running" ? 1 : 0; });
  workers("pythond_worker_restarts_total", "counter", "Restarts of the worker.",
          [](const auto& wk) { return wk.restarts; });
  workers("pythond_worker_resident_memory_bytes", "gauge",
          "Resident memory of the worker's process group, at the last check.",
          [](const auto& wk) { return wk.rss_bytes; });
  workers("pythond_worker_import_errors", "gauge", "Modules that failed to import.",
          [](const auto& wk) { return wk.import_errors.size(); });

  if (api) {
    w.Family(
        "pythond_ingest_points_total", "counter", "Points accepted, by category.",
        [&](const auto& emit) {
          for (int c = 0; c < model::kCategoryCount; ++c) {
            emit({{"category", std::string(model::CategoryName(static_cast<model::Category>(c)))}},
                 api->points_accepted[c]);
          }
        });
    w.One("pythond_ingest_write_requests_total", "counter", "Write requests.", api->write_requests);
    w.One("pythond_ingest_bad_requests_total", "counter", "Requests answered 4xx.",
          api->bad_requests);
    w.One("pythond_ingest_busy_total", "counter", "Writes answered 503: a sink's backlog was full.",
          api->busy);
    w.One("pythond_ingest_rate_limited_total", "counter", "Writes answered 429.",
          api->rate_limited);
    w.One("pythond_ingest_forbidden_total", "counter",
          "Requests answered 403: a non-loopback client on a private route.", api->forbidden);
    w.Family("pythond_input_points_total", "counter", "Points accepted per input and category.",
             [&](const auto& emit) {
               for (const auto& [name, st] : api->inputs) {
                 for (int c = 0; c < model::kCategoryCount; ++c) {
                   if (st.points[c] == 0) continue;
                   emit({{"input", name},
                         {"category",
                          std::string(model::CategoryName(static_cast<model::Category>(c)))}},
                        st.points[c]);
                 }
               }
             });
    w.Family("pythond_input_refused_requests_total", "counter",
             "Write requests of the input answered with an error.", [&](const auto& emit) {
               for (const auto& [name, st] : api->inputs)
                 emit({{"input", name}}, st.refused_requests);
             });
    w.Family("pythond_http_requests_total", "counter", "HTTP API answers by route and status.",
             [&](const auto& emit) {
               for (const auto& [route, rs] : api->routes) {
                 for (const auto& [code, n] : rs.by_status) {
                   emit({{"route", route}, {"code", std::to_string(code)}}, n);
                 }
               }
             });
    w.Family("pythond_http_request_body_bytes_total", "counter", "Request body bytes by route.",
             [&](const auto& emit) {
               for (const auto& [route, rs] : api->routes) emit({{"route", route}}, rs.bytes_in);
             });
    w.Family("pythond_http_response_body_bytes_total", "counter", "Answer body bytes by route.",
             [&](const auto& emit) {
               for (const auto& [route, rs] : api->routes) emit({{"route", route}}, rs.bytes_out);
             });
  }
  if (s.store) {
    const store::StoreStats& st = *s.store;
    w.One("pythond_store_rows_written_total", "counter", "Rows written to the store.",
          st.rows_written);
    w.One("pythond_store_transactions_total", "counter", "Store write transactions.",
          st.transactions);
    w.One("pythond_store_write_errors_total", "counter", "Failed store writes (retried).",
          st.write_errors);
    w.One("pythond_store_rows_expired_total", "counter", "Rows deleted by retention.",
          st.rows_expired);
    w.One("pythond_store_batches_dropped_total", "counter", "Batches SQLite refused as data.",
          st.batches_dropped);
    w.One("pythond_store_queued_bytes", "gauge", "Backlog in front of the store.", st.queued_bytes);
    w.One("pythond_store_size_bytes", "gauge", "The database file and its WAL.",
          s.store_size_bytes);
    w.One("pythond_store_retention_seconds", "gauge", "Rows older than this are deleted.",
          s.store_retention_s);
    w.One("pythond_store_used_bytes", "gauge", "Database pages in use (what max_size_mb caps).",
          st.size_bytes);
    w.One("pythond_store_wal_points", "gauge", "Points committed but not yet folded into chunks.",
          st.wal_points);
    w.One("pythond_store_folds_total", "counter", "Folds of WAL records into chunks.", st.folds);
    w.One("pythond_store_chunks_written_total", "counter", "Chunk rows inserted or rewritten.",
          st.chunks_written);
  }
  if (s.outputs && !s.outputs->empty()) {
    auto outputs = [&](const std::string& name, const char* type, const char* help,
                       const std::function<double(const outputs::QueuedOutputStats&)>& value) {
      w.Family(name, type, help, [&](const auto& emit) {
        for (const auto& o : *s.outputs) emit({{"output", o.name}, {"type", o.type}}, value(o));
      });
    };
    outputs("pythond_output_up", "gauge", "1 while the output's backend takes its batches.",
            [](const auto& o) { return o.state == "ok" ? 1 : 0; });
    outputs("pythond_output_queue_records", "gauge", "Records waiting in the disk queue.",
            [](const auto& o) { return o.queue.records; });
    outputs("pythond_output_queue_bytes", "gauge", "Bytes waiting in the disk queue.",
            [](const auto& o) { return o.queue.bytes; });
    outputs("pythond_output_points_sent_total", "counter", "Points the backend accepted.",
            [](const auto& o) { return o.points_sent; });
    outputs("pythond_output_retries_total", "counter", "Failed sends that are retried.",
            [](const auto& o) { return o.retries; });
    outputs("pythond_output_deadletter_points_total", "counter",
            "Points the backend refused, kept as dead letters.",
            [](const auto& o) { return o.deadletter_points; });
    outputs("pythond_output_dropped_records_total", "counter",
            "Queue records dropped on overflow (drop_oldest).",
            [](const auto& o) { return o.queue.dropped_records; });
  }
  if (s.git && !s.git->empty()) {
    auto repos = [&](const std::string& name, const char* type, const char* help,
                     const std::function<double(const git::RepoStatus&)>& value) {
      w.Family(name, type, help, [&](const auto& emit) {
        for (const auto& r : *s.git) emit({{"repo", r.name}}, value(r));
      });
    };
    repos("pythond_git_pulls_total", "counter", "Pulls of the repository.",
          [](const auto& r) { return r.pulls; });
    repos("pythond_git_pull_failures_total", "counter", "Failed or rejected pulls.",
          [](const auto& r) { return r.failures; });
    repos("pythond_git_changes_total", "counter", "Commits applied.",
          [](const auto& r) { return r.changes; });
    repos("pythond_git_last_pull_ok", "gauge", "1 when the last pull worked.",
          [](const auto& r) { return r.last_ok ? 1 : 0; });
  }
  if (s.reload) {
    w.One("pythond_reloads_total", "counter", "Configuration reloads applied.", s.reload->reloads);
    w.One("pythond_reloads_rejected_total", "counter",
          "Reloads whose configuration did not load (the running one stayed).", s.reload->rejected);
  }
  return out;
}

}  // namespace pythond::agent
