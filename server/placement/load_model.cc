#include "server/placement/load_model.h"

#include <algorithm>
#include <type_traits>

namespace claw::placement {
namespace {

// Relative slack for comparing sums of doubles that are equal in exact arithmetic.
constexpr double kEpsilon = 1e-9;

}  // namespace

LoadModel::LoadModel(const ClusterView& view, const PlacementConfig& config) : config_(config) {
  for (const NodeInfo& info : view.nodes) {
    if (index_.contains(info.id)) continue;  // a duplicate id: the first entry wins
    index_.emplace(info.id, 0);
    nodes_.push_back(NodeLoad{.info = &info,
                              .disk_used = info.disk_used_bytes,
                              .disk_free = info.disk_free_bytes,
                              .operators = info.operators_in_flight});
  }
  std::sort(nodes_.begin(), nodes_.end(),
            [](const NodeLoad& a, const NodeLoad& b) { return a.id() < b.id(); });
  for (size_t i = 0; i < nodes_.size(); ++i) index_[nodes_[i].id()] = i;

  std::vector<const NodeInfo*> up;
  for (const NodeLoad& n : nodes_) {
    if (n.up()) up.push_back(n.info);
  }
  up_domains_ = CountDomains(up);

  double known = 0;
  int known_count = 0;
  for (const NodeLoad& n : nodes_) {
    if (n.up() && n.info->capacity_bytes > 0) {
      known += static_cast<double>(n.info->capacity_bytes);
      ++known_count;
    }
  }
  const double mean_capacity = known_count > 0 ? known / known_count : 0;
  for (NodeLoad& n : nodes_) {
    if (mean_capacity > 0 && n.info->capacity_bytes > 0) {
      n.weight = static_cast<double>(n.info->capacity_bytes) / mean_capacity;
    }
    if (n.up()) up_weight_ += n.weight;
  }

  for (const ShardInfo& shard : view.shards) {
    if (shard.operator_in_flight) ++in_flight_;
    for (const ReplicaInfo& r : shard.replicas) {
      NodeLoad* n = Mutable(r.node);
      if (n == nullptr) continue;
      const int64_t leads = (shard.leader == r.node) ? 1 : 0;
      n->replicas += 1;
      n->leaders += leads;
      n->bytes += static_cast<double>(shard.bytes);
      Total(*n, 1, leads, static_cast<double>(shard.bytes));
    }
  }
}

const NodeLoad* LoadModel::Find(NodeId id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &nodes_[it->second];
}

NodeLoad* LoadModel::Mutable(NodeId id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &nodes_[it->second];
}

bool LoadModel::HasRoom(const NodeLoad& node, uint64_t bytes) const {
  const NodeInfo& info = *node.info;
  const bool reported = info.disk_used_bytes + info.disk_free_bytes > 0;
  double capacity = static_cast<double>(info.capacity_bytes);
  if (capacity <= 0 && reported) {
    capacity = static_cast<double>(info.disk_used_bytes) + static_cast<double>(info.disk_free_bytes);
  }
  if (capacity <= 0) return true;  // nothing known about the disk
  const double add = static_cast<double>(bytes);
  // Without a disk report the replicas' bytes are all the node is known to store.
  const double used_after = (reported ? static_cast<double>(node.disk_used) : node.bytes) + add;
  const double free_after =
      reported ? static_cast<double>(node.disk_free) - add : capacity - used_after;
  return used_after <= config_.disk_full_ratio * capacity &&
         free_after >= (1 - config_.disk_full_ratio) * capacity;
}

bool LoadModel::HasSlot(const NodeLoad& node) const {
  return !node.live() || node.operators < config_.max_operators_per_node;
}

double LoadModel::ByteUnit() const {
  if (total_replicas_ <= 0 || total_bytes_ <= 0) return 1;
  return total_bytes_ / total_replicas_;
}

double LoadModel::Value(const NodeLoad& node, Metric metric) const {
  switch (metric) {
    case Metric::kReplicas: return static_cast<double>(node.replicas);
    case Metric::kLeaders: return static_cast<double>(node.leaders);
    case Metric::kBytes: return node.bytes / ByteUnit();
  }
  return 0;
}

double LoadModel::FairShare(const NodeLoad& node, Metric metric) const {
  if (up_weight_ <= 0) return 0;
  double total = 0;
  switch (metric) {
    case Metric::kReplicas: total = total_replicas_; break;
    case Metric::kLeaders: total = total_leaders_; break;
    case Metric::kBytes: total = total_bytes_ / ByteUnit(); break;
  }
  return total * node.weight / up_weight_;
}

bool LoadModel::Over(const NodeLoad& node, Metric metric) const {
  return Value(node, metric) > FairShare(node, metric) * (1 + config_.balance_tolerance) + kEpsilon;
}

bool LoadModel::Under(const NodeLoad& node, Metric metric) const {
  return Value(node, metric) < FairShare(node, metric) * (1 - config_.balance_tolerance) - kEpsilon;
}

bool LoadModel::Triggers(const NodeLoad& from, const NodeLoad& to, Metric metric) const {
  return Over(from, metric) || Under(to, metric);
}

bool LoadModel::Unbalanced(Metric metric) const {
  return std::any_of(nodes_.begin(), nodes_.end(), [&](const NodeLoad& n) {
    return n.up() && (Over(n, metric) || Under(n, metric));
  });
}

double LoadModel::PotentialDelta(const NodeLoad& from, const NodeLoad& to, Metric metric,
                                 double amount) const {
  const double from_excess = Value(from, metric) - FairShare(from, metric);
  const double to_excess = Value(to, metric) - FairShare(to, metric);
  return (amount * amount - 2 * amount * from_excess) / from.weight +
         (amount * amount + 2 * amount * to_excess) / to.weight;
}

double LoadModel::RequiredFall(const NodeLoad& from, const NodeLoad& to, Metric /*metric*/,
                               double amount) const {
  return amount * amount * (1 / from.weight + 1 / to.weight) * (1 - kEpsilon);
}

void LoadModel::Total(const NodeLoad& node, int64_t replicas, int64_t leaders, double bytes) {
  if (!node.live()) return;
  total_replicas_ += static_cast<double>(replicas);
  total_leaders_ += static_cast<double>(leaders);
  total_bytes_ += bytes;
}

void LoadModel::GainReplica(NodeId id, uint64_t bytes, int64_t leaders) {
  NodeLoad* n = Mutable(id);
  if (n == nullptr) return;
  n->replicas += 1;
  n->leaders += leaders;
  n->bytes += static_cast<double>(bytes);
  n->disk_used += bytes;
  n->disk_free -= std::min(bytes, n->disk_free);
  Total(*n, 1, leaders, static_cast<double>(bytes));
}

void LoadModel::LoseReplica(NodeId id, uint64_t bytes, int64_t leaders) {
  NodeLoad* n = Mutable(id);
  if (n == nullptr) return;
  // Disk space is freed only once the replica's data is deleted: keep the projection pessimistic.
  n->replicas -= 1;
  n->leaders -= leaders;
  n->bytes -= static_cast<double>(bytes);
  Total(*n, -1, -leaders, -static_cast<double>(bytes));
}

void LoadModel::MoveLeader(NodeId id, int64_t leaders) {
  NodeLoad* n = Mutable(id);
  if (n == nullptr) return;
  n->leaders += leaders;
  Total(*n, 0, leaders, 0);
}

void LoadModel::Apply(const Operator& op, const ShardInfo& shard) {
  for (NodeId id : NodesOf(op, shard)) Mutable(id)->operators += 1;
  ++in_flight_;
  const uint64_t bytes = shard.bytes;
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, AddReplica>) {
          GainReplica(a.target, bytes, 0);
        } else if constexpr (std::is_same_v<T, RemoveReplica>) {
          LoseReplica(a.node, bytes, shard.leader == a.node ? 1 : 0);
        } else if constexpr (std::is_same_v<T, MoveReplica>) {
          const int64_t leads = shard.leader == a.from ? 1 : 0;
          LoseReplica(a.from, bytes, leads);
          GainReplica(a.to, bytes, leads);
        } else if constexpr (std::is_same_v<T, TransferLeader>) {
          MoveLeader(a.from, -1);
          MoveLeader(a.to, 1);
        } else {
          // Two shards where there was one: every replica node holds one more replica (the bytes
          // are shared out), and the leader leads both.
          for (const ReplicaInfo& r : shard.replicas) {
            NodeLoad* n = Mutable(r.node);
            if (n == nullptr) continue;
            const int64_t leads = shard.leader == r.node ? 1 : 0;
            n->replicas += 1;
            n->leaders += leads;
            Total(*n, 1, leads, 0);
          }
        }
      },
      op.action);
}

std::vector<NodeId> LoadModel::NodesOf(const Operator& op, const ShardInfo& shard) const {
  std::vector<NodeId> ids = std::visit(
      [&](const auto& a) -> std::vector<NodeId> {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, AddReplica>) {
          return {a.target};
        } else if constexpr (std::is_same_v<T, RemoveReplica>) {
          return {a.node};
        } else if constexpr (std::is_same_v<T, MoveReplica> || std::is_same_v<T, TransferLeader>) {
          return {a.from, a.to};
        } else {
          return {shard.leader};
        }
      },
      op.action);
  std::erase_if(ids, [&](NodeId id) {
    const NodeLoad* n = Find(id);
    return n == nullptr || !n->live();
  });
  return ids;
}

}  // namespace claw::placement
