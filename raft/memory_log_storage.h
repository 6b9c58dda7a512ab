// MemoryLogStorage: a LogStorage held in memory, for tests, the simulator and the local demo.
// The production implementation lives in storage/ (RocksDB); both honour log_storage.h's contract.
//
// The host writes through the mutators below, in the order Ready prescribes; the core reads through
// LogStorage. Thread-compatible.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "raft/log_storage.h"
#include "raft/types.h"

namespace claw::raft {

class MemoryLogStorage final : public LogStorage {
 public:
  // An empty log whose snapshot point is (index 0, term 0) with configuration `initial_conf`:
  // bootstrap every initial voter of a new group with the same one.
  explicit MemoryLogStorage(ConfState initial_conf = {});

  void SetHardState(const HardState& hs);
  // Appends entries that must continue the log or overwrite a suffix of it: entries.front().index
  // must be in [FirstIndex(), LastIndex() + 1]. Entries at or after it are discarded first.
  void Append(std::vector<Entry> entries);
  // Replaces the whole log by the snapshot point `meta` (installing a snapshot from the leader).
  void InstallSnapshot(const SnapshotMeta& meta);
  // Drops entries up to and including `through` (which must be <= LastIndex()), moving the snapshot
  // point there; `conf` is the configuration in effect at `through`.
  void Compact(LogIndex through, const ConfState& conf);
  // Offers `meta` as the snapshot the core may ship to lagging followers.
  void SetShippableSnapshot(const SnapshotMeta& meta);

  InitialState GetInitialState() const override;
  std::expected<std::vector<Entry>, LogError> Entries(LogIndex lo, LogIndex hi,
                                                      uint64_t max_bytes) const override;
  std::expected<Term, LogError> TermAt(LogIndex i) const override;
  LogIndex FirstIndex() const override;
  LogIndex LastIndex() const override;
  std::expected<SnapshotMeta, LogError> Snapshot() const override;

  const HardState& hard_state() const { return hard_state_; }
  // The snapshot point (index, term, configuration).
  const SnapshotMeta& snapshot_point() const { return point_; }

 private:
  HardState hard_state_;
  SnapshotMeta point_;  // entries_ start at point_.index + 1
  std::deque<Entry> entries_;
  std::optional<SnapshotMeta> shippable_;
};

}  // namespace claw::raft
