#include "store/chunk_codec.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "store/wal_record.h"

namespace pythond::store {
namespace {

using model::Field;

struct Sample {
  int64_t time;
  std::vector<Field> fields;
};

std::vector<Sample> RoundTrip(const std::vector<Sample>& in, std::string* blob_out = nullptr) {
  ChunkBuilder b;
  for (const Sample& s : in) EXPECT_TRUE(b.Append(s.time, s.fields));
  std::string blob = b.Finish();
  if (blob_out) *blob_out = blob;
  ChunkReader r;
  EXPECT_TRUE(r.Open(blob).ok()) << r.status().message();
  std::vector<Sample> out;
  Sample s;
  while (r.Next(&s.time, &s.fields)) out.push_back(s);
  EXPECT_TRUE(r.status().ok()) << r.status().message();
  return out;
}

// Field values compare by bit pattern for floats (-0.0, NaN payloads would not be ==).
void ExpectSame(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].time, b[i].time) << "sample " << i;
    ASSERT_EQ(a[i].fields.size(), b[i].fields.size()) << "sample " << i;
    for (size_t f = 0; f < a[i].fields.size(); ++f) {
      EXPECT_EQ(a[i].fields[f].key, b[i].fields[f].key);
      const auto *x = std::get_if<double>(&a[i].fields[f].value),
                 *y = std::get_if<double>(&b[i].fields[f].value);
      if (x && y) {
        EXPECT_EQ(std::bit_cast<uint64_t>(*x), std::bit_cast<uint64_t>(*y)) << *x << " " << *y;
      } else {
        EXPECT_TRUE(a[i].fields[f].value == b[i].fields[f].value)
            << "sample " << i << " field " << a[i].fields[f].key;
      }
    }
  }
}

TEST(ChunkCodec, EveryTypeRoundTrips) {
  model::Array ints{{int64_t{1}, int64_t{-2}}}, strs{{std::string("a"), std::string("")}};
  model::Array mixed{{uint64_t{7}, 1.5, true, std::string("x\0y", 3)}}, empty{};
  std::vector<Sample> in;
  for (int i = 0; i < 50; ++i) {
    in.push_back({1'700'000'000'000'000'000 + i * 10'000'000'000LL,
                  {{"i", int64_t{i * 3 - 70}},
                   {"u", uint64_t{std::numeric_limits<uint64_t>::max() - i}},
                   {"f", i * 0.25},
                   {"b", i % 3 == 0},
                   {"s", std::string(i % 2 ? "ok" : "fail")},
                   {"by", model::Bytes{std::string("\x00\xff", 2) + std::to_string(i)}},
                   {"a", i % 4 == 0   ? ints
                         : i % 4 == 1 ? strs
                         : i % 4 == 2 ? mixed
                                      : empty}}});
  }
  ExpectSame(in, RoundTrip(in));
}

TEST(ChunkCodec, ExtremeValuesRoundTrip) {
  const double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> floats = {0.0,
                                -0.0,
                                1e308,
                                -1e308,
                                5e-324,
                                0.1,
                                0.30000000000000004,
                                12345678901234567.0,
                                1e15,
                                1e16,
                                -37.25,
                                kInf,
                                -kInf,
                                std::numeric_limits<double>::quiet_NaN(),
                                3.0,
                                3.0,
                                2.5e-7};
  std::vector<int64_t> ints = {
      0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), -1, 1, 0};
  std::vector<int64_t> times = {std::numeric_limits<int64_t>::min(),
                                std::numeric_limits<int64_t>::max(),
                                0,
                                -1,
                                5,
                                5,
                                5,
                                1,
                                1LL << 62};
  std::vector<Sample> in;
  for (size_t i = 0; i < floats.size(); ++i) {
    in.push_back({times[i % times.size()],
                  {{"f", floats[i]},
                   {"i", ints[i % ints.size()]},
                   {"u", uint64_t{i % 2 ? 0 : std::numeric_limits<uint64_t>::max()}}}});
  }
  ExpectSame(in, RoundTrip(in));
}

TEST(ChunkCodec, FieldOrderAndMissingFieldsRoundTrip) {
  std::vector<Sample> in = {
      {1, {{"a", int64_t{1}}, {"c", int64_t{3}}}},
      {2, {{"a", int64_t{1}}, {"c", int64_t{3}}, {"b", 2.0}}},  // b is new: a new column
      {3, {{"c", int64_t{3}}}},
      {4, {{"d", true}}},
      {5, {}},
  };
  // A new key joins as a new last column; a point whose order the columns cannot keep
  // (or whose field changes type) starts a new chunk.
  ChunkBuilder b;
  for (const Sample& s : in) ASSERT_TRUE(b.Append(s.time, s.fields));
  EXPECT_FALSE(b.Append(6, {{"c", int64_t{3}}, {"a", int64_t{1}}}));  // order conflict
  EXPECT_FALSE(b.Append(6, {{"a", int64_t{1}}, {"e", int64_t{1}}, {"c", int64_t{3}}}));
  EXPECT_FALSE(b.Append(6, {{"a", 1.0}}));  // type change
  EXPECT_EQ(b.samples(), in.size());
  ExpectSame(in, RoundTrip(in));
}

TEST(ChunkCodec, FullChunkRefusesMore) {
  ChunkBuilder b(ChunkLimits{3, 1 << 20});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.Append(i, {{"v", int64_t{i}}}));
  EXPECT_FALSE(b.Append(3, {{"v", int64_t{3}}}));
  ChunkBuilder big(ChunkLimits{1000, 64});
  ASSERT_TRUE(big.Append(0, {{"s", std::string(100, 'x')}}));  // the first always fits
  EXPECT_FALSE(big.Append(1, {{"s", std::string("y")}}));
}

TEST(ChunkCodec, RegularSeriesCompressWell) {
  // 240 samples 10 s apart: an int counter, a 2-decimal gauge, a constant string and a bool.
  std::vector<Sample> in;
  std::mt19937_64 rng(1);
  int64_t counter = 1'000'000;
  for (int i = 0; i < 240; ++i) {
    counter += rng() % 1000;
    in.push_back({1'700'000'000'000'000'000 + i * 10'000'000'000LL,
                  {{"bytes", counter},
                   {"usage", std::round((rng() % 10000) * 1.0) / 100.0},
                   {"fstype", std::string("ext4")},
                   {"ro", false}}});
  }
  std::string blob;
  ExpectSame(in, RoundTrip(in, &blob));
  // time ~1 bit, counter ~2 bytes, usage ~2.3 bytes, string and bool ~2 bits.
  EXPECT_LT(blob.size(), 240u * 6) << blob.size() << " bytes";
}

TEST(ChunkCodec, LogLinesAreCompressed) {
  std::vector<Sample> in;
  for (int i = 0; i < 200; ++i) {
    in.push_back({i,
                  {{"message", "GET /api/v1/items/" + std::to_string(i * 7) +
                                   " 200 12ms user-agent=curl/7.88.1"}}});
  }
  std::string blob;
  ExpectSame(in, RoundTrip(in, &blob));
  EXPECT_EQ(blob[1], 1) << "zstd expected";
  EXPECT_LT(blob.size(), 200u * 20);
}

TEST(ChunkCodec, CorruptionIsAnErrorNeverACrash) {
  std::vector<Sample> in;
  for (int i = 0; i < 40; ++i) {
    in.push_back({i * 1000,
                  {{"f", i * 0.5},
                   {"s", std::string(i % 5, 'a' + i % 3)},
                   {"a", model::Array{{int64_t{i}}}}}});
  }
  std::string blob;
  RoundTrip(in, &blob);
  // Every truncation fails cleanly.
  for (size_t len = 0; len < blob.size(); ++len) {
    ChunkReader r;
    Status open = r.Open(std::string_view(blob).substr(0, len));
    if (!open.ok()) continue;
    int64_t t;
    std::vector<Field> f;
    size_t n = 0;
    while (r.Next(&t, &f)) ++n;
    EXPECT_FALSE(r.status().ok() && n == in.size()) << "truncated to " << len;
  }
  // Every single-bit flip either fails or decodes to something (no crash, bounded).
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = blob;
    size_t bit = rng() % (bad.size() * 8);
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    ChunkReader r;
    if (!r.Open(bad).ok()) {
      EXPECT_NE(r.status().message().find("corrupt chunk"), std::string::npos);
      continue;
    }
    int64_t t;
    std::vector<Field> f;
    size_t n = 0;
    while (r.Next(&t, &f)) ASSERT_LE(++n, in.size());
  }
  ChunkReader r;
  EXPECT_FALSE(r.Open("").ok());
  EXPECT_FALSE(r.Open(std::string("\xC1\x07\x01", 3)).ok());        // unknown flags
  EXPECT_FALSE(r.Open(std::string("\xC1\x01\x05\x10xx", 6)).ok());  // zstd that is not
}

TEST(ChunkCodec, VarintsAndBits) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 1ull << 63, ~0ull}) {
    std::string s;
    PutVarint(s, v);
    std::string_view in = s;
    uint64_t got;
    ASSERT_TRUE(GetVarint(in, &got));
    EXPECT_EQ(got, v);
    EXPECT_TRUE(in.empty());
  }
  std::string_view overlong = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
  uint64_t got;
  EXPECT_FALSE(GetVarint(overlong, &got));
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, std::numeric_limits<int64_t>::min()}) {
    EXPECT_EQ(UnZigZag(ZigZag(v)), v);
  }
  BitWriter w;
  w.Write(0b101, 3);
  w.Write(~0ull, 64);
  w.Write(0, 5);
  const std::string bits = w.bytes();
  BitReader r(bits);
  EXPECT_EQ(r.Read(3), 0b101u);
  EXPECT_EQ(r.Read(64), ~0ull);
  EXPECT_EQ(r.Read(5), 0u);
  EXPECT_FALSE(r.overrun());
  r.Read(8);
  EXPECT_TRUE(r.overrun());
}

TEST(WalRecord, RoundTripsAndDetectsCorruption) {
  WalRecordWriter w;
  std::vector<std::pair<int64_t, Sample>> in;
  for (int i = 0; i < 300; ++i) {
    Sample s{1'700'000'000'000'000'000 - i * 777,
             {{"n", int64_t{-i}},
              {"u", static_cast<uint64_t>(i)},
              {"f", i / 3.0},
              {"b", i % 2 == 1},
              {"s", std::string("v") + std::to_string(i % 7)},
              {"by", model::Bytes{"\x01"}},
              {"a", model::Array{{1.5, 2.5}}}}};
    w.Add(i % 13, s.time, s.fields);
    in.emplace_back(i % 13, s);
  }
  std::string record = w.Finish();
  EXPECT_EQ(record[1], 1) << "zstd expected";
  WalRecordReader r;
  ASSERT_TRUE(r.Open(record).ok());
  int64_t id, t;
  std::vector<Field> f;
  size_t i = 0;
  while (r.Next(&id, &t, &f)) {
    ASSERT_LT(i, in.size());
    EXPECT_EQ(id, in[i].first);
    ExpectSame({in[i].second}, {Sample{t, f}});
    ++i;
  }
  EXPECT_TRUE(r.status().ok()) << r.status().message();
  EXPECT_EQ(i, in.size());
  for (size_t len = 0; len + 1 < record.size(); len += 7) {
    WalRecordReader bad;
    if (!bad.Open(std::string_view(record).substr(0, len)).ok()) continue;
    size_t n = 0;
    while (bad.Next(&id, &t, &f)) ++n;
    EXPECT_FALSE(bad.status().ok() && n == in.size());
  }
  // Uncompressed small records too.
  w.Add(5, 42, {{"x", true}});
  std::string small = w.Finish();
  EXPECT_EQ(small[1], 0);
  ASSERT_TRUE(r.Open(small).ok());
  ASSERT_TRUE(r.Next(&id, &t, &f));
  EXPECT_EQ(id, 5);
  EXPECT_EQ(t, 42);
  EXPECT_FALSE(r.Next(&id, &t, &f));
  EXPECT_TRUE(r.status().ok());
  std::string flipped = small;
  flipped.back() = 7;  // a bool that is not 0/1
  ASSERT_TRUE(r.Open(flipped).ok());
  EXPECT_FALSE(r.Next(&id, &t, &f));
  EXPECT_FALSE(r.status().ok());
}

}  // namespace
}  // namespace pythond::store
