// The end-of-run replica hash check of every fault scenario (reliability.md §10.4 check 3): once
// the load has stopped and the final writes are done, every data shard's leader starts a
// consistency check (a Raft entry; every replica hashes the shard's live keys, values and
// versions at exactly that index) and every replica's node is asked for its hash
// (tools/clawctl/hash_check.h, the code of `clawctl debug hash`). All replicas must have one hash.
// Nodes that are not running are skipped, and named in the summary. Replicas still catching up
// are waited for, within `wait` per shard.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include "cluster.h"

namespace claw::fault {

struct ReplicaHashOutcome {
  bool ok = false;
  // Node ids (1-based) holding a replica whose hash differs from its shard's majority.
  std::set<uint64_t> minority_nodes{};
  // One line: shards checked, replicas agreeing, nodes skipped, time taken.
  std::string summary{};
  // Per inconsistent shard, what differs or who did not answer (empty when ok).
  std::string failures{};
};

ReplicaHashOutcome CheckReplicaHashes(const e2e::TestCluster& cluster, std::chrono::milliseconds wait);

}  // namespace claw::fault
