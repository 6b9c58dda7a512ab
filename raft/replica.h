// Replica: the Raft state machine of one replica of one group (Ongaro's thesis, with etcd/raft's
// practical extensions). Deterministic and I/O-free: no threads, no clock, no sockets, no disk.
//
// Ownership and threads: the host owns the Replica and the LogStorage it reads (which must outlive
// it). A Replica is thread-compatible: one thread at a time (the raft worker that owns the group).
// A node hosts thousands of them, so the footprint is a few hundred bytes plus the unstable log
// tail and, on leaders, per-peer progress.
//
// Inputs: Tick() (time), Step() (a peer's message), Propose / ProposeConfChange / ReadIndex /
// TransferLeadership / Campaign / WakeUp (the host's requests), OnPersisted / OnApplied (the
// host's progress), ReportUnreachable / ReportSnapshot (transport feedback).
//
// Outputs: Ready. The host loop is:
//   1. Feed inputs. 2. If HasReady(), r = TakeReady().
//   3. Hand r.snapshot, r.entries, r.hard_state to the log writer (in this order, one atomic batch
//      if it can; batches of many groups may share one sync). Writes of one replica are durable in
//      WriteId order. When write r.write_id is durable, call OnPersisted(r.write_id).
//   4. Send r.messages now. They never depend on unpersisted local state: replies that do
//      (votes, append acks) are held inside the replica and released by OnPersisted into a later
//      Ready. This is what lets a leader send appends before its own write is durable while
//      counting itself in the quorum only after it is (thesis §10.2.1).
//   5. Apply r.committed_entries in order (they are committed and durable), serve r.read_states
//      once applied >= index, then call OnApplied(last applied index), possibly later.
//
// Time: one Tick() per tick interval of the host's monotonic clock. After a stall the host must
// deliver the missed ticks before serving reads: leases are counted in ticks (see Options).
//
// Hibernation: a node hosting thousands of idle groups should not tick or heartbeat them. With
// Options::hibernate_after_ticks > 0 an idle leader sends Hibernate to its followers and stops
// ticking itself; SoftState::hibernating tells the host it may stop calling Tick(). Any message,
// proposal, read or transfer wakes the group. A hibernating follower cannot notice a dead leader
// by itself: the host calls WakeUp(WakeReason::kLeaderSuspected) when node-level liveness says the
// leader's node is gone, and the follower becomes ready to vote and campaign. Hibernation never
// affects safety: a hibernating leader gives up its lease.
//
// Safety-critical rules implemented here (each cited at its implementation):
//   - a configuration takes effect when appended, one change at a time, and only after the leader
//     committed an entry of its own term (thesis §4.1, and the fix in Ongaro's raft-dev post of
//     2015-07 for single-server changes);
//   - only entries of the current term commit by counting replicas (thesis §3.6.2);
//   - a candidate counts its own vote only once its term and vote are durable;
//   - voters refuse campaigns for an election timeout after hearing from a leader or after start,
//     which is what makes leases safe (§6.4.1) even across restarts.
// A broken invariant (corrupt storage, misuse of the API) is a check that aborts (raft/check.h).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/conf_change.h"
#include "raft/log_storage.h"
#include "raft/message.h"
#include "raft/options.h"
#include "raft/ready.h"
#include "raft/types.h"

namespace claw::raft {

enum class ProposeError : uint8_t {
  kNotLeader,          // route to SoftState::leader
  kTransferring,       // leadership is moving; retry shortly
  kUncommittedLimit,   // Options::max_uncommitted_bytes reached; back off
  kConfChangePending,  // a configuration change is not yet committed, or the joint one not left
  kNotReady,           // the new leader has not committed an entry of its term yet
  kInvalidConfChange,  // NextConf refused it
};

enum class WakeReason : uint8_t {
  kActivity,         // the host wants the group ticking again (e.g. a client request arrived)
  kLeaderSuspected,  // node liveness lost the leader's node: be ready to elect a new one
};

enum class SnapshotOutcome : uint8_t { kSent, kFailed };

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };

// A leader's view of one peer, for status pages and the placement service.
struct PeerStatus {
  NodeId id{};
  LogIndex match{};
  LogIndex next{};
  ProgressState state = ProgressState::kProbe;
  bool learner = false;
  bool recent_active = false;
};

struct Status {
  NodeId id{};
  HardState hard_state{};
  SoftState soft_state{};
  LogIndex applied{};
  LogIndex last_index{};
  LogIndex persisted_index{};
  ConfState conf{};
  std::vector<PeerStatus> peers;  // leaders only
  bool lease_valid = false;       // leaders only
};

class RaftLog;
class ProgressTracker;
class ReadOnlyQueue;

class Replica {
 public:
  // Recovers term, vote, commit and configuration from `storage`. A brand-new group is bootstrapped
  // by giving every initial voter a storage whose snapshot point carries the initial ConfState.
  Replica(const Options& options, LogStorage* storage);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  void Tick();
  void Step(Message m);

  // Appends a command at the current term; the returned index is where it will commit if it
  // commits at all (the host matches it against applied entries of the same term). Proposals
  // between two TakeReady() calls leave in one AppendRequest per follower (batching).
  [[nodiscard]] std::expected<LogIndex, ProposeError> Propose(std::string data);
  [[nodiscard]] std::expected<LogIndex, ProposeError> ProposeConfChange(const ConfChange& change);

  // Requests a linearizable read point; the answer arrives as a ReadState with the same id.
  void ReadIndex(ReadId id);
  // Asks the leader to hand leadership to `target` (thesis §3.10). On a follower it is forwarded.
  void TransferLeadership(NodeId target);
  // Starts an election now if this replica is a voter (pre-vote first when enabled). Refused
  // while the replica heard from a leader within an election timeout, or restarted within one
  // after having seen a term: its vote may back that leader's lease. To move leadership use
  // TransferLeadership.
  void Campaign();
  void WakeUp(WakeReason reason);

  void ReportUnreachable(NodeId peer);
  void ReportSnapshot(NodeId peer, SnapshotOutcome outcome);

  bool HasReady() const;
  Ready TakeReady();
  void OnPersisted(WriteId id);
  void OnApplied(LogIndex index);

  NodeId id() const;
  Term term() const;
  Role role() const;
  NodeId leader() const;
  LogIndex commit() const;
  LogIndex applied() const;
  LogIndex last_index() const;
  bool hibernating() const;
  // Leaders: ticks since the latest tick at which a quorum (counting itself) had acknowledged it,
  // i.e. how old its knowledge that it still leads (and that its commit index is the group's)
  // may be. Everyone else, a leader that has not committed an entry of its term yet (its commit
  // index may lag the group's), and one no quorum acknowledged yet: UINT64_MAX.
  uint64_t TicksSinceQuorumAck() const;
  const ConfState& conf() const;
  Status GetStatus() const;

  // The replica's view of its log (durable and not yet durable entries), for checkers and
  // diagnostics. Same errors as LogStorage.
  std::expected<Term, LogError> TermAt(LogIndex i) const;
  std::expected<std::vector<Entry>, LogError> ReadEntries(LogIndex lo, LogIndex hi) const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace claw::raft
