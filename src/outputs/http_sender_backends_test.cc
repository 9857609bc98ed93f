// InfluxDbSender against the engines it ships to: InfluxDB 1.6.7 (/usr/bin/influxd) and
// VictoriaMetrics (/usr/bin/victoria-metrics), each started by the test on 127.0.0.1 in a
// temporary folder and stopped by its pid. A test is skipped when its binary is missing.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "outputs/http_client.h"
#include "outputs/http_sender.h"
#include "temp_dir.h"

namespace pythond::outputs {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = SendResult::Kind;
constexpr auto kStartDeadline = std::chrono::seconds(30);
constexpr auto kPollInterval = std::chrono::milliseconds(50);

// A port on 127.0.0.1 that was free a moment ago (bound, then released).
uint16_t FreePort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// A server process with its output in `log`; SIGTERM (then SIGKILL after 20 s) on destruction.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const std::filesystem::path& log)
      : log_(log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~ServerProcess() {
    if (pid_ <= 0 || exited_) return;
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }
  bool Running() {
    if (pid_ <= 0 || exited_) return false;
    exited_ = waitpid(pid_, nullptr, WNOHANG) == pid_;
    return !exited_;
  }
  std::string Log() const { return ReadFile(log_); }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::filesystem::path log_;
};

std::unique_ptr<HttpClient> Client(uint16_t port) {
  auto url = ParseUrl("http://127.0.0.1:" + std::to_string(port));
  auto client = HttpClient::Create(*url, {});
  EXPECT_TRUE(client.ok());
  return std::move(*client);
}

// Polls GET `target` until it answers `status` (the server is up) or the deadline passes.
bool WaitReady(ServerProcess& server, HttpClient& client, const std::string& target, int status) {
  const auto deadline = Clock::now() + kStartDeadline;
  while (Clock::now() < deadline && server.Running()) {
    auto response = client.Request("GET", target, {}, "");
    if (response.ok() && response->status == status) return true;
    std::this_thread::sleep_for(kPollInterval);
  }
  return false;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(InfluxDbSenderBackends, InfluxDb1) {
  const std::filesystem::path binary = "/usr/bin/influxd";
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << binary << " is not installed";
  testing::TempDir dir;
  const uint16_t http_port = FreePort();
  const uint16_t rpc_port = FreePort();
  const std::string d = dir.path().string();
  dir.Write("influxd.conf",
            "reporting-enabled = false\n"
            "bind-address = \"127.0.0.1:" +
                std::to_string(rpc_port) +
                "\"\n"
                "[meta]\n  dir = \"" +
                d +
                "/meta\"\n"
                "[data]\n  dir = \"" +
                d + "/data\"\n  wal-dir = \"" + d +
                "/wal\"\n"
                "  query-log-enabled = false\n"
                "[monitor]\n  store-enabled = false\n"
                "[http]\n  bind-address = \"127.0.0.1:" +
                std::to_string(http_port) +
                "\"\n  auth-enabled = true\n  log-enabled = false\n"
                "  pprof-enabled = false\n"
                "[logging]\n  level = \"error\"\n  suppress-logo = true\n");
  ServerProcess server({binary.string(), "run", "-config", d + "/influxd.conf"},
                       dir.path() / "influxd.log");
  auto client = Client(http_port);
  ASSERT_TRUE(WaitReady(server, *client, "/ping", 204)) << server.Log();

  // With auth on and no user yet, InfluxDB lets the first admin be created.
  std::string query;
  AppendQueryParam(query, "q", "CREATE USER admin WITH PASSWORD 'pw 1' WITH ALL PRIVILEGES");
  auto created = client->Post("/query?" + query, {}, "");
  ASSERT_TRUE(created.ok() && created->status == 200) << created->body;
  query.clear();
  AppendQueryParam(query, "q", "CREATE DATABASE pythond");
  AppendQueryParam(query, "u", "admin");
  AppendQueryParam(query, "p", "pw 1");
  created = client->Post("/query?" + query, {}, "");
  ASSERT_TRUE(created.ok() && created->status == 200) << created->body;

  config::OutputConfig c;
  c.type = "influxdb";
  c.influxdb.url = "http://127.0.0.1:" + std::to_string(http_port);
  c.influxdb.username = "admin";
  c.influxdb.password = "pw 1";
  std::string error;
  auto sender = MakeHttpSender(c, &error);
  ASSERT_NE(sender, nullptr) << error;
  const std::string ts = std::to_string(NowNs());
  const std::string lines =
      "m,host=a x=1i,u=18446744073709551615u,small=7u,s=\"hi\",by=\"aGk=\"b,arr=[1i,2i] " + ts +
      "\nm,host=b x=2i " + ts + "\n";
  SendResult result = sender->Send({model::Category::kMetric, lines, 2});
  ASSERT_EQ(result.kind, Kind::kOk) << result.error;

  query.clear();
  AppendQueryParam(query, "db", "pythond");
  AppendQueryParam(query, "q", "SELECT * FROM m WHERE host = 'a'");
  AppendQueryParam(query, "u", "admin");
  AppendQueryParam(query, "p", "pw 1");
  auto selected = client->Post("/query?" + query, {}, "");
  ASSERT_TRUE(selected.ok() && selected->status == 200);
  for (const char* want : {"9223372036854775807", "\"aGk=\"", "\"[1i,2i]\"", "\"hi\"", ",7,"}) {
    EXPECT_NE(selected->body.find(want), std::string::npos) << want << " in " << selected->body;
  }

  c.influxdb.password = "wrong password";
  sender = MakeHttpSender(c, &error);
  result = sender->Send({model::Category::kMetric, lines, 2});
  EXPECT_EQ(result.kind, Kind::kRetry);  // every batch would be refused: kept queued
  EXPECT_EQ(result.error.rfind("HTTP 401: ", 0), 0u) << result.error;
  EXPECT_EQ(result.error.find("wrong password"), std::string::npos) << result.error;
}

TEST(InfluxDbSenderBackends, VictoriaMetrics) {
  const std::filesystem::path binary = "/usr/bin/victoria-metrics";
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << binary << " is not installed";
  testing::TempDir dir;
  const uint16_t port = FreePort();
  ServerProcess server({binary.string(), "-storageDataPath=" + (dir.path() / "data").string(),
                        "-httpListenAddr=127.0.0.1:" + std::to_string(port)},
                       dir.path() / "vm.log");
  auto client = Client(port);
  ASSERT_TRUE(WaitReady(server, *client, "/health", 200)) << server.Log();

  config::OutputConfig c;
  c.type = "influxdb";
  c.influxdb.url = "http://127.0.0.1:" + std::to_string(port);
  std::string error;
  auto sender = MakeHttpSender(c, &error);  // v1, database "pythond": VM adds a db label
  ASSERT_NE(sender, nullptr) << error;
  const std::string ts = std::to_string(NowNs());
  const std::string lines = "m,host=a x=1i,u=5u,f=1.5,by=\"aGk=\"b " + ts + "\n";
  SendResult result = sender->Send({model::Category::kMetric, lines, 1});
  ASSERT_EQ(result.kind, Kind::kOk) << result.error;

  // New series become visible to export a little after a flush: poll, with a deadline.
  std::string query;
  AppendQueryParam(query, "match[]", "{__name__=~\"m_.+\"}");
  std::string exported;
  const auto deadline = Clock::now() + kStartDeadline;
  while (Clock::now() < deadline) {
    ASSERT_TRUE(client->Request("GET", "/internal/force_flush", {}, "").ok());
    auto response = client->Request("GET", "/api/v1/export?" + query, {}, "");
    ASSERT_TRUE(response.ok());
    exported = response->body;
    if (exported.find("m_f") != std::string::npos) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  for (const char* want :
       {"{\"__name__\":\"m_x\",\"db\":\"pythond\",\"host\":\"a\"},\"values\":[1]",
        "{\"__name__\":\"m_u\",\"db\":\"pythond\",\"host\":\"a\"},\"values\":[5]", "\"m_f\"",
        "\"values\":[1.5]"}) {
    EXPECT_NE(exported.find(want), std::string::npos) << want << " in " << exported;
  }
}

}  // namespace
}  // namespace pythond::outputs
