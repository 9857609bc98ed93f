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

// A field value keeps its wire type: 3i is an int, 3u a uint, 3 or 3.0 a float.
using FieldValue = std::variant<int64_t, uint64_t, double, bool, std::string>;

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
// {"k":1,"f":1.5,"b":true,"s":"x"}: ints as JSON integers, floats always with '.' or exponent.
std::string FieldsToJson(const std::vector<Field>& fields);

}  // namespace pythond::model
