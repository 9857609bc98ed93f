// GET /v1/stats: the agent, its inputs/workers/plugins, ingest and the store as one JSON
// document (docs/API.md "GET /v1/stats"). Built on the event-loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "git/git_sync.h"
#include "ingest/api.h"
#include "outputs/prometheus_output.h"
#include "outputs/queued_output.h"
#include "runner/supervisor.h"
#include "store/sqlite_store.h"

namespace pythond::agent {

// Reloads (SIGHUP, file changes) since the start.
struct ReloadStats {
  uint64_t reloads = 0;   // applied
  uint64_t rejected = 0;  // the new configuration did not load; the old one kept running
  int64_t last_unix_ns = 0;
  std::string last_trigger;  // "SIGHUP", "conf.d/x.conf changed", ...
  std::string last_result;   // "1 added, 0 removed, 1 restarted, 3 unchanged" or the error
  bool last_ok = true;
  std::vector<std::string> pending_restart;  // agent.conf settings a reload could not apply
};

struct PrometheusOutputStats {
  std::string name, path;
  outputs::PrometheusStats stats;
};

struct StatsSnapshot {
  std::string version;
  int pid = 0;
  int64_t now_unix_ns = 0;
  int64_t started_unix_ns = 0;
  const std::vector<runner::InputStats>* inputs = nullptr;
  const ingest::ApiStats* api = nullptr;
  const store::StoreStats* store = nullptr;
  const ReloadStats* reload = nullptr;
  const std::vector<outputs::QueuedOutputStats>* outputs = nullptr;
  const std::vector<PrometheusOutputStats>* prometheus = nullptr;
  const std::vector<git::RepoStatus>* git = nullptr;  // [git_repos]
  uint64_t store_size_bytes = 0;                      // the database file and its WAL
  double store_retention_s = 0;
  uint64_t store_max_size_bytes = 0;  // [store] max_size_mb; 0: no cap
  uint64_t http_held = 0;             // writes waiting with their body unread (backpressure)
  uint64_t http_held_refused = 0;     // of those, answered 503 after [store] write_wait
};

std::string StatsJson(const StatsSnapshot& s);

// This process, from /proc and getrusage.
struct ProcessFacts {
  uint64_t rss_bytes = 0, rss_peak_bytes = 0;
  double cpu_seconds = 0;  // user + system
  uint64_t threads = 0;
  uint64_t open_files = 0;  // file descriptors
};
ProcessFacts ReadProcessFacts();

// Resident and peak resident bytes of this process (/proc/self/status VmRSS, VmHWM).
void SelfRss(uint64_t* rss_bytes, uint64_t* peak_bytes);

}  // namespace pythond::agent
