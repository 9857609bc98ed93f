// The supervisor: one Python worker per [[inputs.pythond]], the scheduler that tells each
// worker when to run which plugin, and restarts with backoff when a worker dies.
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
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "config/config.h"
#include "runner/discovery.h"
#include "runner/output_lines.h"
#include "runner/scheduler.h"
#include "runner/worker_process.h"

namespace pythond::runner {

struct SupervisorOptions {
  std::filesystem::path root;
  std::filesystem::path python_dir;    // holds pythond_worker.py and datakit_framework.py
  std::string http_addr;               // what the SDK reports to (PYTHOND_HTTP_ADDR)
  std::filesystem::path seed_log_dir;  // PYTHOND_SEED_LOG_DIR for the SDK's log
  int64_t stop_grace_ns = 5'000'000'000;
  int64_t restart_backoff_min_ns = 1'000'000'000;
  int64_t restart_backoff_max_ns = 60'000'000'000;
  int64_t stable_after_ns = 60'000'000'000;   // a worker up this long resets the backoff
  int64_t start_timeout_ns = 60'000'000'000;  // spawn → hello; longer = stuck in an import
  double output_lines_per_s = 100;            // per worker, into the agent log
  double output_burst = 500;
  std::shared_ptr<spdlog::logger> cli_log;  // the seed's _datakit_pythond_cli.log; may be null
  std::function<std::vector<std::string>()> base_env;  // the agent's environment
};

// What a plugin has done, for logs and (later) /v1/stats.
struct PluginStats {
  std::string name;    // the class's `name`, or the class name
  std::string module;  // "test", "sub.file"
  std::string class_name;
  double interval_s = 10;
  uint64_t runs = 0;
  uint64_t failures = 0;
  uint64_t timeouts = 0;  // runs still going after their timeout (reported once per run)
  uint64_t skipped = 0;   // slots not run because the previous run was still going
  double last_duration_s = 0;
  std::string last_error;  // "ValueError: ..." of the last failed run
  std::string last_traceback;
};

struct InputStats {
  std::string name;
  std::string state;  // "starting", "running", "restarting", "idle", "stopped"
  pid_t pid = -1;
  uint64_t restarts = 0;
  std::string last_exit;  // "exited with status 1", "killed by SIGSEGV"
  std::vector<std::string> import_errors;
  std::vector<PluginStats> plugins;
};

class Supervisor {
 public:
  Supervisor(boost::asio::io_context& io, SupervisorOptions options,
             std::vector<config::InputConfig> inputs);
  ~Supervisor();

  // Discovers each input's scripts and starts its worker.
  void Start();
  // Stops scheduling, SIGTERMs every worker's process group, SIGKILLs what is left after the
  // grace period, and calls `done` once all workers have been reaped.
  void Stop(std::function<void()> done);
  // During Stop(): SIGKILL every worker group now instead of waiting for the grace period.
  void KillNow();
  // A child exited (called by the agent's SIGCHLD handler after waitpid). Returns false if
  // `pid` is not one of our workers.
  bool OnChildExit(pid_t pid, int wait_status);

  std::vector<InputStats> Stats() const;
  const Scheduler& scheduler() const { return scheduler_; }

 private:
  struct Plugin {
    int worker_id = -1;  // id in the worker's hello
    Scheduler::Id sched_id = 0;
    PluginStats stats;
    bool registered = false;
    int64_t timeout_ns = 0;
    int64_t run_deadline_ns = 0;  // 0: not running, or its timeout was already reported
  };
  struct Input {
    config::InputConfig config;
    std::vector<ScriptModule> modules;
    std::shared_ptr<WorkerProcess> worker;
    std::string state = "starting";
    int64_t started_ns = 0;
    int64_t backoff_ns = 0;
    uint64_t restarts = 0;
    std::string last_exit;
    std::vector<std::string> import_errors;
    std::vector<Plugin> plugins;
    std::map<int, size_t> plugin_by_worker_id;
    std::unique_ptr<boost::asio::steady_timer> restart_timer;
    std::unique_ptr<boost::asio::steady_timer> hello_timer;
    std::unique_ptr<boost::asio::steady_timer> drain_timer;  // exit → last protocol lines
    bool exited = false;  // reaped; its pipes are being drained before FinishExit
    int exit_status = 0;
    RateLimiter output_limit{100, 500};
    uint64_t suppressed_lines = 0;
    int64_t last_suppressed_report_ns = 0;
  };

  void SpawnWorker(size_t index);
  void ScheduleRestart(size_t index, const std::string& why);
  void OnMessage(size_t index, std::string_view line);
  void OnHello(size_t index, std::string_view line);
  void OnRunDone(size_t index, std::string_view line);
  void OnOutput(size_t index, std::string_view line, bool is_stderr, size_t truncated);
  void UnregisterPlugins(Input& in, const std::string& why);
  void KillBrokenWorker(size_t index, const std::string& why);
  void FinishExit(size_t index);
  void ReportTimeouts(int64_t now_ns);
  void ArmTimer();
  void OnTimer();
  void MaybeFinishStop();
  int64_t NowNs() const;
  void CliLog(spdlog::level::level_enum level, const std::string& text);

  boost::asio::io_context& io_;
  SupervisorOptions options_;
  std::vector<std::unique_ptr<Input>> inputs_;
  Scheduler scheduler_;
  Scheduler::Id next_sched_id_ = 1;
  std::map<Scheduler::Id, std::pair<size_t, size_t>> by_sched_id_;  // → (input, plugin)
  std::set<std::pair<int64_t, Scheduler::Id>> run_deadlines_;       // (deadline, plugin)
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer kill_timer_;
  bool stopping_ = false;
  std::function<void()> stop_done_;
};

// A plugin's interval as the worker reported it, made safe: not finite or <= 0 → 10 s;
// otherwise clamped to [kMinIntervalS, kMaxIntervalS].
inline constexpr double kMinIntervalS = 0.1;
inline constexpr double kMaxIntervalS = 30 * 86400;
double SanitizeInterval(double seconds);

// "exited with status 1", "killed by signal 11 (SIGSEGV)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace pythond::runner
