// Whole-cluster restarts and node failures with real processes: SIGTERM of every node (exit 0)
// and SIGKILL of every node keep every acknowledged write; SIGKILL of a shard's leader lets writes
// resume through the client within a bounded time with the earlier data intact; a write whose
// deadline passes without a quorum is indeterminate and its retry with the same request id
// applies once.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using client::Op;

struct Stored {
  std::string value;
  uint64_t version = 0;
  uint64_t mod_ts = 0;
};

// Every live key of the cluster, read through a client.
std::map<std::string, Stored> ReadAll(client::Client& c) {
  auto r = c.Scan("", "");
  REQUIRE(r.has_value());
  CHECK_FALSE(r->more);
  std::map<std::string, Stored> out;
  for (const auto& kv : r->kvs) out[kv.key] = Stored{kv.value, kv.version, kv.mod_ts};
  return out;
}

bool SameData(const std::map<std::string, Stored>& a, const std::map<std::string, Stored>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second.value != v.value || it->second.version != v.version ||
        it->second.mod_ts != v.mod_ts) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("failover: every node restarted by SIGTERM, then by SIGKILL, keeps acknowledged writes", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  std::map<std::string, Stored> before;
  {
    auto client = OpenClient(c);
    std::vector<Op> ops;
    for (unsigned char first : {0x05, 0x45, 0x85, 0xc5}) {
      for (int i = 0; i < 50; ++i) ops.push_back(Op::Put(K(first, "restart/" + std::to_string(i)), "v1"));
    }
    REQUIRE(client->Batch(ops).has_value());
    // Some keys at version 3, some deleted, so that versions and tombstones must survive too.
    for (unsigned char first : {0x05, 0x45, 0x85, 0xc5}) {
      for (int i = 0; i < 10; ++i) {
        const std::string k = K(first, "restart/" + std::to_string(i));
        REQUIRE(client->Put(k, "v2").has_value());
        REQUIRE(client->Put(k, "v3").has_value());
      }
      REQUIRE(client->DeleteRange(K(first, "restart/4"), K(first, "restart/5")).has_value());
    }
    before = ReadAll(*client);
    REQUIRE(before.size() == 4 * (50 - 11));  // restart/4 and restart/40..49 deleted per shard
    CHECK(before[K(0x85, "restart/3")].value == "v3");
    CHECK(before[K(0x85, "restart/3")].version == 3);
  }

  // SIGTERM, one node after the other: each exits 0.
  for (int i = 0; i < c.size(); ++i) {
    INFO("node " << c.node_id(i));
    CHECK(c.Stop(i) == 0);
  }
  REQUIRE(c.StartAllAndWait());
  uint64_t max_ts = 0;
  {
    auto client = OpenClient(c);
    const auto after = ReadAll(*client);
    CHECK(after.size() == before.size());
    CHECK(SameData(before, after));
    for (const auto& [k, v] : after) max_ts = std::max(max_ts, v.mod_ts);
    // The clock does not go back: a new write stamps above every old one.
    auto put = client->Put(K(0x85, "restart/3"), "v4");
    REQUIRE(put.has_value());
    CHECK(put->mod_ts > max_ts);
    auto got = client->Get(K(0x85, "restart/3"));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->version == 4);
  }

  // Writers race a SIGKILL of every node; whatever was acknowledged must be there afterwards.
  std::mutex mu;
  std::map<std::string, std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  {
    auto client = OpenClient(c, std::chrono::milliseconds(1500));
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
      writers.emplace_back([&, w] {
        for (int n = 0; !stop.load(); ++n) {
          const unsigned char first = static_cast<unsigned char>(0x10 + 0x40 * (n % 4));
          const std::string key = K(first, "kill/" + std::to_string(w) + "/" + std::to_string(n));
          const std::string value = "w" + std::to_string(w) + "n" + std::to_string(n);
          if (client->Put(key, value).has_value()) {
            std::lock_guard lock(mu);
            acked[key] = value;
            ++writes;
          }
        }
      });
    }
    REQUIRE(Eventually([&] { return writes.load() >= 150; }, std::chrono::seconds(20)));
    c.KillAll();
    stop = true;
    for (auto& t : writers) t.join();
  }
  REQUIRE(acked.size() >= 150);
  REQUIRE(c.StartAllAndWait());
  auto client = OpenClient(c);
  int missing = 0;
  for (const auto& [key, value] : acked) {
    auto got = client->Get(key);
    REQUIRE(got.has_value());
    if (!got->has_value() || (*got)->value != value) {
      ++missing;
      UNSCOPED_INFO("acknowledged write lost: " << key);
    }
  }
  CHECK(missing == 0);
  // And the data of the first phase is still there (plus the v4 write).
  auto restart3 = client->Get(K(0x85, "restart/3"));
  REQUIRE(restart3.has_value());
  REQUIRE(restart3->has_value());
  CHECK((*restart3)->value == "v4");
  auto all = client->Scan(K(0x05, "restart/"), K(0xc5, "restart0"));
  REQUIRE(all.has_value());
  size_t restart_keys = 0;
  for (const auto& kv : all->kvs) restart_keys += kv.key.find("restart/") == 1;
  CHECK(restart_keys == before.size());
}

TEST_CASE("failover: writes resume after the shard leader is killed; acknowledged data stays", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string prefix = K(0x90, "lk/");
  for (int i = 0; i < 50; ++i) REQUIRE(client->Put(prefix + std::to_string(i), "v" + std::to_string(i)).has_value());

  const v1::ShardRoute before = RouteFor(c, prefix);
  const int leader = c.IndexOfAddress(before.leader_address());
  REQUIRE(leader >= 0);
  const int survivor = (leader + 1) % c.size();
  c.Kill(leader);
  const auto killed_at = Clock::now();

  // The client's first write after the kill rides out the election (its deadline is 10 s).
  auto put = client->Put(prefix + "after", "new-leader");
  const auto resumed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at).count();
  INFO("first write after the kill took " << resumed_ms << " ms");
  REQUIRE(put.has_value());
  // Election timeout 0.5-1 s and node_dead_after 1 s with FastFlags: well under 6 s.
  CHECK(resumed_ms < 6000);
  const v1::ShardRoute after = RouteFor(c, prefix, survivor);
  CHECK(after.leader_node_id() != c.node_id(leader));
  CHECK(after.leader_node_id() != 0);
  for (int i = 0; i < 50; ++i) {
    auto got = client->Get(prefix + std::to_string(i));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "v" + std::to_string(i));
  }
  // Every shard works with one node down (each has 2 of 3 voters left).
  for (unsigned char first : {0x10, 0x50, 0x90, 0xd0}) {
    INFO("shard of first byte " << int(first));
    CHECK(client->Put(K(first, "lk/two-nodes"), "ok").has_value());
  }

  // The killed node comes back and catches up: a STALE read on it returns the later write.
  c.Start(leader);
  REQUIRE(c.WaitServing(leader));
  auto kv = c.Kv(leader);
  v1::GetRequest get;
  get.mutable_header()->set_consistency(v1::STALE);
  get.set_key(prefix + "after");
  v1::GetResponse got;
  CHECK(Eventually([&] {
    got.Clear();
    return kv->Get(Ctx().get(), get, &got).ok() && got.found() && got.kv().value() == "new-leader";
  }, std::chrono::seconds(10)));
}

TEST_CASE("failover: a write without quorum times out indeterminate; its retry applies once", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  const std::string key = K(0xd0, "noquorum/k");
  const v1::ShardRoute route = RouteFor(c, key);
  const int leader = c.IndexOfAddress(route.leader_address());
  REQUIRE(leader >= 0);
  auto kv = c.Kv(leader);
  v1::PutRequest put;
  put.set_key(key);
  put.set_value("once");
  put.mutable_header()->set_request_id("noquorum-retry-1");
  // Both followers stop (SIGSTOP): the leader can append but not commit.
  for (int i = 0; i < c.size(); ++i) {
    if (i != leader) c.Pause(i);
  }
  v1::PutResponse resp;
  grpc::Status s = kv->Put(Ctx(300).get(), put, &resp);  // under the 500 ms election timeout
  for (int i = 0; i < c.size(); ++i) {
    if (i != leader) c.Resume(i);
  }
  CHECK(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  // The same request id, retried (through any node, forwarded to whoever leads now) until the
  // cluster has a leader again, applies it once.
  auto client = OpenClient(c);
  REQUIRE(c.WaitLeaders(leader));
  put.mutable_header()->set_forward(true);
  auto kv_now = c.Kv((leader + 1) % c.size());
  grpc::Status retry;
  REQUIRE(Eventually([&] {
    retry = kv_now->Put(Ctx(2000).get(), put, &resp);
    return retry.ok();
  }, std::chrono::seconds(15)));
  REQUIRE(kv_now->Put(Ctx(2000).get(), put, &resp).ok());  // and once more
  auto got = client->Get(key);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->value == "once");
  CHECK((*got)->version == 1);
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("failover: SIGTERM with a peer already down does not wait out the drain timeout",
          "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  {
    auto client = OpenClient(c);
    for (unsigned char first : {0x10, 0x50, 0x90, 0xd0}) REQUIRE(client->Put(K(first, "drain"), "v").has_value());
  }
  c.Kill(0);
  REQUIRE(c.WaitLeaders(1));  // node 0's shards now led by nodes 1 and 2; no writes since
  const auto start = Clock::now();
  CHECK(c.Stop(1) == 0);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  INFO("SIGTERM to exit took " << took << " ms (drain timeout 3000 ms)");
  CHECK(took < 2000);
}

}  // namespace claw::e2e

namespace claw::e2e {

// Every node draining at once (a whole-cluster stop): none may hand its leaderships to another
// draining node (they would bounce between them until the drain timeout), so all exit promptly.
TEST_CASE("failover: SIGTERM to every node at once exits without waiting out the drain timeout",
          "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  {
    auto client = OpenClient(c);
    for (unsigned char first : {0x10, 0x50, 0x90, 0xd0}) REQUIRE(client->Put(K(first, "all"), "v").has_value());
  }
  const auto start = Clock::now();
  const std::vector<int> codes = c.StopAll();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  INFO("SIGTERM to exit of all nodes took " << took << " ms (drain timeout 3000 ms)");
  CHECK(codes == std::vector<int>{0, 0, 0});
  CHECK(took < 2500);
  // And the data is all there after a restart.
  REQUIRE(c.StartAllAndWait());
  auto client = OpenClient(c);
  for (unsigned char first : {0x10, 0x50, 0x90, 0xd0}) {
    auto got = client->Get(K(first, "all"));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "v");
  }
}

}  // namespace claw::e2e
