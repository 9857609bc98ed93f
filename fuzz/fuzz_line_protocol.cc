// libFuzzer target: ParseLineProtocol on arbitrary bytes, then the encoder round trip: every
// parsed point, written back with AppendLineProtocol and parsed again (timestamps are then in
// ns), must come back identical, alone and within the whole re-encoded body; abort if not.
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "model/line_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pythond;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const model::ParseOptions options = fuzz::FuzzOptions();
  const model::ParseResult result = model::ParseLineProtocol(body, options);
  fuzz::CheckErrors(result, options, /*json=*/false, body);
  fuzz::CheckLineProtocolRoundTrip(result.points, body, /*only_representable=*/false);
  return 0;
}
