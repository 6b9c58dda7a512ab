#include "server/placement_rules.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include "client/checkpoint_layout.h"

namespace claw::server {
namespace {

bool ValidLabel(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
  });
}

// [a_start, a_end) and [b_start, b_end) intersect (empty end = +infinity).
bool Overlap(const std::string& a_start, const std::string& a_end, const std::string& b_start,
             const std::string& b_end) {
  const bool a_before_b_ends = b_end.empty() || a_start < b_end;
  const bool b_before_a_ends = a_end.empty() || b_start < a_end;
  return a_before_b_ends && b_before_a_ends;
}

placement::Rule RuleFrom(const v1::PlacementRule& r) {
  placement::Rule rule;
  rule.name = r.name();
  rule.replication_factor = r.replication_factor() == 0 ? 3 : r.replication_factor();
  rule.allowed_zones.assign(r.zones().begin(), r.zones().end());
  rule.preferred_leader_zones.assign(r.leader_zones().begin(), r.leader_zones().end());
  return rule;
}

}  // namespace

std::string ValidateRules(const v1::PlacementRules& rules) {
  std::set<std::string> names;
  for (int i = 0; i < rules.rules_size(); ++i) {
    const v1::PlacementRule& r = rules.rules(i);
    const std::string which = r.name().empty() ? "rule " + std::to_string(i + 1) : "rule '" + r.name() + "'";
    if (!ValidLabel(r.name())) return which + ": the name must be 1..64 of [A-Za-z0-9._-]";
    if (r.name() == "meta") return which + ": 'meta' is the meta shard's own rule and cannot be set";
    if (!names.insert(r.name()).second) return which + ": the name appears twice";
    if (r.replication_factor() > kMaxReplicationFactor) {
      return which + ": replication factor " + std::to_string(r.replication_factor()) + " is above " +
             std::to_string(kMaxReplicationFactor);
    }
    std::set<std::string> zones;
    for (const std::string& z : r.zones()) {
      if (!ValidLabel(z)) return which + ": zone '" + z + "' is not 1..64 of [A-Za-z0-9._-]";
      if (!zones.insert(z).second) return which + ": zone '" + z + "' is listed twice";
    }
    std::set<std::string> leader_zones;
    for (const std::string& z : r.leader_zones()) {
      if (!ValidLabel(z)) return which + ": leader zone '" + z + "' is not 1..64 of [A-Za-z0-9._-]";
      if (!leader_zones.insert(z).second) return which + ": leader zone '" + z + "' is listed twice";
      if (!zones.empty() && !zones.contains(z)) {
        return which + ": leader zone '" + z + "' is not one of the rule's zones, so no replica can be there";
      }
    }
    if (r.name() == "default") {
      if (!r.start_key().empty() || !r.end_key().empty()) {
        return which + ": the default rule covers every shard no other rule covers; it takes no range";
      }
      continue;
    }
    if (r.start_key().empty() && r.end_key().empty()) {
      return which + ": a rule other than 'default' needs a range (start_key and/or end_key)";
    }
    if (!r.end_key().empty() && r.start_key() >= r.end_key()) return which + ": start_key must be below end_key";
    for (int j = 0; j < i; ++j) {
      const v1::PlacementRule& o = rules.rules(j);
      if (o.name() != "default" && Overlap(r.start_key(), r.end_key(), o.start_key(), o.end_key())) {
        return which + ": its range overlaps rule '" + o.name() + "'";
      }
    }
  }
  return {};
}

placement::PlacementPolicy PolicyFromRules(const v1::PlacementRules& rules, uint32_t up_nodes) {
  placement::PlacementPolicy policy = placement::DefaultPolicy();
  for (const v1::PlacementRule& r : rules.rules()) {
    if (r.name() == "default") {
      policy.default_rule = RuleFrom(r);
    } else {
      // A boundary inside a checkpoint's range acts at the checkpoint's start (server/split_key.h):
      // the planner splits there, and the whole checkpoint follows the rule its start falls in.
      // A rule left with an empty range (both ends inside one checkpoint) covers nothing.
      std::string start = client::CheckpointSafeSplitKey(r.start_key());
      std::string end = r.end_key().empty() ? std::string() : client::CheckpointSafeSplitKey(r.end_key());
      if (!end.empty() && start >= end) continue;
      policy.range_rules.push_back({.start_key = std::move(start), .end_key = std::move(end), .rule = RuleFrom(r)});
    }
  }
  placement::Rule& meta = policy.shard_rules[placement::kMetaShard];
  meta.replication_factor = std::clamp<uint32_t>(up_nodes, 3, meta.replication_factor);
  return policy;
}

}  // namespace claw::server
