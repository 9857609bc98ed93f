// pythond's command line (DESIGN §2.2). The only file outside a library.
#include <signal.h>

#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/agent.h"
#include "agent/monitor.h"
#include "agent/script_tools.h"
#include "agent/service_command.h"
#include "config/config.h"
#include "runner/python_dir.h"

#ifdef PYTHOND_JEMALLOC
// jemalloc's settings, read at its start (MALLOC_CONF in the environment still overrides):
// hand freed pages back to the system after a second (the default is 10 s, which shows as
// RSS after an ingest burst), and purge them at once rather than keep "muzzy" pages.
extern "C" {
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a worker that dies mid-write must not kill the agent

  CLI::App app{"pythond: runs DataKit-compatible Python collector scripts"};
  app.require_subcommand(1);
  // --root's default: $PYTHOND_ROOT, the installed root for the installed binary, else ".".
  const std::string default_root = pythond::agent::DefaultRoot().string();
  // The installed root keeps its state in the installed state folder (docs/INSTALL.md).
  const auto& installed = pythond::agent::Installed();
  pythond::config::SetInstalledLayout(installed.root, installed.state_dir);

  pythond::agent::RunOptions run;
  std::string root_for_run = default_root;
  auto* run_cmd = app.add_subcommand("run", "run the agent in the foreground");
  run_cmd->add_option("--root", root_for_run, "the root folder (conf.d, python.d, data)")
      ->capture_default_str();
  run_cmd->add_option("--listen", run.listen,
                      "HOST:PORT for the HTTP API (default 127.0.0.1:9529)");
  run_cmd->add_option("--log-level", run.log_level, "trace, debug, info, warn or error");

  std::string query_root = default_root, query_format = "tsv", sql;
  auto* query_cmd = app.add_subcommand("query", "read-only SQL over the embedded store");
  query_cmd->add_option("--root", query_root, "the root folder")->capture_default_str();
  query_cmd->add_option("--format", query_format, "tsv or json")->capture_default_str();
  query_cmd->add_option("sql", sql, "one SQL statement, e.g. \"SELECT * FROM points LIMIT 5\"")
      ->required();

  pythond::agent::TestCommandOptions test;
  std::string test_root = default_root;
  auto* test_cmd = app.add_subcommand(
      "test",
      "run each plugin in PATH once (or --times N), print what it reported; exit 1 on any "
      "error. Nothing is stored or forwarded");
  test_cmd->add_option("path", test.paths, "a script (.py), a folder of scripts, or an input name")
      ->required();
  test_cmd->add_option("--root", test_root, "the root folder (conf.d, python.d)")
      ->capture_default_str();
  test_cmd->add_option("--times", test.times, "runs per plugin, its interval apart")
      ->capture_default_str();
  test_cmd->add_option("--format", test.format, "lp, json or table")->capture_default_str();
  test_cmd->add_option("--cmd", test.cmd,
                       "the Python to run the scripts with (default: the cmd of the input "
                       "whose dirs hold the path, else python3)");
  test_cmd->add_option("--log-level", test.log_level, "the agent's own log on stderr")
      ->capture_default_str();

  pythond::agent::CheckCommandOptions check;
  std::string check_root = default_root;
  auto* check_cmd = app.add_subcommand(
      "check", "validate the configuration and scripts, list inputs → plugins; exit 1 on errors");
  check_cmd->add_option("--root", check_root, "the root folder (conf.d, python.d)")
      ->capture_default_str();
  check_cmd->add_option("--env", check.env_input,
                        "print the environment INPUT's worker gets and how it differs from "
                        "this shell's");

  pythond::agent::MonitorOptions monitor;
  monitor.root = default_root;
  auto* monitor_cmd = app.add_subcommand(
      "monitor",
      "a terminal view of a running agent (its GET /v1/stats), redrawn every --refresh; keys: "
      "q quit, e tracebacks, r refresh (docs/MONITOR.md)");
  monitor_cmd->add_option("--to", monitor.to,
                          "HOST:PORT of the agent (default: the listen address in "
                          "run.json in the data folder of --root, else 127.0.0.1:9529)");
  monitor_cmd->add_option("--refresh", monitor.refresh, "time between two refreshes, e.g. 500ms")
      ->capture_default_str();
  monitor_cmd
      ->add_option("--root", monitor.root,
                   "the agent's root folder (its data folder holds run.json)")
      ->capture_default_str();
  monitor_cmd->add_flag("--once", monitor.once,
                        "print one frame and exit; exit 1 when the agent cannot be reached");

  auto* version_cmd = app.add_subcommand("version", "print the version");
  bool python_dir = false;
  version_cmd->add_flag("--python-dir", python_dir,
                        "print the folder holding the SDK (datakit_framework.py) and the worker, "
                        "for PYTHONPATH in your own tests");

  pythond::agent::ServiceCommandOptions service;
  std::string service_root = default_root;
  bool svc_start = false, svc_stop = false, svc_restart = false, svc_reload = false,
       svc_status = false;
  auto* service_cmd = app.add_subcommand(
      "service",
      "control the installed systemd service (docs/INSTALL.md); start, restart and reload "
      "check the configuration first and refuse a broken one");
  service_cmd->add_flag("-T,--start", svc_start, "start the service");
  service_cmd->add_flag("-S,--stop", svc_stop, "stop the service");
  service_cmd->add_flag("-R,--restart", svc_restart,
                        "restart it (the seed's `datakit service -R`)");
  service_cmd->add_flag("--reload", svc_reload,
                        "reload conf.d and python.d without a restart (SIGHUP)");
  service_cmd->add_flag("--status", svc_status, "systemctl status");
  service_cmd->add_option("--root", service_root, "the configuration to check first")
      ->capture_default_str();
  service_cmd->add_option("--unit", service.unit, "the systemd unit (default pythond.service)");
  service_cmd->add_flag("--force", service.force,
                        "start/restart/reload even when the configuration has errors");

  CLI11_PARSE(app, argc, argv);

  if (*run_cmd) {
    run.root = root_for_run;
    return pythond::agent::RunAgent(run);
  }
  if (*test_cmd) {
    test.root = test_root;
    return pythond::agent::RunTestCommand(test);
  }
  if (*check_cmd) {
    check.root = check_root;
    return pythond::agent::RunCheckCommand(check);
  }
  if (*monitor_cmd) return pythond::agent::RunMonitor(monitor);
  if (*service_cmd) {
    int chosen = svc_start + svc_stop + svc_restart + svc_reload + svc_status;
    if (chosen != 1) {
      std::cerr << "pythond service: give exactly one of -T (start), -S (stop), -R (restart), "
                   "--reload, --status\n";
      return 2;
    }
    service.action = svc_start     ? "start"
                     : svc_stop    ? "stop"
                     : svc_restart ? "restart"
                     : svc_reload  ? "reload"
                                   : "status";
    service.root = service_root;
    return pythond::agent::RunServiceCommand(service);
  }
  if (*query_cmd) return pythond::agent::RunQueryCommand(query_root, query_format, sql);
  if (*version_cmd && python_dir) {
    std::filesystem::path dir = pythond::runner::FindPythonDir();
    if (dir.empty()) {
      std::cerr << "pythond: the SDK folder was not found (set PYTHOND_PYTHON_DIR)\n";
      return 1;
    }
    std::cout << dir.string() << "\n";
    return 0;
  }
  if (*version_cmd) {
    std::cout << "pythond " << PYTHOND_VERSION << "\n";
    return 0;
  }
  return 2;
}
