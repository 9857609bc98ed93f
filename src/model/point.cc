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

namespace {

constexpr char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr uint8_t kB64Invalid = 0xFF;
constexpr uint8_t kB64Skip = 0xFE;  // CR and LF
constexpr uint8_t kB64Pad = 0xFD;   // '='

constexpr std::array<uint8_t, 256> MakeBase64DecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kB64Invalid;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64Chars[i])] = i;
  table['-'] = 62;  // URL-safe alphabet
  table['_'] = 63;
  table['\r'] = kB64Skip;
  table['\n'] = kB64Skip;
  table['='] = kB64Pad;
  return table;
}
constexpr std::array<uint8_t, 256> kBase64Decode = MakeBase64DecodeTable();

void AppendJsonElement(std::string& out, const ArrayElement& e) {
  if (auto* iv = std::get_if<int64_t>(&e)) {
    out += std::to_string(*iv);
  } else if (auto* uv = std::get_if<uint64_t>(&e)) {
    out += std::to_string(*uv);
  } else if (auto* dv = std::get_if<double>(&e)) {
    AppendJsonDouble(out, *dv);
  } else if (auto* bv = std::get_if<bool>(&e)) {
    out += *bv ? "true" : "false";
  } else {
    out += '"';
    AppendJsonEscaped(out, std::get<std::string>(e));
    out += '"';
  }
}

}  // namespace

void AppendBase64(std::string& out, std::string_view data) {
  const size_t full = data.size() / 3 * 3;
  const size_t start = out.size();
  out.resize(start + (data.size() + 2) / 3 * 4);
  char* dst = out.data() + start;
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(data[i])); };
  for (size_t i = 0; i < full; i += 3) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    *dst++ = kBase64Chars[v >> 18];
    *dst++ = kBase64Chars[(v >> 12) & 63];
    *dst++ = kBase64Chars[(v >> 6) & 63];
    *dst++ = kBase64Chars[v & 63];
  }
  if (const size_t rest = data.size() - full; rest > 0) {
    const uint32_t v = byte(full) << 16 | (rest == 2 ? byte(full + 1) << 8 : 0);
    *dst++ = kBase64Chars[v >> 18];
    *dst++ = kBase64Chars[(v >> 12) & 63];
    *dst++ = rest == 2 ? kBase64Chars[(v >> 6) & 63] : '=';
    *dst++ = '=';
  }
}

bool DecodeBase64(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int n = 0;     // characters in the current group of four
  int pads = 0;  // '=' seen; data after padding is an error
  for (char ch : text) {
    const uint8_t v = kBase64Decode[static_cast<unsigned char>(ch)];
    if (v < 64) {
      if (pads) return false;
      acc = acc << 6 | v;
      if (++n == 4) {
        out += static_cast<char>(acc >> 16);
        out += static_cast<char>(acc >> 8);
        out += static_cast<char>(acc);
        acc = 0;
        n = 0;
      }
    } else if (v == kB64Pad) {
      ++pads;
    } else if (v != kB64Skip) {
      return false;
    }
  }
  switch (n) {
    case 0:
      return pads == 0;
    case 2:
      if (pads != 0 && pads != 2) return false;
      out += static_cast<char>(acc >> 4);
      return true;
    case 3:
      if (pads > 1) return false;
      out += static_cast<char>(acc >> 10);
      out += static_cast<char>(acc >> 2);
      return true;
    default:  // a lone character carries no whole byte
      return false;
  }
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
    } else if (auto* sv = std::get_if<std::string>(&v)) {
      out += '"';
      AppendJsonEscaped(out, *sv);
      out += '"';
    } else if (auto* bytes = std::get_if<Bytes>(&v)) {
      out += '"';
      AppendBase64(out, bytes->data);  // base64 text needs no JSON escaping
      out += '"';
    } else {
      const Array& array = std::get<Array>(v);
      out += '[';
      for (size_t j = 0; j < array.values.size(); ++j) {
        if (j) out += ',';
        AppendJsonElement(out, array.values[j]);
      }
      out += ']';
    }
  }
  out += '}';
  return out;
}

}  // namespace pythond::model
