// RouteCache: lookup by key and for reverse scans, leader updates, and replacement of stale
// descriptors by fresh ones (EPOCH_MISMATCH after a split).

#include <catch2/catch.hpp>

#include "client/route_cache.h"

namespace claw::client {
namespace {

ShardInfo Shard(uint64_t id, std::string start, std::string end, uint64_t conf, uint64_t range,
                uint64_t leader = 0) {
  ShardInfo shard;
  shard.id = id;
  shard.start_key = std::move(start);
  shard.end_key = std::move(end);
  shard.epoch = ShardEpoch{conf, range};
  shard.replicas = {ReplicaInfo{1, 1, false}, ReplicaInfo{2, 2, false}, ReplicaInfo{3, 3, true}};
  if (leader != 0) {
    shard.leader_node_id = leader;
    shard.leader_address = "n" + std::to_string(leader);
  }
  return shard;
}

// ["", "g") -> 1, ["g", "p") -> 2, ["p", +inf) -> 3.
void ThreeShards(RouteCache& cache) {
  cache.ReplaceAll({Shard(1, "", "g", 1, 1, 1), Shard(2, "g", "p", 1, 1, 2),
                    Shard(3, "p", "", 1, 1, 3)});
}

}  // namespace

TEST_CASE("RouteCache finds the shard owning a key", "[client]") {
  RouteCache cache;
  ThreeShards(cache);
  CHECK(cache.Lookup("")->id == 1);
  CHECK(cache.Lookup("a")->id == 1);
  CHECK(cache.Lookup("f\xff")->id == 1);
  CHECK(cache.Lookup("g")->id == 2);
  CHECK(cache.Lookup("o")->id == 2);
  CHECK(cache.Lookup("p")->id == 3);
  CHECK(cache.Lookup("\xff\xff")->id == 3);
  CHECK(cache.Lookup("h")->leader_address == "n2");
}

TEST_CASE("RouteCache finds the shard below an end key for reverse scans", "[client]") {
  RouteCache cache;
  ThreeShards(cache);
  CHECK(cache.LookupBefore("")->id == 3);
  CHECK(cache.LookupBefore("z")->id == 3);
  CHECK(cache.LookupBefore("p")->id == 2);  // keys just below "p" live in ["g", "p")
  CHECK(cache.LookupBefore("g\x01")->id == 2);
  CHECK(cache.LookupBefore("g")->id == 1);
}

TEST_CASE("RouteCache misses on an empty cache and on gaps", "[client]") {
  RouteCache cache;
  CHECK_FALSE(cache.Lookup("a"));
  CHECK_FALSE(cache.LookupBefore(""));
  cache.ReplaceAll({Shard(1, "", "g", 1, 1), Shard(3, "p", "", 1, 1)});
  CHECK_FALSE(cache.Lookup("h"));
  CHECK_FALSE(cache.LookupBefore("o"));
  CHECK(cache.LookupBefore("g")->id == 1);
}

TEST_CASE("RouteCache records and forgets leaders", "[client]") {
  RouteCache cache;
  ThreeShards(cache);
  cache.SetLeader(2, 3, "n3");
  CHECK(cache.Lookup("h")->leader_node_id == 3);
  CHECK(cache.Lookup("h")->leader_address == "n3");
  cache.ForgetLeader(2, "n1");  // not the leader: no-op
  CHECK(cache.Lookup("h")->leader_address == "n3");
  cache.ForgetLeader(2, "n3");
  CHECK(cache.Lookup("h")->leader_address.empty());
  CHECK(cache.Lookup("h")->leader_node_id == 0);
}

TEST_CASE("RouteCache replaces a split shard's stale descriptor with fresh ones", "[client]") {
  RouteCache cache;
  ThreeShards(cache);
  // Shard 2 ["g", "p") split at "k": 2 = ["g", "k"), 4 = ["k", "p"), both at range version 2.
  cache.Update({Shard(2, "g", "k", 1, 2)});
  CHECK(cache.Lookup("h")->id == 2);
  CHECK(cache.Lookup("h")->epoch == ShardEpoch{1, 2});
  CHECK(cache.Lookup("h")->leader_address == "n2");  // kept: node 2 still hosts a replica
  CHECK_FALSE(cache.Lookup("m"));                      // a gap until the other half is known
  cache.Update({Shard(4, "k", "p", 1, 2, 3)});
  CHECK(cache.Lookup("m")->id == 4);
  CHECK(cache.Lookup("m")->leader_address == "n3");
  CHECK(cache.Snapshot().size() == 4);
}

TEST_CASE("RouteCache keeps a shard's leader when both halves of a split arrive", "[client]") {
  RouteCache cache;
  cache.ReplaceAll({Shard(1, "", "", 1, 1, 2)});
  cache.Update({Shard(7, "m", "", 1, 2), Shard(1, "", "m", 1, 2)});
  CHECK(cache.Lookup("a")->leader_address == "n2");
  CHECK(cache.Lookup("z")->leader_address.empty());
}

TEST_CASE("RouteCache ignores descriptors older than the cached one", "[client]") {
  RouteCache cache;
  ThreeShards(cache);
  cache.Update({Shard(2, "g", "k", 1, 2)});
  cache.Update({Shard(2, "g", "p", 1, 1)});  // a late answer from before the split
  CHECK(cache.Lookup("h")->epoch == ShardEpoch{1, 2});
  CHECK_FALSE(cache.Lookup("m"));
}

TEST_CASE("RouteCache replaces descriptors after a merge-like widening", "[client]") {
  RouteCache cache;
  ThreeShards(cache);
  cache.Update({Shard(2, "a", "z", 2, 3, 1)});  // overlaps all three
  const auto shards = cache.Snapshot();
  REQUIRE(shards.size() == 1);
  CHECK(shards[0].id == 2);
  CHECK(cache.Lookup("b")->id == 2);
  CHECK_FALSE(cache.Lookup(""));
}

TEST_CASE("RouteCache keeps node addresses and bumps its generation", "[client]") {
  RouteCache cache;
  const uint64_t before = cache.generation();
  cache.ReplaceAll({});
  CHECK(cache.generation() == before + 1);
  cache.SetMembers({{2, "b:1"}, {1, "a:1"}, {3, ""}});
  CHECK(cache.AddressOf(1) == "a:1");
  CHECK_FALSE(cache.AddressOf(3));
  CHECK(cache.KnownAddresses() == std::vector<std::string>{"a:1", "b:1"});
}

TEST_CASE("Epochs order by both counters", "[client]") {
  CHECK(NewerEpoch({1, 2}, {1, 1}));
  CHECK(NewerEpoch({2, 1}, {1, 1}));
  CHECK_FALSE(NewerEpoch({1, 1}, {1, 1}));
  CHECK_FALSE(NewerEpoch({2, 0}, {1, 1}));
}

}  // namespace claw::client
