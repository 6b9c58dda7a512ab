// Replica, leader side: appending and replicating entries (flow control per peer), the commit
// rule, configuration steps after commit, linearizable reads (ReadIndex and leases), leadership
// transfer and hibernation.
#include "raft/replica_state.h"

#include <algorithm>
#include <utility>

#include "raft/check.h"

namespace claw::raft {

using replica_detail::Is;
using replica_detail::IsFromLeader;
using replica_detail::SendEmpty;

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
  // A snapshot the log has since been compacted past cannot be followed by appends: the
  // follower would install it (or already holds it) and need it again, forever. Wait for the
  // host to build a newer one, as above.
  if (snap->index + 1 < log.FirstIndex()) return;
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

}  // namespace claw::raft
