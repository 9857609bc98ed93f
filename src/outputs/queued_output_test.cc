#include "outputs/queued_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "outputs/queue_files.h"
#include "temp_dir.h"

namespace pythond::outputs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Records what it was sent; answers from a script (then Ok). Thread-safe: the test thread
// reads what the forwarder thread recorded.
class ScriptedSender : public Sender {
 public:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<SendResult> script;
    std::vector<std::pair<model::Category, std::string>> sent;  // every attempt
    std::vector<std::pair<model::Category, std::string>> delivered;
    size_t delivered_points = 0;
  };
  explicit ScriptedSender(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  SendResult Send(const SendBatch& batch) override {
    std::lock_guard lock(shared_->mu);
    shared_->sent.emplace_back(batch.category, std::string(batch.lines));
    SendResult r = SendResult::Ok();
    if (!shared_->script.empty()) {
      r = shared_->script.front();
      shared_->script.pop_front();
    }
    if (r.kind == SendResult::Kind::kOk) {
      shared_->delivered.emplace_back(batch.category, std::string(batch.lines));
      shared_->delivered_points += batch.points;
    }
    shared_->cv.notify_all();
    return r;
  }
  std::string Describe() const override { return "scripted"; }

 private:
  std::shared_ptr<Shared> shared_;
};

model::PointBatchPtr Batch(model::Category category, std::vector<std::string> measurements,
                           int64_t time = 1'000'000'000) {
  auto b = std::make_shared<model::PointBatch>();
  b->category = category;
  b->input = "test";
  for (const auto& m : measurements) {
    model::Point p;
    p.measurement = m;
    p.tags.push_back({"host", "a b"});
    p.fields.push_back({"v", model::FieldValue{int64_t{1}}});
    p.time_ns = time++;
    b->points.push_back(std::move(p));
  }
  return b;
}

// One point whose string field is `bytes` long.
model::PointBatchPtr BigBatch(size_t bytes, int64_t time) {
  auto b = std::make_shared<model::PointBatch>();
  model::Point p;
  p.measurement = "m";
  p.fields.push_back({"s", model::FieldValue{std::string(bytes, 'x')}});
  p.time_ns = time;
  b->points.push_back(std::move(p));
  return b;
}

class QueuedOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.type = "influxdb";
    config_.name = "out";
    config_.batch_max_age_ns = 1'000'000;  // 1 ms: tests do not wait for batches to fill
    config_.retry_min_ns = 1'000'000;
    config_.retry_max_ns = 4'000'000;
    config_.queue_max_bytes = 4 << 20;
    config_.queue_segment_bytes = 64 << 10;
    shared_ = std::make_shared<ScriptedSender::Shared>();
  }
  std::unique_ptr<QueuedOutput> Open() {
    auto out = QueuedOutput::Open(
        config_, dir_.path(), std::make_unique<ScriptedSender>(shared_),
        [](std::function<void()> f) { f(); }, [] { return int64_t{1'700'000'000'000'000'000}; });
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? std::move(*out) : nullptr;
  }
  // Waits (bounded) until `n` points were delivered.
  bool WaitDelivered(size_t n) {
    std::unique_lock lock(shared_->mu);
    return shared_->cv.wait_for(lock, std::chrono::seconds(10),
                                [&] { return shared_->delivered_points >= n; });
  }
  std::string Delivered() {
    std::lock_guard lock(shared_->mu);
    std::string all;
    for (const auto& [c, lines] : shared_->delivered) all += lines;
    return all;
  }

  testing::TempDir dir_;
  config::OutputConfig config_;
  std::shared_ptr<ScriptedSender::Shared> shared_;
};

TEST(QueuedPayloadTest, RoundTrip) {
  std::string p = EncodePayload(model::Category::kLogging, 70000, "m v=1i 1\n");
  QueuedPayload out;
  ASSERT_TRUE(DecodePayload(p, &out));
  EXPECT_EQ(out.category, model::Category::kLogging);
  EXPECT_EQ(out.points, 70000u);
  EXPECT_EQ(out.lines, "m v=1i 1\n");
  EXPECT_FALSE(DecodePayload("x", &out));
  EXPECT_FALSE(DecodePayload(std::string("\x02\x00\x01\x00\x00\x00", 6), &out));
}

TEST(QueuedPayloadTest, MeasurementFilter) {
  EXPECT_TRUE(MeasurementMatches({}, "any"));
  EXPECT_TRUE(MeasurementMatches({"cpu", "disk_*"}, "cpu"));
  EXPECT_TRUE(MeasurementMatches({"cpu", "disk_*"}, "disk_io"));
  EXPECT_TRUE(MeasurementMatches({"*"}, "x"));
  EXPECT_FALSE(MeasurementMatches({"cpu", "disk_*"}, "cpu2"));
  EXPECT_FALSE(MeasurementMatches({"cpu", "disk_*"}, "disk"));
}

TEST_F(QueuedOutputTest, DeliversInOrderAndMergesBatchesOfOneCategory) {
  auto out = Open();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"m" + std::to_string(i)})).ok());
  }
  ASSERT_TRUE(WaitDelivered(20));
  std::string all = Delivered();
  size_t last = 0;
  for (int i = 0; i < 20; ++i) {
    size_t at = all.find("m" + std::to_string(i) + ",host=a\\ b v=1i");
    ASSERT_NE(at, std::string::npos) << i;
    EXPECT_GE(at, last) << "order";
    last = at;
  }
  EXPECT_TRUE(out->WaitDelivered(5'000'000'000));
  QueuedOutputStats s = out->Stats();
  EXPECT_EQ(s.points_in, 20u);
  EXPECT_EQ(s.points_sent, 20u);
  EXPECT_EQ(s.queue.records, 0u);
  EXPECT_LE(s.batches_sent, 20u);
}

// A drop_oldest output's list of batches waiting for the appender grew without bound while the
// disk was slower than the writes (its queue never reports full).
TEST_F(QueuedOutputTest, BatchesWaitingForASlowDiskHoldFurtherWritesBack) {
  FaultyFiles files;
  auto opened = QueuedOutput::Open(
      config_, dir_.path(), std::make_unique<ScriptedSender>(shared_),
      [](std::function<void()> f) { f(); }, [] { return int64_t{1'700'000'000'000'000'000}; },
      &files);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto& out = *opened;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  files.SetSyncHook([&] {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
  });
  auto many = [](size_t n) { return std::vector<std::string>(n, "m"); };
  std::atomic<int> done{0};
  const uint64_t half = QueuedOutput::kMaxPendingPoints / 2 + 1;
  out->WriteAsync(Batch(model::Category::kMetric, many(half)), [&](Status s) {
    EXPECT_TRUE(s.ok());
    ++done;
  });
  EXPECT_TRUE(out->HasRoom());
  out->WriteAsync(Batch(model::Category::kMetric, many(half)), [&](Status s) {
    EXPECT_TRUE(s.ok());
    ++done;
  });
  EXPECT_FALSE(out->HasRoom());  // the API holds the next bodies unread
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 1000 && done < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(done.load(), 2);
  EXPECT_TRUE(out->HasRoom());
  files.SetSyncHook(nullptr);
}

TEST_F(QueuedOutputTest, BatchesRespectTheLimitsAndCategories) {
  config_.batch_max_points = 3;
  config_.batch_max_age_ns = 200'000'000;  // let records pile up
  auto out = Open();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"a", "b"})).ok());
  }
  ASSERT_TRUE(out->Write(Batch(model::Category::kLogging, {"log"})).ok());
  ASSERT_TRUE(WaitDelivered(9));
  std::lock_guard lock(shared_->mu);
  for (const auto& [category, lines] : shared_->delivered) {
    size_t n = std::count(lines.begin(), lines.end(), '\n');
    EXPECT_LE(n, 3u);
    if (category == model::Category::kLogging) {
      EXPECT_EQ(lines.find("a,"), std::string::npos);
    }
  }
}

TEST_F(QueuedOutputTest, FiltersLeaveOutCategoriesAndMeasurements) {
  config_.categories = {"metric"};
  config_.measurements = {"keep*"};
  auto out = Open();
  ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"keep_1", "drop", "keep_2"})).ok());
  ASSERT_TRUE(out->Write(Batch(model::Category::kLogging, {"keep_log"})).ok());
  ASSERT_TRUE(WaitDelivered(2));
  EXPECT_TRUE(out->WaitDelivered(5'000'000'000));
  QueuedOutputStats s = out->Stats();
  EXPECT_EQ(s.points_in, 2u);
  EXPECT_EQ(s.points_filtered, 2u);
  EXPECT_THAT(Delivered(), HasSubstr("keep_1"));
  EXPECT_EQ(Delivered().find("drop"), std::string::npos);
  EXPECT_EQ(Delivered().find("keep_log"), std::string::npos);
}

TEST_F(QueuedOutputTest, RetriesUntilTheBackendTakesIt) {
  shared_->script = {SendResult::Retry("HTTP 503: busy"), SendResult::Retry("connection refused"),
                     SendResult::Retry("timeout")};
  auto out = Open();
  ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"m"})).ok());
  ASSERT_TRUE(WaitDelivered(1));
  EXPECT_TRUE(out->WaitDelivered(5'000'000'000));
  QueuedOutputStats s = out->Stats();
  EXPECT_EQ(s.retries, 3u);
  EXPECT_EQ(s.state, "ok");
  EXPECT_EQ(s.last_error, "timeout");
  std::lock_guard lock(shared_->mu);
  EXPECT_EQ(shared_->sent.size(), 4u);
  EXPECT_EQ(shared_->sent[0].second, shared_->sent[3].second);  // the same batch again
}

TEST_F(QueuedOutputTest, ARefusedBatchIsADeadLetterAndNotRetried) {
  shared_->script = {SendResult::Reject("HTTP 400: field type conflict")};
  auto out = Open();
  ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"bad"})).ok());
  EXPECT_TRUE(out->WaitDelivered(5'000'000'000));
  ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"good"})).ok());
  ASSERT_TRUE(WaitDelivered(1));
  QueuedOutputStats s = out->Stats();
  EXPECT_EQ(s.deadletter_batches, 1u);
  EXPECT_EQ(s.deadletter_points, 1u);
  EXPECT_THAT(s.last_error, HasSubstr("field type conflict"));
  fs::path folder = dir_.path() / "deadletter" / "out";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  std::ifstream in(files[0]);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("# reason: HTTP 400: field type conflict\n"));
  EXPECT_THAT(text.str(), HasSubstr("# category: metric\n"));
  EXPECT_THAT(text.str(), HasSubstr("bad,host=a\\ b v=1i 1000000000\n"));
  std::lock_guard lock(shared_->mu);
  EXPECT_EQ(shared_->sent.size(), 2u);  // bad once, good once
}

TEST_F(QueuedOutputTest, ABatchLargerThanTheLimitsIsSentInSeveralRequests) {
  config_.batch_max_points = 4;
  auto out = Open();
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("p" + std::to_string(i));
  ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, names)).ok());
  ASSERT_TRUE(WaitDelivered(10));
  std::lock_guard lock(shared_->mu);
  ASSERT_EQ(shared_->delivered.size(), 3u);  // 4 + 4 + 2, in order
  for (const auto& [category, lines] : shared_->delivered) {
    EXPECT_LE(std::count(lines.begin(), lines.end(), '\n'), 4);
  }
  EXPECT_EQ(shared_->delivered[2].second.find("p8,"), 0u);
}

TEST_F(QueuedOutputTest, ARefusalWhoseDeadLetterCannotBeWrittenStaysQueued) {
  shared_->script = {SendResult::Reject("HTTP 400: no"), SendResult::Reject("HTTP 400: no")};
  config_.retry_min_ns = 1'000'000;
  fs::create_directories(dir_.path() / "deadletter");
  std::ofstream(dir_.path() / "deadletter" / "out") << "a file where the folder should be";
  auto out = Open();
  ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"kept"})).ok());
  ASSERT_TRUE(WaitDelivered(1));  // third try: the script is empty, so it is taken
  QueuedOutputStats s = out->Stats();
  EXPECT_EQ(s.deadletter_batches, 0u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_THAT(s.last_error, HasSubstr("dead letter could not be written"));
}

TEST_F(QueuedOutputTest, DeadLettersAreBounded) {
  config_.deadletter_max_bytes = 1 << 20;
  config_.batch_max_points = 1;  // one 300 KiB dead letter per send (the newest is always kept)
  for (int i = 0; i < 6; ++i) shared_->script.push_back(SendResult::Reject("no"));
  auto out = Open();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(out->Write(BigBatch(300 << 10, i)).ok());
  EXPECT_TRUE(out->WaitDelivered(10'000'000'000));
  uintmax_t total = 0;
  for (const auto& e : fs::directory_iterator(dir_.path() / "deadletter" / "out")) {
    total += e.file_size();
  }
  EXPECT_LE(total, config_.deadletter_max_bytes);
  EXPECT_GT(out->Stats().deadletter_files_removed, 0u);
}

TEST_F(QueuedOutputTest, UndeliveredRecordsWaitOnDiskForTheNextStart) {
  for (int i = 0; i < 1000; ++i) shared_->script.push_back(SendResult::Retry("down"));
  config_.retry_min_ns = 50'000'000;
  config_.retry_max_ns = 50'000'000;
  {
    auto out = Open();
    ASSERT_TRUE(out->Write(Batch(model::Category::kMetric, {"kept_1", "kept_2"})).ok());
    ASSERT_TRUE(out->Write(Batch(model::Category::kObject, {"kept_3"})).ok());
    out->Stop();
    EXPECT_EQ(out->Stats().queue.records, 2u);
    EXPECT_EQ(out->Stats().state, "stopped");
  }
  {
    std::lock_guard lock(shared_->mu);
    shared_->script.clear();
  }
  auto out = Open();
  ASSERT_TRUE(WaitDelivered(3));
  EXPECT_THAT(Delivered(), HasSubstr("kept_1"));
  EXPECT_THAT(Delivered(), HasSubstr("kept_3"));
}

TEST_F(QueuedOutputTest, WriteAsyncCompletesThroughPost) {
  std::vector<std::function<void()>> posted;
  std::mutex mu;
  auto opened = QueuedOutput::Open(
      config_, dir_.path(), std::make_unique<ScriptedSender>(shared_),
      [&](std::function<void()> f) {
        std::lock_guard lock(mu);
        posted.push_back(std::move(f));
      },
      [] { return int64_t{0}; });
  ASSERT_TRUE(opened.ok());
  auto& out = *opened;
  std::optional<Status> result;
  out->WriteAsync(Batch(model::Category::kMetric, {"m"}), [&](Status s) { result = s; });
  out->Flush();
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(posted.size(), 1u);  // the completion runs where `post` says, not before
    EXPECT_FALSE(result.has_value());
    posted[0]();
  }
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok());
  out->Stop();
  std::optional<Status> late;
  out->WriteAsync(Batch(model::Category::kMetric, {"m"}), [&](Status s) { late = s; });
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->code(), StatusCode::kFailedPrecondition);
}

TEST_F(QueuedOutputTest, BlockOverflowRefusesWritesWhileFull) {
  config_.overflow = config::OutputConfig::Overflow::kBlock;
  config_.queue_max_bytes = 1 << 20;
  config_.queue_segment_bytes = 64 << 10;
  for (int i = 0; i < 100000; ++i) shared_->script.push_back(SendResult::Retry("down"));
  config_.retry_min_ns = 1'000'000'000;
  auto out = Open();
  Status last = Status::Ok();
  int accepted = 0;
  for (int i = 0; i < 40 && last.ok(); ++i) {
    last = out->Write(BigBatch(100 << 10, i));
    if (last.ok()) ++accepted;
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted) << last.ToString();
  EXPECT_GT(accepted, 3);
  EXPECT_LT(accepted, 11);
}

}  // namespace
}  // namespace pythond::outputs
