// The /v1 HTTP API as a pure request → answer function, apart from the transport
// (http_server.h), so tests call it directly. Runs on the event-loop thread; not thread-safe.
//
// Routes (docs/API.md):
//   POST /v1/write/:category   line protocol (default) or JSON (Content-Type: application/json)
//   GET  /v1/ping              {"content":{"version","uptime","host"}}
//   POST /v1/lasterror         {"input":..,"err_content":..} from a script
// Errors answer DataKit's JSON body {"error_code":"datakit.xxx","message":"..."}.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "model/point.h"
#include "outputs/output.h"

namespace pythond::ingest {

struct Request {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // path and query, e.g. "/v1/write/metric?input=x"
  std::string_view content_type;
  std::string_view plugin_header;  // X-Pythond-Plugin: "<input>/<plugin>" from the SDK
  std::string_view body;
};

struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// Counters for /v1/stats (issue 8 will widen them).
struct ApiStats {
  uint64_t requests = 0;
  uint64_t write_requests = 0;
  uint64_t points_accepted[model::kCategoryCount] = {};
  uint64_t bad_requests = 0;
  uint64_t busy = 0;  // 503: a sink's backlog was full
};

struct LastError {
  std::string message;
  int64_t time_ns = 0;
};

class Api {
 public:
  // `sink` must outlive the Api. `now_ns` is the wall clock (unix ns), injectable for tests.
  Api(outputs::Output* sink, std::function<int64_t()> now_ns, std::string version,
      std::string hostname);

  Answer Handle(const Request& request);

  const ApiStats& stats() const { return stats_; }
  const std::map<std::string, LastError>& last_errors() const { return last_errors_; }

 private:
  Answer HandleWrite(std::string_view category, std::string_view query, const Request& request);
  Answer HandlePing();
  Answer HandleLastError(const Request& request);

  outputs::Output* sink_;
  std::function<int64_t()> now_ns_;
  std::string version_;
  std::string hostname_;
  int64_t started_ns_;
  ApiStats stats_;
  std::map<std::string, LastError> last_errors_;  // by input name
};

// DataKit's error body.
Answer ErrorAnswer(int status, std::string_view error_code, std::string_view message);

}  // namespace pythond::ingest
