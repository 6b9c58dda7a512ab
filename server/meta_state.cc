#include "server/meta_state.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "storage/key_codec.h"

namespace claw::server {
namespace {

constexpr uint64_t kMetaGroup = 1;

std::string NodeKey(uint64_t id) {
  std::string sub = "n";
  storage::PutBigEndian64(sub, id);
  return storage::HostStateKey(kMetaGroup, sub);
}

std::string ShardKey(uint64_t id) {
  std::string sub = "s";
  storage::PutBigEndian64(sub, id);
  return storage::HostStateKey(kMetaGroup, sub);
}

std::string RulesKey() { return storage::HostStateKey(kMetaGroup, "r"); }

std::string LeaseKey(uint64_t id) {
  std::string sub = "l";
  storage::PutBigEndian64(sub, id);
  return storage::HostStateKey(kMetaGroup, sub);
}

std::string NextLeaseKey() { return storage::HostStateKey(kMetaGroup, "L"); }

[[noreturn]] void Fatal(const std::string& what) {
  SPDLOG_CRITICAL("meta shard state: {}", what);
  std::abort();
}

}  // namespace

std::expected<void, std::string> MetaStateMachine::Load() {
  std::map<uint64_t, v1::NodeRecord> nodes;
  std::map<uint64_t, v1::ShardDescriptor> shards;
  v1::PlacementRules rules;
  std::map<uint64_t, v1::LeaseRecord> leases;
  uint64_t next_lease = 1;
  const std::string prefix = storage::HostStatePrefix(kMetaGroup);
  std::string corrupt;
  auto scan = engine_->ScanMeta(prefix, [&](std::string_view key, std::string_view value) {
    const std::string_view sub = key.substr(prefix.size());
    if (sub == "r") {
      if (!rules.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        corrupt = "the placement rules are corrupt";
        return false;
      }
      return true;
    }
    if (sub == "L") {
      if (value.size() != 8) {
        corrupt = "the next lease id is corrupt";
        return false;
      }
      next_lease = storage::GetBigEndian64(value);
      return true;
    }
    if (sub.size() != 9) {
      corrupt = "a meta shard key has a malformed suffix";
      return false;
    }
    const uint64_t id = storage::GetBigEndian64(sub.substr(1));
    if (sub[0] == 'n') {
      v1::NodeRecord n;
      if (!n.ParseFromArray(value.data(), static_cast<int>(value.size())) || n.node_id() != id) {
        corrupt = "node record " + std::to_string(id) + " is corrupt";
        return false;
      }
      nodes[id] = std::move(n);
    } else if (sub[0] == 's') {
      v1::ShardDescriptor d;
      if (!d.ParseFromArray(value.data(), static_cast<int>(value.size())) || d.id() != id) {
        corrupt = "directory entry of shard " + std::to_string(id) + " is corrupt";
        return false;
      }
      shards[id] = std::move(d);
    } else if (sub[0] == 'l') {
      v1::LeaseRecord l;
      if (!l.ParseFromArray(value.data(), static_cast<int>(value.size())) || l.id() != id) {
        corrupt = "lease record " + std::to_string(id) + " is corrupt";
        return false;
      }
      leases[id] = std::move(l);
    } else {
      corrupt = "a meta shard key has an unknown kind";
      return false;
    }
    return true;
  });
  if (!scan) return std::unexpected("reading the meta shard's state: " + scan.error().message);
  if (!corrupt.empty()) return std::unexpected("reading the meta shard's state: " + corrupt);
  std::lock_guard lock(mu_);
  nodes_ = std::move(nodes);
  shards_ = std::move(shards);
  rules_ = std::move(rules);
  leases_ = std::move(leases);
  next_lease_id_ = next_lease;
  ++version_;
  return {};
}

void MetaStateMachine::PutRules(const v1::PlacementRules& rules, storage::WriteBatch& batch) {
  if (auto put = engine_->PutMeta(batch, RulesKey(), rules.SerializeAsString()); !put) {
    Fatal("recording the placement rules: " + put.error().message);
  }
  rules_ = rules;
}

void MetaStateMachine::PutLease(const v1::LeaseRecord& lease, storage::WriteBatch& batch) {
  if (auto put = engine_->PutMeta(batch, LeaseKey(lease.id()), lease.SerializeAsString()); !put) {
    Fatal("recording lease " + std::to_string(lease.id()) + ": " + put.error().message);
  }
  leases_[lease.id()] = lease;
}

void MetaStateMachine::PutNextLeaseId(uint64_t next, storage::WriteBatch& batch) {
  std::string v;
  storage::PutBigEndian64(v, next);
  if (auto put = engine_->PutMeta(batch, NextLeaseKey(), v); !put) Fatal("recording the next lease id: " + put.error().message);
  next_lease_id_ = next;
}

// Lease commands (MetaCommand fields 6..9). Caller holds mu_.
void MetaStateMachine::ApplyLease(const v1::MetaCommand& cmd, storage::WriteBatch& batch) {
  switch (cmd.command_case()) {
    case v1::MetaCommand::kGrantLease: {
      const v1::LeaseGrant& g = cmd.grant_lease();
      uint64_t id = g.id() != 0 ? g.id() : next_lease_id_;
      // An id given by the caller must be free; 0 records the refusal for the proposer.
      if (g.ttl_ms() == 0 || leases_.contains(id) || id == UINT64_MAX) id = 0;
      if (g.nonce() != 0) {
        if (grant_nonces_.emplace(g.nonce(), id).second) nonce_order_.push_back(g.nonce());
        while (nonce_order_.size() > kGrantNonces) {
          grant_nonces_.erase(nonce_order_.front());
          nonce_order_.pop_front();
        }
      }
      if (id == 0) return;
      v1::LeaseRecord l;
      l.set_id(id);
      l.set_ttl_ms(g.ttl_ms());
      l.set_state(v1::LeaseRecord::ACTIVE);
      l.set_remaining_ms(g.ttl_ms());
      PutLease(l, batch);
      if (id >= next_lease_id_) PutNextLeaseId(id + 1, batch);
      return;
    }
    case v1::MetaCommand::kRevokeLease: {
      auto it = leases_.find(cmd.revoke_lease().id());
      if (it == leases_.end() || it->second.state() != v1::LeaseRecord::ACTIVE) return;
      v1::LeaseRecord l = it->second;
      l.set_state(v1::LeaseRecord::REVOKING);
      l.set_expired(cmd.revoke_lease().expired());
      l.set_remaining_ms(0);
      PutLease(l, batch);
      return;
    }
    case v1::MetaCommand::kCheckpointLeases:
      for (const v1::LeaseCheckpoint::Entry& e : cmd.checkpoint_leases().entries()) {
        auto it = leases_.find(e.id());
        if (it == leases_.end() || it->second.state() != v1::LeaseRecord::ACTIVE) continue;
        if (it->second.remaining_ms() == e.remaining_ms()) continue;
        v1::LeaseRecord l = it->second;
        l.set_remaining_ms(std::min(e.remaining_ms(), l.ttl_ms()));
        PutLease(l, batch);
      }
      return;
    case v1::MetaCommand::kLeaseRevoked:
      if (leases_.erase(cmd.lease_revoked().id()) > 0) {
        if (auto del = engine_->DeleteMeta(batch, LeaseKey(cmd.lease_revoked().id())); !del) Fatal(del.error().message);
      }
      return;
    default:
      return;
  }
}

void MetaStateMachine::PutNode(const v1::NodeRecord& node, storage::WriteBatch& batch) {
  if (auto put = engine_->PutMeta(batch, NodeKey(node.node_id()), node.SerializeAsString()); !put) {
    Fatal("recording node " + std::to_string(node.node_id()) + ": " + put.error().message);
  }
  nodes_[node.node_id()] = node;
}

void MetaStateMachine::PutShard(const v1::ShardDescriptor& shard, storage::WriteBatch& batch) {
  if (auto put = engine_->PutMeta(batch, ShardKey(shard.id()), shard.SerializeAsString()); !put) {
    Fatal("recording shard " + std::to_string(shard.id()) + ": " + put.error().message);
  }
  shards_[shard.id()] = shard;
}

void MetaStateMachine::Bootstrap(const std::vector<v1::NodeRecord>& nodes,
                                 const std::vector<v1::ShardDescriptor>& shards, storage::WriteBatch& batch) {
  std::lock_guard lock(mu_);
  for (v1::NodeRecord n : nodes) {
    if (n.state() == v1::NodeRecord::STATE_UNSPECIFIED) n.set_state(v1::NodeRecord::UP);
    PutNode(n, batch);
  }
  for (const v1::ShardDescriptor& d : shards) PutShard(d, batch);
  ++version_;
}

bool MetaStateMachine::Newer(const v1::ShardDescriptor& incoming, const v1::ShardDescriptor& current) {
  const v1::Epoch& a = incoming.epoch();
  const v1::Epoch& b = current.epoch();
  return a.conf_version() >= b.conf_version() && a.range_version() >= b.range_version() &&
         (a.conf_version() > b.conf_version() || a.range_version() > b.range_version());
}

void MetaStateMachine::Apply(const v1::MetaCommand& cmd, storage::WriteBatch& batch) {
  std::lock_guard lock(mu_);
  switch (cmd.command_case()) {
    case v1::MetaCommand::kUpsertNode: {
      v1::NodeRecord n = cmd.upsert_node();
      if (n.node_id() == 0) return;
      auto it = nodes_.find(n.node_id());
      // A node's state changes only through SetNodeState; a removed node stays removed.
      n.set_state(it != nodes_.end() && it->second.state() != v1::NodeRecord::STATE_UNSPECIFIED
                      ? it->second.state()
                      : v1::NodeRecord::UP);
      if (it != nodes_.end() && it->second.SerializeAsString() == n.SerializeAsString()) return;
      PutNode(n, batch);
      break;
    }
    case v1::MetaCommand::kRegisterNode: {
      const v1::NodeRecord& asked = cmd.register_node();
      if (asked.name().empty() || asked.peer_address().empty()) return;
      uint64_t next = 1;
      for (const auto& [id, n] : nodes_) {
        next = std::max(next, id + 1);
        // Asked again (the answer was lost) or a name taken by a live node: nothing to record.
        if (n.name() == asked.name() && n.state() != v1::NodeRecord::REMOVED) return;
      }
      v1::NodeRecord n = asked;
      n.set_node_id(next);
      n.set_state(v1::NodeRecord::UP);
      PutNode(n, batch);
      break;
    }
    case v1::MetaCommand::kSetRules: {
      if (cmd.set_rules().version() != rules_.version()) return;  // lost a race: refused
      v1::PlacementRules rules = cmd.set_rules();
      rules.set_version(rules_.version() + 1);
      PutRules(rules, batch);
      break;
    }
    case v1::MetaCommand::kSetNodeState: {
      auto it = nodes_.find(cmd.set_node_state().node_id());
      if (it == nodes_.end() || it->second.state() == v1::NodeRecord::REMOVED) return;
      v1::NodeRecord n = it->second;
      n.set_state(cmd.set_node_state().state());
      PutNode(n, batch);
      break;
    }
    case v1::MetaCommand::kReportShards:
      for (const v1::ShardDescriptor& d : cmd.report_shards().shards()) {
        if (d.id() == 0) continue;
        auto it = shards_.find(d.id());
        if (it == shards_.end() || Newer(d, it->second)) PutShard(d, batch);
      }
      break;
    case v1::MetaCommand::kGrantLease:
    case v1::MetaCommand::kRevokeLease:
    case v1::MetaCommand::kCheckpointLeases:
    case v1::MetaCommand::kLeaseRevoked:
      ApplyLease(cmd, batch);
      break;
    case v1::MetaCommand::COMMAND_NOT_SET:
      return;
  }
  ++version_;
}

void MetaStateMachine::Fill(v1::MetaState* out) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : nodes_) *out->add_nodes() = n;
  for (const auto& [id, d] : shards_) *out->add_shards() = d;
  if (rules_.version() != 0 || rules_.rules_size() > 0) *out->mutable_rules() = rules_;
  for (const auto& [id, l] : leases_) *out->add_leases() = l;
  if (next_lease_id_ > 1) out->set_next_lease_id(next_lease_id_);
}

void MetaStateMachine::Install(const v1::MetaState& state, storage::WriteBatch& batch) {
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : nodes_) {
    if (auto del = engine_->DeleteMeta(batch, NodeKey(id)); !del) Fatal(del.error().message);
  }
  for (const auto& [id, d] : shards_) {
    if (auto del = engine_->DeleteMeta(batch, ShardKey(id)); !del) Fatal(del.error().message);
  }
  nodes_.clear();
  shards_.clear();
  for (const v1::NodeRecord& n : state.nodes()) PutNode(n, batch);
  for (const v1::ShardDescriptor& d : state.shards()) PutShard(d, batch);
  if (auto del = engine_->DeleteMeta(batch, RulesKey()); !del) Fatal(del.error().message);
  rules_.Clear();
  if (state.has_rules()) PutRules(state.rules(), batch);
  for (const auto& [id, l] : leases_) {
    if (auto del = engine_->DeleteMeta(batch, LeaseKey(id)); !del) Fatal(del.error().message);
  }
  leases_.clear();
  for (const v1::LeaseRecord& l : state.leases()) PutLease(l, batch);
  PutNextLeaseId(std::max<uint64_t>(state.next_lease_id(), 1), batch);
  ++version_;
}

void MetaStateMachine::Clear() {
  std::lock_guard lock(mu_);
  nodes_.clear();
  shards_.clear();
  rules_.Clear();
  leases_.clear();
  next_lease_id_ = 1;
  grant_nonces_.clear();
  nonce_order_.clear();
  ++version_;
}

std::vector<v1::NodeRecord> MetaStateMachine::Nodes() const {
  std::lock_guard lock(mu_);
  std::vector<v1::NodeRecord> out;
  for (const auto& [id, n] : nodes_) out.push_back(n);
  return out;
}

std::vector<v1::ShardDescriptor> MetaStateMachine::Shards() const {
  std::lock_guard lock(mu_);
  std::vector<v1::ShardDescriptor> out;
  for (const auto& [id, d] : shards_) out.push_back(d);
  return out;
}

bool MetaStateMachine::NewerThanDirectory(const v1::ShardDescriptor& incoming) const {
  std::lock_guard lock(mu_);
  auto it = shards_.find(incoming.id());
  return it == shards_.end() || Newer(incoming, it->second);
}

std::optional<v1::NodeRecord> MetaStateMachine::Node(uint64_t id) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

std::optional<v1::NodeRecord> MetaStateMachine::LiveNodeNamed(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : nodes_) {
    if (n.name() == name && n.state() != v1::NodeRecord::REMOVED) return n;
  }
  return std::nullopt;
}

v1::PlacementRules MetaStateMachine::Rules() const {
  std::lock_guard lock(mu_);
  return rules_;
}

std::vector<v1::LeaseRecord> MetaStateMachine::Leases() const {
  std::lock_guard lock(mu_);
  std::vector<v1::LeaseRecord> out;
  for (const auto& [id, l] : leases_) out.push_back(l);
  return out;
}

std::optional<v1::LeaseRecord> MetaStateMachine::Lease(uint64_t id) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> MetaStateMachine::GrantedId(uint64_t nonce) const {
  std::lock_guard lock(mu_);
  auto it = grant_nonces_.find(nonce);
  if (it == grant_nonces_.end()) return std::nullopt;
  return it->second;
}

uint64_t MetaStateMachine::next_lease_id() const {
  std::lock_guard lock(mu_);
  return next_lease_id_;
}

uint64_t MetaStateMachine::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

}  // namespace claw::server
