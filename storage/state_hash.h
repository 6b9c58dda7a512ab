// The consistency check's hash of a shard's user-visible state (reliability.md §10.1 "replica
// hash"; server/README.md "Consistency checks"): every replica hashes the same range at the same
// applied index, from a RocksDB snapshot, and the results must be equal.
//
//   StateHasher  a streaming 128-bit hash of length-prefixed fields. Not cryptographic: it finds
//                accidental divergence (a lost, extra or changed write), not forgeries. Two lanes
//                of 64 bits absorb 8-byte words with different odd multipliers and rotations and
//                are cross-mixed at the end with a 64-bit avalanche (xor-shift-multiply) step;
//                every field is preceded by its length, so moving bytes between fields changes the
//                hash. Pure, copyable; one thread per instance.
//   ReadSnapshot a RocksDB snapshot of an Engine (a consistent point-in-time view), released on
//                destruction. Thread-safe to read from; the Engine must outlive it.
//   HashRange    hashes the live keys of [start, end) (end empty = unbounded) visible in a
//                snapshot: for each key in order its user key and its stored value (the MVCC put
//                payload: server/kv_state_machine.h's version | create_ts | mod_ts | value), then
//                the range bounds and the key count. Tombstones and versions hidden by newer ones
//                are left out: MVCC garbage collection runs on each node on its own schedule, so
//                they are node-local. Cost: one pass over the range's versions.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "storage/engine.h"
#include "storage/error.h"

namespace claw::storage {

class StateHasher {
 public:
  // Absorbs one field: its length (8 bytes), then its bytes.
  void Add(std::string_view field);
  void AddU64(uint64_t v);
  // The hash of everything absorbed so far: 32 lowercase hex digits.
  std::string HexDigest() const;

 private:
  void Word(uint64_t w);

  uint64_t a_ = 0x243f6a8885a308d3ull;
  uint64_t b_ = 0x13198a2e03707344ull;
  uint64_t words_ = 0;
};

class ReadSnapshot {
 public:
  explicit ReadSnapshot(const Engine& engine);
  ~ReadSnapshot();
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  const Engine& engine_;
  const rocksdb::Snapshot* snapshot_;
};

struct RangeHash {
  std::string hash{};  // StateHasher::HexDigest
  uint64_t keys = 0;   // live keys hashed
  uint64_t bytes = 0;  // their key and value bytes
};

[[nodiscard]] std::expected<RangeHash, StorageError> HashRange(const Engine& engine,
                                                               const ReadSnapshot& snapshot,
                                                               std::string_view start,
                                                               std::string_view end);

}  // namespace claw::storage
