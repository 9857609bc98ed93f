// libFuzzer target: the store's chunk and WAL record decoders (store/chunk_codec.h,
// store/wal_record.h), which read database files that users may hand to the loadable
// extension. The first byte picks the decoder (even: chunk, odd: WAL record); the rest is the
// blob. Besides the sanitizers: a decoder never yields more samples than it announced, and
// whatever decodes completely re-encodes (ChunkBuilder, a new chunk where one refuses a sample)
// and decodes back to the same samples, floats compared bit for bit.
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "store/chunk_codec.h"
#include "store/wal_record.h"

namespace {

using pythond::model::Field;
using pythond::store::ChunkBuilder;
using pythond::store::ChunkReader;
using pythond::store::WalRecordReader;

struct Sample {
  int64_t time;
  std::vector<Field> fields;
};

bool SameValue(const pythond::model::FieldValue& a, const pythond::model::FieldValue& b) {
  const auto *x = std::get_if<double>(&a), *y = std::get_if<double>(&b);
  if (x && y) return std::bit_cast<uint64_t>(*x) == std::bit_cast<uint64_t>(*y);
  if (auto* xa = std::get_if<pythond::model::Array>(&a)) {
    auto* ya = std::get_if<pythond::model::Array>(&b);
    if (!ya || xa->values.size() != ya->values.size()) return false;
    for (size_t i = 0; i < xa->values.size(); ++i) {
      const auto *xd = std::get_if<double>(&xa->values[i]),
                 *yd = std::get_if<double>(&ya->values[i]);
      if (xd && yd) {
        if (std::bit_cast<uint64_t>(*xd) != std::bit_cast<uint64_t>(*yd)) return false;
      } else if (!(xa->values[i] == ya->values[i])) {
        return false;
      }
    }
    return true;
  }
  return a == b;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "store codecs: %s\n", what);
  std::abort();
}

void CheckReencodes(const std::vector<Sample>& samples) {
  std::vector<std::string> chunks;
  ChunkBuilder builder;
  for (const Sample& s : samples) {
    if (!builder.Append(s.time, s.fields)) {
      chunks.push_back(builder.Finish());
      builder = ChunkBuilder();
      if (!builder.Append(s.time, s.fields)) Fail("a new chunk refused a sample");
    }
  }
  if (!builder.empty()) chunks.push_back(builder.Finish());
  size_t i = 0;
  Sample got;
  for (const std::string& chunk : chunks) {
    ChunkReader r;
    if (!r.Open(chunk).ok()) Fail("a chunk we wrote does not open");
    while (r.Next(&got.time, &got.fields)) {
      if (i >= samples.size()) Fail("more samples back than written");
      const Sample& want = samples[i++];
      if (got.time != want.time || got.fields.size() != want.fields.size()) Fail("sample differs");
      for (size_t f = 0; f < got.fields.size(); ++f) {
        if (got.fields[f].key != want.fields[f].key ||
            !SameValue(got.fields[f].value, want.fields[f].value)) {
          Fail("field differs");
        }
      }
    }
    if (!r.status().ok()) Fail("a chunk we wrote does not decode");
  }
  if (i != samples.size()) Fail("fewer samples back than written");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view blob(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<Sample> samples;
  Sample s;
  if (data[0] % 2 == 0) {
    ChunkReader r;
    if (!r.Open(blob).ok()) return 0;
    size_t announced = r.samples();
    while (r.Next(&s.time, &s.fields)) {
      samples.push_back(s);
      if (samples.size() > announced) Fail("chunk yields more samples than announced");
    }
    if (!r.status().ok()) return 0;
  } else {
    WalRecordReader r;
    if (!r.Open(blob).ok()) return 0;
    size_t announced = r.samples();
    int64_t series;
    while (r.Next(&series, &s.time, &s.fields)) {
      samples.push_back(s);
      if (samples.size() > announced) Fail("record yields more samples than announced");
    }
    if (!r.status().ok()) return 0;
  }
  CheckReencodes(samples);
  return 0;
}
