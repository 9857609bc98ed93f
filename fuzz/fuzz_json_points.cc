// libFuzzer target: ParseJsonPoints on arbitrary bytes. Beyond the sanitizers: error
// bookkeeping, and every point line protocol can carry (non-empty names and tag values, no
// newline in a name) survives AppendLineProtocol + ParseLineProtocol unchanged.
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "model/json_points.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pythond;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const model::ParseOptions options = fuzz::FuzzOptions();
  const model::ParseResult result = model::ParseJsonPoints(body, options);
  fuzz::CheckErrors(result, options, /*json=*/true, body);
  fuzz::CheckLineProtocolRoundTrip(result.points, body, /*only_representable=*/true);
  return 0;
}
