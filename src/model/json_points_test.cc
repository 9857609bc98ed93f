#include "model/json_points.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace pythond::model {
namespace {

constexpr int64_t kNow = 1'700'000'000'123'456'789;

ParseResult Parse(std::string_view body, Precision precision = Precision::kAuto) {
  return ParseJsonPoints(body, ParseOptions{precision, kNow});
}

Point ParseOne(std::string_view body, Precision precision = Precision::kAuto) {
  ParseResult r = Parse(body, precision);
  EXPECT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, true);
  EXPECT_EQ(r.points.size(), 1u);
  return r.points.empty() ? Point{} : r.points[0];
}

// The reason for the one error a body should produce, "" if there is none.
std::string OnlyError(std::string_view body) {
  ParseResult r = Parse(body);
  EXPECT_EQ(r.errors.size(), 1u) << FormatParseErrors(r.errors, true);
  return r.errors.empty() ? "" : FormatParseErrors(r.errors, true);
}

TEST(JsonPointsTest, AnArrayLongerThanMaxPointsIsRefusedWhole) {
  ParseOptions o;
  o.max_points = 1;
  ParseResult r = ParseJsonPoints(
      R"([{"measurement":"a","fields":{"v":1}},{"measurement":"b","fields":{"v":2}}])", o);
  EXPECT_TRUE(r.too_many_points);
  EXPECT_TRUE(r.points.empty());
}

TEST(JsonPointsTest, SeedExample) {
  ParseResult r = Parse(
      R"([{"measurement":"abc","tags":{"t1":"b","t2":"d"},"fields":{"f1":123,"f2":3.4,"f3":"strval"}}])");
  ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, true);
  ASSERT_EQ(r.points.size(), 1u);
  const Point& p = r.points[0];
  EXPECT_EQ(p.measurement, "abc");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"t1", "b"}, {"t2", "d"}}));
  ASSERT_EQ(p.fields.size(), 3u);
  EXPECT_EQ(p.fields[0], (Field{"f1", int64_t{123}}));
  EXPECT_EQ(p.fields[1], (Field{"f2", 3.4}));
  EXPECT_EQ(p.fields[2], (Field{"f3", std::string("strval")}));
  EXPECT_EQ(p.time_ns, kNow);
}

TEST(JsonPointsTest, KeepsJsonNumberTypes) {
  Point p = ParseOne(R"({"measurement":"m","fields":{
      "neg":-5, "big":18446744073709551615, "above_int64":9223372036854775808,
      "min":-9223372036854775808, "one_point_o":1.0, "exp":1e2, "t":true, "f":false,
      "s":"x\ny\"z"}})");
  ASSERT_EQ(p.fields.size(), 9u);
  EXPECT_EQ(p.fields[0].value, FieldValue(int64_t{-5}));
  EXPECT_EQ(p.fields[1].value, FieldValue(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(p.fields[2].value, FieldValue(uint64_t{9223372036854775808u}));
  EXPECT_EQ(p.fields[3].value, FieldValue(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(p.fields[4].value, FieldValue(1.0));
  EXPECT_EQ(p.fields[5].value, FieldValue(100.0));
  EXPECT_EQ(p.fields[6].value, FieldValue(true));
  EXPECT_EQ(p.fields[7].value, FieldValue(false));
  EXPECT_EQ(p.fields[8].value, FieldValue(std::string("x\ny\"z")));
}

TEST(JsonPointsTest, KeepsKeyOrder) {
  Point p =
      ParseOne(R"([{"fields":{"z":1,"a":2,"m":3},"tags":{"b":"1","a":"2"},"measurement":"m"}])");
  EXPECT_EQ(p.fields[0].key, "z");
  EXPECT_EQ(p.fields[1].key, "a");
  EXPECT_EQ(p.fields[2].key, "m");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"b", "1"}, {"a", "2"}}));
}

TEST(JsonPointsTest, NullsAreDropped) {
  Point p = ParseOne(R"([{"measurement":"m","tags":{"a":null,"b":"x"},"fields":{"n":null,"v":1},
                         "time":null}])");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"b", "x"}}));
  EXPECT_EQ(p.fields, (std::vector<Field>{{"v", int64_t{1}}}));
  EXPECT_EQ(p.time_ns, kNow);
  p = ParseOne(R"({"measurement":"m","tags":null,"fields":{"v":1}})");
  EXPECT_TRUE(p.tags.empty());
}

TEST(JsonPointsTest, TagValuesBecomeText) {
  Point p = ParseOne(
      R"({"measurement":"m","tags":{"i":-3,"u":18446744073709551615,"d":2.0,"b":true,"e":""},
          "fields":{"v":1}})");
  EXPECT_EQ(
      p.tags,
      (std::vector<Tag>{
          {"i", "-3"}, {"u", "18446744073709551615"}, {"d", "2.0"}, {"b", "true"}, {"e", ""}}));
}

TEST(JsonPointsTest, Time) {
  EXPECT_EQ(ParseOne(R"({"measurement":"m","fields":{"v":1},"time":1700000000})").time_ns,
            1'700'000'000'000'000'000);
  EXPECT_EQ(ParseOne(R"({"measurement":"m","fields":{"v":1},"time":1700000000123})").time_ns,
            1'700'000'000'123'000'000);
  EXPECT_EQ(ParseOne(R"({"measurement":"m","fields":{"v":1},"time":1700000000123456789})").time_ns,
            1'700'000'000'123'456'789);
  EXPECT_EQ(
      ParseOne(R"({"measurement":"m","fields":{"v":1},"time":5})", Precision::kNanosecond).time_ns,
      5);
  EXPECT_EQ(
      ParseOne(R"({"measurement":"m","fields":{"v":1},"time":2})", Precision::kMinute).time_ns,
      120'000'000'000);

  EXPECT_EQ(OnlyError(R"({"measurement":"m","fields":{"v":1},"time":1.5})"),
            "point 1: time must be an integer, not a float");
  EXPECT_EQ(OnlyError(R"({"measurement":"m","fields":{"v":1},"time":"1700000000"})"),
            "point 1: time must be an integer, not a string");
  EXPECT_EQ(OnlyError(R"({"measurement":"m","fields":{"v":1},"time":18446744073709551615})"),
            "point 1: time out of range");
  ParseResult r = ParseJsonPoints(R"({"measurement":"m","fields":{"v":1},"time":10000000000000})",
                                  {Precision::kHour, kNow});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, "time out of range");
}

TEST(JsonPointsTest, KeysMatchCaseInsensitivelyAsInGo) {
  Point p = ParseOne(R"({"Measurement":"m","Tags":{"a":"b"},"FIELDS":{"v":1},"Time":1})");
  EXPECT_EQ(p.measurement, "m");
  EXPECT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.time_ns, 1'000'000'000);
}

TEST(JsonPointsTest, DuplicateKeysKeepTheLastValue) {
  Point p = ParseOne(R"({"measurement":"m","tags":{"a":"1","b":"2","a":"3"},
                         "fields":{"x":1,"y":2,"x":"three"}})");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"a", "3"}, {"b", "2"}}));
  EXPECT_EQ(p.fields, (std::vector<Field>{{"x", std::string("three")}, {"y", int64_t{2}}}));
}

TEST(JsonPointsTest, PointErrorsNameThePoint) {
  struct Case {
    const char* point;
    const char* reason;
  };
  const Case cases[] = {
      {"1", "a point must be a JSON object, not an integer"},
      {"[]", "a point must be a JSON object, not an array"},
      {R"({"fields":{"v":1}})", "missing measurement"},
      {R"({"measurement":null,"fields":{"v":1}})", "missing measurement"},
      {R"({"measurement":"","fields":{"v":1}})", "empty measurement"},
      {R"({"measurement":7,"fields":{"v":1}})", "measurement must be a string, not an integer"},
      {R"({"measurement":"m"})", "missing fields"},
      {R"({"measurement":"m","fields":{}})", "empty fields"},
      {R"({"measurement":"m","fields":{"a":null}})", "no fields left after dropping nulls"},
      {R"({"measurement":"m","fields":[1]})", "fields must be an object, not an array"},
      {R"({"measurement":"m","fields":{"v":1},"tags":["a"]})",
       "tags must be an object, not an array"},
      {R"({"measurement":"m","fields":{"v":1},"tags":{"t":{"x":1}}})",
       "tag 't' must be a string, not an object"},
      {R"({"measurement":"m","fields":{"v":{"nested":1}}})",
       "field 'v' must be a number, string, bool or array, not an object"},
      {R"({"measurement":"m","fields":{"v":[1,"2"]}})",
       "field 'v': array elements must all have one type (an integer and a string)"},
      {R"({"measurement":"m","fields":{"v":[[1]]}})",
       "field 'v': array elements must be numbers, strings or bools, not an array"},
      {R"({"measurement":"m","fields":{"":1}})", "empty field key"},
      {R"({"measurement":"m","fields":{"v":1},"tags":{"":"x"}})", "empty tag key"},
  };
  for (const Case& c : cases) {
    std::string body =
        std::string("[{\"measurement\":\"ok\",\"fields\":{\"v\":1}},") + c.point + "]";
    ParseResult r = Parse(body);
    ASSERT_EQ(r.errors.size(), 1u) << body;
    EXPECT_EQ(r.errors[0].line, 2) << body;
    EXPECT_EQ(r.errors[0].column, 0) << body;
    EXPECT_EQ(r.errors[0].reason, c.reason) << body;
    EXPECT_EQ(r.points.size(), 1u) << body;
  }
}

TEST(JsonPointsTest, NestedObjectErrorNamesPointAndKey) {
  ParseResult r = Parse(R"([{"measurement":"a","fields":{"v":1}},
                            {"measurement":"b","fields":{"v":2}},
                            {"measurement":"c","fields":{"ok":1,"cpu":{"user":1}}},
                            {"measurement":"d","fields":{}}])");
  EXPECT_EQ(r.points.size(), 2u);
  EXPECT_EQ(FormatParseErrors(r.errors, true),
            "point 3: field 'cpu' must be a number, string, bool or array, not an object; "
            "point 4: empty fields");
}

TEST(JsonPointsTest, ArraysOfOneType) {
  Point p = ParseOne(R"({"measurement":"m","fields":{
      "i":[1,-2,3], "u":[1,18446744073709551615], "f":[1.5,2.5], "num":[1,2.5,3],
      "bignum":[18446744073709551615,-1,0.5], "s":["a","b\"c"], "b":[true,false], "e":[],
      "f5":[1,2,3,4], "f6":["str1","str2","str3"]}})");
  ASSERT_EQ(p.fields.size(), 10u);
  EXPECT_EQ(p.fields[0].value, FieldValue(Array{{int64_t{1}, int64_t{-2}, int64_t{3}}}));
  EXPECT_EQ(p.fields[1].value,
            FieldValue(Array{{uint64_t{1}, std::numeric_limits<uint64_t>::max()}}));
  EXPECT_EQ(p.fields[2].value, FieldValue(Array{{1.5, 2.5}}));
  EXPECT_EQ(p.fields[3].value, FieldValue(Array{{1.0, 2.5, 3.0}}));
  EXPECT_EQ(p.fields[4].value, FieldValue(Array{{1.8446744073709552e19, -1.0, 0.5}}));
  EXPECT_EQ(p.fields[5].value, FieldValue(Array{{std::string("a"), std::string("b\"c")}}));
  EXPECT_EQ(p.fields[6].value, FieldValue(Array{{true, false}}));
  EXPECT_EQ(p.fields[7].value, FieldValue(Array{}));
  EXPECT_EQ(p.fields[8].value, FieldValue(Array{{int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}}}));
  EXPECT_EQ(p.fields[9].value,
            FieldValue(Array{{std::string("str1"), std::string("str2"), std::string("str3")}}));
}

TEST(JsonPointsTest, ArrayErrorsNameThePointAndField) {
  struct Case {
    const char* fields;
    const char* reason;
  };
  const Case cases[] = {
      {R"({"a":[1,true]})",
       "field 'a': array elements must all have one type (an integer and a bool)"},
      {R"({"a":["x",1.5]})",
       "field 'a': array elements must all have one type (a string and a float)"},
      {R"({"a":[true,"x"]})",
       "field 'a': array elements must all have one type (a bool and a string)"},
      {R"({"a":[1,null]})",
       "field 'a': array elements must be numbers, strings or bools, not null"},
      {R"({"a":[{"x":1}]})",
       "field 'a': array elements must be numbers, strings or bools, not an object"},
      {R"({"a":[-1,18446744073709551615]})",
       "field 'a': array integers must all fit int64 or all fit uint64 (a negative one and one "
       "above "
       "9223372036854775807)"},
  };
  for (const Case& c : cases) {
    std::string body =
        std::string(R"([{"measurement":"ok","fields":{"v":1}},{"measurement":"m","fields":)") +
        c.fields + "}]";
    ParseResult r = Parse(body);
    ASSERT_EQ(r.errors.size(), 1u) << body;
    EXPECT_EQ(FormatParseErrors(r.errors, true), std::string("point 2: ") + c.reason) << body;
  }
}

TEST(JsonPointsTest, BodyErrors) {
  EXPECT_EQ(OnlyError("[{\"measurement\":\"m\",\"fields\":{\"v\":1}"),
            "invalid JSON: The JSON document has an improper structure: missing or superfluous "
            "commas, braces, missing keys, etc.");
  EXPECT_EQ(OnlyError(""), "invalid JSON: Empty: no JSON found");
  EXPECT_EQ(OnlyError("cpu,host=a usage=1"),
            "invalid JSON: The JSON document has an improper structure: missing or superfluous "
            "commas, braces, missing keys, etc.");
  EXPECT_EQ(OnlyError(R"([{"measurement":"m","fields":{"v":1e999}}])"),
            "invalid JSON: Problem while parsing a number");
  EXPECT_EQ(OnlyError(R"("text")"),
            "the body must be a JSON array of points or one point object, not a string");
  ParseResult r = Parse("42");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_TRUE(r.points.empty());
}

TEST(JsonPointsTest, EmptyArrayIsNoPoints) {
  ParseResult r = Parse(" [ ] ");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.points.empty());
}

TEST(JsonPointsTest, ManyPoints) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) {
    if (i) body += ',';
    body += R"({"measurement":"m","tags":{"i":")" + std::to_string(i) + R"("},"fields":{"v":)" +
            std::to_string(i) + R"(},"time":)" + std::to_string(1'700'000'000 + i) + "}";
  }
  body += "]";
  ParseResult r = Parse(body);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.points.size(), 1000u);
  EXPECT_EQ(r.points[999].tags[0].value, "999");
  EXPECT_EQ(r.points[999].fields[0].value, FieldValue(int64_t{999}));
  EXPECT_EQ(r.points[999].time_ns, 1'700'000'999'000'000'000);
}

}  // namespace
}  // namespace pythond::model
