#include "ingest/api.h"

#include <simdjson.h>

#include "common/logging.h"
#include "common/strings.h"
#include "ingest/query_string.h"
#include "model/json_points.h"
#include "model/line_protocol.h"

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

bool IsJsonContentType(std::string_view ct) {
  // "application/json" with optional parameters; not "application/pbjson" (issue 3).
  return StartsWith(ct, "application/json");
}

}  // namespace

Answer ErrorAnswer(int status, std::string_view error_code, std::string_view message) {
  Answer a;
  a.status = status;
  a.body = "{\"error_code\":" + JsonQuote(error_code) + ",\"message\":" + JsonQuote(message) + "}";
  return a;
}

Api::Api(outputs::Output* sink, std::function<int64_t()> now_ns, std::string version,
         std::string hostname)
    : sink_(sink),
      now_ns_(std::move(now_ns)),
      version_(std::move(version)),
      hostname_(std::move(hostname)),
      started_ns_(now_ns_()) {}

Answer Api::Handle(const Request& request) {
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
    return HandleWrite(path.substr(kWrite.size()), query, request);
  }
  if (path == "/v1/ping") return HandlePing();
  if (path == "/v1/lasterror") {
    if (request.method != "POST") {
      return ErrorAnswer(405, "datakit.methodNotAllowed", "use POST for /v1/lasterror");
    }
    return HandleLastError(request);
  }
  return ErrorAnswer(404, "datakit.routeNotFound", "no route " + std::string(path));
}

Answer Api::HandleWrite(std::string_view category_name, std::string_view raw_query,
                        const Request& request) {
  ++stats_.write_requests;
  auto category = model::ParseCategory(category_name);
  if (!category) {
    ++stats_.bad_requests;
    return ErrorAnswer(400, "datakit.invalidCategory",
                       "invalid category '" + std::string(category_name) +
                           "' (want metric, logging, object, custom_object, keyevent, rum, "
                           "network or security)");
  }
  QueryString query(raw_query);
  auto precision = model::ParsePrecision(query.Get("precision").value_or(""));
  if (!precision) {
    ++stats_.bad_requests;
    return ErrorAnswer(400, "datakit.invalidPrecision",
                       "invalid precision '" + query.Get("precision").value_or("") +
                           "' (want n, u, ms, s, m or h)");
  }
  if (TrimSpace(request.body).empty()) {
    ++stats_.bad_requests;
    return ErrorAnswer(400, "datakit.emptyBody", "the request body is empty");
  }

  model::ParseOptions options{*precision, now_ns_()};
  bool json = IsJsonContentType(request.content_type);
  model::ParseResult parsed = json ? model::ParseJsonPoints(request.body, options)
                                   : model::ParseLineProtocol(request.body, options);
  if (!parsed.errors.empty()) {
    ++stats_.bad_requests;
    return ErrorAnswer(400, json ? "datakit.invalidJsonPoint" : "datakit.invalidLinePoint",
                       model::FormatParseErrors(parsed.errors, json, 20, parsed.error_count));
  }
  if (parsed.points.empty()) {
    ++stats_.bad_requests;
    return ErrorAnswer(400, "datakit.noPoints", "the request body holds no points");
  }

  auto batch = std::make_shared<model::PointBatch>();
  batch->category = *category;
  if (auto input = query.Get("input"); input && !input->empty()) {
    batch->input = *input;
  } else if (!request.plugin_header.empty()) {
    // The SDK under pythond: attribute to the pythond input that ran the script.
    batch->input = std::string(request.plugin_header.substr(0, request.plugin_header.find('/')));
  } else {
    batch->input = "datakit-http";  // DataKit's name for writes without ?input=
  }
  size_t n = parsed.points.size();
  batch->points = std::move(parsed.points);
  if (query.GetBool("dry")) return Answer{200, "", "application/json"};
  Status s = sink_->Write(std::move(batch));
  if (!s.ok()) {
    ++stats_.busy;
    return ErrorAnswer(503, "datakit.busy", s.message());
  }
  stats_.points_accepted[static_cast<int>(*category)] += n;
  return Answer{200, "", "application/json"};
}

Answer Api::HandlePing() {
  Answer a;
  a.body = "{\"content\":{\"version\":" + JsonQuote(version_) +
           ",\"uptime\":" + JsonQuote(FormatUptime(now_ns_() - started_ns_)) +
           ",\"host\":" + JsonQuote(hostname_) + "}}";
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
  LOG_WARN("lasterror from input '{}': {}", input, content);
  last_errors_[std::string(input)] = LastError{std::string(content), now_ns_()};
  return Answer{200, "", "application/json"};
}

}  // namespace pythond::ingest
