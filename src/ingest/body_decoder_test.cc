#include "ingest/body_decoder.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pythond::ingest {
namespace {

constexpr size_t kNoLimit = SIZE_MAX;
constexpr size_t kMiB = 1024 * 1024;

// ---- compressors for the test data ----

// window_bits: 15 + 16 gzip, 15 zlib, -15 raw deflate.
std::string Deflate(std::string_view data, int window_bits, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string Gzip(std::string_view data) { return Deflate(data, 15 + 16); }
std::string Zlib(std::string_view data) { return Deflate(data, 15); }
std::string RawDeflate(std::string_view data) { return Deflate(data, -15); }

// ZSTD_compress writes the content size into the frame header.
std::string ZstdWithSize(std::string_view data, int level = 3) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  EXPECT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  out.resize(n);
  EXPECT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), data.size());
  return out;
}

// Streaming compression in small pieces, without the content size in the frame header.
std::string ZstdStreaming(std::string_view data, int window_log = 0) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  if (window_log) ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log);
  std::string out;
  char buf[4096];
  size_t pos = 0;
  while (true) {
    const size_t piece = std::min<size_t>(data.size() - pos, 10000);
    const bool last = pos + piece == data.size();
    ZSTD_inBuffer in{data.data() + pos, piece, 0};
    size_t rc;
    do {
      ZSTD_outBuffer ob{buf, sizeof(buf), 0};
      rc = ZSTD_compressStream2(cctx, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      EXPECT_FALSE(ZSTD_isError(rc)) << ZSTD_getErrorName(rc);
      out.append(buf, ob.pos);
    } while (last ? rc != 0 : in.pos < in.size);
    pos += piece;
    if (last) break;
  }
  ZSTD_freeCCtx(cctx);
  EXPECT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  return out;
}

// `mib` MiB of zeros as a genuine gzip (15 + 16), zlib (15) or raw (-15) deflate stream, built
// without compressing (or allocating) them all: after a sync flush, every further MiB of zeros
// compresses to the same bytes, so the middle is one block repeated.
std::string DeflateZeros(size_t mib, int window_bits) {
  std::vector<char> zeros(kMiB);
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 1, Z_DEFLATED, -15, 9, Z_RLE), Z_OK);
  auto run = [&](size_t n, int flush) {
    std::string out;
    char buf[1 << 16];
    zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
    zs.avail_in = static_cast<uInt>(n);
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      deflate(&zs, flush);
      out.append(buf, sizeof(buf) - zs.avail_out);
    } while (zs.avail_out == 0 || zs.avail_in != 0);
    return out;
  };
  const std::string first = run(kMiB, Z_SYNC_FLUSH);
  const std::string middle = run(kMiB, Z_SYNC_FLUSH);
  EXPECT_EQ(run(kMiB, Z_SYNC_FLUSH), middle);
  const std::string end = run(0, Z_FINISH);
  deflateEnd(&zs);

  std::string out;
  if (window_bits == 15 + 16) out.assign("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  if (window_bits == 15) out.assign("\x78\x01", 2);
  out += first;
  for (size_t i = 1; i < mib; ++i) out += middle;
  out += end;

  const uLong crc_mib = crc32(0, reinterpret_cast<const Bytef*>(zeros.data()), kMiB);
  const uLong adler_mib = adler32(1, reinterpret_cast<const Bytef*>(zeros.data()), kMiB);
  uLong crc = crc32(0, nullptr, 0), adler = 1;
  for (size_t i = 0; i < mib; ++i) {
    crc = crc32_combine(crc, crc_mib, kMiB);
    adler = adler32_combine(adler, adler_mib, kMiB);
  }
  auto put_le = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>(v >> (8 * i));
  };
  if (window_bits == 15 + 16) {
    put_le(static_cast<uint32_t>(crc));
    put_le(static_cast<uint32_t>(mib * kMiB));
  }
  if (window_bits == 15) {
    for (int i = 3; i >= 0; --i) out += static_cast<char>(adler >> (8 * i));
  }
  return out;
}

// 1 GiB of zeros through zstd's streaming compressor, fed 1 MiB at a time.
std::string ZstdZeros(size_t mib, bool with_size) {
  std::vector<char> zeros(kMiB);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
  if (with_size) ZSTD_CCtx_setPledgedSrcSize(cctx, mib * kMiB);
  std::string out;
  std::vector<char> buf(ZSTD_CStreamOutSize());
  for (size_t i = 0; i < mib; ++i) {
    const bool last = i + 1 == mib;
    ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
    size_t rc;
    do {
      ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
      rc = ZSTD_compressStream2(cctx, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      EXPECT_FALSE(ZSTD_isError(rc)) << ZSTD_getErrorName(rc);
      out.append(buf.data(), ob.pos);
    } while (last ? rc != 0 : in.pos < in.size);
  }
  ZSTD_freeCCtx(cctx);
  return out;
}

// ---- test data ----

std::string LineProtocol(int lines) {
  std::string out;
  for (int i = 0; i < lines; ++i) {
    out += "cpu,host=web-" + std::to_string(i % 17) +
           ",region=eu-west usage_idle=" + std::to_string(i % 100) +
           ".25,usage_user=" + std::to_string(i % 7) + "i,note=\"ok\" " +
           std::to_string(1'700'000'000'000'000'000 + i) + "\n";
  }
  return out;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Line protocol, then incompressible bytes, so the output grows past every size hint.
std::string Mixed() { return LineProtocol(20000) + RandomBytes(300 * 1024, 7); }

long MaxRssKiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

StatusCode Code(std::string_view body, std::string_view encoding, size_t max = kNoLimit) {
  return DecodeBody(body, encoding, max).status().code();
}

std::string Message(std::string_view body, std::string_view encoding, size_t max = kNoLimit) {
  return DecodeBody(body, encoding, max).status().message();
}

// ---- encoding names ----

TEST(ParseBodyEncodingTest, KnownNames) {
  EXPECT_EQ(*ParseBodyEncoding(""), BodyEncoding::kIdentity);
  EXPECT_EQ(*ParseBodyEncoding("identity"), BodyEncoding::kIdentity);
  EXPECT_EQ(*ParseBodyEncoding("gzip"), BodyEncoding::kGzip);
  EXPECT_EQ(*ParseBodyEncoding("x-gzip"), BodyEncoding::kGzip);
  EXPECT_EQ(*ParseBodyEncoding("deflate"), BodyEncoding::kDeflate);
  EXPECT_EQ(*ParseBodyEncoding("zstd"), BodyEncoding::kZstd);
  for (BodyEncoding e : {BodyEncoding::kIdentity, BodyEncoding::kGzip, BodyEncoding::kDeflate,
                         BodyEncoding::kZstd}) {
    EXPECT_EQ(*ParseBodyEncoding(BodyEncodingName(e)), e);
  }
}

TEST(ParseBodyEncodingTest, CaseInsensitiveAndTrimmed) {
  EXPECT_EQ(*ParseBodyEncoding("GZIP"), BodyEncoding::kGzip);
  EXPECT_EQ(*ParseBodyEncoding("Gzip"), BodyEncoding::kGzip);
  EXPECT_EQ(*ParseBodyEncoding("X-GZIP"), BodyEncoding::kGzip);
  EXPECT_EQ(*ParseBodyEncoding("Deflate"), BodyEncoding::kDeflate);
  EXPECT_EQ(*ParseBodyEncoding("ZSTD"), BodyEncoding::kZstd);
  EXPECT_EQ(*ParseBodyEncoding("IDENTITY"), BodyEncoding::kIdentity);
  EXPECT_EQ(*ParseBodyEncoding(" zstd\t"), BodyEncoding::kZstd);
  EXPECT_EQ(*ParseBodyEncoding("  "), BodyEncoding::kIdentity);
}

TEST(ParseBodyEncodingTest, UnknownNames) {
  StatusOr<BodyEncoding> br = ParseBodyEncoding("br");
  ASSERT_FALSE(br.ok());
  EXPECT_EQ(br.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(br.status().message(), "unsupported encoding 'br' (want gzip, deflate or zstd)");
  EXPECT_EQ(Message("x", "compress"),
            "unsupported encoding 'compress' (want gzip, deflate or zstd)");
  // Lists of codings are not supported; neither are near misses.
  for (const char* name : {"gzip, identity", "gz", "gzipp", "zlib", "snappy", "lz4", "*"}) {
    EXPECT_EQ(Code("x", name), StatusCode::kInvalidArgument) << name;
  }
  // A long value is cut in the message.
  std::string message = Message("x", std::string(1000, 'a'));
  EXPECT_LT(message.size(), 150u);
  EXPECT_NE(message.find("...'"), std::string::npos);
}

// ---- identity ----

TEST(DecodeBodyTest, IdentityIsUnchanged) {
  const std::string body = Mixed();
  for (const char* name : {"", "identity", "IDENTITY"}) {
    StatusOr<std::string> out = DecodeBody(body, name, kNoLimit);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(*out, body);
  }
  EXPECT_EQ(*DecodeBody("", "", 0), "");
}

TEST(DecodeBodyTest, IdentityHonoursTheLimit) {
  EXPECT_EQ(*DecodeBody("12345", "", 5), "12345");
  EXPECT_EQ(Code("12345", "", 4), StatusCode::kResourceExhausted);
  EXPECT_EQ(Message("12345", "", 4), "decoded body is larger than the limit of 4 bytes");
}

// ---- round trips ----

struct Codec {
  const char* encoding;
  std::string (*compress)(std::string_view);
};

std::string ZstdWithSizeDefault(std::string_view d) { return ZstdWithSize(d); }
std::string ZstdStreamingDefault(std::string_view d) { return ZstdStreaming(d); }

const Codec kCodecs[] = {
    {"gzip", Gzip},
    {"deflate", Zlib},
    {"deflate", RawDeflate},
    {"zstd", ZstdWithSizeDefault},
    {"zstd", ZstdStreamingDefault},
};

TEST(DecodeBodyTest, RoundTrips) {
  const std::vector<std::string> inputs = {
      "",
      "x",
      "cpu,host=a usage=1.5 1700000000000000000\n",
      LineProtocol(1000),
      Mixed(),
      std::string(5 * kMiB, 'z'),  // far past every size hint
      RandomBytes(100000, 1),
  };
  for (const Codec& codec : kCodecs) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string compressed = codec.compress(inputs[i]);
      StatusOr<std::string> out = DecodeBody(compressed, codec.encoding, kNoLimit);
      ASSERT_TRUE(out.ok()) << codec.encoding << " input " << i << ": " << out.status().ToString();
      EXPECT_EQ(*out, inputs[i]) << codec.encoding << " input " << i;
    }
  }
}

TEST(DecodeBodyTest, CaseInsensitiveEncodingOnDecode) {
  const std::string body = LineProtocol(50);
  EXPECT_EQ(*DecodeBody(Gzip(body), "GZIP", kNoLimit), body);
  EXPECT_EQ(*DecodeBody(Zlib(body), "DEFLATE", kNoLimit), body);
  EXPECT_EQ(*DecodeBody(ZstdWithSize(body), "Zstd", kNoLimit), body);
  EXPECT_EQ(*DecodeBody(Gzip(body), BodyEncoding::kGzip, kNoLimit), body);
}

TEST(DecodeBodyTest, GzipLevelsAndTinyWindows) {
  const std::string body = LineProtocol(2000) + RandomBytes(50000, 5);
  for (int level : {0, 1, 9}) {
    EXPECT_EQ(*DecodeBody(Deflate(body, 15 + 16, level), "gzip", kNoLimit), body) << level;
    EXPECT_EQ(*DecodeBody(Deflate(body, 9, level), "deflate", kNoLimit), body) << level;
    EXPECT_EQ(*DecodeBody(Deflate(body, -9, level), "deflate", kNoLimit), body) << level;
  }
}

TEST(DecodeBodyTest, ConcatenatedGzipMembers) {
  const std::string a = LineProtocol(10), b = "mem,host=x used=1i\n", c = RandomBytes(5000, 3);
  EXPECT_EQ(*DecodeBody(Gzip(a) + Gzip(b) + Gzip(c), "gzip", kNoLimit), a + b + c);
  EXPECT_EQ(*DecodeBody(Gzip("") + Gzip(a) + Gzip(""), "gzip", kNoLimit), a);
  // The limit counts all members together.
  EXPECT_EQ(Code(Gzip(a) + Gzip(a), "gzip", 2 * a.size() - 1), StatusCode::kResourceExhausted);
  EXPECT_TRUE(DecodeBody(Gzip(a) + Gzip(a), "gzip", 2 * a.size()).ok());
}

TEST(DecodeBodyTest, ConcatenatedZstdFramesAndSkippableFrames) {
  const std::string a = LineProtocol(10), b = RandomBytes(5000, 4);
  EXPECT_EQ(*DecodeBody(ZstdWithSize(a) + ZstdStreaming(b) + ZstdWithSize(""), "zstd", kNoLimit),
            a + b);
  // A skippable frame (magic 0x184D2A50, 4-byte size, payload) is ignored.
  std::string skippable("\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
  EXPECT_EQ(*DecodeBody(skippable + ZstdWithSize(a) + skippable, "zstd", kNoLimit), a);
}

TEST(DecodeBodyTest, EmptyBodyIsEmptyForEveryEncoding) {
  for (const char* name : {"", "identity", "gzip", "deflate", "zstd"}) {
    StatusOr<std::string> out = DecodeBody("", name, 0);
    ASSERT_TRUE(out.ok()) << name << ": " << out.status().ToString();
    EXPECT_EQ(*out, "") << name;
  }
  // A compressed empty payload is fine too, even with a zero limit.
  for (const Codec& codec : kCodecs) {
    StatusOr<std::string> out = DecodeBody(codec.compress(""), codec.encoding, 0);
    ASSERT_TRUE(out.ok()) << codec.encoding << ": " << out.status().ToString();
    EXPECT_EQ(*out, "");
  }
}

// ---- limits ----

TEST(DecodeBodyTest, LimitIsExact) {
  const std::string body = Mixed();
  for (const Codec& codec : kCodecs) {
    const std::string compressed = codec.compress(body);
    EXPECT_EQ(*DecodeBody(compressed, codec.encoding, body.size()), body) << codec.encoding;
    StatusOr<std::string> over = DecodeBody(compressed, codec.encoding, body.size() - 1);
    EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted) << codec.encoding;
    EXPECT_EQ(over.status().message(), "decoded body is larger than the limit of " +
                                           std::to_string(body.size() - 1) + " bytes");
    EXPECT_EQ(Code(compressed, codec.encoding, 0), StatusCode::kResourceExhausted);
  }
}

TEST(DecodeBodyTest, BombsAreStoppedWhileDecoding) {
  constexpr size_t kGiBInMiB = 1024;
  const std::string gzip = DeflateZeros(kGiBInMiB, 15 + 16);
  const std::string zlib = DeflateZeros(kGiBInMiB, 15);
  const std::string raw = DeflateZeros(kGiBInMiB, -15);
  const std::string zstd_sized = ZstdZeros(kGiBInMiB, true);
  const std::string zstd_unsized = ZstdZeros(kGiBInMiB, false);
  EXPECT_LT(gzip.size(), 2 * kMiB);
  EXPECT_LT(zstd_unsized.size(), 100 * 1024);
  EXPECT_EQ(ZSTD_getFrameContentSize(zstd_sized.data(), zstd_sized.size()), size_t{1} << 30);
  // The construction is sound: 4 MiB built the same way decode (checksums and all) to 4 MiB of
  // zeros. (Inflating the full GiB to prove it would take seconds.)
  for (int window_bits : {15 + 16, 15, -15}) {
    StatusOr<std::string> small =
        DecodeBody(DeflateZeros(4, window_bits), window_bits == 31 ? "gzip" : "deflate", kNoLimit);
    ASSERT_TRUE(small.ok()) << small.status().ToString();
    EXPECT_EQ(*small, std::string(4 * kMiB, '\0'));
  }
  EXPECT_EQ(*DecodeBody(ZstdZeros(4, false), "zstd", kNoLimit), std::string(4 * kMiB, '\0'));

  const long rss_before = MaxRssKiB();
  const struct {
    const std::string* body;
    const char* encoding;
  } bombs[] = {{&gzip, "gzip"},
               {&zlib, "deflate"},
               {&raw, "deflate"},
               {&zstd_sized, "zstd"},
               {&zstd_unsized, "zstd"}};
  for (const auto& bomb : bombs) {
    StatusOr<std::string> out = DecodeBody(*bomb.body, bomb.encoding, 16 * kMiB);
    EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted) << bomb.encoding;
    EXPECT_EQ(out.status().message(), "decoded body is larger than the limit of 16777216 bytes");
  }
  // The peak resident size grew by far less than the 1 GiB a bomb would take.
  EXPECT_LT(MaxRssKiB() - rss_before, 200 * 1024);
}

TEST(DecodeBodyTest, ZstdWindowLargerThanTheLimitJustifies) {
  // A 128 MiB window (zstd --long=27) without the content size: the decoder would allocate it.
  // (The data spans several compressor calls, so zstd cannot shrink the window to its size.)
  const std::string data = LineProtocol(1000);
  const std::string body = ZstdStreaming(data, 27);
  EXPECT_EQ(Code(body, "zstd", kMiB), StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(body, "zstd", kMiB), "zstd body needs a window larger than 8388608 bytes");
  // A limit of 128 MiB or more accepts it.
  EXPECT_EQ(*DecodeBody(body, "zstd", 128 * kMiB), data);
  // An 8 MiB window (level 19's) is accepted whatever the limit.
  EXPECT_EQ(*DecodeBody(ZstdStreaming(data, 23), "zstd", 1000000), data);
}

// ---- corrupt input ----

TEST(DecodeBodyTest, TruncatedStreams) {
  const std::string body = Mixed();
  for (const Codec& codec : kCodecs) {
    const std::string compressed = codec.compress(body);
    for (size_t cut : {size_t{1}, size_t{5}, size_t{11}, compressed.size() / 2,
                       compressed.size() - 4, compressed.size() - 1}) {
      StatusOr<std::string> out = DecodeBody(compressed.substr(0, cut), codec.encoding, kNoLimit);
      EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument)
          << codec.encoding << " cut at " << cut << ": " << out.status().ToString();
    }
    EXPECT_EQ(Message(compressed.substr(0, compressed.size() / 2), codec.encoding),
              std::string("truncated ") + codec.encoding + " body (the stream ends early)");
  }
}

TEST(DecodeBodyTest, EveryPrefixOfASmallStreamIsRefused) {
  const std::string body = "cpu,host=a usage=1.5 1700000000000000000\n";
  for (const Codec& codec : kCodecs) {
    const std::string compressed = codec.compress(body);
    for (size_t cut = 1; cut < compressed.size(); ++cut) {
      EXPECT_EQ(Code(compressed.substr(0, cut), codec.encoding), StatusCode::kInvalidArgument)
          << codec.encoding << " cut at " << cut;
    }
  }
}

TEST(DecodeBodyTest, GarbageIsRefusedWithTheLibraryReason) {
  const std::string text = "cpu,host=a usage=1.5 1700000000000000000\n";
  EXPECT_EQ(Message(text, "gzip"), "invalid gzip body: incorrect header check");
  EXPECT_EQ(Code(text, "deflate"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(text, "zstd"), "invalid zstd body: Unknown frame descriptor");
  for (uint32_t seed = 0; seed < 50; ++seed) {
    const std::string garbage = RandomBytes(1000, seed);
    for (const char* name : {"gzip", "deflate", "zstd"}) {
      EXPECT_EQ(Code(garbage, name), StatusCode::kInvalidArgument) << name << " seed " << seed;
    }
  }
  // Right magic, broken rest.
  std::string gzip = Gzip(LineProtocol(100));
  gzip[gzip.size() / 2] ^= 0x55;
  EXPECT_EQ(Code(gzip, "gzip"), StatusCode::kInvalidArgument);
  std::string zstd = ZstdWithSize(LineProtocol(100));
  zstd[1] ^= 0x55;  // magic number
  EXPECT_EQ(Message(zstd, "zstd"), "invalid zstd body: Unknown frame descriptor");
}

TEST(DecodeBodyTest, ChecksumsAreVerified) {
  const std::string body = LineProtocol(100);
  std::string gzip = Gzip(body);
  gzip[gzip.size() - 6] ^= 1;  // CRC-32
  EXPECT_EQ(Message(gzip, "gzip"), "invalid gzip body: incorrect data check");
  gzip = Gzip(body);
  gzip[gzip.size() - 2] ^= 1;  // ISIZE
  EXPECT_EQ(Message(gzip, "gzip"), "invalid gzip body: incorrect length check");
  std::string zlib = Zlib(body);
  zlib.back() ^= 1;  // Adler-32
  EXPECT_EQ(Message(zlib, "deflate"), "invalid deflate body: incorrect data check");
  // zstd frames carry a checksum only when the writer asks for one (zstd's CLI does).
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string zstd(ZSTD_compressBound(body.size()), '\0');
  zstd.resize(ZSTD_compress2(cctx, zstd.data(), zstd.size(), body.data(), body.size()));
  ZSTD_freeCCtx(cctx);
  EXPECT_EQ(*DecodeBody(zstd, "zstd", kNoLimit), body);
  zstd[zstd.size() / 2] ^= 0x55;
  EXPECT_EQ(Code(zstd, "zstd"), StatusCode::kInvalidArgument);
  zstd.back() ^= 1;
  EXPECT_EQ(Code(zstd, "zstd"), StatusCode::kInvalidArgument);
}

TEST(DecodeBodyTest, TrailingDataIsRefused) {
  const std::string body = LineProtocol(10);
  EXPECT_EQ(Message(Gzip(body) + "junk", "gzip"), "invalid gzip body: incorrect header check");
  EXPECT_EQ(Code(Gzip(body) + std::string(4, '\0'), "gzip"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(Zlib(body) + "junk", "deflate"),
            "invalid deflate body: 4 bytes of trailing data after the stream");
  EXPECT_EQ(Code(RawDeflate(body) + "junk", "deflate"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(ZstdWithSize(body) + "junk", "zstd"), StatusCode::kInvalidArgument);
}

TEST(DecodeBodyTest, WrongEncodingForTheData) {
  const std::string body = LineProtocol(10);
  EXPECT_EQ(Code(Zlib(body), "gzip"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(Gzip(body), "zstd"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(ZstdWithSize(body), "gzip"), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(Gzip(body), "deflate"), StatusCode::kInvalidArgument);
}

TEST(DecodeBodyTest, ZlibPresetDictionaryIsRefused) {
  z_stream zs{};
  ASSERT_EQ(deflateInit(&zs, 6), Z_OK);
  const char dict[] = "cpu,host=";
  deflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(dict), sizeof(dict) - 1);
  std::string in = LineProtocol(5), out(1000, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  EXPECT_EQ(Message(out, "deflate"), "invalid deflate body: the stream needs a preset dictionary");
}

}  // namespace
}  // namespace pythond::ingest
