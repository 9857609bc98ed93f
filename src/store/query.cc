#include "store/query.h"

#include <sqlite3.h>

#include <cstdio>
#include <memory>

#include "common/strings.h"
#include "store/points_vtab.h"

namespace pythond::store {

namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

void AppendTsvValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        out += c;
    }
  }
}

std::string Hex(const void* data, int n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  auto* p = static_cast<const unsigned char*>(data);
  for (int i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

}  // namespace

Status RunQuery(const std::filesystem::path& db_path, const std::string& sql, QueryFormat format,
                std::ostream& out) {
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) {
    return Status::NotFound("no store at " + db_path.string() +
                            " (has `pythond run` run with this --root?)");
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  if (rc != SQLITE_OK) {
    return Status::IoError("cannot open " + db_path.string() + ": " +
                           (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_exec(raw, "PRAGMA query_only=1", nullptr, nullptr, nullptr);
  RegisterPointsModule(raw);  // the `points` view reads through it

  sqlite3_stmt* stmt_raw = nullptr;
  const char* tail = nullptr;
  rc = sqlite3_prepare_v2(raw, sql.c_str(), static_cast<int>(sql.size()), &stmt_raw, &tail);
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt(stmt_raw);
  if (rc != SQLITE_OK) return Status::InvalidArgument(std::string("SQL: ") + sqlite3_errmsg(raw));
  if (!stmt) return Status::InvalidArgument("SQL: empty statement");
  if (tail && !TrimSpace(tail).empty() && TrimSpace(tail) != ";") {
    return Status::InvalidArgument("SQL: one statement only (extra text: '" +
                                   std::string(TrimSpace(tail)).substr(0, 40) + "')");
  }
  if (!sqlite3_stmt_readonly(stmt.get())) {
    return Status::InvalidArgument("SQL: pythond query is read-only");
  }

  int ncol = sqlite3_column_count(stmt.get());
  std::string buf;
  if (format == QueryFormat::kTsv) {
    for (int i = 0; i < ncol; ++i) {
      if (i) buf += '\t';
      AppendTsvValue(buf, sqlite3_column_name(stmt.get(), i));
    }
    buf += '\n';
  } else {
    buf += '[';
  }
  bool first_row = true;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (format == QueryFormat::kJson) {
      buf += first_row ? "\n{" : ",\n{";
    }
    first_row = false;
    for (int i = 0; i < ncol; ++i) {
      int type = sqlite3_column_type(stmt.get(), i);
      if (format == QueryFormat::kTsv) {
        if (i) buf += '\t';
        if (type == SQLITE_BLOB) {
          buf += Hex(sqlite3_column_blob(stmt.get(), i), sqlite3_column_bytes(stmt.get(), i));
        } else if (type != SQLITE_NULL) {
          auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), i));
          AppendTsvValue(buf, std::string_view(text, sqlite3_column_bytes(stmt.get(), i)));
        }
        continue;
      }
      if (i) buf += ',';
      buf += JsonQuote(sqlite3_column_name(stmt.get(), i));
      buf += ':';
      switch (type) {
        case SQLITE_INTEGER:
          buf += std::to_string(sqlite3_column_int64(stmt.get(), i));
          break;
        case SQLITE_FLOAT:
          AppendJsonDouble(buf, sqlite3_column_double(stmt.get(), i));
          break;
        case SQLITE_NULL:
          buf += "null";
          break;
        case SQLITE_BLOB:
          buf += JsonQuote(
              Hex(sqlite3_column_blob(stmt.get(), i), sqlite3_column_bytes(stmt.get(), i)));
          break;
        default: {
          auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), i));
          buf += JsonQuote(std::string_view(text, sqlite3_column_bytes(stmt.get(), i)));
        }
      }
    }
    if (format == QueryFormat::kTsv) {
      buf += '\n';
    } else {
      buf += '}';
    }
    if (buf.size() > (1 << 16)) {
      out << buf;
      buf.clear();
    }
  }
  if (rc != SQLITE_DONE) {
    out << buf;
    return Status::InvalidArgument(std::string("SQL: ") + sqlite3_errmsg(raw));
  }
  if (format == QueryFormat::kJson) buf += first_row ? "]\n" : "\n]\n";
  out << buf;
  return Status::Ok();
}

}  // namespace pythond::store
