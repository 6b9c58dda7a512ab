#include "server/router.h"

#include <mutex>

namespace claw::server {

bool InRange(const v1::ShardDescriptor& shard, const std::string& key) {
  return key >= shard.start_key() && (shard.end_key().empty() || key < shard.end_key());
}

void Router::Upsert(const v1::ShardDescriptor& shard, bool local) {
  std::unique_lock lock(mu_);
  Route& r = shards_[shard.id()];
  // A descriptor older than the known one (in either epoch counter) only updates the local flag.
  if (r.shard.id() != 0 && (shard.epoch().conf_version() < r.shard.epoch().conf_version() ||
                            shard.epoch().range_version() < r.shard.epoch().range_version())) {
    r.local = local;
    return;
  }
  // Drop the old start only if it still names this shard: another shard may own it by now.
  if (r.shard.id() != 0 && r.shard.id() != kMetaShard) {
    auto old = by_start_.find(r.shard.start_key());
    if (old != by_start_.end() && old->second == shard.id()) by_start_.erase(old);
  }
  r.shard = shard;
  r.local = local;
  if (shard.id() != kMetaShard) by_start_[shard.start_key()] = shard.id();
}

bool Router::Learn(const v1::ShardDescriptor& shard) {
  if (shard.id() == 0) return false;
  {
    std::shared_lock lock(mu_);
    if (auto it = shards_.find(shard.id()); it != shards_.end()) {
      const v1::Epoch& have = it->second.shard.epoch();
      const v1::Epoch& got = shard.epoch();
      const bool newer = got.conf_version() >= have.conf_version() && got.range_version() >= have.range_version() &&
                         (got.conf_version() > have.conf_version() || got.range_version() > have.range_version());
      if (it->second.local || !newer) return false;
    }
  }
  Upsert(shard, false);
  return true;
}

void Router::SetLeader(uint64_t shard, uint64_t leader) {
  std::unique_lock lock(mu_);
  if (auto it = shards_.find(shard); it != shards_.end()) it->second.leader = leader;
}

void Router::LearnLeader(uint64_t shard, uint64_t leader) {
  std::unique_lock lock(mu_);
  if (auto it = shards_.find(shard); it != shards_.end() && !it->second.local) it->second.leader = leader;
}

void Router::UpsertMember(const MemberInfo& member) {
  std::unique_lock lock(mu_);
  MemberInfo& m = members_[member.id];
  // Learnt facts never erase known ones: a hello without a zone keeps the configured one.
  m.id = member.id;
  if (!member.name.empty()) m.name = member.name;
  if (!member.peer_address.empty()) m.peer_address = member.peer_address;
  if (!member.client_address.empty()) m.client_address = member.client_address;
  if (!member.zone.empty()) m.zone = member.zone;
  if (!member.rack.empty()) m.rack = member.rack;
  if (!member.host.empty()) m.host = member.host;
}

std::optional<Route> Router::Lookup(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = by_start_.upper_bound(key);
  if (it == by_start_.begin()) return std::nullopt;
  --it;
  const Route& r = shards_.at(it->second);
  if (!InRange(r.shard, key)) return std::nullopt;
  return r;
}

std::optional<Route> Router::LookupBefore(const std::string& end) const {
  std::shared_lock lock(mu_);
  if (by_start_.empty()) return std::nullopt;
  auto it = end.empty() ? by_start_.end() : by_start_.lower_bound(end);
  if (it == by_start_.begin()) return std::nullopt;
  --it;
  return shards_.at(it->second);
}

std::optional<Route> Router::Get(uint64_t shard) const {
  std::shared_lock lock(mu_);
  auto it = shards_.find(shard);
  if (it == shards_.end()) return std::nullopt;
  return it->second;
}

std::vector<Route> Router::All() const {
  std::shared_lock lock(mu_);
  std::vector<Route> out;
  out.reserve(by_start_.size());
  for (const auto& [start, id] : by_start_) out.push_back(shards_.at(id));
  return out;
}

std::vector<v1::ShardDescriptor> Router::Overlapping(const std::string& start,
                                                     const std::string& end) const {
  std::vector<v1::ShardDescriptor> out;
  for (const Route& r : All()) {
    const auto& s = r.shard;
    bool before_end = end.empty() || s.start_key() < end;
    bool after_start = s.end_key().empty() || s.end_key() > start;
    if (before_end && after_start) out.push_back(s);
  }
  return out;
}

std::optional<MemberInfo> Router::Member(uint64_t id) const {
  std::shared_lock lock(mu_);
  auto it = members_.find(id);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

std::vector<MemberInfo> Router::Members() const {
  std::shared_lock lock(mu_);
  std::vector<MemberInfo> out;
  for (const auto& [id, m] : members_) out.push_back(m);
  return out;
}

std::string Router::ClientAddress(uint64_t node) const {
  std::shared_lock lock(mu_);
  auto it = members_.find(node);
  return it == members_.end() ? std::string() : it->second.client_address;
}

}  // namespace claw::server
