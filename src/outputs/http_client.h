// A small synchronous HTTP/1.1 client for the outputs' senders: one base URL, one kept-alive
// connection (opened on first use, reopened after a failure), one overall deadline per request,
// http and https (OpenSSL, peer verified against the system's CAs). Also the URL parser and the
// gzip encoder the senders use.
//
// Thread-compatibility: an HttpClient has its own io_context and is used by one thread at a
// time (an output's forwarder thread); Post() blocks that thread. Url, ParseUrl and
// GzipCompress are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pythond::outputs {

// An absolute http(s) URL, split. Credentials stay here; Redacted() is what logs may show.
struct Url {
  std::string scheme;              // "http" or "https" (lower case)
  std::string host;                // "127.0.0.1", "::1" (no brackets), "example.com"
  uint16_t port = 0;               // the scheme's default when the URL gives none
  std::string path;                // "" for the root, else "/prefix" (never ends with '/')
  std::string query;               // what follows '?', undecoded, "" when none
  std::string username, password;  // from "user:pass@", percent-decoded

  // "http://127.0.0.1:8086/prefix": scheme, host, port and path; never user info or query
  // (a Dataway URL carries its token in the query).
  std::string Redacted() const;
  // "127.0.0.1:8086", "[::1]:8086": for error messages.
  std::string HostPort() const;
};

// Parses "http[s]://[user[:password]@]host[:port][/path][?query][#fragment]". Errors are
// kInvalidArgument and never quote the text (it may hold a password).
StatusOr<Url> ParseUrl(std::string_view text);

// Appends "key=value" to a query string (with '&' when `query` is not empty), both
// percent-encoded except for RFC 3986 unreserved characters.
void AppendQueryParam(std::string& query, std::string_view key, std::string_view value);

// One gzip member (RFC 1952) holding `data`, at zlib's default level.
std::string GzipCompress(std::string_view data);

struct HttpResponse {
  int status = 0;
  std::string body;  // at most Options::max_response_body_bytes
  bool body_truncated = false;
};

class HttpClient {
 public:
  struct Options {
    // Whole request, from connecting (and the TLS handshake) to the last byte of the answer.
    // Name resolution is not bounded by it (the system resolver's own timeout applies).
    int64_t timeout_ns = 10'000'000'000;
    // A longer answer body is cut to this (and its connection closed instead of reused).
    size_t max_response_body_bytes = 256 << 10;
    // https: PEM certificates trusted besides the system's (a private CA; tests).
    std::string extra_ca_pem;
  };

  // kInvalidArgument for a bad URL scheme, a timeout <= 0 or an unusable extra_ca_pem.
  static StatusOr<std::unique_ptr<HttpClient>> Create(Url url, Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const Url& url() const;

  // Sends `method` ("POST", "GET", ...) for `target` (origin form: "/write?db=x") with `body`
  // and `headers` added to Host, User-Agent and Content-Length. Any answer, whatever its status,
  // is a response. Errors are all kUnavailable (retryable): name resolution, connect, TLS,
  // timeout, a connection reset or closed early, a malformed answer; their messages name the
  // host and port, never credentials. A kept-alive connection the server had closed meanwhile
  // is detected and the request sent once more on a new connection, within the same deadline.
  // kInvalidArgument for an unknown method.
  StatusOr<HttpResponse> Request(std::string_view method, std::string_view target,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string_view body);
  StatusOr<HttpResponse> Post(std::string_view target,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view body) {
    return Request("POST", target, headers, body);
  }

  // Connections opened so far (tests check keep-alive reuse).
  uint64_t connections_opened() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pythond::outputs
