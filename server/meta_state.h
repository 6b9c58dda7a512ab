// MetaStateMachine: the replicated state of the meta shard (shard 1) — the node table and the
// shard directory (proto/claw/v1/placement.proto). The meta shard's raft worker applies its
// commands (deterministically, from committed entries); the placement service reads copies on
// other threads.
//
// Storage: `meta` CF under the group's host-state prefix (storage::HostStateKey(1, ...)):
// "n" | node id (8B BE) -> NodeRecord, "s" | shard id (8B BE) -> ShardDescriptor, "r" ->
// PlacementRules, "l" | lease id (8B BE) -> LeaseRecord, "L" -> next lease id (8B BE); written in the
// apply batch with the apply state, so a crash never separates them. Snapshots of the meta shard
// carry the whole state (ShardSnapshotState.meta).
//
// Threads: Apply / Install / Load on the meta shard's worker; readers anywhere (a mutex guards
// the maps; readers get copies). version() grows with every change, so a reader can tell whether
// it needs a fresh copy.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "claw/v1/placement.pb.h"
#include "storage/engine.h"

namespace claw::server {

class MetaStateMachine {
 public:
  explicit MetaStateMachine(storage::Engine* engine) : engine_(engine) {}

  // Reads the state this node holds (empty when it hosts no meta replica).
  [[nodiscard]] std::expected<void, std::string> Load();
  // The bootstrap state: every initial node (UP) and every initial shard, into `batch`.
  void Bootstrap(const std::vector<v1::NodeRecord>& nodes, const std::vector<v1::ShardDescriptor>& shards,
                 storage::WriteBatch& batch);

  // Applies one committed command into `batch`.
  void Apply(const v1::MetaCommand& cmd, storage::WriteBatch& batch);
  // Snapshots: the whole state, and replacing it with a received one (into `batch`).
  void Fill(v1::MetaState* out) const;
  void Install(const v1::MetaState& state, storage::WriteBatch& batch);
  // Forgets the in-memory state (the meta replica on this node was destroyed with its keys).
  void Clear();

  std::vector<v1::NodeRecord> Nodes() const;
  std::vector<v1::ShardDescriptor> Shards() const;
  std::optional<v1::NodeRecord> Node(uint64_t id) const;
  // The node of that name that was not removed (names are unique among those).
  std::optional<v1::NodeRecord> LiveNodeNamed(const std::string& name) const;
  uint64_t version() const;
  v1::PlacementRules Rules() const;

  // Leases (proto/claw/v1/lease.proto), ordered by id.
  std::vector<v1::LeaseRecord> Leases() const;
  std::optional<v1::LeaseRecord> Lease(uint64_t id) const;
  // The id a LeaseGrant with this nonce was given (0: refused, the id exists); nullopt while it
  // has not applied. Remembers the last kGrantNonces grants, in memory only: only the proposing
  // leader asks, while it waits for its own proposal.
  std::optional<uint64_t> GrantedId(uint64_t nonce) const;
  uint64_t next_lease_id() const;
  static constexpr size_t kGrantNonces = 4096;

  // Whether `incoming` should replace `current` in the directory: an epoch at least as new in
  // both counters and newer in one (equal epochs carry equal descriptors).
  static bool Newer(const v1::ShardDescriptor& incoming, const v1::ShardDescriptor& current);
  // Whether `incoming` is unknown to the directory or Newer than its descriptor (one lookup, no
  // copy: heartbeats report thousands of shards a second).
  bool NewerThanDirectory(const v1::ShardDescriptor& incoming) const;

 private:
  void PutNode(const v1::NodeRecord& node, storage::WriteBatch& batch);
  void PutShard(const v1::ShardDescriptor& shard, storage::WriteBatch& batch);
  void PutRules(const v1::PlacementRules& rules, storage::WriteBatch& batch);
  void PutLease(const v1::LeaseRecord& lease, storage::WriteBatch& batch);
  void PutNextLeaseId(uint64_t next, storage::WriteBatch& batch);
  void ApplyLease(const v1::MetaCommand& cmd, storage::WriteBatch& batch);

  storage::Engine* engine_;
  mutable std::mutex mu_;
  std::map<uint64_t, v1::NodeRecord> nodes_;     // guarded by mu_
  std::map<uint64_t, v1::ShardDescriptor> shards_;  // guarded by mu_
  v1::PlacementRules rules_;                        // guarded by mu_
  uint64_t version_ = 0;                          // guarded by mu_
  std::map<uint64_t, v1::LeaseRecord> leases_;    // guarded by mu_
  uint64_t next_lease_id_ = 1;                    // guarded by mu_
  std::map<uint64_t, uint64_t> grant_nonces_;     // nonce -> id; guarded by mu_
  std::deque<uint64_t> nonce_order_;              // guarded by mu_
};

}  // namespace claw::server
