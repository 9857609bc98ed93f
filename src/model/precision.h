// Timestamp precision: DataKit's `precision` parameter and magnitude detection. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pythond::model {

enum class Precision { kAuto, kNanosecond, kMicrosecond, kMillisecond, kSecond, kMinute, kHour };

// "n"/"ns", "u"/"us", "ms", "s", "m", "h"; "" is kAuto. nullopt for anything else.
std::optional<Precision> ParsePrecision(std::string_view text);

// Converts a wire timestamp to unix ns. kAuto detects from magnitude as DataKit does:
// |t| < 1e10 seconds, < 1e13 milliseconds, < 1e16 microseconds, else nanoseconds.
// Returns nullopt when the result does not fit in int64 nanoseconds.
std::optional<int64_t> ToUnixNanos(int64_t t, Precision p);

}  // namespace pythond::model
