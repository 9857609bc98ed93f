// `pythond test`: the real worker, SDK and point checks, nothing stored or forwarded.
//
// Each PATH becomes an input (script_tools.h, ResolveTestTargets). A Supervisor runs them with
// `test_mode` (the SDK sends every request through the worker's pipe, even to an explicit
// ip/port) and `run_at_hello` (the first run starts as soon as the plugin is loaded); writes go
// through the real ingest API into a sink that discards them, and ApiOptions::on_checked shows
// what the checks kept, repaired and refused. Requests a script sends over HTTP by itself reach
// the same API on a private loopback port (PYTHOND_HTTP_ADDR).
//
// Output: the report on stdout (line protocol with '#' comment lines by default — a valid line
// protocol file; --format json: one document at the end; table), what scripts print on stderr.
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "agent/process_env.h"
#include "agent/script_tools.h"
#include "agent/worker_session.h"
#include "common/logging.h"
#include "common/strings.h"
#include "ingest/api.h"
#include "ingest/http_server.h"
#include "model/line_protocol.h"

namespace pythond::agent {

namespace fs = std::filesystem;

namespace {

// Takes every batch and keeps nothing: `pythond test` stores and forwards nothing.
class DiscardOutput : public outputs::Output {
 public:
  std::string_view name() const override { return "discard"; }
  Status Write(model::PointBatchPtr) override { return Status::Ok(); }
  void Flush() override {}
};

struct RunRecord {
  uint64_t number = 0;
  bool ok = false;
  double duration_s = 0;
  std::string error, traceback, hint;
  std::vector<std::pair<model::Category, model::Point>> points;
  std::vector<std::string> findings;  // "metric point 2: <message> (<reason>)"
  std::vector<std::string> notes;     // what the agent adds as DataKit does (logging status)
  size_t repaired = 0, refused_points = 0;
  std::vector<std::string> refused_requests;  // "400 datakit.invalidLinePoint: …"
};

struct PluginRecord {
  std::string input, name, module, class_name, file, worker;
  double interval_s = 0, timeout_s = 0;
  std::vector<RunRecord> runs;
  RunRecord pending;  // what arrived since its last run ended
  bool finished = false;
};

std::string Key(std::string_view input, std::string_view plugin) {
  return std::string(input) + '\0' + std::string(plugin);
}

std::string Ms(double seconds) {
  char buf[32];
  if (seconds < 1) {
    std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  }
  return buf;
}

std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

// "a,b" → {"a", "b"}: the plugin header's two percent-encoded parts.
std::pair<std::string, std::string> SplitPluginHeader(std::string_view header) {
  size_t slash = header.find('/');
  if (slash == std::string_view::npos) return {PercentDecode(header), ""};
  return {PercentDecode(header.substr(0, slash)), PercentDecode(header.substr(slash + 1))};
}

std::string Commented(std::string_view text, std::string_view indent = "#   ") {
  std::string out;
  for (const std::string& line : SplitString(TrimSpace(text), '\n')) {
    out += std::string(indent) + line + "\n";
  }
  return out;
}

// The field set of `p` in line protocol ("f1=1i,f2=\"x\"").
std::string FieldsText(const model::Point& p) {
  model::Point bare;
  bare.measurement = "m";
  bare.fields = p.fields;
  std::string line;
  model::AppendLineProtocol(line, bare);
  size_t end = line.rfind(' ');
  return line.substr(2, end == std::string::npos ? std::string::npos : end - 2);
}

std::string TagsText(const model::Point& p) {
  std::string out;
  for (const auto& t : p.tags) out += (out.empty() ? "" : ",") + t.key + "=" + t.value;
  return out;
}

void AppendTable(std::string& out, const std::vector<const model::Point*>& points) {
  std::vector<std::array<std::string, 4>> rows = {{"measurement", "tags", "fields", "time"}};
  for (const model::Point* p : points) {
    rows.push_back({p->measurement, TagsText(*p), FieldsText(*p), std::to_string(p->time_ns)});
  }
  std::array<size_t, 4> width{};
  for (const auto& r : rows) {
    for (size_t c = 0; c < 4; ++c) width[c] = std::max(width[c], std::min<size_t>(r[c].size(), 60));
  }
  for (const auto& r : rows) {
    std::string line = "  ";
    for (size_t c = 0; c < 4; ++c) {
      line += r[c];
      if (c < 3) line += std::string(r[c].size() < width[c] ? width[c] - r[c].size() + 2 : 2, ' ');
    }
    out += line + "\n";
  }
}

class TestSession {
 public:
  TestSession(const TestCommandOptions& options, const config::Config& cfg,
              std::vector<TestTarget> targets)
      : options_(options), cfg_(cfg), targets_(std::move(targets)) {}

  int Run();

 private:
  PluginRecord& Record(const std::string& input, const std::string& plugin);
  void OnChecked(const ingest::CheckedWrite& w);
  void OnRequestRefused(std::string_view plugin_header, const ingest::Answer& a);
  void OnRunDone(const runner::RunReport& r);
  bool Finished(const std::vector<runner::InputStats>& stats);
  void FinishRun(PluginRecord& rec, RunRecord run);
  void PrintRun(const PluginRecord& rec, const RunRecord& run);
  void PrintHeader(const TestTarget& t);
  std::string Json() const;
  bool RunOk(const RunRecord& r) const {
    return r.ok && r.findings.empty() && r.refused_requests.empty() && r.refused_points == 0;
  }

  const TestCommandOptions& options_;
  const config::Config& cfg_;
  std::vector<TestTarget> targets_;
  std::map<std::string, PluginRecord> plugins_;  // by Key(input, plugin)
  std::vector<std::string> plugin_order_;
  RunRecord unattributed_;  // writes no plugin header names (HTTP without the SDK's header)
  std::vector<std::string> errors_;  // import errors, discovery problems, dead workers
  std::set<std::string> reported_;   // errors already recorded (polled each 50 ms)
  std::set<std::string> headers_printed_;
  runner::Supervisor* supervisor_ = nullptr;
};

PluginRecord& TestSession::Record(const std::string& input, const std::string& plugin) {
  std::string key = Key(input, plugin);
  auto it = plugins_.find(key);
  if (it == plugins_.end()) {
    it = plugins_.emplace(key, PluginRecord{}).first;
    it->second.input = input;
    it->second.name = plugin;
    plugin_order_.push_back(key);
  }
  return it->second;
}

void TestSession::OnChecked(const ingest::CheckedWrite& w) {
  RunRecord* run = &unattributed_;
  if (!w.plugin_header.empty()) {
    auto [input, plugin] = SplitPluginHeader(w.plugin_header);
    run = &Record(input, plugin).pending;
  }
  std::string category(model::CategoryName(w.category));
  for (const auto& f : w.findings) {
    bool refused = std::find(w.refused.begin(), w.refused.end(), f.point) != w.refused.end();
    // A required key the agent fills in (logging `status`) is how DataKit works, not a bug.
    bool note = f.warning.reason == model::CheckReason::kRequiredKeyAdded && !refused;
    (note ? run->notes : run->findings)
        .push_back(category + " point " + std::to_string(f.point) + ": " + f.warning.message +
                   " (" + std::string(model::CheckReasonName(f.warning.reason)) +
                   (refused ? ", point refused" : ", repaired") + ")");
  }
  for (size_t i : w.refused) {
    bool named = std::any_of(w.findings.begin(), w.findings.end(),
                             [i](const auto& f) { return f.point == i; });
    if (!named) run->findings.push_back(category + " point " + std::to_string(i) + ": refused");
  }
  run->refused_points += w.refused.size();
  std::set<size_t> repaired;
  for (const auto& f : w.findings) {
    if (f.warning.reason != model::CheckReason::kRequiredKeyAdded) repaired.insert(f.point);
  }
  for (size_t i : w.refused) repaired.erase(i);
  run->repaired += repaired.size();
  for (const model::Point& p : *w.kept) run->points.emplace_back(w.category, p);
}

void TestSession::OnRequestRefused(std::string_view plugin_header, const ingest::Answer& a) {
  RunRecord* run = &unattributed_;
  if (!plugin_header.empty()) {
    auto [input, plugin] = SplitPluginHeader(plugin_header);
    run = &Record(input, plugin).pending;
  }
  run->refused_requests.push_back(std::to_string(a.status) + " " + a.body);
}

void TestSession::OnRunDone(const runner::RunReport& r) {
  PluginRecord& rec = Record(r.input, r.plugin);
  if (rec.interval_s == 0 && supervisor_) {  // its first run: the poll may not have seen it
    for (const auto& in : supervisor_->Stats()) {
      for (const auto& p : in.plugins) {
        if (in.name == r.input && p.name == r.plugin) {
          rec.interval_s = p.interval_s;
          rec.timeout_s = p.timeout_s;
          rec.worker = p.worker;
        }
      }
    }
  }
  rec.module = r.module;
  rec.class_name = r.class_name;
  rec.file = r.file;
  RunRecord run = std::move(rec.pending);
  rec.pending = {};
  run.number = r.run;
  run.ok = r.ok;
  run.duration_s = r.duration_s;
  run.error = r.error;
  run.traceback = r.traceback;
  run.hint = r.hint;
  FinishRun(rec, std::move(run));
}

void TestSession::FinishRun(PluginRecord& rec, RunRecord run) {
  if (run.number == 0) run.number = rec.runs.size() + 1;
  rec.runs.push_back(std::move(run));
  if (static_cast<int>(rec.runs.size()) >= options_.times || !rec.runs.back().ok) {
    rec.finished = true;
  }
  if (options_.format != "json") PrintRun(rec, rec.runs.back());
}

void TestSession::PrintHeader(const TestTarget& t) {
  if (options_.format == "json" || !headers_printed_.insert(t.input.name).second) return;
  std::string where =
      t.origin == "input" ? t.input.file + ":" + std::to_string(t.input.line) : t.path;
  std::cout << "# input '" << t.input.name << "' (" << where << "): cmd " << t.input.cmd;
  if (!t.input.envs.empty()) std::cout << ", " << t.input.envs.size() << " env(s)";
  std::cout << "\n" << std::flush;
}

void TestSession::PrintRun(const PluginRecord& rec, const RunRecord& run) {
  std::string out = "# " + rec.input + "/" + rec.name;
  if (!rec.class_name.empty()) {
    out += " (" + rec.module + "." + rec.class_name + ", every " + Secs(rec.interval_s) + ")";
  }
  out += " run " + std::to_string(run.number) + "/" + std::to_string(options_.times) + ": ";
  if (run.ok) {
    out += "ok in " + Ms(run.duration_s);
  } else {
    out += "FAILED" + (run.duration_s > 0 ? " after " + Ms(run.duration_s) : "") + ": " + run.error;
  }
  out += "\n";
  if (!run.ok && !run.traceback.empty()) out += Commented(run.traceback);
  if (!run.hint.empty()) out += Commented(run.hint);
  std::map<model::Category, std::vector<const model::Point*>> by_category;
  for (const auto& [c, p] : run.points) by_category[c].push_back(&p);
  for (const auto& [c, points] : by_category) {
    out += "# " + std::string(model::CategoryName(c)) + ": " + std::to_string(points.size()) +
           " point" + (points.size() == 1 ? "" : "s") + "\n";
    if (options_.format == "table") {
      AppendTable(out, points);
    } else {
      for (const model::Point* p : points) model::AppendLineProtocol(out, *p);
    }
  }
  if (run.ok && run.points.empty() && run.refused_requests.empty()) {
    out += "# (reported nothing)\n";
  }
  for (const auto& n : run.notes) out += "# NOTE " + n + "\n";
  for (const auto& f : run.findings) out += "# CHECK " + f + "\n";
  for (const auto& r : run.refused_requests) out += "# REFUSED " + r + "\n";
  std::cout << out << std::flush;
}

bool TestSession::Finished(const std::vector<runner::InputStats>& stats) {
  bool all_done = true;
  for (const runner::InputStats& in : stats) {
    for (const std::string& problem : in.problems) {
      if (reported_.insert(in.name + "\1" + problem).second) {
        errors_.push_back("input '" + in.name + "': " + problem);
      }
    }
    std::map<std::string, const runner::WorkerStats*> workers;
    for (const runner::WorkerStats& w : in.workers) {
      workers[w.label] = &w;
      for (const runner::ModuleError& e : w.import_errors) {
        if (!reported_.insert(w.label + "\1" + e.file + "\1" + e.error).second) continue;
        std::string text = "input '" + in.name + "': module '" + e.module + "' (" + e.file +
                           ") failed to import: " + e.error;
        errors_.push_back(text);
        if (options_.format != "json") {
          std::cout << "# ERROR " << text << "\n"
                    << Commented(e.traceback) << (e.hint.empty() ? "" : Commented(e.hint))
                    << std::flush;
        }
      }
      // Died (or never started); an idle worker (nothing to run) exited on purpose.
      bool dead = !w.last_exit.empty() && (w.state == "restarting" || w.state == "starting");
      if (w.state == "starting" && !dead) all_done = false;
      if (dead && reported_.insert(w.label + "\1exit").second) {
        std::string text = "input '" + w.label + "': worker " + w.last_exit;
        errors_.push_back(text);
        if (options_.format != "json") std::cout << "# ERROR " << text << "\n" << std::flush;
      }
    }
    for (const runner::PluginStats& p : in.plugins) {
      PluginRecord& rec = Record(in.name, p.name);
      rec.module = p.module;
      rec.class_name = p.class_name;
      rec.file = p.file;
      rec.worker = p.worker;
      rec.interval_s = p.interval_s;
      rec.timeout_s = p.timeout_s;
      if (rec.finished) continue;
      auto w = workers.find(p.worker);
      if (w != workers.end() && !w->second->last_exit.empty() && w->second->state != "running" &&
          w->second->state != "idle") {
        RunRecord run = std::move(rec.pending);
        run.error = "its worker " + w->second->last_exit + " during the run";
        FinishRun(rec, std::move(run));
        rec.finished = true;
      } else if (p.state == "timed_out" && StartsWith(p.last_traceback, "Stuck at")) {
        RunRecord run = std::move(rec.pending);
        run.error = p.last_error;
        run.traceback = p.last_traceback;
        run.duration_s = p.timeout_s;
        FinishRun(rec, std::move(run));
        rec.finished = true;
      } else {
        all_done = false;
      }
    }
  }
  return all_done;
}

std::string TestSession::Json() const {
  auto run_json = [this](const RunRecord& r) {
    std::string out = "{\"run\":" + std::to_string(r.number) +
                      ",\"ok\":" + (RunOk(r) ? "true" : "false") +
                      ",\"completed\":" + (r.ok ? "true" : "false") + ",\"duration_s\":";
    AppendJsonDouble(out, r.duration_s);
    out += ",\"error\":" + JsonQuote(r.error) + ",\"traceback\":" + JsonQuote(r.traceback) +
           ",\"hint\":" + JsonQuote(r.hint) + ",\"points\":{";
    std::map<model::Category, std::vector<model::Point>> by_category;
    for (const auto& [c, p] : r.points) by_category[c].push_back(p);
    bool first = true;
    for (const auto& [c, points] : by_category) {
      if (!first) out += ',';
      first = false;
      out += JsonQuote(model::CategoryName(c)) + ":" + ingest::PointsToJson(points);
    }
    out += "},\"checks\":[";
    for (size_t i = 0; i < r.findings.size(); ++i) out += (i ? "," : "") + JsonQuote(r.findings[i]);
    out += "],\"notes\":[";
    for (size_t i = 0; i < r.notes.size(); ++i) out += (i ? "," : "") + JsonQuote(r.notes[i]);
    out += "],\"refused_requests\":[";
    for (size_t i = 0; i < r.refused_requests.size(); ++i) {
      out += (i ? "," : "") + JsonQuote(r.refused_requests[i]);
    }
    return out + "]}";
  };
  std::string out = "{\"plugins\":[";
  bool first = true, ok = errors_.empty() && !plugins_.empty();
  for (const std::string& key : plugin_order_) {
    const PluginRecord& rec = plugins_.at(key);
    if (!first) out += ',';
    first = false;
    out += "{\"input\":" + JsonQuote(rec.input) + ",\"plugin\":" + JsonQuote(rec.name) +
           ",\"module\":" + JsonQuote(rec.module) + ",\"class\":" + JsonQuote(rec.class_name) +
           ",\"file\":" + JsonQuote(rec.file) + ",\"interval_s\":";
    AppendJsonDouble(out, rec.interval_s);
    out += ",\"timeout_s\":";
    AppendJsonDouble(out, rec.timeout_s);
    out += ",\"runs\":[";
    for (size_t i = 0; i < rec.runs.size(); ++i) {
      out += (i ? "," : "") + run_json(rec.runs[i]);
      ok = ok && RunOk(rec.runs[i]);
    }
    out += "]}";
    ok = ok && static_cast<int>(rec.runs.size()) >= options_.times;
  }
  out += "],\"errors\":[";
  for (size_t i = 0; i < errors_.size(); ++i) out += (i ? "," : "") + JsonQuote(errors_[i]);
  out += "],\"unattributed\":" + run_json(unattributed_);
  out += std::string(",\"ok\":") + (ok ? "true" : "false") + "}\n";
  return out;
}

int TestSession::Run() {
  boost::asio::io_context io;
  DiscardOutput discard;
  ingest::ApiOptions api_options;
  api_options.version = PYTHOND_VERSION;
  api_options.hostname = Hostname();
  api_options.max_decoded_bytes = cfg_.max_body_bytes;
  for (const auto& [k, v] : cfg_.global_tags) api_options.global_tags.push_back({k, v});
  if (std::none_of(cfg_.global_tags.begin(), cfg_.global_tags.end(),
                   [](const auto& kv) { return kv.first == "host"; })) {
    api_options.global_tags.push_back({"host", api_options.hostname});
  }
  api_options.on_checked = [this](const ingest::CheckedWrite& w) { OnChecked(w); };
  ingest::Api api(&discard, WallNowNs, MonoNowNs, std::move(api_options));
  auto handle = [this, &api](const ingest::Request& r, std::function<void(ingest::Answer)> done) {
    std::string header(r.plugin_header);
    bool write = StartsWith(r.target, "/v1/write/");
    api.Handle(r, [this, header, write, done = std::move(done)](ingest::Answer a) {
      if (write && a.status >= 300) OnRequestRefused(header, a);
      done(std::move(a));
    });
  };
  // Scripts that post over HTTP by themselves reach the same API on a private port.
  ingest::HttpServerOptions http_options;
  http_options.listen = "127.0.0.1:0";
  http_options.body_limit = cfg_.max_body_bytes;
  ingest::HttpServer http(io, http_options, handle);
  Status started = http.Start();

  runner::SupervisorOptions sup = CommandSupervisorOptions(cfg_);
  if (started.ok()) sup.http_addr = http.bound_address();
  // The SDK's log goes to a scratch folder, not the configured one: `sudo pythond test` on an
  // installed host would leave root-owned files in /var/log/pythond that the service (user
  // pythond) could not write afterwards. What it would log is printed here anyway.
  std::string scratch = (fs::temp_directory_path() / "pythond-test-XXXXXX").string();
  if (mkdtemp(scratch.data())) {
    sup.seed_log_dir = scratch;
  }
  struct RemoveScratch {
    std::string dir;
    ~RemoveScratch() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } remove_scratch{sup.seed_log_dir == scratch ? scratch : std::string()};
  sup.schedule_runs = true;
  sup.run_at_hello = true;
  sup.test_mode = true;
  sup.on_run_done = [this](const runner::RunReport& r) { OnRunDone(r); };
  sup.on_output = [](const std::string& who, std::string_view line, bool) {
    std::cerr << "[" << who << "] " << line << "\n" << std::flush;
  };
  sup.on_pipe_request = PipeRequestsTo(handle);
  std::vector<config::InputConfig> inputs;
  for (const TestTarget& t : targets_) {
    inputs.push_back(t.input);
    PrintHeader(t);
  }
  runner::Supervisor supervisor(io, sup, inputs);
  supervisor_ = &supervisor;
  bool completed =
      DriveSupervisor(io, supervisor, [this](const auto& stats) { return Finished(stats); });
  http.Stop();

  // Whatever arrived after the last run of a plugin (a thread it left behind) or without a
  // plugin header (HTTP without the SDK) is shown too.
  for (const std::string& key : plugin_order_) {
    PluginRecord& rec = plugins_.at(key);
    RunRecord& p = rec.pending;
    unattributed_.points.insert(unattributed_.points.end(), p.points.begin(), p.points.end());
    unattributed_.findings.insert(unattributed_.findings.end(), p.findings.begin(),
                                  p.findings.end());
    unattributed_.refused_requests.insert(unattributed_.refused_requests.end(),
                                          p.refused_requests.begin(), p.refused_requests.end());
    unattributed_.refused_points += p.refused_points;
  }
  size_t plugins = 0, runs = 0, failed = 0, points = 0, findings = 0, refused = 0;
  for (const auto& [key, rec] : plugins_) {
    ++plugins;
    for (const auto& r : rec.runs) {
      ++runs;
      if (!r.ok) ++failed;
      points += r.points.size();
      findings += r.findings.size();
      refused += r.refused_requests.size() + r.refused_points;
    }
    if (static_cast<int>(rec.runs.size()) < options_.times && rec.runs.empty()) ++failed;
  }
  bool unattributed_bad = !unattributed_.findings.empty() ||
                          !unattributed_.refused_requests.empty() ||
                          unattributed_.refused_points > 0;
  if (plugins == 0 && errors_.empty()) {
    errors_.push_back("no plugin found: no subclass of DataKitFramework in the scripts given");
  }
  if (!completed) errors_.push_back("interrupted");
  bool ok = errors_.empty() && failed == 0 && findings == 0 && refused == 0 && !unattributed_bad;
  if (options_.format == "json") {
    std::cout << Json();
  } else {
    if (!unattributed_.points.empty() || unattributed_bad) {
      unattributed_.ok = true;
      PluginRecord outside;
      outside.input = "(outside a run)";
      outside.name = "(unattributed)";
      PrintRun(outside, unattributed_);
    }
    std::string summary = "# " + std::string(ok ? "PASS" : "FAIL") + ": " +
                          std::to_string(plugins) + " plugin(s), " + std::to_string(runs) +
                          " run(s), " + std::to_string(failed) + " failed, " +
                          std::to_string(points) + " point(s), " + std::to_string(findings) +
                          " check finding(s), " + std::to_string(refused) + " refused";
    for (const auto& e : errors_) {
      if (StartsWith(e, "no plugin") || e == "interrupted") summary += "\n# ERROR " + e;
    }
    std::cout << summary << "\n" << std::flush;
  }
  return ok ? 0 : 1;
}

}  // namespace

int RunTestCommand(const TestCommandOptions& options) {
  if (options.times < 1) {
    std::cerr << "pythond test: --times must be at least 1\n";
    return 2;
  }
  if (options.format != "lp" && options.format != "json" && options.format != "table") {
    std::cerr << "pythond test: --format must be lp, json or table\n";
    return 2;
  }
  if (Status s = InitLogging(options.log_level, ""); !s.ok()) {
    std::cerr << "pythond test: " << s.message() << "\n";
    return 2;
  }
  auto loaded = config::LoadConfig(options.root, ProcessEnv());
  config::Config cfg;
  const config::Config* cfg_ptr = nullptr;
  if (loaded.ok()) {
    cfg = std::move(*loaded);
    cfg_ptr = &cfg;
  } else {
    cfg.root = fs::absolute(options.root).lexically_normal();
    std::cerr << "pythond test: the configuration under " << (cfg.root / "conf.d").string()
              << " does not load; scripts run with defaults:\n"
              << loaded.status().message() << "\n";
  }
  auto targets = ResolveTestTargets(options.paths, cfg.root, cfg_ptr, options.cmd);
  if (!targets.ok()) {
    std::cerr << "pythond test: " << targets.status().message() << "\n";
    return 1;
  }
  TestSession session(options, cfg, std::move(*targets));
  return session.Run();
}

}  // namespace pythond::agent
