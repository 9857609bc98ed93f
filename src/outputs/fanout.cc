#include "outputs/fanout.h"

#include <memory>

namespace pythond::outputs {

Status Fanout::Write(model::PointBatchPtr batch) {
  Status first;
  for (Output* sink : sinks_) {
    Status s = sink->Write(batch);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

void Fanout::WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) {
  if (sinks_.empty()) {
    done(Status::Ok());
    return;
  }
  struct Pending {
    size_t left;
    Status first;
    std::function<void(Status)> done;
  };
  auto pending = std::make_shared<Pending>(Pending{sinks_.size(), Status::Ok(), std::move(done)});
  for (Output* sink : sinks_) {
    sink->WriteAsync(batch, [pending](Status s) {
      if (!s.ok() && pending->first.ok()) pending->first = std::move(s);
      if (--pending->left == 0) pending->done(std::move(pending->first));
    });
  }
}

bool Fanout::HasRoom() const {
  for (const Output* sink : sinks_) {
    if (!sink->HasRoom()) return false;
  }
  return true;
}

void Fanout::Flush() {
  for (Output* sink : sinks_) sink->Flush();
}

}  // namespace pythond::outputs
