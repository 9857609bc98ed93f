#include "runner/output_lines.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pythond::runner {
namespace {

struct Collected {
  std::vector<std::string> lines;
  std::vector<size_t> cut;
};

TEST(LineSplitterTest, SplitsAcrossChunksAndStripsCr) {
  Collected c;
  LineSplitter s(100, [&](std::string_view l, size_t t) {
    c.lines.emplace_back(l);
    c.cut.push_back(t);
  });
  s.Feed("hel");
  s.Feed("lo\r\nwor");
  s.Feed("ld\n\npartial");
  EXPECT_THAT(c.lines, ::testing::ElementsAre("hello", "world", ""));
  s.Finish();
  EXPECT_THAT(c.lines, ::testing::ElementsAre("hello", "world", "", "partial"));
}

TEST(LineSplitterTest, LongLinesAreCutAndCounted) {
  Collected c;
  LineSplitter s(4, [&](std::string_view l, size_t t) {
    c.lines.emplace_back(l);
    c.cut.push_back(t);
  });
  s.Feed("abcdefgh");
  s.Feed("ij\nxy\n");
  EXPECT_THAT(c.lines, ::testing::ElementsAre("abcd", "xy"));
  EXPECT_THAT(c.cut, ::testing::ElementsAre(6u, 0u));
}

}  // namespace
}  // namespace pythond::runner
