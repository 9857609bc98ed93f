// Running pythond as an installed service (docs/INSTALL.md):
//   DefaultRoot()        the root a command uses when --root is not given
//   pythond service -R   the seed's `datakit service -R`: checks the installed configuration,
//                        then asks systemd to restart the unit (-T start, -S stop, --reload,
//                        --status).
#pragma once

#include <filesystem>
#include <string>

namespace pythond::agent {

// Where the installed layout keeps things; empty when this build was never meant to be
// installed (fixed at configure time by CMAKE_INSTALL_PREFIX, see CMakeLists.txt).
struct InstallPaths {
  std::filesystem::path binary;     // e.g. /usr/bin/pythond
  std::filesystem::path root;       // e.g. /etc/pythond (conf.d, python.d)
  std::filesystem::path state_dir;  // e.g. /var/lib/pythond (data, gitrepos)
  std::filesystem::path log_dir;    // e.g. /var/log/pythond
  std::string unit = "pythond.service";
};
const InstallPaths& Installed();

// --root's default: $PYTHOND_ROOT when set; the installed root when this process is the
// installed binary (so `sudo pythond check` on a host checks what the service runs); else ".".
// `exe` is this process's binary (/proc/self/exe), a parameter for tests.
std::filesystem::path DefaultRoot(const std::filesystem::path& exe);
std::filesystem::path DefaultRoot();

struct ServiceCommandOptions {
  std::filesystem::path root;  // the configuration checked before start/restart/reload
  std::string action;          // "start", "stop", "restart", "reload" or "status"
  std::string unit;            // default Installed().unit
  bool force = false;          // start/restart/reload even when the configuration has errors
  // Where systemd says it runs (sd_booted(3)); a parameter for tests.
  std::filesystem::path systemd_dir = "/run/systemd/system";
};
int RunServiceCommand(const ServiceCommandOptions& options);

}  // namespace pythond::agent
