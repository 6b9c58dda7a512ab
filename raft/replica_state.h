// Replica::State: the private state and internal operations of a Replica, shared by the files
// that implement it (replica.cc: configuration, roles, output, ticks and the public API;
// replica_leader.cc: replication, commit, reads, transfer, hibernation; replica_step.cc:
// message handling by term and role). Not part of the raft/ API: include only from those files.
//
// Single-threaded, like the Replica that owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/rand.h"
#include "raft/read_only.h"
#include "raft/replica.h"

namespace claw::raft {
namespace replica_detail {
enum class SendEmpty : uint8_t { kNo, kYes };

// A write handed to the host and not yet acknowledged by OnPersisted.
struct InflightWrite {
  WriteId id = 0;
  std::optional<LogIndex> snapshot_index;
  std::optional<std::pair<LogIndex, Term>> last_entry;
  // Replies that may leave (or, addressed to ourselves, be stepped) once this write is durable.
  std::vector<Message> after;
};

template <typename T>
inline bool Is(const Message& m) {
  return std::holds_alternative<T>(m.body);
}

// The leader's tick stamped on leader traffic (zero for snapshots).
inline uint64_t LeaderTickOf(const Message& m) {
  if (const auto* a = std::get_if<AppendRequest>(&m.body)) return a->leader_tick;
  if (const auto* h = std::get_if<Heartbeat>(&m.body)) return h->leader_tick;
  if (const auto* z = std::get_if<Hibernate>(&m.body)) return z->leader_tick;
  return 0;
}

// Messages through which a leader of m.term speaks.
inline bool IsFromLeader(const Message& m) {
  return Is<AppendRequest>(m) || Is<Heartbeat>(m) || Is<InstallSnapshot>(m) || Is<Hibernate>(m);
}

}  // namespace replica_detail

struct Replica::State {
  using SendEmpty = replica_detail::SendEmpty;
  using InflightWrite = replica_detail::InflightWrite;
  State(const Options& o, LogStorage* st)
      : opts(o),
        storage(st),
        log(st, o.applied),
        tracker(o.max_inflight_appends, o.max_inflight_bytes),
        rng(o.seed ^ (o.id.value() * 0x9e3779b97f4a7c15ull)),
        lease_ticks(o.LeaseTicks()) {}

  // --- Configuration.
  const ConfState& Conf() const { return tracker.conf(); }
  LogIndex ConfIndex() const {
    return conf_entries.empty() ? base_conf_index : conf_entries.back().first;
  }
  // May this replica campaign? A voter may. So may a replica dropped from the voters by an
  // uncommitted configuration entry (thesis §4.2.2, Figure 4.6): it may hold the only copy of
  // that entry a quorum of the new configuration can elect, and without it the group could
  // stall for good. It counts votes by its latest configuration, as everyone does.
  bool Promotable() const {
    if (log.HasPendingSnapshot()) return false;
    return IsVoter(Conf(), opts.id) || (!conf_entries.empty() && IsVoter(base_conf, opts.id));
  }
  void RecoverConf();
  void OnLogRewritten(LogIndex first_written, std::vector<std::pair<LogIndex, ConfState>> confs);
  void ApplyConf();
  void CollapseCommittedConfs();

  // --- Roles.
  void Reset(Term new_term);
  void BecomeFollower(Term new_term, NodeId new_leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void StartCampaign(ElectionKind kind, bool leader_transfer);
  void OnVoteTally();

  // --- Output helpers.
  void Send(NodeId to, MessageBody body, Term t);
  void Send(NodeId to, MessageBody body) { Send(to, std::move(body), term); }
  void SendAfterPersist(NodeId to, MessageBody body, Term t);
  void SendAfterPersist(NodeId to, MessageBody body) {
    SendAfterPersist(to, std::move(body), term);
  }
  HardState CurrentHardState() const {
    return HardState{.term = term, .vote = vote, .commit = log.committed()};
  }
  SoftState CurrentSoftState() const {
    return SoftState{.role = role, .leader = leader, .hibernating = hibernating};
  }

  // --- Leader.
  LogIndex AppendLocal(EntryType type, std::string data);
  bool SendAppend(NodeId to, SendEmpty send_empty);
  void SendAppendsUntilPaused(NodeId to);
  void SendSnapshot(NodeId to, Progress& pr);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  void SendTimeoutNow(NodeId to);
  bool MaybeCommit();
  void OnCommitAdvanced();
  bool CommittedInTerm() const;
  bool LeaseValid() const;
  void HandleReadRequest(ReadId id, NodeId from);
  void AnswerRead(ReadId id, NodeId from, LogIndex index);
  void DropReads();
  void HandleTransfer(NodeId target);
  void AbortTransfer() { transferee = kNoNode; }
  // Thesis §4.2.3: a voter that heard from a leader within an election timeout (or restarted
  // within one) ignores campaigns. This keeps removed servers from disrupting the group, with or
  // without check-quorum, and it is what bounds the leader's lease (§6.4.1).
  bool InLease() const { return role == Role::kLeader || ticks_since_leader < opts.election_ticks; }
  bool IsIdle() const;
  bool WakesUp(const Message& m) const;
  void EnterHibernation();
  void Wake();

  // --- Step by role.
  void StepMessage(Message m);
  void StepLeader(Message& m);
  void StepCandidate(Message& m);
  void StepFollower(Message& m);
  void HandleVoteRequest(const Message& m, const VoteRequest& req);
  void HandleAppend(const Message& m, AppendRequest& req);
  void HandleHeartbeat(const Message& m, const Heartbeat& hb);
  void HandleSnapshot(const Message& m, const InstallSnapshot& snap);
  void HandleHibernate(const Message& m, const Hibernate& h);
  void HandleAppendResponse(const Message& m, const AppendResponse& resp);
  void HandleHeartbeatResponse(const Message& m, const HeartbeatResponse& resp);

  void TickFollower();
  void TickLeader();
  void ReleaseAfterPersist(std::vector<Message> msgs);

  Options opts;
  LogStorage* storage;
  RaftLog log;
  ProgressTracker tracker;
  ReadOnlyQueue reads;
  SplitMix64 rng;
  const int lease_ticks;

  Term term;
  NodeId vote;
  NodeId leader;
  Role role = Role::kFollower;
  bool hibernating = false;

  // Configuration: the one in effect at base_conf_index (committed or at the snapshot point) and
  // the configuration entries above it, ascending. The newest one is in effect (thesis §4.1).
  ConfState base_conf;
  LogIndex base_conf_index;
  std::vector<std::pair<LogIndex, ConfState>> conf_entries;

  int election_elapsed = 0;
  int heartbeat_elapsed = 0;
  int randomized_election_timeout = 0;
  int idle_ticks = 0;
  int transfer_elapsed = 0;
  // Newest leader tick seen in the current leader's traffic, and the tick of the Hibernate that put
  // this follower to sleep.
  uint64_t leader_tick_seen = 0;
  uint64_t sleep_tick = 0;
  bool heartbeat_pending = false;  // one heartbeat round per Ready serves every new read
  // Ticks since this replica last heard from a leader, saturating at election_ticks; it starts at 0
  // after a restart (before the crash we may have acknowledged a leader whose lease still runs)
  // and is reset by nothing but leader traffic — campaigns and term changes leave it alone.
  int ticks_since_leader = 0;
  // Local tick counter; leases are measured in it.
  uint64_t now = 1;
  // Set when this leader sent TimeoutNow in its term: the target may win without waiting out the
  // voters' refusal period, so no lease can be trusted for the rest of the term.
  bool lease_revoked = false;
  NodeId transferee;
  ElectionKind campaign_kind = ElectionKind::kVote;
  uint64_t uncommitted_bytes = 0;
  bool broadcast_pending = false;
  // Reads that arrived before this leader committed an entry of its term (thesis §6.4 step 1).
  std::vector<std::pair<ReadId, NodeId>> reads_waiting_commit;

  std::vector<Message> msgs;
  std::vector<Message> msgs_after_persist;  // wait for the next write
  std::vector<ReadState> read_states;
  std::vector<InflightWrite> inflight_writes;  // in WriteId order
  WriteId next_write_id = 1;
  HardState prev_hard_state;  // as of the last write taken
  SoftState prev_soft_state;
};

}  // namespace claw::raft
