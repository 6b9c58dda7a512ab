// Replica, message handling: the term rules every message passes first (thesis Figure 3.1,
// §4.2.3, §9.6), votes, and what candidates and followers do with each message.
#include "raft/replica_state.h"

#include <algorithm>
#include <utility>

#include "raft/check.h"

namespace claw::raft {

using replica_detail::Is;
using replica_detail::IsFromLeader;
using replica_detail::LeaderTickOf;

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
#ifdef CLAW_BREAK_SKIP_VOTE_LOG_CHECK
  // POSITIVE CONTROL, never in clawd: only tests/fault's clawd_broken_vote_log_check defines it.
  // Grants without comparing the candidate's last log term and index with ours (the election
  // restriction), so a lagging replica can win and lose committed entries; the fault suite must
  // catch the lost writes (tests/fault/README.md).
  const bool up_to_date = true;
#else
  const bool up_to_date = log.IsUpToDate(req.last_index, req.last_term);
#endif
  if (can_vote && up_to_date) {
    if (req.kind == ElectionKind::kVote) {
      election_elapsed = 0;
      vote = m.from;
    }
    SendAfterPersist(m.from, VoteResponse{.kind = req.kind, .granted = true}, m.term);
  } else {
    SendAfterPersist(m.from, VoteResponse{.kind = req.kind, .granted = false});
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

}  // namespace claw::raft
