#include "common/rate_limiter.h"

#include <gtest/gtest.h>

namespace pythond {
namespace {

TEST(RateLimiterTest, BurstThenRate) {
  RateLimiter r(10, 3);
  int64_t t = 1'000'000'000;
  EXPECT_TRUE(r.Allow(t));
  EXPECT_TRUE(r.Allow(t));
  EXPECT_TRUE(r.Allow(t));
  EXPECT_FALSE(r.Allow(t));
  EXPECT_TRUE(r.Allow(t + 100'000'000));  // one token after 0.1 s at 10/s
  EXPECT_FALSE(r.Allow(t + 100'000'000));
}

}  // namespace
}  // namespace pythond
