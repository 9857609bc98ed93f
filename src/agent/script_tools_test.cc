#include "agent/script_tools.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace pythond::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ResolveTestTargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("pythond-targets-" + std::to_string(getpid()));
    fs::create_directories(root_ / "python.d/mytest");
    fs::create_directories(root_ / "python.d/other");
    std::ofstream(root_ / "python.d/mytest/test.py") << "x = 1\n";
    std::ofstream(root_ / "python.d/other/o.py") << "x = 1\n";
    std::ofstream(root_ / "notes.txt") << "x\n";
    cfg_.root = root_;
    config::InputConfig in;
    in.name = "seed";
    in.cmd = "/opt/venv/bin/python";
    in.dirs = {"mytest"};
    in.envs = {"A=1"};
    cfg_.inputs.push_back(in);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
  config::Config cfg_;
};

TEST_F(ResolveTestTargetsTest, FileInAnInputsDirsTakesItsSettings) {
  auto t = ResolveTestTargets({(root_ / "python.d/mytest/test.py").string()}, root_, &cfg_, "");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].origin, "file");
  EXPECT_EQ((*t)[0].input.name, "seed");
  EXPECT_EQ((*t)[0].input.cmd, "/opt/venv/bin/python");
  EXPECT_THAT((*t)[0].input.envs, ElementsAre("A=1"));
  EXPECT_THAT((*t)[0].input.dirs, ElementsAre((root_ / "python.d/mytest/test.py").string()));
}

TEST_F(ResolveTestTargetsTest, OtherPathsGetDefaultsAndUniqueNames) {
  auto t = ResolveTestTargets(
      {(root_ / "python.d/other").string(), (root_ / "python.d/other/o.py").string(), "seed"},
      root_, &cfg_, "");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].input.name, "other");
  EXPECT_EQ((*t)[0].input.cmd, "python3");
  EXPECT_EQ((*t)[0].origin, "folder");
  EXPECT_EQ((*t)[1].input.name, "o");
  EXPECT_EQ((*t)[2].input.name, "seed");
  EXPECT_EQ((*t)[2].origin, "input");
  EXPECT_THAT((*t)[2].input.dirs, ElementsAre("mytest"));
  // --cmd wins everywhere.
  t = ResolveTestTargets({"seed", "seed"}, root_, &cfg_, "/usr/bin/python3");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)[0].input.cmd, "/usr/bin/python3");
  EXPECT_EQ((*t)[1].input.name, "seed-2");
}

TEST_F(ResolveTestTargetsTest, ErrorsNameThePath) {
  auto t = ResolveTestTargets({"nope"}, root_, &cfg_, "");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("'nope' is neither a script, a folder nor an input"));
  t = ResolveTestTargets({"seed"}, root_, nullptr, "");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("the configuration did not load"));
  t = ResolveTestTargets({(root_ / "notes.txt").string()}, root_, &cfg_, "");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("not a Python script"));
}

TEST(EnvironmentDiffTest, AddedRemovedChanged) {
  EXPECT_THAT(EnvironmentDiff({"A=1", "B=2", "C=x=y"}, {"A=1", "B=3", "D=4", "C=x=y"}),
              ElementsAre("~ B=3   (shell: 2)", "+ D=4"));
  EXPECT_THAT(EnvironmentDiff({"A=1", "GONE=1"}, {"A=1"}), ElementsAre("- GONE"));
  EXPECT_TRUE(EnvironmentDiff({}, {}).empty());
}

}  // namespace
}  // namespace pythond::agent
