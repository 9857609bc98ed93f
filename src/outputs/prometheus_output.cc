#include "outputs/prometheus_output.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "common/strings.h"

namespace pythond::outputs {
namespace {

constexpr int64_t kSweepIntervalNs = 1'000'000'000;

bool IsNameChar(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (allow_colon && c == ':');
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Appends text with every byte that is not a name character replaced by '_'.
void AppendNameChars(std::string& out, std::string_view text, bool allow_colon) {
  for (char c : text) out += IsNameChar(c, allow_colon) ? c : '_';
}

// Length of the well-formed UTF-8 sequence (RFC 3629 table 3.7) at text[i], or 0.
size_t Utf8Length(std::string_view text, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = at(0);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((at(k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

std::optional<double> NumericValue(const model::FieldValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* b = std::get_if<bool>(&value)) return *b ? 1.0 : 0.0;
  return std::nullopt;  // string, bytes, array
}

// "{a=\"x\",b=\"y\"}" from the tags, or "" when none is left (see the header for the rules).
std::string LabelText(const std::vector<model::Tag>& tags) {
  std::vector<std::pair<std::string, std::string_view>> labels;
  labels.reserve(tags.size());
  for (const model::Tag& tag : tags) {
    if (tag.value.empty()) continue;
    std::string name;
    AppendPrometheusLabelName(name, tag.key);
    labels.emplace_back(std::move(name), tag.value);
  }
  if (labels.empty()) return {};
  // Stable: of two tags with the same label name, the first in wire order stays first.
  std::stable_sort(labels.begin(), labels.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0 && labels[i].first == labels[i - 1].first) continue;
    if (out.size() > 1) out += ',';
    out += labels[i].first;
    out += "=\"";
    AppendPrometheusLabelValue(out, labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

// The metric name part of a series key.
std::string_view KeyName(std::string_view key) { return key.substr(0, key.find('{')); }

}  // namespace

void AppendPrometheusMetricName(std::string& out, std::string_view text) {
  if (text.empty() || IsDigit(text.front())) out += '_';
  AppendNameChars(out, text, /*allow_colon=*/true);
}

void AppendPrometheusLabelName(std::string& out, std::string_view text) {
  const size_t start = out.size();
  if (text.empty() || IsDigit(text.front())) out += '_';
  AppendNameChars(out, text, /*allow_colon=*/false);
  // Names starting with "__" are reserved for Prometheus' own labels: keep one '_'.
  size_t underscores = 0;
  while (start + underscores < out.size() && out[start + underscores] == '_') ++underscores;
  if (underscores > 1) out.erase(start, underscores - 1);
}

void AppendPrometheusLabelValue(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8Length(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    if (len > 1) {
      out.append(text.substr(i, len));
    } else if (text[i] == '\\') {
      out += "\\\\";
    } else if (text[i] == '"') {
      out += "\\\"";
    } else if (text[i] == '\n') {
      out += "\\n";
    } else {
      out += text[i];
    }
    i += len;
  }
}

void AppendPrometheusValue(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
  }
}

PrometheusOutput::PrometheusOutput(const config::OutputConfig& config,
                                   std::function<int64_t()> now_ns, size_t max_series)
    : name_(config.name.empty() ? "prometheus" : config.name),
      now_ns_(std::move(now_ns)),
      max_series_(max_series),
      expire_ns_(config.prometheus.expire_ns),
      measurements_(config.measurements) {
  if (config.categories.empty()) {
    categories_.set(static_cast<size_t>(model::Category::kMetric));
  }
  for (const std::string& name : config.categories) {
    // Config validation rejects unknown names; one that slips through matches nothing.
    if (auto c = model::ParseCategory(name)) categories_.set(static_cast<size_t>(*c));
  }
}

bool PrometheusOutput::Wanted(const model::PointBatch& batch, const model::Point& point) const {
  if (!categories_.test(static_cast<size_t>(batch.category))) return false;
  if (measurements_.empty()) return true;
  for (const std::string& pattern : measurements_) {
    if (EndsWith(pattern, "*")) {
      if (StartsWith(point.measurement, std::string_view(pattern).substr(0, pattern.size() - 1))) {
        return true;
      }
    } else if (point.measurement == pattern) {
      return true;
    }
  }
  return false;
}

Status PrometheusOutput::Write(model::PointBatchPtr batch) {
  if (!batch) return Status::Ok();
  struct Pending {
    std::string key;
    double value;
    int64_t time_ns;
  };
  std::vector<Pending> pending;
  for (const model::Point& point : batch->points) {
    if (!Wanted(*batch, point)) continue;
    const bool numeric = std::any_of(point.fields.begin(), point.fields.end(),
                                     [](const auto& f) { return NumericValue(f.value); });
    if (!numeric) continue;
    std::string prefix;  // "<measurement>_"
    AppendPrometheusMetricName(prefix, point.measurement);
    prefix += '_';
    const std::string labels = LabelText(point.tags);
    for (const model::Field& field : point.fields) {
      const std::optional<double> value = NumericValue(field.value);
      if (!value) continue;
      std::string key;
      key.reserve(prefix.size() + field.key.size() + labels.size());
      key += prefix;
      AppendNameChars(key, field.key, /*allow_colon=*/true);
      key += labels;
      pending.push_back({std::move(key), *value, point.time_ns});
    }
  }
  if (pending.empty()) return Status::Ok();
  const int64_t now = now_ns_();
  std::lock_guard lock(mu_);
  for (Pending& p : pending) Store(std::move(p.key), p.value, p.time_ns, now);
  return Status::Ok();
}

void PrometheusOutput::Store(std::string&& key, double value, int64_t time_ns, int64_t now_ns) {
  const Sample sample{value, time_ns, now_ns};
  auto it = series_.find(key);
  if (it != series_.end()) {
    const bool expired = expire_ns_ > 0 && now_ns - it->second.updated_ns >= expire_ns_;
    if (!expired && time_ns < it->second.time_ns) {
      ++stats_.samples_out_of_order;
      return;
    }
    it->second = sample;
    ++stats_.samples_written;
    return;
  }
  if (series_.size() >= max_series_ && now_ns >= next_sweep_ns_) {
    ExpireLocked(now_ns);
    next_sweep_ns_ = now_ns + kSweepIntervalNs;
  }
  if (series_.size() >= max_series_) {
    ++stats_.dropped_series;
    return;
  }
  series_.emplace(std::move(key), sample);
  ++stats_.samples_written;
}

void PrometheusOutput::ExpireLocked(int64_t now_ns) {
  if (expire_ns_ <= 0) return;
  stats_.expired_series += std::erase_if(
      series_, [&](const auto& entry) { return now_ns - entry.second.updated_ns >= expire_ns_; });
}

std::string PrometheusOutput::Render(int64_t now_unix_ns) {
  std::vector<std::pair<std::string, double>> rows;
  {
    std::lock_guard lock(mu_);
    ExpireLocked(now_unix_ns);
    rows.reserve(series_.size());
    for (const auto& [key, sample] : series_) rows.emplace_back(key, sample.value);
  }
  // By name, then labels: sorting whole keys would put "a_b" between "a" and "a{...}".
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    const std::string_view an = KeyName(a.first), bn = KeyName(b.first);
    if (an != bn) return an < bn;
    return std::string_view(a.first).substr(an.size()) <
           std::string_view(b.first).substr(bn.size());
  });
  std::string out;
  std::string_view last_name;
  for (const auto& [key, value] : rows) {
    const std::string_view name = KeyName(key);
    if (name != last_name) {
      out += "# TYPE ";
      out += name;
      out += " gauge\n";
      last_name = name;
    }
    out += key;
    out += ' ';
    AppendPrometheusValue(out, value);
    out += '\n';
  }
  return out;
}

PrometheusStats PrometheusOutput::Stats() const {
  std::lock_guard lock(mu_);
  PrometheusStats stats = stats_;
  stats.series = series_.size();
  return stats;
}

}  // namespace pythond::outputs
