// Small facts about this process shared by the agent and the script commands: clocks, the
// hostname, the environment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace pythond::agent {

int64_t WallNowNs();  // unix ns
int64_t MonoNowNs();  // steady clock ns
std::string Hostname();
std::vector<std::string> CurrentEnvironment();  // KEY=VALUE entries of environ
config::EnvLookup ProcessEnv();                 // getenv, for $VAR expansion in config files

}  // namespace pythond::agent
