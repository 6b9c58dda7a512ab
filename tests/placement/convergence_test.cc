// Convergence: the simulator applies every plan instantly and re-plans until Plan() returns
// nothing. Every plan is checked against the rules (Sim::Step), convergence must come within a
// bounded number of rounds, the planner must then stay quiet (no oscillation), every shard that
// can meet its rule does so at the best diversity the cluster allows, and replicas and leaders
// end within 10% (or one unit) of their capacity-weighted fair share where the layout allows.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "tests/placement/placement_sim.h"

namespace claw::placement::test {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kShardBytes = 64 * kMiB;

std::vector<uint64_t> Rotated(std::vector<uint64_t> v, int i) {
  std::rotate(v.begin(), v.begin() + i % static_cast<int>(v.size()), v.end());
  return v;
}

void RequireRulesMet(const Sim& sim) {
  const std::vector<std::string> unmet = UnmetRules(sim.view, sim.policy, sim.config);
  for (const std::string& u : unmet) UNSCOPED_INFO(u);
  REQUIRE(unmet.empty());
}

// Replicas and leaders within 10% of their fair share, or one unit.
void RequireBalanced(const Sim& sim) {
  CHECK(sim.WorstDeviation(sim.Replicas(), 1) <= 0.10);
  CHECK(sim.WorstDeviation(sim.Leaders(), 1) <= 0.10);
}

bool HasAction(const Sim& sim, auto pred) {
  for (const auto& ops : sim.history) {
    if (std::any_of(ops.begin(), ops.end(), pred)) return true;
  }
  return false;
}

TEST_CASE("3 zones x 2 racks x 2 hosts: shards crowded on one zone spread out and balance",
          "[placement]") {
  Sim sim(ClusterView{Topology(3, 2, 2), ShardsOn(60, kShardBytes, {1, 2, 3})});
  const int rounds = sim.Converge(100);
  INFO("rounds " << rounds);
  RequireRulesMet(sim);
  RequireBalanced(sim);
  for (const ShardInfo& s : sim.view.shards) {
    CHECK(DiversityOf(LiveVoters(sim.view, s)) == Diversity{3, 3, 3});
  }
}

TEST_CASE("one zone: racks and hosts still spread, replicas balance", "[placement]") {
  Sim sim(ClusterView{Topology(1, 2, 3), ShardsOn(30, kShardBytes, {1, 2, 3})});
  sim.Converge(100);
  RequireRulesMet(sim);
  RequireBalanced(sim);
  for (const ShardInfo& s : sim.view.shards) {
    CHECK(DiversityOf(LiveVoters(sim.view, s)) == Diversity{1, 2, 3});
  }
}

TEST_CASE("two zones with 3 replicas: every shard spans both zones", "[placement]") {
  Sim sim(ClusterView{Topology(2, 1, 3), ShardsOn(30, kShardBytes, {1, 2, 3})});
  sim.Converge(100);
  RequireRulesMet(sim);
  RequireBalanced(sim);
  for (const ShardInfo& s : sim.view.shards) {
    CHECK(DiversityOf(LiveVoters(sim.view, s)).zones == 2);
  }
}

TEST_CASE("fewer nodes than replicas: nothing illegal, and the plan says why", "[placement]") {
  Sim sim(ClusterView{Topology(2, 1, 1), ShardsOn(10, kShardBytes, {1, 2})});
  sim.Converge(20);
  // Leaders still balance.
  CHECK(sim.Leaders().at(N(1)) == 5);
  const PlanResult r = PlanWithFindings(sim.view, sim.policy, sim.config);
  REQUIRE(r.stuck.size() == 10);
  CHECK(r.stuck[0].reason.find("cannot restore 3 voters") != std::string::npos);
  const std::vector<std::string> lines = Explain(sim.view, sim.policy, sim.config, S(2));
  CHECK(std::find(lines.begin(), lines.end(),
                  "rule wants 3 replicas; only 2 nodes can hold one (up, in the allowed zones, "
                  "with disk room)") != lines.end());
}

TEST_CASE("a nearly full node receives nothing; others take its share", "[placement]") {
  ClusterView view{Topology(3, 1, 2), ShardsOn(30, kShardBytes, {1, 3, 5})};
  Sim sim(view);
  sim.track_disk = true;
  sim.disk_base[N(6)] = kCapacity - 50 * kGiB;  // 95% used by something else
  sim.Converge(100);
  RequireRulesMet(sim);
  CHECK(sim.Replicas().at(N(6)) == 0);
  CHECK(sim.Replicas().at(N(5)) == 30);  // the only z3 node left keeps every shard's z3 replica
}

TEST_CASE("capacities differing 2x: replicas follow capacity", "[placement]") {
  std::vector<NodeInfo> nodes = Topology(3, 1, 2);
  for (NodeInfo& n : nodes) {
    if (n.id.value() % 2 == 1) n.capacity_bytes *= 2;
  }
  Sim sim(ClusterView{nodes, ShardsOn(60, kShardBytes, {2, 4, 6})});
  sim.Converge(100);
  RequireRulesMet(sim);
  RequireBalanced(sim);
  CHECK(sim.Replicas().at(N(1)) == Approx(40).margin(4));
  CHECK(sim.Replicas().at(N(2)) == Approx(20).margin(2));
}

TEST_CASE("a range pinned to two zones: its shards live there, the boundary is split",
          "[placement]") {
  PlacementPolicy policy;
  Rule pinned;
  pinned.name = "pinned";
  pinned.allowed_zones = {"z1", "z2"};
  // 0.555 of the key space falls inside a shard of 40: it gets split there.
  policy.range_rules.push_back(RangeRule{Key(kKeySpace / 1000 * 555), "", pinned});
  Sim sim(ClusterView{Topology(3, 1, 2), ShardsOn(40, kShardBytes, {1, 3, 5})}, policy);
  sim.Converge(150);
  RequireRulesMet(sim);
  CHECK(sim.view.shards.size() == 41);
  for (const ShardInfo& s : sim.view.shards) {
    const Diversity d = DiversityOf(LiveVoters(sim.view, s));
    if (policy.RuleFor(s).name == "pinned") {
      CHECK(d.zones == 2);
      for (const NodeInfo* n : LiveVoters(sim.view, s)) CHECK(n->locality.zone != "z3");
    } else {
      CHECK(d.zones == 3);
    }
  }
}

TEST_CASE("leader preferences put every leader in the preferred zone, evenly", "[placement]") {
  PlacementPolicy policy;
  policy.default_rule.preferred_leader_zones = {"z2"};
  Sim sim(ClusterView{Topology(3, 1, 2), ShardsOn(30, kShardBytes, {1, 3, 5})}, policy);
  sim.Converge(100);
  RequireRulesMet(sim);
  const auto leaders = sim.Leaders();
  CHECK(leaders.at(N(3)) + leaders.at(N(4)) == 30);
  CHECK(std::abs(leaders.at(N(3)) - leaders.at(N(4))) <= 1);
  CHECK(sim.WorstDeviation(sim.Replicas(), 1) <= 0.10);
}

TEST_CASE("the meta shard gets 5 replicas over every zone", "[placement]") {
  ClusterView view{Topology(3, 1, 2), ShardsOn(20, kShardBytes, {1, 3, 5})};
  view.shards.push_back(MakeShards(1, 0, [](int) { return std::vector<uint64_t>{1, 3, 5}; },
                                   kMetaShard.value())[0]);
  view.shards.back().start_key = view.shards.back().end_key = "";
  Sim sim(view, DefaultPolicy());
  sim.Converge(100);
  RequireRulesMet(sim);
  const std::vector<const NodeInfo*> meta = LiveVoters(sim.view, sim.Shard(1));
  CHECK(meta.size() == 5);
  CHECK(DiversityOf(meta) == Diversity{3, 3, 5});
}

TEST_CASE("losing a whole zone: repairs restore 3 replicas on the survivors", "[placement]") {
  Sim sim(ClusterView{Topology(3, 1, 2), MakeShards(30, kShardBytes, [](int i) {
            return Rotated({1, 3, 5}, i);
          })});
  sim.Converge(100);
  sim.Node(5).state = NodeState::kDead;
  sim.Node(6).state = NodeState::kDead;
  sim.history.clear();
  sim.Converge(100);
  RequireRulesMet(sim);
  CHECK(HasAction(sim, [](const Operator& op) { return op.priority == Priority::kRepair; }));
  for (const ShardInfo& s : sim.view.shards) {
    CHECK(s.replicas.size() == 3);
    CHECK(LiveVoters(sim.view, s).size() == 3);
    CHECK(DiversityOf(LiveVoters(sim.view, s)) == Diversity{2, 2, 3});
  }
  RequireBalanced(sim);
}

TEST_CASE("adding 3 nodes to a 3-node cluster with 48 shards rebalances", "[placement]") {
  ClusterView view{Topology(3, 1, 1), MakeShards(48, kShardBytes, [](int i) {
                     return Rotated({1, 2, 3}, i);
                   })};
  Sim sim(view);
  REQUIRE(sim.Converge(5) == 0);
  for (uint64_t z = 1; z <= 3; ++z) {
    const std::string zone = "z" + std::to_string(z);
    sim.view.nodes.push_back(MakeNode(3 + z, zone, "r1", zone + "r1h2"));
  }
  const int rounds = sim.Converge(100);
  INFO("rounds " << rounds);
  RequireRulesMet(sim);
  RequireBalanced(sim);
  for (uint64_t id = 1; id <= 6; ++id) {
    CHECK(sim.Replicas().at(N(id)) == Approx(24).margin(2.4));
    CHECK(sim.Leaders().at(N(id)) == Approx(8).margin(1));
  }
}

TEST_CASE("a drained node ends with no replica and no leader", "[placement]") {
  Sim sim(ClusterView{Topology(3, 1, 2), MakeShards(30, kShardBytes, [](int i) {
            return Rotated({1, 3, 5}, i);
          })});
  sim.Converge(100);
  sim.Node(1).state = NodeState::kDraining;
  sim.Converge(100);
  RequireRulesMet(sim);
  CHECK(sim.Replicas().at(N(1)) == 0);
  CHECK(sim.Leaders().at(N(1)) == 0);
  // Every shard keeps a replica in z1, where only n2 is left: the layout allows no better.
  CHECK(sim.Replicas().at(N(2)) == 30);
  for (uint64_t id = 3; id <= 6; ++id) CHECK(sim.Replicas().at(N(id)) == 15);
  CHECK(sim.WorstDeviation(sim.Leaders(), 1) <= 0.10);
}

TEST_CASE("a drain that cannot be met: leaders leave, replicas stay, and Plan says why",
          "[placement]") {
  Sim sim(ClusterView{Topology(3, 1, 1), MakeShards(12, kShardBytes, [](int i) {
            return Rotated({1, 2, 3}, i);
          })});
  sim.Node(1).state = NodeState::kDraining;
  sim.Converge(20);
  CHECK(sim.Leaders().at(N(1)) == 0);
  CHECK(sim.Replicas().at(N(1)) == 12);
  const PlanResult r = PlanWithFindings(sim.view, sim.policy, sim.config);
  REQUIRE(r.stuck.size() == 12);
  for (const Finding& f : r.stuck) {
    CHECK(f.priority == Priority::kDrain);
    CHECK(f.reason == "cannot move the replica off draining n1: no legal target among 3 nodes: "
                      "3 already hold a replica");
  }
  const std::vector<std::string> lines = Explain(sim.view, sim.policy, sim.config, S(2));
  CHECK(lines.back() == "cannot meet rule: [drain] " + r.stuck[0].reason);
}

TEST_CASE("shards past the split size split until they fit, then balance", "[placement]") {
  Sim sim(ClusterView{Topology(3, 1, 2), ShardsOn(4, 1024 * kMiB, {1, 3, 5})});
  sim.Converge(100);
  RequireRulesMet(sim);
  CHECK(sim.view.shards.size() == 16);  // 1 GiB -> 4 x 256 MiB, not over the threshold
  RequireBalanced(sim);
}

// Two nodes, one replica per shard: 10 shards of `large` bytes on node 1, 10 of `large` / 10 on
// node 2 (even replica counts, uneven bytes), simulated until settled.
Sim TwoSizesSettled(uint64_t large) {
  PlacementPolicy policy;
  policy.default_rule.replication_factor = 1;
  ClusterView view{Topology(1, 1, 2), {}};
  view.shards = ShardsOn(10, large, {1});
  std::vector<ShardInfo> small = MakeShards(10, large / 10, [](int) {
    return std::vector<uint64_t>{2};
  }, 100);
  view.shards.insert(view.shards.end(), small.begin(), small.end());
  Sim sim(view, policy);
  CHECK(sim.WorstDeviation(sim.Bytes()) > 0.8);
  sim.Converge(50);
  return sim;
}

bool BytesBalanced(const Sim& sim) {
  return HasAction(sim, [](const Operator& op) { return op.priority == Priority::kBytesBalance; });
}

TEST_CASE("bytes balance evens out shards of different sizes", "[placement]") {
  Sim sim = TwoSizesSettled(100 * kMiB);
  CHECK(BytesBalanced(sim));
  // Within one large shard of even, and the counts within one replica of even.
  CHECK(sim.WorstDeviation(sim.Bytes(), 100.0 * kMiB) == 0);
  CHECK(sim.WorstDeviation(sim.Replicas(), 1) == 0);
}

TEST_CASE("bytes balance leaves shards under 1 MiB alone", "[placement]") {
  // The same layout at a thousandth of the size: the sizes of such shards are estimation noise,
  // and moving them gains nothing (the replica counts are even already).
  Sim sim = TwoSizesSettled(100 * 1024);
  CHECK_FALSE(BytesBalanced(sim));
  CHECK(sim.WorstDeviation(sim.Replicas(), 1) == 0);
}

// A random cluster: 1-4 zones, 1-3 racks, 1-3 hosts, capacities 1x-3x, some nodes dead,
// draining or nearly full, shards with 1-4 random voters (some on missing nodes), random rules
// (replication factor, a pinned range, leader preferences), sizes, loads, stray learners and
// operators in flight.
Sim RandomCluster(uint64_t seed, int max_shards) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<NodeInfo> nodes = Topology(pick(1, 4), pick(1, 3), pick(1, 3));
  if (nodes.size() > 16) nodes.resize(16);
  for (NodeInfo& n : nodes) {
    n.capacity_bytes = kCapacity * static_cast<uint64_t>(pick(1, 3));
    const int roll = pick(0, 19);
    if (roll == 0) n.state = NodeState::kDead;
    if (roll == 1) n.state = NodeState::kDraining;
    if (roll == 2) n.state = NodeState::kRemoved;
    if (roll == 3) n.operators_in_flight = static_cast<uint32_t>(pick(1, 4));
  }
  PlacementPolicy policy;
  policy.default_rule.replication_factor = static_cast<uint32_t>(pick(1, 5));
  if (pick(0, 2) == 0) {
    Rule pinned;
    pinned.name = "pinned";
    pinned.replication_factor = static_cast<uint32_t>(pick(1, 3));
    pinned.allowed_zones = {"z1", "z" + std::to_string(pick(1, 4))};
    const uint64_t start = static_cast<uint64_t>(pick(0, 99)) * (kKeySpace / 100);
    const uint64_t end = start + kKeySpace / 5;
    policy.range_rules.push_back(RangeRule{Key(start), end >= kKeySpace ? "" : Key(end), pinned});
  }
  if (pick(0, 2) == 0) {
    policy.default_rule.preferred_leader_zones = {"z" + std::to_string(pick(1, 4))};
  }
  const int node_count = static_cast<int>(nodes.size());
  std::vector<ShardInfo> shards = MakeShards(pick(5, max_shards), 0, [&](int) {
    std::vector<uint64_t> ids;
    const int k = pick(1, 4);
    while (static_cast<int>(ids.size()) < std::min(k, node_count)) {
      // Now and then a node that is not in the view.
      const uint64_t id = static_cast<uint64_t>(pick(1, node_count + (pick(0, 30) == 0)));
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    return ids;
  });
  for (ShardInfo& s : shards) {
    s.bytes = static_cast<uint64_t>(pick(1, 400)) * kMiB;
    s.qps = pick(0, 9) == 0 ? 4000 : pick(0, 500);
    s.operator_in_flight = pick(0, 9) == 0;
    if (pick(0, 9) == 0) s.replicas.back().role = ReplicaRole::kLearner;
    s.leader = s.replicas[static_cast<size_t>(pick(0, static_cast<int>(s.replicas.size()) - 1))].node;
  }
  PlacementConfig config;
  config.max_operators_per_node = static_cast<uint32_t>(pick(1, 4));
  Sim sim(ClusterView{nodes, shards}, policy, config);
  sim.track_disk = true;
  for (const NodeInfo& n : nodes) {
    if (pick(0, 9) == 0) sim.disk_base[n.id] = n.capacity_bytes / 100 * 94;
  }
  return sim;
}

// Plan() must not depend on the order of its input.
void RequireOrderIndependent(const Sim& sim) {
  ClusterView shuffled = sim.view;
  std::reverse(shuffled.nodes.begin(), shuffled.nodes.end());
  std::rotate(shuffled.shards.begin(), shuffled.shards.begin() + shuffled.shards.size() / 2,
              shuffled.shards.end());
  const std::vector<Operator> a = Plan(sim.view, sim.policy, sim.config);
  const std::vector<Operator> b = Plan(shuffled, sim.policy, sim.config);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(ToString(a[i]) == ToString(b[i]));
}

// Explain() must tell what Plan() does: "pending" exactly for the planned shards, "cannot meet
// rule" for the stuck ones.
void RequireExplainAgrees(const Sim& sim) {
  const PlanResult r = PlanWithFindings(sim.view, sim.policy, sim.config);
  for (const ShardInfo& s : sim.view.shards) {
    INFO("shard " << s.id.value());
    const std::vector<std::string> lines = Explain(sim.view, sim.policy, sim.config, s.id);
    auto has = [&](const std::string& prefix) {
      return std::any_of(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.starts_with(prefix); });
    };
    auto op = std::find_if(r.operators.begin(), r.operators.end(),
                           [&](const Operator& o) { return o.shard == s.id; });
    REQUIRE(has("pending: ") == (op != r.operators.end()));
    if (op != r.operators.end()) REQUIRE(has("pending: " + ToString(*op)));
    const bool stuck = std::any_of(r.stuck.begin(), r.stuck.end(),
                                   [&](const Finding& f) { return f.shard == s.id; });
    REQUIRE(has("cannot meet rule: ") == stuck);
  }
}

// Something outside the planner happens: a node dies, starts draining, or joins.
void RandomEvent(Sim& sim, std::mt19937_64& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<NodeInfo*> up;
  for (NodeInfo& n : sim.view.nodes) {
    if (n.state == NodeState::kUp) up.push_back(&n);
  }
  const int roll = pick(0, 2);
  if (roll < 2 && !up.empty()) {
    NodeInfo* n = up[static_cast<size_t>(pick(0, static_cast<int>(up.size()) - 1))];
    n->state = roll == 0 ? NodeState::kDead : NodeState::kDraining;
    return;
  }
  uint64_t id = 0;
  for (const NodeInfo& n : sim.view.nodes) id = std::max(id, n.id.value());
  const std::string zone = "z" + std::to_string(pick(1, 4));
  sim.view.nodes.push_back(MakeNode(id + 1, zone, "r" + std::to_string(pick(1, 3)),
                                    "new" + std::to_string(id + 1),
                                    kCapacity * static_cast<uint64_t>(pick(1, 3))));
}

void RunRandom(uint64_t seed, int max_shards, int events) {
  INFO("seed " << seed);
  Sim sim = RandomCluster(seed, max_shards);
  RequireOrderIndependent(sim);
  RequireExplainAgrees(sim);
  sim.Step();
  // The executor finishes what was in flight.
  for (ShardInfo& s : sim.view.shards) s.operator_in_flight = false;
  for (NodeInfo& n : sim.view.nodes) n.operators_in_flight = 0;
  std::mt19937_64 rng(seed * 7919);
  for (int event = 0; event <= events; ++event) {
    sim.history.clear();
    sim.Converge(400);
    RequireRulesMet(sim);
    RequireExplainAgrees(sim);
    RandomEvent(sim, rng);
  }
}

TEST_CASE("random clusters converge without breaking a rule (a few seeds)", "[placement]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) RunRandom(seed, 50, 1);
}

// RandomCluster with a preferred leader on about a third of the shards (now and then a node not
// in the view) and some slow nodes: the plans keep every rule (PlanChecker, including that
// nothing takes a voter or leadership from an honoured preferred leader), converge, and every
// honoured preferred leader of a shard the planner can act on leads it — also after a random
// node failure, drain or join.
void RunRandomPinned(uint64_t seed, int max_shards) {
  INFO("seed " << seed);
  Sim sim = RandomCluster(seed, max_shards);
  std::mt19937_64 rng(seed * 104729);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int nodes = static_cast<int>(sim.view.nodes.size());
  for (ShardInfo& s : sim.view.shards) {
    if (pick(0, 2) == 0) s.preferred_leader = N(static_cast<uint64_t>(pick(1, nodes + 1)));
  }
  for (NodeInfo& n : sim.view.nodes) n.slow = pick(0, 9) == 0;
  RequireOrderIndependent(sim);
  RequireExplainAgrees(sim);
  sim.Step();
  for (ShardInfo& s : sim.view.shards) s.operator_in_flight = false;
  for (NodeInfo& n : sim.view.nodes) n.operators_in_flight = 0;
  for (int event = 0; event <= 1; ++event) {
    sim.history.clear();
    sim.Converge(400);
    RequireExplainAgrees(sim);
    const PlanResult r = PlanWithFindings(sim.view, sim.policy, sim.config);
    int honoured = 0;
    for (const ShardInfo& s : sim.view.shards) {
      const NodeInfo* p = FindNode(sim.view, s.preferred_leader);
      if (s.preferred_leader.IsZero() || !IsUp(p) || p->slow || !sim.policy.RuleFor(s).AllowsZone(p->locality.zone)) {
        continue;
      }
      const bool stuck = std::any_of(r.stuck.begin(), r.stuck.end(), [&](const Finding& f) { return f.shard == s.id; });
      if (stuck) continue;
      INFO("shard " << s.id.value() << " pinned to n" << s.preferred_leader.value());
      CHECK(s.leader == s.preferred_leader);
      ++honoured;
    }
    UNSCOPED_INFO("honoured preferred leaders: " << honoured);
    RandomEvent(sim, rng);
  }
}

TEST_CASE("random clusters with preferred leaders converge, and honoured ones lead (a few seeds)", "[placement]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) RunRandomPinned(seed, 50);
}

TEST_CASE("random clusters with preferred leaders converge, and honoured ones lead (300 seeds)",
          "[placement][slow]") {
  for (uint64_t seed = 1; seed <= 300; ++seed) RunRandomPinned(seed, 150);
}

TEST_CASE("random clusters converge without breaking a rule (500 seeds)", "[placement][slow]") {
  for (uint64_t seed = 1; seed <= 500; ++seed) RunRandom(seed, 150, 3);
}

}  // namespace
}  // namespace claw::placement::test
