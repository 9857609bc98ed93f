// A Sender delivers batches of line protocol to one backend (InfluxDB/VictoriaMetrics, an
// upstream DataKit, Kafka). It runs on its output's forwarder thread only: Send() blocks until
// the backend answered or the sender's timeout passed, and needs no locking. The forwarder
// (QueuedOutput) owns the disk queue, batching, retries with backoff and the dead letters; a
// Sender only says what happened.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "config/config.h"
#include "model/point.h"

namespace pythond::outputs {

// One batch: points of one category as DataKit-dialect line protocol, one point per line,
// each line ending in '\n', timestamps in nanoseconds.
struct SendBatch {
  model::Category category = model::Category::kMetric;
  std::string_view lines;
  size_t points = 0;
};

struct SendResult {
  enum class Kind {
    kOk,      // delivered
    kRetry,   // not delivered, try again later: 5xx, 408, 429, timeout, connection error
    kReject,  // the backend refuses the data itself (other 4xx): dead letter, never retried
  };
  Kind kind = Kind::kOk;
  // For kRetry/kReject: what went wrong, with the backend's answer (status and the start of
  // its body). Never contains credentials (tokens, passwords, URLs' user:password).
  std::string error;

  static SendResult Ok() { return {}; }
  static SendResult Retry(std::string e) { return {Kind::kRetry, std::move(e)}; }
  static SendResult Reject(std::string e) { return {Kind::kReject, std::move(e)}; }
};

class Sender {
 public:
  virtual ~Sender() = default;
  virtual SendResult Send(const SendBatch& batch) = 0;
  // Where it sends, for logs and /v1/stats, without credentials: "http://127.0.0.1:8428/write".
  virtual std::string Describe() const = 0;
};

}  // namespace pythond::outputs
