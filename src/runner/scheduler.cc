#include "runner/scheduler.h"

namespace pythond::runner {

void Scheduler::Add(Id id, int64_t interval_ns, int64_t first_due_ns) {
  Remove(id);
  Entry e;
  e.interval_ns = interval_ns > 0 ? interval_ns : 1;
  e.anchor_ns = first_due_ns;
  e.next_due_ns = first_due_ns;
  entries_[id] = e;
  queue_.emplace(first_due_ns, id);
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
      due.push_back(id);
    }
    // The next slot strictly after now; slots in between passed while we were not looking.
    int64_t due_slot = (e.next_due_ns - e.anchor_ns) / e.interval_ns;
    int64_t next_slot = (now_ns - e.anchor_ns) / e.interval_ns + 1;
    if (next_slot > due_slot + 1) e.skipped += static_cast<uint64_t>(next_slot - due_slot - 1);
    e.next_due_ns = e.anchor_ns + next_slot * e.interval_ns;
    queue_.emplace(e.next_due_ns, id);
  }
  return due;
}

void Scheduler::Finished(Id id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.in_flight = false;
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
