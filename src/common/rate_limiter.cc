#include "common/rate_limiter.h"

#include <algorithm>

namespace pythond {

bool RateLimiter::Allow(int64_t now_ns) {
  if (last_ns_ != 0 && now_ns > last_ns_) {
    tokens_ = std::min(burst_, tokens_ + (now_ns - last_ns_) * 1e-9 * rate_);
  }
  last_ns_ = now_ns;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return true;
  }
  return false;
}

}  // namespace pythond
