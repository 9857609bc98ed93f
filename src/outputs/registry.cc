#include "outputs/registry.h"

#include "outputs/http_sender.h"
#include "outputs/kafka_sender.h"

namespace pythond::outputs {

const std::vector<OutputType>& OutputRegistry() {
  static const std::vector<OutputType> kTypes = {
      {"influxdb", "InfluxDB v1 /write or v2 /api/v2/write; VictoriaMetrics via v1", true,
       MakeHttpSender, "examples/outputs/influxdb.conf"},
      {"datakit", "an upstream DataKit or a Dataway: /v1/write/<category>", true, MakeHttpSender,
       "examples/outputs/datakit.conf"},
      {"kafka", "Kafka (librdkafka, idempotent producer): a message per series per batch", true,
       MakeKafkaSender, "examples/outputs/kafka.conf"},
      {"prometheus", "the latest value of each numeric metric field, for scraping", false, nullptr,
       "examples/outputs/prometheus.conf"},
  };
  return kTypes;
}

const OutputType* FindOutputType(std::string_view type) {
  for (const OutputType& t : OutputRegistry()) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace pythond::outputs
