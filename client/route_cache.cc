#include "client/route_cache.h"

#include <algorithm>
#include <utility>

namespace claw::client {
namespace {

// Whether [a_start, a_end) and [b_start, b_end) intersect; an empty end is +infinity.
bool Overlaps(const std::string& a_start, const std::string& a_end, const std::string& b_start,
              const std::string& b_end) {
  const bool a_before_b_end = b_end.empty() || a_start < b_end;
  const bool b_before_a_end = a_end.empty() || b_start < a_end;
  return a_before_b_end && b_before_a_end;
}

bool HasReplicaOn(const ShardInfo& shard, uint64_t node_id) {
  return std::any_of(shard.replicas.begin(), shard.replicas.end(),
                     [&](const ReplicaInfo& r) { return r.node_id == node_id; });
}

}  // namespace

bool NewerEpoch(const ShardEpoch& a, const ShardEpoch& b) {
  return a.conf_version >= b.conf_version && a.range_version >= b.range_version && !(a == b);
}

bool ShardContains(const ShardInfo& shard, std::string_view key) {
  return shard.start_key <= key && (shard.end_key.empty() || key < shard.end_key);
}

std::optional<ShardInfo> RouteCache::Lookup(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = by_start_.upper_bound(key);  // first start > key
  if (it == by_start_.begin()) return std::nullopt;
  --it;
  if (!ShardContains(it->second, key)) return std::nullopt;
  return it->second;
}

std::optional<ShardInfo> RouteCache::LookupBefore(std::string_view end) const {
  std::lock_guard lock(mu_);
  if (by_start_.empty()) return std::nullopt;
  if (end.empty()) {
    const ShardInfo& last = by_start_.rbegin()->second;
    if (!last.end_key.empty()) return std::nullopt;
    return last;
  }
  auto it = by_start_.lower_bound(end);  // first start >= end
  if (it == by_start_.begin()) return std::nullopt;
  --it;  // start < end
  const ShardInfo& shard = it->second;
  if (!shard.end_key.empty() && shard.end_key < end) return std::nullopt;  // a gap below end
  return shard;
}

void RouteCache::ReplaceAll(std::vector<ShardInfo> shards) {
  std::lock_guard lock(mu_);
  by_start_.clear();
  for (ShardInfo& shard : shards) {
    // A directory whose ranges overlap is malformed; the later entry wins (invariant 1).
    EraseOverlapping(shard.start_key, shard.end_key);
    std::string start = shard.start_key;
    by_start_.insert_or_assign(std::move(start), std::move(shard));
  }
  ++generation_;
}

std::vector<ShardInfo> RouteCache::EraseOverlapping(const std::string& start,
                                                    const std::string& end) {
  std::vector<ShardInfo> erased;
  auto it = by_start_.upper_bound(start);
  if (it != by_start_.begin()) --it;  // the one that may start before `start` and reach into it
  while (it != by_start_.end() && (end.empty() || it->first < end)) {
    if (Overlaps(it->second.start_key, it->second.end_key, start, end)) {
      erased.push_back(std::move(it->second));
      it = by_start_.erase(it);
    } else {
      ++it;
    }
  }
  return erased;
}

void RouteCache::Update(const std::vector<ShardInfo>& fresh) {
  std::lock_guard lock(mu_);
  // Everything this update displaced: a later fresh descriptor may be the same shard as one that
  // an earlier one pushed out (a split answered with both halves), and inherits its leader.
  std::vector<ShardInfo> erased;
  for (const ShardInfo& shard : fresh) {
    if (shard.id == 0) continue;
    // Stale news: the same shard is cached at a newer epoch.
    const bool stale = std::any_of(by_start_.begin(), by_start_.end(), [&](const auto& entry) {
      return entry.second.id == shard.id && NewerEpoch(entry.second.epoch, shard.epoch);
    });
    if (stale) continue;
    for (ShardInfo& old : EraseOverlapping(shard.start_key, shard.end_key)) {
      erased.push_back(std::move(old));
    }
    for (auto it = by_start_.begin(); it != by_start_.end();) {  // invariant 2
      if (it->second.id == shard.id) {
        erased.push_back(std::move(it->second));
        it = by_start_.erase(it);
      } else {
        ++it;
      }
    }
    ShardInfo entry = shard;
    if (entry.leader_address.empty()) {
      for (const ShardInfo& old : erased) {
        if (old.id == entry.id && !old.leader_address.empty() &&
            HasReplicaOn(entry, old.leader_node_id)) {
          entry.leader_node_id = old.leader_node_id;
          entry.leader_address = old.leader_address;
        }
      }
    }
    by_start_.insert_or_assign(entry.start_key, std::move(entry));
  }
}

void RouteCache::SetLeader(uint64_t shard_id, uint64_t node_id, const std::string& address) {
  std::lock_guard lock(mu_);
  for (auto& [start, shard] : by_start_) {
    if (shard.id == shard_id) {
      shard.leader_node_id = node_id;
      shard.leader_address = address;
      return;
    }
  }
}

void RouteCache::ForgetLeader(uint64_t shard_id, const std::string& address) {
  std::lock_guard lock(mu_);
  for (auto& [start, shard] : by_start_) {
    if (shard.id == shard_id && shard.leader_address == address) {
      shard.leader_node_id = 0;
      shard.leader_address.clear();
      return;
    }
  }
}

void RouteCache::SetMembers(const std::unordered_map<uint64_t, std::string>& addresses) {
  std::lock_guard lock(mu_);
  addresses_.clear();
  for (const auto& [node_id, address] : addresses) {
    if (!address.empty()) addresses_.emplace(node_id, address);
  }
}

std::optional<std::string> RouteCache::AddressOf(uint64_t node_id) const {
  std::lock_guard lock(mu_);
  auto it = addresses_.find(node_id);
  if (it == addresses_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> RouteCache::KnownAddresses() const {
  std::lock_guard lock(mu_);
  std::map<uint64_t, std::string> ordered(addresses_.begin(), addresses_.end());
  std::vector<std::string> addresses;
  for (auto& [node_id, address] : ordered) addresses.push_back(std::move(address));
  return addresses;
}

std::vector<ShardInfo> RouteCache::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<ShardInfo> shards;
  shards.reserve(by_start_.size());
  for (const auto& [start, shard] : by_start_) shards.push_back(shard);
  return shards;
}

uint64_t RouteCache::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

}  // namespace claw::client
