// The sink interface every destination implements: the embedded store today, remote outputs
// (InfluxDB, Kafka, DataKit, ...) later. Ingest hands each accepted batch to one Output (the
// Fanout), which hands it to every configured sink.
//
// Contract: Write() is called on the event-loop thread and must not block on I/O — a sink
// queues the batch and does the work on its own thread. It returns kResourceExhausted when its
// backlog is over its limit (ingest answers 503 so the client retries) and OK otherwise.
// Flush() blocks until everything written before it is durable in the sink (or given up).
//
// WriteAsync() is the form ingest uses: `done` runs on the event-loop thread once the batch is
// as safe as the sink promises before the client gets its answer — queued for the store, on
// disk (fsynced) for an output behind a disk queue. The default completes at once with Write().
#pragma once

#include <functional>
#include <string_view>

#include "common/status.h"
#include "model/point.h"

namespace pythond::outputs {

class Output {
 public:
  virtual ~Output() = default;
  virtual std::string_view name() const = 0;
  [[nodiscard]] virtual Status Write(model::PointBatchPtr batch) = 0;
  virtual void WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) {
    done(Write(std::move(batch)));
  }
  // False while the sink's backlog is full: ingest answers 503 before parsing the body, so an
  // overloaded agent spends nothing on data it cannot keep. Must be cheap and non-blocking.
  virtual bool HasRoom() const { return true; }
  virtual void Flush() = 0;
};

}  // namespace pythond::outputs
