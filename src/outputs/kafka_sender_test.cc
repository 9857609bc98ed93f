#include "outputs/kafka_sender.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pythond::outputs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kPartitions = 3;

// ---------------------------------------------------------------------------------------------
// GroupLinesBySeries

std::vector<std::pair<std::string, std::vector<std::string>>> Groups(std::string_view text) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const SeriesLines& s : GroupLinesBySeries(text)) {
    out.emplace_back(std::string(s.key), std::vector<std::string>(s.lines.begin(), s.lines.end()));
  }
  return out;
}

using Group = std::pair<std::string, std::vector<std::string>>;

TEST(KafkaGroupLinesBySeries, GroupsInOrderOfFirstAppearance) {
  EXPECT_THAT(Groups("cpu,host=a u=1 1\nmem,host=a f=2i 1\ncpu,host=a u=3 2\n"),
              ElementsAre(Group{"cpu,host=a", {"cpu,host=a u=1 1\n", "cpu,host=a u=3 2\n"}},
                          Group{"mem,host=a", {"mem,host=a f=2i 1\n"}}));
}

TEST(KafkaGroupLinesBySeries, EscapedSpacesCommasAndBackslashesStayInTheKey) {
  EXPECT_THAT(
      Groups("cpu\\ load,host=web\\ 1,dc=a\\,b u=1 1\n"
             "cpu\\ load,host=web\\ 1,dc=a\\,b u=2 2\n"
             "cpu\\ load,host=web\\ 1 u=3 3\n"
             "m,path=C:\\\\ f=1 4\n"),  // `\\` is an escaped backslash: the space ends the key
      ElementsAre(Group{"cpu\\ load,host=web\\ 1,dc=a\\,b",
                        {"cpu\\ load,host=web\\ 1,dc=a\\,b u=1 1\n",
                         "cpu\\ load,host=web\\ 1,dc=a\\,b u=2 2\n"}},
                  Group{"cpu\\ load,host=web\\ 1", {"cpu\\ load,host=web\\ 1 u=3 3\n"}},
                  Group{"m,path=C:\\\\", {"m,path=C:\\\\ f=1 4\n"}}));
}

TEST(KafkaGroupLinesBySeries, StringFieldsMayHoldNewlinesSpacesAndQuotes) {
  const std::string a = "log,host=a msg=\"line one\nline two \\\"q\\\" x=1\\\\\",n=1i 1\n";
  const std::string b = "log,host=a arr=[\"x\ny\",\"z\"],q\"k=\"v\nw\" 2\n";
  EXPECT_THAT(Groups(a + b), ElementsAre(Group{"log,host=a", {a, b}}));
}

TEST(KafkaGroupLinesBySeries, ToleratesOddInput) {
  EXPECT_THAT(Groups(""), ElementsAre());
  EXPECT_THAT(Groups("\n\r\n\n"), ElementsAre());
  // A last line without '\n', a line without fields, CRLF, an unterminated string.
  EXPECT_THAT(Groups("a f=1\n\nnospace\r\na f=2"),
              ElementsAre(Group{"a", {"a f=1\n", "a f=2"}}, Group{"nospace", {"nospace\r\n"}}));
  EXPECT_THAT(Groups("a s=\"open\nb f=1\n"), ElementsAre(Group{"a", {"a s=\"open\nb f=1\n"}}));
  EXPECT_THAT(Groups("trailing\\"), ElementsAre(Group{"trailing\\", {"trailing\\"}}));
  EXPECT_THAT(Groups("a\\\nb f=1\n"),
              ElementsAre(Group{"a\\", {"a\\\n"}}, Group{"b", {"b f=1\n"}}));
}

// ---------------------------------------------------------------------------------------------
// A mock cluster, a consumer and sender configurations.

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class MockCluster {
 public:
  // `brokers` brokers (ids 1..n) holding `topics`, each with kPartitions partitions.
  explicit MockCluster(int brokers, const std::vector<std::string>& topics = {}) {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    EXPECT_NE(host_, nullptr) << errstr;
    cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
    EXPECT_NE(cluster_, nullptr);
    for (int id = 1; id <= brokers; ++id) broker_ids_.push_back(id);
    for (const std::string& topic : topics) {
      EXPECT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), kPartitions, 1),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }

  rd_kafka_mock_cluster_t* get() { return cluster_; }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void SetAllBrokers(bool up) {
    for (int id : broker_ids_) {
      ASSERT_EQ(up ? rd_kafka_mock_broker_set_up(cluster_, id)
                   : rd_kafka_mock_broker_set_down(cluster_, id),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }

 private:
  rd_kafka_t* host_ = nullptr;  // the mock cluster runs on this handle's thread
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::vector<int> broker_ids_;
};

struct Received {
  std::string topic;
  int32_t partition = 0;
  std::string key;
  std::string value;
};

// Reads every partition of `topics` from the beginning until `want` messages arrived (or 20 s
// passed), and counts what the partitions hold (their high watermarks), to catch extras.
class Reader {
 public:
  explicit Reader(const std::string& bootstraps) {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (auto [k, v] :
         std::vector<std::pair<const char*, const char*>>{{"bootstrap.servers", bootstraps.c_str()},
                                                          {"group.id", "kafka-sender-test"},
                                                          {"enable.auto.commit", "false"},
                                                          {"log_level", "0"}}) {
      EXPECT_EQ(rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)), RD_KAFKA_CONF_OK) << errstr;
    }
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    EXPECT_NE(rk_, nullptr) << errstr;
    rd_kafka_poll_set_consumer(rk_);
  }
  ~Reader() {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }

  std::vector<Received> Read(const std::vector<std::string>& topics, size_t want) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(0);
    for (const std::string& t : topics) {
      for (int p = 0; p < kPartitions; ++p) {
        rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      }
    }
    EXPECT_EQ(rd_kafka_assign(rk_, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    std::vector<Received> out;
    const int64_t deadline = NowMs() + 20'000;
    while (out.size() < want && NowMs() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out.push_back({rd_kafka_topic_name(m->rkt), m->partition,
                       std::string(static_cast<const char*>(m->key), m->key_len),
                       std::string(static_cast<const char*>(m->payload), m->len)});
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk_, nullptr);
    return out;
  }

  // Messages stored in every partition of `topic`.
  int64_t Stored(const std::string& topic) {
    int64_t total = 0;
    for (int p = 0; p < kPartitions; ++p) {
      int64_t low = 0, high = 0;
      EXPECT_EQ(rd_kafka_query_watermark_offsets(rk_, topic.c_str(), p, &low, &high, 10'000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      total += high - low;
    }
    return total;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
};

config::OutputConfig KafkaConfig(const std::string& brokers, int64_t timeout_ms,
                                 std::vector<std::pair<std::string, std::string>> extra = {}) {
  config::OutputConfig c;
  c.type = "kafka";
  c.name = "kafka-test";
  c.timeout_ns = timeout_ms * 1'000'000;
  c.kafka.brokers = brokers;
  c.kafka.topic = "pythond-{category}";
  // Quick reconnects after a broker comes back; quiet logs.
  c.kafka.properties = {{"reconnect.backoff.ms", "10"},
                        {"reconnect.backoff.max.ms", "100"},
                        {"retry.backoff.ms", "10"},
                        {"log_level", "3"}};
  c.kafka.properties.insert(c.kafka.properties.end(), extra.begin(), extra.end());
  return c;
}

std::unique_ptr<KafkaSender> MustCreate(const config::OutputConfig& c) {
  StatusOr<std::unique_ptr<KafkaSender>> sender = KafkaSender::Create(c);
  EXPECT_TRUE(sender.ok()) << sender.status().ToString();
  return sender.ok() ? std::move(*sender) : nullptr;
}

SendResult SendLines(KafkaSender& sender, model::Category category, const std::string& lines) {
  return sender.Send(SendBatch{category, lines, 0});
}

// Sends until Ok or the deadline; returns the last result.
SendResult SendUntilOk(KafkaSender& sender, model::Category category, const std::string& lines,
                       int64_t within_ms) {
  const int64_t deadline = NowMs() + within_ms;
  SendResult r;
  do {
    r = SendLines(sender, category, lines);
  } while (r.kind != SendResult::Kind::kOk && NowMs() < deadline);
  return r;
}

const char* KindName(SendResult::Kind k);
const char* KindName(SendResult::Kind k) {
  switch (k) {
    case SendResult::Kind::kOk:
      return "Ok";
    case SendResult::Kind::kRetry:
      return "Retry";
    case SendResult::Kind::kReject:
      return "Reject";
  }
  return "?";
}

#define EXPECT_KIND(result, want)                  \
  EXPECT_EQ((result).kind, SendResult::Kind::want) \
      << "got " << KindName((result).kind) << ": " << (result).error
#define ASSERT_KIND(result, want)                  \
  ASSERT_EQ((result).kind, SendResult::Kind::want) \
      << "got " << KindName((result).kind) << ": " << (result).error

// ---------------------------------------------------------------------------------------------
// Delivery

// One batch as the test sees it: (series key, rest of the line) pairs.
struct TestBatch {
  model::Category category;
  std::vector<std::pair<std::string, std::string>> points;

  std::string Lines() const {
    std::string out;
    for (const auto& [key, rest] : points) out += key + " " + rest + "\n";
    return out;
  }
};

TEST(KafkaSenderTest, DeliversOneMessagePerSeriesKeyedBySeriesToCategoryTopics) {
  MockCluster cluster(3, {"pythond-metric", "pythond-logging", "pythond-object"});
  const std::vector<TestBatch> batches = {
      {model::Category::kMetric,
       {{"cpu,host=a", "usage=1 1"},
        {"cpu\\ load,host=web\\ 1,dc=a\\,b", "v=0.5 1"},
        {"mem,host=a", "used=10i 1"},
        {"cpu,host=a", "usage=2 2"},
        {"cpu\\ load,host=web\\ 1,dc=a\\,b", "v=0.7 2"}}},
      {model::Category::kLogging,
       {{"syslog,host=a,app=x\\ y", "message=\"first\nsecond line \\\"quoted\\\"\" 5"},
        {"syslog,host=b", "message=\"b1\" 5"},
        {"syslog,host=a,app=x\\ y", "message=\"third\" 6"}}},
      {model::Category::kMetric, {{"cpu,host=a", "usage=3 3"}, {"disk,dev=sd\\=a", "free=1u 3"}}},
      {model::Category::kObject, {{"host,name=a", "cpus=4i 7"}}},
  };

  auto sender = MustCreate(KafkaConfig(cluster.bootstraps(), 5000));
  ASSERT_NE(sender, nullptr);
  for (const TestBatch& b : batches) {
    SendResult r = SendLines(*sender, b.category, b.Lines());
    ASSERT_KIND(r, kOk);
  }

  // Expected: per (topic, key) the series' lines in order; one message per series per batch.
  std::map<std::pair<std::string, std::string>, std::string> want;
  std::map<std::string, int64_t> messages_per_topic;
  size_t messages = 0;
  for (const TestBatch& b : batches) {
    const std::string topic = "pythond-" + std::string(model::CategoryName(b.category));
    std::set<std::string> keys;
    for (const auto& [key, rest] : b.points) {
      want[{topic, key}] += key + " " + rest + "\n";
      keys.insert(key);
    }
    messages += keys.size();
    messages_per_topic[topic] += static_cast<int64_t>(keys.size());
  }

  Reader reader(cluster.bootstraps());
  std::vector<Received> got =
      reader.Read({"pythond-metric", "pythond-logging", "pythond-object"}, messages);
  ASSERT_EQ(got.size(), messages);
  std::map<std::pair<std::string, std::string>, std::string> have;
  std::map<std::pair<std::string, std::string>, std::set<int32_t>> partitions;
  for (const Received& m : got) {
    EXPECT_EQ(m.value.back(), '\n');
    EXPECT_TRUE(m.value.starts_with(m.key + " ")) << m.value;
    have[{m.topic, m.key}] += m.value;
    partitions[{m.topic, m.key}].insert(m.partition);
  }
  EXPECT_EQ(have, want);
  for (const auto& [series, parts] : partitions) {
    EXPECT_EQ(parts.size(), 1u) << series.second << " is spread over partitions";
  }
  for (const auto& [topic, n] : messages_per_topic) EXPECT_EQ(reader.Stored(topic), n) << topic;
}

TEST(KafkaSenderTest, CutsALargeSeriesIntoMessagesAtLineBoundaries) {
  MockCluster cluster(1, {"pythond-logging"});
  auto sender =
      MustCreate(KafkaConfig(cluster.bootstraps(), 5000, {{"message.max.bytes", "1000"}}));
  ASSERT_NE(sender, nullptr);
  std::string lines;
  for (int i = 0; i < 40; ++i) {
    lines +=
        "log,host=a message=\"" + std::string(80, 'a' + i % 26) + "\" " + std::to_string(i) + "\n";
  }
  ASSERT_KIND(SendLines(*sender, model::Category::kLogging, lines), kOk);

  Reader reader(cluster.bootstraps());
  const int64_t stored = reader.Stored("pythond-logging");
  EXPECT_GE(stored, 5);  // about 4,400 bytes in messages of at most 1,000
  std::vector<Received> got = reader.Read({"pythond-logging"}, static_cast<size_t>(stored));
  ASSERT_EQ(got.size(), static_cast<size_t>(stored));
  std::string all;
  for (const Received& m : got) {
    EXPECT_EQ(m.key, "log,host=a");
    EXPECT_LE(m.value.size() + m.key.size() + 35, 1000u);
    EXPECT_TRUE(m.value.starts_with("log,host=a ")) << m.value;
    EXPECT_EQ(m.value.back(), '\n');
    all += m.value;
  }
  EXPECT_EQ(all, lines);
}

TEST(KafkaSenderTest, WaitsForRoomWhenTheProducerQueueIsFull) {
  MockCluster cluster(1, {"pythond-metric"});
  auto sender =
      MustCreate(KafkaConfig(cluster.bootstraps(), 5000, {{"queue.buffering.max.messages", "3"}}));
  ASSERT_NE(sender, nullptr);
  std::string lines;
  for (int i = 0; i < 20; ++i) lines += "cpu,core=" + std::to_string(i) + " u=1 1\n";
  ASSERT_KIND(SendLines(*sender, model::Category::kMetric, lines), kOk);
  Reader reader(cluster.bootstraps());
  EXPECT_EQ(reader.Stored("pythond-metric"), 20);
}

TEST(KafkaSenderTest, LineTooLargeForAnyMessageIsRejectedBeforeProducing) {
  MockCluster cluster(1, {"pythond-metric"});
  auto sender =
      MustCreate(KafkaConfig(cluster.bootstraps(), 5000, {{"message.max.bytes", "1000"}}));
  ASSERT_NE(sender, nullptr);
  const std::string lines =
      "small,host=a f=1 1\nbig,host=a s=\"" + std::string(2000, 'x') + "\" 1\n";
  SendResult r = SendLines(*sender, model::Category::kMetric, lines);
  EXPECT_KIND(r, kReject);
  EXPECT_THAT(r.error, HasSubstr("message.max.bytes"));
  EXPECT_THAT(r.error, HasSubstr("big,host=a"));
  Reader reader(cluster.bootstraps());
  EXPECT_EQ(reader.Stored("pythond-metric"), 0);
}

// Permanent broker answers to a produce request; the sender recovers for the next batch.
TEST(KafkaSenderTest, PermanentBrokerErrorsAreRejects) {
  const std::vector<std::pair<rd_kafka_resp_err_t, const char*>> cases = {
      {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "Message size too large"},
      {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed"},
      {RD_KAFKA_RESP_ERR_POLICY_VIOLATION, "Policy violation"},
  };
  MockCluster cluster(1, {"pythond-metric"});
  auto sender = MustCreate(KafkaConfig(cluster.bootstraps(), 5000));
  ASSERT_NE(sender, nullptr);
  ASSERT_KIND(SendLines(*sender, model::Category::kMetric, "warm,host=a f=1 1\n"), kOk);
  for (const auto& [err, text] : cases) {
    SCOPED_TRACE(text);
    rd_kafka_mock_push_request_errors(cluster.get(), 0 /* Produce */, 1, err);
    SendResult r = SendLines(*sender, model::Category::kMetric, "cpu,host=a f=1 1\n");
    EXPECT_KIND(r, kReject);
    EXPECT_THAT(r.error, HasSubstr(text));
    EXPECT_THAT(r.error, HasSubstr("topic \"pythond-metric\", series \"cpu,host=a\""));
    SendResult next = SendUntilOk(*sender, model::Category::kMetric, "mem,host=a f=1 1\n", 30'000);
    EXPECT_KIND(next, kOk);
  }
}

TEST(KafkaSenderTest, MissingTopicIsAReject) {
  MockCluster cluster(1);
  // The mock creates topics on demand; this one answers as a broker without auto-create would.
  rd_kafka_mock_topic_set_error(cluster.get(), "pythond-metric",
                                RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  auto sender = MustCreate(KafkaConfig(cluster.bootstraps(), 4000));
  ASSERT_NE(sender, nullptr);
  SendResult r = SendLines(*sender, model::Category::kMetric, "cpu,host=a f=1 1\n");
  EXPECT_KIND(r, kReject);
  EXPECT_THAT(r.error, HasSubstr("pythond-metric"));
}

TEST(KafkaSenderTest, BrokersDownGiveRetryAndALaterSendDelivers) {
  MockCluster cluster(3, {"pythond-metric"});
  auto sender = MustCreate(KafkaConfig(cluster.bootstraps(), 1500));
  ASSERT_NE(sender, nullptr);
  ASSERT_KIND(SendLines(*sender, model::Category::kMetric, "warm,host=a f=1 1\n"), kOk);

  cluster.SetAllBrokers(false);
  const std::string lines = "cpu,host=a f=1 1\nmem,host=a f=2 1\ncpu,host=a f=3 2\n";
  SendResult r = SendLines(*sender, model::Category::kMetric, lines);
  EXPECT_KIND(r, kRetry);
  EXPECT_THAT(r.error, HasSubstr("pythond-metric"));

  cluster.SetAllBrokers(true);
  SendResult again = SendUntilOk(*sender, model::Category::kMetric, lines, 30'000);
  ASSERT_KIND(again, kOk);

  // At least once: the resent batch is there whole (the first try may have left copies too).
  Reader reader(cluster.bootstraps());
  const int64_t stored = reader.Stored("pythond-metric");
  std::vector<Received> got = reader.Read({"pythond-metric"}, static_cast<size_t>(stored));
  ASSERT_EQ(got.size(), static_cast<size_t>(stored));
  std::map<std::string, std::vector<std::string>> values;
  for (const Received& m : got) values[m.key].push_back(m.value);
  EXPECT_THAT(values["cpu,host=a"], testing::Contains("cpu,host=a f=1 1\ncpu,host=a f=3 2\n"));
  EXPECT_THAT(values["mem,host=a"], testing::Contains("mem,host=a f=2 1\n"));
}

TEST(KafkaSenderTest, FatalProducerErrorGivesRetryThenANewProducerDelivers) {
  MockCluster cluster(1, {"pythond-metric"});
  auto sender = MustCreate(KafkaConfig(cluster.bootstraps(), 5000));
  ASSERT_NE(sender, nullptr);
  ASSERT_KIND(SendLines(*sender, model::Category::kMetric, "warm,host=a f=1 1\n"), kOk);
  sender->RaiseFatalErrorForTest();
  SendResult r = SendLines(*sender, model::Category::kMetric, "cpu,host=a f=1 1\n");
  EXPECT_KIND(r, kRetry);
  EXPECT_THAT(r.error, HasSubstr("fatal"));
  ASSERT_KIND(SendLines(*sender, model::Category::kMetric, "cpu,host=a f=1 1\n"), kOk);
}

TEST(KafkaSenderTest, EmptyBatchIsOkWithoutABroker) {
  auto sender = MustCreate(KafkaConfig("127.0.0.1:1", 1000));
  ASSERT_NE(sender, nullptr);
  EXPECT_KIND(SendLines(*sender, model::Category::kMetric, "\n\n"), kOk);
}

// ---------------------------------------------------------------------------------------------
// Configuration

TEST(KafkaSenderConfig, UnknownPropertyIsAConstructionErrorNamingTheKey) {
  std::string error;
  EXPECT_EQ(MakeKafkaSender(KafkaConfig("127.0.0.1:1", 1000, {{"no.such.thing", "1"}}), &error),
            nullptr);
  EXPECT_THAT(error, HasSubstr("\"no.such.thing\""));
  EXPECT_THAT(error, HasSubstr("kafka-test"));
}

TEST(KafkaSenderConfig, BadValueIsAConstructionErrorNamingTheKey) {
  std::string error;
  EXPECT_EQ(MakeKafkaSender(KafkaConfig("127.0.0.1:1", 1000, {{"linger.ms", "soon"}}), &error),
            nullptr);
  EXPECT_THAT(error, HasSubstr("linger.ms"));
}

TEST(KafkaSenderConfig, SettingsThatBreakIdempotenceAreRefused) {
  std::string error;
  EXPECT_EQ(MakeKafkaSender(KafkaConfig("127.0.0.1:1", 1000, {{"acks", "1"}}), &error), nullptr);
  EXPECT_THAT(error, HasSubstr("acks"));
}

TEST(KafkaSenderConfig, SecretsStayOutOfErrorsAndDescribe) {
  std::string error;
  EXPECT_EQ(MakeKafkaSender(
                KafkaConfig("127.0.0.1:1", 1000,
                            {{"sasl.password", "hunter22"}, {"security.protocol", "hunter22"}}),
                &error),
            nullptr);
  EXPECT_THAT(error, HasSubstr("security.protocol"));
  EXPECT_THAT(error, Not(HasSubstr("hunter22")));

  config::OutputConfig c = KafkaConfig("SASL_PLAINTEXT://user:pw@127.0.0.1:1,127.0.0.1:2", 1000,
                                       {{"sasl.password", "hunter22"}});
  auto sender = MakeKafkaSender(c, &error);
  ASSERT_NE(sender, nullptr) << error;
  EXPECT_EQ(sender->Describe(),
            "kafka://SASL_PLAINTEXT://127.0.0.1:1,127.0.0.1:2/pythond-{category}");
}

TEST(KafkaSenderConfig, EmptyBrokersOrTopicAreRefused) {
  std::string error;
  EXPECT_EQ(MakeKafkaSender(KafkaConfig("", 1000), &error), nullptr);
  EXPECT_THAT(error, HasSubstr("brokers"));
  config::OutputConfig c = KafkaConfig("127.0.0.1:1", 1000);
  c.kafka.topic.clear();
  EXPECT_EQ(MakeKafkaSender(c, &error), nullptr);
  EXPECT_THAT(error, HasSubstr("topic"));
}

}  // namespace
}  // namespace pythond::outputs
