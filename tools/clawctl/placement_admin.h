// PlacementAdmin: what the node and placement commands (node_commands.h, rules_commands.h) do
// outside memory — the claw.v1.Placement RPCs (ListNodes, DrainNode, RemoveNode, Join, Explain,
// GetRules, SetRules) sent to one node, and time —
// behind one interface, so that finding the meta leader, redirects, retries and the drain's wait
// are tested against an in-memory fake with a fake clock.
//
// The placement service runs on the meta shard's leader. Every node serves claw.v1.Placement on
// its client port, but only that leader answers; any other node answers NOT_LEADER
// (client::ErrorCode::kNotLeader) with the leader's id and client address when it knows them,
// else with a retry_after_ms. The caller decides about redirects and retries: each method here is
// one attempt on the node at `address`.
//
// GrpcPlacementAdmin is the real one: a claw.v1.Placement stub per address, errors mapped with
// the client's ErrorFromStatus (DrainNode, RemoveNode, Join and SetRules as writes, so an UNAVAILABLE
// after sending leaves `definite` false).
//
// Thread-safety: one command thread uses an instance. Lifecycle: channels are made on first use
// of an address and kept until the instance is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"

namespace claw::clawctl {

// One node of the placement service's node table (claw.v1.NodeStatus with its NodeRecord and
// NodeLoad), as ListNodes reports it.
struct PlacementNode {
  // claw.v1.NodeRecord.State.
  enum class State : uint8_t { kUnspecified, kUp, kDraining, kRemoved };

  uint64_t node_id = 0;
  std::string name{};
  std::string client_address{};
  std::string peer_address{};
  std::string zone{};
  std::string rack{};
  std::string host{};
  uint64_t capacity_bytes = 0;  // 0 = unknown
  State state = State::kUnspecified;
  // No heartbeat for placement.node_dead_after_ms: its replicas are being re-created elsewhere.
  bool dead = false;
  // Replicas and leaderships the directory and the shard leaders' reports place on the node:
  // what a drain waits for to reach 0.
  uint64_t replicas = 0;
  uint64_t leaders = 0;
  // From the node's last heartbeat; unset before the meta leader heard one.
  std::optional<uint64_t> last_heartbeat_ms_ago{};
  // The load the node last reported about itself (meaningful only with a heartbeat).
  uint64_t reported_replicas = 0;
  uint64_t reported_leaders = 0;
  uint64_t bytes = 0;
  uint64_t disk_used_bytes = 0;
  uint64_t disk_free_bytes = 0;
};

// One placement rule (claw.v1.PlacementRule): how the replicas of the shards in a key range are
// placed. The rule named "default" has no range and covers every shard no other rule covers; the
// others cover [start_key, end_key) (empty end: to the end of the key space).
struct PlacementRule {
  std::string name{};
  std::string start_key{};                  // bytes
  std::string end_key{};                    // bytes
  uint32_t replication_factor = 0;          // voters wanted, 1..7; 0 means 3
  std::vector<std::string> zones{};         // replicas only in these zones (empty: any zone)
  std::vector<std::string> leader_zones{};  // the leader's zones, preferred in order

  bool operator==(const PlacementRule&) const = default;
};

// The rules in force (claw.v1.PlacementRules) and their version, which grows with every change
// (0 before the first).
struct PlacementRules {
  std::vector<PlacementRule> rules{};
  uint64_t version = 0;
};

class PlacementAdmin {
 public:
  using Clock = std::chrono::steady_clock;
  using Timeout = std::chrono::milliseconds;

  virtual ~PlacementAdmin() = default;

  // Placement.ListNodes: every node the meta shard records (REMOVED ones included), by id.
  [[nodiscard]] virtual client::Result<std::vector<PlacementNode>> ListNodes(const std::string& address,
                                                                             Timeout timeout) = 0;
  // Placement.DrainNode / RemoveNode: the node's record afterwards (its load fields unset). The
  // server answers NOT_FOUND for a node it does not know (and DrainNode for a removed one), and
  // RemoveNode FAILED_PRECONDITION, with the reason, while the directory lists a replica on it.
  [[nodiscard]] virtual client::Result<PlacementNode> DrainNode(const std::string& address, uint64_t node_id,
                                                                Timeout timeout) = 0;
  [[nodiscard]] virtual client::Result<PlacementNode> RemoveNode(const std::string& address, uint64_t node_id,
                                                                 Timeout timeout) = 0;
  // Placement.Join: records a new node (`node`'s name, addresses, locality and capacity; its id
  // and state are ignored) and answers its record with the id it was given. A live node of the
  // same name and peer address is answered as it is (a retry, or the node joined by itself);
  // ALREADY_EXISTS when the name or the peer address belongs to another node, INVALID_ARGUMENT
  // when the name or an address is missing.
  [[nodiscard]] virtual client::Result<PlacementNode> Join(const std::string& address, const PlacementNode& node,
                                                           Timeout timeout) = 0;
  // Placement.Explain: the lines describing the shard's placement, as bytes (the rule line holds
  // the shard's boundary keys as they are, so a line need not be UTF-8); NOT_FOUND for a shard
  // the directory does not list.
  [[nodiscard]] virtual client::Result<std::vector<std::string>> Explain(const std::string& address,
                                                                         uint64_t shard_id, Timeout timeout) = 0;

  // Placement.GetRules: the rules in force and their version.
  [[nodiscard]] virtual client::Result<PlacementRules> GetRules(const std::string& address,
                                                                Timeout timeout) = 0;
  // Placement.SetRules: replaces the rules if they are still at `rules.version` (compare-and-set)
  // and answers them with their new version. FAILED_PRECONDITION when the version differs (a
  // concurrent change, or an earlier attempt of this one went through); INVALID_ARGUMENT with a
  // message naming the first bad rule.
  [[nodiscard]] virtual client::Result<PlacementRules> SetRules(const std::string& address,
                                                                const PlacementRules& rules,
                                                                Timeout timeout) = 0;

  virtual Clock::time_point Now() = 0;
  virtual void Sleep(std::chrono::milliseconds duration) = 0;
};

class GrpcPlacementAdmin final : public PlacementAdmin {
 public:
  GrpcPlacementAdmin();
  ~GrpcPlacementAdmin() override;

  client::Result<std::vector<PlacementNode>> ListNodes(const std::string& address, Timeout timeout) override;
  client::Result<PlacementNode> DrainNode(const std::string& address, uint64_t node_id, Timeout timeout) override;
  client::Result<PlacementNode> RemoveNode(const std::string& address, uint64_t node_id, Timeout timeout) override;
  client::Result<PlacementNode> Join(const std::string& address, const PlacementNode& node, Timeout timeout) override;
  client::Result<std::vector<std::string>> Explain(const std::string& address, uint64_t shard_id,
                                                   Timeout timeout) override;
  client::Result<PlacementRules> GetRules(const std::string& address, Timeout timeout) override;
  client::Result<PlacementRules> SetRules(const std::string& address, const PlacementRules& rules,
                                          Timeout timeout) override;
  Clock::time_point Now() override;
  void Sleep(std::chrono::milliseconds duration) override;

 private:
  class Stubs;  // claw.v1.Placement stubs by address (keeps gRPC headers out of this one)

  std::unique_ptr<Stubs> stubs_;
};

}  // namespace claw::clawctl
