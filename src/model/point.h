// The typed point model: what every sink receives, whatever the wire format was.
// Plain values; thread-compatible. A PointBatch is immutable once handed to outputs
// (shared as std::shared_ptr<const PointBatch>).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace pythond::model {

// DataKit's categories, in the order of DESIGN §2.3.
enum class Category : uint8_t {
  kMetric,
  kLogging,
  kObject,
  kCustomObject,
  kKeyEvent,
  kRum,
  kNetwork,
  kSecurity,
};
inline constexpr int kCategoryCount = 8;

// "metric", "logging", ... (the /v1/write/:category path segment).
std::string_view CategoryName(Category c);
std::optional<Category> ParseCategory(std::string_view name);

// Raw bytes (line protocol "base64"b, PB-JSON "d"). Kept apart from text strings.
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

// One array element; an array holds elements of a single type.
using ArrayElement = std::variant<int64_t, uint64_t, double, bool, std::string>;
struct Array {
  std::vector<ArrayElement> values;
  bool operator==(const Array&) const = default;
};

// A field value keeps its wire type: 3i is an int, 3u a uint, 3 or 3.0 a float.
// The index order is part of the contract (tests and the store's JSON rely on it).
using FieldValue = std::variant<int64_t, uint64_t, double, bool, std::string, Bytes, Array>;

struct Field {
  std::string key;
  FieldValue value;
  bool operator==(const Field&) const = default;
};

struct Tag {
  std::string key;
  std::string value;
  bool operator==(const Tag&) const = default;
};

struct Point {
  std::string measurement;
  std::vector<Tag> tags;      // in wire order; keys unique after checks
  std::vector<Field> fields;  // in wire order; at least one
  int64_t time_ns = 0;        // unix nanoseconds
  bool operator==(const Point&) const = default;
};

// What one write request produced: points of one category from one input.
struct PointBatch {
  Category category = Category::kMetric;
  std::string input;  // the `input` parameter, or the reporting plugin's input
  std::vector<Point> points;
};
using PointBatchPtr = std::shared_ptr<const PointBatch>;

// Merges repeated keys in a tag or field list: each key keeps its first position and its last
// value (as InfluxDB does). T has `key` and `value` members.
template <typename T>
void KeepLastOfDuplicates(std::vector<T>& items) {
  const size_t n = items.size();
  if (n < 2) return;
  std::vector<bool> drop;  // sized only when a duplicate shows up
  auto merge = [&](size_t first, size_t dup) {
    items[first].value = std::move(items[dup].value);
    if (drop.empty()) drop.resize(n);
    drop[dup] = true;
  };
  if (n <= 16) {
    for (size_t i = 1; i < n; ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (items[j].key == items[i].key) {
          merge(j, i);
          break;
        }
      }
    }
  } else {
    std::unordered_map<std::string_view, size_t> first;
    first.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto [it, inserted] = first.emplace(items[i].key, i);
      if (!inserted) merge(it->second, i);
    }
  }
  if (drop.empty()) return;
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (drop[i]) continue;
    if (out != i) items[out] = std::move(items[i]);
    ++out;
  }
  items.resize(out);
}

// {"k":"v",...} with keys in point order.
std::string TagsToJson(const std::vector<Tag>& tags);
// {"k":1,"f":1.5,"b":true,"s":"x","d":"aGk=","a":[1,2]}: ints and uints as JSON integers, floats
// always with '.' or exponent; Bytes as a JSON string holding their standard, padded base64 text;
// an Array as a JSON array of its elements written the same way. JSON has no bytes type, so this
// form loses the bytes/string distinction: a reader cannot tell Bytes{"hi"} (stored as "aGk=")
// from the string "aGk=". Requires finite floats (every parser here guarantees them).
std::string FieldsToJson(const std::vector<Field>& fields);

// Appends the standard (RFC 4648 section 4), '='-padded base64 encoding of `data`.
void AppendBase64(std::string& out, std::string_view data);
// Decodes base64 into `out` (replacing its contents). Accepts the standard and the URL-safe
// alphabets, '=' padding or none, and skips CR and LF (as Go's decoders do). Returns false on any
// other byte, on padding that is misplaced or wrong, and on a final group of one character.
bool DecodeBase64(std::string_view text, std::string& out);

}  // namespace pythond::model
