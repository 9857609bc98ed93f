#include "runner/supervisor.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <boost/asio/post.hpp>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/logging.h"
#include "common/strings.h"

namespace pythond::runner {

namespace asio = boost::asio;

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    const char* abbrev = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) +
           (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string()) +
           (WCOREDUMP(st) ? ", core dumped" : "");
  }
  return "ended with wait status " + std::to_string(st);
}

double SanitizeInterval(double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) return 10;
  return std::clamp(seconds, kMinIntervalS, kMaxIntervalS);
}

namespace {

std::string Seconds(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", ns / 1e9);
  return buf;
}

// The level a script's output line is logged at: "E! x", "W! x", "I! x", "D! x" (DataKit's
// prefixes) and Python logging's "ERROR:name:msg" / "WARNING ..." keep their level.
spdlog::level::level_enum LineLevel(std::string_view line, bool is_stderr) {
  if (line.size() >= 3 && line[1] == '!' && line[2] == ' ') {
    switch (line[0]) {
      case 'E':
        return spdlog::level::err;
      case 'W':
        return spdlog::level::warn;
      case 'I':
        return spdlog::level::info;
      case 'D':
        return spdlog::level::debug;
    }
  }
  auto starts_level = [&](std::string_view word) {
    return StartsWith(line, word) && line.size() > word.size() &&
           (line[word.size()] == ':' || line[word.size()] == ' ');
  };
  if (starts_level("CRITICAL") || starts_level("ERROR")) return spdlog::level::err;
  if (starts_level("WARNING")) return spdlog::level::warn;
  if (starts_level("INFO")) return spdlog::level::info;
  if (starts_level("DEBUG")) return spdlog::level::debug;
  return is_stderr ? spdlog::level::warn : spdlog::level::info;
}

std::string_view GetString(simdjson::dom::element doc, const char* key) {
  std::string_view v;
  if (doc[key].get(v) != simdjson::SUCCESS) return {};
  return v;
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, SupervisorOptions options,
                       std::vector<config::InputConfig> inputs)
    : io_(io), options_(std::move(options)), timer_(io), kill_timer_(io) {
  for (auto& cfg : inputs) {
    auto in = std::make_unique<Input>();
    in->config = std::move(cfg);
    in->restart_timer = std::make_unique<asio::steady_timer>(io_);
    in->hello_timer = std::make_unique<asio::steady_timer>(io_);
    in->drain_timer = std::make_unique<asio::steady_timer>(io_);
    in->output_limit = RateLimiter(options_.output_lines_per_s, options_.output_burst);
    inputs_.push_back(std::move(in));
  }
}

Supervisor::~Supervisor() {
  for (auto& in : inputs_) {
    if (in->worker) {
      in->worker->SignalGroup(SIGKILL);
      in->worker->Close();
    }
  }
}

int64_t Supervisor::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Supervisor::CliLog(spdlog::level::level_enum level, const std::string& text) {
  if (options_.cli_log) options_.cli_log->log(level, "{}", text);
}

void Supervisor::Start() {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    Input& in = *inputs_[i];
    DiscoveryResult found = DiscoverModules(options_.root / "python.d", in.config.dirs);
    for (const auto& p : found.problems) {
      LOG_WARN("input '{}' ({}:{}): {}", in.config.name, in.config.file, in.config.line, p);
      CliLog(spdlog::level::warn, "input '" + in.config.name + "': " + p);
    }
    in.modules = std::move(found.modules);
    if (in.modules.empty()) {
      in.state = "idle";
      LOG_WARN("input '{}': no scripts found in dirs; no worker started", in.config.name);
      continue;
    }
    SpawnWorker(i);
  }
}

void Supervisor::SpawnWorker(size_t index) {
  Input& in = *inputs_[index];
  WorkerSpec spec;
  spec.cmd = in.config.cmd;
  spec.args = {"-u", (options_.python_dir / "pythond_worker.py").string()};
  spec.cwd = options_.root.string();
  std::vector<std::string> env =
      options_.base_env ? options_.base_env() : std::vector<std::string>{};
  auto set_env = [&env](const std::string& kv) {
    std::string key = kv.substr(0, kv.find('=') + 1);
    for (auto& e : env) {
      if (StartsWith(e, key)) {
        e = kv;
        return;
      }
    }
    env.push_back(kv);
  };
  for (const auto& kv : in.config.envs) set_env(kv);
  set_env("PYTHONUNBUFFERED=1");
  set_env("PYTHOND_INPUT=" + in.config.name);
  set_env("PYTHOND_HTTP_ADDR=" + options_.http_addr);
  set_env("PYTHOND_SEED_LOG_DIR=" + options_.seed_log_dir.string());
  set_env("PYTHOND_PYTHON_DIR=" + options_.python_dir.string());
  spec.env = std::move(env);

  WorkerProcess::Callbacks cb;
  cb.on_message = [this, index](std::string_view line) { OnMessage(index, line); };
  cb.on_message_dropped = [this, index](size_t bytes) {
    LOG_ERROR("input '{}': dropped a {}-byte protocol message from the worker (limit {} bytes)",
              inputs_[index]->config.name, bytes, WorkerProcess::kMaxMessageLine);
  };
  cb.on_events_closed = [this, index] {
    if (inputs_[index]->exited) {
      FinishExit(index);  // drained after the worker's exit
    } else {
      KillBrokenWorker(index, "closed its protocol pipe (fd 3)");
    }
  };
  cb.on_output = [this, index](std::string_view line, bool is_stderr, size_t truncated) {
    OnOutput(index, line, is_stderr, truncated);
  };
  auto worker = WorkerProcess::Spawn(io_, spec, std::move(cb));
  if (!worker.ok()) {
    std::string why = "cannot start worker: " + worker.status().message();
    LOG_ERROR("input '{}' ({}:{}): {}", in.config.name, in.config.file, in.config.line, why);
    CliLog(spdlog::level::err, "input '" + in.config.name + "': " + why);
    in.last_exit = why;
    in.started_ns = 0;  // a failed start is never "stable"
    ScheduleRestart(index, why);
    return;
  }
  in.worker = std::move(*worker);
  in.state = "starting";
  in.started_ns = NowNs();
  in.import_errors.clear();

  std::string init = "{\"t\":\"init\",\"input\":" + JsonQuote(in.config.name) + ",\"modules\":[";
  for (size_t m = 0; m < in.modules.size(); ++m) {
    const ScriptModule& mod = in.modules[m];
    if (m) init += ',';
    init += "{\"name\":" + JsonQuote(mod.name) + ",\"file\":" + JsonQuote(mod.file.string()) +
            ",\"sys_path\":" + JsonQuote(mod.sys_path.string()) + "}";
  }
  init += "]}";
  in.worker->Send(std::move(init));
  in.hello_timer->expires_after(std::chrono::nanoseconds(options_.start_timeout_ns));
  in.hello_timer->async_wait(
      [this, index, pid = in.worker->pid()](const boost::system::error_code& ec) {
        Input& in = *inputs_[index];
        if (ec || !in.worker || in.exited || in.worker->pid() != pid || in.state != "starting") {
          return;
        }
        std::string text = "input '" + in.config.name + "': worker pid " + std::to_string(pid) +
                           " did not report ready within " + Seconds(options_.start_timeout_ns) +
                           " (a module stuck at import?); killing it";
        LOG_ERROR("{}", text);
        CliLog(spdlog::level::err, text);
        in.worker->SignalGroup(SIGKILL);  // reaped via SIGCHLD, then restarted with backoff
      });
  LOG_INFO("input '{}': worker pid {} started ({} {} module(s))", in.config.name, in.worker->pid(),
           in.config.cmd, in.modules.size());
}

void Supervisor::ScheduleRestart(size_t index, const std::string& why) {
  Input& in = *inputs_[index];
  if (stopping_) return;
  int64_t now = NowNs();
  if (in.started_ns != 0 && now - in.started_ns >= options_.stable_after_ns) in.backoff_ns = 0;
  in.backoff_ns = in.backoff_ns == 0 ? options_.restart_backoff_min_ns
                                     : std::min(in.backoff_ns * 2, options_.restart_backoff_max_ns);
  in.state = "restarting";
  ++in.restarts;
  std::string text = "input '" + in.config.name + "': " + why + "; restarting in " +
                     Seconds(in.backoff_ns) + " (restart #" + std::to_string(in.restarts) +
                     (in.backoff_ns >= options_.restart_backoff_max_ns ? ", crash loop" : "") + ")";
  LOG_WARN("{}", text);
  CliLog(spdlog::level::warn, text);
  in.restart_timer->expires_after(std::chrono::nanoseconds(in.backoff_ns));
  in.restart_timer->async_wait([this, index](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    SpawnWorker(index);
  });
}

void Supervisor::OnMessage(size_t index, std::string_view line) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::padded_string padded(line);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    LOG_ERROR("input '{}': malformed message from worker: {}", inputs_[index]->config.name,
              line.substr(0, 200));
    return;
  }
  std::string_view type = GetString(doc, "t");
  if (type == "hello") {
    OnHello(index, line);
  } else if (type == "done") {
    OnRunDone(index, line);
  } else {
    LOG_WARN("input '{}': unknown message type '{}' from worker", inputs_[index]->config.name,
             type);
  }
}

void Supervisor::OnHello(size_t index, std::string_view line) {
  Input& in = *inputs_[index];
  if (in.state != "starting") {
    // Only the worker program says hello, once; a script writing to fd 3 does not get to
    // re-register plugins.
    LOG_ERROR(
        "input '{}': unexpected second hello on the protocol pipe (a script writing to "
        "fd 3?); ignored",
        in.config.name);
    return;
  }
  simdjson::dom::parser parser;
  simdjson::padded_string padded(line);
  simdjson::dom::element doc = parser.parse(padded).value_unsafe();
  in.hello_timer->cancel();

  std::string python(GetString(doc, "python"));
  std::string executable(GetString(doc, "executable"));
  simdjson::dom::array errors;
  if (doc["errors"].get(errors) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : errors) {
      std::string module(GetString(e, "module"));
      std::string error(GetString(e, "error"));
      std::string traceback(GetString(e, "traceback"));
      std::string text =
          "input '" + in.config.name + "': module '" + module + "' failed to import: " + error;
      LOG_ERROR("{}\n{}", text, traceback);
      CliLog(spdlog::level::err, text + "\n" + traceback);
      in.import_errors.push_back(module + ": " + error);
    }
  }
  // Plugins keep their stats across worker restarts; match them by module and class.
  std::vector<Plugin> previous = std::move(in.plugins);
  in.plugins.clear();
  in.plugin_by_worker_id.clear();
  simdjson::dom::array plugins;
  int64_t now = NowNs();
  if (doc["plugins"].get(plugins) == simdjson::SUCCESS) {
    for (simdjson::dom::element p : plugins) {
      Plugin plugin;
      int64_t id = -1;
      if (p["id"].get(id) != simdjson::SUCCESS) continue;
      plugin.worker_id = static_cast<int>(id);
      plugin.stats.name = GetString(p, "name");
      plugin.stats.module = GetString(p, "module");
      plugin.stats.class_name = GetString(p, "class");
      double reported = 10;
      if (p["interval"].get(reported) != simdjson::SUCCESS) {
        int64_t iv;
        if (p["interval"].get(iv) == simdjson::SUCCESS) reported = static_cast<double>(iv);
      }
      double interval = SanitizeInterval(reported);
      if (interval != reported) {
        LOG_WARN("input '{}': {}.{} interval {} is out of range; using {}s", in.config.name,
                 plugin.stats.module, plugin.stats.class_name, reported, interval);
      }
      plugin.stats.interval_s = interval;
      // A run longer than its interval is reported (issue: per-run timeouts, configurable).
      plugin.timeout_ns = static_cast<int64_t>(std::max(interval, 1.0) * 1e9);
      for (const auto& old : previous) {
        if (old.stats.module == plugin.stats.module &&
            old.stats.class_name == plugin.stats.class_name) {
          plugin.stats.runs = old.stats.runs;
          plugin.stats.failures = old.stats.failures;
          plugin.stats.timeouts = old.stats.timeouts;
          plugin.stats.last_error = old.stats.last_error;
          plugin.stats.last_traceback = old.stats.last_traceback;
        }
      }
      plugin.sched_id = next_sched_id_++;
      plugin.registered = true;
      // The first run is now; later runs keep to the grid anchored here.
      scheduler_.Add(plugin.sched_id, static_cast<int64_t>(interval * 1e9), now);
      by_sched_id_[plugin.sched_id] = {index, in.plugins.size()};
      in.plugin_by_worker_id[plugin.worker_id] = in.plugins.size();
      in.plugins.push_back(std::move(plugin));
    }
  }
  in.state = "running";
  std::string text = "input '" + in.config.name + "': worker pid " +
                     std::to_string(in.worker ? in.worker->pid() : -1) + " ready (python " +
                     python + " at " + executable + "): " + std::to_string(in.plugins.size()) +
                     " plugin(s)";
  for (const auto& p : in.plugins) {
    text += " " + p.stats.name + "(" + p.stats.module + "." + p.stats.class_name + ", every " +
            Seconds(static_cast<int64_t>(p.stats.interval_s * 1e9)) + ")";
  }
  if (!in.import_errors.empty()) {
    text += "; " + std::to_string(in.import_errors.size()) + " module(s) failed to import";
  }
  LOG_INFO("{}", text);
  CliLog(spdlog::level::info, text);
  if (in.plugins.empty()) {
    LOG_WARN("input '{}': no DataKitFramework subclass defined in its scripts; nothing to run",
             in.config.name);
  }
  ArmTimer();
}

void Supervisor::OnRunDone(size_t index, std::string_view line) {
  Input& in = *inputs_[index];
  simdjson::dom::parser parser;
  simdjson::padded_string padded(line);
  simdjson::dom::element doc = parser.parse(padded).value_unsafe();
  int64_t id = -1;
  if (doc["id"].get(id) != simdjson::SUCCESS) return;
  auto it = in.plugin_by_worker_id.find(static_cast<int>(id));
  if (it == in.plugin_by_worker_id.end()) return;
  Plugin& plugin = in.plugins[it->second];
  const Scheduler::Entry* entry = scheduler_.Get(plugin.sched_id);
  if (!plugin.registered || !entry || !entry->in_flight) {
    LOG_ERROR(
        "input '{}': 'done' for plugin {} that is not running (a script writing to fd 3?); "
        "ignored",
        in.config.name, plugin.stats.name);
    return;
  }
  run_deadlines_.erase({plugin.run_deadline_ns, plugin.sched_id});
  plugin.run_deadline_ns = 0;
  bool ok = false;
  if (doc["ok"].get(ok) != simdjson::SUCCESS) ok = false;
  double duration = 0;
  if (doc["duration"].get(duration) != simdjson::SUCCESS) duration = 0;
  scheduler_.Finished(plugin.sched_id);
  PluginStats& s = plugin.stats;
  ++s.runs;
  s.skipped = entry->skipped;
  s.last_duration_s = duration;
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3fs", duration);
  if (ok) {
    CliLog(spdlog::level::info, "input '" + in.config.name + "': " + s.name + " (" + s.module +
                                    "." + s.class_name + ") ran ok in " + dur);
    return;
  }
  ++s.failures;
  s.last_error = GetString(doc, "error");
  s.last_traceback = GetString(doc, "traceback");
  std::string text = "input '" + in.config.name + "': " + s.name + " (" + s.module + "." +
                     s.class_name + ") failed after " + dur + ": " + s.last_error;
  LOG_ERROR("{}\n{}", text, s.last_traceback);
  CliLog(spdlog::level::err, text + "\n" + s.last_traceback);
}

void Supervisor::OnOutput(size_t index, std::string_view line, bool is_stderr, size_t truncated) {
  Input& in = *inputs_[index];
  int64_t now = NowNs();
  if (!in.output_limit.Allow(now)) {
    ++in.suppressed_lines;
    if (now - in.last_suppressed_report_ns >= 10'000'000'000) {
      LOG_WARN("[{}] output rate limit: {} line(s) suppressed so far ({} lines/s allowed)",
               in.config.name, in.suppressed_lines, options_.output_lines_per_s);
      in.last_suppressed_report_ns = now;
    }
    return;
  }
  auto level = LineLevel(line, is_stderr);
  if (truncated) {
    spdlog::log(level, "[{}] {}… ({} more bytes cut)", in.config.name, line, truncated);
  } else {
    spdlog::log(level, "[{}] {}", in.config.name, line);
  }
}

void Supervisor::UnregisterPlugins(Input& in, const std::string& why) {
  for (Plugin& p : in.plugins) {
    if (!p.registered) continue;
    const Scheduler::Entry* e = scheduler_.Get(p.sched_id);
    if (e && e->in_flight) {
      ++p.stats.runs;
      ++p.stats.failures;
      p.stats.last_error = "worker " + why + " during the run";
      p.stats.last_traceback.clear();
      CliLog(spdlog::level::err, "input '" + in.config.name + "': " + p.stats.name + " (" +
                                     p.stats.module + "." + p.stats.class_name +
                                     ") failed: " + p.stats.last_error);
    }
    if (e) p.stats.skipped = e->skipped;
    run_deadlines_.erase({p.run_deadline_ns, p.sched_id});
    p.run_deadline_ns = 0;
    scheduler_.Remove(p.sched_id);
    by_sched_id_.erase(p.sched_id);
    p.registered = false;
  }
  in.plugin_by_worker_id.clear();
}

bool Supervisor::OnChildExit(pid_t pid, int wait_status) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    Input& in = *inputs_[i];
    if (!in.worker || in.worker->pid() != pid || in.exited) continue;
    // Whatever the worker left behind in its group goes with it: no orphans.
    in.worker->SignalGroup(SIGKILL);
    in.exited = true;
    in.exit_status = wait_status;
    if (in.worker->events_open()) {
      // The worker may have written "done" lines just before it died: read them first (until
      // EOF on fd 3, at most 500 ms).
      in.drain_timer->expires_after(std::chrono::milliseconds(500));
      in.drain_timer->async_wait([this, i](const boost::system::error_code& ec) {
        if (!ec) FinishExit(i);
      });
    } else {
      FinishExit(i);
    }
    return true;
  }
  return false;
}

void Supervisor::FinishExit(size_t index) {
  Input& in = *inputs_[index];
  if (!in.worker || !in.exited) return;
  in.drain_timer->cancel();
  pid_t pid = in.worker->pid();
  std::string how = DescribeWaitStatus(in.exit_status);
  in.worker->Close();
  in.worker.reset();
  in.exited = false;
  in.last_exit = how;
  UnregisterPlugins(in, how);
  if (stopping_) {
    in.state = "stopped";
    LOG_INFO("input '{}': worker pid {} {}", in.config.name, pid, how);
    MaybeFinishStop();
  } else {
    LOG_ERROR("input '{}': worker pid {} {}", in.config.name, pid, how);
    CliLog(spdlog::level::err,
           "input '" + in.config.name + "': worker pid " + std::to_string(pid) + " " + how);
    ScheduleRestart(index, "worker " + how);
  }
  ArmTimer();
}

void Supervisor::ArmTimer() {
  if (stopping_) return;
  auto next = scheduler_.NextWake();
  if (!run_deadlines_.empty() && (!next || run_deadlines_.begin()->first < *next)) {
    next = run_deadlines_.begin()->first;
  }
  if (!next) {
    timer_.cancel();
    return;
  }
  int64_t delay = std::max<int64_t>(0, *next - NowNs());
  timer_.expires_after(std::chrono::nanoseconds(delay));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) OnTimer();
  });
}

void Supervisor::OnTimer() {
  if (stopping_) return;
  int64_t now = NowNs();
  ReportTimeouts(now);
  for (Scheduler::Id id : scheduler_.TakeDue(now)) {
    auto found = by_sched_id_.find(id);
    if (found == by_sched_id_.end()) {
      scheduler_.Remove(id);
      continue;
    }
    auto [input_index, plugin_index] = found->second;
    Input& in = *inputs_[input_index];
    Plugin& p = in.plugins[plugin_index];
    if (!in.worker || in.exited) {
      scheduler_.Finished(id);
      continue;
    }
    p.run_deadline_ns = now + p.timeout_ns;
    run_deadlines_.emplace(p.run_deadline_ns, id);
    in.worker->Send("{\"t\":\"run\",\"id\":" + std::to_string(p.worker_id) + "}");
  }
  ArmTimer();
}

void Supervisor::ReportTimeouts(int64_t now_ns) {
  while (!run_deadlines_.empty() && run_deadlines_.begin()->first <= now_ns) {
    Scheduler::Id id = run_deadlines_.begin()->second;
    run_deadlines_.erase(run_deadlines_.begin());
    auto found = by_sched_id_.find(id);
    if (found == by_sched_id_.end()) continue;
    Input& in = *inputs_[found->second.first];
    Plugin& p = in.plugins[found->second.second];
    p.run_deadline_ns = 0;
    ++p.stats.timeouts;
    p.stats.last_error = "run still going after its timeout of " + Seconds(p.timeout_ns);
    std::string text = "input '" + in.config.name + "': " + p.stats.name + " (" + p.stats.module +
                       "." + p.stats.class_name + ") " + p.stats.last_error +
                       "; its next runs are skipped until it returns";
    LOG_ERROR("{}", text);
    CliLog(spdlog::level::err, text);
  }
}

void Supervisor::KillBrokenWorker(size_t index, const std::string& why) {
  Input& in = *inputs_[index];
  if (!in.worker || in.exited || stopping_) return;
  std::string text = "input '" + in.config.name + "': worker pid " +
                     std::to_string(in.worker->pid()) + " " + why + "; killing it";
  LOG_ERROR("{}", text);
  CliLog(spdlog::level::err, text);
  in.worker->SignalGroup(SIGKILL);  // reaped via SIGCHLD, then restarted with backoff
}

void Supervisor::Stop(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  timer_.cancel();
  for (auto& in : inputs_) {
    in->restart_timer->cancel();
    in->hello_timer->cancel();
    if (in->worker && !in->exited) {
      in->worker->CloseStdin();
      in->worker->SignalGroup(SIGTERM);
    } else if (in->state != "idle") {
      in->state = "stopped";
    }
  }
  kill_timer_.expires_after(std::chrono::nanoseconds(options_.stop_grace_ns));
  kill_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (auto& in : inputs_) {
      if (in->worker && !in->exited) {
        LOG_WARN("input '{}': worker pid {} still running after {}; SIGKILL", in->config.name,
                 in->worker->pid(), Seconds(options_.stop_grace_ns));
        in->worker->SignalGroup(SIGKILL);
      }
    }
  });
  MaybeFinishStop();
}

void Supervisor::KillNow() {
  for (auto& in : inputs_) {
    if (in->worker && !in->exited) in->worker->SignalGroup(SIGKILL);
  }
}

void Supervisor::MaybeFinishStop() {
  if (!stopping_ || !stop_done_) return;
  for (auto& in : inputs_) {
    if (in->worker) return;
  }
  kill_timer_.cancel();
  auto done = std::move(stop_done_);
  stop_done_ = nullptr;
  asio::post(io_, std::move(done));
}

std::vector<InputStats> Supervisor::Stats() const {
  std::vector<InputStats> out;
  for (const auto& in : inputs_) {
    InputStats s;
    s.name = in->config.name;
    s.state = in->state;
    s.pid = in->worker ? in->worker->pid() : -1;
    s.restarts = in->restarts;
    s.last_exit = in->last_exit;
    s.import_errors = in->import_errors;
    for (const auto& p : in->plugins) s.plugins.push_back(p.stats);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace pythond::runner
