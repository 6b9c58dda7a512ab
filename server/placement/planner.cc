#include "server/placement/planner.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <unordered_set>
#include <utility>

#include "server/placement/diversity.h"
#include "server/placement/load_model.h"
#include "server/placement/shard_checker.h"

namespace claw::placement {
namespace {

constexpr Priority kClasses[] = {
    Priority::kRepair,         Priority::kOverReplicated, Priority::kDrain,
    Priority::kConstraint,     Priority::kPreferredLeader, Priority::kDiversity,
    Priority::kReplicaBalance, Priority::kLeaderBalance,  Priority::kBytesBalance,
    Priority::kSplit,
};

// Work that must not be overtaken on its shard by a lower class while it waits for a slot.
bool Required(Priority priority) { return priority <= Priority::kPreferredLeader; }

// One Plan() run. With a focus shard it also records everything the rules said about that shard,
// for Explain().
class Planner {
 public:
  Planner(const ClusterView& view, const PlacementPolicy& policy, const PlacementConfig& config,
          std::optional<ShardId> focus)
      : model_(view, config), focus_(focus) {
    std::unordered_set<ShardId> seen;
    for (const ShardInfo& shard : view.shards) {
      if (!seen.insert(shard.id).second) continue;  // a duplicate id: the first entry wins
      checkers_.emplace_back(shard, policy, config, model_);
    }
    std::sort(checkers_.begin(), checkers_.end(), [](const ShardChecker& a, const ShardChecker& b) {
      return a.shard().id < b.shard().id;
    });
  }

  PlanResult Run();

  // (class, outcome) pairs for the focus shard, in the order they came.
  const std::vector<std::pair<Priority, Outcome>>& trace() const { return trace_; }
  // Whether the cluster-wide operator limit stopped the run early.
  bool stopped() const { return stopped_; }
  const ShardChecker* Checker(ShardId id) const {
    for (const ShardChecker& c : checkers_) {
      if (c.shard().id == id) return &c;
    }
    return nullptr;
  }

 private:
  // Whether every node `op` involves has a free slot.
  bool HasSlots(const Operator& op, const ShardInfo& shard) const {
    for (NodeId id : model_.NodesOf(op, shard)) {
      if (!model_.HasSlot(*model_.Find(id))) return false;
    }
    return true;
  }
  // A balancer with no node out of its band cannot act; skipping it saves a pass over the shards.
  bool Skippable(Priority priority) const {
    switch (priority) {
      case Priority::kReplicaBalance: return !model_.Unbalanced(Metric::kReplicas);
      case Priority::kBytesBalance: return !model_.Unbalanced(Metric::kBytes);
      default: return false;
    }
  }
  void Record(size_t i, Priority priority, const Outcome& outcome) {
    if (focus_ && checkers_[i].shard().id == *focus_) trace_.emplace_back(priority, outcome);
  }

  LoadModel model_;
  std::optional<ShardId> focus_;
  std::vector<ShardChecker> checkers_;
  std::vector<std::pair<Priority, Outcome>> trace_;
  bool stopped_ = false;
};

PlanResult Planner::Run() {
  PlanResult result;
  std::vector<bool> done(checkers_.size());
  for (size_t i = 0; i < checkers_.size(); ++i) done[i] = checkers_[i].shard().operator_in_flight;
  std::vector<size_t> by_id(checkers_.size());
  std::iota(by_id.begin(), by_id.end(), 0);
  // Repair the shards closest to losing quorum first.
  std::vector<size_t> by_urgency = by_id;
  std::stable_sort(by_urgency.begin(), by_urgency.end(), [&](size_t a, size_t b) {
    return checkers_[a].Shortfall() > checkers_[b].Shortfall();
  });
  for (Priority priority : kClasses) {
    if (Skippable(priority)) continue;
    for (size_t i : priority == Priority::kRepair ? by_urgency : by_id) {
      if (done[i]) continue;
      if (!model_.HasClusterSlot()) {
        stopped_ = true;
        return result;
      }
      Outcome outcome = checkers_[i].Check(priority);
      const ShardInfo& shard = checkers_[i].shard();
      if (outcome.kind == Outcome::Kind::kOperator && !HasSlots(outcome.op, shard)) {
        outcome = Outcome{Outcome::Kind::kWaiting, {},
                          ToString(outcome.op.action) + " waits for a free operator slot"};
      }
      Record(i, priority, outcome);
      switch (outcome.kind) {
        case Outcome::Kind::kNothing: break;
        case Outcome::Kind::kOperator:
          model_.Apply(outcome.op, shard);
          result.operators.push_back(std::move(outcome.op));
          done[i] = true;
          break;
        case Outcome::Kind::kStuck:
          result.stuck.push_back(Finding{shard.id, priority, std::move(outcome.why)});
          break;
        case Outcome::Kind::kWaiting:
          if (Required(priority)) {
            result.waiting.push_back(Finding{shard.id, priority, std::move(outcome.why)});
            done[i] = true;
          }
          break;
      }
    }
  }
  return result;
}

std::string Quoted(const std::string& s) { return QuoteKey(s); }
std::string OrUnknown(const std::string& s) { return s.empty() ? "?" : s; }

std::string List(const std::vector<std::string>& items, const char* none, const char* sep) {
  if (items.empty()) return none;
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string RuleLine(const ShardInfo& shard, const Rule& rule) {
  return "shard " + std::to_string(shard.id.value()) + " [" + Quoted(shard.start_key) + ", " +
         (shard.end_key.empty() ? std::string("+inf") : Quoted(shard.end_key)) + "): rule " +
         Quoted(rule.name) + ": " + std::to_string(rule.replication_factor) +
         " voters, zones " + List(rule.allowed_zones, "any", ", ") + ", leader zones " +
         List(rule.preferred_leader_zones, "any", " > ") +
         (rule.split_enabled ? ", splits allowed" : ", never split");
}

std::string ReplicaLine(const ClusterView& view, const ShardInfo& shard, const ReplicaInfo& r) {
  std::string line = "  n" + std::to_string(r.node.value()) + ": " +
                     (r.role == ReplicaRole::kVoter ? "voter" : "learner") +
                     (shard.leader == r.node ? ", leader" : "");
  auto node = std::find_if(view.nodes.begin(), view.nodes.end(),
                           [&](const NodeInfo& n) { return n.id == r.node; });
  if (node == view.nodes.end()) return line + "; node not in the cluster (counted as removed)";
  const Locality& l = node->locality;
  return line + "; zone " + OrUnknown(l.zone) + ", rack " + OrUnknown(l.rack) + ", host " +
         OrUnknown(l.host) + "; " + std::string(NodeStateName(node->state));
}

// What the rule asks that the cluster cannot give, if anything.
std::optional<std::string> Unreachable(const ShardChecker& c, const Diversity& best,
                                     size_t eligible) {
  const uint32_t rf = std::max<uint32_t>(c.rule().replication_factor, 1);
  if (eligible < rf) {
    return "rule wants " + std::to_string(rf) + " replicas; only " + std::to_string(eligible) +
           " nodes can hold one (up, in the allowed zones, with disk room)";
  }
  if (best.zones < static_cast<int>(rf)) {
    return "rule wants " + std::to_string(rf) + " replicas in " + std::to_string(rf) +
           " zones; only " + std::to_string(best.zones) +
           (best.zones == 1 ? " zone has" : " zones have") + " live nodes that can hold one";
  }
  return std::nullopt;
}

}  // namespace

PlanResult PlanWithFindings(const ClusterView& view, const PlacementPolicy& policy,
                            const PlacementConfig& config) {
  return Planner(view, policy, config, std::nullopt).Run();
}

std::vector<Operator> Plan(const ClusterView& view, const PlacementPolicy& policy,
                           const PlacementConfig& config) {
  return PlanWithFindings(view, policy, config).operators;
}

std::vector<std::string> Explain(const ClusterView& view, const PlacementPolicy& policy,
                                 const PlacementConfig& config, ShardId shard) {
  Planner planner(view, policy, config, shard);
  const ShardChecker* c = planner.Checker(shard);
  if (c == nullptr) return {"shard " + std::to_string(shard.value()) + " is not in the view"};
  planner.Run();

  std::vector<std::string> lines{RuleLine(c->shard(), c->rule())};
  for (const ReplicaInfo& r : c->shard().replicas) {
    lines.push_back(ReplicaLine(view, c->shard(), r));
  }
  if (const NodeId p = c->shard().preferred_leader; !p.IsZero()) {
    lines.push_back("preferred leader: n" + std::to_string(p.value()) +
                    (c->PreferredLeaderHonoured()
                         ? std::string(" (honoured)")
                         : std::string(" (ignored while it is not up, is slow or is outside the rule's zones)")));
  }
  if (!c->shard().splittable) {
    lines.push_back("unsplittable: the range lies within one checkpoint's keys, which no split cuts");
  }
  size_t eligible = 0;
  const Diversity best = c->BestReachable(&eligible);
  lines.push_back("diversity: " + ToString(c->diversity()) + " over " +
                  std::to_string(c->live_voters()) + " live voters; best reachable: " +
                  ToString(best));
  if (auto unreachable = Unreachable(*c, best, eligible)) lines.push_back(*unreachable);

  if (c->shard().operator_in_flight) {
    lines.push_back("an operator is in flight; nothing more is planned until it finishes");
    return lines;
  }
  bool clean = true;
  for (const auto& [priority, outcome] : planner.trace()) {
    const std::string tag = "[" + std::string(PriorityName(priority)) + "] ";
    switch (outcome.kind) {
      case Outcome::Kind::kNothing: break;
      case Outcome::Kind::kOperator: lines.push_back("pending: " + ToString(outcome.op)); break;
      case Outcome::Kind::kStuck: lines.push_back("cannot meet rule: " + tag + outcome.why); break;
      case Outcome::Kind::kWaiting: lines.push_back("waiting: " + tag + outcome.why); break;
    }
    clean = clean && outcome.kind == Outcome::Kind::kNothing;
  }
  if (planner.stopped()) {
    lines.push_back("waiting: the cluster-wide operator limit (" +
                    std::to_string(config.max_operators_in_flight) + ") is reached");
  } else if (clean) {
    lines.push_back("placement is optimal");
  }
  return lines;
}

std::optional<std::string> DrainBlocker(const ClusterView& view, const PlacementPolicy& policy, NodeId node) {
  for (const ShardInfo& shard : view.shards) {
    if (std::none_of(shard.replicas.begin(), shard.replicas.end(), [&](const ReplicaInfo& r) { return r.node == node; })) {
      continue;
    }
    const Rule& rule = policy.RuleFor(shard);
    const auto eligible = static_cast<uint32_t>(std::count_if(view.nodes.begin(), view.nodes.end(), [&](const NodeInfo& n) {
      return n.id != node && n.state == NodeState::kUp && rule.AllowsZone(n.locality.zone);
    }));
    if (eligible < rule.replication_factor) {
      return "shard " + std::to_string(shard.id.value()) + " (rule " + QuoteKey(rule.name) + ", " +
             std::to_string(rule.replication_factor) + " voters" +
             (rule.allowed_zones.empty() ? std::string() : " in zones " + List(rule.allowed_zones, "", ", ")) +
             ") would have " + std::to_string(eligible) + " up node" + (eligible == 1 ? "" : "s") +
             " to live on without n" + std::to_string(node.value()) +
             ": add a node first, or lower the rule's replication factor";
    }
  }
  return std::nullopt;
}

}  // namespace claw::placement
