// The HTTP senders: InfluxDB (the v1 /write API, which VictoriaMetrics serves too, and the v2
// /api/v2/write API) and an upstream DataKit or Dataway (/v1/write/<category>). Each owns one
// HttpClient (one kept-alive connection, one deadline per request: OutputConfig::timeout_ns).
// Like every Sender, one is used from its output's forwarder thread only.
//
// What an answer means, for both:
//   2xx (204 too)                                                    kOk
//   408, 429, 5xx; 1xx and 3xx (redirects are not followed);
//   no answer: resolve/connect/TLS failure, reset, timeout           kRetry
//   any other 4xx                                                    kReject
// A failure's error is "HTTP 400: <the first 300 bytes of the answer's body>" (whitespace runs
// folded to one space) or the transport's error ("cannot connect to 127.0.0.1:8086: Connection
// refused"). Errors and Describe() never hold credentials: passwords and tokens travel in
// headers or in the query string, neither of which is shown, and are masked ("***") should an
// answer's body quote them.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "model/point.h"
#include "outputs/http_client.h"
#include "outputs/sender.h"

namespace pythond::outputs {

// POST {url}/write?db=&rp=&precision=ns with basic auth (username/password, or the URL's
// user info) for v1; POST {url}/api/v2/write?org=&bucket=&precision=ns with
// "Authorization: Token <token>" for v2. Version "" means v2 when org or bucket is set, else
// v1. An empty database, retention policy or org leaves its parameter out (VictoriaMetrics
// turns `db` into a label on every series; set database = "" to have none). Parameters in the
// URL's own query are sent as well. The body is the batch's lines made readable for InfluxDB
// (see influxdb_lines.h: bytes and arrays become strings; for v1, unsigned integers become
// integers), gzipped unless gzip = false.
class InfluxDbSender : public Sender {
 public:
  // kInvalidArgument: a bad url or version, v2 without a bucket, timeout_ns <= 0.
  static StatusOr<std::unique_ptr<InfluxDbSender>> Create(const config::OutputConfig& config);

  SendResult Send(const SendBatch& batch) override;
  // "influxdb v1 http://127.0.0.1:8086/write?db=pythond&precision=ns"
  std::string Describe() const override;
  const HttpClient& client() const { return *client_; }

 private:
  InfluxDbSender() = default;

  std::unique_ptr<HttpClient> client_;
  bool v1_ = true;
  bool gzip_ = true;
  std::string target_;  // "/write?db=pythond&precision=ns"
  std::string describe_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<std::string> secrets_;  // masked in answers' excerpts
};

// POST {url}/v1/write/<category>?precision=n[&token=...] (or the category's route from
// OutputConfig::DataKit::routes: a path below the URL's, which may carry its own query), with
// Content-Type: text/plain, gzipped unless gzip = false. The token may also be given in the URL
// ("https://openway.guance.com?token=tkn_..."), as DataKit's dataway setting has it; `token`
// wins when both are set. Other parameters in the URL's query are sent as well.
class DataKitSender : public Sender {
 public:
  // kInvalidArgument: a bad url, a route for an unknown category or not starting with '/',
  // timeout_ns <= 0.
  static StatusOr<std::unique_ptr<DataKitSender>> Create(const config::OutputConfig& config);

  SendResult Send(const SendBatch& batch) override;
  // "datakit http://127.0.0.1:9529/v1/write/<category>"
  std::string Describe() const override;
  const HttpClient& client() const { return *client_; }

 private:
  DataKitSender() = default;

  std::unique_ptr<HttpClient> client_;
  bool gzip_ = true;
  std::array<std::string, model::kCategoryCount> targets_;  // by category
  std::string describe_;
  std::vector<std::string> secrets_;
};

// The sender for an output of type "influxdb" or "datakit". On failure returns null and sets
// *error (which never holds credentials).
std::unique_ptr<Sender> MakeHttpSender(const config::OutputConfig& config, std::string* error);

}  // namespace pythond::outputs
