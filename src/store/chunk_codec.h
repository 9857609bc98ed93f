// The store's chunk format: the samples (time + typed fields) of one series, columnar and
// compressed. Byte-by-byte specification: docs/STORE.md ("Chunk format").
//
//   timestamps  delta-of-delta, bucketed bit codes (a regular interval costs 1 bit)
//   int / uint  zig-zag deltas with a 6-bit width prefix (a repeated value costs 1 bit)
//   float       a decimal (m / 10^k, k <= 15) when that is exact — VictoriaMetrics' trick, which
//               makes 37.25 cost ~2 bytes — else Gorilla XOR against the previous value
//   bool        1 bit
//   string, bytes, array  a per-chunk dictionary: a repeated value costs 1 + log2(n) bits
//   whole body  zstd when the chunk holds enough string bytes for it to pay
// Every field type of the model round-trips exactly (float bit patterns included), and so do
// the order of a point's fields and missing fields (a presence bitmap per column).
//
// Pure and thread-compatible: a ChunkBuilder or ChunkReader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "model/point.h"

namespace pythond::store {

// The type of a column; the numbers are part of the format.
enum class ColumnType : uint8_t {
  kInt = 1,
  kUint = 2,
  kFloat = 3,
  kBool = 4,
  kString = 5,
  kBytes = 6,
  kArray = 7,
};
ColumnType TypeOf(const model::FieldValue& v);

// Appends bits most significant first. Bits past the last whole byte are zero-padded on output.
class BitWriter {
 public:
  // The low `bits` bits of value, 0 <= bits <= 64.
  void Write(uint64_t value, int bits) {
    if (bits > 56) {
      Write(value >> 32, bits - 32);
      value &= 0xffffffffu;
      bits = 32;
    } else if (bits < 64) {
      value &= (uint64_t{1} << bits) - 1;
    }
    acc_ = (acc_ << bits) | value;  // acc_ holds fewer than 8 bits before this
    acc_bits_ += bits;
    while (acc_bits_ >= 8) {
      acc_bits_ -= 8;
      bytes_.push_back(static_cast<char>(acc_ >> acc_bits_));
    }
    acc_ &= (uint64_t{1} << acc_bits_) - 1;
  }
  void WriteBit(bool bit) { Write(bit ? 1 : 0, 1); }
  size_t bit_count() const { return bytes_.size() * 8 + acc_bits_; }
  size_t byte_size() const { return bytes_.size() + (acc_bits_ > 0); }
  size_t capacity() const { return bytes_.capacity(); }
  // The bytes written so far, the last one zero-padded.
  void AppendTo(std::string& out) const {
    out += bytes_;
    if (acc_bits_ > 0) out.push_back(static_cast<char>(acc_ << (8 - acc_bits_)));
  }
  std::string bytes() const {
    std::string out;
    AppendTo(out);
    return out;
  }

 private:
  std::string bytes_;  // whole bytes
  uint64_t acc_ = 0;   // the last acc_bits_ (< 8) bits written
  int acc_bits_ = 0;
};

// Reads what BitWriter wrote. Reading past the end sets overrun() and yields zero bits.
class BitReader {
 public:
  explicit BitReader(std::string_view bytes) : data_(bytes) {}
  uint64_t Read(int bits);
  bool ReadBit() { return Read(1) != 0; }
  bool overrun() const { return overrun_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;  // in bits
  bool overrun_ = false;
};

// LEB128 unsigned varints and zig-zag, shared by the chunk and WAL formats.
void PutVarint(std::string& out, uint64_t v);
bool GetVarint(std::string_view& in, uint64_t* v);  // consumes; false on truncation/overlong
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// Serialises one array value (model::Array) as bytes and back; exact for every element type.
void EncodeArray(const model::Array& array, std::string& out);
bool DecodeArray(std::string_view in, model::Array* array);

struct ChunkLimits {
  size_t max_samples = 240;
  size_t max_bytes = 16 << 10;  // encoded, before zstd: a chunk holding this much is full
};

// Encodes samples of one series into a chunk. Append() in arrival order; Finish() any time
// (the builder stays usable, so an open chunk can be written again after more appends).
class ChunkBuilder {
 public:
  explicit ChunkBuilder(ChunkLimits limits = {});
  ~ChunkBuilder();
  ChunkBuilder(ChunkBuilder&&) noexcept;
  ChunkBuilder& operator=(ChunkBuilder&&) noexcept;

  // Adds a sample, or returns false and changes nothing when it cannot join this chunk: the
  // chunk is full, a field's type differs from its column's, or the fields' order conflicts
  // with the columns' order (so the order of every point's fields round-trips). The caller
  // then finishes this chunk and starts a new one, which always accepts the sample.
  bool Append(int64_t time_ns, const std::vector<model::Field>& fields);
  size_t samples() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }
  // Bytes the encoded chunk takes before compression (roughly its size on disk); kept up to
  // date by Append().
  size_t encoded_bytes() const;
  // Memory held, for cache bounds.
  size_t memory_bytes() const;
  // The encoded chunk (docs/STORE.md). Compresses the body with zstd when that pays.
  std::string Finish() const;

 private:
  struct Column;
  ChunkLimits limits_;
  size_t n_ = 0;
  size_t encoded_bytes_ = 0;
  int64_t min_time_ = 0, max_time_ = 0;
  int64_t prev_time_ = 0;
  int64_t prev_delta_ = 0;
  BitWriter times_;
  std::vector<std::unique_ptr<Column>> columns_;
  std::vector<int> slot_;  // scratch: column index per field of the sample being appended
};

// Decodes a chunk. Open() validates the header and decompresses; Next() yields the samples in
// the order they were appended. Any inconsistency is kIoError "corrupt chunk: ..." — never a
// crash, whatever the bytes.
class ChunkReader {
 public:
  ChunkReader();
  ~ChunkReader();
  [[nodiscard]] Status Open(std::string_view blob);
  size_t samples() const { return n_; }
  // Reads the next sample into *time_ns and *fields (cleared first). Returns false after the
  // last sample; check status() then.
  bool Next(int64_t* time_ns, std::vector<model::Field>* fields);
  const Status& status() const { return status_; }

 private:
  struct Column;
  Status Fail(const std::string& why);
  bool Corrupt(const std::string& why);  // Fail() for Next()
  std::string owned_;                    // the decompressed body
  size_t n_ = 0;
  size_t i_ = 0;
  std::unique_ptr<BitReader> times_;
  int64_t prev_time_ = 0, prev_delta_ = 0;
  std::vector<std::unique_ptr<Column>> columns_;
  Status status_;
};

}  // namespace pythond::store
