#include "outputs/queued_output.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "common/files.h"
#include "common/logging.h"
#include "model/line_protocol.h"

namespace pythond::outputs {

namespace fs = std::filesystem;

namespace {

constexpr unsigned char kPayloadVersion = 1;
constexpr size_t kPayloadHeader = 6;  // version, category, points (u32 LE)

}  // namespace

std::string EncodePayload(model::Category category, uint32_t points, std::string_view lines) {
  std::string out;
  out.reserve(kPayloadHeader + lines.size());
  out += static_cast<char>(kPayloadVersion);
  out += static_cast<char>(category);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((points >> (8 * i)) & 0xff);
  out += lines;
  return out;
}

bool DecodePayload(std::string_view payload, QueuedPayload* out) {
  if (payload.size() < kPayloadHeader ||
      static_cast<unsigned char>(payload[0]) != kPayloadVersion ||
      static_cast<unsigned char>(payload[1]) >= model::kCategoryCount) {
    return false;
  }
  out->category = static_cast<model::Category>(payload[1]);
  out->points = 0;
  for (int i = 0; i < 4; ++i) {
    out->points |= static_cast<uint32_t>(static_cast<unsigned char>(payload[2 + i])) << (8 * i);
  }
  out->lines = payload.substr(kPayloadHeader);
  return true;
}

bool MeasurementMatches(const std::vector<std::string>& filter, std::string_view measurement) {
  if (filter.empty()) return true;
  for (const std::string& f : filter) {
    if (!f.empty() && f.back() == '*') {
      if (measurement.substr(0, f.size() - 1) == std::string_view(f).substr(0, f.size() - 1)) {
        return true;
      }
    } else if (measurement == f) {
      return true;
    }
  }
  return false;
}

StatusOr<std::unique_ptr<QueuedOutput>> QueuedOutput::Open(
    const config::OutputConfig& config, const fs::path& data_dir, std::unique_ptr<Sender> sender,
    std::function<void(std::function<void()>)> post, std::function<int64_t()> now_unix_ns,
    QueueFiles* files) {
  DiskQueueOptions options;
  options.dir = data_dir / "queue" / config.name;
  options.max_bytes = config.queue_max_bytes;
  options.segment_bytes = config.queue_segment_bytes;
  options.overflow = config.overflow == config::OutputConfig::Overflow::kBlock
                         ? DiskQueueOptions::Overflow::kBlock
                         : DiskQueueOptions::Overflow::kDropOldest;
  options.fsync = config.fsync;
  options.files = files;
  auto queue = DiskQueue::Open(options);
  if (!queue.ok()) {
    return Status::IoError("output '" + config.name + "': " + queue.status().message());
  }
  return std::unique_ptr<QueuedOutput>(new QueuedOutput(config, data_dir, std::move(*queue),
                                                        std::move(sender), std::move(post),
                                                        std::move(now_unix_ns)));
}

QueuedOutput::QueuedOutput(const config::OutputConfig& config, const fs::path& data_dir,
                           std::unique_ptr<DiskQueue> queue, std::unique_ptr<Sender> sender,
                           std::function<void(std::function<void()>)> post,
                           std::function<int64_t()> now_unix_ns)
    : config_(config),
      deadletter_dir_(data_dir / "deadletter" / config.name),
      queue_(std::move(queue)),
      sender_(std::move(sender)),
      post_(std::move(post)),
      now_unix_ns_(std::move(now_unix_ns)) {
  stats_.name = config_.name;
  stats_.type = config_.type;
  stats_.target = sender_->Describe();
  DiskQueueStats q = queue_->Stats();
  if (q.records > 0) {
    LOG_INFO("output '{}': {} record(s) ({} bytes) waiting in its queue from the last run",
             config_.name, q.records, q.bytes);
  }
  appender_ = std::thread([this] { AppenderLoop(); });
  forwarder_ = std::thread([this] { ForwarderLoop(); });
}

QueuedOutput::~QueuedOutput() { Stop(); }

void QueuedOutput::Stop() {
  {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  wake_appender_.notify_all();
  wake_forwarder_.notify_all();
  if (appender_.joinable()) appender_.join();  // appends what is pending first
  queue_->Close();                             // wakes a forwarder waiting in Peek
  if (forwarder_.joinable()) forwarder_.join();
  std::lock_guard lock(mu_);
  stopped_ = true;
  stats_.state = "stopped";
}

Status QueuedOutput::Write(model::PointBatchPtr batch) {
  auto result = std::make_shared<std::pair<bool, Status>>(false, Status::Ok());
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::FailedPrecondition("output '" + config_.name + "' stopped");
    pending_points_ += batch->points.size();
    pending_.push_back(Pending{std::move(batch), nullptr, result});
  }
  wake_appender_.notify_one();
  std::unique_lock lock(mu_);
  appended_.wait(lock, [&] { return result->first; });
  return result->second;
}

void QueuedOutput::WriteAsync(model::PointBatchPtr batch, std::function<void(Status)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      pending_points_ += batch->points.size();
      pending_.push_back(Pending{std::move(batch), std::move(done), nullptr});
      wake_appender_.notify_one();
      return;
    }
  }
  done(Status::FailedPrecondition("output '" + config_.name + "' stopped"));
}

bool QueuedOutput::HasRoom() const {
  return !queue_->Full() && pending_points_.load(std::memory_order_relaxed) < kMaxPendingPoints;
}

void QueuedOutput::Flush() {
  std::unique_lock lock(mu_);
  appended_.wait(lock, [&] { return (pending_.empty() && !appending_) || stopped_; });
}

bool QueuedOutput::WaitDelivered(int64_t timeout_ns) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
  Flush();
  while (queue_->Stats().records > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

QueuedOutputStats QueuedOutput::Stats() const {
  std::lock_guard lock(mu_);
  QueuedOutputStats s = stats_;
  s.queue = queue_->Stats();
  return s;
}

void QueuedOutput::AppenderLoop() {
  // A record holds at most a batch's worth of points and bytes (so the forwarder never has to
  // send more than the limits), and never more than an eighth of the queue.
  const uint64_t max_record = std::max<uint64_t>(
      std::min<uint64_t>(config_.batch_max_bytes, config_.queue_max_bytes / 8), 1024);
  const size_t max_record_points = std::max<size_t>(config_.batch_max_points, 1);
  std::unique_lock lock(mu_);
  while (true) {
    wake_appender_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) break;  // stopping, nothing left
    std::deque<Pending> work;
    work.swap(pending_);
    uint64_t work_points = 0;  // still counted in pending_points_ until appended
    for (const Pending& p : work) work_points += p.batch->points.size();
    appending_ = true;
    lock.unlock();

    // Filter and encode outside the lock; one Append (one fsync) for all of them — in chunks
    // of at most an eighth of the queue (the queue refuses a single call over a quarter).
    const uint64_t max_chunk = std::max<uint64_t>(config_.queue_max_bytes / 8, 1);
    std::vector<std::string> payloads;
    std::vector<std::pair<size_t, size_t>> chunks_of(work.size());  // per batch: [first, last]
    std::vector<size_t> chunk_ends;            // payload index where each chunk ends
    std::vector<uint64_t> chunk_points = {0};  // points appended by each chunk
    uint64_t chunk_bytes = 0, filtered = 0;
    auto add_payload = [&](model::Category category, uint32_t n, std::string& lines) {
      std::string payload = EncodePayload(category, n, lines);
      if (chunk_bytes > 0 && chunk_bytes + payload.size() > max_chunk) {
        chunk_ends.push_back(payloads.size());
        chunk_points.push_back(0);
        chunk_bytes = 0;
      }
      chunk_bytes += payload.size();
      chunk_points.back() += n;
      payloads.push_back(std::move(payload));
      lines.clear();
    };
    for (size_t i = 0; i < work.size(); ++i) {
      const model::PointBatch& b = *work[i].batch;
      chunks_of[i].first = chunk_ends.size();
      bool category_ok = config_.categories.empty() ||
                         std::find(config_.categories.begin(), config_.categories.end(),
                                   model::CategoryName(b.category)) != config_.categories.end();
      std::string lines;
      uint32_t n = 0;
      for (const model::Point& p : b.points) {
        if (!category_ok || !MeasurementMatches(config_.measurements, p.measurement)) {
          ++filtered;
          continue;
        }
        size_t before = lines.size();
        model::AppendLineProtocol(lines, p);
        if (n > 0 && (lines.size() > max_record || n >= max_record_points)) {
          std::string last = lines.substr(before);  // starts the next record
          lines.resize(before);
          add_payload(b.category, n, lines);
          lines = std::move(last);
          n = 0;
        }
        ++n;
      }
      if (n > 0) add_payload(b.category, n, lines);
      chunks_of[i].second = chunk_ends.size();
    }
    chunk_ends.push_back(payloads.size());
    std::vector<Status> chunk_status(chunk_ends.size(), Status::Ok());
    uint64_t points_in = 0;
    for (size_t c = 0, begin = 0; c < chunk_ends.size(); begin = chunk_ends[c++]) {
      if (chunk_ends[c] == begin) continue;
      std::vector<std::string_view> views(payloads.begin() + static_cast<ptrdiff_t>(begin),
                                          payloads.begin() + static_cast<ptrdiff_t>(chunk_ends[c]));
      Status s = queue_->Append(views);
      if (s.ok()) {
        points_in += chunk_points[c];
      } else {
        chunk_status[c] = Status(s.code(), "output '" + config_.name + "': " + s.message());
      }
    }
    // A batch is written when every chunk holding a part of it is.
    std::vector<std::function<void()>> completions;
    lock.lock();
    stats_.points_filtered += filtered;
    stats_.points_in += points_in;
    for (size_t i = 0; i < work.size(); ++i) {
      Status s = Status::Ok();
      for (size_t c = chunks_of[i].first; c <= chunks_of[i].second && s.ok(); ++c) {
        s = chunk_status[c];
      }
      if (!s.ok()) {
        stats_.last_error = s.message();
        stats_.last_error_unix_ns = now_unix_ns_();
      }
      if (work[i].result) {
        *work[i].result = {true, s};
      } else {
        completions.push_back([done = std::move(work[i].done), s] { done(s); });
      }
    }
    pending_points_ -= work_points;
    appended_.notify_all();  // blocking Write()s
    lock.unlock();
    // Posted outside the lock: a completion may call back into this output.
    for (auto& c : completions) post_(std::move(c));
    lock.lock();
    appending_ = false;
    appended_.notify_all();  // Flush()
  }
  appending_ = false;
  appended_.notify_all();
}

bool QueuedOutput::Pause(int64_t ns) {
  std::unique_lock lock(mu_);
  wake_forwarder_.wait_for(lock, std::chrono::nanoseconds(ns), [&] { return stopping_; });
  return !stopping_;
}

void QueuedOutput::ForwarderLoop() {
  std::mt19937_64 rng(std::random_device{}());
  int64_t backoff_ns = 0;
  const size_t max_bytes = config_.batch_max_bytes;
  const size_t max_points = config_.batch_max_points;
  auto stopping = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  while (!stopping()) {
    std::vector<QueueRecord> records = queue_->Peek(max_points, max_bytes, 1'000'000'000);
    if (records.empty()) {
      // Records waiting but none readable: the queue could not read its files (logged by the
      // queue). Wait instead of spinning.
      if (queue_->Stats().records > 0 && !Pause(config_.retry_min_ns)) return;
      continue;
    }
    // A partial batch waits up to batch_max_age for more (fewer, larger requests).
    size_t bytes = 0, points_peeked = 0;
    for (const auto& r : records) {
      QueuedPayload p;
      bytes += r.payload.size();
      if (DecodePayload(r.payload, &p)) points_peeked += p.points;
    }
    if (points_peeked < max_points && bytes < max_bytes && config_.batch_max_age_ns > 0) {
      if (!Pause(config_.batch_max_age_ns)) return;
      records = queue_->Peek(max_points, max_bytes, 0);
      if (records.empty()) continue;
    }
    // Everything peeked is sent before the next Peek (which starts again at the first
    // record not consumed): one send per run of records of one category, within the limits.
    for (size_t i = 0; i < records.size();) {
      QueuedPayload first;
      if (!DecodePayload(records[i].payload, &first)) {
        LOG_ERROR("output '{}': queue record {} is not a pythond payload; skipped", config_.name,
                  records[i].seq);
        (void)queue_->Consume(records[i].seq);
        ++i;
        continue;
      }
      std::string lines(first.lines);
      size_t points = first.points;
      uint64_t last_seq = records[i].seq;
      size_t next = i + 1;
      for (; next < records.size(); ++next) {
        QueuedPayload more;
        if (!DecodePayload(records[next].payload, &more) || more.category != first.category ||
            points + more.points > max_points || lines.size() + more.lines.size() > max_bytes) {
          break;
        }
        lines += more.lines;
        points += more.points;
        last_seq = records[next].seq;
      }
      SendBatch batch{first.category, lines, points};
      SendResult result = sender_->Send(batch);
      if (result.kind == SendResult::Kind::kReject && !DeadLetter(batch, last_seq, result.error)) {
        // Refused, and its dead letter could not be written: keep it queued and try again.
        result = SendResult::Retry("refused by the backend (" + result.error +
                                   ") and the dead letter could not be written");
      }
      if (result.kind == SendResult::Kind::kRetry) {
        backoff_ns =
            backoff_ns == 0 ? config_.retry_min_ns : std::min(backoff_ns * 2, config_.retry_max_ns);
        // ±20 % jitter: outputs of many agents do not retry in step.
        std::uniform_real_distribution<double> jitter(0.8, 1.2);
        int64_t wait = static_cast<int64_t>(static_cast<double>(backoff_ns) * jitter(rng));
        {
          std::lock_guard lock(mu_);
          ++stats_.retries;
          bool first_failure = stats_.state != "retrying";
          stats_.state = "retrying";
          stats_.last_error = result.error;
          stats_.last_error_unix_ns = now_unix_ns_();
          if (first_failure) {
            LOG_WARN("output '{}': send to {} failed: {}; retrying with backoff", config_.name,
                     stats_.target, result.error);
          } else {
            LOG_DEBUG("output '{}': send failed again: {}; next try in {} ms", config_.name,
                      result.error, wait / 1'000'000);
          }
        }
        if (!Pause(wait)) return;
        break;  // Peek again: from the first record not consumed
      }
      if (result.kind == SendResult::Kind::kOk) {
        // Counted before the records leave the queue: an empty queue means counted.
        std::lock_guard lock(mu_);
        if (stats_.state == "retrying") {
          LOG_INFO("output '{}': {} reachable again after {} retries", config_.name, stats_.target,
                   stats_.retries);
        }
        stats_.state = "ok";
        ++stats_.batches_sent;
        stats_.points_sent += points;
        stats_.last_sent_unix_ns = now_unix_ns_();
      }
      backoff_ns = 0;
      if (Status consumed = queue_->Consume(last_seq); !consumed.ok()) {
        std::lock_guard lock(mu_);
        stats_.last_error = consumed.message();
        stats_.last_error_unix_ns = now_unix_ns_();
        LOG_ERROR("output '{}': {}", config_.name, consumed.message());
      }
      i = next;
      if (stopping()) return;
    }
  }
}

bool QueuedOutput::DeadLetter(const SendBatch& batch, uint64_t last_seq,
                              const std::string& reason) {
  // A dead letter is line protocol again (comments carry the context): it can be inspected,
  // fixed and posted to /v1/write/<category> as is.
  std::string text = "# pythond dead letter\n# output: " + config_.name + " (" + config_.type +
                     ")\n# category: " + std::string(model::CategoryName(batch.category)) +
                     "\n# points: " + std::to_string(batch.points) + "\n# reason: ";
  for (char c : reason) text += c == '\n' ? ' ' : c;
  text += "\n";
  text += batch.lines;
  int64_t now = now_unix_ns_();
  std::error_code ec;
  fs::create_directories(deadletter_dir_, ec);
  fs::path file = deadletter_dir_ / (std::to_string(now) + "-" + std::to_string(last_seq) + ".lp");
  // On disk before the queue's cursor moves past these records (owner-only: they hold data).
  Status s = WriteFileDurable(file, text);
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    LOG_ERROR(
        "output '{}': {} point(s) refused by {}: {}; the dead letter could not be "
        "written ({}), so they stay queued and are sent again",
        config_.name, batch.points, stats_.target, reason, s.message());
    return false;
  }
  // Bounded: the oldest files go first.
  std::vector<std::pair<fs::path, uintmax_t>> files;
  uintmax_t total = 0;
  for (auto it = fs::directory_iterator(deadletter_dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code size_ec;
    uintmax_t size = it->file_size(size_ec);
    if (size_ec) continue;
    files.emplace_back(it->path(), size);
    total += size;
  }
  std::sort(files.begin(), files.end());  // names start with the time
  uint64_t removed = 0;
  for (size_t i = 0; i < files.size() && total > config_.deadletter_max_bytes; ++i) {
    if (files[i].first == file) continue;
    if (fs::remove(files[i].first, ec)) {
      total -= files[i].second;
      ++removed;
    }
  }
  std::lock_guard lock(mu_);
  ++stats_.deadletter_batches;
  stats_.deadletter_points += batch.points;
  stats_.deadletter_files_removed += removed;
  stats_.last_error = "refused by the backend: " + reason;
  stats_.last_error_unix_ns = now;
  LOG_ERROR("output '{}': {} point(s) refused by {}: {}; kept in {}", config_.name, batch.points,
            stats_.target, reason, file.string());
  return true;
}

}  // namespace pythond::outputs
