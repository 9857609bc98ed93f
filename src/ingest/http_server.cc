#include "ingest/http_server.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>

#include "common/logging.h"

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
  if (host->empty()) *host = "0.0.0.0";
  return true;
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(tcp::socket socket, HttpServer* server)
      : stream_(std::move(socket)),
        server_(server),
        alive_(server->alive_),
        body_limit_(server->options_.body_limit) {}

  void Start() { Read(); }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
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
                        "request body is larger than " + std::to_string(body_limit_) + " bytes"),
            false, 11);
      return;
    }
    if (ec) {
      Reply(ErrorAnswer(400, "datakit.badRequest", "malformed HTTP request: " + ec.message()),
            false, 11);
      return;
    }
    auto& req = parser_->get();
    Request r;
    r.method = std::string_view(req.method_string().data(), req.method_string().size());
    r.target = std::string_view(req.target().data(), req.target().size());
    auto ct = req[http::field::content_type];
    r.content_type = std::string_view(ct.data(), ct.size());
    auto plugin = req["X-Pythond-Plugin"];
    r.plugin_header = std::string_view(plugin.data(), plugin.size());
    r.body = req.body();
    Answer a = server_->handler_(r);
    Reply(std::move(a), req.keep_alive(), req.version());
  }

  void Reply(Answer a, bool keep_alive, unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(a.status), version);
    res->set(http::field::server, "pythond");
    res->set(http::field::content_type, a.content_type);
    res->keep_alive(keep_alive);
    res->body() = std::move(a.body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) {
                          self->Close();
                        } else {
                          self->Read();
                        }
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
  uint64_t body_limit_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      acceptor_(io),
      alive_(std::make_shared<bool>(true)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  std::string host;
  uint16_t port;
  if (!SplitHostPort(options_.listen, &host, &port)) {
    return Status::InvalidArgument("listen address '" + options_.listen +
                                   "' is not HOST:PORT (e.g. 127.0.0.1:9529)");
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
      std::make_shared<Session>(std::move(socket), this)->Start();
    } else {
      LOG_WARN("http: accept failed: {}", ec.message());
    }
    Accept();
  });
}

void HttpServer::Stop() {
  *alive_ = false;
  beast::error_code ec;
  acceptor_.close(ec);
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
