#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "config/env_expand.h"
#include "temp_dir.h"

namespace pythond::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const std::string& name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(ConfigTest, SeedSampleLoads) {
  testing::TempDir root;
  root.Write("conf.d/pythond/pythond.conf", R"(
[[inputs.pythond]]

  # Python 采集器名称
  name = 'some-python-inputs'  # required

  # 运行 Python 采集器所需的环境变量
  #envs = ['LD_LIBRARY_PATH=/path/to/lib:$LD_LIBRARY_PATH',]

  # Python 采集器可执行程序路径(尽可能写绝对路径)
  cmd = "python3" # required. python3 is recommended.

  # 用户脚本的相对路径(填写文件夹，填好后该文件夹下一级目录的模块和 py 文件都将得到应用)
  dirs = ["mytest"]
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ASSERT_EQ(cfg->inputs.size(), 1u);
  EXPECT_EQ(cfg->inputs[0].name, "some-python-inputs");
  EXPECT_EQ(cfg->inputs[0].cmd, "python3");
  EXPECT_EQ(cfg->inputs[0].dirs, std::vector<std::string>{"mytest"});
  EXPECT_EQ(cfg->inputs[0].line, 2);
  EXPECT_EQ(cfg->listen, "127.0.0.1:9529");
  EXPECT_EQ(cfg->store_path, root.path() / "data/pythond.db");
}

TEST(ConfigTest, EnvsExpandFromTheAgentEnvironment) {
  testing::TempDir root;
  root.Write("conf.d/a.conf", R"(
[[inputs.pythond]]
name = "a"
cmd = "python3"
dirs = ["x"]
envs = ['LD_LIBRARY_PATH=/opt/lib:$LD_LIBRARY_PATH', 'HOME_DIR=${HOME}/x', 'UNSET=$NOPE.', 'P=$$1']
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({{"LD_LIBRARY_PATH", "/usr/lib"}, {"HOME", "/h"}}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_THAT(cfg->inputs[0].envs, ::testing::ElementsAre("LD_LIBRARY_PATH=/opt/lib:/usr/lib",
                                                          "HOME_DIR=/h/x", "UNSET=.", "P=$1"));
}

TEST(ConfigTest, ErrorsNameFileAndLine) {
  testing::TempDir root;
  root.Write("conf.d/bad.conf", "[[inputs.pythond]]\nname = \"a\"\ncmd = 3\ndirs = [\"x\"]\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("bad.conf:3: inputs.pythond.cmd must be a string"));
}

TEST(ConfigTest, RunnerExtensionsOfAnInput) {
  testing::TempDir root;
  root.Write("conf.d/a.conf", R"([[inputs.pythond]]
name = "a"
cmd = "python3"
dirs = ["x"]
timeout = "30s"
recycle_stuck_after = 5
jitter = "2s"
max_rss = "512MiB"
isolation = "process"
[[inputs.pythond]]
name = "b"
cmd = "python3"
dirs = ["x"]
max_rss = 104857600
jitter = 0
)");
  root.Write("conf.d/agent.conf", "[runner]\nspread = \"1s\"\nrss_check_interval = \"500ms\"\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  ASSERT_EQ(cfg->inputs.size(), 2u);
  const InputConfig& a = cfg->inputs[0];
  EXPECT_EQ(a.timeout_ns, 30'000'000'000);
  EXPECT_EQ(a.recycle_stuck_after_ns, 5'000'000'000);
  EXPECT_EQ(a.jitter_ns, 2'000'000'000);
  EXPECT_EQ(a.max_rss_bytes, 512ull << 20);
  EXPECT_EQ(a.isolation, InputConfig::Isolation::kProcess);
  const InputConfig& b = cfg->inputs[1];
  EXPECT_EQ(b.max_rss_bytes, 104857600u);
  EXPECT_EQ(b.jitter_ns, 0);
  EXPECT_EQ(b.timeout_ns, 0);
  EXPECT_EQ(b.isolation, InputConfig::Isolation::kInput);
  EXPECT_EQ(cfg->spread_ns, 1'000'000'000);
  EXPECT_EQ(cfg->rss_check_interval_ns, 500'000'000);
  EXPECT_TRUE(cfg->warnings.empty());
}

TEST(ConfigTest, BadRunnerExtensionsAreErrorsWithTheirLine) {
  testing::TempDir root;
  root.Write("conf.d/a.conf", R"([[inputs.pythond]]
name = "a"
cmd = "python3"
dirs = ["x"]
timeout = "soon"
max_rss = "lots"
isolation = "thread"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  std::string m = cfg.status().message();
  EXPECT_THAT(m, HasSubstr("a.conf:5: inputs.pythond.timeout must be a positive duration"));
  EXPECT_THAT(m, HasSubstr("a.conf:6: inputs.pythond.max_rss must be a size like"));
  EXPECT_THAT(m, HasSubstr("a.conf:7: inputs.pythond.isolation must be \"input\""));
}

TEST(ConfigTest, MissingRequiredKeysAreEachReported) {
  testing::TempDir root;
  root.Write("conf.d/bad.conf", "[[inputs.pythond]]\nenvs = [\"NOEQUALS\"]\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  std::string m = cfg.status().message();
  EXPECT_THAT(m, HasSubstr("bad.conf:1: [[inputs.pythond]] needs name"));
  EXPECT_THAT(m, HasSubstr("needs cmd"));
  EXPECT_THAT(m, HasSubstr("needs dirs"));
  EXPECT_THAT(m, HasSubstr("bad.conf:2: envs entry 'NOEQUALS' must be KEY=VALUE"));
}

TEST(ConfigTest, TomlSyntaxErrorHasLineAndColumn) {
  testing::TempDir root;
  root.Write("conf.d/x/broken.conf", "[[inputs.pythond]]\nname = 'a\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("broken.conf:2:"));
  EXPECT_THAT(cfg.status().message(), HasSubstr("TOML syntax error"));
}

TEST(ConfigTest, DuplicateInputNamesAreRefused) {
  testing::TempDir root;
  std::string table = "[[inputs.pythond]]\nname = 'same'\ncmd = 'python3'\ndirs = ['a']\n";
  root.Write("conf.d/one.conf", table);
  root.Write("conf.d/two.conf", table);
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(),
              HasSubstr("two.conf:1: input name 'same' is already used at"));
  EXPECT_THAT(cfg.status().message(), HasSubstr("one.conf:1"));
}

TEST(ConfigTest, OtherDataKitInputsAreIgnoredWithOneWarningEach) {
  testing::TempDir root;
  root.Write("conf.d/host/cpu.conf", "[[inputs.cpu]]\npercpu = false\n[inputs.mem]\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_TRUE(cfg->inputs.empty());
  ASSERT_EQ(cfg->warnings.size(), 2u);
  EXPECT_THAT(cfg->warnings[0], HasSubstr("[[inputs.cpu]] ignored"));
  EXPECT_THAT(cfg->warnings[1], HasSubstr("[[inputs.mem]] ignored"));
}

TEST(ConfigTest, AgentConfSettings) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"(
[http_api]
listen = "127.0.0.1:0"
[log]
level = "debug"
seed_log_dir = "log"
[store]
path = "/tmp/x.db"
retention = "2h"
[runner]
stop_grace = "1s"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->listen, "127.0.0.1:0");
  EXPECT_EQ(cfg->log_level, "debug");
  EXPECT_EQ(cfg->seed_log_dir, root.path() / "log");
  EXPECT_EQ(cfg->store_path, "/tmp/x.db");
  EXPECT_EQ(cfg->store_retention_ns, 7200'000'000'000LL);
  EXPECT_EQ(cfg->stop_grace_ns, 1'000'000'000LL);
}

TEST(ConfigTest, ReloadSettings) {
  testing::TempDir root;
  auto defaults = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->reload_watch);
  EXPECT_EQ(defaults->reload_delay_ns, 1'000'000'000LL);
  root.Write("conf.d/agent.conf", "[reload]\nwatch = false\ndelay = \"250ms\"\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_FALSE(cfg->reload_watch);
  EXPECT_EQ(cfg->reload_delay_ns, 250'000'000LL);
  root.Write("conf.d/agent.conf", "[reload]\nwatch = \"yes\"\ndelay = \"0s\"\n");
  auto bad = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("agent.conf:2: reload.watch must be true or false"));
  EXPECT_THAT(bad.status().message(), HasSubstr("agent.conf:3: reload.delay must be a positive"));
}

TEST(ConfigTest, SameSettingsIgnoresOnlyWhereTheTableIs) {
  InputConfig a;
  a.name = "x";
  a.cmd = "python3";
  a.dirs = {"d"};
  a.file = "/a.conf";
  a.line = 1;
  InputConfig b = a;
  b.file = "/b.conf";
  b.line = 9;
  EXPECT_TRUE(SameSettings(a, b));
  auto differs = [&](auto change) {
    InputConfig c = a;
    change(c);
    return !SameSettings(a, c);
  };
  EXPECT_TRUE(differs([](InputConfig& c) { c.cmd = "python3.11"; }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.dirs.push_back("e"); }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.envs = {"A=1"}; }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.timeout_ns = 5; }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.recycle_stuck_after_ns = 5; }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.jitter_ns = 5; }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.max_rss_bytes = 5; }));
  EXPECT_TRUE(differs([](InputConfig& c) { c.isolation = InputConfig::Isolation::kProcess; }));
}

TEST(ConfigTest, AgentSettingsChangedNamesTheSettings) {
  Config a;
  Config b = a;
  b.inputs.push_back(InputConfig{});  // inputs are not agent settings
  EXPECT_TRUE(AgentSettingsChanged(a, b).empty());
  b.listen = "127.0.0.1:1";
  b.global_tags = {{"site", "b"}};
  b.spread_ns = 1;
  EXPECT_THAT(AgentSettingsChanged(a, b),
              ::testing::ElementsAre("http_api.listen", "global_tags", "runner.spread"));
}

TEST(ConfigTest, OutputsOfEveryType) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"(
[[outputs.influxdb]]
url = "http://127.0.0.1:8428"
categories = ["metric", "logging"]
measurements = ["cpu", "disk_*"]
batch_max_points = 100
batch_max_size = "64KiB"
batch_max_age = "200ms"
queue_max_size = "16MiB"
overflow = "block"
fsync = false
retry_max = "5s"

[[outputs.influxdb]]
url = "http://127.0.0.1:8086"
org = "o"
bucket = "b"
token = "t"

[[outputs.datakit]]
url = "http://127.0.0.1:9529"
token = "tkn_x"
routes = { logging = "/v1/write/logging" }

[[outputs.kafka]]
name = "events"
brokers = "127.0.0.1:9092"
topic = "pd-{category}"
properties = { "linger.ms" = "5" }

[[outputs.prometheus]]
expire = "1m"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ASSERT_EQ(cfg->outputs.size(), 5u);
  auto find = [&](const std::string& name) -> const OutputConfig& {
    for (const auto& o : cfg->outputs) {
      if (o.name == name) return o;
    }
    ADD_FAILURE() << "no output " << name;
    return cfg->outputs[0];
  };
  const OutputConfig& vm = find("influxdb");
  EXPECT_EQ(vm.influxdb.url, "http://127.0.0.1:8428");
  EXPECT_THAT(vm.categories, ::testing::ElementsAre("metric", "logging"));
  EXPECT_THAT(vm.measurements, ::testing::ElementsAre("cpu", "disk_*"));
  EXPECT_EQ(vm.batch_max_points, 100u);
  EXPECT_EQ(vm.batch_max_bytes, 65536u);
  EXPECT_EQ(vm.batch_max_age_ns, 200'000'000);
  EXPECT_EQ(vm.queue_max_bytes, 16u << 20);
  EXPECT_EQ(vm.overflow, OutputConfig::Overflow::kBlock);
  EXPECT_FALSE(vm.fsync);
  EXPECT_EQ(vm.retry_max_ns, 5'000'000'000);
  EXPECT_TRUE(vm.remote());
  EXPECT_EQ(vm.line, 2);
  EXPECT_EQ(find("influxdb-2").influxdb.bucket, "b");  // the second table of its type
  EXPECT_EQ(find("datakit").datakit.routes,
            (std::vector<std::pair<std::string, std::string>>{{"logging", "/v1/write/logging"}}));
  EXPECT_EQ(find("events").kafka.topic, "pd-{category}");
  EXPECT_EQ(find("events").kafka.properties.size(), 1u);
  EXPECT_EQ(find("prometheus").prometheus.path, "/v1/prometheus");
  EXPECT_EQ(find("prometheus").prometheus.expire_ns, 60'000'000'000);
  EXPECT_FALSE(find("prometheus").remote());
}

TEST(ConfigTest, BadOutputsAreErrorsWithTheirLine) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"([[outputs.influxdb]]
database = "x"

[[outputs.graphite]]
url = "x"

[[outputs.kafka]]
brokers = "b"
overflow = "sometimes"
categories = ["metrics"]

[[outputs.datakit]]
name = "a/b"
url = "http://x"

[[outputs.prometheus]]
name = "p"
[[outputs.prometheus]]
name = "p"
path = "metrics"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  std::string m = cfg.status().message();
  EXPECT_THAT(m, HasSubstr("agent.conf:1: [[outputs.influxdb]] needs url ="));
  EXPECT_THAT(m, HasSubstr("agent.conf:4: unknown output type [[outputs.graphite]]"));
  EXPECT_THAT(m, HasSubstr("agent.conf:9: outputs.kafka.overflow must be \"drop_oldest\" or"));
  EXPECT_THAT(m, HasSubstr("agent.conf:10: outputs.kafka.categories: unknown category 'metrics'"));
  EXPECT_THAT(m, HasSubstr("output name 'a/b' must be a plain file name"));
  EXPECT_THAT(m, HasSubstr("outputs.prometheus.path must be a path"));
}

TEST(ConfigTest, OutputSecretsComeFromTheEnvironment) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"([[outputs.influxdb]]
url = "http://127.0.0.1:8086"
org = "o"
bucket = "b"
token = "$INFLUX_TOKEN"
[[outputs.kafka]]
brokers = "127.0.0.1:9092"
properties = { "sasl.password" = "${KAFKA_PASSWORD}" }
)");
  auto cfg = LoadConfig(root.path(),
                        FakeEnv({{"INFLUX_TOKEN", "secret-1"}, {"KAFKA_PASSWORD", "secret-2"}}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  for (const auto& o : cfg->outputs) {
    if (o.type == "influxdb") EXPECT_EQ(o.influxdb.token, "secret-1");
    if (o.type == "kafka") EXPECT_EQ(o.kafka.properties[0].second, "secret-2");
  }
}

TEST(ConfigTest, EverySampleOutputConfigLoads) {
  for (const char* type : {"influxdb", "datakit", "kafka", "prometheus"}) {
    testing::TempDir root;
    std::filesystem::create_directories(root.path() / "conf.d");
    std::filesystem::copy_file(std::filesystem::path(PYTHOND_SOURCE_PYTHON_DIR) / ".." /
                                   "examples/outputs" / (std::string(type) + ".conf"),
                               root.path() / "conf.d" / (std::string(type) + ".conf"));
    auto cfg = LoadConfig(root.path(), FakeEnv({}));
    ASSERT_TRUE(cfg.ok()) << type << ": " << cfg.status().ToString();
    ASSERT_EQ(cfg->outputs.size(), 1u) << type;
    EXPECT_EQ(cfg->outputs[0].type, type);
    EXPECT_TRUE(cfg->warnings.empty()) << type << ": " << cfg->warnings[0];
  }
}

TEST(ConfigTest, DuplicateOutputNamesAreRefused) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"([[outputs.prometheus]]
name = "p"
[[outputs.prometheus]]
name = "p"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(),
              HasSubstr("agent.conf:3: output name 'p' is already used at"));
}

TEST(ConfigTest, BadDurationIsAnError) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", "[store]\nretention = \"soon\"\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("agent.conf:2: store.retention must be"));
}

TEST(ConfigTest, SymlinkLoopsAndAliasesLoadEachFileOnce) {
  testing::TempDir root;
  root.Write("conf.d/pythond/x.conf", "[[inputs.pythond]]\nname='x'\ncmd='python3'\ndirs=['a']\n");
  std::filesystem::create_directory_symlink("../pythond", root.path() / "conf.d/pythond/self");
  std::filesystem::create_directory_symlink("pythond", root.path() / "conf.d/alias");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->inputs.size(), 1u);
}

TEST(ConfigTest, HttpApiAndGlobalTags) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"(
[http_api]
public_apis = ["/v1/write/metric"]
max_body_mb = 8
timeout = "5s"
max_connections = 10
request_rate_limit = 100.5
[global_tags]
host = "h1"
cluster = "c"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->public_apis, std::vector<std::string>{"/v1/write/metric"});
  EXPECT_EQ(cfg->max_body_bytes, 8u << 20);
  EXPECT_EQ(cfg->read_timeout_ns, 5'000'000'000);
  EXPECT_EQ(cfg->max_connections, 10u);
  EXPECT_EQ(cfg->request_rate_limit, 100.5);
  ASSERT_EQ(cfg->global_tags.size(), 2u);
  // toml++ tables iterate in key order.
  EXPECT_EQ(cfg->global_tags[0], std::make_pair(std::string("cluster"), std::string("c")));
}

TEST(ConfigTest, MissingConfDIsFine) {
  testing::TempDir root;
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->inputs.empty());
}

TEST(EnvExpandTest, UnterminatedBraceIsAnError) {
  std::string out, err;
  EXPECT_FALSE(ExpandEnv("${HOME", FakeEnv({}), &out, &err));
  EXPECT_THAT(err, HasSubstr("unterminated"));
  EXPECT_TRUE(ExpandEnv("cost $5 and $", FakeEnv({}), &out, &err));
  EXPECT_EQ(out, "cost $5 and $");
}

TEST(ConfigGitTest, ReposAreParsedNamedAndTheirInputsLoaded) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"([git_repos]
pull_interval = "30s"
[[git_repos.repo]]
enable = true
url = "https://deploy:$GIT_PW@git.example.com/ops/conf.git"
ssh_private_key_password = "${KEY_PW}"
[[git_repos.repo]]
enable = false
url = "git@github.com:org/off.git"
branch = "dev"
[[git_repos.repo]]
enable = true
url = "/srv/git/local-scripts/"
)");
  root.Write("conf.d/local.conf", "[[inputs.pythond]]\nname='local'\ncmd='python3'\ndirs=['a']\n");
  root.Write("gitrepos/conf/conf.d/x/remote.conf",
             "[[inputs.pythond]]\nname='remote'\ncmd='python3'\ndirs=['b']\n"
             "[[outputs.influxdb]]\nurl='http://x'\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({{"GIT_PW", "p@ss"}, {"KEY_PW", "k"}}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->git_pull_interval_ns, 30'000'000'000);
  ASSERT_EQ(cfg->git_repos.size(), 3u);
  EXPECT_EQ(cfg->git_repos[0].name, "conf");
  EXPECT_EQ(cfg->git_repos[0].branch, "master");
  EXPECT_EQ(cfg->git_repos[0].url, "https://deploy:p@ss@git.example.com/ops/conf.git");
  EXPECT_EQ(cfg->git_repos[0].ssh_private_key_password, "k");
  EXPECT_EQ(cfg->git_repos[1].name, "off");
  EXPECT_FALSE(cfg->git_repos[1].enable);
  EXPECT_EQ(cfg->git_repos[2].name, "local-scripts");
  ASSERT_EQ(cfg->enabled_repos().size(), 2u);
  ASSERT_EQ(cfg->inputs.size(), 2u);
  EXPECT_EQ(cfg->inputs[0].name, "local");
  EXPECT_EQ(cfg->inputs[0].repo, "");
  EXPECT_EQ(cfg->inputs[1].name, "remote");
  EXPECT_EQ(cfg->inputs[1].repo, "conf");
  EXPECT_TRUE(cfg->outputs.empty());  // a repository's conf.d holds inputs only
  EXPECT_THAT(cfg->warnings.back(), HasSubstr("a git repository's conf.d holds inputs only"));
  auto roots = cfg->script_roots();
  ASSERT_EQ(roots.size(), 3u);
  EXPECT_EQ(roots[0].python_d, root.path() / "gitrepos/conf/python.d");
  EXPECT_EQ(roots[0].repo, "conf");
  EXPECT_EQ(roots[1].repo, "local-scripts");
  EXPECT_EQ(roots[2].python_d, root.path() / "python.d");
  EXPECT_EQ(roots[2].repo, "");
  // A staged commit replaces the checkout: its inputs are the ones loaded.
  root.Write("staged/conf.d/new.conf",
             "[[inputs.pythond]]\nname='staged'\ncmd='python3'\ndirs=['c']\n");
  cfg = LoadConfig(root.path(), FakeEnv({{"GIT_PW", "x"}, {"KEY_PW", "k"}}),
                   {{"conf", root.path() / "staged"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  ASSERT_EQ(cfg->inputs.size(), 2u);
  EXPECT_EQ(cfg->inputs[1].name, "staged");
}

TEST(ConfigGitTest, ErrorsAndDuplicateInputsAcrossRepositories) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"([[git_repos.repo]]
enable = true
[[git_repos.repo]]
enable = "yes"
url = "file:///a/conf.git"
[[git_repos.repo]]
enable = true
url = "file:///b/conf.git"
[[git_repos.repo]]
enable = true
url = "file:///c/other.git"
[[git_repos.repo]]
enable = true
url = "file:///d/conf.git"
)");
  root.Write("conf.d/local.conf", "[[inputs.pythond]]\nname='x'\ncmd='python3'\ndirs=['a']\n");
  root.Write("gitrepos/other/conf.d/dup.conf",
             "[[inputs.pythond]]\nname='x'\ncmd='python3'\ndirs=['a']\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());
  std::string m = cfg.status().message();
  EXPECT_THAT(m, HasSubstr("agent.conf:1: an enabled [[git_repos.repo]] needs url"));
  EXPECT_THAT(m, HasSubstr("agent.conf:4: git_repos.repo.enable must be true or false"));
  EXPECT_THAT(m, HasSubstr("agent.conf:12: repository 'conf' is already enabled at"));
  EXPECT_THAT(m, HasSubstr("gitrepos/other/conf.d/dup.conf:1"));
}

// A repository's conf.d walk followed directory symlinks anywhere on the host.
TEST(ConfigTest, ARepositorysLinksOutOfItsCheckoutAreNotFollowed) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf",
             "[[git_repos.repo]]\nenable = true\nurl = \"file:///a/conf.git\"\n");
  root.Write("elsewhere/secret.conf",
             "[[inputs.pythond]]\nname='stolen'\ncmd='python3'\ndirs=['a']\n");
  root.Write("gitrepos/conf/conf.d/ok.conf",
             "[[inputs.pythond]]\nname='ok'\ncmd='python3'\ndirs=['a']\n");
  root.Write("gitrepos/conf/shared/inner.conf",
             "[[inputs.pythond]]\nname='inner'\ncmd='python3'\ndirs=['a']\n");
  std::filesystem::create_directory_symlink(root.path() / "elsewhere",
                                            root.path() / "gitrepos/conf/conf.d/out");
  std::filesystem::create_symlink(root.path() / "elsewhere/secret.conf",
                                  root.path() / "gitrepos/conf/conf.d/file.conf");
  std::filesystem::create_directory_symlink("../shared", root.path() / "gitrepos/conf/conf.d/in");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  std::vector<std::string> names;
  for (const auto& in : cfg->inputs) names.push_back(in.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"inner", "ok"}));
  std::string warnings;
  for (const auto& w : cfg->warnings) warnings += w + "\n";
  EXPECT_THAT(warnings, HasSubstr("conf.d/out: a link out of the repository"));
  EXPECT_THAT(warnings, HasSubstr("conf.d/file.conf: a link out of the repository"));
}

TEST(MaskUrlTest, PasswordsAreMaskedUserNamesKept) {
  EXPECT_EQ(MaskUrl("https://u:secret@h/x.git"), "https://u:***@h/x.git");
  EXPECT_EQ(MaskUrl("ssh://git@h/x.git"), "ssh://git@h/x.git");
  EXPECT_EQ(MaskUrl("https://h/x.git?a=b@c"), "https://h/x.git?a=b@c");
  EXPECT_EQ(MaskUrl("https://u:p@ss@h/x"), "https://u:***@h/x");
  EXPECT_EQ(MaskUrl("git@github.com:org/x.git"), "git@github.com:org/x.git");
  EXPECT_EQ(MaskUrl("/srv/x.git"), "/srv/x.git");
}

// A token given as the URL's user name or as ?private_token= was shown in /v1/stats, the log,
// a /metrics label and the checkout folder's name.
TEST(MaskUrlTest, TokensAsUserNamesOrQueryValuesAreMasked) {
  EXPECT_EQ(MaskUrl("https://ghp_abc123@github.com/o/x.git"), "https://***@github.com/o/x.git");
  EXPECT_EQ(MaskUrl("https://h/o/x.git?private_token=glpat-1&ref=main#frag"),
            "https://h/o/x.git?private_token=***&ref=main#frag");
  EXPECT_EQ(MaskUrl("https://h/x.git?X-Amz-Signature=ab&apiKey=cd&Auth=&b=1"),
            "https://h/x.git?X-Amz-Signature=***&apiKey=***&Auth=&b=1");
  EXPECT_EQ(UrlSecrets("https://u:p%40ss@h/x.git?token=t"),
            (std::vector<std::string>{"p%40ss", "p@ss", "t"}));
  EXPECT_TRUE(UrlSecrets("https://h/x.git").empty());
}

TEST(ConfigTest, TheCheckoutFolderIsNeverNamedAfterASecret) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"(
[git_repos]
[[git_repos.repo]]
enable = true
url = "https://h/group/scripts.git?private_token=glpat-secret"
[[git_repos.repo]]
enable = true
url = "https://glpat-other@h"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(cfg.ok());  // the second has no path to name a folder after
  EXPECT_THAT(cfg.status().message(), HasSubstr("cannot name a folder after url 'https://***@h'"));
  EXPECT_THAT(cfg.status().message(), Not(HasSubstr("glpat")));
  root.Write("conf.d/agent.conf", R"(
[git_repos]
[[git_repos.repo]]
enable = true
url = "https://h/group/scripts.git?private_token=glpat-secret"
)");
  cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ASSERT_EQ(cfg->git_repos.size(), 1u);
  EXPECT_EQ(cfg->git_repos[0].name, "scripts");
}

}  // namespace
}  // namespace pythond::config

namespace pythond::config {
namespace {

TEST(ConfigTest, StateDirHoldsWhatTheAgentWrites) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", R"(
[agent]
state_dir = "/var/lib/pythond-x"
[log]
file = "log/pythond.log"
seed_log_dir = "log"
)");
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->root, root.path());
  EXPECT_EQ(cfg->python_d(), root.path() / "python.d");
  EXPECT_EQ(cfg->data_dir(), "/var/lib/pythond-x/data");
  EXPECT_EQ(cfg->gitrepos_dir(), "/var/lib/pythond-x/gitrepos");
  EXPECT_EQ(cfg->store_path, "/var/lib/pythond-x/data/pythond.db");
  EXPECT_EQ(cfg->log_file, "/var/lib/pythond-x/log/pythond.log");
  EXPECT_EQ(cfg->seed_log_dir, "/var/lib/pythond-x/log");
  EXPECT_TRUE(cfg->warnings.empty()) << cfg->warnings[0];

  // Relative: to the root. Unset: the root itself, as before.
  root.Write("conf.d/agent.conf", "[agent]\nstate_dir = \"state\"\n");
  auto rel = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  EXPECT_EQ(rel->data_dir(), root.path() / "state" / "data");
  EXPECT_EQ(rel->store_path, root.path() / "state" / "data" / "pythond.db");
  EXPECT_EQ(
      AgentSettingsChanged(*cfg, *rel),
      std::vector<std::string>({"agent.state_dir", "log.file", "log.seed_log_dir", "store.path"}));
  root.Write("conf.d/agent.conf", "");
  auto unset = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->data_dir(), root.path() / "data");

  root.Write("conf.d/agent.conf", "[agent]\nstate_dir = \"\"\nstate = 1\n");
  auto bad = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("agent.conf:1: agent.state_dir must not be empty"),
            std::string::npos)
      << bad.status().message();
}

TEST(ConfigTest, AReloadKeepsTheRunningStateDir) {
  testing::TempDir root;
  root.Write("conf.d/agent.conf", "[agent]\nstate_dir = \"/srv/new-state\"\n");
  auto cfg = LoadConfig(root.path(), FakeEnv({}), {}, "/srv/running-state");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->data_dir(), "/srv/running-state/data");
  EXPECT_EQ(cfg->gitrepos_dir(), "/srv/running-state/gitrepos");
  ASSERT_EQ(cfg->warnings.size(), 1u);
  EXPECT_EQ(cfg->warnings[0],
            "agent.state_dir /srv/new-state applies at the next start; the running agent keeps "
            "/srv/running-state");
  // Unchanged: no warning.
  auto same = LoadConfig(root.path(), FakeEnv({}), {}, "/srv/new-state");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->warnings.empty());
}

TEST(ConfigTest, TheInstalledRootDefaultsToTheInstalledStateDir) {
  testing::TempDir installed, other;
  SetInstalledLayout(installed.path(), "/var/lib/pythond-test");
  auto cfg = LoadConfig(installed.path(), FakeEnv({}));  // no agent.conf at all
  auto elsewhere = LoadConfig(other.path(), FakeEnv({}));
  installed.Write("conf.d/agent.conf", "[agent]\nstate_dir = \"/srv/mine\"\n");
  auto set = LoadConfig(installed.path(), FakeEnv({}));
  SetInstalledLayout({}, {});
  ASSERT_TRUE(cfg.ok() && elsewhere.ok() && set.ok());
  EXPECT_EQ(cfg->store_path, "/var/lib/pythond-test/data/pythond.db");
  EXPECT_EQ(elsewhere->store_path, other.path() / "data" / "pythond.db");
  EXPECT_EQ(set->store_path, "/srv/mine/data/pythond.db");
}

std::string SourceFile(const std::string& rel) {
  auto path = std::filesystem::path(PYTHOND_SOURCE_PYTHON_DIR).parent_path() / rel;
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << path;
  return ss.str();
}

// The files the package installs load without an error or a warning: agent.conf.sample (every
// key), the service's agent.conf, and the seed's pythond.conf.sample.
TEST(ConfigTest, InstalledSamplesLoadCleanly) {
  testing::TempDir root;
  std::string service_conf = SourceFile("packaging/agent.conf.in");
  for (auto [var, value] :
       {std::pair<std::string, std::string>{"@PYTHOND_STATE_DIR@", "/var/lib/p"},
        {"@PYTHOND_LOG_DIR@", "/var/log/p"},
        {"@PYTHOND_ROOT@", "/etc/p"}}) {
    for (size_t at; (at = service_conf.find(var)) != std::string::npos;) {
      service_conf.replace(at, var.size(), value);
    }
  }
  ASSERT_EQ(service_conf.find('@'), std::string::npos);
  for (const std::string& agent_conf : {SourceFile("packaging/agent.conf.sample"), service_conf}) {
    root.Write("conf.d/agent.conf", agent_conf);
    root.Write("conf.d/pythond/pythond.conf", SourceFile("packaging/pythond.conf.sample"));
    auto cfg = LoadConfig(root.path(), FakeEnv({}));
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    EXPECT_TRUE(cfg->warnings.empty()) << cfg->warnings[0];
    ASSERT_EQ(cfg->inputs.size(), 1u);
    EXPECT_EQ(cfg->inputs[0].name, "some-python-inputs");
    EXPECT_EQ(cfg->inputs[0].dirs, std::vector<std::string>{"mytest"});
  }
  root.Write("conf.d/agent.conf", service_conf);
  auto cfg = LoadConfig(root.path(), FakeEnv({}));
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->store_path, "/var/lib/p/data/pythond.db");
  EXPECT_EQ(cfg->log_file, "/var/log/p/pythond.log");
  EXPECT_EQ(cfg->seed_log_dir, "/var/log/p");
}

// docs/CONFIG.md shows agent.conf.sample's text (after its two header lines).
TEST(ConfigTest, ConfigDocShowsTheInstalledSample) {
  std::string doc = SourceFile("docs/CONFIG.md");
  size_t section = doc.find("## `agent.conf`");
  ASSERT_NE(section, std::string::npos);
  size_t start = doc.find("```toml\n", section);
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = doc.find("```", start);
  std::string sample = SourceFile("packaging/agent.conf.sample");
  size_t body = sample.find("\n\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(doc.substr(start, end - start), sample.substr(body + 2));
}

}  // namespace
}  // namespace pythond::config
