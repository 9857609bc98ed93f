#include "model/line_protocol.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "common/strings.h"

namespace pythond::model {

namespace {

constexpr size_t kMaxExcerptBytes = 80;
constexpr size_t kMaxQuotedBytes = 64;  // user text quoted inside a reason

// Which escapes an identifier accepts and which unescaped characters end it.
enum class IdentKind {
  kMeasurement,  // escapes `\,` `\ ` `\\`; ends at ',' or ' '
  kKey,          // tag keys, tag values and field keys: escapes `\,` `\=` `\ ` `\\`; ends at
                 // ',' '=' or ' '
};

template <IdentKind kKind>
constexpr bool IsIdentEscape(char c) {
  if constexpr (kKind == IdentKind::kMeasurement) {
    return c == ',' || c == ' ' || c == '\\';
  } else {
    return c == ',' || c == '=' || c == ' ' || c == '\\';
  }
}

template <IdentKind kKind>
constexpr bool IsIdentEnd(char c) {
  if constexpr (kKind == IdentKind::kMeasurement) {
    return c == ',' || c == ' ';
  } else {
    return c == ',' || c == '=' || c == ' ';
  }
}

constexpr bool IsValueEnd(char c) { return c == ',' || c == ' ' || c == '\t'; }

// Appends `raw` to out, cut to kMaxQuotedBytes, for use inside a reason.
void AppendQuoted(std::string& out, std::string_view raw) {
  out += '\'';
  if (raw.size() > kMaxQuotedBytes) {
    out.append(raw.substr(0, kMaxQuotedBytes));
    out += "...";
  } else {
    out.append(raw);
  }
  out += '\'';
}

std::string Reason(std::string_view prefix, std::string_view raw) {
  std::string out(prefix);
  AppendQuoted(out, raw);
  return out;
}

std::string Quoted(std::string_view raw) { return Reason("", raw); }

// Cuts s to at most n bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  size_t end = n;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

enum class DecimalResult { kOk, kInvalid, kOutOfRange };

// Parses all of [first, last) as a decimal int64 ("-" allowed) or uint64 (digits only), as
// std::from_chars would, but inlined: this runs two or three times per point. kOutOfRange only
// when every character is a digit (after the sign).
template <typename Int>
inline DecimalResult ParseDecimal(const char* first, const char* last, Int& out) {
  static_assert(std::is_same_v<Int, int64_t> || std::is_same_v<Int, uint64_t>);
  bool negative = false;
  if constexpr (std::is_signed_v<Int>) {
    if (first < last && *first == '-') {
      negative = true;
      ++first;
    }
  }
  if (first == last) return DecimalResult::kInvalid;
  // The largest magnitude allowed: INT64_MAX, INT64_MAX + 1 when negative, or UINT64_MAX.
  const uint64_t limit = std::is_signed_v<Int>
                             ? static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + negative
                             : std::numeric_limits<uint64_t>::max();
  uint64_t v = 0;
  bool overflow = false;
  for (; first < last; ++first) {
    const uint64_t d = static_cast<unsigned char>(*first) - uint64_t{'0'};
    if (d > 9) return DecimalResult::kInvalid;
    overflow |= __builtin_mul_overflow(v, uint64_t{10}, &v);
    overflow |= __builtin_add_overflow(v, d, &v);
  }
  if (overflow || v > limit) return DecimalResult::kOutOfRange;
  if constexpr (std::is_signed_v<Int>) {
    out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  } else {
    out = v;
  }
  return DecimalResult::kOk;
}

class LineParser {
 public:
  LineParser(std::string_view body, const ParseOptions& options, ParseResult& result)
      : s_(body.data()), n_(body.size()), options_(options), result_(result) {}

  void Run() {
    int line = 1;
    size_t pos = 0;
    while (pos < n_) {
      line_start_ = pos;
      SetLineEnd(pos);
      const size_t first_nl = nl_;
      const size_t first_limit = limit_;
      size_t p = pos;
      while (p < limit_ && (s_[p] == ' ' || s_[p] == '\t')) ++p;
      size_t end = nl_;
      if (p < limit_ && s_[p] != '#') {
        pos_ = p;
        in_fields_ = false;
        in_array_ = false;
        Point& point = result_.points.emplace_back();
        if (ParsePoint(point)) {
          end = nl_;
        } else {
          result_.points.pop_back();
          if (result_.error_count++ < options_.max_errors) {
            ParseError& e = result_.errors.emplace_back();
            e.line = line;
            e.column = static_cast<int>(error_pos_ - line_start_ + 1);
            e.reason = std::move(reason_);
            e.excerpt = std::string(CutUtf8(
                std::string_view(s_ + line_start_, first_limit - line_start_), kMaxExcerptBytes));
          }
          end = SkipRestOfLine(resume_pos_, in_fields_, in_array_);
        }
      }
      // Raw newlines inside string values belong to this point but still count as lines.
      if (end > first_nl) line += static_cast<int>(std::count(s_ + first_nl, s_ + end, '\n'));
      if (end < n_) ++line;
      pos = end < n_ ? end + 1 : n_;
    }
  }

 private:
  // Sets nl_ to the next '\n' at or after `from` (or n_) and limit_ to the end of the
  // content before it (a '\r' right before the line end is not content).
  void SetLineEnd(size_t from) {
    const void* hit = std::memchr(s_ + from, '\n', n_ - from);
    nl_ = hit ? static_cast<size_t>(static_cast<const char*>(hit) - s_) : n_;
    limit_ = nl_;
    if (limit_ > from && s_[limit_ - 1] == '\r') --limit_;
  }

  bool Fail(size_t pos, std::string reason) { return FailAndResume(pos, std::move(reason), pos); }

  bool FailAndResume(size_t pos, std::string reason, size_t resume) {
    error_pos_ = pos;
    reason_ = std::move(reason);
    resume_pos_ = resume;
    return false;
  }

  // Returns the position of the '"' closing a string whose body starts at p, or n_.
  size_t FindStringEnd(size_t p) const {
    while (p < n_) {
      char c = s_[p];
      if (c == '"') return p;
      if (c == '\\' && p + 1 < n_ && (s_[p + 1] == '"' || s_[p + 1] == '\\')) {
        p += 2;
      } else {
        ++p;
      }
    }
    return n_;
  }

  // After an error: finds the '\n' that ends this line, stepping over string values (which may
  // hold raw newlines, also as array elements) the way the parser would have seen them.
  size_t SkipRestOfLine(size_t p, bool in_fields, bool in_array) const {
    bool after_equals = false;
    while (p < n_) {
      char c = s_[p];
      if (c == '\n') return p;
      if (c == '\\') {
        p += (p + 1 < n_ && s_[p + 1] != '\n') ? 2 : 1;
        after_equals = false;
        continue;
      }
      if (!in_fields) {
        in_fields = c == ' ';
      } else if (c == '"' && (after_equals || in_array)) {
        p = FindStringEnd(p + 1);
        if (p >= n_) return n_;
      } else if (c == '[' && after_equals) {
        in_array = true;
      } else if (c == ']') {
        in_array = false;
      }
      after_equals = c == '=';
      ++p;
    }
    return n_;
  }

  template <IdentKind kKind>
  size_t ScanIdent(size_t p, bool* escaped) const {
    while (p < limit_) {
      char c = s_[p];
      if (c == '\\' && p + 1 < limit_ && IsIdentEscape<kKind>(s_[p + 1])) {
        *escaped = true;
        p += 2;
        continue;
      }
      if (IsIdentEnd<kKind>(c)) break;
      ++p;
    }
    return p;
  }

  template <IdentKind kKind>
  static void AssignIdent(std::string& out, std::string_view raw, bool escaped) {
    if (!escaped) {
      out.assign(raw);
      return;
    }
    out.clear();
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size() && IsIdentEscape<kKind>(raw[i + 1])) ++i;
      out += raw[i];
    }
  }

  std::string_view Raw(size_t begin, size_t end) const {
    return std::string_view(s_ + begin, end - begin);
  }

  bool ParsePoint(Point& point) {
    tags_.clear();
    fields_.clear();
    bool escaped = false;
    size_t end = ScanIdent<IdentKind::kMeasurement>(pos_, &escaped);
    if (end == pos_) return Fail(pos_, "missing measurement");
    // A measurement starting with '#' or a tab is written `\#...` / `\<tab>...` (bare, it would
    // read as a comment or be skipped); only there is `\` before them an escape.
    size_t start = pos_;
    if (end - start >= 2 && s_[start] == '\\' && (s_[start + 1] == '#' || s_[start + 1] == '\t')) {
      ++start;
    }
    AssignIdent<IdentKind::kMeasurement>(point.measurement, Raw(start, end), escaped);
    pos_ = end;

    while (pos_ < limit_ && s_[pos_] == ',') {
      ++pos_;
      if (!ParseTag()) return false;
    }
    while (pos_ < limit_ && s_[pos_] == ' ') ++pos_;
    if (pos_ >= limit_) return Fail(pos_, "missing fields");

    in_fields_ = true;
    while (true) {
      if (!ParseField()) return false;
      if (pos_ < limit_ && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      break;
    }
    KeepLastOfDuplicates(fields_);
    // Built in reused scratch vectors, so each point allocates its vectors once, at their size.
    point.tags.assign(std::make_move_iterator(tags_.begin()), std::make_move_iterator(tags_.end()));
    point.fields.assign(std::make_move_iterator(fields_.begin()),
                        std::make_move_iterator(fields_.end()));

    while (pos_ < limit_ && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    if (pos_ >= limit_) {
      point.time_ns = options_.now_ns;
      return true;
    }
    return ParseTimestamp(point);
  }

  bool ParseTag() {
    const size_t key_start = pos_;
    bool key_escaped = false;
    const size_t key_end = ScanIdent<IdentKind::kKey>(key_start, &key_escaped);
    if (key_end == key_start) return Fail(key_start, "missing tag key");
    std::string_view raw_key = Raw(key_start, key_end);
    if (key_end >= limit_ || s_[key_end] != '=') {
      return Fail(key_end, Reason("missing '=' after tag key ", raw_key));
    }
    const size_t value_start = key_end + 1;
    bool value_escaped = false;
    const size_t value_end = ScanIdent<IdentKind::kKey>(value_start, &value_escaped);
    if (value_end < limit_ && s_[value_end] == '=') {
      return Fail(value_end, Reason("unescaped '=' in the value of tag ", raw_key));
    }
    if (value_end == value_start) return Fail(value_start, Reason("empty value for tag ", raw_key));

    Tag& tag = tags_.emplace_back();
    AssignIdent<IdentKind::kKey>(tag.key, raw_key, key_escaped);
    for (size_t i = 0; i + 1 < tags_.size(); ++i) {
      if (tags_[i].key == tag.key) return Fail(key_start, Reason("duplicate tag key ", raw_key));
    }
    AssignIdent<IdentKind::kKey>(tag.value, Raw(value_start, value_end), value_escaped);
    pos_ = value_end;
    return true;
  }

  bool ParseField() {
    const size_t key_start = pos_;
    bool key_escaped = false;
    const size_t key_end = ScanIdent<IdentKind::kKey>(key_start, &key_escaped);
    if (key_end == key_start) return Fail(key_start, "missing field key");
    std::string_view raw_key = Raw(key_start, key_end);
    if (key_end >= limit_ || s_[key_end] != '=') {
      return Fail(key_end, Reason("missing '=' after field key ", raw_key));
    }
    const size_t value_start = key_end + 1;
    if (value_start >= limit_ || IsValueEnd(s_[value_start])) {
      return Fail(value_start, Reason("missing field value after ", Raw(key_start, value_start)));
    }

    Field& field = fields_.emplace_back();
    AssignIdent<IdentKind::kKey>(field.key, raw_key, key_escaped);
    const char c = s_[value_start];
    if (c == '"') return ParseStringValue(value_start, field);
    if (c == '[') return ParseArrayValue(value_start, field.value);

    size_t end = value_start;
    while (end < limit_ && !IsValueEnd(s_[end])) ++end;
    pos_ = end;
    return ParseScalar(value_start, Raw(value_start, end), "invalid field value ", field.value);
  }

  // A number or a bool (the token is not empty); V is FieldValue or ArrayElement.
  template <typename V>
  bool ParseScalar(size_t start, std::string_view token, std::string_view invalid, V& value) {
    const char c = token[0];
    if ((c >= '0' && c <= '9') || c == '-' || c == '.') return ParseNumber(start, token, value);
    if (c == 't' || c == 'T' || c == 'f' || c == 'F') {
      if (token == "t" || token == "T" || token == "true" || token == "True" || token == "TRUE") {
        value = true;
        return true;
      }
      if (token == "f" || token == "F" || token == "false" || token == "False" ||
          token == "FALSE") {
        value = false;
        return true;
      }
      return Fail(start, Reason("invalid boolean ", token));
    }
    return Fail(start, Reason(invalid, token));
  }

  // Unescapes the body of a string (`\"` and `\\`) into out.
  static void AssignStringBody(std::string& out, std::string_view raw) {
    if (raw.find('\\') == std::string_view::npos) {
      out.assign(raw);
      return;
    }
    out.clear();
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size() && (raw[i + 1] == '"' || raw[i + 1] == '\\')) ++i;
      out += raw[i];
    }
  }

  // A "string" or a "base64"b bytes value.
  bool ParseStringValue(size_t quote, Field& field) {
    const size_t close = FindStringEnd(quote + 1);
    if (close >= n_) return FailAndResume(quote, "unterminated string", n_);
    std::string_view raw = Raw(quote + 1, close);
    pos_ = close + 1;
    // The string ran over a raw newline: the point now ends at the line end after it.
    if (pos_ > limit_) SetLineEnd(pos_);
    const bool bytes = pos_ < limit_ && s_[pos_] == 'b';
    if (bytes) {
      ++pos_;
      if (!DecodeBase64(raw, field.value.emplace<Bytes>().data)) {
        return FailAndResume(quote, "invalid base64 in the value of field " + Quoted(field.key),
                             pos_);
      }
    } else {
      AssignStringBody(field.value.emplace<std::string>(), raw);
    }
    if (pos_ < limit_ && !IsValueEnd(s_[pos_])) {
      return Fail(pos_, bytes ? "expected ',' or ' ' after a bytes value"
                              : "expected ',' or ' ' after a string value");
    }
    return true;
  }

  // [elem,elem,...]: ints, uints, floats, bools or strings, all of one type. Spaces and tabs may
  // stand around elements; one trailing comma is allowed. Only strings may run past the line end.
  bool ParseArrayValue(size_t open, FieldValue& value) {
    Array& array = value.emplace<Array>();
    in_array_ = true;
    size_t p = open + 1;
    auto skip_blanks = [&] {
      while (p < limit_ && (s_[p] == ' ' || s_[p] == '\t')) ++p;
    };
    skip_blanks();
    if (p < limit_ && s_[p] == ']') return CloseArray(p);
    while (true) {
      if (p >= limit_) return FailAndResume(open, "unterminated array", p);
      const size_t start = p;
      const char c = s_[p];
      ArrayElement element;
      if (c == '"') {
        const size_t close = FindStringEnd(p + 1);
        if (close >= n_) return FailAndResume(p, "unterminated string", n_);
        AssignStringBody(element.emplace<std::string>(), Raw(p + 1, close));
        p = close + 1;
        if (p > limit_) SetLineEnd(p);
        if (p < limit_ && s_[p] == 'b') return Fail(start, "arrays of bytes are not supported");
      } else if (c == ',' || c == ']') {
        return Fail(p, "missing array element");
      } else if (c == '[') {
        return Fail(p, "nested arrays are not supported");
      } else {
        while (p < limit_ && s_[p] != ',' && s_[p] != ']' && s_[p] != ' ' && s_[p] != '\t') ++p;
        if (!ParseScalar(start, Raw(start, p), "invalid array element ", element)) return false;
      }
      if (!array.values.empty() && element.index() != array.values[0].index()) {
        return Fail(start, "array elements must all have one type");
      }
      array.values.push_back(std::move(element));
      skip_blanks();
      if (p >= limit_) return FailAndResume(open, "unterminated array", p);
      if (s_[p] == ']') return CloseArray(p);
      if (s_[p] != ',') return Fail(p, "expected ',' or ']' after an array element");
      ++p;
      skip_blanks();
      if (p < limit_ && s_[p] == ']') return CloseArray(p);
    }
  }

  bool CloseArray(size_t close) {
    in_array_ = false;
    pos_ = close + 1;
    if (pos_ < limit_ && !IsValueEnd(s_[pos_])) {
      return Fail(pos_, "expected ',' or ' ' after an array value");
    }
    return true;
  }

  template <typename V>
  bool ParseNumber(size_t start, std::string_view token, V& value) {
    const char* first = token.data();
    const char* last = first + token.size();
    const char suffix = token.back();
    if (suffix == 'i') {
      int64_t v = 0;
      switch (ParseDecimal(first, last - 1, v)) {
        case DecimalResult::kOk:
          value = v;
          return true;
        case DecimalResult::kOutOfRange:
          return Fail(start, Reason("integer out of range ", token));
        default:
          return Fail(start, Reason("invalid integer ", token));
      }
    }
    if (suffix == 'u') {
      uint64_t v = 0;
      switch (ParseDecimal(first, last - 1, v)) {
        case DecimalResult::kOk:
          value = v;
          return true;
        case DecimalResult::kOutOfRange:
          return Fail(start, Reason("unsigned integer out of range ", token));
        default:
          return Fail(start, Reason("invalid unsigned integer ", token));
      }
    }
    // from_chars also reads "inf" and "nan"; line protocol has neither.
    for (char ch : token) {
      if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '-' ||
            ch == '+')) {
        return Fail(start, Reason("invalid number ", token));
      }
    }
    double v = 0;
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (ptr != last || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return Fail(start, Reason("invalid number ", token));
    }
    if (ec == std::errc::result_out_of_range) {
      // Overflow is an error; underflow reads as 0 or a subnormal, as in Go's ParseFloat.
      std::string copy(token);
      v = std::strtod(copy.c_str(), nullptr);
      if (!std::isfinite(v)) return Fail(start, Reason("number out of range ", token));
    }
    value = v;
    return true;
  }

  bool ParseTimestamp(Point& point) {
    const size_t start = pos_;
    size_t end = start;
    while (end < limit_ && s_[end] != ' ' && s_[end] != '\t') ++end;
    std::string_view token = Raw(start, end);
    int64_t t = 0;
    const DecimalResult parsed = ParseDecimal(token.data(), token.data() + token.size(), t);
    if (parsed == DecimalResult::kInvalid) return Fail(start, Reason("invalid timestamp ", token));
    std::optional<int64_t> ns;
    if (parsed == DecimalResult::kOk) ns = ToUnixNanos(t, options_.precision);
    if (!ns) return Fail(start, Reason("timestamp out of range ", token));
    point.time_ns = *ns;
    pos_ = end;
    while (pos_ < limit_ && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    if (pos_ < limit_) return Fail(pos_, "unexpected text after the timestamp");
    return true;
  }

  const char* s_;
  size_t n_;
  const ParseOptions& options_;
  ParseResult& result_;

  size_t line_start_ = 0;
  size_t nl_ = 0;     // the '\n' (or n_) ending the current point
  size_t limit_ = 0;  // end of the current point's content (before "\r\n" / "\n")
  size_t pos_ = 0;
  bool in_fields_ = false;
  bool in_array_ = false;  // an error here leaves us inside an array (for SkipRestOfLine)
  std::vector<Tag> tags_;
  std::vector<Field> fields_;

  size_t error_pos_ = 0;
  size_t resume_pos_ = 0;
  std::string reason_;
};

// Appends an identifier, escaping what would end it and any backslash that would otherwise read
// as an escape. A newline, which no escape can carry, becomes an escaped space.
template <IdentKind kKind>
void AppendIdent(std::string& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size() && !IsIdentEscape<kKind>(s[i]) && s[i] != '\n') ++i;
  out.append(s.data(), i);
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      const bool ambiguous =
          i + 1 == s.size() || IsIdentEscape<kKind>(s[i + 1]) || s[i + 1] == '\n';
      out += ambiguous ? "\\\\" : "\\";
    } else if (c == '\n') {
      out += "\\ ";
    } else {
      if (IsIdentEscape<kKind>(c)) out += '\\';
      out += c;
    }
  }
}

void AppendStringValue(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const size_t special = std::min(s.find_first_of("\"\\", i), s.size());
    out.append(s.data() + i, special - i);
    if (special == s.size()) break;
    out += '\\';
    out += s[special];
    i = special + 1;
  }
  out += '"';
}

// Appends a number or bool in canonical line protocol: 3i, 3u, 3 (a float), true.
template <typename V>
void AppendNumberOrBool(std::string& out, const V& v) {
  char buf[32];
  if (auto* iv = std::get_if<int64_t>(&v)) {
    out.append(buf, std::to_chars(buf, buf + sizeof(buf), *iv).ptr);
    out += 'i';
  } else if (auto* uv = std::get_if<uint64_t>(&v)) {
    out.append(buf, std::to_chars(buf, buf + sizeof(buf), *uv).ptr);
    out += 'u';
  } else if (auto* dv = std::get_if<double>(&v)) {
    // Shortest round-trip form; a bare "3" is a float in line protocol.
    out.append(buf, std::to_chars(buf, buf + sizeof(buf), *dv).ptr);
  } else {
    out += std::get<bool>(v) ? "true" : "false";
  }
}

void AppendArrayElement(std::string& out, const ArrayElement& e) {
  if (auto* sv = std::get_if<std::string>(&e)) {
    AppendStringValue(out, *sv);
  } else {
    AppendNumberOrBool(out, e);
  }
}

}  // namespace

ParseResult ParseLineProtocol(std::string_view body, const ParseOptions& options) {
  ParseResult result;
  if (options.max_points > 0 && body.size() > options.max_points) {  // else fewer lines
    // Lines bound points from above (comments and blank lines count too): a cheap scan keeps a
    // body of millions of tiny lines from becoming millions of points first.
    size_t lines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n'));
    if (!body.empty() && body.back() != '\n') ++lines;
    if (lines > options.max_points) {
      size_t nonblank = 0;  // only when over: the exact count, blank and comment lines aside
      for (size_t start = 0; start < body.size() && nonblank <= options.max_points;) {
        size_t end = std::min(body.find('\n', start), body.size());
        std::string_view line = TrimSpace(body.substr(start, end - start));
        if (!line.empty() && line.front() != '#') ++nonblank;
        start = end + 1;
      }
      if (!WithinMaxPoints(result, options, nonblank)) return result;
    }
  }
  LineParser(body, options, result).Run();
  return result;
}

bool WithinMaxPoints(ParseResult& result, const ParseOptions& options, size_t count) {
  if (options.max_points == 0 || count <= options.max_points) return true;
  result.too_many_points = true;
  AddParseError(result, options, 0,
                "the body holds more than " + std::to_string(options.max_points) +
                    " points, the most one request may carry (see [http_api] "
                    "max_points_per_request)");
  return false;
}

void AddParseError(ParseResult& result, const ParseOptions& options, int line, std::string reason) {
  if (result.error_count++ >= options.max_errors) return;
  ParseError& e = result.errors.emplace_back();
  e.line = line;
  e.reason = std::move(reason);
}

std::string FormatParseErrors(const std::vector<ParseError>& errors, bool json, size_t max_errors,
                              size_t total) {
  std::string out;
  const size_t shown = std::min(errors.size(), max_errors);
  for (size_t i = 0; i < shown; ++i) {
    const ParseError& e = errors[i];
    if (i) out += "; ";
    if (e.line > 0) {
      out += json ? "point " : "line ";
      out += std::to_string(e.line);
      if (!json) {
        out += ", column ";
        out += std::to_string(e.column);
      }
      out += ": ";
    }
    out += e.reason;
    if (!json && !e.excerpt.empty()) {
      out += " (";
      out += e.excerpt;
      out += ')';
    }
  }
  total = std::max(total, errors.size());
  if (total > shown) {
    const size_t more = total - shown;
    if (shown) out += "; ";
    out += "and " + std::to_string(more) + (more == 1 ? " more error" : " more errors");
  }
  return out;
}

void AppendLineProtocol(std::string& out, const Point& point) {
  const std::string& m = point.measurement;
  if (!m.empty() && (m[0] == '#' || m[0] == '\t')) {
    out += '\\';  // see ParsePoint: a leading '#' or tab is escaped
  } else if (m.size() >= 2 && m[0] == '\\' && (m[1] == '#' || m[1] == '\t')) {
    out += '\\';  // a literal leading backslash there must not read as that escape
  }
  AppendIdent<IdentKind::kMeasurement>(out, m);
  for (const Tag& tag : point.tags) {
    out += ',';
    AppendIdent<IdentKind::kKey>(out, tag.key);
    out += '=';
    AppendIdent<IdentKind::kKey>(out, tag.value);
  }
  for (size_t i = 0; i < point.fields.size(); ++i) {
    const Field& field = point.fields[i];
    out += i ? ',' : ' ';
    AppendIdent<IdentKind::kKey>(out, field.key);
    out += '=';
    const FieldValue& v = field.value;
    if (auto* sv = std::get_if<std::string>(&v)) {
      AppendStringValue(out, *sv);
    } else if (auto* bytes = std::get_if<Bytes>(&v)) {
      out += '"';
      AppendBase64(out, bytes->data);
      out += "\"b";
    } else if (auto* array = std::get_if<Array>(&v)) {
      out += '[';
      for (size_t j = 0; j < array->values.size(); ++j) {
        if (j) out += ',';
        AppendArrayElement(out, array->values[j]);
      }
      out += ']';
    } else {
      AppendNumberOrBool(out, v);
    }
  }
  out += ' ';
  char buf[32];
  out.append(buf, std::to_chars(buf, buf + sizeof(buf), point.time_ns).ptr);
  out += '\n';
}

}  // namespace pythond::model
