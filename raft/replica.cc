// Replica: configuration tracking, role changes, output plumbing, ticks and the public API.
// The protocol rules themselves are in replica_leader.cc and replica_step.cc.
#include "raft/replica_state.h"

#include <algorithm>
#include <utility>

#include "raft/check.h"

namespace claw::raft {

using replica_detail::InflightWrite;

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

uint64_t Replica::TicksSinceQuorumAck() const {
  const State& s = *s_;
  if (s.role != Role::kLeader || !s.CommittedInTerm()) return UINT64_MAX;
  const uint64_t acked = s.tracker.QuorumAckedTick();
  if (acked == 0 || acked > s.now) return UINT64_MAX;
  return s.now - acked;
}
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
