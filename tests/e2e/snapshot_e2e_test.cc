// Log compaction and snapshot transfer between real nodes: a follower that was down while its
// shard's log was compacted past it catches up by a streamed snapshot.
#include <catch2/catch.hpp>

#include <thread>

#include "cluster.h"

namespace claw::e2e {
namespace {

// Applied index of `shard` on node i, or 0.
uint64_t Applied(TestCluster& c, int i, uint64_t shard) {
  v1::StatusResponse st;
  if (!c.Admin(i)->Status(Ctx().get(), v1::StatusRequest(), &st).ok()) return 0;
  for (const auto& r : st.replicas()) {
    if (r.shard().id() == shard) return r.applied_index();
  }
  return 0;
}

}  // namespace

TEST_CASE("a follower behind a compacted log catches up by snapshot", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = {"--raft-snapshot-after-entries", "100", "--raft-tick-ms", "50"}});
  c.StartAll();
  for (int i = 0; i < 3; ++i) REQUIRE(c.WaitServing(i));
  REQUIRE(c.WaitLeaders(0));
  INFO(c.DumpLogs(60));

  // Shard 2 holds keys below "\x80". Find its leader and stop another node.
  v1::ListShardsResponse shards;
  REQUIRE(c.Admin(0)->ListShards(Ctx().get(), v1::ListShardsRequest(), &shards).ok());
  std::string leader_addr;
  for (const auto& s : shards.shards()) {
    if (s.shard().id() == 2) leader_addr = s.leader_address();
  }
  int leader = -1;
  for (int i = 0; i < 3; ++i) {
    if (c.client_address(i) == leader_addr) leader = i;
  }
  REQUIRE(leader >= 0);
  const int lagging = (leader + 1) % 3;
  REQUIRE(c.Stop(lagging) == 0);

  auto kv = c.Kv(leader);
  for (int k = 0; k < 500; ++k) {
    v1::PutRequest put;
    put.set_key("key" + std::to_string(k));
    put.set_value("value" + std::to_string(k));
    v1::PutResponse resp;
    grpc::Status s = kv->Put(Ctx().get(), put, &resp);
    REQUIRE(s.ok());
  }
  const uint64_t target = Applied(c, leader, 2);
  REQUIRE(target >= 500);

  c.Start(lagging);
  REQUIRE(c.WaitServing(lagging));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Applied(c, lagging, 2) < target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(Applied(c, lagging, 2) >= target);

  // The caught-up replica serves the data (stale read: it is a follower).
  auto lag_kv = c.Kv(lagging);
  for (int k : {0, 250, 499}) {
    v1::GetRequest get;
    get.set_key("key" + std::to_string(k));
    get.mutable_header()->set_consistency(v1::STALE);
    v1::GetResponse got;
    // Even the first STALE read at a follower that has served none lately is served: it waits
    // for the follower's currency probe to its leader (server/README.md "Reads").
    const grpc::Status status = lag_kv->Get(Ctx().get(), get, &got);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(got.found());
    CHECK(got.kv().value() == "value" + std::to_string(k));
    CHECK(got.kv().version() == 1);
  }
}

}  // namespace claw::e2e
