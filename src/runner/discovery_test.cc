#include "runner/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "temp_dir.h"

namespace pythond::runner {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Names(const DiscoveryResult& r) {
  std::vector<std::string> out;
  for (const auto& m : r.modules) out.push_back(m.name);
  return out;
}

TEST(DiscoveryTest, FolderAndOneLevelOfSubFolders) {
  testing::TempDir root;
  root.Write("python.d/mytest/test.py", "");
  root.Write("python.d/mytest/__init__.py", "");
  root.Write("python.d/mytest/b.py", "");
  root.Write("python.d/mytest/notes.txt", "");
  root.Write("python.d/mytest/sub/file.py", "");
  root.Write("python.d/mytest/sub/__init__.py", "");
  root.Write("python.d/mytest/sub/deeper/ignored.py", "");
  root.Write("python.d/mytest/__pycache__/x.py", "");
  root.Write("python.d/mytest/.hidden.py", "");
  auto r = DiscoverModules(root.path() / "python.d", {"mytest"});
  EXPECT_TRUE(r.problems.empty());
  EXPECT_THAT(Names(r), ::testing::ElementsAre("b", "sub.file", "test"));
  EXPECT_EQ(r.modules[2].file, root.path() / "python.d/mytest/test.py");
  EXPECT_EQ(r.modules[1].sys_path, root.path() / "python.d/mytest");
}

TEST(DiscoveryTest, SingleFileEntry) {
  testing::TempDir root;
  root.Write("python.d/a/one.py", "");
  root.Write("python.d/a/two.py", "");
  auto r = DiscoverModules(root.path() / "python.d", {"a/two.py"});
  EXPECT_THAT(Names(r), ::testing::ElementsAre("two"));
  EXPECT_EQ(r.modules[0].sys_path, root.path() / "python.d/a");
}

TEST(DiscoveryTest, EscapingEntriesAreRefused) {
  testing::TempDir root;
  root.Write("python.d/a/one.py", "");
  root.Write("outside/evil.py", "");
  auto r = DiscoverModules(root.path() / "python.d", {"../outside", "a/../../outside", "a/./"});
  EXPECT_THAT(Names(r), ::testing::ElementsAre("one"));
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_THAT(r.problems[0], HasSubstr("'../outside' escapes"));
  EXPECT_THAT(r.problems[1], HasSubstr("refused"));
}

TEST(DiscoveryTest, AbsoluteEntriesAndMissingDirs) {
  testing::TempDir root;
  root.Write("elsewhere/x.py", "");
  auto r = DiscoverModules(root.path() / "python.d",
                           {(root.path() / "elsewhere").string(), "missing", ""});
  EXPECT_THAT(Names(r), ::testing::ElementsAre("x"));
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_THAT(r.problems[0], HasSubstr("does not exist"));
  EXPECT_THAT(r.problems[1], HasSubstr("empty"));
}

TEST(FingerprintTest, ChangesWithContentNotWithATouch) {
  testing::TempDir root;
  root.Write("python.d/a/one.py", "x = 1\n");
  root.Write("python.d/a/helpers/util.py", "y = 1\n");
  root.Write("python.d/a/data.json", "{}");
  auto fp = [&] { return FingerprintScripts(DiscoverModules(root.path() / "python.d", {"a"})); };
  uint64_t first = fp();
  EXPECT_EQ(fp(), first);
  // Rewritten with the same bytes (a checkout, an editor's save): the same.
  root.Write("python.d/a/one.py", "x = 1\n");
  EXPECT_EQ(fp(), first);
  // What a module may import or read, at any depth: a change.
  root.Write("python.d/a/helpers/util.py", "y = 2\n");
  uint64_t second = fp();
  EXPECT_NE(second, first);
  root.Write("python.d/a/data.json", "{\"k\": 1}");
  uint64_t third = fp();
  EXPECT_NE(third, second);
  root.Write("python.d/a/two.py", "");
  EXPECT_NE(fp(), third);
  // Python's and editors' droppings: no change.
  uint64_t now = fp();
  root.Write("python.d/a/__pycache__/one.cpython-311.pyc", "bytecode");
  root.Write("python.d/a/.one.py.swp", "swap");
  EXPECT_EQ(fp(), now);
}

TEST(FingerprintTest, SingleFileEntryHashesThatFile) {
  testing::TempDir root;
  root.Write("python.d/a/one.py", "x = 1\n");
  root.Write("python.d/a/other.py", "");
  auto fp = [&] {
    return FingerprintScripts(DiscoverModules(root.path() / "python.d", {"a/one.py"}));
  };
  uint64_t first = fp();
  root.Write("python.d/a/other.py", "changed");
  EXPECT_EQ(fp(), first);
  root.Write("python.d/a/one.py", "x = 2\n");
  EXPECT_NE(fp(), first);
}

TEST(FingerprintTest, AMissingDirThatAppearsIsAChange) {
  testing::TempDir root;
  auto fp = [&] { return FingerprintScripts(DiscoverModules(root.path() / "python.d", {"b"})); };
  uint64_t missing = fp();
  root.Write("python.d/b/x.py", "");
  EXPECT_NE(fp(), missing);
}

TEST(DiscoveryTest, SeveralRootsTheFirstThatHasTheEntryWins) {
  testing::TempDir root;
  root.Write("gitrepos/a/python.d/shared/s.py", "");
  root.Write("gitrepos/b/python.d/shared/s.py", "");
  root.Write("gitrepos/b/python.d/only_b/x.py", "");
  root.Write("python.d/local/l.py", "");
  root.Write("python.d/shared/s.py", "");
  std::vector<config::ScriptRoot> roots = {{root.path() / "gitrepos/a/python.d", "a"},
                                           {root.path() / "gitrepos/b/python.d", "b"},
                                           {root.path() / "python.d", ""}};
  auto r = DiscoverModules(roots, {"shared", "only_b", "local", "nowhere", "../x"});
  ASSERT_EQ(r.modules.size(), 3u);
  EXPECT_EQ(r.modules[0].file, root.path() / "gitrepos/a/python.d/shared/s.py");
  EXPECT_EQ(r.modules[0].repo, "a");
  EXPECT_EQ(r.modules[1].repo, "b");
  EXPECT_EQ(r.modules[2].file, root.path() / "python.d/local/l.py");
  EXPECT_EQ(r.modules[2].repo, "");
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_THAT(r.problems[0], HasSubstr("dirs entry 'nowhere' is in none of: "));
  EXPECT_THAT(r.problems[0], HasSubstr("gitrepos/b/python.d/nowhere"));
  EXPECT_THAT(r.problems[1], HasSubstr("escapes"));
}

}  // namespace
}  // namespace pythond::runner
