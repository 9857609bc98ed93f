#include "ingest/body_decoder.h"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <limits>
#include <memory>

namespace pythond::ingest {

namespace {

constexpr size_t kMinChunk = 16 * 1024;
constexpr size_t kMaxQuotedBytes = 64;
// Deflate cannot expand one input byte into more than ~1032 output bytes, and zstd (RLE blocks)
// not into more than ~32 Ki; a size hint above that is a lie and is not used to pre-size.
constexpr size_t kMaxDeflateRatio = 1032;
constexpr size_t kMaxZstdRatio = 32 * 1024;
// zstd window sizes accepted: 8 MiB covers what `zstd -19` writes without --long; 128 MiB is
// libzstd's own default cap (ZSTD_WINDOWLOG_LIMIT_DEFAULT).
constexpr int kMinWindowLog = 23;
constexpr int kMaxWindowLog = 27;

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

size_t SaturatingMul(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    return std::numeric_limits<size_t>::max();
  return a * b;
}

Status TooLarge(size_t max_decoded_bytes) {
  return Status::ResourceExhausted("decoded body is larger than the limit of " +
                                   std::to_string(max_decoded_bytes) + " bytes");
}

// The decoded bytes, written straight into a std::string that grows by doubling but never past
// `limit` = max_decoded_bytes + 1: reaching the limit means the body is too large, so no more
// than max_decoded_bytes + 1 bytes are ever allocated for the output.
class Output {
 public:
  Output(size_t max_decoded_bytes, size_t size_hint)
      : max_(max_decoded_bytes),
        limit_(max_decoded_bytes == std::numeric_limits<size_t>::max() ? max_decoded_bytes
                                                                       : max_decoded_bytes + 1) {
    buf_.resize(std::min(limit_, std::max(size_hint, kMinChunk)));
  }

  // Makes room after the written bytes; false when the limit is reached.
  bool Reserve() {
    if (written_ < buf_.size()) return true;
    if (buf_.size() >= limit_) return false;
    size_t grown = buf_.size() > limit_ / 2 ? limit_ : std::max(buf_.size() * 2, kMinChunk);
    buf_.resize(std::min(grown, limit_));
    return true;
  }
  char* free_begin() { return buf_.data() + written_; }
  size_t free_size() const { return buf_.size() - written_; }
  void Advance(size_t n) { written_ += n; }
  bool over_limit() const { return written_ > max_; }
  size_t written() const { return written_; }

  std::string Take() && {
    buf_.resize(written_);
    return std::move(buf_);
  }

 private:
  size_t max_;
  size_t limit_;
  size_t written_ = 0;
  std::string buf_;
};

// ---- zlib: gzip and deflate ----

// RFC 1950 §2.2: CM = 8, CINFO <= 7, and CMF*256 + FLG a multiple of 31.
bool HasZlibHeader(std::string_view body) {
  if (body.size() < 2) return false;
  const auto cmf = static_cast<unsigned char>(body[0]);
  const auto flg = static_cast<unsigned char>(body[1]);
  return (cmf & 0x0F) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

struct InflateEnd {
  void operator()(z_stream* zs) const { inflateEnd(zs); }
};

StatusOr<std::string> Inflate(std::string_view body, BodyEncoding encoding,
                              size_t max_decoded_bytes) {
  const bool gzip = encoding == BodyEncoding::kGzip;
  const char* what = gzip ? "gzip" : "deflate";
  int window_bits = MAX_WBITS;  // zlib-wrapped
  if (gzip) {
    window_bits = MAX_WBITS + 16;
  } else if (!HasZlibHeader(body)) {
    window_bits = -MAX_WBITS;  // raw deflate
  }

  size_t hint = SaturatingMul(body.size(), 4);
  if (gzip && body.size() >= 18) {
    // ISIZE, the last member's size mod 2^32, in the trailer.
    const auto* t = reinterpret_cast<const unsigned char*>(body.data() + body.size() - 4);
    const size_t isize = t[0] | (t[1] << 8) | (t[2] << 16) | (static_cast<size_t>(t[3]) << 24);
    if (isize <= SaturatingMul(body.size(), kMaxDeflateRatio)) hint = std::max(hint, isize);
  }
  Output out(max_decoded_bytes, hint);

  z_stream zs{};
  if (int rc = inflateInit2(&zs, window_bits); rc != Z_OK) {
    return Status::Internal(std::string("inflateInit2 failed: ") + zError(rc));
  }
  std::unique_ptr<z_stream, InflateEnd> cleanup(&zs);

  const auto* in = reinterpret_cast<const Bytef*>(body.data());
  size_t in_left = body.size();  // not yet handed to zlib
  auto refill = [&] {
    if (zs.avail_in == 0 && in_left > 0) {
      const auto n = static_cast<uInt>(std::min<size_t>(in_left, UINT_MAX));
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = n;
      in += n;
      in_left -= n;
    }
  };
  auto input_left = [&] { return zs.avail_in + in_left; };

  while (true) {
    if (!out.Reserve()) return TooLarge(max_decoded_bytes);
    refill();
    const auto room = static_cast<uInt>(std::min<size_t>(out.free_size(), UINT_MAX));
    zs.next_out = reinterpret_cast<Bytef*>(out.free_begin());
    zs.avail_out = room;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.Advance(room - zs.avail_out);
    if (out.over_limit()) return TooLarge(max_decoded_bytes);
    switch (rc) {
      case Z_OK:
        continue;
      case Z_STREAM_END:
        if (input_left() == 0) return std::move(out).Take();
        if (!gzip) {
          return Status::InvalidArgument(std::string("invalid deflate body: ") +
                                         std::to_string(input_left()) +
                                         " bytes of trailing data after the stream");
        }
        // Another gzip member follows.
        if (inflateReset(&zs) != Z_OK) return Status::Internal("inflateReset failed");
        continue;
      case Z_BUF_ERROR:
        // No progress although there was output room: the input ran out mid-stream. (With
        // input and output room both non-empty zlib always progresses.)
        if (input_left() != 0) return Status::Internal("inflate made no progress");
        return Status::InvalidArgument(std::string("truncated ") + what +
                                       " body (the stream ends early)");
      case Z_NEED_DICT:
        return Status::InvalidArgument(std::string("invalid ") + what +
                                       " body: the stream needs a preset dictionary");
      case Z_MEM_ERROR:
        return Status::ResourceExhausted(std::string("out of memory decoding a ") + what + " body");
      default:  // Z_DATA_ERROR, Z_STREAM_ERROR
        return Status::InvalidArgument(std::string("invalid ") + what +
                                       " body: " + (zs.msg ? zs.msg : zError(rc)));
    }
  }
}

// ---- zstd ----

struct FreeDctx {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

int WindowLogFor(size_t max_decoded_bytes) {
  int log = kMinWindowLog;
  while (log < kMaxWindowLog && (size_t{1} << log) < max_decoded_bytes) ++log;
  return log;
}

StatusOr<std::string> Unzstd(std::string_view body, size_t max_decoded_bytes) {
  size_t hint = SaturatingMul(body.size(), 4);
  const unsigned long long declared = ZSTD_getFrameContentSize(body.data(), body.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    // The first frame alone must decode to `declared` bytes (or fail).
    if (declared > max_decoded_bytes) return TooLarge(max_decoded_bytes);
    if (declared <= SaturatingMul(body.size(), kMaxZstdRatio)) {
      hint = std::max(hint, static_cast<size_t>(declared));
    }
  }
  Output out(max_decoded_bytes, hint);

  std::unique_ptr<ZSTD_DCtx, FreeDctx> dctx(ZSTD_createDCtx());
  if (!dctx) return Status::ResourceExhausted("out of memory creating a zstd decoder");
  const size_t set =
      ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, WindowLogFor(max_decoded_bytes));
  if (ZSTD_isError(set)) {
    return Status::Internal(std::string("ZSTD_d_windowLogMax: ") + ZSTD_getErrorName(set));
  }

  ZSTD_inBuffer in{body.data(), body.size(), 0};
  while (true) {
    if (!out.Reserve()) return TooLarge(max_decoded_bytes);
    ZSTD_outBuffer ob{out.free_begin(), out.free_size(), 0};
    const size_t rc = ZSTD_decompressStream(dctx.get(), &ob, &in);
    out.Advance(ob.pos);
    if (ZSTD_isError(rc)) {
      switch (ZSTD_getErrorCode(rc)) {
        case ZSTD_error_frameParameter_windowTooLarge:
          return Status::ResourceExhausted(
              "zstd body needs a window larger than " +
              std::to_string(size_t{1} << WindowLogFor(max_decoded_bytes)) + " bytes");
        case ZSTD_error_memory_allocation:
          return Status::ResourceExhausted("out of memory decoding a zstd body");
        default:
          return Status::InvalidArgument(std::string("invalid zstd body: ") +
                                         ZSTD_getErrorName(rc));
      }
    }
    if (out.over_limit()) return TooLarge(max_decoded_bytes);
    // rc == 0: a frame is complete and fully flushed; more input means another frame.
    if (in.pos == in.size) {
      if (rc == 0) return std::move(out).Take();
      // The decoder had output room left and still wants input: the stream is cut short.
      if (ob.pos < ob.size)
        return Status::InvalidArgument("truncated zstd body (the stream ends early)");
    }
  }
}

}  // namespace

std::string_view BodyEncodingName(BodyEncoding encoding) {
  switch (encoding) {
    case BodyEncoding::kIdentity:
      return "identity";
    case BodyEncoding::kGzip:
      return "gzip";
    case BodyEncoding::kDeflate:
      return "deflate";
    case BodyEncoding::kZstd:
      return "zstd";
  }
  return "?";
}

StatusOr<BodyEncoding> ParseBodyEncoding(std::string_view name) {
  const std::string_view n = Trim(name);
  if (n.empty() || EqualsIgnoreCase(n, "identity")) return BodyEncoding::kIdentity;
  if (EqualsIgnoreCase(n, "gzip") || EqualsIgnoreCase(n, "x-gzip")) return BodyEncoding::kGzip;
  if (EqualsIgnoreCase(n, "deflate")) return BodyEncoding::kDeflate;
  if (EqualsIgnoreCase(n, "zstd")) return BodyEncoding::kZstd;
  std::string quoted(n.substr(0, kMaxQuotedBytes));
  if (n.size() > kMaxQuotedBytes) quoted += "...";
  return Status::InvalidArgument("unsupported encoding '" + quoted +
                                 "' (want gzip, deflate or zstd)");
}

StatusOr<std::string> DecodeBody(std::string_view body, BodyEncoding encoding,
                                 size_t max_decoded_bytes) {
  if (encoding == BodyEncoding::kIdentity || body.empty()) {
    if (body.size() > max_decoded_bytes) return TooLarge(max_decoded_bytes);
    return std::string(body);
  }
  if (encoding == BodyEncoding::kZstd) return Unzstd(body, max_decoded_bytes);
  return Inflate(body, encoding, max_decoded_bytes);
}

StatusOr<std::string> DecodeBody(std::string_view body, std::string_view encoding,
                                 size_t max_decoded_bytes) {
  StatusOr<BodyEncoding> parsed = ParseBodyEncoding(encoding);
  if (!parsed.ok()) return parsed.status();
  return DecodeBody(body, *parsed, max_decoded_bytes);
}

}  // namespace pythond::ingest
