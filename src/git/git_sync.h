// Git repositories of scripts and configs (docs/GIT.md): each enabled [[git_repos.repo]] is
// cloned into ROOT/gitrepos/<name>/ and kept equal to its remote branch, every pull_interval,
// with libgit2 on a thread of its own (blocking network and disk work never runs on the event
// loop).
//
// A new commit is applied only if it is valid: its tree is first checked out into a staging
// folder and handed to the validator (the agent loads the whole configuration with that folder
// in place of the repository's); a commit that does not validate is rejected — the last good
// checkout stays, the error is kept in Status() — and is not tried again until the branch moves.
// Applying = the working tree becomes the commit exactly (local edits are discarded, with a
// log line naming them); then `on_change` is called (the agent reloads). Failures — an
// unreachable remote, refused credentials, an unknown branch — are reported and retried at the
// next interval. URLs in messages and Status() have their passwords masked.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"

namespace pythond::git {

struct RepoStatus {
  std::string name, url, branch;  // url with its password masked
  std::string head;               // the commit checked out (hex); empty: not cloned yet
  std::string head_summary;       // its subject line
  int64_t last_pull_unix_ns = 0;  // the last attempt
  int64_t last_change_unix_ns = 0;
  bool last_ok = false;
  std::string last_error;       // why the last attempt failed or its commit was rejected
  std::string rejected_commit;  // the newest commit not applied (its configuration is invalid)
  uint64_t pulls = 0, failures = 0, changes = 0;
};

// "" when `staged` (a checkout of a new commit of `repo`) may replace the repository's folder;
// otherwise why not. Called on the sync thread.
using Validator =
    std::function<std::string(const std::string& repo, const std::filesystem::path& staged)>;

// The commit a checkout is at: {hex, subject}; empty when `dir` is not a repository.
std::pair<std::string, std::string> CheckoutHead(const std::filesystem::path& dir);

class GitSync {
 public:
  // `on_change(what)` runs on the sync thread after a repository's folder changed ("conf:
  // 1a2b3c4 → 5d6e7f8 (subject)"); never after Stop() returned.
  GitSync(std::filesystem::path gitrepos_dir, std::vector<config::GitRepoConfig> repos,
          int64_t interval_ns, Validator validate, std::function<void(std::string)> on_change);
  ~GitSync();

  void Start();  // the first pull at once, then every interval
  // New settings (a reload): repositories added, removed or changed; pulls at once.
  void Update(std::vector<config::GitRepoConfig> repos, int64_t interval_ns);
  // Stops the thread: waits for a pull in progress up to `wait_ns` (libgit2 1.5 cannot
  // interrupt a connect), then leaves it to finish on its own without calling back.
  void Stop(int64_t wait_ns = 5'000'000'000);
  std::vector<RepoStatus> Status() const;

  // One pull of one repository, on the calling thread (the sync thread, and tests).
  static void SyncOne(const std::filesystem::path& gitrepos_dir, const config::GitRepoConfig& repo,
                      const Validator& validate, RepoStatus* status, std::string* change,
                      const std::function<bool()>& stopping);

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace pythond::git
