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

void Fanout::Flush() {
  for (Output* sink : sinks_) sink->Flush();
}

}  // namespace pythond::outputs
