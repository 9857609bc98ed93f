// pythond's command line (DESIGN §2.2). The only file outside a library.
#include <signal.h>

#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/agent.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a worker that dies mid-write must not kill the agent

  CLI::App app{"pythond: runs DataKit-compatible Python collector scripts"};
  app.require_subcommand(1);

  pythond::agent::RunOptions run;
  std::string root_for_run = ".";
  auto* run_cmd = app.add_subcommand("run", "run the agent in the foreground");
  run_cmd->add_option("--root", root_for_run, "the root folder (conf.d, python.d, data)")
      ->capture_default_str();
  run_cmd->add_option("--listen", run.listen,
                      "HOST:PORT for the HTTP API (default 127.0.0.1:9529)");
  run_cmd->add_option("--log-level", run.log_level, "trace, debug, info, warn or error");

  std::string query_root = ".", query_format = "tsv", sql;
  auto* query_cmd = app.add_subcommand("query", "read-only SQL over the embedded store");
  query_cmd->add_option("--root", query_root, "the root folder")->capture_default_str();
  query_cmd->add_option("--format", query_format, "tsv or json")->capture_default_str();
  query_cmd->add_option("sql", sql, "one SQL statement, e.g. \"SELECT * FROM points LIMIT 5\"")
      ->required();

  auto* version_cmd = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);

  if (*run_cmd) {
    run.root = root_for_run;
    return pythond::agent::RunAgent(run);
  }
  if (*query_cmd) return pythond::agent::RunQueryCommand(query_root, query_format, sql);
  if (*version_cmd) {
    std::cout << "pythond " << PYTHOND_VERSION << "\n";
    return 0;
  }
  return 2;
}
