// `pythond query`: one read-only SQL statement over the store, printed as TSV or JSON.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "common/status.h"

namespace pythond::store {

enum class QueryFormat { kTsv, kJson };

// Opens `db_path` read-only and runs `sql` (exactly one statement, which must not write).
// TSV: a header line of column names, then one line per row; NULL is empty, and tabs,
// newlines and backslashes in values are written as \t, \n and \\.
// JSON: an array of objects, one per row, with SQLite's types (integer, real, text, null;
// blobs as hex strings).
// Errors: kNotFound (no store), kInvalidArgument (SQL error, several statements, a write).
[[nodiscard]] Status RunQuery(const std::filesystem::path& db_path, const std::string& sql,
                              QueryFormat format, std::ostream& out);

}  // namespace pythond::store
