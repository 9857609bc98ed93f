#include "common/strings.h"

#include <gtest/gtest.h>

namespace pythond {
namespace {

TEST(SafeNameTest, KeepsValidNamesAsTheyAre) {
  EXPECT_EQ(SafeName("nginx"), "nginx");
  EXPECT_EQ(SafeName("système/contrôle"), "système/contrôle");
  EXPECT_EQ(SafeName(""), "");
}

TEST(SafeNameTest, ReplacesInvalidUtf8AndControlCharacters) {
  EXPECT_EQ(SafeName("a\xFF"
                     "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SafeName("\xC3"), "\xEF\xBF\xBD");                                  // cut sequence
  EXPECT_EQ(SafeName("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SafeName("a\nb\x1b[2J\x7f"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD[2J\xEF\xBF\xBD");
}

TEST(SafeNameTest, CutsWithoutSplittingACharacter) {
  EXPECT_EQ(SafeName(std::string(300, 'x')).size(), 128u);
  EXPECT_EQ(SafeName("abé", 3), "ab");  // é is two bytes
  EXPECT_EQ(SafeName("ab\xFF", 4), "ab");
}

TEST(ValidUtf8Test, KeepsLinesAndCutsWholeCharacters) {
  EXPECT_EQ(ValidUtf8("Traceback\n  line\t1\xFF", 100), "Traceback\n  line\t1\xEF\xBF\xBD");
  EXPECT_EQ(ValidUtf8("abé", 3), "ab");
}

TEST(LogSafeTest, OneLineWithControlsEscapedAndACut) {
  EXPECT_EQ(LogSafe("a\nb\x1b[2Jc\xFF"), "a\\nb\\x1b[2Jc\xEF\xBF\xBD");
  EXPECT_EQ(LogSafe(std::string(600, 'x'), 512), std::string(512, 'x') + "… (88 more bytes)");
}

}  // namespace
}  // namespace pythond
