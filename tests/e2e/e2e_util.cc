#include "e2e_util.h"

#include <cstdlib>
#include <iostream>
#include <set>

// The listener below needs Catch's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "server/rpc_status.h"

#ifndef CLAWCTL_BINARY
#error "CLAWCTL_BINARY must name the clawctl executable"
#endif

namespace claw::e2e {

const std::vector<std::string>& FastFlags() {
  static const std::vector<std::string> flags = {
      "--raft-tick-ms", "50",                  // election timeout 500 ms
      "--raft-node-dead-after-ms", "1000",     // sleeping followers notice a dead leader in 1 s
      "--shutdown-drain-timeout-ms", "3000",   // SIGTERM moves leaders away within 3 s
      "--storage-block-cache-bytes", "8MiB",
      "--storage-write-buffer-bytes", "8MiB",
      "--log-level", "info"};
  return flags;
}

TestCluster& SharedCluster() {
  static std::unique_ptr<TestCluster> shared;
  if (!shared) {
    shared = std::make_unique<TestCluster>(ClusterOptions{.nodes = 3, .shards = 4, .flags = FastFlags()});
    const bool up = shared->StartAllAndWait();
    if (!up) {
      const std::string logs = shared->DumpLogs();
      shared.reset();
      FAIL("the shared cluster did not start:\n" << logs);
    }
  }
  return *shared;
}

v1::Error Detail(const grpc::Status& s) {
  v1::Error e;
  server::ErrorDetail(s, &e);
  return e;
}

std::vector<v1::ShardRoute> Routes(const TestCluster& c, int via) {
  v1::ListShardsResponse resp;
  grpc::Status s = c.Admin(via)->ListShards(Ctx().get(), v1::ListShardsRequest(), &resp);
  REQUIRE(s.ok());
  return {resp.shards().begin(), resp.shards().end()};
}

v1::ShardRoute RouteFor(const TestCluster& c, const std::string& key, int via) {
  for (const v1::ShardRoute& r : Routes(c, via)) {
    const auto& d = r.shard();
    if (key >= d.start_key() && (d.end_key().empty() || key < d.end_key())) return r;
  }
  FAIL("no shard owns the key");
  return {};
}

int LeaderIndex(const TestCluster& c, const std::string& key, int via) {
  // No owner is a moment, not a failure: a node applying a split shrinks the left shard in its
  // directory just before it adds the right one, and callers poll this in Eventually.
  for (const v1::ShardRoute& r : Routes(c, via)) {
    const auto& d = r.shard();
    if (key >= d.start_key() && (d.end_key().empty() || key < d.end_key())) {
      return c.IndexOfAddress(r.leader_address());
    }
  }
  return -1;
}

int FollowerIndex(const TestCluster& c, const std::string& key, int via) {
  const int leader = LeaderIndex(c, key, via);
  REQUIRE(leader >= 0);
  return (leader + 1) % c.size();
}

std::unique_ptr<v1::KV::Stub> KvAt(const std::string& address) {
  return v1::KV::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), TestChannelArgs()));
}

std::unique_ptr<client::Client> OpenClient(const TestCluster& c, std::chrono::milliseconds deadline) {
  client::ClientOptions o;
  for (int i = 0; i < c.size(); ++i) o.endpoints.push_back(c.client_address(i));
  o.default_deadline = deadline;
  o.seed = 42;
  auto opened = client::Client::Open(o);
  REQUIRE(opened.has_value());
  return std::move(*opened);
}

std::string K(unsigned char first, std::string_view rest) {
  std::string k(1, static_cast<char>(first));
  k += rest;
  return k;
}

bool Eventually(const std::function<bool()>& ok, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (ok()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ClawdPath() { return CLAWD_BINARY; }
std::string ClawctlPath() { return CLAWCTL_BINARY; }

std::string Endpoints(const TestCluster& c) {
  std::string out;
  for (int i = 0; i < c.size(); ++i) out += (i ? "," : "") + c.client_address(i);
  return out;
}

ProcessResult RunClawctl(const std::string& endpoints, const std::vector<std::string>& args,
                         const std::string& input, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {ClawctlPath(), "--endpoints", endpoints, "--timeout", "5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv, input, timeout);
  UNSCOPED_INFO("clawctl exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

double SampleValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

namespace {

// Prints the tail of every live cluster's logs and its nodes' stacks once per failing test case.
class LogDumpListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    dumped_ = info.okToFail();  // [!mayfail] tests document known bugs: no log dump
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk() && !dumped_) {
      dumped_ = true;
      for (const TestCluster* c : LiveClusters()) {
        std::cerr << "==== logs of cluster " << c->dir() << "\n" << c->DumpLogs(30);
        std::cerr << "==== stacks of cluster " << c->dir() << "\n" << c->DumpStacks();
      }
    }
    return TestEventListenerBase::assertionEnded(stats);
  }

 private:
  bool dumped_ = false;
};

}  // namespace
}  // namespace claw::e2e

namespace {
using E2eLogDumpListener = claw::e2e::LogDumpListener;
}  // namespace
CATCH_REGISTER_LISTENER(E2eLogDumpListener)
