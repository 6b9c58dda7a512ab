// SlowMeter: the worst delays this node saw since the last time the placement heartbeat took them
// (HeartbeatRequest.load): how late a raft worker ran a tick (CPU starvation, a throttled or
// stalled process) and the longest log write with its fsync (a slow disk). The placement service
// compares them across nodes and moves leaderships off a node much slower than the others
// (server/README.md "Slow nodes"). Lock-free: recorded by the raft workers and the log writer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace claw::server {

class SlowMeter {
 public:
  void RecordTickLag(std::chrono::nanoseconds lag) { RaiseTo(tick_lag_us_, lag); }
  void RecordLogWrite(std::chrono::nanoseconds duration) { RaiseTo(log_write_us_, duration); }

  struct Window {
    double tick_lag_seconds = 0;
    double log_write_seconds = 0;
  };
  // The maxima since the previous Take, and a new window.
  Window Take() {
    return Window{.tick_lag_seconds = static_cast<double>(tick_lag_us_.exchange(0)) / 1e6,
                  .log_write_seconds = static_cast<double>(log_write_us_.exchange(0)) / 1e6};
  }

 private:
  static void RaiseTo(std::atomic<int64_t>& max, std::chrono::nanoseconds d) {
    const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    int64_t seen = max.load(std::memory_order_relaxed);
    while (us > seen && !max.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
    }
  }

  std::atomic<int64_t> tick_lag_us_{0};
  std::atomic<int64_t> log_write_us_{0};
};

}  // namespace claw::server
