#include "agent/service_command.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "temp_dir.h"

namespace pythond::agent {
namespace {

// Sets an environment variable for one test, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old, had_ = true;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { had_ ? setenv(name_, old_.c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(DefaultRootTest, EnvThenInstalledBinaryThenCurrentFolder) {
  const InstallPaths& installed = Installed();
  // The build knows where `make install`/the package put things (CMakeLists.txt).
  ASSERT_FALSE(installed.binary.empty());
  EXPECT_EQ(installed.binary.filename(), "pythond");
  EXPECT_EQ(installed.root.filename(), "pythond");
  EXPECT_EQ(installed.state_dir.filename(), "pythond");
  EXPECT_EQ(installed.unit, "pythond.service");

  ScopedEnv unset("PYTHOND_ROOT", nullptr);
  testing::TempDir dir;
  auto exe = dir.Write("bin/pythond", "");
  EXPECT_EQ(DefaultRoot(exe), ".");  // a build tree's binary: the current folder
  EXPECT_EQ(DefaultRoot(""), ".");
  // DefaultRoot(installed.binary) == installed.root is checked on the installed package
  // (tests/e2e/package_test.py): the binary exists only while that test has it installed.
  ScopedEnv set("PYTHOND_ROOT", "/srv/collectors");
  EXPECT_EQ(DefaultRoot(exe), "/srv/collectors");
}

TEST(ServiceCommandTest, ABrokenConfigurationIsNotRestarted) {
  testing::TempDir root;
  root.Write("conf.d/pythond/pythond.conf", "[[inputs.pythond]]\nname = 'x'\ncmd = 3\n");
  ServiceCommandOptions o;
  o.root = root.path();
  o.action = "restart";
  o.systemd_dir = root.path();  // "systemd runs": only the check can stop it
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunServiceCommand(o), 1);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("pythond.conf:3"), std::string::npos) << err;
  EXPECT_NE(err.find("nothing was restarted"), std::string::npos) << err;
  EXPECT_EQ(err.find("systemctl"), std::string::npos) << err;

  // stop and status do not need a loadable configuration; without systemd they say so.
  o.action = "stop";
  o.systemd_dir = root.path() / "no-systemd";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunServiceCommand(o), 1);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("systemd is not running on this machine"), std::string::npos) << err;
}

TEST(ServiceCommandTest, NoSystemdNamesTheForegroundCommand) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", "[log]\nlevel = 'info'\n");
  ServiceCommandOptions o;
  o.root = root.path();
  o.action = "restart";
  o.systemd_dir = root.path() / "no-systemd";
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunServiceCommand(o), 1);
  std::string err = ::testing::internal::GetCapturedStderr();
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("OK (0 input(s))"), std::string::npos) << out;
  EXPECT_NE(err.find("no pythond.service to restart"), std::string::npos) << err;
  EXPECT_NE(err.find(" run --root " + root.path().string()), std::string::npos) << err;
}

TEST(ServiceCommandTest, SystemctlsFailureIsReportedWithItsExitCode) {
  // The real systemctl on a machine where systemd is not PID 1 (CI) while the check is fooled:
  // it refuses, and the command passes its exit code on with where to look.
  if (std::filesystem::exists("/run/systemd/system") ||
      !std::filesystem::exists("/usr/bin/systemctl")) {
    GTEST_SKIP() << "needs systemctl on a machine not booted with systemd";
  }
  testing::TempDir root;
  ServiceCommandOptions o;
  o.root = root.path();
  o.action = "restart";
  o.unit = "pythond-unit-test.service";
  o.systemd_dir = root.path();
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = RunServiceCommand(o);
  std::string err = ::testing::internal::GetCapturedStderr();
  ::testing::internal::GetCapturedStdout();
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find("systemctl restart pythond-unit-test.service failed (exit " +
                     std::to_string(rc) + "); see: journalctl -u pythond-unit-test.service"),
            std::string::npos)
      << err;
}

TEST(ServiceCommandTest, AMissingSystemctlIsNamed) {
  testing::TempDir root;
  ServiceCommandOptions o;
  o.root = root.path();
  o.action = "restart";
  o.systemd_dir = root.path();
  ScopedEnv path("PATH", (root.path() / "nowhere").c_str());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunServiceCommand(o), 1);
  std::string err = ::testing::internal::GetCapturedStderr();
  ::testing::internal::GetCapturedStdout();
  EXPECT_NE(err.find("cannot run systemctl"), std::string::npos) << err;
}

}  // namespace
}  // namespace pythond::agent
