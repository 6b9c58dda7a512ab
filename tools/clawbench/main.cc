// clawbench: a load generator for a clawd cluster. This first version drives puts: N client
// threads share one claw::client::Client (as an application would) and each issues synchronous
// puts of distinct keys spread over the key space (so over every shard) for a fixed count or
// time, then it prints throughput and latency percentiles. The full benchmark (reads, mixes,
// etcd comparison) builds on it.
//
//   clawbench [--endpoints A,B,C] [--clients N] [--requests N] [--seconds S] [--value-size B]
//             [--durability quorum|leader]
//
// Exit codes: 0 done, 1 a request failed, 2 usage error.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"

namespace {

struct Args {
  std::vector<std::string> endpoints{"127.0.0.1:7379"};
  int clients = 1;
  uint64_t requests = 10'000;
  double seconds = 0;
  size_t value_size = 100;
  claw::client::Durability durability = claw::client::Durability::kQuorum;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "clawbench: %s\nusage: clawbench [--endpoints A,B,C] [--clients 1..4096] [--requests N] "
               "[--seconds S] [--value-size B] [--durability quorum|leader]\n",
               why.c_str());
  std::exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const std::string v = argv[++i];
    char* end = nullptr;
    if (flag == "--endpoints") {
      a.endpoints.clear();
      for (size_t p = 0; p <= v.size();) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        if (q > p) a.endpoints.push_back(v.substr(p, q - p));
        p = q + 1;
      }
    } else if (flag == "--clients") {
      a.clients = static_cast<int>(std::strtol(v.c_str(), &end, 10));
      if (*end || a.clients < 1 || a.clients > 4096) Usage("--clients needs 1..4096");
    } else if (flag == "--requests") {
      a.requests = std::strtoull(v.c_str(), &end, 10);
      if (*end || a.requests == 0) Usage("--requests needs a positive integer");
    } else if (flag == "--seconds") {
      a.seconds = std::strtod(v.c_str(), &end);
      if (*end || a.seconds <= 0) Usage("--seconds needs a positive number");
    } else if (flag == "--value-size") {
      a.value_size = std::strtoull(v.c_str(), &end, 10);
      if (*end) Usage("--value-size needs an integer");
    } else if (flag == "--durability") {
      if (v == "quorum") {
        a.durability = claw::client::Durability::kQuorum;
      } else if (v == "leader") {
        a.durability = claw::client::Durability::kLeader;
      } else {
        Usage("--durability is quorum or leader");
      }
    } else {
      Usage("unknown flag " + flag);
    }
  }
  return a;
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t k = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(k, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  auto client = claw::client::Client::Open({.endpoints = args.endpoints});
  if (!client) {
    std::fprintf(stderr, "clawbench: %s\n", client.error().ToString().c_str());
    return 1;
  }
  // Warm the route cache so that the first measured put does not pay for it.
  if (auto shards = (*client)->ListShards(); !shards) {
    std::fprintf(stderr, "clawbench: cannot list shards: %s\n", shards.error().ToString().c_str());
    return 1;
  }
  const std::string value(args.value_size, 'v');
  std::atomic<uint64_t> issued{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<double> latencies_us;
  const auto start = std::chrono::steady_clock::now();
  const auto stop_at = args.seconds > 0 ? start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(args.seconds))
                                        : std::chrono::steady_clock::time_point::max();
  std::vector<std::thread> threads;
  for (int t = 0; t < args.clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<double> mine;
      claw::client::CallOptions opts;
      opts.durability = args.durability;
      uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1);
      while (!failed.load() && std::chrono::steady_clock::now() < stop_at) {
        const uint64_t n = issued.fetch_add(1);
        if (args.seconds == 0 && n >= args.requests) break;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Two random leading bytes spread keys over every shard (shards split on them).
        std::string key{static_cast<char>(x >> 56), static_cast<char>(x >> 48)};
        key += "bench/" + std::to_string(t) + "/" + std::to_string(n);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = (*client)->Put(key, value, opts);
        const auto t1 = std::chrono::steady_clock::now();
        if (!r) {
          std::fprintf(stderr, "clawbench: put failed: %s\n", r.error().ToString().c_str());
          failed.store(true);
          break;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      std::lock_guard lock(mu);
      latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  std::printf("clients %d  puts %zu  value %zu B  durability %s  elapsed %.2f s\n", args.clients,
              latencies_us.size(), args.value_size,
              args.durability == claw::client::Durability::kLeader ? "leader" : "quorum", elapsed);
  std::printf("throughput %.0f puts/s  latency p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n",
              static_cast<double>(latencies_us.size()) / elapsed, Percentile(latencies_us, 0.50) / 1000,
              Percentile(latencies_us, 0.99) / 1000, Percentile(latencies_us, 0.999) / 1000,
              latencies_us.empty() ? 0.0 : latencies_us.back() / 1000);
  return failed.load() ? 1 : 0;
}
