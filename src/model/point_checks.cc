#include "model/point_checks.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>

namespace pythond::model {

namespace {

constexpr std::array<std::string_view, kCheckReasonCount> kReasonNames = {
    "empty_measurement",
    "measurement_too_long",
    "too_many_tags",
    "too_many_fields",
    "duplicate_key",
    "tag_field_conflict",
    "tag_key_too_long",
    "field_key_too_long",
    "newline_in_key",
    "trailing_backslash",
    "dot_in_key",
    "key_conflict_after_rename",
    "empty_key",
    "disabled_key",
    "newline_in_tag_value",
    "tag_value_too_long",
    "string_field_in_metric",
    "field_value_too_long",
    "inf_float",
    "nan_float",
    "required_key_added",
    "no_fields",
};

constexpr std::string_view kDefaultMeasurement = "__default";  // cliutils DefaultMeasurementName

// What DataKit's per-category options (PtCatOption) switch on.
struct Rules {
  bool dots_allowed = false;                   // WithDotInKey
  bool strings_allowed = true;                 // WithStrField
  std::array<std::string_view, 2> disabled{};  // WithDisabledKeys (empty = unused slot)
  std::string_view required_key;               // WithRequiredKeys (empty = none)
  std::string_view required_value;
};

Rules RulesFor(Category category, const CheckLimits& limits) {
  Rules r;
  switch (category) {
    case Category::kMetric:
      r.dots_allowed = true;
      r.strings_allowed = limits.strings_in_metrics;
      break;
    case Category::kLogging:
      r.disabled = {"source", "date"};
      r.required_key = "status";
      r.required_value = "unknown";
      break;
    case Category::kObject:
    case Category::kCustomObject:
      r.disabled = {"class", "date"};
      r.required_key = "name";
      r.required_value = "default";
      break;
    case Category::kKeyEvent:
    case Category::kRum:
    case Category::kNetwork:
    case Category::kSecurity:
      break;
  }
  return r;
}

bool IsDisabled(std::string_view key, const Rules& r) {
  if (r.disabled[0].empty()) return false;  // the common case: nothing disabled
  for (std::string_view d : r.disabled) {
    if (!d.empty() && key == d) return true;
  }
  return false;
}

bool Contains(std::string_view s, char c) {
  return !s.empty() && std::memchr(s.data(), c, s.size()) != nullptr;
}

bool Over(size_t size, size_t limit) { return limit != 0 && size > limit; }

// --- fast-path predicates: does this part need any repair? ---

bool TagValueNeedsWork(std::string_view v, size_t max_len) {
  if (v.empty()) return false;
  return Over(v.size(), max_len) || v.back() == '\\' || Contains(v, '\n');
}

bool FieldValueNeedsWork(const FieldValue& v, const Rules& r, size_t max_len) {
  if (auto* d = std::get_if<double>(&v)) return !std::isfinite(*d);
  if (auto* s = std::get_if<std::string>(&v)) return !r.strings_allowed || Over(s->size(), max_len);
  if (auto* b = std::get_if<Bytes>(&v)) return !r.strings_allowed || Over(b->data.size(), max_len);
  if (auto* a = std::get_if<Array>(&v)) {
    for (const ArrayElement& e : a->values) {
      if (auto* d = std::get_if<double>(&e); d && !std::isfinite(*d)) return true;
    }
  }
  return false;
}

std::string_view KeyAt(const Point& p, size_t i) {
  return i < p.tags.size() ? std::string_view(p.tags[i].key)
                           : std::string_view(p.fields[i - p.tags.size()].key);
}

// Non-zero when some byte of `w` equals `b` (exact as a boolean).
constexpr uint64_t HasByte(uint64_t w, unsigned char b) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  const uint64_t v = w ^ (kOnes * b);
  return (v - kOnes) & ~v & (kOnes * 0x80);
}

struct KeyScan {
  uint64_t hash;
  bool newline;
  bool dot;
};

// One pass over a key, 8 bytes at a time: a hash for the duplicate table, and whether it holds
// '\n' or '.'.
KeyScan ScanKey(std::string_view key) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = key.size() * kMul;
  uint64_t nl = 0, dot = 0;
  size_t i = 0;
  const size_t n = key.size();
  while (i < n) {
    uint64_t w = 0;
    const size_t take = n - i < 8 ? n - i : 8;
    std::memcpy(&w, key.data() + i, take);  // zero padding matches neither byte
    nl |= HasByte(w, '\n');
    dot |= HasByte(w, '.');
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    i += take;
  }
  return {h, nl != 0, dot != 0};
}

// Open-addressing set of key indexes, for spotting a key used twice among tags and fields. On
// the stack for small points, in a per-thread buffer for larger ones: no allocation once warm.
class DuplicateFinder {
 public:
  DuplicateFinder(const Point& p, size_t n) : p_(p) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    if (cap <= kStackSlots) {
      table_ = stack_.data();
    } else {
      thread_local std::vector<uint64_t> heap;
      heap.resize(cap);
      table_ = heap.data();
    }
    std::fill(table_, table_ + cap, 0);
    mask_ = cap - 1;
  }

  // Records key number `index` (KeyAt order); true if an equal key was recorded before.
  bool SeenBefore(std::string_view key, uint64_t hash, size_t index) {
    constexpr uint64_t kHigh = 0xFFFFFFFF00000000ull;
    const uint64_t tag = hash & kHigh;  // lower 32 bits hold index + 1 (0 = empty slot)
    for (size_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
      const uint64_t e = table_[slot];
      if (e == 0) {
        table_[slot] = tag | (index + 1);
        return false;
      }
      if ((e & kHigh) == tag && KeyAt(p_, (e & ~kHigh) - 1) == key) return true;
    }
  }

 private:
  static constexpr size_t kStackSlots = 128;
  const Point& p_;
  std::array<uint64_t, kStackSlots> stack_;
  uint64_t* table_;
  size_t mask_;
};

// The fast path: true if any rule would change the point. One scan, no allocation.
bool NeedsWork(const Point& p, const Rules& r, const CheckLimits& l) {
  if (p.measurement.empty() || Over(p.measurement.size(), l.max_measurement_len)) return true;
  if (Over(p.tags.size(), l.max_tags) || Over(p.fields.size(), l.max_fields)) return true;
  if (p.fields.empty()) return true;
  bool has_required = r.required_key.empty();
  DuplicateFinder dups(p, p.tags.size() + p.fields.size());
  auto key_needs_work = [&](std::string_view key, size_t max_len, size_t index) {
    if (key.empty() || Over(key.size(), max_len) || key.back() == '\\') return true;
    const KeyScan scan = ScanKey(key);
    if (scan.newline || (scan.dot && !r.dots_allowed) || IsDisabled(key, r)) return true;
    if (!has_required && key == r.required_key) has_required = true;
    return dups.SeenBefore(key, scan.hash, index);
  };
  size_t index = 0;
  for (const Tag& t : p.tags) {
    if (key_needs_work(t.key, l.max_tag_key_len, index++)) return true;
    if (TagValueNeedsWork(t.value, l.max_tag_value_len)) return true;
  }
  for (const Field& f : p.fields) {
    if (key_needs_work(f.key, l.max_field_key_len, index++)) return true;
    if (FieldValueNeedsWork(f.value, r, l.max_field_value_len)) return true;
  }
  return !has_required;
}

// --- message helpers ---

// 'key' for a message: control bytes escaped, long keys cut to 64 bytes with "...".
std::string Q(std::string_view s) {
  constexpr size_t kMax = 64;
  const size_t n = Utf8PrefixLength(s, kMax);
  std::string out = "'";
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (n < s.size()) out += "...";
  out += '\'';
  return out;
}

std::string Num(size_t n) { return std::to_string(n); }

// The slow path: something needs repair. Allocation is fine here.
class Repairer {
 public:
  Repairer(Category category, Point& point, const CheckLimits& limits, CheckOutcome& out)
      : category_(category), rules_(RulesFor(category, limits)), p_(point), l_(limits), out_(out) {}

  void Run() {
    CheckMeasurement();
    TrimCounts();
    tag_drop_.assign(p_.tags.size(), 0);
    field_drop_.assign(p_.fields.size(), 0);
    MergeDuplicates();
    for (size_t i = 0; i < p_.tags.size(); ++i) {
      if (!tag_drop_[i]) tag_drop_[i] = !CheckTag(p_.tags[i]);
    }
    for (size_t i = 0; i < p_.fields.size(); ++i) {
      if (!field_drop_[i]) field_drop_[i] = !CheckField(p_.fields[i]);
    }
    live_.clear();  // holds views into keys that Compact moves
    Compact(p_.tags, tag_drop_);
    Compact(p_.fields, field_drop_);
    AddRequiredKey();
    if (p_.fields.empty()) {
      Warn(CheckReason::kNoFields, "no fields left; point refused");
      out_.refused = true;
    }
  }

 private:
  void Warn(CheckReason reason, std::string message) {
    out_.warnings.push_back({reason, std::move(message)});
  }

  void CheckMeasurement() {
    if (p_.measurement.empty()) {
      Warn(CheckReason::kEmptyMeasurement,
           "empty measurement, set to '" + std::string(kDefaultMeasurement) + "'");
      p_.measurement = kDefaultMeasurement;
    }
    if (Over(p_.measurement.size(), l_.max_measurement_len)) {
      const size_t n = Utf8PrefixLength(p_.measurement, l_.max_measurement_len);
      Warn(CheckReason::kMeasurementTooLong, "measurement " + Q(p_.measurement) + " is " +
                                                 Num(p_.measurement.size()) +
                                                 " bytes, truncated to " + Num(n));
      p_.measurement.resize(n);
    }
  }

  void TrimCounts() {
    if (Over(p_.tags.size(), l_.max_tags)) {
      Warn(CheckReason::kTooManyTags, "got " + Num(p_.tags.size()) + " tags, over the limit of " +
                                          Num(l_.max_tags) + "; the last " +
                                          Num(p_.tags.size() - l_.max_tags) + " dropped");
      p_.tags.resize(l_.max_tags);
    }
    if (Over(p_.fields.size(), l_.max_fields)) {
      Warn(CheckReason::kTooManyFields,
           "got " + Num(p_.fields.size()) + " fields, over the limit of " + Num(l_.max_fields) +
               "; the last " + Num(p_.fields.size() - l_.max_fields) + " dropped");
      p_.fields.resize(l_.max_fields);
    }
  }

  // Rule 4 (repeats within tags / within fields) and rule 5 (tag and field share a key), then
  // fills live_ with the surviving keys, all distinct.
  void MergeDuplicates() {
    std::unordered_map<std::string_view, size_t> tag_first;
    tag_first.reserve(p_.tags.size());
    for (size_t i = 0; i < p_.tags.size(); ++i) {
      auto [it, inserted] = tag_first.emplace(p_.tags[i].key, i);
      if (inserted) continue;
      Warn(CheckReason::kDuplicateKey,
           "tag key " + Q(p_.tags[i].key) + " repeated; the last value kept");
      p_.tags[it->second].value = std::move(p_.tags[i].value);
      tag_drop_[i] = 1;
    }
    std::unordered_map<std::string_view, size_t> field_first;
    field_first.reserve(p_.fields.size());
    for (size_t i = 0; i < p_.fields.size(); ++i) {
      auto [it, inserted] = field_first.emplace(p_.fields[i].key, i);
      if (inserted) continue;
      Warn(CheckReason::kDuplicateKey,
           "field key " + Q(p_.fields[i].key) + " repeated; the last value kept");
      p_.fields[it->second].value = std::move(p_.fields[i].value);
      field_drop_[i] = 1;
    }
    live_.reserve(p_.tags.size() + p_.fields.size());
    for (size_t i = 0; i < p_.tags.size(); ++i) {
      if (!tag_drop_[i]) live_.insert(p_.tags[i].key);
    }
    for (size_t i = 0; i < p_.fields.size(); ++i) {
      if (field_drop_[i]) continue;
      if (tag_first.count(p_.fields[i].key)) {
        Warn(CheckReason::kTagFieldConflict,
             "key " + Q(p_.fields[i].key) + " is both a tag and a field; field dropped");
        field_drop_[i] = 1;
        continue;
      }
      live_.insert(p_.fields[i].key);
    }
  }

  // Gives `key` the name `to`, unless another tag or field already has it: then the entry is
  // dropped (returns false). live_ never holds a view of a key while that key changes.
  bool Rename(std::string& key, std::string to, const char* what) {
    if (to == key) return true;
    live_.erase(key);
    if (live_.count(to)) {
      Warn(CheckReason::kKeyConflictAfterRename, std::string(what) + " key " + Q(key) + " became " +
                                                     Q(to) + ", which the point already has; " +
                                                     what + " dropped");
      return false;
    }
    key = std::move(to);
    live_.insert(key);
    return true;
  }

  bool Truncate(std::string& key, size_t max_len, CheckReason reason, const char* what) {
    if (!Over(key.size(), max_len)) return true;
    const size_t n = Utf8PrefixLength(key, max_len);
    Warn(reason, std::string(what) + " key " + Q(key) + " is " + Num(key.size()) +
                     " bytes, truncated to " + Num(n));
    return Rename(key, key.substr(0, n), what);
  }

  // cliutils adjustKV: trailing '\' removed, '\n' -> ' '.
  bool Adjust(std::string& key, const char* what) {
    const bool backslash = !key.empty() && key.back() == '\\';
    const bool newline = Contains(key, '\n');
    if (!backslash && !newline) return true;
    std::string to = key;
    if (backslash) {
      Warn(CheckReason::kTrailingBackslash,
           std::string(what) + " key " + Q(key) + " ends with '\\', removed");
      while (!to.empty() && to.back() == '\\') to.pop_back();
    }
    if (newline) {
      Warn(CheckReason::kNewlineInKey,
           std::string(what) + " key " + Q(key) + " has '\\n', replaced with ' '");
      std::replace(to.begin(), to.end(), '\n', ' ');
    }
    return Rename(key, std::move(to), what);
  }

  bool Dots(std::string& key, const char* what) {
    if (rules_.dots_allowed || !Contains(key, '.')) return true;
    Warn(CheckReason::kDotInKey, std::string(what) + " key " + Q(key) +
                                     " has '.', replaced with '_' (not allowed for " +
                                     std::string(CategoryName(category_)) + ")");
    std::string to = key;
    std::replace(to.begin(), to.end(), '.', '_');
    return Rename(key, std::move(to), what);
  }

  // Empty and disabled keys (cliutils keyDisabled).
  bool Allowed(std::string& key, const char* what) {
    if (key.empty()) {
      Warn(CheckReason::kEmptyKey, std::string("empty ") + what + " key; " + what + " dropped");
    } else if (IsDisabled(key, rules_)) {
      Warn(CheckReason::kDisabledKey, std::string(what) + " key " + Q(key) + " is reserved for " +
                                          std::string(CategoryName(category_)) + "; " + what +
                                          " dropped");
    } else {
      return true;
    }
    live_.erase(key);
    return false;
  }

  bool CheckTag(Tag& t) {
    // cliutils checkTag order: length, adjustKV, dots, then keyDisabled.
    if (!Truncate(t.key, l_.max_tag_key_len, CheckReason::kTagKeyTooLong, "tag")) return false;
    if (!Adjust(t.key, "tag")) return false;
    if (!Dots(t.key, "tag")) return false;
    if (!Allowed(t.key, "tag")) return false;
    std::string& v = t.value;
    if (!v.empty() && v.back() == '\\') {
      Warn(CheckReason::kTrailingBackslash,
           "tag " + Q(t.key) + " value " + Q(v) + " ends with '\\', removed");
      while (!v.empty() && v.back() == '\\') v.pop_back();
    }
    if (Contains(v, '\n')) {
      Warn(CheckReason::kNewlineInTagValue,
           "tag " + Q(t.key) + " value has '\\n', replaced with ' '");
      std::replace(v.begin(), v.end(), '\n', ' ');
    }
    if (Over(v.size(), l_.max_tag_value_len)) {
      size_t n = Utf8PrefixLength(v, l_.max_tag_value_len);
      // The cut must not leave a trailing '\' (the rule above; found by fuzz_point_checks).
      while (n > 0 && v[n - 1] == '\\') --n;
      Warn(CheckReason::kTagValueTooLong,
           "tag " + Q(t.key) + " value is " + Num(v.size()) + " bytes, truncated to " + Num(n));
      v.resize(n);
    }
    return true;
  }

  bool CheckField(Field& f) {
    // cliutils checkField order: length, dots, adjustKV, then keyDisabled.
    if (!Truncate(f.key, l_.max_field_key_len, CheckReason::kFieldKeyTooLong, "field")) {
      return false;
    }
    if (!Dots(f.key, "field")) return false;
    if (!Adjust(f.key, "field")) return false;
    if (!Allowed(f.key, "field")) return false;
    if (CheckFieldValue(f)) return true;
    live_.erase(f.key);
    return false;
  }

  // Returns false to drop the field.
  bool CheckFieldValue(Field& f) {
    if (auto* d = std::get_if<double>(&f.value)) {
      if (std::isnan(*d)) {
        Warn(CheckReason::kNanFloat, "field " + Q(f.key) + " is NaN; field dropped");
        return false;
      }
      if (std::isinf(*d)) {
        Warn(CheckReason::kInfFloat, "field " + Q(f.key) + (*d > 0 ? " is +Inf" : " is -Inf") +
                                         ", set to " +
                                         (*d > 0 ? "float64(MaxUint64)" : "float64(MinInt64)"));
        *d = *d > 0 ? kPosInfReplacement : kNegInfReplacement;
      }
      return true;
    }
    std::string* text = nullptr;
    bool is_bytes = false;
    if (auto* s = std::get_if<std::string>(&f.value)) {
      text = s;
    } else if (auto* b = std::get_if<Bytes>(&f.value)) {
      text = &b->data;
      is_bytes = true;
    }
    if (text) {
      const char* kind = is_bytes ? "bytes" : "string";
      if (!rules_.strings_allowed) {
        Warn(CheckReason::kStringFieldInMetric,
             "field " + Q(f.key) + " has a " + kind + " value, not allowed for " +
                 std::string(CategoryName(category_)) + "; field dropped");
        return false;
      }
      if (Over(text->size(), l_.max_field_value_len)) {
        const size_t n =
            is_bytes ? l_.max_field_value_len : Utf8PrefixLength(*text, l_.max_field_value_len);
        Warn(CheckReason::kFieldValueTooLong, "field " + Q(f.key) + " " + kind + " value is " +
                                                  Num(text->size()) + " bytes, truncated to " +
                                                  Num(n));
        text->resize(n);
      }
      return true;
    }
    if (auto* a = std::get_if<Array>(&f.value)) {
      bool inf = false;
      for (ArrayElement& e : a->values) {
        auto* d = std::get_if<double>(&e);
        if (!d || std::isfinite(*d)) continue;
        if (std::isnan(*d)) {
          Warn(CheckReason::kNanFloat, "field " + Q(f.key) + " array holds NaN; field dropped");
          return false;
        }
        inf = true;
      }
      if (inf) {
        Warn(CheckReason::kInfFloat, "field " + Q(f.key) +
                                         " array holds ±Inf, set to float64(MaxUint64) / "
                                         "float64(MinInt64)");
        for (ArrayElement& e : a->values) {
          if (auto* d = std::get_if<double>(&e); d && std::isinf(*d)) {
            *d = *d > 0 ? kPosInfReplacement : kNegInfReplacement;
          }
        }
      }
    }
    return true;
  }

  template <typename T>
  static void Compact(std::vector<T>& items, const std::vector<char>& drop) {
    size_t out = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (drop[i]) continue;
      if (out != i) items[out] = std::move(items[i]);
      ++out;
    }
    items.resize(out);
  }

  void AddRequiredKey() {
    const std::string_view key = rules_.required_key;
    if (key.empty()) return;
    for (const Tag& t : p_.tags) {
      if (t.key == key) return;
    }
    for (const Field& f : p_.fields) {
      if (f.key == key) return;
    }
    Warn(CheckReason::kRequiredKeyAdded, "added required field " + Q(key) + " = " +
                                             Q(rules_.required_value) + " (" +
                                             std::string(CategoryName(category_)) + ")");
    p_.fields.push_back({std::string(key), std::string(rules_.required_value)});
  }

  const Category category_;
  const Rules rules_;
  Point& p_;
  const CheckLimits& l_;
  CheckOutcome& out_;
  std::vector<char> tag_drop_;
  std::vector<char> field_drop_;
  std::unordered_set<std::string_view> live_;  // current keys of kept tags and fields
};

}  // namespace

std::string_view CheckReasonName(CheckReason reason) {
  const size_t i = static_cast<size_t>(reason);
  return i < kReasonNames.size() ? kReasonNames[i] : std::string_view("unknown");
}

size_t Utf8PrefixLength(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s.size();
  auto is_cont = [&](size_t i) { return (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  if (!is_cont(max_bytes)) return max_bytes;  // s[max_bytes] starts a character
  // s[max_bytes] continues a sequence: find its lead byte, at most 3 bytes back.
  size_t p = max_bytes;
  while (p > 0 && max_bytes - p < 3 && is_cont(p)) --p;
  const unsigned char lead = static_cast<unsigned char>(s[p]);
  size_t len = 0;
  if ((lead & 0xE0) == 0xC0) {
    len = 2;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
  }
  if (len != 0 && p + len > max_bytes) return p;
  return max_bytes;  // not valid UTF-8 here: cut like any byte
}

CheckOutcome CheckPoint(Category category, Point& point, const CheckLimits& limits) {
  CheckOutcome out;
  const Rules rules = RulesFor(category, limits);
  if (!NeedsWork(point, rules, limits)) return out;
  Repairer(category, point, limits, out).Run();
  return out;
}

}  // namespace pythond::model
