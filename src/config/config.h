// Configuration: conf.d/agent.conf plus every conf.d/**/*.conf holding [[inputs.pythond]]
// tables, parsed and validated into an immutable Config value. Errors name the file and line.
// Pure apart from reading files; thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/env_expand.h"

namespace pythond::config {

// One [[inputs.pythond]] table: one Python worker.
struct InputConfig {
  std::string name;               // required, unique across all files
  std::string cmd;                // required: the Python executable (searched in PATH)
  std::vector<std::string> dirs;  // relative to ROOT/python.d, or absolute; may name one .py
  std::vector<std::string> envs;  // KEY=VALUE, already $VAR-expanded
  // Runs longer than this are reported with the stuck thread's stack; 0: the class's
  // `timeout` attribute, else the plugin's interval.
  int64_t timeout_ns = 0;
  // A run still going this long after its timeout gets its worker recycled; 0: the timeout
  // again (a run is abandoned at twice its timeout). Only a worker's whole process group can be
  // stopped, so its other plugins' in-flight runs end too (isolation = "process" avoids that).
  int64_t recycle_stuck_after_ns = 0;
  // Each run starts up to this much later than its slot (uniformly random); 0: exactly on it.
  int64_t jitter_ns = 0;
  uint64_t max_rss_bytes = 0;  // the worker's process group RSS beyond which it is recycled
  enum class Isolation { kInput, kProcess };
  // kInput: one worker for all the input's plugins (the seed's model). kProcess: one per plugin.
  Isolation isolation = Isolation::kInput;
  std::string file;  // where the table is, for messages
  int line = 0;
};

// Whether two inputs would run the same way: every setting but where the table is. A reload
// restarts an input whose settings differ.
bool SameSettings(const InputConfig& a, const InputConfig& b);

struct Config {
  std::filesystem::path root;
  // [http_api]
  std::string listen = "127.0.0.1:9529";
  // Routes non-loopback clients may use ("/v1/ping", or a prefix ending in '*').
  std::vector<std::string> public_apis = {"/v1/write/*", "/v1/ping"};
  uint64_t max_body_bytes = 32 << 20;          // larger request bodies get 413
  int64_t header_timeout_ns = 10'000'000'000;  // to receive a request's headers
  int64_t read_timeout_ns = 30'000'000'000;    // to receive a whole request (slow clients)
  size_t max_connections = 1024;               // beyond: 503 and close
  double request_rate_limit = 0;               // write requests/s (0: none); beyond: 429
  // [global_tags]: added to every point that lacks the key (unless the request opts out).
  // `host` is the machine's hostname unless set here.
  std::vector<std::pair<std::string, std::string>> global_tags;
  // [log]
  std::string log_level = "info";
  std::filesystem::path log_file;      // empty: stderr only
  std::filesystem::path seed_log_dir;  // the seed's two log files; default $HOME
  // [store]
  std::filesystem::path store_path;          // default ROOT/data/pythond.db
  int64_t store_retention_ns = 7 * 86400e9;  // rows older than this are deleted
  int64_t store_max_queue_bytes = 16 << 20;  // in-memory backlog before writes get 503
  // [runner]
  int64_t stop_grace_ns = 5'000'000'000;  // SIGTERM → SIGKILL grace for workers
  int64_t restart_backoff_max_ns = 60'000'000'000;
  int64_t start_timeout_ns = 60'000'000'000;      // worker spawn → ready, else killed
  int64_t rss_check_interval_ns = 5'000'000'000;  // how often workers' RSS is sampled
  // Each plugin's first slot is start + a stable offset in [0, min(interval, spread)).
  int64_t spread_ns = 10'000'000'000;
  // [reload]: SIGHUP always reloads; with `watch`, so does a change under conf.d or python.d
  // (inotify), `delay` after the last change (edits and checkouts come in bursts).
  bool reload_watch = true;
  int64_t reload_delay_ns = 1'000'000'000;

  std::vector<InputConfig> inputs;
  std::vector<std::string> warnings;  // non-fatal findings, "file:line: text"

  std::filesystem::path python_d() const { return root / "python.d"; }
  std::filesystem::path data_dir() const { return root / "data"; }
};

// The agent.conf settings that differ between `a` and `b` ("http_api.listen", "runner.spread"):
// what a reload cannot apply without a restart. Inputs are not compared.
std::vector<std::string> AgentSettingsChanged(const Config& a, const Config& b);

// Loads ROOT/conf.d. A missing conf.d or agent.conf is fine (defaults, no inputs).
// Errors (all of them, one per line): TOML syntax, wrong types, missing required keys,
// duplicate input names, malformed envs.
StatusOr<Config> LoadConfig(const std::filesystem::path& root, const EnvLookup& lookup);

}  // namespace pythond::config
