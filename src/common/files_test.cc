#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "temp_dir.h"

namespace pythond {
namespace {

TEST(WriteFileDurableTest, WritesOwnerOnlyAndLeavesNoTemporaryFile) {
  testing::TempDir dir;
  const auto path = dir.path() / "f.lp";
  ASSERT_TRUE(WriteFileDurable(path, "a v=1\n").ok());
  ASSERT_TRUE(WriteFileDurable(path, "b v=2\n").ok());  // replaces
  EXPECT_EQ(*ReadFile(path), "b v=2\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "f.lp.tmp"));
}

TEST(WriteFileDurableTest, AMissingFolderIsAnErrorThatNamesTheFile) {
  testing::TempDir dir;
  Status s = WriteFileDurable(dir.path() / "no" / "f.lp", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("f.lp.tmp"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace pythond
