// PrometheusOutput: keeps the latest value of every numeric field of the points it is given and
// renders them as gauges in the Prometheus text exposition format 0.0.4, for a Prometheus server
// to scrape (the agent serves Render() at `prometheus.path` on its HTTP listener).
//
// What is kept: by default only category "metric" (the output's `categories` filter replaces
// that default; its `measurements` filter applies as for every output: exact names, or a prefix
// with a trailing '*'). Of each point, the int, uint and float fields, and bools as 0/1; string,
// bytes and array fields are skipped. One series per (metric name, label set):
//   - metric name: "<measurement>_<field>", each byte outside [a-zA-Z0-9_:] replaced by '_'
//     (so a non-ASCII character becomes one '_' per UTF-8 byte), '_' prepended when it would
//     start with a digit. Distinct measurement/field pairs that map to the same name and labels
//     share a series (the latest write wins).
//   - labels: the point's tags. Names as metric names but without ':' ([a-zA-Z_][a-zA-Z0-9_]*),
//     a leading run of "__" (reserved by Prometheus) shortened to one '_'; when two tags map to
//     the same label name, the first in wire order is kept. Tags with an empty value are left
//     out (Prometheus treats an empty label as an absent one). Values escape '\\', '"' and
//     newline; invalid UTF-8 becomes U+FFFD (Prometheus rejects a whole scrape over one bad
//     label value). Labels are sorted by name.
// The latest value is the one with the newest point time: a point older than the kept sample is
// counted and ignored; one with an equal time replaces it.
//
// Rendering: "# TYPE <name> gauge" once per metric name, then its samples; metric names and,
// within a name, label sets in byte order, so equal state renders to equal text. Samples carry
// no timestamp: Prometheus stamps them with the scrape time. With the point's time, Prometheus
// would drop samples older than its head block (about an hour) or out of order, and could not
// mark a series stale when it disappears from the page.
//
// Expiry and memory: a series not updated for `prometheus.expire_ns` (by the injected clock, at
// Write time) is dropped by the next Render(), or by a Write that finds the table full (at most
// one such sweep per second of the clock). At most `max_series` series are kept; a sample that
// would start another one is dropped and counted (existing series still update).
//
// Thread-safety: all public functions may be called from any thread; one mutex guards the
// series table and the counters. Write() builds the series keys first and holds it only to
// store them; Render() holds it only to expire and copy the table, and sorts and formats after
// releasing it. Neither does I/O.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "outputs/output.h"

namespace pythond::outputs {

// The Content-Type that goes with Render()'s text.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Counters since construction, plus the current table size.
struct PrometheusStats {
  uint64_t series = 0;                // series in the table now
  uint64_t samples_written = 0;       // field values stored (new series or updates)
  uint64_t samples_out_of_order = 0;  // field values older than the kept sample, ignored
  uint64_t dropped_series = 0;        // field values refused because the table was full
  uint64_t expired_series = 0;        // series removed for not being updated within expire_ns
};

class PrometheusOutput : public Output {
 public:
  static constexpr size_t kDefaultMaxSeries = 100'000;

  // `now_ns` is the wall clock in unix nanoseconds (tests inject a fake one); it is called from
  // whatever thread calls Write(). Uses config.name, categories, measurements and prometheus.
  PrometheusOutput(const config::OutputConfig& config, std::function<int64_t()> now_ns,
                   size_t max_series = kDefaultMaxSeries);

  std::string_view name() const override { return name_; }
  // Updates the table from the batch's numeric fields. Always OK: the table never backs up (a
  // full table drops new series and counts them).
  Status Write(model::PointBatchPtr batch) override;
  void Flush() override {}  // nothing is buffered

  // Drops the series not updated for expire_ns before `now_unix_ns`, then returns the page.
  std::string Render(int64_t now_unix_ns);
  PrometheusStats Stats() const;

 private:
  struct Sample {
    double value = 0;
    int64_t time_ns = 0;     // the point's time
    int64_t updated_ns = 0;  // the clock when it was stored, for expiry
  };

  bool Wanted(const model::PointBatch& batch, const model::Point& point) const;
  // Stores one value under `key` (name + rendered labels); requires mu_.
  void Store(std::string&& key, double value, int64_t time_ns, int64_t now_ns);
  // Removes the series not updated since now_ns - expire_ns; requires mu_.
  void ExpireLocked(int64_t now_ns);

  const std::string name_;
  const std::function<int64_t()> now_ns_;
  const size_t max_series_;
  const int64_t expire_ns_;  // <= 0: never
  std::bitset<model::kCategoryCount> categories_;
  std::vector<std::string> measurements_;  // as configured; empty = all

  mutable std::mutex mu_;  // guards series_, next_sweep_ns_ and stats_
  // Key: metric name followed by its label text ("" or "{a=\"x\",b=\"y\"}"); '{' never occurs
  // in a metric name, so the key splits back unambiguously.
  std::unordered_map<std::string, Sample> series_;
  int64_t next_sweep_ns_ = 0;  // a full table sweeps expired series at most once per second
  PrometheusStats stats_;
};

// The pure pieces, exposed for tests. Each appends to `out`.
// A metric name from any text ("cpu.usage" -> "cpu_usage", "1m" -> "_1m").
void AppendPrometheusMetricName(std::string& out, std::string_view text);
// A label name from any text ("host-name" -> "host_name", "__x" -> "_x", "" -> "_").
void AppendPrometheusLabelName(std::string& out, std::string_view text);
// A label value's body, without the quotes: escaped, invalid UTF-8 replaced by U+FFFD.
void AppendPrometheusLabelValue(std::string& out, std::string_view text);
// A sample value: shortest round-trip decimal, "NaN", "+Inf" or "-Inf".
void AppendPrometheusValue(std::string& out, double value);

}  // namespace pythond::outputs
