// Append speed of the disk queue with fsync on: TOTAL_BYTES in Append calls of one BLOCK_BYTES
// payload each, from THREADS threads (each an equal share), into a fresh DiskQueue in DIR. The
// time runs from the first Append to the last one's return, so every byte counted is durable.
// One RESULT line; bench/queue/run.sh compares it with dd writing the same bytes with O_DSYNC.
//
// usage: queue_bench DIR BLOCK_BYTES TOTAL_BYTES [THREADS]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "outputs/disk_queue.h"

int main(int argc, char** argv) {
  using namespace pythond;
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: %s DIR BLOCK_BYTES TOTAL_BYTES [THREADS]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const uint64_t block = std::strtoull(argv[2], nullptr, 10);
  const uint64_t total = std::strtoull(argv[3], nullptr, 10);
  const int threads = argc == 5 ? std::atoi(argv[4]) : 1;
  if (block == 0 || total < block || threads < 1) {
    std::fprintf(stderr, "queue_bench: bad arguments\n");
    return 2;
  }
  const uint64_t writes = total / block;

  outputs::DiskQueueOptions options;
  options.dir = dir;
  options.max_bytes = std::max<uint64_t>(options.max_bytes, 2 * total);
  auto queue = outputs::DiskQueue::Open(options);
  if (!queue.ok()) {
    std::fprintf(stderr, "queue_bench: %s\n", queue.status().ToString().c_str());
    return 1;
  }
  const std::string payload(block, 'x');
  std::atomic<bool> failed{false};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::vector<std::string_view> batch{payload};
      for (uint64_t i = t; i < writes; i += threads) {
        if (Status s = (*queue)->Append(batch); !s.ok()) {
          std::fprintf(stderr, "queue_bench: %s\n", s.ToString().c_str());
          failed = true;
          return;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) return 1;
  auto stats = (*queue)->Stats();
  const double mib = double(writes * block) / (1 << 20);
  std::printf(
      "RESULT bench=queue writer=disk_queue block=%llu threads=%d writes=%llu mib=%.2f "
      "seconds=%.3f mib_per_s=%.2f writes_per_s=%.0f fsyncs=%llu\n",
      static_cast<unsigned long long>(block), threads, static_cast<unsigned long long>(writes), mib,
      seconds, mib / seconds, writes / seconds, static_cast<unsigned long long>(stats.fsyncs));
  return 0;
}
