#include "outputs/fanout.h"

namespace pythond::outputs {

Status Fanout::Write(model::PointBatchPtr batch) {
  Status first;
  for (Output* sink : sinks_) {
    Status s = sink->Write(batch);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
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
