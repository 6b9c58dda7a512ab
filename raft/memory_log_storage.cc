#include "raft/memory_log_storage.h"

#include <utility>

#include "raft/check.h"

namespace claw::raft {

MemoryLogStorage::MemoryLogStorage(ConfState initial_conf) {
  point_.conf = std::move(initial_conf);
}

void MemoryLogStorage::SetHardState(const HardState& hs) { hard_state_ = hs; }

void MemoryLogStorage::Append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const LogIndex first = entries.front().index;
  CLAW_CHECK_MSG(first >= FirstIndex() && first <= LastIndex() + 1,
                 "append must continue the log or overwrite a suffix of it");
  entries_.resize(first - FirstIndex());
  for (Entry& e : entries) {
    CLAW_CHECK(e.index == LastIndex() + 1);
    entries_.push_back(std::move(e));
  }
}

void MemoryLogStorage::InstallSnapshot(const SnapshotMeta& meta) {
  point_ = meta;
  entries_.clear();
  if (hard_state_.commit < meta.index) hard_state_.commit = meta.index;
}

void MemoryLogStorage::Compact(LogIndex through, const ConfState& conf) {
  if (through <= point_.index) return;
  CLAW_CHECK_MSG(through <= LastIndex(), "cannot compact beyond the last entry");
  const Term term = entries_[through - FirstIndex()].term;
  entries_.erase(entries_.begin(), entries_.begin() + (through - point_.index));
  point_ = SnapshotMeta{.index = through, .term = term, .conf = conf};
}

void MemoryLogStorage::SetShippableSnapshot(const SnapshotMeta& meta) { shippable_ = meta; }

InitialState MemoryLogStorage::GetInitialState() const {
  return InitialState{.hard_state = hard_state_, .conf = point_.conf};
}

std::expected<std::vector<Entry>, LogError> MemoryLogStorage::Entries(LogIndex lo, LogIndex hi,
                                                                      uint64_t max_bytes) const {
  if (lo <= point_.index) return std::unexpected(LogError::kCompacted);
  if (hi > LastIndex() + 1) return std::unexpected(LogError::kUnavailable);
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (LogIndex i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - FirstIndex()];
    bytes += e.PayloadSize();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

std::expected<Term, LogError> MemoryLogStorage::TermAt(LogIndex i) const {
  if (i < point_.index) return std::unexpected(LogError::kCompacted);
  if (i == point_.index) return point_.term;
  if (i > LastIndex()) return std::unexpected(LogError::kUnavailable);
  return entries_[i - FirstIndex()].term;
}

LogIndex MemoryLogStorage::FirstIndex() const { return point_.index + 1; }

LogIndex MemoryLogStorage::LastIndex() const { return point_.index + entries_.size(); }

std::expected<SnapshotMeta, LogError> MemoryLogStorage::Snapshot() const {
  if (!shippable_) return std::unexpected(LogError::kUnavailable);
  return *shippable_;
}

}  // namespace claw::raft
