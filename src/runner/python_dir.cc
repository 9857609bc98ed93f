#include "runner/python_dir.h"

#include <cstdlib>
#include <vector>

namespace pythond::runner {

namespace fs = std::filesystem;

fs::path FindPythonDir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("PYTHOND_PYTHON_DIR"); env && *env) candidates.push_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "python");
    candidates.push_back(exe.parent_path().parent_path() / "share" / "pythond" / "python");
  }
  candidates.push_back(PYTHOND_SOURCE_PYTHON_DIR);
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c / "pythond_worker.py", ec)) return fs::absolute(c, ec);
  }
  return {};
}

}  // namespace pythond::runner
