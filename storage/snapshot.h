// Shard snapshots: every `data` column family key of one shard's user-key range, at one
// consistent point (the shard's applied index), as a directory of SST files plus a MANIFEST
// (storage/README.md "Snapshots" is the format spec). Used to bring a far-behind or new replica up
// to date (DESIGN.md "Storage": built from the shard's key range, installed with SST ingestion).
//
// Flow: the leader's node calls ExportShardSnapshot into a fresh directory; the directory is
// shipped file by file (MANIFEST last); the receiver calls IngestShardSnapshot, which verifies
// every byte before touching its data, then replaces the shard's range atomically. The caller
// records the applied index/term and configuration from the returned manifest in its own
// metadata, and removes the directory when it no longer needs it.
//
// Invariants of a snapshot directory:
//   1. A directory without a MANIFEST is not a snapshot (export writes the MANIFEST last, after
//      every SST file and the directory are fsynced; the MANIFEST itself appears by rename).
//   2. The MANIFEST carries its own CRC-32C and the size, CRC-32C and key count of every file.
//   3. Files are listed in key order; their key ranges are disjoint and lie inside the data-CF
//      range of the shard, [Enc(start), Enc(end)) (Enc = EncodeMemcomparable; end empty = +inf).
//   4. Every MVCC version present at the snapshot point is included; nothing written after it is.
//
// Thread-safety: free functions without shared state. Export may run while writes continue (it
// reads from a rocksdb::Snapshot). Ingest requires that nothing else writes into the shard's range
// while it runs (the shard's apply loop is the caller). Different directories, different shards:
// any concurrency.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"
#include "storage/engine.h"
#include "storage/error.h"
#include "storage/key_codec.h"

namespace claw::storage {

inline constexpr uint64_t kSnapshotFormatVersion = 1;
// File name of the manifest inside a snapshot directory.
inline constexpr std::string_view kSnapshotManifestName = "MANIFEST";

// A shard's user-key range [start, end): start inclusive, end exclusive; an empty end means
// +infinity. Valid when end is empty or start < end (bytewise).
struct ShardRange {
  std::string start;
  std::string end;

  bool operator==(const ShardRange&) const = default;
  bool Valid() const { return end.empty() || start < end; }
};

struct SnapshotRequest {
  GroupId group = 0;
  ShardRange range;
  // The shard's state machine position the snapshot represents; recorded, not interpreted.
  raft::LogIndex applied_index;
  raft::Term applied_term;
  // Host metadata recorded with the snapshot and handed back by Verify/Ingest; opaque bytes here.
  // (clawd stores the shard's configuration and apply state: claw.v1.ShardSnapshotState.)
  std::string conf;
  // Target directory: created if missing; must be empty (a snapshot is never written over
  // another one, whose files might be hard-linked elsewhere or still be read).
  std::string dir;
  // A new SST file is started once the current one reaches this size (approximately: the check
  // happens per key, the size grows per 16 KiB block). Must be > 0. Default 64 MiB.
  uint64_t max_file_bytes = 64ull << 20;
  // Export no data files, only the manifest (with `range` recorded): for a group whose whole state
  // travels in `conf` (clawd's meta shard, which owns no user keys). Such a snapshot must never be
  // ingested (that would clear `range`); the host reads its manifest instead.
  bool state_only = false;
};

// One SST file of a snapshot, as recorded in the manifest.
struct SnapshotFile {
  std::string name;  // plain file name inside the snapshot directory
  uint64_t size = 0;
  uint32_t crc32c = 0;  // of the whole file
  uint64_t key_count = 0;

  bool operator==(const SnapshotFile&) const = default;
};

struct SnapshotManifest {
  uint64_t format_version = kSnapshotFormatVersion;
  GroupId group = 0;
  ShardRange range;
  raft::LogIndex applied_index;
  raft::Term applied_term;
  std::string conf;
  std::vector<SnapshotFile> files;  // in key order

  uint64_t KeyCount() const;
  uint64_t TotalBytes() const;
  bool operator==(const SnapshotManifest&) const = default;
};

// Writes the snapshot of `request.range` (all versions of the data column family) into
// request.dir and returns its manifest. Consistent: reads through one rocksdb::Snapshot taken at
// the start, so concurrent writes do not appear. Every file and the directory are fsynced and the
// MANIFEST is written last, atomically. An empty range yields a manifest with zero files.
// Errors: kInvalidArgument (invalid range, max_file_bytes 0, directory not empty), kIo/kNoSpace.
// On error the directory may hold partial files but no MANIFEST; the caller removes it.
[[nodiscard]] std::expected<SnapshotManifest, StorageError> ExportShardSnapshot(
    Engine& engine, const SnapshotRequest& request);

// Reads the MANIFEST of `dir` and checks it (its CRC, its fields) and every file it lists: size,
// CRC-32C, and, by opening it as an SST, its key count and that its keys lie in the manifest's
// range and in file order. Returns the manifest when all holds. Errors: kNotFound (no MANIFEST),
// kCorruption naming the file and the expected vs actual value (also for a missing SST file),
// kIo.
[[nodiscard]] std::expected<SnapshotManifest, StorageError> VerifyShardSnapshot(
    const std::string& dir);

// Replaces the shard's data with the snapshot in `dir`: verifies it (VerifyShardSnapshot; nothing
// unverified is ever ingested), checks that it belongs to `expected_group` and `expected_range`
// (kInvalidArgument otherwise), then, in ONE IngestExternalFile call (atomic, also across a
// crash), ingests a range tombstone over the shard's data-CF range followed by the snapshot's
// files (copied; `dir` stays intact and may be ingested again). Keys outside the range are never
// touched. Returns the manifest; the caller then records applied index/term and conf.
// Uses `dir` for one temporary file (subdirectory "ingest.tmp", removed afterwards).
[[nodiscard]] std::expected<SnapshotManifest, StorageError> IngestShardSnapshot(
    Engine& engine, const std::string& dir, GroupId expected_group,
    const ShardRange& expected_range);

// Removes everything this node keeps for its replica of `group`, in one synced write: the Raft
// log, hard state and log state (raft CF), the apply state, dedup records, host state and shard
// descriptor (meta CF), and the data of `range` (data CF; a range tombstone, or nothing when `range` is
// nullopt: a replica that never received data, or the meta shard). Records `replica_id` as the
// group's tombstone (ReplicaTombstone), so that late messages to a destroyed replica do not
// recreate it. The caller guarantees no other local replica owns any key of `range` and no write
// of the group is in flight.
[[nodiscard]] std::expected<void, StorageError> DestroyReplica(Engine& engine, GroupId group,
                                                               const std::optional<ShardRange>& range,
                                                               uint64_t replica_id);
// Approximate bytes of the shard's data (all versions) in the `data` CF, memtables included: for
// load reports and size-based splits. Cheap (file metadata and memtable statistics, no scan); an
// unbounded range is measured up to keys starting with nine 0xFF bytes.
[[nodiscard]] std::expected<uint64_t, StorageError> ApproximateShardBytes(Engine& engine, const ShardRange& range);

// The replica id last destroyed in `group` on this node (0 = none).
[[nodiscard]] std::expected<uint64_t, StorageError> ReplicaTombstone(Engine& engine, GroupId group);

// MANIFEST bytes (storage/README.md "Snapshots"). Decode checks the trailing CRC-32C, the magic,
// the version, every length and the range's validity; kCorruption on any failure. Exposed for
// the transport, which ships a manifest before its files, and for tests.
std::string EncodeSnapshotManifest(const SnapshotManifest& manifest);
[[nodiscard]] std::expected<SnapshotManifest, StorageError> DecodeSnapshotManifest(
    std::string_view bytes);

}  // namespace claw::storage
