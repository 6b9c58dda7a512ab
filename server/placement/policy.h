// What placement aims for (Rule, PlacementPolicy) and how hard it pushes (PlacementConfig).
//
// Plain values, stored in the meta shard and copied into each Plan() call. No thread-safety
// concerns of their own.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/placement/types.h"

namespace claw::placement {

// How one shard's replicas should be placed.
struct Rule {
  // Shown by Explain and in operator reasons.
  std::string name = "default";
  // Voters wanted. Default 3; the meta shard usually gets 5.
  uint32_t replication_factor = 3;
  // Hard constraint: replicas only on nodes in these zones. Empty = any zone.
  std::vector<std::string> allowed_zones{};
  // Soft: the leader goes to a voter in the first listed zone that has an up voter, else the
  // next, else anywhere. Empty = no preference.
  std::vector<std::string> preferred_leader_zones{};
  // Whether the shard may be split (size, load or a rule boundary). False for the meta shard.
  bool split_enabled = true;

  bool AllowsZone(const std::string& zone) const;
  // 0 for the most preferred zone, preferred_leader_zones.size() for an unlisted one.
  size_t LeaderRank(const std::string& zone) const;
};

// A rule for the shards inside a key range [start_key, end_key) (empty end = +infinity).
struct RangeRule {
  std::string start_key{};
  std::string end_key{};
  Rule rule{};
};

// Maps shards to rules. Precedence: a rule for the shard's id, then the first range rule that
// contains the shard's start key, then the default rule. A shard that straddles a range rule's
// boundary is split at the boundary (when its rule allows splits) before its replicas follow the
// range's rule, as PD splits regions at placement-rule boundaries.
struct PlacementPolicy {
  Rule default_rule{};
  std::map<ShardId, Rule> shard_rules{};
  std::vector<RangeRule> range_rules{};

  const Rule& RuleFor(const ShardInfo& shard) const;
  // The smallest range-rule boundary strictly inside the shard's range, if any.
  std::optional<std::string> BoundaryInside(const ShardInfo& shard) const;
};

// The default rule for data shards and a 5-replica, never-split rule named "meta" for kMetaShard.
PlacementPolicy DefaultPolicy();

// Limits and thresholds. Defaults follow PD and CockroachDB (see README.md).
struct PlacementConfig {
  // Operators (in flight plus newly planned) that may involve one node at a time. Default 4.
  uint32_t max_operators_per_node = 4;
  // Operators that may be in flight in the whole cluster, counting shards that report one.
  // Default 256.
  uint32_t max_operators_in_flight = 256;
  // Hysteresis of the balancers: a node is a source (target) only when its capacity-weighted
  // replica, leader or byte count is more than this fraction above (below) its fair share, and a
  // move must lower the spread by at least one replica's (leader's, shard's) worth. Default 0.05.
  double balance_tolerance = 0.05;
  // A node whose disk would be fuller than this fraction of its capacity after taking a replica
  // (used / capacity, or 1 - free / capacity) receives none. Default 0.95.
  double disk_full_ratio = 0.95;
  // A shard larger than this is split. Default 256 MiB (PD region-split-size).
  uint64_t split_bytes = 256ull << 20;
  // A shard serving more than this many reads + writes per second is split. Default 3000 (PD).
  double split_qps = 3000;

  // Empty when valid, else a message naming the first bad field.
  std::string Validate() const;
};

}  // namespace claw::placement
