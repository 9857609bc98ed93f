#include "runner/discovery.h"

#include <algorithm>

namespace pythond::runner {

namespace fs = std::filesystem;

namespace {

bool Skipped(const fs::path& p) {
  std::string name = p.filename().string();
  return name.empty() || name[0] == '.' || name == "__pycache__" || name == "__init__.py";
}

std::vector<fs::path> SortedEntries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (!Skipped(it->path())) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsPyFile(const fs::path& p) {
  std::error_code ec;
  return p.extension() == ".py" && fs::is_regular_file(p, ec);
}

}  // namespace

DiscoveryResult DiscoverModules(const fs::path& python_d, const std::vector<std::string>& dirs) {
  DiscoveryResult result;
  fs::path base = python_d.lexically_normal();
  for (const std::string& entry : dirs) {
    if (entry.empty()) {
      result.problems.push_back("dirs entry \"\" is empty");
      continue;
    }
    fs::path p(entry);
    fs::path resolved;
    if (p.is_absolute()) {
      resolved = p.lexically_normal();
    } else {
      resolved = (base / p).lexically_normal();
      fs::path rel = resolved.lexically_relative(base);
      if (rel.empty() || *rel.begin() == "..") {
        result.problems.push_back("dirs entry '" + entry + "' escapes " + base.string() +
                                  " and is refused");
        continue;
      }
    }
    if (!resolved.empty() && resolved.filename().empty()) resolved = resolved.parent_path();
    std::error_code ec;
    if (IsPyFile(resolved)) {
      result.modules.push_back({resolved.stem().string(), resolved, resolved.parent_path(), entry});
      continue;
    }
    if (!fs::is_directory(resolved, ec)) {
      result.problems.push_back(
          "dirs entry '" + entry + "': " + resolved.string() +
          (fs::exists(resolved, ec) ? " is neither a folder nor a .py file" : " does not exist"));
      continue;
    }
    size_t before = result.modules.size();
    for (const fs::path& child : SortedEntries(resolved)) {
      if (IsPyFile(child)) {
        result.modules.push_back({child.stem().string(), child, resolved, entry});
      } else if (fs::is_directory(child, ec)) {
        for (const fs::path& grandchild : SortedEntries(child)) {
          if (IsPyFile(grandchild)) {
            result.modules.push_back({child.filename().string() + "." + grandchild.stem().string(),
                                      grandchild, resolved, entry});
          }
        }
      }
    }
    if (result.modules.size() == before) {
      result.problems.push_back("dirs entry '" + entry + "': no .py files in " + resolved.string());
    }
  }
  return result;
}

}  // namespace pythond::runner
