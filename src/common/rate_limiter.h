// A token bucket. Pure; not thread-safe (one owner).
#pragma once

#include <cstdint>

namespace pythond {

// Token bucket: `rate` tokens per second, at most `burst` saved. Time in monotonic ns.
class RateLimiter {
 public:
  RateLimiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst), tokens_(burst) {}
  bool Allow(int64_t now_ns);

 private:
  double rate_;
  double burst_;
  double tokens_;
  int64_t last_ns_ = 0;
};

}  // namespace pythond
