// Replica ids: which node hosts a replica is part of its id, so that every replica can address
// every other one (including a learner added by an entry it has not applied yet) without a lookup.
//
//   replica id = generation (high 32 bits) | node id (low 32 bits)
//
// Bootstrap replicas have generation 0 (replica id = node id). A replica added later gets the
// generation `conf_version + 1` of the descriptor the leader applied when it proposed the change,
// so a node removed from a shard and added again is a different member (Raft needs that: the
// old replica's votes and log must not count for the new one). Node ids therefore stay below
// 2^32 (config validates it). Pure functions.
#pragma once

#include <cstdint>

#include "claw/v1/shard.pb.h"
#include "raft/types.h"

namespace claw::server {

inline constexpr uint64_t kMaxNodeId = 0xffff'ffffull;

// Logs of shards created by bootstrap or a split start after this index (their snapshot point),
// so that a replica added later, whose log is empty, always needs a snapshot: the snapshot is
// what tells it the shard's range, members and apply state (TiKV's RAFT_INIT_LOG_INDEX).
inline constexpr uint64_t kInitialLogIndex = 5;

constexpr uint64_t ReplicaNode(uint64_t replica_id) { return replica_id & kMaxNodeId; }
constexpr uint64_t ReplicaGeneration(uint64_t replica_id) { return replica_id >> 32; }
constexpr uint64_t MakeReplicaId(uint64_t node, uint64_t generation) {
  return generation << 32 | (node & kMaxNodeId);
}

// The Raft configuration a descriptor lists (voters and learners, sorted).
raft::ConfState ConfOf(const v1::ShardDescriptor& d);
// `d` with the members of `conf` (voters of either half are VOTER, the rest LEARNER) and its
// conf_version bumped: the descriptor after applying a configuration entry.
v1::ShardDescriptor WithConf(const v1::ShardDescriptor& d, const raft::ConfState& conf);
// The replica `d` lists on `node`, if any.
const v1::Replica* ReplicaOn(const v1::ShardDescriptor& d, uint64_t node);
bool HasReplica(const v1::ShardDescriptor& d, uint64_t replica_id);
// Whether `d` proves `replica_id` is no member: it omits the replica although it is at least as
// new as the configuration that added it (its generation). A descriptor older than that (a
// snapshot or entries from before the addition) proves nothing.
bool RemovedBy(const v1::ShardDescriptor& d, uint64_t replica_id);

}  // namespace claw::server
