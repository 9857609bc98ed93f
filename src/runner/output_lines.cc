#include "runner/output_lines.h"

#include <algorithm>

namespace pythond::runner {

void LineSplitter::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    std::string_view chunk = bytes.substr(0, nl);
    size_t room = max_line_ > line_.size() ? max_line_ - line_.size() : 0;
    size_t take = std::min(room, chunk.size());
    line_.append(chunk.substr(0, take));
    dropped_ += chunk.size() - take;
    if (nl == std::string_view::npos) return;
    EmitLine();
    bytes.remove_prefix(nl + 1);
  }
}

void LineSplitter::Finish() {
  if (!line_.empty() || dropped_ > 0) EmitLine();
}

void LineSplitter::EmitLine() {
  if (!line_.empty() && line_.back() == '\r' && dropped_ == 0) line_.pop_back();
  emit_(line_, dropped_);
  line_.clear();
  dropped_ = 0;
}

}  // namespace pythond::runner
