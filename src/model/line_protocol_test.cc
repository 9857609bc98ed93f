#include "model/line_protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>

namespace pythond::model {
namespace {

constexpr int64_t kNow = 1'700'000'000'123'456'789;

ParseResult Parse(std::string_view body, Precision precision = Precision::kAuto) {
  return ParseLineProtocol(body, ParseOptions{precision, kNow});
}

// Parses a body expected to hold exactly one good point.
Point ParseOne(std::string_view body, Precision precision = Precision::kAuto) {
  ParseResult r = Parse(body, precision);
  EXPECT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, false);
  EXPECT_EQ(r.points.size(), 1u);
  return r.points.empty() ? Point{} : r.points[0];
}

// Parses a body expected to hold exactly one bad line and returns its error.
ParseError ParseBad(std::string_view body) {
  ParseResult r = Parse(body);
  EXPECT_EQ(r.errors.size(), 1u) << FormatParseErrors(r.errors, false);
  return r.errors.empty() ? ParseError{} : r.errors[0];
}

TEST(LineProtocolTest, MorePointsThanMaxPointsRefuseTheBodyBeforeParsing) {
  ParseOptions o;
  o.max_points = 3;
  ParseResult ok = ParseLineProtocol("# c\na v=1\n\nb v=2\n  # d\nc v=3", o);
  EXPECT_TRUE(ok.errors.empty());
  EXPECT_EQ(ok.points.size(), 3u);
  ParseResult over = ParseLineProtocol("a v=1\nb v=2\nc v=3\nd v=4\n", o);
  EXPECT_TRUE(over.too_many_points);
  EXPECT_TRUE(over.points.empty());
  ASSERT_EQ(over.errors.size(), 1u);
  EXPECT_NE(over.errors[0].reason.find("more than 3 points"), std::string::npos);
}

TEST(LineProtocolTest, ParsesEveryValueType) {
  Point p = ParseOne(
      "cpu,host=a,region=us-west i=-12i,u=12u,f=1.5,neg=-2,e=1e3,E=1.5E-3,dot=.5,"
      "b=t,s=\"hi\" 1700000000000000000");
  EXPECT_EQ(p.measurement, "cpu");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"host", "a"}, {"region", "us-west"}}));
  ASSERT_EQ(p.fields.size(), 9u);
  EXPECT_EQ(p.fields[0], (Field{"i", int64_t{-12}}));
  EXPECT_EQ(p.fields[1], (Field{"u", uint64_t{12}}));
  EXPECT_EQ(p.fields[2], (Field{"f", 1.5}));
  EXPECT_EQ(p.fields[3], (Field{"neg", -2.0}));
  EXPECT_EQ(p.fields[4], (Field{"e", 1000.0}));
  EXPECT_EQ(p.fields[5], (Field{"E", 1.5e-3}));
  EXPECT_EQ(p.fields[6], (Field{"dot", 0.5}));
  EXPECT_EQ(p.fields[7], (Field{"b", true}));
  EXPECT_EQ(p.fields[8], (Field{"s", std::string("hi")}));
  EXPECT_EQ(p.time_ns, 1700000000000000000);
}

TEST(LineProtocolTest, BareNumberIsFloat) {
  Point p = ParseOne("m a=3,b=-0,c=5.,d=1e+21,e=1e-999");
  ASSERT_EQ(p.fields.size(), 5u);
  for (const Field& f : p.fields) EXPECT_TRUE(std::holds_alternative<double>(f.value)) << f.key;
  EXPECT_EQ(std::get<double>(p.fields[0].value), 3.0);
  EXPECT_EQ(std::get<double>(p.fields[2].value), 5.0);
  EXPECT_EQ(std::get<double>(p.fields[3].value), 1e21);
  EXPECT_EQ(std::get<double>(p.fields[4].value), 0.0);  // underflow reads as 0, as in Go
}

TEST(LineProtocolTest, IntegerLimits) {
  Point p = ParseOne(
      "m min=-9223372036854775808i,max=9223372036854775807i,umax=18446744073709551615u,z=0u");
  EXPECT_EQ(p.fields[0].value, FieldValue(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(p.fields[1].value, FieldValue(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(p.fields[2].value, FieldValue(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(p.fields[3].value, FieldValue(uint64_t{0}));
  p = ParseOne("m a=007i,b=-0i,c=00u,d=-9223372036854775807i,e=18446744073709551614u");
  EXPECT_EQ(p.fields[0].value, FieldValue(int64_t{7}));
  EXPECT_EQ(p.fields[1].value, FieldValue(int64_t{0}));
  EXPECT_EQ(p.fields[2].value, FieldValue(uint64_t{0}));
  EXPECT_EQ(p.fields[3].value, FieldValue(int64_t{-9223372036854775807}));
  EXPECT_EQ(p.fields[4].value, FieldValue(uint64_t{18446744073709551614u}));
  EXPECT_EQ(ParseOne("m f=1 -9223372036854775808", Precision::kNanosecond).time_ns,
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ParseBad("m f=1 9223372036854775808").reason,
            "timestamp out of range '9223372036854775808'");
  EXPECT_EQ(ParseBad("m f=1 -").reason, "invalid timestamp '-'");
}

TEST(LineProtocolTest, NumberErrors) {
  struct Case {
    const char* body;
    const char* reason;
  };
  const Case cases[] = {
      {"m v=9223372036854775808i", "integer out of range '9223372036854775808i'"},
      {"m v=-9223372036854775809i", "integer out of range '-9223372036854775809i'"},
      {"m v=18446744073709551616u", "unsigned integer out of range '18446744073709551616u'"},
      {"m v=-1u", "invalid unsigned integer '-1u'"},
      {"m v=1.5i", "invalid integer '1.5i'"},
      {"m v=-i", "invalid integer '-i'"},
      {"m v=12x", "invalid number '12x'"},
      {"m v=1.2.3", "invalid number '1.2.3'"},
      {"m v=1e", "invalid number '1e'"},
      {"m v=-", "invalid number '-'"},
      {"m v=-inf", "invalid number '-inf'"},
      {"m v=-nan", "invalid number '-nan'"},
      {"m v=1e999", "number out of range '1e999'"},
      {"m v=-1e999", "number out of range '-1e999'"},
      {"m v=+1", "invalid field value '+1'"},
      {"m v=NaN", "invalid field value 'NaN'"},
      {"m v=inf", "invalid field value 'inf'"},
      {"m v=0x10", "invalid number '0x10'"},
      {"m v=99999999999999999999xi", "invalid integer '99999999999999999999xi'"},
      {"m v=--1i", "invalid integer '--1i'"},
      {"m v=+1i", "invalid field value '+1i'"},
      {"m v=1-i", "invalid integer '1-i'"},
      {"m v=-u", "invalid unsigned integer '-u'"},
  };
  for (const Case& c : cases) {
    ParseError e = ParseBad(c.body);
    EXPECT_EQ(e.reason, c.reason) << c.body;
    EXPECT_EQ(e.line, 1) << c.body;
    EXPECT_EQ(e.column, 5) << c.body;
  }
}

TEST(LineProtocolTest, Booleans) {
  Point p = ParseOne("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE");
  ASSERT_EQ(p.fields.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(p.fields[i].value, FieldValue(i < 5)) << p.fields[i].key;
  }
  EXPECT_EQ(ParseBad("m a=tRUE").reason, "invalid boolean 'tRUE'");
  EXPECT_EQ(ParseBad("m a=fals").reason, "invalid boolean 'fals'");
  EXPECT_EQ(ParseBad("m a=yes").reason, "invalid field value 'yes'");
}

TEST(LineProtocolTest, Strings) {
  Point p = ParseOne(R"(m a="",b="say \"hi\"",c="back\\slash",d="keep \n and \t",e="x,y z=w")");
  EXPECT_EQ(p.fields[0].value, FieldValue(std::string()));
  EXPECT_EQ(p.fields[1].value, FieldValue(std::string("say \"hi\"")));
  EXPECT_EQ(p.fields[2].value, FieldValue(std::string("back\\slash")));
  EXPECT_EQ(p.fields[3].value, FieldValue(std::string("keep \\n and \\t")));
  EXPECT_EQ(p.fields[4].value, FieldValue(std::string("x,y z=w")));

  ParseError e = ParseBad("m a=1,s=\"never closed");
  EXPECT_EQ(e.reason, "unterminated string");
  EXPECT_EQ(e.column, 9);
  e = ParseBad("m s=\"a\"x");
  EXPECT_EQ(e.reason, "expected ',' or ' ' after a string value");
  EXPECT_EQ(e.column, 8);
}

TEST(LineProtocolTest, Base64Bytes) {
  Point p = ParseOne(
      "m a=\"aGVsbG8=\"b,b=\"\"b,c=\"aGVsbG8\"b,d=\"-_8=\"b,e=\"+/8=\"b,f=\"aGVs\r\nbG8=\"b 1");
  ASSERT_EQ(p.fields.size(), 6u);
  EXPECT_EQ(p.fields[0].value, FieldValue(Bytes{"hello"}));
  EXPECT_EQ(p.fields[1].value, FieldValue(Bytes{}));
  EXPECT_EQ(p.fields[2].value, FieldValue(Bytes{"hello"}));     // padding is optional
  EXPECT_EQ(p.fields[3].value, FieldValue(Bytes{"\xFB\xFF"}));  // URL-safe alphabet
  EXPECT_EQ(p.fields[4].value, FieldValue(Bytes{"\xFB\xFF"}));
  EXPECT_EQ(p.fields[5].value, FieldValue(Bytes{"hello"}));  // CR/LF skipped, as in Go
  EXPECT_EQ(p.time_ns, 1'000'000'000);
  // Bytes stay apart from strings.
  EXPECT_NE(ParseOne("m a=\"aGk=\"b").fields[0].value, ParseOne("m a=\"hi\"").fields[0].value);

  struct Case {
    const char* body;
    int column;
    const char* reason;
  };
  const Case cases[] = {
      {"m f=\"@@@@\"b", 5, "invalid base64 in the value of field 'f'"},
      {"m f=\"aGVsbG8=x\"b", 5, "invalid base64 in the value of field 'f'"},
      {"m f=\"a\"b", 5, "invalid base64 in the value of field 'f'"},
      {"m f=\"aG=\"b", 5, "invalid base64 in the value of field 'f'"},
      {"m f=\"aGk==\"b", 5, "invalid base64 in the value of field 'f'"},
      {"m ok=1,k\\ ey=\"aG\\\"k=\"b", 14, "invalid base64 in the value of field 'k ey'"},
      {"m f=\"aGk=\"bb", 12, "expected ',' or ' ' after a bytes value"},
      {"m f=\"aGk=\"c", 11, "expected ',' or ' ' after a string value"},
  };
  for (const Case& c : cases) {
    ParseError e = ParseBad(c.body);
    EXPECT_EQ(e.reason, c.reason) << c.body;
    EXPECT_EQ(e.column, c.column) << c.body;
  }
  // A bad bytes value spanning lines still ends its point where the parser saw it end.
  ParseResult r = Parse("m f=\"@\n@\"b\nm g=1\nm h\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 1);
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.points.size(), 1u);
}

TEST(LineProtocolTest, Arrays) {
  Point p = ParseOne(
      "m i=[1i,-2i,3i],u=[1u,18446744073709551615u],f=[1.5,2,-1e3],b=[true,f,T],"
      "s=[\"a\",\"say \\\"hi\\\"\",\"x,y]z \\\\\"],e=[],sp=[ 1i , 2i ],tc=[1i,],tabs=[\t\"q\"\t] "
      "7");
  ASSERT_EQ(p.fields.size(), 9u);
  EXPECT_EQ(p.fields[0].value, FieldValue(Array{{int64_t{1}, int64_t{-2}, int64_t{3}}}));
  EXPECT_EQ(p.fields[1].value,
            FieldValue(Array{{uint64_t{1}, std::numeric_limits<uint64_t>::max()}}));
  EXPECT_EQ(p.fields[2].value, FieldValue(Array{{1.5, 2.0, -1000.0}}));
  EXPECT_EQ(p.fields[3].value, FieldValue(Array{{true, false, true}}));
  EXPECT_EQ(
      p.fields[4].value,
      FieldValue(Array{{std::string("a"), std::string("say \"hi\""), std::string("x,y]z \\")}}));
  EXPECT_EQ(p.fields[5].value, FieldValue(Array{}));
  EXPECT_EQ(p.fields[6].value, FieldValue(Array{{int64_t{1}, int64_t{2}}}));
  EXPECT_EQ(p.fields[7].value, FieldValue(Array{{int64_t{1}}}));
  EXPECT_EQ(p.fields[8].value, FieldValue(Array{{std::string("q")}}));
  EXPECT_EQ(p.time_ns, 7'000'000'000);
  EXPECT_EQ(ParseOne("m e=[ ]").fields[0].value, FieldValue(Array{}));
  // DataKit's own example line.
  p = ParseOne(
      "some_measurement,host=my_host,region=my_region float=0.01,uint=1048576u,int=42i,"
      "string=\"my-host\",boolean=T,binary=\"aGVsbG8=\"b,array=[1.414,3.14] 1710321406000000000");
  EXPECT_EQ(p.fields[5].value, FieldValue(Bytes{"hello"}));
  EXPECT_EQ(p.fields[6].value, FieldValue(Array{{1.414, 3.14}}));
}

TEST(LineProtocolTest, ArrayStringsMayHoldRawNewlines) {
  ParseResult r = Parse("m a=[\"x\ny\",\"z\"],n=1i 5\nm f=\n");
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].fields[0].value,
            FieldValue(Array{{std::string("x\ny"), std::string("z")}}));
  EXPECT_EQ(r.points[0].fields[1].value, FieldValue(int64_t{1}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
}

TEST(LineProtocolTest, ArrayErrors) {
  struct Case {
    const char* body;
    int column;
    const char* reason;
  };
  const Case cases[] = {
      {"m f=[1i,2.5]", 9, "array elements must all have one type"},
      {"m f=[1i,2u]", 9, "array elements must all have one type"},
      {"m f=[\"a\",true]", 10, "array elements must all have one type"},
      {"m f=[1.5,\"a\"]", 10, "array elements must all have one type"},
      {"m f=[[1i]]", 6, "nested arrays are not supported"},
      {"m f=[\"aGk=\"b]", 6, "arrays of bytes are not supported"},
      {"m f=[1i,2i", 5, "unterminated array"},
      {"m f=[1i,2i ", 5, "unterminated array"},
      {"m f=[", 5, "unterminated array"},
      {"m f=[1i,", 5, "unterminated array"},
      {"m f=[1i 2i]", 9, "expected ',' or ']' after an array element"},
      {"m f=[,]", 6, "missing array element"},
      {"m f=[1i,,2i]", 9, "missing array element"},
      {"m f=[1i]x", 9, "expected ',' or ' ' after an array value"},
      {"m f=[1x]", 6, "invalid number '1x'"},
      {"m f=[1.5i]", 6, "invalid integer '1.5i'"},
      {"m f=[abc]", 6, "invalid array element 'abc'"},
      {"m f=[tru]", 6, "invalid boolean 'tru'"},
      {"m f=[\"a\"x]", 9, "expected ',' or ']' after an array element"},
  };
  for (const Case& c : cases) {
    ParseError e = ParseBad(c.body);
    EXPECT_EQ(e.reason, c.reason) << c.body;
    EXPECT_EQ(e.column, c.column) << c.body;
    EXPECT_EQ(e.line, 1) << c.body;
  }
  // An array never runs past the line end outside a string.
  ParseResult r = Parse("m f=[1i,\n2i]\nm g=1\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].reason, "unterminated array");
  EXPECT_EQ(r.errors[1].line, 2);
  EXPECT_EQ(r.points.size(), 1u);
  EXPECT_EQ(ParseBad("m f=[\"open").reason, "unterminated string");
}

TEST(LineProtocolTest, ResyncSkipsArrayStringsAfterAnError) {
  // The error comes before the array; its string still spans two physical lines.
  ParseResult r = Parse("m a=bad,f=[\"x\ny\"]\nm f=1\nm g\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 1);
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.points.size(), 1u);
  // The error is inside the array, before a string that spans lines.
  r = Parse("m f=[x,\"a\nb\"]\nm f=1\nm g\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].reason, "invalid array element 'x'");
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.points.size(), 1u);
  // Mixed types found at a string that spans lines.
  r = Parse("m f=[1i,\"a\nb\",\"c\nd\"]\nm f=1\nm g\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].reason, "array elements must all have one type");
  EXPECT_EQ(r.errors[1].line, 5);
  EXPECT_EQ(r.points.size(), 1u);
}

TEST(LineProtocolTest, UnterminatedStringSwallowsTheRest) {
  ParseResult r = Parse("m s=\"open\nm f=1\nm g=\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, "unterminated string");
  EXPECT_EQ(r.errors[0].line, 1);
  EXPECT_TRUE(r.points.empty());
}

TEST(LineProtocolTest, Escapes) {
  Point p = ParseOne(R"(my\,meas\ ure\\x,k\=1\ a=v\,1\=2\ z,path=C:\dir f\,k\=e\ y=1,q\"=2 1)");
  EXPECT_EQ(p.measurement, "my,meas ure\\x");
  EXPECT_EQ(p.tags, (std::vector<Tag>{{"k=1 a", "v,1=2 z"}, {"path", "C:\\dir"}}));
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[0].key, "f,k=e y");
  EXPECT_EQ(p.fields[1].key, "q\\\"");

  // '=' needs no escape in a measurement; `\=` there is two literal characters.
  p = ParseOne(R"(a=b\=c f=1)");
  EXPECT_EQ(p.measurement, "a=b\\=c");
  // A backslash before a space escapes it, so the tag value runs on into the fields.
  EXPECT_EQ(ParseBad("m,t=x\\ f=1").reason, "unescaped '=' in the value of tag 't'");
}

TEST(LineProtocolTest, CommentsBlankLinesAndCrlf) {
  ParseResult r = Parse(
      "# a comment\r\n"
      "\r\n"
      "   \t \n"
      "  # indented comment with \"quote\n"
      "cpu,host=a usage=1 1\r\n"
      "\n"
      "  mem free=2i\r\n"
      "disk s=\"crlf\"\r\n"
      "net up=t   \r\n"
      "io,a=b c=1 2  \t");
  ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, false);
  ASSERT_EQ(r.points.size(), 5u);
  EXPECT_EQ(r.points[0].measurement, "cpu");
  EXPECT_EQ(r.points[0].time_ns, 1'000'000'000);
  EXPECT_EQ(r.points[1].measurement, "mem");
  EXPECT_EQ(r.points[1].fields[0].value, FieldValue(int64_t{2}));
  EXPECT_EQ(r.points[2].fields[0].value, FieldValue(std::string("crlf")));
  EXPECT_EQ(r.points[3].fields[0].value, FieldValue(true));
  EXPECT_EQ(r.points[4].time_ns, 2'000'000'000);

  EXPECT_TRUE(Parse("").points.empty());
  EXPECT_TRUE(Parse("\n\n# only\n").errors.empty());
}

TEST(LineProtocolTest, CrlfErrorsExcludeCarriageReturn) {
  ParseResult r = Parse("ok f=1\r\ncpu,host=a usage=\r\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].column, 18);
  EXPECT_EQ(r.errors[0].excerpt, "cpu,host=a usage=");
}

TEST(LineProtocolTest, RawNewlinesInStrings) {
  ParseResult r = Parse(
      "log msg=\"first\nsecond\r\nthird\",n=1i 5\n"
      "cpu,host=a usage=\n"
      "mem s=\"a\n\nb\" x\n"
      "disk f=\n");
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].fields[0].value, FieldValue(std::string("first\nsecond\r\nthird")));
  EXPECT_EQ(r.points[0].fields[1].value, FieldValue(int64_t{1}));
  EXPECT_EQ(r.points[0].time_ns, 5'000'000'000);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 18);
  // The error sits after the string's raw newlines; the column counts from the point's start.
  EXPECT_EQ(r.errors[1].line, 5);
  EXPECT_EQ(r.errors[1].column, 14);
  EXPECT_EQ(r.errors[1].reason, "invalid timestamp 'x'");
  EXPECT_EQ(r.errors[1].excerpt, "mem s=\"a");
  EXPECT_EQ(r.errors[2].line, 8);
  EXPECT_EQ(r.errors[2].column, 8);
}

TEST(LineProtocolTest, ResyncSkipsStringsAfterAnError) {
  // The bad value comes first; the string after it still spans two physical lines.
  ParseResult r = Parse("m a=bad,s=\"x\ny\"\nm f=1\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, "invalid field value 'bad'");
  ASSERT_EQ(r.points.size(), 1u);

  r = Parse("m,t= s=\"x\ny\"\nm f=1\nm g\n");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].reason, "empty value for tag 't'");
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.errors[1].reason, "missing '=' after field key 'g'");
  EXPECT_EQ(r.points.size(), 1u);
}

TEST(LineProtocolTest, MissingTimestampUsesNow) {
  EXPECT_EQ(ParseOne("m f=1").time_ns, kNow);
  EXPECT_EQ(ParseOne("m f=1 ").time_ns, kNow);
  EXPECT_EQ(ParseOne("m f=\"x\"").time_ns, kNow);
}

TEST(LineProtocolTest, ExplicitPrecision) {
  EXPECT_EQ(ParseOne("m f=1 1700000000", Precision::kSecond).time_ns, 1'700'000'000'000'000'000);
  EXPECT_EQ(ParseOne("m f=1 1700000000123", Precision::kMillisecond).time_ns,
            1'700'000'000'123'000'000);
  EXPECT_EQ(ParseOne("m f=1 1700000000123456", Precision::kMicrosecond).time_ns,
            1'700'000'000'123'456'000);
  EXPECT_EQ(ParseOne("m f=1 1700000000123456789", Precision::kNanosecond).time_ns,
            1'700'000'000'123'456'789);
  EXPECT_EQ(ParseOne("m f=1 2", Precision::kMinute).time_ns, 120'000'000'000);
  EXPECT_EQ(ParseOne("m f=1 1", Precision::kHour).time_ns, 3'600'000'000'000);
  // Explicit precision is not second-guessed: 5 ns stays 5 ns.
  EXPECT_EQ(ParseOne("m f=1 5", Precision::kNanosecond).time_ns, 5);
  EXPECT_EQ(ParseOne("m f=1 -5", Precision::kSecond).time_ns, -5'000'000'000);
}

TEST(LineProtocolTest, AutoPrecisionFromMagnitude) {
  EXPECT_EQ(ParseOne("m f=1 1700000000").time_ns, 1'700'000'000'000'000'000);
  EXPECT_EQ(ParseOne("m f=1 1700000000123").time_ns, 1'700'000'000'123'000'000);
  EXPECT_EQ(ParseOne("m f=1 1700000000123456").time_ns, 1'700'000'000'123'456'000);
  EXPECT_EQ(ParseOne("m f=1 1700000000123456789").time_ns, 1'700'000'000'123'456'789);
}

TEST(LineProtocolTest, TimestampErrors) {
  ParseError e = ParseBad("m f=1 12a");
  EXPECT_EQ(e.reason, "invalid timestamp '12a'");
  EXPECT_EQ(e.column, 7);
  EXPECT_EQ(ParseBad("m f=1 +12").reason, "invalid timestamp '+12'");
  EXPECT_EQ(ParseBad("m f=1 1.5").reason, "invalid timestamp '1.5'");
  EXPECT_EQ(ParseBad("m f=1 99999999999999999999").reason,
            "timestamp out of range '99999999999999999999'");
  ParseResult r = ParseLineProtocol("m f=1 10000000000000", {Precision::kSecond, kNow});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, "timestamp out of range '10000000000000'");
  e = ParseBad("m f=1 1 2");
  EXPECT_EQ(e.reason, "unexpected text after the timestamp");
  EXPECT_EQ(e.column, 9);
  // A forgotten comma reads the next field as the timestamp.
  EXPECT_EQ(ParseBad("m a=1 b=2").reason, "invalid timestamp 'b=2'");
}

TEST(LineProtocolTest, StructureErrorsWithExactColumns) {
  struct Case {
    const char* body;
    int column;
    const char* reason;
  };
  const Case cases[] = {
      {"cpu,host=a usage=", 18, "missing field value after 'usage='"},
      {"cpu,host=a usage=,x=1", 18, "missing field value after 'usage='"},
      {"cpu,host=a usage= 1", 18, "missing field value after 'usage='"},
      {"cpu", 4, "missing fields"},
      {"cpu,host=a", 11, "missing fields"},
      {"cpu,host=a   ", 14, "missing fields"},
      {",host=a f=1", 1, "missing measurement"},
      {"cpu, f=1", 5, "missing tag key"},
      {"cpu,=a f=1", 5, "missing tag key"},
      {"cpu,host f=1", 9, "missing '=' after tag key 'host'"},
      {"cpu,host=a,dc f=1", 14, "missing '=' after tag key 'dc'"},
      {"cpu,host= f=1", 10, "empty value for tag 'host'"},
      {"cpu,host=,a=b f=1", 10, "empty value for tag 'host'"},
      {"cpu,host=a=b f=1", 11, "unescaped '=' in the value of tag 'host'"},
      {"cpu,host=a,host=b f=1", 12, "duplicate tag key 'host'"},
      {"cpu =1", 5, "missing field key"},
      {"cpu a=1,", 9, "missing field key"},
      {"cpu a=1, b=2", 9, "missing field key"},
      {"cpu usage", 10, "missing '=' after field key 'usage'"},
      {"cpu a=1,b", 10, "missing '=' after field key 'b'"},
  };
  for (const Case& c : cases) {
    ParseError e = ParseBad(c.body);
    EXPECT_EQ(e.line, 1) << c.body;
    EXPECT_EQ(e.column, c.column) << c.body;
    EXPECT_EQ(e.reason, c.reason) << c.body;
    EXPECT_EQ(e.excerpt, c.body);
  }
}

TEST(LineProtocolTest, ReportsEveryBadLine) {
  ParseResult r = Parse(
      "cpu,host=a usage=1\n"
      "cpu,host=a usage=\n"
      "# fine\n"
      "mem free=12x\n"
      "disk used=1i 17\n"
      "  net,if=eth0 rx=1u,tx=-1u\n"
      "swap\n");
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_EQ(r.points.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[0].column, 18);
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.errors[1].column, 10);
  EXPECT_EQ(r.errors[1].reason, "invalid number '12x'");
  EXPECT_EQ(r.errors[2].line, 6);
  EXPECT_EQ(r.errors[2].column, 24);
  EXPECT_EQ(r.errors[2].reason, "invalid unsigned integer '-1u'");
  EXPECT_EQ(r.errors[2].excerpt, "  net,if=eth0 rx=1u,tx=-1u");
  EXPECT_EQ(r.errors[3].line, 7);
  EXPECT_EQ(r.errors[3].column, 5);
  EXPECT_EQ(r.errors[3].reason, "missing fields");
}

TEST(LineProtocolTest, DuplicateFieldKeepsTheLastValue) {
  Point p = ParseOne("m a=1,b=2,a=\"three\",b=4i");
  EXPECT_EQ(p.fields, (std::vector<Field>{{"a", std::string("three")}, {"b", int64_t{4}}}));

  std::string body = "m ";
  for (int i = 0; i < 40; ++i)
    body += "f" + std::to_string(i % 20) + "=" + std::to_string(i) + "i,";
  body.pop_back();
  p = ParseOne(body);
  ASSERT_EQ(p.fields.size(), 20u);
  EXPECT_EQ(p.fields[0], (Field{"f0", int64_t{20}}));
  EXPECT_EQ(p.fields[19], (Field{"f19", int64_t{39}}));
}

TEST(LineProtocolTest, ExcerptIsCutTo80BytesOnACharacterBoundary) {
  std::string line = "m,t=" + std::string(74, 'x') + "\xC3\xA9" + "y bad";  // é at bytes 78..79
  ParseError e = ParseBad(line);
  EXPECT_EQ(e.excerpt, line.substr(0, 80));
  line = "m,t=" + std::string(75, 'x') + "\xC3\xA9" + "y bad";  // é at bytes 79..80
  e = ParseBad(line);
  EXPECT_EQ(e.excerpt, line.substr(0, 79));
  EXPECT_EQ(e.reason, "missing '=' after field key 'bad'");
  EXPECT_EQ(e.column, static_cast<int>(line.size()) + 1);
}

TEST(LineProtocolTest, LongTokensAreCutInReasons) {
  std::string token(100, '9');
  ParseError e = ParseBad("m v=" + token + "x");
  EXPECT_EQ(e.reason, "invalid number '" + std::string(64, '9') + "...'");
}

TEST(LineProtocolTest, FormatParseErrors) {
  std::vector<ParseError> errors = {
      {1, 18, "missing field value after 'usage='", "cpu,host=a usage="},
      {3, 5, "missing fields", "swap"},
      {4, 1, "missing measurement", ",a=b f=1"},
  };
  EXPECT_EQ(FormatParseErrors(errors, false),
            "line 1, column 18: missing field value after 'usage=' (cpu,host=a usage=); "
            "line 3, column 5: missing fields (swap); "
            "line 4, column 1: missing measurement (,a=b f=1)");
  EXPECT_EQ(FormatParseErrors(errors, false, 1),
            "line 1, column 18: missing field value after 'usage=' (cpu,host=a usage=); "
            "and 2 more errors");
  EXPECT_EQ(FormatParseErrors(errors, false, 2),
            "line 1, column 18: missing field value after 'usage=' (cpu,host=a usage=); "
            "line 3, column 5: missing fields (swap); and 1 more error");
  EXPECT_EQ(FormatParseErrors(errors, false, 0), "and 3 more errors");
  EXPECT_EQ(FormatParseErrors({}, false), "");

  std::vector<ParseError> json_errors = {{2, 0, "missing measurement", ""},
                                         {5, 0, "empty fields", ""}};
  EXPECT_EQ(FormatParseErrors(json_errors, true),
            "point 2: missing measurement; point 5: empty fields");
  EXPECT_EQ(FormatParseErrors({{0, 0, "invalid JSON: Empty: no JSON found", ""}}, true),
            "invalid JSON: Empty: no JSON found");
}

TEST(LineProtocolTest, FormatParseErrorsOnParsedBody) {
  ParseResult r = Parse("cpu,host=a usage=\nok f=1\nmem free=12x");
  EXPECT_EQ(FormatParseErrors(r.errors, false),
            "line 1, column 18: missing field value after 'usage=' (cpu,host=a usage=); "
            "line 3, column 10: invalid number '12x' (mem free=12x)");
}

TEST(LineProtocolTest, AppendLineProtocolCanonicalForm) {
  Point p{"cpu",
          {{"host", "a b"}, {"k=", "v,w"}},
          {{"i", int64_t{-3}},
           {"u", uint64_t{7}},
           {"f", 3.0},
           {"g", 0.1},
           {"b", true},
           {"s", std::string("say \"hi\" \\ ok")}},
          1700000000000000000};
  std::string out;
  AppendLineProtocol(out, p);
  EXPECT_EQ(out,
            "cpu,host=a\\ b,k\\==v\\,w i=-3i,u=7u,f=3,g=0.1,b=true,s=\"say \\\"hi\\\" \\\\ ok\" "
            "1700000000000000000\n");
  AppendLineProtocol(out, Point{"m,x y=z", {}, {{"f", false}}, -1});
  EXPECT_EQ(out.substr(out.find('\n') + 1), "m\\,x\\ y=z f=false -1\n");

  out.clear();
  AppendLineProtocol(out, Point{"m",
                                {},
                                {{"d", Bytes{"hello"}},
                                 {"d0", Bytes{}},
                                 {"d1", Bytes{"\xFB\xFF"}},
                                 {"i", Array{{int64_t{1}, int64_t{-2}}}},
                                 {"u", Array{{uint64_t{3}}}},
                                 {"f", Array{{1.0, 0.5}}},
                                 {"b", Array{{true, false}}},
                                 {"s", Array{{std::string("a\"b"), std::string("c\\")}}},
                                 {"e", Array{}}},
                                1});
  EXPECT_EQ(out,
            "m d=\"aGVsbG8=\"b,d0=\"\"b,d1=\"+/8=\"b,i=[1i,-2i],u=[3u],f=[1,0.5],b=[true,false],"
            "s=[\"a\\\"b\",\"c\\\\\"],e=[] 1\n");
}

TEST(LineProtocolTest, AppendLineProtocolRoundTrips) {
  const double kDoubles[] = {0.0,
                             -0.0,
                             3.0,
                             -2.5,
                             0.1,
                             1e21,
                             1e-7,
                             5e-324,
                             1.7976931348623157e308,
                             -1.7976931348623157e308,
                             123456789.123456789,
                             2.2250738585072014e-308};
  std::vector<Point> points = {
      {"cpu", {{"host", "a"}}, {{"usage", 1.5}}, 1},
      {"my,meas ure", {{"t k=,", "v =,"}}, {{"f k=,", int64_t{1}}}, -5},
      {"a=b", {}, {{"x", std::numeric_limits<int64_t>::min()}}, 0},
      {"back\\slash\\", {{"k\\", "v\\"}, {"\\,", "\\ \\="}}, {{"f\\", std::string("\\")}}, 2},
      {"m\\=", {{"C:\\dir", "C:\\dir\\"}}, {{"p", std::string("C:\\dir\\")}}, 3},
      {"quote\"", {{"\"", "\""}}, {{"\"", std::string("\"")}}, 4},
      {"m",
       {},
       {{"s", std::string("multi\nline\r\nstring, with = signs")},
        {"empty", std::string()},
        {"u", std::numeric_limits<uint64_t>::max()},
        {"i", std::numeric_limits<int64_t>::max()},
        {"t", true},
        {"f", false}},
       std::numeric_limits<int64_t>::max()},
      {"m", {}, {{"x", 1.0}}, std::numeric_limits<int64_t>::min()},
      {"utf8 名前", {{"ключ", "値 ✓"}}, {{"é", std::string("ü")}}, 7},
      {"tab\tinside", {{"t", "a\tb"}}, {{"x\ty", 1.0}}, 8},
      {"bytes",
       {},
       {{"d", Bytes{std::string("\0\n\"\\\xFF ,=", 8)}},
        {"e", Bytes{}},
        {"s", std::string("aGk=")},
        {"f", Bytes{"x"}}},
       10},
      {"arrays",
       {},
       {{"i", Array{{std::numeric_limits<int64_t>::min(), int64_t{0}}}},
        {"u", Array{{std::numeric_limits<uint64_t>::max()}}},
        {"f", Array{{-0.0, 1e21, 5e-324, 3.0}}},
        {"b", Array{{false}}},
        {"s", Array{{std::string("x,y]z"), std::string("line\nbreak\r\n"), std::string(),
                     std::string("\"\\")}}},
        {"e", Array{}}},
       11},
  };
  Point doubles{"d", {}, {}, 9};
  for (size_t i = 0; i < std::size(kDoubles); ++i) {
    doubles.fields.push_back({"d" + std::to_string(i), kDoubles[i]});
  }
  points.push_back(doubles);

  std::string body;
  for (const Point& p : points) AppendLineProtocol(body, p);
  ParseResult r = ParseLineProtocol(body, {Precision::kNanosecond, kNow});
  ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, false) << "\n" << body;
  ASSERT_EQ(r.points.size(), points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(r.points[i], points[i]) << "point " << i << "\n" << body;
  }
  // -0.0 == 0.0, so check the sign survived separately.
  EXPECT_TRUE(std::signbit(std::get<double>(r.points.back().fields[1].value)));
}

TEST(LineProtocolTest, AppendLineProtocolNewlineInNameBecomesSpace) {
  std::string out;
  AppendLineProtocol(out, Point{"a\nb", {{"t", "x\\\ny"}}, {{"f\n", 1.0}}, 1});
  ParseResult r = ParseLineProtocol(out, {Precision::kNanosecond, kNow});
  ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, false) << "\n" << out;
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].measurement, "a b");
  EXPECT_EQ(r.points[0].tags[0].value, "x\\ y");
  EXPECT_EQ(r.points[0].fields[0].key, "f ");
}

TEST(LineProtocolTest, RandomPointsRoundTrip) {
  std::mt19937_64 rng(42);
  const std::string_view kAlphabet[] = {"a",  "Z",  "0", ",",        "=", " ", "\\", "\"",
                                        "\t", "\r", "#", "\xC3\xA9", "i", "-", "."};
  auto text = [&](size_t max_len, bool allow_newline) {
    std::string out;
    size_t len = 1 + rng() % max_len;
    for (size_t i = 0; i < len; ++i) {
      if (allow_newline && rng() % 8 == 0) {
        out += '\n';
      } else {
        out += kAlphabet[rng() % std::size(kAlphabet)];
      }
    }
    return out;
  };
  // A random scalar of the kind'th ArrayElement alternative.
  auto random_element = [&](uint64_t kind) -> ArrayElement {
    switch (kind) {
      case 0:
        return static_cast<int64_t>(rng());
      case 1:
        return static_cast<uint64_t>(rng());
      case 2: {
        double d;
        do {
          uint64_t bits = rng();
          std::memcpy(&d, &bits, sizeof(d));
        } while (!std::isfinite(d));
        return d;
      }
      case 3:
        return rng() % 2 == 0;
      default:
        return rng() % 5 == 0 ? std::string() : text(12, true);
    }
  };
  std::vector<Point> points;
  for (int n = 0; n < 2000; ++n) {
    Point p;
    do {
      p.measurement = text(8, false);
    } while (p.measurement[0] == '#' || p.measurement[0] == '\t');
    std::set<std::string> keys;
    for (int t = rng() % 4; t > 0; --t) {
      std::string key = text(6, false);
      if (keys.insert(key).second) p.tags.push_back({key, text(6, false)});
    }
    keys.clear();
    for (int f = 1 + rng() % 5; f > 0; --f) {
      std::string key = text(6, false);
      if (!keys.insert(key).second) continue;
      FieldValue v;
      switch (rng() % 7) {
        case 5: {
          std::string bytes(rng() % 10, '\0');
          for (char& c : bytes) c = static_cast<char>(rng());
          v = Bytes{std::move(bytes)};
          break;
        }
        case 6: {
          Array array;
          const uint64_t kind = rng() % 5;
          for (size_t n = rng() % 4; n > 0; --n) array.values.push_back(random_element(kind));
          v = std::move(array);
          break;
        }
        default:
          std::visit([&](auto&& e) { v = std::move(e); }, random_element(rng() % 5));
      }
      p.fields.push_back({key, v});
    }
    p.time_ns = static_cast<int64_t>(rng());
    points.push_back(std::move(p));
  }
  std::string body;
  for (const Point& p : points) AppendLineProtocol(body, p);
  ParseResult r = ParseLineProtocol(body, {Precision::kNanosecond, kNow});
  ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, false, 3);
  ASSERT_EQ(r.points.size(), points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    std::string line;
    AppendLineProtocol(line, points[i]);
    ASSERT_EQ(r.points[i], points[i]) << "point " << i << ": " << line;
  }
}

void CheckGarbage(std::string_view alphabet, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int n = 0; n < 20000; ++n) {
    std::string body;
    for (size_t len = rng() % 40; len > 0; --len) body += alphabet[rng() % alphabet.size()];
    // An exact-size copy, so a sanitizer build catches any read past the end.
    std::vector<char> exact(body.begin(), body.end());
    ParseResult r = Parse(std::string_view(exact.data(), exact.size()));
    const int lines = 1 + static_cast<int>(std::count(body.begin(), body.end(), '\n'));
    int last_line = 0;
    for (const ParseError& e : r.errors) {
      EXPECT_GT(e.line, last_line) << body;
      EXPECT_LE(e.line, lines) << body;
      EXPECT_GE(e.column, 1) << body;
      EXPECT_LE(e.excerpt.size(), 80u);
      EXPECT_FALSE(e.reason.empty());
      last_line = e.line;
    }
    for (const Point& p : r.points) {
      EXPECT_FALSE(p.measurement.empty()) << body;
      EXPECT_FALSE(p.fields.empty()) << body;
      // Whatever parses re-encodes to the same point.
      std::string again;
      AppendLineProtocol(again, p);
      ParseResult r2 = ParseLineProtocol(again, {Precision::kNanosecond, kNow});
      ASSERT_EQ(r2.points.size(), 1u) << again;
      EXPECT_EQ(r2.points[0], p) << again;
    }
  }
}

TEST(LineProtocolTest, RandomGarbageNeverBreaksInvariants) {
  CheckGarbage("ab =,\\\"\n\r\t#01-.eiuTf", 7);
}

TEST(LineProtocolTest, RandomGarbageWithArraysAndBytes) {
  CheckGarbage("ab =,[]\\\"\n\t1i.uTfbQ=", 11);
  CheckGarbage("m f=[,]\"1ibaGk= \n", 13);
}

}  // namespace
}  // namespace pythond::model

namespace pythond::model {
namespace {

TEST(LineProtocolTest, MeasurementStartingWithHashOrTabRoundTrips) {
  for (std::string name : {"#cpu", "\tcpu", "#", "\\#x", "\\\tx", "\\\\#"}) {
    Point p{name, {}, {{"v", int64_t{1}}}, 5};
    std::string lp;
    AppendLineProtocol(lp, p);
    ParseResult r = ParseLineProtocol(lp, {Precision::kNanosecond, 0});
    ASSERT_TRUE(r.errors.empty()) << FormatParseErrors(r.errors, false) << " for " << lp;
    ASSERT_EQ(r.points.size(), 1u) << lp;
    EXPECT_EQ(r.points[0], p) << lp;
  }
  // Elsewhere `\#` keeps its backslash, as in InfluxDB.
  ParseResult r = ParseLineProtocol("a\\#b v=1", {});
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].measurement, "a\\#b");
}

}  // namespace
}  // namespace pythond::model
