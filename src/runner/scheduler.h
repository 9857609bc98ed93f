// When each plugin runs: fixed rate on a grid anchored at its first slot (no drift, whatever a
// run costs), never two runs of one plugin at once, no burst of catch-up runs after a stall,
// optionally each run a random bit (jitter) after its slot, never past the next slot.
// Pure: the caller passes monotonic time in ns; one timer in the supervisor sleeps until
// NextWake(). Not thread-safe (event-loop thread only).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace pythond::runner {

class Scheduler {
 public:
  using Id = uint64_t;

  struct Entry {
    int64_t interval_ns = 0;
    int64_t anchor_ns = 0;     // slot k is at anchor + k * interval
    int64_t jitter_ns = 0;     // each run starts up to this much after its slot
    int64_t next_slot_ns = 0;  // the next slot not yet handed out
    int64_t next_due_ns = 0;   // when that slot's run starts: the slot plus its jitter
    int64_t last_due_ns = 0;   // when the run handed out last should have started
    bool in_flight = false;
    uint64_t started = 0;  // runs handed out by TakeDue
    uint64_t skipped = 0;  // slots not run: previous run still going, or the loop stalled
  };

  // Schedules `id` with its first slot at `first_slot_ns`. Replaces an existing entry.
  // `jitter_ns` is capped at half the interval.
  void Add(Id id, int64_t interval_ns, int64_t first_slot_ns, int64_t jitter_ns = 0);
  void Remove(Id id);
  // Plugins whose slot has come, in due order; each is marked in flight. A due plugin still
  // in flight has that slot skipped (counted). Slots that passed entirely are skipped too.
  std::vector<Id> TakeDue(int64_t now_ns);
  // The run of `id` ended (any outcome).
  void Finished(Id id);
  // The slots of `id` skipped since the last call (and resets the count).
  uint64_t TakeSkipped(Id id);
  // The earliest next_due over all plugins, or nullopt when none is scheduled.
  std::optional<int64_t> NextWake() const;
  const Entry* Get(Id id) const;
  size_t size() const { return entries_.size(); }

  // A stable offset in [0, min(interval, spread)) for `key` (FNV-1a): plugins anchored at
  // start + offset spread over the interval instead of all firing at once, and keep the same
  // place after a restart.
  static int64_t StableOffset(std::string_view key, int64_t interval_ns, int64_t spread_ns);

 private:
  int64_t Jitter(const Entry& e);
  std::mt19937_64 rng_{0x70797468'6f6e64ULL};
  std::map<Id, Entry> entries_;
  std::set<std::pair<int64_t, Id>> queue_;  // (next_due_ns, id)
};

}  // namespace pythond::runner
