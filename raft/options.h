// Tuning and identity of one Replica. Plain struct, copied into the replica at construction.
// Validate() names the first bad field; the Replica constructor aborts on an invalid Options.
#pragma once

#include <cstdint>
#include <string>

#include "raft/types.h"

namespace claw::raft {

enum class ReadMode : uint8_t {
  // ReadIndex with a heartbeat round per batch of reads (thesis §6.4). Safe under any clock.
  kReadIndex,
  // Leader lease (thesis §6.4.1): skip the heartbeat round while a quorum acknowledged the leader
  // within the lease. Needs check_quorum and bounded clock drift; falls back to kReadIndex whenever
  // the lease is not known to hold.
  kLease,
};

struct Options {
  // This replica's node id; never kNoNode.
  NodeId id;

  // Ticks without hearing from a leader before a follower campaigns. The actual timeout is drawn
  // uniformly from [election_ticks, 2 * election_ticks) per term (thesis §3.4). Default 10.
  int election_ticks = 10;
  // Ticks between leader heartbeats; must be < election_ticks. Default 1.
  int heartbeat_ticks = 1;

  // Pre-vote (thesis §9.6): a partitioned node cannot disrupt the group when it returns.
  bool pre_vote = true;
  // Check-quorum (thesis §6.2): a leader that did not hear from a quorum within an election timeout
  // steps down. Required by kLease. (Voters ignore campaigns for an election timeout after hearing
  // from a leader either way, thesis §4.2.3.)
  bool check_quorum = true;

  ReadMode read_mode = ReadMode::kLease;
  // Bound on the relative rate difference between any two nodes' tick clocks, in parts per million.
  // The lease is (election_ticks - 1) * (1 - d) / (1 + d) - 1 ticks, rounded down. Default 5%:
  // generous, because a tick timer also jitters; the host must deliver catch-up ticks after a stall
  // before it serves any read.
  uint32_t max_clock_drift_ppm = 50'000;

  // Soft cap on the entry payload bytes in one AppendRequest (at least one entry is always sent).
  uint64_t max_append_bytes = 1 << 20;
  // Appends in flight per follower in the replicate state (pipelining window).
  uint32_t max_inflight_appends = 256;
  // Entry payload bytes in flight per follower; 0 = no byte limit.
  uint64_t max_inflight_bytes = 0;
  // Payload bytes the leader accepts beyond its commit index before refusing proposals; 0 = no
  // limit. One proposal is always accepted when nothing is uncommitted.
  uint64_t max_uncommitted_bytes = 64ull << 20;
  // Soft cap on committed entry bytes handed out per Ready (at least one entry is).
  uint64_t max_apply_bytes = 16ull << 20;

  // A leader that stayed idle (everything replicated, committed, no reads or transfers pending) for
  // this many ticks hibernates the group; 0 disables hibernation. See Replica's class comment.
  int hibernate_after_ticks = 0;

  // The host's durable applied index at start: committed entries above it are handed out again.
  LogIndex applied;

  // Seeds the election-timeout randomization. Hosts pass something distinct per (node, group).
  uint64_t seed = 0;

  // Empty when valid, else a message naming the field.
  std::string Validate() const;
  // Leader lease length in ticks derived from election_ticks and max_clock_drift_ppm; 0 = no lease.
  int LeaseTicks() const;
};

}  // namespace claw::raft
