// libFuzzer target: DecodeBody. The first byte picks the encoding (low two bits: identity, gzip,
// deflate, zstd) and, when its top bit is set, a small limit from the second byte; the rest is
// the body. Besides the sanitizers, checks: output never exceeds the limit; identity is the
// input; a small limit agrees with the 16 MiB one; small outputs survive a re-compression round
// trip.
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/body_decoder.h"

namespace {

using pythond::StatusCode;
using pythond::StatusOr;
using pythond::ingest::BodyEncoding;
using pythond::ingest::BodyEncodingName;
using pythond::ingest::DecodeBody;

constexpr size_t kMaxDecoded = 16 * 1024 * 1024;

[[noreturn]] void Fail(const char* what, BodyEncoding encoding, const std::string& detail) {
  std::fprintf(stderr, "body decoder (%s): %s %s\n",
               std::string(BodyEncodingName(encoding)).c_str(), what, detail.c_str());
  std::abort();
}

std::string Compress(std::string_view data, BodyEncoding encoding) {
  if (encoding == BodyEncoding::kZstd) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 1));
    return out;
  }
  z_stream zs{};
  deflateInit2(&zs, 1, Z_DEFLATED, encoding == BodyEncoding::kGzip ? 31 : 15, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto encoding = static_cast<BodyEncoding>(data[0] & 3);
  const bool small = data[0] & 0x80;
  const size_t small_limit = size_t{data[1]} * 64;
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  const StatusOr<std::string> full = DecodeBody(body, encoding, kMaxDecoded);
  if (full.ok()) {
    if (full->size() > kMaxDecoded) Fail("output over the limit", encoding, "");
    if (encoding == BodyEncoding::kIdentity && *full != body)
      Fail("identity changed", encoding, "");
  } else if (full.status().code() != StatusCode::kInvalidArgument &&
             full.status().code() != StatusCode::kResourceExhausted) {
    Fail("unexpected status", encoding, full.status().ToString());
  }

  if (small) {
    const StatusOr<std::string> limited = DecodeBody(body, encoding, small_limit);
    if (limited.ok()) {
      if (limited->size() > small_limit) Fail("output over the small limit", encoding, "");
      if (!full.ok() || *full != *limited) Fail("small limit decoded differently", encoding, "");
    } else if (full.ok()) {
      // Only the limit may refuse what decodes fine (for zstd also its window check, which
      // depends on the limit).
      const bool expected = limited.status().code() == StatusCode::kResourceExhausted &&
                            (full->size() > small_limit || encoding == BodyEncoding::kZstd);
      if (!expected) Fail("small limit refused a good body", encoding, limited.status().ToString());
    }
  }

  if (full.ok() && encoding != BodyEncoding::kIdentity && full->size() <= 64 * 1024) {
    const StatusOr<std::string> again =
        DecodeBody(Compress(*full, encoding), encoding, kMaxDecoded);
    if (!again.ok() || *again != *full) {
      Fail("re-compression round trip", encoding, again.status().ToString());
    }
  }
  return 0;
}
