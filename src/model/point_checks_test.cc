#include "model/point_checks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <set>
#include <string>
#include <vector>

// Counts heap allocations made on this thread while g_count_allocs is set, so tests can check
// that a clean point costs none.
namespace {
thread_local bool g_count_allocs = false;
std::atomic<long> g_allocs{0};
}  // namespace

// Not under AddressSanitizer, which owns operator new/delete (the sanitizer CI pass skips the
// allocation test instead).
#if !defined(__SANITIZE_ADDRESS__)
#define PYTHOND_COUNTS_ALLOCATIONS 1
// noinline: GCC would otherwise inline delete's free() next to a `new` and warn about a mismatch.
__attribute__((noinline)) void* operator new(std::size_t n) {
  if (g_count_allocs) g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace pythond::model {
namespace {

const CheckLimits kDefaults;

Point MakePoint(std::string measurement, std::vector<Tag> tags, std::vector<Field> fields) {
  Point p;
  p.measurement = std::move(measurement);
  p.tags = std::move(tags);
  p.fields = std::move(fields);
  p.time_ns = 123;
  return p;
}

std::vector<CheckReason> Reasons(const CheckOutcome& o) {
  std::vector<CheckReason> r;
  for (const auto& w : o.warnings) r.push_back(w.reason);
  return r;
}

bool HasReason(const CheckOutcome& o, CheckReason reason) {
  for (const auto& w : o.warnings) {
    if (w.reason == reason) return true;
  }
  return false;
}

std::string MessageFor(const CheckOutcome& o, CheckReason reason) {
  for (const auto& w : o.warnings) {
    if (w.reason == reason) return w.message;
  }
  return "";
}

const Field* FindField(const Point& p, std::string_view key) {
  for (const auto& f : p.fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

const Tag* FindTag(const Point& p, std::string_view key) {
  for (const auto& t : p.tags) {
    if (t.key == key) return &t;
  }
  return nullptr;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

constexpr Category kAllCategories[] = {
    Category::kMetric,   Category::kLogging, Category::kObject,  Category::kCustomObject,
    Category::kKeyEvent, Category::kRum,     Category::kNetwork, Category::kSecurity,
};

// ---------------------------------------------------------------------------------------------
// Names and helpers

TEST(CheckReasonNameTest, EveryReasonHasADistinctSnakeCaseName) {
  std::set<std::string_view> seen;
  for (size_t i = 0; i < kCheckReasonCount; ++i) {
    std::string_view name = CheckReasonName(static_cast<CheckReason>(i));
    ASSERT_FALSE(name.empty()) << i;
    EXPECT_NE(name, "unknown") << i;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    EXPECT_TRUE(seen.insert(name).second) << name;
  }
  EXPECT_EQ(CheckReasonName(CheckReason::kTooManyTags), "too_many_tags");
  EXPECT_EQ(CheckReasonName(CheckReason::kDotInKey), "dot_in_key");
  EXPECT_EQ(CheckReasonName(CheckReason::kNoFields), "no_fields");
}

TEST(CheckLimitsTest, DefaultsAreDataKits) {
  CheckLimits l;
  EXPECT_EQ(l.max_tags, 256u);
  EXPECT_EQ(l.max_fields, 1024u);
  EXPECT_EQ(l.max_tag_key_len, 256u);
  EXPECT_EQ(l.max_field_key_len, 256u);
  EXPECT_EQ(l.max_tag_value_len, 1024u);
  EXPECT_EQ(l.max_field_value_len, 32u * 1024 * 1024);
  EXPECT_EQ(l.max_measurement_len, 1024u);
}

TEST(Utf8PrefixLengthTest, AsciiCutsAnywhere) {
  EXPECT_EQ(Utf8PrefixLength("abcdef", 3), 3u);
  EXPECT_EQ(Utf8PrefixLength("abc", 3), 3u);
  EXPECT_EQ(Utf8PrefixLength("abc", 10), 3u);
  EXPECT_EQ(Utf8PrefixLength("abc", 0), 0u);
  EXPECT_EQ(Utf8PrefixLength("", 0), 0u);
}

TEST(Utf8PrefixLengthTest, NeverSplitsASequence) {
  const std::string s = "中文👍é";  // 3 + 3 + 4 + 2 bytes
  ASSERT_EQ(s.size(), 12u);
  const size_t expect[] = {0, 0, 0, 3, 3, 3, 6, 6, 6, 6, 10, 10, 12};
  for (size_t max = 0; max <= s.size(); ++max) {
    const size_t n = Utf8PrefixLength(s, max);
    EXPECT_EQ(n, expect[max]) << "max " << max;
    EXPECT_TRUE(IsValidUtf8(s.substr(0, n))) << "max " << max;
  }
}

TEST(Utf8PrefixLengthTest, InvalidBytesAreCutLikeAnyByte) {
  // Stray continuation bytes have no lead byte to back off to.
  const std::string stray = "\x80\x80\x80\x80\x80";
  EXPECT_EQ(Utf8PrefixLength(stray, 2), 2u);
  // A lead byte followed by too few continuation bytes is cut before the lead byte when the
  // cut would land inside it, like a valid sequence.
  const std::string truncated = "ab\xE4\xB8";
  EXPECT_EQ(Utf8PrefixLength(truncated + "cd", 3), 2u);
  // A continuation run longer than 3 bytes is not a sequence: cut at the limit.
  const std::string longrun = "a\xE4\x80\x80\x80\x80\x80";
  EXPECT_EQ(Utf8PrefixLength(longrun, 6), 6u);
}

// ---------------------------------------------------------------------------------------------
// Clean points

TEST(CheckPointTest, CleanPointsAreUntouchedInEveryCategory) {
  for (Category c : kAllCategories) {
    Point p = MakePoint("cpu", {{"host", "a"}, {"region", "eu"}},
                        {{"usage", 1.5},
                         {"count", int64_t{3}},
                         {"big", uint64_t{1} << 63},
                         {"ok", true},
                         {"arr", Array{{1.0, 2.0}}}});
    if (c != Category::kMetric) p.fields.push_back({"msg", std::string("hello\nworld")});
    if (c == Category::kLogging) p.tags.push_back({"status", "info"});
    if (c == Category::kObject || c == Category::kCustomObject) p.tags.push_back({"name", "x"});
    const Point before = p;
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    EXPECT_FALSE(out.refused) << CategoryName(c);
    EXPECT_TRUE(out.warnings.empty()) << CategoryName(c) << ": " << out.warnings[0].message;
    EXPECT_EQ(p, before) << CategoryName(c);
  }
}

TEST(CheckPointTest, CleanPointAllocatesNothing) {
#if !defined(PYTHOND_COUNTS_ALLOCATIONS)
  GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
#endif
  Point small = MakePoint("cpu", {{"host", "a"}}, {{"usage", 1.5}, {"msg", std::string("x")}});
  Point wide;
  wide.measurement = "wide";
  for (int i = 0; i < 200; ++i) wide.tags.push_back({"tag_" + std::to_string(i), "v"});
  for (int i = 0; i < 1000; ++i) wide.fields.push_back({"field_" + std::to_string(i), 1.0});
  wide.tags.push_back({"status", "ok"});
  CheckPoint(Category::kLogging, wide, kDefaults);  // warms the per-thread scratch buffer

  g_allocs = 0;
  g_count_allocs = true;
  CheckOutcome a = CheckPoint(Category::kLogging, small, kDefaults);  // status missing: repairs
  g_count_allocs = false;
  EXPECT_GT(g_allocs.load(), 0);  // the counter works
  EXPECT_FALSE(a.warnings.empty());

  small = MakePoint("cpu", {{"host", "a"}}, {{"usage", 1.5}});
  g_allocs = 0;
  g_count_allocs = true;
  CheckOutcome b = CheckPoint(Category::kMetric, small, kDefaults);
  CheckOutcome c = CheckPoint(Category::kLogging, wide, kDefaults);
  g_count_allocs = false;
  EXPECT_EQ(g_allocs.load(), 0);
  EXPECT_TRUE(b.warnings.empty());
  EXPECT_TRUE(c.warnings.empty());
}

// ---------------------------------------------------------------------------------------------
// Measurement

TEST(CheckPointTest, EmptyMeasurementBecomesDefault) {
  Point p = MakePoint("", {}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_FALSE(out.refused);
  EXPECT_EQ(p.measurement, "__default");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kEmptyMeasurement});
}

TEST(CheckPointTest, LongMeasurementIsTruncatedOnACharacterBoundary) {
  CheckLimits l;
  l.max_measurement_len = 4;
  Point p = MakePoint("中文👍", {}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  EXPECT_EQ(p.measurement, "中");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kMeasurementTooLong});

  Point q = MakePoint("abcdef", {}, {{"f", 1.0}});
  CheckPoint(Category::kMetric, q, l);
  EXPECT_EQ(q.measurement, "abcd");
}

TEST(CheckPointTest, EmptyMeasurementDefaultIsItselfLimited) {
  CheckLimits l;
  l.max_measurement_len = 3;
  Point p = MakePoint("", {}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  EXPECT_EQ(p.measurement, "__d");  // as cliutils' "empty-measurement-trim" case
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kEmptyMeasurement,
                                                    CheckReason::kMeasurementTooLong}));
}

// ---------------------------------------------------------------------------------------------
// Counts

TEST(CheckPointTest, ExtraTagsAreDroppedKeepingTheFirst) {
  CheckLimits l;
  l.max_tags = 2;
  Point p = MakePoint("m", {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  ASSERT_EQ(p.tags.size(), 2u);
  EXPECT_EQ(p.tags[0].key, "a");
  EXPECT_EQ(p.tags[1].key, "b");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTooManyTags});
  EXPECT_NE(out.warnings[0].message.find("4 tags"), std::string::npos);
}

TEST(CheckPointTest, ExtraFieldsAreDroppedKeepingTheFirst) {
  CheckLimits l;
  l.max_fields = 1;
  Point p = MakePoint("m", {}, {{"x", 1.0}, {"y", 2.0}, {"z", 3.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0].key, "x");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTooManyFields});
}

TEST(CheckPointTest, CountsAreTrimmedBeforeKeyChecks) {
  // The dropped third field would have been renamed; it is gone first, so no dot warning.
  CheckLimits l;
  l.max_fields = 2;
  Point p = MakePoint("m", {{"status", "ok"}}, {{"x", 1.0}, {"y", 2.0}, {"a.b", 3.0}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, l);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTooManyFields});
  EXPECT_EQ(p.fields.size(), 2u);
}

TEST(CheckPointTest, ZeroLimitsMeanNoLimit) {
  CheckLimits l;
  l.max_tags = l.max_fields = l.max_tag_key_len = l.max_field_key_len = 0;
  l.max_tag_value_len = l.max_field_value_len = l.max_measurement_len = 0;
  Point p;
  p.measurement = std::string(5000, 'm');
  for (int i = 0; i < 300; ++i) p.tags.push_back({std::string(300, 'k') + std::to_string(i), "v"});
  for (int i = 0; i < 1100; ++i) p.fields.push_back({"f" + std::to_string(i), 1.0});
  p.fields.push_back({"long", std::string(5000, 's')});
  p.tags.push_back({"t", std::string(5000, 'v')});
  const Point before = p;
  CheckOutcome out = CheckPoint(Category::kLogging, p, l);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kRequiredKeyAdded});
  p.fields.pop_back();
  EXPECT_EQ(p, before);
}

// ---------------------------------------------------------------------------------------------
// Repeated keys

TEST(CheckPointTest, RepeatedTagKeyKeepsFirstPositionAndLastValue) {
  Point p = MakePoint("m", {{"a", "1"}, {"b", "2"}, {"a", "3"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.tags.size(), 2u);
  EXPECT_EQ(p.tags[0], (Tag{"a", "3"}));
  EXPECT_EQ(p.tags[1], (Tag{"b", "2"}));
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kDuplicateKey});
  EXPECT_NE(out.warnings[0].message.find("'a'"), std::string::npos);
}

TEST(CheckPointTest, RepeatedFieldKeyKeepsFirstPositionAndLastValue) {
  Point p = MakePoint("m", {}, {{"a", 1.0}, {"b", 2.0}, {"a", 3.0}, {"a", 4.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[0], (Field{"a", 4.0}));
  EXPECT_EQ(p.fields[1], (Field{"b", 2.0}));
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kDuplicateKey, CheckReason::kDuplicateKey}));
}

TEST(CheckPointTest, KeyUsedAsTagAndFieldDropsTheField) {
  Point p = MakePoint("m", {{"host", "a"}}, {{"host", 1.0}, {"f", 2.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_FALSE(out.refused);
  ASSERT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.tags[0], (Tag{"host", "a"}));
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0].key, "f");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTagFieldConflict});
  EXPECT_NE(out.warnings[0].message.find("'host'"), std::string::npos);
}

TEST(CheckPointTest, TagFieldConflictFoundAmongManyKeys) {
  Point p;
  p.measurement = "m";
  for (int i = 0; i < 100; ++i) p.tags.push_back({"t" + std::to_string(i), "v"});
  for (int i = 0; i < 500; ++i) p.fields.push_back({"f" + std::to_string(i), 1.0});
  p.fields.push_back({"t0", 2.0});  // far from its tag twin
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTagFieldConflict});
  EXPECT_EQ(p.fields.size(), 500u);
  EXPECT_EQ(FindField(p, "t0"), nullptr);
}

TEST(CheckPointTest, RepeatedKeyFoundAmongManyKeys) {
  Point p;
  p.measurement = "m";
  for (int i = 0; i < 1000; ++i) p.fields.push_back({"f" + std::to_string(i), double(i)});
  p.fields.push_back({"f3", -1.0});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kDuplicateKey});
  ASSERT_EQ(p.fields.size(), 1000u);
  EXPECT_EQ(p.fields[3], (Field{"f3", -1.0}));
}

// ---------------------------------------------------------------------------------------------
// Tag keys

TEST(CheckPointTest, LongTagKeyIsTruncated) {
  CheckLimits l;
  l.max_tag_key_len = 3;
  Point p = MakePoint("m", {{"abcdef", "v"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  ASSERT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.tags[0], (Tag{"abc", "v"}));
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTagKeyTooLong});
  EXPECT_NE(out.warnings[0].message.find("'abcdef'"), std::string::npos);
}

TEST(CheckPointTest, LongTagKeyTruncationIsUtf8Safe) {
  CheckLimits l;
  l.max_tag_key_len = 5;
  Point p = MakePoint("m", {{"主机名", "v"}}, {{"f", 1.0}});
  CheckPoint(Category::kMetric, p, l);
  EXPECT_EQ(p.tags[0].key, "主");
}

TEST(CheckPointTest, TruncatedTagKeyThatCollidesIsDropped) {
  CheckLimits l;
  l.max_tag_key_len = 2;
  Point p = MakePoint("m", {{"f111", "x"}}, {{"f1", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  EXPECT_TRUE(p.tags.empty());
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], (Field{"f1", 1.0}));
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kTagKeyTooLong,
                                                    CheckReason::kKeyConflictAfterRename}));
  EXPECT_NE(out.warnings[1].message.find("'f1'"), std::string::npos);
}

TEST(CheckPointTest, NewlineInTagKeyBecomesSpace) {
  Point p = MakePoint("m", {{"a\nb", "v"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(p.tags[0].key, "a b");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kNewlineInKey});
  EXPECT_NE(out.warnings[0].message.find("'a\\nb'"), std::string::npos) << out.warnings[0].message;
}

TEST(CheckPointTest, TrailingBackslashesOnTagKeyAreRemoved) {
  Point p = MakePoint("m", {{"ab\\\\", "v"}, {"c\\d", "w"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(p.tags[0].key, "ab");
  EXPECT_EQ(p.tags[1].key, "c\\d");  // only trailing ones
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTrailingBackslash});
}

TEST(CheckPointTest, TagKeyWithNewlineAndTrailingBackslashIsRenamedOnce) {
  Point p = MakePoint("m", {{"a\nb\\", "v"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(p.tags[0].key, "a b");
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kTrailingBackslash,
                                                    CheckReason::kNewlineInKey}));
}

TEST(CheckPointTest, AdjustedTagKeyThatCollidesIsDropped) {
  Point p = MakePoint("m", {{"a b", "1"}, {"a\nb", "2"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.tags[0], (Tag{"a b", "1"}));
  EXPECT_TRUE(HasReason(out, CheckReason::kKeyConflictAfterRename));
}

TEST(CheckPointTest, DotInTagKeyIsReplacedExceptForMetrics) {
  for (Category c : kAllCategories) {
    Point p = MakePoint("m", {{"a.b.c", "v"}, {"status", "s"}, {"name", "n"}}, {{"f", 1.0}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    if (c == Category::kMetric) {
      EXPECT_EQ(p.tags[0].key, "a.b.c");
      EXPECT_TRUE(out.warnings.empty());
    } else {
      EXPECT_EQ(p.tags[0].key, "a_b_c") << CategoryName(c);
      EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kDotInKey}) << CategoryName(c);
      EXPECT_NE(out.warnings[0].message.find("tag key 'a.b.c' has '.', replaced with '_'"),
                std::string::npos)
          << out.warnings[0].message;
    }
  }
}

TEST(CheckPointTest, DottedTagKeyCollidingWithFieldIsDropped) {
  Point p = MakePoint("m", {{"f.1", "some string"}, {"status", "s"}}, {{"f_1", 1.23}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  ASSERT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.tags[0].key, "status");
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], (Field{"f_1", 1.23}));
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kDotInKey,
                                                    CheckReason::kKeyConflictAfterRename}));
}

TEST(CheckPointTest, EmptyTagKeyIsDropped) {
  Point p = MakePoint("m", {{"", "v"}, {"k", "w"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.tags[0].key, "k");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kEmptyKey});
}

TEST(CheckPointTest, TagKeyOfOnlyBackslashesEndsEmptyAndIsDropped) {
  Point p = MakePoint("m", {{"\\\\", "v"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_TRUE(p.tags.empty());
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kTrailingBackslash, CheckReason::kEmptyKey}));
}

// ---------------------------------------------------------------------------------------------
// Tag values

TEST(CheckPointTest, NewlineInTagValueBecomesSpace) {
  Point p = MakePoint("m", {{"k", "a\nb\n"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(p.tags[0].value, "a b ");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kNewlineInTagValue});
  EXPECT_NE(out.warnings[0].message.find("'k'"), std::string::npos);
}

TEST(CheckPointTest, TrailingBackslashOnTagValueIsRemoved) {
  Point p = MakePoint("m", {{"k", "C:\\dir\\"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(p.tags[0].value, "C:\\dir");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTrailingBackslash});
}

TEST(CheckPointTest, LongTagValueIsTruncatedUtf8Safe) {
  CheckLimits l;
  l.max_tag_value_len = 7;
  Point p = MakePoint("m", {{"k", "ab中文字"}, {"j", "abcdefghij"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  EXPECT_EQ(p.tags[0].value, "ab中");  // 2 + 3 bytes; the next character would end at 8
  EXPECT_EQ(p.tags[1].value, "abcdefg");
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kTagValueTooLong,
                                                    CheckReason::kTagValueTooLong}));
}

// Found by fuzz_point_checks: a cut that ended on '\\' left the trailing backslash the rule
// removes, so a second pass changed the point again.
TEST(CheckPointTest, ATruncatedTagValueDoesNotEndWithABackslash) {
  CheckLimits l;
  l.max_tag_value_len = 4;
  Point p = MakePoint("m", {{"k", "ab\\\\cdef"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  EXPECT_EQ(p.tags[0].value, "ab");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTagValueTooLong});
  EXPECT_TRUE(CheckPoint(Category::kMetric, p, l).warnings.empty());
}

TEST(CheckPointTest, EmptyTagValueIsKept) {
  Point p = MakePoint("m", {{"k", ""}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_TRUE(out.warnings.empty());
  EXPECT_EQ(p.tags[0].value, "");
}

// ---------------------------------------------------------------------------------------------
// Field keys

TEST(CheckPointTest, LongFieldKeyIsTruncated) {
  CheckLimits l;
  l.max_field_key_len = 1;
  Point p = MakePoint("m", {}, {{"a1", 1.0}, {"b", 2.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, l);
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[0], (Field{"a", 1.0}));
  EXPECT_EQ(p.fields[1], (Field{"b", 2.0}));
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kFieldKeyTooLong});
}

TEST(CheckPointTest, RenamedFieldKeyThatCollidesIsDropped) {
  // cliutils' "conflict on updated-key": f.1 -> f_1, then f_111 -> f_1 collides.
  CheckLimits l;
  l.max_field_key_len = 3;
  Point p = MakePoint("m", {}, {{"f.1", 1.23}, {"f_111", std::string("some string")}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, l);
  EXPECT_EQ(FindField(p, "f_111"), nullptr);
  ASSERT_NE(FindField(p, "f_1"), nullptr);
  EXPECT_EQ(FindField(p, "f_1")->value, FieldValue(1.23));
  EXPECT_TRUE(HasReason(out, CheckReason::kKeyConflictAfterRename));
  EXPECT_TRUE(HasReason(out, CheckReason::kRequiredKeyAdded));
}

TEST(CheckPointTest, DotInFieldKeyIsReplacedExceptForMetrics) {
  for (Category c : kAllCategories) {
    Point p = MakePoint("m", {{"status", "s"}, {"name", "n"}}, {{"a.b", int64_t{1}}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    if (c == Category::kMetric) {
      EXPECT_EQ(p.fields[0].key, "a.b");
      EXPECT_TRUE(out.warnings.empty());
    } else {
      EXPECT_EQ(p.fields[0].key, "a_b") << CategoryName(c);
      EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kDotInKey});
      EXPECT_NE(out.warnings[0].message.find("field key 'a.b'"), std::string::npos);
    }
  }
}

TEST(CheckPointTest, DottedFieldKeyCollidingWithExistingKeyIsDropped) {
  // cliutils' "adjusted-key-conflict": field.1 -> field_1 exists; the renamed one goes.
  Point p = MakePoint("m", {{"status", "s"}}, {{"field.1", 1.0}, {"field_1", 2.0}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], (Field{"field_1", 2.0}));
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kDotInKey,
                                                    CheckReason::kKeyConflictAfterRename}));
}

TEST(CheckPointTest, LaterKeyCollidingWithAnEarlierRenameIsDropped) {
  // a.b is renamed to a_b first; then "a_b\\" adjusts to a_b, which is taken.
  Point p = MakePoint("m", {{"status", "s"}}, {{"a.b", 1.0}, {"a_b\\", 2.0}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], (Field{"a_b", 1.0}));
  EXPECT_TRUE(HasReason(out, CheckReason::kKeyConflictAfterRename));
}

TEST(CheckPointTest, NewlineAndBackslashInFieldKey) {
  Point p = MakePoint("m", {}, {{"a\nb", 1.0}, {"c\\", 2.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_EQ(p.fields[0].key, "a b");
  EXPECT_EQ(p.fields[1].key, "c");
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kNewlineInKey,
                                                    CheckReason::kTrailingBackslash}));
}

TEST(CheckPointTest, EmptyFieldKeyIsDropped) {
  Point p = MakePoint("m", {}, {{"", 1.0}, {"g", 2.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0].key, "g");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kEmptyKey});
}

// ---------------------------------------------------------------------------------------------
// Disabled keys

TEST(CheckPointTest, LoggingDisablesSourceAndDate) {
  Point p = MakePoint(
      "nginx", {{"source", "x"}, {"host", "h"}},
      {{"date", int64_t{1}}, {"message", std::string("m")}, {"status", std::string("ok")}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_EQ(FindTag(p, "source"), nullptr);
  EXPECT_EQ(FindField(p, "date"), nullptr);
  EXPECT_NE(FindTag(p, "host"), nullptr);
  EXPECT_NE(FindField(p, "message"), nullptr);
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kDisabledKey, CheckReason::kDisabledKey}));
  EXPECT_NE(out.warnings[0].message.find("'source'"), std::string::npos);
  EXPECT_NE(out.warnings[0].message.find("logging"), std::string::npos);
}

TEST(CheckPointTest, ObjectsDisableClassAndDate) {
  for (Category c : {Category::kObject, Category::kCustomObject}) {
    Point p = MakePoint("host", {{"class", "x"}, {"name", "n"}}, {{"date", 1.0}, {"cpu", 2.0}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    EXPECT_EQ(FindTag(p, "class"), nullptr);
    EXPECT_EQ(FindField(p, "date"), nullptr);
    EXPECT_EQ(Reasons(out),
              (std::vector<CheckReason>{CheckReason::kDisabledKey, CheckReason::kDisabledKey}));
  }
}

TEST(CheckPointTest, OtherCategoriesKeepSourceClassAndDate) {
  for (Category c : {Category::kMetric, Category::kKeyEvent, Category::kRum, Category::kNetwork,
                     Category::kSecurity}) {
    Point p = MakePoint("m", {{"source", "s"}, {"class", "c"}}, {{"date", 1.0}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    EXPECT_TRUE(out.warnings.empty()) << CategoryName(c);
    EXPECT_EQ(p.tags.size(), 2u);
    EXPECT_EQ(p.fields.size(), 1u);
  }
}

TEST(CheckPointTest, KeyRenamedIntoADisabledKeyIsDropped) {
  Point p = MakePoint("m", {{"source\\", "s"}}, {{"message", std::string("m")}, {"status", 1.0}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_TRUE(p.tags.empty());
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kTrailingBackslash, CheckReason::kDisabledKey}));
}

// ---------------------------------------------------------------------------------------------
// Field values

CheckLimits DataKitMetricLimits() {
  CheckLimits l;
  l.strings_in_metrics = false;
  return l;
}

TEST(CheckPointTest, MetricKeepsStringsByDefault) {
  Point p = MakePoint("m", {}, {{"a", int64_t{1}}, {"b", std::string("abc")}, {"c", Bytes{"z"}}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_TRUE(out.warnings.empty());
  EXPECT_EQ(p.fields.size(), 3u);
}

TEST(CheckPointTest, MetricDropsStringAndBytesFieldsButKeepsArraysAsDataKit) {
  Point p = MakePoint("m", {},
                      {{"a", int64_t{123456}},
                       {"b", std::string("abc123")},
                       {"c", Bytes{"\x01\x02"}},
                       {"d", Array{{std::string("x"), std::string("y")}}}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, DataKitMetricLimits());
  EXPECT_FALSE(out.refused);
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[0].key, "a");
  EXPECT_EQ(p.fields[1].key, "d");
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kStringFieldInMetric,
                                                    CheckReason::kStringFieldInMetric}));
  EXPECT_NE(out.warnings[0].message.find("'b'"), std::string::npos);
}

TEST(CheckPointTest, StringFieldsAreKeptOutsideMetrics) {
  for (Category c : kAllCategories) {
    if (c == Category::kMetric) continue;
    Point p = MakePoint("m", {{"status", "s"}, {"name", "n"}},
                        {{"s", std::string("line1\nline2\\")}, {"b", Bytes{"zz"}}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    EXPECT_TRUE(out.warnings.empty()) << CategoryName(c);
    EXPECT_EQ(std::get<std::string>(p.fields[0].value), "line1\nline2\\");
  }
}

TEST(CheckPointTest, MetricWithOnlyStringFieldsIsRefused) {
  Point p = MakePoint("m", {{"t", "v"}}, {{"s", std::string("x")}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, DataKitMetricLimits());
  EXPECT_TRUE(out.refused);
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kStringFieldInMetric, CheckReason::kNoFields}));
}

TEST(CheckPointTest, LongStringFieldIsTruncatedUtf8Safe) {
  CheckLimits l;
  l.max_field_value_len = 4;
  Point p = MakePoint("m", {{"status", "s"}},
                      {{"s", std::string("a中文")}, {"t", std::string("123456")}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, l);
  EXPECT_EQ(std::get<std::string>(p.fields[0].value), "a中");
  EXPECT_EQ(std::get<std::string>(p.fields[1].value), "1234");
  EXPECT_EQ(Reasons(out), (std::vector<CheckReason>{CheckReason::kFieldValueTooLong,
                                                    CheckReason::kFieldValueTooLong}));
}

TEST(CheckPointTest, LongBytesFieldIsCutAtTheByte) {
  CheckLimits l;
  l.max_field_value_len = 2;
  Point p = MakePoint("m", {{"status", "s"}}, {{"b", Bytes{"\xE4\xB8\xAD"}}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, l);
  EXPECT_EQ(std::get<Bytes>(p.fields[0].value).data, "\xE4\xB8");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kFieldValueTooLong});
}

TEST(CheckPointTest, DefaultFieldValueLimitIs32MiB) {
  Point p =
      MakePoint("m", {{"status", "s"}},
                {{"s", std::string(32 * 1024 * 1024 + 10, 'x')}, {"ok", std::string(10, 'y')}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_EQ(std::get<std::string>(p.fields[0].value).size(), 32u * 1024 * 1024);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kFieldValueTooLong});
}

TEST(CheckPointTest, InfinitiesBecomeDataKitsStandIns) {
  const double inf = std::numeric_limits<double>::infinity();
  Point p = MakePoint("m", {}, {{"p", inf}, {"n", -inf}, {"ok", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_FALSE(out.refused);
  ASSERT_EQ(p.fields.size(), 3u);
  EXPECT_EQ(std::get<double>(p.fields[0].value), 18446744073709551615.0);
  EXPECT_EQ(std::get<double>(p.fields[1].value), -9223372036854775808.0);
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kInfFloat, CheckReason::kInfFloat}));
  EXPECT_NE(out.warnings[0].message.find("'p'"), std::string::npos);
}

TEST(CheckPointTest, NanFieldIsDropped) {
  Point p = MakePoint("m", {}, {{"nan", std::nan("")}, {"ok", 1.0}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0].key, "ok");
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kNanFloat});
}

TEST(CheckPointTest, OnlyNanFieldRefusesThePoint) {
  Point p = MakePoint("m", {}, {{"nan", std::nan("")}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_TRUE(out.refused);
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kNanFloat, CheckReason::kNoFields}));
}

TEST(CheckPointTest, ArrayWithNanIsDroppedAndInfIsConverted) {
  const double inf = std::numeric_limits<double>::infinity();
  Point p = MakePoint("m", {},
                      {{"bad", Array{{1.0, std::nan("")}}},
                       {"inf", Array{{inf, 2.0, -inf}}},
                       {"ints", Array{{int64_t{1}, int64_t{2}}}}});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[0].key, "inf");
  EXPECT_EQ(p.fields[0].value, FieldValue(Array{{kPosInfReplacement, 2.0, kNegInfReplacement}}));
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kNanFloat, CheckReason::kInfFloat}));
}

TEST(CheckPointTest, IntegersBoolsAndLargeUintsAreKept) {
  Point p = MakePoint("m", {},
                      {{"i", std::numeric_limits<int64_t>::min()},
                       {"u", std::numeric_limits<uint64_t>::max()},
                       {"b", false}});
  const Point before = p;
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_TRUE(out.warnings.empty());
  EXPECT_EQ(p, before);
}

// ---------------------------------------------------------------------------------------------
// Required keys

TEST(CheckPointTest, LoggingWithoutStatusGetsStatusUnknownField) {
  Point p = MakePoint("nginx", {{"host", "h"}}, {{"message", std::string("hi")}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_FALSE(out.refused);
  ASSERT_EQ(p.fields.size(), 2u);
  EXPECT_EQ(p.fields[1], (Field{"status", std::string("unknown")}));
  EXPECT_EQ(FindTag(p, "status"), nullptr);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kRequiredKeyAdded});
  EXPECT_NE(out.warnings[0].message.find("'status'"), std::string::npos);
}

TEST(CheckPointTest, LoggingStatusAsTagOrFieldSatisfiesTheRequirement) {
  Point tag = MakePoint("l", {{"status", "error"}}, {{"message", std::string("x")}});
  EXPECT_TRUE(CheckPoint(Category::kLogging, tag, kDefaults).warnings.empty());
  Point field = MakePoint("l", {}, {{"status", std::string("warn")}});
  EXPECT_TRUE(CheckPoint(Category::kLogging, field, kDefaults).warnings.empty());
  Point number = MakePoint("l", {}, {{"status", int64_t{3}}});  // any type counts
  EXPECT_TRUE(CheckPoint(Category::kLogging, number, kDefaults).warnings.empty());
}

TEST(CheckPointTest, ObjectsWithoutNameGetNameDefault) {
  for (Category c : {Category::kObject, Category::kCustomObject}) {
    Point p = MakePoint("host", {{"os", "linux"}}, {{"cpu", 4.0}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    ASSERT_EQ(p.fields.size(), 2u) << CategoryName(c);
    EXPECT_EQ(p.fields[1], (Field{"name", std::string("default")}));
    EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kRequiredKeyAdded});
  }
}

TEST(CheckPointTest, OtherCategoriesRequireNothing) {
  for (Category c : {Category::kMetric, Category::kKeyEvent, Category::kRum, Category::kNetwork,
                     Category::kSecurity}) {
    Point p = MakePoint("m", {}, {{"f", 1.0}});
    CheckOutcome out = CheckPoint(c, p, kDefaults);
    EXPECT_TRUE(out.warnings.empty()) << CategoryName(c);
    EXPECT_EQ(p.fields.size(), 1u);
  }
}

TEST(CheckPointTest, RequiredKeyIsCheckedAfterRepairs) {
  // The "status" field goes (the tag has the key); the surviving tag satisfies the rule.
  Point p = MakePoint("l", {{"status", "ok"}}, {{"status", 1.0}, {"message", std::string("m")}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kTagFieldConflict});
  EXPECT_EQ(FindTag(p, "status")->value, "ok");
  EXPECT_EQ(FindField(p, "status"), nullptr);
}

TEST(CheckPointTest, LoggingLeftWithoutFieldsIsKeptWithStatus) {
  // As in DataKit: keyMiss runs after the checks, so the required field keeps the point.
  Point p = MakePoint("l", {{"host", "h"}}, {{"source", std::string("x")}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_FALSE(out.refused);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], (Field{"status", std::string("unknown")}));
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kDisabledKey, CheckReason::kRequiredKeyAdded}));
}

TEST(CheckPointTest, LoggingWithStatusTagAndNoFieldsIsRefused) {
  Point p = MakePoint("l", {{"status", "info"}}, {{"date", 1.0}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  EXPECT_TRUE(out.refused);
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kDisabledKey, CheckReason::kNoFields}));
}

// ---------------------------------------------------------------------------------------------
// Refusal and messages

TEST(CheckPointTest, PointWithoutFieldsIsRefused) {
  Point p = MakePoint("m", {{"t", "v"}}, {});
  CheckOutcome out = CheckPoint(Category::kMetric, p, kDefaults);
  EXPECT_TRUE(out.refused);
  EXPECT_EQ(Reasons(out), std::vector<CheckReason>{CheckReason::kNoFields});
}

TEST(CheckPointTest, MessagesAbbreviateLongKeysAndEscapeControlBytes) {
  Point p = MakePoint("m", {{std::string(10000, 'k') + ".x", "v"}, {"status", "s"}}, {{"f", 1.0}});
  CheckOutcome out = CheckPoint(Category::kLogging, p, kDefaults);
  ASSERT_FALSE(out.warnings.empty());
  for (const auto& w : out.warnings) EXPECT_LT(w.message.size(), 300u) << w.message;
  EXPECT_NE(MessageFor(out, CheckReason::kTagKeyTooLong).find("..."), std::string::npos);

  Point q = MakePoint("m", {{"a\x01\tb\\", "v"}}, {{"f", 1.0}});
  CheckOutcome o2 = CheckPoint(Category::kMetric, q, kDefaults);
  EXPECT_NE(MessageFor(o2, CheckReason::kTrailingBackslash).find("'a\\x01\\tb\\'"),
            std::string::npos)
      << MessageFor(o2, CheckReason::kTrailingBackslash);
}

TEST(CheckPointTest, ManyRepairsInOnePointKeepOrderAndTime) {
  CheckLimits l;
  l.max_tag_value_len = 3;
  Point p = MakePoint("", {{"a.b", "v\n1234"}, {"k", "ok"}},
                      {{"x.y", std::string("s")}, {"n", std::nan("")}, {"z", 2.0}});
  p.time_ns = 987;
  CheckOutcome out = CheckPoint(Category::kLogging, p, l);
  EXPECT_FALSE(out.refused);
  EXPECT_EQ(p.measurement, "__default");
  ASSERT_EQ(p.tags.size(), 2u);
  EXPECT_EQ(p.tags[0], (Tag{"a_b", "v 1"}));
  EXPECT_EQ(p.tags[1], (Tag{"k", "ok"}));
  ASSERT_EQ(p.fields.size(), 3u);
  EXPECT_EQ(p.fields[0], (Field{"x_y", std::string("s")}));
  EXPECT_EQ(p.fields[1], (Field{"z", 2.0}));
  EXPECT_EQ(p.fields[2], (Field{"status", std::string("unknown")}));
  EXPECT_EQ(p.time_ns, 987);
  EXPECT_EQ(Reasons(out),
            (std::vector<CheckReason>{CheckReason::kEmptyMeasurement, CheckReason::kDotInKey,
                                      CheckReason::kNewlineInTagValue,
                                      CheckReason::kTagValueTooLong, CheckReason::kDotInKey,
                                      CheckReason::kNanFloat, CheckReason::kRequiredKeyAdded}));
}

TEST(CheckPointTest, RepairedPointPassesASecondCheckClean) {
  CheckLimits l;
  l.max_tags = 3;
  l.max_tag_key_len = 4;
  l.max_tag_value_len = 4;
  l.max_field_key_len = 6;    // the required keys "status" and "name" fit
  l.max_field_value_len = 7;  // and so do their values "unknown" and "default"
  l.max_measurement_len = 4;
  const double inf = std::numeric_limits<double>::infinity();
  for (Category c : kAllCategories) {
    Point p =
        MakePoint("measurement",
                  {{"a.b.c.d.e", "中文字"}, {"x\n", "y\\"}, {"", "e"}, {"t4", "v"}, {"t5", "v"}},
                  {{"f.g", std::string("long string")},
                   {"i", inf},
                   {"j", std::nan("")},
                   {"k", Bytes{"bytes!"}},
                   {"a.b.", 1.0},
                   {"date", 1.0}});
    CheckOutcome first = CheckPoint(c, p, l);
    EXPECT_FALSE(first.warnings.empty());
    if (first.refused) continue;
    const Point repaired = p;
    CheckOutcome second = CheckPoint(c, p, l);
    EXPECT_TRUE(second.warnings.empty()) << CategoryName(c) << ": " << second.warnings[0].message;
    EXPECT_EQ(p, repaired);
  }
}

}  // namespace
}  // namespace pythond::model
