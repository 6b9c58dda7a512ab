// Log compaction and snapshot transfer between real nodes: a follower that was down while its
// shard's log was compacted past it catches up by a streamed snapshot. Applies are written
// without the WAL, so compaction waits for a memtable flush (server/README.md "Applies without
// the WAL"): these cases run with 1 MiB memtables and 2 KiB values so that flushes happen; and
// every node killed at once replays its log from what its flushes kept.
#include <catch2/catch.hpp>

#include <thread>

#include "cluster.h"
#include "e2e_util.h"
#include "tests/common/http_get.h"

namespace claw::e2e {
namespace {

using testing::HttpGet;

// Applied index of `shard` on node i, or 0.
uint64_t Applied(TestCluster& c, int i, uint64_t shard) {
  v1::StatusResponse st;
  if (!c.Admin(i)->Status(Ctx().get(), v1::StatusRequest(), &st).ok()) return 0;
  for (const auto& r : st.replicas()) {
    if (r.shard().id() == shard) return r.applied_index();
  }
  return 0;
}

double SnapshotsReceived(TestCluster& c, int i) {
  return SampleValue(HttpGet(c.http_port(i), "/metrics").body, "clawd_snapshot_received_total");
}

std::string Value(int k) { return "value" + std::to_string(k) + ":" + std::string(2048, static_cast<char>('a' + k % 26)); }

// Keys of both shards (shard 2 holds the keys below "\x80").
std::string ReplayKey(int k) { return K(k % 2 == 0 ? 0x10 : 0x90, "replay/" + std::to_string(k)); }

const std::vector<std::string> kCompactingFlags = {"--raft-snapshot-after-entries", "100", "--raft-tick-ms", "50",
                                                   "--storage-write-buffer-bytes", "1048576"};

}  // namespace

TEST_CASE("a follower behind a compacted log catches up by snapshot", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = kCompactingFlags});
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
  for (int k = 0; k < 1000; ++k) {
    v1::PutRequest put;
    put.set_key("key" + std::to_string(k));
    put.set_value(Value(k));
    v1::PutResponse resp;
    grpc::Status s = kv->Put(Ctx().get(), put, &resp);
    REQUIRE(s.ok());
  }
  const uint64_t target = Applied(c, leader, 2);
  REQUIRE(target >= 1000);

  c.Start(lagging);
  REQUIRE(c.WaitServing(lagging));
  const double received_before = SnapshotsReceived(c, lagging);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Applied(c, lagging, 2) < target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(Applied(c, lagging, 2) >= target);
  // By a snapshot, not by the log: the 2 MiB written flushed the memtables, so the log was
  // compacted past the lagging replica.
  CHECK(SnapshotsReceived(c, lagging) > received_before);

  // The caught-up replica serves the data (stale read: it is a follower).
  auto lag_kv = c.Kv(lagging);
  for (int k : {0, 250, 999}) {
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
    CHECK(got.kv().value() == Value(k));
    CHECK(got.kv().version() == 1);
  }
}

TEST_CASE("every node killed at once replays its log from what its flushes kept", "[e2e]") {
  // Default 64 MiB memtables: nothing here fills one, so nothing of the applies is flushed and
  // every replica's log must keep all it applied, although 100 entries is the compaction point.
  TestCluster c({.nodes = 3, .shards = 2, .flags = {"--raft-snapshot-after-entries", "100", "--raft-tick-ms", "50"}});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto client = OpenClient(c);
  // Two rounds of 400 puts (200 entries per shard, past the compaction point), then SIGKILL to
  // all three nodes at once. The applies exist only in the logs: a log compacted past the
  // flushed applies would lose them on every replica together.
  int written = 0;
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    for (const int end = written + 400; written < end; ++written) {
      REQUIRE(client->Put(ReplayKey(written), "value" + std::to_string(written)).has_value());
    }
    c.KillAll();
    REQUIRE(c.StartAllAndWait());
    client = OpenClient(c);
    for (int k = 0; k < written; ++k) {
      INFO("key " << k);
      auto got = client->Get(ReplayKey(k));
      REQUIRE(got.has_value());
      REQUIRE(got->has_value());
      CHECK((*got)->value == "value" + std::to_string(k));
      CHECK((*got)->version == 1);
    }
  }
}

}  // namespace claw::e2e
