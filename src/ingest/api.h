// The /v1 HTTP API as a pure request → answer function, apart from the transport
// (http_server.h), so tests call it directly. Runs on the event-loop thread; not thread-safe.
//
// Routes (docs/API.md):
//   POST /v1/write/:category   line protocol (default), JSON (application/json)
//   GET  /v1/ping              {"content":{"version","uptime","host"}}
//   POST /v1/lasterror         {"input":..,"err_content":..} from a script
//   GET  /v1/stats             the agent's state (ApiOptions::stats_json)
//   GET  <path>                ApiOptions::get_routes (e.g. the prometheus output, the status page)
//   GET  <path>                ApiOptions::async_get_routes (answered later: the store explorer)
// Errors answer DataKit's JSON body {"error_code":"datakit.xxx","message":"..."}.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/rate_limiter.h"
#include "model/point.h"
#include "model/point_checks.h"
#include "outputs/output.h"

namespace pythond::ingest {

class QueryString;

struct Request {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // path and query, e.g. "/v1/write/metric?input=x"
  std::string_view content_type;
  std::string_view content_encoding;
  std::string_view plugin_header;  // X-Pythond-Plugin: "<input>/<plugin>" from the SDK
  std::string_view host;           // Host header ("" when absent: HTTP/1.0, the worker pipe)
  std::string_view origin;         // Origin header (browsers send it on cross-site POSTs)
  std::string_view body;
  bool remote_is_loopback = true;  // the client connected from 127.0.0.0/8 or ::1
  // The transport held the body until the sinks had room (HttpServerOptions::hold_body): the
  // API does not refuse it for a full queue again.
  bool admitted = false;
  // The transport already passed the headers through Api::Screen (before reading the body).
  bool screened = false;
};

struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // More response headers, e.g. {"Cache-Control", "no-cache"}; Server, Content-Type and
  // Content-Length are set by the transport.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// A GET route answered later (ApiOptions::async_get_routes): it must call `respond` exactly
// once, on the event-loop thread. The request's views are valid only during the call: copy what
// is needed later.
using AsyncGetRoute = std::function<void(const Request&, std::function<void(Answer)> respond)>;

// A write as the checks left it (ApiOptions::on_checked, for `pythond test`).
struct CheckedWrite {
  model::Category category = model::Category::kMetric;
  std::string_view input;          // the batch's input
  std::string_view plugin_header;  // X-Pythond-Plugin, percent-encoded "<input>/<plugin>"
  const std::vector<model::Point>* kept = nullptr;  // after repairs and global tags
  struct Finding {
    size_t point = 0;  // 1-based, in the request
    model::CheckWarning warning;
  };
  std::vector<Finding> findings;
  std::vector<size_t> refused;  // 1-based indexes of the points the checks refused
};

struct ApiOptions {
  std::string version;
  std::string hostname;
  // Added to every point lacking the key, unless the request says ignore_global_tags or
  // ignore_global_host_tags. Includes host=<hostname> unless configured otherwise.
  std::vector<model::Tag> global_tags;
  // Paths non-loopback clients may reach: exact ("/v1/ping") or a prefix ending in '*'.
  std::vector<std::string> public_apis = {"/v1/write/*", "/v1/ping"};
  // Host header names answered besides IP literals, localhost (and *.localhost) and `hostname`
  // (a defence against DNS rebinding): exact names or "*.domain"; "*" allows any.
  std::vector<std::string> allowed_hosts;
  // Origins (e.g. "https://grafana.example.com") whose pages may send state-changing requests
  // (POST); a request from any other origin but the agent's own gets 403. "*" allows any.
  std::vector<std::string> allowed_origins;
  double write_rate_limit = 0;  // write requests per second over all clients; 0: none
  model::CheckLimits check_limits;
  size_t max_decoded_bytes = 32 << 20;  // a compressed body may not decode to more (413)
  // Nor to more than this many times its own size, past the first MiB (413): a few KiB of
  // gzip must not become 32 MiB of tiny lines.
  size_t max_decode_ratio = 256;
  // Points one write may carry (413 before they are built); 0: no limit.
  size_t max_points_per_request = 100'000;
  // GET /v1/stats answers this JSON document; null: 404.
  std::function<std::string()> stats_json;
  // More GET routes by exact path (the prometheus output's page); same access rules.
  std::map<std::string, std::function<Answer()>> get_routes;
  // GET routes by exact path whose answer comes later (work off the event loop, e.g. reading
  // the store); same access rules (loopback only unless public_apis opens them).
  std::map<std::string, AsyncGetRoute> async_get_routes;
  // Every write that parsed, after the checks (before `strict` may refuse it); null: none.
  std::function<void(const CheckedWrite&)> on_checked;
  // Decoding, parsing and checking a write body of at least offload_min_bytes runs as `work`
  // off the event loop (the agent: a pool sized to the cores), then `done` runs back on the
  // event loop. Null: both inline. `work` reads only the request's views and these options.
  std::function<void(std::function<void()> work, std::function<void()> done)> offload;
  size_t offload_min_bytes = 16 << 10;
  // Stats entries (ApiStats::inputs, ::plugins) exist for the names this says are configured
  // (plugin: "<input>/<plugin>", else empty) and, up to max_stats_names per table, for names
  // whose writes passed the checks; every other write is counted under kOtherStats. So clients
  // sending made-up names cannot grow the tables. Null: no name is configured.
  std::function<bool(std::string_view input, std::string_view plugin)> is_configured;
  size_t max_stats_names = 256;
};

// The stats entry of writes whose input or plugin name earned none of its own.
inline constexpr std::string_view kOtherStats = "(other)";

// What one input has sent (by the `input` each batch is stored under).
struct InputIngestStats {
  uint64_t requests = 0;
  uint64_t points[model::kCategoryCount] = {};
  uint64_t refused_requests = 0;  // 4xx/5xx answers to its writes
  uint64_t points_refused = 0;    // points the checks could not keep
  // Repairs and refusals by reason (model::CheckReason).
  uint64_t checks[static_cast<size_t>(model::CheckReason::kCount)] = {};
  // The last POST /v1/lasterror for this input (cut to kMaxLastErrorBytes); time 0: none.
  std::string last_error;
  int64_t last_error_unix_ns = 0;
};

// What POST /v1/lasterror keeps of a message (the log line shows at most kMaxLoggedBytes).
inline constexpr size_t kMaxLastErrorBytes = 4096;

// Requests of one route ("/v1/write/metric", "/v1/ping", "/metrics", "(other)").
struct RouteStats {
  std::map<int, uint64_t> by_status;  // HTTP status → answers
  uint64_t bytes_in = 0;              // request bodies
  uint64_t bytes_out = 0;             // answer bodies
};

struct ApiStats {
  uint64_t requests = 0;
  uint64_t write_requests = 0;
  uint64_t points_accepted[model::kCategoryCount] = {};
  uint64_t bad_requests = 0;  // 4xx
  uint64_t busy = 0;          // 503: a sink's backlog was full
  uint64_t rate_limited = 0;  // 429
  uint64_t forbidden = 0;     // 403: a non-loopback client on a private route
  std::map<std::string, InputIngestStats> inputs;
  // What each plugin sent (by "<input>/<plugin>" from the SDK's X-Pythond-Plugin header).
  std::map<std::string, InputIngestStats> plugins;
  std::map<std::string, RouteStats> routes;
};

class Api {
 public:
  // `sink` must outlive the Api. `now_ns` is the wall clock (unix ns) and `mono_ns` a monotonic
  // clock, both injectable for tests.
  Api(outputs::Output* sink, std::function<int64_t()> now_ns, std::function<int64_t()> mono_ns,
      ApiOptions options);

  using Respond = std::function<void(Answer)>;
  // Answers `request`: at once, or for a write once every sink holds the batch (an output's
  // disk queue fsyncs first). `respond` runs on the event-loop thread, exactly once.
  void Handle(const Request& request, Respond respond);
  // The same, for callers whose sinks complete at once (tests): a sink that completes later,
  // or an async GET route, yields a 500.
  Answer Handle(const Request& request);
  // What can be refused from the headers alone, before the body is read (counted, like every
  // answer): a Host that is not allowed or a foreign Origin (403), a private route for a
  // non-loopback client (403), a write past the rate limit (429) or with ?encoding= (400).
  // Handle() calls it unless request.screened.
  std::optional<Answer> Screen(const Request& request);

  const ApiStats& stats() const { return stats_; }
  // Writes handed to the sinks whose answer has not been sent yet.
  size_t writes_in_flight() const { return writes_in_flight_; }

 private:
  // Everything but the write itself: an answer, and for an accepted write the batch to write
  // (the answer is then what to send once it is written).
  // An async route leaves the answer to `*async` (set only then).
  // A write to parse (`*job` set) is answered by ParseWrite and FinishWrite.
  struct WriteJob;
  struct WriteOutcome;
  Answer Route(const Request& request, std::unique_ptr<WriteJob>* job,
               const AsyncGetRoute** async = nullptr);
  // What can be checked before the body is read: an answer when refused, else `*job`.
  Answer PrepareWrite(std::string_view category, std::string_view query, const Request& request,
                      std::unique_ptr<WriteJob>* job);
  // Decodes, parses and checks the body: thread-safe (reads only the job and options_).
  WriteOutcome ParseWrite(const WriteJob& job) const;
  // On the event loop: counts what the checks found, then the answer, and for an accepted
  // write the batch to write (the answer is then what to send once it is written).
  Answer FinishWrite(const WriteJob& job, WriteOutcome& outcome, model::PointBatchPtr* pending);
  // Hands an accepted batch to the sinks; `respond` gets `answer` once they hold it.
  void Deliver(model::PointBatchPtr batch, std::string plugin, Answer answer, Respond respond);
  // The entries a write of `input` / `plugin` (empty: none) is counted under (see
  // ApiOptions::is_configured); `passed`: its points passed the checks.
  struct Entries {
    InputIngestStats* input;
    InputIngestStats* plugin;  // null without a plugin
  };
  Entries StatsEntries(const std::string& input, const std::string& plugin, bool passed);
  // Counts a write refused with `answer` (one request, refused) and returns the answer.
  Answer RefuseWrite(const std::string& input, const std::string& plugin, Answer answer);
  Answer HandlePing();
  Answer HandleLastError(const Request& request);
  bool IsPublic(std::string_view path) const;
  bool HostAllowed(std::string_view host) const;
  bool OriginAllowed(std::string_view origin, std::string_view host) const;
  // The input and plugin (PluginKey) a write is counted under.
  std::pair<std::string, std::string> WriteNames(const QueryString& query,
                                                 const Request& request) const;
  // The name requests to `path` are counted under: the path of a known route, else "(other)"
  // (so a scan of random paths cannot grow the table).
  std::string RouteName(std::string_view path) const;

  outputs::Output* sink_;
  std::function<int64_t()> now_ns_;
  std::function<int64_t()> mono_ns_;
  ApiOptions options_;
  int64_t started_ns_;
  RateLimiter write_limit_;
  ApiStats stats_;
  size_t writes_in_flight_ = 0;
};

// "<input>/<plugin>" from the SDK's X-Pythond-Plugin header (each part percent-decoded); ""
// when there is none.
std::string PluginKey(std::string_view plugin_header);

// DataKit's error body.
Answer ErrorAnswer(int status, std::string_view error_code, std::string_view message);

// Adds each of `tags` whose key the point does not have (as tag or field) to the point.
void AddGlobalTags(model::Point& point, const std::vector<model::Tag>& tags);

// [{"measurement":..,"tags":{..},"fields":{..},"time":ns}, ...] — the echo=json body.
std::string PointsToJson(const std::vector<model::Point>& points);

}  // namespace pythond::ingest
