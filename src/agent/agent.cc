#include "agent/agent.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <unistd.h>
#include <cerrno>
#include <cstring>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "agent/file_watcher.h"
#include "agent/metrics_text.h"
#include "agent/process_env.h"
#include "agent/stats_json.h"
#include "agent/web_routes.h"
#include "agent/worker_session.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/sd_notify.h"
#include "common/strings.h"
#include "config/config.h"
#include "git/git_sync.h"
#include "ingest/api.h"
#include "ingest/http_server.h"
#include "outputs/fanout.h"
#include "outputs/prometheus_output.h"
#include "outputs/queued_output.h"
#include "outputs/registry.h"
#include "runner/cli_log.h"
#include "runner/python_dir.h"
#include "runner/supervisor.h"
#include "store/query.h"
#include "store/sqlite_store.h"

namespace pythond::agent {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// The address scripts should use: a wildcard listen address is reached via loopback.
std::string ClientAddress(const std::string& bound) {
  if (StartsWith(bound, "0.0.0.0:")) return "127.0.0.1:" + bound.substr(8);
  if (StartsWith(bound, "[::]:")) return "[::1]:" + bound.substr(5);
  return bound;
}

// Connections, queue segments and worker pipes all take descriptors: the soft RLIMIT_NOFILE
// (often 1024) is raised to the hard one (at most 2^20). Workers get the original soft limit
// back (PYTHOND_NOFILE_SOFT, read by pythond_worker.py), as scripts may loop up to it.
void RaiseOpenFilesLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t original = lim.rlim_cur;
  const rlim_t want = std::min<rlim_t>(lim.rlim_max, rlim_t{1} << 20);
  if (original >= want) return;
  lim.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    LOG_WARN("cannot raise the open files limit from {} to {}: {}", original, want,
             std::strerror(errno));
    return;
  }
  setenv("PYTHOND_NOFILE_SOFT", std::to_string(original).c_str(), 1);
  LOG_INFO("open files limit raised from {} to {} (workers keep {})", original, want, original);
}

// The host part of a listen address ("box.lan:9529" → "box.lan"; "" for ":9529").
std::string ListenHost(const std::string& listen) {
  if (StartsWith(listen, "[")) return listen.substr(1, listen.find(']') - 1);
  return listen.substr(0, listen.rfind(':'));
}

// What the reload watches: conf.d, python.d, and inputs' absolute `dirs` outside python.d.
std::vector<fs::path> WatchedTrees(const config::Config& cfg) {
  std::vector<fs::path> trees = {cfg.root / "conf.d", cfg.python_d()};
  for (const auto& in : cfg.inputs) {
    for (const auto& d : in.dirs) {
      fs::path p(d);
      if (!p.is_absolute()) continue;
      p = p.lexically_normal();
      if (p.extension() == ".py") p = p.parent_path();
      if (std::find(trees.begin(), trees.end(), p) == trees.end()) trees.push_back(p);
    }
  }
  return trees;
}

std::string ReloadSummaryText(const runner::Supervisor::ReloadSummary& s) {
  auto names = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& n : v) out += (out.empty() ? " (" : ", ") + n;
    return out.empty() ? out : out + ")";
  };
  return std::to_string(s.added.size()) + " added" + names(s.added) + ", " +
         std::to_string(s.removed.size()) + " removed" + names(s.removed) + ", " +
         std::to_string(s.restarted.size()) + " restarted" + names(s.restarted) + ", " +
         std::to_string(s.unchanged) + " unchanged";
}

}  // namespace

int RunAgent(const RunOptions& options) {
  // Request bodies of a few MiB and the points parsed from them come and go at every write.
  // glibc would hand such blocks back to the kernel at each free (mmap above its threshold,
  // heap trimming) and fault them in again at the next request: measured on bench/ingest,
  // that kernel work halved the ingest rate of 5,000-line bodies. Keep up to 32 MiB.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  // Orphans of our workers' children (a script's daemon whose parent died) are reparented to
  // the agent, which reaps them: no zombies left behind.
  (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto loaded = config::LoadConfig(options.root, ProcessEnv());
  if (!loaded.ok()) {
    (void)InitLogging("info", "");
    LOG_ERROR("{}", loaded.status().message());
    return 1;
  }
  config::Config cfg = std::move(*loaded);
  // What the files said at start (before command-line overrides): a reload compares with it.
  config::Config started_cfg = cfg;
  started_cfg.inputs.clear();
  if (!options.listen.empty()) cfg.listen = options.listen;
  if (!options.log_level.empty()) cfg.log_level = options.log_level;
  if (Status s = InitLogging(cfg.log_level, cfg.log_file.string()); !s.ok()) {
    (void)InitLogging("info", "");
    LOG_ERROR("{}", s.message());
    return 1;
  }
  for (const auto& w : cfg.warnings) LOG_WARN("config: {}", w);
  LOG_INFO("pythond {} starting: root {}, {} input(s)", PYTHOND_VERSION, cfg.root.string(),
           cfg.inputs.size());
  RaiseOpenFilesLimit();
  // `sudo pythond run` on an installed host: what it writes would belong to root, and the
  // service's user could not write it afterwards.
  struct stat state_st {};
  if (geteuid() == 0 && stat(cfg.state().c_str(), &state_st) == 0 && state_st.st_uid != 0) {
    const struct passwd* owner = getpwuid(state_st.st_uid);
    std::string name = owner ? owner->pw_name : std::to_string(state_st.st_uid);
    LOG_WARN(
        "running as root, but the state folder {} belongs to '{}': files written now belong "
        "to root, and an agent running as '{}' (the installed service) may not be able to "
        "write them later. Run the service (pythond service -T) or run as that user "
        "(runuser -u {} -- pythond run ...)",
        cfg.state().string(), name, name, name);
  }

  fs::path python_dir = runner::FindPythonDir();
  if (python_dir.empty()) {
    LOG_ERROR("cannot find pythond_worker.py (set PYTHOND_PYTHON_DIR to the folder holding it)");
    return 1;
  }

  asio::io_context io;
  store::StoreOptions store_options;
  store_options.path = cfg.store_path;
  store_options.retention_ns = cfg.store_retention_ns;
  store_options.max_queue_bytes = cfg.store_max_queue_bytes;
  // Bodies admitted while there was room (4 connections' 5,000-line bodies are ~20 MiB parsed)
  // are never refused for want of it.
  store_options.max_backlog_bytes =
      std::max<int64_t>(cfg.store_max_queue_bytes * 4, int64_t{64} << 20);
  store_options.max_size_bytes = cfg.store_max_size_bytes;
  store_options.sync_full = cfg.store_sync_full;
  store_options.fold_interval_ns = cfg.store_fold_interval_ns;
  // Writes are answered on the event loop once their WAL record is committed.
  store_options.post = [&io](std::function<void()> f) { asio::post(io, std::move(f)); };
  auto store = store::SqliteStore::Open(store_options);
  if (!store.ok()) {
    LOG_ERROR("{}", store.status().message());
    return 1;
  }

  outputs::Fanout fanout;
  fanout.Add(store->get());
  ingest::ApiOptions api_options;
  // The status page at / and its store explorer (docs/WEB.md); store reads run on their own
  // thread and answer through the event loop.
  store::StoreReader store_reader(cfg.store_path,
                                  [&io](std::function<void()> f) { asio::post(io, std::move(f)); });
  AddWebRoutes(&api_options, &store_reader, WallNowNs);
  // Outputs (docs/OUTPUTS.md): remote ones behind their disk queues, prometheus as a page.
  std::vector<std::unique_ptr<outputs::QueuedOutput>> queued_outputs;
  std::vector<std::unique_ptr<outputs::PrometheusOutput>> prometheus_outputs;
  std::vector<std::string> prometheus_paths;
  auto stop_outputs = [&queued_outputs] {
    for (auto& o : queued_outputs) o->Stop();
  };
  for (const config::OutputConfig& oc : cfg.outputs) {
    std::string where = oc.file + ":" + std::to_string(oc.line) + ": output '" + oc.name + "'";
    const outputs::OutputType* type = outputs::FindOutputType(oc.type);
    if (!type) {
      LOG_ERROR("{}: unknown type '{}'", where, oc.type);
      stop_outputs();
      return 1;
    }
    if (!type->remote) {
      static const char* kReserved[] = {"/v1/ping", "/v1/stats", "/v1/lasterror", "/metrics"};
      bool taken = StartsWith(oc.prometheus.path, "/v1/write/") ||
                   api_options.get_routes.count(oc.prometheus.path) > 0;
      for (const char* r : kReserved) taken = taken || oc.prometheus.path == r;
      if (taken) {
        LOG_ERROR("{}: path {} is already served by the agent", where, oc.prometheus.path);
        stop_outputs();
        return 1;
      }
      auto prom = std::make_unique<outputs::PrometheusOutput>(oc, WallNowNs);
      outputs::PrometheusOutput* p = prom.get();
      api_options.get_routes[oc.prometheus.path] = [p] {
        return ingest::Answer{200, p->Render(WallNowNs()),
                              std::string(outputs::kPrometheusContentType)};
      };
      fanout.Add(p);
      prometheus_outputs.push_back(std::move(prom));
      prometheus_paths.push_back(oc.prometheus.path);
      LOG_INFO("output '{}': prometheus page at {}", oc.name, oc.prometheus.path);
      continue;
    }
    std::string error;
    std::unique_ptr<outputs::Sender> sender = type->make_sender(oc, &error);
    if (!sender) {
      LOG_ERROR("{}: {}", where, error);
      stop_outputs();
      return 1;
    }
    std::string target = sender->Describe();
    auto opened = outputs::QueuedOutput::Open(
        oc, cfg.data_dir(), std::move(sender),
        [&io](std::function<void()> f) { asio::post(io, std::move(f)); }, WallNowNs);
    if (!opened.ok()) {
      LOG_ERROR("{}: {}", where, opened.status().message());
      stop_outputs();
      return 1;
    }
    fanout.Add(opened->get());
    queued_outputs.push_back(std::move(*opened));
    LOG_INFO("output '{}': {} via data/queue/{}/", oc.name, target, oc.name);
  }
  api_options.version = PYTHOND_VERSION;
  api_options.hostname = Hostname();
  api_options.public_apis = cfg.public_apis;
  api_options.allowed_hosts = cfg.allowed_hosts;
  api_options.allowed_origins = cfg.allowed_origins;
  // A listen address given as a name (not an IP) is a name clients use.
  if (std::string host = ListenHost(cfg.listen); !host.empty()) {
    api_options.allowed_hosts.push_back(host);
  }
  api_options.write_rate_limit = cfg.request_rate_limit;
  api_options.max_decoded_bytes = cfg.max_body_bytes;
  api_options.max_points_per_request = cfg.max_points_per_request;
  for (const auto& [k, v] : cfg.global_tags) api_options.global_tags.push_back({k, v});
  if (std::none_of(cfg.global_tags.begin(), cfg.global_tags.end(),
                   [](const auto& kv) { return kv.first == "host"; })) {
    api_options.global_tags.push_back({"host", api_options.hostname});
  }
  // GET /v1/stats needs the supervisor, which needs the API's address: set below.
  // The agent's state for GET /v1/stats (JSON) and GET /metrics (Prometheus text); the
  // snapshot needs the supervisor, which needs the API's address: set below.
  std::function<std::string(std::string(*render)(const StatsSnapshot&))> stats_provider;
  api_options.get_routes["/metrics"] = [&stats_provider] {
    return ingest::Answer{200, stats_provider ? stats_provider(MetricsText) : std::string(),
                          kMetricsContentType};
  };
  api_options.stats_json = [&stats_provider] {
    return stats_provider ? stats_provider(StatsJson) : std::string("{}");
  };
  // Write bodies (past ApiOptions::offload_min_bytes) are decoded, parsed and checked on a pool
  // of one thread per core; the event loop only moves bytes and counts. Each job holds the
  // event loop open until its answer is back there.
  asio::thread_pool parse_pool(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  api_options.offload = [&io, &parse_pool](std::function<void()> work, std::function<void()> done) {
    asio::post(parse_pool, [&io, work = std::move(work), done = std::move(done),
                            guard = asio::make_work_guard(io)]() mutable {
      thread_local bool named = false;
      if (!named) named = pthread_setname_np(pthread_self(), "ingest-parse") == 0;
      work();
      asio::post(io, std::move(done));
    });
  };
  // Stats entries of configured inputs and plugins exist before their first accepted write
  // (the supervisor is made below; both live on the event loop).
  runner::Supervisor* known_names = nullptr;
  api_options.is_configured = [&known_names](std::string_view input, std::string_view plugin) {
    return known_names && known_names->Knows(input, plugin);
  };
  ingest::Api api(&fanout, WallNowNs, MonoNowNs, std::move(api_options));
  ingest::HttpServerOptions http_options;
  http_options.listen = cfg.listen;
  http_options.body_limit = cfg.max_body_bytes;
  http_options.header_timeout_ns = cfg.header_timeout_ns;
  http_options.read_timeout_ns = cfg.read_timeout_ns;
  http_options.max_connections = cfg.max_connections;
  http_options.max_connections_per_client = cfg.max_connections_per_client;
  // Backpressure (docs/STORE.md): while the store's queue is full, writes wait with their body
  // unread for up to [store] write_wait, then 503. dry=true writes store nothing: never held.
  http_options.hold_body = [&fanout](std::string_view target) {
    return StartsWith(target, "/v1/write/") && target.find("dry=") == std::string_view::npos &&
           !fanout.HasRoom();
  };
  http_options.write_wait_ns = cfg.store_write_wait_ns;
  // Host, Origin, public routes and the rate limit are decided before a body is read.
  http_options.screen = [&api](const ingest::Request& r) { return api.Screen(r); };
  ingest::HttpServer http(
      io, http_options,
      [&api](const ingest::Request& r, std::function<void(ingest::Answer)> respond) {
        api.Handle(r, std::move(respond));
      });
  if (Status s = http.Start(); !s.ok()) {
    LOG_ERROR("{}", s.message());
    return 1;
  }
  std::string bound = http.bound_address();

  std::shared_ptr<spdlog::logger> cli_log;
  if (auto opened = runner::OpenCliLog(cfg.seed_log_dir); opened.ok()) {
    cli_log = *opened;
  } else {
    LOG_WARN("{} (the runner log is disabled)", opened.status().message());
  }

  runner::SupervisorOptions sup_options;
  sup_options.root = cfg.root;
  sup_options.script_roots = cfg.script_roots();
  sup_options.python_dir = python_dir;
  sup_options.http_addr = ClientAddress(bound);
  sup_options.seed_log_dir = cfg.seed_log_dir;
  sup_options.stop_grace_ns = cfg.stop_grace_ns;
  sup_options.restart_backoff_max_ns = cfg.restart_backoff_max_ns;
  sup_options.start_timeout_ns = cfg.start_timeout_ns;
  sup_options.rss_check_interval_ns = cfg.rss_check_interval_ns;
  sup_options.spread_ns = cfg.spread_ns;
  sup_options.cli_log = cli_log;
  sup_options.base_env = CurrentEnvironment;
  sup_options.wall_now_ns = WallNowNs;
  // Scripts' requests through their worker's pipe take the same path as HTTP requests.
  sup_options.on_pipe_request =
      PipeRequestsTo([&api](const ingest::Request& r, std::function<void(ingest::Answer)> done) {
        api.Handle(r, std::move(done));
      });
  runner::Supervisor supervisor(io, sup_options, cfg.inputs);
  known_names = &supervisor;
  // Git repositories (docs/GIT.md): pulled on their own thread; a new commit is applied only if
  // the whole configuration loads with it, then reloaded like a local edit.
  std::function<void(const std::string&)> on_git_change;
  fs::path root = options.root;
  fs::path state = cfg.state();
  git::GitSync git_sync(
      cfg.gitrepos_dir(), cfg.git_repos, cfg.git_pull_interval_ns,
      [root, state](const std::string& repo, const fs::path& staged) -> std::string {
        auto loaded = config::LoadConfig(root, ProcessEnv(), {{repo, staged}}, state);
        return loaded.ok() ? std::string() : loaded.status().message();
      },
      [&io, &on_git_change](std::string what) {
        asio::post(io, [&on_git_change, what = std::move(what)] { on_git_change(what); });
      });
  int64_t started_unix_ns = WallNowNs();
  ReloadStats reload_stats;
  stats_provider = [&](std::string (*render)(const StatsSnapshot&)) {
    std::vector<runner::InputStats> inputs = supervisor.Stats();
    store::StoreStats store_stats = (*store)->Stats();
    StatsSnapshot snap;
    snap.version = PYTHOND_VERSION;
    snap.pid = static_cast<int>(getpid());
    snap.now_unix_ns = WallNowNs();
    snap.started_unix_ns = started_unix_ns;
    snap.inputs = &inputs;
    snap.api = &api.stats();
    snap.store = &store_stats;
    snap.reload = &reload_stats;
    std::vector<outputs::QueuedOutputStats> output_stats;
    for (const auto& o : queued_outputs) output_stats.push_back(o->Stats());
    std::vector<PrometheusOutputStats> prometheus_stats;
    for (size_t i = 0; i < prometheus_outputs.size(); ++i) {
      prometheus_stats.push_back({std::string(prometheus_outputs[i]->name()), prometheus_paths[i],
                                  prometheus_outputs[i]->Stats()});
    }
    snap.outputs = &output_stats;
    snap.prometheus = &prometheus_stats;
    std::vector<git::RepoStatus> git_status = git_sync.Status();
    if (!cfg.git_repos.empty() || !git_status.empty()) snap.git = &git_status;
    std::error_code ec;
    for (const char* suffix : {"", "-wal"}) {
      uintmax_t size = fs::file_size(cfg.store_path.string() + suffix, ec);
      if (!ec) snap.store_size_bytes += size;
    }
    snap.store_retention_s = cfg.store_retention_ns / 1e9;
    snap.store_max_size_bytes = cfg.store_max_size_bytes;
    snap.http_held = http.parked_requests();
    snap.http_held_refused = http.refused_busy();
    return render(snap);
  };

  // Runtime facts for tools (tests, `make run`, later `pythond monitor`).
  fs::path run_file = cfg.data_dir() / "run.json";
  std::string run_json = "{\"pid\":" + std::to_string(getpid()) +
                         ",\"listen\":" + JsonQuote(bound) +
                         ",\"store\":" + JsonQuote(cfg.store_path.string()) +
                         ",\"version\":" + JsonQuote(PYTHOND_VERSION) + "}\n";
  if (Status s = WriteFileAtomic(run_file, run_json); !s.ok()) LOG_WARN("{}", s.message());

  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  asio::signal_set hup_signal(io, SIGHUP);
  ChildReaper reaper(io, supervisor);

  bool stopping = false;
  reaper.Start();
  // Reload: SIGHUP, or (with [reload] watch) a change under conf.d / python.d after a quiet
  // `delay`. A configuration that does not load is rejected whole; the running one stays.
  std::function<void(const std::string&)> on_file_change;
  FileWatcher watcher(io, [&on_file_change](const std::string& path) { on_file_change(path); });
  asio::steady_timer reload_timer(io);
  asio::steady_timer drain_timer(io);  // the stop waits for writes in flight
  std::chrono::steady_clock::time_point drain_until;
  std::function<void()> drain_writes = [&] {
    if (api.writes_in_flight() == 0 || std::chrono::steady_clock::now() >= drain_until) {
      stop_signals.cancel();
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(10));
    drain_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) drain_writes();
    });
  };
  std::string reload_trigger;  // what started the pending debounced reload
  auto reload = [&](const std::string& trigger) {
    if (stopping) return;
    reload_stats.last_unix_ns = WallNowNs();
    reload_stats.last_trigger = trigger;
    SdNotify("RELOADING=1");
    struct Ready {  // whatever the outcome, the agent goes on serving
      ~Ready() { SdNotify("READY=1"); }
    } ready;
    auto next = config::LoadConfig(options.root, ProcessEnv(), {}, cfg.state());
    if (!next.ok()) {
      ++reload_stats.rejected;
      reload_stats.last_ok = false;
      reload_stats.last_result = next.status().message();
      std::string text = "reload (" + trigger +
                         "): the new configuration is rejected; the running one stays:\n" +
                         next.status().message();
      LOG_ERROR("{}", text);
      if (cli_log) cli_log->error("{}", text);
      return;
    }
    for (const auto& w : next->warnings) LOG_WARN("config: {}", w);
    reload_stats.pending_restart = config::AgentSettingsChanged(started_cfg, *next);
    if (!reload_stats.pending_restart.empty()) {
      std::string names;
      for (const auto& n : reload_stats.pending_restart) names += (names.empty() ? "" : ", ") + n;
      LOG_WARN("reload ({}): agent.conf settings changed that apply at the next restart: {}",
               trigger, names);
    }
    std::vector<fs::path> trees = WatchedTrees(*next);
    git_sync.Update(next->git_repos, next->git_pull_interval_ns);
    auto summary = supervisor.Reload(std::move(next->inputs), next->script_roots());
    ++reload_stats.reloads;
    reload_stats.last_ok = true;
    reload_stats.last_result = ReloadSummaryText(summary);
    LOG_INFO("reload ({}): {}", trigger, reload_stats.last_result);
    if (cli_log) cli_log->info("reload ({}): {}", trigger, reload_stats.last_result);
    if (cfg.reload_watch) {
      if (Status s = watcher.Watch(trees); !s.ok()) LOG_WARN("reload: {}", s.message());
    }
  };
  on_file_change = [&](const std::string& path) {
    if (stopping) return;
    if (reload_trigger.empty()) {
      std::string shown = path;
      if (StartsWith(shown, options.root.string() + "/")) {
        shown = shown.substr(options.root.string().size() + 1);
      }
      reload_trigger = shown + " changed";
      LOG_DEBUG("reload: {}; reloading after {} ms without further changes", reload_trigger,
                cfg.reload_delay_ns / 1'000'000);
    }
    // Debounced: each change pushes the reload back, so a checkout or an editor's save
    // sequence is applied once, complete.
    reload_timer.expires_after(std::chrono::nanoseconds(cfg.reload_delay_ns));
    reload_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      std::string trigger = std::exchange(reload_trigger, std::string());
      reload(trigger);
    });
  };
  if (cfg.reload_watch) {
    if (Status s = watcher.Watch(WatchedTrees(cfg)); !s.ok()) {
      LOG_WARN("reload: cannot watch files ({}); only SIGHUP reloads", s.message());
    }
  }
  on_git_change = [&](const std::string& what) {
    if (stopping) return;
    reload(what);
  };
  std::function<void()> wait_hup = [&] {
    hup_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload_timer.cancel();
      reload_trigger.clear();
      reload("SIGHUP");
      wait_hup();
    });
  };
  wait_hup();
  std::function<void()> begin_stop = [&] {
    stopping = true;
    git_sync.Stop();
    supervisor.Stop([&] {
      http.Stop();
      watcher.Stop();
      reload_timer.cancel();
      hup_signal.cancel();
      reaper.Cancel();
      // Writes waiting for an output's fsync still get their answer (at most 5 s).
      drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      drain_writes();
    });
  };
  std::function<void()> wait_stop = [&] {
    stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (!stopping) {
        LOG_INFO("{}: stopping workers (grace {} ms); send it again to kill them now", name,
                 cfg.stop_grace_ns / 1'000'000);
        SdNotify("STOPPING=1");
        begin_stop();
      } else {
        LOG_WARN("{} again: killing the workers now", name);
        supervisor.KillNow();
      }
      wait_stop();
    });
  };
  wait_stop();

  LOG_INFO("listening on http://{} (store {}, seed logs in {})", bound, cfg.store_path.string(),
           cfg.seed_log_dir.string());
  supervisor.Start();
  reaper.ReapNow();  // a worker may have died before the SIGCHLD handler was armed
  git_sync.Start();
  // Under systemd (Type=notify): started once the API is bound and the workers are spawned.
  SdNotify("READY=1\nSTATUS=listening on " + bound + ", " + std::to_string(cfg.inputs.size()) +
           " input(s)");
  // "Handle the world, crash on our own bugs" — but flush what was acknowledged first: an
  // exception escaping a handler starts the graceful stop; a second one ends the loop.
  int internal_errors = 0;
  while (true) {
    try {
      io.run();
      break;
    } catch (const std::exception& e) {
      LOG_ERROR("internal error: {}; stopping", e.what());
      if (++internal_errors > 1 || stopping) break;
      begin_stop();
    }
  }
  if (internal_errors > 0) {
    supervisor.KillNow();
    reaper.ReapNow();
  }

  parse_pool.join();  // after an internal error, jobs may still hold views of requests
  stop_outputs();     // what was acknowledged is on disk already; undelivered records wait there
  // The reader first, so that the writer's close is the last and checkpoints the WAL.
  store_reader.Stop();
  (*store)->Stop();
  auto stats = (*store)->Stats();
  std::error_code ec;
  fs::remove(run_file, ec);
  LOG_INFO("stopped: {} row(s) stored in {} transaction(s)", stats.rows_written,
           stats.transactions);
  spdlog::default_logger()->flush();
  return stopping && internal_errors == 0 ? 0 : 1;
}

int RunQueryCommand(const fs::path& root, const std::string& format, const std::string& sql) {
  store::QueryFormat f;
  if (format == "tsv") {
    f = store::QueryFormat::kTsv;
  } else if (format == "json") {
    f = store::QueryFormat::kJson;
  } else {
    std::cerr << "pythond query: --format must be tsv or json\n";
    return 2;
  }
  auto loaded = config::LoadConfig(root, ProcessEnv());
  if (!loaded.ok()) {
    std::cerr << "pythond query: " << loaded.status().message() << "\n";
    return 1;
  }
  Status s = store::RunQuery(loaded->store_path, sql, f, std::cout);
  std::cout.flush();
  if (!s.ok()) {
    std::cerr << "pythond query: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace pythond::agent
