#include "outputs/http_client.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <openssl/ssl.h>
#include <zlib.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <optional>

#include "common/strings.h"

namespace pythond::outputs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint16_t kHttpPort = 80;
constexpr uint16_t kHttpsPort = 443;

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Percent-decodes URL user info ("p%40ss" is "p@ss"). A malformed escape stays literal.
std::string DecodeUserInfo(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned byte = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, byte, 16).ptr == s.data() + i + 3) {
      out += static_cast<char>(byte);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool IsIpAddress(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Errors meaning the peer closed or reset the connection: on a kept-alive connection before
// any byte of the answer, the server dropped the idle connection and the request may be resent.
bool IsClosedByPeer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

}  // namespace

std::string Url::HostPort() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Url::Redacted() const { return scheme + "://" + HostPort() + path; }

StatusOr<Url> ParseUrl(std::string_view text) {
  text = TrimSpace(text);
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument("url must start with http:// or https://");
  }
  Url url;
  url.scheme = AsciiLower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return Status::InvalidArgument("url scheme must be http or https, not '" + url.scheme + "'");
  }
  std::string_view rest = text.substr(sep + 3);
  rest = rest.substr(0, rest.find('#'));
  const size_t authority_end = std::min(rest.find_first_of("/?"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail = rest.substr(authority_end);

  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view user_info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const size_t colon = user_info.find(':');
    url.username = DecodeUserInfo(user_info.substr(0, colon));
    if (colon != std::string_view::npos) url.password = DecodeUserInfo(user_info.substr(colon + 1));
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("url host has a '[' without its ']'");
    }
    url.host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      return Status::InvalidArgument("url host '[" + url.host + "]' is followed by junk");
    }
    if (!after.empty()) port_text = after.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return Status::InvalidArgument("url has no host");
  url.port = url.scheme == "https" ? kHttpsPort : kHttpPort;
  if (!port_text.empty()) {
    unsigned port = 0;
    auto res = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (res.ec != std::errc() || res.ptr != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return Status::InvalidArgument("url port must be a number from 1 to 65535");
    }
    url.port = static_cast<uint16_t>(port);
  }
  const size_t question = tail.find('?');
  url.path = tail.substr(0, question);
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  if (question != std::string_view::npos) url.query = tail.substr(question + 1);
  return url;
}

void AppendQueryParam(std::string& query, std::string_view key, std::string_view value) {
  auto append_encoded = [&query](std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
          u == '.' || u == '_' || u == '~') {
        query += c;
      } else {
        query += '%';
        query += kHex[u >> 4];
        query += kHex[u & 15];
      }
    }
  };
  if (!query.empty()) query += '&';
  append_encoded(key);
  query += '=';
  append_encoded(value);
}

std::string GzipCompress(std::string_view data) {
  z_stream zs{};
  // 15 window bits, +16 for a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    std::abort();  // only when out of memory
  }
  std::string out(deflateBound(&zs, data.size()), '\0');
  // avail_in/avail_out are 32-bit: feed at most 1 GiB at a time.
  constexpr size_t kMaxChunk = size_t{1} << 30;
  size_t in_pos = 0;
  size_t out_pos = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out_pos == out.size()) out.resize(out.size() * 2 + 64);
    const size_t in_chunk = std::min(data.size() - in_pos, kMaxChunk);
    const size_t out_chunk = std::min(out.size() - out_pos, kMaxChunk);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
    zs.avail_out = static_cast<uInt>(out_chunk);
    rc = deflate(&zs, in_pos + in_chunk == data.size() ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) std::abort();  // a broken z_stream is our bug
    in_pos += in_chunk - zs.avail_in;
    out_pos += out_chunk - zs.avail_out;
  }
  deflateEnd(&zs);
  out.resize(out_pos);
  return out;
}

struct HttpClient::Impl {
  Url url;
  Options options;
  std::string host_header;  // "example.com", "127.0.0.1:8086", "[::1]:8086"
  asio::io_context ioc;
  std::optional<ssl::context> tls;  // https only
  // The open connection, if any: at most one of the two is engaged.
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;  // bytes read past the last answer
  uint64_t connections_opened = 0;

  bool connected() const { return plain || secure; }
  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*secure); }

  // Calls f with the open stream, whichever its type.
  template <class F>
  beast::error_code WithStream(F&& f) {
    return plain ? f(*plain) : f(*secure);
  }

  // Starts one asynchronous operation and runs the io_context until it completes. The stream's
  // expiry (the request's deadline) ends it with beast::error::timeout if need be.
  template <class Start>
  beast::error_code Await(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  std::string Failure(std::string_view stage, const beast::error_code& ec) const {
    std::string m(stage);
    m += ' ';
    m += url.HostPort();
    m += ": ";
    if (ec == beast::error::timeout) {
      m += "timed out (the request's deadline of " + std::to_string(options.timeout_ns / 1000000) +
           " ms passed)";
    } else {
      m += ec.message();
    }
    return m;
  }

  void Close() {
    beast::error_code ignored;
    if (plain) plain->socket().close(ignored);
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    plain.reset();
    secure.reset();
    buffer.clear();
  }

  Status Connect(Clock::time_point deadline) {
    Close();
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec) return Status::Unavailable("cannot resolve " + url.host + ": " + ec.message());
    if (tls) {
      secure.emplace(ioc, *tls);
    } else {
      plain.emplace(ioc);
    }
    lowest().expires_at(deadline);
    ec = Await([&](auto handler) { lowest().async_connect(endpoints, std::move(handler)); });
    if (ec) {
      Close();
      return Status::Unavailable(Failure("cannot connect to", ec));
    }
    if (secure) {
      // SNI for names; the certificate must match the name or IP address either way.
      if (!IsIpAddress(url.host))
        SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str());
      secure->set_verify_callback(ssl::host_name_verification(url.host));
      ec = Await([&](auto handler) {
        secure->async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (ec) {
        Close();
        return Status::Unavailable(Failure("TLS handshake with", ec));
      }
    }
    ++connections_opened;
    return Status::Ok();
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() { impl_->Close(); }

StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(Url url, Options options) {
  if (options.timeout_ns <= 0) return Status::InvalidArgument("timeout must be positive");
  if (url.scheme != "http" && url.scheme != "https") {
    return Status::InvalidArgument("url scheme must be http or https");
  }
  auto impl = std::make_unique<Impl>();
  const uint16_t default_port = url.scheme == "https" ? kHttpsPort : kHttpPort;
  impl->host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.port != default_port) impl->host_header += ":" + std::to_string(url.port);
  if (url.scheme == "https") {
    try {
      auto& tls = impl->tls.emplace(ssl::context::tls_client);
      tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      beast::error_code ec;
      tls.set_default_verify_paths(ec);  // none on this machine: only extra_ca_pem is trusted
      if (!options.extra_ca_pem.empty()) {
        tls.add_certificate_authority(asio::buffer(options.extra_ca_pem), ec);
        if (ec) return Status::InvalidArgument("extra CA certificates: " + ec.message());
      }
      tls.set_verify_mode(ssl::verify_peer);
    } catch (const std::exception& e) {
      return Status::InvalidArgument(std::string("cannot set up TLS: ") + e.what());
    }
  }
  impl->url = std::move(url);
  impl->options = std::move(options);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

const Url& HttpClient::url() const { return impl_->url; }
uint64_t HttpClient::connections_opened() const { return impl_->connections_opened; }

StatusOr<HttpResponse> HttpClient::Request(
    std::string_view method, std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body) {
  Impl& d = *impl_;
  const Clock::time_point deadline = Clock::now() + std::chrono::nanoseconds(d.options.timeout_ns);
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) {
    return Status::InvalidArgument("unknown HTTP method " + std::string(method));
  }
  http::request<http::span_body<const char>> request{
      verb, beast::string_view(target.data(), target.size()), 11};
  request.set(http::field::host, d.host_header);
  request.set(http::field::user_agent, "pythond/" PYTHOND_VERSION);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = {body.data(), body.size()};
  request.prepare_payload();

  try {
    for (int attempt = 0;; ++attempt) {
      const bool reused = d.connected();
      if (!reused) {
        if (Status s = d.Connect(deadline); !s.ok()) return s;
      }
      d.lowest().expires_at(deadline);
      http::response_parser<http::string_body> parser;
      parser.body_limit(d.options.max_response_body_bytes);
      std::string_view stage = "cannot send to";
      beast::error_code ec = d.WithStream([&](auto& stream) {
        return d.Await(
            [&](auto handler) { http::async_write(stream, request, std::move(handler)); });
      });
      if (!ec) {
        stage = "no answer from";
        // The header alone first: Boost 1.74's parser misses an over-limit Content-Length when
        // it parses the header and body in one go (as async_read alone would).
        ec = d.WithStream([&](auto& stream) {
          return d.Await([&](auto handler) {
            http::async_read_header(stream, d.buffer, parser, std::move(handler));
          });
        });
      }
      if (!ec) {
        ec = d.WithStream([&](auto& stream) {
          return d.Await([&](auto handler) {
            http::async_read(stream, d.buffer, parser, std::move(handler));
          });
        });
      }
      HttpResponse response;
      if (ec == http::error::body_limit && parser.is_header_done()) {
        response.status = parser.get().result_int();
        response.body = std::move(parser.get().body());
        response.body.resize(std::min(response.body.size(), d.options.max_response_body_bytes));
        response.body_truncated = true;
        d.Close();  // the rest of the body is still on the wire
        return response;
      }
      if (ec) {
        const bool stale = reused && attempt == 0 && !parser.got_some() && IsClosedByPeer(ec);
        d.Close();
        if (stale && Clock::now() < deadline) continue;
        if (parser.got_some()) stage = "bad answer from";
        return Status::Unavailable(d.Failure(stage, ec));
      }
      response.status = parser.get().result_int();
      response.body = std::move(parser.get().body());
      if (!parser.get().keep_alive()) d.Close();
      return response;
    }
  } catch (const std::exception& e) {
    d.Close();
    return Status::Unavailable("request to " + d.url.HostPort() + " failed: " + e.what());
  }
}

}  // namespace pythond::outputs
