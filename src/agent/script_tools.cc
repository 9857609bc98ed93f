#include "agent/script_tools.h"

#include <algorithm>
#include <map>
#include <set>
#include <system_error>

namespace pythond::agent {

namespace fs = std::filesystem;

namespace {

fs::path Normal(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  fs::path canonical = fs::weakly_canonical(abs, ec);
  return (ec ? abs : canonical).lexically_normal();
}

// Whether `path` is `dir` or inside it.
bool Within(const fs::path& path, const fs::path& dir) {
  auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end() || (std::next(d) == dir.end() && d->empty());
}

// The configured input whose `dirs` hold `path`, or null.
const config::InputConfig* InputHolding(const config::Config& cfg, const fs::path& path) {
  std::vector<config::ScriptRoot> roots = cfg.script_roots();
  for (const auto& in : cfg.inputs) {
    for (const auto& d : in.dirs) {
      if (fs::path(d).is_absolute()) {
        if (Within(path, Normal(d))) return &in;
        continue;
      }
      for (const auto& root : roots) {  // git repositories' python.d, then the local one
        if (Within(path, Normal(root.python_d / d))) return &in;
      }
    }
  }
  return nullptr;
}

std::string KeyOf(const std::string& kv) { return kv.substr(0, kv.find('=')); }

}  // namespace

StatusOr<std::vector<TestTarget>> ResolveTestTargets(const std::vector<std::string>& paths,
                                                     const fs::path& root,
                                                     const config::Config* cfg,
                                                     const std::string& cmd) {
  std::vector<TestTarget> out;
  std::set<std::string> names;
  auto unique_name = [&names](std::string name) {
    std::string candidate = name;
    for (int n = 2; !names.insert(candidate).second; ++n)
      candidate = name + "-" + std::to_string(n);
    return candidate;
  };
  for (const std::string& given : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(given, ec);
    bool is_file = !ec && fs::is_regular_file(st);
    bool is_dir = !ec && fs::is_directory(st);
    if (is_file && fs::path(given).extension() != ".py") {
      return Status::InvalidArgument("'" + given + "' is a file but not a Python script (.py)");
    }
    if (is_file || is_dir) {
      fs::path abs = Normal(given);
      TestTarget t;
      t.path = given;
      t.origin = is_file ? "file" : "folder";
      const config::InputConfig* holder = cfg ? InputHolding(*cfg, abs) : nullptr;
      if (holder) {
        t.input = *holder;
      } else {
        t.input.name = is_file ? abs.stem().string() : abs.filename().string();
        if (t.input.name.empty()) t.input.name = "test";
        t.input.cmd = "python3";
        t.input.file = "(command line)";
      }
      if (!cmd.empty()) t.input.cmd = cmd;
      t.input.dirs = {abs.string()};
      t.input.name = unique_name(t.input.name);
      out.push_back(std::move(t));
      continue;
    }
    const config::InputConfig* named = nullptr;
    if (cfg) {
      for (const auto& in : cfg->inputs) {
        if (in.name == given) named = &in;
      }
    }
    if (!named) {
      std::string why = cfg ? "no input of that name in " + (root / "conf.d").string()
                            : "and the configuration did not load";
      return Status::NotFound("'" + given + "' is neither a script, a folder nor an input (" + why +
                              ")");
    }
    TestTarget t;
    t.path = given;
    t.origin = "input";
    t.input = *named;
    if (!cmd.empty()) t.input.cmd = cmd;
    t.input.name = unique_name(t.input.name);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> EnvironmentDiff(const std::vector<std::string>& shell,
                                         const std::vector<std::string>& worker) {
  std::map<std::string, std::string> before, after;
  for (const auto& kv : shell) before[KeyOf(kv)] = kv;
  for (const auto& kv : worker) after[KeyOf(kv)] = kv;
  std::vector<std::string> out;
  for (const auto& [key, kv] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      out.push_back("+ " + kv);
    } else if (it->second != kv) {
      out.push_back("~ " + kv + "   (shell: " + it->second.substr(key.size() + 1) + ")");
    }
  }
  for (const auto& [key, kv] : before) {
    if (!after.count(key)) out.push_back("- " + key);
  }
  return out;
}

}  // namespace pythond::agent
