// HttpClient, InfluxDbSender and DataKitSender against an in-process HTTP(S) server on
// 127.0.0.1:0 that records what it gets and answers as each test scripts it.
#include "outputs/http_sender.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "ingest/body_decoder.h"
#include "model/point.h"
#include "outputs/http_client.h"
#include "outputs/influxdb_lines.h"

namespace pythond::outputs {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Kind = SendResult::Kind;
using Headers = std::vector<std::pair<std::string, std::string>>;

// What the fake server does with the next request.
struct Answer {
  int status = 204;
  std::string body;
  enum class Then {
    kKeepAlive,           // answer, keep the connection
    kCloseAnnounced,      // answer with "Connection: close", then close
    kCloseUnannounced,    // answer as if keeping the connection, then close it
    kNeverAnswer,         // read on, never answer (the client times out)
    kCloseWithoutAnswer,  // close the connection instead of answering
  } then = Then::kKeepAlive;
};

struct Received {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  int connection = 0;  // 1 for the first accepted connection, ...
};

// An HTTP/1.1 server on 127.0.0.1:0 on its own thread; with a TLS context, an HTTPS one.
// Answers are taken in order from the script, then 204 for everything.
class FakeServer {
 public:
  explicit FakeServer(ssl::context* tls = nullptr) : tls_(tls) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeServer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  void Script(Answer answer) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(answer));
  }
  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  int connections() const {
    std::lock_guard lock(mu_);
    return connections_;
  }

 private:
  template <class Stream>
  class Session : public std::enable_shared_from_this<Session<Stream>> {
   public:
    Session(Stream stream, FakeServer* server, int id)
        : stream_(std::move(stream)), server_(server), id_(id) {}

    void Start() {
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        Read();
      } else {
        stream_.async_handshake(ssl::stream_base::server,
                                [self = this->shared_from_this()](beast::error_code ec) {
                                  if (!ec) self->Read();
                                });
      }
    }

   private:
    void Read() {
      request_ = {};
      http::async_read(stream_, buffer_, request_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         if (!ec) self->OnRequest();
                       });
    }

    void OnRequest() {
      const Answer answer = server_->Record(request_, id_);
      if (answer.then == Answer::Then::kNeverAnswer) return Read();
      if (answer.then == Answer::Then::kCloseWithoutAnswer) return Close();
      response_ = {static_cast<http::status>(answer.status), 11};
      const bool bodiless = answer.status / 100 == 1 || answer.status == 204 ||
                            answer.status == 304;  // Beast refuses to send a body with these
      if (!bodiless) response_.body() = answer.body;
      response_.keep_alive(answer.then != Answer::Then::kCloseAnnounced);
      response_.prepare_payload();
      http::async_write(
          stream_, response_,
          [self = this->shared_from_this(), then = answer.then](beast::error_code ec, size_t) {
            if (ec || then != Answer::Then::kKeepAlive) return self->Close();
            self->Read();
          });
    }

    void Close() {
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).close(ignored);
    }

    Stream stream_;
    FakeServer* server_;
    int id_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    http::response<http::string_body> response_;
  };

  void Accept() {
    acceptor_.async_accept(ioc_, [this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      int id;
      {
        std::lock_guard lock(mu_);
        id = ++connections_;
      }
      if (tls_) {
        std::make_shared<Session<beast::ssl_stream<tcp::socket>>>(
            beast::ssl_stream<tcp::socket>(std::move(socket), *tls_), this, id)
            ->Start();
      } else {
        std::make_shared<Session<tcp::socket>>(std::move(socket), this, id)->Start();
      }
      Accept();
    });
  }

  Answer Record(const http::request<http::string_body>& request, int connection) {
    Received r;
    r.method = std::string(request.method_string());
    r.target = std::string(request.target());
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
    r.body = request.body();
    r.connection = connection;
    std::lock_guard lock(mu_);
    received_.push_back(std::move(r));
    if (script_.empty()) return Answer{};
    Answer next = std::move(script_.front());
    script_.pop_front();
    return next;
  }

  ssl::context* tls_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::thread thread_;     // runs ioc_
  mutable std::mutex mu_;  // guards the three below
  std::deque<Answer> script_;
  std::vector<Received> received_;
  int connections_ = 0;
};

// A port on 127.0.0.1 with nothing listening: bound, then released.
uint16_t UnusedPort() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

std::string Gunzip(const std::string& body) {
  auto decoded = ingest::DecodeBody(body, "gzip", 64 << 20);
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
  return decoded.ok() ? *decoded : "";
}

std::unique_ptr<HttpClient> MakeClient(const std::string& url, int64_t timeout_ns = 5'000'000'000,
                                       std::string extra_ca_pem = "") {
  auto parsed = ParseUrl(url);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  HttpClient::Options options;
  options.timeout_ns = timeout_ns;
  options.extra_ca_pem = std::move(extra_ca_pem);
  auto client = HttpClient::Create(*parsed, options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(*client);
}

config::OutputConfig InfluxConfig(const std::string& url) {
  config::OutputConfig c;
  c.type = "influxdb";
  c.influxdb.url = url;
  c.timeout_ns = 5'000'000'000;
  return c;
}

config::OutputConfig DataKitConfig(const std::string& url) {
  config::OutputConfig c;
  c.type = "datakit";
  c.datakit.url = url;
  c.timeout_ns = 5'000'000'000;
  return c;
}

std::unique_ptr<Sender> MakeSender(const config::OutputConfig& c) {
  std::string error;
  auto sender = MakeHttpSender(c, &error);
  EXPECT_NE(sender, nullptr) << error;
  return sender;
}

std::string MakeSenderError(const config::OutputConfig& c) {
  std::string error;
  EXPECT_EQ(MakeHttpSender(c, &error), nullptr);
  return error;
}

SendBatch Batch(std::string_view lines, model::Category category = model::Category::kMetric) {
  return SendBatch{category, lines, 1};
}

constexpr std::string_view kLines = "cpu,host=a usage=1.5,n=3i 1700000000000000000\n";

// --- URLs, query strings, gzip ---

TEST(HttpSenderUrl, ParsesEveryPart) {
  auto url = ParseUrl(" HTTPS://us%65r:p%40ss:w@Example.com:8443/pre/fix/?token=t&x=1#frag ");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->username, "user");
  EXPECT_EQ(url->password, "p@ss:w");
  EXPECT_EQ(url->host, "Example.com");
  EXPECT_EQ(url->port, 8443);
  EXPECT_EQ(url->path, "/pre/fix");
  EXPECT_EQ(url->query, "token=t&x=1");
  EXPECT_EQ(url->Redacted(), "https://Example.com:8443/pre/fix");
}

TEST(HttpSenderUrl, DefaultsAndIpv6) {
  auto url = ParseUrl("http://[::1]/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->path, "");
  EXPECT_EQ(url->HostPort(), "[::1]:80");
  url = ParseUrl("https://openway.guance.com?token=tkn_1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->path, "");
  EXPECT_EQ(url->query, "token=tkn_1");
  EXPECT_EQ(url->Redacted(), "https://openway.guance.com:443");
}

TEST(HttpSenderUrl, RefusesBadUrlsWithoutQuotingThem) {
  for (const char* bad :
       {"ftp://u:secret@h", "u:secret@h:80", "http://u:secret@:80/", "http://u:secret@h:0",
        "http://u:secret@h:65536", "http://u:secret@h:8x", "http://u:secret@[::1:80"}) {
    auto url = ParseUrl(bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(url.status().message().find("secret"), std::string::npos) << url.status().message();
  }
}

TEST(HttpSenderUrl, QueryParamsArePercentEncoded) {
  std::string query;
  AppendQueryParam(query, "db", "my db/ü&x=1");
  AppendQueryParam(query, "rp", "a-b_c.d~");
  EXPECT_EQ(query, "db=my%20db%2F%C3%BC%26x%3D1&rp=a-b_c.d~");
}

TEST(HttpSenderGzip, RoundTrips) {
  std::string big;
  for (int i = 0; i < 100000; ++i)
    big += "cpu,host=h" + std::to_string(i % 7) + " v=" + std::to_string(i) + "\n";
  for (const std::string& data : {std::string(), std::string("x"), big}) {
    const std::string gz = GzipCompress(data);
    ASSERT_GE(gz.size(), 18u);  // header and trailer at least
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    EXPECT_EQ(Gunzip(gz), data);
  }
  EXPECT_LT(GzipCompress(big).size(), big.size() / 4);
}

// --- the client ---

TEST(HttpSenderClient, SendsMethodTargetHeadersAndBody) {
  FakeServer server;
  server.Script({200, "hello"});
  auto client = MakeClient(server.url() + "/base");
  auto response =
      client->Post("/x?y=1", {{"X-Custom", "v"}, {"Content-Type", "text/plain"}}, "body bytes");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
  auto got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/x?y=1");
  EXPECT_EQ(got[0].body, "body bytes");
  EXPECT_EQ(got[0].headers["x-custom"], "v");
  EXPECT_EQ(got[0].headers["content-type"], "text/plain");
  EXPECT_EQ(got[0].headers["content-length"], "10");
  EXPECT_EQ(got[0].headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(got[0].headers["user-agent"].rfind("pythond/", 0), 0u);

  auto get = client->Request("GET", "/health", {}, "");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(server.received().at(1).method, "GET");
  EXPECT_FALSE(client->Request("BREW", "/", {}, "").ok());
}

TEST(HttpSenderClient, KeepAliveReusesOneConnection) {
  FakeServer server;
  auto client = MakeClient(server.url());
  for (int i = 0; i < 5; ++i) {
    auto response = client->Post("/write", {}, "x");
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 204);
  }
  EXPECT_EQ(client->connections_opened(), 1u);
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.received().size(), 5u);
}

// The server closes after answering, saying so ("Connection: close") or not (an idle
// connection dropped: the client finds out when it sends on it, and sends again on a new one).
TEST(HttpSenderClient, ReconnectsAfterTheServerClosed) {
  for (Answer::Then then : {Answer::Then::kCloseAnnounced, Answer::Then::kCloseUnannounced}) {
    FakeServer server;
    server.Script({204, "", then});
    auto client = MakeClient(server.url());
    ASSERT_TRUE(client->Post("/write", {}, "1").ok());
    auto second = client->Post("/write", {}, "2");
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->status, 204);
    EXPECT_EQ(client->connections_opened(), 2u);
    auto got = server.received();
    ASSERT_EQ(got.size(), 2u);  // each request reached the server once
    EXPECT_EQ(got[0].connection, 1);
    EXPECT_EQ(got[1].connection, 2);
    EXPECT_EQ(got[1].body, "2");
  }
}

TEST(HttpSenderClient, ConnectionClosedWithoutAnswerOnANewConnectionIsAnError) {
  FakeServer server;
  server.Script({204, "", Answer::Then::kCloseWithoutAnswer});
  auto client = MakeClient(server.url());
  auto response = client->Post("/write", {}, "1");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server.received().size(), 1u);            // not sent twice
  EXPECT_TRUE(client->Post("/write", {}, "2").ok());  // and the client recovers
}

TEST(HttpSenderClient, ConnectionRefusedIsUnavailable) {
  auto client = MakeClient("http://127.0.0.1:" + std::to_string(UnusedPort()));
  auto response = client->Post("/write", {}, "x");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find("cannot connect to 127.0.0.1:"), std::string::npos)
      << response.status().message();
}

TEST(HttpSenderClient, NoAnswerTimesOut) {
  FakeServer server;
  server.Script({204, "", Answer::Then::kNeverAnswer});
  auto client = MakeClient(server.url(), 300'000'000);
  auto response = client->Post("/write", {}, "x");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find("timed out"), std::string::npos)
      << response.status().message();
  EXPECT_TRUE(client->Post("/write", {}, "y").ok());  // a new connection serves the next one
  EXPECT_EQ(client->connections_opened(), 2u);
}

TEST(HttpSenderClient, LongAnswerIsCutAndItsConnectionClosed) {
  FakeServer server;
  server.Script({500, std::string(1 << 20, 'e')});
  auto parsed = ParseUrl(server.url());
  ASSERT_TRUE(parsed.ok());
  HttpClient::Options options;
  options.max_response_body_bytes = 1000;
  auto client = HttpClient::Create(*parsed, options);
  ASSERT_TRUE(client.ok());
  auto response = (*client)->Post("/write", {}, "x");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 500);
  EXPECT_TRUE(response->body_truncated);
  EXPECT_LE(response->body.size(), 1000u);
  ASSERT_TRUE((*client)->Post("/write", {}, "y").ok());
  EXPECT_EQ((*client)->connections_opened(), 2u);
}

TEST(HttpSenderClient, RefusesBadOptions) {
  auto url = ParseUrl("http://127.0.0.1:1");
  ASSERT_TRUE(url.ok());
  HttpClient::Options options;
  options.timeout_ns = 0;
  EXPECT_EQ(HttpClient::Create(*url, options).status().code(), StatusCode::kInvalidArgument);
  url = ParseUrl("https://127.0.0.1:1");
  ASSERT_TRUE(url.ok());
  options = {};
  options.extra_ca_pem = "not a certificate";
  EXPECT_EQ(HttpClient::Create(*url, options).status().code(), StatusCode::kInvalidArgument);
}

// --- TLS ---

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed P-256 certificate for `names` (subjectAltName syntax), valid for a day.
TestCertificate MakeCertificate(const char* names = "IP:127.0.0.1,DNS:localhost") {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x509 = X509_new();
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509), 24 * 3600);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("pythond test"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, names);
  X509_add_ext(x509, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(x509, key, EVP_sha256());
  auto to_pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, size);
    BIO_free(bio);
    return pem;
  };
  TestCertificate out;
  out.cert_pem = to_pem([&](BIO* bio) { PEM_write_bio_X509(bio, x509); });
  out.key_pem = to_pem(
      [&](BIO* bio) { PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x509);
  EVP_PKEY_free(key);
  return out;
}

class HttpSenderTls : public ::testing::Test {
 protected:
  HttpSenderTls() : certificate_(MakeCertificate()), tls_(ssl::context::tls_server) {
    tls_.use_certificate_chain(asio::buffer(certificate_.cert_pem));
    tls_.use_private_key(asio::buffer(certificate_.key_pem), ssl::context::pem);
  }
  TestCertificate certificate_;
  ssl::context tls_;
};

TEST_F(HttpSenderTls, TrustedCertificateWorksWithKeepAlive) {
  FakeServer server(&tls_);
  auto client = MakeClient(server.url() + "/p", 5'000'000'000, certificate_.cert_pem);
  for (int i = 0; i < 3; ++i) {
    auto response = client->Post("/p/write", {}, "secret body");
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 204);
  }
  EXPECT_EQ(client->connections_opened(), 1u);
  auto got = server.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].body, "secret body");
  EXPECT_EQ(got[0].target, "/p/write");
}

TEST_F(HttpSenderTls, UntrustedCertificateIsUnavailable) {
  FakeServer server(&tls_);
  auto client = MakeClient(server.url());
  auto response = client->Post("/write", {}, "x");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find("TLS handshake with 127.0.0.1:"), std::string::npos)
      << response.status().message();
  EXPECT_NE(response.status().message().find("certificate verify failed"), std::string::npos)
      << response.status().message();
  EXPECT_TRUE(server.received().empty());
}

TEST_F(HttpSenderTls, HostNameIsSentAndChecked) {
  FakeServer server(&tls_);
  // localhost may resolve to ::1 first, where nothing listens: the client tries every address.
  auto client = MakeClient("https://localhost:" + std::to_string(server.port()), 5'000'000'000,
                           certificate_.cert_pem);
  auto response = client->Post("/write", {}, "x");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(server.received().at(0).headers["host"], "localhost:" + std::to_string(server.port()));
}

TEST_F(HttpSenderTls, CertificateForAnotherHostIsRefused) {
  const TestCertificate other = MakeCertificate("DNS:other.example");
  ssl::context tls(ssl::context::tls_server);
  tls.use_certificate_chain(asio::buffer(other.cert_pem));
  tls.use_private_key(asio::buffer(other.key_pem), ssl::context::pem);
  FakeServer server(&tls);
  auto client = MakeClient(server.url(), 5'000'000'000, other.cert_pem);  // trusted, wrong name
  auto response = client->Post("/write", {}, "x");
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.status().message().find("certificate verify failed"), std::string::npos)
      << response.status().message();
}

// --- InfluxDbSender ---

TEST(InfluxDbSender, V1PathParamsBasicAuthAndGzip) {
  FakeServer server;
  auto c = InfluxConfig(server.url());
  c.influxdb.database = "my db";
  c.influxdb.retention_policy = "week";
  c.influxdb.username = "admin";
  c.influxdb.password = "s3cret!";
  auto sender = MakeSender(c);
  SendResult result = sender->Send(Batch(kLines));
  EXPECT_EQ(result.kind, Kind::kOk) << result.error;
  auto got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/write?db=my%20db&rp=week&precision=ns");
  std::string basic;
  model::AppendBase64(basic, "admin:s3cret!");
  EXPECT_EQ(got[0].headers["authorization"], "Basic " + basic);
  EXPECT_EQ(got[0].headers["content-encoding"], "gzip");
  EXPECT_EQ(Gunzip(got[0].body), kLines);
  EXPECT_EQ(sender->Describe(), "influxdb v1 http://127.0.0.1:" + std::to_string(server.port()) +
                                    "/write?db=my%20db&rp=week&precision=ns");
}

TEST(InfluxDbSender, V1CredentialsFromTheUrlAndItsPrefixAndQuery) {
  FakeServer server;
  auto c = InfluxConfig("http://bob:pw%2Fd@127.0.0.1:" + std::to_string(server.port()) +
                        "/influx/?extra=1");
  c.influxdb.gzip = false;
  c.influxdb.database = "";
  auto sender = MakeSender(c);
  EXPECT_EQ(sender->Send(Batch(kLines)).kind, Kind::kOk);
  auto got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/influx/write?precision=ns&extra=1");
  std::string basic;
  model::AppendBase64(basic, "bob:pw/d");
  EXPECT_EQ(got[0].headers["authorization"], "Basic " + basic);
  EXPECT_EQ(got[0].headers.count("content-encoding"), 0u);
  EXPECT_EQ(got[0].body, kLines);
  EXPECT_EQ(sender->Describe().find("bob"), std::string::npos);
  EXPECT_EQ(sender->Describe().find("extra"), std::string::npos);
}

TEST(InfluxDbSender, V2PathParamsAndToken) {
  FakeServer server;
  auto c = InfluxConfig(server.url());
  c.influxdb.org = "my org";
  c.influxdb.bucket = "b1";
  c.influxdb.token = "tok/=+";
  auto sender = MakeSender(c);  // version "" with a bucket: v2
  EXPECT_EQ(sender->Send(Batch(kLines)).kind, Kind::kOk);
  c.influxdb.version = "v2";
  c.influxdb.org = "";
  c.influxdb.token = "";
  EXPECT_EQ(MakeSender(c)->Send(Batch(kLines)).kind, Kind::kOk);
  auto got = server.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].target, "/api/v2/write?org=my%20org&bucket=b1&precision=ns");
  EXPECT_EQ(got[0].headers["authorization"], "Token tok/=+");
  EXPECT_EQ(Gunzip(got[0].body), kLines);
  EXPECT_EQ(got[1].target, "/api/v2/write?bucket=b1&precision=ns");
  EXPECT_EQ(got[1].headers.count("authorization"), 0u);
  EXPECT_EQ(sender->Describe().find("tok"), std::string::npos);
}

TEST(InfluxDbSender, ExplicitV1IgnoresOrgAndBucket) {
  FakeServer server;
  auto c = InfluxConfig(server.url());
  c.influxdb.version = "v1";
  c.influxdb.bucket = "b";
  EXPECT_EQ(MakeSender(c)->Send(Batch(kLines)).kind, Kind::kOk);
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0].target, "/write?db=pythond&precision=ns");
}

TEST(InfluxDbSender, UnsignedBytesAndArraysAreMadeReadableForV1) {
  FakeServer server;
  auto c = InfluxConfig(server.url());
  c.influxdb.gzip = false;
  auto sender = MakeSender(c);
  EXPECT_EQ(sender
                ->Send(Batch("m,t=1u u=5u,big=18446744073709551615u,b=\"aGk=\"b,a=[1u,2u],"
                             "s=\"7u\" 1\nm x=1i 2\n"))
                .kind,
            Kind::kOk);
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0].body,
            "m,t=1u u=5i,big=9223372036854775807i,b=\"aGk=\",a=\"[1u,2u]\",s=\"7u\" 1\n"
            "m x=1i 2\n");
}

TEST(InfluxDbSender, V2KeepsUnsigned) {
  FakeServer server;
  auto c = InfluxConfig(server.url());
  c.influxdb.bucket = "b";
  c.influxdb.gzip = false;
  EXPECT_EQ(MakeSender(c)->Send(Batch("m u=5u,b=\"aGk=\"b 1\n")).kind, Kind::kOk);
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0].body, "m u=5u,b=\"aGk=\" 1\n");
}

TEST(InfluxDbSender, AnswersAreClassified) {
  struct Case {
    int status;
    Kind kind;
  };
  for (Case test : std::vector<Case>{{204, Kind::kOk},
                                     {200, Kind::kOk},
                                     {500, Kind::kRetry},
                                     {502, Kind::kRetry},
                                     {503, Kind::kRetry},
                                     {429, Kind::kRetry},
                                     {408, Kind::kRetry},
                                     {302, Kind::kRetry},
                                     {400, Kind::kReject},
                                     {413, Kind::kReject},
                                     {422, Kind::kReject},
                                     // The request, not the data: kept queued until fixed.
                                     {401, Kind::kRetry},
                                     {403, Kind::kRetry},
                                     {404, Kind::kRetry},
                                     {407, Kind::kRetry}}) {
    FakeServer server;
    server.Script({test.status, "{\"error\":\"e\"}"});
    SendResult result = MakeSender(InfluxConfig(server.url()))->Send(Batch(kLines));
    EXPECT_EQ(result.kind, test.kind) << test.status;
    if (test.kind != Kind::kOk) {
      EXPECT_EQ(
          result.error.rfind("HTTP " + std::to_string(test.status) + ": {\"error\":\"e\"}", 0), 0u)
          << result.error;
    }
  }
}

TEST(InfluxDbSender, RejectCarriesTheStartOfTheBody) {
  FakeServer server;
  std::string body = "{\"error\":\"partial write:\n\tunable to parse\"}" + std::string(1000, 'x');
  server.Script({400, body});
  SendResult result = MakeSender(InfluxConfig(server.url()))->Send(Batch(kLines));
  EXPECT_EQ(result.kind, Kind::kReject);
  const std::string folded = "{\"error\":\"partial write: unable to parse\"}";
  EXPECT_EQ(result.error, "HTTP 400: " + folded + std::string(300 - folded.size(), 'x'));
}

TEST(InfluxDbSender, ExcerptIsCutOnACharacterBoundary) {
  FakeServer server;
  std::string body = std::string(299, 'a') + "\xC3\xBC" + "tail";  // ü straddles byte 300
  server.Script({400, body});
  SendResult result = MakeSender(InfluxConfig(server.url()))->Send(Batch(kLines));
  EXPECT_EQ(result.error, "HTTP 400: " + std::string(299, 'a'));
}

TEST(InfluxDbSender, ConnectionRefusedIsRetry) {
  auto sender = MakeSender(InfluxConfig("http://127.0.0.1:" + std::to_string(UnusedPort())));
  SendResult result = sender->Send(Batch(kLines));
  EXPECT_EQ(result.kind, Kind::kRetry);
  EXPECT_NE(result.error.find("cannot connect"), std::string::npos) << result.error;
}

TEST(InfluxDbSender, NoAnswerIsRetryWithinTheTimeout) {
  FakeServer server;
  server.Script({204, "", Answer::Then::kNeverAnswer});
  auto c = InfluxConfig(server.url());
  c.timeout_ns = 300'000'000;
  SendResult result = MakeSender(c)->Send(Batch(kLines));
  EXPECT_EQ(result.kind, Kind::kRetry);
  EXPECT_NE(result.error.find("timed out"), std::string::npos) << result.error;
}

TEST(InfluxDbSender, KeepAliveAcrossSends) {
  FakeServer server;
  auto c = InfluxConfig(server.url());
  auto sender = InfluxDbSender::Create(c);
  ASSERT_TRUE(sender.ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*sender)->Send(Batch(kLines)).kind, Kind::kOk);
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ((*sender)->client().connections_opened(), 1u);
}

TEST(InfluxDbSender, EmptyBatchSendsNothing) {
  FakeServer server;
  EXPECT_EQ(MakeSender(InfluxConfig(server.url()))->Send(Batch("")).kind, Kind::kOk);
  EXPECT_TRUE(server.received().empty());
}

TEST(InfluxDbSender, NoCredentialsInErrorsOrDescribe) {
  FakeServer server;
  // The server quotes the credentials back, as a careless proxy might: the URL's password, the
  // config's password and token, and the basic auth header's base64 of "user:cfgpass2".
  const std::string quoted = "denied for urlpass1 cfgpass2 Token tokn3 and dXNlcjpjZmdwYXNzMg==";
  server.Script({401, quoted});
  server.Script({503, quoted});
  auto v1 = InfluxConfig("http://user:urlpass1@127.0.0.1:" + std::to_string(server.port()));
  v1.influxdb.username = "user";
  v1.influxdb.password = "cfgpass2";
  v1.influxdb.token = "tokn3";
  auto v2 = v1;
  v2.influxdb.bucket = "b";
  auto refused = v1;
  refused.influxdb.url = "http://user:urlpass1@127.0.0.1:" + std::to_string(UnusedPort());
  std::vector<std::string> texts;
  for (const auto& c : {v1, v2, refused}) {
    auto sender = MakeSender(c);
    texts.push_back(sender->Describe());
    texts.push_back(sender->Send(Batch(kLines)).error);
  }
  texts.push_back(MakeSenderError(InfluxConfig("ftp://user:urlpass1@h")));
  for (const std::string& text : texts) {
    for (const char* secret : {"urlpass1", "cfgpass2", "tokn3"}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in: " << text;
    }
  }
  EXPECT_EQ(texts[1].rfind("HTTP 401: denied for *** *** Token *** and *** (the backend", 0), 0u)
      << texts[1];
}

TEST(InfluxDbSender, RefusesBadConfigs) {
  auto c = InfluxConfig("http://127.0.0.1:8086");
  c.influxdb.version = "v3";
  EXPECT_NE(MakeSenderError(c).find("version"), std::string::npos);
  c.influxdb.version = "v2";
  EXPECT_EQ(MakeSenderError(c), "influxdb v2 needs a bucket");
  c = InfluxConfig("");
  EXPECT_EQ(MakeSenderError(c), "influxdb url is required");
  c = InfluxConfig("127.0.0.1:8086");
  EXPECT_NE(MakeSenderError(c).find("http://"), std::string::npos);
  c = InfluxConfig("http://127.0.0.1:8086");
  c.timeout_ns = 0;
  EXPECT_NE(MakeSenderError(c).find("timeout"), std::string::npos);
  c = InfluxConfig("http://127.0.0.1:8086");
  c.type = "kafka";
  EXPECT_NE(MakeSenderError(c).find("not an HTTP output"), std::string::npos);
  c = InfluxConfig("https://127.0.0.1:8086");
  EXPECT_NE(MakeSender(c), nullptr);  // https is supported
}

// --- influxdb_lines ---

TEST(InfluxDbSenderLines, NothingToRewrite) {
  std::string out = "untouched";
  EXPECT_FALSE(ToInfluxLines("m,t=a x=1i,y=2.5,s=\"x\",b=true 1\n", false, &out));
  EXPECT_FALSE(ToInfluxLines("m x=5u 1\n", /*keep_unsigned=*/true, &out));
  EXPECT_FALSE(ToInfluxLines("", false, &out));
  EXPECT_EQ(out, "untouched");
}

TEST(InfluxDbSenderLines, LookalikesInStringsAndTagsStayAsTheyAre) {
  const std::string lines =
      "m,t=5u,arr=[1i] s=\"x=[1i] 5u, \\\"b\\\"b \",n=1i 1\n"
      "m s=\"multi\nline 5u\" 2\n";
  std::string out;
  // The scan cannot tell these from fields, so the batch is parsed and comes out the same.
  ASSERT_TRUE(ToInfluxLines(lines, false, &out));
  EXPECT_EQ(out, lines);
}

TEST(InfluxDbSenderLines, RewritesEveryKind) {
  std::string out;
  ASSERT_TRUE(
      ToInfluxLines("m a=0u,b=9223372036854775807u,c=9223372036854775808u 1\n"
                    "m s=\"a\nb\",d=\"\"b,e=[],f=[\"x\",\"y\"] 2\n",
                    false, &out));
  EXPECT_EQ(out,
            "m a=0i,b=9223372036854775807i,c=9223372036854775807i 1\n"
            "m s=\"a\nb\",d=\"\",e=\"[]\",f=\"[\\\"x\\\",\\\"y\\\"]\" 2\n");
}

TEST(InfluxDbSenderLines, UnparsableBatchIsLeftToTheBackend) {
  std::string out;
  EXPECT_FALSE(ToInfluxLines("m x=5u 1\nbroken line\n", false, &out));
}

// --- DataKitSender ---

TEST(DataKitSender, PathPerCategoryTokenAndGzip) {
  FakeServer server;
  auto c = DataKitConfig(server.url());
  c.datakit.token = "tkn_abc";
  auto sender = MakeSender(c);
  EXPECT_EQ(sender->Send(Batch(kLines)).kind, Kind::kOk);
  EXPECT_EQ(sender->Send(Batch("log message=\"hi\" 1\n", model::Category::kLogging)).kind,
            Kind::kOk);
  EXPECT_EQ(sender->Send(Batch("o,name=x f=1i 1\n", model::Category::kCustomObject)).kind,
            Kind::kOk);
  auto got = server.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].target, "/v1/write/metric?precision=n&token=tkn_abc");
  EXPECT_EQ(got[1].target, "/v1/write/logging?precision=n&token=tkn_abc");
  EXPECT_EQ(got[2].target, "/v1/write/custom_object?precision=n&token=tkn_abc");
  EXPECT_EQ(got[0].headers["content-type"], "text/plain");
  EXPECT_EQ(got[0].headers["content-encoding"], "gzip");
  EXPECT_EQ(Gunzip(got[0].body), kLines);
  EXPECT_EQ(Gunzip(got[1].body), "log message=\"hi\" 1\n");
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(sender->Describe(),
            "datakit http://127.0.0.1:" + std::to_string(server.port()) + "/v1/write/<category>");
}

TEST(DataKitSender, RoutesPrefixAndNoToken) {
  FakeServer server;
  auto c = DataKitConfig(server.url() + "/proxy/");
  c.datakit.gzip = false;
  c.datakit.routes = {{"logging", "/v1/write/logstream?source=x"}, {"metric", "/m"}};
  auto sender = MakeSender(c);
  EXPECT_EQ(sender->Send(Batch("l x=1i 1\n", model::Category::kLogging)).kind, Kind::kOk);
  EXPECT_EQ(sender->Send(Batch(kLines)).kind, Kind::kOk);
  EXPECT_EQ(sender->Send(Batch("e x=1i 1\n", model::Category::kKeyEvent)).kind, Kind::kOk);
  auto got = server.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].target, "/proxy/v1/write/logstream?source=x&precision=n");
  EXPECT_EQ(got[1].target, "/proxy/m?precision=n");
  EXPECT_EQ(got[2].target, "/proxy/v1/write/keyevent?precision=n");
  EXPECT_EQ(got[0].body, "l x=1i 1\n");
}

TEST(DataKitSender, TokenInTheUrlAsDataKitsDatawaySettingHasIt) {
  FakeServer server;
  auto c = DataKitConfig(server.url() + "?token=tkn_url&x=1");
  auto sender = MakeSender(c);
  EXPECT_EQ(sender->Send(Batch(kLines)).kind, Kind::kOk);
  c.datakit.token = "tkn_cfg";  // wins over the URL's
  EXPECT_EQ(MakeSender(c)->Send(Batch(kLines)).kind, Kind::kOk);
  auto got = server.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].target, "/v1/write/metric?precision=n&token=tkn_url&x=1");
  EXPECT_EQ(got[1].target, "/v1/write/metric?precision=n&token=tkn_cfg&x=1");
  EXPECT_EQ(sender->Describe().find("tkn"), std::string::npos);
}

TEST(DataKitSender, AnswersAreClassifiedWithoutTheToken) {
  FakeServer server;
  server.Script({403, "{\"error_code\":\"kodo.tokenNotFound\",\"message\":\"tkn_secret\"}"});
  server.Script({503, ""});
  auto c = DataKitConfig(server.url());
  c.datakit.token = "tkn_secret";
  auto sender = MakeSender(c);
  SendResult rejected = sender->Send(Batch(kLines));
  EXPECT_EQ(rejected.kind, Kind::kRetry);  // a bad token refuses every batch: kept queued
  EXPECT_EQ(rejected.error.rfind(
                "HTTP 403: {\"error_code\":\"kodo.tokenNotFound\",\"message\":\"***\"} (the "
                "backend refuses the requests themselves",
                0),
            0u)
      << rejected.error;
  SendResult retry = sender->Send(Batch(kLines));
  EXPECT_EQ(retry.kind, Kind::kRetry);
  EXPECT_EQ(retry.error, "HTTP 503");
  EXPECT_EQ(sender->Send(Batch(kLines)).kind, Kind::kOk);
}

TEST(DataKitSender, NoAnswerAndRefusedAreRetry) {
  FakeServer server;
  server.Script({204, "", Answer::Then::kNeverAnswer});
  auto c = DataKitConfig(server.url());
  c.timeout_ns = 300'000'000;
  EXPECT_EQ(MakeSender(c)->Send(Batch(kLines)).kind, Kind::kRetry);
  c = DataKitConfig("http://127.0.0.1:" + std::to_string(UnusedPort()));
  EXPECT_EQ(MakeSender(c)->Send(Batch(kLines)).kind, Kind::kRetry);
}

TEST(DataKitSender, RefusesBadRoutes) {
  auto c = DataKitConfig("http://127.0.0.1:9529");
  c.datakit.routes = {{"metrics", "/x"}};
  EXPECT_NE(MakeSenderError(c).find("unknown category \"metrics\""), std::string::npos);
  c.datakit.routes = {{"metric", "x"}};
  EXPECT_NE(MakeSenderError(c).find("starting with '/'"), std::string::npos);
  c = DataKitConfig("");
  EXPECT_EQ(MakeSenderError(c), "datakit url is required");
}

}  // namespace
}  // namespace pythond::outputs
