#include "raft/raft_log.h"

#include <algorithm>
#include <utility>

#include "raft/check.h"

namespace claw::raft {

RaftLog::RaftLog(LogStorage* storage, LogIndex applied) : storage_(storage) {
  const LogIndex first = storage_->FirstIndex();
  const LogIndex last = storage_->LastIndex();
  offset_ = last + 1;
  unsent_ = offset_;
  const HardState hs = storage_->GetInitialState().hard_state;
  // Everything up to the snapshot point is in the state machine already, and whatever the host
  // applied was committed (its apply state may be durable before the hard state that says so).
  committed_ = std::max({hs.commit, first - 1, applied});
  CLAW_CHECK_MSG(committed_ <= last,
                 "commit or applied index beyond the last stored entry: the log was lost");
  applied_ = std::max(applied, first - 1);
  applying_ = applied_;
}

LogIndex RaftLog::FirstIndex() const {
  return snapshot_ ? snapshot_->index + 1 : storage_->FirstIndex();
}

LogIndex RaftLog::LastIndex() const { return offset_ + unstable_.size() - 1; }

Term RaftLog::LastTerm() const {
  auto t = TermAt(LastIndex());
  CLAW_CHECK_MSG(t.has_value(), "term of the last entry unreadable");
  return *t;
}

std::expected<Term, LogError> RaftLog::TermAt(LogIndex i) const {
  if (i >= offset_) {
    if (i > UnstableLast()) return std::unexpected(LogError::kUnavailable);
    return unstable_[i - offset_].term;
  }
  if (snapshot_) {
    if (i == snapshot_->index) return snapshot_->term;
    return std::unexpected(LogError::kCompacted);
  }
  return storage_->TermAt(i);
}

bool RaftLog::MatchTerm(LogIndex i, Term t) const {
  auto ours = TermAt(i);
  return ours.has_value() && *ours == t;
}

bool RaftLog::IsUpToDate(LogIndex last_index, Term last_term) const {
  const Term our_term = LastTerm();
  return last_term > our_term || (last_term == our_term && last_index >= LastIndex());
}

std::expected<std::vector<Entry>, LogError> RaftLog::Slice(LogIndex lo, LogIndex hi,
                                                           uint64_t max_bytes) const {
  if (lo < FirstIndex()) return std::unexpected(LogError::kCompacted);
  if (hi > LastIndex() + 1 || lo > hi) return std::unexpected(LogError::kUnavailable);
  std::vector<Entry> out;
  if (lo == hi) return out;
  uint64_t bytes = 0;
  if (lo < offset_) {
    auto stored = storage_->Entries(lo, std::min(hi, offset_), max_bytes);
    if (!stored) return std::unexpected(stored.error());
    out = std::move(*stored);
    for (const Entry& e : out) bytes += e.PayloadSize();
    if (out.empty() || out.back().index + 1 < std::min(hi, offset_)) return out;  // size cap hit
  }
  for (LogIndex i = std::max(lo, offset_); i < hi; ++i) {
    const Entry& e = unstable_[i - offset_];
    bytes += e.PayloadSize();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void RaftLog::Append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const LogIndex first = entries.front().index;
  CLAW_CHECK_MSG(first > committed_, "append would overwrite a committed entry");
  CLAW_CHECK_MSG(first <= LastIndex() + 1, "append leaves a gap in the log");
  if (first < offset_) {
    // Replaces durable entries: they stay in storage until the host overwrites them.
    offset_ = first;
    unstable_.clear();
  } else {
    unstable_.resize(first - offset_);
  }
  unsent_ = std::min(unsent_, first);
  for (Entry& e : entries) unstable_.push_back(std::move(e));
}

LogIndex RaftLog::FindConflict(const std::vector<Entry>& entries) const {
  for (const Entry& e : entries) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return LogIndex{};
}

std::optional<LogIndex> RaftLog::MaybeAppend(LogIndex prev_index, Term prev_term,
                                             std::vector<Entry> entries, LogIndex* first_written) {
  *first_written = LogIndex{};
  if (!MatchTerm(prev_index, prev_term)) return std::nullopt;
  const LogIndex last_new = prev_index + entries.size();
  const LogIndex conflict = FindConflict(entries);
  if (!conflict.IsZero()) {
    CLAW_CHECK_MSG(conflict > committed_, "leader's entries conflict with a committed entry");
    entries.erase(entries.begin(), entries.begin() + (conflict - (prev_index + 1)));
    *first_written = conflict;
    Append(std::move(entries));
  }
  return last_new;
}

std::pair<LogIndex, Term> RaftLog::FindConflictByTerm(LogIndex index, Term term) const {
  for (; !index.IsZero(); index = index - 1) {
    auto ours = TermAt(index);
    if (!ours) return {index, Term{}};
    if (*ours <= term) return {index, *ours};
  }
  return {LogIndex{}, Term{}};
}

void RaftLog::CommitTo(LogIndex index) {
  if (index <= committed_) return;
  CLAW_CHECK_MSG(index <= LastIndex(),
                 "commit index beyond the last entry: the log was truncated or lost");
  committed_ = index;
}

void RaftLog::AppliedTo(LogIndex index) {
  if (index <= applied_) return;
  CLAW_CHECK_MSG(index <= applying_, "applied index beyond what was handed out to apply");
  applied_ = index;
}

void RaftLog::Restore(const SnapshotMeta& meta) {
  CLAW_CHECK(meta.index > committed_);
  snapshot_ = meta;
  snapshot_sent_ = false;
  unstable_.clear();
  offset_ = meta.index + 1;
  unsent_ = offset_;
  committed_ = meta.index;
  applying_ = meta.index;  // the snapshot carries the state machine up to its index
}

bool RaftLog::HasUnsentWrites() const {
  return (snapshot_ && !snapshot_sent_) || unsent_ <= LastIndex();
}

std::optional<SnapshotMeta> RaftLog::TakeUnsentSnapshot() {
  if (!snapshot_ || snapshot_sent_) return std::nullopt;
  snapshot_sent_ = true;
  return snapshot_;
}

std::vector<Entry> RaftLog::TakeUnsentEntries() {
  std::vector<Entry> out;
  if (unsent_ > LastIndex()) return out;
  out.assign(unstable_.begin() + (unsent_ - offset_), unstable_.end());
  unsent_ = LastIndex() + 1;
  return out;
}

void RaftLog::StableTo(LogIndex index, Term term) {
  if (index < offset_ || index > UnstableLast()) return;
  if (unstable_[index - offset_].term != term) return;  // rewritten since; a later write covers it
  // A durable snapshot must precede durable entries after it.
  if (snapshot_ && snapshot_->index < index) return;
  unstable_.erase(unstable_.begin(), unstable_.begin() + (index - offset_ + 1));
  offset_ = index + 1;
  unsent_ = std::max(unsent_, offset_);
}

void RaftLog::StableSnapshotTo(LogIndex index) {
  if (snapshot_ && snapshot_->index == index) {
    snapshot_.reset();
    applied_ = std::max(applied_, index);
  }
}

bool RaftLog::HasCommittedToApply() const {
  if (snapshot_) return false;
  return applying_ < std::min(committed_, PersistedIndex());
}

std::vector<Entry> RaftLog::TakeCommittedToApply(uint64_t max_bytes) {
  if (!HasCommittedToApply()) return {};
  const LogIndex hi = std::min(committed_, PersistedIndex()) + 1;
  auto entries = Slice(applying_ + 1, hi, max_bytes);
  CLAW_CHECK_MSG(entries.has_value(), "committed entries unreadable");
  if (!entries->empty()) applying_ = entries->back().index;
  return std::move(*entries);
}

}  // namespace claw::raft
