// The leader's bookkeeping per peer (thesis §3.5 nextIndex/matchIndex, extended with etcd's
// probe / replicate / snapshot flow control) and the tracker that turns it into quorum decisions.
//
// Owned by Replica; single-threaded. Exists only while the replica leads or campaigns.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "raft/quorum.h"
#include "raft/replica.h"
#include "raft/types.h"

namespace claw::raft {

// Appends in flight to one follower, as a ring of (last index, payload bytes). Grows on demand up
// to its capacity so that idle peers cost nothing.
class Inflights {
 public:
  Inflights(uint32_t capacity, uint64_t max_bytes) : capacity_(capacity), max_bytes_(max_bytes) {}

  void Add(LogIndex last, uint64_t bytes);
  // Releases every append whose last index is <= index (acknowledged).
  void FreeUpTo(LogIndex index);
  // Releases the oldest append: used when its acknowledgement was evidently lost.
  void FreeFirstOne();
  bool Full() const;
  uint32_t count() const { return count_; }
  void Reset();

 private:
  std::vector<std::pair<LogIndex, uint64_t>> ring_;
  uint32_t start_ = 0;
  uint32_t count_ = 0;
  uint64_t bytes_ = 0;
  uint32_t capacity_;
  uint64_t max_bytes_;
};

struct Progress {
  Progress(LogIndex next_index, uint32_t max_inflight, uint64_t max_inflight_bytes)
      : next(next_index), inflights(max_inflight, max_inflight_bytes) {}

  LogIndex match;
  LogIndex next;
  ProgressState state = ProgressState::kProbe;
  // In kSnapshot: the index of the snapshot sent.
  LogIndex pending_snapshot;
  // Heard from since the last check-quorum round (thesis §6.2).
  bool recent_active = false;
  // In kProbe: an append is out; wait for its answer or the next heartbeat response.
  bool probe_sent = false;
  bool learner = false;
  // The leader tick of the latest request this peer acknowledged in the current term (leases).
  uint64_t acked_tick = 0;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(LogIndex snapshot_index);
  // An acknowledgement up to n: returns whether match advanced.
  bool MaybeUpdate(LogIndex n);
  // Records an append of entries up to `last` (with `bytes` payload) sent to this peer.
  void SentAppend(LogIndex last, uint64_t bytes, bool had_entries);
  // A rejection of prev_index `rejected` with the follower's hint: returns false when stale.
  bool MaybeDecreaseTo(LogIndex rejected, LogIndex match_hint);
  bool IsPaused() const;
};

class ProgressTracker {
 public:
  ProgressTracker(uint32_t max_inflight, uint64_t max_inflight_bytes)
      : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

  // Adopts `conf`, keeping the progress of members that stay; new members start probing at
  // next_index. Invalidates every Progress pointer obtained before.
  void SetConf(const ConfState& conf, LogIndex next_index);
  // Forgets all progress: every member probes from next_index, match zero.
  void ResetAll(LogIndex next_index);
  const ConfState& conf() const { return conf_; }

  Progress* Find(NodeId id);
  const Progress* Find(NodeId id) const;
  std::vector<std::pair<NodeId, Progress>>& peers() { return peers_; }
  const std::vector<std::pair<NodeId, Progress>>& peers() const { return peers_; }

  bool IsVoter(NodeId id) const;
  bool IsSingleVoter(NodeId id) const;
  // The highest index a (joint) quorum of voters has durably matched.
  LogIndex QuorumMatch() const;
  // Whether a (joint) quorum of voters was active since the last reset; self counts as active.
  bool QuorumActive(NodeId self) const;
  // The newest leader tick a (joint) quorum acknowledged; the lease starts there.
  uint64_t QuorumAckedTick() const;

  void ResetVotes() { votes_.clear(); }
  void RecordVote(NodeId id, bool granted);
  VoteTally Tally() const;
  bool HasVoted(NodeId id) const;

 private:
  ConfState conf_;
  std::vector<std::pair<NodeId, Progress>> peers_;  // sorted by id; voters and learners
  std::vector<std::pair<NodeId, bool>> votes_;
  uint32_t max_inflight_;
  uint64_t max_inflight_bytes_;
};

}  // namespace claw::raft
