#include "agent/service_command.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "agent/process_env.h"
#include "config/config.h"

extern char** environ;

namespace pythond::agent {

namespace fs = std::filesystem;

const InstallPaths& Installed() {
  static const InstallPaths paths = [] {
    InstallPaths p;
#ifdef PYTHOND_INSTALL_BINARY
    p.binary = PYTHOND_INSTALL_BINARY;
    p.root = PYTHOND_INSTALL_ROOT;
    p.state_dir = PYTHOND_INSTALL_STATE_DIR;
    p.log_dir = PYTHOND_INSTALL_LOG_DIR;
#endif
    return p;
  }();
  return paths;
}

fs::path DefaultRoot(const fs::path& exe) {
  if (const char* env = std::getenv("PYTHOND_ROOT"); env && *env) return env;
  const InstallPaths& installed = Installed();
  std::error_code ec;
  if (!installed.binary.empty() && !exe.empty() && fs::equivalent(exe, installed.binary, ec) &&
      !ec) {
    return installed.root;
  }
  return ".";
}

fs::path DefaultRoot() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return DefaultRoot(ec ? fs::path() : exe);
}

namespace {

// Runs argv (looked up in PATH) with this process's stdio; its exit code, or -1 with `why`.
int Spawn(const std::vector<std::string>& argv, std::string* why) {
  std::cout.flush();  // our lines before the child's
  std::cerr.flush();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (err != 0) {
    *why = "cannot run " + argv[0] + ": " + std::strerror(err);
    return -1;
  }
  int status = 0;
  pid_t waited;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (waited < 0) {
    *why = "cannot wait for " + argv[0] + ": " + std::strerror(errno);
    return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  *why = argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status));
  return -1;
}

std::string Done(const std::string& action) {
  return action == "stop" ? "stopped" : action + "ed";  // started, restarted, reloaded
}

}  // namespace

int RunServiceCommand(const ServiceCommandOptions& options) {
  const std::string unit = options.unit.empty() ? Installed().unit : options.unit;
  const std::string& action = options.action;
  const bool starts = action == "start" || action == "restart" || action == "reload";

  // The seed's step 4 restarts into whatever conf.d holds; a broken file would stop the agent.
  // Check first, and leave the running agent alone when the configuration does not load.
  if (starts) {
    auto loaded = config::LoadConfig(options.root, ProcessEnv());
    if (!loaded.ok()) {
      std::cerr << "pythond service: the configuration under " << (options.root / "conf.d").string()
                << " does not load:\n"
                << loaded.status().message() << "\n";
      if (loaded.status().message().find("Permission denied") != std::string::npos &&
          geteuid() != 0) {
        std::cerr << "pythond service: the configuration is readable by root and the service's "
                     "group only: run it with sudo.\n";
        return 1;
      }
      if (!options.force) {
        std::cerr << "pythond service: nothing was " << Done(action)
                  << "; the running agent (if any) keeps its configuration. Fix the errors "
                     "(pythond check --root "
                  << options.root.string() << " lists them), or add --force.\n";
        return 1;
      }
    } else {
      std::cout << "pythond service: configuration under " << options.root.string() << " OK ("
                << loaded->inputs.size() << " input(s))\n";
    }
  }

  std::error_code ec;
  if (!fs::is_directory(options.systemd_dir, ec)) {
    std::cerr << "pythond service: systemd is not running on this machine (no "
              << options.systemd_dir.string() << "), so there is no " << unit << " to " << action
              << ".\n"
              << "Run the agent in the foreground instead:\n  "
              << (Installed().binary.empty() ? fs::path("pythond") : Installed().binary).string()
              << " run --root " << options.root.string() << "\n"
              << "(as the pythond user: runuser -u pythond -- ...), or under your own "
                 "supervisor; SIGHUP reloads it, SIGTERM stops it.\n";
    return 1;
  }
  std::vector<std::string> argv = {"systemctl", action, unit};
  if (action == "status") argv.insert(argv.begin() + 1, "--no-pager");
  std::string why;
  int rc = Spawn(argv, &why);
  if (rc < 0) {
    std::cerr << "pythond service: " << why << "\n";
    return 1;
  }
  if (rc != 0 && action != "status") {
    std::cerr << "pythond service: systemctl " << action << " " << unit << " failed (exit " << rc
              << "); see: journalctl -u " << unit << " -n 50\n";
  } else if (rc == 0 && action != "status") {
    std::cout << "pythond service: " << unit << " " << Done(action) << "\n";
  }
  return rc;
}

}  // namespace pythond::agent
