// `pythond monitor`: a terminal view of a running agent, in the spirit of `datakit monitor`.
// It reads nothing but the agent's `GET /v1/stats` (docs/API.md) and redraws every refresh;
// docs/MONITOR.md describes the screen, the keys and the exit codes.
//
// The work is split so that everything but the terminal and the socket is a pure function:
// ParseStats (JSON → StatsView), RenderMonitor / RenderUnreachable (views → the frame's text),
// ParseHttpResponse and ResolveMonitorAddress. RunMonitor is the I/O shell around them (one
// thread: a blocking HTTP GET, poll() on stdin and a self-pipe for signals). Nothing here keeps
// shared state; every function is thread-compatible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pythond::agent {

struct MonitorOptions {
  std::string root = ".";  // where data/run.json tells the agent's address
  std::string to;          // HOST:PORT; empty: run.json's `listen`, else 127.0.0.1:9529
  std::string refresh = "1s";
  bool once = false;  // print one frame without cursor control and exit
};

// Runs the monitor until `q`, SIGINT, SIGTERM or SIGHUP, or until stdout is closed (returns
// 0), or prints one frame with `once` (0; 1 when the agent cannot be reached or answers
// something else than its stats). Returns 2 for a bad option. The terminal is restored on every
// way out. Without a terminal on stdout, frames are printed one after the other, uncoloured.
int RunMonitor(const MonitorOptions& options);

// What the monitor shows of one /v1/stats document. Missing fields read as 0 / "" / false;
// a missing section is an empty optional (an older agent, or one without outputs or git).
struct MonitorPlugin {
  std::string name, state, worker, last_error, last_traceback, last_hint;
  uint64_t runs = 0, failures = 0, timeouts = 0, skipped = 0;
  double interval_s = 0, last_duration_s = 0, p99_duration_s = 0;
  int64_t last_run_unix_ns = 0, next_run_unix_ns = 0, last_error_unix_ns = 0;
};

struct MonitorImportError {
  std::string module, file, error, traceback;
};

struct MonitorWorker {
  std::string label, state, last_exit;
  int64_t pid = 0;
  uint64_t restarts = 0, rss_bytes = 0;
  bool crash_loop = false;
  std::vector<MonitorImportError> import_errors;
};

struct MonitorInput {
  std::string name;
  std::vector<std::string> problems;
  std::vector<MonitorWorker> workers;
  std::vector<MonitorPlugin> plugins;
};

struct MonitorIngest {
  uint64_t requests = 0, write_requests = 0, bad_requests = 0, busy = 0, rate_limited = 0,
           forbidden = 0;
  // ingest.points in the document's order: (category, points accepted since the start).
  std::vector<std::pair<std::string, uint64_t>> points;
};

struct MonitorOutput {
  std::string name, type, target, state, last_error;
  bool has_queue = false;  // prometheus outputs have no queue and send nothing
  uint64_t queue_records = 0, queue_bytes = 0, points_sent = 0, retries = 0;
  uint64_t deadletter_batches = 0, deadletter_points = 0;
  uint64_t series = 0, samples_written = 0;  // prometheus
};

struct MonitorStore {
  uint64_t rows_written = 0, transactions = 0, write_errors = 0, batches_dropped = 0,
           queued_bytes = 0;
  std::string last_error;
};

struct MonitorRepo {
  std::string name, branch, head, head_summary, last_error;
  bool last_ok = true;
  int64_t last_pull_unix_ns = 0;
  uint64_t pulls = 0, failures = 0, changes = 0;
};

struct MonitorReload {
  uint64_t reloads = 0, rejected = 0;
  bool last_ok = true;
  std::string last_result;
};

struct StatsView {
  std::string version;
  int64_t pid = 0;
  int64_t now_unix_ns = 0;  // the agent's clock when it answered: ages and rates use it
  int64_t started_unix_ns = 0;
  double uptime_s = 0;
  uint64_t rss_bytes = 0;
  std::vector<MonitorInput> inputs;
  std::optional<MonitorIngest> ingest;
  std::optional<MonitorStore> store;
  std::optional<std::vector<MonitorOutput>> outputs;
  std::optional<std::vector<MonitorRepo>> git_repos;
  std::optional<MonitorReload> reload;
};

// Parses a /v1/stats body. InvalidArgument when it is not a JSON object with an `agent` object.
StatusOr<StatsView> ParseStats(std::string_view json);

struct RenderOptions {
  size_t width = 160;        // terminal columns; every line fits (cells are cut with "…")
  size_t height = 0;         // terminal rows; 0: no limit. Lines past it are replaced by a note
  bool color = false;        // ANSI colours (SGR) only; never cursor control
  bool tracebacks = false;   // the errors section shows full tracebacks
  bool interactive = false;  // show the keys line
  std::string address;       // the agent's HOST:PORT, shown as its listen address
  std::string refreshed_at;  // the local time of this refresh, e.g. "14:03:07"
  std::string refresh;       // the refresh period as typed, e.g. "1s"
};

// The frame for `now`: lines ending in '\n'. `before` (may be null; only read during the call)
// is the previous snapshot: ingest rates are computed between the two when both come from the
// same agent process and `now` is later.
std::string RenderMonitor(const StatsView& now, const StatsView* before,
                          const RenderOptions& options);

// The frame when the agent does not answer: the reason, the retry period, and when it was last
// seen (`last` may be null; `last_seen_at` is the local time of that answer).
std::string RenderUnreachable(std::string_view error, const StatsView* last,
                              std::string_view last_seen_at, const RenderOptions& options);

// The body of a complete HTTP/1.1 response (Content-Length, chunked, or up to the close).
// Unavailable when the status is not 200 (the message quotes the status and the body's first
// line); InvalidArgument when the bytes are not an HTTP response.
StatusOr<std::string> ParseHttpResponse(std::string_view raw);

// `to` when given; else the `listen` of DATA_DIR/run.json (a wildcard host becomes loopback);
// else `previous` (the address used so far: an agent that stopped removed its run.json, and the
// monitor should not turn to another agent on the default port); else "127.0.0.1:9529".
std::string ResolveMonitorAddress(const std::filesystem::path& data_dir, const std::string& to,
                                  const std::string& previous = "");

// Columns `text` takes on a terminal (UTF-8; East Asian wide characters count 2, combining
// marks 0; an invalid byte counts 1).
size_t DisplayWidth(std::string_view text);

}  // namespace pythond::agent
