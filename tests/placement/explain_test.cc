// Explain(): the rule, the replicas with their localities and states, the diversity reached and
// reachable, and the verdict — which must agree with what Plan() does.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/placement/placement_sim.h"

namespace claw::placement::test {
namespace {

constexpr uint64_t kShardBytes = 64ull << 20;

ClusterView OneShard(const std::vector<uint64_t>& voters) {
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = MakeShards(1, kShardBytes, [&](int) { return voters; });
  return view;
}

bool Has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST_CASE("explain an optimally placed shard", "[placement]") {
  const ClusterView view = OneShard({1, 3, 5});
  const std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  const std::vector<std::string> want = {
      "shard 2 [\"\", +inf): rule \"default\": 3 voters, zones any, leader zones any, splits "
      "allowed",
      "  n1: voter, leader; zone z1, rack r1, host z1r1h1; up",
      "  n3: voter; zone z2, rack r1, host z2r1h1; up",
      "  n5: voter; zone z3, rack r1, host z3r1h1; up",
      "diversity: 3 zones, 3 racks, 3 hosts over 3 live voters; best reachable: 3 zones, 3 racks, "
      "3 hosts",
      "placement is optimal",
  };
  CHECK(lines == want);
}

TEST_CASE("explain a pending repair", "[placement]") {
  ClusterView view = OneShard({1, 3, 5});
  view.nodes[4].state = NodeState::kDead;
  const std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  CHECK(Has(lines, "  n5: voter; zone z3, rack r1, host z3r1h1; dead"));
  CHECK(Has(lines, "diversity: 2 zones, 2 racks, 2 hosts over 2 live voters; best reachable: "
                   "3 zones, 3 racks, 3 hosts"));
  CHECK(lines.back() == "pending: shard 2: add replica on n6 [repair] 2 of 3 voters live (n5 dead)");
}

TEST_CASE("explain a rule the cluster cannot meet", "[placement]") {
  ClusterView view = OneShard({1, 3, 5});
  view.nodes[4].state = NodeState::kDead;
  view.nodes[5].state = NodeState::kDead;
  const std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  CHECK(Has(lines, "rule wants 3 replicas in 3 zones; only 2 zones have live nodes that can "
                   "hold one"));
  CHECK(lines.back() == "pending: shard 2: add replica on n2 [repair] 2 of 3 voters live (n5 dead)");

  // Pinned to one zone of two nodes: 3 replicas cannot fit.
  PlacementPolicy policy;
  policy.default_rule.name = "pinned";
  policy.default_rule.allowed_zones = {"z1"};
  view = OneShard({1, 2});
  const std::vector<std::string> pinned = Explain(view, policy, {}, S(2));
  CHECK(pinned[0] == "shard 2 [\"\", +inf): rule \"pinned\": 3 voters, zones z1, leader zones "
                     "any, splits allowed");
  CHECK(Has(pinned, "rule wants 3 replicas; only 2 nodes can hold one (up, in the allowed "
                    "zones, with disk room)"));
  CHECK(pinned.back() ==
        "cannot meet rule: [repair] cannot restore 3 voters, 2 of 3 voters live; no legal target "
        "among 6 nodes: 2 already hold a replica, 4 outside the allowed zones");
}

TEST_CASE("explain a shard waiting for operator slots or in flight", "[placement]") {
  ClusterView view = OneShard({1, 3, 5});
  view.nodes[4].state = NodeState::kDead;
  view.nodes[5].operators_in_flight = 4;
  std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  CHECK(lines.back() == "waiting: [repair] 2 of 3 voters live (n5 dead); the best targets have no "
                        "free operator slot");
  view.shards[0].operator_in_flight = true;
  lines = Explain(view, {}, {}, S(2));
  CHECK(lines.back() == "an operator is in flight; nothing more is planned until it finishes");
}

TEST_CASE("explain a learner, an unknown node and an unknown shard", "[placement]") {
  ClusterView view = OneShard({1, 3, 42});
  view.shards[0].replicas.push_back(ReplicaInfo{N(2), ReplicaId{9}, ReplicaRole::kLearner});
  view.nodes[1].locality = {};
  const std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  CHECK(Has(lines, "  n42: voter; node not in the cluster (counted as removed)"));
  CHECK(Has(lines, "  n2: learner; zone ?, rack ?, host ?; up"));
  CHECK(Explain(view, {}, {}, S(99)) == std::vector<std::string>{"shard 99 is not in the view"});
}

TEST_CASE("explain agrees with plan on every shard", "[placement]") {
  ClusterView view{Topology(3, 2, 2), ShardsOn(40, kShardBytes, {1, 2, 3})};
  view.nodes[6].state = NodeState::kDraining;
  view.nodes[2].state = NodeState::kDead;
  PlacementConfig config;
  config.max_operators_per_node = 2;
  const std::vector<Operator> ops = Plan(view, {}, config);
  REQUIRE_FALSE(ops.empty());
  for (const ShardInfo& s : view.shards) {
    const std::vector<std::string> lines = Explain(view, {}, config, s.id);
    auto op = std::find_if(ops.begin(), ops.end(), [&](const Operator& o) { return o.shard == s.id; });
    const bool pending = std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
      return l.starts_with("pending: ");
    });
    INFO("shard " << s.id.value());
    if (op != ops.end()) {
      CHECK(Has(lines, "pending: " + ToString(*op)));
    } else {
      CHECK_FALSE(pending);
    }
  }
}

}  // namespace
}  // namespace claw::placement::test

namespace claw::placement::test {

TEST_CASE("explain escapes key bytes, so the lines are valid UTF-8", "[placement]") {
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = MakeShards(1, kShardBytes, [&](int) { return std::vector<uint64_t>{1, 3, 5}; });
  view.shards[0].start_key = std::string("a\x80\"\\", 4);
  view.shards[0].end_key = std::string("\xff\x00", 2);
  const std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].starts_with("shard 2 [\"a\\x80\\x22\\x5c\", \"\\xff\\x00\"): rule \"default\""));
  CHECK(QuoteKey("plain key-1") == "\"plain key-1\"");
  CHECK(ToString(Operator{.shard = S(2), .action = Split{.key = std::string("\x01z", 2)}}) .find("split at key \"\\x01z\"") !=
        std::string::npos);
}

}  // namespace claw::placement::test
