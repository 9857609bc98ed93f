#include "model/pbjson_points.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace pythond::model {
namespace {

constexpr int64_t kNow = 1'700'000'000'123'456'789;

ParseResult Parse(std::string_view body, Precision precision = Precision::kAuto) {
  return ParsePbJsonPoints(body, ParseOptions{precision, kNow});
}

Point ParseOne(std::string_view body, Precision precision = Precision::kAuto) {
  ParseResult r = Parse(body, precision);
  EXPECT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, true);
  EXPECT_EQ(r.points.size(), 1u);
  return r.points.empty() ? Point{} : r.points[0];
}

// The formatted errors of a body expected to hold exactly one error.
std::string OnlyError(std::string_view body) {
  ParseResult r = Parse(body);
  EXPECT_EQ(r.errors.size(), 1u) << FormatParseErrors(r.errors, true);
  EXPECT_EQ(r.error_count, r.errors.size());
  return FormatParseErrors(r.errors, true);
}

// Wraps one field object in a point "m" at index 2 of a body, after a good point, and returns the
// error the bad point gets ("" when it parses).
std::string FieldError(std::string_view field) {
  std::string body = R"([{"name":"ok","fields":[{"key":"v","f":1}]},{"name":"m","fields":[)";
  body += field;
  body += "]}]";
  ParseResult r = Parse(body);
  if (r.errors.empty()) return "";
  EXPECT_EQ(r.errors.size(), 1u) << body;
  EXPECT_EQ(r.errors[0].line, 2) << body;
  EXPECT_EQ(r.errors[0].column, 0) << body;
  EXPECT_EQ(r.points.size(), 1u) << body;
  return r.errors[0].reason;
}

// DataKit's documented PB-JSON example (docs: apis.md, "PB-JSON Body").
constexpr std::string_view kDataKitExample = R"([
  {
    "name": "abc",
    "fields": [
      {"key": "say", "s": "hello"},
      {"key": "some-flag", "b": false},
      {"key": "binary-data", "d": "aGVsbG8gd29ybGQ="},
      {
        "key": "int-arr",
        "a": {
          "@type": "type.googleapis.com/point.Array",
          "arr": [{"i": "1"}, {"i": "2"}, {"i": "3"}]
        }
      },
      {"key": "large-int", "i": "1234567890"},
      {"key": "large-bytes", "u": "1234567890", "type": "COUNT", "unit": "kb"},
      {"key": "some-tag", "s": "v1", "is_tag": true},
      {"key": "pi", "f": 3.14}
    ],
    "time": "1709523668830398000"
  }
])";

TEST(PbJsonPointsTest, DataKitExample) {
  Point p = ParseOne(kDataKitExample);
  EXPECT_EQ(p.measurement, "abc");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"some-tag", "v1"}}));
  ASSERT_EQ(p.fields.size(), 7u);
  EXPECT_EQ(p.fields[0], (Field{"say", std::string("hello")}));
  EXPECT_EQ(p.fields[1], (Field{"some-flag", false}));
  EXPECT_EQ(p.fields[2], (Field{"binary-data", Bytes{"hello world"}}));
  EXPECT_EQ(p.fields[3], (Field{"int-arr", Array{{int64_t{1}, int64_t{2}, int64_t{3}}}}));
  EXPECT_EQ(p.fields[4], (Field{"large-int", int64_t{1234567890}}));
  EXPECT_EQ(p.fields[5], (Field{"large-bytes", uint64_t{1234567890}}));
  EXPECT_EQ(p.fields[6], (Field{"pi", 3.14}));
  EXPECT_EQ(p.time_ns, 1709523668830398000);
}

TEST(PbJsonPointsTest, PbPointsObjectAndSinglePoint) {
  ParseResult r = Parse(R"({"arr":[{"name":"a","fields":[{"key":"v","i":"1"}],"time":"5"},
                                   {"name":"b","fields":[{"key":"v","u":"2"}]}]})",
                        Precision::kNanosecond);
  ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, true);
  ASSERT_EQ(r.points.size(), 2u);
  EXPECT_EQ(r.points[0].measurement, "a");
  EXPECT_EQ(r.points[0].time_ns, 5);
  EXPECT_EQ(r.points[1].fields[0].value, FieldValue(uint64_t{2}));
  EXPECT_EQ(r.points[1].time_ns, kNow);

  Point p = ParseOne(R"({"name":"one","fields":[{"key":"v","b":true}],"time":1700000000})");
  EXPECT_EQ(p.measurement, "one");
  EXPECT_EQ(p.time_ns, 1'700'000'000'000'000'000);

  EXPECT_TRUE(Parse("[]").points.empty());
  EXPECT_TRUE(Parse("[]").errors.empty());
  EXPECT_TRUE(Parse(R"({"arr":[]})").errors.empty());
  EXPECT_TRUE(Parse(R"({"arr":null})").errors.empty());
}

TEST(PbJsonPointsTest, ScalarEncodings) {
  Point p = ParseOne(R"([{"name":"m","fields":[
      {"key":"i_str","i":"-9223372036854775808"}, {"key":"i_num","i":42},
      {"key":"u_str","u":"18446744073709551615"}, {"key":"u_num","u":18446744073709551615},
      {"key":"u_small","u":7},
      {"key":"f_int","f":3}, {"key":"f_str","f":"1.5e3"}, {"key":"f_neg","f":-0.25},
      {"key":"f_tiny","f":"1e-400"},
      {"key":"d_url","d":"-_8"}, {"key":"d_empty","d":""},
      {"key":"s_empty","s":""}, {"key":"s_utf8","s":"\u00e9\n"}]}])");
  ASSERT_EQ(p.fields.size(), 13u);
  EXPECT_EQ(p.fields[0].value, FieldValue(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(p.fields[1].value, FieldValue(int64_t{42}));
  EXPECT_EQ(p.fields[2].value, FieldValue(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(p.fields[3].value, FieldValue(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(p.fields[4].value, FieldValue(uint64_t{7}));
  EXPECT_EQ(p.fields[5].value, FieldValue(3.0));
  EXPECT_EQ(p.fields[6].value, FieldValue(1500.0));
  EXPECT_EQ(p.fields[7].value, FieldValue(-0.25));
  EXPECT_EQ(p.fields[8].value, FieldValue(0.0));
  EXPECT_EQ(p.fields[9].value, FieldValue(Bytes{"\xFB\xFF"}));
  EXPECT_EQ(p.fields[10].value, FieldValue(Bytes{}));
  EXPECT_EQ(p.fields[11].value, FieldValue(std::string()));
  EXPECT_EQ(p.fields[12].value, FieldValue(std::string("\xC3\xA9\n")));
}

TEST(PbJsonPointsTest, ArrayKinds) {
  Point p = ParseOne(R"([{"name":"m","fields":[
      {"key":"i","a":{"@type":"type.googleapis.com/point.Array","arr":[{"i":"1"},{"i":-2}]}},
      {"key":"u","a":{"arr":[{"u":"18446744073709551615"}],"@type":"type.googleapis.com/point.Array"}},
      {"key":"f","a":{"@type":"type.googleapis.com/point.Array","arr":[{"f":1.5},{"f":2}]}},
      {"key":"b","a":{"@type":"type.googleapis.com/point.Array","arr":[{"b":true},{"b":false}]}},
      {"key":"s","a":{"@type":"type.googleapis.com/point.Array","arr":[{"s":"x"},{"s":""}]}},
      {"key":"e","a":{"@type":"type.googleapis.com/point.Array","arr":[]}},
      {"key":"e2","a":{"@type":"type.googleapis.com/point.Array"}},
      {"key":"other_host","a":{"@type":"example.com/x/point.Array","arr":[{"i":"7"}]}}]}])");
  ASSERT_EQ(p.fields.size(), 8u);
  EXPECT_EQ(p.fields[0].value, FieldValue(Array{{int64_t{1}, int64_t{-2}}}));
  EXPECT_EQ(p.fields[1].value, FieldValue(Array{{std::numeric_limits<uint64_t>::max()}}));
  EXPECT_EQ(p.fields[2].value, FieldValue(Array{{1.5, 2.0}}));
  EXPECT_EQ(p.fields[3].value, FieldValue(Array{{true, false}}));
  EXPECT_EQ(p.fields[4].value, FieldValue(Array{{std::string("x"), std::string()}}));
  EXPECT_EQ(p.fields[5].value, FieldValue(Array{}));
  EXPECT_EQ(p.fields[6].value, FieldValue(Array{}));
  EXPECT_EQ(p.fields[7].value, FieldValue(Array{{int64_t{7}}}));
}

TEST(PbJsonPointsTest, TagsAndDuplicates) {
  Point p = ParseOne(R"([{"name":"m","fields":[
      {"key":"host","s":"a","is_tag":true}, {"key":"dc","d":"ZXU=","isTag":true},
      {"key":"v","f":1,"is_tag":false}, {"key":"host","s":"b","is_tag":true},
      {"key":"v","i":"2","is_tag":null}, {"key":"w","b":true}]}])");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"host", "b"}, {"dc", "eu"}}));
  EXPECT_EQ(p.fields, (std::vector<Field>{{"v", int64_t{2}}, {"w", true}}));
}

TEST(PbJsonPointsTest, FieldsWithoutValueAreDropped) {
  Point p = ParseOne(R"([{"name":"m","fields":[{"key":"none"},{"key":"nulls","i":null,"s":null},
                                               {"key":"v","s":"x","f":null}]}])");
  EXPECT_EQ(p.fields, (std::vector<Field>{{"v", std::string("x")}}));
  EXPECT_EQ(OnlyError(R"([{"name":"m","fields":[{"key":"none"}]}])"),
            "point 1: no fields left after dropping fields without a value");
}

TEST(PbJsonPointsTest, WarnsDebugsTypeAndUnitAreIgnored) {
  Point p = ParseOne(R"([{"name":"m","fields":[{"key":"v","f":1,"type":"GAUGE","unit":"%"},
                                               {"key":"c","u":"1","type":1,"unit":null}],
      "warns":[{"type":"dot_in_key","message":"invalid field key"}],"debugs":[{"info":"x"}]}])");
  EXPECT_EQ(p.fields.size(), 2u);
}

TEST(PbJsonPointsTest, Time) {
  EXPECT_EQ(
      ParseOne(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":"1700000000123"}])").time_ns,
      1'700'000'000'123'000'000);
  EXPECT_EQ(
      ParseOne(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":"-5"}])", Precision::kSecond)
          .time_ns,
      -5'000'000'000);
  EXPECT_EQ(ParseOne(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":"0"}])").time_ns, kNow);
  EXPECT_EQ(ParseOne(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":null}])").time_ns, kNow);
  EXPECT_EQ(ParseOne(R"([{"name":"m","fields":[{"key":"v","f":1}]}])").time_ns, kNow);

  EXPECT_EQ(OnlyError(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":"12x"}])"),
            "point 1: invalid time '12x'");
  EXPECT_EQ(OnlyError(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":1.5}])"),
            "point 1: time must be an int64 (a JSON string or integer), not a float");
  EXPECT_EQ(
      OnlyError(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":"99999999999999999999"}])"),
      "point 1: time out of range");
  EXPECT_EQ(OnlyError(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":18446744073709551615}])"),
            "point 1: time out of range");
  ParseResult r =
      ParsePbJsonPoints(R"([{"name":"m","fields":[{"key":"v","f":1}],"time":"10000000000000"}])",
                        {Precision::kHour, kNow});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, "time out of range");
}

TEST(PbJsonPointsTest, PointErrors) {
  struct Case {
    const char* point;
    const char* reason;
  };
  const Case cases[] = {
      {"1", "a point must be a JSON object, not an integer"},
      {R"({"fields":[{"key":"v","f":1}]})", "missing name"},
      {R"({"name":"","fields":[{"key":"v","f":1}]})", "empty name"},
      {R"({"name":7,"fields":[{"key":"v","f":1}]})", "name must be a string, not an integer"},
      {R"({"measurement":"m","fields":[{"key":"v","f":1}]})",
       "unknown key 'measurement' (a point has name, fields, time, warns, debugs)"},
      {R"({"name":"m"})", "missing fields"},
      {R"({"name":"m","fields":{"v":1}})", "fields must be an array, not an object"},
      {R"({"name":"m","fields":[]})", "empty fields"},
      {R"({"name":"m","fields":[{"key":"t","s":"x","is_tag":true}]})",
       "a point needs at least one field that is not a tag"},
  };
  for (const Case& c : cases) {
    std::string body =
        std::string(R"([{"name":"ok","fields":[{"key":"v","f":1}]},)") + c.point + "]";
    ParseResult r = Parse(body);
    ASSERT_EQ(r.errors.size(), 1u) << body;
    EXPECT_EQ(r.errors[0].line, 2) << body;
    EXPECT_EQ(r.errors[0].reason, c.reason) << body;
    EXPECT_EQ(r.points.size(), 1u) << body;
  }
}

TEST(PbJsonPointsTest, FieldErrors) {
  struct Case {
    const char* field;
    const char* reason;
  };
  const Case cases[] = {
      {"1", "field 1 must be an object, not an integer"},
      {R"({"s":"x"})", "field 1: missing key"},
      {R"({"key":null,"s":"x"})", "field 1: missing key"},
      {R"({"key":"","s":"x"})", "field 1: empty key"},
      {R"({"key":5,"s":"x"})", "field 1: key must be a string, not an integer"},
      {R"({"key":"v","s":"x","value":1})", "field 'v': unknown key 'value'"},
      {R"({"key":"v","i":"1","s":"x"})", "field 'v': more than one value (i and s)"},
      {R"({"key":"v","i":"abc"})", "field 'v': invalid int64 in i: 'abc'"},
      {R"({"key":"v","i":"1.5"})", "field 'v': invalid int64 in i: '1.5'"},
      {R"({"key":"v","i":""})", "field 'v': invalid int64 in i: ''"},
      {R"({"key":"v","i":"9223372036854775808"})",
       "field 'v': i out of range for int64: '9223372036854775808'"},
      {R"({"key":"v","i":18446744073709551615})",
       "field 'v': i out of range for int64: 18446744073709551615"},
      {R"({"key":"v","i":1.5})",
       "field 'v': i must be an int64 (a JSON string or integer), not a float"},
      {R"({"key":"v","u":"-1"})", "field 'v': u out of range for uint64: '-1'"},
      {R"({"key":"v","u":-1})", "field 'v': u out of range for uint64: -1"},
      {R"({"key":"v","u":"18446744073709551616"})",
       "field 'v': u out of range for uint64: '18446744073709551616'"},
      {R"({"key":"v","u":true})",
       "field 'v': u must be a uint64 (a JSON string or integer), not a bool"},
      {R"({"key":"v","f":"NaN"})", "field 'v': non-finite floats are not supported: 'NaN'"},
      {R"({"key":"v","f":"-Infinity"})",
       "field 'v': non-finite floats are not supported: '-Infinity'"},
      {R"({"key":"v","f":"inf"})", "field 'v': invalid double in f: 'inf'"},
      {R"({"key":"v","f":"1e999"})", "field 'v': f out of range for a double: '1e999'"},
      {R"({"key":"v","f":"1.5x"})", "field 'v': invalid double in f: '1.5x'"},
      {R"({"key":"v","f":[1]})", "field 'v': f must be a number, not an array"},
      {R"({"key":"v","b":"true"})", "field 'v': b must be a bool, not a string"},
      {R"({"key":"v","s":1})", "field 'v': s must be a string, not an integer"},
      {R"({"key":"v","d":"@@@@"})", "field 'v': invalid base64 in d"},
      {R"({"key":"v","d":1})", "field 'v': d must be a base64 string, not an integer"},
      {R"({"key":"v","s":"x","is_tag":"yes"})", "field 'v': is_tag must be a bool, not a string"},
      {R"({"key":"v","s":"x","unit":1})", "field 'v': unit must be a string, not an integer"},
      {R"({"key":"v","s":"x","type":true})",
       "field 'v': type must be a metric type name or number, not a bool"},
      {R"({"key":"t","i":"1","is_tag":true})", "tag 't' must have a string value (s), not i"},
      {R"({"key":"t","s":1,"is_tag":true})", "tag 't': s must be a string, not an integer"},
      {R"({"key":"t","d":"@","is_tag":true})", "tag 't': invalid base64 in d"},
  };
  for (const Case& c : cases) EXPECT_EQ(FieldError(c.field), c.reason) << c.field;
}

TEST(PbJsonPointsTest, ArrayErrors) {
  struct Case {
    const char* a;
    const char* reason;
  };
  const Case cases[] = {
      {R"("x")", "field 'a': a must be an object (a google.protobuf.Any), not a string"},
      {R"({"arr":[]})", "field 'a': a needs an \"@type\""},
      {R"({"@type":7})", "field 'a': a's @type must be a string, not an integer"},
      {R"({"@type":"type.googleapis.com/point.Map","map":{}})",
       "field 'a': map values (point.Map) are not supported"},
      {R"({"@type":"type.googleapis.com/google.protobuf.Duration","value":"1s"})",
       "field 'a': unsupported Any type 'type.googleapis.com/google.protobuf.Duration' (only "
       "type.googleapis.com/point.Array)"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[],"extra":1})",
       "field 'a': unknown key 'extra' in a point.Array"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":{"i":"1"}})",
       "field 'a': a's arr must be an array, not an object"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[1]})",
       "field 'a': array element 1 must be an object like {\"i\":\"1\"}, not an integer"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"i":"1"},{"s":"x"}]})",
       "field 'a': array elements must all have one type (i and s)"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"f":1},{"i":"1"}]})",
       "field 'a': array elements must all have one type (f and i)"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"d":"aGk="}]})",
       "field 'a': arrays of bytes (d) are not supported"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"i":"1"},{}]})",
       "field 'a': array element 2 has no value"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"i":"1","u":"1"}]})",
       "field 'a': array element 1 has more than one value (i and u)"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"x":"1"}]})",
       "field 'a': array element 1: unknown key 'x'"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"a":{}}]})",
       "field 'a': array element 1: unknown key 'a'"},
      {R"({"@type":"type.googleapis.com/point.Array","arr":[{"i":"1"},{"i":"x"}]})",
       "field 'a': array element 2: invalid int64 in i: 'x'"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FieldError(std::string(R"({"key":"a","a":)") + c.a + "}"), c.reason) << c.a;
  }
  // When the Any is not an array, the unimplemented kinds get a clear message.
  EXPECT_EQ(FieldError(R"({"key":"m","a":{"@type":"type.googleapis.com/point.Map"}})"),
            "field 'm': map values (point.Map) are not supported");
}

TEST(PbJsonPointsTest, BodyErrors) {
  EXPECT_EQ(OnlyError(""), "invalid JSON: Empty: no JSON found");
  EXPECT_EQ(OnlyError("cpu,host=a usage=1"),
            "invalid JSON: The JSON document has an improper structure: missing or superfluous "
            "commas, braces, missing keys, etc.");
  EXPECT_EQ(OnlyError(R"("text")"),
            "the body must be a JSON array of points, a PBPoints object or one point object, not a "
            "string");
  EXPECT_EQ(OnlyError(R"({"arr":[],"name":"m"})"),
            "unknown key 'name' in a PBPoints object (it has only arr)");
  EXPECT_EQ(OnlyError(R"({"arr":5})"), "arr must be an array of points, not an integer");
  ParseResult r = Parse("42");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 0);
}

TEST(PbJsonPointsTest, ReportsEveryBadPointAndCapsKeptErrors) {
  std::string body = "[";
  for (int i = 0; i < 10; ++i) {
    if (i) body += ',';
    body += i % 2 ? R"({"name":"m","fields":[{"key":"v","i":"x"}]})"
                  : R"({"name":"m","fields":[{"key":"v","i":"1"}]})";
  }
  body += "]";
  ParseResult r = ParsePbJsonPoints(body, ParseOptions{Precision::kAuto, kNow, 3});
  EXPECT_EQ(r.points.size(), 5u);
  EXPECT_EQ(r.error_count, 5u);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[2].line, 6);
  EXPECT_EQ(FormatParseErrors(r.errors, true, 20, r.error_count),
            "point 2: field 'v': invalid int64 in i: 'x'; point 4: field 'v': invalid int64 in i: "
            "'x'; point 6: field 'v': invalid int64 in i: 'x'; and 2 more errors");
}

TEST(PbJsonPointsTest, ManyPoints) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) {
    if (i) body += ',';
    body += R"({"name":"m","fields":[{"key":"i","s":")" + std::to_string(i) +
            R"(","is_tag":true},{"key":"v","i":")" + std::to_string(i) + R"("}],"time":")" +
            std::to_string(1'700'000'000 + i) + R"("})";
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
