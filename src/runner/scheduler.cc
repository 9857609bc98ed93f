#include "runner/scheduler.h"

#include <algorithm>
#include <utility>

namespace pythond::runner {

void Scheduler::Add(Id id, int64_t interval_ns, int64_t first_slot_ns, int64_t jitter_ns) {
  Remove(id);
  Entry e;
  e.interval_ns = interval_ns > 0 ? interval_ns : 1;
  e.jitter_ns = std::clamp<int64_t>(jitter_ns, 0, e.interval_ns / 2);
  e.anchor_ns = first_slot_ns;
  e.next_slot_ns = first_slot_ns;
  e.next_due_ns = first_slot_ns + Jitter(e);
  entries_[id] = e;
  queue_.emplace(e.next_due_ns, id);
}

int64_t Scheduler::Jitter(const Entry& e) {
  if (e.jitter_ns <= 0) return 0;
  return static_cast<int64_t>(rng_() % static_cast<uint64_t>(e.jitter_ns));
}

int64_t Scheduler::StableOffset(std::string_view key, int64_t interval_ns, int64_t spread_ns) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  int64_t range = std::min(interval_ns, spread_ns);
  if (range <= 0) return 0;
  return static_cast<int64_t>(h % static_cast<uint64_t>(range));
}

void Scheduler::Remove(Id id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  queue_.erase({it->second.next_due_ns, id});
  entries_.erase(it);
}

std::vector<Scheduler::Id> Scheduler::TakeDue(int64_t now_ns) {
  std::vector<Id> due;
  while (!queue_.empty() && queue_.begin()->first <= now_ns) {
    Id id = queue_.begin()->second;
    queue_.erase(queue_.begin());
    Entry& e = entries_.at(id);
    if (e.in_flight) {
      ++e.skipped;
    } else {
      e.in_flight = true;
      ++e.started;
      e.last_due_ns = e.next_due_ns;
      due.push_back(id);
    }
    // The next slot strictly after now; slots in between passed while we were not looking.
    int64_t due_slot = (e.next_slot_ns - e.anchor_ns) / e.interval_ns;
    int64_t next_slot = (now_ns - e.anchor_ns) / e.interval_ns + 1;
    if (next_slot > due_slot + 1) e.skipped += static_cast<uint64_t>(next_slot - due_slot - 1);
    e.next_slot_ns = e.anchor_ns + next_slot * e.interval_ns;
    e.next_due_ns = e.next_slot_ns + Jitter(e);
    queue_.emplace(e.next_due_ns, id);
  }
  return due;
}

void Scheduler::Finished(Id id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.in_flight = false;
}

uint64_t Scheduler::TakeSkipped(Id id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return 0;
  return std::exchange(it->second.skipped, 0);
}

std::optional<int64_t> Scheduler::NextWake() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first;
}

const Scheduler::Entry* Scheduler::Get(Id id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace pythond::runner
