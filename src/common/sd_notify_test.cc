#include "common/sd_notify.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "temp_dir.h"

namespace pythond {
namespace {

TEST(SdNotifyTest, SendsOneDatagramToNotifySocket) {
  testing::TempDir dir;
  std::string path = (dir.path() / "notify").string();
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(SdNotify("READY=1"));  // not under systemd: nothing to do
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  EXPECT_TRUE(SdNotify("READY=1\nSTATUS=listening"));
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "READY=1\nSTATUS=listening");
  setenv("NOTIFY_SOCKET", (path + "-missing").c_str(), 1);
  EXPECT_FALSE(SdNotify("READY=1"));
  unsetenv("NOTIFY_SOCKET");
  close(fd);
}

}  // namespace
}  // namespace pythond
