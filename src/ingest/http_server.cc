#include "ingest/http_server.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <array>
#include <charconv>
#include <string_view>

#include "common/logging.h"
#include "common/strings.h"

namespace pythond::ingest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool SplitHostPort(const std::string& listen, std::string* host, uint16_t* port) {
  size_t colon;
  if (!listen.empty() && listen.front() == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return false;
    }
    *host = listen.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = listen.rfind(':');
    if (colon == std::string::npos) return false;
    *host = listen.substr(0, colon);
  }
  std::string_view p(listen.data() + colon + 1, listen.size() - colon - 1);
  unsigned value = 0;
  auto res = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || res.ec != std::errc() || res.ptr != p.data() + p.size() || value > 65535) {
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(tcp::socket socket, HttpServer* server)
      : stream_(std::move(socket)),
        server_(server),
        alive_(server->alive_),
        open_connections_(server->open_connections_),
        options_(server->options_),
        per_client_(server->per_client_) {
    ++*open_connections_;
    beast::error_code ec;
    auto remote = stream_.socket().remote_endpoint(ec);
    auto address = remote.address();
    if (!ec && address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    loopback_ = !ec && address.is_loopback();
    client_ = ec ? std::string("?") : address.to_string();
    ++(*per_client_)[client_];
  }
  ~Session() {
    --*open_connections_;
    if (auto it = per_client_->find(client_); it != per_client_->end() && --it->second == 0) {
      per_client_->erase(it);
    }
  }

  void Start() { Read(); }

  // Why this connection may not be served ("" when it may): the limits count it already.
  std::string OverLimit() const {
    const size_t open = *open_connections_;
    if (open > options_.max_connections) {
      return "the agent serves at most " + std::to_string(options_.max_connections) +
             " connections (see [http_api] max_connections)";
    }
    const size_t reserved = std::min(options_.loopback_reserved, options_.max_connections / 4);
    if (!loopback_ && open > options_.max_connections - reserved) {
      return "the last " + std::to_string(reserved) + " of " +
             std::to_string(options_.max_connections) +
             " connections are kept for loopback clients (see [http_api] max_connections)";
    }
    if (per_client_->at(client_) > options_.max_connections_per_client) {
      return "one client may hold at most " + std::to_string(options_.max_connections_per_client) +
             " connections (see [http_api] max_connections_per_client)";
    }
    return "";
  }

  // Answers 503 and closes: a connection limit is reached.
  void RefuseBusy(const std::string& why) {
    Reply(ErrorAnswer(503, "datakit.tooManyConnections", why), false, 11, true);
  }

 private:
  void Read() {
    body_.reset();
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    // Phase 1: the headers (also bounds how long an idle keep-alive connection stays open).
    stream_.expires_after(std::chrono::nanoseconds(options_.header_timeout_ns));
    read_started_ = std::chrono::steady_clock::now();
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->OnRead(ec);
                              self->OnHeader();
                            });
  }

  // After the headers: an HTTP/1.1 client that sent `Expect: 100-continue` waits for an interim
  // "100 Continue" before it sends the body (curl for 1 s, then sends it anyway). Requests refused
  // on their headers alone never get here, so they get their final answer before the body: a
  // Content-Length over body_limit fails the header read with body_limit (Beast checks it right
  // after the header), which OnRead answers with 413; the connection-limit 503 precedes any read.
  void OnHeader() {
    screened_ = false;
    if (options_.screen) {
      Request r = HeadersOf(parser_->get());
      if (std::optional<Answer> refused = options_.screen(r)) {
        return Reply(std::move(*refused), false, parser_->get().version(), true);
      }
      screened_ = true;
    }
    if (MustWait()) return Park();
    ContinueThenReadBody();
  }

  // What the request's headers say (views into the parser's message).
  Request HeadersOf(const http::request<http::string_body>& req) const {
    auto view = [](boost::beast::string_view v) { return std::string_view(v.data(), v.size()); };
    Request r;
    r.method = view(req.method_string());
    r.target = view(req.target());
    r.content_type = view(req[http::field::content_type]);
    r.plugin_header = view(req["X-Pythond-Plugin"]);
    r.content_encoding = view(req[http::field::content_encoding]);
    r.host = view(req[http::field::host]);
    r.origin = view(req[http::field::origin]);
    r.remote_is_loopback = loopback_;
    return r;
  }

  // Backpressure: while the sinks are full, a write's body stays unread in the kernel, so TCP
  // slows the client down instead of the agent answering 503 at once. The server's timer calls
  // TryResume(); after write_wait the answer is 503 (before the body: no 100 Continue was sent).
  bool MustWait() const {
    if (!options_.hold_body) return false;
    auto target = parser_->get().target();
    return options_.hold_body(std::string_view(target.data(), target.size()));
  }

  void Park() {
    parked_at_ = std::chrono::steady_clock::now();
    stream_.expires_after(
        std::chrono::nanoseconds(options_.write_wait_ns + options_.read_timeout_ns));
    server_->Park(shared_from_this());
  }

 public:
  enum class Parked { kWaiting, kAdmitted, kGone };
  // Called on the server's timer while parked: admits the request when `may_admit` and the
  // sinks have room, refuses it after write_wait, closes it when the server stopped.
  Parked TryResume(std::chrono::steady_clock::time_point now, bool may_admit) {
    if (!*alive_) {
      Close();
      return Parked::kGone;
    }
    if (may_admit && !MustWait()) {
      admitted_ = true;
      read_started_ = now;  // the read budget starts when the agent is ready for the body
      ContinueThenReadBody();
      return Parked::kAdmitted;
    }
    if (now - parked_at_ < std::chrono::nanoseconds(options_.write_wait_ns)) {
      return Parked::kWaiting;
    }
    ++server_->refused_busy_;
    Reply(ErrorAnswer(503, "datakit.busy",
                      "the store stayed behind for " +
                          std::to_string(options_.write_wait_ns / 1'000'000) +
                          " ms (see [store] write_wait); retry later"),
          false, parser_->get().version(), true);
    return Parked::kGone;
  }

 private:
  // After the headers: an HTTP/1.1 client that sent `Expect: 100-continue` waits for an interim
  // "100 Continue" before it sends the body (curl for 1 s, then sends it anyway). Requests refused
  // on their headers alone never get here, so they get their final answer before the body: a
  // Content-Length over body_limit fails the header read with body_limit (Beast checks it right
  // after the header), which OnRead answers with 413; the connection-limit 503 precedes any read.
  void ContinueThenReadBody() {
    const auto& req = parser_->get();
    if (req.version() < 11 || parser_->is_done() ||
        !beast::iequals(req[http::field::expect], "100-continue")) {
      return ReadBody();
    }
    if (!*alive_) return Close();  // stopping: OnRead would drop the request after its body
    // The interim answer counts against the whole-request budget, as the body does.
    stream_.expires_at(read_started_ + std::chrono::nanoseconds(options_.read_timeout_ns));
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->ReadBody();
                      });
  }

  void ReadBody() {
    // Phase 2: the body, within what is left of the whole-request budget.
    stream_.expires_at(read_started_ + std::chrono::nanoseconds(options_.read_timeout_ns));
    auto length = parser_->content_length();
    if (parser_->is_done() || !length || parser_->chunked() || *length < kDirectBodyBytes) {
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
      return;
    }
    // A large body of known length goes straight from the socket into one buffer, in reads of
    // up to kLowWater bytes: Beast's parser would take it in reads of at most 64 KiB through
    // its own buffer and copy it again, and a reader as fast as the sender wakes for every
    // segment (on loopback, hundreds of reads of a few hundred bytes per 260 KB body).
    body_.emplace(static_cast<size_t>(*length));
    size_t have = std::min(buffer_.size(), body_->size());
    asio::buffer_copy(asio::buffer(body_->data(), have), buffer_.data());
    buffer_.consume(have);
    ReadBodyFrom(have);
  }

  void ReadBodyFrom(size_t have) {
    const size_t left = body_->size() - have;
    if (left == 0) {
      SetLowWater(1);
      return OnRead({});
    }
    // Wake when this much is buffered (or the whole rest), not at every segment.
    SetLowWater(std::min(left, kLowWater));
    stream_.async_read_some(
        asio::buffer(body_->data() + have, left),
        [self = shared_from_this(), have](beast::error_code ec, size_t n) {
          if (ec) {
            self->SetLowWater(1);
            return self->OnRead(
                ec == asio::error::eof ? beast::error_code(http::error::partial_message) : ec);
          }
          self->ReadBodyFrom(have + n);
        });
  }

  void SetLowWater(size_t bytes) {
    if (bytes == low_water_) return;
    int value = static_cast<int>(bytes);
    if (setsockopt(stream_.socket().native_handle(), SOL_SOCKET, SO_RCVLOWAT, &value,
                   sizeof value) == 0) {
      low_water_ = bytes;
    }
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      Close();
      return;
    }
    if (!*alive_) {
      Close();
      return;
    }
    if (ec == http::error::body_limit) {
      Reply(ErrorAnswer(413, "datakit.bodyTooLarge",
                        "request body is larger than " + std::to_string(options_.body_limit) +
                            " bytes (see [http_api] max_body_mb)"),
            false, 11, true);
      return;
    }
    if (ec) {
      Reply(ErrorAnswer(400, "datakit.badRequest", "malformed HTTP request: " + ec.message()),
            false, 11, true);
      return;
    }
    auto& req = parser_->get();
    Request r = HeadersOf(req);
    r.body = body_ ? std::string_view(body_->data(), body_->size()) : std::string_view(req.body());
    r.admitted = admitted_ || static_cast<bool>(options_.hold_body);
    r.screened = screened_;
    // The request's views point into parser_, which stays until the answer is written.
    server_->handler_(
        r, [self = shared_from_this(), keep_alive = req.keep_alive(),
            version = req.version()](Answer a) { self->Reply(std::move(a), keep_alive, version); });
  }

  // `linger`: the request (body) may not have been read, as for 413: after the answer, read
  // and discard what the client still sends (bounded) before closing, or the kernel resets the
  // connection and the client never sees the answer.
  void Reply(Answer a, bool keep_alive, unsigned version, bool linger = false) {
    // A fresh deadline for the answer: a write may have waited for an output's fsync past the
    // request's read deadline, and an expired timer would fail this write at once.
    stream_.expires_after(std::chrono::nanoseconds(options_.read_timeout_ns));
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(a.status), version);
    res->set(http::field::server, "pythond");
    res->set(http::field::content_type, a.content_type);
    // Browsers must not guess types, frame the agent, or run anything an answer might hold;
    // the status page loads only its own files (and a data: icon).
    res->set("X-Content-Type-Options", "nosniff");
    res->set("Content-Security-Policy",
             StartsWith(a.content_type, "text/html")
                 ? "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'none'"
                 : "default-src 'none'; frame-ancestors 'none'");
    for (const auto& [name, value] : a.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(a.body);
    res->prepare_payload();
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res, keep_alive, linger](beast::error_code ec, size_t) {
          if (!ec && linger) {
            self->LingeringClose();
          } else if (ec || !keep_alive) {
            self->Close();
          } else {
            self->Read();
          }
        });
  }

  void LingeringClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(5));
    drain_buffer_ = std::make_unique<std::array<char, 65536>>();
    Drain(0);
  }

  void Drain(uint64_t drained) {
    if (drained > kMaxDrainBytes) return Close();
    stream_.async_read_some(asio::buffer(*drain_buffer_),
                            [self = shared_from_this(), drained](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->Drain(drained + n);
                            });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer* server_;
  std::shared_ptr<bool> alive_;  // false once the server stopped: server_ may be gone
  std::shared_ptr<size_t> open_connections_;
  const HttpServerOptions options_;
  std::shared_ptr<std::unordered_map<std::string, size_t>> per_client_;
  std::string client_;  // the peer's address
  bool loopback_ = false;
  bool admitted_ = false;
  bool screened_ = false;  // the headers passed options_.screen
  std::chrono::steady_clock::time_point read_started_;
  std::chrono::steady_clock::time_point parked_at_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // A large body read past the parser (ReadBody), uninitialised until read.
  struct BodyBuffer {
    explicit BodyBuffer(size_t n) : bytes(new char[n]), length(n) {}
    char* data() { return bytes.get(); }
    size_t size() const { return length; }
    std::unique_ptr<char[]> bytes;
    size_t length;
  };
  std::optional<BodyBuffer> body_;
  size_t low_water_ = 1;  // the socket's SO_RCVLOWAT
  static constexpr uint64_t kDirectBodyBytes = 64 << 10;
  static constexpr size_t kLowWater = 256 << 10;
  std::unique_ptr<std::array<char, 65536>> drain_buffer_;
  static constexpr uint64_t kMaxDrainBytes = 256ull << 20;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      acceptor_(io),
      accept_retry_(io),
      alive_(std::make_shared<bool>(true)),
      open_connections_(std::make_shared<size_t>(0)),
      per_client_(std::make_shared<std::unordered_map<std::string, size_t>>()),
      park_timer_(io) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  std::string host;
  uint16_t port;
  if (!SplitHostPort(options_.listen, &host, &port)) {
    return Status::InvalidArgument("listen address '" + options_.listen +
                                   "' is not HOST:PORT (e.g. 127.0.0.1:9529)");
  }
  if (host.empty()) {
    // The resolver would bind every interface: opening the API to the network must be said.
    return Status::InvalidArgument("listen address '" + options_.listen +
                                   "' names no host: write \"127.0.0.1:" + std::to_string(port) +
                                   "\" (this machine only) or \"0.0.0.0:" + std::to_string(port) +
                                   "\" (every interface; see docs/SECURITY.md)");
  }
  beast::error_code ec;
  tcp::resolver resolver(io_);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument("cannot resolve listen host '" + host + "': " + ec.message());
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Status::Unavailable("cannot listen on " + options_.listen + ": " + ec.message() +
                               (ec == asio::error::address_in_use
                                    ? " (another agent, or DataKit, already uses it? set "
                                      "[http_api] listen or --listen)"
                                    : ""));
  }
  Accept();
  return Status::Ok();
}

void HttpServer::Accept() {
  acceptor_.async_accept(io_, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<Session>(std::move(socket), this);
      if (std::string why = session->OverLimit(); !why.empty()) {
        ++refused_connections_;
        session->RefuseBusy(why);
      } else {
        session->Start();
      }
    } else {
      // E.g. EMFILE: back off instead of spinning on a failing accept.
      LOG_WARN("http: accept failed: {}; retrying in 100 ms", ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) Accept();
      });
      return;
    }
    Accept();
  });
}

void HttpServer::Stop() {
  *alive_ = false;
  beast::error_code ec;
  acceptor_.close(ec);
  accept_retry_.cancel();
  park_timer_.cancel();
  auto parked = std::move(parked_);
  parked_.clear();
  for (auto& session : parked) session->TryResume(std::chrono::steady_clock::now(), false);
}

void HttpServer::Park(std::shared_ptr<Session> session) {
  parked_.push_back(session);
  ArmParkTimer();
}

void HttpServer::ArmParkTimer() {
  if (park_timer_armed_ || parked_.empty()) return;
  park_timer_armed_ = true;
  park_timer_.expires_after(std::chrono::milliseconds(2));
  park_timer_.async_wait([this](beast::error_code ec) {
    park_timer_armed_ = false;
    if (ec || !*alive_) return;
    // Oldest first; at most one admitted per tick, since the sinks' room only shows the bodies
    // admitted before once they are parsed and queued. Sessions past write_wait are refused.
    auto now = std::chrono::steady_clock::now();
    bool admitted = false;
    for (auto it = parked_.begin(); it != parked_.end();) {
      Session::Parked state = (*it)->TryResume(now, !admitted);
      admitted = admitted || state == Session::Parked::kAdmitted;
      it = state == Session::Parked::kWaiting ? it + 1 : parked_.erase(it);
    }
    ArmParkTimer();
  });
}

std::string HttpServer::bound_address() const {
  beast::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  if (ec) return options_.listen;
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

}  // namespace pythond::ingest
