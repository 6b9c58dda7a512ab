#include "raft/progress.h"

#include <algorithm>

#include "raft/check.h"

namespace claw::raft {

void Inflights::Add(LogIndex last, uint64_t bytes) {
  CLAW_CHECK(!Full());
  if (count_ == ring_.size()) {
    // Grow (doubling, capped) and unwrap the ring so that start_ is zero again.
    const size_t grown = std::min<size_t>(std::max<size_t>(ring_.size() * 2, 4), capacity_);
    std::vector<std::pair<LogIndex, uint64_t>> bigger(grown);
    for (uint32_t i = 0; i < count_; ++i) bigger[i] = ring_[(start_ + i) % ring_.size()];
    ring_ = std::move(bigger);
    start_ = 0;
  }
  ring_[(start_ + count_) % ring_.size()] = {last, bytes};
  ++count_;
  bytes_ += bytes;
}

void Inflights::FreeUpTo(LogIndex index) {
  while (count_ > 0 && ring_[start_].first <= index) {
    bytes_ -= ring_[start_].second;
    start_ = (start_ + 1) % ring_.size();
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ > 0) FreeUpTo(ring_[start_].first);
}

bool Inflights::Full() const {
  return count_ >= capacity_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

void Inflights::Reset() {
  ring_.clear();
  ring_.shrink_to_fit();
  start_ = count_ = 0;
  bytes_ = 0;
}

void Progress::BecomeProbe() {
  // After a snapshot the follower holds at least the snapshot; probe right after it.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  pending_snapshot = LogIndex{};
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  pending_snapshot = LogIndex{};
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeSnapshot(LogIndex snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  inflights.Reset();
}

bool Progress::MaybeUpdate(LogIndex n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

void Progress::SentAppend(LogIndex last, uint64_t bytes, bool had_entries) {
  switch (state) {
    case ProgressState::kReplicate:
      if (had_entries) {
        // Optimistic: the follower will hold everything sent (pipelining, thesis §10.2.2).
        next = last + 1;
        inflights.Add(last, bytes);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      CLAW_CHECK_MSG(false, "append sent to a peer waiting for a snapshot");
  }
}

bool Progress::MaybeDecreaseTo(LogIndex rejected, LogIndex match_hint) {
  if (state == ProgressState::kReplicate) {
    // Stale rejection of something already matched.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe only the last probe's answer counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

void ProgressTracker::SetConf(const ConfState& conf, LogIndex next_index) {
  conf_ = conf;
  std::vector<NodeId> members;
  for (const auto* list :
       {&conf.voters, &conf.voters_outgoing, &conf.learners, &conf.learners_next}) {
    members.insert(members.end(), list->begin(), list->end());
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());

  std::vector<std::pair<NodeId, Progress>> next_peers;
  next_peers.reserve(members.size());
  for (NodeId id : members) {
    auto it = std::lower_bound(peers_.begin(), peers_.end(), id,
                               [](const auto& p, NodeId v) { return p.first < v; });
    if (it != peers_.end() && it->first == id) {
      next_peers.push_back(std::move(*it));
    } else {
      next_peers.emplace_back(id, Progress(next_index, max_inflight_, max_inflight_bytes_));
    }
    next_peers.back().second.learner = !IsVoter(id);
  }
  peers_ = std::move(next_peers);
}

void ProgressTracker::ResetAll(LogIndex next_index) {
  for (auto& [id, pr] : peers_) {
    const bool learner = pr.learner;
    pr = Progress(next_index, max_inflight_, max_inflight_bytes_);
    pr.learner = learner;
  }
}

Progress* ProgressTracker::Find(NodeId id) {
  auto it = std::lower_bound(peers_.begin(), peers_.end(), id,
                             [](const auto& p, NodeId v) { return p.first < v; });
  return it != peers_.end() && it->first == id ? &it->second : nullptr;
}

const Progress* ProgressTracker::Find(NodeId id) const {
  return const_cast<ProgressTracker*>(this)->Find(id);
}

bool ProgressTracker::IsVoter(NodeId id) const { return claw::raft::IsVoter(conf_, id); }

bool ProgressTracker::IsSingleVoter(NodeId id) const {
  return conf_.voters.size() == 1 && conf_.voters[0] == id && !conf_.IsJoint();
}

LogIndex ProgressTracker::QuorumMatch() const {
  return LogIndex(JointValue(conf_.voters, conf_.voters_outgoing, [this](NodeId id) {
    const Progress* pr = Find(id);
    return pr ? pr->match.value() : 0;
  }));
}

bool ProgressTracker::QuorumActive(NodeId self) const {
  auto active = [&](NodeId id) -> std::optional<bool> {
    if (id == self) return true;
    const Progress* pr = Find(id);
    return pr != nullptr && pr->recent_active;
  };
  return JointTally(conf_.voters, conf_.voters_outgoing, active) == VoteTally::kWon;
}

uint64_t ProgressTracker::QuorumAckedTick() const {
  return JointValue(conf_.voters, conf_.voters_outgoing, [this](NodeId id) {
    const Progress* pr = Find(id);
    return pr ? pr->acked_tick : 0;
  });
}

void ProgressTracker::RecordVote(NodeId id, bool granted) {
  if (!HasVoted(id)) votes_.emplace_back(id, granted);
}

bool ProgressTracker::HasVoted(NodeId id) const {
  return std::any_of(votes_.begin(), votes_.end(), [id](const auto& v) { return v.first == id; });
}

VoteTally ProgressTracker::Tally() const {
  return JointTally(conf_.voters, conf_.voters_outgoing, [this](NodeId id) -> std::optional<bool> {
    for (const auto& [voter, granted] : votes_) {
      if (voter == id) return granted;
    }
    return std::nullopt;
  });
}

}  // namespace claw::raft
