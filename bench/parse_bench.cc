// The write API's decoders alone (no I/O), with Google Benchmark: MB/s and lines/s on one
// core for line protocol, JSON and PB-JSON bodies of realistic points (8 tags, 5 fields of mixed
// types, ns timestamps), and the line-protocol encoder. Google Benchmark prints its table; one
// RESULT line per benchmark follows.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "model/json_points.h"
#include "model/line_protocol.h"
#include "model/pbjson_points.h"

namespace {

using namespace pythond::model;

constexpr int kPoints = 5000;

std::string Tag(const char* key, const std::string& value) {
  return std::string(",") + key + "=" + value;
}

const std::string& LineProtocolBody() {
  static const std::string body = [] {
    std::string lp;
    for (int i = 0; i < kPoints; ++i) {
      lp += "cpu" + Tag("host", "web" + std::to_string(i % 500)) +
            Tag("region", "eu-west-" + std::to_string(i % 3)) +
            Tag("az", "az" + std::to_string(i % 4)) + Tag("dc", "dc" + std::to_string(i % 2)) +
            Tag("env", "prod") + Tag("rack", "r" + std::to_string(i % 20)) +
            Tag("service", "api" + std::to_string(i % 7)) + Tag("team", "core") +
            " usage_user=12.5,usage_system=3.25,processes=" + std::to_string(100 + i) +
            "i,state=\"running\",healthy=true " + std::to_string(1700000000000000000LL + i) + "\n";
    }
    return lp;
  }();
  return body;
}

const std::string& JsonBody() {
  static const std::string body = [] {
    std::string json = "[";
    for (int i = 0; i < kPoints; ++i) {
      json += std::string(i ? "," : "") + R"({"measurement":"cpu","tags":{"host":"web)" +
              std::to_string(i % 500) + R"(","region":"eu-west-1","az":"az1","dc":"dc1",)" +
              R"("env":"prod","rack":"r1","service":"api1","team":"core"},)" +
              R"("fields":{"usage_user":12.5,"usage_system":3.25,"processes":)" +
              std::to_string(100 + i) + R"(,"state":"running","healthy":true},"time":)" +
              std::to_string(1700000000000000000LL + i) + "}";
    }
    return json + "]";
  }();
  return body;
}

const std::string& PbJsonBody() {
  static const std::string body = [] {
    std::string json = "[";
    auto tag = [](const char* k, const std::string& v) {
      return std::string(R"({"key":")") + k + R"(","s":")" + v + R"(","is_tag":true},)";
    };
    for (int i = 0; i < kPoints; ++i) {
      json += std::string(i ? "," : "") + R"({"name":"cpu","fields":[)" +
              tag("host", "web" + std::to_string(i % 500)) + tag("region", "eu-west-1") +
              tag("az", "az1") + tag("dc", "dc1") + tag("env", "prod") + tag("rack", "r1") +
              tag("service", "api1") + tag("team", "core") +
              R"({"key":"usage_user","f":12.5},{"key":"usage_system","f":3.25},)" +
              R"({"key":"processes","i":")" + std::to_string(100 + i) + R"("},)" +
              R"({"key":"state","s":"running"},{"key":"healthy","b":true}],"time":")" +
              std::to_string(1700000000000000000LL + i) + "\"}";
    }
    return json + "]";
  }();
  return body;
}

template <ParseResult (*Parse)(std::string_view, const ParseOptions&)>
void Decode(benchmark::State& state, const std::string& body) {
  ParseOptions options{Precision::kAuto, 1700000000000000000LL};
  for (auto _ : state) {
    ParseResult r = Parse(body, options);
    if (r.points.size() != kPoints) state.SkipWithError("wrong number of points");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * body.size());
  state.SetItemsProcessed(state.iterations() * kPoints);
}

void BM_ParseLineProtocol(benchmark::State& s) { Decode<ParseLineProtocol>(s, LineProtocolBody()); }
void BM_ParseJson(benchmark::State& s) { Decode<ParseJsonPoints>(s, JsonBody()); }
void BM_ParsePbJson(benchmark::State& s) { Decode<ParsePbJsonPoints>(s, PbJsonBody()); }

void BM_EncodeLineProtocol(benchmark::State& state) {
  auto points = ParseLineProtocol(LineProtocolBody(), {}).points;
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const Point& p : points) AppendLineProtocol(out, p);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * LineProtocolBody().size());
  state.SetItemsProcessed(state.iterations() * kPoints);
}

BENCHMARK(BM_ParseLineProtocol)->MinTime(0.5);
BENCHMARK(BM_ParseJson)->MinTime(0.5);
BENCHMARK(BM_ParsePbJson)->MinTime(0.5);
BENCHMARK(BM_EncodeLineProtocol)->MinTime(0.5);

// Google Benchmark's console table, then one RESULT line per benchmark.
class ResultReporter : public benchmark::ConsoleReporter {
 public:
  ResultReporter() : ConsoleReporter(OO_Tabular) {}  // no colour codes in logs
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      double bytes =
          run.counters.count("bytes_per_second") ? double(run.counters.at("bytes_per_second")) : 0;
      double items =
          run.counters.count("items_per_second") ? double(run.counters.at("items_per_second")) : 0;
      lines_.push_back("RESULT bench=parse name=" + run.benchmark_name() +
                       " mb_per_s=" + std::to_string(bytes / 1e6) + " lines_per_s=" +
                       std::to_string(static_cast<long long>(items)) + " cores=1");
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    for (const auto& l : lines_) std::printf("%s\n", l.c_str());
  }

 private:
  std::vector<std::string> lines_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  ResultReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
