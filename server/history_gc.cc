#include "server/history_gc.h"

#include <spdlog/spdlog.h>

#include "server/store.h"
#include "server/thread_name.h"
#include "storage/hlc.h"
#include "storage/mvcc.h"

namespace claw::server {

HistoryGc::HistoryGc(Store* store, storage::Engine* engine, uint64_t retention_ms, uint64_t interval_ms)
    : store_(store), engine_(engine), retention_ms_(retention_ms), interval_ms_(interval_ms) {}

HistoryGc::~HistoryGc() { Stop(); }

void HistoryGc::Start() {
  // A previous run of this node may have collected up to its own now - retention, which is
  // below ours: raise every shard's threshold to ours before serving watches.
  const auto now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (now_ms > retention_ms_) {
    (void)store_->RaiseGcThresholds((now_ms - retention_ms_) << storage::Timestamp::kLogicalBits);
  }
  thread_ = std::thread([this] { Run(); });
}

void HistoryGc::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HistoryGc::Run() {
  NameThisThread("mvcc-gc");
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; })) {
    lock.unlock();
    Pass();
    lock.lock();
  }
}

void HistoryGc::Pass() {
  const auto now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (now_ms <= retention_ms_) return;
  const uint64_t safe_point = (now_ms - retention_ms_) << storage::Timestamp::kLogicalBits;
  uint64_t removed = 0;
  for (const auto& [shard, start, end] : store_->RaiseGcThresholds(safe_point)) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto stats = storage::MvccGc(*engine_, start, end, storage::Timestamp(safe_point));
    if (!stats) {
      SPDLOG_WARN("shard {}: MVCC GC failed (the next pass retries): {}", shard, stats.error().message);
      continue;
    }
    removed += stats->versions_removed;
  }
  if (removed > 0) SPDLOG_DEBUG("MVCC GC up to revision {}: removed {} versions", safe_point, removed);
}

}  // namespace claw::server
