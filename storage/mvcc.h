// MVCC: versioned user data in the `data` column family (storage/README.md "data column family"
// is the format spec). Every write is a new version of its key at a HybridClock timestamp; a
// delete is a tombstone version; reads see the newest version at or below their timestamp; GC
// drops the versions no read at or above a safe point can see.
//
//   key   = memcomparable(user key) | ~ts (8B BE)    newest version of a key first
//   value = type (1B: 0x01 put, 0x02 tombstone) | payload (put only)
//
// Pieces:
//   MvccWriter  appends versions to a caller's rocksdb::WriteBatch; the caller commits it (the
//               apply stage adds the applied index to the same batch). Not thread-safe (the batch
//               is not); one per batch.
//   MvccReader  Get and Scan at a timestamp over one consistent RocksDB snapshot (its own, or one
//               the caller owns). Immutable after construction: Get/Scan may run concurrently.
//   MvccGc      removes the versions hidden below a safe point, writing deletes directly in
//               bounded batches. May run concurrently with readers and writers as long as every
//               write after GC starts uses a timestamp above the safe point.
//
// Errors: a key that does not decode or a value with an unknown type byte is kCorruption with the
// raw key in hex, and is never served as data. RocksDB failures map through FromRocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include "storage/engine.h"
#include "storage/error.h"
#include "storage/hlc.h"

namespace claw::storage {

// --- Encoding. Pure functions, thread-safe.

enum class MvccValueType : uint8_t {
  kPut = 0x01,        // payload = the user value (may be empty)
  kTombstone = 0x02,  // no payload: the key is deleted as of this version
};

// memcomparable(user_key) | ~ts (8B BE).
std::string EncodeMvccKey(std::string_view user_key, Timestamp ts);

struct MvccKey {
  std::string user_key;
  Timestamp ts;
};
// Inverse of EncodeMvccKey; kCorruption (naming the key in hex) when `key` is not one, including a
// version at Timestamp{} (never written).
[[nodiscard]] std::expected<MvccKey, StorageError> DecodeMvccKey(std::string_view key);

std::string EncodeMvccPut(std::string_view value);
std::string EncodeMvccTombstone();

struct MvccValue {
  MvccValueType type = MvccValueType::kPut;
  std::string_view payload;  // points into the decoded buffer; empty for a tombstone
};
// Decodes a stored value; kCorruption naming `raw_key` (hex) for an empty value, an unknown type
// byte or a tombstone with a payload.
[[nodiscard]] std::expected<MvccValue, StorageError> DecodeMvccValue(std::string_view raw_key,
                                                                     std::string_view value);

// --- Writes.

class MvccWriter {
 public:
  // `batch` is borrowed and must outlive the writer; `engine` supplies the data column family and,
  // for DeleteRange, the state to read.
  MvccWriter(const Engine& engine, rocksdb::WriteBatch& batch);

  // Adds a version of `key` at `ts` holding `value`. A second write of the same key at the same
  // timestamp replaces the first. kInvalidArgument for ts == Timestamp{}.
  [[nodiscard]] std::expected<void, StorageError> Put(std::string_view key, Timestamp ts,
                                                      std::string_view value);
  // Adds a tombstone version of `key` at `ts`: reads at or above ts no longer see older versions.
  [[nodiscard]] std::expected<void, StorageError> Delete(std::string_view key, Timestamp ts);

  // MVCC range delete: adds a tombstone at `ts` for every key in [start, end) (end empty =
  // unbounded) that is live at `ts` in the engine's committed state, and returns how many. Cost
  // is O(live keys in the range) reads and writes; the batch grows by one entry per live key.
  // Reads the committed state only: versions added earlier to this same batch are not seen.
  [[nodiscard]] std::expected<uint64_t, StorageError> DeleteRange(std::string_view start,
                                                                  std::string_view end,
                                                                  Timestamp ts);

 private:
  const Engine& engine_;
  rocksdb::WriteBatch& batch_;
};

// --- Reads.

enum class ScanDirection : uint8_t {
  kForward,  // ascending user keys, from start
  kReverse,  // descending user keys, from just below end
};

struct KeyValue {
  std::string key;
  std::string value;
  bool operator==(const KeyValue&) const = default;
};

struct ScanRequest {
  std::string start{};  // inclusive
  std::string end{};    // exclusive; empty = unbounded
  Timestamp ts{};       // read timestamp: versions at or below it are visible
  size_t limit = 0;     // most pairs to return; 0 = no limit
  ScanDirection direction = ScanDirection::kForward;
};

struct ScanResult {
  // Live keys visible at ts, in scan order.
  std::vector<KeyValue> kvs;
  // Set only when the limit cut the scan and more live keys remain. It is the bound to replace to
  // read the next page: forward, the new `start` (the first live key not returned); reverse, the
  // new `end` (the last key returned, exclusive).
  std::optional<std::string> resume_key;
};

class MvccReader {
 public:
  // Called per live key in scan order; returns false to stop.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;

  // Reads at a RocksDB snapshot the reader takes now and releases when destroyed.
  explicit MvccReader(const Engine& engine);
  // Reads at `snapshot`, owned by the caller, who keeps it alive until the reader is destroyed.
  MvccReader(const Engine& engine, const rocksdb::Snapshot* snapshot);
  ~MvccReader();
  MvccReader(const MvccReader&) = delete;
  MvccReader& operator=(const MvccReader&) = delete;

  // The value of the newest version of `key` with version ts <= `ts`; nullopt when there is none
  // or it is a tombstone.
  [[nodiscard]] std::expected<std::optional<std::string>, StorageError> Get(std::string_view key,
                                                                            Timestamp ts) const;

  // Live keys in [start, end) at ts; see ScanRequest and ScanResult. kInvalidArgument when
  // end is set and below start.
  [[nodiscard]] std::expected<ScanResult, StorageError> Scan(const ScanRequest& request) const;

  // The streaming form of Scan without a limit: calls `visit` for each live key in [start, end)
  // at ts in `direction` order until it returns false. The views are valid during the call only.
  [[nodiscard]] std::expected<void, StorageError> ForEach(std::string_view start,
                                                          std::string_view end, Timestamp ts,
                                                          ScanDirection direction,
                                                          const Visitor& visit) const;

  const Engine& engine() const { return engine_; }
  const rocksdb::Snapshot* snapshot() const { return snapshot_; }

 private:
  const Engine& engine_;
  const rocksdb::Snapshot* snapshot_;
  bool owns_snapshot_;
};

// --- History: every version, not only the visible one.

// One stored version, as ForEachVersion hands it over. The views are valid during the call only.
struct MvccVersion {
  std::string_view key{};
  Timestamp ts{};
  MvccValueType type = MvccValueType::kPut;
  std::string_view payload{};  // empty for a tombstone
  // False for the versions in (after, upto]; true for the one version per key at or below
  // `after` handed over with VersionScan::kWithBase (the state the first event replaced).
  bool base = false;
};

struct VersionScanRequest {
  std::string start{};  // inclusive
  std::string end{};    // exclusive; empty = unbounded
  Timestamp after{};    // versions with ts > after ...
  Timestamp upto = Timestamp::Max();  // ... and ts <= upto
  // Also hand over, per key that has a version in the window, the newest version at or below
  // `after` (base = true), after that key's window versions: a watch's catch-up uses it as the
  // previous value of the key's oldest event.
  bool with_base = false;
};

// Calls `visit` for every version in the request's key range and timestamp window, keys
// ascending and, within a key, newest first (the storage order); returns false to stop. Tombstones
// are versions too (type kTombstone). Reads the reader's snapshot.
using VersionVisitor = std::function<bool(const MvccVersion& version)>;
[[nodiscard]] std::expected<void, StorageError> ForEachVersion(const MvccReader& reader,
                                                               const VersionScanRequest& request,
                                                               const VersionVisitor& visit);

// --- Garbage collection.

struct GcOptions {
  // Deletes are written (kNoSync: a lost GC write is redone by the next pass) whenever the
  // pending batch reaches this many bytes, bounding memory and write stalls. Default 1 MiB.
  uint64_t max_batch_bytes = 1 << 20;
};

struct GcStats {
  uint64_t keys_scanned = 0;      // user keys seen
  uint64_t versions_scanned = 0;  // versions seen
  uint64_t versions_removed = 0;  // versions deleted
  uint64_t bytes_removed = 0;     // their key + value bytes
};

// Removes from [start, end) (end empty = unbounded) every version that no read at a timestamp
// >= safe_point can see. Per user key, newest first:
//   1. versions with ts > safe_point are kept;
//   2. the newest version with ts <= safe_point is kept if it is a put, removed if a tombstone;
//   3. all older versions are removed.
// So Get and Scan at any ts >= safe_point answer the same before and after. Cost: O(versions in
// the range). Writers must use timestamps above safe_point once GC may run. On error, the
// batches already written stay written (each removal is correct on its own).
[[nodiscard]] std::expected<GcStats, StorageError> MvccGc(Engine& engine, std::string_view start,
                                                          std::string_view end,
                                                          Timestamp safe_point,
                                                          const GcOptions& options = {});

}  // namespace claw::storage
