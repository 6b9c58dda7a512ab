// Router: the node's view of the shard directory and the cluster's members, for routing client
// requests: which shard owns a key, which node leads it, where that node listens.
//
// Writers: the store (descriptors at start, leaders on every leadership change seen by a local
// replica) and the transport (members' client addresses learnt from peer hellos). Readers: gRPC
// handler threads, on every request. Thread-safe (a reader-writer lock; lookups copy out).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "claw/v1/cluster.pb.h"
#include "claw/v1/shard.pb.h"

namespace claw::server {

struct Route {
  v1::ShardDescriptor shard{};
  // Leader's node id as last seen by this node; 0 = unknown.
  uint64_t leader = 0;
  // Whether this node hosts a replica of the shard.
  bool local = false;
};

struct MemberInfo {
  uint64_t id = 0;
  std::string name{};
  std::string peer_address{};
  std::string client_address{};
  std::string zone{}, rack{}, host{};
};

class Router {
 public:
  explicit Router(uint64_t self) : self_(self) {}

  // Adds or replaces a shard; the meta shard (id 1, empty range) is kept but never routed to.
  void Upsert(const v1::ShardDescriptor& shard, bool local);
  // A descriptor from the placement service's directory: taken for shards without a local
  // replica (whose own descriptor is authoritative) when its epoch is newer in one counter and
  // not older in the other. Returns whether it was taken.
  bool Learn(const v1::ShardDescriptor& shard);
  void SetLeader(uint64_t shard, uint64_t leader);
  // The meta leader's word on who leads a shard this node hosts no replica of (a hint for
  // NOT_LEADER answers and ListShards); ignored for local shards, whose replica knows better.
  void LearnLeader(uint64_t shard, uint64_t leader);
  void UpsertMember(const MemberInfo& member);

  // The data shard owning `key`.
  std::optional<Route> Lookup(const std::string& key) const;
  // The data shard whose range ends at or after `end` when scanning backwards: the shard holding
  // the keys just below `end` (empty `end` = the last shard).
  std::optional<Route> LookupBefore(const std::string& end) const;
  std::optional<Route> Get(uint64_t shard) const;
  // Data shards ordered by start key.
  std::vector<Route> All() const;
  // Descriptors of the data shards overlapping [start, end) (end empty = +inf), for errors.
  std::vector<v1::ShardDescriptor> Overlapping(const std::string& start, const std::string& end) const;

  std::optional<MemberInfo> Member(uint64_t id) const;
  std::vector<MemberInfo> Members() const;
  // Client address of a node, empty when unknown.
  std::string ClientAddress(uint64_t node) const;
  uint64_t self() const { return self_; }

 private:
  const uint64_t self_;
  mutable std::shared_mutex mu_;
  std::map<std::string, uint64_t> by_start_;            // data shards: start key -> id
  std::unordered_map<uint64_t, Route> shards_;          // all shards by id
  std::map<uint64_t, MemberInfo> members_;
};

// Whether `key` lies in the shard's range [start_key, end_key) (empty end = +inf).
bool InRange(const v1::ShardDescriptor& shard, const std::string& key);
inline constexpr uint64_t kMetaShard = 1;

}  // namespace claw::server
