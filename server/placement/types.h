// The placement service's input: what it knows about nodes and shards at one moment.
//
// Plain values filled by the caller (the meta shard's node table and shard directory, plus the
// latest load heartbeats), read by Plan() and Explain(). No ownership, no thread-safety concerns
// of their own. Ids are strong types so that a shard id is never passed where a node id is meant;
// the wire uses bare uint64 and converts at the edge (NodeId{v}, id.value()).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace claw::placement {

// A 64-bit id with a meaning; distinct Tags make distinct types. Zero means "none".
template <typename Tag>
class Id {
 public:
  constexpr Id() = default;
  constexpr explicit Id(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr bool IsZero() const { return v_ == 0; }
  constexpr auto operator<=>(const Id&) const = default;

 private:
  uint64_t v_ = 0;
};

struct NodeIdTag {};
struct ShardIdTag {};
struct ReplicaIdTag {};
using NodeId = Id<NodeIdTag>;
using ShardId = Id<ShardIdTag>;
using ReplicaId = Id<ReplicaIdTag>;

// The meta shard: holds the directory; its rule usually asks for 5 replicas and no splits.
inline constexpr ShardId kMetaShard{1};

enum class NodeState : uint8_t {
  // Serving; may hold and receive replicas and leaderships.
  kUp,
  // Still serving, but must lose every replica and leadership; receives nothing.
  kDraining,
  // Silent for longer than node_dead_after (the caller decides): its replicas count as lost.
  kDead,
  // Removed from the cluster: like kDead, and never coming back.
  kRemoved,
};
std::string_view NodeStateName(NodeState state);

// Failure domains from the largest to the smallest. An empty value means unknown: nodes with an
// unknown zone (or rack) share one "unknown" zone (rack) — the safe assumption — while a node with
// an unknown host is its own host (a node is always at least its own failure domain).
// Racks are named within their zone and hosts within their rack.
struct Locality {
  std::string zone{};
  std::string rack{};
  std::string host{};
  bool operator==(const Locality&) const = default;
};

struct NodeInfo {
  NodeId id{};
  Locality locality{};
  NodeState state = NodeState::kUp;
  // Total disk bytes. The balance weight: a node with twice the capacity gets twice the replicas,
  // leaders and bytes. 0 = unknown: weighted as the mean known capacity, and disk_used + disk_free
  // stands in for it in the disk-full test.
  uint64_t capacity_bytes = 0;
  // Disk usage from the node's last heartbeat (everything on the disk, not just replicas). Both
  // zero = not reported: the bytes of the node's replicas stand in for the used space.
  uint64_t disk_used_bytes = 0;
  uint64_t disk_free_bytes = 0;
  // Operators in flight that involve this node (as target, source or leader), as the executor
  // counts them; Plan adds at most max_operators_per_node minus this.
  uint32_t operators_in_flight = 0;
  // Much slower than the other nodes (the service's judgement of its tick lag and log writes):
  // it keeps its replicas but hands its leaderships away and takes no new ones.
  bool slow = false;
};

enum class ReplicaRole : uint8_t { kVoter, kLearner };

struct ReplicaInfo {
  NodeId node{};
  ReplicaId id{};
  ReplicaRole role = ReplicaRole::kVoter;
};

struct ShardInfo {
  ShardId id{};
  // The key range [start_key, end_key); an empty end_key means +infinity.
  std::string start_key{};
  std::string end_key{};
  // At most one replica per node (the planner keeps it so and expects it).
  std::vector<ReplicaInfo> replicas{};
  // The leader's node as last reported; zero = unknown. A leader that is not a voter on an up or
  // draining node is treated as unknown.
  NodeId leader{};
  // Size of one replica's data and the shard's load (reads + writes per second, at the leader).
  uint64_t bytes = 0;
  double qps = 0;
  // An operator is executing on this shard: Plan issues nothing for it until it finishes.
  bool operator_in_flight = false;
  // The node the shard's leader should live on (a collocated checkpoint's active replica, as the
  // shard's leader reports it); zero = none. Honoured while that node is up, not slow and inside
  // the rule's allowed zones: a voter is moved there, leadership follows, and no other rule takes
  // either away. Otherwise the shard is placed as if it had none.
  NodeId preferred_leader{};
  // False when no key strictly inside the range may split it (the range lies within one named
  // checkpoint's keys, which a split never cuts): no size, load or rule-boundary split is planned.
  bool splittable = true;
};

// One consistent picture of the cluster. Replicas on node ids missing from `nodes` count as on a
// removed node.
struct ClusterView {
  std::vector<NodeInfo> nodes{};
  std::vector<ShardInfo> shards{};
};

}  // namespace claw::placement

template <typename Tag>
struct std::hash<claw::placement::Id<Tag>> {
  size_t operator()(claw::placement::Id<Tag> id) const noexcept {
    return std::hash<uint64_t>{}(id.value());
  }
};
