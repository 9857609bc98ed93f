#include "runner/discovery.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

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
  return DiscoverModules(std::vector<config::ScriptRoot>{{python_d, ""}}, dirs);
}

DiscoveryResult DiscoverModules(const std::vector<config::ScriptRoot>& roots,
                                const std::vector<std::string>& dirs) {
  DiscoveryResult result;
  for (const std::string& entry : dirs) {
    if (entry.empty()) {
      result.problems.push_back("dirs entry \"\" is empty");
      continue;
    }
    fs::path p(entry);
    fs::path resolved;
    std::string repo;
    std::error_code ec;
    if (p.is_absolute()) {
      resolved = p.lexically_normal();
    } else {
      bool escapes = false;
      for (const config::ScriptRoot& root : roots) {  // the first root that has it
        fs::path base = root.python_d.lexically_normal();
        fs::path candidate = (base / p).lexically_normal();
        fs::path rel = candidate.lexically_relative(base);
        if (rel.empty() || *rel.begin() == "..") {
          result.problems.push_back("dirs entry '" + entry + "' escapes " + base.string() +
                                    " and is refused");
          escapes = true;
          break;
        }
        if (resolved.empty() || fs::exists(candidate, ec)) {
          resolved = candidate;
          repo = root.repo;
          if (fs::exists(candidate, ec)) break;
        }
      }
      if (escapes) continue;
      if (resolved.empty()) continue;
      if (!fs::exists(resolved, ec) && roots.size() > 1) {
        // Not found anywhere: name every place looked at.
        std::string looked;
        for (const auto& root : roots) {
          looked += (looked.empty() ? "" : ", ") + (root.python_d / p).lexically_normal().string();
        }
        result.problems.push_back("dirs entry '" + entry + "' is in none of: " + looked);
        continue;
      }
    }
    if (!resolved.empty() && resolved.filename().empty()) resolved = resolved.parent_path();
    if (IsPyFile(resolved)) {
      result.modules.push_back(
          {resolved.stem().string(), resolved, resolved.parent_path(), entry, repo});
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
        result.modules.push_back({child.stem().string(), child, resolved, entry, repo});
      } else if (fs::is_directory(child, ec)) {
        for (const fs::path& grandchild : SortedEntries(child)) {
          if (IsPyFile(grandchild)) {
            result.modules.push_back({child.filename().string() + "." + grandchild.stem().string(),
                                      grandchild, resolved, entry, repo});
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

namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;
constexpr size_t kMaxFingerprintFiles = 20000;
constexpr uintmax_t kMaxHashedFileBytes = 1 << 20;

void Mix(uint64_t* h, std::string_view bytes) {
  for (unsigned char c : bytes) *h = (*h ^ c) * kFnvPrime;
  *h = (*h ^ 0xff) * kFnvPrime;  // a separator: ("ab","c") differs from ("a","bc")
}

void MixFile(uint64_t* h, const fs::path& file) {
  Mix(h, file.string());
  std::error_code ec;
  uintmax_t size = fs::file_size(file, ec);
  if (ec || size > kMaxHashedFileBytes) {
    auto mtime = fs::last_write_time(file, ec);
    Mix(h, std::to_string(size) + "@" + std::to_string(ec ? 0 : mtime.time_since_epoch().count()));
    return;
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Mix(h, "unreadable");
    return;
  }
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; ++i) *h = (*h ^ static_cast<unsigned char>(buf[i])) * kFnvPrime;
  }
  ::close(fd);
  *h = (*h ^ 0xff) * kFnvPrime;
}

void MixTree(uint64_t* h, const fs::path& dir, size_t* files, int depth) {
  for (const fs::path& child : SortedEntries(dir)) {
    if (*files >= kMaxFingerprintFiles) return;
    std::error_code ec;
    auto status = fs::symlink_status(child, ec);
    if (ec) continue;
    if (fs::is_regular_file(status) || (fs::is_symlink(status) && fs::is_regular_file(child, ec))) {
      ++*files;
      MixFile(h, child);
    } else if (fs::is_directory(status) && depth < 16) {
      Mix(h, child.string() + "/");
      MixTree(h, child, files, depth + 1);
    }
  }
}

}  // namespace

uint64_t FingerprintScripts(const DiscoveryResult& found) {
  uint64_t h = kFnvOffset;
  for (const auto& p : found.problems) Mix(&h, p);
  std::set<fs::path> trees, files;
  for (const ScriptModule& m : found.modules) {
    Mix(&h, m.name);
    Mix(&h, m.file.string());
    fs::path entry(m.dir_entry);
    if (entry.extension() == ".py" && m.file.filename() == entry.filename()) {
      files.insert(m.file);
    } else {
      trees.insert(m.sys_path);
    }
  }
  size_t count = 0;
  for (const fs::path& dir : trees) MixTree(&h, dir, &count, 0);
  for (const fs::path& file : files) {
    if (!trees.count(file.parent_path())) MixFile(&h, file);
  }
  return h;
}

}  // namespace pythond::runner
