#include "model/point.h"

#include <array>
#include <string>

#include "common/strings.h"

namespace pythond::model {

namespace {
constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "metric", "logging", "object", "custom_object", "keyevent", "rum", "network", "security"};
}  // namespace

std::string_view CategoryName(Category c) { return kCategoryNames[static_cast<size_t>(c)]; }

std::optional<Category> ParseCategory(std::string_view name) {
  for (size_t i = 0; i < kCategoryNames.size(); ++i) {
    if (kCategoryNames[i] == name) return static_cast<Category>(i);
  }
  return std::nullopt;
}

std::string TagsToJson(const std::vector<Tag>& tags) {
  std::string out = "{";
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    out += '"';
    AppendJsonEscaped(out, tags[i].key);
    out += "\":\"";
    AppendJsonEscaped(out, tags[i].value);
    out += '"';
  }
  out += '}';
  return out;
}

std::string FieldsToJson(const std::vector<Field>& fields) {
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += '"';
    AppendJsonEscaped(out, fields[i].key);
    out += "\":";
    const FieldValue& v = fields[i].value;
    if (auto* iv = std::get_if<int64_t>(&v)) {
      out += std::to_string(*iv);
    } else if (auto* uv = std::get_if<uint64_t>(&v)) {
      out += std::to_string(*uv);
    } else if (auto* dv = std::get_if<double>(&v)) {
      AppendJsonDouble(out, *dv);
    } else if (auto* bv = std::get_if<bool>(&v)) {
      out += *bv ? "true" : "false";
    } else {
      out += '"';
      AppendJsonEscaped(out, std::get<std::string>(v));
      out += '"';
    }
  }
  out += '}';
  return out;
}

}  // namespace pythond::model
