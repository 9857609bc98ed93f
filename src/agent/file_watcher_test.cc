#include "agent/file_watcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "temp_dir.h"

namespace pythond::agent {
namespace {

namespace fs = std::filesystem;

TEST(FileWatcherTest, RelevantNames) {
  EXPECT_TRUE(RelevantName("test.py"));
  EXPECT_TRUE(RelevantName("pythond.conf"));
  EXPECT_TRUE(RelevantName("data.json"));
  EXPECT_FALSE(RelevantName(".test.py.swp"));
  EXPECT_FALSE(RelevantName("test.py~"));
  EXPECT_FALSE(RelevantName("__pycache__"));
  EXPECT_FALSE(RelevantName("test.cpython-311.pyc"));
  EXPECT_FALSE(RelevantName("4913"));
}

class Collector {
 public:
  explicit Collector(boost::asio::io_context& io)
      : io_(io), watcher_(io, [this](const std::string& p) { seen_.insert(p); }) {}
  FileWatcher& watcher() { return watcher_; }
  // Runs the loop until `path` was reported, for at most 5 s.
  bool Saw(const fs::path& path) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!seen_.count(path.string()) && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(20));
      io_.restart();
    }
    return seen_.count(path.string()) > 0;
  }
  // Runs the loop for `ms` and returns everything reported so far.
  std::set<std::string> Drain(int ms) {
    io_.run_for(std::chrono::milliseconds(ms));
    io_.restart();
    return seen_;
  }
  void Clear() { seen_.clear(); }

 private:
  boost::asio::io_context& io_;
  FileWatcher watcher_;
  std::set<std::string> seen_;
};

TEST(FileWatcherTest, ReportsChangesAnywhereInTheTrees) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", "");
  root.Write("conf.d/sub/a.conf", "");
  boost::asio::io_context io;
  Collector c(io);
  ASSERT_TRUE(c.watcher().Watch({root.path() / "conf.d", root.path() / "python.d"}).ok());
  // A file written in a sub-folder that existed at Watch().
  root.Write("conf.d/sub/a.conf", "changed");
  EXPECT_TRUE(c.Saw(root.path() / "conf.d/sub/a.conf"));
  // python.d did not exist: its creation is noticed through the root.
  fs::create_directories(root.path() / "python.d");
  EXPECT_TRUE(c.Saw(root.path() / "python.d"));
  ASSERT_TRUE(c.watcher().Watch({root.path() / "conf.d", root.path() / "python.d"}).ok());
  // A new folder is watched as soon as it appears.
  fs::create_directories(root.path() / "python.d/mytest");
  EXPECT_TRUE(c.Saw(root.path() / "python.d/mytest"));
  root.Write("python.d/mytest/test.py", "x = 1\n");
  EXPECT_TRUE(c.Saw(root.path() / "python.d/mytest/test.py"));
  fs::remove(root.path() / "python.d/mytest/test.py");
  c.Clear();
  root.Write("python.d/mytest/test2.py", "");
  EXPECT_TRUE(c.Saw(root.path() / "python.d/mytest/test2.py"));
  // Droppings and unrelated files beside the trees are not reported.
  c.Clear();
  root.Write("python.d/mytest/.test.py.swp", "");
  root.Write("python.d/mytest/__pycache__/test.cpython-311.pyc", "");
  root.Write("elsewhere.txt", "");
  EXPECT_THAT(c.Drain(300), ::testing::IsEmpty());
  c.watcher().Stop();
}

}  // namespace
}  // namespace pythond::agent
