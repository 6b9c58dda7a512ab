// HistoryGc: the node's MVCC garbage collector. Every `interval` it collects, on each local data
// shard, the versions no read at or above the safe point (now - retention) can see
// (storage::MvccGc), keeping `retention` of history for watches (server/README.md "Watches").
//
// Not through Raft: each replica collects on its own schedule. That is safe because GC never
// changes what a read at or above the safe point sees (the consistency check hashes live state
// only), and writes are stamped at HLC time far above it. Before collecting a shard it raises
// the shard's GC threshold on the shard's worker (Store::RaiseGcThresholds), so that a watch
// registered afterwards from a revision below the safe point is refused (COMPACTED) while one
// registered before reads a RocksDB snapshot the collection cannot touch.
//
// Off the raft workers' hot path: one thread of its own; MvccGc writes in bounded batches (1 MiB,
// no fsync). Thread-safety: Start/Stop from one thread. Lifecycle: construct -> Start -> Stop
// (joins) before the Store is stopped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "storage/engine.h"

namespace claw::server {

class Store;

class HistoryGc {
 public:
  HistoryGc(Store* store, storage::Engine* engine, uint64_t retention_ms, uint64_t interval_ms);
  ~HistoryGc();
  HistoryGc(const HistoryGc&) = delete;
  HistoryGc& operator=(const HistoryGc&) = delete;

  void Start();
  void Stop();

 private:
  void Run();
  void Pass();

  Store* store_;
  storage::Engine* engine_;
  const uint64_t retention_ms_;
  const uint64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace claw::server
