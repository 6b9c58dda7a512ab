// S19 overload (reliability.md §10.3): while the register workload runs, many load threads put
// at every node as fast as the nodes answer (closed loop with no think time and 1 s deadlines:
// far above what 3 nodes on this machine take), one put in 8 a 1 MiB value, the others 1 KiB, on
// keys of their own in every shard. Then the load stops. Checks: no node dies, each node's RSS
// (VmRSS, sampled every 200 ms) stays below a bound, every rejected put fails with
// RESOURCE_EXHAUSTED / UNAVAILABLE / DEADLINE_EXCEEDED, the register history (admitted
// operations) is linearizable with the common checks, and the workload's throughput 3-5 s after
// the end of the load is at least half its pre-load rate (reliability.md: back within 5 s).
// Leader elections during the load are counted and printed (not checked).
// Replay one: CLAW_FAULT_SEED=<seed> build/tests/fault_tests "<test name>" (see README.md).
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "claw/v1/kv.grpc.pb.h"
#include "scenario.h"

namespace claw::fault {
namespace {

using namespace std::chrono_literals;
using lincheck::Outcome;

// RSS bound per node: far above clawd's configured budgets under FastFlags (8 MiB block cache,
// 8 MiB memtables, 64 MiB pending request bytes, 64 MiB uncommitted bytes per leader), far below
// what an unbounded queue of 1 MiB puts would take.
constexpr uint64_t kRssBoundBytes = 1536ull << 20;

// "leader at term" lines in node i's log from byte `from` on: elections it won.
size_t ElectionsWon(const e2e::TestCluster& c, int i, uint64_t from) {
  std::ifstream in(c.log_path(i));
  in.seekg(static_cast<std::streamoff>(from));
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(": leader at term") != std::string::npos;
  return n;
}

uint64_t LogBytes(const e2e::TestCluster& c, int i) {
  std::ifstream in(c.log_path(i), std::ios::ate | std::ios::binary);
  const auto end = in.tellg();
  return end < 0 ? 0 : static_cast<uint64_t>(end);
}

uint64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) << 10;  // kB
  }
  return 0;
}

std::string CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    default: return "code " + std::to_string(static_cast<int>(c));
  }
}

// Ok register operations that returned in [from, to) (workload microseconds), per second.
double OkRate(const std::vector<Record>& history, int64_t from, int64_t to) {
  size_t n = 0;
  for (const Record& r : history) n += r.op.outcome == Outcome::kOk && r.op.ret && *r.op.ret >= from && *r.op.ret < to;
  return static_cast<double>(n) * 1e6 / static_cast<double>(to - from);
}

Result Overload(uint64_t seed, std::chrono::milliseconds load_for, int threads) {
  Scenario s({.name = "S19-overload", .seed = seed, .clients = 6, .recovery = 1000ms});
  REQUIRE(s.StartCluster());
  s.StartWorkload();
  s.Warmup(2s);
  std::vector<uint64_t> log_from;
  for (int i = 0; i < s.cluster().size(); ++i) log_from.push_back(LogBytes(s.cluster(), i));
  const int64_t load_from = s.workload().Now();
  const double before = OkRate(s.workload().History(), load_from - 1500000, load_from);

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, size_t> codes;  // guarded by mu
  uint64_t bytes_acked = 0;             // guarded by mu
  std::vector<std::thread> load;
  const std::vector<unsigned char> shard_firsts = {0x34, 0x74, 0xb4, 0xf4};
  for (int t = 0; t < threads; ++t) {
    load.emplace_back([&, t] {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetMaxSendMessageSize(8 << 20);
      auto stub = v1::KV::NewStub(grpc::CreateCustomChannel(s.cluster().client_address(t % s.cluster().size()),
                                                            grpc::InsecureChannelCredentials(), args));
      const std::string big(1 << 20, static_cast<char>('a' + t % 26));
      const std::string small(1 << 10, static_cast<char>('A' + t % 26));
      std::map<std::string, size_t> mine;
      uint64_t acked = 0;
      for (uint64_t n = 0; !stop; ++n) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 1s);
        v1::PutRequest req;
        req.set_key(std::string(1, static_cast<char>(shard_firsts[n % shard_firsts.size()])) + "load/" +
                    std::to_string(t) + "/" + std::to_string(n));
        req.set_value(n % 8 == 0 ? big : small);
        req.mutable_header()->set_forward(true);  // a node not leading the shard forwards it
        v1::PutResponse resp;
        const grpc::Status st = stub->Put(&ctx, req, &resp);
        ++mine[CodeName(st.error_code())];
        if (st.ok()) acked += req.value().size();
      }
      std::lock_guard lock(mu);
      for (const auto& [code, count] : mine) codes[code] += count;
      bytes_acked += acked;
    });
  }
  s.Note("overload: " + std::to_string(threads) + " load threads");
  std::vector<uint64_t> max_rss(static_cast<size_t>(s.cluster().size()), 0);
  const auto until = std::chrono::steady_clock::now() + load_for;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < s.cluster().size(); ++i) {
      if (s.cluster().Running(i)) max_rss[static_cast<size_t>(i)] = std::max(max_rss[static_cast<size_t>(i)], RssBytes(s.cluster().pid(i)));
    }
    std::this_thread::sleep_for(200ms);
  }
  stop = true;
  for (std::thread& th : load) th.join();
  const int64_t load_to = s.workload().Now();
  size_t elections = 0;
  for (int i = 0; i < s.cluster().size(); ++i) elections += ElectionsWon(s.cluster(), i, log_from[static_cast<size_t>(i)]);
  s.Note("overload stopped; " + std::to_string(elections) + " elections won during it");
  s.Sleep(5s);
  const std::vector<Record> history = s.workload().History();
  const double during = OkRate(history, load_from, load_to);
  const double after = OkRate(history, load_to + 3000000, load_to + 5000000);

  std::string rss;
  for (size_t i = 0; i < max_rss.size(); ++i) {
    rss += " n" + std::to_string(i + 1) + " " + std::to_string(max_rss[i] >> 20) + " MiB";
    s.Check(max_rss[i] > 0 && max_rss[i] < kRssBoundBytes,
            "n" + std::to_string(i + 1) + "'s RSS reached " + std::to_string(max_rss[i] >> 20) + " MiB (bound " +
                std::to_string(kRssBoundBytes >> 20) + " MiB)");
  }
  std::string seen;
  size_t total = 0;
  const std::set<std::string> clean = {"OK", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"};
  for (const auto& [code, count] : codes) {
    seen += " " + code + " x" + std::to_string(count);
    total += count;
    s.Check(clean.contains(code), std::to_string(count) + " load puts failed with " + code +
                                      ", not RESOURCE_EXHAUSTED / UNAVAILABLE / DEADLINE_EXCEEDED");
  }
  std::cout << "  S19: " << total << " load puts:" << seen << "; " << (bytes_acked >> 20)
            << " MiB acknowledged; max RSS" << rss << "; register ok ops/s before " << static_cast<int>(before)
            << ", during " << static_cast<int>(during) << ", 3-5 s after " << static_cast<int>(after) << "; "
            << elections << " elections won during the load\n";
  s.Note("load puts:" + seen + "; max RSS" + rss);
  s.Check(total > 0, "the load threads sent nothing");
  s.Check(after >= 0.5 * before, "throughput did not come back within 5 s of the end of the load: " +
                                     std::to_string(static_cast<int>(after)) + " ok ops/s, before " +
                                     std::to_string(static_cast<int>(before)));
  return s.Finish();
}

}  // namespace

TEST_CASE("S19 overload: 32 load threads with 1 MiB values for 3 s, then recovery", "[fault]") {
  CHECK(Overload(Seed(1), 3s, 32).passed);
}

TEST_CASE("S19 overload, 64 load threads for 20 s", "[fault][slow]") {
  CHECK(Overload(Seed(2), 20s, 64).passed);
}

}  // namespace claw::fault
