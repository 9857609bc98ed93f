#include "ingest/api.h"

#include <simdjson.h>

#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <optional>

#include "common/logging.h"
#include "common/strings.h"
#include "ingest/body_decoder.h"
#include "ingest/query_string.h"
#include "model/json_points.h"
#include "model/line_protocol.h"
#include "model/pbjson_points.h"

namespace pythond::ingest {

namespace {

std::string FormatUptime(int64_t ns) {
  int64_t s = ns / 1'000'000'000;
  std::string out;
  if (s >= 86400) out += std::to_string(s / 86400) + "d";
  if (s >= 3600) out += std::to_string(s / 3600 % 24) + "h";
  if (s >= 60) out += std::to_string(s / 60 % 60) + "m";
  out += std::to_string(s % 60) + "s";
  return out;
}

// The media type of a Content-Type header, lower-cased, without parameters.
std::string MediaType(std::string_view content_type) {
  std::string_view type = TrimSpace(content_type.substr(0, content_type.find(';')));
  std::string out(type);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// DataKit's boolean parameters are true when present with any value but "false"/"0".
bool Flag(const QueryString& q, std::string_view key) { return q.GetBool(key); }

}  // namespace

Answer ErrorAnswer(int status, std::string_view error_code, std::string_view message) {
  Answer a;
  a.status = status;
  a.body = "{\"error_code\":" + JsonQuote(error_code) + ",\"message\":" + JsonQuote(message) + "}";
  return a;
}

void AddGlobalTags(model::Point& point, const std::vector<model::Tag>& tags) {
  for (const model::Tag& g : tags) {
    bool present = false;
    for (const model::Tag& t : point.tags) {
      if (t.key == g.key) {
        present = true;
        break;
      }
    }
    if (!present) {
      for (const model::Field& f : point.fields) {
        if (f.key == g.key) {
          present = true;
          break;
        }
      }
    }
    if (!present) point.tags.push_back(g);
  }
}

std::string PointsToJson(const std::vector<model::Point>& points) {
  std::string out = "[";
  for (size_t i = 0; i < points.size(); ++i) {
    const model::Point& p = points[i];
    if (i) out += ',';
    out += "{\"measurement\":" + JsonQuote(p.measurement) +
           ",\"tags\":" + model::TagsToJson(p.tags) +
           ",\"fields\":" + model::FieldsToJson(p.fields) +
           ",\"time\":" + std::to_string(p.time_ns) + "}";
  }
  out += ']';
  return out;
}

Api::Api(outputs::Output* sink, std::function<int64_t()> now_ns, std::function<int64_t()> mono_ns,
         ApiOptions options)
    : sink_(sink),
      now_ns_(std::move(now_ns)),
      mono_ns_(std::move(mono_ns)),
      options_(std::move(options)),
      started_ns_(now_ns_()),
      write_limit_(options_.write_rate_limit, std::max(1.0, options_.write_rate_limit)) {}

bool Api::IsPublic(std::string_view path) const {
  for (const std::string& api : options_.public_apis) {
    if (!api.empty() && api.back() == '*') {
      if (StartsWith(path, std::string_view(api).substr(0, api.size() - 1))) return true;
    } else if (path == api) {
      return true;
    }
  }
  return false;
}

Answer Api::Handle(const Request& request) {
  // Shared: a sink that completes later must not write into this frame.
  auto answer = std::make_shared<std::optional<Answer>>();
  Handle(request, [answer](Answer a) { *answer = std::move(a); });
  if (!*answer) {
    return ErrorAnswer(500, "datakit.internal",
                       "a sink completed asynchronously; use Handle(request, respond)");
  }
  return std::move(**answer);
}

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The name or address of a Host header value ("[::1]:9529" → "::1", "Box.:80" → "box").
std::string HostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return Lower(host.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);
  }
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return Lower(host);
}

bool IsIpLiteral(const std::string& name) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(name, ec);
  return !ec;
}

// "*.example.com" matches "a.example.com" (not "example.com"); others match exactly.
bool NameMatches(std::string_view pattern, std::string_view name) {
  if (pattern == "*") return true;
  if (StartsWith(pattern, "*.")) {
    return name.size() > pattern.size() - 1 && EndsWith(name, pattern.substr(1));
  }
  return pattern == name;
}

}  // namespace

bool Api::HostAllowed(std::string_view host) const {
  // No Host: HTTP/1.0 or the worker pipe; a browser always sends one. A rebinding attack needs a
  // name the attacker's DNS answers, so IP literals are safe whatever the address.
  if (host.empty()) return true;
  const std::string name = HostName(host);
  if (name.empty()) return false;
  if (IsIpLiteral(name) || name == "localhost" || EndsWith(name, ".localhost")) return true;
  const std::string self = Lower(options_.hostname);
  if (!self.empty() && (name == self || name == self.substr(0, self.find('.')))) return true;
  for (const std::string& pattern : options_.allowed_hosts) {
    if (NameMatches(Lower(pattern), name)) return true;
  }
  return false;
}

bool Api::OriginAllowed(std::string_view origin, std::string_view host) const {
  for (const std::string& allowed : options_.allowed_origins) {
    if (allowed == "*" || Lower(allowed) == Lower(origin)) return true;
  }
  // The agent's own pages: "scheme://" + the Host the request was sent to.
  size_t scheme = origin.find("://");
  return scheme != std::string_view::npos && !host.empty() &&
         Lower(origin.substr(scheme + 3)) == Lower(host);
}

std::optional<Answer> Api::Screen(const Request& request) {
  std::string_view path = request.target.substr(0, request.target.find('?'));
  auto refuse = [&](Answer a) -> std::optional<Answer> {
    ++stats_.requests;
    if (StartsWith(path, "/v1/write/")) ++stats_.write_requests;
    RouteStats& r = stats_.routes[RouteName(path)];
    ++r.by_status[a.status];
    r.bytes_out += a.body.size();
    return a;
  };
  // DNS rebinding turns a page's own origin into this agent; what a loopback client may reach
  // (every route) is what it would gain. A non-loopback client reaches only the public routes,
  // whatever name it used (containers use service names), so its Host is not checked.
  if (request.remote_is_loopback && !HostAllowed(request.host)) {
    ++stats_.forbidden;
    return refuse(ErrorAnswer(403, "datakit.hostNotAllowed",
                              "Host '" + LogSafe(request.host, 100) +
                                  "' is not allowed (a defence against DNS rebinding); add the "
                                  "name to [http_api] allowed_hosts"));
  }
  const bool reads = request.method == "GET" || request.method == "HEAD";
  if (!reads && !request.origin.empty() && !OriginAllowed(request.origin, request.host)) {
    ++stats_.forbidden;
    return refuse(ErrorAnswer(403, "datakit.originNotAllowed",
                              "a request from a page of '" + LogSafe(request.origin, 100) +
                                  "' is refused (cross-site); add the origin to [http_api] "
                                  "allowed_origins"));
  }
  if (!request.remote_is_loopback && !IsPublic(path)) {
    ++stats_.forbidden;
    return refuse(ErrorAnswer(403, "datakit.publicAccessDisabled",
                              std::string(path) + " is not open to non-loopback clients "
                                                  "(see [http_api] public_apis)"));
  }
  if (!StartsWith(path, "/v1/write/") || request.method != "POST") return std::nullopt;
  const std::string_view raw_query =
      path.size() < request.target.size() ? request.target.substr(path.size() + 1) : "";
  QueryString query(raw_query);
  if (options_.write_rate_limit > 0 && !write_limit_.Allow(mono_ns_())) {
    ++stats_.rate_limited;
    auto [input, plugin] = WriteNames(query, request);
    return refuse(RefuseWrite(
        input, plugin,
        ErrorAnswer(429, "datakit.reachMaxAPILimit",
                    "more than " + std::to_string(options_.write_rate_limit) +
                        " write requests per second (see [http_api] request_rate_limit)")));
  }
  if (query.Get("encoding")) {
    auto [input, plugin] = WriteNames(query, request);
    return refuse(RefuseWrite(
        input, plugin,
        ErrorAnswer(400, "datakit.decodeBodyFailed",
                    "send the body's compression as a Content-Encoding header; ?encoding= is "
                    "refused (a plain cross-site form could use it)")));
  }
  return std::nullopt;
}

std::string Api::RouteName(std::string_view path) const {
  constexpr std::string_view kWrite = "/v1/write/";
  if (StartsWith(path, kWrite)) {
    return model::ParseCategory(path.substr(kWrite.size())) ? std::string(path)
                                                            : "/v1/write/(invalid)";
  }
  if (path == "/v1/ping" || path == "/v1/stats" || path == "/v1/lasterror" ||
      options_.get_routes.count(std::string(path)) ||
      options_.async_get_routes.count(std::string(path))) {
    return std::string(path);
  }
  return "(other)";
}

// A write between PrepareWrite (event loop) and ParseWrite (maybe a pool thread).
struct Api::WriteJob {
  model::Category category = model::Category::kMetric;
  model::Precision precision = model::Precision::kAuto;
  BodyEncoding encoding = BodyEncoding::kIdentity;
  std::string input;
  std::string plugin;  // PluginKey of the request
  std::string echo;    // "", "lp" or "json"
  bool strict = false;
  bool dry = false;
  bool global_tags = true;
  bool json = false;
  bool pbjson = false;
  int64_t now_ns = 0;
  std::string_view body;           // the request's: valid until the answer is sent
  std::string_view plugin_header;  // the same
};

// What ParseWrite found. Either `refusal` (the body is refused whole), or the points the checks
// kept and what they found.
struct Api::WriteOutcome {
  std::optional<Answer> refusal;
  std::vector<model::Point> points;
  uint64_t checks[static_cast<size_t>(model::CheckReason::kCount)] = {};
  uint64_t points_refused = 0;
  size_t warning_count = 0;
  std::string warnings;  // the first 20, for `strict` and an all-refused body
  CheckedWrite checked;  // filled only for on_checked
};

void Api::Handle(const Request& request, Respond respond) {
  if (!request.screened) {
    if (std::optional<Answer> refused = Screen(request)) return respond(std::move(*refused));
  }
  // Every answer is counted under its route, status and sizes.
  std::string_view path = request.target.substr(0, request.target.find('?'));
  std::string route = RouteName(path);
  stats_.routes[route].bytes_in += request.body.size();
  respond = [this, route = std::move(route), respond = std::move(respond)](Answer a) {
    RouteStats& r = stats_.routes[route];
    ++r.by_status[a.status];
    r.bytes_out += a.body.size();
    respond(std::move(a));
  };
  std::unique_ptr<WriteJob> job;
  const AsyncGetRoute* async = nullptr;
  Answer answer = Route(request, &job, &async);
  if (async) {
    (*async)(request, std::move(respond));
    return;
  }
  if (!job) {
    respond(std::move(answer));
    return;
  }
  // A compressed body goes to the pool whatever its size: a few KiB may decode to MiBs.
  if (options_.offload && (job->body.size() >= options_.offload_min_bytes ||
                           job->encoding != BodyEncoding::kIdentity)) {
    // Parsed on the pool; the counting and the write happen back on the event loop.
    std::shared_ptr<WriteJob> shared(std::move(job));
    auto outcome = std::make_shared<WriteOutcome>();
    options_.offload([this, shared, outcome] { *outcome = ParseWrite(*shared); },
                     [this, shared, outcome, respond = std::move(respond)]() mutable {
                       model::PointBatchPtr batch;
                       Answer a = FinishWrite(*shared, *outcome, &batch);
                       if (!batch) return respond(std::move(a));
                       Deliver(std::move(batch), std::move(shared->plugin), std::move(a),
                               std::move(respond));
                     });
    return;
  }
  WriteOutcome outcome = ParseWrite(*job);
  model::PointBatchPtr batch;
  answer = FinishWrite(*job, outcome, &batch);
  if (!batch) {
    respond(std::move(answer));
    return;
  }
  Deliver(std::move(batch), std::move(job->plugin), std::move(answer), std::move(respond));
}

Api::Entries Api::StatsEntries(const std::string& input, const std::string& plugin, bool passed) {
  // `configured()` is asked only for a name the table does not hold yet.
  auto entry = [&](std::map<std::string, InputIngestStats>& table, const std::string& name,
                   const auto& configured) -> InputIngestStats* {
    if (auto it = table.find(name); it != table.end()) return &it->second;
    if ((passed && table.size() < options_.max_stats_names) || configured()) return &table[name];
    return &table[std::string(kOtherStats)];
  };
  const auto& is_configured = options_.is_configured;
  Entries e{entry(stats_.inputs, input, [&] { return is_configured && is_configured(input, {}); }),
            nullptr};
  if (!plugin.empty()) {
    std::string_view key(plugin);
    const size_t slash = key.find('/');
    e.plugin = entry(stats_.plugins, plugin, [&] {
      return is_configured && slash != std::string_view::npos &&
             is_configured(key.substr(0, slash), key.substr(slash + 1));
    });
  }
  return e;
}

Answer Api::RefuseWrite(const std::string& input, const std::string& plugin, Answer answer) {
  Entries e = StatsEntries(input, plugin, false);
  ++e.input->requests;
  ++e.input->refused_requests;
  if (e.plugin) {
    ++e.plugin->requests;
    ++e.plugin->refused_requests;
  }
  // 4xx but 429, which rate_limited counts (as 503 is counted by busy).
  if (answer.status >= 400 && answer.status < 500 && answer.status != 429) ++stats_.bad_requests;
  return answer;
}

void Api::Deliver(model::PointBatchPtr batch, std::string plugin, Answer answer, Respond respond) {
  // The answer waits until every sink holds the batch as safely as it promises (an output's
  // disk queue: fsynced).
  ++writes_in_flight_;
  sink_->WriteAsync(batch, [this, batch, plugin = std::move(plugin), answer = std::move(answer),
                            respond = std::move(respond)](Status s) mutable {
    --writes_in_flight_;
    // FinishWrite counted the request (its entries exist unless it went to kOtherStats).
    Entries e = StatsEntries(batch->input, plugin, true);
    if (!s.ok()) {
      ++stats_.busy;
      ++e.input->refused_requests;
      if (e.plugin) ++e.plugin->refused_requests;
      respond(ErrorAnswer(503, "datakit.busy", s.message()));
      return;
    }
    size_t n = batch->points.size();
    stats_.points_accepted[static_cast<int>(batch->category)] += n;
    e.input->points[static_cast<int>(batch->category)] += n;
    if (e.plugin) e.plugin->points[static_cast<int>(batch->category)] += n;
    respond(std::move(answer));
  });
}

std::string PluginKey(std::string_view plugin_header) {
  if (plugin_header.empty()) return "";
  size_t slash = plugin_header.find('/');
  if (slash == std::string_view::npos) return SafeName(PercentDecode(plugin_header));
  return SafeName(PercentDecode(plugin_header.substr(0, slash))) + "/" +
         SafeName(PercentDecode(plugin_header.substr(slash + 1)));
}

Answer Api::Route(const Request& request, std::unique_ptr<WriteJob>* job,
                  const AsyncGetRoute** async) {
  ++stats_.requests;
  std::string_view target = request.target;
  std::string_view path = target, query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  constexpr std::string_view kWrite = "/v1/write/";
  if (StartsWith(path, kWrite)) {
    if (request.method != "POST") {
      return ErrorAnswer(405, "datakit.methodNotAllowed", "use POST for /v1/write");
    }
    return PrepareWrite(path.substr(kWrite.size()), query, request, job);
  }
  if (path == "/v1/ping") return HandlePing();
  if (auto route = options_.get_routes.find(std::string(path));
      route != options_.get_routes.end()) {
    if (request.method != "GET") {
      return ErrorAnswer(405, "datakit.methodNotAllowed", "use GET for " + std::string(path));
    }
    return route->second();
  }
  if (auto route = options_.async_get_routes.find(std::string(path));
      async && route != options_.async_get_routes.end()) {
    if (request.method != "GET") {
      return ErrorAnswer(405, "datakit.methodNotAllowed", "use GET for " + std::string(path));
    }
    *async = &route->second;
    return Answer{};
  }
  if (path == "/v1/stats" && options_.stats_json) {
    if (request.method != "GET") {
      return ErrorAnswer(405, "datakit.methodNotAllowed", "use GET for /v1/stats");
    }
    return Answer{200, options_.stats_json(), "application/json"};
  }
  if (path == "/v1/lasterror") {
    if (request.method != "POST") {
      return ErrorAnswer(405, "datakit.methodNotAllowed", "use POST for /v1/lasterror");
    }
    return HandleLastError(request);
  }
  return ErrorAnswer(404, "datakit.routeNotFound", "no route " + std::string(path));
}

std::pair<std::string, std::string> Api::WriteNames(const QueryString& query,
                                                    const Request& request) const {
  // Names come from the client: made safe to show (valid UTF-8, no control characters, bounded).
  std::string input;
  if (auto in = query.Get("input"); in && !in->empty()) {
    input = SafeName(*in);
  } else if (!request.plugin_header.empty()) {
    // The SDK under pythond: attribute to the pythond input that ran the script.
    // The SDK percent-encodes each part of "<input>/<plugin>".
    input =
        SafeName(PercentDecode(request.plugin_header.substr(0, request.plugin_header.find('/'))));
  } else {
    input = "datakit-http";  // DataKit's name for writes without ?input=
  }
  return {std::move(input), PluginKey(request.plugin_header)};
}

Answer Api::PrepareWrite(std::string_view category_name, std::string_view raw_query,
                         const Request& request, std::unique_ptr<WriteJob>* job) {
  ++stats_.write_requests;
  QueryString query(raw_query);

  // The input is known before anything can fail, so refusals are counted against it.
  auto [input, plugin] = WriteNames(query, request);
  auto refuse = [&](int status, std::string_view code, std::string_view message) {
    return RefuseWrite(input, plugin, ErrorAnswer(status, code, message));
  };
  if (!request.admitted && !sink_->HasRoom()) {
    ++stats_.busy;
    return refuse(503, "datakit.busy", "the store's backlog is full; retry later");
  }
  auto category = model::ParseCategory(category_name);
  if (!category) {
    return refuse(400, "datakit.invalidCategory",
                  "invalid category '" + std::string(category_name) +
                      "' (want metric, logging, object, custom_object, keyevent, rum, "
                      "network or security)");
  }
  auto precision = model::ParsePrecision(query.Get("precision").value_or(""));
  if (!precision) {
    return refuse(400, "datakit.invalidPrecision",
                  "invalid precision '" + query.Get("precision").value_or("") +
                      "' (want n, u, ms, s, m or h)");
  }
  std::string echo = query.Get("echo").value_or("");
  if (echo.empty() && Flag(query, "echo_line_proto")) echo = "lp";
  if (echo.empty() && Flag(query, "echo_json")) echo = "json";
  if (!echo.empty() && echo != "lp" && echo != "json") {
    return refuse(400, "datakit.invalidEcho", "invalid echo '" + echo + "' (want lp or json)");
  }

  auto encoding = ParseBodyEncoding(request.content_encoding);
  if (!encoding.ok()) return refuse(400, "datakit.decodeBodyFailed", encoding.status().message());

  auto w = std::make_unique<WriteJob>();
  w->category = *category;
  w->precision = *precision;
  w->encoding = *encoding;
  w->input = std::move(input);
  w->plugin = std::move(plugin);
  w->echo = std::move(echo);
  w->strict = Flag(query, "strict");
  w->dry = Flag(query, "dry");
  w->global_tags = !Flag(query, "ignore_global_tags") && !Flag(query, "ignore_global_host_tags");
  std::string media = MediaType(request.content_type);
  w->json = media == "application/json";
  w->pbjson = media == "application/pbjson";
  w->now_ns = now_ns_();
  w->body = request.body;
  w->plugin_header = request.plugin_header;
  *job = std::move(w);
  return Answer{};
}

Api::WriteOutcome Api::ParseWrite(const WriteJob& job) const {
  WriteOutcome out;
  auto refuse = [&out](int status, std::string_view code, std::string_view message) {
    out.refusal = ErrorAnswer(status, code, message);
    return std::move(out);
  };
  std::string_view body = job.body;
  std::string decoded;
  if (job.encoding != BodyEncoding::kIdentity) {
    // Decoding stops at whichever limit comes first: max_decoded_bytes, or max_decode_ratio
    // times the compressed size (at least 1 MiB).
    size_t ratio_limit = std::max<size_t>(size_t{1} << 20, body.size() * options_.max_decode_ratio);
    const bool by_ratio = options_.max_decode_ratio > 0 && ratio_limit < options_.max_decoded_bytes;
    auto result =
        DecodeBody(body, job.encoding, by_ratio ? ratio_limit : options_.max_decoded_bytes);
    if (!result.ok()) {
      if (result.status().code() == StatusCode::kResourceExhausted) {
        if (by_ratio) {
          return refuse(413, "datakit.bodyTooLarge",
                        "the " + std::string(BodyEncodingName(job.encoding)) + " body of " +
                            std::to_string(body.size()) + " bytes decodes to more than " +
                            std::to_string(ratio_limit) + " bytes (" +
                            std::to_string(options_.max_decode_ratio) +
                            " times its size, the most a body may expand past 1 MiB)");
        }
        return refuse(413, "datakit.bodyTooLarge", result.status().message());
      }
      return refuse(400, "datakit.decodeBodyFailed", result.status().message());
    }
    decoded = std::move(*result);
    body = decoded;
  }
  if (TrimSpace(body).empty()) {
    return refuse(400, "datakit.emptyBody", "the request body is empty");
  }

  model::ParseOptions options{job.precision, job.now_ns};
  options.max_points = options_.max_points_per_request;
  model::ParseResult parsed = job.pbjson ? model::ParsePbJsonPoints(body, options)
                              : job.json ? model::ParseJsonPoints(body, options)
                                         : model::ParseLineProtocol(body, options);
  if (parsed.too_many_points) {
    return refuse(413, "datakit.bodyTooLarge", parsed.errors.front().reason);
  }
  if (!parsed.errors.empty()) {
    bool json = job.json || job.pbjson;
    return refuse(400, json ? "datakit.invalidJsonPoint" : "datakit.invalidLinePoint",
                  model::FormatParseErrors(parsed.errors, json, 20, parsed.error_count));
  }
  if (parsed.points.empty()) {
    return refuse(400, "datakit.noPoints", "the request body holds no points");
  }
  if (job.global_tags) {
    for (model::Point& p : parsed.points) AddGlobalTags(p, options_.global_tags);
  }

  // DataKit's point checks: repair and count, or under ?strict refuse the body.
  size_t kept = 0;
  for (size_t i = 0; i < parsed.points.size(); ++i) {
    model::Point& p = parsed.points[i];
    model::CheckOutcome outcome = model::CheckPoint(job.category, p, options_.check_limits);
    if (options_.on_checked) {
      for (const model::CheckWarning& w : outcome.warnings) {
        out.checked.findings.push_back({i + 1, w});
      }
      if (outcome.refused) out.checked.refused.push_back(i + 1);
    }
    for (const model::CheckWarning& w : outcome.warnings) {
      ++out.checks[static_cast<size_t>(w.reason)];
      if (++out.warning_count <= 20) {
        if (!out.warnings.empty()) out.warnings += "; ";
        out.warnings += "point " + std::to_string(i + 1) + ": " + w.message;
      }
    }
    if (outcome.refused) {
      ++out.points_refused;
    } else {
      if (kept != i) parsed.points[kept] = std::move(p);
      ++kept;
    }
  }
  if (out.warning_count > 20) {
    out.warnings += "; and " + std::to_string(out.warning_count - 20) + " more";
  }
  parsed.points.resize(kept);
  out.points = std::move(parsed.points);
  return out;
}

Answer Api::FinishWrite(const WriteJob& job, WriteOutcome& outcome, model::PointBatchPtr* pending) {
  if (outcome.refusal) return RefuseWrite(job.input, job.plugin, std::move(*outcome.refusal));
  // Refused below when strict or when nothing is left: counted then, as not passed.
  const bool passed = !outcome.points.empty() && !(job.strict && outcome.warning_count > 0);
  Entries e = StatsEntries(job.input, job.plugin, passed);
  for (size_t r = 0; r < std::size(outcome.checks); ++r) {
    e.input->checks[r] += outcome.checks[r];
    if (e.plugin) e.plugin->checks[r] += outcome.checks[r];
  }
  e.input->points_refused += outcome.points_refused;
  if (e.plugin) e.plugin->points_refused += outcome.points_refused;
  if (options_.on_checked) {
    outcome.checked.category = job.category;
    outcome.checked.input = job.input;
    outcome.checked.plugin_header = job.plugin_header;
    outcome.checked.kept = &outcome.points;
    options_.on_checked(outcome.checked);
  }
  if (job.strict && outcome.warning_count > 0) {
    return RefuseWrite(job.input, job.plugin,
                       ErrorAnswer(400, "datakit.pointGotWarning", outcome.warnings));
  }
  if (outcome.points.empty()) {
    return RefuseWrite(
        job.input, job.plugin,
        ErrorAnswer(400, "datakit.noPoints", "no point passed the checks: " + outcome.warnings));
  }
  ++e.input->requests;
  if (e.plugin) ++e.plugin->requests;

  Answer ok{200, "", "application/json"};
  if (job.echo == "lp") {
    ok.content_type = "text/plain; charset=utf-8";
    for (const model::Point& p : outcome.points) model::AppendLineProtocol(ok.body, p);
  } else if (job.echo == "json") {
    ok.body = PointsToJson(outcome.points);
  }
  if (job.dry) return ok;

  auto batch = std::make_shared<model::PointBatch>();
  batch->category = job.category;
  batch->input = job.input;
  batch->points = std::move(outcome.points);
  *pending = std::move(batch);  // written by Deliver; `ok` is the answer once it is safe
  return ok;
}

Answer Api::HandlePing() {
  Answer a;
  a.body = "{\"content\":{\"version\":" + JsonQuote(options_.version) +
           ",\"uptime\":" + JsonQuote(FormatUptime(now_ns_() - started_ns_)) +
           ",\"host\":" + JsonQuote(options_.hostname) + "}}";
  return a;
}

Answer Api::HandleLastError(const Request& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::padded_string padded(request.body);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return ErrorAnswer(400, "datakit.invalidJsonPoint",
                       "lasterror body must be {\"input\": ..., \"err_content\": ...}");
  }
  std::string_view input, content;
  if (doc["input"].get(input) != simdjson::SUCCESS || input.empty() ||
      doc["err_content"].get(content) != simdjson::SUCCESS) {
    return ErrorAnswer(400, "datakit.invalidJsonPoint",
                       "lasterror body needs string keys \"input\" and \"err_content\"");
  }
  // Kept with the input's stats: a name with no entry of its own (not configured, no write
  // passed the checks) shares kOtherStats, so made-up names cannot grow anything.
  const std::string name = SafeName(input);
  InputIngestStats* entry = StatsEntries(name, "", false).input;
  entry->last_error = ValidUtf8(content, kMaxLastErrorBytes);
  entry->last_error_unix_ns = now_ns_();
  LOG_WARN("lasterror from input '{}': {}", name, LogSafe(content));
  return Answer{200, "", "application/json"};
}

}  // namespace pythond::ingest
