#include "storage/log_writer.h"

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace claw::storage {

LogWriter::LogWriter(Engine* engine, uint64_t max_batch_bytes, BatchObserver observer)
    : engine_(engine),
      max_batch_bytes_(max_batch_bytes),
      observer_(std::move(observer)),
      thread_([this] { Run(); }) {}

LogWriter::~LogWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void LogWriter::Submit(GroupWrite w, Callback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Pending{.write = std::move(w), .done = std::move(done)});
  }
  cv_.notify_one();
}

std::optional<std::chrono::steady_clock::time_point> LogWriter::busy_since() const {
  const int64_t since = busy_since_.load(std::memory_order_relaxed);
  if (since == 0) return std::nullopt;
  return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(since));
}

LogWriterStats LogWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void LogWriter::Run() {
  ::pthread_setname_np(::pthread_self(), "log-writer");  // for top -H, perf, gdb
  std::vector<Pending> round;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      round.swap(queue_);
    }
    WriteRound(round);
    round.clear();
  }
}

void LogWriter::WriteRound(std::vector<Pending>& round) {
  // Split the round into batches of at most max_batch_bytes_ (at least one write each), in order.
  size_t begin = 0;
  while (begin < round.size()) {
    rocksdb::WriteBatch batch;
    bool sync = false;
    uint64_t entries = 0;
    size_t end = begin;
    while (end < round.size() && (end == begin || batch.GetDataSize() < max_batch_bytes_)) {
      EncodeGroupWrite(round[end].write, engine_->raft_cf(), batch);
      sync = sync || round[end].write.sync;
      entries += round[end].write.entries.size();
      ++end;
    }
    const auto started = std::chrono::steady_clock::now();
#ifdef CLAW_BREAK_ACK_BEFORE_FSYNC
    // Deliberately broken (tests/fault's positive control for S16, never in clawd): writes that
    // need a sync are acknowledged after the plain write; the WAL is synced only in the first
    // batch of each 2-second period of the steady clock, so the acknowledged tail lags the durable
    // log by up to 2 s, at the same phase on every node of the machine.
    {
      static int64_t synced_period = -1;  // only the writer thread touches it
      const int64_t period = std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count() / 2;
      if (sync && period == synced_period) sync = false;
      if (sync) synced_period = period;
    }
#endif
    busy_since_.store(started.time_since_epoch().count(), std::memory_order_relaxed);
    for (;;) {
      auto written = engine_->Write(batch, sync ? Durability::kSync : Durability::kNoSync);
      if (written) break;
      if (written.error().code != StorageErrorCode::kNoSpace) {
        std::fprintf(stderr, "clawd: raft log write failed, stopping (fail-stop): %s\n",
                     written.error().message.c_str());
        std::abort();
      }
      // Disk full: nothing of this batch was written. Wait for space, clear RocksDB's
      // background error and try the same batch again.
      no_space_.store(true, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      engine_->db()->Resume().PermitUncheckedError();
    }
    no_space_.store(false, std::memory_order_relaxed);
    busy_since_.store(0, std::memory_order_relaxed);
    if (observer_) {
      observer_(LogBatchTiming{.duration = std::chrono::steady_clock::now() - started,
                               .synced = sync,
                               .bytes = batch.GetDataSize(),
                               .writes = end - begin});
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.rounds;
      stats_.syncs += sync ? 1 : 0;
      stats_.writes += end - begin;
      stats_.entries += entries;
      stats_.bytes += batch.GetDataSize();
    }
    for (size_t i = begin; i < end; ++i) round[i].done(round[i].write);
    begin = end;
  }
}

}  // namespace claw::storage
