// Test harness for the placement logic: synthetic clusters, an independent checker of every plan
// against the placement rules, and a simulator that applies operators instantly and re-plans until
// the planner has nothing left to do.
//
// The checker re-derives the rules from the public types only (it shares no code with the
// planner's internals beyond DiversityOf/BestDiversity and PlacementPolicy::RuleFor), so a bug in
// the planner's bookkeeping shows up as a violation here.
//
// Test-only; header-only so that each *_test.cc includes it. Uses Catch2 assertions.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "server/placement/diversity.h"
#include "server/placement/operator.h"
#include "server/placement/planner.h"
#include "server/placement/policy.h"
#include "server/placement/types.h"

namespace Catch {
template <typename Tag>
struct StringMaker<claw::placement::Id<Tag>> {
  static std::string convert(const claw::placement::Id<Tag>& v) {
    return std::to_string(v.value());
  }
};
}  // namespace Catch

namespace claw::placement::test {

inline constexpr uint64_t kGiB = 1ull << 30;
inline constexpr uint64_t kCapacity = 1000 * kGiB;
// Keys are "k" + 12 digits; shard ranges cover [0, kKeySpace).
inline constexpr uint64_t kKeySpace = 1'000'000'000'000ull;

inline NodeId N(uint64_t v) { return NodeId{v}; }
inline ShardId S(uint64_t v) { return ShardId{v}; }

inline std::string Key(uint64_t v) {
  if (v == 0) return "";
  std::string digits = std::to_string(v);
  return "k" + std::string(12 - digits.size(), '0') + digits;
}
inline uint64_t KeyValue(const std::string& key, uint64_t empty) {
  return key.empty() ? empty : std::stoull(key.substr(1));
}

inline NodeInfo MakeNode(uint64_t id, std::string zone, std::string rack, std::string host,
                         uint64_t capacity = kCapacity) {
  return NodeInfo{.id = N(id), .locality = {std::move(zone), std::move(rack), std::move(host)},
                  .state = NodeState::kUp, .capacity_bytes = capacity};
}

// zones x racks x hosts nodes with ids 1.. in that order: zone "z1", rack "r1", host "z1r1h1".
inline std::vector<NodeInfo> Topology(int zones, int racks, int hosts,
                                      uint64_t capacity = kCapacity) {
  std::vector<NodeInfo> nodes;
  for (int z = 1; z <= zones; ++z) {
    for (int r = 1; r <= racks; ++r) {
      for (int h = 1; h <= hosts; ++h) {
        const std::string zone = "z" + std::to_string(z), rack = "r" + std::to_string(r);
        nodes.push_back(MakeNode(nodes.size() + 1, zone, rack,
                                 zone + rack + "h" + std::to_string(h), capacity));
      }
    }
  }
  return nodes;
}

// `count` shards with ids first_id.., covering the key space evenly, shard i's voters on
// placement(i) (its first entry leads).
template <typename Placement>
std::vector<ShardInfo> MakeShards(int count, uint64_t bytes, Placement placement,
                                  uint64_t first_id = 2) {
  std::vector<ShardInfo> shards;
  const uint64_t span = kKeySpace / static_cast<uint64_t>(count);
  uint64_t replica_id = 1;
  for (int i = 0; i < count; ++i) {
    ShardInfo s;
    s.id = S(first_id + static_cast<uint64_t>(i));
    s.start_key = Key(span * static_cast<uint64_t>(i));
    s.end_key = i + 1 == count ? "" : Key(span * static_cast<uint64_t>(i + 1));
    for (uint64_t node : placement(i)) {
      s.replicas.push_back(ReplicaInfo{N(node), ReplicaId{replica_id++}, ReplicaRole::kVoter});
    }
    if (!s.replicas.empty()) s.leader = s.replicas.front().node;
    s.bytes = bytes;
    shards.push_back(std::move(s));
  }
  return shards;
}

// Shards all on the same voters.
inline std::vector<ShardInfo> ShardsOn(int count, uint64_t bytes, std::vector<uint64_t> nodes) {
  return MakeShards(count, bytes, [&](int) { return nodes; });
}

inline const NodeInfo* FindNode(const ClusterView& view, NodeId id) {
  for (const NodeInfo& n : view.nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}
inline const ShardInfo* FindShard(const ClusterView& view, ShardId id) {
  for (const ShardInfo& s : view.shards) {
    if (s.id == id) return &s;
  }
  return nullptr;
}
inline bool IsLive(const NodeInfo* n) {
  return n != nullptr && (n->state == NodeState::kUp || n->state == NodeState::kDraining);
}
inline bool IsUp(const NodeInfo* n) { return n != nullptr && n->state == NodeState::kUp; }

// The live voters' nodes of a shard.
inline std::vector<const NodeInfo*> LiveVoters(const ClusterView& view, const ShardInfo& s) {
  std::vector<const NodeInfo*> out;
  for (const ReplicaInfo& r : s.replicas) {
    const NodeInfo* n = FindNode(view, r.node);
    if (r.role == ReplicaRole::kVoter && IsLive(n)) out.push_back(n);
  }
  return out;
}
inline Diversity DiversityAfter(std::vector<const NodeInfo*> nodes, NodeId leaving,
                                const NodeInfo* joining) {
  std::erase_if(nodes, [&](const NodeInfo* n) { return n->id == leaving; });
  if (joining != nullptr) nodes.push_back(joining);
  return DiversityOf(nodes);
}
inline bool Holds(const ShardInfo& s, NodeId node) {
  return std::any_of(s.replicas.begin(), s.replicas.end(),
                     [&](const ReplicaInfo& r) { return r.node == node; });
}
inline const ReplicaInfo* ReplicaOn(const ShardInfo& s, NodeId node) {
  for (const ReplicaInfo& r : s.replicas) {
    if (r.node == node) return &r;
  }
  return nullptr;
}
inline int Count(const std::vector<Operator>& ops, Priority p) {
  return static_cast<int>(std::count_if(ops.begin(), ops.end(),
                                        [&](const Operator& op) { return op.priority == p; }));
}
template <typename T>
int CountKind(const std::vector<Operator>& ops) {
  return static_cast<int>(std::count_if(ops.begin(), ops.end(), [](const Operator& op) {
    return std::holds_alternative<T>(op.action);
  }));
}

// Checks one plan against the rules, projecting earlier operators of the same plan. Returns one
// line per violation.
class PlanChecker {
 public:
  PlanChecker(const ClusterView& view, const PlacementPolicy& policy, const PlacementConfig& config)
      : view_(view), policy_(policy), config_(config) {
    double sum = 0;
    int known = 0;
    for (const NodeInfo& n : view.nodes) {
      slots_[n.id] = n.operators_in_flight;
      replicas_[n.id] = leaders_[n.id] = bytes_[n.id] = 0;
      used_[n.id] = static_cast<double>(n.disk_used_bytes);
      free_[n.id] = static_cast<double>(n.disk_free_bytes);
      if (n.state == NodeState::kUp && n.capacity_bytes > 0) sum += n.capacity_bytes, ++known;
    }
    for (const NodeInfo& n : view.nodes) {
      weight_[n.id] = n.capacity_bytes > 0 ? static_cast<double>(n.capacity_bytes)
                                           : (known ? sum / known : 1);
    }
    for (const ShardInfo& s : view.shards) {
      if (s.operator_in_flight) ++in_flight_;
      for (const ReplicaInfo& r : s.replicas) {
        replicas_[r.node] += 1;
        bytes_[r.node] += static_cast<double>(s.bytes);
        if (s.leader == r.node) leaders_[r.node] += 1;
      }
    }
  }

  std::vector<std::string> Check(const std::vector<Operator>& ops) {
    for (const Operator& op : ops) CheckOne(op);
    return errors_;
  }

 private:
  void Fail(const Operator& op, const std::string& what) {
    errors_.push_back(ToString(op) + ": " + what);
  }

  bool HasRoom(const NodeInfo& n, uint64_t bytes) const {
    const bool reported = n.disk_used_bytes + n.disk_free_bytes > 0;
    double cap = static_cast<double>(n.capacity_bytes);
    if (cap <= 0 && reported) cap = static_cast<double>(n.disk_used_bytes + n.disk_free_bytes);
    if (cap <= 0) return true;
    const double b = static_cast<double>(bytes);
    const double used = (reported ? used_.at(n.id) : bytes_.at(n.id)) + b;
    const double free = reported ? free_.at(n.id) - b : cap - used;
    return used <= config_.disk_full_ratio * cap && free >= (1 - config_.disk_full_ratio) * cap;
  }

  // Why `n` may not take a replica of `s`, or empty.
  std::string Illegal(const ShardInfo& s, const Rule& rule, const NodeInfo* n) const {
    if (n == nullptr) return "unknown node";
    if (Holds(s, n->id)) return "already holds a replica";
    if (n->state != NodeState::kUp) return std::string(NodeStateName(n->state));
    if (!rule.AllowsZone(n->locality.zone)) return "outside allowed zones";
    if (!HasRoom(*n, s.bytes)) return "full";
    return "";
  }

  // The best diversity any legal target reaches for a voter joining without `leaving`.
  Diversity BestTargetDiversity(const ShardInfo& s, const Rule& rule, NodeId leaving) const {
    Diversity best{};
    for (const NodeInfo& n : view_.nodes) {
      if (Illegal(s, rule, &n).empty()) {
        best = std::max(best, DiversityAfter(LiveVoters(view_, s), leaving, &n));
      }
    }
    return best;
  }

  double Ratio(std::map<NodeId, double>& m, NodeId id, double delta) {
    return (m[id] + delta) / weight_.at(id);
  }

  void CheckTarget(const Operator& op, const ShardInfo& s, const Rule& rule, NodeId leaving,
                   NodeId to, bool must_be_best) {
    const NodeInfo* n = FindNode(view_, to);
    if (std::string why = Illegal(s, rule, n); !why.empty()) {
      Fail(op, "illegal target: " + why);
      return;
    }
    const Diversity before = DiversityOf(LiveVoters(view_, s));
    const Diversity after = DiversityAfter(LiveVoters(view_, s), leaving, n);
    if (must_be_best && after != BestTargetDiversity(s, rule, leaving)) {
      Fail(op, "target reaches " + ToString(after) + ", a legal target reaches " +
                   ToString(BestTargetDiversity(s, rule, leaving)));
    }
    if (op.priority == Priority::kDiversity && !(after > before)) {
      Fail(op, "diversity move does not widen the spread");
    }
    if ((op.priority == Priority::kReplicaBalance || op.priority == Priority::kBytesBalance) &&
        after < before) {
      Fail(op, "balancing move lowers diversity from " + ToString(before) + " to " +
                   ToString(after));
    }
  }

  void CheckSlots(const Operator& op, const ShardInfo& s) {
    std::vector<NodeId> nodes;
    std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, AddReplica>) nodes = {a.target};
          if constexpr (std::is_same_v<T, RemoveReplica>) nodes = {a.node};
          if constexpr (std::is_same_v<T, MoveReplica>) nodes = {a.from, a.to};
          if constexpr (std::is_same_v<T, TransferLeader>) nodes = {a.from, a.to};
          if constexpr (std::is_same_v<T, Split>) nodes = {s.leader};
        },
        op.action);
    for (NodeId id : nodes) {
      if (!IsLive(FindNode(view_, id))) continue;
      if (++slots_[id] > config_.max_operators_per_node) Fail(op, "per-node operator limit");
    }
    if (++in_flight_ > config_.max_operators_in_flight) Fail(op, "cluster operator limit");
  }

  void CheckOne(const Operator& op) {
    const ShardInfo* s = FindShard(view_, op.shard);
    if (s == nullptr) return Fail(op, "unknown shard");
    if (s->operator_in_flight) Fail(op, "shard has an operator in flight");
    if (!planned_.insert(op.shard).second) Fail(op, "second operator for the shard");
    CheckSlots(op, *s);
    const Rule& rule = policy_.RuleFor(*s);
    const uint32_t rf = std::max<uint32_t>(rule.replication_factor, 1);
    const std::vector<const NodeInfo*> live = LiveVoters(view_, *s);
    size_t voters = 0;
    for (const ReplicaInfo& r : s->replicas) voters += r.role == ReplicaRole::kVoter;
    if (2 * live.size() <= voters) Fail(op, "operator on a shard without quorum");
    const ReplicaInfo* leader = ReplicaOn(*s, s->leader);
    if (leader == nullptr || leader->role != ReplicaRole::kVoter ||
        !IsLive(FindNode(view_, s->leader))) {
      Fail(op, "operator on a shard without a live leader");
    }
    CheckPreferredLeader(op, *s, rule);
    std::visit([&](const auto& a) { CheckAction(op, *s, rule, rf, live, voters, a); }, op.action);
  }

  // The shard's preferred leader while the rules honour it (up, not slow, in the allowed zones).
  NodeId HonouredPin(const ShardInfo& s, const Rule& rule) const {
    const NodeInfo* p = FindNode(view_, s.preferred_leader);
    if (s.preferred_leader.IsZero() || !IsUp(p) || p->slow || !rule.AllowsZone(p->locality.zone)) return {};
    return p->id;
  }

  // Nothing takes a voter or the leadership from an honoured preferred leader, and the
  // preferred-leader class acts only towards it.
  void CheckPreferredLeader(const Operator& op, const ShardInfo& s, const Rule& rule) {
    const NodeId pin = HonouredPin(s, rule);
    std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, RemoveReplica>) {
            const ReplicaInfo* r = pin.IsZero() ? nullptr : ReplicaOn(s, pin);
            if (a.node == pin && r != nullptr && r->role == ReplicaRole::kVoter) {
              Fail(op, "removes the preferred leader's voter");  // a stray learner there may go
            }
          } else if constexpr (std::is_same_v<T, MoveReplica>) {
            if (!pin.IsZero() && a.from == pin) Fail(op, "moves the preferred leader's replica away");
            if (op.priority == Priority::kPreferredLeader && (pin.IsZero() || a.to != pin)) {
              Fail(op, "preferred-leader move to a node that is not the honoured preferred leader");
            }
          } else if constexpr (std::is_same_v<T, TransferLeader>) {
            if (!pin.IsZero() && a.from == pin) Fail(op, "takes leadership from the preferred leader");
            const ReplicaInfo* on_pin = pin.IsZero() ? nullptr : ReplicaOn(s, pin);
            if (on_pin != nullptr && on_pin->role == ReplicaRole::kVoter && a.to != pin) {
              Fail(op, "leadership of a pinned shard goes elsewhere than its preferred leader's voter");
            }
            if (op.priority == Priority::kPreferredLeader && (pin.IsZero() || a.to != pin)) {
              Fail(op, "preferred-leader transfer to a node that is not the honoured preferred leader");
            }
          } else if constexpr (std::is_same_v<T, Split>) {
            if (!s.splittable) Fail(op, "split of an unsplittable shard");
          } else {
            if (op.priority == Priority::kPreferredLeader) Fail(op, "preferred-leader class adds a replica");
          }
        },
        op.action);
  }

  void CheckAction(const Operator& op, const ShardInfo& s, const Rule& rule, uint32_t rf,
                   const std::vector<const NodeInfo*>& live, size_t, const AddReplica& a) {
    if (op.priority != Priority::kRepair) Fail(op, "add outside repair");
    if (live.size() >= rf) Fail(op, "add with enough live voters");
    CheckTarget(op, s, rule, NodeId{}, a.target, true);
    Project(s, NodeId{}, a.target);
  }

  void CheckAction(const Operator& op, const ShardInfo& s, const Rule&, uint32_t rf,
                   const std::vector<const NodeInfo*>& live, size_t voters,
                   const RemoveReplica& a) {
    const ReplicaInfo* r = ReplicaOn(s, a.node);
    if (r == nullptr) return Fail(op, "removes a replica the shard does not have");
    Project(s, a.node, NodeId{});
    if (r->role == ReplicaRole::kLearner) return;
    const bool live_node = IsLive(FindNode(view_, a.node));
    if (!live_node && live.size() < rf && voters <= rf) {
      Fail(op, "removes a dead voter before the repair add");
    }
    if (live_node) {
      if (voters <= rf) Fail(op, "removes a voter from a shard that is not over-replicated");
      if (live.size() != voters) Fail(op, "removes a live voter while a dead one remains");
      if (live.size() - 1 < rf) Fail(op, "leaves fewer live voters than the rule wants");
    }
  }

  void CheckAction(const Operator& op, const ShardInfo& s, const Rule& rule, uint32_t,
                   const std::vector<const NodeInfo*>&, size_t, const MoveReplica& a) {
    const ReplicaInfo* r = ReplicaOn(s, a.from);
    if (r == nullptr || r->role != ReplicaRole::kVoter) return Fail(op, "source holds no voter");
    const NodeInfo* from = FindNode(view_, a.from);
    const bool must_be_best = op.priority == Priority::kDrain || op.priority == Priority::kConstraint;
    if (op.priority == Priority::kDrain && from->state != NodeState::kDraining) {
      Fail(op, "drain move from a node that is not draining");
    }
    if (op.priority == Priority::kConstraint && rule.AllowsZone(from->locality.zone)) {
      Fail(op, "constraint move from an allowed zone");
    }
    if (op.priority != Priority::kDrain && from->state != NodeState::kUp) {
      Fail(op, "move from a node that is not up");
    }
    CheckTarget(op, s, rule, a.from, a.to, must_be_best);
    if (op.priority == Priority::kReplicaBalance) {
      if (Ratio(replicas_, a.to, 1) > Ratio(replicas_, a.from, -1) * (1 + 1e-9)) {
        Fail(op, "replica move leaves the target fuller than the source");
      }
    }
    if (op.priority == Priority::kBytesBalance) {
      const double b = static_cast<double>(s.bytes);
      if (Ratio(bytes_, a.to, b) > Ratio(bytes_, a.from, -b) * (1 + 1e-9)) {
        Fail(op, "bytes move leaves the target fuller than the source");
      }
    }
    Project(s, a.from, a.to);
  }

  void CheckAction(const Operator& op, const ShardInfo& s, const Rule& rule, uint32_t,
                   const std::vector<const NodeInfo*>&, size_t, const TransferLeader& a) {
    if (a.from != s.leader) Fail(op, "transfer from a node that does not lead");
    const ReplicaInfo* r = ReplicaOn(s, a.to);
    const NodeInfo* to = FindNode(view_, a.to);
    if (r == nullptr || r->role != ReplicaRole::kVoter || !IsUp(to) || a.to == a.from) {
      return Fail(op, "transfer to a node that is not an up voter");
    }
    const NodeInfo* from = FindNode(view_, a.from);
    if (op.priority == Priority::kDrain && from->state != NodeState::kDraining && !from->slow) {
      Fail(op, "drain transfer from a node that is neither draining nor slow");
    }
    if (to->slow) Fail(op, "transfer to a slow node");
    if (op.priority == Priority::kLeaderBalance) {
      if (!HonouredPin(s, rule).IsZero()) Fail(op, "leader balancing on a shard with a preferred leader");
      const size_t rank_from = rule.LeaderRank(from->locality.zone);
      const size_t rank_to = rule.LeaderRank(to->locality.zone);
      if (rank_to > rank_from) Fail(op, "leader moves to a less preferred zone");
      if (rank_to == rank_from &&
          Ratio(leaders_, a.to, 1) > Ratio(leaders_, a.from, -1) * (1 + 1e-9)) {
        Fail(op, "leader transfer leaves the target with more leaders than the source");
      }
    }
    leaders_[a.from] -= 1;
    leaders_[a.to] += 1;
  }

  void CheckAction(const Operator& op, const ShardInfo& s, const Rule& rule, uint32_t,
                   const std::vector<const NodeInfo*>&, size_t, const Split& a) {
    if (!rule.split_enabled) Fail(op, "split of a shard whose rule forbids splits");
    if (!a.key.empty()) {
      if (a.key <= s.start_key || (!s.end_key.empty() && a.key >= s.end_key)) {
        Fail(op, "split key outside the shard");
      }
      if (policy_.BoundaryInside(s) != a.key) Fail(op, "split key is not a rule boundary");
    } else if (!(s.bytes > config_.split_bytes || s.qps > config_.split_qps)) {
      Fail(op, "split under both thresholds");
    }
    // Two shards on the same replicas: one more replica on each node, the leader leads both.
    for (const ReplicaInfo& r : s.replicas) {
      replicas_[r.node] += 1;
      if (s.leader == r.node) leaders_[r.node] += 1;
    }
  }

  void Project(const ShardInfo& s, NodeId from, NodeId to) {
    const double b = static_cast<double>(s.bytes);
    if (!from.IsZero()) {
      replicas_[from] -= 1, bytes_[from] -= b;
      if (s.leader == from) leaders_[from] -= 1, leaders_[to] += to.IsZero() ? 0 : 1;
    }
    if (!to.IsZero()) {
      replicas_[to] += 1, bytes_[to] += b, used_[to] += b, free_[to] -= b;
    }
  }

  const ClusterView& view_;
  const PlacementPolicy& policy_;
  const PlacementConfig& config_;
  std::map<NodeId, uint32_t> slots_;
  std::map<NodeId, double> weight_, replicas_, leaders_, bytes_, used_, free_;
  uint32_t in_flight_ = 0;
  std::set<ShardId> planned_;
  std::vector<std::string> errors_;
};

inline std::vector<std::string> Violations(const ClusterView& view, const PlacementPolicy& policy,
                                           const PlacementConfig& config,
                                           const std::vector<Operator>& ops) {
  return PlanChecker(view, policy, config).Check(ops);
}

// The balance potentials of load_model.h recomputed from a view: for replicas, bytes (in units of
// the mean replica size) and leaders, the sum over up nodes of (x_n - fair_n)^2 / w_n, with w_n
// the capacity relative to the up nodes' mean and fair_n the capacity-weighted share of the total
// over up and draining nodes. `replicas_and_bytes` is the sum of the first two.
struct Potentials {
  double replicas_and_bytes = 0;
  double leaders = 0;
};
inline Potentials PotentialsOf(const ClusterView& view) {
  std::map<NodeId, double> replicas, bytes, leaders;
  for (const ShardInfo& s : view.shards) {
    for (const ReplicaInfo& r : s.replicas) {
      replicas[r.node] += 1;
      bytes[r.node] += static_cast<double>(s.bytes);
      if (s.leader == r.node) leaders[r.node] += 1;
    }
  }
  double capacity = 0, up = 0, total_r = 0, total_b = 0, total_l = 0;
  for (const NodeInfo& n : view.nodes) {
    if (n.state == NodeState::kUp) capacity += static_cast<double>(n.capacity_bytes), up += 1;
    if (IsLive(&n)) total_r += replicas[n.id], total_b += bytes[n.id], total_l += leaders[n.id];
  }
  const double unit = total_r > 0 && total_b > 0 ? total_b / total_r : 1;
  Potentials p;
  for (const NodeInfo& n : view.nodes) {
    if (n.state != NodeState::kUp) continue;
    const double w = static_cast<double>(n.capacity_bytes) / (capacity / up);
    auto term = [&](double x, double total) {
      const double off = x - total * w / up;
      return off * off / w;
    };
    p.replicas_and_bytes += term(replicas[n.id], total_r) + term(bytes[n.id] / unit, total_b / unit);
    p.leaders += term(leaders[n.id], total_l);
  }
  return p;
}

// Applies operators instantly, as an ideal executor would.
class Sim {
 public:
  explicit Sim(ClusterView initial, PlacementPolicy rules = {}, PlacementConfig limits = {})
      : view(std::move(initial)), policy(std::move(rules)), config(limits) {
    for (const ShardInfo& s : this->view.shards) {
      for (const ReplicaInfo& r : s.replicas) next_replica_ = std::max(next_replica_, r.id.value());
    }
    ++next_replica_;
  }

  ClusterView view;
  PlacementPolicy policy;
  PlacementConfig config;
  // Keep disk_used/disk_free equal to base + replica bytes (for disk-full scenarios).
  bool track_disk = false;
  std::map<NodeId, uint64_t> disk_base{};

  NodeInfo& Node(uint64_t id) {
    for (NodeInfo& n : view.nodes) {
      if (n.id == N(id)) return n;
    }
    FAIL("no node " << id);
    return view.nodes.front();
  }
  ShardInfo& Shard(uint64_t id) {
    for (ShardInfo& s : view.shards) {
      if (s.id == S(id)) return s;
    }
    FAIL("no shard " << id);
    return view.shards.front();
  }

  // Plans once, checks the plan, applies it; returns it.
  std::vector<Operator> Step() {
    Elect();
    UpdateDisk();
    std::vector<Operator> ops = Plan(view, policy, config);
    const std::vector<std::string> errors = Violations(view, policy, config, ops);
    for (const std::string& e : errors) UNSCOPED_INFO(e);
    REQUIRE(errors.empty());
    const Potentials before = PotentialsOf(view);
    const bool balancing_only = OnlyBalancing(ops), leader_balancing_only = OnlyLeaderBalancing(ops);
    for (const Operator& op : ops) Apply(op);
    Elect();
    UpdateDisk();
    history.push_back(ops);
    // No oscillation: a round of balancing moves lowers the imbalance it works on, so the cluster
    // can never come back to where it was.
    const Potentials after = PotentialsOf(view);
    INFO("round of balancing operators:\n" << Describe(ops));
    if (balancing_only) REQUIRE(after.replicas_and_bytes < before.replicas_and_bytes - 1e-9);
    if (leader_balancing_only) REQUIRE(after.leaders < before.leaders - 1e-9);
    return ops;
  }

  // Whether `ops` hold a replica move and otherwise only balancing operators.
  bool OnlyBalancing(const std::vector<Operator>& ops) const {
    return CountKind<MoveReplica>(ops) > 0 &&
           std::all_of(ops.begin(), ops.end(), [](const Operator& op) {
             return op.priority == Priority::kReplicaBalance ||
                    op.priority == Priority::kBytesBalance ||
                    op.priority == Priority::kLeaderBalance;
           });
  }
  // Whether `ops` are leader transfers between equally preferred zones only.
  bool OnlyLeaderBalancing(const std::vector<Operator>& ops) const {
    return !ops.empty() && std::all_of(ops.begin(), ops.end(), [&](const Operator& op) {
      const auto* t = std::get_if<TransferLeader>(&op.action);
      if (t == nullptr || op.priority != Priority::kLeaderBalance) return false;
      const Rule& rule = policy.RuleFor(*FindShard(view, op.shard));
      return rule.LeaderRank(FindNode(view, t->from)->locality.zone) ==
             rule.LeaderRank(FindNode(view, t->to)->locality.zone);
    });
  }

  // Steps until a plan is empty; returns the number of non-empty rounds. Fails past max_rounds.
  int Converge(int max_rounds) {
    for (int round = 0; round <= max_rounds; ++round) {
      if (Step().empty()) {
        // No oscillation: planning again on the same picture gives nothing again.
        REQUIRE(Plan(view, policy, config).empty());
        return round;
      }
    }
    FAIL("placement did not converge within " << max_rounds << " rounds; last plan:\n"
                                              << Describe(history.back()));
    return -1;
  }

  void Apply(const Operator& op) {
    ShardInfo& s = Shard(op.shard.value());
    std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, AddReplica>) {
            s.replicas.push_back(ReplicaInfo{a.target, ReplicaId{next_replica_++}, ReplicaRole::kVoter});
          } else if constexpr (std::is_same_v<T, RemoveReplica>) {
            std::erase_if(s.replicas, [&](const ReplicaInfo& r) { return r.node == a.node; });
            if (s.leader == a.node) s.leader = NodeId{};
          } else if constexpr (std::is_same_v<T, MoveReplica>) {
            for (ReplicaInfo& r : s.replicas) {
              if (r.node == a.from) r = ReplicaInfo{a.to, ReplicaId{next_replica_++}, r.role};
            }
            if (s.leader == a.from) s.leader = a.to;
          } else if constexpr (std::is_same_v<T, TransferLeader>) {
            s.leader = a.to;
          } else {
            SplitShard(s.id, a.key);
          }
        },
        op.action);
  }

  // A shard without a live voter leader elects the lowest-id voter on an up node (else on a
  // draining node) if it has quorum.
  void Elect() {
    for (ShardInfo& s : view.shards) {
      const ReplicaInfo* lead = ReplicaOn(s, s.leader);
      if (lead != nullptr && lead->role == ReplicaRole::kVoter && IsLive(FindNode(view, s.leader))) {
        continue;
      }
      s.leader = NodeId{};
      size_t voters = 0;
      for (const ReplicaInfo& r : s.replicas) voters += r.role == ReplicaRole::kVoter;
      if (2 * LiveVoters(view, s).size() <= voters) continue;
      for (NodeState wanted : {NodeState::kUp, NodeState::kDraining}) {
        for (const ReplicaInfo& r : s.replicas) {
          const NodeInfo* n = FindNode(view, r.node);
          if (s.leader.IsZero() && r.role == ReplicaRole::kVoter && n != nullptr &&
              n->state == wanted) {
            s.leader = r.node;
          }
        }
      }
    }
  }

  void UpdateDisk() {
    if (!track_disk) return;
    std::map<NodeId, uint64_t> used;
    for (const ShardInfo& s : view.shards) {
      for (const ReplicaInfo& r : s.replicas) used[r.node] += s.bytes;
    }
    for (NodeInfo& n : view.nodes) {
      n.disk_used_bytes = disk_base[n.id] + used[n.id];
      n.disk_free_bytes = n.capacity_bytes - std::min(n.capacity_bytes, n.disk_used_bytes);
    }
  }

  std::map<NodeId, double> Replicas() const { return Per([](const ShardInfo& s, NodeId n) {
    return Holds(s, n) ? 1.0 : 0.0; }); }
  std::map<NodeId, double> Leaders() const { return Per([](const ShardInfo& s, NodeId n) {
    return s.leader == n ? 1.0 : 0.0; }); }
  std::map<NodeId, double> Bytes() const { return Per([](const ShardInfo& s, NodeId n) {
    return Holds(s, n) ? static_cast<double>(s.bytes) : 0.0; }); }

  // Largest |x_n / fair_n - 1| over up nodes, where fair_n is the capacity-weighted share; slack
  // `units` absorbs integer rounding (a node may be `units` above or below its share).
  double WorstDeviation(const std::map<NodeId, double>& per, double units = 0) const {
    double total = 0, weight = 0;
    for (const NodeInfo& n : view.nodes) {
      if (n.state != NodeState::kUp) continue;
      total += per.at(n.id);
      weight += static_cast<double>(n.capacity_bytes);
    }
    double worst = 0;
    for (const NodeInfo& n : view.nodes) {
      if (n.state != NodeState::kUp) continue;
      const double fair = total * static_cast<double>(n.capacity_bytes) / weight;
      const double off = std::max(0.0, std::abs(per.at(n.id) - fair) - units);
      if (fair > 0) worst = std::max(worst, off / fair);
    }
    return worst;
  }

  static std::string Describe(const std::vector<Operator>& ops) {
    std::string out;
    for (const Operator& op : ops) out += "  " + ToString(op) + "\n";
    return out;
  }

  std::vector<std::vector<Operator>> history;

 private:
  template <typename F>
  std::map<NodeId, double> Per(F f) const {
    std::map<NodeId, double> out;
    for (const NodeInfo& n : view.nodes) {
      out[n.id] = 0;
      for (const ShardInfo& s : view.shards) out[n.id] += f(s, n.id);
    }
    return out;
  }

  void SplitShard(ShardId id, const std::string& key) {
    uint64_t max_id = 0;
    for (const ShardInfo& s : view.shards) max_id = std::max(max_id, s.id.value());
    ShardInfo& s = Shard(id.value());
    const uint64_t lo = KeyValue(s.start_key, 0), hi = KeyValue(s.end_key, kKeySpace);
    REQUIRE(hi - lo >= 2);
    const std::string mid = key.empty() ? Key(lo + (hi - lo) / 2) : key;
    ShardInfo right = s;
    right.id = S(max_id + 1);
    right.start_key = mid;
    s.end_key = mid;
    s.bytes /= 2;
    s.qps /= 2;
    right.bytes = s.bytes;
    right.qps = s.qps;
    for (ReplicaInfo& r : right.replicas) r.id = ReplicaId{next_replica_++};
    view.shards.push_back(std::move(right));
  }

  uint64_t next_replica_ = 0;
};

// Checks a converged cluster: every shard that can meet its rule does, at the best diversity the
// cluster allows. Returns one line per shard that does not.
inline std::vector<std::string> UnmetRules(const ClusterView& view, const PlacementPolicy& policy,
                                           const PlacementConfig& config) {
  std::vector<std::string> out;
  for (const ShardInfo& s : view.shards) {
    const Rule& rule = policy.RuleFor(s);
    const uint32_t rf = std::max<uint32_t>(rule.replication_factor, 1);
    const std::vector<const NodeInfo*> live = LiveVoters(view, s);
    size_t voters = 0, learners = 0;
    for (const ReplicaInfo& r : s.replicas) {
      (r.role == ReplicaRole::kVoter ? voters : learners) += 1;
    }
    const std::string name = "shard " + std::to_string(s.id.value()) + ": ";
    if (2 * live.size() <= voters || s.leader.IsZero()) continue;  // needs manual recovery
    if (learners > 0) out.push_back(name + "stray learner");
    std::vector<const NodeInfo*> eligible;
    for (const NodeInfo& n : view.nodes) {
      if (n.state != NodeState::kUp || !rule.AllowsZone(n.locality.zone)) continue;
      const bool room = n.disk_used_bytes + n.disk_free_bytes == 0 ||
                        static_cast<double>(n.disk_used_bytes + s.bytes) <=
                            config.disk_full_ratio * static_cast<double>(n.capacity_bytes);
      if (Holds(s, n.id) || room) eligible.push_back(&n);
    }
    if (rule.split_enabled && (s.bytes > config.split_bytes || s.qps > config.split_qps)) {
      out.push_back(name + "not split");
    }
    if (eligible.size() < rf) continue;
    if (live.size() != rf || voters != rf) {
      out.push_back(name + std::to_string(live.size()) + " live of " + std::to_string(voters) +
                    " voters, rule wants " + std::to_string(rf));
    }
    for (const NodeInfo* n : live) {
      if (n->state != NodeState::kUp) out.push_back(name + "voter on a draining node");
      if (!rule.AllowsZone(n->locality.zone)) out.push_back(name + "voter outside allowed zones");
    }
    const Diversity best = BestDiversity(eligible, rf);
    if (DiversityOf(live) != best) {
      out.push_back(name + "diversity " + ToString(DiversityOf(live)) + ", reachable " +
                    ToString(best));
    }
    const NodeInfo* leader = FindNode(view, s.leader);
    for (const NodeInfo* n : live) {
      if (n->state == NodeState::kUp &&
          rule.LeaderRank(n->locality.zone) < rule.LeaderRank(leader->locality.zone)) {
        out.push_back(name + "leader not in the most preferred zone available");
        break;
      }
    }
  }
  return out;
}

}  // namespace claw::placement::test
