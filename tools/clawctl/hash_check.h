// The replica hash check (`clawctl debug hash`; also tests/fault's end-of-run check): for each
// shard asked, start a consistency check on its leader (claw.v1.Cluster/CheckConsistency, which
// answers with the Raft index of the check entry), then poll every replica's node
// (GetReplicaHash) until each has hashed the shard at that index, or a bound passes. Replicas
// with a hash other than the majority's are the minority: the check fails naming them. A replica
// that never answers within the bound fails it too, unless its node was excluded (`skip_nodes`).
// A replica that passed the index without the entry (it installed a snapshot past it) makes the
// shard retry with a new check, within the same bound.
//
// Thread-safety: one caller thread. Borrows the Client (must outlive the call).
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl {

struct HashCheckOptions {
  // Shards to check; empty = every data shard (the meta shard has no keys and is left out).
  std::vector<uint64_t> shards{};
  // Nodes not to ask (down on purpose): their replicas are listed as skipped.
  std::set<uint64_t> skip_nodes{};
  // The whole check's bound per shard: starting it on the leader and every replica's answer.
  std::chrono::milliseconds wait{20'000};
  // Between two polls of a pending replica.
  std::chrono::milliseconds poll{100};
};

struct ReplicaHashRow {
  uint64_t node_id = 0;
  uint64_t replica_id = 0;
  std::string address{};
  // done, pending (no answer within the bound), skipped, unavailable (never: the replica passed
  // the index without the entry), not-found (the node has no replica of the shard), error.
  std::string state{};
  std::string hash{};
  uint64_t keys = 0;
  uint64_t applied_index = 0;
  std::string error{};
  bool minority = false;  // its hash differs from the majority's
};

struct ShardHashCheck {
  uint64_t shard_id = 0;
  uint64_t index = 0;  // of the check entry; 0 when no check could be started
  uint64_t leader_node_id = 0;
  std::vector<ReplicaHashRow> replicas{};
  bool consistent = false;  // every asked replica answered, all with one hash
  std::string error{};      // why not, in one line
  int attempts = 0;         // checks started
};

struct HashCheckReport {
  std::vector<ShardHashCheck> shards{};
  bool ok = false;  // every shard consistent
  // The nodes holding a minority replica of some shard.
  std::set<uint64_t> minority_nodes{};
};

// Runs the check; an error only when the shard list or the members cannot be read, or a shard
// asked for does not exist.
[[nodiscard]] client::Result<HashCheckReport> RunHashCheck(client::Client& client,
                                                           const HashCheckOptions& options);

// The verdict on one shard from its rows: marks the replicas whose hash is not the majority's
// (with no strict majority, every replica that answered is marked), and sets `consistent` (every
// replica not skipped answered, all with one hash) and `error` (what differs, who did not answer).
void JudgeHashes(ShardHashCheck& check);

// Table: SHARD, INDEX, NODE, REPLICA, STATE, HASH, KEYS (a "*" after the hash marks the
// minority). JSON: {"ok":bool,"minority_nodes":["2"],"shards":[{"shard_id","index",
// "leader_node_id","consistent","error","replicas":[{"node_id","replica_id","address","state",
// "hash","keys","applied_index","minority","error"}]}]}.
std::string FormatHashCheck(const HashCheckReport& report, OutputFormat format);
// One line per inconsistent shard, for stderr: what differs or who did not answer.
std::string DescribeHashFailures(const HashCheckReport& report);

}  // namespace claw::clawctl
