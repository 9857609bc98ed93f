#include "outputs/kafka_sender.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "common/logging.h"

namespace pythond::outputs {
namespace {

// librdkafka's bound on one record's framing beyond key and value
// (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD): a message fits when overhead + key + value <=
// message.max.bytes.
constexpr size_t kRecordOverheadBytes = 35;
// How much of a series key goes into an error message.
constexpr size_t kKeyExcerptBytes = 80;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Position of the '"' closing a string value whose body starts at p, or text.size().
size_t FindStringEnd(std::string_view text, size_t p) {
  while (p < text.size()) {
    const char c = text[p];
    if (c == '"') return p;
    p += (c == '\\' && p + 1 < text.size() && (text[p + 1] == '"' || text[p + 1] == '\\')) ? 2 : 1;
  }
  return text.size();
}

// From p (within a point's fields): the '\n' ending the point, or text.size(). Steps over
// string values, which may hold raw newlines, as the line protocol parser reads them.
size_t FindPointEnd(std::string_view text, size_t p) {
  bool after_equals = false;
  bool in_array = false;
  while (p < text.size()) {
    const char c = text[p];
    if (c == '\n') return p;
    if (c == '\\') {
      p += (p + 1 < text.size() && text[p + 1] != '\n') ? 2 : 1;
      after_equals = false;
      continue;
    }
    if (c == '"' && (after_equals || in_array)) {
      p = FindStringEnd(text, p + 1);
      if (p >= text.size()) return text.size();
    } else if (c == '[' && after_equals) {
      in_array = true;
    } else if (c == ']') {
      in_array = false;
    }
    after_equals = c == '=';
    ++p;
  }
  return text.size();
}

// From the start of a point: its first unescaped space, or the end of its line.
size_t FindKeyEnd(std::string_view text, size_t p) {
  while (p < text.size()) {
    const char c = text[p];
    if (c == ' ' || c == '\n') return p;
    p += (c == '\\' && p + 1 < text.size() && text[p + 1] != '\n') ? 2 : 1;
  }
  return text.size();
}

std::string Excerpt(std::string_view s) {
  if (s.size() <= kKeyExcerptBytes) return std::string(s);
  return std::string(s.substr(0, kKeyExcerptBytes)) + "...";
}

std::string FormatSeconds(int64_t ms) {
  std::string s = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    char frac[8];
    std::snprintf(frac, sizeof(frac), ".%03d", static_cast<int>(ms % 1000));
    s += frac;
    while (s.back() == '0') s.pop_back();
  }
  return s + "s";
}

bool IsSecretProperty(std::string_view key) {
  static constexpr std::array<std::string_view, 6> kMarks = {"password", "secret", "token",
                                                             "jaas",     ".pem",   "oauthbearer"};
  return std::any_of(kMarks.begin(), kMarks.end(),
                     [&](std::string_view m) { return key.find(m) != std::string_view::npos; });
}

// Errors that resending the same data will not cure: the data or its destination is refused.
bool IsPermanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
      return true;
    default:
      return false;
  }
}

// "host:9092" stays; "SASL_SSL://user:pw@host:9092" → "SASL_SSL://host:9092".
std::string BrokersWithoutCredentials(std::string_view brokers) {
  std::string out;
  size_t start = 0;
  while (start <= brokers.size()) {
    size_t comma = std::min(brokers.find(',', start), brokers.size());
    std::string_view entry = brokers.substr(start, comma - start);
    const size_t scheme = entry.find("://");
    const size_t host_start = scheme == std::string_view::npos ? 0 : scheme + 3;
    const size_t at = entry.rfind('@');
    if (!out.empty() || start > 0) out += ',';
    if (at != std::string_view::npos && at >= host_start) {
      out.append(entry.substr(0, host_start));
      out.append(entry.substr(at + 1));
    } else {
      out.append(entry);
    }
    start = comma + 1;
  }
  return out;
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};

}  // namespace

std::vector<SeriesLines> GroupLinesBySeries(std::string_view text) {
  std::vector<SeriesLines> out;
  std::unordered_map<std::string_view, size_t> index;  // key → position in out
  size_t p = 0;
  while (p < text.size()) {
    if (text[p] == '\n' || text[p] == '\r') {
      ++p;
      continue;
    }
    const size_t start = p;
    const size_t key_end = FindKeyEnd(text, p);
    const size_t end = (key_end < text.size() && text[key_end] == ' ')
                           ? FindPointEnd(text, key_end)
                           : key_end;  // a line with no space: all key
    std::string_view key = text.substr(start, key_end - start);
    while (!key.empty() && key.back() == '\r') key.remove_suffix(1);
    const size_t next = end < text.size() ? end + 1 : end;
    auto [it, inserted] = index.emplace(key, out.size());
    if (inserted) out.push_back(SeriesLines{key, {}});
    out[it->second].lines.push_back(text.substr(start, next - start));
    p = next;
  }
  return out;
}

KafkaSender::KafkaSender(const config::OutputConfig& config)
    : config_(config),
      timeout_ms_(std::clamp<int64_t>(config.timeout_ns / 1'000'000, 1, INT32_MAX)) {
  for (int c = 0; c < model::kCategoryCount; ++c) {
    std::string topic = config_.kafka.topic;
    const std::string_view name = model::CategoryName(static_cast<model::Category>(c));
    static constexpr std::string_view kPlaceholder = "{category}";
    for (size_t at = topic.find(kPlaceholder); at != std::string::npos;
         at = topic.find(kPlaceholder, at + name.size())) {
      topic.replace(at, kPlaceholder.size(), name);
    }
    topics_.push_back(std::move(topic));
  }
}

StatusOr<std::unique_ptr<KafkaSender>> KafkaSender::Create(const config::OutputConfig& config) {
  if (config.kafka.brokers.empty()) {
    return Status::InvalidArgument("kafka output \"" + config.name + "\": brokers is empty");
  }
  if (config.kafka.topic.empty()) {
    return Status::InvalidArgument("kafka output \"" + config.name + "\": topic is empty");
  }
  std::unique_ptr<KafkaSender> sender(new KafkaSender(config));
  StatusOr<Producer> producer = sender->NewProducer();
  if (!producer.ok()) return producer.status();
  sender->producer_ = std::move(*producer);
  return sender;
}

KafkaSender::~KafkaSender() { producer_.reset(); }

void KafkaSender::ProducerDeleter::operator()(rd_kafka_s* rk) const {
  // Whatever is left belongs to batches already answered with Retry: don't wait for it.
  rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_destroy(rk);
}

StatusOr<KafkaSender::Producer> KafkaSender::NewProducer() {
  const std::string where = "kafka output \"" + config_.name + "\": ";
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& key, const std::string& value) -> Status {
    errstr[0] = '\0';
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument(where + "property \"" + key + "\": " + Redact(errstr));
    }
    return Status::Ok();
  };
  const std::string timeout_ms = std::to_string(timeout_ms_);
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"bootstrap.servers", config_.kafka.brokers},
      {"client.id", "pythond"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", timeout_ms},
      // A missing topic is reported as such (Reject) rather than as a delivery timeout.
      {"topic.metadata.propagation.max.ms", std::to_string(std::max<int64_t>(timeout_ms_ / 2, 1))},
      // linger.ms must stay below message.timeout.ms.
      {"linger.ms", std::to_string(std::min<int64_t>(5, timeout_ms_ - 1))},
  };
  for (const auto& [key, value] : defaults) {
    if (Status s = set(key, value); !s.ok()) return s;
  }
  for (const auto& [key, value] : config_.kafka.properties) {
    if (Status s = set(key, value); !s.ok()) return s;
  }
  char value[64];
  size_t value_size = sizeof(value);
  if (rd_kafka_conf_get(conf.get(), "message.max.bytes", value, &value_size) != RD_KAFKA_CONF_OK) {
    return Status::Internal(where + "cannot read message.max.bytes");
  }
  max_message_bytes_ = std::strtoull(value, nullptr, 10);

  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSender::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaSender::OnError);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaSender::OnLog);

  errstr[0] = '\0';
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) return Status::InvalidArgument(where + Redact(errstr));
  conf.release();  // owned by rk now
  return Producer(rk);
}

std::string KafkaSender::Redact(std::string text) const {
  for (const auto& [key, value] : config_.kafka.properties) {
    if (value.empty() || !IsSecretProperty(key)) continue;
    for (size_t at = text.find(value); at != std::string::npos; at = text.find(value, at + 3)) {
      text.replace(at, value.size(), "***");
    }
  }
  return text;
}

std::string KafkaSender::Describe() const {
  return "kafka://" + BrokersWithoutCredentials(config_.kafka.brokers) + "/" + config_.kafka.topic;
}

void KafkaSender::RaiseFatalErrorForTest() {
  if (producer_) {
    rd_kafka_test_fatal_error(producer_.get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                              "raised by a test");
  }
}

SendResult KafkaSender::Send(const SendBatch& batch) {
  const int64_t deadline_ns = NowNs() + timeout_ms_ * 1'000'000;
  const std::string& topic = topics_.at(static_cast<size_t>(batch.category));
  std::vector<SeriesLines> series = GroupLinesBySeries(batch.lines);
  if (series.empty()) return SendResult::Ok();

  // Refuse what no message can hold before producing anything.
  for (const SeriesLines& s : series) {
    for (std::string_view line : s.lines) {
      const size_t need =
          kRecordOverheadBytes + s.key.size() + line.size() + (line.back() == '\n' ? 0 : 1);
      if (need > max_message_bytes_) {
        return SendResult::Reject("kafka: topic \"" + topic + "\", series \"" + Excerpt(s.key) +
                                  "\": a line of " + std::to_string(line.size()) +
                                  " bytes does not fit in message.max.bytes (" +
                                  std::to_string(max_message_bytes_) + ")");
      }
    }
  }

  if (!producer_) {
    StatusOr<Producer> producer = NewProducer();
    if (!producer.ok()) return SendResult::Retry(producer.status().message());
    producer_ = std::move(*producer);
  }
  const uint64_t generation = round_.generation + 1;
  round_ = Round{};
  round_.generation = generation;
  last_client_error_.clear();
  rd_kafka_poll(producer_.get(), 0);  // reports of earlier rounds: counted nowhere

  size_t produced = 0;
  std::string value;
  for (const SeriesLines& s : series) {
    const size_t room = max_message_bytes_ - kRecordOverheadBytes - s.key.size();
    for (size_t i = 0; i < s.lines.size();) {
      value.clear();
      for (; i < s.lines.size(); ++i) {
        std::string_view line = s.lines[i];
        const size_t add = line.size() + (line.back() == '\n' ? 0 : 1);
        if (!value.empty() && value.size() + add > room) break;
        value.append(line);
        if (line.back() != '\n') value += '\n';
      }
      const int err = Produce(topic, s.key, value, deadline_ns);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        RecordFailure(err, topic, s.key, rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err)));
        std::string fatal = TakeFatalError();
        std::string text = "kafka: " + std::to_string(produced) + " of the batch's messages " +
                           "queued, then: " + round_.first_error;
        if (!fatal.empty()) text += " (fatal producer error: " + fatal + ")";
        return round_.permanent ? SendResult::Reject(std::move(text))
                                : SendResult::Retry(std::move(text));
      }
      ++produced;
    }
  }

  while (round_.delivered + round_.failed < produced) {
    const int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0) break;
    rd_kafka_poll(producer_.get(), static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (rd_kafka_fatal_error(producer_.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) break;
  }
  const std::string fatal = TakeFatalError();
  const size_t answered = round_.delivered + round_.failed;
  if (round_.failed == 0 && answered == produced) return SendResult::Ok();

  std::string text = "kafka: ";
  if (round_.failed > 0) {
    text += std::to_string(round_.failed) + " of " + std::to_string(produced) +
            " messages failed, first: " + round_.first_error;
  }
  if (answered < produced) {
    if (round_.failed > 0) text += "; ";
    text += std::to_string(produced - answered) + " of " + std::to_string(produced) +
            " messages to topic \"" + topic + "\" not acknowledged within " +
            FormatSeconds(timeout_ms_);
  }
  if (!fatal.empty()) {
    text += " (fatal producer error: " + fatal + ")";
  } else if (!last_client_error_.empty() && !round_.permanent) {
    text += " (last client error: " + last_client_error_ + ")";
  }
  return round_.permanent ? SendResult::Reject(std::move(text))
                          : SendResult::Retry(std::move(text));
}

int KafkaSender::Produce(const std::string& topic, std::string_view key, std::string_view value,
                         int64_t deadline_ns) {
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(round_.generation))),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return err;
    const int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0) return err;
    // Delivery reports free room in the queue.
    rd_kafka_poll(producer_.get(), static_cast<int>(std::min<int64_t>(left_ms, 100)));
  }
}

void KafkaSender::RecordFailure(int err, std::string_view topic, std::string_view key,
                                std::string text) {
  ++round_.failed;
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL && producer_) {
    code = rd_kafka_fatal_error(producer_.get(), nullptr, 0);
  }
  const bool permanent = IsPermanent(code);
  // The first permanent failure explains a Reject best; else the first failure.
  if (round_.first_error.empty() || (permanent && !round_.permanent)) {
    round_.first_error =
        "topic \"" + std::string(topic) + "\", series \"" + Excerpt(key) + "\": " + text;
  }
  round_.permanent = round_.permanent || permanent;
}

std::string KafkaSender::TakeFatalError() {
  if (!producer_) return "";
  char errstr[512] = "";
  if (rd_kafka_fatal_error(producer_.get(), errstr, sizeof(errstr)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    return "";
  }
  std::string text = Redact(errstr);
  LOG_WARN("kafka output {}: fatal producer error, the next send uses a new producer: {}",
           config_.name, text);
  producer_.reset();
  return text;
}

void KafkaSender::OnDelivery(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque) {
  auto* self = static_cast<KafkaSender*>(opaque);
  if (reinterpret_cast<uintptr_t>(message->_private) != self->round_.generation) return;
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->round_.delivered;
    return;
  }
  std::string_view key(static_cast<const char*>(message->key), message->key_len);
  self->RecordFailure(message->err, rd_kafka_topic_name(message->rkt), key,
                      rd_kafka_err2str(message->err));
}

void KafkaSender::OnError(rd_kafka_s* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaSender*>(opaque);
  self->last_client_error_ = self->Redact(reason);
}

void KafkaSender::OnLog(const rd_kafka_s* rk, int level, const char* facility, const char* text) {
  // Called on librdkafka's threads: reads only what never changes.
  const auto* self = static_cast<const KafkaSender*>(rd_kafka_opaque(rk));
  if (self == nullptr) return;
  const std::string message = self->Redact(text);
  if (level <= 4) {
    LOG_WARN("kafka output {}: {}: {}", self->config_.name, facility, message);
  } else if (level <= 6) {
    LOG_INFO("kafka output {}: {}: {}", self->config_.name, facility, message);
  } else {
    LOG_DEBUG("kafka output {}: {}: {}", self->config_.name, facility, message);
  }
}

std::unique_ptr<Sender> MakeKafkaSender(const config::OutputConfig& config, std::string* error) {
  StatusOr<std::unique_ptr<KafkaSender>> sender = KafkaSender::Create(config);
  if (!sender.ok()) {
    if (error != nullptr) *error = sender.status().message();
    return nullptr;
  }
  return std::move(*sender);
}

}  // namespace pythond::outputs
