// ShardChecker (internal to server/placement): the placement rules applied to one shard, one
// priority class at a time, against the LoadModel as Plan() has projected it so far.
//
// Built once per shard per Plan(); holds pointers into the ClusterView, the policy and the
// LoadModel, which must outlive it. Reads the model afresh on every Check(), so operators admitted
// for other shards in the meantime are taken into account. Single-threaded.
//
// Invariants of every operator it proposes (tests/placement checks them on every plan):
//   1. A new replica goes only to an up node that holds no replica of the shard, is inside the
//      rule's allowed zones, and stays under disk_full_ratio.
//   2. Among legal targets it takes one of the best reachable diversity; load and then node id
//      break ties. Repair, drain and constraint moves take the best diversity there is; diversity
//      and balance moves never lower the shard's diversity.
//   3. A live voter is removed only from a shard with more voters than its rule wants, all live;
//      a dead voter once the live voters meet the rule, or the voters exceed it. A move adds
//      before it removes.
//   4. Leadership goes only to a voter on an up node, never to a less preferred zone — except to
//      the shard's honoured preferred leader (ShardInfo::preferred_leader), which wins over zones.
//   5. Nothing is proposed for a shard without a live leader or without a live quorum.
//   6. While a preferred leader P is honoured, no operator removes or moves P's voter or takes
//      leadership away from P; the one that adds P's voter keeps the voter count (a move).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/placement/diversity.h"
#include "server/placement/load_model.h"
#include "server/placement/operator.h"
#include "server/placement/policy.h"
#include "server/placement/types.h"

namespace claw::placement {

// What one rule says about one shard.
struct Outcome {
  enum class Kind : uint8_t {
    kNothing,   // the rule is satisfied (or cannot act and has nothing to report)
    kOperator,  // `op` fixes or improves it
    kStuck,     // it is violated and no legal operator exists: `why`
    kWaiting,   // an operator exists but its nodes have no free slot: `why`
  };
  Kind kind = Kind::kNothing;
  Operator op{};
  std::string why{};
};

class ShardChecker {
 public:
  ShardChecker(const ShardInfo& shard, const PlacementPolicy& policy,
               const PlacementConfig& config, const LoadModel& model);

  Outcome Check(Priority priority) const;

  const ShardInfo& shard() const { return *shard_; }
  const Rule& rule() const { return *rule_; }
  // Voters on up or draining nodes, and their diversity.
  int live_voters() const { return static_cast<int>(live_.size()); }
  Diversity diversity() const { return DiversityOf(live_); }
  // Repair order: the fewer live voters short of the rule, the sooner.
  int Shortfall() const { return static_cast<int>(rf_) - live_voters(); }
  // The best diversity the rule's voters can reach on the nodes that can hold them (up, in the
  // allowed zones, holding one already or with disk room), and how many such nodes there are.
  Diversity BestReachable(size_t* eligible_nodes) const;
  // Whether the shard's preferred leader is honoured (up, not slow, in the allowed zones).
  bool PreferredLeaderHonoured() const { return pin_ != nullptr; }

 private:
  struct Member {
    NodeId node{};
    const NodeLoad* load = nullptr;  // nullptr: not in the view (counts as removed)
    NodeState state = NodeState::kRemoved;
    bool live() const { return state == NodeState::kUp || state == NodeState::kDraining; }
  };
  struct TargetSearch {
    const NodeLoad* target = nullptr;  // the best legal target with a free slot
    bool any_legal = false;            // a legal target exists, perhaps without a slot
  };

  Outcome Repair() const;
  Outcome OverReplicated() const;
  Outcome Drain() const;
  Outcome Constraint() const;
  Outcome PreferredLeader() const;
  Outcome DiversityMove() const;
  Outcome Balance(Metric metric, Priority priority) const;
  Outcome Leader() const;
  Outcome SplitCheck() const;

  // Why `node` cannot take a replica of this shard, or nullptr if it can.
  const char* Exclusion(const NodeLoad& node) const;
  // "no legal target among 6 nodes: 3 hold a replica, 2 dead, 1 draining".
  std::string NoTargetReason() const;
  // The best target for a voter joining the live voters without `leaving` (zero: nobody leaves).
  TargetSearch BestTarget(NodeId leaving) const;
  // The live voters' nodes without `leaving`, plus `joining` if not null.
  Diversity DiversityWith(NodeId leaving, const NodeInfo* joining) const;
  const Member* WorstVoter() const;
  // The voter the preferred leader's new voter replaces: the widest spread left with it, then the
  // worst placed (WorstVoter's order). Never null (the shard has voters).
  const Member* PreferredLeaderSource() const;
  // Whether `node` is the honoured preferred leader.
  bool IsPin(NodeId node) const { return pin_ != nullptr && pin_->id() == node; }
  // The best voter on an up node, other than the leader, to lead: preferred zone first, then
  // fewest leaders per weight, then id. Only ranks up to `max_rank`; nullptr if none.
  const Member* BestLeaderTarget(size_t max_rank, bool* any_without_slot) const;
  size_t Rank(const Member& m) const { return rule_->LeaderRank(m.load->info->locality.zone); }
  bool Holds(NodeId node) const;
  Operator Make(Action action, Priority priority, std::string reason) const;
  const Member* leader() const { return leader_ < 0 ? nullptr : &voters_[leader_]; }

  const ShardInfo* shard_;
  const Rule* rule_;
  const PlacementPolicy* policy_;
  const PlacementConfig* config_;
  const LoadModel* model_;
  uint32_t rf_ = 0;
  std::vector<Member> voters_;    // sorted by node id
  std::vector<Member> learners_;  // sorted by node id
  std::vector<const NodeInfo*> live_;
  // The leader's index in voters_ if it is a live voter, else -1 (an index, not a pointer, so that
  // checkers can be moved).
  int leader_ = -1;
  // The preferred leader's node while it is honoured (up, not slow, in the allowed zones), else
  // nullptr. Points into the LoadModel, which outlives the checker.
  const NodeLoad* pin_ = nullptr;
};

}  // namespace claw::placement
