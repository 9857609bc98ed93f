// `pythond check`: the configuration, every `dirs` entry and every module imported in its
// input's own interpreter (a Supervisor that starts the workers but never runs a plugin), with
// warnings about what bites people. `--env INPUT`: the environment that input's worker gets.
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <iostream>
#include <map>

#include "agent/process_env.h"
#include "agent/script_tools.h"
#include "agent/worker_session.h"
#include "common/logging.h"
#include "common/strings.h"
#include "git/git_sync.h"
#include "runner/discovery.h"
#include "runner/worker_process.h"

namespace pythond::agent {

namespace fs = std::filesystem;

namespace {

std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

std::string Indented(std::string_view text, const std::string& indent) {
  std::string out;
  for (const std::string& line : SplitString(TrimSpace(text), '\n')) out += indent + line + "\n";
  return out;
}

// A path under `root` is shown relative to it.
std::string Short(const fs::path& root, const std::string& path) {
  std::string r = root.string();
  if (!r.empty() && r.back() != '/') r += '/';
  return StartsWith(path, r) ? path.substr(r.size()) : path;
}

int PrintEnvironment(const config::Config& cfg, const std::string& name) {
  auto it = std::find_if(cfg.inputs.begin(), cfg.inputs.end(),
                         [&name](const config::InputConfig& in) { return in.name == name; });
  if (it == cfg.inputs.end()) {
    std::string names;
    for (const auto& in : cfg.inputs) names += (names.empty() ? "" : ", ") + in.name;
    std::cerr << "pythond check: no input named '" << name << "' in "
              << (cfg.root / "conf.d").string()
              << (names.empty() ? " (it has none)" : " (inputs: " + names + ")") << "\n";
    return 1;
  }
  runner::SupervisorOptions options = CommandSupervisorOptions(cfg);
  std::vector<std::string> env = runner::WorkerEnvironment(options, *it);
  auto exe = runner::WorkerProcess::ResolveExecutable(it->cmd, env);
  std::cout << "input '" << it->name << "' (" << it->file << ":" << it->line << ")\n";
  std::cout << "  runs:  "
            << (exe.ok() ? *exe : it->cmd + "   (NOT FOUND: " + exe.status().message() + ")")
            << " -u " << (options.python_dir / "pythond_worker.py").string() << "\n";
  std::cout << "  cmd:   '" << it->cmd << "', resolved with the worker's PATH\n";
  std::cout << "  cwd:   " << cfg.root.string() << "\n";
  std::cout << "environment (" << env.size() << " variables):\n";
  std::vector<std::string> sorted = env;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& kv : sorted) std::cout << "  " << kv << "\n";
  std::vector<std::string> diff = EnvironmentDiff(CurrentEnvironment(), env);
  std::cout << "differences from this shell (" << diff.size()
            << "; + only the worker, - only the shell, ~ changed):\n";
  for (const auto& line : diff) std::cout << "  " << line << "\n";
  std::cout << "The agent started as a service has its own environment, not this shell's: set "
               "what the scripts need with `envs` in the input's table.\n";
  return exe.ok() ? 0 : 1;
}

}  // namespace

int RunCheckCommand(const CheckCommandOptions& options) {
  if (Status s = InitLogging("off", ""); !s.ok()) {
    std::cerr << "pythond check: " << s.message() << "\n";
    return 2;
  }
  auto loaded = config::LoadConfig(options.root, ProcessEnv());
  if (!loaded.ok()) {
    std::cout << "configuration: ERROR\n" << Indented(loaded.status().message(), "  ") << "FAIL\n";
    return 1;
  }
  const config::Config& cfg = *loaded;
  if (!options.env_input.empty()) return PrintEnvironment(cfg, options.env_input);

  std::cout << "root " << cfg.root.string() << ": " << cfg.inputs.size() << " input(s)\n";
  for (const config::GitRepoConfig* repo : cfg.enabled_repos()) {
    auto [hex, subject] = git::CheckoutHead(cfg.gitrepos_dir() / repo->name);
    std::cout << "git repo '" << repo->name << "' (" << config::MaskUrl(repo->url) << ", branch "
              << repo->branch << "): "
              << (hex.empty()
                      ? "not cloned yet (the agent clones it when it starts)"
                      : "gitrepos/" + repo->name + " at " + hex.substr(0, 7) + " (" + subject + ")")
              << "\n";
  }
  size_t errors = 0, warnings = 0;
  auto warn = [&warnings](const std::string& text) {
    ++warnings;
    std::cout << "  WARNING " << text << "\n";
  };
  for (const auto& w : cfg.warnings) warn("config: " + w);

  // Import only: one worker per input whatever its isolation, no runs.
  std::vector<config::InputConfig> inputs = cfg.inputs;
  for (auto& in : inputs) in.isolation = config::InputConfig::Isolation::kInput;
  boost::asio::io_context io;
  runner::SupervisorOptions sup = CommandSupervisorOptions(cfg);
  sup.schedule_runs = false;
  sup.on_output = [](const std::string& who, std::string_view line, bool) {
    std::cerr << "[" << who << "] " << line << "\n";
  };
  runner::Supervisor supervisor(io, sup, inputs);
  std::vector<runner::InputStats> stats;
  bool completed = DriveSupervisor(io, supervisor, [&stats](const auto& now) {
    stats = now;
    for (const auto& in : now) {
      for (const auto& w : in.workers) {
        if (w.state == "starting" && w.last_exit.empty()) return false;
      }
    }
    return true;
  });
  if (!completed) {
    std::cout << "interrupted\n";
    return 1;
  }

  std::map<std::string, std::vector<std::string>> by_plugin_name;
  size_t plugin_count = 0;
  for (size_t i = 0; i < inputs.size() && i < stats.size(); ++i) {
    const config::InputConfig& in = inputs[i];
    const runner::InputStats& st = stats[i];
    std::cout << "\ninput '" << in.name << "' (" << Short(cfg.root, in.file) << ":" << in.line
              << (in.repo.empty() ? "" : ", git repo '" + in.repo + "'") << ")\n";
    std::string python, executable;
    for (const auto& w : st.workers) {
      if (!w.python_version.empty()) python = w.python_version, executable = w.executable;
    }
    std::cout << "  cmd     '" << in.cmd << "'"
              << (python.empty() ? "" : " = " + executable + " (Python " + python + ")") << "\n";
    for (const std::string& entry : in.dirs) {
      runner::DiscoveryResult found = runner::DiscoverModules(cfg.script_roots(), {entry});
      if (found.modules.empty()) {
        std::cout << "  dirs    '" << entry << "': no module\n";
        continue;
      }
      const runner::ScriptModule& first = found.modules.front();
      fs::path where = first.file.parent_path();
      if (fs::path(entry).extension() == ".py")
        where = first.file;
      else if (first.name.find('.') != std::string::npos)
        where = where.parent_path();
      std::cout << "  dirs    '" << entry << "' → " << Short(cfg.root, where.string()) << " ("
                << found.modules.size() << " module(s)"
                << (first.repo.empty() ? "" : ", git repo '" + first.repo + "'") << ")\n";
    }
    for (const auto& problem : st.problems) warn(problem);
    for (const auto& w : st.workers) {
      if (!w.last_exit.empty() && w.state != "idle" && w.state != "running") {
        ++errors;
        std::cout << "  ERROR   worker " << w.last_exit << "\n";
      }
      for (const auto& m : w.modules) {
        if (m.shadows.empty()) continue;
        warn(Short(cfg.root, m.file) + ": module name '" + m.module + "' is also " + m.shadows +
             " (standard library or installed). pythond loads your file from its path, so it "
             "runs; but an `import " +
             m.module.substr(0, m.module.find('.')) +
             "` in a script finds the other module. Renaming the file avoids surprises.");
      }
      for (const auto& e : w.import_errors) {
        ++errors;
        std::cout << "  ERROR   " << Short(cfg.root, e.file) << ": module '" << e.module
                  << "' failed to import: " << e.error << "\n"
                  << Indented(e.traceback, "          ")
                  << (e.hint.empty() ? "" : Indented(e.hint, "          "));
      }
    }
    for (const auto& p : st.plugins) {
      ++plugin_count;
      std::cout << "  plugin  " << p.name << "  (" << Short(cfg.root, p.file) << ", class "
                << p.class_name << (p.repo.empty() ? "" : ", git repo '" + p.repo + "'")
                << ")  every " << Secs(p.interval_s) << ", timeout " << Secs(p.timeout_s) << "\n";
      by_plugin_name[p.name].push_back(in.name + ": " + Short(cfg.root, p.file) + " class " +
                                       p.class_name);
      for (const auto& w : p.warnings) warn(p.name + ": " + w);
      if (p.interval_s < 1) {
        warn(p.name + ": interval " + Secs(p.interval_s) +
             " is below 1s: each run starts a Python call and a report; is that intended?");
      }
      if (!p.overrides_run) {
        warn(p.name + ": class " + p.class_name +
             " does not override run(); every run would raise NotImplementedError");
      }
    }
    bool import_errors = std::any_of(st.workers.begin(), st.workers.end(),
                                     [](const auto& w) { return !w.import_errors.empty(); });
    if (st.plugins.empty() && !import_errors) {
      warn("no DataKitFramework subclass in its scripts: this input runs nothing");
    }
  }
  std::string dup_header;
  for (const auto& [name, where] : by_plugin_name) {
    if (where.size() < 2) continue;
    std::string text = "plugin name '" + name + "' is used " + std::to_string(where.size()) +
                       " times (logs, stats and the SDK's log file cannot tell them apart):";
    for (const auto& w : where) text += "\n            " + w;
    if (dup_header.empty()) std::cout << "\n";
    dup_header = "x";
    warn(text);
  }
  std::cout << "\n"
            << (errors ? "FAIL" : "OK") << ": " << cfg.inputs.size() << " input(s), "
            << plugin_count << " plugin(s), " << errors << " error(s), " << warnings
            << " warning(s)\n";
  return errors ? 1 : 0;
}

}  // namespace pythond::agent
