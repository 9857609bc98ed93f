// QueuedOutput: an output that leaves the machine (influxdb, datakit, kafka) behind a disk
// queue. Ingest's WriteAsync hands it a batch; its appender thread filters it (categories,
// measurements), encodes it as line protocol, appends it to the DiskQueue (fsynced, one fsync
// for everything that arrived meanwhile) and only then completes the write — so a 200 means
// "on disk". Its forwarder thread reads the queue in order, batches records (points, bytes,
// age), hands them to the Sender, and consumes them once delivered; a Retry backs off
// exponentially with jitter and tries again, a Reject goes to data/deadletter/<name>/ and is
// counted. A slow or dead backend fills only this output's queue. docs/OUTPUTS.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "outputs/disk_queue.h"
#include "outputs/output.h"
#include "outputs/sender.h"

namespace pythond::outputs {

struct QueuedOutputStats {
  std::string name, type, target;
  std::string state = "ok";  // "ok", "retrying" (the backend fails; backing off), "stopped"
  DiskQueueStats queue;
  uint64_t points_in = 0;        // points queued (after the filters)
  uint64_t points_filtered = 0;  // points the filters left out
  uint64_t points_sent = 0, batches_sent = 0;
  uint64_t retries = 0;  // failed sends that will be tried again
  uint64_t deadletter_batches = 0, deadletter_points = 0;
  uint64_t deadletter_files_removed = 0;  // over deadletter_max_size, oldest first
  std::string last_error;
  int64_t last_error_unix_ns = 0;
  int64_t last_sent_unix_ns = 0;
};

// A queue record's payload: what one ingest batch became (docs/QUEUE.md, "Payload").
struct QueuedPayload {
  model::Category category = model::Category::kMetric;
  uint32_t points = 0;
  std::string_view lines;
};
std::string EncodePayload(model::Category category, uint32_t points, std::string_view lines);
bool DecodePayload(std::string_view payload, QueuedPayload* out);

// Whether `measurement` passes a measurements filter (exact names, or a prefix ending in '*').
bool MeasurementMatches(const std::vector<std::string>& filter, std::string_view measurement);

class QueuedOutput : public Output {
 public:
  // `data_dir`: the agent's data folder (queue in data/queue/<name>/, dead letters in
  // data/deadletter/<name>/). `post` runs a function on the event-loop thread: write
  // completions go through it. `now_unix_ns` for stats and dead-letter names.
  static StatusOr<std::unique_ptr<QueuedOutput>> Open(
      const config::OutputConfig& config, const std::filesystem::path& data_dir,
      std::unique_ptr<Sender> sender, std::function<void(std::function<void()>)> post,
      std::function<int64_t()> now_unix_ns, QueueFiles* files = nullptr);
  ~QueuedOutput() override;  // Stop()s

  std::string_view name() const override { return config_.name; }
  // Blocking form (tests): appends and returns once durable.
  Status Write(model::PointBatchPtr batch) override;
  void WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) override;
  // False while the queue is full and overflow = "block", and while batches of more than
  // kMaxPendingPoints points wait to be appended (a disk slower than the writes: the API then
  // holds further bodies unread, whatever the overflow policy).
  bool HasRoom() const override;
  static constexpr uint64_t kMaxPendingPoints = 200'000;
  // Blocks until every batch written before is in the queue (not: delivered).
  void Flush() override;
  // Blocks until the queue is empty (everything delivered or dead-lettered) or `timeout_ns`
  // passed; true when empty. For tests and benchmarks.
  bool WaitDelivered(int64_t timeout_ns);
  // Appends what is pending, stops the forwarder (a send in progress ends within the
  // output's timeout) and closes the queue. Undelivered records stay on disk for the next start.
  void Stop();
  QueuedOutputStats Stats() const;

 private:
  QueuedOutput(const config::OutputConfig& config, const std::filesystem::path& data_dir,
               std::unique_ptr<DiskQueue> queue, std::unique_ptr<Sender> sender,
               std::function<void(std::function<void()>)> post,
               std::function<int64_t()> now_unix_ns);
  struct Pending {
    model::PointBatchPtr batch;
    std::function<void(Status)> done;  // null: a blocking Write waits on `result`
    std::shared_ptr<std::pair<bool, Status>> result;
  };
  void AppenderLoop();
  void ForwarderLoop();
  // Writes a refused batch to data/deadletter/<name>/; false when the file could not be
  // written (the batch then stays queued).
  bool DeadLetter(const SendBatch& batch, uint64_t last_seq, const std::string& reason);
  // Waits `ns` unless stopping; false when stopping.
  bool Pause(int64_t ns);

  const config::OutputConfig config_;
  const std::filesystem::path deadletter_dir_;
  std::unique_ptr<DiskQueue> queue_;
  std::unique_ptr<Sender> sender_;
  std::function<void(std::function<void()>)> post_;
  std::function<int64_t()> now_unix_ns_;

  mutable std::mutex mu_;
  std::condition_variable wake_appender_;
  std::condition_variable appended_;        // Flush(): pending_ drained
  std::condition_variable wake_forwarder_;  // stop, or Pause() interrupted
  std::deque<Pending> pending_;
  // Points in pending_ and in the appender's hands (read by HasRoom() without the lock).
  std::atomic<uint64_t> pending_points_{0};
  bool appending_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  QueuedOutputStats stats_;
  std::thread appender_;
  std::thread forwarder_;
};

// The sender for an output type ("influxdb", "datakit", "kafka"), or null with `error` set.
std::unique_ptr<Sender> MakeSender(const config::OutputConfig& config, std::string* error);

}  // namespace pythond::outputs
