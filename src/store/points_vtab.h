// The `pythond_points` table-valued function behind the `points` view: it decodes chunks and
// not yet folded WAL records into rows (category, measurement, time, tags, fields, input),
// pushing equality on category/measurement/tags/input and ranges on time down to the series
// and chunk indexes. An eponymous-only virtual table: nothing is stored for it in the schema.
// The same code is the SQLite loadable extension `pythond.so` (docs/STORE.md), so users' own
// tools can read `points` after `.load`.
//
// Thread-safety: as the SQLite connection it is registered on.
#pragma once

#include "store/sqlite_api.h"

namespace pythond::store {

// Registers the module on `db`. Returns an SQLite result code.
int RegisterPointsModule(sqlite3* db);

}  // namespace pythond::store
