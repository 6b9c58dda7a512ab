// raft_bench: throughput and footprint of the Raft core on the simulated cluster (tests/sim), with
// no faults and no invariant checker. A program, not a test: it prints figures and exits 0.
//
// Throughput: simulated proposals committed (applied at the proposing leader) per second of
// process CPU time, for 1 group and for 1,000 groups on 3 nodes, each group's leader proposing a
// batch every tick. The CPU time covers the whole simulated host (network, log writer, apply), so
// it is a lower bound for the core alone.
// Footprint: heap bytes per idle Replica (bare, over an empty MemoryLogStorage), and heap per
// replica of each world after leaders are elected and after the load.
//
// Usage: build/tests/raft_bench [scale]   (default 1: 100 s of simulated load for 1 group, 2 s for
// 1,000 groups)
#include <malloc.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "raft/memory_log_storage.h"
#include "raft/replica.h"
#include "tests/sim/sim_world.h"

namespace claw::sim {
namespace {

constexpr Time kTick = 10'000;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Bytes currently allocated from the heap (glibc; 0 under sanitizers that replace malloc).
size_t HeapBytes() { return mallinfo2().uordblks; }

WorldConfig BenchConfig(int groups) {
  WorldConfig c;
  c.seed = 42;
  c.nodes = 3;
  c.groups = groups;
  c.tick_period = kTick;
  c.record_acked = false;
  c.options.election_ticks = 10;
  c.options.heartbeat_ticks = 1;
  return c;
}

bool AllLed(const World& w) {
  for (int g = 0; g < w.groups(); ++g) {
    if (!w.FindLeader(g)) return false;
  }
  return true;
}

struct Throughput {
  uint64_t committed = 0;
  double cpu = 0;
  double simulated = 0;
};

// Each tick, every group's leader proposes `batch` values of `value_bytes` bytes.
Throughput Load(World& w, int batch, size_t value_bytes, Time duration) {
  const uint64_t acked_before = w.stats().acked;
  const Time start = w.now();
  const double cpu_start = CpuSeconds();
  uint64_t next = 0;
  const std::string pad(value_bytes > 12 ? value_bytes - 12 : 0, 'x');
  while (w.now() < start + duration) {
    for (int g = 0; g < w.groups(); ++g) {
      const std::optional<int> leader = w.FindLeader(g);
      if (!leader) continue;
      std::vector<std::string> values;
      values.reserve(size_t(batch));
      for (int i = 0; i < batch; ++i) values.push_back(std::to_string(next++) + pad);
      w.ProposeBatch(*leader, g, std::move(values));
    }
    w.RunFor(kTick);
  }
  w.RunFor(5 * kTick);  // drain: let the last batches commit
  Throughput t;
  t.committed = w.stats().acked - acked_before;
  t.cpu = CpuSeconds() - cpu_start;
  t.simulated = double(w.now() - start) / 1e6;
  return t;
}

void RunThroughput(int groups, int batch, Time duration) {
  const size_t heap0 = HeapBytes();
  World w(BenchConfig(groups), nullptr);
  for (int i = 0; i < 200 && !AllLed(w); ++i) w.RunFor(kTick);
  w.RunFor(20 * kTick);
  const size_t replicas = size_t(groups) * 3;
  const size_t heap_idle = HeapBytes();
  const Throughput t = Load(w, batch, 16, duration);
  const size_t heap_loaded = HeapBytes();
  std::printf(
      "groups=%-5d batch/tick=%-4d committed=%-9llu cpu=%6.2fs simulated=%5.1fs  "
      "=> %9.0f proposals/cpu-s  %6.2f us/proposal\n",
      groups, batch, (unsigned long long)t.committed, t.cpu, t.simulated,
      double(t.committed) / t.cpu, 1e6 * t.cpu / double(t.committed ? t.committed : 1));
  std::printf(
      "            heap per replica incl. its storage and host state: %zu B idle, %zu B after "
      "the load (the log is never compacted here)\n",
      (heap_idle - heap0) / replicas, (heap_loaded - heap0) / replicas);
}

void RunFootprint() {
  constexpr int kCount = 10'000;
  raft::ConfState conf;
  conf.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  std::vector<std::unique_ptr<raft::MemoryLogStorage>> storages;
  std::vector<std::unique_ptr<raft::Replica>> replicas;
  storages.reserve(kCount);
  replicas.reserve(kCount);
  const size_t heap0 = HeapBytes();
  for (int i = 0; i < kCount; ++i) storages.push_back(std::make_unique<raft::MemoryLogStorage>(conf));
  const size_t heap1 = HeapBytes();
  for (int i = 0; i < kCount; ++i) {
    raft::Options o;
    o.id = raft::NodeId(1);
    o.seed = uint64_t(i);
    replicas.push_back(std::make_unique<raft::Replica>(o, storages[size_t(i)].get()));
  }
  const size_t heap2 = HeapBytes();
  std::printf(
      "bare idle replica (3-voter group, empty log): %zu B heap per Replica "
      "(+ %zu B per MemoryLogStorage); sizeof(Replica)=%zu\n",
      (heap2 - heap1) / kCount, (heap1 - heap0) / kCount, sizeof(raft::Replica));
}

}  // namespace
}  // namespace claw::sim

int main(int argc, char** argv) {
  using claw::sim::kTick;
  const char* usage =
      "Usage: raft_bench [scale]\n"
      "Prints Raft core throughput (proposals committed per CPU-second) for 1 and 1,000 groups on\n"
      "3 simulated nodes, and per-replica memory. scale (a positive number, default 1) multiplies\n"
      "the simulated load: 100 s for 1 group, 2 s for 1,000 groups.\n";
  double scale = 1.0;
  if (argc > 2) {
    std::fputs(usage, stderr);
    return 64;
  }
  if (argc == 2) {
    const std::string arg = argv[1];
    if (arg == "-h" || arg == "--help") {
      std::fputs(usage, stdout);
      return 0;
    }
    char* end = nullptr;
    scale = std::strtod(argv[1], &end);
    if (end == argv[1] || *end != '\0' || !(scale > 0) || scale > 1000) {
      std::fprintf(stderr, "raft_bench: scale must be a number in (0, 1000], got '%s'\n%s",
                   argv[1], usage);
      return 64;
    }
  }
  auto seconds = [scale](double s) { return claw::sim::Time(s * scale * 1e6) / kTick * kTick; };
  std::printf("raft_bench: 3 nodes, no faults, no checker, 10 ms ticks, 16-byte values\n");
  claw::sim::RunFootprint();
  claw::sim::RunThroughput(1, 1, seconds(100));
  claw::sim::RunThroughput(1, 64, seconds(100));
  claw::sim::RunThroughput(1000, 1, seconds(2));
  claw::sim::RunThroughput(1000, 16, seconds(2));
  return 0;
}
