#include "runner/supervisor.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <boost/asio/post.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <optional>

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

std::map<pid_t, uint64_t> ProcessGroupRss(const std::set<pid_t>& pgids) {
  std::map<pid_t, uint64_t> rss;
  if (pgids.empty()) return rss;
  static const long kPage = sysconf(_SC_PAGESIZE);
  DIR* proc = opendir("/proc");
  if (!proc) return rss;
  char path[64];
  char buf[1024];
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid pgrp ..." — comm may hold spaces and ')': parse after the last ')'.
    const char* p = strrchr(buf, ')');
    if (!p) continue;
    long fields[22] = {};
    int field = 0;
    for (const char* q = p + 2; *q && field < 22;) {
      while (*q == ' ') ++q;
      if (field == 0) {  // state: a letter
        ++q;
      } else {
        fields[field] = std::strtol(q, const_cast<char**>(&q), 10);
      }
      ++field;
    }
    if (field < 22) continue;
    pid_t pgrp = static_cast<pid_t>(fields[2]);
    if (pgids.count(pgrp)) rss[pgrp] += static_cast<uint64_t>(std::max(0L, fields[21])) * kPage;
  }
  closedir(proc);
  return rss;
}

namespace {

std::string Seconds(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", ns / 1e9);
  return buf;
}

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
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

// A JSON number (integer or not) as double; nullopt when absent, null or another type.
std::optional<double> GetNumber(simdjson::dom::element doc, const char* key) {
  double d;
  if (doc[key].get(d) == simdjson::SUCCESS) return d;
  int64_t i;
  if (doc[key].get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  uint64_t u;
  if (doc[key].get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  return std::nullopt;
}

}  // namespace

void Supervisor::Window::Add(double v) {
  if (values.size() < kWindow) {
    values.push_back(static_cast<float>(v));
  } else {
    values[next] = static_cast<float>(v);
    next = (next + 1) % kWindow;
  }
}

Percentiles Supervisor::Window::Get() const {
  Percentiles out;
  if (values.empty()) return out;
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))) - 1;
    return sorted[std::min(i, sorted.size() - 1)];
  };
  out.p50 = at(0.50);
  out.p99 = at(0.99);
  out.max = sorted.back();
  return out;
}

Supervisor::Supervisor(asio::io_context& io, SupervisorOptions options,
                       std::vector<config::InputConfig> inputs)
    : io_(io), options_(std::move(options)), timer_(io), rss_timer_(io), stop_timer_(io) {
  if (!options_.wall_now_ns) {
    options_.wall_now_ns = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  for (auto& cfg : inputs) {
    Input in;
    in.config = std::move(cfg);
    in.order = static_cast<int>(inputs_.size());
    inputs_.push_back(std::move(in));
  }
}

Supervisor::~Supervisor() {
  for (auto& u : units_) {
    if (u->worker) {
      u->worker->SignalGroup(SIGKILL);
      u->worker->Close();
    }
  }
}

int64_t Supervisor::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t Supervisor::UnixNs(int64_t mono_ns) const {
  return mono_ns + (options_.wall_now_ns() - NowNs());
}

void Supervisor::CliLog(spdlog::level::level_enum level, const std::string& text) {
  if (options_.cli_log) options_.cli_log->log(level, "{}", text);
}

std::string Supervisor::PluginLabel(const Unit& u, const Plugin& p) const {
  return "input '" + inputs_[u.input].config.name + "': " + p.stats.name + " (" + p.stats.module +
         "." + p.stats.class_name + ")";
}

size_t Supervisor::AddUnit(size_t input, std::string label, std::vector<ScriptModule> modules,
                           std::vector<std::pair<std::string, std::string>> only) {
  auto u = std::make_unique<Unit>();
  u->input = input;
  u->label = std::move(label);
  u->modules = std::move(modules);
  u->only = std::move(only);
  u->restart_timer = std::make_unique<asio::steady_timer>(io_);
  u->hello_timer = std::make_unique<asio::steady_timer>(io_);
  u->drain_timer = std::make_unique<asio::steady_timer>(io_);
  u->kill_timer = std::make_unique<asio::steady_timer>(io_);
  u->output_limit = RateLimiter(options_.output_lines_per_s, options_.output_burst);
  units_.push_back(std::move(u));
  inputs_[input].units.push_back(units_.size() - 1);
  return units_.size() - 1;
}

void Supervisor::Start() {
  start_ns_ = NowNs();
  for (size_t i = 0; i < inputs_.size(); ++i) StartInput(i);
  ArmRssTimer();
}

std::vector<config::ScriptRoot> Supervisor::Roots() const {
  if (!options_.script_roots.empty()) return options_.script_roots;
  return {{options_.root / "python.d", ""}};
}

void Supervisor::StartInput(size_t i) {
  Input& in = inputs_[i];
  in.loaded_unix_ns = options_.wall_now_ns();
  DiscoveryResult found = DiscoverModules(Roots(), in.config.dirs);
  in.fingerprint = FingerprintScripts(found);
  for (const auto& p : found.problems) {
    LOG_WARN("input '{}' ({}:{}): {}", in.config.name, in.config.file, in.config.line, p);
    CliLog(spdlog::level::warn, "input '" + in.config.name + "': " + p);
  }
  in.problems = std::move(found.problems);
  in.modules = std::move(found.modules);
  if (in.modules.empty()) {
    LOG_WARN("input '{}': no scripts found in dirs; no worker started", in.config.name);
    return;
  }
  if (in.config.isolation == config::InputConfig::Isolation::kProcess) {
    // One worker per module to start with; a module defining several plugins is split
    // further when its worker says hello.
    for (const ScriptModule& m : in.modules) {
      SpawnWorker(AddUnit(i, in.config.name + "/" + m.name, {m}, {}));
    }
  } else {
    SpawnWorker(AddUnit(i, in.config.name, in.modules, {}));
  }
}

Supervisor::ReloadSummary Supervisor::Reload(std::vector<config::InputConfig> inputs,
                                             std::vector<config::ScriptRoot> roots) {
  options_.script_roots = std::move(roots);
  return Reload(std::move(inputs));
}

Supervisor::ReloadSummary Supervisor::Reload(std::vector<config::InputConfig> inputs) {
  ReloadSummary summary;
  if (stopping_) return summary;
  std::map<std::string, size_t> active;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (!inputs_[i].retired) active[inputs_[i].config.name] = i;
  }
  std::set<std::string> listed;
  for (size_t k = 0; k < inputs.size(); ++k) {
    config::InputConfig& cfg = inputs[k];
    listed.insert(cfg.name);
    std::vector<Plugin> carried;
    auto it = active.find(cfg.name);
    if (it != active.end()) {
      size_t old = it->second;
      bool same_settings = config::SameSettings(inputs_[old].config, cfg);
      bool same_scripts =
          FingerprintScripts(DiscoverModules(Roots(), cfg.dirs)) == inputs_[old].fingerprint;
      if (same_settings && same_scripts) {
        inputs_[old].config.file = cfg.file;  // the table may have moved
        inputs_[old].config.line = cfg.line;
        inputs_[old].order = static_cast<int>(k);
        ++summary.unchanged;
        continue;
      }
      std::string why = !same_settings ? (same_scripts ? "its configuration changed"
                                                       : "its configuration and scripts changed")
                                       : "its scripts changed";
      for (size_t unit : inputs_[old].units) {
        for (const Plugin& p : units_[unit]->plugins) carried.push_back(p);
      }
      for (const Plugin& p : inputs_[old].carried) {
        bool newer = std::any_of(carried.begin(), carried.end(), [&](const Plugin& c) {
          return c.stats.module == p.stats.module && c.stats.class_name == p.stats.class_name;
        });
        if (!newer) carried.push_back(p);  // a plugin its last version never got to load
      }
      std::string text = "input '" + cfg.name + "': reloading, " + why;
      LOG_INFO("{}", text);
      CliLog(spdlog::level::info, text);
      summary.restarted.push_back(cfg.name);
      // The new workers start before the old ones are told to stop: the gap a reload leaves
      // in a changed input's schedule is its new workers' start-up, not the old ones' stop.
      Input in;
      in.config = std::move(cfg);
      in.order = static_cast<int>(k);
      in.carried = std::move(carried);
      inputs_.push_back(std::move(in));
      inputs_[old].replaced_by = inputs_.size() - 1;
      StartInput(inputs_.size() - 1);
      RetireInput(old, why);
      continue;
    }
    std::string text = "input '" + cfg.name + "': added by a reload";
    LOG_INFO("{}", text);
    CliLog(spdlog::level::info, text);
    summary.added.push_back(cfg.name);
    Input in;
    in.config = std::move(cfg);
    in.order = static_cast<int>(k);
    inputs_.push_back(std::move(in));
    StartInput(inputs_.size() - 1);
  }
  for (const auto& [name, index] : active) {
    if (listed.count(name)) continue;
    std::string text = "input '" + name + "': removed by a reload; stopping its workers";
    LOG_INFO("{}", text);
    CliLog(spdlog::level::info, text);
    summary.removed.push_back(name);
    RetireInput(index, "removed from the configuration");
  }
  ArmTimer();
  return summary;
}

void Supervisor::HandOverLastRuns(const Unit& u) {
  size_t next = inputs_[u.input].replaced_by;
  while (next != SIZE_MAX && inputs_[next].retired) next = inputs_[next].replaced_by;
  if (next == SIZE_MAX) return;
  Input& in = inputs_[next];
  for (const Plugin& old : u.plugins) {
    auto same = [&](const Plugin& p) {
      return p.stats.module == old.stats.module && p.stats.class_name == old.stats.class_name;
    };
    auto snap = std::find_if(in.carried.begin(), in.carried.end(), same);
    if (snap == in.carried.end()) continue;
    auto delta = [](uint64_t now, uint64_t then) { return now > then ? now - then : 0; };
    uint64_t runs = delta(old.stats.runs, snap->stats.runs);
    uint64_t failures = delta(old.stats.failures, snap->stats.failures);
    uint64_t timeouts = delta(old.stats.timeouts, snap->stats.timeouts);
    uint64_t skipped = delta(old.stats.skipped, snap->stats.skipped);
    bool newer_error = old.stats.last_error_unix_ns > snap->stats.last_error_unix_ns;
    auto apply = [&](PluginStats& s) {
      s.runs += runs;
      s.failures += failures;
      s.timeouts += timeouts;
      s.skipped += skipped;
      if (newer_error && old.stats.last_error_unix_ns > s.last_error_unix_ns) {
        s.last_error = old.stats.last_error;
        s.last_traceback = old.stats.last_traceback;
        s.last_hint = old.stats.last_hint;
        s.last_error_unix_ns = old.stats.last_error_unix_ns;
      }
    };
    apply(snap->stats);  // for a worker of the new version that has not said hello yet
    for (size_t unit : in.units) {
      for (Plugin& p : units_[unit]->plugins) {
        if (same(p)) apply(p.stats);
      }
    }
  }
}

void Supervisor::RetireInput(size_t index, const std::string& why) {
  inputs_[index].retired = true;
  inputs_[index].carried.clear();
  for (size_t unit : inputs_[index].units) RetireUnit(unit, why);
}

void Supervisor::RetireUnit(size_t index, const std::string& why) {
  Unit& u = *units_[index];
  u.retired = true;
  u.restart_timer->cancel();
  u.hello_timer->cancel();
  if (!u.worker) {  // restarting, idle or never started: nothing runs
    UnregisterPlugins(u, "stopped by a reload");
    u.state = "stopped";
    u.plugins.clear();
    return;
  }
  if (u.exited || !u.recycling.empty()) return;  // already going; FinishExit sees `retired`
  // No new runs (OnTimer skips a unit being recycled); in-flight runs get stop_grace to
  // finish, as in a graceful stop of the agent.
  u.recycling = "reload: " + why;
  u.state = "stopping";
  pid_t pid = u.worker->pid();
  u.worker->Send("{\"t\":\"stop\"}");
  u.kill_timer->expires_after(std::chrono::nanoseconds(options_.stop_grace_ns));
  u.kill_timer->async_wait([this, index, pid](const boost::system::error_code& ec) {
    Unit& u = *units_[index];
    if (ec || !u.worker || u.exited || u.worker->pid() != pid) return;
    LOG_WARN("input '{}': worker pid {} still running {} after a reload stopped it; SIGTERM",
             u.label, pid, Seconds(options_.stop_grace_ns));
    u.worker->SignalGroup(SIGTERM);
    u.kill_timer->expires_after(std::chrono::nanoseconds(options_.kill_after_term_ns));
    u.kill_timer->async_wait([this, index, pid](const boost::system::error_code& ec) {
      Unit& u = *units_[index];
      if (ec || !u.worker || u.exited || u.worker->pid() != pid) return;
      LOG_WARN("input '{}': worker pid {} still there after SIGTERM; SIGKILL", u.label, pid);
      u.worker->SignalGroup(SIGKILL);
    });
  });
}

std::vector<std::string> WorkerEnvironment(const SupervisorOptions& options,
                                           const config::InputConfig& cfg) {
  std::vector<std::string> env = options.base_env ? options.base_env() : std::vector<std::string>{};
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
  for (const auto& kv : cfg.envs) set_env(kv);
  set_env("PYTHONUNBUFFERED=1");
  set_env("PYTHOND_INPUT=" + cfg.name);
  set_env("PYTHOND_HTTP_ADDR=" + options.http_addr);
  set_env("PYTHOND_SEED_LOG_DIR=" + options.seed_log_dir.string());
  set_env("PYTHOND_PYTHON_DIR=" + options.python_dir.string());
  return env;
}

void Supervisor::SpawnWorker(size_t index) {
  Unit& u = *units_[index];
  const config::InputConfig& cfg = inputs_[u.input].config;
  WorkerSpec spec;
  spec.cmd = cfg.cmd;
  spec.args = {"-u", (options_.python_dir / "pythond_worker.py").string()};
  spec.cwd = options_.root.string();
  spec.env = WorkerEnvironment(options_, cfg);

  WorkerProcess::Callbacks cb;
  cb.on_message = [this, index](std::string_view line) { OnMessage(index, line); };
  cb.on_message_dropped = [this, index](size_t bytes) {
    LOG_ERROR("input '{}': dropped a {}-byte protocol message (limit {} bytes)",
              units_[index]->label, bytes, WorkerProcess::kMaxMessageLine);
  };
  cb.on_events_closed = [this, index] {
    if (units_[index]->exited) {
      FinishExit(index);  // drained after the worker's exit
    } else if (!units_[index]->recycling.empty()) {
      // Being stopped on purpose: its exit follows.
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
    LOG_ERROR("input '{}' ({}:{}): {}", u.label, cfg.file, cfg.line, why);
    CliLog(spdlog::level::err, "input '" + u.label + "': " + why);
    u.last_exit = why;
    u.started_ns = 0;  // a failed start is never "stable"
    ScheduleRestart(index, why);
    return;
  }
  u.worker = std::move(*worker);
  u.state = "starting";
  u.started_ns = NowNs();
  u.started_unix_ns = options_.wall_now_ns();
  u.recycling.clear();
  u.import_errors.clear();
  for (Plugin& p : u.plugins) p.stats.state = "starting";

  std::string init =
      "{\"t\":\"init\",\"input\":" + JsonQuote(cfg.name) + ",\"cmd\":" + JsonQuote(cfg.cmd) +
      (options_.test_mode ? ",\"test\":true" : "") +
      ",\"stop_grace\":" + std::to_string(options_.stop_grace_ns / 1e9) + ",\"modules\":[";
  for (size_t m = 0; m < u.modules.size(); ++m) {
    const ScriptModule& mod = u.modules[m];
    if (m) init += ',';
    init += "{\"name\":" + JsonQuote(mod.name) + ",\"file\":" + JsonQuote(mod.file.string()) +
            ",\"sys_path\":" + JsonQuote(mod.sys_path.string()) + "}";
  }
  init += "]";
  if (!u.only.empty()) {
    init += ",\"only\":[";
    for (size_t i = 0; i < u.only.size(); ++i) {
      if (i) init += ',';
      init += "[" + JsonQuote(u.only[i].first) + "," + JsonQuote(u.only[i].second) + "]";
    }
    init += "]";
  }
  init += "}";
  u.worker->Send(std::move(init));
  u.hello_timer->expires_after(std::chrono::nanoseconds(options_.start_timeout_ns));
  u.hello_timer->async_wait(
      [this, index, pid = u.worker->pid()](const boost::system::error_code& ec) {
        Unit& u = *units_[index];
        if (ec || !u.worker || u.exited || u.worker->pid() != pid || u.state != "starting") {
          return;
        }
        std::string text = "input '" + u.label + "': worker pid " + std::to_string(pid) +
                           " did not report ready within " + Seconds(options_.start_timeout_ns) +
                           " (a module stuck at import?); killing it";
        LOG_ERROR("{}", text);
        CliLog(spdlog::level::err, text);
        u.worker->SignalGroup(SIGKILL);  // reaped via SIGCHLD, then restarted with backoff
      });
  LOG_INFO("input '{}': worker pid {} started ({} {} module(s))", u.label, u.worker->pid(), cfg.cmd,
           u.modules.size());
}

void Supervisor::ScheduleRestart(size_t index, const std::string& why) {
  Unit& u = *units_[index];
  if (stopping_ || u.retired) return;
  int64_t now = NowNs();
  bool was_stable = u.started_ns != 0 && now - u.started_ns >= options_.stable_after_ns;
  if (was_stable) {
    u.backoff_ns = 0;
    u.unstable_restarts = 0;
  }
  u.backoff_ns = u.backoff_ns == 0 ? options_.restart_backoff_min_ns
                                   : std::min(u.backoff_ns * 2, options_.restart_backoff_max_ns);
  u.state = "restarting";
  ++u.restarts;
  ++u.unstable_restarts;
  bool crash_loop = u.unstable_restarts >= options_.crash_loop_restarts;
  std::string text = "input '" + u.label + "': " + why + "; restarting in " +
                     Seconds(u.backoff_ns) + " (restart #" + std::to_string(u.restarts) +
                     (crash_loop ? ", crash loop: " + std::to_string(u.unstable_restarts) +
                                       " restarts without a stable run"
                                 : "") +
                     ")";
  if (crash_loop) {
    LOG_ERROR("{}", text);
  } else {
    LOG_WARN("{}", text);
  }
  CliLog(crash_loop ? spdlog::level::err : spdlog::level::warn, text);
  u.restart_timer->expires_after(std::chrono::nanoseconds(u.backoff_ns));
  u.restart_timer->async_wait([this, index](const boost::system::error_code& ec) {
    // A handler already queued when a reload retired the unit still runs: check again.
    if (ec || stopping_ || units_[index]->retired) return;
    SpawnWorker(index);
  });
}

void Supervisor::OnMessage(size_t index, std::string_view line) {
  simdjson::dom::element doc;
  if (parser_.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    LOG_ERROR("input '{}': malformed message from worker: {}", units_[index]->label,
              line.substr(0, 200));
    return;
  }
  std::string_view type = GetString(doc, "t");
  if (type == "done") {
    OnRunDone(index, doc);
  } else if (type == "write") {
    OnWrite(index, doc);
  } else if (type == "hello") {
    OnHello(index, doc);
  } else if (type == "stack") {
    OnStack(index, doc);
  } else {
    LOG_WARN("input '{}': unknown message type '{}' from worker", units_[index]->label, type);
  }
}

void Supervisor::OnHello(size_t index, simdjson::dom::element doc) {
  Unit& u = *units_[index];
  if (u.retired) return;  // a reload stopped it before it was ready
  Input& in = inputs_[u.input];
  const std::string& input_name = in.config.name;
  if (u.state != "starting") {
    // Only the worker program says hello, once; a script writing to fd 3 does not get to
    // re-register plugins.
    LOG_ERROR(
        "input '{}': unexpected second hello on the protocol pipe (a script writing to "
        "fd 3?); ignored",
        u.label);
    return;
  }
  u.hello_timer->cancel();
  std::string python(GetString(doc, "python"));
  std::string executable(GetString(doc, "executable"));
  simdjson::dom::array errors;
  if (doc["errors"].get(errors) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : errors) {
      ModuleError me{std::string(GetString(e, "module")), std::string(GetString(e, "file")),
                     std::string(GetString(e, "error")), std::string(GetString(e, "traceback")),
                     std::string(GetString(e, "hint"))};
      std::string text = "input '" + input_name + "': module '" + me.module +
                         "' failed to import: " + me.error + " (" + me.file + ")";
      std::string details = me.traceback + (me.hint.empty() ? "" : "\n" + me.hint);
      LOG_ERROR("{}\n{}", text, details);
      CliLog(spdlog::level::err, text + "\n" + details);
      u.import_errors.push_back(std::move(me));
    }
  }
  u.python_version = python;
  u.executable = executable;
  u.sys_path.clear();
  simdjson::dom::array sys_path;
  if (doc["sys_path"].get(sys_path) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : sys_path) {
      std::string_view text;
      if (e.get(text) == simdjson::SUCCESS) u.sys_path.emplace_back(text);
    }
  }
  u.modules_loaded.clear();
  simdjson::dom::array modules;
  if (doc["modules"].get(modules) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : modules) {
      ModuleInfo info{std::string(GetString(e, "module")), std::string(GetString(e, "file")), true,
                      std::string(GetString(e, "shadows"))};
      if (e["ok"].get(info.ok) != simdjson::SUCCESS) info.ok = true;
      u.modules_loaded.push_back(std::move(info));
    }
  }
  // Plugins keep their stats across worker restarts; match them by module and class.
  std::vector<Plugin> previous = std::move(u.plugins);
  u.plugins.clear();
  u.plugin_by_worker_id.clear();
  std::vector<Plugin> found;
  simdjson::dom::array plugins;
  if (doc["plugins"].get(plugins) == simdjson::SUCCESS) {
    for (simdjson::dom::element p : plugins) {
      Plugin plugin;
      int64_t id = -1;
      if (p["id"].get(id) != simdjson::SUCCESS) continue;
      plugin.worker_id = static_cast<int>(id);
      PluginStats& s = plugin.stats;
      s.name = SafeName(GetString(p, "name"));  // as the API makes the SDK's header
      s.module = GetString(p, "module");
      s.class_name = GetString(p, "class");
      s.file = GetString(p, "file");
      for (const ScriptModule& m : units_[index]->modules) {
        if (m.file == s.file) s.repo = m.repo;
      }
      if (p["overrides_run"].get(s.overrides_run) != simdjson::SUCCESS) s.overrides_run = true;
      double reported = GetNumber(p, "interval").value_or(10);
      double interval = SanitizeInterval(reported);
      if (interval != reported) {
        s.warnings.push_back("interval " + std::to_string(reported) + " is out of range; using " +
                             std::to_string(interval) + "s");
      }
      simdjson::dom::array warnings;
      if (p["warnings"].get(warnings) == simdjson::SUCCESS) {
        for (simdjson::dom::element w : warnings) {
          std::string_view text;
          if (w.get(text) == simdjson::SUCCESS) s.warnings.emplace_back(text);
        }
      }
      s.interval_s = interval;
      // Timeout: the class's `timeout`, else the input's, else the interval.
      std::optional<double> class_timeout = GetNumber(p, "timeout");
      if (class_timeout && std::isfinite(*class_timeout) && *class_timeout > 0) {
        plugin.timeout_ns = static_cast<int64_t>(std::min(*class_timeout, kMaxIntervalS) * 1e9);
      } else if (in.config.timeout_ns > 0) {
        plugin.timeout_ns = in.config.timeout_ns;
      } else {
        plugin.timeout_ns = static_cast<int64_t>(interval * 1e9);
      }
      s.timeout_s = plugin.timeout_ns / 1e9;
      for (const auto& w : s.warnings) {
        LOG_WARN("input '{}': {}.{}: {}", input_name, s.module, s.class_name, w);
        CliLog(spdlog::level::warn,
               "input '" + input_name + "': " + s.module + "." + s.class_name + ": " + w);
      }
      const std::vector<Plugin>& before = previous.empty() ? in.carried : previous;
      for (const auto& old : before) {
        if (old.stats.module == s.module && old.stats.class_name == s.class_name) {
          s.runs = old.stats.runs;
          s.failures = old.stats.failures;
          s.timeouts = old.stats.timeouts;
          s.skipped = old.stats.skipped;
          s.last_duration_s = old.stats.last_duration_s;
          s.last_run_unix_ns = old.stats.last_run_unix_ns;
          s.last_error = old.stats.last_error;
          s.last_traceback = old.stats.last_traceback;
          s.last_hint = old.stats.last_hint;
          s.last_error_unix_ns = old.stats.last_error_unix_ns;
          plugin.durations = old.durations;
          plugin.lateness = old.lateness;
        }
      }
      found.push_back(std::move(plugin));
    }
  }
  bool process = in.config.isolation == config::InputConfig::Isolation::kProcess;
  if (process && u.only.empty() && found.size() > 1) {
    // isolation = "process": this module defines several plugins; each gets its own worker.
    // This one keeps the first (its other classes were constructed here but never run).
    for (size_t i = 1; i < found.size(); ++i) {
      const PluginStats& s = found[i].stats;
      size_t added = AddUnit(u.input, input_name + "/" + s.name, units_[index]->modules,
                             {{s.module, s.class_name}});
      SpawnWorker(added);
    }
    found.resize(1);
  }
  Unit& unit = *units_[index];  // AddUnit may have moved the vector of units, not the Unit
  if (process && found.size() == 1) {
    unit.only = {{found[0].stats.module, found[0].stats.class_name}};
    unit.label = input_name + "/" + found[0].stats.name;
  }
  int64_t now = NowNs();
  for (Plugin& p : found) RegisterPlugin(index, std::move(p), now);
  unit.state = "running";
  std::string text = "input '" + unit.label + "': worker pid " +
                     std::to_string(unit.worker ? unit.worker->pid() : -1) + " ready (python " +
                     python + " at " + executable + "): " + std::to_string(unit.plugins.size()) +
                     " plugin(s)";
  for (const auto& p : unit.plugins) {
    text += " " + p.stats.name + "(" + p.stats.module + "." + p.stats.class_name + ", every " +
            Seconds(static_cast<int64_t>(p.stats.interval_s * 1e9)) + ", timeout " +
            Seconds(p.timeout_ns) + ")";
  }
  if (!unit.import_errors.empty()) {
    text += "; " + std::to_string(unit.import_errors.size()) + " module(s) failed to import";
  }
  LOG_INFO("{}", text);
  CliLog(spdlog::level::info, text);
  if (unit.plugins.empty()) {
    // Nothing to run (helper modules only, or every import failed): retire the worker until
    // the scripts change, instead of keeping an idle interpreter.
    LOG_WARN("input '{}': no DataKitFramework subclass {}; stopping its worker", unit.label,
             unit.import_errors.empty() ? "defined in its scripts" : "could be loaded");
    unit.recycling = "no plugins";
    unit.worker->Send("{\"t\":\"stop\"}");
  }
  ArmTimer();
}

void Supervisor::RegisterPlugin(size_t index, Plugin plugin, int64_t now) {
  Unit& u = *units_[index];
  const std::string& input_name = inputs_[u.input].config.name;
  int64_t interval_ns = static_cast<int64_t>(plugin.stats.interval_s * 1e9);
  // A stable place inside the interval, the same after a worker restart: the grid is anchored
  // at the supervisor's start plus the plugin's offset.
  int64_t offset = Scheduler::StableOffset(
      input_name + "/" + plugin.stats.module + "." + plugin.stats.class_name, interval_ns,
      options_.spread_ns);
  plugin.stats.offset_s = offset / 1e9;
  int64_t first = start_ns_ + offset;
  if (first < now) {
    if (plugin.stats.runs == 0) {
      // Its very first slot passed while its worker was still starting (a slow import, a
      // loaded machine): run it now rather than an interval later — an hourly plugin must not
      // wait an hour for its first run. Later slots follow the interval from here.
      first = now;
    } else {
      first += ((now - first) / interval_ns + 1) * interval_ns;  // no catch-up after a restart
    }
  }
  if (options_.run_at_hello) first = now;
  plugin.sched_id = next_sched_id_++;
  plugin.registered = true;
  plugin.stats.state = "running";
  plugin.stats.worker = u.label;
  if (options_.schedule_runs) {
    scheduler_.Add(plugin.sched_id, interval_ns, first, inputs_[u.input].config.jitter_ns);
  }
  by_sched_id_[plugin.sched_id] = {index, u.plugins.size()};
  u.plugin_by_worker_id[plugin.worker_id] = u.plugins.size();
  u.plugins.push_back(std::move(plugin));
}

void Supervisor::SetState(Unit& u, Plugin& p, const std::string& state) {
  if (p.stats.state == state) return;
  std::string before = p.stats.state;
  p.stats.state = state;
  if (state == "running" && (before == "failing" || before == "timed_out")) {
    std::string text = PluginLabel(u, p) + " recovered (was " + before + ")";
    LOG_INFO("{}", text);
    CliLog(spdlog::level::info, text);
  } else if (state == "failing" || state == "timed_out") {
    LOG_DEBUG("{} state {} → {}", PluginLabel(u, p), before, state);
  }
}

void Supervisor::OnRunDone(size_t index, simdjson::dom::element doc) {
  Unit& u = *units_[index];
  int64_t id = -1;
  if (doc["id"].get(id) != simdjson::SUCCESS) return;
  auto it = u.plugin_by_worker_id.find(static_cast<int>(id));
  if (it == u.plugin_by_worker_id.end()) return;
  Plugin& plugin = u.plugins[it->second];
  const Scheduler::Entry* entry = scheduler_.Get(plugin.sched_id);
  if (!plugin.registered || !entry || !entry->in_flight) {
    LOG_ERROR(
        "input '{}': 'done' for plugin {} that is not running (a script writing to fd 3?); "
        "ignored",
        u.label, plugin.stats.name);
    return;
  }
  if (GetString(doc, "run") != plugin.run_token) {
    LOG_ERROR(
        "input '{}': 'done' for plugin {} without its run's token (a script writing to "
        "fd 3?); ignored",
        u.label, plugin.stats.name);
    return;
  }
  deadlines_.erase({plugin.run_deadline_ns, plugin.sched_id});
  deadlines_.erase({plugin.recycle_deadline_ns, plugin.sched_id});
  plugin.run_deadline_ns = 0;
  plugin.recycle_deadline_ns = 0;
  plugin.run_started_ns = 0;
  bool ok = false;
  if (doc["ok"].get(ok) != simdjson::SUCCESS) ok = false;
  double duration = GetNumber(doc, "duration").value_or(0);
  if (auto lateness = GetNumber(doc, "lateness")) plugin.lateness.Add(*lateness * 1e3);
  PluginStats& s = plugin.stats;
  s.skipped += scheduler_.TakeSkipped(plugin.sched_id);  // slots skipped while it ran
  scheduler_.Finished(plugin.sched_id);
  ++s.runs;
  s.last_duration_s = duration;
  plugin.durations.Add(duration);
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3fs", duration);
  bool was_stuck = s.state == "timed_out";
  if (options_.on_run_done) {
    RunReport report{inputs_[u.input].config.name,
                     s.name,
                     s.module,
                     s.class_name,
                     s.file,
                     s.runs,
                     ok,
                     duration,
                     std::string(GetString(doc, "error")),
                     std::string(GetString(doc, "traceback")),
                     std::string(GetString(doc, "hint"))};
    options_.on_run_done(report);
  }
  if (ok) {
    // Every run at debug level; at info only the first ok run after a start or a failure
    // (a thousand 1 s plugins would otherwise write a thousand lines a second).
    if (plugin.log_next_ok) {
      CliLog(spdlog::level::info, PluginLabel(u, plugin) + " ran ok in " + dur);
      plugin.log_next_ok = false;
    } else if (options_.cli_log && options_.cli_log->should_log(spdlog::level::debug)) {
      CliLog(spdlog::level::debug, PluginLabel(u, plugin) + " ran ok in " + dur);
    }
    if (was_stuck) {
      LOG_WARN("{} returned after {} (timeout {})", PluginLabel(u, plugin), dur,
               Seconds(plugin.timeout_ns));
    }
    SetState(u, plugin, "running");
    return;
  }
  ++s.failures;
  plugin.log_next_ok = true;
  s.last_error = GetString(doc, "error");
  s.last_traceback = GetString(doc, "traceback");
  s.last_hint = GetString(doc, "hint");
  s.last_error_unix_ns = options_.wall_now_ns();
  std::string text = PluginLabel(u, plugin) + " failed after " + dur + ": " + s.last_error;
  std::string details = s.last_traceback + (s.last_hint.empty() ? "" : "\n" + s.last_hint);
  LOG_ERROR("{}\n{}", text, details);
  CliLog(spdlog::level::err, text + "\n" + details);
  SetState(u, plugin, "failing");
}

void Supervisor::OnStack(size_t index, simdjson::dom::element doc) {
  Unit& u = *units_[index];
  int64_t id = -1;
  if (doc["id"].get(id) != simdjson::SUCCESS) return;
  auto it = u.plugin_by_worker_id.find(static_cast<int>(id));
  if (it == u.plugin_by_worker_id.end()) return;
  Plugin& p = u.plugins[it->second];
  if (p.run_started_ns == 0) return;  // it returned meanwhile
  if (GetString(doc, "run") != p.run_token) {
    LOG_ERROR(
        "input '{}': 'stack' for plugin {} without its run's token (a script writing to "
        "fd 3?); ignored",
        u.label, p.stats.name);
    return;
  }
  std::string stack(GetString(doc, "stack"));
  p.stats.last_traceback = "Stuck at (most recent call last):\n" + stack;
  std::string text = PluginLabel(u, p) + " " + p.stats.last_error + "; stuck at:\n" + stack;
  LOG_ERROR("{}", text);
  CliLog(spdlog::level::err, text);
}

void Supervisor::OnWrite(size_t index, simdjson::dom::element doc) {
  Unit& u = *units_[index];
  int64_t seq = 0;
  if (doc["seq"].get(seq) != simdjson::SUCCESS || !u.worker) return;
  PipeRequest request;
  request.target = GetString(doc, "target");
  request.content_type = GetString(doc, "ct");
  request.plugin_header = GetString(doc, "plugin");
  request.body = GetString(doc, "body");
  // The answer may come later (a disk queue's fsync): by then the worker may be gone.
  std::weak_ptr<WorkerProcess> worker = u.worker;
  auto ack = [worker, seq](PipeAnswer answer) {
    if (auto w = worker.lock()) {
      w->Send("{\"t\":\"ack\",\"seq\":" + std::to_string(seq) + ",\"status\":" +
              std::to_string(answer.status) + ",\"body\":" + JsonQuote(answer.body) + "}");
    }
  };
  if (options_.on_pipe_request) {
    options_.on_pipe_request(request, std::move(ack));
  } else {
    ack(PipeAnswer{503,
                   "{\"error_code\":\"datakit.busy\",\"message\":\"no API behind the pipe\"}"});
  }
}

void Supervisor::OnOutput(size_t index, std::string_view line, bool is_stderr, size_t truncated) {
  Unit& u = *units_[index];
  // "\x1e<plugin id>\x1f" marks a line a plugin printed (the worker's tagged streams).
  std::string who = u.label;
  if (!line.empty() && line[0] == '\x1e') {
    size_t end = line.find('\x1f');
    if (end != std::string_view::npos && end > 1 && end < 12) {
      int id = 0;
      for (size_t i = 1; i < end; ++i)
        id = id * 10 + (line[i] >= '0' && line[i] <= '9' ? line[i] - '0' : 0);
      auto it = u.plugin_by_worker_id.find(id);
      if (it != u.plugin_by_worker_id.end() && u.only.empty()) {
        who = u.label + "/" + u.plugins[it->second].stats.name;
      }
      line.remove_prefix(end + 1);
    }
  }
  if (options_.on_output) {
    options_.on_output(who, line, is_stderr);
    return;
  }
  int64_t now = NowNs();
  if (!u.output_limit.Allow(now)) {
    ++u.suppressed_lines;
    if (now - u.last_suppressed_report_ns >= 10'000'000'000) {
      LOG_WARN("[{}] output rate limit: {} line(s) suppressed so far ({} lines/s allowed)", u.label,
               u.suppressed_lines, options_.output_lines_per_s);
      u.last_suppressed_report_ns = now;
    }
    return;
  }
  auto level = LineLevel(line, is_stderr);
  // A script's bytes reach a terminal or a log viewer: control characters (ESC sequences, CR
  // overwriting the line) are shown escaped.
  const std::string shown = LogSafe(line, line.size());
  const std::string shown_who = LogSafe(who, who.size());
  if (truncated) {
    spdlog::log(level, "[{}] {}… ({} more bytes cut)", shown_who, shown, truncated);
  } else {
    spdlog::log(level, "[{}] {}", shown_who, shown);
  }
}

void Supervisor::UnregisterPlugins(Unit& u, const std::string& why) {
  for (Plugin& p : u.plugins) {
    if (!p.registered) continue;
    const Scheduler::Entry* e = scheduler_.Get(p.sched_id);
    if (e && e->in_flight) {
      ++p.stats.runs;
      ++p.stats.failures;
      p.stats.last_error = "worker " + why + " during the run";
      if (p.stats.state != "timed_out") p.stats.last_traceback.clear();
      p.stats.last_hint.clear();
      p.stats.last_error_unix_ns = options_.wall_now_ns();
      CliLog(spdlog::level::err, PluginLabel(u, p) + " failed: " + p.stats.last_error);
    }
    if (e) p.stats.skipped += e->skipped;
    deadlines_.erase({p.run_deadline_ns, p.sched_id});
    deadlines_.erase({p.recycle_deadline_ns, p.sched_id});
    p.run_deadline_ns = 0;
    p.recycle_deadline_ns = 0;
    p.run_started_ns = 0;
    scheduler_.Remove(p.sched_id);
    by_sched_id_.erase(p.sched_id);
    p.registered = false;
    p.stats.state = stopping_ ? "stopped" : "restarting";
  }
  u.plugin_by_worker_id.clear();
}

bool Supervisor::OnChildExit(pid_t pid, int wait_status) {
  for (size_t i = 0; i < units_.size(); ++i) {
    Unit& u = *units_[i];
    if (!u.worker || u.worker->pid() != pid || u.exited) continue;
    // Whatever the worker left behind in its group goes with it: no orphans.
    u.worker->SignalGroup(SIGKILL);
    u.exited = true;
    u.exit_status = wait_status;
    u.kill_timer->cancel();
    if (u.worker->events_open()) {
      // The worker may have written "done" lines just before it died: read them first (until
      // EOF on fd 3, at most 500 ms).
      u.drain_timer->expires_after(std::chrono::milliseconds(500));
      u.drain_timer->async_wait([this, i](const boost::system::error_code& ec) {
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
  Unit& u = *units_[index];
  if (!u.worker || !u.exited) return;
  u.drain_timer->cancel();
  u.kill_timer->cancel();
  pid_t pid = u.worker->pid();
  std::string how = DescribeWaitStatus(u.exit_status);
  u.worker->Close();
  u.worker.reset();
  u.exited = false;
  u.last_exit = how;
  u.rss_bytes = 0;
  std::string recycled = std::exchange(u.recycling, std::string());
  UnregisterPlugins(u, recycled.empty() ? how : "recycled (" + recycled + ")");
  if (u.retired) {
    u.state = "stopped";
    HandOverLastRuns(u);
    u.plugins.clear();  // the input's new version carries their stats
    u.plugins.shrink_to_fit();
    LOG_INFO("input '{}': worker pid {} {} ({})", u.label, pid, how,
             recycled.empty() ? "stopped by a reload" : recycled);
    MaybeFinishStop();
  } else if (stopping_) {
    u.state = "stopped";
    LOG_INFO("input '{}': worker pid {} {}", u.label, pid, how);
    MaybeFinishStop();
  } else if (recycled == "no plugins") {
    u.state = "idle";
    LOG_INFO("input '{}': worker pid {} {} (nothing to run)", u.label, pid, how);
  } else if (!recycled.empty()) {
    std::string text = "input '" + u.label + "': worker pid " + std::to_string(pid) +
                       " recycled (" + recycled + "), " + how;
    LOG_WARN("{}", text);
    CliLog(spdlog::level::warn, text);
    ScheduleRestart(index, "recycled");
  } else {
    LOG_ERROR("input '{}': worker pid {} {}", u.label, pid, how);
    CliLog(spdlog::level::err,
           "input '" + u.label + "': worker pid " + std::to_string(pid) + " " + how);
    ScheduleRestart(index, "worker " + how);
  }
  ArmTimer();
}

void Supervisor::ArmTimer() {
  if (stopping_) return;
  auto next = scheduler_.NextWake();
  if (!deadlines_.empty() && (!next || deadlines_.begin()->first < *next)) {
    next = deadlines_.begin()->first;
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
  CheckDeadlines(now);
  for (Scheduler::Id id : scheduler_.TakeDue(now)) {
    auto found = by_sched_id_.find(id);
    if (found == by_sched_id_.end()) {
      scheduler_.Remove(id);
      continue;
    }
    auto [unit_index, plugin_index] = found->second;
    Unit& u = *units_[unit_index];
    Plugin& p = u.plugins[plugin_index];
    if (!u.worker || u.exited || !u.recycling.empty()) {
      scheduler_.Finished(id);
      continue;
    }
    int64_t due = scheduler_.Get(id)->last_due_ns;
    p.run_started_ns = now;
    p.stats.last_run_unix_ns = UnixNs(now);
    p.run_deadline_ns = due + p.timeout_ns;
    deadlines_.emplace(p.run_deadline_ns, id);
    const config::InputConfig& cfg = inputs_[u.input].config;
    int64_t recycle_after =
        cfg.recycle_stuck_after_ns > 0 ? cfg.recycle_stuck_after_ns : p.timeout_ns;
    p.recycle_deadline_ns = p.run_deadline_ns + recycle_after;
    deadlines_.emplace(p.recycle_deadline_ns, id);
    p.run_token = NewRunToken();
    u.worker->Send("{\"t\":\"run\",\"id\":" + std::to_string(p.worker_id) +
                   ",\"due\":" + std::to_string(due) + ",\"run\":\"" + p.run_token + "\"}");
  }
  ArmTimer();
}

void Supervisor::CheckDeadlines(int64_t now_ns) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ns) {
    auto [when, id] = *deadlines_.begin();
    deadlines_.erase(deadlines_.begin());
    auto found = by_sched_id_.find(id);
    if (found == by_sched_id_.end()) continue;
    size_t unit_index = found->second.first;
    Unit& u = *units_[unit_index];
    Plugin& p = u.plugins[found->second.second];
    if (p.run_deadline_ns == when) {
      p.run_deadline_ns = 0;
      ++p.stats.timeouts;
      p.stats.last_error = "run still going after its timeout of " + Seconds(p.timeout_ns);
      p.stats.last_traceback.clear();
      p.stats.last_hint.clear();
      p.stats.last_error_unix_ns = options_.wall_now_ns();
      SetState(u, p, "timed_out");
      std::string text = PluginLabel(u, p) + " " + p.stats.last_error +
                         "; its next runs are skipped until it returns";
      LOG_ERROR("{}", text);
      CliLog(spdlog::level::err, text);
      // Ask where it is stuck; the answer ("stack") is logged and kept in its stats.
      if (u.worker && !u.exited) {
        u.worker->Send("{\"t\":\"stack\",\"id\":" + std::to_string(p.worker_id) + ",\"run\":\"" +
                       p.run_token + "\"}");
      }
    } else if (p.recycle_deadline_ns == when) {
      p.recycle_deadline_ns = 0;
      Recycle(unit_index, "plugin '" + p.stats.name + "' stuck in a run for " +
                              Seconds(now_ns - p.run_started_ns) + " (timeout " +
                              Seconds(p.timeout_ns) + ")");
    }
  }
}

void Supervisor::ArmRssTimer() {
  if (stopping_) return;
  rss_timer_.expires_after(std::chrono::nanoseconds(options_.rss_check_interval_ns));
  rss_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    CheckRss();
    ArmRssTimer();
  });
}

void Supervisor::CheckRss() {
  std::set<pid_t> groups;
  for (const auto& u : units_) {
    if (u->worker && !u->exited) groups.insert(u->worker->pid());
  }
  if (groups.empty()) return;
  std::map<pid_t, uint64_t> rss = ProcessGroupRss(groups);
  for (size_t i = 0; i < units_.size(); ++i) {
    Unit& u = *units_[i];
    if (!u.worker || u.exited) continue;
    u.rss_bytes = rss[u.worker->pid()];
    u.rss_peak_bytes = std::max(u.rss_peak_bytes, u.rss_bytes);
    uint64_t limit = inputs_[u.input].config.max_rss_bytes;
    if (limit > 0 && u.rss_bytes > limit) {
      Recycle(i, "RSS " + Mib(u.rss_bytes) + " over max_rss " + Mib(limit));
    }
  }
}

void Supervisor::Recycle(size_t index, const std::string& why) {
  Unit& u = *units_[index];
  if (!u.worker || u.exited || !u.recycling.empty() || stopping_ || u.retired) return;
  u.recycling = why;
  u.last_recycle = why;
  u.state = "recycling";
  pid_t pid = u.worker->pid();
  std::string text = "input '" + u.label + "': worker pid " + std::to_string(pid) +
                     " recycled: " + why + "; SIGTERM to its process group, SIGKILL in " +
                     Seconds(options_.kill_after_term_ns);
  LOG_ERROR("{}", text);
  CliLog(spdlog::level::err, text);
  u.worker->SignalGroup(SIGTERM);
  u.kill_timer->expires_after(std::chrono::nanoseconds(options_.kill_after_term_ns));
  u.kill_timer->async_wait([this, index, pid](const boost::system::error_code& ec) {
    Unit& u = *units_[index];
    if (ec || !u.worker || u.exited || u.worker->pid() != pid) return;
    LOG_WARN("input '{}': worker pid {} still there {} after SIGTERM; SIGKILL", u.label, pid,
             Seconds(options_.kill_after_term_ns));
    u.worker->SignalGroup(SIGKILL);
  });
}

void Supervisor::KillBrokenWorker(size_t index, const std::string& why) {
  Unit& u = *units_[index];
  if (!u.worker || u.exited || stopping_) return;
  std::string text = "input '" + u.label + "': worker pid " + std::to_string(u.worker->pid()) +
                     " " + why + "; killing it";
  LOG_ERROR("{}", text);
  CliLog(spdlog::level::err, text);
  u.worker->SignalGroup(SIGKILL);  // reaped via SIGCHLD, then restarted with backoff
}

void Supervisor::Stop(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  timer_.cancel();
  rss_timer_.cancel();
  for (auto& u : units_) {
    u->restart_timer->cancel();
    u->hello_timer->cancel();
    if (u->worker && !u->exited) {
      // In-flight runs finish (their writes are still answered); the worker then exits.
      u->worker->Send("{\"t\":\"stop\"}");
    } else if (u->state != "idle") {
      u->state = "stopped";
    }
  }
  stop_timer_.expires_after(std::chrono::nanoseconds(options_.stop_grace_ns));
  stop_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (auto& u : units_) {
      if (u->worker && !u->exited) {
        LOG_WARN("input '{}': worker pid {} still running after the {} grace; SIGTERM", u->label,
                 u->worker->pid(), Seconds(options_.stop_grace_ns));
        u->worker->SignalGroup(SIGTERM);
      }
    }
    stop_timer_.expires_after(std::chrono::nanoseconds(options_.kill_after_term_ns));
    stop_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      KillNow();
    });
  });
  MaybeFinishStop();
}

void Supervisor::KillNow() {
  for (auto& u : units_) {
    if (u->worker && !u->exited) {
      LOG_WARN("input '{}': worker pid {}: SIGKILL", u->label, u->worker->pid());
      u->worker->SignalGroup(SIGKILL);
    }
  }
}

void Supervisor::MaybeFinishStop() {
  if (!stopping_ || !stop_done_) return;
  for (auto& u : units_) {
    if (u->worker) return;
  }
  stop_timer_.cancel();
  auto done = std::move(stop_done_);
  stop_done_ = nullptr;
  asio::post(io_, std::move(done));
}

std::string Supervisor::NewRunToken() {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t bits = run_token_rng_();
  std::string token(16, '0');
  for (char& c : token) {
    c = kHex[bits & 15];
    bits >>= 4;
  }
  return token;
}

bool Supervisor::Knows(std::string_view input, std::string_view plugin) const {
  for (const Input& in : inputs_) {
    if (in.retired || in.config.name != input) continue;
    if (plugin.empty()) return true;
    for (size_t index : in.units) {
      for (const Plugin& p : units_[index]->plugins) {
        if (p.stats.name == plugin) return true;
      }
    }
  }
  return false;
}

std::vector<InputStats> Supervisor::Stats() const {
  std::vector<InputStats> out;
  int64_t mono_now = NowNs();
  int64_t wall_delta = options_.wall_now_ns() - mono_now;
  std::vector<const Input*> listed;
  for (const Input& in : inputs_) {
    if (!in.retired) listed.push_back(&in);
  }
  std::stable_sort(listed.begin(), listed.end(),
                   [](const Input* a, const Input* b) { return a->order < b->order; });
  for (const Input* input : listed) {
    const Input& in = *input;
    InputStats s;
    s.name = in.config.name;
    s.loaded_unix_ns = in.loaded_unix_ns;
    s.file = in.config.file;
    s.line = in.config.line;
    s.isolation =
        in.config.isolation == config::InputConfig::Isolation::kProcess ? "process" : "input";
    s.problems = in.problems;
    s.repo = in.config.repo;
    for (size_t index : in.units) {
      const Unit& u = *units_[index];
      WorkerStats w;
      w.label = u.label;
      w.state = u.state;
      w.pid = u.worker ? u.worker->pid() : -1;
      w.restarts = u.restarts;
      w.crash_loop = u.unstable_restarts >= options_.crash_loop_restarts;
      w.last_exit = u.last_exit;
      w.last_recycle = u.last_recycle;
      w.rss_bytes = u.rss_bytes;
      w.rss_peak_bytes = u.rss_peak_bytes;
      w.started_unix_ns = u.started_unix_ns;
      w.import_errors = u.import_errors;
      w.python_version = u.python_version;
      w.executable = u.executable;
      w.sys_path = u.sys_path;
      w.modules = u.modules_loaded;
      s.workers.push_back(std::move(w));
      for (const Plugin& p : u.plugins) {
        PluginStats ps = p.stats;
        if (p.registered) {
          if (const Scheduler::Entry* e = scheduler_.Get(p.sched_id)) {
            ps.skipped += e->skipped;
            ps.next_run_unix_ns = e->next_due_ns + wall_delta;
          }
        }
        ps.duration_s = p.durations.Get();
        ps.lateness_ms = p.lateness.Get();
        s.plugins.push_back(std::move(ps));
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace pythond::runner
