// HTTP/1.1 server on Boost.Beast, driven by the agent's io_context (event-loop thread only).
// Each connection reads one request at a time (keep-alive): headers within header_timeout (also
// the keep-alive idle limit), the whole request within read_timeout, the body within
// body_limit. A body of 64 KiB or more with a Content-Length is read straight into one buffer
// with SO_RCVLOWAT set (one wake-up per 256 KiB buffered, not one per TCP segment). Connections
// beyond max_connections get 503 and are closed. A write arriving while the sinks are full waits
// with its body unread (hold_body, write_wait_ns). The handler runs inline on the event loop and
// must not block.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "ingest/api.h"

namespace pythond::ingest {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:9529";       // HOST:PORT, [V6]:PORT; port 0 picks a free port
  uint64_t body_limit = 32 << 20;              // bytes; larger bodies get 413
  int64_t header_timeout_ns = 10'000'000'000;  // idle keep-alive or slow headers: closed
  int64_t read_timeout_ns = 30'000'000'000;    // a whole request, headers and body
  size_t max_connections = 1024;               // beyond: 503 and close
  // One client address (all its ports) may hold at most this many; and the last
  // loopback_reserved of max_connections are kept for loopback clients (scripts, the operator)
  // while other hosts fill the rest. Both answered 503 and closed.
  size_t max_connections_per_client = 256;
  size_t loopback_reserved = 64;
  // Backpressure: when set and true for a request's target (the agent: a write while the
  // store's queue is full), its body is left unread until it returns false — TCP slows the
  // client down — and after write_wait_ns the answer is 503 datakit.busy. Checked on the event
  // loop; must be cheap.
  std::function<bool(std::string_view target)> hold_body;
  int64_t write_wait_ns = 10'000'000'000;
  // Called with a request's headers (no body) before its body is read: an answer refuses it
  // there (the connection then closes after discarding what the client still sends).
  std::function<std::optional<Answer>(const Request&)> screen;
};

class HttpServer {
 public:
  // Answers a request by calling `respond` once, now or later (on the event loop).
  using Handler = std::function<void(const Request&, std::function<void(Answer)> respond)>;

  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  ~HttpServer();

  // Binds and starts accepting. Errors: kInvalidArgument (bad listen string), kUnavailable
  // (address in use or not available) — the message names the address.
  [[nodiscard]] Status Start();
  // Stops accepting and closes idle connections; in-flight requests finish.
  void Stop();
  // The bound address, e.g. "127.0.0.1:9529" (after Start()).
  std::string bound_address() const;
  size_t open_connections() const { return *open_connections_; }
  uint64_t refused_connections() const { return refused_connections_; }
  size_t parked_requests() const { return parked_.size(); }
  uint64_t refused_busy() const { return refused_busy_; }  // 503 after write_wait

 private:
  class Session;
  void Accept();
  void Park(std::shared_ptr<Session> session);
  void ArmParkTimer();

  boost::asio::io_context& io_;
  HttpServerOptions options_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  std::shared_ptr<bool> alive_;  // sessions check it before calling the handler
  std::shared_ptr<size_t> open_connections_;
  // Open connections by client address (sessions may outlive the server: shared).
  std::shared_ptr<std::unordered_map<std::string, size_t>> per_client_;
  uint64_t refused_connections_ = 0;
  boost::asio::steady_timer park_timer_;
  bool park_timer_armed_ = false;
  // Held writes, oldest first; owned here (no I/O is pending on them while parked).
  std::vector<std::shared_ptr<Session>> parked_;
  uint64_t refused_busy_ = 0;
};

// Splits "host:port" / "[v6]:port" / ":port". Returns false on malformed input.
bool SplitHostPort(const std::string& listen, std::string* host, uint16_t* port);

}  // namespace pythond::ingest
