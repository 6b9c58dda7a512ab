// LoadModel (internal to server/placement): per-node load as Plan() projects it, operator by
// operator — replica, leader and byte counts derived from the shard directory, disk usage,
// operator slots — plus the capacity-weighted fair shares and the balance arithmetic.
//
// Built from one ClusterView (which must outlive it), changed only by Apply(). Single-threaded.
//
// Balance arithmetic. A node's weight is its capacity divided by the mean capacity of the up
// nodes (unknown capacity = weight 1). For a quantity x (replicas, leaders, bytes) with total X
// over up and draining nodes (draining nodes' share is moving onto the up nodes) and W the up
// nodes' total weight, node n's fair share is X * w_n / W. The potential
//     Phi_x = sum over up nodes of (x_n - fair_n)^2 / w_n
// measures the imbalance; moving an amount u from s to d changes it by
//     dPhi = (u^2 - 2u (x_s - fair_s)) / w_s + (u^2 + 2u (x_d - fair_d)) / w_d,
// and "the move lowers the spread by at least one unit's worth" — after it, d is still no fuller
// than s, per unit of weight — is exactly dPhi <= -u^2 (1/w_s + 1/w_d). Every balancing move must
// pass that test, so a balancer can never undo its own move (no oscillation), and the potential
// falls by a fixed amount per move (termination).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "server/placement/diversity.h"
#include "server/placement/operator.h"
#include "server/placement/policy.h"
#include "server/placement/types.h"

namespace claw::placement {

struct NodeLoad {
  const NodeInfo* info = nullptr;
  // Capacity relative to the up nodes' mean; 1 when unknown.
  double weight = 1;
  // Replicas (voters and learners), leaders and replica bytes, derived from the shards.
  int64_t replicas = 0;
  int64_t leaders = 0;
  double bytes = 0;
  // Disk as reported, plus the bytes of replicas planned onto the node.
  uint64_t disk_used = 0;
  uint64_t disk_free = 0;
  // Operators involving the node: reported in flight plus planned.
  uint32_t operators = 0;

  NodeId id() const { return info->id; }
  bool up() const { return info->state == NodeState::kUp; }
  // Up or draining: its replicas still serve.
  bool live() const { return up() || info->state == NodeState::kDraining; }
};

// Which quantity a balancer evens out.
enum class Metric : uint8_t { kReplicas, kLeaders, kBytes };

class LoadModel {
 public:
  LoadModel(const ClusterView& view, const PlacementConfig& config);

  // Nodes sorted by id.
  std::span<const NodeLoad> nodes() const { return nodes_; }
  // nullptr for an id not in the view (such replicas count as on a removed node).
  const NodeLoad* Find(NodeId id) const;

  // Whether `node` stays within disk_full_ratio after taking a replica of `bytes`.
  bool HasRoom(const NodeLoad& node, uint64_t bytes) const;
  // Whether `node` has an operator slot left. Dead and removed nodes do no work: always true.
  bool HasSlot(const NodeLoad& node) const;
  // Whether the cluster-wide operator limit has room for one more.
  bool HasClusterSlot() const { return in_flight_ < config_.max_operators_in_flight; }

  double Value(const NodeLoad& node, Metric metric) const;
  double FairShare(const NodeLoad& node, Metric metric) const;
  // x_n > fair_n * (1 + tolerance), x_n < fair_n * (1 - tolerance).
  bool Over(const NodeLoad& node, Metric metric) const;
  bool Under(const NodeLoad& node, Metric metric) const;
  // Whether moving `metric` from `from` to `to` is worth considering: the source is over its
  // band or the target under its band. (A source at its fair share may give to a target under
  // its band: such chains are how a node that shares no shard with the fullest node fills up.)
  bool Triggers(const NodeLoad& from, const NodeLoad& to, Metric metric) const;
  // dPhi of moving `amount` of `metric` from `from` to `to` (both up), in units of `unit`:
  // replicas and leaders are counted in ones, bytes in units of the mean replica size.
  double PotentialDelta(const NodeLoad& from, const NodeLoad& to, Metric metric,
                        double amount) const;
  // The minimum fall of the potential that counts as "lowers the spread by one unit's worth".
  double RequiredFall(const NodeLoad& from, const NodeLoad& to, Metric metric,
                      double amount) const;
  // Mean bytes of a replica: the unit in which byte imbalance is weighed against replica counts.
  double ByteUnit() const;
  // Whether some up node is Over or Under for `metric`: if not, its balancer has nothing to do.
  bool Unbalanced(Metric metric) const;
  // The failure domains of the up nodes: an upper bound on any shard's reachable diversity.
  const DomainCounts& up_domains() const { return up_domains_; }

  // Projects an admitted operator on `shard`: counts, disk, slots.
  void Apply(const Operator& op, const ShardInfo& shard);
  // Nodes whose slots `op` uses: the live nodes it names, and the leader for a split.
  std::vector<NodeId> NodesOf(const Operator& op, const ShardInfo& shard) const;

 private:
  NodeLoad* Mutable(NodeId id);
  void GainReplica(NodeId node, uint64_t bytes, int64_t leaders);
  void LoseReplica(NodeId node, uint64_t bytes, int64_t leaders);
  void MoveLeader(NodeId node, int64_t leaders);
  void Total(const NodeLoad& node, int64_t replicas, int64_t leaders, double bytes);

  const PlacementConfig& config_;
  std::vector<NodeLoad> nodes_;
  std::unordered_map<NodeId, size_t> index_;
  double up_weight_ = 0;
  DomainCounts up_domains_{};
  // Totals over up and draining nodes.
  double total_replicas_ = 0;
  double total_leaders_ = 0;
  double total_bytes_ = 0;
  uint32_t in_flight_ = 0;
};

}  // namespace claw::placement
