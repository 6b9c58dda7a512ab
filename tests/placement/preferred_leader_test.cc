// Preferred (pinned) leaders — ShardInfo::preferred_leader, a collocated checkpoint's active
// replica — and unsplittable shards (ShardInfo::splittable). Every plan goes through the
// independent PlanChecker, which also checks that nothing takes a voter or the leadership away
// from an honoured preferred leader.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/placement/placement_sim.h"

namespace claw::placement::test {
namespace {

constexpr uint64_t kShardBytes = 64ull << 20;

ShardInfo MakeShard(uint64_t id, const std::vector<uint64_t>& voters) {
  ShardInfo s;
  s.id = S(id);
  s.start_key = Key(id * 1000);
  s.end_key = Key(id * 1000 + 1000);
  for (uint64_t v : voters) s.replicas.push_back(ReplicaInfo{N(v), ReplicaId{id * 100 + v}, {}});
  s.leader = N(voters.front());
  s.bytes = kShardBytes;
  return s;
}

PlanResult Checked(const ClusterView& view, const PlacementPolicy& policy = {},
                   const PlacementConfig& config = {}) {
  PlanResult result = PlanWithFindings(view, policy, config);
  const std::vector<std::string> errors = Violations(view, policy, config, result.operators);
  for (const std::string& e : errors) UNSCOPED_INFO(e);
  REQUIRE(errors.empty());
  UNSCOPED_INFO("plan:\n" << Sim::Describe(result.operators));
  return result;
}

const Operator* OpFor(const PlanResult& r, uint64_t shard) {
  for (const Operator& op : r.operators) {
    if (op.shard == S(shard)) return &op;
  }
  return nullptr;
}

bool HasVoter(const ShardInfo& s, uint64_t node) {
  const ReplicaInfo* r = ReplicaOn(s, N(node));
  return r != nullptr && r->role == ReplicaRole::kVoter;
}

}  // namespace

TEST_CASE("preferred leader: leadership moves to the pinned voter", "[placement]") {
  ClusterView view{Topology(3, 1, 2), {}};  // z1 = {n1, n2}, z2 = {n3, n4}, z3 = {n5, n6}
  view.shards = {MakeShard(2, {1, 3, 5})};
  view.shards[0].preferred_leader = N(5);
  PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{TransferLeader{N(1), N(5)}});
  CHECK(OpFor(r, 2)->priority == Priority::kPreferredLeader);
  CHECK(OpFor(r, 2)->reason.find("preferred leader is n5") != std::string::npos);
  // Once it leads, nothing more.
  view.shards[0].leader = N(5);
  r = Checked(view);
  CHECK(r.operators.empty());
  CHECK(r.stuck.empty());
  // It wins over the rule's leader zones (the application chose the node).
  PlacementPolicy zones;
  zones.default_rule.preferred_leader_zones = {"z1"};
  r = Checked(view, zones);
  CHECK(r.operators.empty());
}

TEST_CASE("preferred leader without a replica: a voter moves there, then leadership", "[placement]") {
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = {MakeShard(2, {1, 3, 5})};
  view.shards[0].preferred_leader = N(4);  // z2, where n3 is
  PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->priority == Priority::kPreferredLeader);
  // n3 makes room: the voters stay spread over the three zones.
  CHECK(OpFor(r, 2)->action == Action{MoveReplica{N(3), N(4)}});

  Sim sim(view);
  sim.Converge(6);
  const ShardInfo& s = sim.Shard(2);
  CHECK(s.leader == N(4));
  CHECK(s.replicas.size() == 3);  // the replication factor holds
  CHECK(HasVoter(s, 4));
  CHECK(DiversityOf(LiveVoters(sim.view, s)).zones == 3);

  // Pinned to the leader's zone-mate: the leader itself makes room (its leadership goes to the
  // pinned node as part of the move).
  view.shards[0].preferred_leader = N(2);
  Sim other(view);
  other.Converge(6);
  CHECK(other.Shard(2).leader == N(2));
  CHECK_FALSE(Holds(other.Shard(2), N(1)));
  CHECK(other.Shard(2).replicas.size() == 3);
}

TEST_CASE("preferred leader: balancing never takes the leadership or the voter away", "[placement]") {
  // 3 nodes, 9 shards all led by n1, six of them pinned there: leader balance moves only the
  // three unpinned leaderships.
  ClusterView view{Topology(3, 1, 1), {}};
  view.shards = ShardsOn(9, kShardBytes, {1, 2, 3});
  for (size_t i = 0; i < 6; ++i) view.shards[i].preferred_leader = N(1);
  Sim sim(view);
  sim.Converge(12);
  for (size_t i = 0; i < 9; ++i) {
    INFO("shard " << sim.view.shards[i].id.value());
    if (i < 6) {
      CHECK(sim.view.shards[i].leader == N(1));
    } else {
      CHECK(sim.view.shards[i].leader != N(1));
    }
  }

  // Six nodes, every shard on n1..n3 and pinned to n1: replica balance moves voters to n4..n6,
  // never n1's.
  ClusterView wide{Topology(1, 1, 6), {}};
  wide.shards = ShardsOn(12, kShardBytes, {1, 2, 3});
  for (ShardInfo& s : wide.shards) s.preferred_leader = N(1);
  Sim balance(wide);
  balance.Converge(40);
  for (const ShardInfo& s : balance.view.shards) {
    INFO("shard " << s.id.value());
    CHECK(HasVoter(s, 1));
    CHECK(s.leader == N(1));
    CHECK(s.replicas.size() == 3);
  }
  const auto replicas = balance.Replicas();
  CHECK(replicas.at(N(4)) > 0);
  CHECK(replicas.at(N(6)) > 0);
}

TEST_CASE("preferred leader draining, dead or slow is ignored until it is healthy again", "[placement]") {
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = {MakeShard(2, {1, 3, 5})};
  view.shards[0].preferred_leader = N(1);

  // Draining: leadership and then the replica leave n1 as for any shard.
  Sim drain(view);
  drain.Node(1).state = NodeState::kDraining;
  drain.Converge(6);
  CHECK(drain.Shard(2).leader != N(1));
  CHECK_FALSE(Holds(drain.Shard(2), N(1)));
  // Up again: a voter goes back to n1 and leads.
  drain.Node(1).state = NodeState::kUp;
  drain.Converge(6);
  CHECK(drain.Shard(2).leader == N(1));
  CHECK(drain.Shard(2).replicas.size() == 3);

  // Slow: leadership leaves; it comes back once the node is no longer slow.
  Sim slow(view);
  slow.Node(1).slow = true;
  slow.Converge(6);
  CHECK(slow.Shard(2).leader != N(1));
  CHECK(HasVoter(slow.Shard(2), 1));  // a slow node keeps its replicas
  slow.Node(1).slow = false;
  slow.Converge(6);
  CHECK(slow.Shard(2).leader == N(1));

  // Dead: the shard is repaired elsewhere (n2, n1's zone-mate) and leads there; nothing is
  // planned onto the dead node.
  Sim dead(view);
  dead.Node(1).state = NodeState::kDead;
  dead.Converge(6);
  CHECK(dead.Shard(2).leader != N(1));
  CHECK_FALSE(Holds(dead.Shard(2), N(1)));
  CHECK(dead.Shard(2).replicas.size() == 3);
  dead.Node(1).state = NodeState::kUp;
  dead.Converge(6);
  CHECK(dead.Shard(2).leader == N(1));
  CHECK(dead.Shard(2).replicas.size() == 3);
}

TEST_CASE("preferred leader outside the rule's zones is reported and not honoured", "[placement]") {
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = {MakeShard(2, {1, 3})};
  PlacementPolicy policy;
  policy.default_rule.replication_factor = 2;
  policy.default_rule.allowed_zones = {"z1", "z2"};
  view.shards[0].preferred_leader = N(5);  // z3
  PlanResult r = Checked(view, policy);
  CHECK(r.operators.empty());
  REQUIRE(r.stuck.size() == 1);
  CHECK(r.stuck[0].priority == Priority::kPreferredLeader);
  CHECK(r.stuck[0].reason.find("preferred leader n5 (zone \"z3\") is outside rule \"default\"'s zones z1, z2") !=
        std::string::npos);
  // A full preferred node cannot take the voter: reported, and nothing else is moved onto it.
  view.shards[0].preferred_leader = N(6);
  policy.default_rule.allowed_zones = {};
  for (NodeInfo& n : view.nodes) {
    if (n.id == N(6)) n.disk_used_bytes = kCapacity, n.disk_free_bytes = 0;
  }
  r = Checked(view, policy);
  CHECK(OpFor(r, 2) == nullptr);
  REQUIRE(r.stuck.size() == 1);
  CHECK(r.stuck[0].reason.find("cannot take a replica: full") != std::string::npos);
}

TEST_CASE("preferred leader: a draining leader hands over to the pinned voter first", "[placement]") {
  ClusterView view{Topology(3, 1, 2), {}};
  view.shards = {MakeShard(2, {1, 3, 5})};
  view.shards[0].preferred_leader = N(5);
  for (NodeInfo& n : view.nodes) {
    if (n.id == N(1)) n.state = NodeState::kDraining;
  }
  const PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{TransferLeader{N(1), N(5)}});
  CHECK(OpFor(r, 2)->priority == Priority::kDrain);
}

TEST_CASE("an unsplittable shard is never split, by size, load or rule boundary", "[placement]") {
  ClusterView view{Topology(3, 1, 1), {}};
  PlacementConfig config;
  view.shards = {MakeShard(2, {1, 2, 3}), MakeShard(3, {2, 3, 1})};
  view.shards[0].bytes = config.split_bytes + 1;
  view.shards[1].qps = config.split_qps + 1;
  PlacementPolicy policy;
  Rule other;
  other.name = "other";
  policy.range_rules.push_back(RangeRule{Key(2500), Key(3500), other});  // inside both shards
  const PlanResult splits = Checked(view, policy, config);
  REQUIRE(OpFor(splits, 2) != nullptr);
  CHECK(OpFor(splits, 2)->action == Action{Split{Key(2500)}});
  REQUIRE(OpFor(splits, 3) != nullptr);
  CHECK(OpFor(splits, 3)->action == Action{Split{Key(3500)}});

  for (ShardInfo& s : view.shards) s.splittable = false;
  const PlanResult none = Checked(view, policy, config);
  CHECK(none.operators.empty());
  CHECK(none.stuck.empty());
  const std::vector<std::string> lines = Explain(view, policy, config, S(2));
  CHECK(std::find(lines.begin(), lines.end(),
                  "unsplittable: the range lies within one checkpoint's keys, which no split cuts") != lines.end());
  CHECK(lines.back() == "placement is optimal");
}

TEST_CASE("explain names the preferred leader and whether it is honoured", "[placement]") {
  ClusterView view{Topology(3, 1, 1), {}};
  view.shards = {MakeShard(2, {1, 2, 3})};
  view.shards[0].preferred_leader = N(2);
  std::vector<std::string> lines = Explain(view, {}, {}, S(2));
  CHECK(std::find(lines.begin(), lines.end(), "preferred leader: n2 (honoured)") != lines.end());
  CHECK(lines.back() == "pending: shard 2: transfer leader n1 -> n2 [preferred-leader] the shard's preferred leader is n2");
  view.nodes[1].slow = true;
  lines = Explain(view, {}, {}, S(2));
  CHECK(std::find(lines.begin(), lines.end(),
                  "preferred leader: n2 (ignored while it is not up, is slow or is outside the rule's zones)") !=
        lines.end());
  CHECK(lines.back() == "placement is optimal");
}

}  // namespace claw::placement::test

namespace claw::placement::test {

TEST_CASE("preferred leader: repair adds the lost voter on it when it is as good a target", "[placement]") {
  ClusterView view{Topology(3, 1, 3), {}};  // z1 = {n1, n2, n3}, z2 = {n4, n5, n6}, z3 = {n7, n8, n9}
  view.shards = {MakeShard(2, {1, 4, 7})};
  for (NodeInfo& n : view.nodes) {
    if (n.id == N(7)) n.state = NodeState::kDead;
  }
  PlanResult r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{AddReplica{N(8)}});  // unpinned: ties go to the lower id
  view.shards[0].preferred_leader = N(9);
  r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{AddReplica{N(9)}});
  // A worse target (n2: z1 again) is not taken by repair; the pin is served afterwards by a move.
  view.shards[0].preferred_leader = N(2);
  r = Checked(view);
  REQUIRE(OpFor(r, 2) != nullptr);
  CHECK(OpFor(r, 2)->action == Action{AddReplica{N(8)}});
  Sim sim(view);
  sim.Converge(8);
  CHECK(sim.Shard(2).leader == N(2));
  CHECK(sim.Shard(2).replicas.size() == 3);
  CHECK(DiversityOf(LiveVoters(sim.view, sim.Shard(2))).zones == 3);
}

}  // namespace claw::placement::test
