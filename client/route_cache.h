// RouteCache: the client's view of the shard directory — descriptors ordered by start key, each
// with its epoch and last known leader — and of node addresses (node id -> client address).
//
// Filled from Cluster.ListShards / ListMembers (ReplaceAll, SetMembers) and corrected from error
// details: NOT_LEADER hints (SetLeader), EPOCH_MISMATCH / KEY_OUT_OF_RANGE fresh descriptors
// (Update). A key that falls in no cached descriptor is a miss; the dispatcher then refreshes the
// whole cache from ListShards.
//
// Invariants: (1) cached descriptors never overlap; (2) for a shard id at most one descriptor is
// cached; (3) a descriptor is never replaced by one of the same shard with an older epoch.
// Gaps are allowed (a split learned for one half only) and read as misses.
//
// Thread-safety: every method may be called concurrently (one internal mutex; lookups copy).
// Lifecycle: owned by the Client's dispatcher, lives as long as the Client.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/types.h"

namespace claw::client {

// Whether `a` is a strictly newer epoch than `b` (both counters >=, one >).
bool NewerEpoch(const ShardEpoch& a, const ShardEpoch& b);

// Whether `key` lies in [shard.start_key, shard.end_key) (empty end = +infinity).
bool ShardContains(const ShardInfo& shard, std::string_view key);

class RouteCache {
 public:
  // The shard whose range contains `key`, if cached.
  [[nodiscard]] std::optional<ShardInfo> Lookup(std::string_view key) const;
  // The shard holding the keys just below `end` (for reverse scans): the one whose range
  // contains the greatest key < end; `end` empty means the end of the key space.
  [[nodiscard]] std::optional<ShardInfo> LookupBefore(std::string_view end) const;

  // Replaces the whole directory (from ListShards).
  void ReplaceAll(std::vector<ShardInfo> shards);
  // Merges fresh descriptors (from an error detail): each drops the cached descriptors it
  // overlaps or whose shard id it shares, unless one of those is the same shard at a newer
  // epoch (then the fresh one is stale and ignored). A fresh descriptor without a known leader
  // keeps the cached leader of the same shard if it is still a replica.
  void Update(const std::vector<ShardInfo>& fresh);
  // Records the leader of shard `shard_id` (from a NOT_LEADER hint); no-op if not cached.
  void SetLeader(uint64_t shard_id, uint64_t node_id, const std::string& address);
  // Forgets the leader of `shard_id` when it is `address` (it failed or said it is not).
  void ForgetLeader(uint64_t shard_id, const std::string& address);

  // Node id -> client address, from ListMembers (replaces the table; empty addresses ignored).
  void SetMembers(const std::unordered_map<uint64_t, std::string>& addresses);
  // The client address of a node, when known.
  [[nodiscard]] std::optional<std::string> AddressOf(uint64_t node_id) const;
  // Every known node address, ordered by node id.
  [[nodiscard]] std::vector<std::string> KnownAddresses() const;

  // Every cached descriptor, by start key.
  [[nodiscard]] std::vector<ShardInfo> Snapshot() const;
  // Bumped by every ReplaceAll (lets concurrent callers skip a refresh another one just did).
  [[nodiscard]] uint64_t generation() const;

 private:
  // Must hold mu_. Erases the descriptors overlapping [start, end) and returns them.
  std::vector<ShardInfo> EraseOverlapping(const std::string& start, const std::string& end);

  mutable std::mutex mu_;
  std::map<std::string, ShardInfo, std::less<>> by_start_;  // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, std::string> addresses_;     // GUARDED_BY(mu_)
  uint64_t generation_ = 0;                                 // GUARDED_BY(mu_)
};

}  // namespace claw::client
