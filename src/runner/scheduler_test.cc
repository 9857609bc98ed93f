#include "runner/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pythond::runner {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
constexpr int64_t kSec = 1'000'000'000;

TEST(SchedulerTest, FixedRateWithoutDrift) {
  Scheduler s;
  s.Add(1, 10 * kSec, 100 * kSec);
  EXPECT_EQ(s.NextWake(), 100 * kSec);
  EXPECT_THAT(s.TakeDue(99 * kSec), IsEmpty());
  // The timer fires a little late and the run takes 3 s: the next slot stays on the grid.
  EXPECT_THAT(s.TakeDue(100 * kSec + 5'000'000), ElementsAre(1));
  s.Finished(1);
  EXPECT_EQ(s.NextWake(), 110 * kSec);
  EXPECT_THAT(s.TakeDue(110 * kSec + 2'000'000), ElementsAre(1));
  s.Finished(1);
  EXPECT_EQ(s.NextWake(), 120 * kSec);
  EXPECT_EQ(s.Get(1)->started, 2u);
  EXPECT_EQ(s.Get(1)->skipped, 0u);
}

TEST(SchedulerTest, NoOverlapSkippedSlotIsCounted) {
  Scheduler s;
  s.Add(1, 1 * kSec, 0);
  EXPECT_THAT(s.TakeDue(0), ElementsAre(1));
  EXPECT_THAT(s.TakeDue(1 * kSec), IsEmpty());  // still running
  EXPECT_EQ(s.Get(1)->skipped, 1u);
  EXPECT_EQ(s.TakeSkipped(1), 1u);
  EXPECT_EQ(s.Get(1)->skipped, 0u);
  s.Finished(1);
  EXPECT_THAT(s.TakeDue(2 * kSec), ElementsAre(1));
  EXPECT_EQ(s.Get(1)->started, 2u);
}

TEST(SchedulerTest, NoCatchUpBurstAfterAStall) {
  Scheduler s;
  s.Add(1, 1 * kSec, 0);
  EXPECT_THAT(s.TakeDue(0), ElementsAre(1));
  s.Finished(1);
  // The loop was suspended for 100 s: one run, 99 slots skipped, next slot on the grid.
  EXPECT_THAT(s.TakeDue(100 * kSec + 500'000'000), ElementsAre(1));
  EXPECT_EQ(s.Get(1)->skipped, 99u);
  EXPECT_EQ(s.NextWake(), 101 * kSec);
}

TEST(SchedulerTest, ManyPluginsInDueOrderAndRemoval) {
  Scheduler s;
  s.Add(1, 10 * kSec, 3 * kSec);
  s.Add(2, 10 * kSec, 1 * kSec);
  s.Add(3, 10 * kSec, 2 * kSec);
  EXPECT_THAT(s.TakeDue(5 * kSec), ElementsAre(2, 3, 1));
  s.Remove(3);
  EXPECT_EQ(s.Get(3), nullptr);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.NextWake(), 11 * kSec);
  s.Remove(1);
  s.Remove(2);
  EXPECT_FALSE(s.NextWake().has_value());
}

TEST(SchedulerTest, JitterStaysInsideItsSlotAndOffGrid) {
  Scheduler s;
  s.Add(1, 10 * kSec, 0, 2 * kSec);
  int64_t now = 0;
  for (int run = 0; run < 50; ++run) {
    int64_t wake = *s.NextWake();
    int64_t slot = static_cast<int64_t>(run) * 10 * kSec;
    EXPECT_GE(wake, slot);
    EXPECT_LT(wake, slot + 2 * kSec);
    now = wake;
    ASSERT_THAT(s.TakeDue(now), ElementsAre(1));
    EXPECT_EQ(s.Get(1)->last_due_ns, wake);
    s.Finished(1);
  }
  EXPECT_EQ(s.Get(1)->skipped, 0u);
  // Jitter larger than half the interval is capped there.
  s.Add(2, 1 * kSec, 0, 5 * kSec);
  EXPECT_EQ(s.Get(2)->jitter_ns, kSec / 2);
}

TEST(SchedulerTest, StableOffsetsSpreadAndRepeat) {
  std::set<int64_t> buckets;
  for (int i = 0; i < 1000; ++i) {
    int64_t off = Scheduler::StableOffset("in/p_" + std::to_string(i) + ".P", kSec, 60 * kSec);
    EXPECT_GE(off, 0);
    EXPECT_LT(off, kSec);
    EXPECT_EQ(off, Scheduler::StableOffset("in/p_" + std::to_string(i) + ".P", kSec, 60 * kSec));
    buckets.insert(off / 10'000'000);  // 10 ms buckets
  }
  EXPECT_GT(buckets.size(), 90u);  // 1000 plugins cover most of the 100 buckets of one second
  // Long intervals spread over at most `spread`, so the first run is not an hour away.
  EXPECT_LT(Scheduler::StableOffset("x", 3600 * kSec, 60 * kSec), 60 * kSec);
}

}  // namespace
}  // namespace pythond::runner
