#include "model/precision.h"

namespace pythond::model {

std::optional<Precision> ParsePrecision(std::string_view text) {
  if (text.empty()) return Precision::kAuto;
  if (text == "n" || text == "ns") return Precision::kNanosecond;
  if (text == "u" || text == "us") return Precision::kMicrosecond;
  if (text == "ms") return Precision::kMillisecond;
  if (text == "s") return Precision::kSecond;
  if (text == "m") return Precision::kMinute;
  if (text == "h") return Precision::kHour;
  return std::nullopt;
}

std::optional<int64_t> ToUnixNanos(int64_t t, Precision p) {
  if (p == Precision::kAuto) {
    int64_t mag = t < 0 ? -(t + 1) : t;  // avoid overflow on INT64_MIN
    if (mag < 10'000'000'000LL) {
      p = Precision::kSecond;
    } else if (mag < 10'000'000'000'000LL) {
      p = Precision::kMillisecond;
    } else if (mag < 10'000'000'000'000'000LL) {
      p = Precision::kMicrosecond;
    } else {
      p = Precision::kNanosecond;
    }
  }
  int64_t scale = 1;
  switch (p) {
    case Precision::kAuto:
    case Precision::kNanosecond:
      scale = 1;
      break;
    case Precision::kMicrosecond:
      scale = 1'000;
      break;
    case Precision::kMillisecond:
      scale = 1'000'000;
      break;
    case Precision::kSecond:
      scale = 1'000'000'000;
      break;
    case Precision::kMinute:
      scale = 60'000'000'000LL;
      break;
    case Precision::kHour:
      scale = 3'600'000'000'000LL;
      break;
  }
  int64_t out;
  if (__builtin_mul_overflow(t, scale, &out)) return std::nullopt;
  return out;
}

}  // namespace pythond::model
