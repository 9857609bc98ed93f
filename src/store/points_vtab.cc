#include "store/points_vtab.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/point.h"
#include "store/chunk_codec.h"
#include "store/wal_record.h"

#ifdef PYTHOND_SQLITE_EXTENSION
SQLITE_EXTENSION_INIT1
#endif

namespace pythond::store {

namespace {

enum Column { kCategory, kMeasurement, kTime, kTags, kFields, kInput };

// One character per pushed-down constraint, in argv order (the plan's idxStr).
constexpr char kCategoryEq = 'C', kMeasurementEq = 'M', kTagsEq = 'T', kInputEq = 'I';
constexpr char kTimeEq = 'a', kTimeGt = 'b', kTimeGe = 'c', kTimeLt = 'd', kTimeLe = 'e';

struct Vtab {
  sqlite3_vtab base;
  sqlite3* db;
};

struct SeriesInfo {
  std::string category, measurement, tags, input;
};

struct Cursor {
  sqlite3_vtab_cursor base;
  sqlite3* db = nullptr;
  std::unordered_map<int64_t, SeriesInfo> series;
  std::vector<int64_t> series_order;  // per-series chunk lookups when the series are filtered
  size_t series_pos = 0;
  bool per_series = false;
  int64_t t_lo = std::numeric_limits<int64_t>::min();
  int64_t t_hi = std::numeric_limits<int64_t>::max();
  sqlite3_stmt* chunks = nullptr;
  sqlite3_stmt* wal = nullptr;
  enum Stage { kChunks, kWal, kDone } stage = kDone;
  ChunkReader chunk;
  bool chunk_open = false;
  int64_t chunk_series = 0;
  int64_t chunk_id = 0;
  WalRecordReader record;
  bool record_open = false;
  int64_t record_id = 0;
  int64_t sample_index = 0;  // within the current chunk or record, for the rowid
  // The current row.
  const SeriesInfo* row_series = nullptr;
  int64_t time = 0;
  std::vector<model::Field> fields;
  std::string fields_json;
  bool json_ready = false;
  int64_t rowid = 0;

  void Reset() {
    sqlite3_finalize(chunks);
    sqlite3_finalize(wal);
    chunks = wal = nullptr;
    series.clear();
    series_order.clear();
    series_pos = 0;
    chunk_open = record_open = false;
    json_ready = false;
    stage = kDone;
    rowid = 0;
    t_lo = std::numeric_limits<int64_t>::min();
    t_hi = std::numeric_limits<int64_t>::max();
  }
};

int SetError(sqlite3_vtab* vt, const std::string& message) {
  sqlite3_free(vt->zErrMsg);
  vt->zErrMsg = sqlite3_mprintf("%s", message.c_str());
  return SQLITE_ERROR;
}

int Connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char** err) {
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(category TEXT, measurement TEXT, time INTEGER, "
                                "tags TEXT, fields TEXT, input TEXT)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  auto* vt = new Vtab{};
  vt->db = db;
  *out = &vt->base;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vt) {
  delete reinterpret_cast<Vtab*>(vt);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  std::string plan;
  double cost = 1e9;
  int argv = 0;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable) continue;
    char code = 0;
    if (c.iColumn == kTime) {
      switch (c.op) {
        case SQLITE_INDEX_CONSTRAINT_EQ:
          code = kTimeEq;
          break;
        case SQLITE_INDEX_CONSTRAINT_GT:
          code = kTimeGt;
          break;
        case SQLITE_INDEX_CONSTRAINT_GE:
          code = kTimeGe;
          break;
        case SQLITE_INDEX_CONSTRAINT_LT:
          code = kTimeLt;
          break;
        case SQLITE_INDEX_CONSTRAINT_LE:
          code = kTimeLe;
          break;
        default:
          break;
      }
      if (code) cost /= 4;
    } else if (c.op == SQLITE_INDEX_CONSTRAINT_EQ &&
               sqlite3_stricmp(sqlite3_vtab_collation(info, i), "BINARY") == 0) {
      // Only a binary comparison matches the series index; NOCASE, RTRIM, ... are left to
      // SQLite on the decoded rows.
      switch (c.iColumn) {
        case kCategory:
          code = kCategoryEq;
          cost /= 2;
          break;
        case kMeasurement:
          code = kMeasurementEq;
          cost /= 50;
          break;
        case kTags:
          code = kTagsEq;
          cost /= 1000;
          break;
        case kInput:
          code = kInputEq;
          cost /= 2;
          break;
        default:
          break;
      }
    }
    if (!code) continue;
    plan.push_back(code);
    info->aConstraintUsage[i].argvIndex = ++argv;
    info->aConstraintUsage[i].omit = 0;  // SQLite checks again: pushing down only narrows
  }
  info->idxStr = sqlite3_mprintf("%s", plan.c_str());
  info->needToFreeIdxStr = 1;
  info->estimatedCost = cost;
  info->estimatedRows = static_cast<sqlite3_int64>(cost);
  return SQLITE_OK;
}

int Open(sqlite3_vtab* vt, sqlite3_vtab_cursor** out) {
  auto* c = new Cursor{};
  c->db = reinterpret_cast<Vtab*>(vt)->db;
  *out = &c->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) {
  auto* c = reinterpret_cast<Cursor*>(cur);
  c->Reset();
  delete c;
  return SQLITE_OK;
}

std::string Text(sqlite3_stmt* st, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  return p ? std::string(p, sqlite3_column_bytes(st, col)) : std::string();
}

// Narrows [lo, hi] by a time constraint; values that are not numbers narrow nothing (SQLite
// compares them itself).
void NarrowTime(Cursor* c, char op, sqlite3_value* v) {
  int type = sqlite3_value_numeric_type(v);
  int64_t lo, hi;  // the constraint's value, rounded outwards
  if (type == SQLITE_INTEGER) {
    lo = hi = sqlite3_value_int64(v);
  } else if (type == SQLITE_FLOAT) {
    double d = sqlite3_value_double(v);
    if (std::isnan(d)) return;
    if (d >= 9.2e18 || d <= -9.2e18) return;
    lo = static_cast<int64_t>(std::floor(d));
    hi = static_cast<int64_t>(std::ceil(d));
  } else {
    return;
  }
  switch (op) {
    case kTimeEq:
      c->t_lo = std::max(c->t_lo, lo);
      c->t_hi = std::min(c->t_hi, hi);
      break;
    case kTimeGt:
    case kTimeGe:
      c->t_lo = std::max(c->t_lo, lo);  // > is checked again by SQLite
      break;
    case kTimeLt:
    case kTimeLe:
      c->t_hi = std::min(c->t_hi, hi);
      break;
  }
}

int PrepareChunks(Cursor* c, sqlite3_vtab* vt) {
  const char* sql = c->per_series ? "SELECT id, series_id, data FROM chunks WHERE series_id = ?1 "
                                    "AND t_max >= ?2 AND t_min <= ?3 ORDER BY id"
                                  : "SELECT id, series_id, data FROM chunks WHERE t_max >= ?2 "
                                    "AND t_min <= ?3 ORDER BY id";
  if (sqlite3_prepare_v2(c->db, sql, -1, &c->chunks, nullptr) != SQLITE_OK) {
    return SetError(vt, std::string("pythond_points: ") + sqlite3_errmsg(c->db));
  }
  sqlite3_bind_int64(c->chunks, 2, c->t_lo);
  sqlite3_bind_int64(c->chunks, 3, c->t_hi);
  if (c->per_series && !c->series_order.empty()) {
    sqlite3_bind_int64(c->chunks, 1, c->series_order[0]);
  }
  return SQLITE_OK;
}

// Moves to the next row in range; sets stage kDone at the end. Returns an SQLite code.
int Advance(Cursor* c) {
  sqlite3_vtab* vt = c->base.pVtab;
  while (true) {
    if (c->stage == Cursor::kChunks) {
      if (c->chunk_open) {
        if (c->chunk.Next(&c->time, &c->fields)) {
          int64_t i = c->sample_index++;
          if (c->time < c->t_lo || c->time > c->t_hi) continue;
          c->row_series = &c->series[c->chunk_series];
          c->rowid = (c->chunk_id << 20) | i;  // chunks hold at most 2^20 points
          return SQLITE_OK;
        }
        c->chunk_open = false;
        if (!c->chunk.status().ok()) {
          return SetError(vt, "pythond_points: chunk " + std::to_string(c->chunk_id) + ": " +
                                  c->chunk.status().message());
        }
      }
      int rc = sqlite3_step(c->chunks);
      if (rc == SQLITE_ROW) {
        int64_t series = sqlite3_column_int64(c->chunks, 1);
        if (!c->per_series && !c->series.count(series)) continue;
        c->chunk_id = sqlite3_column_int64(c->chunks, 0);
        c->chunk_series = series;
        std::string_view blob(static_cast<const char*>(sqlite3_column_blob(c->chunks, 2)),
                              sqlite3_column_bytes(c->chunks, 2));
        if (!c->chunk.Open(blob).ok()) {
          return SetError(vt, "pythond_points: chunk " + std::to_string(c->chunk_id) + ": " +
                                  c->chunk.status().message());
        }
        c->chunk_open = true;
        c->sample_index = 0;
        continue;
      }
      if (rc != SQLITE_DONE)
        return SetError(vt, std::string("pythond_points: ") + sqlite3_errmsg(c->db));
      if (c->per_series && ++c->series_pos < c->series_order.size()) {
        sqlite3_reset(c->chunks);
        sqlite3_bind_int64(c->chunks, 1, c->series_order[c->series_pos]);
        continue;
      }
      c->stage = Cursor::kWal;
      if (sqlite3_prepare_v2(c->db, "SELECT id, data FROM wal ORDER BY id", -1, &c->wal, nullptr) !=
          SQLITE_OK) {
        return SetError(vt, std::string("pythond_points: ") + sqlite3_errmsg(c->db));
      }
      continue;
    }
    if (c->stage == Cursor::kWal) {
      if (c->record_open) {
        int64_t series;
        if (c->record.Next(&series, &c->time, &c->fields)) {
          int64_t i = c->sample_index++;
          if (c->time < c->t_lo || c->time > c->t_hi) continue;
          auto it = c->series.find(series);
          if (it == c->series.end()) continue;
          c->row_series = &it->second;
          c->rowid = -((c->record_id << 24) | i) - 1;  // records hold fewer than 2^24 points
          return SQLITE_OK;
        }
        c->record_open = false;
        if (!c->record.status().ok()) {
          return SetError(vt, "pythond_points: WAL record " + std::to_string(c->record_id) + ": " +
                                  c->record.status().message());
        }
      }
      int rc = sqlite3_step(c->wal);
      if (rc == SQLITE_ROW) {
        c->record_id = sqlite3_column_int64(c->wal, 0);
        std::string_view blob(static_cast<const char*>(sqlite3_column_blob(c->wal, 1)),
                              sqlite3_column_bytes(c->wal, 1));
        if (!c->record.Open(blob).ok()) {
          return SetError(vt, "pythond_points: WAL record " + std::to_string(c->record_id) + ": " +
                                  c->record.status().message());
        }
        c->record_open = true;
        c->sample_index = 0;
        continue;
      }
      if (rc != SQLITE_DONE)
        return SetError(vt, std::string("pythond_points: ") + sqlite3_errmsg(c->db));
      c->stage = Cursor::kDone;
    }
    return SQLITE_OK;
  }
}

int Filter(sqlite3_vtab_cursor* cur, int, const char* plan, int argc, sqlite3_value** argv) {
  auto* c = reinterpret_cast<Cursor*>(cur);
  c->Reset();
  std::string where;
  std::vector<sqlite3_value*> text_args;
  for (int i = 0; i < argc && plan && plan[i]; ++i) {
    char op = plan[i];
    const char* column = op == kCategoryEq      ? "category"
                         : op == kMeasurementEq ? "measurement"
                         : op == kTagsEq        ? "tags"
                         : op == kInputEq       ? "input"
                                                : nullptr;
    if (!column) {
      NarrowTime(c, op, argv[i]);
      continue;
    }
    if (sqlite3_value_type(argv[i]) != SQLITE_TEXT) continue;  // SQLite compares it itself
    where += where.empty() ? " WHERE " : " AND ";
    where += column;
    where += " = ?";
    text_args.push_back(argv[i]);
  }
  if (c->t_lo > c->t_hi) return SQLITE_OK;  // stage kDone: nothing in range
  std::string sql = "SELECT id, category, measurement, tags, input FROM series" + where;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(c->db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    return SetError(cur->pVtab, std::string("pythond_points: ") + sqlite3_errmsg(c->db));
  }
  for (size_t i = 0; i < text_args.size(); ++i) sqlite3_bind_value(st, i + 1, text_args[i]);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    c->series.emplace(id, SeriesInfo{Text(st, 1), Text(st, 2), Text(st, 3), Text(st, 4)});
    c->series_order.push_back(id);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return SetError(cur->pVtab, std::string("pythond_points: ") + sqlite3_errmsg(c->db));
  }
  if (c->series.empty()) return SQLITE_OK;
  // A few series: one index lookup each; many: one pass over the chunks.
  c->per_series = !where.empty() && c->series.size() <= 256;
  if (int prc = PrepareChunks(c, cur->pVtab); prc != SQLITE_OK) return prc;
  c->stage = Cursor::kChunks;
  return Advance(c);
}

int Next(sqlite3_vtab_cursor* cur) {
  auto* c = reinterpret_cast<Cursor*>(cur);
  c->json_ready = false;
  return Advance(c);
}

int Eof(sqlite3_vtab_cursor* cur) { return reinterpret_cast<Cursor*>(cur)->stage == Cursor::kDone; }

void ResultText(sqlite3_context* ctx, const std::string& s) {
  sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

int ColumnValue(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int column) {
  auto* c = reinterpret_cast<Cursor*>(cur);
  switch (column) {
    case kCategory:
      ResultText(ctx, c->row_series->category);
      break;
    case kMeasurement:
      ResultText(ctx, c->row_series->measurement);
      break;
    case kTime:
      sqlite3_result_int64(ctx, c->time);
      break;
    case kTags:
      ResultText(ctx, c->row_series->tags);
      break;
    case kFields:
      if (!c->json_ready) {
        c->fields_json = model::FieldsToJson(c->fields);
        c->json_ready = true;
      }
      ResultText(ctx, c->fields_json);
      break;
    case kInput:
      ResultText(ctx, c->row_series->input);
      break;
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* cur, sqlite3_int64* rowid) {
  *rowid = reinterpret_cast<Cursor*>(cur)->rowid;
  return SQLITE_OK;
}

sqlite3_module MakeModule() {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xCreate = nullptr;  // eponymous-only
  m.xConnect = Connect;
  m.xBestIndex = BestIndex;
  m.xDisconnect = Disconnect;
  m.xDestroy = Disconnect;
  m.xOpen = Open;
  m.xClose = Close;
  m.xFilter = Filter;
  m.xNext = Next;
  m.xEof = Eof;
  m.xColumn = ColumnValue;
  m.xRowid = Rowid;
  return m;
}

const sqlite3_module kModule = MakeModule();

}  // namespace

int RegisterPointsModule(sqlite3* db) {
  return sqlite3_create_module_v2(db, "pythond_points", &kModule, nullptr, nullptr);
}

}  // namespace pythond::store

#ifdef PYTHOND_SQLITE_EXTENSION
// `.load /usr/lib/pythond/pythond` (sqlite3 shell) or conn.load_extension(...) (Python):
// SQLite derives the entry point's name from the file name pythond.so.
extern "C" __attribute__((visibility("default"))) int sqlite3_pythond_init(
    sqlite3* db, char** err, const sqlite3_api_routines* api) {
  SQLITE_EXTENSION_INIT2(api);
  return pythond::store::RegisterPointsModule(db);
}
#endif
