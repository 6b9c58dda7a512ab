// Plan() rule by rule on small hand-built clusters: each test sets up one situation and checks
// the one operator (or the finding) the rule calls for. Every plan also goes through the
// independent PlanChecker.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/placement/placement_sim.h"

namespace claw::placement::test {
namespace {

// 3 zones x 1 rack x 2 hosts: z1 = {n1, n2}, z2 = {n3, n4}, z3 = {n5, n6}.
ClusterView SixNodes() { return ClusterView{Topology(3, 1, 2), {}}; }

constexpr uint64_t kShardBytes = 64ull << 20;  // under the default split threshold

ShardInfo MakeShard(uint64_t id, const std::vector<uint64_t>& voters,
                    uint64_t bytes = kShardBytes) {
  ShardInfo s;
  s.id = S(id);
  s.start_key = Key(id * 1000);
  s.end_key = Key(id * 1000 + 1000);
  for (uint64_t v : voters) s.replicas.push_back(ReplicaInfo{N(v), ReplicaId{id * 100 + v}, {}});
  s.leader = voters.empty() ? NodeId{} : N(voters.front());
  s.bytes = bytes;
  return s;
}

NodeInfo& NodeOf(ClusterView& view, uint64_t id) {
  for (NodeInfo& n : view.nodes) {
    if (n.id == N(id)) return n;
  }
  FAIL("no node " << id);
  return view.nodes.front();
}

// Plans and checks the plan against the rules.
PlanResult Checked(const ClusterView& view, const PlacementPolicy& policy = {},
                   const PlacementConfig& config = {}) {
  PlanResult result = PlanWithFindings(view, policy, config);
  const std::vector<std::string> errors = Violations(view, policy, config, result.operators);
  for (const std::string& e : errors) UNSCOPED_INFO(e);
  REQUIRE(errors.empty());
  // Deterministic: the same picture gives the same plan.
  REQUIRE(Plan(view, policy, config).size() == result.operators.size());
  UNSCOPED_INFO("plan:\n" << Sim::Describe(result.operators));
  return result;
}

const Operator* OpFor(const PlanResult& r, uint64_t shard) {
  for (const Operator& op : r.operators) {
    if (op.shard == S(shard)) return &op;
  }
  return nullptr;
}

bool Mentions(const std::vector<Finding>& findings, uint64_t shard, const std::string& text) {
  return std::any_of(findings.begin(), findings.end(), [&](const Finding& f) {
    return f.shard == S(shard) && f.reason.find(text) != std::string::npos;
  });
}

TEST_CASE("a placed and balanced cluster needs nothing", "[placement]") {
  ClusterView view{Topology(3, 1, 1), {}};
  view.shards = MakeShards(12, kShardBytes, [](int i) {
    std::vector<uint64_t> v = {1, 2, 3};
    std::rotate(v.begin(), v.begin() + i % 3, v.end());
    return v;
  });
  const PlanResult r = Checked(view);
  CHECK(r.operators.empty());
  CHECK(r.stuck.empty());
  CHECK(r.waiting.empty());
}

TEST_CASE("repair adds a voter in the lost zone, then removes the dead voter", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5})};
  NodeOf(view, 5).state = NodeState::kDead;
  // Load n6 (the only other node of z3) so that only diversity can make it the choice.
  for (uint64_t i = 3; i < 9; ++i) view.shards.push_back(MakeShard(i, {2, 4, 6}));

  PlanResult r = Checked(view);
  const Operator* op = OpFor(r, 2);
  REQUIRE(op != nullptr);
  CHECK(op->priority == Priority::kRepair);
  CHECK(op->action == Action{AddReplica{N(6)}});

  Sim sim(view);
  sim.Apply(*op);
  r = Checked(sim.view);
  op = OpFor(r, 2);
  REQUIRE(op != nullptr);
  CHECK(op->priority == Priority::kRepair);
  CHECK(op->action == Action{RemoveReplica{N(5)}});
}

TEST_CASE("a dead voter goes at once when enough live voters remain", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5, 6})};
  NodeOf(view, 6).state = NodeState::kRemoved;
  const PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{RemoveReplica{N(6)}});
  CHECK(OpFor(r, 2)->priority == Priority::kRepair);
}

TEST_CASE("replicas on nodes missing from the view count as removed", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 99})};
  const PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->priority == Priority::kRepair);
  CHECK(std::holds_alternative<AddReplica>(OpFor(r, 2)->action));
}

TEST_CASE("repair goes to the most urgent shard first when slots are short", "[placement]") {
  ClusterView view{Topology(4, 1, 1), {}};  // n4 is the only possible target
  view.shards = {MakeShard(2, {1, 2}), MakeShard(3, {1, 2, 3})};
  NodeOf(view, 3).state = NodeState::kDead;  // shard 2: 2 of 3 live
  PlacementPolicy policy;
  policy.shard_rules[S(3)].replication_factor = 5;  // shard 3: 2 of 5 live
  PlacementConfig config;
  config.max_operators_per_node = 1;
  const PlanResult r = Checked(view, policy, config);
  REQUIRE(r.operators.size() == 1);
  CHECK(r.operators[0].shard == S(3));
  CHECK(Mentions(r.waiting, 2, "slot"));
}

TEST_CASE("over-replication removes the worst placed voter", "[placement]") {
  ClusterView view = SixNodes();
  SECTION("the one whose removal keeps every zone, not the leader") {
    view.shards = {MakeShard(2, {1, 2, 3, 5})};  // n1 leads; n1 and n2 share z1
    const PlanResult r = Checked(view);
    REQUIRE(OpFor(r, 2) != nullptr);
    CHECK(OpFor(r, 2)->priority == Priority::kOverReplicated);
    CHECK(OpFor(r, 2)->action == Action{RemoveReplica{N(2)}});
  }
  SECTION("a draining voter before a well placed one") {
    view.shards = {MakeShard(2, {1, 3, 4, 5})};
    NodeOf(view, 1).state = NodeState::kDraining;
    const PlanResult r = Checked(view);
    REQUIRE(OpFor(r, 2) != nullptr);
    CHECK(OpFor(r, 2)->action == Action{RemoveReplica{N(1)}});
  }
  SECTION("a voter outside the allowed zones first") {
    view.shards = {MakeShard(2, {1, 3, 4, 5})};
    PlacementPolicy policy;
    policy.default_rule.allowed_zones = {"z2", "z3"};
    const PlanResult r = Checked(view, policy);
    REQUIRE(OpFor(r, 2) != nullptr);
    CHECK(OpFor(r, 2)->action == Action{RemoveReplica{N(1)}});
  }
  SECTION("a lower replication factor") {
    view.shards = {MakeShard(2, {1, 3, 5})};
    PlacementPolicy policy;
    policy.default_rule.replication_factor = 1;
    const PlanResult r = Checked(view, policy);
    REQUIRE(OpFor(r, 2) != nullptr);
    CHECK(std::holds_alternative<RemoveReplica>(OpFor(r, 2)->action));
    CHECK(OpFor(r, 2)->action != Action{RemoveReplica{N(1)}});  // not the leader
  }
}

TEST_CASE("a learner with no operator in flight is removed", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5})};
  view.shards[0].replicas.push_back(ReplicaInfo{N(2), ReplicaId{9}, ReplicaRole::kLearner});
  PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{RemoveReplica{N(2)}});
  CHECK(OpFor(r, 2)->priority == Priority::kOverReplicated);
  // While its operator runs, the learner is the operator's business.
  view.shards[0].operator_in_flight = true;
  r = Checked(view);
  CHECK(r.operators.empty());
}

TEST_CASE("operator limits count what is in flight", "[placement]") {
  ClusterView view = SixNodes();
  for (uint64_t i = 2; i < 12; ++i) view.shards.push_back(MakeShard(i, {1, 3, 5}));
  NodeOf(view, 5).state = NodeState::kDead;  // every shard wants n6
  SECTION("per node") {
    NodeOf(view, 6).operators_in_flight = 2;
    const PlanResult r = Checked(view);
    CHECK(CountKind<AddReplica>(r.operators) == 2);
    CHECK(r.waiting.size() == 8);
    // n1 and n3 are in every shard but do no work for an add: only n6 is limited.
  }
  SECTION("cluster-wide") {
    PlacementConfig config;
    config.max_operators_in_flight = 3;
    view.shards[0].operator_in_flight = true;
    view.shards[1].operator_in_flight = true;
    const PlanResult r = Checked(view, {}, config);
    CHECK(r.operators.size() == 1);
  }
  SECTION("a shard with an operator in flight gets nothing") {
    for (ShardInfo& s : view.shards) s.operator_in_flight = true;
    CHECK(Checked(view).operators.empty());
  }
}

TEST_CASE("a shard without quorum or leader gets no operator, and says why", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5}), MakeShard(3, {1, 3, 5})};
  NodeOf(view, 3).state = NodeState::kDead;
  NodeOf(view, 5).state = NodeState::kDead;
  view.shards[1].replicas.pop_back();
  view.shards[1].replicas.pop_back();
  view.shards[1].replicas.push_back(ReplicaInfo{N(4), ReplicaId{1}, {}});
  view.shards[1].replicas.push_back(ReplicaInfo{N(6), ReplicaId{2}, {}});
  view.shards[1].leader = NodeId{};  // live quorum, election under way
  const PlanResult r = Checked(view);
  CHECK(r.operators.empty());
  CHECK(Mentions(r.stuck, 2, "quorum lost: 1 of 3 voters"));
  CHECK(Mentions(r.stuck, 3, "no live leader"));
}

TEST_CASE("without a legal target repair reports why and never doubles up a node",
          "[placement]") {
  ClusterView view{Topology(3, 1, 1), {}};
  view.shards = {MakeShard(2, {1, 2, 3})};
  NodeOf(view, 3).state = NodeState::kDead;
  const PlanResult r = Checked(view);
  CHECK(r.operators.empty());
  CHECK(Mentions(r.stuck, 2, "cannot restore 3 voters, 2 of 3 voters live (n3 dead)"));
  CHECK(Mentions(r.stuck, 2, "3 already hold a replica"));
}

TEST_CASE("full nodes receive no replica", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5}, 10 * kGiB)};
  NodeOf(view, 5).state = NodeState::kDead;
  NodeInfo& n6 = NodeOf(view, 6);
  SECTION("disk used past the ratio") {
    n6.disk_used_bytes = kCapacity - 55 * kGiB;  // 94.5% used, 95.5% after the replica
    n6.disk_free_bytes = 55 * kGiB;
  }
  SECTION("disk free under the ratio") {
    n6.disk_used_bytes = 10 * kGiB;  // other data elsewhere on the disk
    n6.disk_free_bytes = 55 * kGiB;  // 4.5% free after the replica
  }
  PlacementConfig config;
  config.split_bytes = 100 * kGiB;
  const PlanResult r = Checked(view, {}, config);
  REQUIRE(OpFor(r, 2) != nullptr);
  // The best target is full: the next best (a second zone's other host) takes it.
  CHECK(OpFor(r, 2)->action != Action{AddReplica{N(6)}});
  CHECK(std::holds_alternative<AddReplica>(OpFor(r, 2)->action));

  for (uint64_t id : {2, 4}) {
    NodeOf(view, id).disk_used_bytes = kCapacity;
    NodeOf(view, id).disk_free_bytes = 0;
  }
  const PlanResult none = Checked(view, {}, config);
  CHECK(none.operators.empty());
  CHECK(Mentions(none.stuck, 2, "3 full"));
}

TEST_CASE("drain transfers leadership first, then moves the replica", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5})};
  NodeOf(view, 1).state = NodeState::kDraining;
  PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->priority == Priority::kDrain);
  CHECK(std::holds_alternative<TransferLeader>(OpFor(r, 2)->action));
  Sim sim(view);
  sim.Apply(*OpFor(r, 2));
  r = Checked(sim.view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{MoveReplica{N(1), N(2)}});  // stays in z1
}

TEST_CASE("a slow node hands its leaderships away, keeps its replicas and takes no leaders",
          "[placement]") {
  ClusterView view{Topology(3, 1, 1), {}};
  view.shards = MakeShards(6, kShardBytes, [](int i) {
    std::vector<uint64_t> v = {1, 2, 3};
    std::rotate(v.begin(), v.begin() + i % 3, v.end());
    return v;
  });
  NodeOf(view, 1).slow = true;
  Sim sim(view);
  for (int round = 0; round < 4; ++round) {
    const PlanResult r = Checked(sim.view);
    CHECK(r.stuck.empty());
    for (const Operator& op : r.operators) {
      INFO(Sim::Describe({op}));
      const auto* transfer = std::get_if<TransferLeader>(&op.action);
      REQUIRE(transfer != nullptr);  // no replica moves off (or onto) the slow node
      CHECK(transfer->from == N(1));
      CHECK(transfer->to != N(1));
      CHECK(op.priority == Priority::kDrain);
      CHECK(op.reason.find("slow") != std::string::npos);
      sim.Apply(op);
    }
  }
  for (const ShardInfo& shard : sim.view.shards) {
    CHECK(shard.leader != N(1));
    CHECK(shard.replicas.size() == 3);
  }
  // Back to normal: leader balance gives it leaderships again.
  NodeOf(sim.view, 1).slow = false;
  const PlanResult back = Checked(sim.view);
  CHECK(std::any_of(back.operators.begin(), back.operators.end(), [](const Operator& op) {
    const auto* t = std::get_if<TransferLeader>(&op.action);
    return t != nullptr && t->to == N(1);
  }));
  // When every other voter is slow too, the leader stays and nothing is reported stuck.
  NodeOf(sim.view, 1).slow = true;
  NodeOf(sim.view, 2).slow = true;
  NodeOf(sim.view, 3).slow = true;
  const PlanResult all = Checked(sim.view);
  CHECK(all.operators.empty());
  CHECK(all.stuck.empty());
}

TEST_CASE("constraints: replicas leave disallowed zones, rule boundaries split shards",
          "[placement]") {
  ClusterView view = SixNodes();
  PlacementPolicy policy;
  Rule pinned;
  pinned.name = "pinned";
  pinned.allowed_zones = {"z1", "z2"};
  policy.range_rules.push_back(RangeRule{Key(2000), Key(3000), pinned});
  view.shards = {MakeShard(2, {1, 3, 5})};  // [2000, 3000): pinned
  PlanResult r = Checked(view, policy);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->priority == Priority::kConstraint);
  const auto* move = std::get_if<MoveReplica>(&OpFor(r, 2)->action);
  REQUIRE(move != nullptr);
  CHECK(move->from == N(5));
  CHECK((move->to == N(2) || move->to == N(4)));

  view.shards = {MakeShard(2, {1, 3, 5})};
  view.shards[0].end_key = Key(5000);  // straddles the range's end
  r = Checked(view, policy);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{Split{Key(3000)}});
}

TEST_CASE("diversity: a replica moves to widen the spread", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 2, 3})};
  const PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->priority == Priority::kDiversity);
  // n2 leaves z1 (the follower, not the leader n1) for z3.
  const auto* move = std::get_if<MoveReplica>(&OpFor(r, 2)->action);
  REQUIRE(move != nullptr);
  CHECK(move->from == N(2));
  CHECK((move->to == N(5) || move->to == N(6)));
}

TEST_CASE("leader preference moves the leader to the preferred zone", "[placement]") {
  ClusterView view = SixNodes();
  view.shards = {MakeShard(2, {1, 3, 5})};
  PlacementPolicy policy;
  policy.default_rule.preferred_leader_zones = {"z3", "z2"};
  PlanResult r = Checked(view, policy);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{TransferLeader{N(1), N(5)}});
  // With z3 down, z2 is next.
  NodeOf(view, 5).state = NodeState::kDraining;
  NodeOf(view, 6).state = NodeState::kDead;
  view.shards[0].replicas.push_back(ReplicaInfo{N(2), ReplicaId{7}, {}});  // over-replicated
  view.shards[0].leader = N(1);
  r = Checked(view, policy);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{RemoveReplica{N(5)}});  // the draining voter goes first
  view.shards[0].replicas.erase(view.shards[0].replicas.begin() + 2);
  r = Checked(view, policy);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{TransferLeader{N(1), N(3)}});
}

TEST_CASE("splits past the size or load threshold, never the meta shard", "[placement]") {
  ClusterView view{Topology(3, 1, 1), {}};
  PlacementConfig config;
  view.shards = {MakeShard(1, {1, 2, 3}, 10 * config.split_bytes), MakeShard(2, {2, 3, 1}),
                 MakeShard(3, {3, 1, 2}), MakeShard(4, {1, 2, 3})};
  view.shards[1].bytes = config.split_bytes + 1;
  view.shards[2].qps = config.split_qps + 1;
  PlacementPolicy policy = DefaultPolicy();
  policy.shard_rules[kMetaShard].replication_factor = 3;
  const PlanResult r = Checked(view, policy, config);
  CHECK(OpFor(r, 1) == nullptr);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{Split{}});
  CHECK(OpFor(r, 2)->priority == Priority::kSplit);
  REQUIRE(OpFor(r, 3) != nullptr);
  CHECK(OpFor(r, 3)->action == Action{Split{}});
  CHECK(OpFor(r, 4) == nullptr);
}

// RF 1 on four equal nodes with the given replica counts.
ClusterView Counts(const std::vector<int>& counts) {
  ClusterView view{Topology(1, 1, static_cast<int>(counts.size())), {}};
  uint64_t id = 2;
  for (size_t n = 0; n < counts.size(); ++n) {
    for (int i = 0; i < counts[n]; ++i) view.shards.push_back(MakeShard(id++, {n + 1}));
  }
  return view;
}

TEST_CASE("replica balance has hysteresis", "[placement]") {
  PlacementPolicy policy;
  policy.default_rule.replication_factor = 1;
  // Fair share 20: 21 is exactly 5% above, 19 exactly 5% below: nothing moves.
  CHECK(Checked(Counts({21, 20, 20, 19}), policy).operators.empty());
  // 22 is 10% above: one replica moves to the emptiest node, and only one (after it, 21 and 19
  // are within the tolerance again).
  const PlanResult r = Checked(Counts({22, 20, 20, 18}), policy);
  REQUIRE(r.operators.size() == 1);
  const auto* move = std::get_if<MoveReplica>(&r.operators[0].action);
  REQUIRE(move != nullptr);
  CHECK(move->from == N(1));
  CHECK(move->to == N(4));
  CHECK(r.operators[0].priority == Priority::kReplicaBalance);
}

TEST_CASE("plans do not depend on the order of nodes and shards", "[placement]") {
  ClusterView view{Topology(3, 2, 2), {}};
  view.shards = ShardsOn(30, kShardBytes, {1, 2, 3});
  NodeOf(view, 7).state = NodeState::kDraining;
  const std::vector<Operator> a = Plan(view, {}, {});
  std::reverse(view.nodes.begin(), view.nodes.end());
  std::reverse(view.shards.begin(), view.shards.end());
  const std::vector<Operator> b = Plan(view, {}, {});
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].shard == b[i].shard);
    CHECK(a[i].action == b[i].action);
  }
  CHECK_FALSE(a.empty());
}

}  // namespace
}  // namespace claw::placement::test

namespace claw::placement::test {

TEST_CASE("drain is refused when a shard of the node could not meet its rule without it", "[placement]") {
  // 3 zones x 1 rack x 2 hosts = 6 nodes; shard 2 on n1, n3, n5.
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = MakeShards(1, 64ull << 20, [&](int) { return std::vector<uint64_t>{1, 3, 5}; });
  PlacementPolicy policy = DefaultPolicy();
  CHECK_FALSE(DrainBlocker(view, policy, N(1)).has_value());
  CHECK_FALSE(DrainBlocker(view, policy, N(2)).has_value());  // holds nothing
  // Pinned to zone z1 (n1, n2): without n1, one node is left for 3 voters... and for 2.
  policy.default_rule.allowed_zones = {"z1"};
  policy.default_rule.replication_factor = 2;
  auto why = DrainBlocker(view, policy, N(1));
  REQUIRE(why.has_value());
  CHECK(*why == "shard 2 (rule \"default\", 2 voters in zones z1) would have 1 up node to live on without n1: add a "
                "node first, or lower the rule's replication factor");
  // Only 3 up nodes: draining one of them leaves 2 for 3 voters.
  policy = DefaultPolicy();
  for (size_t i = 3; i < view.nodes.size(); ++i) view.nodes[i].state = NodeState::kDead;
  view.shards[0].replicas.resize(2);
  CHECK(DrainBlocker(view, policy, N(1)).value().starts_with("shard 2 (rule \"default\", 3 voters) would have 2 up nodes"));
}

}  // namespace claw::placement::test
