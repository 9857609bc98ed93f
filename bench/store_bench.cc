// Write speed of the embedded store alone: batches of parsed points into SqliteStore (a fresh
// database in a temporary folder), timed until Flush() returns. One RESULT line.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "model/line_protocol.h"
#include "store/sqlite_store.h"

int main() {
  using namespace pythond;
  constexpr int kLines = 1000, kBatches = 200;
  std::string lp;
  for (int i = 0; i < kLines; ++i) {
    lp += "cpu,host=web" + std::to_string(i % 50) + ",region=eu-" + std::to_string(i % 3) +
          ",az=az" + std::to_string(i % 4) + ",env=prod,service=api" + std::to_string(i % 7) +
          ",team=core,rack=r" + std::to_string(i % 20) + ",dc=dc" + std::to_string(i % 2) +
          " usage_user=12.5,usage_system=3.25,processes=" + std::to_string(100 + i) +
          "i,state=\"running\",healthy=true " + std::to_string(1700000000000000000LL + i) + "\n";
  }
  auto parsed = model::ParseLineProtocol(lp, {model::Precision::kNanosecond, 0});
  std::string tmpl = (std::filesystem::temp_directory_path() / "pythond-bench-XXXXXX").string();
  std::filesystem::path dir = mkdtemp(tmpl.data());
  store::StoreOptions options;
  options.path = dir / "bench.db";
  options.max_queue_bytes = int64_t{4} << 30;
  auto store = store::SqliteStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < kBatches; ++b) {
    auto batch = std::make_shared<model::PointBatch>();
    batch->input = "bench";
    batch->points = parsed.points;
    if (!(*store)->Write(std::move(batch)).ok()) return 1;
  }
  (*store)->Flush();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto stats = (*store)->Stats();
  (*store)->Stop();
  std::error_code ec;
  auto bytes = std::filesystem::file_size(options.path, ec);
  std::printf("RESULT bench=store rows_per_s=%.0f us_per_row=%.2f rows=%llu bytes_per_row=%.0f\n",
              stats.rows_written / seconds, seconds * 1e6 / stats.rows_written,
              static_cast<unsigned long long>(stats.rows_written),
              double(bytes) / stats.rows_written);
  std::filesystem::remove_all(dir, ec);
  return 0;
}
