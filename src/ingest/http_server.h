// HTTP/1.1 server on Boost.Beast, driven by the agent's io_context (event-loop thread only).
// Each connection reads one request at a time (keep-alive), with a 30 s idle/read timeout and a
// body limit; the handler runs inline on the event loop and must not block.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "ingest/api.h"

namespace pythond::ingest {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:9529";  // HOST:PORT, [V6]:PORT; port 0 picks a free port
  uint64_t body_limit = 64 << 20;         // bytes; larger bodies get 413
};

class HttpServer {
 public:
  using Handler = std::function<Answer(const Request&)>;

  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  ~HttpServer();

  // Binds and starts accepting. Errors: kInvalidArgument (bad listen string), kUnavailable
  // (address in use or not available) — the message names the address.
  [[nodiscard]] Status Start();
  // Stops accepting and closes idle connections; in-flight requests finish.
  void Stop();
  // The bound address, e.g. "127.0.0.1:9529" (after Start()).
  std::string bound_address() const;

 private:
  class Session;
  void Accept();

  boost::asio::io_context& io_;
  HttpServerOptions options_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<bool> alive_;  // sessions check it before calling the handler
};

// Splits "host:port" / "[v6]:port" / ":port". Returns false on malformed input.
bool SplitHostPort(const std::string& listen, std::string* host, uint16_t* port);

}  // namespace pythond::ingest
