#include "outputs/disk_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "outputs/queue_files.h"
#include "temp_dir.h"

namespace pythond::outputs {
namespace {

using Overflow = DiskQueueOptions::Overflow;

constexpr uint64_t kHeader = 16;        // segment header (docs/QUEUE.md)
constexpr uint64_t kRecordHeader = 20;  // record header
constexpr int64_t kHourNs = int64_t{3600} * 1'000'000'000;

// Waits for a condition with a deadline (no fixed sleeps): true once it holds.
bool WaitFor(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// "p<i>" padded with '.' to `size` bytes.
std::string Payload(int i, size_t size = 10) {
  std::string s = "p" + std::to_string(i);
  s.resize(std::max(size, s.size()), '.');
  return s;
}

Status AppendStrings(DiskQueue& q, const std::vector<std::string>& payloads) {
  std::vector<std::string_view> views(payloads.begin(), payloads.end());
  return q.Append(views);
}

Status AppendRange(DiskQueue& q, int from, int to, size_t size = 10) {  // one call
  std::vector<std::string> payloads;
  for (int i = from; i < to; ++i) payloads.push_back(Payload(i, size));
  return AppendStrings(q, payloads);
}

std::vector<QueueRecord> PeekAll(DiskQueue& q) { return q.Peek(SIZE_MAX, SIZE_MAX, 0); }

std::vector<std::string> PayloadsOf(const std::vector<QueueRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.payload);
  return out;
}

std::vector<std::string> Expected(int from, int to, size_t size = 10) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(Payload(i, size));
  return out;
}

std::string SegmentName(uint64_t id) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.seg", static_cast<unsigned long long>(id));
  return name;
}

class DiskQueueTest : public ::testing::Test {
 protected:
  DiskQueueOptions Options() {
    DiskQueueOptions o;
    o.dir = dir_;
    o.files = &fs_;
    return o;
  }
  DiskQueueOptions OptionsOn(FaultyFiles* fs) {  // for a test that loops over fault cases
    DiskQueueOptions o = Options();
    o.files = fs;
    return o;
  }
  std::unique_ptr<DiskQueue> Open(DiskQueueOptions o) {
    auto q = DiskQueue::Open(std::move(o));
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return q.ok() ? std::move(*q) : nullptr;
  }
  std::unique_ptr<DiskQueue> Open() { return Open(Options()); }
  std::vector<std::string> Segments() {
    auto names = fs_.List(dir_);
    std::vector<std::string> out;
    for (const auto& n : *names) {
      if (n.ends_with(".seg")) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  uint64_t SegmentBytes() {
    uint64_t total = 0;
    for (const auto& n : Segments()) total += *fs_.FileSize(dir_ / n);
    return total;
  }

  FaultyFiles fs_;
  const std::filesystem::path dir_ = "/data/queue/out";
};

TEST_F(DiskQueueTest, AppendPeekConsumeInOrder) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 3).ok());
  ASSERT_TRUE(AppendRange(*q, 3, 5).ok());
  auto records = PeekAll(*q);
  ASSERT_EQ(records.size(), 5u);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].seq, i + 1);
  EXPECT_EQ(PayloadsOf(records), Expected(0, 5));
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 5)) << "Peek does not consume";

  ASSERT_TRUE(q->Consume(2).ok());
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(2, 5));
  ASSERT_TRUE(q->Consume(2).ok()) << "consuming again is a no-op";
  EXPECT_EQ(q->Consume(6).code(), StatusCode::kInvalidArgument);
  auto stats = q->Stats();
  EXPECT_EQ(stats.appended, 5u);
  EXPECT_EQ(stats.consumed, 2u);
  EXPECT_EQ(stats.records, 3u);
  EXPECT_EQ(stats.bytes, 3 * (kRecordHeader + 10));
  EXPECT_EQ(stats.fsyncs, 2u);
  EXPECT_EQ(Segments(), std::vector<std::string>{SegmentName(1)});
}

TEST_F(DiskQueueTest, PeekLimitsButReturnsAtLeastOneRecord) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 6).ok());
  EXPECT_EQ(PayloadsOf(q->Peek(2, SIZE_MAX, 0)), Expected(0, 2));
  EXPECT_EQ(PayloadsOf(q->Peek(SIZE_MAX, 25, 0)), Expected(0, 2));
  EXPECT_EQ(PayloadsOf(q->Peek(SIZE_MAX, 1, 0)), Expected(0, 1)) << "one record even if larger";
  EXPECT_TRUE(q->Peek(0, SIZE_MAX, 0).empty());
  // Consuming part of a peek, and past a peek.
  ASSERT_TRUE(q->Consume(1).ok());
  EXPECT_EQ(q->Peek(2, SIZE_MAX, 0).front().seq, 2u);
  ASSERT_TRUE(q->Consume(5).ok());
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(5, 6));
  EXPECT_EQ(q->Stats().consumed, 5u);
}

TEST_F(DiskQueueTest, RestartReplaysUnconsumedInOrderAndSeqKeepsIncreasing) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 5).ok());
  ASSERT_TRUE(q->Consume(2).ok());
  q.reset();
  q = Open();
  auto records = PeekAll(*q);
  EXPECT_EQ(PayloadsOf(records), Expected(2, 5));
  EXPECT_EQ(records.front().seq, 3u);
  EXPECT_EQ(q->Stats().records, 3u);
  ASSERT_TRUE(AppendRange(*q, 5, 6).ok());
  EXPECT_EQ(PeekAll(*q).back().seq, 6u);
}

TEST_F(DiskQueueTest, ConsumeSurvivesRestartAndPowerCut) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 4).ok());
  ASSERT_TRUE(q->Consume(4).ok());
  q.reset();
  fs_.Crash();  // the cursor was synced, renamed and its folder synced
  q = Open();
  EXPECT_TRUE(PeekAll(*q).empty());
  EXPECT_EQ(q->Stats().records, 0u);
  ASSERT_TRUE(AppendRange(*q, 4, 5).ok());
  EXPECT_EQ(PeekAll(*q).front().seq, 5u) << "seqs go on after everything was consumed";
}

TEST_F(DiskQueueTest, SegmentsRollAndDeliveredOnesAreDeleted) {
  DiskQueueOptions o = Options();
  o.max_bytes = 1 << 20;
  o.segment_bytes = 64 << 10;
  auto q = Open(o);
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(AppendRange(*q, i, i + 1, 1000).ok());
  auto segments = Segments();
  ASSERT_GE(segments.size(), 4u);
  EXPECT_EQ(segments.front(), SegmentName(1));
  for (const auto& n : segments) EXPECT_LE(*fs_.FileSize(dir_ / n), uint64_t{64 << 10});

  auto first = q->Peek(100, SIZE_MAX, 0);
  ASSERT_EQ(first.size(), 100u);
  ASSERT_TRUE(q->Consume(first.back().seq).ok());
  auto after = Segments();
  EXPECT_LT(after.size(), segments.size()) << "the first segment was wholly delivered";
  EXPECT_EQ(q->Stats().records, 200u);

  auto rest = PeekAll(*q);
  EXPECT_EQ(PayloadsOf(rest), Expected(100, 300, 1000));
  ASSERT_TRUE(q->Consume(rest.back().seq).ok());
  EXPECT_EQ(Segments().size(), 1u) << "only the active segment stays";
  EXPECT_EQ(q->Stats().records, 0u);
  EXPECT_EQ(q->Stats().bytes, 0u);

  q.reset();
  q = Open(o);
  EXPECT_TRUE(PeekAll(*q).empty());
  ASSERT_TRUE(AppendRange(*q, 300, 301).ok());
  EXPECT_EQ(PeekAll(*q).front().seq, 301u);
}

TEST_F(DiskQueueTest, OverflowDropsOldestSegmentsAndCountsThem) {
  DiskQueueOptions o = Options();
  o.max_bytes = 256 << 10;
  o.segment_bytes = 64 << 10;
  auto q = Open(o);
  ASSERT_TRUE(AppendRange(*q, 0, 10, 1000).ok());
  auto peeked = q->Peek(20, SIZE_MAX, 0);  // the consumer is behind: holds 1..20 (not consumed)
  ASSERT_TRUE(q->Consume(5).ok());
  for (int i = 10; i < 600; ++i) ASSERT_TRUE(AppendRange(*q, i, i + 1, 1000).ok());

  auto stats = q->Stats();
  EXPECT_GT(stats.dropped_records, 0u);
  EXPECT_EQ(stats.consumed + stats.dropped_records + stats.records, 600u);
  EXPECT_LE(SegmentBytes(), o.max_bytes);
  // The read position moved past the dropped records; a late Consume of them is harmless.
  ASSERT_TRUE(q->Consume(peeked.back().seq).ok());
  auto rest = PeekAll(*q);
  ASSERT_EQ(rest.size(), stats.records);
  uint64_t first = 5 + stats.dropped_records + 1;
  EXPECT_EQ(rest.front().seq, first);
  EXPECT_EQ(rest.back().seq, 600u);
  EXPECT_EQ(PayloadsOf(rest), Expected(static_cast<int>(first - 1), 600, 1000));
}

TEST_F(DiskQueueTest, BlockRefusesWhenFullAndKeepsEverything) {
  DiskQueueOptions o = Options();
  o.max_bytes = 256 << 10;
  o.segment_bytes = 64 << 10;
  o.overflow = Overflow::kBlock;
  auto q = Open(o);
  int n = 0;
  Status s;
  while ((s = AppendRange(*q, n, n + 1, 1000)).ok() && n < 1000) ++n;
  ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  while ((s = AppendStrings(*q, {""})).ok()) {
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(q->Full());
  auto stats = q->Stats();
  EXPECT_EQ(stats.dropped_records, 0u);
  EXPECT_EQ(stats.records, stats.appended);
  EXPECT_LE(SegmentBytes(), o.max_bytes);
  EXPECT_EQ(stats.append_errors, 0u) << "a refusal is not an error";

  auto all = PeekAll(*q);
  ASSERT_EQ(all.size(), stats.appended);
  EXPECT_EQ(all.front().seq, 1u);
  ASSERT_TRUE(q->Consume(all.back().seq).ok());
  EXPECT_FALSE(q->Full());
  EXPECT_TRUE(AppendRange(*q, 0, 1, 1000).ok());
}

TEST_F(DiskQueueTest, NoSpaceFailsTheAppendAndLeavesNothingHalfVisible) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 3).ok());
  const auto segment = dir_ / SegmentName(1);
  const uint64_t size = fs_.Contents(segment)->size();
  fs_.SetSpaceLeft(25);  // the next write lands 25 of its 60 bytes
  Status s = AppendRange(*q, 3, 5);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_EQ(fs_.Contents(segment)->size(), size) << "the partial write was cut back";
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 3));
  EXPECT_EQ(q->Stats().appended, 3u);
  EXPECT_EQ(q->Stats().append_errors, 1u);
  EXPECT_NE(q->Stats().last_error.find("No space"), std::string::npos);

  fs_.SetSpaceLeft(FaultyFiles::kUnlimited);  // space freed
  ASSERT_TRUE(AppendRange(*q, 5, 7).ok());
  auto records = PeekAll(*q);
  EXPECT_EQ(PayloadsOf(records),
            (std::vector<std::string>{Payload(0), Payload(1), Payload(2), Payload(5), Payload(6)}));
  EXPECT_GT(records[3].seq, records[2].seq);
  q.reset();
  q = Open();
  EXPECT_EQ(PeekAll(*q).size(), 5u);
  EXPECT_EQ(q->Stats().corrupt_records, 0u);
  EXPECT_EQ(q->Stats().torn_tail_bytes, 0u);
}

TEST_F(DiskQueueTest, NoSpaceForANewSegment) {
  auto q = Open();
  fs_.SetSpaceLeft(10);  // not even the 16-byte segment header fits
  EXPECT_EQ(AppendRange(*q, 0, 1).code(), StatusCode::kIoError);
  fs_.SetSpaceLeft(FaultyFiles::kUnlimited);
  ASSERT_TRUE(AppendRange(*q, 1, 2).ok());
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(1, 2));
  q.reset();
  q = Open();
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(1, 2));
}

TEST_F(DiskQueueTest, FailedFsyncFailsTheAppend) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 2).ok());
  fs_.FailSyncs(1);
  EXPECT_EQ(AppendRange(*q, 2, 4).code(), StatusCode::kIoError);
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 2)) << "never visible to the consumer";
  ASSERT_TRUE(AppendRange(*q, 4, 5).ok()) << "the queue stays usable";
  EXPECT_EQ(q->Stats().appended, 3u);
  q.reset();
  fs_.Crash();
  q = Open();
  EXPECT_EQ(PayloadsOf(PeekAll(*q)),
            (std::vector<std::string>{Payload(0), Payload(1), Payload(4)}));
  EXPECT_EQ(q->Stats().corrupt_records, 0u);
  EXPECT_EQ(q->Stats().torn_tail_bytes, 0u);
}

TEST_F(DiskQueueTest, TornWriteThenReopenCutsTheTail) {
  constexpr uint64_t kRecord = kRecordHeader + 10;
  // Every kind of tear of a two-record write: in a header, in a payload, between the records.
  for (uint64_t keep : {uint64_t{0}, uint64_t{7}, kRecordHeader, kRecord - 1, kRecord, kRecord + 3,
                        2 * kRecord - 1}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " bytes");
    FaultyFiles fs;
    DiskQueueOptions o = OptionsOn(&fs);
    auto q = Open(o);
    ASSERT_TRUE(AppendRange(*q, 0, 3).ok());
    fs.TearNextWrite(keep);
    EXPECT_EQ(AppendRange(*q, 3, 5).code(), StatusCode::kIoError);
    EXPECT_TRUE(fs.crashed());
    q.reset();
    fs.Crash();
    q = Open(o);
    // Records wholly on disk may come back (they were never acknowledged: at-least-once);
    // the partial one is cut.
    int whole = static_cast<int>(keep / kRecord);
    EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 3 + whole));
    EXPECT_EQ(q->Stats().torn_tail_bytes, keep % kRecord);
    EXPECT_EQ(q->Stats().corrupt_records, 0u);
    ASSERT_TRUE(AppendRange(*q, 10, 11).ok());
    q.reset();
    q = Open(o);
    auto records = PeekAll(*q);
    ASSERT_EQ(records.size(), static_cast<size_t>(4 + whole));
    EXPECT_EQ(records.back().payload, Payload(10));
    EXPECT_EQ(q->Stats().torn_tail_bytes, 0u) << "the cut was made durable";
  }
}

TEST_F(DiskQueueTest, CorruptRecordInTheMiddleIsSkippedAndCounted) {
  constexpr uint64_t kRecord = kRecordHeader + 10;
  const uint64_t record4 = kHeader + 4 * kRecord;  // the fifth record, seq 5
  // Its sync marker, CRC, length, seq and payload in turn.
  for (uint64_t at : {uint64_t{0}, uint64_t{5}, uint64_t{8}, uint64_t{13}, uint64_t{25}}) {
    SCOPED_TRACE("corrupt byte " + std::to_string(at) + " of the record");
    FaultyFiles fs;
    DiskQueueOptions o = OptionsOn(&fs);
    auto q = Open(o);
    ASSERT_TRUE(AppendRange(*q, 0, 10).ok());
    q.reset();
    ASSERT_TRUE(fs.Corrupt(dir_ / SegmentName(1), record4 + at).ok());
    q = Open(o);
    auto records = PeekAll(*q);
    std::vector<std::string> want = Expected(0, 10);
    want.erase(want.begin() + 4);
    EXPECT_EQ(PayloadsOf(records), want);
    EXPECT_EQ(records[4].seq, 6u);
    EXPECT_EQ(q->Stats().corrupt_records, 1u);
    EXPECT_EQ(q->Stats().torn_tail_bytes, 0u) << "not mistaken for a tail";
    EXPECT_EQ(q->Stats().records, 9u);
    // Consuming up to the record before the hole, then the rest.
    ASSERT_TRUE(q->Consume(4).ok());
    EXPECT_EQ(q->Peek(1, SIZE_MAX, 0).front().seq, 6u);
    ASSERT_TRUE(q->Consume(10).ok());
    EXPECT_TRUE(PeekAll(*q).empty());
  }
}

TEST_F(DiskQueueTest, CorruptLastRecordIsCutAsATornTail) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 4).ok());
  q.reset();
  const auto segment = dir_ / SegmentName(1);
  const uint64_t size = fs_.Contents(segment)->size();
  ASSERT_TRUE(fs_.Corrupt(segment, size - 1).ok());
  q = Open();
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 3));
  EXPECT_EQ(q->Stats().torn_tail_bytes, kRecordHeader + 10);
  EXPECT_EQ(fs_.Contents(segment)->size(), size - (kRecordHeader + 10));
  ASSERT_TRUE(AppendRange(*q, 4, 5).ok());
  // Seqs go on from the last record that survived (docs/QUEUE.md: a cut record's seq may be
  // given again — it was never durable, or it was destroyed).
  auto records = PeekAll(*q);
  EXPECT_EQ(records.back().seq, 4u);
  EXPECT_EQ(records.back().payload, Payload(4));
}

TEST_F(DiskQueueTest, CorruptionFoundByPeekIsSkippedOnce) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 5).ok());
  ASSERT_TRUE(fs_.Corrupt(dir_ / SegmentName(1), kHeader + 2 * (kRecordHeader + 10) + 22).ok());
  auto records = PeekAll(*q);
  EXPECT_EQ(records.size(), 4u);
  EXPECT_EQ(PeekAll(*q).size(), 4u);
  EXPECT_EQ(q->Stats().corrupt_records, 1u);
  ASSERT_TRUE(q->Consume(records.back().seq).ok());
  EXPECT_EQ(q->Stats().records, 0u);
}

TEST_F(DiskQueueTest, CrashBetweenWriteAndFsyncLosesOnlyUnacknowledgedRecords) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 3).ok());
  fs_.CrashAtNextSync();
  EXPECT_EQ(AppendRange(*q, 3, 6).code(), StatusCode::kIoError) << "never acknowledged";
  q.reset();
  fs_.Crash();
  q = Open();
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 3));
  EXPECT_EQ(q->Stats().torn_tail_bytes, 0u);
  ASSERT_TRUE(AppendRange(*q, 6, 7).ok());
  EXPECT_EQ(PeekAll(*q).back().seq, 4u);
}

TEST_F(DiskQueueTest, WithoutFsyncRecordsSurviveAnAgentCrashButNotAPowerCut) {
  DiskQueueOptions o = Options();
  o.fsync = false;
  auto q = Open(o);
  ASSERT_TRUE(AppendRange(*q, 0, 3).ok());
  EXPECT_EQ(q->Stats().fsyncs, 0u);
  EXPECT_EQ(fs_.file_syncs(), 0u);
  q.reset();  // the agent dies; the page cache stays
  q = Open(o);
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 3));
  q.reset();
  fs_.Crash();  // the machine dies
  q = Open(o);
  EXPECT_TRUE(PeekAll(*q).empty());
}

TEST_F(DiskQueueTest, ConcurrentAppendersShareFsyncs) {
  constexpr int kThreads = 4, kCalls = 100;
  auto q = Open();
  // The first fsync waits until every thread has an Append queued behind it, so at least one
  // group commit is certain (not left to timing).
  std::atomic<bool> first{true};
  fs_.SetSyncHook([&] {
    if (first.exchange(false)) {
      EXPECT_TRUE(WaitFor([&] { return q->Stats().appends_waiting >= kThreads; }));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::string a = "t" + std::to_string(t) + "-" + std::to_string(2 * i);
        std::string b = "t" + std::to_string(t) + "-" + std::to_string(2 * i + 1);
        EXPECT_TRUE(AppendStrings(*q, {a, b}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  fs_.SetSyncHook(nullptr);

  auto records = PeekAll(*q);
  ASSERT_EQ(records.size(), size_t{kThreads * kCalls * 2});
  std::set<std::string> seen;
  std::map<int, int> next;  // per thread: the next index expected, in seq order
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0) {
      EXPECT_GT(records[i].seq, records[i - 1].seq);
    }
    EXPECT_TRUE(seen.insert(records[i].payload).second) << "twice: " << records[i].payload;
    int t = records[i].payload[1] - '0';
    EXPECT_EQ(records[i].payload, "t" + std::to_string(t) + "-" + std::to_string(next[t]++));
  }
  auto stats = q->Stats();
  EXPECT_EQ(stats.appended, uint64_t{kThreads * kCalls * 2});
  EXPECT_LT(stats.fsyncs, uint64_t{kThreads * kCalls});
  EXPECT_EQ(stats.appends_waiting, 0u);
}

TEST_F(DiskQueueTest, CloseWakesAWaitingPeek) {
  auto q = Open();
  auto peek = std::async(std::launch::async, [&] { return q->Peek(10, SIZE_MAX, kHourNs); });
  q->Close();
  ASSERT_EQ(peek.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(peek.get().empty());
  EXPECT_EQ(AppendRange(*q, 0, 1).code(), StatusCode::kFailedPrecondition);
}

TEST_F(DiskQueueTest, PeekWaitsForAnAppend) {
  auto q = Open();
  auto peek = std::async(std::launch::async, [&] { return q->Peek(10, SIZE_MAX, kHourNs); });
  ASSERT_TRUE(AppendRange(*q, 0, 2).ok());
  ASSERT_EQ(peek.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto records = peek.get();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().payload, Payload(0));
}

TEST_F(DiskQueueTest, RefusesWhatCannotBeQueued) {
  DiskQueueOptions o = Options();
  o.max_bytes = 256 << 10;
  auto q = Open(o);
  std::string big(64 << 10, 'x');
  EXPECT_EQ(AppendStrings(*q, {big}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(q->Append({}).ok());
  EXPECT_EQ(q->Consume(1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q->Stats().appended, 0u);
}

TEST_F(DiskQueueTest, SegmentOfANewerFormatIsNotTouched) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 1).ok());
  q.reset();
  ASSERT_TRUE(fs_.Corrupt(dir_ / SegmentName(1), 4, 0x02).ok());  // version 1 → 3
  auto reopened = DiskQueue::Open(Options());
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(DiskQueueTest, DamagedCursorResendsEverything) {
  auto q = Open();
  ASSERT_TRUE(AppendRange(*q, 0, 3).ok());
  ASSERT_TRUE(q->Consume(2).ok());
  q.reset();
  ASSERT_TRUE(fs_.Corrupt(dir_ / "cursor", 9).ok());
  q = Open();
  EXPECT_EQ(PayloadsOf(PeekAll(*q)), Expected(0, 3));  // at-least-once
  ASSERT_TRUE(AppendRange(*q, 3, 4).ok());
  EXPECT_EQ(PeekAll(*q).back().seq, 4u);
}

// --- The real file system ---

TEST(DiskQueueRealFilesTest, AppendRestartConsume) {
  testing::TempDir tmp;
  DiskQueueOptions o;
  o.dir = tmp.path() / "queue" / "out";
  {
    auto q = DiskQueue::Open(o);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    ASSERT_TRUE(AppendRange(**q, 0, 5).ok());
    ASSERT_TRUE((*q)->Consume(2).ok());
    EXPECT_EQ((*q)->Stats().fsyncs, 1u);
  }
  EXPECT_TRUE(std::filesystem::exists(o.dir / SegmentName(1)));
  EXPECT_TRUE(std::filesystem::exists(o.dir / "cursor"));
  EXPECT_FALSE(std::filesystem::exists(o.dir / "cursor.tmp"));
  // A torn record at the end, as a power cut leaves it.
  std::ofstream(o.dir / SegmentName(1), std::ios::app | std::ios::binary) << "\x9d\x0e\x51\xc7xx";
  auto q = DiskQueue::Open(o);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  auto records = PeekAll(**q);
  EXPECT_EQ(PayloadsOf(records), Expected(2, 5));
  EXPECT_EQ(records.front().seq, 3u);
  EXPECT_EQ((*q)->Stats().torn_tail_bytes, 6u);
  ASSERT_TRUE(AppendRange(**q, 5, 6).ok());
  EXPECT_EQ(PeekAll(**q).back().seq, 6u);
  ASSERT_TRUE((*q)->Consume(6).ok());
  EXPECT_EQ((*q)->Stats().records, 0u);
}

TEST(DiskQueueRealFilesTest, ConcurrentAppendersEveryRecordOnce) {
  testing::TempDir tmp;
  DiskQueueOptions o;
  o.dir = tmp.path() / "q";
  o.segment_bytes = 64 << 10;
  o.max_bytes = 64 << 20;
  auto q = DiskQueue::Open(o);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  constexpr int kThreads = 4, kCalls = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        EXPECT_TRUE(AppendStrings(**q, {Payload(t * 1000 + i, 4000)}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto payloads = PayloadsOf(PeekAll(**q));
  std::set<std::string> seen(payloads.begin(), payloads.end());
  EXPECT_EQ(payloads.size(), size_t{kThreads * kCalls});
  EXPECT_EQ(seen.size(), size_t{kThreads * kCalls});
  EXPECT_LE((*q)->Stats().fsyncs, uint64_t{kThreads * kCalls});
}

// --- The file layer ---

TEST(QueueFilesTest, FaultyFilesKeepsOnlyWhatWasSynced) {
  FaultyFiles fs;
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  auto a = fs.Open("/d/a", QueueFiles::OpenMode::kAppend);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Append("abc").ok());
  ASSERT_TRUE((*a)->Sync().ok());
  ASSERT_TRUE(fs.SyncDir("/d").ok());
  ASSERT_TRUE((*a)->Append("def").ok());
  auto b = fs.Open("/d/b", QueueFiles::OpenMode::kAppend);  // its name is never synced
  ASSERT_TRUE((*b)->Append("x").ok());
  ASSERT_TRUE((*b)->Sync().ok());
  ASSERT_TRUE(fs.Rename("/d/a", "/d/c").ok());  // nor is this
  EXPECT_EQ(*fs.Contents("/d/c"), "abcdef");
  fs.Crash();
  EXPECT_EQ(*fs.Contents("/d/a"), "abc");
  EXPECT_FALSE(fs.Contents("/d/b"));
  EXPECT_FALSE(fs.Contents("/d/c"));
  EXPECT_FALSE((*a)->Append("late").ok()) << "handles from before the crash are dead";
  auto names = fs.List("/d");
  EXPECT_EQ(*names, std::vector<std::string>{"a"});
}

TEST(QueueFilesTest, FaultyFilesInjectsFaults) {
  FaultyFiles fs;
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  ASSERT_TRUE(fs.SyncDir("/d").ok());
  auto f = fs.Open("/d/f", QueueFiles::OpenMode::kAppend).value();
  ASSERT_TRUE(fs.SyncDir("/d").ok());
  fs.SetSpaceLeft(5);
  EXPECT_FALSE(f->Append("abcdefgh").ok());
  EXPECT_EQ(*fs.Contents("/d/f"), "abcde");
  ASSERT_TRUE(f->Truncate(2).ok());
  EXPECT_FALSE(f->Append("z").ok()) << "truncating gives no space back";
  fs.SetSpaceLeft(FaultyFiles::kUnlimited);
  ASSERT_TRUE(f->Sync().ok());
  fs.FailSyncs(1);
  ASSERT_TRUE(f->Append("cd").ok());
  EXPECT_FALSE(f->Sync().ok());
  char buf[8];
  EXPECT_EQ(*f->ReadAt(1, buf, sizeof(buf)), 3u);
  EXPECT_EQ(std::string(buf, 3), "bcd");
  ASSERT_TRUE(fs.Corrupt("/d/f", 0, 0x20).ok());
  EXPECT_EQ(*fs.Contents("/d/f"), "Abcd");
  fs.TearNextWrite(2);
  EXPECT_FALSE(f->Append("wxyz").ok());
  EXPECT_TRUE(fs.crashed());
  EXPECT_FALSE(fs.FileSize("/d/f").ok()) << "everything fails until Crash()";
  fs.Crash();
  EXPECT_EQ(*fs.Contents("/d/f"), "Abcdwx") << "the torn piece reached the disk";
  fs.CrashAtNextSync();
  auto g = fs.Open("/d/f", QueueFiles::OpenMode::kAppend).value();
  ASSERT_TRUE(g->Append("!").ok());
  EXPECT_FALSE(g->Sync().ok());
  fs.Crash();
  EXPECT_EQ(*fs.Contents("/d/f"), "Abcdwx");
  EXPECT_EQ(fs.file_syncs(), 1u);
}

TEST(QueueFilesTest, PosixFilesRoundTrip) {
  testing::TempDir tmp;
  QueueFiles* fs = PosixQueueFiles();
  const auto dir = tmp.path() / "a" / "b";
  ASSERT_TRUE(fs->CreateDir(dir).ok());
  auto f = fs->Open(dir / "f", QueueFiles::OpenMode::kTruncate);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append("hello world").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(*(*f)->Size(), 11u);
  char buf[16];
  EXPECT_EQ(*(*f)->ReadAt(6, buf, sizeof(buf)), 5u);
  EXPECT_EQ(std::string(buf, 5), "world");
  ASSERT_TRUE((*f)->Truncate(5).ok());
  ASSERT_TRUE((*f)->Append("!").ok());  // appends at the new end
  EXPECT_EQ(*fs->FileSize(dir / "f"), 6u);
  ASSERT_TRUE(fs->Rename(dir / "f", dir / "g").ok());
  ASSERT_TRUE(fs->SyncDir(dir).ok());
  EXPECT_EQ(*fs->List(dir), std::vector<std::string>{"g"});
  EXPECT_EQ(fs->Open(dir / "f", QueueFiles::OpenMode::kRead).status().code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(fs->Remove(dir / "g").ok());
  EXPECT_EQ(fs->Remove(dir / "g").code(), StatusCode::kNotFound);
  EXPECT_TRUE(fs->List(dir)->empty());
}

}  // namespace
}  // namespace pythond::outputs
