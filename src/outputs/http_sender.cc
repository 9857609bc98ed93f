#include "outputs/http_sender.h"

#include <algorithm>

#include "common/strings.h"
#include "outputs/influxdb_lines.h"

namespace pythond::outputs {

namespace {

constexpr size_t kExcerptBytes = 300;
constexpr std::string_view kMask = "***";

// Secrets shorter than this are not masked: masking "a" would garble the excerpt, and telling
// that a one-letter password occurs in a server's message gives nothing away.
constexpr size_t kMinMaskedSecret = 4;

void AddSecret(std::vector<std::string>& secrets, std::string secret) {
  if (secret.size() >= kMinMaskedSecret) secrets.push_back(std::move(secret));
}

// The start of an answer's body for an error message: secrets masked, whitespace runs folded
// to one space, at most kExcerptBytes bytes, cut on a UTF-8 character boundary.
std::string BodyExcerpt(std::string_view body, const std::vector<std::string>& secrets) {
  std::string masked(body);
  for (const std::string& secret : secrets) {
    for (size_t at = masked.find(secret); at != std::string::npos;
         at = masked.find(secret, at + kMask.size())) {
      masked.replace(at, secret.size(), kMask);
    }
  }
  std::string out;
  for (char c : masked) {
    const bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
    if (out.size() > kExcerptBytes) break;
  }
  if (out.size() > kExcerptBytes) {
    size_t cut = kExcerptBytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

SendResult Classify(const StatusOr<HttpResponse>& response,
                    const std::vector<std::string>& secrets) {
  if (!response.ok()) return SendResult::Retry(response.status().message());
  const int status = response->status;
  if (status >= 200 && status < 300) return SendResult::Ok();
  std::string error = "HTTP " + std::to_string(status);
  if (std::string excerpt = BodyExcerpt(response->body, secrets); !excerpt.empty()) {
    error += ": " + excerpt;
  }
  // Refusals of the request, not of the data: a wrong token, password or URL refuses every
  // batch alike, so they stay queued (retried with backoff) until the configuration is fixed,
  // instead of the whole queue turning into dead letters.
  if (status == 401 || status == 403 || status == 404 || status == 405 || status == 407) {
    return SendResult::Retry(std::move(error) +
                             " (the backend refuses the requests themselves: check the output's "
                             "url and credentials; the points stay queued)");
  }
  if (status >= 400 && status < 500 && status != 408 && status != 429) {
    return SendResult::Reject(std::move(error));
  }
  return SendResult::Retry(std::move(error));
}

// Gzips the body when asked (adding its header) and posts it.
SendResult Post(HttpClient& client, std::string_view target,
                std::vector<std::pair<std::string, std::string>> headers, std::string_view body,
                bool gzip, const std::vector<std::string>& secrets) {
  std::string compressed;
  if (gzip) {
    compressed = GzipCompress(body);
    body = compressed;
    headers.emplace_back("Content-Encoding", "gzip");
  }
  return Classify(client.Post(target, headers, body), secrets);
}

StatusOr<std::unique_ptr<HttpClient>> MakeClient(const std::string& url_text, int64_t timeout_ns) {
  if (url_text.empty()) return Status::InvalidArgument("url is required");
  StatusOr<Url> url = ParseUrl(url_text);
  if (!url.ok()) return url.status();
  HttpClient::Options options;
  options.timeout_ns = timeout_ns;
  return HttpClient::Create(std::move(*url), std::move(options));
}

// The URL's query without its `token` parameters.
std::string QueryWithoutToken(std::string_view query) {
  std::string out;
  for (const std::string& part : SplitString(query, '&')) {
    if (part.empty() || part == "token" || StartsWith(part, "token=")) continue;
    if (!out.empty()) out += '&';
    out += part;
  }
  return out;
}

// The first `token` parameter's value in a URL query, as written (tokens are plain ASCII).
std::string TokenInQuery(std::string_view query) {
  for (const std::string& part : SplitString(query, '&')) {
    if (StartsWith(part, "token=")) return part.substr(6);
  }
  return "";
}

}  // namespace

StatusOr<std::unique_ptr<InfluxDbSender>> InfluxDbSender::Create(
    const config::OutputConfig& config) {
  const auto& c = config.influxdb;
  std::unique_ptr<InfluxDbSender> sender(new InfluxDbSender());
  if (c.version == "v1" || c.version == "1") {
    sender->v1_ = true;
  } else if (c.version == "v2" || c.version == "2") {
    sender->v1_ = false;
  } else if (c.version.empty()) {
    sender->v1_ = c.org.empty() && c.bucket.empty();
  } else {
    return Status::InvalidArgument(
        "influxdb version must be \"v1\" or \"v2\" (or empty: v2 "
        "when org or bucket is set), not \"" +
        c.version + "\"");
  }
  if (!sender->v1_ && c.bucket.empty()) {
    return Status::InvalidArgument("influxdb v2 needs a bucket");
  }
  auto client = MakeClient(c.url, config.timeout_ns);
  if (!client.ok()) return Status::InvalidArgument("influxdb " + client.status().message());
  sender->client_ = std::move(*client);
  sender->gzip_ = c.gzip;
  const Url& url = sender->client_->url();

  // Every credential the config holds is masked, used by this version or not.
  for (const std::string* secret : {&url.password, &c.password, &c.token}) {
    AddSecret(sender->secrets_, *secret);
  }
  std::string query;
  if (sender->v1_) {
    sender->target_ = url.path + "/write";
    if (!c.database.empty()) AppendQueryParam(query, "db", c.database);
    if (!c.retention_policy.empty()) AppendQueryParam(query, "rp", c.retention_policy);
    // The config's credentials, else the URL's user info.
    const bool from_config = !c.username.empty() || !c.password.empty();
    const std::string& user = from_config ? c.username : url.username;
    const std::string& password = from_config ? c.password : url.password;
    if (!user.empty() || !password.empty()) {
      std::string encoded;
      model::AppendBase64(encoded, user + ":" + password);
      sender->headers_.emplace_back("Authorization", "Basic " + encoded);
      AddSecret(sender->secrets_, encoded);
    }
  } else {
    sender->target_ = url.path + "/api/v2/write";
    if (!c.org.empty()) AppendQueryParam(query, "org", c.org);
    AppendQueryParam(query, "bucket", c.bucket);
    if (!c.token.empty()) {
      sender->headers_.emplace_back("Authorization", "Token " + c.token);
    }
  }
  AppendQueryParam(query, "precision", "ns");
  sender->describe_ = std::string("influxdb ") + (sender->v1_ ? "v1 " : "v2 ") + url.Redacted() +
                      sender->target_ + "?" + query;
  // The URL's own parameters go out but stay out of Describe(): they may hold credentials.
  if (!url.query.empty()) query += "&" + url.query;
  sender->target_ += "?" + query;
  sender->headers_.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return sender;
}

SendResult InfluxDbSender::Send(const SendBatch& batch) {
  if (batch.lines.empty()) return SendResult::Ok();
  std::string rewritten;
  std::string_view body = batch.lines;
  if (ToInfluxLines(batch.lines, /*keep_unsigned=*/!v1_, &rewritten)) body = rewritten;
  return Post(*client_, target_, headers_, body, gzip_, secrets_);
}

std::string InfluxDbSender::Describe() const { return describe_; }

StatusOr<std::unique_ptr<DataKitSender>> DataKitSender::Create(const config::OutputConfig& config) {
  const auto& c = config.datakit;
  std::unique_ptr<DataKitSender> sender(new DataKitSender());
  auto client = MakeClient(c.url, config.timeout_ns);
  if (!client.ok()) return Status::InvalidArgument("datakit " + client.status().message());
  sender->client_ = std::move(*client);
  sender->gzip_ = c.gzip;
  const Url& url = sender->client_->url();

  for (std::string secret : {url.password, c.token, TokenInQuery(url.query)}) {
    AddSecret(sender->secrets_, std::move(secret));
  }
  std::string query;
  AppendQueryParam(query, "precision", "n");
  if (!c.token.empty()) {
    AppendQueryParam(query, "token", c.token);
    if (std::string rest = QueryWithoutToken(url.query); !rest.empty()) query += "&" + rest;
  } else if (!url.query.empty()) {
    query += "&" + url.query;
  }

  for (int i = 0; i < model::kCategoryCount; ++i) {
    sender->targets_[i] =
        url.path + "/v1/write/" + std::string(model::CategoryName(static_cast<model::Category>(i)));
  }
  for (const auto& [category, path] : c.routes) {
    std::optional<model::Category> parsed = model::ParseCategory(category);
    if (!parsed) {
      return Status::InvalidArgument("datakit route for unknown category \"" + category + "\"");
    }
    if (path.empty() || path.front() != '/') {
      return Status::InvalidArgument("datakit route for \"" + category +
                                     "\" must be a path starting with '/'");
    }
    sender->targets_[static_cast<size_t>(*parsed)] = url.path + path;
  }
  for (std::string& target : sender->targets_) {
    target += (target.find('?') == std::string::npos ? "?" : "&") + query;
  }
  sender->describe_ = "datakit " + url.Redacted() + "/v1/write/<category>";
  return sender;
}

SendResult DataKitSender::Send(const SendBatch& batch) {
  if (batch.lines.empty()) return SendResult::Ok();
  static const std::vector<std::pair<std::string, std::string>> kHeaders = {
      {"Content-Type", "text/plain"}};
  return Post(*client_, targets_[static_cast<size_t>(batch.category)], kHeaders, batch.lines, gzip_,
              secrets_);
}

std::string DataKitSender::Describe() const { return describe_; }

std::unique_ptr<Sender> MakeHttpSender(const config::OutputConfig& config, std::string* error) {
  Status status;
  if (config.type == "influxdb") {
    auto sender = InfluxDbSender::Create(config);
    if (sender.ok()) return std::move(*sender);
    status = sender.status();
  } else if (config.type == "datakit") {
    auto sender = DataKitSender::Create(config);
    if (sender.ok()) return std::move(*sender);
    status = sender.status();
  } else {
    status = Status::InvalidArgument("output type \"" + config.type +
                                     "\" is not an HTTP output (influxdb, datakit)");
  }
  *error = status.message();
  return nullptr;
}

}  // namespace pythond::outputs
