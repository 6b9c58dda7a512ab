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

[[noreturn]] void Fatal(const std::string& what) {
  SPDLOG_CRITICAL("meta shard state: {}", what);
  std::abort();
}

}  // namespace

std::expected<void, std::string> MetaStateMachine::Load() {
  std::map<uint64_t, v1::NodeRecord> nodes;
  std::map<uint64_t, v1::ShardDescriptor> shards;
  v1::PlacementRules rules;
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
  ++version_;
  return {};
}

void MetaStateMachine::PutRules(const v1::PlacementRules& rules, storage::WriteBatch& batch) {
  if (auto put = engine_->PutMeta(batch, RulesKey(), rules.SerializeAsString()); !put) {
    Fatal("recording the placement rules: " + put.error().message);
  }
  rules_ = rules;
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
  ++version_;
}

void MetaStateMachine::Clear() {
  std::lock_guard lock(mu_);
  nodes_.clear();
  shards_.clear();
  rules_.Clear();
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

uint64_t MetaStateMachine::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

}  // namespace claw::server
