#include "model/point.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>

namespace pythond::model {
namespace {

std::string Encode(std::string_view data) {
  std::string out;
  AppendBase64(out, data);
  return out;
}

TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(Encode(""), "");
  EXPECT_EQ(Encode("f"), "Zg==");
  EXPECT_EQ(Encode("fo"), "Zm8=");
  EXPECT_EQ(Encode("foo"), "Zm9v");
  EXPECT_EQ(Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Encode("\xFB\xFF"), "+/8=");
  std::string out = "x";
  AppendBase64(out, "hello");
  EXPECT_EQ(out, "xaGVsbG8=");
}

TEST(Base64Test, Decodes) {
  std::string out = "stale";
  EXPECT_TRUE(DecodeBase64("", out));
  EXPECT_EQ(out, "");
  const std::pair<const char*, const char*> good[] = {
      {"Zg==", "f"},          {"Zg", "f"},          {"Zm8=", "fo"},      {"Zm8", "fo"},
      {"Zm9vYmFy", "foobar"}, {"+/8=", "\xFB\xFF"}, {"-_8", "\xFB\xFF"}, {"Zm9v\r\nYmFy", "foobar"},
      {"Zm9vYg==\n", "foob"}, {"Zh==", "f"},  // non-zero trailing bits are ignored, as in Go
  };
  for (auto [text, want] : good) {
    EXPECT_TRUE(DecodeBase64(text, out)) << text;
    EXPECT_EQ(out, want) << text;
  }
  const char* bad[] = {"Z",     "Zm9vY",  "Zg=",  "Zg===", "Z===", "Zm9v=", "=",    "Zg==Zg==",
                       "Zm 9v", "Zm9v\t", "Zm.v", "Zg=a",  "é",    "Zm9\"", "====", "Zm8=="};
  for (const char* text : bad) EXPECT_FALSE(DecodeBase64(text, out)) << text;
}

TEST(Base64Test, RandomRoundTrip) {
  std::mt19937_64 rng(3);
  for (int n = 0; n < 2000; ++n) {
    std::string data(rng() % 40, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    std::string text = Encode(data);
    EXPECT_EQ(text.size() % 4, 0u);
    std::string back;
    ASSERT_TRUE(DecodeBase64(text, back)) << text;
    EXPECT_EQ(back, data);
    // Without padding too.
    while (!text.empty() && text.back() == '=') text.pop_back();
    ASSERT_TRUE(DecodeBase64(text, back)) << text;
    EXPECT_EQ(back, data);
  }
}

TEST(PointJsonTest, FieldsToJsonWritesEveryType) {
  std::vector<Field> fields = {
      {"i", int64_t{-3}},
      {"u", std::numeric_limits<uint64_t>::max()},
      {"f", 3.0},
      {"b", true},
      {"s", std::string("a\"b\n")},
      {"d", Bytes{"hello"}},
      {"d0", Bytes{}},
      {"ai", Array{{int64_t{1}, int64_t{-2}}}},
      {"au", Array{{uint64_t{18446744073709551615u}}}},
      {"af", Array{{1.0, 0.5, 1e21}}},
      {"ab", Array{{true, false}}},
      {"as", Array{{std::string("x\"y"), std::string()}}},
      {"ae", Array{}},
  };
  EXPECT_EQ(FieldsToJson(fields),
            R"({"i":-3,"u":18446744073709551615,"f":3.0,"b":true,"s":"a\"b\n","d":"aGVsbG8=",)"
            R"("d0":"","ai":[1,-2],"au":[18446744073709551615],"af":[1.0,0.5,1e+21],)"
            R"("ab":[true,false],"as":["x\"y",""],"ae":[]})");
  EXPECT_EQ(FieldsToJson({}), "{}");
}

TEST(PointJsonTest, TagsToJson) {
  EXPECT_EQ(TagsToJson({{"host", "a\"b"}, {"k", ""}}), R"({"host":"a\"b","k":""})");
}

}  // namespace
}  // namespace pythond::model
