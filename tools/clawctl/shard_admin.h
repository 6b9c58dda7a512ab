// ShardAdmin: everything the shard commands (shard_commands.h) do outside memory — reading the
// shard directory, the members and one node's status, the three admin RPCs of claw.v1.Cluster
// sent to one node, and time — behind one interface, so that the command logic (leader finding, redirects, retries,
// the steps of a move) is tested against an in-memory cluster with a fake clock.
//
// GrpcShardAdmin is the real one: ListShards / ListMembers through the client (which retries over
// the endpoints), Status of one node through the client (one attempt), ChangeReplicas / TransferLeader / SplitShard on a claw.v1.Cluster stub of the
// address asked, one attempt each: the caller decides about redirects and retries. A node that
// does not lead the shard answers NOT_LEADER (client::ErrorCode::kNotLeader with the leader's id
// and address when it knows them).
//
// Thread-safety: one command thread uses an instance. Lifecycle: GrpcShardAdmin borrows the
// Client, which must outlive it; channels are made on first use of an address and kept.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"

namespace claw::clawctl {

class ClusterStubs;

// One membership change of a shard (claw.v1.ChangeReplicasRequest).
struct ReplicaChange {
  enum class Kind : uint8_t { kAddLearner, kPromote, kRemove };
  uint64_t shard_id = 0;
  // The epoch of the descriptor the change was planned on: the leader refuses the change with
  // EPOCH_MISMATCH when the shard changed meanwhile.
  client::ShardEpoch epoch{};
  Kind kind = Kind::kAddLearner;
  uint64_t node_id = 0;
};

// The two halves of a split: `left` keeps the id and [start, key), `right` is new, [key, end).
// Their leader fields are unset.
struct SplitResult {
  client::ShardInfo left{};
  client::ShardInfo right{};
};

class ShardAdmin {
 public:
  using Clock = std::chrono::steady_clock;
  using Timeout = std::chrono::milliseconds;

  virtual ~ShardAdmin() = default;

  // The data shards, ordered by start key, with their leaders where the answering node knows
  // them (0 / "" otherwise).
  [[nodiscard]] virtual client::Result<std::vector<client::ShardInfo>> ListShards(Timeout timeout) = 0;
  [[nodiscard]] virtual client::Result<std::vector<client::MemberInfo>> ListMembers(Timeout timeout) = 0;
  // Cluster.Status of the node at `address`: the replicas it hosts, each with the descriptor as
  // that replica knows it (fresher than a directory entry of a node hosting no replica of the
  // shard) and the leader it follows.
  [[nodiscard]] virtual client::Result<client::NodeStatus> NodeStatus(const std::string& address,
                                                                      Timeout timeout) = 0;

  // The admin RPCs on the node at `address`. The answers carry the shard's new descriptor (its
  // leader fields unset, except TransferLeader's leader_node_id).
  [[nodiscard]] virtual client::Result<client::ShardInfo> ChangeReplicas(const std::string& address,
                                                                         const ReplicaChange& change,
                                                                         Timeout timeout) = 0;
  [[nodiscard]] virtual client::Result<client::ShardInfo> TransferLeader(const std::string& address,
                                                                         uint64_t shard_id,
                                                                         uint64_t to_node,
                                                                         Timeout timeout) = 0;
  // An empty key asks the leader for the middle key of the shard's data.
  [[nodiscard]] virtual client::Result<SplitResult> SplitShard(const std::string& address,
                                                               uint64_t shard_id,
                                                               const std::string& key,
                                                               const client::ShardEpoch& epoch,
                                                               Timeout timeout) = 0;

  virtual Clock::time_point Now() = 0;
  virtual void Sleep(std::chrono::milliseconds duration) = 0;
};

class GrpcShardAdmin final : public ShardAdmin {
 public:
  explicit GrpcShardAdmin(client::Client& client);
  ~GrpcShardAdmin() override;

  client::Result<std::vector<client::ShardInfo>> ListShards(Timeout timeout) override;
  client::Result<std::vector<client::MemberInfo>> ListMembers(Timeout timeout) override;
  client::Result<client::NodeStatus> NodeStatus(const std::string& address, Timeout timeout) override;
  client::Result<client::ShardInfo> ChangeReplicas(const std::string& address,
                                                   const ReplicaChange& change,
                                                   Timeout timeout) override;
  client::Result<client::ShardInfo> TransferLeader(const std::string& address, uint64_t shard_id,
                                                   uint64_t to_node, Timeout timeout) override;
  client::Result<SplitResult> SplitShard(const std::string& address, uint64_t shard_id,
                                         const std::string& key, const client::ShardEpoch& epoch,
                                         Timeout timeout) override;
  Clock::time_point Now() override;
  void Sleep(std::chrono::milliseconds duration) override;

 private:
  client::Client& client_;
  std::unique_ptr<ClusterStubs> stubs_;  // tools/clawctl/node_stubs.h (keeps gRPC headers out of this one)
};

}  // namespace claw::clawctl
