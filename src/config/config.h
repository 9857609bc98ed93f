// Configuration: conf.d/agent.conf plus every conf.d/**/*.conf holding [[inputs.pythond]]
// tables, parsed and validated into an immutable Config value. Errors name the file and line.
// Pure apart from reading files; thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/env_expand.h"

namespace pythond::config {

// One [[inputs.pythond]] table: one Python worker.
struct InputConfig {
  std::string name;               // required, unique across all files
  std::string cmd;                // required: the Python executable (searched in PATH)
  std::vector<std::string> dirs;  // relative to ROOT/python.d, or absolute; may name one .py
  std::vector<std::string> envs;  // KEY=VALUE, already $VAR-expanded
  // Runs longer than this are reported with the stuck thread's stack; 0: the class's
  // `timeout` attribute, else the plugin's interval.
  int64_t timeout_ns = 0;
  // A run still going this long after its timeout gets its worker recycled; 0: the timeout
  // again (a run is abandoned at twice its timeout). Only a worker's whole process group can be
  // stopped, so its other plugins' in-flight runs end too (isolation = "process" avoids that).
  int64_t recycle_stuck_after_ns = 0;
  // Each run starts up to this much later than its slot (uniformly random); 0: exactly on it.
  int64_t jitter_ns = 0;
  uint64_t max_rss_bytes = 0;  // the worker's process group RSS beyond which it is recycled
  enum class Isolation { kInput, kProcess };
  // kInput: one worker for all the input's plugins (the seed's model). kProcess: one per plugin.
  Isolation isolation = Isolation::kInput;
  std::string file;  // where the table is, for messages
  int line = 0;
  std::string repo;  // the git repository whose conf.d holds the table; empty: the local one
};

// Whether two inputs would run the same way: every setting but where the table is. A reload
// restarts an input whose settings differ.
bool SameSettings(const InputConfig& a, const InputConfig& b);

// [[outputs.<type>]] tables in agent.conf (docs/OUTPUTS.md). Each output gets its own queue and
// forwarder; those that leave the machine (influxdb, datakit, kafka) sit behind a disk queue
// under ROOT/data/queue/<name>/.
struct OutputConfig {
  std::string type;  // "influxdb", "datakit", "kafka", "prometheus"
  std::string name;  // unique; default: the type (then "<type>-2", ...)
  // Filters: empty = everything. Categories by DataKit name ("metric", "logging", ...);
  // measurements exact or with a trailing '*' (prefix).
  std::vector<std::string> categories;
  std::vector<std::string> measurements;
  // Batching of what is sent: at most this many points or bytes per request/message; a
  // partial batch waits at most max_age for more.
  size_t batch_max_points = 5000;
  uint64_t batch_max_bytes = 4 << 20;
  int64_t batch_max_age_ns = 1'000'000'000;
  // The disk queue.
  uint64_t queue_max_bytes = uint64_t{1} << 30;
  uint64_t queue_segment_bytes = 64 << 20;
  enum class Overflow { kDropOldest, kBlock };
  Overflow overflow = Overflow::kDropOldest;  // kBlock: ingest answers 503 while full
  bool fsync = true;  // false: acknowledged once written (survives an agent crash, not a power cut)
  // Delivery.
  int64_t timeout_ns = 10'000'000'000;  // per request
  int64_t retry_min_ns = 1'000'000'000;
  int64_t retry_max_ns = 60'000'000'000;
  uint64_t deadletter_max_bytes = 256 << 20;  // data/deadletter/<name>/, oldest removed beyond

  // type = "influxdb": v1 (/write?db=&rp=, user/password) or v2 (/api/v2/write?org=&bucket=,
  // token). version "" : v2 when org or bucket is set, else v1.
  struct InfluxDb {
    std::string url;  // "http://127.0.0.1:8086"
    std::string version;
    std::string database = "pythond", retention_policy, username, password;
    std::string org, bucket, token;
    bool gzip = true;
    bool operator==(const InfluxDb&) const = default;
  } influxdb;
  // type = "datakit": POST <url>/v1/write/<category>[?token=] (a DataKit or a Dataway).
  struct DataKit {
    std::string url;  // "http://127.0.0.1:9529" or "https://openway.guance.com"
    std::string token;
    std::vector<std::pair<std::string, std::string>> routes;  // category → path override
    bool gzip = true;
    bool operator==(const DataKit&) const = default;
  } datakit;
  // type = "kafka": one message per series per batch (line protocol), keyed by the series.
  struct Kafka {
    std::string brokers;                                          // "host:9092,host2:9092"
    std::string topic = "pythond-{category}";                     // {category} is replaced
    std::vector<std::pair<std::string, std::string>> properties;  // librdkafka settings
    bool operator==(const Kafka&) const = default;
  } kafka;
  // type = "prometheus": the latest value of each numeric metric field as a gauge, served at
  // `path` on the agent's HTTP listener.
  struct Prometheus {
    std::string path = "/v1/prometheus";
    int64_t expire_ns = 300'000'000'000;  // series not updated for this long are dropped
    bool operator==(const Prometheus&) const = default;
  } prometheus;

  std::string file;
  int line = 0;
  bool operator==(const OutputConfig&) const = default;
  // Whether two outputs would run the same way: every setting but where the table is.
  bool SameSettings(const OutputConfig& o) const;
  // Whether this type leaves the machine (and so sits behind a disk queue).
  bool remote() const { return type != "prometheus"; }
};

// The output types [[outputs.<type>]] may name, in the order docs/OUTPUTS.md lists them.
const std::vector<std::string>& OutputTypes();

// One [[git_repos.repo]] table in agent.conf (DataKit's keys; docs/GIT.md).
struct GitRepoConfig {
  bool enable = false;
  std::string url;     // http(s) (credentials in it allowed), git://, ssh://, git@host:path,
                       // file:// or a local path; $VAR expanded
  std::string branch;  // default "master", as DataKit
  std::string ssh_private_key_path;
  std::string ssh_private_key_password;  // $VAR expanded
  // Its folder under ROOT/gitrepos: the URL's last path part without .git (never from the
  // user info, query or fragment, which may hold a token).
  std::string name;
  std::string file;
  int line = 0;
  bool operator==(const GitRepoConfig&) const = default;
};

// `url` with its secrets replaced by "***", for logs, stats and messages: a password
// ("deploy:***@"), a user name alone in an http(s) URL (a token: "***@"), and the values of
// query parameters named like a secret (token, key, secret, password, auth, signature,
// credential, as in "?private_token=***").
std::string MaskUrl(const std::string& url);
// The secrets MaskUrl masks, as written and percent-decoded (to mask them in text that quotes
// them otherwise, such as libgit2's errors). Empty strings are left out.
std::vector<std::string> UrlSecrets(const std::string& url);

// A folder scripts are looked up in, and where it comes from.
struct ScriptRoot {
  std::filesystem::path python_d;
  std::string repo;  // empty: the local python.d
};

struct Config {
  std::filesystem::path root;  // conf.d and python.d (read only)
  // [agent] state_dir: where the agent writes data/ and gitrepos/, and what relative store and
  // log paths are relative to. Default: the root. An installed service keeps the root in
  // /etc/pythond and its state in /var/lib/pythond (docs/INSTALL.md).
  std::filesystem::path state_dir;
  // [http_api]
  std::string listen = "127.0.0.1:9529";
  // Routes non-loopback clients may use ("/v1/ping", or a prefix ending in '*').
  std::vector<std::string> public_apis = {"/v1/write/*", "/v1/ping"};
  // Host names answered besides IP literals, localhost and the hostname (DNS rebinding), and
  // origins whose pages may POST (docs/SECURITY.md); "*" allows any.
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> allowed_origins;
  size_t max_points_per_request = 100'000;  // 0: no limit
  size_t max_connections_per_client = 256;
  uint64_t max_body_bytes = 32 << 20;          // larger request bodies get 413
  int64_t header_timeout_ns = 10'000'000'000;  // to receive a request's headers
  int64_t read_timeout_ns = 30'000'000'000;    // to receive a whole request (slow clients)
  size_t max_connections = 1024;               // beyond: 503 and close
  double request_rate_limit = 0;               // write requests/s (0: none); beyond: 429
  // [global_tags]: added to every point that lacks the key (unless the request opts out).
  // `host` is the machine's hostname unless set here.
  std::vector<std::pair<std::string, std::string>> global_tags;
  // [log]
  std::string log_level = "info";
  std::filesystem::path log_file;      // empty: stderr only
  std::filesystem::path seed_log_dir;  // the seed's two log files; default $HOME
  // [store]
  std::filesystem::path store_path;          // default ROOT/data/pythond.db
  int64_t store_retention_ns = 7 * 86400e9;  // rows older than this are deleted
  int64_t store_max_queue_bytes = 4 << 20;   // in-memory backlog before bodies are held back
  int64_t store_max_size_bytes = 0;          // 0: no cap; else oldest chunks are deleted
  bool store_sync_full = false;              // synchronous=FULL (power loss) vs NORMAL (crash)
  int64_t store_fold_interval_ns = 5'000'000'000;  // WAL records older than this are folded
  int64_t store_write_wait_ns = 10'000'000'000;    // a held-back write gets 503 after this
  // [runner]
  int64_t stop_grace_ns = 5'000'000'000;  // SIGTERM → SIGKILL grace for workers
  int64_t restart_backoff_max_ns = 60'000'000'000;
  int64_t start_timeout_ns = 60'000'000'000;      // worker spawn → ready, else killed
  int64_t rss_check_interval_ns = 5'000'000'000;  // how often workers' RSS is sampled
  // Each plugin's first slot is start + a stable offset in [0, min(interval, spread)).
  int64_t spread_ns = 10'000'000'000;
  // [reload]: SIGHUP always reloads; with `watch`, so does a change under conf.d or python.d
  // (inotify), `delay` after the last change (edits and checkouts come in bursts).
  bool reload_watch = true;
  int64_t reload_delay_ns = 1'000'000'000;

  // [git_repos] (docs/GIT.md): enabled repositories are cloned into ROOT/gitrepos/<name>/ and
  // pulled every pull_interval; their conf.d inputs are loaded, and relative `dirs` resolve
  // against their python.d folders (in this order) before the local one.
  int64_t git_pull_interval_ns = 60'000'000'000;
  std::vector<GitRepoConfig> git_repos;  // enabled or not, in file order

  std::vector<InputConfig> inputs;
  std::vector<OutputConfig> outputs;
  std::vector<std::string> warnings;  // non-fatal findings, "file:line: text"

  std::filesystem::path python_d() const { return root / "python.d"; }
  std::filesystem::path state() const { return state_dir.empty() ? root : state_dir; }
  std::filesystem::path gitrepos_dir() const { return state() / "gitrepos"; }
  // Where relative `dirs` entries are looked up, in order: each enabled repository's python.d,
  // then ROOT/python.d.
  std::vector<ScriptRoot> script_roots() const;
  std::vector<const GitRepoConfig*> enabled_repos() const;
  std::filesystem::path data_dir() const { return state() / "data"; }
};

// The agent.conf settings that differ between `a` and `b` ("http_api.listen", "runner.spread"):
// what a reload cannot apply without a restart. Inputs are not compared.
std::vector<std::string> AgentSettingsChanged(const Config& a, const Config& b);

// Loads ROOT/conf.d. A missing conf.d or agent.conf is fine (defaults, no inputs).
// Errors (all of them, one per line): TOML syntax, wrong types, missing required keys,
// duplicate input names, malformed envs.
// `repo_dirs` replaces the checkout folder of the named repositories (a staged commit being
// validated before it is applied; docs/GIT.md). A non-empty `running_state_dir` is the state
// folder of a running agent being reloaded: it stays (its repositories, store and queues are
// there), and a different [agent] state_dir in the files is a warning that it applies at the
// next start.
StatusOr<Config> LoadConfig(const std::filesystem::path& root, const EnvLookup& lookup,
                            const std::map<std::string, std::filesystem::path>& repo_dirs = {},
                            const std::filesystem::path& running_state_dir = {});

// The installed layout (docs/INSTALL.md): a root loaded from `root` (the same folder) gets
// `state_dir` unless its agent.conf sets [agent] state_dir, so the service's state stays in
// /var/lib/pythond even when agent.conf is replaced by the sample or deleted. Set once by
// main(); empty paths: no installed layout.
void SetInstalledLayout(const std::filesystem::path& root, const std::filesystem::path& state_dir);

}  // namespace pythond::config
