#include "agent/process_env.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>

extern char** environ;

namespace pythond::agent {

int64_t WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonoNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

config::EnvLookup ProcessEnv() {
  return [](const std::string& name) -> const char* { return std::getenv(name.c_str()); };
}

}  // namespace pythond::agent
