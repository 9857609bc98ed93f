// KafkaSender: a Sender that ships line protocol to Kafka through librdkafka's idempotent
// producer (enable.idempotence=true, acks=all), so librdkafka's own retries never duplicate or
// reorder a message within a partition.
//
// Messages. A batch's lines are grouped by series (GroupLinesBySeries below); each series becomes
// one message whose key is the series key and whose value is that series' lines in batch order,
// each ending in '\n'. A series too large for one message (librdkafka's message.max.bytes, 1 MB by
// default, counting key and record overhead) is cut at line boundaries into several messages with
// the same key; equal keys land on one partition, in order. A single line too large for any
// message rejects the batch before anything is produced. The topic is the output's template with
// every "{category}" replaced by the DataKit category name ("metric", "logging", ...).
//
// Send() produces every message of the batch, then serves delivery reports until each one has
// arrived or `timeout_ns` (from the start of the call) has passed:
//   - all delivered                                   → Ok
//   - a permanent failure: message too large (client or broker), unknown topic (missing with
//     auto-create off; reported after topic.metadata.propagation.max.ms, by default half the
//     timeout), invalid topic, topic or cluster authorization failed, policy violation, invalid
//     record                                          → Reject, with librdkafka's error text
//   - anything else: message timed out (broker down, no leader, failed SASL/TLS handshake: the
//     client's last error is appended), queue full until the deadline, transport errors, a fatal
//     producer error                                  → Retry
// A Retry may leave messages of that batch in flight; their later reports are ignored (each
// Send has a generation), they may still be delivered, and the caller resends the whole batch:
// at-least-once. After a fatal producer error (the idempotent producer's state is lost) the
// next Send destroys the producer and creates a new one.
//
// Configuration: bootstrap.servers = `brokers`, message.timeout.ms = `timeout_ns`,
// topic.metadata.propagation.max.ms = half of it, enable.idempotence=true, acks=all,
// client.id=pythond; then the output's `properties` in order, which may override any of these
// (librdkafka checks the combination: acks=1 with idempotence is a construction error). Every
// property is validated when the sender is made; an error names the key. Values of secret
// properties (keys holding "password", "secret", "token", "jaas", ".pem", "oauthbearer") never
// appear in errors or logs, and Describe() drops any user:password@ from the brokers.
//
// Threads: librdkafka runs its own (rdk:main, one per known broker and one internal); they log
// through spdlog, reading only the immutable configuration, and touch nothing else here.
// Delivery reports and error callbacks are served only inside Send(), on the caller's thread.
// Send(), Describe() and the destructor must be called from one thread at a time (the output's
// forwarder), as Sender says. The destructor does not flush: anything still in flight belongs to
// batches already answered with Retry (still in the caller's queue); it is purged and the handle
// destroyed, which joins librdkafka's threads without waiting on the network.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "model/point.h"
#include "outputs/sender.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace pythond::outputs {

// The lines of one series in a batch.
struct SeriesLines {
  std::string_view key;                 // measurement and tags as written: "cpu,host=a\ b"
  std::vector<std::string_view> lines;  // whole lines, each with its '\n' (a final one may lack it)
};

// Splits DataKit-dialect line protocol into points and groups them by series key: the text of a
// point up to its first unescaped space (a backslash escapes the next byte, as in `\ `, `\,`,
// `\\`). A point ends at the first newline outside a string field value (strings may hold raw
// newlines). Series come in order of first appearance, lines in input order; blank lines are
// skipped; a line with no space is its own key. Views point into `text`. Total on any bytes.
std::vector<SeriesLines> GroupLinesBySeries(std::string_view text);

class KafkaSender final : public Sender {
 public:
  // Validates the configuration and creates the producer (which connects in the background:
  // an unreachable broker is not an error here). Errors: InvalidArgument naming the bad
  // property, or librdkafka's complaint about the combination.
  static StatusOr<std::unique_ptr<KafkaSender>> Create(const config::OutputConfig& config);
  ~KafkaSender() override;
  KafkaSender(const KafkaSender&) = delete;
  KafkaSender& operator=(const KafkaSender&) = delete;

  SendResult Send(const SendBatch& batch) override;
  // "kafka://host1:9092,host2:9092/pythond-{category}", without any user:password@.
  std::string Describe() const override;

  // For tests: raises a fatal error in the current producer, as a fenced or broken idempotent
  // producer would.
  void RaiseFatalErrorForTest();

 private:
  struct ProducerDeleter {
    void operator()(rd_kafka_s* rk) const;
  };
  using Producer = std::unique_ptr<rd_kafka_s, ProducerDeleter>;

  // What the delivery reports of the current Send said.
  struct Round {
    uint64_t generation = 0;
    size_t delivered = 0;
    size_t failed = 0;
    bool permanent = false;  // some failure was permanent
    std::string first_error;
  };

  explicit KafkaSender(const config::OutputConfig& config);
  StatusOr<Producer> NewProducer();
  // Replaces the values of secret properties in `text` with "***".
  std::string Redact(std::string text) const;
  // Produces one message; waits (serving reports) while the queue is full, until the deadline.
  // Returns the librdkafka error code (0 on success).
  int Produce(const std::string& topic, std::string_view key, std::string_view value,
              int64_t deadline_ns);
  void RecordFailure(int err, std::string_view topic, std::string_view key, std::string text);
  // If the producer hit a fatal error: logs it, drops the producer (the next Send makes a new
  // one) and returns its text; else "".
  std::string TakeFatalError();

  static void OnDelivery(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque);
  static void OnError(rd_kafka_s* rk, int err, const char* reason, void* opaque);
  static void OnLog(const rd_kafka_s* rk, int level, const char* facility, const char* text);

  const config::OutputConfig config_;
  const int64_t timeout_ms_;
  std::vector<std::string> topics_;  // by model::Category
  size_t max_message_bytes_ = 0;     // message.max.bytes as librdkafka applies it
  Round round_;
  std::string last_client_error_;  // from the error callback, during this Send
  Producer producer_;              // last: destroyed first, while the callbacks' target lives
};

// The Sender for an output of type "kafka"; nullptr with *error set when the configuration is
// refused (see KafkaSender::Create).
std::unique_ptr<Sender> MakeKafkaSender(const config::OutputConfig& config, std::string* error);

}  // namespace pythond::outputs
