#include "model/pbjson_points.h"

#include <simdjson.h>

#include "model/json_messages.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

namespace pythond::model {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kArrayTypeName = "point.Array";
constexpr std::string_view kMapTypeName = "point.Map";

// The oneof member a key names ('i' 'u' 'f' 'b' 'd' 's' 'a'), or 0.
char ValueLetter(std::string_view key) {
  if (key.size() != 1) return 0;
  switch (key[0]) {
    case 'i':
    case 'u':
    case 'f':
    case 'b':
    case 'd':
    case 's':
    case 'a':
      return key[0];
    default:
      return 0;
  }
}

// "i and s": two oneof members named in a reason.
std::string Letters(char a, char b) { return std::string(1, a) + " and " + b; }

// Parses all of `text` as a decimal integer. Returns "" or the reason.
template <typename Int>
std::string ParseIntText(std::string_view text, char letter, const char* type_name, Int& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ptr == text.data() + text.size() && ec == std::errc::result_out_of_range) {
    return std::string(1, letter) + " out of range for " + type_name + ": " +
           QuotedForMessage(text);
  }
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return std::string("invalid ") + type_name + " in " + letter + ": " + QuotedForMessage(text);
  }
  return {};
}

// Decodes the scalar oneof member `letter` (i u f b s; d and a are the caller's) from `value`
// into `out` (a FieldValue or an ArrayElement). Returns "" or the reason.
template <typename V>
std::string DecodeScalar(char letter, element value, V& out) {
  const element_type type = value.type();
  switch (letter) {
    case 'i':
      if (type == element_type::INT64) {
        out = value.get_int64().value_unsafe();
        return {};
      }
      if (type == element_type::UINT64) {
        return "i out of range for int64: " + std::to_string(value.get_uint64().value_unsafe());
      }
      if (type == element_type::STRING) {
        int64_t v = 0;
        std::string reason = ParseIntText(value.get_string().value_unsafe(), 'i', "int64", v);
        if (reason.empty()) out = v;
        return reason;
      }
      return std::string("i must be an int64 (a JSON string or integer), not ") +
             JsonTypeName(type);
    case 'u':
      if (type == element_type::UINT64) {
        out = value.get_uint64().value_unsafe();
        return {};
      }
      if (type == element_type::INT64) {
        const int64_t v = value.get_int64().value_unsafe();
        if (v < 0) return "u out of range for uint64: " + std::to_string(v);
        out = static_cast<uint64_t>(v);
        return {};
      }
      if (type == element_type::STRING) {
        uint64_t v = 0;
        std::string_view text = value.get_string().value_unsafe();
        if (!text.empty() && text[0] == '-') {
          return "u out of range for uint64: " + QuotedForMessage(text);
        }
        std::string reason = ParseIntText(text, 'u', "uint64", v);
        if (reason.empty()) out = v;
        return reason;
      }
      return std::string("u must be a uint64 (a JSON string or integer), not ") +
             JsonTypeName(type);
    case 'f':
      switch (type) {
        case element_type::DOUBLE:
          out = value.get_double().value_unsafe();
          return {};
        case element_type::INT64:
          out = static_cast<double>(value.get_int64().value_unsafe());
          return {};
        case element_type::UINT64:
          out = static_cast<double>(value.get_uint64().value_unsafe());
          return {};
        case element_type::STRING: {
          std::string_view text = value.get_string().value_unsafe();
          if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
            return "non-finite floats are not supported: " + QuotedForMessage(text);
          }
          // from_chars also reads "inf" and "nan", which protojson does not.
          bool numeric = !text.empty();
          for (char c : text) {
            numeric &=
                (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+';
          }
          double v = 0;
          auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (!numeric || ptr != text.data() + text.size() ||
              (ec != std::errc() && ec != std::errc::result_out_of_range)) {
            return "invalid double in f: " + QuotedForMessage(text);
          }
          if (ec == std::errc::result_out_of_range) {
            std::string copy(text);  // overflow is an error; underflow reads as 0 or a subnormal
            v = std::strtod(copy.c_str(), nullptr);
            if (!std::isfinite(v)) return "f out of range for a double: " + QuotedForMessage(text);
          }
          out = v;
          return {};
        }
        default:
          return std::string("f must be a number, not ") + JsonTypeName(type);
      }
    case 'b':
      if (type != element_type::BOOL)
        return std::string("b must be a bool, not ") + JsonTypeName(type);
      out = value.get_bool().value_unsafe();
      return {};
    default:  // 's'
      if (type != element_type::STRING) {
        return std::string("s must be a string, not ") + JsonTypeName(type);
      }
      out = std::string(value.get_string().value_unsafe());
      return {};
  }
}

std::string DecodeBytes(element value, std::string& out) {
  if (value.type() != element_type::STRING) {
    return std::string("d must be a base64 string, not ") + JsonTypeName(value.type());
  }
  if (!DecodeBase64(value.get_string().value_unsafe(), out)) return "invalid base64 in d";
  return {};
}

// Reads an "a" value, {"@type":"type.googleapis.com/point.Array","arr":[{"i":"1"},...]}, into
// an Array. Returns "" or the reason.
std::string DecodeAny(element value, FieldValue& out) {
  if (value.type() != element_type::OBJECT) {
    return std::string("a must be an object (a google.protobuf.Any), not ") +
           JsonTypeName(value.type());
  }
  std::optional<element> type_url, arr;
  std::optional<std::string_view> unknown;
  const simdjson::dom::object any = value.get_object().value_unsafe();
  for (auto [key, v] : any) {
    if (key == "@type") {
      type_url = v;
    } else if (key == "arr") {
      arr = v;
    } else if (!unknown) {
      unknown = key;
    }
  }
  if (!type_url || type_url->is_null()) return "a needs an \"@type\"";
  std::string_view url;
  if (type_url->get_string().get(url)) {
    return std::string("a's @type must be a string, not ") + JsonTypeName(type_url->type());
  }
  std::string_view name = url.substr(url.rfind('/') + 1);  // npos + 1 == 0
  if (name == kMapTypeName) return "map values (point.Map) are not supported";
  if (name != kArrayTypeName) {
    return "unsupported Any type " + QuotedForMessage(url) +
           " (only type.googleapis.com/point.Array)";
  }
  if (unknown) return "unknown key " + QuotedForMessage(*unknown) + " in a point.Array";

  Array& array = out.emplace<Array>();
  if (!arr || arr->is_null()) return {};
  if (arr->type() != element_type::ARRAY) {
    return std::string("a's arr must be an array, not ") + JsonTypeName(arr->type());
  }
  simdjson::dom::array elements = arr->get_array().value_unsafe();
  array.values.reserve(elements.size());
  char kind = 0;
  size_t index = 0;
  for (element e : elements) {
    ++index;
    const std::string where = "array element " + std::to_string(index);
    if (e.type() != element_type::OBJECT) {
      return where + " must be an object like {\"i\":\"1\"}, not " + JsonTypeName(e.type());
    }
    char letter = 0;
    element v;
    const simdjson::dom::object members = e.get_object().value_unsafe();
    for (auto [key, x] : members) {
      const char l = ValueLetter(key);
      if (l == 0 || l == 'a') return where + ": unknown key " + QuotedForMessage(key);
      if (x.is_null()) continue;
      if (letter) return where + " has more than one value (" + Letters(letter, l) + ")";
      letter = l;
      v = x;
    }
    if (letter == 0) return where + " has no value";
    if (letter == 'd') return "arrays of bytes (d) are not supported";
    if (kind == 0) {
      kind = letter;
    } else if (letter != kind) {
      return "array elements must all have one type (" + Letters(kind, letter) + ")";
    }
    std::string reason = DecodeScalar(letter, v, array.values.emplace_back());
    if (!reason.empty()) return where + ": " + reason;
  }
  return {};
}

// Reads the index'th (1-based) field of a point into point.tags or point.fields. Sets *dropped
// when the field has no value. Returns "" or the reason.
std::string ParseField(element field, size_t index, Point& point, bool* dropped) {
  if (field.type() != element_type::OBJECT) {
    return "field " + std::to_string(index) + " must be an object, not " +
           JsonTypeName(field.type());
  }
  std::optional<element> key_element;
  char letter = 0, second_letter = 0;
  element value;
  bool is_tag = false;
  std::string reason;
  std::optional<std::string_view> unknown;
  const simdjson::dom::object members = field.get_object().value_unsafe();
  for (auto [k, v] : members) {
    if (const char l = ValueLetter(k)) {
      if (v.is_null()) continue;
      if (letter) {
        second_letter = l;
      } else {
        letter = l;
        value = v;
      }
    } else if (k == "key") {
      key_element = v;
    } else if (k == "is_tag" || k == "isTag") {
      if (v.is_null()) continue;
      if (v.get_bool().get(is_tag) && reason.empty()) {
        reason = std::string("is_tag must be a bool, not ") + JsonTypeName(v.type());
      }
    } else if (k == "type") {
      // The metric type (an enum: a name like "GAUGE" or its number); not stored.
      const element_type t = v.type();
      if (t != element_type::STRING && t != element_type::INT64 && t != element_type::NULL_VALUE &&
          reason.empty()) {
        reason = std::string("type must be a metric type name or number, not ") + JsonTypeName(t);
      }
    } else if (k == "unit") {
      if (!v.is_string() && !v.is_null() && reason.empty()) {
        reason = std::string("unit must be a string, not ") + JsonTypeName(v.type());
      }
    } else if (!unknown) {
      unknown = k;
    }
  }

  const std::string position = "field " + std::to_string(index);
  if (!key_element || key_element->is_null()) return position + ": missing key";
  std::string_view key;
  if (key_element->get_string().get(key)) {
    return position + ": key must be a string, not " + JsonTypeName(key_element->type());
  }
  if (key.empty()) return position + ": empty key";
  const std::string name = (is_tag ? "tag " : "field ") + QuotedForMessage(key);
  if (unknown) return name + ": unknown key " + QuotedForMessage(*unknown);
  if (!reason.empty()) return name + ": " + reason;
  if (second_letter) {
    return name + ": more than one value (" + Letters(letter, second_letter) + ")";
  }
  if (letter == 0) {
    *dropped = true;
    return {};
  }

  if (is_tag) {
    Tag tag{std::string(key), {}};
    if (letter == 'd') {
      reason = DecodeBytes(value, tag.value);
    } else if (letter != 's') {
      return name + " must have a string value (s), not " + letter;
    } else if (value.type() != element_type::STRING) {
      return name + ": s must be a string, not " + JsonTypeName(value.type());
    } else {
      tag.value.assign(value.get_string().value_unsafe());
    }
    if (!reason.empty()) return name + ": " + reason;
    point.tags.push_back(std::move(tag));
    return {};
  }

  Field out{std::string(key), {}};
  if (letter == 'a') {
    reason = DecodeAny(value, out.value);
  } else if (letter == 'd') {
    reason = DecodeBytes(value, out.value.emplace<Bytes>().data);
  } else {
    reason = DecodeScalar(letter, value, out.value);
  }
  if (!reason.empty()) return name + ": " + reason;
  point.fields.push_back(std::move(out));
  return {};
}

std::string ParseTime(element time, const ParseOptions& options, int64_t& out_ns) {
  int64_t t = 0;
  switch (time.type()) {
    case element_type::NULL_VALUE:
      break;
    case element_type::INT64:
      t = time.get_int64().value_unsafe();
      break;
    case element_type::UINT64:
      return "time out of range";
    case element_type::STRING: {
      std::string_view text = time.get_string().value_unsafe();
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
      if (ptr == text.data() + text.size() && ec == std::errc::result_out_of_range) {
        return "time out of range";
      }
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        return "invalid time " + QuotedForMessage(text);
      }
      break;
    }
    default:
      return std::string("time must be an int64 (a JSON string or integer), not ") +
             JsonTypeName(time.type());
  }
  if (t == 0) {  // proto3 cannot tell 0 from unset
    out_ns = options.now_ns;
    return {};
  }
  std::optional<int64_t> ns = ToUnixNanos(t, options.precision);
  if (!ns) return "time out of range";
  out_ns = *ns;
  return {};
}

// Fills `point` from one PBPoint object; returns an empty string or the reason it is refused.
std::string ParsePoint(element object_element, const ParseOptions& options, Point& point) {
  if (object_element.type() != element_type::OBJECT) {
    return std::string("a point must be a JSON object, not ") + JsonTypeName(object_element.type());
  }
  std::optional<element> name, fields, time;
  const simdjson::dom::object object = object_element.get_object().value_unsafe();
  for (auto [key, value] : object) {
    if (key == "name") {
      name = value;
    } else if (key == "fields") {
      fields = value;
    } else if (key == "time") {
      time = value;
    } else if (key != "warns" && key != "debugs") {
      return "unknown key " + QuotedForMessage(key) +
             " (a point has name, fields, time, warns, debugs)";
    }
  }

  if (!name || name->is_null()) return "missing name";
  std::string_view name_text;
  if (name->get_string().get(name_text)) {
    return std::string("name must be a string, not ") + JsonTypeName(name->type());
  }
  if (name_text.empty()) return "empty name";
  point.measurement.assign(name_text);

  if (!fields || fields->is_null()) return "missing fields";
  if (fields->type() != element_type::ARRAY) {
    return std::string("fields must be an array, not ") + JsonTypeName(fields->type());
  }
  bool dropped = false;
  size_t index = 0;
  const simdjson::dom::array field_array = fields->get_array().value_unsafe();
  for (element field : field_array) {
    std::string reason = ParseField(field, ++index, point, &dropped);
    if (!reason.empty()) return reason;
  }
  if (point.fields.empty()) {
    if (dropped) return "no fields left after dropping fields without a value";
    if (!point.tags.empty()) return "a point needs at least one field that is not a tag";
    return "empty fields";
  }
  KeepLastOfDuplicates(point.tags);
  KeepLastOfDuplicates(point.fields);

  if (!time) {
    point.time_ns = options.now_ns;
    return {};
  }
  return ParseTime(*time, options, point.time_ns);
}

}  // namespace

ParseResult ParsePbJsonPoints(std::string_view body, const ParseOptions& options) {
  ParseResult result;
  auto add_error = [&](int index, std::string reason) {
    AddParseError(result, options, index, std::move(reason));
  };

  simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root); error) {
    add_error(0, std::string("invalid JSON: ") + simdjson::error_message(error));
    return result;
  }

  auto parse_one = [&](element e, int index) {
    Point& point = result.points.emplace_back();
    std::string reason = ParsePoint(e, options, point);
    if (!reason.empty()) {
      result.points.pop_back();
      add_error(index, std::move(reason));
    }
  };
  auto parse_array = [&](simdjson::dom::array array) {
    if (!WithinMaxPoints(result, options, array.size())) return;
    result.points.reserve(array.size());
    int index = 0;
    for (element e : array) parse_one(e, ++index);
  };

  switch (root.type()) {
    case element_type::ARRAY:
      parse_array(root.get_array().value_unsafe());
      break;
    case element_type::OBJECT: {
      simdjson::dom::object object = root.get_object().value_unsafe();
      element arr;
      if (object.at_key("arr").get(arr)) {  // no "arr": a single PBPoint
        parse_one(root, 1);
        break;
      }
      // A PBPoints message: {"arr":[...]} and nothing else.
      for (auto [key, value] : object) {
        if (key != "arr") {
          add_error(0, "unknown key " + QuotedForMessage(key) +
                           " in a PBPoints object (it has only arr)");
          return result;
        }
      }
      if (arr.is_null()) break;
      if (arr.type() != element_type::ARRAY) {
        add_error(0,
                  std::string("arr must be an array of points, not ") + JsonTypeName(arr.type()));
        break;
      }
      parse_array(arr.get_array().value_unsafe());
      break;
    }
    default:
      add_error(0, std::string("the body must be a JSON array of points, a PBPoints object or one "
                               "point object, not ") +
                       JsonTypeName(root.type()));
  }
  return result;
}

}  // namespace pythond::model
