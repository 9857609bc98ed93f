// Where the worker program (pythond_worker.py) and the SDK (datakit_framework.py) are.
#pragma once

#include <filesystem>

namespace pythond::runner {

// The first folder holding pythond_worker.py among: $PYTHOND_PYTHON_DIR, <exe>/../python,
// <exe>/../share/pythond/python, and the source tree's python/ (compiled in). Empty if none.
std::filesystem::path FindPythonDir();

}  // namespace pythond::runner
