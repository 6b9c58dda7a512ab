// The placement service's decisions: Plan() turns one picture of the cluster into operators, and
// Explain() tells a person why a shard is where it is.
//
// Pure functions: no I/O, threads, clocks or randomness; the same input always gives the same
// output (ties are broken by id). Thread-safe in the sense that they share nothing. The caller —
// the meta shard's leader — runs Plan() periodically and on changes, executes the operators, and
// reports them as in flight (ShardInfo::operator_in_flight, NodeInfo::operators_in_flight) in
// the next view until they finish or are abandoned.
//
// Priority order (README.md explains each rule): repair, over-replication, drain, constraints,
// preferred (pinned) leaders, diversity, replica balance, leader preference and balance, bytes
// balance, splits. Plan() fills
// the operator slots class by class, so urgent work is never starved by balancing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/placement/operator.h"
#include "server/placement/policy.h"
#include "server/placement/types.h"

namespace claw::placement {

// A rule that is not met, for logs, metrics and clawctl ("why not balanced / why stuck").
struct Finding {
  ShardId shard{};
  Priority priority = Priority::kRepair;
  std::string reason{};
};

struct PlanResult {
  // At most one per shard, none for shards with an operator in flight; within the per-node and
  // cluster-wide limits (counting what is in flight). In planning order: by priority, then shard
  // id (repairs: the largest shortfall of live voters first).
  std::vector<Operator> operators{};
  // Shards that need a change no legal operator can make: no live leader, quorum lost, no node
  // that may take a replica. Reported on every Plan() until the cluster changes.
  std::vector<Finding> stuck{};
  // Shards whose repair, drain, constraint or preferred-leader fix waits for operator slots.
  std::vector<Finding> waiting{};
};

PlanResult PlanWithFindings(const ClusterView& view, const PlacementPolicy& policy,
                            const PlacementConfig& config);

// PlanWithFindings(...).operators.
std::vector<Operator> Plan(const ClusterView& view, const PlacementPolicy& policy,
                           const PlacementConfig& config);

// Human-readable lines about one shard: the rule applied, each replica with its node's locality
// and state, the diversity reached and reachable, and then "placement is optimal", the operator
// Plan() would issue and why, or why the rule cannot be met. A single line if the shard is not in
// the view.
std::vector<std::string> Explain(const ClusterView& view, const PlacementPolicy& policy,
                                 const PlacementConfig& config, ShardId shard);

// Why draining `node` would leave a shard it holds a replica of unable to meet its rule — fewer
// up nodes (other than `node`, not draining, in the rule's allowed zones) than the rule's
// voters — or nullopt when every such shard can move. `view` and `policy` describe the cluster
// as it would be with `node` draining (the meta shard's rule follows the up nodes).
std::optional<std::string> DrainBlocker(const ClusterView& view, const PlacementPolicy& policy, NodeId node);

}  // namespace claw::placement
