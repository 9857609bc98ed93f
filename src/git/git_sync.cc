#include "git/git_sync.h"

#include <git2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <system_error>

#include "common/logging.h"
#include "common/strings.h"
#include "model/point.h"

namespace pythond::git {

namespace fs = std::filesystem;

namespace {

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RAII for libgit2 objects.
template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using Repo = Owned<git_repository, git_repository_free>;
using Remote = Owned<git_remote, git_remote_free>;
using Commit = Owned<git_commit, git_commit_free>;
using Reference = Owned<git_reference, git_reference_free>;
using StatusList = Owned<git_status_list, git_status_list_free>;

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

std::string Hex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

std::string Short(const std::string& hex) { return hex.substr(0, 7); }

// The user name and password in a URL's user-info ("https://u:p@host/..."), percent-decoded.
std::pair<std::string, std::string> UrlCredentials(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < start) return {};
  std::string info = url.substr(start, at - start);
  size_t colon = info.find(':');
  if (colon == std::string::npos) return {PercentDecode(info), ""};
  return {PercentDecode(info.substr(0, colon)), PercentDecode(info.substr(colon + 1))};
}

// The host and port of an SSH URL: "ssh://user@host:2222/path" or scp-like "user@host:path".
std::pair<std::string, int> SshHostPort(const std::string& url) {
  std::string rest = url;
  int port = 22;
  if (StartsWith(rest, "ssh://") || StartsWith(rest, "git+ssh://") ||
      StartsWith(rest, "ssh+git://")) {
    rest = rest.substr(rest.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    rest = rest.substr(rest.rfind('@') == std::string::npos ? 0 : rest.rfind('@') + 1);
    if (!rest.empty() && rest[0] == '[') {  // [v6]:port
      size_t close = rest.find(']');
      std::string host = rest.substr(1, close - 1);
      if (close + 1 < rest.size() && rest[close + 1] == ':')
        port = std::atoi(rest.c_str() + close + 2);
      return {host, port};
    }
    size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      port = std::atoi(rest.c_str() + colon + 1);
      rest.resize(colon);
    }
    return {rest, port};
  }
  rest = rest.substr(0, rest.find(':'));
  rest = rest.substr(rest.rfind('@') == std::string::npos ? 0 : rest.rfind('@') + 1);
  return {rest, port};
}

// Whether one known_hosts host pattern names `name` ("host" or "[host]:port"): plain, or
// hashed as |1|salt|HMAC-SHA1(salt, name).
bool KnownHostMatches(const std::string& pattern, const std::string& name) {
  if (!StartsWith(pattern, "|1|")) return pattern == name;
  size_t bar = pattern.find('|', 3);
  if (bar == std::string::npos) return false;
  std::string salt, hash;
  if (!model::DecodeBase64(pattern.substr(3, bar - 3), salt) ||
      !model::DecodeBase64(pattern.substr(bar + 1), hash)) {
    return false;
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), out, &len);
  return hash == std::string(reinterpret_cast<char*>(out), len);
}

// The keys (decoded blobs) known_hosts files list for `host`:`port`.
std::vector<std::string> KnownHostKeys(const std::string& host, int port) {
  std::string name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::vector<std::string> keys;
  std::vector<std::string> files = {"/etc/ssh/ssh_known_hosts"};
  if (const char* home = std::getenv("HOME"))
    files.push_back(std::string(home) + "/.ssh/known_hosts");
  for (const std::string& file : files) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> parts;
      for (const std::string& p : SplitString(TrimSpace(line), ' ')) {
        if (!p.empty()) parts.push_back(p);
      }
      if (parts.size() < 3 || parts[0][0] == '#' || parts[0][0] == '@') continue;
      bool match = false;
      for (const std::string& pattern : SplitString(parts[0], ',')) {
        match = match || KnownHostMatches(pattern, name);
      }
      std::string blob;
      if (match && model::DecodeBase64(parts[2], blob)) keys.push_back(blob);
    }
  }
  return keys;
}

struct Callbacks {
  const config::GitRepoConfig* repo = nullptr;
  const std::function<bool()>* stopping = nullptr;
  int attempts = 0;
  bool auth_failed = false;
  std::string host_key_refused;
  std::string auth_note;  // what was offered, for the error message
};

int Credentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                unsigned int allowed, void* payload) {
  auto* cb = static_cast<Callbacks*>(payload);
  const config::GitRepoConfig& repo = *cb->repo;
  // libgit2 asks again after a refusal: the second time, give up (no loop against a server).
  if (++cb->attempts > 2) {
    cb->auth_failed = true;
    return GIT_EAUTH;
  }
  std::string user = username_from_url && *username_from_url ? username_from_url : "git";
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !repo.ssh_private_key_path.empty()) {
    cb->auth_note = "SSH key " + repo.ssh_private_key_path;
    std::string pub = repo.ssh_private_key_path + ".pub";
    std::error_code ec;
    return git_credential_ssh_key_new(
        out, user.c_str(), fs::exists(pub, ec) ? pub.c_str() : nullptr,
        repo.ssh_private_key_path.c_str(),
        repo.ssh_private_key_password.empty() ? nullptr : repo.ssh_private_key_password.c_str());
  }
  if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
    auto [u, p] = UrlCredentials(repo.url);
    if (!u.empty()) {
      cb->auth_note = "the user name and password in the URL";
      return git_credential_userpass_plaintext_new(out, u.c_str(), p.c_str());
    }
  }
  if (allowed & GIT_CREDENTIAL_USERNAME) return git_credential_username_new(out, user.c_str());
  cb->auth_failed = true;
  cb->auth_note = (allowed & GIT_CREDENTIAL_SSH_KEY)
                      ? "no ssh_private_key_path configured"
                      : "no credentials configured (put user:password in the URL)";
  return GIT_EAUTH;
}

// SSH host keys: checked against known_hosts (the agent's ~/.ssh/known_hosts and
// /etc/ssh/ssh_known_hosts). A host listed there with other keys is refused (a changed key or
// a man in the middle); a host not listed is accepted with a warning, as DataKit accepts every
// host key. TLS certificates keep libgit2's own verification.
int CheckCertificate(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;
  auto* cb = static_cast<Callbacks*>(payload);
  const auto* key = reinterpret_cast<const git_cert_hostkey*>(cert);
  auto [url_host, port] = SshHostPort(cb->repo->url);
  std::string name = host ? host : url_host;
  std::vector<std::string> known = KnownHostKeys(name, port);
  std::string shown = port == 22 ? name : "[" + name + "]:" + std::to_string(port);
  if (known.empty()) {
    static std::mutex mu;
    static std::set<std::string> warned;
    std::lock_guard lock(mu);
    if (warned.insert(shown).second) {
      LOG_WARN(
          "git repo '{}': SSH host {} is not in known_hosts; its key is accepted unchecked "
          "(add it with: ssh-keyscan -p {} {} >> ~/.ssh/known_hosts)",
          cb->repo->name, shown, port, name);
    }
    return 0;
  }
  if (!(key->type & GIT_CERT_SSH_RAW)) return 0;
  std::string raw(key->hostkey, key->hostkey_len);
  for (const std::string& k : known) {
    if (k == raw) return 0;
  }
  cb->host_key_refused = "the SSH host key of " + shown +
                         " does not match known_hosts (changed key, or a man in the middle)";
  git_error_set_str(GIT_ERROR_SSH, cb->host_key_refused.c_str());
  return GIT_ECERTIFICATE;
}

// git_clone's "origin", created without url.*.insteadOf (see the pull's remote below).
int CreateOrigin(git_remote** out, git_repository* repo, const char* name, const char* url, void*) {
  git_remote_create_options ro = GIT_REMOTE_CREATE_OPTIONS_INIT;
  ro.repository = repo;
  ro.name = name;
  ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
  return git_remote_create_with_opts(out, url, &ro);
}

int Progress(const git_indexer_progress*, void* payload) {
  auto* cb = static_cast<Callbacks*>(payload);
  return (*cb->stopping)() ? -1 : 0;  // a stop interrupts a transfer
}

void SetFetchCallbacks(git_remote_callbacks* rc, Callbacks* cb) {
  rc->credentials = Credentials;
  rc->certificate_check = CheckCertificate;
  rc->transfer_progress = Progress;
  rc->payload = cb;
}

// libgit2's last error, with the URL's secrets masked, and what an auth failure means.
std::string LastError(const config::GitRepoConfig& repo, const Callbacks& cb, const char* what) {
  const git_error* e = git_error_last();
  std::string text = std::string(what) + ": " + (e && e->message ? e->message : "unknown error");
  text = ReplaceAll(text, repo.url, config::MaskUrl(repo.url));
  for (const std::string& secret : config::UrlSecrets(repo.url)) {
    text = ReplaceAll(text, secret, "***");
  }
  if (!repo.ssh_private_key_password.empty()) {
    text = ReplaceAll(text, repo.ssh_private_key_password, "***");
  }
  if (!cb.host_key_refused.empty()) {
    text = std::string(what) + ": " + cb.host_key_refused;
  } else if (cb.auth_failed || (e && e->klass == GIT_ERROR_SSH && cb.attempts > 0)) {
    text += " (authentication failed" + (cb.auth_note.empty() ? "" : ": " + cb.auth_note) + ")";
  }
  return text;
}

// Paths with local changes in the checkout: modified, deleted, new files.
std::vector<std::string> LocalEdits(git_repository* repo) {
  std::vector<std::string> out;
  git_status_options opts = GIT_STATUS_OPTIONS_INIT;
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
  StatusList list;
  if (git_status_list_new(list.out(), repo, &opts) != 0) return out;
  size_t n = git_status_list_entrycount(list.get());
  for (size_t i = 0; i < n; ++i) {
    const git_status_entry* e = git_status_byindex(list.get(), i);
    const git_diff_delta* d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
    if (d && d->new_file.path) out.emplace_back(d->new_file.path);
  }
  return out;
}

std::string Joined(const std::vector<std::string>& items, size_t max = 10) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
  return out;
}

std::string StagedLayoutProblem(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir / "conf.d", ec) && !fs::is_directory(dir / "python.d", ec)) {
    return "the repository has neither conf.d/ nor python.d/ at its top level";
  }
  return "";
}

}  // namespace

std::pair<std::string, std::string> CheckoutHead(const fs::path& dir) {
  InitLibgit2();
  Repo repo;
  if (git_repository_open_ext(repo.out(), dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0) {
    return {};
  }
  git_oid oid;
  if (git_reference_name_to_id(&oid, repo.get(), "HEAD") != 0) return {};
  Commit commit;
  if (git_commit_lookup(commit.out(), repo.get(), &oid) != 0) return {Hex(&oid), ""};
  const char* summary = git_commit_summary(commit.get());
  return {Hex(&oid), summary ? summary : ""};
}

void GitSync::SyncOne(const fs::path& gitrepos_dir, const config::GitRepoConfig& cfg,
                      const Validator& validate, RepoStatus* st, std::string* change,
                      const std::function<bool()>& stopping) {
  InitLibgit2();
  st->name = cfg.name;
  st->url = config::MaskUrl(cfg.url);
  st->branch = cfg.branch;
  st->last_pull_unix_ns = WallNs();
  ++st->pulls;
  change->clear();
  fs::path dir = gitrepos_dir / cfg.name;
  std::error_code ec;
  fs::create_directories(gitrepos_dir, ec);
  Callbacks cb;
  cb.repo = &cfg;
  cb.stopping = &stopping;
  auto fail = [&](std::string why) {
    ++st->failures;
    st->last_ok = false;
    st->last_error = std::move(why);
  };
  auto applied = [&](const std::string& hex, const std::string& subject) {
    st->head = hex;
    st->head_summary = subject;
    st->last_ok = true;
    st->last_error.clear();
    st->rejected_commit.clear();
    st->last_change_unix_ns = WallNs();
    ++st->changes;
  };
  auto validated = [&](const fs::path& staged, const std::string& hex,
                       const std::string& subject) -> bool {
    std::string problem = StagedLayoutProblem(staged);
    if (problem.empty() && validate) problem = validate(cfg.name, staged);
    if (problem.empty()) return true;
    problem = ReplaceAll(problem, staged.string(), (gitrepos_dir / cfg.name).string());
    st->rejected_commit = hex;
    fail("commit " + Short(hex) + " (" + subject + ") rejected; keeping " +
         (st->head.empty() ? std::string("nothing") : Short(st->head)) + ": " + problem);
    return false;
  };

  if (!fs::exists(dir / ".git", ec)) {
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
      fail(dir.string() +
           " exists and is not a git repository; move it away to let pythond clone " + st->url +
           " there");
      return;
    }
    // First clone: into a temporary folder, validated, then renamed into place.
    fs::path tmp = gitrepos_dir / ("." + cfg.name + ".clone");
    fs::remove_all(tmp, ec);
    git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
    opts.checkout_branch = cfg.branch.c_str();
    SetFetchCallbacks(&opts.fetch_opts.callbacks, &cb);
    opts.remote_cb = CreateOrigin;
    Repo repo;
    if (git_clone(repo.out(), cfg.url.c_str(), tmp.c_str(), &opts) != 0) {
      std::string why = LastError(cfg, cb, ("clone " + st->url).c_str());
      if (why.find("reference 'refs/remotes/origin/" + cfg.branch + "' not found") !=
          std::string::npos) {
        why = "clone " + st->url + ": branch '" + cfg.branch + "' not found on the remote";
      }
      fs::remove_all(tmp, ec);
      fail(why);
      return;
    }
    auto [hex, subject] = CheckoutHead(tmp);
    if (hex == st->rejected_commit && !hex.empty()) {  // still the rejected one: no new error
      fs::remove_all(tmp, ec);
      ++st->failures;
      st->last_ok = false;
      return;
    }
    if (!validated(tmp, hex, subject)) {
      fs::remove_all(tmp, ec);
      return;
    }
    fs::remove_all(dir, ec);  // an empty folder
    fs::rename(tmp, dir, ec);
    if (ec) {
      fail("cannot move the clone to " + dir.string() + ": " + ec.message());
      fs::remove_all(tmp, ec);
      return;
    }
    applied(hex, subject);
    *change = cfg.name + ": cloned " + st->url + " at " + Short(hex) + " (" + subject + ")";
    return;
  }

  Repo repo;
  if (git_repository_open_ext(repo.out(), dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0) {
    fail(LastError(cfg, cb, ("open " + dir.string()).c_str()));
    return;
  }
  {
    auto [head_hex, head_subject] = CheckoutHead(dir);
    st->head = head_hex;
    st->head_summary = head_subject;
  }
  // An anonymous remote for the configured URL (so a changed URL is simply followed), without
  // url.*.insteadOf: libgit2 1.5 leaks a regex match per non-matching config entry there
  // (git_regexp_match returns early without freeing), which would grow the agent at every pull.
  Remote remote;
  git_remote_create_options ro = GIT_REMOTE_CREATE_OPTIONS_INIT;
  ro.repository = repo.get();
  ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  if (git_remote_create_with_opts(remote.out(), cfg.url.c_str(), &ro) != 0) {
    fail(LastError(cfg, cb, "set the remote"));
    return;
  }
  std::string refspec = "+refs/heads/" + cfg.branch + ":refs/remotes/origin/" + cfg.branch;
  char* specs[] = {refspec.data()};
  git_strarray refspecs = {specs, 1};
  git_fetch_options fetch = GIT_FETCH_OPTIONS_INIT;
  SetFetchCallbacks(&fetch.callbacks, &cb);
  fetch.prune = GIT_FETCH_NO_PRUNE;
  if (git_remote_fetch(remote.get(), &refspecs, &fetch, "pythond pull") != 0) {
    std::string why = LastError(cfg, cb, ("fetch " + st->url).c_str());
    if (why.find("couldn't find remote ref") != std::string::npos) {
      why = "fetch " + st->url + ": branch '" + cfg.branch + "' not found on the remote";
    }
    fail(why);
    return;
  }
  git_oid target;
  if (git_reference_name_to_id(&target, repo.get(),
                               ("refs/remotes/origin/" + cfg.branch).c_str()) != 0) {
    fail("fetch " + st->url + ": branch '" + cfg.branch + "' not found on the remote");
    return;
  }
  std::string target_hex = Hex(&target);
  Commit commit;
  if (git_commit_lookup(commit.out(), repo.get(), &target) != 0) {
    fail(LastError(cfg, cb, "read the fetched commit"));
    return;
  }
  std::string subject = git_commit_summary(commit.get()) ? git_commit_summary(commit.get()) : "";
  std::vector<std::string> edits = LocalEdits(repo.get());
  Reference head_ref;
  std::string head_name;
  if (git_reference_lookup(head_ref.out(), repo.get(), "HEAD") == 0 &&
      git_reference_type(head_ref.get()) == GIT_REFERENCE_SYMBOLIC) {
    head_name = git_reference_symbolic_target(head_ref.get());
  }
  bool same_commit = target_hex == st->head;
  bool on_branch = head_name == "refs/heads/" + cfg.branch;
  if (same_commit && edits.empty() && on_branch) {
    st->last_ok = true;
    st->last_error.clear();
    return;
  }
  if (!same_commit) {
    if (target_hex == st->rejected_commit) {  // reported when it was fetched; nothing new
      ++st->failures;
      st->last_ok = false;
      return;
    }
    // Stage the new commit's tree and let the agent validate it before touching the checkout.
    fs::path staged = gitrepos_dir / ("." + cfg.name + ".staging");
    fs::remove_all(staged, ec);
    fs::create_directories(staged, ec);
    git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
    co.target_directory = staged.c_str();
    if (git_checkout_tree(repo.get(), reinterpret_cast<git_object*>(commit.get()), &co) != 0) {
      fail(LastError(cfg, cb, "stage the new commit"));
      fs::remove_all(staged, ec);
      return;
    }
    bool ok = validated(staged, target_hex, subject);
    fs::remove_all(staged, ec);
    if (!ok) return;
  }
  if (!edits.empty()) {
    LOG_WARN("git repo '{}': discarding local edits in {}: {}", cfg.name, dir.string(),
             Joined(edits));
  }
  // The working tree becomes the commit exactly: the branch points at it, HEAD at the branch.
  Reference branch_ref;
  std::string branch_name = "refs/heads/" + cfg.branch;
  if (git_reference_create(branch_ref.out(), repo.get(), branch_name.c_str(), &target, 1,
                           "pythond pull") != 0 ||
      git_repository_set_head(repo.get(), branch_name.c_str()) != 0) {
    fail(LastError(cfg, cb, "move the branch"));
    return;
  }
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
  if (git_checkout_head(repo.get(), &co) != 0) {
    fail(LastError(cfg, cb, "check out"));
    return;
  }
  std::string before = st->head;
  applied(target_hex, subject);
  if (same_commit) {
    *change = cfg.name + ": local edits discarded (" + Joined(edits, 3) + ")";
  } else {
    *change = cfg.name + ": " + (before.empty() ? "?" : Short(before)) + " → " + Short(target_hex) +
              " (" + subject + ")";
  }
}

struct GitSync::Shared {
  std::mutex mu;
  std::condition_variable cv;
  fs::path gitrepos_dir;
  std::vector<config::GitRepoConfig> repos;
  int64_t interval_ns = 60'000'000'000;
  bool stopping = false;
  bool wake = false;
  bool running = false;            // the thread is inside a pull
  std::vector<RepoStatus> status;  // by repos' order (enabled ones)
  Validator validate;
  std::function<void(std::string)> on_change;
};

GitSync::GitSync(fs::path gitrepos_dir, std::vector<config::GitRepoConfig> repos,
                 int64_t interval_ns, Validator validate,
                 std::function<void(std::string)> on_change)
    : shared_(std::make_shared<Shared>()) {
  InitLibgit2();
  shared_->gitrepos_dir = std::move(gitrepos_dir);
  shared_->validate = std::move(validate);
  shared_->on_change = std::move(on_change);
  Update(std::move(repos), interval_ns);
}

GitSync::~GitSync() { Stop(); }

void GitSync::Update(std::vector<config::GitRepoConfig> repos, int64_t interval_ns) {
  std::lock_guard lock(shared_->mu);
  std::vector<RepoStatus> status;
  for (const auto& r : repos) {
    if (!r.enable || r.name.empty()) continue;
    RepoStatus s;
    for (const auto& old : shared_->status) {
      if (old.name == r.name) s = old;
    }
    s.name = r.name;
    s.url = config::MaskUrl(r.url);
    if (s.branch != r.branch) s.rejected_commit.clear();
    s.branch = r.branch;
    if (s.head.empty()) {
      auto [hex, subject] = CheckoutHead(shared_->gitrepos_dir / r.name);
      s.head = hex;
      s.head_summary = subject;
    }
    status.push_back(std::move(s));
  }
  shared_->repos.clear();
  for (auto& r : repos) {
    if (r.enable && !r.name.empty()) shared_->repos.push_back(std::move(r));
  }
  shared_->status = std::move(status);
  shared_->interval_ns = interval_ns;
  shared_->wake = true;
  shared_->cv.notify_all();
}

void GitSync::Start() {
  std::shared_ptr<Shared> sh = shared_;
  thread_ = std::thread([sh] {
    std::unique_lock lock(sh->mu);
    while (!sh->stopping) {
      sh->wake = false;
      std::vector<config::GitRepoConfig> repos = sh->repos;
      for (const auto& repo : repos) {
        if (sh->stopping) break;
        RepoStatus st;
        for (const auto& s : sh->status) {
          if (s.name == repo.name) st = s;
        }
        sh->running = true;
        lock.unlock();
        std::string change, error_before = st.last_ok ? "" : st.last_error;
        SyncOne(sh->gitrepos_dir, repo, sh->validate, &st, &change, [&sh] {
          std::lock_guard l(sh->mu);
          return sh->stopping;
        });
        if (!st.last_ok && !st.last_error.empty()) {
          // Once per distinct error (a remote down for an hour is one line, not 60); the
          // failure count in /v1/stats keeps going up.
          if (st.last_error != error_before) {
            LOG_WARN("git repo '{}': {} (retried every {} s)", repo.name, st.last_error,
                     sh->interval_ns / 1'000'000'000);
          } else {
            LOG_DEBUG("git repo '{}': still failing: {}", repo.name, st.last_error);
          }
        } else if (!change.empty()) {
          LOG_INFO("git repo {}", change);
        } else if (!error_before.empty()) {
          LOG_INFO("git repo '{}': pulls work again", repo.name);
        }
        lock.lock();
        sh->running = false;
        sh->cv.notify_all();
        for (auto& s : sh->status) {
          if (s.name == repo.name) s = st;  // unless a reload removed it meanwhile
        }
        if (!change.empty() && !sh->stopping && sh->on_change) sh->on_change("git " + change);
      }
      if (sh->stopping) break;
      sh->cv.wait_for(lock, std::chrono::nanoseconds(sh->interval_ns),
                      [&sh] { return sh->stopping || sh->wake; });
    }
  });
}

void GitSync::Stop(int64_t wait_ns) {
  std::unique_lock lock(shared_->mu);
  shared_->stopping = true;
  shared_->cv.notify_all();
  bool idle = shared_->cv.wait_for(lock, std::chrono::nanoseconds(wait_ns),
                                   [this] { return !shared_->running; });
  lock.unlock();
  if (!thread_.joinable()) return;
  if (idle) {
    thread_.join();
  } else {
    LOG_WARN("git: a pull is still in progress after {} ms; leaving it behind", wait_ns / 1000000);
    thread_.detach();  // it holds its own reference to the shared state and calls back nothing
  }
}

std::vector<RepoStatus> GitSync::Status() const {
  std::lock_guard lock(shared_->mu);
  return shared_->status;
}

}  // namespace pythond::git
