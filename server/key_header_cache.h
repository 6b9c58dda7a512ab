// KeyHeaderCache: the newest version header of recently written keys of one shard, so that a
// blind put or delete computes its version, create timestamp and lease without reading RocksDB.
//
// Why: a put must know the key's current version and create timestamp (and its lease, for the
// lease index). Reading them was a RocksDB iterator seek per written key per replica, through
// every memtable and L0 file: the largest single cost of applying batched puts (perf:
// InlineSkipList::FindGreaterOrEqual, 9 % of the machine under 100-put batches).
//
// Contract: an entry says what a read of the committed state at Timestamp::Max() would say about
// the key's newest version: exists or not, and if it does its version, create_ts, mod_ts and
// lease (never the value). The owner keeps it true:
//   1. entries are added only from committed state: a read of RocksDB, or the round's writes once
//      their batch is in RocksDB (KvStateMachine::OnBatchWritten);
//   2. anything that changes data outside the apply path (a snapshot install) clears the cache;
//   3. MVCC GC may drop a newest tombstone, which reads as "does not exist" before and after.
// Memory: two generations (a young map that takes inserts and hits, an old one that is only
// looked up, its hits moved to the young one). Every cache of a node counts its entries in one
// shared KeyHeaderCacheBudget; a cache that inserts while the node is over budget drops its old
// generation and the young one becomes old (least recently used keys go first, approximately).
// Caches of shards that stopped writing are cleared by their owner (ClearIfIdle), so that idle
// shards do not hold the budget.
//
// Threads: one cache per state machine, used by the raft worker that owns it; the budget is
// shared by all workers (atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "server/flat_string_map.h"

namespace claw::server {

// The newest version of a key, without its value. version == 0: the key does not exist (never
// written, or its newest version is a tombstone).
struct KeyHeader {
  uint64_t version = 0;
  uint64_t create_ts = 0;
  uint64_t mod_ts = 0;
  uint64_t lease = 0;
  bool exists() const { return version != 0; }
};

// Entries held by every KeyHeaderCache of a node, and the limit they share.
struct KeyHeaderCacheBudget {
  explicit KeyHeaderCacheBudget(uint64_t limit_entries) : limit(static_cast<int64_t>(limit_entries)) {}
  std::atomic<int64_t> used{0};
  const int64_t limit;
  // Lookups of every cache of the node (clawd_key_header_cache_{hits,misses}_total).
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
};

class KeyHeaderCache {
 public:
  // `budget` must outlive the cache; nullptr or a limit of 0 disables caching.
  explicit KeyHeaderCache(KeyHeaderCacheBudget* budget) : budget_(budget) {}
  ~KeyHeaderCache() { Clear(); }
  KeyHeaderCache(const KeyHeaderCache&) = delete;
  KeyHeaderCache& operator=(const KeyHeaderCache&) = delete;

  std::optional<KeyHeader> Find(const std::string& key);
  void Put(const std::string& key, const KeyHeader& header);
  void Clear();
  // Clears the cache if nothing was put since the last call.
  void ClearIfIdle();
  uint64_t size() const { return young_.size() + old_.size(); }

 private:
  bool enabled() const { return budget_ != nullptr && budget_->limit > 0; }
  void Rotate();

  KeyHeaderCacheBudget* budget_;
  FlatStringMap<KeyHeader> young_;
  FlatStringMap<KeyHeader> old_;
  bool put_since_check_ = false;
};

}  // namespace claw::server
