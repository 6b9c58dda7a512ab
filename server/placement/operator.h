// Operators: the placement service's output, one change to one shard each.
//
// Plain values (an action in a std::variant plus why and how urgent), produced by Plan() and
// executed by the meta shard leader's operator runner. The contract of each action is written on
// its struct; the executor must keep it, because the planner's safety argument assumes it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "server/placement/types.h"

namespace claw::placement {

// Why an operator exists, most urgent first. Plan() fills operator slots in this order.
enum class Priority : uint8_t {
  kRepair,          // replicas lost (dead / removed nodes) or fewer live voters than the rule wants
  kOverReplicated,  // more voters than the rule wants, or a stray learner
  kDrain,           // replicas or leadership on a draining node
  kConstraint,      // a replica outside the rule's allowed zones, or a rule boundary to split at
  kPreferredLeader, // a voter, then the leadership, onto the shard's preferred leader node
  kDiversity,       // a move that spreads the shard over more zones, racks or hosts
  kReplicaBalance,  // capacity-weighted replica counts
  kLeaderBalance,   // leader preferences, then capacity-weighted leader counts
  kBytesBalance,    // capacity-weighted bytes
  kSplit,           // the shard is over the size or load threshold
};
std::string_view PriorityName(Priority priority);

// Add a replica on `target`: add it as a learner, let it catch up (snapshot + log), promote it
// to voter. `target` holds no replica of the shard.
struct AddReplica {
  NodeId target{};
  bool operator==(const AddReplica&) const = default;
};

// Remove the replica on `node`. If `node` leads the shard, first transfer leadership to another
// voter on an up node.
struct RemoveReplica {
  NodeId node{};
  bool operator==(const RemoveReplica&) const = default;
};

// Replace the replica on `from` by one on `to`: AddReplica{to} to completion, then
// RemoveReplica{from} — never remove first, so the shard keeps its voter count during the move.
// If `from` leads the shard, leadership passes to `to` before `from` is removed (the planner
// counts the leader on `to` afterwards). Abandoning a move after the add leaves one replica too
// many, which the next plan removes.
struct MoveReplica {
  NodeId from{};
  NodeId to{};
  bool operator==(const MoveReplica&) const = default;
};

// Move leadership from `from` (the current leader) to the voter on `to`.
struct TransferLeader {
  NodeId from{};
  NodeId to{};
  bool operator==(const TransferLeader&) const = default;
};

// Split the shard in two. `key` empty: the executor picks the key from the data (the middle of the
// bytes); else split exactly at `key` (a placement-rule boundary inside the shard).
struct Split {
  std::string key{};
  bool operator==(const Split&) const = default;
};

using Action = std::variant<AddReplica, RemoveReplica, MoveReplica, TransferLeader, Split>;

struct Operator {
  ShardId shard{};
  Action action{};
  Priority priority = Priority::kRepair;
  // One line for logs and clawctl: the rule or imbalance that asks for this operator.
  std::string reason{};
};

// "shard 7: move replica n3 -> n9 [replica-balance] n3 holds 20 replicas, fair share 16.0".
std::string ToString(const Operator& op);

// A key in double quotes for reasons and explanations: printable ASCII as is, `"` and `\` and
// every other byte escaped (\xNN), so the text is valid UTF-8 (proto3 string fields require it).
std::string QuoteKey(std::string_view key);
std::string ToString(const Action& action);

}  // namespace claw::placement
