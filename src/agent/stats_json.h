// GET /v1/stats: the agent, its inputs/workers/plugins, ingest and the store as one JSON
// document (docs/API.md "GET /v1/stats"). Built on the event-loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ingest/api.h"
#include "runner/supervisor.h"
#include "store/sqlite_store.h"

namespace pythond::agent {

struct StatsSnapshot {
  std::string version;
  int pid = 0;
  int64_t now_unix_ns = 0;
  int64_t started_unix_ns = 0;
  const std::vector<runner::InputStats>* inputs = nullptr;
  const ingest::ApiStats* api = nullptr;
  const store::StoreStats* store = nullptr;
};

std::string StatsJson(const StatsSnapshot& s);

// Resident and peak resident bytes of this process (/proc/self/status VmRSS, VmHWM).
void SelfRss(uint64_t* rss_bytes, uint64_t* peak_bytes);

}  // namespace pythond::agent
