// Fanout: one Output that forwards each batch to several. Not thread-safe: Add() during set-up,
// Write() from the event loop only. The sinks are not owned and must outlive the Fanout.
#pragma once

#include <vector>

#include "outputs/output.h"

namespace pythond::outputs {

class Fanout : public Output {
 public:
  void Add(Output* sink) { sinks_.push_back(sink); }
  std::string_view name() const override { return "fanout"; }
  // Writes to every sink; returns the first error (the other sinks still got the batch).
  Status Write(model::PointBatchPtr batch) override;
  // Completes once every sink has; with the first error, if any (the others still got it).
  void WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) override;
  void Flush() override;
  bool HasRoom() const override;

 private:
  std::vector<Output*> sinks_;
};

}  // namespace pythond::outputs
