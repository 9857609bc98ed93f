// libFuzzer target: what makes client and script text safe to show (src/common/strings.h):
// SafeName, ValidUtf8, LogSafe and PercentDecode on arbitrary bytes. Oracle: the outputs are
// valid UTF-8 within their byte limits, SafeName and LogSafe leave no control character, and
// SafeName and ValidUtf8 are idempotent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/strings.h"

namespace {

// Written here on purpose, apart from src/common's UTF-8 code: an oracle must not share the
// code it checks.
bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      const unsigned char n = static_cast<unsigned char>(s[i + k]);
      if ((n & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (n & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool HasControl(std::string_view s) {
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

[[noreturn]] void Die(const char* what, std::string_view in, std::string_view out) {
  std::fprintf(stderr, "%s\n  input (%zu bytes)\n  output (%zu bytes): %.*s\n", what, in.size(),
               out.size(), static_cast<int>(std::min<size_t>(out.size(), 500)), out.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pythond;
  if (size < 1) return 0;
  const size_t limit = data[0];  // 0..255
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::string name = SafeName(in, limit);
  if (name.size() > limit || !IsValidUtf8(name) || HasControl(name)) Die("SafeName", in, name);
  if (SafeName(name, limit) != name) Die("SafeName is not idempotent", in, name);

  const std::string valid = ValidUtf8(in, limit);
  if (valid.size() > limit || !IsValidUtf8(valid)) Die("ValidUtf8", in, valid);
  if (ValidUtf8(valid, limit) != valid) Die("ValidUtf8 is not idempotent", in, valid);

  const std::string line = LogSafe(in, limit);
  if (!IsValidUtf8(line) || HasControl(line)) Die("LogSafe", in, line);
  if (in.size() <= limit && line.find("more bytes") != std::string::npos &&
      in.find("more bytes") == std::string_view::npos) {
    Die("LogSafe cut a short input", in, line);
  }

  const std::string decoded = PercentDecode(in);
  if (decoded.size() > in.size()) Die("PercentDecode grew", in, decoded);
  const std::string shown = SafeName(decoded);
  if (!IsValidUtf8(shown) || HasControl(shown)) Die("SafeName(PercentDecode)", in, shown);
  return 0;
}
