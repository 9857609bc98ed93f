// The supervisor: the Python workers of every [[inputs.pythond]] (one per input, or one per
// plugin with isolation = "process"), the scheduler that tells each worker when to run which
// plugin, per-run timeouts (reported with the stuck thread's stack; a run stuck long enough gets
// its worker recycled), RSS limits, and restarts with backoff when a worker dies.
// docs/RUNNER.md describes the policy; docs/WORKER_PROTOCOL.md the messages.
//
// Event-loop thread only. Lifecycle: Start() → (events from workers, timers, OnChildExit from
// the agent's SIGCHLD handler) → Stop(done) → done() once every worker has been reaped.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>
#include <spdlog/logger.h>

#include "common/rate_limiter.h"
#include "config/config.h"
#include "runner/discovery.h"
#include "runner/output_lines.h"
#include "runner/scheduler.h"
#include "runner/worker_process.h"

namespace pythond::runner {

// A request a script sent to the agent's API through its worker's pipe (the SDK's transport
// inside a worker): handled exactly like the same HTTP request.
struct PipeRequest {
  std::string_view target;         // "/v1/write/metric?input=x"
  std::string_view content_type;   // "text/plain; charset=utf-8"
  std::string_view plugin_header;  // X-Pythond-Plugin: "<input>/<plugin>", percent-encoded
  std::string_view body;
};
struct PipeAnswer {
  int status = 200;
  std::string body;
};

// One finished run, for SupervisorOptions::on_run_done (`pythond test`).
struct RunReport {
  std::string input, plugin, module, class_name, file;
  uint64_t run = 0;  // 1 for the plugin's first run
  bool ok = false;
  double duration_s = 0;
  std::string error, traceback;
  std::string hint;  // the worker's explanation of a missing module
};

struct SupervisorOptions {
  std::filesystem::path root;
  // Where relative `dirs` are looked up, in order (git repositories, then the local python.d);
  // empty: ROOT/python.d. Reload() may replace it.
  std::vector<config::ScriptRoot> script_roots;
  std::filesystem::path python_dir;    // holds pythond_worker.py and datakit_framework.py
  std::string http_addr;               // what the SDK reports to over HTTP (PYTHOND_HTTP_ADDR)
  std::filesystem::path seed_log_dir;  // PYTHOND_SEED_LOG_DIR for the SDK's log
  // Stop and recycle: in-flight runs get this long to finish, then SIGTERM to the worker's
  // process group, then SIGKILL kill_after_term_ns later.
  int64_t stop_grace_ns = 5'000'000'000;
  int64_t kill_after_term_ns = 2'000'000'000;
  int64_t restart_backoff_min_ns = 1'000'000'000;
  int64_t restart_backoff_max_ns = 60'000'000'000;
  int64_t stable_after_ns = 60'000'000'000;   // a worker up this long resets the backoff
  int64_t start_timeout_ns = 60'000'000'000;  // spawn → hello; longer = stuck in an import
  int64_t rss_check_interval_ns = 5'000'000'000;
  // First slots spread over min(interval, this) after start (Scheduler::StableOffset).
  int64_t spread_ns = 10'000'000'000;
  int crash_loop_restarts = 5;      // this many restarts without a stable run = a crash loop
  double output_lines_per_s = 100;  // per worker, into the agent log
  double output_burst = 500;
  std::shared_ptr<spdlog::logger> cli_log;  // the seed's _datakit_pythond_cli.log; may be null
  std::function<std::vector<std::string>()> base_env;  // the agent's environment
  // Requests scripts send through the worker pipe, answered through the callback (now or later,
  // on the event loop; the request's views are valid only during the call); null: 503.
  std::function<void(const PipeRequest&, std::function<void(PipeAnswer)>)> on_pipe_request;
  std::function<int64_t()> wall_now_ns;  // for the unix times in stats; default system_clock
  // `pythond check` and `pythond test`:
  bool schedule_runs = true;  // false: start workers and read their hello, never run a plugin
  bool run_at_hello = false;  // true: a plugin's first slot is when its worker says hello
  bool test_mode = false;     // init "test": the SDK sends every request through the pipe
  std::function<void(const RunReport&)> on_run_done;  // after each run
  // Lines the scripts print ("<input>/<plugin>" or "<input>"); null: the agent's log.
  std::function<void(const std::string& who, std::string_view line, bool is_stderr)> on_output;
};

// Percentiles over the last runs (a bounded window).
struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};

struct ModuleError {
  std::string module, file, error, traceback;
  std::string hint;  // a missing module explained (interpreter, sys.path, where it is installed)
};

// A module as the worker loaded it (its hello).
struct ModuleInfo {
  std::string module, file;
  bool ok = true;
  // The standard-library or installed module the script's name would otherwise import
  // ("/usr/lib/python3.11/test" for the seed's test.py); empty: none.
  std::string shadows;
};

// What a plugin has done, for logs and /v1/stats.
struct PluginStats {
  std::string name;    // the class's `name`, or the class name
  std::string module;  // "test", "sub.file"
  std::string class_name;
  std::string file;
  std::string repo;  // the git repository its file came from; empty: local
  // "starting", "running" (scheduled; last run fine), "failing" (last run failed),
  // "timed_out" (a run is past its timeout now), "restarting" (its worker is), "stopped".
  std::string state = "starting";
  std::string worker;  // label of the worker running it: "<input>" or "<input>/<plugin>"
  double interval_s = 10;
  double timeout_s = 10;
  double offset_s = 0;  // its slot inside the interval
  uint64_t runs = 0;
  uint64_t failures = 0;
  uint64_t timeouts = 0;  // runs still going after their timeout (each counted once)
  uint64_t skipped = 0;   // slots not run because the previous run was still going
  double last_duration_s = 0;
  Percentiles duration_s;        // over the last runs
  Percentiles lateness_ms;       // run start minus its slot, over the last runs
  int64_t last_run_unix_ns = 0;  // start of the last run
  int64_t next_run_unix_ns = 0;  // 0: not scheduled
  std::string last_error;        // "ValueError: ..." of the last failed or stuck run
  std::string last_traceback;    // its traceback, or the stuck thread's stack
  std::string last_hint;         // a missing module explained
  int64_t last_error_unix_ns = 0;
  bool overrides_run = true;  // false: the class inherits DataKitFramework.run (always raises)
  std::vector<std::string> warnings;  // interval/timeout attribute problems
};

struct WorkerStats {
  std::string label;  // "<input>" or "<input>/<plugin>"
  std::string state;  // "starting", "running", "restarting", "recycling", "idle", "stopped"
  pid_t pid = -1;
  uint64_t restarts = 0;
  bool crash_loop = false;   // restarted crash_loop_restarts times without a stable run
  std::string last_exit;     // "exited with status 1", "killed by signal 11 (SIGSEGV)"
  std::string last_recycle;  // why it was last recycled
  uint64_t rss_bytes = 0;    // its process group, at the last check
  uint64_t rss_peak_bytes = 0;
  int64_t started_unix_ns = 0;
  std::vector<ModuleError> import_errors;
  // From its last hello: the interpreter and what it loaded.
  std::string python_version, executable;
  std::vector<std::string> sys_path;
  std::vector<ModuleInfo> modules;
};

struct InputStats {
  std::string name;
  int64_t loaded_unix_ns = 0;  // when this version of the input was (re)loaded
  std::string file;
  int line = 0;
  std::string isolation;              // "input" or "process"
  std::string repo;                   // the git repository whose conf.d holds it; empty: local
  std::vector<std::string> problems;  // script discovery problems
  std::vector<WorkerStats> workers;
  std::vector<PluginStats> plugins;
};

class Supervisor {
 public:
  Supervisor(boost::asio::io_context& io, SupervisorOptions options,
             std::vector<config::InputConfig> inputs);
  ~Supervisor();

  // Discovers each input's scripts and starts its worker(s).
  void Start();
  // Applies a new list of inputs (a reload): an input whose settings (config::SameSettings)
  // and scripts (FingerprintScripts) are unchanged keeps its workers, schedule and stats
  // untouched; a changed one is restarted (new workers first, then the old ones get a
  // graceful stop; its plugins keep their counters and their slots, which depend only on the
  // input, module, class and interval); a new one is started; a removed one is stopped.
  struct ReloadSummary {
    std::vector<std::string> added, removed, restarted;
    size_t unchanged = 0;
  };
  ReloadSummary Reload(std::vector<config::InputConfig> inputs);
  // The same with new script roots (the git repositories changed).
  ReloadSummary Reload(std::vector<config::InputConfig> inputs,
                       std::vector<config::ScriptRoot> roots);
  // Stops scheduling, lets in-flight runs finish for stop_grace (their writes are still
  // answered), then SIGTERMs every worker's process group, SIGKILLs what is left
  // kill_after_term later, and calls `done` once all workers have been reaped.
  void Stop(std::function<void()> done);
  // During Stop(): SIGKILL every worker group now instead of waiting for the grace period.
  void KillNow();
  // A child exited (called by the agent's SIGCHLD handler after waitpid). Returns false if
  // `pid` is not one of our workers.
  bool OnChildExit(pid_t pid, int wait_status);

  std::vector<InputStats> Stats() const;
  // Whether a configured input of that name exists and, with `plugin` non-empty, whether one of
  // its workers announced a plugin of that name.
  bool Knows(std::string_view input, std::string_view plugin) const;
  const Scheduler& scheduler() const { return scheduler_; }

 private:
  // The last kWindow values for percentiles (a ring: 1 KiB per window, whatever the runs).
  struct Window {
    static constexpr size_t kWindow = 256;
    std::vector<float> values;
    size_t next = 0;
    void Add(double v);
    Percentiles Get() const;
  };
  struct Plugin {
    int worker_id = -1;  // id in the worker's hello
    Scheduler::Id sched_id = 0;
    PluginStats stats;
    Window durations, lateness;
    bool registered = false;
    int64_t timeout_ns = 0;
    int64_t run_started_ns = 0;  // monotonic; 0: not running
    // A random token sent with each run; its `done` and `stack` must carry it, so a line a
    // script writes to fd 3 cannot end a sibling's run.
    std::string run_token;
    int64_t run_deadline_ns = 0;  // 0: not running, or its timeout was already reported
    int64_t recycle_deadline_ns = 0;
    bool log_next_ok = true;  // the runner log gets the first ok run after a start/failure
  };
  struct Unit {  // one worker process
    size_t input = 0;
    std::string label;
    std::vector<ScriptModule> modules;
    // isolation = "process": the (module, class) this worker runs; empty: all it finds.
    std::vector<std::pair<std::string, std::string>> only;
    std::shared_ptr<WorkerProcess> worker;
    std::string state = "starting";
    int64_t started_ns = 0;
    int64_t started_unix_ns = 0;
    int64_t backoff_ns = 0;
    uint64_t restarts = 0;
    int unstable_restarts = 0;  // restarts since the last stable run
    std::string last_exit;
    std::string last_recycle;
    std::string recycling;  // why it is being recycled now; empty: not
    std::vector<ModuleError> import_errors;
    std::string python_version, executable;
    std::vector<std::string> sys_path;
    std::vector<ModuleInfo> modules_loaded;
    std::vector<Plugin> plugins;
    std::map<int, size_t> plugin_by_worker_id;
    std::unique_ptr<boost::asio::steady_timer> restart_timer;
    std::unique_ptr<boost::asio::steady_timer> hello_timer;
    std::unique_ptr<boost::asio::steady_timer> drain_timer;  // exit → last protocol lines
    std::unique_ptr<boost::asio::steady_timer> kill_timer;   // recycle: TERM → KILL
    bool exited = false;  // reaped; its pipes are being drained before FinishExit
    int exit_status = 0;
    RateLimiter output_limit{100, 500};
    uint64_t suppressed_lines = 0;
    int64_t last_suppressed_report_ns = 0;
    uint64_t rss_bytes = 0;
    uint64_t rss_peak_bytes = 0;
    bool retired = false;  // its input was reloaded away: stop it, never restart it
  };
  struct Input {
    config::InputConfig config;
    std::vector<ScriptModule> modules;
    std::vector<std::string> problems;
    std::vector<size_t> units;
    uint64_t fingerprint = 0;  // of its scripts when last (re)started
    int order = 0;             // position in the configuration, for Stats()
    bool retired = false;      // replaced or removed by a reload; its workers are stopping
    int64_t loaded_unix_ns = 0;
    std::vector<Plugin> carried;    // the plugins of the version it replaced (stats carry over)
    size_t replaced_by = SIZE_MAX;  // the input that replaced it in a reload
  };

  std::vector<config::ScriptRoot> Roots() const;
  size_t AddUnit(size_t input, std::string label, std::vector<ScriptModule> modules,
                 std::vector<std::pair<std::string, std::string>> only);
  void StartInput(size_t input);
  void RetireInput(size_t input, const std::string& why);
  void RetireUnit(size_t unit, const std::string& why);
  // A retired unit's last runs (those that finished after the reload took its stats) are
  // added to the input version that replaced it.
  void HandOverLastRuns(const Unit& u);
  void SpawnWorker(size_t unit);
  void ScheduleRestart(size_t unit, const std::string& why);
  void OnMessage(size_t unit, std::string_view line);
  void OnHello(size_t unit, simdjson::dom::element doc);
  void OnRunDone(size_t unit, simdjson::dom::element doc);
  void OnStack(size_t unit, simdjson::dom::element doc);
  void OnWrite(size_t unit, simdjson::dom::element doc);
  void OnOutput(size_t unit, std::string_view line, bool is_stderr, size_t truncated);
  void RegisterPlugin(size_t unit, Plugin plugin, int64_t now);
  void UnregisterPlugins(Unit& u, const std::string& why);
  void SetState(Unit& u, Plugin& p, const std::string& state);
  void KillBrokenWorker(size_t unit, const std::string& why);
  void Recycle(size_t unit, const std::string& why);
  void FinishExit(size_t unit);
  void CheckDeadlines(int64_t now_ns);
  void CheckRss();
  void ArmTimer();
  void ArmRssTimer();
  void OnTimer();
  void MaybeFinishStop();
  int64_t NowNs() const;
  int64_t UnixNs(int64_t mono_ns) const;
  std::string PluginLabel(const Unit& u, const Plugin& p) const;
  void CliLog(spdlog::level::level_enum level, const std::string& text);

  boost::asio::io_context& io_;
  SupervisorOptions options_;
  std::vector<Input> inputs_;
  std::mt19937_64 run_token_rng_{std::random_device{}()};
  std::string NewRunToken();
  std::vector<std::unique_ptr<Unit>> units_;
  Scheduler scheduler_;
  Scheduler::Id next_sched_id_ = 1;
  int64_t start_ns_ = 0;  // monotonic; plugin grids are anchored at start + offset
  std::map<Scheduler::Id, std::pair<size_t, size_t>> by_sched_id_;  // → (unit, plugin)
  std::set<std::pair<int64_t, Scheduler::Id>> deadlines_;  // (timeout or recycle time, plugin)
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer rss_timer_;
  boost::asio::steady_timer stop_timer_;
  simdjson::dom::parser parser_;
  bool stopping_ = false;
  std::function<void()> stop_done_;
};

// A plugin's interval as the worker reported it, made safe: not finite or <= 0 → 10 s;
// otherwise clamped to [kMinIntervalS, kMaxIntervalS].
inline constexpr double kMinIntervalS = 0.1;
inline constexpr double kMaxIntervalS = 30 * 86400;
double SanitizeInterval(double seconds);

// The complete environment a worker of `input` gets: the agent's (options.base_env), the
// input's `envs`, then PYTHONUNBUFFERED and the PYTHOND_* variables the SDK reads.
std::vector<std::string> WorkerEnvironment(const SupervisorOptions& options,
                                           const config::InputConfig& input);

// "exited with status 1", "killed by signal 11 (SIGSEGV)".
std::string DescribeWaitStatus(int wait_status);

// Resident bytes of each process group in `pgids`, summed over its processes (/proc scan).
std::map<pid_t, uint64_t> ProcessGroupRss(const std::set<pid_t>& pgids);

}  // namespace pythond::runner
