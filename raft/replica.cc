#include "raft/replica.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "raft/check.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/rand.h"
#include "raft/read_only.h"

namespace claw::raft {
namespace {

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
bool Is(const Message& m) {
  return std::holds_alternative<T>(m.body);
}

// The leader's tick stamped on leader traffic (zero for snapshots).
uint64_t LeaderTickOf(const Message& m) {
  if (const auto* a = std::get_if<AppendRequest>(&m.body)) return a->leader_tick;
  if (const auto* h = std::get_if<Heartbeat>(&m.body)) return h->leader_tick;
  if (const auto* z = std::get_if<Hibernate>(&m.body)) return z->leader_tick;
  return 0;
}

// Messages through which a leader of m.term speaks.
bool IsFromLeader(const Message& m) {
  return Is<AppendRequest>(m) || Is<Heartbeat>(m) || Is<InstallSnapshot>(m) || Is<Hibernate>(m);
}

}  // namespace

struct Replica::State {
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

// ---------------------------------------------------------------------------------------------
// Configuration

void Replica::State::RecoverConf() {
  const InitialState init = storage->GetInitialState();
  base_conf = init.conf;
  base_conf_index = log.FirstIndex() - 1;
  conf_entries.clear();
  // Configuration entries above the snapshot point are found in the log itself. The unapplied
  // tail of a live log is short, so this scan is cheap; storage could index them if it were not.
  const LogIndex last = log.LastIndex();
  for (LogIndex lo = log.FirstIndex(); lo <= last;) {
    auto batch = log.Slice(lo, last + 1, 1 << 20);
    CLAW_CHECK_MSG(batch.has_value() && !batch->empty(), "log unreadable while recovering");
    for (const Entry& e : *batch) {
      if (e.type != EntryType::kConfig) continue;
      auto conf = DecodeConfState(e.data);
      CLAW_CHECK_MSG(conf.has_value(), "corrupt configuration entry in the log");
      conf_entries.emplace_back(e.index, std::move(*conf));
    }
    lo = batch->back().index + 1;
  }
  ApplyConf();
}

void Replica::State::OnLogRewritten(LogIndex first_written,
                                    std::vector<std::pair<LogIndex, ConfState>> confs) {
  const bool had = !conf_entries.empty() && conf_entries.back().first >= first_written;
  std::erase_if(conf_entries, [&](const auto& c) { return c.first >= first_written; });
  bool added = false;
  for (auto& c : confs) {
    if (c.first >= first_written) {
      conf_entries.push_back(std::move(c));
      added = true;
    }
  }
  if (had || added) ApplyConf();
}

void Replica::State::ApplyConf() {
  const ConfState& current = conf_entries.empty() ? base_conf : conf_entries.back().second;
  tracker.SetConf(current, log.LastIndex() + 1);
  if (role != Role::kLeader) return;
  if (Progress* self = tracker.Find(opts.id)) {
    if (self->state != ProgressState::kReplicate) self->BecomeReplicate();
    self->MaybeUpdate(log.PersistedIndex());
  }
  if (!transferee.IsZero() && !IsVoter(Conf(), transferee)) AbortTransfer();
  broadcast_pending = true;  // new members need appends; commit may move with the new quorum
  if (MaybeCommit()) OnCommitAdvanced();
}

void Replica::State::CollapseCommittedConfs() {
  // Committed configuration entries can never be truncated: fold all but the uncommitted ones.
  auto it = conf_entries.begin();
  while (it != conf_entries.end() && it->first <= log.committed()) ++it;
  if (it == conf_entries.begin()) return;
  base_conf_index = std::prev(it)->first;
  base_conf = std::move(std::prev(it)->second);
  conf_entries.erase(conf_entries.begin(), it);
}

// ---------------------------------------------------------------------------------------------
// Roles

void Replica::State::Reset(Term new_term) {
  // A deposed leader holds no lease of its own and acknowledged no other leader.
  if (role == Role::kLeader) ticks_since_leader = opts.election_ticks;
  if (term != new_term) {
    term = new_term;
    vote = kNoNode;
  }
  leader = kNoNode;
  election_elapsed = 0;
  heartbeat_elapsed = 0;
  idle_ticks = 0;
  transfer_elapsed = 0;
  leader_tick_seen = 0;
  sleep_tick = 0;
  heartbeat_pending = false;
  randomized_election_timeout = opts.election_ticks + int(rng.Below(uint64_t(opts.election_ticks)));
  AbortTransfer();
  tracker.ResetVotes();
  tracker.ResetAll(log.LastIndex() + 1);
  DropReads();
  uncommitted_bytes = 0;
  lease_revoked = false;
  broadcast_pending = false;
}

void Replica::State::BecomeFollower(Term new_term, NodeId new_leader) {
  Reset(new_term);
  role = Role::kFollower;
  leader = new_leader;
}

void Replica::State::BecomePreCandidate() {
  CLAW_CHECK_MSG(role != Role::kLeader, "a leader cannot become pre-candidate");
  // Thesis §9.6: neither the term nor the vote changes.
  role = Role::kPreCandidate;
  leader = kNoNode;
  tracker.ResetVotes();
}

void Replica::State::BecomeCandidate() {
  CLAW_CHECK_MSG(role != Role::kLeader, "a leader cannot become candidate");
  Reset(term + 1);
  vote = opts.id;
  role = Role::kCandidate;
}

void Replica::State::BecomeLeader() {
  CLAW_CHECK_MSG(role == Role::kCandidate, "only a candidate can become leader");
  const Term t = term;
  Reset(t);
  vote = opts.id;
  role = Role::kLeader;
  leader = opts.id;
  // A leader elected to commit its own removal (see Promotable) may not be in its configuration.
  if (Progress* self = tracker.Find(opts.id)) {
    self->BecomeReplicate();
    self->MaybeUpdate(log.PersistedIndex());
    self->acked_tick = now;
    self->recent_active = true;
  }
  // Thesis §6.4: a no-op entry commits everything before it and opens reads for this term.
  AppendLocal(EntryType::kNormal, std::string());
}

void Replica::State::StartCampaign(ElectionKind kind, bool leader_transfer) {
  if (!Promotable()) return;
  Term vote_term;
  if (kind == ElectionKind::kPreVote) {
    BecomePreCandidate();
    vote_term = term + 1;
  } else {
    BecomeCandidate();
    vote_term = term;
  }
  campaign_kind = kind;
  if (kind == ElectionKind::kPreVote) {
    tracker.RecordVote(opts.id, true);
  } else {
    // Our own vote counts only once term and vote are durable.
    SendAfterPersist(opts.id, VoteResponse{.kind = kind, .granted = true}, vote_term);
  }
  const ConfState& conf = Conf();
  std::vector<NodeId> voters = conf.voters;
  voters.insert(voters.end(), conf.voters_outgoing.begin(), conf.voters_outgoing.end());
  std::sort(voters.begin(), voters.end());
  voters.erase(std::unique(voters.begin(), voters.end()), voters.end());
  for (NodeId v : voters) {
    if (v == opts.id) continue;
    Send(v,
         VoteRequest{.kind = kind,
                     .last_index = log.LastIndex(),
                     .last_term = log.LastTerm(),
                     .leader_transfer = leader_transfer},
         vote_term);
  }
  if (kind == ElectionKind::kPreVote) OnVoteTally();
}

void Replica::State::OnVoteTally() {
  switch (tracker.Tally()) {
    case VoteTally::kPending:
      return;
    case VoteTally::kLost:
      BecomeFollower(term, kNoNode);
      return;
    case VoteTally::kWon:
      if (role == Role::kPreCandidate) {
        StartCampaign(ElectionKind::kVote, false);
      } else {
        BecomeLeader();
      }
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Output helpers

void Replica::State::Send(NodeId to, MessageBody body, Term t) {
  // TakeReady hands the buffer to the host; size the next one for a round to every peer at once.
  if (msgs.capacity() == 0) msgs.reserve(tracker.peers().size());
  msgs.push_back(Message{.from = opts.id, .to = to, .term = t, .body = std::move(body)});
}

void Replica::State::SendAfterPersist(NodeId to, MessageBody body, Term t) {
  Message m{.from = opts.id, .to = to, .term = t, .body = std::move(body)};
  if (log.HasUnsentWrites() || CurrentHardState() != prev_hard_state) {
    msgs_after_persist.push_back(std::move(m));  // rides on the next write
  } else if (!inflight_writes.empty()) {
    inflight_writes.back().after.push_back(std::move(m));
  } else if (to == opts.id) {
    StepMessage(std::move(m));
  } else {
    msgs.push_back(std::move(m));
  }
}

void Replica::State::ReleaseAfterPersist(std::vector<Message> released) {
  for (Message& m : released) {
    if (m.to == opts.id) {
      StepMessage(std::move(m));
    } else {
      msgs.push_back(std::move(m));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Leader

LogIndex Replica::State::AppendLocal(EntryType type, std::string data) {
  const LogIndex index = log.LastIndex() + 1;
  uncommitted_bytes += data.size();
  std::vector<std::pair<LogIndex, ConfState>> confs;
  if (type == EntryType::kConfig) {
    auto conf = DecodeConfState(data);
    CLAW_CHECK(conf.has_value());
    confs.emplace_back(index, std::move(*conf));
  }
  std::vector<Entry> entries;
  entries.push_back(Entry{.term = term, .index = index, .type = type, .data = std::move(data)});
  log.Append(std::move(entries));
  broadcast_pending = true;
  if (!confs.empty()) OnLogRewritten(index, std::move(confs));
  return index;
}

bool Replica::State::SendAppend(NodeId to, SendEmpty send_empty) {
  Progress* pr = tracker.Find(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  const LogIndex prev = pr->next - 1;
  auto prev_term = log.TermAt(prev);
  if (!prev_term) {
    SendSnapshot(to, *pr);
    return false;
  }
  std::vector<Entry> entries;
  if (pr->next <= log.LastIndex()) {
    auto slice = log.Slice(pr->next, log.LastIndex() + 1, opts.max_append_bytes);
    if (!slice) {
      SendSnapshot(to, *pr);
      return false;
    }
    entries = std::move(*slice);
  }
  if (entries.empty() && send_empty == SendEmpty::kNo) return false;
  uint64_t bytes = 0;
  for (const Entry& e : entries) bytes += e.PayloadSize();
  const LogIndex last = entries.empty() ? prev : entries.back().index;
  const bool had_entries = !entries.empty();
  Send(to, AppendRequest{.prev_index = prev,
                         .prev_term = *prev_term,
                         .commit = log.committed(),
                         .entries = std::move(entries),
                         .leader_tick = now});
  pr->SentAppend(last, bytes, had_entries);
  return true;
}

void Replica::State::SendAppendsUntilPaused(NodeId to) {
  // Bounded by the in-flight window; each round sends at least one entry.
  for (uint32_t i = 0; i <= opts.max_inflight_appends && SendAppend(to, SendEmpty::kNo); ++i) {
  }
}

void Replica::State::SendSnapshot(NodeId to, Progress& pr) {
  auto snap = storage->Snapshot();
  if (!snap) return;  // being built: the next heartbeat response retries
  pr.BecomeSnapshot(snap->index);
  Send(to, InstallSnapshot{.meta = std::move(*snap)});
}

void Replica::State::BroadcastAppend() {
  for (auto& [id, pr] : tracker.peers()) {
    if (id == opts.id) continue;
    SendAppend(id, SendEmpty::kYes);
    SendAppendsUntilPaused(id);
  }
}

void Replica::State::BroadcastHeartbeat() {
  const ReadId read_id = reads.LastId();
  for (auto& [id, pr] : tracker.peers()) {
    if (id == opts.id) continue;
    Send(id, Heartbeat{.commit = std::min(pr.match, log.committed()),
                       .read_id = read_id,
                       .leader_tick = now});
  }
}

void Replica::State::SendTimeoutNow(NodeId to) {
  lease_revoked = true;
  Send(to, TimeoutNow{});
}

bool Replica::State::MaybeCommit() {
  const LogIndex quorum = tracker.QuorumMatch();
  // Thesis §3.6.2: only an entry of the current term commits by counting replicas.
  if (quorum <= log.committed() || !log.MatchTerm(quorum, term)) return false;
  log.CommitTo(quorum);
  return true;
}

bool Replica::State::CommittedInTerm() const { return log.MatchTerm(log.committed(), term); }

void Replica::State::OnCommitAdvanced() {
  broadcast_pending = true;
  CollapseCommittedConfs();
  if (CommittedInTerm() && !reads_waiting_commit.empty()) {
    auto waiting = std::move(reads_waiting_commit);
    reads_waiting_commit.clear();
    for (auto& [id, from] : waiting) HandleReadRequest(id, from);
  }
  if (ConfIndex() > log.committed()) return;
  if (Conf().IsJoint()) {
    // Thesis §4.3: once C_old,new commits, the leader moves on to C_new by itself.
    AppendLocal(EntryType::kConfig, EncodeConfState(LeaveJoint(Conf())));
    return;
  }
  if (!IsVoter(Conf(), opts.id)) {
    // Removed from the voters and the removal committed (thesis §4.2.2): hand over and step down.
    NodeId best;
    LogIndex best_match;
    for (const auto& [id, pr] : tracker.peers()) {
      if (id != opts.id && !pr.learner && pr.match >= best_match) {
        best = id;
        best_match = pr.match;
      }
    }
    // Its uncommitted tail may be missing there; it was never acknowledged, so it may be lost.
    if (!best.IsZero()) SendTimeoutNow(best);
    BecomeFollower(term, kNoNode);
  }
}

bool Replica::State::LeaseValid() const {
  if (lease_ticks <= 0 || lease_revoked || role != Role::kLeader || hibernating) return false;
  if (!transferee.IsZero() || !CommittedInTerm()) return false;
  const uint64_t start = tracker.QuorumAckedTick();
  return start != 0 && now - start < uint64_t(lease_ticks);
}

void Replica::State::HandleReadRequest(ReadId id, NodeId from) {
  if (!CommittedInTerm()) {
    reads_waiting_commit.emplace_back(id, from);
    return;
  }
  if (tracker.IsSingleVoter(opts.id) || LeaseValid()) {
    AnswerRead(id, from, log.committed());
    return;
  }
  if (reads.Add(id, from, log.committed())) heartbeat_pending = true;
}

void Replica::State::AnswerRead(ReadId id, NodeId from, LogIndex index) {
  if (from == opts.id) {
    read_states.push_back(ReadState{.id = id, .index = index, .status = ReadStatus::kReady});
  } else {
    Send(from, ReadIndexResponse{.read_id = id, .index = index});
  }
}

void Replica::State::DropReads() {
  for (PendingRead& r : reads.TakeAll()) {
    if (r.from == opts.id) {
      read_states.push_back(ReadState{.id = r.id, .index = {}, .status = ReadStatus::kDropped});
    }
  }
  for (auto& [id, from] : reads_waiting_commit) {
    if (from == opts.id) {
      read_states.push_back(ReadState{.id = id, .index = {}, .status = ReadStatus::kDropped});
    }
  }
  reads_waiting_commit.clear();
}

void Replica::State::HandleTransfer(NodeId target) {
  if (target == opts.id) {
    AbortTransfer();
    return;
  }
  Progress* pr = tracker.Find(target);
  if (pr == nullptr || !IsVoter(Conf(), target) || target == transferee) return;
  transferee = target;
  transfer_elapsed = 0;  // the transfer must finish within an election timeout
  if (pr->match == log.LastIndex()) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target, SendEmpty::kNo);
  }
}

bool Replica::State::IsIdle() const {
  if (role != Role::kLeader || !transferee.IsZero() || !reads.empty() ||
      !reads_waiting_commit.empty() || broadcast_pending || heartbeat_pending ||
      !inflight_writes.empty() || log.HasUnsentWrites() || Conf().IsJoint() ||
      ConfIndex() > log.committed()) {
    return false;
  }
  const LogIndex last = log.LastIndex();
  if (log.committed() != last || log.PersistedIndex() != last) return false;
  for (const auto& [id, pr] : tracker.peers()) {
    if (pr.match != last) return false;
  }
  return true;
}

bool Replica::State::WakesUp(const Message& m) const {
  // Messages that were in flight when the group fell asleep must not wake it, or it would never
  // stay asleep: plain acknowledgements to a leader, and content-free leader traffic to a
  // follower (which it still handles: a sleeping replica answers, it just does not tick).
  if (m.term != term) return true;
  if (role == Role::kLeader) {
    if (const auto* hb = std::get_if<HeartbeatResponse>(&m.body)) return !hb->read_id.IsZero();
    if (const auto* resp = std::get_if<AppendResponse>(&m.body)) {
      return resp->rejected || resp->index != log.LastIndex();
    }
    return true;
  }
  // Traffic the leader sent after it woke carries newer ticks: then we wake too. A follower that
  // acknowledged an awake leader must be awake, because WakeUp(kLeaderSuspected) only lets
  // sleeping followers vote early, and the acknowledgement may back the leader's lease.
  if (m.from != leader) return true;
  if (Is<Hibernate>(m)) return false;
  if (const auto* hb = std::get_if<Heartbeat>(&m.body)) return hb->leader_tick > sleep_tick;
  if (const auto* req = std::get_if<AppendRequest>(&m.body)) {
    return !req->entries.empty() || req->leader_tick > sleep_tick;
  }
  return true;
}

void Replica::State::EnterHibernation() {
  for (const auto& [id, pr] : tracker.peers()) {
    if (id == opts.id) continue;
    Send(id, Hibernate{.index = log.LastIndex(), .commit = log.committed(), .leader_tick = now});
  }
  hibernating = true;
  // No ticks while asleep: push every acknowledgement dated so far out of the lease.
  now += uint64_t(lease_ticks) + 1;
}

void Replica::State::Wake() {
  if (!hibernating) return;
  hibernating = false;
  idle_ticks = 0;
  election_elapsed = 0;
  if (role == Role::kLeader) {
    for (auto& [id, pr] : tracker.peers()) pr.recent_active = id == opts.id;
    heartbeat_pending = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Step

void Replica::State::StepMessage(Message m) {
  if (m.to != opts.id || m.from.IsZero()) return;  // misrouted
  if (hibernating && WakesUp(m)) Wake();

  if (m.term > term) {
    if (const auto* req = std::get_if<VoteRequest>(&m.body)) {
      // Thesis §4.2.3 / §6.4.1: while a leader is known to be alive, ignore campaigns, unless the
      // leader itself asked for this one.
      if (InLease() && !req->leader_transfer) return;
      if (req->kind == ElectionKind::kVote) BecomeFollower(m.term, kNoNode);
      // A pre-vote request changes nothing here.
    } else if (const auto* resp = std::get_if<VoteResponse>(&m.body);
               resp != nullptr && resp->kind == ElectionKind::kPreVote && resp->granted) {
      // A granted pre-vote carries the term we would campaign for; ours is unchanged.
    } else {
      BecomeFollower(m.term, IsFromLeader(m) ? m.from : kNoNode);
    }
  } else if (m.term < term) {
    if (Is<AppendRequest>(m) || Is<Heartbeat>(m) || Is<Hibernate>(m)) {
      // Figure 3.1: a stale leader learns our term and steps down. We may have moved on while
      // cut off; since voters that hear from a leader ignore our campaigns (§4.2.3), this is how
      // we rejoin.
      SendAfterPersist(m.from, AppendResponse{});
    } else if (const auto* req = std::get_if<VoteRequest>(&m.body)) {
      // Figure 3.1: refuse with our term so the candidate catches up. Staying silent (as etcd
      // does for votes) can deadlock: a candidate whose configuration lists us as its only other
      // voter would campaign at stale terms forever while we campaign only to others.
      SendAfterPersist(m.from, VoteResponse{.kind = req->kind, .granted = false});
    }
    return;
  }

  if (const auto* req = std::get_if<VoteRequest>(&m.body)) {
    HandleVoteRequest(m, *req);
    return;
  }
  switch (role) {
    case Role::kLeader:
      StepLeader(m);
      break;
    case Role::kCandidate:
    case Role::kPreCandidate:
      StepCandidate(m);
      break;
    case Role::kFollower:
      StepFollower(m);
      break;
  }
}

void Replica::State::HandleVoteRequest(const Message& m, const VoteRequest& req) {
  const bool can_vote = vote == m.from || (vote.IsZero() && leader.IsZero()) ||
                        (req.kind == ElectionKind::kPreVote && m.term > term);
  // Thesis §3.6.1: grant only to a candidate whose log is at least as up-to-date as ours.
  if (can_vote && log.IsUpToDate(req.last_index, req.last_term)) {
    if (req.kind == ElectionKind::kVote) {
      election_elapsed = 0;
      vote = m.from;
    }
    SendAfterPersist(m.from, VoteResponse{.kind = req.kind, .granted = true}, m.term);
  } else {
    SendAfterPersist(m.from, VoteResponse{.kind = req.kind, .granted = false});
  }
}

void Replica::State::StepLeader(Message& m) {
  if (IsFromLeader(m)) {
    CLAW_CHECK_MSG(false, "two leaders in one term: election safety violated");
  }
  if (auto* resp = std::get_if<AppendResponse>(&m.body)) {
    HandleAppendResponse(m, *resp);
  } else if (auto* hb = std::get_if<HeartbeatResponse>(&m.body)) {
    HandleHeartbeatResponse(m, *hb);
  } else if (auto* read = std::get_if<ReadIndexRequest>(&m.body)) {
    if (tracker.Find(m.from) != nullptr) HandleReadRequest(read->read_id, m.from);
  } else if (auto* transfer = std::get_if<TransferLeaderRequest>(&m.body)) {
    HandleTransfer(transfer->target);
  }
}

void Replica::State::HandleAppendResponse(const Message& m, const AppendResponse& resp) {
  Progress* pr = tracker.Find(m.from);
  if (pr == nullptr) return;
  pr->recent_active = true;
  pr->acked_tick = std::max(pr->acked_tick, resp.leader_tick);
  if (resp.rejected) {
    LogIndex hint = resp.reject_hint;
    if (!resp.hint_term.IsZero()) hint = log.FindConflictByTerm(hint, resp.hint_term).first;
    if (pr->MaybeDecreaseTo(resp.index, hint)) {
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      SendAppend(m.from, SendEmpty::kYes);
    }
    return;
  }
  const bool was_paused = pr->IsPaused();
  if (!pr->MaybeUpdate(resp.index) &&
      !(pr->match == resp.index && pr->state == ProgressState::kProbe)) {
    return;
  }
  switch (pr->state) {
    case ProgressState::kProbe:
      pr->BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr->match + 1 >= log.FirstIndex()) {
        pr->BecomeProbe();
        pr->BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr->inflights.FreeUpTo(resp.index);
      break;
  }
  if (MaybeCommit()) {
    OnCommitAdvanced();
  } else if (was_paused) {
    SendAppend(m.from, SendEmpty::kNo);
  }
  if (role != Role::kLeader) return;  // stepped down after committing its own removal
  // Committing may have appended a configuration entry (leaving a joint configuration), which
  // rebuilds the tracker: look the peer up again.
  pr = tracker.Find(m.from);
  if (pr == nullptr) return;
  SendAppendsUntilPaused(m.from);
  if (m.from == transferee && pr->match == log.LastIndex()) SendTimeoutNow(m.from);
}

void Replica::State::HandleHeartbeatResponse(const Message& m, const HeartbeatResponse& resp) {
  Progress* pr = tracker.Find(m.from);
  if (pr == nullptr) return;
  pr->recent_active = true;
  pr->acked_tick = std::max(pr->acked_tick, resp.leader_tick);
  pr->probe_sent = false;
  // The peer is alive, yet the window is full: acknowledgements were lost. Free one slot so that
  // the next append provokes a fresh acknowledgement (or a rejection that resets next).
  if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) pr->inflights.FreeFirstOne();
  if (pr->match < log.LastIndex() || pr->state == ProgressState::kProbe) {
    SendAppend(m.from, SendEmpty::kYes);
  }
  if (resp.read_id.IsZero() || !IsVoter(Conf(), m.from)) return;
  for (PendingRead& r : reads.Ack(resp.read_id, m.from, opts.id, tracker)) {
    AnswerRead(r.id, r.from, r.index);
  }
}

void Replica::State::StepCandidate(Message& m) {
  if (IsFromLeader(m)) {
    // A leader of our term exists (thesis §3.4).
    BecomeFollower(m.term, m.from);
    StepFollower(m);
    return;
  }
  if (const auto* resp = std::get_if<VoteResponse>(&m.body)) {
    if (resp->kind != campaign_kind) return;
    if (!IsVoter(Conf(), m.from)) return;
    tracker.RecordVote(m.from, resp->granted);
    OnVoteTally();
  }
}

void Replica::State::StepFollower(Message& m) {
  if (IsFromLeader(m)) {
    const uint64_t tick = LeaderTickOf(m);
    // A Hibernate older than traffic we already saw is stale: the leader has woken since.
    if (Is<Hibernate>(m) && m.from == leader && tick < leader_tick_seen) return;
    election_elapsed = 0;
    ticks_since_leader = 0;
    leader = m.from;
    leader_tick_seen = std::max(leader_tick_seen, tick);
  }
  if (auto* req = std::get_if<AppendRequest>(&m.body)) {
    HandleAppend(m, *req);
  } else if (const auto* hb = std::get_if<Heartbeat>(&m.body)) {
    HandleHeartbeat(m, *hb);
  } else if (const auto* snap = std::get_if<InstallSnapshot>(&m.body)) {
    HandleSnapshot(m, *snap);
  } else if (const auto* h = std::get_if<Hibernate>(&m.body)) {
    HandleHibernate(m, *h);
  } else if (Is<TimeoutNow>(m)) {
    // Thesis §3.10: the leader asks us to campaign now, skipping pre-vote.
    StartCampaign(ElectionKind::kVote, true);
  } else if (const auto* resp = std::get_if<ReadIndexResponse>(&m.body)) {
    read_states.push_back(
        ReadState{.id = resp->read_id, .index = resp->index, .status = ReadStatus::kReady});
  }
}

void Replica::State::HandleAppend(const Message& m, AppendRequest& req) {
  if (req.prev_index < log.committed()) {
    SendAfterPersist(m.from,
                     AppendResponse{.index = log.committed(), .leader_tick = req.leader_tick});
    return;
  }
  std::vector<std::pair<LogIndex, ConfState>> confs;
  for (const Entry& e : req.entries) {
    if (e.type != EntryType::kConfig) continue;
    auto conf = DecodeConfState(e.data);
    CLAW_CHECK_MSG(conf.has_value(), "leader sent a corrupt configuration entry");
    confs.emplace_back(e.index, std::move(*conf));
  }
  LogIndex first_written;
  const auto last_new =
      log.MaybeAppend(req.prev_index, req.prev_term, std::move(req.entries), &first_written);
  if (last_new) {
    if (!first_written.IsZero()) OnLogRewritten(first_written, std::move(confs));
    log.CommitTo(std::min(req.commit, *last_new));
    CollapseCommittedConfs();
    SendAfterPersist(m.from, AppendResponse{.index = *last_new, .leader_tick = req.leader_tick});
    return;
  }
  const auto [hint_index, hint_term] =
      log.FindConflictByTerm(std::min(req.prev_index, log.LastIndex()), req.prev_term);
  SendAfterPersist(m.from, AppendResponse{.index = req.prev_index,
                                          .rejected = true,
                                          .reject_hint = hint_index,
                                          .hint_term = hint_term,
                                          .leader_tick = req.leader_tick});
}

void Replica::State::HandleHeartbeat(const Message& m, const Heartbeat& hb) {
  log.CommitTo(hb.commit);
  CollapseCommittedConfs();
  SendAfterPersist(m.from, HeartbeatResponse{.read_id = hb.read_id, .leader_tick = hb.leader_tick});
}

void Replica::State::HandleSnapshot(const Message& m, const InstallSnapshot& snap) {
  const SnapshotMeta& meta = snap.meta;
  // A snapshot whose configuration lacks us is accepted: configurations take effect when appended,
  // so the entries after the snapshot carry our membership (refusing, as etcd does, would strand a
  // replica added after the newest snapshot).
  if (meta.index <= log.committed()) {
    SendAfterPersist(m.from, AppendResponse{.index = log.committed()});
    return;
  }
  if (log.MatchTerm(meta.index, meta.term)) {
    // We already hold the snapshot's last entry: fast-forward the commit index instead.
    log.CommitTo(meta.index);
    CollapseCommittedConfs();
    SendAfterPersist(m.from, AppendResponse{.index = log.committed()});
    return;
  }
  log.Restore(meta);
  base_conf = meta.conf;
  base_conf_index = meta.index;
  conf_entries.clear();
  ApplyConf();
  SendAfterPersist(m.from, AppendResponse{.index = meta.index});
}

void Replica::State::HandleHibernate(const Message& m, const Hibernate& h) {
  if (log.LastIndex() != h.index || h.commit > h.index || log.HasPendingSnapshot()) {
    // Not caught up: answering wakes the leader, which then catches us up.
    SendAfterPersist(m.from, HeartbeatResponse{});
    return;
  }
  log.CommitTo(h.commit);
  CollapseCommittedConfs();
  hibernating = true;
  sleep_tick = h.leader_tick;
}

// ---------------------------------------------------------------------------------------------
// Ticks

void Replica::State::TickFollower() {
  ++election_elapsed;
  if (ticks_since_leader < opts.election_ticks) ++ticks_since_leader;
  if (Promotable() && election_elapsed >= randomized_election_timeout) {
    election_elapsed = 0;
    StartCampaign(opts.pre_vote ? ElectionKind::kPreVote : ElectionKind::kVote, false);
  }
}

void Replica::State::TickLeader() {
  if (Progress* self = tracker.Find(opts.id)) self->acked_tick = now;
  ++heartbeat_elapsed;
  ++election_elapsed;
  if (election_elapsed >= opts.election_ticks) {
    election_elapsed = 0;
    if (opts.check_quorum) {
      // Thesis §6.2: a leader that cannot hear from a quorum steps down.
      if (!tracker.QuorumActive(opts.id)) {
        BecomeFollower(term, kNoNode);
        return;
      }
      for (auto& [id, pr] : tracker.peers()) pr.recent_active = id == opts.id;
    }
  }
  // A transfer that did not finish within an election timeout is abandoned. It has its own timer:
  // repeated requests must not postpone check-quorum.
  if (!transferee.IsZero() && ++transfer_elapsed >= opts.election_ticks) AbortTransfer();
  if (heartbeat_elapsed >= opts.heartbeat_ticks) {
    heartbeat_elapsed = 0;
    BroadcastHeartbeat();
  }
  if (opts.hibernate_after_ticks > 0) {
    idle_ticks = IsIdle() ? idle_ticks + 1 : 0;
    if (idle_ticks >= opts.hibernate_after_ticks) EnterHibernation();
  }
}

// ---------------------------------------------------------------------------------------------
// Replica

Replica::Replica(const Options& options, LogStorage* storage) {
  const std::string problem = options.Validate();
  CLAW_CHECK_MSG(problem.empty(), "invalid raft::Options (call Options::Validate first)");
  s_ = std::make_unique<State>(options, storage);
  const HardState hs = storage->GetInitialState().hard_state;
  s_->term = hs.term;
  s_->vote = hs.vote;
  s_->prev_hard_state = s_->CurrentHardState();
  s_->RecoverConf();
  s_->BecomeFollower(hs.term, kNoNode);
  // A replica that never saw a term acknowledged no leader: it may vote (and bootstrap) at once.
  s_->ticks_since_leader = hs.term.IsZero() ? options.election_ticks : 0;
  s_->vote = hs.vote;
  s_->prev_soft_state = s_->CurrentSoftState();
}

Replica::~Replica() = default;

void Replica::Tick() {
  State& s = *s_;
  if (s.hibernating) return;
  ++s.now;
  if (s.role == Role::kLeader) {
    s.TickLeader();
  } else {
    s.TickFollower();
  }
}

void Replica::Step(Message m) { s_->StepMessage(std::move(m)); }

std::expected<LogIndex, ProposeError> Replica::Propose(std::string data) {
  State& s = *s_;
  if (s.role != Role::kLeader) return std::unexpected(ProposeError::kNotLeader);
  s.Wake();
  if (!s.transferee.IsZero()) return std::unexpected(ProposeError::kTransferring);
  if (s.opts.max_uncommitted_bytes != 0 && s.uncommitted_bytes > 0 &&
      s.uncommitted_bytes + data.size() > s.opts.max_uncommitted_bytes) {
    return std::unexpected(ProposeError::kUncommittedLimit);
  }
  return s.AppendLocal(EntryType::kNormal, std::move(data));
}

std::expected<LogIndex, ProposeError> Replica::ProposeConfChange(const ConfChange& change) {
  State& s = *s_;
  if (s.role != Role::kLeader) return std::unexpected(ProposeError::kNotLeader);
  s.Wake();
  if (!s.transferee.IsZero()) return std::unexpected(ProposeError::kTransferring);
  // Ongaro's fix for single-server changes: a new leader first commits an entry of its term, so
  // no configuration entry of an older term can still be overtaken by ours.
  if (!s.CommittedInTerm()) return std::unexpected(ProposeError::kNotReady);
  if (s.ConfIndex() > s.log.committed() || s.Conf().IsJoint()) {
    return std::unexpected(ProposeError::kConfChangePending);
  }
  auto next = NextConf(s.Conf(), change);
  if (!next) return std::unexpected(ProposeError::kInvalidConfChange);
  return s.AppendLocal(EntryType::kConfig, EncodeConfState(*next));
}

void Replica::ReadIndex(ReadId id) {
  State& s = *s_;
  s.Wake();
  if (s.role == Role::kLeader) {
    s.HandleReadRequest(id, s.opts.id);
  } else if (!s.leader.IsZero()) {
    s.Send(s.leader, ReadIndexRequest{.read_id = id});
  } else {
    s.read_states.push_back(ReadState{.id = id, .index = {}, .status = ReadStatus::kDropped});
  }
}

void Replica::TransferLeadership(NodeId target) {
  State& s = *s_;
  s.Wake();
  if (s.role == Role::kLeader) {
    s.HandleTransfer(target);
  } else if (!s.leader.IsZero()) {
    s.Send(s.leader, TransferLeaderRequest{.target = target});
  }
}

void Replica::Campaign() {
  State& s = *s_;
  if (s.role == Role::kLeader || s.InLease()) return;
  s.Wake();
  s.StartCampaign(s.opts.pre_vote ? ElectionKind::kPreVote : ElectionKind::kVote, false);
}

void Replica::WakeUp(WakeReason reason) {
  State& s = *s_;
  const bool was_hibernating = s.hibernating;
  s.Wake();
  if (reason == WakeReason::kLeaderSuspected && was_hibernating && s.role != Role::kLeader) {
    // Only a sleeping follower may be told so: an awake one still counts the leader's silence
    // itself, and overriding that could break the leader's lease.
    s.election_elapsed = s.opts.election_ticks;
    s.ticks_since_leader = s.opts.election_ticks;
  }
}

void Replica::ReportUnreachable(NodeId peer) {
  State& s = *s_;
  if (s.role != Role::kLeader) return;
  Progress* pr = s.tracker.Find(peer);
  if (pr != nullptr && pr->state == ProgressState::kReplicate) pr->BecomeProbe();
}

void Replica::ReportSnapshot(NodeId peer, SnapshotOutcome outcome) {
  State& s = *s_;
  if (s.role != Role::kLeader) return;
  Progress* pr = s.tracker.Find(peer);
  if (pr == nullptr || pr->state != ProgressState::kSnapshot) return;
  if (outcome == SnapshotOutcome::kFailed) pr->pending_snapshot = LogIndex{};
  pr->BecomeProbe();
  // Wait for the follower to answer (or the next heartbeat) before probing.
  pr->probe_sent = true;
}

bool Replica::HasReady() const {
  const State& s = *s_;
  return !s.msgs.empty() || s.log.HasUnsentWrites() || s.CurrentHardState() != s.prev_hard_state ||
         s.log.HasCommittedToApply() || !s.read_states.empty() ||
         s.CurrentSoftState() != s.prev_soft_state ||
         ((s.broadcast_pending || s.heartbeat_pending) && s.role == Role::kLeader) ||
         !s.msgs_after_persist.empty();
}

Ready Replica::TakeReady() {
  State& s = *s_;
  Ready rd;
  if (s.role == Role::kLeader) {
    if (s.broadcast_pending) s.BroadcastAppend();
    if (s.heartbeat_pending) s.BroadcastHeartbeat();
  }
  s.broadcast_pending = false;
  s.heartbeat_pending = false;

  rd.snapshot = s.log.TakeUnsentSnapshot();
  rd.entries = s.log.TakeUnsentEntries();
  const HardState hs = s.CurrentHardState();
  const HardState written = s.prev_hard_state;
  if (hs != s.prev_hard_state) {
    rd.hard_state = hs;
    s.prev_hard_state = hs;
  }
  if (rd.snapshot || !rd.entries.empty() || rd.hard_state) {
    InflightWrite w;
    w.id = s.next_write_id++;
    if (rd.snapshot) w.snapshot_index = rd.snapshot->index;
    if (!rd.entries.empty()) w.last_entry = {rd.entries.back().index, rd.entries.back().term};
    w.after = std::move(s.msgs_after_persist);
    s.msgs_after_persist.clear();
    rd.write_id = w.id;
    rd.must_sync = rd.snapshot.has_value() || !rd.entries.empty() ||
                   (rd.hard_state &&
                    (rd.hard_state->term != written.term || rd.hard_state->vote != written.vote));
    s.inflight_writes.push_back(std::move(w));
  } else if (!s.msgs_after_persist.empty()) {
    auto pending = std::move(s.msgs_after_persist);
    s.msgs_after_persist.clear();
    if (!s.inflight_writes.empty()) {
      auto& after = s.inflight_writes.back().after;
      after.insert(after.end(), std::make_move_iterator(pending.begin()),
                   std::make_move_iterator(pending.end()));
    } else {
      s.ReleaseAfterPersist(std::move(pending));
    }
  }

  rd.committed_entries = s.log.TakeCommittedToApply(s.opts.max_apply_bytes);
  if (s.role == Role::kLeader) {
    for (const Entry& e : rd.committed_entries) {
      s.uncommitted_bytes -= std::min<uint64_t>(s.uncommitted_bytes, e.PayloadSize());
    }
  }
  rd.messages = std::move(s.msgs);
  s.msgs.clear();
  rd.read_states = std::move(s.read_states);
  s.read_states.clear();
  const SoftState ss = s.CurrentSoftState();
  if (ss != s.prev_soft_state) {
    rd.soft_state = ss;
    s.prev_soft_state = ss;
  }
  return rd;
}

void Replica::OnPersisted(WriteId id) {
  State& s = *s_;
  size_t done = 0;
  while (done < s.inflight_writes.size() && s.inflight_writes[done].id <= id) ++done;
  std::vector<InflightWrite> durable(std::make_move_iterator(s.inflight_writes.begin()),
                                     std::make_move_iterator(s.inflight_writes.begin() + done));
  s.inflight_writes.erase(s.inflight_writes.begin(), s.inflight_writes.begin() + done);
  for (InflightWrite& w : durable) {
    if (w.snapshot_index) s.log.StableSnapshotTo(*w.snapshot_index);
    if (w.last_entry) s.log.StableTo(w.last_entry->first, w.last_entry->second);
    s.ReleaseAfterPersist(std::move(w.after));
  }
  if (s.role != Role::kLeader) return;
  // Thesis §10.2.1: the leader's own log counts toward commitment only once durable.
  Progress* self = s.tracker.Find(s.opts.id);
  if (self != nullptr && self->MaybeUpdate(s.log.PersistedIndex()) && s.MaybeCommit()) {
    s.OnCommitAdvanced();
  }
}

void Replica::OnApplied(LogIndex index) { s_->log.AppliedTo(index); }

NodeId Replica::id() const { return s_->opts.id; }
Term Replica::term() const { return s_->term; }
Role Replica::role() const { return s_->role; }
NodeId Replica::leader() const { return s_->leader; }
LogIndex Replica::commit() const { return s_->log.committed(); }
LogIndex Replica::applied() const { return s_->log.applied(); }
LogIndex Replica::last_index() const { return s_->log.LastIndex(); }
bool Replica::hibernating() const { return s_->hibernating; }
const ConfState& Replica::conf() const { return s_->Conf(); }

Status Replica::GetStatus() const {
  const State& s = *s_;
  Status st;
  st.id = s.opts.id;
  st.hard_state = s.CurrentHardState();
  st.soft_state = s.CurrentSoftState();
  st.applied = s.log.applied();
  st.last_index = s.log.LastIndex();
  st.persisted_index = s.log.PersistedIndex();
  st.conf = s.Conf();
  if (s.role == Role::kLeader) {
    for (const auto& [id, pr] : s.tracker.peers()) {
      st.peers.push_back(PeerStatus{.id = id,
                                    .match = pr.match,
                                    .next = pr.next,
                                    .state = pr.state,
                                    .learner = pr.learner,
                                    .recent_active = pr.recent_active});
    }
    st.lease_valid = s.LeaseValid();
  }
  return st;
}

std::expected<Term, LogError> Replica::TermAt(LogIndex i) const { return s_->log.TermAt(i); }

std::expected<std::vector<Entry>, LogError> Replica::ReadEntries(LogIndex lo, LogIndex hi) const {
  return s_->log.Slice(lo, hi, UINT64_MAX);
}

}  // namespace claw::raft
