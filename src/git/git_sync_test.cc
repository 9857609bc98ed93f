#include "git/git_sync.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "temp_dir.h"

namespace pythond::git {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Real repositories made with the git CLI: a bare "remote" and a clone to push from.
class GitSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Git("init -q --bare -b master " + Q(bare()));
    Git("init -q -b master " + Q(work()));
    Git("-C " + Q(work()) + " remote add origin " + Q(bare()));
    repo_.enable = true;
    repo_.url = "file://" + bare().string();
    repo_.branch = "master";
    repo_.name = "conf";
  }
  static std::string Q(const fs::path& p) { return "'" + p.string() + "'"; }
  static void Git(const std::string& args) {
    std::string cmd =
        "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t "
        "GIT_COMMITTER_EMAIL=t@t GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git " +
        args + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  fs::path bare() const { return dir_.path() / "remote/conf.git"; }
  fs::path work() const { return dir_.path() / "work"; }
  fs::path gitrepos() const { return dir_.path() / "root/gitrepos"; }
  std::string Commit(const std::string& rel, const std::string& text, const std::string& msg,
                     const std::string& branch = "master") {
    dir_.Write("work/" + rel, text);
    Git("-C " + Q(work()) + " checkout -q -B " + branch);
    Git("-C " + Q(work()) + " add -A");
    Git("-C " + Q(work()) + " commit -q -m '" + msg + "'");
    Git("-C " + Q(work()) + " push -q -f origin " + branch);
    return CheckoutHead(work()).first;
  }
  std::string Read(const std::string& rel) const {
    std::ifstream f(gitrepos() / "conf" / rel);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  void Sync(const Validator& validate = nullptr) {
    GitSync::SyncOne(gitrepos(), repo_, validate, &status_, &change_, [] { return false; });
  }

  testing::TempDir dir_;
  config::GitRepoConfig repo_;
  RepoStatus status_;
  std::string change_;
};

TEST_F(GitSyncTest, CloneThenNothingThenANewCommit) {
  std::string first = Commit("python.d/a/a.py", "v = 1\n", "first");
  Sync();
  EXPECT_TRUE(status_.last_ok) << status_.last_error;
  EXPECT_EQ(status_.head, first);
  EXPECT_EQ(status_.head_summary, "first");
  EXPECT_THAT(change_, HasSubstr("conf: cloned file://"));
  EXPECT_EQ(Read("python.d/a/a.py"), "v = 1\n");
  Sync();
  EXPECT_TRUE(status_.last_ok);
  EXPECT_EQ(change_, "");  // nothing new
  std::string second = Commit("python.d/a/a.py", "v = 2\n", "second");
  Sync();
  EXPECT_EQ(status_.head, second);
  EXPECT_EQ(change_, "conf: " + first.substr(0, 7) + " → " + second.substr(0, 7) + " (second)");
  EXPECT_EQ(Read("python.d/a/a.py"), "v = 2\n");
  EXPECT_EQ(status_.changes, 2u);
  EXPECT_EQ(status_.pulls, 3u);
}

TEST_F(GitSyncTest, ARejectedCommitLeavesTheCheckoutAndIsNotRetriedUntilTheBranchMoves) {
  std::string good = Commit("conf.d/x.conf", "good\n", "good");
  Sync();
  ASSERT_EQ(status_.head, good);
  std::string bad = Commit("conf.d/x.conf", "bad\n", "bad");
  int validations = 0;
  Validator validate = [&](const std::string& repo, const fs::path& staged) -> std::string {
    ++validations;
    EXPECT_EQ(repo, "conf");
    std::ifstream f(staged / "conf.d/x.conf");
    std::string text(std::istreambuf_iterator<char>(f), {});
    return text == "bad\n" ? staged.string() + "/conf.d/x.conf:1: no good" : "";
  };
  Sync(validate);
  EXPECT_FALSE(status_.last_ok);
  EXPECT_EQ(status_.head, good);
  EXPECT_EQ(status_.rejected_commit, bad);
  EXPECT_THAT(status_.last_error, HasSubstr("commit " + bad.substr(0, 7) +
                                            " (bad) rejected; "
                                            "keeping " +
                                            good.substr(0, 7)));
  // The staging folder's path is shown as the repository's.
  EXPECT_THAT(status_.last_error, HasSubstr((gitrepos() / "conf/conf.d/x.conf:1").string()));
  EXPECT_EQ(Read("conf.d/x.conf"), "good\n");
  Sync(validate);
  EXPECT_EQ(validations, 1);  // the same commit is not validated again
  EXPECT_EQ(status_.failures, 2u);
  std::string fixed = Commit("conf.d/x.conf", "fixed\n", "fixed");
  Sync(validate);
  EXPECT_TRUE(status_.last_ok);
  EXPECT_EQ(status_.head, fixed);
  EXPECT_EQ(status_.rejected_commit, "");
  EXPECT_EQ(Read("conf.d/x.conf"), "fixed\n");
}

TEST_F(GitSyncTest, LocalEditsAreDiscarded) {
  Commit("python.d/a/a.py", "v = 1\n", "first");
  Sync();
  dir_.Write("root/gitrepos/conf/python.d/a/a.py", "edited\n");
  dir_.Write("root/gitrepos/conf/python.d/a/new.py", "new\n");
  Sync();
  EXPECT_TRUE(status_.last_ok);
  EXPECT_THAT(change_, HasSubstr("local edits discarded"));
  EXPECT_EQ(Read("python.d/a/a.py"), "v = 1\n");
  EXPECT_FALSE(fs::exists(gitrepos() / "conf/python.d/a/new.py"));
}

TEST_F(GitSyncTest, UnknownBranchBadLayoutAndMaskedCredentials) {
  Commit("README", "hi\n", "readme");
  Sync();
  EXPECT_FALSE(status_.last_ok);
  EXPECT_THAT(status_.last_error, HasSubstr("neither conf.d/ nor python.d/"));
  EXPECT_FALSE(fs::exists(gitrepos() / "conf"));
  repo_.branch = "nope";
  Sync();
  EXPECT_THAT(status_.last_error, HasSubstr("branch 'nope' not found on the remote"));
  repo_.branch = "master";
  repo_.url = "http://user:pw-123@127.0.0.1:1/conf.git";
  Sync();
  EXPECT_FALSE(status_.last_ok);
  EXPECT_THAT(status_.last_error, HasSubstr("http://user:***@127.0.0.1:1/conf.git"));
  EXPECT_THAT(status_.last_error, ::testing::Not(HasSubstr("pw-123")));
  EXPECT_EQ(status_.url, "http://user:***@127.0.0.1:1/conf.git");
}

TEST_F(GitSyncTest, BranchSwitch) {
  Commit("python.d/a/a.py", "master\n", "m");
  std::string dev = Commit("python.d/a/a.py", "dev\n", "d", "dev");
  Sync();
  EXPECT_EQ(Read("python.d/a/a.py"), "master\n");
  repo_.branch = "dev";
  Sync();
  EXPECT_TRUE(status_.last_ok) << status_.last_error;
  EXPECT_EQ(status_.head, dev);
  EXPECT_EQ(Read("python.d/a/a.py"), "dev\n");
}

}  // namespace
}  // namespace pythond::git
