#include "agent/web_routes.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "common/strings.h"
#include "ingest/query_string.h"
#include "ingest/web_assets.h"
#include "model/point.h"

namespace pythond::agent {

namespace {

ingest::Answer JsonAnswer(std::string body) {
  ingest::Answer a;
  a.body = std::move(body);
  a.headers.emplace_back("Cache-Control", "no-store");
  return a;
}

ingest::Answer BadRequest(const std::string& message) {
  ingest::Answer a = ingest::ErrorAnswer(400, "datakit.badRequest", message);
  a.headers.emplace_back("Cache-Control", "no-store");
  return a;
}

ingest::Answer ReadFailed(const Status& s) {
  ingest::Answer a = s.retryable()
                         ? ingest::ErrorAnswer(503, "datakit.busy", s.message())
                         : ingest::ErrorAnswer(500, "datakit.storeReadFailed", s.message());
  a.headers.emplace_back("Cache-Control", "no-store");
  return a;
}

// The query string of a request target ("" when none).
std::string_view QueryOf(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

// `since` (unix seconds, decimals allowed) → unix ns; absent: an hour before now.
std::optional<int64_t> ParseSince(const ingest::QueryString& q, int64_t now_ns,
                                  std::string* error) {
  auto text = q.Get("since");
  if (!text) return now_ns - kDefaultWindowNs;
  double seconds = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, seconds, std::chars_format::fixed);
  // Up to the year 5138: enough for anyone, and far from int64 overflow in ns.
  if (text->empty() || ec != std::errc() || ptr != end || !std::isfinite(seconds) || seconds < 0 ||
      seconds > 1e11) {
    *error = "since: want unix seconds (e.g. 1700000000 or 1700000000.5), got '" + *text + "'";
    return std::nullopt;
  }
  return static_cast<int64_t>(std::llround(seconds * 1e9));
}

// `limit` (points, >= 1; above kMaxSeriesLimit: capped); absent: kDefaultSeriesLimit.
std::optional<size_t> ParseLimit(const ingest::QueryString& q, std::string* error) {
  auto text = q.Get("limit");
  if (!text) return kDefaultSeriesLimit;
  uint64_t limit = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, limit);
  if (ec == std::errc::result_out_of_range && ptr == end) return kMaxSeriesLimit;
  if (text->empty() || ec != std::errc() || ptr != end || limit == 0) {
    *error = "limit: want a number of points >= 1, got '" + *text + "'";
    return std::nullopt;
  }
  return std::min<uint64_t>(limit, kMaxSeriesLimit);
}

std::string MeasurementsJson(const std::vector<store::MeasurementInfo>& ms) {
  std::string out = "{\"measurements\":[";
  for (size_t i = 0; i < ms.size(); ++i) {
    const store::MeasurementInfo& m = ms[i];
    if (i) out += ',';
    out += "{\"category\":" + JsonQuote(m.category) +
           ",\"measurement\":" + JsonQuote(m.measurement) + ",\"fields\":[";
    for (size_t f = 0; f < m.fields.size(); ++f) {
      if (f) out += ',';
      out += JsonQuote(m.fields[f]);
    }
    out += "],\"points\":" + std::to_string(m.points) + "}";
  }
  out += "]}";
  return out;
}

std::string SeriesJson(const store::SeriesResult& r) {
  std::string out = "{\"series\":[";
  char time[32];
  for (size_t i = 0; i < r.series.size(); ++i) {
    const store::SeriesData& s = r.series[i];
    if (i) out += ',';
    // The store wrote the tags as a JSON object; an empty text would not be one.
    out += "{\"tags\":" + (s.tags.empty() ? std::string("{}") : s.tags) + ",\"points\":[";
    for (size_t p = 0; p < s.points.size(); ++p) {
      if (p) out += ',';
      // Seconds with millisecond precision: what uPlot's time axis takes.
      std::snprintf(time, sizeof time, "%.3f", static_cast<double>(s.points[p].first) / 1e9);
      out += '[';
      out += time;
      out += ',';
      if (std::isfinite(s.points[p].second)) {
        AppendJsonDouble(out, s.points[p].second);
      } else {
        out += "null";
      }
      out += ']';
    }
    out += "]}";
  }
  out += "],\"series_total\":" + std::to_string(r.series_total) +
         ",\"points_total\":" + std::to_string(r.points_total) +
         ",\"stride\":" + std::to_string(r.stride) + "}";
  return out;
}

}  // namespace

void AddWebRoutes(ingest::ApiOptions* options, store::StoreReader* reader,
                  std::function<int64_t()> now_ns) {
  ingest::AddWebAssetRoutes(&options->get_routes);

  options->async_get_routes["/v1/store/measurements"] =
      [reader, now_ns](const ingest::Request& request,
                       std::function<void(ingest::Answer)> respond) {
        ingest::QueryString q(QueryOf(request.target));
        std::string error;
        std::optional<int64_t> since = ParseSince(q, now_ns(), &error);
        if (!since) return respond(BadRequest(error));
        reader->Measurements(*since, [respond = std::move(respond)](
                                         StatusOr<std::vector<store::MeasurementInfo>> result) {
          respond(result.ok() ? JsonAnswer(MeasurementsJson(*result))
                              : ReadFailed(result.status()));
        });
      };

  options->async_get_routes["/v1/store/series"] = [reader, now_ns](
                                                      const ingest::Request& request,
                                                      std::function<void(ingest::Answer)> respond) {
    ingest::QueryString q(QueryOf(request.target));
    std::string error;
    store::SeriesQuery query;
    query.measurement = q.Get("measurement").value_or("");
    query.field = q.Get("field").value_or("");
    query.category = q.Get("category").value_or("");
    if (query.measurement.empty()) return respond(BadRequest("measurement is required"));
    if (query.field.empty()) return respond(BadRequest("field is required"));
    if (!query.category.empty() && !model::ParseCategory(query.category)) {
      return respond(BadRequest("category: unknown category '" + query.category + "'"));
    }
    std::optional<int64_t> since = ParseSince(q, now_ns(), &error);
    if (!since) return respond(BadRequest(error));
    std::optional<size_t> limit = ParseLimit(q, &error);
    if (!limit) return respond(BadRequest(error));
    query.since_ns = *since;
    query.limit = *limit;
    query.max_series = kMaxSeries;
    reader->Series(
        std::move(query), [respond = std::move(respond)](StatusOr<store::SeriesResult> result) {
          respond(result.ok() ? JsonAnswer(SeriesJson(*result)) : ReadFailed(result.status()));
        });
  };
}

}  // namespace pythond::agent
