// ReplicaHashes: this node's results of consistency checks (server/README.md "Consistency
// checks"). When a replica applies a ConsistencyCheck entry, its raft worker writes the apply
// batch up to that entry, takes a RocksDB snapshot at once (so the snapshot holds the shard's
// state at exactly that index) and hands it here; one background thread hashes the shard's range
// from the snapshot (storage::HashRange), so a big shard never stalls the apply path. Results stay
// in memory: the last kKeptPerShard checks of each shard.
//
// Bounds: at most kMaxQueued checks wait for the hasher (each pins a RocksDB snapshot); beyond it
// a check fails at once ("too many checks queued"), which the caller sees as UNAVAILABLE and
// retries with a new check. Results of shards this node no longer hosts are dropped by Forget.
//
// Threads: every method is thread-safe. Lifecycle: constructed with the Store, before its
// workers; the destructor stops the hasher (queued checks are dropped) and joins it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "storage/engine.h"
#include "storage/state_hash.h"

namespace claw::server {

class ReplicaHashes {
 public:
  static constexpr size_t kKeptPerShard = 8;
  static constexpr size_t kMaxQueued = 256;

  enum class State : uint8_t {
    kPending,  // queued or being hashed
    kDone,     // hash and keys are set
    kFailed,   // error says why; never retried
  };
  struct Result {
    State state = State::kPending;
    std::string hash{};
    uint64_t keys = 0;
    std::string error{};
  };

  explicit ReplicaHashes(storage::Engine* engine);
  ~ReplicaHashes();
  ReplicaHashes(const ReplicaHashes&) = delete;
  ReplicaHashes& operator=(const ReplicaHashes&) = delete;

  // Records the check of `shard` at `index` as pending and queues its hash over [start, end)
  // from a snapshot taken now. The caller guarantees the engine holds the shard's state at
  // exactly `index` (its apply batch through the entry is written, nothing after it).
  void Start(uint64_t shard, uint64_t index, std::string start, std::string end);
  // The result of the check at (shard, index); nullopt when there was none or it was evicted.
  std::optional<Result> Find(uint64_t shard, uint64_t index) const;
  // Drops every result of `shard` (its replica here was destroyed).
  void Forget(uint64_t shard);

 private:
  struct Job {
    uint64_t shard = 0;
    uint64_t index = 0;
    std::string start{}, end{};
    std::unique_ptr<storage::ReadSnapshot> snapshot{};
  };
  void Run();
  // Records a result, evicting the shard's oldest beyond kKeptPerShard (mu_ held).
  void Keep(uint64_t shard, uint64_t index, Result result);

  storage::Engine* engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;                                  // guarded by mu_
  std::map<uint64_t, std::map<uint64_t, Result>> results_;  // shard -> index -> result; mu_
  bool stopping_ = false;                                  // guarded by mu_
  std::thread thread_;
};

}  // namespace claw::server
