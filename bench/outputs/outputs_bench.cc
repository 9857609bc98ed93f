// outputs_bench URL POINTS BATCH_POINTS DIR: the cost of the disk queue in front of an output.
// The same POINTS metric points (BATCH_POINTS per request, gzip, InfluxDB v1 /write) go to the
// backend at URL (a VictoriaMetrics started by bench/outputs/run.sh) twice:
//   direct  InfluxDbSender::Send for each batch, one after the other
//   queue   the batches written to a QueuedOutput (fsync on, disk queue in DIR) as ingest does,
//           timed from the first write until the forwarder has delivered everything
// and prints RESULT lines: points/s of each, and the queue's cost in percent of direct.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/line_protocol.h"
#include "outputs/http_sender.h"
#include "outputs/queued_output.h"

namespace {

using namespace pythond;

std::vector<model::PointBatchPtr> MakeBatches(size_t points, size_t per_batch, int64_t base_ns,
                                              int round) {
  std::vector<model::PointBatchPtr> out;
  for (size_t done = 0; done < points;) {
    auto b = std::make_shared<model::PointBatch>();
    b->category = model::Category::kMetric;
    b->input = "bench";
    for (size_t i = 0; i < per_batch && done < points; ++i, ++done) {
      model::Point p;
      p.measurement = "bench_" + std::to_string(round);
      p.tags = {{"host", "host-" + std::to_string(done % 100)},
                {"dc", "dc-" + std::to_string(done % 3)}};
      p.fields = {{"usage", model::FieldValue{static_cast<double>(done % 1000) / 10}},
                  {"count", model::FieldValue{static_cast<int64_t>(done)}}};
      p.time_ns = base_ns + static_cast<int64_t>(done / 100) * 1'000'000;
      b->points.push_back(std::move(p));
    }
    out.push_back(std::move(b));
  }
  return out;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: outputs_bench URL POINTS BATCH_POINTS DIR\n");
    return 2;
  }
  config::OutputConfig cfg;
  cfg.type = "influxdb";
  cfg.name = "bench";
  cfg.influxdb.url = argv[1];
  cfg.influxdb.database = "";
  size_t points = std::strtoull(argv[2], nullptr, 10);
  size_t per_batch = std::strtoull(argv[3], nullptr, 10);
  cfg.batch_max_points = per_batch;
  cfg.batch_max_bytes = 64 << 20;
  cfg.batch_max_age_ns = 1'000'000;
  cfg.queue_max_bytes = uint64_t{4} << 30;
  // BENCH_FSYNC=0: the queue's fsync = false (to see what the fsyncs cost).
  if (const char* f = std::getenv("BENCH_FSYNC"); f && std::string(f) == "0") cfg.fsync = false;
  int64_t base_ns =
      (std::chrono::system_clock::now().time_since_epoch().count() / 1'000'000 - 3'600'000) *
      1'000'000;

  // Direct: the batches as line protocol, sent one after the other.
  std::string error;
  auto direct = outputs::MakeHttpSender(cfg, &error);
  if (!direct) {
    std::fprintf(stderr, "outputs_bench: %s\n", error.c_str());
    return 1;
  }
  auto batches = MakeBatches(points, per_batch, base_ns, 1);
  auto start = std::chrono::steady_clock::now();
  for (const auto& b : batches) {
    std::string lines;
    for (const auto& p : b->points) model::AppendLineProtocol(lines, p);
    auto r = direct->Send({b->category, lines, b->points.size()});
    if (r.kind != outputs::SendResult::Kind::kOk) {
      std::fprintf(stderr, "outputs_bench: direct send failed: %s\n", r.error.c_str());
      return 1;
    }
  }
  double direct_s = Seconds(start);

  // Through the queue: written as ingest writes (WriteAsync), delivered by the forwarder.
  batches = MakeBatches(points, per_batch, base_ns, 2);
  auto opened = outputs::QueuedOutput::Open(
      cfg, argv[4], outputs::MakeHttpSender(cfg, &error), [](std::function<void()> f) { f(); },
      [] { return std::chrono::system_clock::now().time_since_epoch().count(); });
  if (!opened.ok()) {
    std::fprintf(stderr, "outputs_bench: %s\n", opened.status().message().c_str());
    return 1;
  }
  auto& queued = *opened;
  start = std::chrono::steady_clock::now();
  for (const auto& b : batches) {
    queued->WriteAsync(b, [](Status s) {
      if (!s.ok()) {
        std::fprintf(stderr, "outputs_bench: queue write failed: %s\n", s.message().c_str());
        std::exit(1);
      }
    });
  }
  queued->Flush();
  double appended_s = Seconds(start);
  if (!queued->WaitDelivered(600'000'000'000)) {
    std::fprintf(stderr, "outputs_bench: not delivered within 10 minutes\n");
    return 1;
  }
  double queue_s = Seconds(start);
  auto stats = queued->Stats();
  queued->Stop();
  if (stats.points_sent != points) {
    std::fprintf(stderr, "outputs_bench: sent %llu of %zu points\n",
                 static_cast<unsigned long long>(stats.points_sent), points);
    return 1;
  }
  double direct_rate = points / direct_s, queue_rate = points / queue_s;
  std::printf("RESULT bench=outputs direct_points_per_s=%.0f points=%zu batch=%zu\n", direct_rate,
              points, per_batch);
  std::printf(
      "RESULT bench=outputs queue_points_per_s=%.0f points=%zu batch=%zu fsync=%d fsyncs=%llu\n",
      queue_rate, points, per_batch, cfg.fsync ? 1 : 0,
      static_cast<unsigned long long>(stats.queue.fsyncs));
  std::printf("RESULT bench=outputs queue_append_points_per_s=%.0f\n", points / appended_s);
  std::printf("RESULT bench=outputs queue_cost_pct=%.1f target_pct=20\n",
              100.0 * (1 - queue_rate / direct_rate));
  return 0;
}
