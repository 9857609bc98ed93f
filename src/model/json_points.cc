#include "model/json_points.h"

#include <simdjson.h>

#include <string>
#include <unordered_map>

#include "common/strings.h"
#include "model/json_messages.h"

namespace pythond::model {

namespace {

// Go's encoding/json, which DataKit uses, matches struct keys case-insensitively.
bool KeyIs(std::string_view key, std::string_view name) {
  if (key.size() != name.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != name[i]) return false;
  }
  return true;
}

// Reads a JSON array of scalars of one type into an Array field value; returns an empty string or
// the reason it is refused. Integers are int64, or uint64 when one is above INT64_MAX (then none
// may be negative); integers mixed with floats all become floats (every JSON number is a number,
// as in DataKit, which reads them all as float64).
std::string ParseArrayField(std::string_view key, simdjson::dom::array elements, FieldValue& out) {
  using simdjson::dom::element_type;
  enum Kind { kNone, kNumber, kString, kBool } kind = kNone;
  element_type first_type = element_type::NULL_VALUE;
  bool any_double = false, any_uint = false, any_negative = false;
  for (simdjson::dom::element e : elements) {
    Kind k;
    switch (e.type()) {
      case element_type::INT64:
        k = kNumber;
        any_negative |= e.get_int64().value_unsafe() < 0;
        break;
      case element_type::UINT64:
        k = kNumber;
        any_uint = true;
        break;
      case element_type::DOUBLE:
        k = kNumber;
        any_double = true;
        break;
      case element_type::STRING:
        k = kString;
        break;
      case element_type::BOOL:
        k = kBool;
        break;
      default:
        return "field " + QuotedForMessage(key) +
               ": array elements must be numbers, strings or bools, not " + JsonTypeName(e.type());
    }
    if (kind == kNone) {
      kind = k;
      first_type = e.type();
    } else if (k != kind) {
      return "field " + QuotedForMessage(key) + ": array elements must all have one type (" +
             JsonTypeName(first_type) + " and " + JsonTypeName(e.type()) + ")";
    }
  }
  if (any_uint && any_negative && !any_double) {
    return "field " + QuotedForMessage(key) +
           ": array integers must all fit int64 or all fit uint64 (a negative one and one above "
           "9223372036854775807)";
  }
  Array& array = out.emplace<Array>();
  array.values.reserve(elements.size());
  for (simdjson::dom::element e : elements) {
    switch (e.type()) {
      case element_type::INT64: {
        const int64_t v = e.get_int64().value_unsafe();
        if (any_double) {
          array.values.emplace_back(static_cast<double>(v));
        } else if (any_uint) {
          array.values.emplace_back(static_cast<uint64_t>(v));
        } else {
          array.values.emplace_back(v);
        }
        break;
      }
      case element_type::UINT64: {
        const uint64_t v = e.get_uint64().value_unsafe();
        if (any_double) {
          array.values.emplace_back(static_cast<double>(v));
        } else {
          array.values.emplace_back(v);
        }
        break;
      }
      case element_type::DOUBLE:
        array.values.emplace_back(e.get_double().value_unsafe());
        break;
      case element_type::STRING:
        array.values.emplace_back(std::string(e.get_string().value_unsafe()));
        break;
      default:  // BOOL; the first pass refused everything else
        array.values.emplace_back(e.get_bool().value_unsafe());
    }
  }
  return {};
}

// Fills `point` from one JSON point; returns an empty string or the reason it is refused.
std::string ParsePoint(simdjson::dom::element element, const ParseOptions& options, Point& point) {
  using simdjson::dom::element_type;
  if (element.type() != element_type::OBJECT) {
    return std::string("a point must be a JSON object, not ") + JsonTypeName(element.type());
  }
  simdjson::dom::element measurement, tags, fields, time;
  bool has_measurement = false, has_tags = false, has_fields = false, has_time = false;
  // The last of repeated keys wins, as in Go.
  simdjson::dom::object object = element.get_object().value_unsafe();
  for (auto [key, value] : object) {
    if (KeyIs(key, "measurement")) {
      measurement = value;
      has_measurement = true;
    } else if (KeyIs(key, "tags")) {
      tags = value;
      has_tags = true;
    } else if (KeyIs(key, "fields")) {
      fields = value;
      has_fields = true;
    } else if (KeyIs(key, "time")) {
      time = value;
      has_time = true;
    }
  }

  if (!has_measurement || measurement.is_null()) return "missing measurement";
  std::string_view name;
  if (measurement.get_string().get(name)) {
    return std::string("measurement must be a string, not ") + JsonTypeName(measurement.type());
  }
  if (name.empty()) return "empty measurement";
  point.measurement.assign(name);

  if (has_tags && !tags.is_null()) {
    if (tags.type() != element_type::OBJECT) {
      return std::string("tags must be an object, not ") + JsonTypeName(tags.type());
    }
    simdjson::dom::object tag_object = tags.get_object().value_unsafe();
    for (auto [key, value] : tag_object) {
      if (key.empty()) return "empty tag key";
      switch (value.type()) {
        case element_type::NULL_VALUE:
          continue;
        case element_type::STRING:
          point.tags.push_back({std::string(key), std::string(value.get_string().value_unsafe())});
          break;
        case element_type::INT64:
          point.tags.push_back(
              {std::string(key), std::to_string(value.get_int64().value_unsafe())});
          break;
        case element_type::UINT64:
          point.tags.push_back(
              {std::string(key), std::to_string(value.get_uint64().value_unsafe())});
          break;
        case element_type::DOUBLE: {
          std::string text;
          AppendJsonDouble(text, value.get_double().value_unsafe());
          point.tags.push_back({std::string(key), std::move(text)});
          break;
        }
        case element_type::BOOL:
          point.tags.push_back(
              {std::string(key), value.get_bool().value_unsafe() ? "true" : "false"});
          break;
        case element_type::ARRAY:
        case element_type::OBJECT:
          return "tag " + QuotedForMessage(key) + " must be a string, not " +
                 JsonTypeName(value.type());
      }
    }
    KeepLastOfDuplicates(point.tags);
  }

  if (!has_fields || fields.is_null()) return "missing fields";
  if (fields.type() != element_type::OBJECT) {
    return std::string("fields must be an object, not ") + JsonTypeName(fields.type());
  }
  bool dropped_null = false;
  simdjson::dom::object field_object = fields.get_object().value_unsafe();
  for (auto [key, value] : field_object) {
    if (key.empty()) return "empty field key";
    FieldValue v;
    switch (value.type()) {
      case element_type::NULL_VALUE:
        dropped_null = true;
        continue;
      case element_type::STRING:
        v = std::string(value.get_string().value_unsafe());
        break;
      case element_type::INT64:
        v = value.get_int64().value_unsafe();
        break;
      case element_type::UINT64:
        v = value.get_uint64().value_unsafe();
        break;
      case element_type::DOUBLE:
        v = value.get_double().value_unsafe();
        break;
      case element_type::BOOL:
        v = value.get_bool().value_unsafe();
        break;
      case element_type::ARRAY: {
        std::string reason = ParseArrayField(key, value.get_array().value_unsafe(), v);
        if (!reason.empty()) return reason;
        break;
      }
      case element_type::OBJECT:
        return "field " + QuotedForMessage(key) + " must be a number, string, bool or array, not " +
               JsonTypeName(value.type());
    }
    point.fields.push_back({std::string(key), std::move(v)});
  }
  if (point.fields.empty()) {
    return dropped_null ? "no fields left after dropping nulls" : "empty fields";
  }
  KeepLastOfDuplicates(point.fields);

  if (!has_time || time.is_null()) {
    point.time_ns = options.now_ns;
    return {};
  }
  int64_t t = 0;
  switch (time.type()) {
    case element_type::INT64:
      t = time.get_int64().value_unsafe();
      break;
    case element_type::UINT64:
      return "time out of range";
    default:
      return std::string("time must be an integer, not ") + JsonTypeName(time.type());
  }
  std::optional<int64_t> ns = ToUnixNanos(t, options.precision);
  if (!ns) return "time out of range";
  point.time_ns = *ns;
  return {};
}

}  // namespace

ParseResult ParseJsonPoints(std::string_view body, const ParseOptions& options) {
  ParseResult result;
  auto add_error = [&](int index, std::string reason) {
    AddParseError(result, options, index, std::move(reason));
  };

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root); error) {
    add_error(0, std::string("invalid JSON: ") + simdjson::error_message(error));
    return result;
  }

  auto parse_one = [&](simdjson::dom::element element, int index) {
    Point& point = result.points.emplace_back();
    std::string reason = ParsePoint(element, options, point);
    if (!reason.empty()) {
      result.points.pop_back();
      add_error(index, std::move(reason));
    }
  };
  switch (root.type()) {
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array array = root.get_array().value_unsafe();
      if (!WithinMaxPoints(result, options, array.size())) break;
      int index = 0;
      for (simdjson::dom::element element : array) parse_one(element, ++index);
      break;
    }
    case simdjson::dom::element_type::OBJECT:
      parse_one(root, 1);
      break;
    default:
      add_error(0,
                std::string("the body must be a JSON array of points or one point object, not ") +
                    JsonTypeName(root.type()));
  }
  return result;
}

}  // namespace pythond::model
