// Decoding speed of the write API's body formats, in the agent's own parsers (no I/O).
// Prints one RESULT line per figure: points per second, best of 5 rounds of >= 0.3 s.
// Peers (VictoriaMetrics, InfluxDB) are measured end to end in the ingest issue's benchmark.
#include <chrono>
#include <cstdio>
#include <string>

#include "model/json_points.h"
#include "model/line_protocol.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double BestPointsPerSecond(size_t points_per_call, F&& call) {
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    size_t points = 0;
    auto start = Clock::now();
    double elapsed = 0;
    while (elapsed < 0.3) {
      points += call() == points_per_call ? points_per_call : 0;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    best = std::max(best, points / elapsed);
  }
  return best;
}

}  // namespace

int main() {
  using namespace pythond::model;
  constexpr int kPoints = 5000;
  std::string lp, json = "[";
  for (int i = 0; i < kPoints; ++i) {
    lp +=
        "cpu,host=web" + std::to_string(i % 50) + ",cpu=cpu" + std::to_string(i % 8) +
        " usage_user=12.5,usage_system=3.25,usage_idle=84.25,processes=" + std::to_string(100 + i) +
        "i,state=\"running\" " + std::to_string(1700000000000000000LL + i) + "\n";
    json += std::string(i ? "," : "") + R"({"measurement":"cpu","tags":{"host":"web)" +
            std::to_string(i % 50) +
            R"(","cpu":"cpu1"},"fields":{"usage_user":12.5,"usage_system":3.25,"processes":)" +
            std::to_string(100 + i) + R"(,"state":"running"},"time":)" +
            std::to_string(1700000000000000000LL + i) + "}";
  }
  json += "]";
  ParseOptions options{Precision::kAuto, 1700000000000000000LL};

  double lp_rate =
      BestPointsPerSecond(kPoints, [&] { return ParseLineProtocol(lp, options).points.size(); });
  std::printf("RESULT lp_parse_points_per_s=%.0f lp_parse_mb_per_s=%.1f\n", lp_rate,
              lp_rate * (lp.size() / double(kPoints)) / 1e6);
  double json_rate =
      BestPointsPerSecond(kPoints, [&] { return ParseJsonPoints(json, options).points.size(); });
  std::printf("RESULT json_parse_points_per_s=%.0f json_parse_mb_per_s=%.1f\n", json_rate,
              json_rate * (json.size() / double(kPoints)) / 1e6);
  auto parsed = ParseLineProtocol(lp, options).points;
  double encode_rate = BestPointsPerSecond(kPoints, [&] {
    std::string out;
    out.reserve(lp.size());
    for (const auto& p : parsed) AppendLineProtocol(out, p);
    return parsed.size();
  });
  std::printf("RESULT lp_encode_points_per_s=%.0f\n", encode_rate);
  return 0;
}
