// SQLite's API for code that is built both into the agent (linked against libsqlite3) and into
// the loadable extension (calls go through sqlite3_api, set by the extension's entry point).
#pragma once

#ifdef PYTHOND_SQLITE_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif
