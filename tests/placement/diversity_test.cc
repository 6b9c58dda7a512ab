// The vocabulary of placement: diversity counting and its unknown-label rules, the best reachable
// diversity, rule lookup and boundaries, config validation, operator formatting.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/placement/placement_sim.h"

namespace claw::placement::test {
namespace {

std::vector<const NodeInfo*> Ptrs(const std::vector<NodeInfo>& nodes) {
  std::vector<const NodeInfo*> out;
  for (const NodeInfo& n : nodes) out.push_back(&n);
  return out;
}

TEST_CASE("diversity counts zones, racks within zones, hosts within racks", "[placement]") {
  const std::vector<NodeInfo> nodes = {
      MakeNode(1, "a", "r1", "h1"), MakeNode(2, "a", "r1", "h2"), MakeNode(3, "a", "r2", "h3"),
      MakeNode(4, "b", "r1", "h4"), MakeNode(5, "b", "r1", "h4"),
  };
  CHECK(DiversityOf(Ptrs(nodes)) == Diversity{2, 3, 4});
  // Rack "r1" of zone a and rack "r1" of zone b are different racks.
  CHECK(DiversityOf(std::vector<const NodeInfo*>{&nodes[0], &nodes[3]}) == Diversity{2, 2, 2});
  // Two nodes on the same host count once.
  CHECK(DiversityOf(std::vector<const NodeInfo*>{&nodes[3], &nodes[4]}) == Diversity{1, 1, 1});
  CHECK(DiversityOf(std::vector<const NodeInfo*>{}) == Diversity{0, 0, 0});
}

TEST_CASE("diversity compares zones first, then racks, then hosts", "[placement]") {
  CHECK(Diversity{2, 2, 2} > Diversity{1, 3, 3});
  CHECK(Diversity{2, 3, 3} > Diversity{2, 2, 3});
  CHECK(Diversity{2, 2, 3} > Diversity{2, 2, 2});
  CHECK(ToString(Diversity{1, 2, 3}) == "1 zone, 2 racks, 3 hosts");
}

TEST_CASE("unknown zone and rack are one shared domain, an unknown host is the node itself",
          "[placement]") {
  const std::vector<NodeInfo> nodes = {MakeNode(1, "", "", ""), MakeNode(2, "", "", ""),
                                       MakeNode(3, "", "", "")};
  CHECK(DiversityOf(Ptrs(nodes)) == Diversity{1, 1, 3});
  CHECK_FALSE(SameHost(nodes[0], nodes[1]));
  CHECK(SameRack(nodes[0], nodes[1]));
  CHECK(SameHost(nodes[0], nodes[0]));
  // A known zone never matches the unknown one.
  const NodeInfo known = MakeNode(4, "a", "", "");
  CHECK_FALSE(SameZone(nodes[0], known));
}

TEST_CASE("best reachable diversity is the per-level minimum of replicas and domains",
          "[placement]") {
  const std::vector<NodeInfo> nodes = Topology(2, 2, 2);  // 2 zones, 4 racks, 8 hosts
  CHECK(BestDiversity(Ptrs(nodes), 3) == Diversity{2, 3, 3});
  CHECK(BestDiversity(Ptrs(nodes), 5) == Diversity{2, 4, 5});
  CHECK(BestDiversity(Ptrs(nodes), 9) == Diversity{2, 4, 8});
  const std::vector<NodeInfo> two = Topology(1, 1, 2);
  CHECK(BestDiversity(Ptrs(two), 3) == Diversity{1, 1, 2});
  CHECK(BestDiversity(std::vector<const NodeInfo*>{}, 3) == Diversity{0, 0, 0});
}

TEST_CASE("rule lookup: shard id, then the range holding the start key, then the default",
          "[placement]") {
  PlacementPolicy policy;
  policy.default_rule.name = "default";
  Rule by_range;
  by_range.name = "range";
  policy.range_rules.push_back(RangeRule{Key(100), Key(200), by_range});
  Rule by_id;
  by_id.name = "id";
  policy.shard_rules[S(7)] = by_id;

  ShardInfo s;
  s.id = S(3);
  s.start_key = Key(150);
  s.end_key = Key(160);
  CHECK(policy.RuleFor(s).name == "range");
  s.id = S(7);
  CHECK(policy.RuleFor(s).name == "id");
  s.id = S(3);
  s.start_key = Key(200);  // end keys are exclusive
  CHECK(policy.RuleFor(s).name == "default");
  s.start_key = Key(50);
  CHECK(policy.RuleFor(s).name == "default");

  // Boundaries strictly inside the shard, smallest first.
  s.start_key = Key(50);
  s.end_key = Key(300);
  CHECK(policy.BoundaryInside(s) == Key(100));
  s.start_key = Key(100);
  CHECK(policy.BoundaryInside(s) == Key(200));
  s.end_key = Key(200);
  CHECK_FALSE(policy.BoundaryInside(s).has_value());
  s.end_key = "";  // +inf
  s.start_key = Key(150);
  CHECK(policy.BoundaryInside(s) == Key(200));
}

TEST_CASE("rule zone checks and leader ranks", "[placement]") {
  Rule rule;
  CHECK(rule.AllowsZone("anything"));
  rule.allowed_zones = {"a", "b"};
  CHECK(rule.AllowsZone("b"));
  CHECK_FALSE(rule.AllowsZone("c"));
  rule.preferred_leader_zones = {"b", "a"};
  CHECK(rule.LeaderRank("b") == 0);
  CHECK(rule.LeaderRank("a") == 1);
  CHECK(rule.LeaderRank("c") == 2);
}

TEST_CASE("default policy gives the meta shard 5 replicas and no splits", "[placement]") {
  const PlacementPolicy policy = DefaultPolicy();
  ShardInfo meta;
  meta.id = kMetaShard;
  CHECK(policy.RuleFor(meta).replication_factor == 5);
  CHECK_FALSE(policy.RuleFor(meta).split_enabled);
  ShardInfo data;
  data.id = S(2);
  CHECK(policy.RuleFor(data).replication_factor == 3);
  CHECK(policy.RuleFor(data).split_enabled);
}

TEST_CASE("config validation names the bad field", "[placement]") {
  CHECK(PlacementConfig{}.Validate().empty());
  PlacementConfig c;
  c.max_operators_per_node = 0;
  CHECK(c.Validate().find("max_operators_per_node") != std::string::npos);
  c = {};
  c.balance_tolerance = 1.5;
  CHECK(c.Validate().find("balance_tolerance") != std::string::npos);
  c = {};
  c.disk_full_ratio = 0;
  CHECK(c.Validate().find("disk_full_ratio") != std::string::npos);
  c = {};
  c.split_qps = 0;
  CHECK(c.Validate().find("split_qps") != std::string::npos);
}

TEST_CASE("operators print their action, class and reason", "[placement]") {
  CHECK(ToString(Operator{S(7), MoveReplica{N(3), N(9)}, Priority::kReplicaBalance, "why"}) ==
        "shard 7: move replica n3 -> n9 [replica-balance] why");
  CHECK(ToString(Action{AddReplica{N(2)}}) == "add replica on n2");
  CHECK(ToString(Action{RemoveReplica{N(2)}}) == "remove replica on n2");
  CHECK(ToString(Action{TransferLeader{N(1), N(2)}}) == "transfer leader n1 -> n2");
  CHECK(ToString(Action{Split{}}) == "split");
  CHECK(ToString(Action{Split{"k5"}}) == "split at key \"k5\"");
}

}  // namespace
}  // namespace claw::placement::test
