// GroupLog: one Raft group's durable log in the `raft` column family, implementing
// raft::LogStorage for the group's Replica, with an in-memory cache of recent entries so the hot
// path rarely reads RocksDB. GroupWrite: one Ready's worth of changes on their way to the
// LogWriter (group commit) and back.
//
// Records (storage/README.md "raft column family"):
//   entry      crc32c (4B LE) | term (8B BE) | type (1B) | data
//              crc32c covers group, index, term, type and data, so a record read from the wrong
//              key also fails.
//   hard state term (8B BE) | vote (8B BE) | commit (8B BE) | crc32c (4B LE)
//   log state  index (8B BE) | term (8B BE) | conf (raft::EncodeConfState) | crc32c (4B LE)
//
// Threads: a GroupLog belongs to the raft worker that owns its group, like the Replica reading
// it: PrepareWrite, OnWritten and the LogStorage reads all run on that thread. The LogWriter
// thread only encodes GroupWrites (EncodeGroupWrite), it never touches a GroupLog.
//
// Lifecycle: Bootstrap (new group) or Open (existing group, verified) -> PrepareWrite /
// LogWriter / OnWritten cycles -> destroy.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <vector>

#include <rocksdb/write_batch.h>

#include "raft/log_storage.h"
#include "raft/ready.h"
#include "raft/types.h"
#include "storage/engine.h"
#include "storage/error.h"
#include "storage/key_codec.h"

namespace claw::storage {

// Changes to one group's log, applied atomically within the LogWriter's batch, in this order:
// drop entries in [drop_from, drop_to), write the new snapshot point, the entries, the hard state.
// Dropping serves a conflicting append (the stale suffix), installing a snapshot (everything) and
// compaction (the prefix up to the new point).
struct GroupWrite {
  GroupId group = 0;
  uint64_t drop_from = 0;
  uint64_t drop_to = 0;
  std::optional<raft::SnapshotMeta> point{};
  std::vector<raft::Entry> entries{};
  std::optional<raft::HardState> hard_state{};
  // Whether the batch carrying this write must be fsynced before it is acknowledged.
  bool sync = true;
  // Opaque to storage: the Replica's write id, handed back with the write (0 for compaction).
  raft::WriteId write_id = 0;
};

// Appends `w`'s records to `batch` (the LogWriter calls it for every write of a round).
void EncodeGroupWrite(const GroupWrite& w, rocksdb::ColumnFamilyHandle* raft_cf,
                      rocksdb::WriteBatch& batch);

struct GroupLogOptions {
  // Bytes of entry payload kept in memory per group (recent entries). Default 256 KiB.
  uint64_t cache_bytes = 256 << 10;
};

class GroupLog final : public raft::LogStorage {
 public:
  // Creates a new, empty group whose log starts at `point` (index 0 and the initial
  // configuration for a brand-new group). Writes and syncs its log state. Fails if it exists.
  [[nodiscard]] static std::expected<std::unique_ptr<GroupLog>, StorageError> Bootstrap(
      Engine* engine, GroupId group, const raft::SnapshotMeta& point, GroupLogOptions options = {});
  // Loads an existing group and verifies it: every stored entry's checksum, contiguous indexes,
  // and a hard state whose commit lies within the log. Corruption is reported with the group
  // and index (kCorruption); the node must then refuse to start.
  [[nodiscard]] static std::expected<std::unique_ptr<GroupLog>, StorageError> Open(
      Engine* engine, GroupId group, GroupLogOptions options = {});
  // Group ids that have a log state in `engine` (for startup).
  [[nodiscard]] static std::expected<std::vector<GroupId>, StorageError> ListGroups(Engine* engine);

  // Turns a Ready's write part into a GroupWrite (moving its entries). Call in Ready order.
  GroupWrite PrepareWrite(raft::Ready& ready);
  // A write that drops entries up to `through` (which must be durable and applied) and moves the
  // snapshot point there; `conf` is the configuration in effect at `through`. No sync needed.
  GroupWrite PrepareCompaction(uint64_t through, const raft::ConfState& conf);
  // The LogWriter made `w` durable: update the in-memory view (then call Replica::OnPersisted).
  void OnWritten(GroupWrite& w);

  // Offers a snapshot the Replica may ship (its data lives in snapshot files; see snapshot.h).
  void SetShippableSnapshot(const raft::SnapshotMeta& meta) { shippable_ = meta; }

  // raft::LogStorage
  raft::InitialState GetInitialState() const override;
  std::expected<std::vector<raft::Entry>, raft::LogError> Entries(
      raft::LogIndex lo, raft::LogIndex hi, uint64_t max_bytes) const override;
  std::expected<raft::Term, raft::LogError> TermAt(raft::LogIndex i) const override;
  raft::LogIndex FirstIndex() const override;
  raft::LogIndex LastIndex() const override;
  std::expected<raft::SnapshotMeta, raft::LogError> Snapshot() const override;

  GroupId group() const { return group_; }
  // Reads served from RocksDB rather than the cache, since Open (for tests and metrics).
  uint64_t cache_misses() const { return cache_misses_; }

 private:
  GroupLog(Engine* engine, GroupId group, GroupLogOptions options)
      : engine_(engine), group_(group), options_(options) {}
  // Reads entries [lo, hi) from RocksDB, verifying checksums; a bad record aborts (fail-stop):
  // it was verified at Open, so damage now means the disk lies.
  std::vector<raft::Entry> ReadFromDisk(uint64_t lo, uint64_t hi, uint64_t max_bytes) const;
  void TrimCache();

  Engine* engine_;
  GroupId group_;
  GroupLogOptions options_;
  raft::SnapshotMeta point_;       // durable snapshot point (log state)
  raft::HardState hard_state_;     // durable
  uint64_t last_index_ = 0;        // durable
  uint64_t prepared_last_ = 0;     // last index once every prepared write lands
  std::deque<raft::Entry> cache_;  // a suffix of the durable log, contiguous
  uint64_t cache_bytes_ = 0;
  std::optional<raft::SnapshotMeta> shippable_;
  mutable uint64_t cache_misses_ = 0;
};

// Record codecs, exposed for tests and offline tools.
std::string EncodeEntryRecord(GroupId group, const raft::Entry& e);
std::expected<raft::Entry, StorageError> DecodeEntryRecord(GroupId group, uint64_t index,
                                                           std::string_view record);

}  // namespace claw::storage
