#include "config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/files.h"
#include "common/strings.h"
#include "model/point.h"

namespace pythond::config {

namespace fs = std::filesystem;

namespace {

// SetInstalledLayout's paths (set once, before any loading).
fs::path& InstalledRoot() {
  static fs::path root;
  return root;
}
fs::path& InstalledStateDir() {
  static fs::path dir;
  return dir;
}

class Loader {
 public:
  Loader(const fs::path& root, const EnvLookup& lookup,
         const std::map<std::string, fs::path>& repo_dirs, const fs::path& running_state_dir)
      : lookup_(lookup), repo_dirs_(repo_dirs), running_state_dir_(running_state_dir) {
    config_.root = root;
    std::error_code ec;
    if (!InstalledRoot().empty() && fs::equivalent(root, InstalledRoot(), ec) && !ec) {
      config_.state_dir = InstalledStateDir();
    }
  }

  StatusOr<Config> Load() {
    fs::path conf_d = config_.root / "conf.d";
    std::vector<fs::path> files = ConfFiles(conf_d);
    // agent.conf first, then the rest in path order: deterministic input order.
    std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
      bool aa = a == conf_d / "agent.conf", ba = b == conf_d / "agent.conf";
      if (aa != ba) return aa;
      return a < b;
    });
    for (const auto& f : files) LoadFile(f, f == conf_d / "agent.conf");
    // A reload keeps the running agent's state folder: its repositories are read from there.
    if (!running_state_dir_.empty() && config_.state() != running_state_dir_) {
      config_.warnings.push_back("agent.state_dir " + config_.state().string() +
                                 " applies at the next start; the running agent keeps " +
                                 running_state_dir_.string());
      config_.state_dir = running_state_dir_;
    }
    // Then each enabled git repository's conf.d, in [[git_repos.repo]] order (docs/GIT.md). A
    // repository not cloned yet has none.
    for (const GitRepoConfig* repo : config_.enabled_repos()) {
      auto over = repo_dirs_.find(repo->name);
      fs::path dir = over != repo_dirs_.end() ? over->second : config_.gitrepos_dir() / repo->name;
      std::vector<fs::path> repo_files = ConfFiles(dir / "conf.d", dir);
      std::sort(repo_files.begin(), repo_files.end());
      current_repo_ = repo->name;
      for (const auto& f : repo_files) LoadFile(f, false);
      current_repo_.clear();
    }
    NameOutputs();
    ApplyDefaults();
    if (!errors_.empty()) {
      std::string msg = std::to_string(errors_.size()) + " configuration error(s):";
      for (const auto& e : errors_) msg += "\n  " + e;
      return Status::InvalidArgument(msg);
    }
    return std::move(config_);
  }

 private:
  // Every *.conf under `conf_d` (recursively), unsorted. With `confined_to` (a repository's
  // checkout), a symlink to a folder or file outside it is skipped with a warning: what a
  // remote repository holds must not make the agent read the host's other files.
  std::vector<fs::path> ConfFiles(const fs::path& conf_d, const fs::path& confined_to = {}) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_directory(conf_d, ec)) {
      // Symlinked folders are followed, but each real folder and file is read once: a link
      // loop or two links to one folder cannot load an input twice.
      std::set<fs::path> seen_dirs{fs::weakly_canonical(conf_d, ec)};
      std::set<fs::path> seen_files;
      const fs::path jail =
          confined_to.empty() ? fs::path() : fs::weakly_canonical(confined_to, ec);
      auto outside = [&](const fs::path& real) {
        if (jail.empty()) return false;
        auto rel = real.lexically_relative(jail);
        return rel.empty() || *rel.begin() == "..";
      };
      for (auto it = fs::recursive_directory_iterator(
               conf_d, fs::directory_options::follow_directory_symlink, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code entry_ec;
        const fs::path real = fs::weakly_canonical(it->path(), entry_ec);
        const bool is_dir = it->is_directory(entry_ec);
        if ((is_dir || it->path().extension() == ".conf") && outside(real)) {
          config_.warnings.push_back(it->path().string() + ": a link out of the repository (to " +
                                     real.string() + ") is not followed");
          if (is_dir) it.disable_recursion_pending();
          continue;
        }
        if (is_dir) {
          if (!seen_dirs.insert(real).second) it.disable_recursion_pending();
        } else if (it->is_regular_file(entry_ec) && it->path().extension() == ".conf" &&
                   seen_files.insert(real).second) {
          files.push_back(it->path());
        }
      }
      if (ec) errors_.push_back(conf_d.string() + ": cannot list: " + ec.message());
    }
    return files;
  }

  std::string Where(const std::string& file, const toml::node& node) const {
    return file + ":" + std::to_string(node.source().begin.line);
  }
  std::string Where(const std::string& file, const toml::table& t) const {
    return file + ":" + std::to_string(t.source().begin.line);
  }

  void LoadFile(const fs::path& path, bool is_agent_conf) {
    std::string file = path.string();
    toml::table doc;
    try {
      doc = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      errors_.push_back(file + ":" + std::to_string(e.source().begin.line) + ":" +
                        std::to_string(e.source().begin.column) +
                        ": TOML syntax error: " + std::string(e.description()));
      return;
    }
    for (auto&& [key, node] : doc) {
      std::string k(key.str());
      if (k == "inputs") {
        LoadInputs(file, node);
      } else if (!current_repo_.empty()) {
        config_.warnings.push_back(Where(file, node) + ": '" + k +
                                   "' ignored: a git repository's conf.d holds inputs only");
      } else if (k == "outputs") {
        LoadOutputs(file, node);
      } else if (is_agent_conf && k == "agent") {
        LoadAgent(file, node);
      } else if (is_agent_conf && k == "http_api") {
        LoadHttpApi(file, node);
      } else if (is_agent_conf && k == "log") {
        LoadLog(file, node);
      } else if (is_agent_conf && k == "store") {
        LoadStore(file, node);
      } else if (is_agent_conf && k == "runner") {
        LoadRunner(file, node);
      } else if (is_agent_conf && k == "global_tags") {
        LoadGlobalTags(file, node);
      } else if (is_agent_conf && k == "reload") {
        LoadReload(file, node);
      } else if (is_agent_conf && k == "git_repos") {
        LoadGitRepos(file, node);
      } else {
        config_.warnings.push_back(
            Where(file, node) + ": unknown key '" + k + "' ignored" +
            (is_agent_conf ? "" : " (only [[inputs.pythond]] is read here)"));
      }
    }
  }

  const toml::table* AsTable(const std::string& file, const toml::node& node,
                             const std::string& what) {
    const toml::table* t = node.as_table();
    if (!t) errors_.push_back(Where(file, node) + ": [" + what + "] must be a table");
    return t;
  }

  // Reads an optional string key; records an error if it has another type.
  bool GetString(const std::string& file, const toml::table& t, const char* key,
                 const std::string& section, std::string* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (auto s = n->value<std::string>()) {
      *out = *s;
      return true;
    }
    errors_.push_back(Where(file, *n) + ": " + section + "." + key + " must be a string");
    return false;
  }

  bool GetDuration(const std::string& file, const toml::table& t, const char* key,
                   const std::string& section, int64_t* out_ns) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (auto s = n->value<std::string>()) {
      if (ParseDuration(*s, out_ns) && *out_ns > 0) return true;
    } else if (n->is_number()) {
      double secs = n->value<double>().value_or(-1);
      if (secs > 0 && secs < 9e9) {
        *out_ns = static_cast<int64_t>(secs * 1e9);
        return true;
      }
    }
    errors_.push_back(Where(file, *n) + ": " + section + "." + key +
                      " must be a positive duration like \"10s\", \"5m\", \"7d\"");
    return false;
  }

  void WarnUnknownKeys(const std::string& file, const toml::table& t, const std::string& section,
                       const std::vector<const char*>& known) {
    for (auto&& [key, node] : t) {
      std::string k(key.str());
      if (std::find_if(known.begin(), known.end(), [&](const char* x) { return k == x; }) ==
          known.end()) {
        config_.warnings.push_back(Where(file, node) + ": unknown key " + section + "." + k +
                                   " ignored");
      }
    }
  }

  void LoadHttpApi(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "http_api");
    if (!t) return;
    std::string listen;
    if (GetString(file, *t, "listen", "http_api", &listen)) config_.listen = listen;
    if (const toml::node* n = t->get("public_apis")) {
      std::vector<std::string> apis;
      if (ReadStringArray(file, *n, "http_api.public_apis", &apis)) config_.public_apis = apis;
    }
    if (const toml::node* n = t->get("allowed_hosts")) {
      ReadStringArray(file, *n, "http_api.allowed_hosts", &config_.allowed_hosts);
    }
    if (const toml::node* n = t->get("allowed_origins")) {
      ReadStringArray(file, *n, "http_api.allowed_origins", &config_.allowed_origins);
    }
    if (const toml::node* n = t->get("max_body_mb")) {
      auto v = n->value<int64_t>();
      if (v && *v > 0 && *v <= 4096) {
        config_.max_body_bytes = static_cast<uint64_t>(*v) << 20;
      } else {
        errors_.push_back(Where(file, *n) + ": http_api.max_body_mb must be 1..4096");
      }
    }
    GetDuration(file, *t, "timeout", "http_api", &config_.read_timeout_ns);
    GetDuration(file, *t, "header_timeout", "http_api", &config_.header_timeout_ns);
    if (const toml::node* n = t->get("max_connections")) {
      auto v = n->value<int64_t>();
      if (v && *v > 0 && *v <= 1'000'000) {
        config_.max_connections = static_cast<size_t>(*v);
      } else {
        errors_.push_back(Where(file, *n) + ": http_api.max_connections must be 1..1000000");
      }
    }
    if (const toml::node* n = t->get("max_connections_per_client")) {
      auto v = n->value<int64_t>();
      if (v && *v > 0 && *v <= 1'000'000) {
        config_.max_connections_per_client = static_cast<size_t>(*v);
      } else {
        errors_.push_back(Where(file, *n) +
                          ": http_api.max_connections_per_client must be 1..1000000");
      }
    }
    if (const toml::node* n = t->get("max_points_per_request")) {
      auto v = n->value<int64_t>();
      if (v && *v >= 0 && *v <= 100'000'000) {
        config_.max_points_per_request = static_cast<size_t>(*v);
      } else {
        errors_.push_back(Where(file, *n) +
                          ": http_api.max_points_per_request must be 0..100000000 (0: no limit)");
      }
    }
    if (const toml::node* n = t->get("request_rate_limit")) {
      auto v = n->value<double>();
      if (v && *v >= 0) {
        config_.request_rate_limit = *v;
      } else {
        errors_.push_back(Where(file, *n) +
                          ": http_api.request_rate_limit must be a number >= 0 (0: no limit)");
      }
    }
    WarnUnknownKeys(file, *t, "http_api",
                    {"listen", "public_apis", "allowed_hosts", "allowed_origins", "max_body_mb",
                     "max_points_per_request", "timeout", "header_timeout", "max_connections",
                     "max_connections_per_client", "request_rate_limit"});
  }

  void LoadAgent(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "agent");
    if (!t) return;
    std::string s;
    if (GetString(file, *t, "state_dir", "agent", &s)) {
      if (s.empty()) {
        errors_.push_back(Where(file, *t) +
                          ": agent.state_dir must not be empty (leave it out "
                          "to keep the state under the root)");
      } else {
        fs::path dir = ExpandHome(s);
        config_.state_dir = dir.is_relative() ? config_.root / dir : dir;
      }
    }
    WarnUnknownKeys(file, *t, "agent", {"state_dir"});
  }

  void LoadLog(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "log");
    if (!t) return;
    std::string s;
    if (GetString(file, *t, "level", "log", &s)) config_.log_level = s;
    if (GetString(file, *t, "file", "log", &s)) config_.log_file = s;
    if (GetString(file, *t, "seed_log_dir", "log", &s)) config_.seed_log_dir = ExpandHome(s);
    WarnUnknownKeys(file, *t, "log", {"level", "file", "seed_log_dir"});
  }

  void LoadStore(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "store");
    if (!t) return;
    std::string s;
    if (GetString(file, *t, "path", "store", &s)) config_.store_path = s;
    GetDuration(file, *t, "retention", "store", &config_.store_retention_ns);
    if (const toml::node* n = t->get("max_queue_mb")) {
      auto v = n->value<int64_t>();
      if (v && *v > 0 && *v < (1 << 20)) {
        config_.store_max_queue_bytes = *v << 20;
      } else {
        errors_.push_back(Where(file, *n) + ": store.max_queue_mb must be a positive integer");
      }
    }
    if (const toml::node* n = t->get("max_size_mb")) {
      auto v = n->value<int64_t>();
      if (v && *v >= 0 && *v < (int64_t{1} << 30)) {
        config_.store_max_size_bytes = *v << 20;
      } else {
        errors_.push_back(Where(file, *n) +
                          ": store.max_size_mb must be a non-negative integer (0: no cap)");
      }
    }
    if (GetString(file, *t, "sync", "store", &s)) {
      if (s == "normal" || s == "full") {
        config_.store_sync_full = s == "full";
      } else {
        errors_.push_back(Where(file, *t->get("sync")) +
                          ": store.sync must be \"normal\" (survives a crash) or \"full\" "
                          "(survives power loss)");
      }
    }
    GetDuration(file, *t, "fold_interval", "store", &config_.store_fold_interval_ns);
    GetDuration(file, *t, "write_wait", "store", &config_.store_write_wait_ns);
    WarnUnknownKeys(file, *t, "store",
                    {"path", "retention", "max_queue_mb", "max_size_mb", "sync", "fold_interval",
                     "write_wait"});
  }

  void LoadRunner(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "runner");
    if (!t) return;
    GetDuration(file, *t, "stop_grace", "runner", &config_.stop_grace_ns);
    GetDuration(file, *t, "restart_backoff_max", "runner", &config_.restart_backoff_max_ns);
    GetDuration(file, *t, "start_timeout", "runner", &config_.start_timeout_ns);
    GetDuration(file, *t, "rss_check_interval", "runner", &config_.rss_check_interval_ns);
    GetDuration(file, *t, "spread", "runner", &config_.spread_ns);
    WarnUnknownKeys(
        file, *t, "runner",
        {"stop_grace", "restart_backoff_max", "start_timeout", "rss_check_interval", "spread"});
  }

  void LoadReload(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "reload");
    if (!t) return;
    if (const toml::node* n = t->get("watch")) {
      if (auto v = n->value<bool>()) {
        config_.reload_watch = *v;
      } else {
        errors_.push_back(Where(file, *n) + ": reload.watch must be true or false");
      }
    }
    GetDuration(file, *t, "delay", "reload", &config_.reload_delay_ns);
    WarnUnknownKeys(file, *t, "reload", {"watch", "delay"});
  }

  void LoadGitRepos(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "git_repos");
    if (!t) return;
    GetDuration(file, *t, "pull_interval", "git_repos", &config_.git_pull_interval_ns);
    WarnUnknownKeys(file, *t, "git_repos", {"pull_interval", "repo"});
    const toml::node* repos = t->get("repo");
    if (!repos) return;
    const toml::array* arr = repos->as_array();
    if (!arr) {
      errors_.push_back(Where(file, *repos) + ": git_repos.repo must be [[git_repos.repo]] tables");
      return;
    }
    for (const toml::node& item : *arr) {
      const toml::table* r = item.as_table();
      if (!r) {
        errors_.push_back(Where(file, item) + ": git_repos.repo must be [[git_repos.repo]] tables");
        continue;
      }
      GitRepoConfig repo;
      repo.file = file;
      repo.line = static_cast<int>(r->source().begin.line);
      std::string where = Where(file, *r);
      const char* section = "git_repos.repo";
      if (const toml::node* e = r->get("enable")) {
        if (auto b = e->value<bool>()) {
          repo.enable = *b;
        } else {
          errors_.push_back(Where(file, *e) + ": git_repos.repo.enable must be true or false");
        }
      }
      GetString(file, *r, "url", section, &repo.url);
      GetString(file, *r, "branch", section, &repo.branch);
      GetString(file, *r, "ssh_private_key_path", section, &repo.ssh_private_key_path);
      GetString(file, *r, "ssh_private_key_password", section, &repo.ssh_private_key_password);
      WarnUnknownKeys(
          file, *r, section,
          {"enable", "url", "branch", "ssh_private_key_path", "ssh_private_key_password"});
      for (auto [what, value] :
           {std::pair{"url", &repo.url},
            std::pair{"ssh_private_key_password", &repo.ssh_private_key_password}}) {
        std::string expanded, err;
        if (!ExpandEnv(*value, lookup_, &expanded, &err)) {
          errors_.push_back(where + ": " + section + "." + what + ": " + err);
        } else {
          *value = std::move(expanded);
        }
      }
      if (repo.branch.empty()) repo.branch = "master";
      if (!repo.ssh_private_key_path.empty()) {
        repo.ssh_private_key_path = ExpandHome(repo.ssh_private_key_path).string();
      }
      repo.name = RepoName(repo.url);
      if (repo.enable) {
        if (repo.url.empty()) {
          errors_.push_back(where + ": an enabled [[git_repos.repo]] needs url = \"...\"");
        } else if (repo.name.empty()) {
          errors_.push_back(where + ": cannot name a folder after url '" + MaskUrl(repo.url) +
                            "' (it needs a last path part, as in .../conf.git)");
        } else {
          for (const GitRepoConfig& other : config_.git_repos) {
            if (other.enable && other.name == repo.name) {
              errors_.push_back(where + ": repository '" + repo.name + "' is already enabled at " +
                                other.file + ":" + std::to_string(other.line) +
                                " (both would be cloned into gitrepos/" + repo.name + ")");
            }
          }
        }
      }
      config_.git_repos.push_back(std::move(repo));
    }
  }

  // DataKit's folder name for a repository: the URL's last path part without ".git".
  static std::string RepoName(std::string url) {
    // Not from the query, fragment or user info: a token may sit there.
    if (size_t scheme = url.find("://"); scheme != std::string::npos) {
      url.resize(std::min(url.find_first_of("?#", scheme), url.size()));
      size_t authority_end = std::min(url.find('/', scheme + 3), url.size());
      if (size_t at = url.rfind('@', authority_end); at != std::string::npos && at > scheme) {
        url.erase(scheme + 3, at + 1 - (scheme + 3));
      }
      if (url.find('/', scheme + 3) == std::string::npos) return "";  // no path
    }
    while (!url.empty() && (url.back() == '/' || url.back() == '\\')) url.pop_back();
    size_t cut = url.find_last_of("/:");
    std::string last = cut == std::string::npos ? url : url.substr(cut + 1);
    if (EndsWith(last, ".git")) last.resize(last.size() - 4);
    if (last == "." || last == "..") return "";
    return last;
  }

  void LoadGlobalTags(const std::string& file, const toml::node& node) {
    const toml::table* t = AsTable(file, node, "global_tags");
    if (!t) return;
    for (auto&& [key, value] : *t) {
      std::string k(key.str());
      if (auto v = value.value<std::string>()) {
        if (k.empty() || v->empty()) {
          errors_.push_back(Where(file, value) + ": global_tags keys and values must not be empty");
          continue;
        }
        config_.global_tags.emplace_back(k, *v);
      } else {
        errors_.push_back(Where(file, value) + ": global_tags." + k + " must be a string");
      }
    }
  }

  void LoadInputs(const std::string& file, const toml::node& node) {
    const toml::table* inputs = AsTable(file, node, "inputs");
    if (!inputs) return;
    for (auto&& [key, value] : *inputs) {
      std::string kind(key.str());
      if (kind != "pythond") {
        config_.warnings.push_back(Where(file, value) + ": [[inputs." + kind +
                                   "]] ignored: pythond runs only [[inputs.pythond]]");
        continue;
      }
      if (const toml::array* arr = value.as_array()) {
        for (const toml::node& item : *arr) {
          if (const toml::table* t = item.as_table()) {
            LoadPythondInput(file, *t);
          } else {
            errors_.push_back(Where(file, item) + ": [[inputs.pythond]] entries must be tables");
          }
        }
      } else if (const toml::table* t = value.as_table()) {
        LoadPythondInput(file, *t);  // [inputs.pythond] written as a single table
      } else {
        errors_.push_back(Where(file, value) + ": inputs.pythond must be [[inputs.pythond]]");
      }
    }
  }

  void LoadOutputs(const std::string& file, const toml::node& node) {
    const toml::table* outputs = AsTable(file, node, "outputs");
    if (!outputs) return;
    for (auto&& [key, value] : *outputs) {
      std::string type(key.str());
      const auto& types = OutputTypes();
      if (std::find(types.begin(), types.end(), type) == types.end()) {
        std::string known;
        for (const auto& t : types) known += (known.empty() ? "" : ", ") + t;
        errors_.push_back(Where(file, value) + ": unknown output type [[outputs." + type +
                          "]] (known: " + known + ")");
        continue;
      }
      if (const toml::array* arr = value.as_array()) {
        for (const toml::node& item : *arr) {
          if (const toml::table* t = item.as_table()) {
            LoadOutput(file, type, *t);
          } else {
            errors_.push_back(Where(file, item) + ": [[outputs." + type +
                              "]] entries must be tables");
          }
        }
      } else if (const toml::table* t = value.as_table()) {
        LoadOutput(file, type, *t);
      } else {
        errors_.push_back(Where(file, value) + ": outputs." + type + " must be [[outputs." + type +
                          "]]");
      }
    }
  }

  void GetBool(const std::string& file, const toml::table& t, const char* key,
               const std::string& section, bool* out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (auto v = n->value<bool>()) {
      *out = *v;
    } else {
      errors_.push_back(Where(file, *n) + ": " + section + "." + key + " must be true or false");
    }
  }

  void GetSize(const std::string& file, const toml::table& t, const char* key,
               const std::string& section, double min_bytes, uint64_t* out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (!ReadSize(*n, out, min_bytes)) {
      errors_.push_back(Where(file, *n) + ": " + section + "." + key +
                        " must be a size like \"4MiB\", \"1GiB\" (or a number of bytes), at "
                        "least " +
                        std::to_string(static_cast<uint64_t>(min_bytes)) + " bytes");
    }
  }

  void GetStringTable(const std::string& file, const toml::table& t, const char* key,
                      const std::string& section,
                      std::vector<std::pair<std::string, std::string>>* out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    const toml::table* table = n->as_table();
    if (!table) {
      errors_.push_back(Where(file, *n) + ": " + section + "." + key +
                        " must be a table of strings, like { key = \"value\" }");
      return;
    }
    for (auto&& [k, v] : *table) {
      if (auto s = v.value<std::string>()) {
        out->emplace_back(std::string(k.str()), *s);
      } else {
        errors_.push_back(Where(file, v) + ": " + section + "." + key + "." + std::string(k.str()) +
                          " must be a string");
      }
    }
  }

  void LoadOutput(const std::string& file, const std::string& type, const toml::table& t) {
    OutputConfig out;
    out.type = type;
    out.file = file;
    out.line = static_cast<int>(t.source().begin.line);
    std::string section = "outputs." + type;
    std::string where = Where(file, t);
    size_t errors_before = errors_.size();
    GetString(file, t, "name", section, &out.name);
    if (const toml::node* n = t.get("categories")) {
      std::string key = section + ".categories";
      if (ReadStringArray(file, *n, key.c_str(), &out.categories)) {
        for (const auto& c : out.categories) {
          if (!model::ParseCategory(c)) {
            errors_.push_back(Where(file, *n) + ": " + key + ": unknown category '" + c +
                              "' (want metric, logging, object, custom_object, keyevent, rum, "
                              "network or security)");
          }
        }
      }
    }
    if (const toml::node* n = t.get("measurements")) {
      std::string key = section + ".measurements";
      ReadStringArray(file, *n, key.c_str(), &out.measurements);
    }
    if (const toml::node* n = t.get("batch_max_points")) {
      auto v = n->value<int64_t>();
      if (v && *v > 0 && *v <= 1'000'000) {
        out.batch_max_points = static_cast<size_t>(*v);
      } else {
        errors_.push_back(Where(file, *n) + ": " + section +
                          ".batch_max_points must be 1..1000000");
      }
    }
    GetSize(file, t, "batch_max_size", section, 1024, &out.batch_max_bytes);
    GetDuration(file, t, "batch_max_age", section, &out.batch_max_age_ns);
    GetSize(file, t, "queue_max_size", section, 1 << 20, &out.queue_max_bytes);
    GetSize(file, t, "queue_segment_size", section, 64 << 10, &out.queue_segment_bytes);
    std::string overflow;
    if (GetString(file, t, "overflow", section, &overflow)) {
      if (overflow == "drop_oldest") {
        out.overflow = OutputConfig::Overflow::kDropOldest;
      } else if (overflow == "block") {
        out.overflow = OutputConfig::Overflow::kBlock;
      } else {
        errors_.push_back(Where(file, *t.get("overflow")) + ": " + section +
                          ".overflow must be \"drop_oldest\" or \"block\", not \"" + overflow +
                          "\"");
      }
    }
    GetBool(file, t, "fsync", section, &out.fsync);
    GetDuration(file, t, "timeout", section, &out.timeout_ns);
    GetDuration(file, t, "retry_min", section, &out.retry_min_ns);
    GetDuration(file, t, "retry_max", section, &out.retry_max_ns);
    GetSize(file, t, "deadletter_max_size", section, 1 << 20, &out.deadletter_max_bytes);
    std::vector<const char*> known = {"name",           "categories",
                                      "measurements",   "batch_max_points",
                                      "batch_max_size", "batch_max_age",
                                      "queue_max_size", "queue_segment_size",
                                      "overflow",       "fsync",
                                      "timeout",        "retry_min",
                                      "retry_max",      "deadletter_max_size"};
    auto require = [&](const char* key, const std::string& value, const char* example) {
      if (value.empty() && errors_.size() == errors_before) {
        errors_.push_back(where + ": [[" + section + "]] needs " + key + " = " + example +
                          " (required)");
      }
    };
    if (type == "influxdb") {
      auto& o = out.influxdb;
      GetString(file, t, "url", section, &o.url);
      GetString(file, t, "version", section, &o.version);
      GetString(file, t, "database", section, &o.database);
      GetString(file, t, "retention_policy", section, &o.retention_policy);
      GetString(file, t, "username", section, &o.username);
      GetString(file, t, "password", section, &o.password);
      GetString(file, t, "org", section, &o.org);
      GetString(file, t, "bucket", section, &o.bucket);
      GetString(file, t, "token", section, &o.token);
      GetBool(file, t, "gzip", section, &o.gzip);
      if (!o.version.empty() && o.version != "1" && o.version != "2") {
        errors_.push_back(where + ": " + section + ".version must be \"1\" or \"2\"");
      }
      require("url", o.url, "\"http://127.0.0.1:8086\"");
      known.insert(known.end(), {"url", "version", "database", "retention_policy", "username",
                                 "password", "org", "bucket", "token", "gzip"});
    } else if (type == "datakit") {
      auto& o = out.datakit;
      GetString(file, t, "url", section, &o.url);
      GetString(file, t, "token", section, &o.token);
      GetStringTable(file, t, "routes", section, &o.routes);
      for (const auto& [category, path] : o.routes) {
        if (!model::ParseCategory(category)) {
          errors_.push_back(where + ": " + section + ".routes: unknown category '" + category +
                            "'");
        }
      }
      GetBool(file, t, "gzip", section, &o.gzip);
      require("url", o.url, "\"http://127.0.0.1:9529\"");
      known.insert(known.end(), {"url", "token", "routes", "gzip"});
    } else if (type == "kafka") {
      auto& o = out.kafka;
      GetString(file, t, "brokers", section, &o.brokers);
      GetString(file, t, "topic", section, &o.topic);
      GetStringTable(file, t, "properties", section, &o.properties);
      require("brokers", o.brokers, "\"127.0.0.1:9092\"");
      if (o.topic.empty()) errors_.push_back(where + ": " + section + ".topic must not be empty");
      known.insert(known.end(), {"brokers", "topic", "properties"});
    } else if (type == "prometheus") {
      auto& o = out.prometheus;
      GetString(file, t, "path", section, &o.path);
      GetDuration(file, t, "expire", section, &o.expire_ns);
      if (o.path.empty() || o.path[0] != '/' || o.path.find('?') != std::string::npos) {
        errors_.push_back(where + ": " + section + ".path must be a path like \"/v1/prometheus\"");
      }
      known.insert(known.end(), {"path", "expire"});
    }
    WarnUnknownKeys(file, t, section, known);
    // Secrets need not be written into the file: "$VAR" / "${VAR}" come from the agent's
    // environment, as in envs.
    auto expand = [&](const char* what, std::string* value) {
      std::string expanded, err;
      if (!ExpandEnv(*value, lookup_, &expanded, &err)) {
        errors_.push_back(where + ": " + section + "." + what + ": " + err);
      } else {
        *value = std::move(expanded);
      }
    };
    expand("url", &out.influxdb.url);
    expand("password", &out.influxdb.password);
    expand("token", &out.influxdb.token);
    expand("url", &out.datakit.url);
    expand("token", &out.datakit.token);
    expand("brokers", &out.kafka.brokers);
    for (auto& [k, v] : out.kafka.properties) expand("properties", &v);
    if (errors_.size() != errors_before) return;
    config_.outputs.push_back(std::move(out));
  }

  // Default names, and names unique across outputs (they name folders under data/queue/).
  void NameOutputs() {
    std::map<std::string, std::string> used;  // name → where
    std::map<std::string, int> per_type;
    for (OutputConfig& o : config_.outputs) {
      std::string where = o.file + ":" + std::to_string(o.line);
      if (o.name.empty()) {
        int n = ++per_type[o.type];
        o.name = n == 1 ? o.type : o.type + "-" + std::to_string(n);
      }
      bool safe = !o.name.empty() && o.name != "." && o.name != ".." &&
                  o.name.find_first_of("/\\") == std::string::npos && o.name.size() <= 100;
      if (!safe) {
        errors_.push_back(where + ": output name '" + o.name +
                          "' must be a plain file name (no '/', at most 100 characters)");
        continue;
      }
      auto [it, inserted] = used.emplace(o.name, where);
      if (!inserted) {
        errors_.push_back(where + ": output name '" + o.name + "' is already used at " +
                          it->second + " (set a distinct name = \"...\")");
      }
    }
  }

  void LoadPythondInput(const std::string& file, const toml::table& t) {
    InputConfig in;
    in.file = file;
    in.line = static_cast<int>(t.source().begin.line);
    in.repo = current_repo_;
    std::string where = Where(file, t);
    size_t errors_before = errors_.size();

    if (!GetString(file, t, "name", "inputs.pythond", &in.name) || in.name.empty()) {
      if (errors_.size() == errors_before) {
        errors_.push_back(where + ": [[inputs.pythond]] needs name = \"...\" (required)");
      }
    }
    size_t before_cmd = errors_.size();
    if (!GetString(file, t, "cmd", "inputs.pythond", &in.cmd) || in.cmd.empty()) {
      if (errors_.size() == before_cmd) {
        errors_.push_back(where + ": [[inputs.pythond]] '" + in.name +
                          "' needs cmd = \"python3\" (required: the Python executable)");
      }
    }
    if (const toml::node* n = t.get("dirs")) {
      if (!ReadStringArray(file, *n, "dirs", &in.dirs)) {
        // error recorded
      }
    } else {
      errors_.push_back(where + ": [[inputs.pythond]] '" + in.name +
                        "' needs dirs = [\"...\"] (required: script folders under python.d)");
    }
    if (const toml::node* n = t.get("envs")) {
      std::vector<std::string> raw;
      if (ReadStringArray(file, *n, "envs", &raw)) {
        const toml::array& arr = *n->as_array();
        for (size_t i = 0; i < raw.size(); ++i) {
          std::string w = Where(file, arr[i]);
          size_t eq = raw[i].find('=');
          if (eq == 0 || eq == std::string::npos) {
            errors_.push_back(w + ": envs entry '" + raw[i] + "' must be KEY=VALUE");
            continue;
          }
          std::string expanded, err;
          if (!ExpandEnv(raw[i].substr(eq + 1), lookup_, &expanded, &err)) {
            errors_.push_back(w + ": envs entry '" + raw[i] + "': " + err);
            continue;
          }
          in.envs.push_back(raw[i].substr(0, eq + 1) + expanded);
        }
      }
    }
    GetDuration(file, t, "timeout", "inputs.pythond", &in.timeout_ns);
    GetDuration(file, t, "recycle_stuck_after", "inputs.pythond", &in.recycle_stuck_after_ns);
    if (const toml::node* n = t.get("jitter")) {
      // 0 is allowed here ("no jitter").
      if (n->value<int64_t>() == 0 || n->value<std::string>() == "0") {
        in.jitter_ns = 0;
      } else {
        GetDuration(file, t, "jitter", "inputs.pythond", &in.jitter_ns);
      }
    }
    if (const toml::node* n = t.get("max_rss")) {
      uint64_t bytes = 0;
      if (!ReadSize(*n, &bytes)) {
        errors_.push_back(Where(file, *n) +
                          ": inputs.pythond.max_rss must be a size like \"512MiB\", \"2GiB\" "
                          "(or a number of bytes), at least 1MiB");
      } else {
        in.max_rss_bytes = bytes;
      }
    }
    std::string isolation;
    if (GetString(file, t, "isolation", "inputs.pythond", &isolation)) {
      if (isolation == "input") {
        in.isolation = InputConfig::Isolation::kInput;
      } else if (isolation == "process") {
        in.isolation = InputConfig::Isolation::kProcess;
      } else {
        errors_.push_back(Where(file, *t.get("isolation")) +
                          ": inputs.pythond.isolation must be \"input\" (one worker for the "
                          "input) or \"process\" (one worker per plugin), not \"" +
                          isolation + "\"");
      }
    }
    WarnUnknownKeys(file, t, "inputs.pythond",
                    {"name", "cmd", "dirs", "envs", "timeout", "recycle_stuck_after", "jitter",
                     "max_rss", "isolation"});
    if (errors_.size() != errors_before) return;

    if (in.dirs.empty()) {
      config_.warnings.push_back(where + ": input '" + in.name +
                                 "' has dirs = [] and runs no scripts");
    }
    auto [it, inserted] = names_.emplace(in.name, where);
    if (!inserted) {
      errors_.push_back(where + ": input name '" + in.name + "' is already used at " + it->second);
      return;
    }
    config_.inputs.push_back(std::move(in));
  }

  // "512MiB", "2GiB", "100MB", "4096" (bytes as a string) or an integer number of bytes.
  static bool ReadSize(const toml::node& n, uint64_t* out, double min_bytes = 1 << 20) {
    if (auto v = n.value<int64_t>()) {
      if (*v < min_bytes) return false;
      *out = static_cast<uint64_t>(*v);
      return true;
    }
    auto s = n.value<std::string>();
    if (!s) return false;
    std::string_view text = *s;
    size_t i = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == 0) return false;
    double number = 0;
    try {
      number = std::stod(std::string(text.substr(0, i)));
    } catch (...) {
      return false;
    }
    std::string unit(text.substr(i));
    while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    static const std::pair<const char*, double> kUnits[] = {{"", 1},
                                                            {"B", 1},
                                                            {"KiB", 1024.0},
                                                            {"MiB", 1048576.0},
                                                            {"GiB", 1073741824.0},
                                                            {"KB", 1e3},
                                                            {"MB", 1e6},
                                                            {"GB", 1e9},
                                                            {"K", 1024.0},
                                                            {"M", 1048576.0},
                                                            {"G", 1073741824.0}};
    for (const auto& [name, mult] : kUnits) {
      if (unit == name) {
        double bytes = number * mult;
        if (!(bytes >= min_bytes) || bytes > 1e15) return false;
        *out = static_cast<uint64_t>(bytes);
        return true;
      }
    }
    return false;
  }

  static std::string QualifiedKey(const char* key) {
    std::string k(key);
    return k.find('.') == std::string::npos ? "inputs.pythond." + k : k;
  }

  bool ReadStringArray(const std::string& file, const toml::node& node, const char* key,
                       std::vector<std::string>* out) {
    const toml::array* arr = node.as_array();
    if (!arr) {
      errors_.push_back(Where(file, node) + ": " + QualifiedKey(key) +
                        " must be an array of strings");
      return false;
    }
    bool ok = true;
    for (const toml::node& item : *arr) {
      if (auto s = item.value<std::string>()) {
        out->push_back(*s);
      } else {
        errors_.push_back(Where(file, item) + ": " + QualifiedKey(key) +
                          " entries must be strings");
        ok = false;
      }
    }
    return ok;
  }

  void ApplyDefaults() {
    // Relative paths of what the agent writes are relative to the state folder (the root
    // unless [agent] state_dir says otherwise).
    const fs::path root = config_.state();
    if (config_.store_path.empty()) config_.store_path = "data/pythond.db";
    if (config_.store_path.is_relative()) config_.store_path = root / config_.store_path;
    if (!config_.log_file.empty() && config_.log_file.is_relative()) {
      config_.log_file = root / config_.log_file;
    }
    if (config_.seed_log_dir.empty()) {
      config_.seed_log_dir = ExpandHome("~");
    } else if (config_.seed_log_dir.is_relative()) {
      config_.seed_log_dir = root / config_.seed_log_dir;
    }
  }

  const EnvLookup& lookup_;
  const std::map<std::string, fs::path>& repo_dirs_;
  const fs::path running_state_dir_;
  std::string current_repo_;  // the git repository whose conf.d is being read
  Config config_;
  std::vector<std::string> errors_;
  std::map<std::string, std::string> names_;  // input name → where it was defined
};

}  // namespace

namespace {

// [begin, end) byte ranges of the secrets in `url` (see MaskUrl), in order.
std::vector<std::pair<size_t, size_t>> SecretSpans(const std::string& url) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return spans;  // scp-like "git@host:path", a local path
  const size_t start = scheme + 3;
  const size_t authority_end = std::min(url.find_first_of("/?#", start), url.size());
  size_t at = url.rfind('@', authority_end);
  if (at != std::string::npos && at >= start) {
    size_t colon = url.find(':', start);
    std::string scheme_name = url.substr(0, scheme);
    for (char& c : scheme_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (colon != std::string::npos && colon < at) {
      spans.emplace_back(colon + 1, at);  // user:password@
    } else if (scheme_name == "http" || scheme_name == "https") {
      spans.emplace_back(start, at);  // a token given as the user name
    }
  }
  size_t query = url.find('?', authority_end);
  const size_t query_end = std::min(url.find('#', authority_end), url.size());
  if (query == std::string::npos || query > query_end) return spans;
  for (size_t p = query + 1; p < query_end;) {
    size_t amp = std::min(url.find('&', p), query_end);
    size_t eq = url.find('=', p);
    if (eq != std::string::npos && eq < amp) {
      std::string name = url.substr(p, eq - p);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const char* word :
           {"token", "key", "secret", "password", "passwd", "auth", "signature", "credential"}) {
        if (name.find(word) != std::string::npos) {
          if (amp > eq + 1) spans.emplace_back(eq + 1, amp);
          break;
        }
      }
    }
    p = amp + 1;
  }
  return spans;
}

}  // namespace

std::string MaskUrl(const std::string& url) {
  std::string out = url;
  auto spans = SecretSpans(url);
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    if (it->second > it->first) out.replace(it->first, it->second - it->first, "***");
  }
  return out;
}

std::vector<std::string> UrlSecrets(const std::string& url) {
  std::vector<std::string> out;
  for (auto [begin, end] : SecretSpans(url)) {
    if (end <= begin) continue;
    out.push_back(url.substr(begin, end - begin));
    if (std::string decoded = PercentDecode(out.back()); decoded != out.back()) {
      out.push_back(std::move(decoded));
    }
  }
  return out;
}

std::vector<const GitRepoConfig*> Config::enabled_repos() const {
  std::vector<const GitRepoConfig*> out;
  for (const auto& r : git_repos) {
    if (r.enable && !r.name.empty()) out.push_back(&r);
  }
  return out;
}

std::vector<ScriptRoot> Config::script_roots() const {
  std::vector<ScriptRoot> roots;
  for (const GitRepoConfig* r : enabled_repos()) {
    roots.push_back({gitrepos_dir() / r->name / "python.d", r->name});
  }
  roots.push_back({python_d(), ""});
  return roots;
}

bool SameSettings(const InputConfig& a, const InputConfig& b) {
  return a.name == b.name && a.repo == b.repo && a.cmd == b.cmd && a.dirs == b.dirs &&
         a.envs == b.envs && a.timeout_ns == b.timeout_ns &&
         a.recycle_stuck_after_ns == b.recycle_stuck_after_ns && a.jitter_ns == b.jitter_ns &&
         a.max_rss_bytes == b.max_rss_bytes && a.isolation == b.isolation;
}

bool OutputConfig::SameSettings(const OutputConfig& o) const {
  OutputConfig a = *this, b = o;
  a.file = b.file = "";
  a.line = b.line = 0;
  return a == b;
}

const std::vector<std::string>& OutputTypes() {
  static const std::vector<std::string> kTypes = {"influxdb", "datakit", "kafka", "prometheus"};
  return kTypes;
}

std::vector<std::string> AgentSettingsChanged(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto check = [&out](bool same, const char* name) {
    if (!same) out.emplace_back(name);
  };
  check(a.listen == b.listen, "http_api.listen");
  check(a.public_apis == b.public_apis, "http_api.public_apis");
  check(a.allowed_hosts == b.allowed_hosts, "http_api.allowed_hosts");
  check(a.allowed_origins == b.allowed_origins, "http_api.allowed_origins");
  check(a.max_points_per_request == b.max_points_per_request, "http_api.max_points_per_request");
  check(a.max_body_bytes == b.max_body_bytes, "http_api.max_body_mb");
  check(a.header_timeout_ns == b.header_timeout_ns, "http_api.header_timeout");
  check(a.read_timeout_ns == b.read_timeout_ns, "http_api.timeout");
  check(a.max_connections == b.max_connections, "http_api.max_connections");
  check(a.max_connections_per_client == b.max_connections_per_client,
        "http_api.max_connections_per_client");
  check(a.request_rate_limit == b.request_rate_limit, "http_api.request_rate_limit");
  check(a.global_tags == b.global_tags, "global_tags");
  check(a.state_dir == b.state_dir, "agent.state_dir");
  check(a.log_level == b.log_level, "log.level");
  check(a.log_file == b.log_file, "log.file");
  check(a.seed_log_dir == b.seed_log_dir, "log.seed_log_dir");
  check(a.store_path == b.store_path, "store.path");
  check(a.store_retention_ns == b.store_retention_ns, "store.retention");
  check(a.store_max_queue_bytes == b.store_max_queue_bytes, "store.max_queue_mb");
  check(a.store_max_size_bytes == b.store_max_size_bytes, "store.max_size_mb");
  check(a.store_sync_full == b.store_sync_full, "store.sync");
  check(a.store_fold_interval_ns == b.store_fold_interval_ns, "store.fold_interval");
  check(a.store_write_wait_ns == b.store_write_wait_ns, "store.write_wait");
  check(a.stop_grace_ns == b.stop_grace_ns, "runner.stop_grace");
  check(a.restart_backoff_max_ns == b.restart_backoff_max_ns, "runner.restart_backoff_max");
  check(a.start_timeout_ns == b.start_timeout_ns, "runner.start_timeout");
  check(a.rss_check_interval_ns == b.rss_check_interval_ns, "runner.rss_check_interval");
  check(a.spread_ns == b.spread_ns, "runner.spread");
  check(a.reload_watch == b.reload_watch, "reload.watch");
  check(a.reload_delay_ns == b.reload_delay_ns, "reload.delay");
  check(a.outputs.size() == b.outputs.size() &&
            std::equal(
                a.outputs.begin(), a.outputs.end(), b.outputs.begin(),
                [](const OutputConfig& x, const OutputConfig& y) { return x.SameSettings(y); }),
        "outputs");
  return out;
}

void SetInstalledLayout(const fs::path& root, const fs::path& state_dir) {
  InstalledRoot() = root;
  InstalledStateDir() = state_dir;
}

StatusOr<Config> LoadConfig(const fs::path& root, const EnvLookup& lookup,
                            const std::map<std::string, fs::path>& repo_dirs,
                            const fs::path& running_state_dir) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return Status::NotFound("root " + root.string() + " is not a directory");
  }
  fs::path abs = fs::absolute(root, ec).lexically_normal();
  if (!abs.empty() && abs.filename().empty()) abs = abs.parent_path();
  return Loader(abs, lookup, repo_dirs, running_state_dir).Load();
}

}  // namespace pythond::config
