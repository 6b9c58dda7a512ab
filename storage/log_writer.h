// LogWriter: group commit for the Raft logs of every group on the node (DESIGN.md write path
// step 4). Producers Submit GroupWrites; one writer thread takes everything submitted so far,
// encodes it into one WriteBatch, writes it with one WAL sync (or none when no write in the
// round needs one), and hands every write back through its callback. While a round is being
// synced new submissions queue for the next round, so a producer waits for at most the round in
// progress plus its own: producers never serialize on each other's fsyncs.
//
// Ordering: writes are made durable in submission order; in particular one group's writes (which
// its single owner thread submits in Ready order) stay in order.
//
// Failures (STYLE.md "Errors"): a write that fails with kNoSpace is retried, after
// db->Resume(), until space returns (nothing was written, so this is not an fsync retry);
// no_space() reports the condition so the node can refuse new client writes. Any other failure
// is fatal: the process stops (fail-stop), because the durability of the log is then unknown.
//
// Threads: Submit is thread-safe. Callbacks run on the writer thread and must be quick (post the
// write back to the owning raft worker); they may run until the destructor returns, so destroy the
// LogWriter before anything they touch. Lifecycle: construct (starts the thread) -> Submit ... ->
// destroy (drains queued writes, then joins).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "storage/engine.h"
#include "storage/raft_log_store.h"

namespace claw::storage {

struct LogWriterStats {
  uint64_t rounds = 0;   // batches written
  uint64_t syncs = 0;    // batches written with a WAL sync
  uint64_t writes = 0;   // GroupWrites made durable
  uint64_t entries = 0;  // Raft entries made durable
  uint64_t bytes = 0;    // WriteBatch bytes
};

// One batch written by the LogWriter, for monitoring.
struct LogBatchTiming {
  std::chrono::nanoseconds duration{};  // the Engine::Write call, including its WAL fsync if synced
  bool synced = false;
  uint64_t bytes = 0;
  uint64_t writes = 0;
};

class LogWriter {
 public:
  using Callback = std::function<void(GroupWrite&)>;
  // Called on the writer thread after every batch, before its callbacks; must be quick.
  using BatchObserver = std::function<void(const LogBatchTiming&)>;

  // Largest batch (in bytes of encoded records) one round takes; the rest waits for the next.
  explicit LogWriter(Engine* engine, uint64_t max_batch_bytes = 8ull << 20, BatchObserver observer = {});
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Queues `w`; `done` receives it back once it is durable.
  void Submit(GroupWrite w, Callback done);

  bool no_space() const { return no_space_.load(std::memory_order_relaxed); }
  LogWriterStats stats() const;
  // When the batch being written now started (steady clock), or nullopt when the writer is idle
  // or between batches: a watchdog's proof that the log path is not stuck in a write or fsync.
  std::optional<std::chrono::steady_clock::time_point> busy_since() const;

 private:
  struct Pending {
    GroupWrite write;
    Callback done;
  };
  void Run();
  void WriteRound(std::vector<Pending>& round);

  Engine* engine_;
  const uint64_t max_batch_bytes_;
  const BatchObserver observer_;
  std::atomic<int64_t> busy_since_{0};  // steady-clock ticks; 0 = not in a write
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  LogWriterStats stats_;        // guarded by mu_
  std::atomic<bool> no_space_{false};
  std::thread thread_;
};

}  // namespace claw::storage
