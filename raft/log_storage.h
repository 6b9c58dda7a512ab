// The durable half of a replica's log, as the core reads it.
//
// Contract (LogCabin Storage/Log.h style):
//  1. The storage holds a snapshot point (index S, term T_S) and a contiguous run of entries
//     S+1 .. LastIndex(). FirstIndex() == S + 1. An empty run means LastIndex() == S.
//  2. It holds exactly what the host persisted from Ready writes acknowledged through
//     Replica::OnPersisted, plus whatever compaction removed from the front. The core never writes
//     through this interface; the host does, between core calls.
//  3. Term(S) answers T_S; Term(i) for i < S answers kCompacted; for i > LastIndex() kUnavailable.
//  4. InitialState().conf is the configuration as of index S (config entries above S are found by
//     the core in the log itself).
//  5. Snapshot() returns metadata of the newest snapshot the host can ship, or kUnavailable while
//     one is being built (the core retries later). Its index may be above FirstIndex() - 1; one
//     below FirstIndex() - 1 (the log was compacted past it) is never shipped, so the host must
//     then build a newer one.
// Not thread-safe by itself: the core calls it from the thread that owns the replica.
#pragma once

#include <cstdint>
#include <expected>
#include <vector>

#include "raft/types.h"

namespace claw::raft {

enum class LogError : uint8_t {
  kCompacted,    // the requested index is at or below the snapshot point
  kUnavailable,  // beyond the log's end, or (for Snapshot) no snapshot ready yet
};

struct InitialState {
  HardState hard_state;
  ConfState conf;
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual InitialState GetInitialState() const = 0;
  // Entries in [lo, hi), at most max_bytes of payload but always at least one when lo < hi.
  virtual std::expected<std::vector<Entry>, LogError> Entries(LogIndex lo, LogIndex hi,
                                                              uint64_t max_bytes) const = 0;
  virtual std::expected<Term, LogError> TermAt(LogIndex i) const = 0;
  virtual LogIndex FirstIndex() const = 0;
  virtual LogIndex LastIndex() const = 0;
  virtual std::expected<SnapshotMeta, LogError> Snapshot() const = 0;
};

}  // namespace claw::raft
