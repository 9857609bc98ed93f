#include "store/chunk_codec.h"

#include <zstd.h>

#include <bit>
#include <cmath>
#include <cstring>

namespace pythond::store {

namespace {

constexpr uint8_t kChunkMagic = 0xC1;  // chunk format, version 1
constexpr uint8_t kFlagZstd = 0x01;
constexpr uint8_t kPresenceAll = 0;
constexpr uint8_t kPresenceBitmap = 1;
constexpr size_t kMaxDictionary = 1 << 16;  // entries remembered for reuse per column
constexpr size_t kZstdMinHeap = 256;        // string bytes before zstd is tried
constexpr uint64_t kMaxSamples = 1 << 20;   // a reader's sanity bounds
constexpr uint64_t kMaxColumns = 1 << 12;
constexpr uint64_t kMaxBody = 64ull << 20;

constexpr double kPow10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

int BitWidth(uint64_t v) { return v == 0 ? 0 : 64 - std::countl_zero(v); }
// Bits needed for an index into a dictionary of `size` entries.
int IndexWidth(size_t size) { return size <= 1 ? 0 : BitWidth(size - 1); }

// A zig-zagged value: '0' for zero, else '1', 6 bits of (width - 1), then width bits.
void WriteZz(BitWriter& w, uint64_t zz) {
  if (zz == 0) {
    w.WriteBit(false);
    return;
  }
  int width = BitWidth(zz);
  w.Write(1, 1);
  w.Write(width - 1, 6);
  w.Write(zz, width);
}

uint64_t ReadZz(BitReader& r) {
  if (!r.ReadBit()) return 0;
  int width = static_cast<int>(r.Read(6)) + 1;
  return r.Read(width);
}

// Delta-of-delta buckets for timestamps (zig-zagged): 0 | 10+16 | 110+32 | 1110+48 | 1111+64.
void WriteDod(BitWriter& w, uint64_t zz) {
  if (zz == 0) {
    w.WriteBit(false);
  } else if (zz < (1ull << 16)) {
    w.Write(0b10, 2);
    w.Write(zz, 16);
  } else if (zz < (1ull << 32)) {
    w.Write(0b110, 3);
    w.Write(zz, 32);
  } else if (zz < (1ull << 48)) {
    w.Write(0b1110, 4);
    w.Write(zz, 48);
  } else {
    w.Write(0b1111, 4);
    w.Write(zz, 64);
  }
}

uint64_t ReadDod(BitReader& r) {
  if (!r.ReadBit()) return 0;
  if (!r.ReadBit()) return r.Read(16);
  if (!r.ReadBit()) return r.Read(32);
  if (!r.ReadBit()) return r.Read(48);
  return r.Read(64);
}

// v == m / 10^k exactly (k in 0..15, |m| < 2^53), trying `hint` first so a column keeps one k.
bool AsDecimal(double v, int hint, int* k, int64_t* m) {
  uint64_t bits = std::bit_cast<uint64_t>(v);
  auto attempt = [&](int kk) {
    double x = v * kPow10[kk];
    if (!(std::fabs(x) < 9007199254740992.0)) return false;  // also NaN
    if (std::trunc(x) != x) return false;
    auto mm = static_cast<int64_t>(x);
    double back = kk == 0 ? static_cast<double>(mm) : static_cast<double>(mm) / kPow10[kk];
    if (std::bit_cast<uint64_t>(back) != bits) return false;
    *k = kk;
    *m = mm;
    return true;
  };
  if (hint >= 0 && attempt(hint)) return true;
  for (int kk = 0; kk < 16; ++kk) {
    if (kk != hint && attempt(kk)) return true;
  }
  return false;
}

double FromDecimal(int k, int64_t m) {
  return k == 0 ? static_cast<double>(m) : static_cast<double>(m) / kPow10[k];
}

std::string_view ValueBytes(const model::FieldValue& v, std::string& scratch) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* b = std::get_if<model::Bytes>(&v)) return b->data;
  scratch.clear();
  EncodeArray(std::get<model::Array>(v), scratch);
  return scratch;
}

bool GetBytes(std::string_view& in, size_t n, std::string_view* out) {
  if (in.size() < n) return false;
  *out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

bool GetLengthPrefixed(std::string_view& in, std::string_view* out) {
  uint64_t len;
  return GetVarint(in, &len) && len <= in.size() && GetBytes(in, len, out);
}

}  // namespace

ColumnType TypeOf(const model::FieldValue& v) {
  return static_cast<ColumnType>(v.index() + 1);  // the variant's order is the format's
}
static_assert(std::is_same_v<std::variant_alternative_t<0, model::FieldValue>, int64_t>);
static_assert(std::is_same_v<std::variant_alternative_t<6, model::FieldValue>, model::Array>);

// ---- bits and varints ----

uint64_t BitReader::Read(int bits) {
  uint64_t out = 0;
  while (bits > 0) {
    size_t byte = pos_ >> 3;
    if (byte >= data_.size()) {
      overrun_ = true;
      return 0;
    }
    int used = static_cast<int>(pos_ & 7);
    int avail = 8 - used;
    int take = std::min(bits, avail);
    uint64_t part = (static_cast<uint8_t>(data_[byte]) >> (avail - take)) & ((1u << take) - 1);
    out = (take == 64 ? 0 : out << take) | part;
    pos_ += take;
    bits -= take;
  }
  return out;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view& in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; i < 10 && i < static_cast<int>(in.size()); ++i, shift += 7) {
    auto byte = static_cast<uint8_t>(in[i]);
    if (i == 9 && byte > 1) return false;  // more than 64 bits
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      in.remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

// ---- arrays: u8 count-prefixed elements, each with its own type byte ----

void EncodeArray(const model::Array& array, std::string& out) {
  PutVarint(out, array.values.size());
  for (const model::ArrayElement& e : array.values) {
    out.push_back(static_cast<char>(e.index() + 1));
    if (auto* i = std::get_if<int64_t>(&e)) {
      PutVarint(out, ZigZag(*i));
    } else if (auto* u = std::get_if<uint64_t>(&e)) {
      PutVarint(out, *u);
    } else if (auto* d = std::get_if<double>(&e)) {
      PutVarint(out, std::bit_cast<uint64_t>(*d));
    } else if (auto* b = std::get_if<bool>(&e)) {
      out.push_back(*b ? 1 : 0);
    } else {
      const auto& s = std::get<std::string>(e);
      PutVarint(out, s.size());
      out += s;
    }
  }
}

bool DecodeArray(std::string_view in, model::Array* array) {
  array->values.clear();
  uint64_t count;
  if (!GetVarint(in, &count) || count > in.size()) return false;
  for (uint64_t i = 0; i < count; ++i) {
    if (in.empty()) return false;
    auto type = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    uint64_t v;
    switch (type) {
      case 1:
        if (!GetVarint(in, &v)) return false;
        array->values.emplace_back(UnZigZag(v));
        break;
      case 2:
        if (!GetVarint(in, &v)) return false;
        array->values.emplace_back(v);
        break;
      case 3:
        if (!GetVarint(in, &v)) return false;
        array->values.emplace_back(std::bit_cast<double>(v));
        break;
      case 4:
        if (in.empty() || static_cast<uint8_t>(in[0]) > 1) return false;
        array->values.emplace_back(in[0] == 1);
        in.remove_prefix(1);
        break;
      case 5: {
        std::string_view s;
        if (!GetLengthPrefixed(in, &s)) return false;
        array->values.emplace_back(std::string(s));
        break;
      }
      default:
        return false;
    }
  }
  return in.empty();
}

// ---- builder ----

// Looks strings up by string_view, without a temporary std::string.
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct ChunkBuilder::Column {
  std::string key;
  ColumnType type;
  BitWriter presence;
  size_t present = 0;
  BitWriter values;
  uint64_t prev_int = 0;   // int and uint: previous value's bits
  uint64_t prev_bits = 0;  // float
  int prev_k = -1;         // float: previous value's decimal exponent, -1 when raw
  int window_lead = 0;     // float: the last XOR window (leading zeros, meaningful bits)
  int window_len = 0;      // 0: none yet
  int64_t prev_m = 0;
  std::unordered_map<std::string, uint32_t, TransparentHash, std::equal_to<>>
      dict;  // string, bytes, array
  size_t dict_size = 0;
  std::string heap;
  std::string scratch;

  void Add(const model::FieldValue& v) {
    ++present;
    switch (type) {
      case ColumnType::kInt:
      case ColumnType::kUint: {
        uint64_t bits = type == ColumnType::kInt ? static_cast<uint64_t>(std::get<int64_t>(v))
                                                 : std::get<uint64_t>(v);
        WriteZz(values, ZigZag(static_cast<int64_t>(bits - prev_int)));
        prev_int = bits;
        break;
      }
      case ColumnType::kFloat: {
        double d = std::get<double>(v);
        int k;
        int64_t m;
        if (AsDecimal(d, prev_k, &k, &m)) {
          if (k == prev_k) {
            values.WriteBit(false);
            WriteZz(values, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(m) -
                                                        static_cast<uint64_t>(prev_m))));
          } else {
            values.Write(0b10, 2);
            values.Write(k, 4);
            WriteZz(values, ZigZag(m));
          }
          prev_k = k;
          prev_m = m;
        } else {
          values.Write(0b11, 2);
          uint64_t x = std::bit_cast<uint64_t>(d) ^ prev_bits;
          if (x == 0) {
            values.WriteBit(false);
          } else {
            int lead = std::countl_zero(x), trail = std::countr_zero(x);
            if (window_len > 0 && lead >= window_lead && trail >= 64 - window_lead - window_len) {
              // Inside the previous window (Gorilla's reuse): no header.
              values.Write(0b10, 2);
              values.Write(x >> (64 - window_lead - window_len), window_len);
            } else {
              int len = 64 - lead - trail;
              values.Write(0b11, 2);
              values.Write(lead, 6);
              values.Write(len - 1, 6);
              values.Write(x >> trail, len);
              window_lead = lead;
              window_len = len;
            }
          }
          prev_k = -1;
        }
        prev_bits = std::bit_cast<uint64_t>(d);
        break;
      }
      case ColumnType::kBool:
        values.WriteBit(std::get<bool>(v));
        break;
      default: {
        std::string_view bytes = ValueBytes(v, scratch);
        if (auto it = dict.find(bytes); it != dict.end()) {
          values.WriteBit(false);
          values.Write(it->second, IndexWidth(dict_size));
        } else {
          values.WriteBit(true);
          PutVarint(heap, bytes.size());
          heap.append(bytes);
          if (dict.size() < kMaxDictionary) dict.emplace(bytes, static_cast<uint32_t>(dict_size));
          ++dict_size;
        }
      }
    }
  }
};

ChunkBuilder::ChunkBuilder(ChunkLimits limits) : limits_(limits) {}
ChunkBuilder::~ChunkBuilder() = default;
ChunkBuilder::ChunkBuilder(ChunkBuilder&&) noexcept = default;
ChunkBuilder& ChunkBuilder::operator=(ChunkBuilder&&) noexcept = default;

size_t ChunkBuilder::encoded_bytes() const { return encoded_bytes_; }

size_t ChunkBuilder::memory_bytes() const {
  size_t n = sizeof(*this) + times_.capacity();
  for (const auto& c : columns_) {
    n += sizeof(Column) + c->key.capacity() + c->presence.capacity() + c->values.capacity() +
         c->heap.capacity() + c->dict.size() * 48;
  }
  return n;
}

bool ChunkBuilder::Append(int64_t time_ns, const std::vector<model::Field>& fields) {
  if (n_ > 0 && (n_ >= limits_.max_samples || encoded_bytes_ >= limits_.max_bytes)) return false;
  // Map each field to its column (new keys to new columns at the end); the indices must rise.
  slot_.assign(fields.size(), -1);
  int next_new = static_cast<int>(columns_.size());
  int last = -1;
  for (size_t f = 0; f < fields.size(); ++f) {
    int index = -1;
    // Points of a series mostly repeat their field order: try the next column first.
    const size_t guess = static_cast<size_t>(last + 1);
    if (guess < columns_.size() && columns_[guess]->key == fields[f].key) {
      index = static_cast<int>(guess);
    } else {
      for (size_t c = 0; c < columns_.size(); ++c) {
        if (columns_[c]->key == fields[f].key) {
          index = static_cast<int>(c);
          break;
        }
      }
    }
    if (index >= 0 && columns_[index]->type != TypeOf(fields[f].value)) return false;
    if (index < 0) index = next_new++;
    if (index <= last) return false;
    last = index;
    slot_[f] = index;
  }
  // Commit.
  for (size_t f = 0; f < fields.size(); ++f) {
    if (slot_[f] >= static_cast<int>(columns_.size())) {
      auto c = std::make_unique<Column>();
      c->key = fields[f].key;
      c->type = TypeOf(fields[f].value);
      for (size_t i = 0; i < n_; ++i) c->presence.WriteBit(false);
      columns_.push_back(std::move(c));
    }
  }
  if (n_ == 0) {
    times_.Write(static_cast<uint64_t>(time_ns), 64);
    min_time_ = max_time_ = time_ns;
    prev_delta_ = 0;
  } else {
    int64_t delta =
        static_cast<int64_t>(static_cast<uint64_t>(time_ns) - static_cast<uint64_t>(prev_time_));
    WriteDod(times_, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(delta) -
                                                 static_cast<uint64_t>(prev_delta_))));
    prev_delta_ = delta;
    min_time_ = std::min(min_time_, time_ns);
    max_time_ = std::max(max_time_, time_ns);
  }
  prev_time_ = time_ns;
  // The size is summed here, while each column is in the cache: an open chunk's columns are
  // cold when its next point comes (thousands of series apart).
  size_t bytes = 8 + times_.byte_size();
  size_t f = 0;
  for (size_t c = 0; c < columns_.size(); ++c) {
    Column& column = *columns_[c];
    if (f < fields.size() && slot_[f] == static_cast<int>(c)) {
      column.presence.WriteBit(true);
      column.Add(fields[f].value);
      ++f;
    } else {
      column.presence.WriteBit(false);
    }
    bytes += column.key.size() + 8 + column.presence.byte_size() + column.values.byte_size() +
             column.heap.size();
  }
  encoded_bytes_ = bytes;
  ++n_;
  return true;
}

std::string ChunkBuilder::Finish() const {
  std::string body;
  body.reserve(encoded_bytes());
  PutVarint(body, columns_.size());
  for (const auto& c : columns_) {
    PutVarint(body, c->key.size());
    body += c->key;
    body.push_back(static_cast<char>(c->type));
  }
  PutVarint(body, times_.byte_size());
  times_.AppendTo(body);
  size_t heap = 0;
  for (const auto& c : columns_) {
    if (c->present == n_) {
      body.push_back(static_cast<char>(kPresenceAll));
    } else {
      body.push_back(static_cast<char>(kPresenceBitmap));
      c->presence.AppendTo(body);  // ceil(n/8) bytes
    }
    PutVarint(body, c->values.byte_size());
    c->values.AppendTo(body);
    if (c->type >= ColumnType::kString) {
      PutVarint(body, c->heap.size());
      body += c->heap;
      heap += c->heap.size();
    }
  }
  std::string out;
  out.push_back(static_cast<char>(kChunkMagic));
  // A body the reader would refuse to inflate (over kMaxBody) stays uncompressed.
  if (heap >= kZstdMinHeap && body.size() <= kMaxBody) {
    // A context per thread, reused: a fresh one per chunk allocates and clears its tables,
    // which cost more than compressing a few KiB.
    struct Context {
      ZSTD_CCtx* cctx = ZSTD_createCCtx();
      ~Context() { ZSTD_freeCCtx(cctx); }
    };
    thread_local Context context;
    std::string packed(ZSTD_compressBound(body.size()), '\0');
    size_t z = context.cctx
                   ? ZSTD_compressCCtx(context.cctx, packed.data(), packed.size(), body.data(),
                                       body.size(), 1)
                   : ZSTD_compress(packed.data(), packed.size(), body.data(), body.size(), 1);
    if (!ZSTD_isError(z) && z + 8 < body.size() - body.size() / 8) {
      out.push_back(static_cast<char>(kFlagZstd));
      PutVarint(out, n_);
      PutVarint(out, body.size());
      out.append(packed.data(), z);
      return out;
    }
  }
  out.push_back(0);
  PutVarint(out, n_);
  out += body;
  return out;
}

// ---- reader ----

struct ChunkReader::Column {
  std::string key;
  ColumnType type;
  std::string_view presence;  // empty: every sample has a value
  std::unique_ptr<BitReader> values;
  std::string_view heap;
  std::vector<std::string_view> dict;
  uint64_t prev_int = 0;
  uint64_t prev_bits = 0;
  int prev_k = -1;
  int window_lead = 0;
  int window_len = 0;
  int64_t prev_m = 0;

  bool Has(size_t i) const {
    return presence.empty() || ((static_cast<uint8_t>(presence[i >> 3]) >> (7 - (i & 7))) & 1);
  }
};

ChunkReader::ChunkReader() = default;
ChunkReader::~ChunkReader() = default;

Status ChunkReader::Fail(const std::string& why) {
  status_ = Status::IoError("corrupt chunk: " + why);
  n_ = i_ = 0;
  return status_;
}

bool ChunkReader::Corrupt(const std::string& why) {
  (void)Fail(why);
  return false;
}

Status ChunkReader::Open(std::string_view blob) {
  status_ = Status::Ok();
  columns_.clear();
  n_ = i_ = 0;
  prev_time_ = prev_delta_ = 0;
  if (blob.size() < 2 || static_cast<uint8_t>(blob[0]) != kChunkMagic) {
    return Fail("not a version-1 chunk");
  }
  auto flags = static_cast<uint8_t>(blob[1]);
  blob.remove_prefix(2);
  uint64_t n;
  if ((flags & ~kFlagZstd) != 0) return Fail("unknown flags");
  if (!GetVarint(blob, &n) || n == 0 || n > kMaxSamples) return Fail("bad sample count");
  if (flags & kFlagZstd) {
    uint64_t body_len;
    if (!GetVarint(blob, &body_len) || body_len > kMaxBody) return Fail("bad body length");
    // The frame must say the same size before anything is allocated for it.
    if (ZSTD_getFrameContentSize(blob.data(), blob.size()) != body_len) {
      return Fail("zstd frame size differs from the body length");
    }
    owned_.resize(body_len);
    struct Context {  // per thread, reused (a fresh one per chunk costs its allocation)
      ZSTD_DCtx* dctx = ZSTD_createDCtx();
      ~Context() { ZSTD_freeDCtx(dctx); }
    };
    thread_local Context context;
    size_t got = context.dctx
                     ? ZSTD_decompressDCtx(context.dctx, owned_.data(), owned_.size(), blob.data(),
                                           blob.size())
                     : ZSTD_decompress(owned_.data(), owned_.size(), blob.data(), blob.size());
    if (ZSTD_isError(got) || got != body_len) return Fail("zstd body does not decode");
  } else {
    owned_.assign(blob);
  }
  std::string_view in = owned_;
  uint64_t ncols;
  if (!GetVarint(in, &ncols) || ncols > kMaxColumns) return Fail("bad column count");
  for (uint64_t c = 0; c < ncols; ++c) {
    std::string_view key;
    if (!GetLengthPrefixed(in, &key) || in.empty()) return Fail("truncated column header");
    auto type = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (type < 1 || type > 7) return Fail("unknown column type " + std::to_string(type));
    auto col = std::make_unique<Column>();
    col->key = key;
    col->type = static_cast<ColumnType>(type);
    columns_.push_back(std::move(col));
  }
  std::string_view times;
  if (!GetLengthPrefixed(in, &times)) return Fail("truncated timestamps");
  times_ = std::make_unique<BitReader>(times);
  for (auto& col : columns_) {
    if (in.empty()) return Fail("truncated column");
    auto presence = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (presence == kPresenceBitmap) {
      if (!GetBytes(in, (n + 7) / 8, &col->presence)) return Fail("truncated presence bitmap");
    } else if (presence != kPresenceAll) {
      return Fail("bad presence marker");
    }
    std::string_view values;
    if (!GetLengthPrefixed(in, &values)) return Fail("truncated values of " + col->key);
    col->values = std::make_unique<BitReader>(values);
    if (col->type >= ColumnType::kString && !GetLengthPrefixed(in, &col->heap)) {
      return Fail("truncated strings of " + col->key);
    }
  }
  if (!in.empty()) return Fail("trailing bytes");
  n_ = n;
  return Status::Ok();
}

bool ChunkReader::Next(int64_t* time_ns, std::vector<model::Field>* fields) {
  if (i_ >= n_) return false;
  fields->clear();
  if (i_ == 0) {
    prev_time_ = static_cast<int64_t>(times_->Read(64));
  } else {
    int64_t dod = UnZigZag(ReadDod(*times_));
    prev_delta_ =
        static_cast<int64_t>(static_cast<uint64_t>(prev_delta_) + static_cast<uint64_t>(dod));
    prev_time_ = static_cast<int64_t>(static_cast<uint64_t>(prev_time_) +
                                      static_cast<uint64_t>(prev_delta_));
  }
  if (times_->overrun()) return Corrupt("timestamps end early");
  *time_ns = prev_time_;
  for (auto& c : columns_) {
    if (!c->Has(i_)) continue;
    BitReader& r = *c->values;
    model::FieldValue value;
    switch (c->type) {
      case ColumnType::kInt:
      case ColumnType::kUint: {
        c->prev_int += static_cast<uint64_t>(UnZigZag(ReadZz(r)));
        if (c->type == ColumnType::kInt) {
          value = static_cast<int64_t>(c->prev_int);
        } else {
          value = c->prev_int;
        }
        break;
      }
      case ColumnType::kFloat: {
        double d;
        if (!r.ReadBit()) {
          if (c->prev_k < 0) return Corrupt("float reuses a missing exponent");
          c->prev_m = static_cast<int64_t>(static_cast<uint64_t>(c->prev_m) +
                                           static_cast<uint64_t>(UnZigZag(ReadZz(r))));
          d = FromDecimal(c->prev_k, c->prev_m);
        } else if (!r.ReadBit()) {
          c->prev_k = static_cast<int>(r.Read(4));
          c->prev_m = UnZigZag(ReadZz(r));
          d = FromDecimal(c->prev_k, c->prev_m);
        } else {
          uint64_t x = 0;
          if (r.ReadBit()) {
            if (r.ReadBit()) {
              c->window_lead = static_cast<int>(r.Read(6));
              c->window_len = static_cast<int>(r.Read(6)) + 1;
              if (c->window_lead + c->window_len > 64) {
                return Corrupt("bad float width in " + c->key);
              }
            } else if (c->window_len == 0) {
              return Corrupt("float reuses a missing window in " + c->key);
            }
            x = r.Read(c->window_len) << (64 - c->window_lead - c->window_len);
          }
          d = std::bit_cast<double>(c->prev_bits ^ x);
          c->prev_k = -1;
        }
        c->prev_bits = std::bit_cast<uint64_t>(d);
        value = d;
        break;
      }
      case ColumnType::kBool:
        value = r.ReadBit();
        break;
      default: {
        std::string_view bytes;
        if (!r.ReadBit()) {
          uint64_t index = r.Read(IndexWidth(c->dict.size()));
          if (index >= c->dict.size()) return Corrupt("bad dictionary index in " + c->key);
          bytes = c->dict[index];
        } else {
          if (!GetLengthPrefixed(c->heap, &bytes)) {
            return Corrupt("strings of " + c->key + " end early");
          }
          c->dict.push_back(bytes);
        }
        if (c->type == ColumnType::kString) {
          value = std::string(bytes);
        } else if (c->type == ColumnType::kBytes) {
          value = model::Bytes{std::string(bytes)};
        } else {
          model::Array array;
          if (!DecodeArray(bytes, &array)) return Corrupt("bad array in " + c->key);
          value = std::move(array);
        }
      }
    }
    if (r.overrun()) return Corrupt("values of " + c->key + " end early");
    fields->push_back(model::Field{c->key, std::move(value)});
  }
  ++i_;
  return true;
}

}  // namespace pythond::store
