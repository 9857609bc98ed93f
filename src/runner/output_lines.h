// Turning a worker's stdout/stderr byte stream into log lines: split at '\n', cap the length,
// and rate-limit. Pure; not thread-safe (one per stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/rate_limiter.h"

namespace pythond::runner {

class LineSplitter {
 public:
  // `emit(line, truncated_bytes)` gets each complete line without its '\n' (or '\r\n').
  // A line longer than max_line is cut to max_line and the rest up to '\n' is dropped and
  // counted in truncated_bytes.
  using Emit = std::function<void(std::string_view line, size_t truncated_bytes)>;
  LineSplitter(size_t max_line, Emit emit) : max_line_(max_line), emit_(std::move(emit)) {}

  void Feed(std::string_view bytes);
  // End of stream: emits a final unterminated line if any.
  void Finish();

 private:
  void EmitLine();
  size_t max_line_;
  Emit emit_;
  std::string line_;
  size_t dropped_ = 0;
};

}  // namespace pythond::runner
