// Placement rules as the meta shard stores them (v1::PlacementRules, set through
// Placement.SetRules) and as the planner takes them (placement::PlacementPolicy).
//
// Pure functions, no state.
#pragma once

#include <cstdint>
#include <string>

#include "claw/v1/placement.pb.h"
#include "server/placement/policy.h"

namespace claw::server {

// Largest replication factor a rule may ask for.
inline constexpr uint32_t kMaxReplicationFactor = 7;

// Empty when `rules` may be stored, else the first problem, naming the rule: names unique and
// 1..64 of [A-Za-z0-9._-]; "default" has no range; every other rule has a range with start <
// end (empty end: to the end of the key space) that overlaps no other; replication factor
// 0 (= 3) .. 7; zone names valid labels, none listed twice; leader zones inside the rule's zones
// when it has any.
std::string ValidateRules(const v1::PlacementRules& rules);

// The planner's policy: the stored rules (validated), the meta shard's rule of 5 voters clamped
// to the up nodes (at least 3), so that drains and repairs finish on small clusters. A range
// boundary inside a named checkpoint's key range moves to that checkpoint's start (no split may
// cut a checkpoint; server/split_key.h), so the planner never plans a split the leader refuses.
// A rule whose both ends fall inside one checkpoint covers nothing.
placement::PlacementPolicy PolicyFromRules(const v1::PlacementRules& rules, uint32_t up_nodes);

}  // namespace claw::server
