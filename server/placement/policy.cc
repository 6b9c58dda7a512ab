#include "server/placement/policy.h"

#include <algorithm>
#include <cmath>

namespace claw::placement {
namespace {

// Whether `key` lies in [start, end), an empty end meaning +infinity.
bool InRange(const std::string& key, const std::string& start, const std::string& end) {
  return key >= start && (end.empty() || key < end);
}

}  // namespace

bool Rule::AllowsZone(const std::string& zone) const {
  return allowed_zones.empty() ||
         std::find(allowed_zones.begin(), allowed_zones.end(), zone) != allowed_zones.end();
}

size_t Rule::LeaderRank(const std::string& zone) const {
  auto it = std::find(preferred_leader_zones.begin(), preferred_leader_zones.end(), zone);
  return static_cast<size_t>(it - preferred_leader_zones.begin());
}

const Rule& PlacementPolicy::RuleFor(const ShardInfo& shard) const {
  if (auto it = shard_rules.find(shard.id); it != shard_rules.end()) return it->second;
  for (const RangeRule& range : range_rules) {
    if (InRange(shard.start_key, range.start_key, range.end_key)) return range.rule;
  }
  return default_rule;
}

std::optional<std::string> PlacementPolicy::BoundaryInside(const ShardInfo& shard) const {
  std::optional<std::string> best;
  auto consider = [&](const std::string& boundary) {
    if (boundary.empty() || boundary <= shard.start_key) return;
    if (!shard.end_key.empty() && boundary >= shard.end_key) return;
    if (!best || boundary < *best) best = boundary;
  };
  for (const RangeRule& range : range_rules) {
    consider(range.start_key);
    consider(range.end_key);
  }
  return best;
}

PlacementPolicy DefaultPolicy() {
  PlacementPolicy policy;
  Rule meta;
  meta.name = "meta";
  meta.replication_factor = 5;
  meta.split_enabled = false;
  policy.shard_rules.emplace(kMetaShard, meta);
  return policy;
}

std::string PlacementConfig::Validate() const {
  if (max_operators_per_node == 0) return "max_operators_per_node must be at least 1";
  if (max_operators_in_flight == 0) return "max_operators_in_flight must be at least 1";
  if (!(balance_tolerance >= 0 && balance_tolerance < 1)) {
    return "balance_tolerance must be in [0, 1)";
  }
  if (!(disk_full_ratio > 0 && disk_full_ratio <= 1)) return "disk_full_ratio must be in (0, 1]";
  if (split_bytes == 0) return "split_bytes must be positive";
  if (!(split_qps > 0) || std::isinf(split_qps)) return "split_qps must be positive and finite";
  return {};
}

}  // namespace claw::placement
