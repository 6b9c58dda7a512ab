// RaftLog: one replica's view of its log — the durable part in LogStorage and the not-yet-durable
// tail held in memory — plus the commit and apply cursors.
//
// Invariants:
//   1. Every entry with index < offset_ is durable in storage_ and belongs to this log; entries at
//      or after offset_ live in unstable_ (some handed to the host, i.e. below unsent_, and some
//      not yet). Storage may still hold stale entries >= offset_ that a later write overwrites.
//   2. A pending snapshot (received, not yet durable) replaces everything up to its index.
//   3. applied_ <= applying_ <= committed_ <= LastIndex(); committed_ never decreases and committed
//      entries are never truncated.
// Owned by Replica; single-threaded.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <vector>

#include "raft/log_storage.h"
#include "raft/types.h"

namespace claw::raft {

class RaftLog {
 public:
  // Recovers positions from storage; `applied` is the host's durable applied index.
  RaftLog(LogStorage* storage, LogIndex applied);

  LogIndex FirstIndex() const;
  LogIndex LastIndex() const;
  Term LastTerm() const;
  std::expected<Term, LogError> TermAt(LogIndex i) const;
  bool MatchTerm(LogIndex i, Term t) const;
  // Thesis §3.6.1: is a log ending at (last_index, last_term) at least as up-to-date as ours?
  bool IsUpToDate(LogIndex last_index, Term last_term) const;

  // Entries in [lo, hi) with at most max_bytes payload (at least one entry when lo < hi).
  std::expected<std::vector<Entry>, LogError> Slice(LogIndex lo, LogIndex hi,
                                                    uint64_t max_bytes) const;

  // Appends entries continuing the log or replacing a suffix above the commit index.
  void Append(std::vector<Entry> entries);
  // AppendEntries receiver (thesis §3.5): if (prev_index, prev_term) matches, appends whatever
  // conflicts or is new and returns the index of the last entry covered by the request; sets
  // *first_written to the first index actually (re)written, or zero when nothing was.
  std::optional<LogIndex> MaybeAppend(LogIndex prev_index, Term prev_term,
                                      std::vector<Entry> entries, LogIndex* first_written);
  // Fast backtracking: the largest index <= index whose term is <= term, with that term
  // (term zero when the index is compacted or zero).
  std::pair<LogIndex, Term> FindConflictByTerm(LogIndex index, Term term) const;

  LogIndex committed() const { return committed_; }
  void CommitTo(LogIndex index);
  LogIndex applying() const { return applying_; }
  LogIndex applied() const { return applied_; }
  void AppliedTo(LogIndex index);

  // Replaces the log with a snapshot received from the leader (pending until durable).
  void Restore(const SnapshotMeta& meta);
  bool HasPendingSnapshot() const { return snapshot_.has_value(); }

  // --- Persistence handshake with the host (see Replica's Ready protocol).
  bool HasUnsentWrites() const;
  std::optional<SnapshotMeta> TakeUnsentSnapshot();
  std::vector<Entry> TakeUnsentEntries();
  // The write whose last entry was (index, term) is durable.
  void StableTo(LogIndex index, Term term);
  // The write that carried the snapshot at `index` is durable.
  void StableSnapshotTo(LogIndex index);
  // Highest index of this log known durable (meaningless while a snapshot is pending).
  LogIndex PersistedIndex() const { return offset_ - 1; }

  // --- Apply handshake.
  bool HasCommittedToApply() const;
  // Committed, durable entries after applying(), at most max_bytes (at least one); advances
  // applying().
  std::vector<Entry> TakeCommittedToApply(uint64_t max_bytes);

 private:
  LogIndex UnstableLast() const { return offset_ + unstable_.size() - 1; }
  // First index of `entries` whose term differs from ours, or that we lack; zero if none.
  LogIndex FindConflict(const std::vector<Entry>& entries) const;

  LogStorage* storage_;
  std::optional<SnapshotMeta> snapshot_;  // received, not yet durable
  bool snapshot_sent_ = false;            // handed to the host in a Ready
  std::vector<Entry> unstable_;           // entries at offset_, offset_ + 1, ...
  LogIndex offset_;
  LogIndex unsent_;  // first unstable index not yet handed to the host
  LogIndex committed_;
  LogIndex applying_;
  LogIndex applied_;
};

}  // namespace claw::raft
