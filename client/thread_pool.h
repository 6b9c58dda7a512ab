// ThreadPool: a fixed set of threads running queued tasks in FIFO order; carries the client's
// *Async calls, each of which runs the blocking call on one pool thread.
//
// Why not gRPC's async stubs: a call is a loop of attempts with back-off sleeps and route
// refreshes; as a blocking loop it is short and obviously correct, and a few threads suffice
// for a client's concurrency. Applications needing thousands of calls in flight should use
// several threads of their own, or the gRPC API directly.
//
// Thread-safety: Submit may be called from any thread, including from a task. Lifecycle: the
// destructor runs every task already queued, then joins the threads; it must not be called from
// a pool thread (a task must not destroy the Client that owns the pool).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace claw::client {

class ThreadPool {
 public:
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

// FanOutPool: runs each task at once, on an idle thread of the pool or, when none is idle, on a
// new one; a thread idle for `linger` exits. For fan-out inside one call (Batch sends its
// per-shard requests at once and waits for all): nothing ever waits in a queue, so a caller
// blocking on its tasks cannot deadlock even when it runs on a pool thread itself, and unlike
// std::async a steady load creates no threads (a thread per sub-request cost the batch
// benchmark's client more CPU in malloc arenas, clone and stack unmapping than its RPCs did).
//
// Thread-safety: Run may be called from any thread, including from a task. Lifecycle: the
// destructor waits for running tasks and joins every thread; it must not run on a pool thread.
class FanOutPool {
 public:
  explicit FanOutPool(std::chrono::milliseconds linger = std::chrono::seconds(10));
  ~FanOutPool();
  FanOutPool(const FanOutPool&) = delete;
  FanOutPool& operator=(const FanOutPool&) = delete;

  void Run(std::function<void()> task);
  // Threads alive now (running or idle), for tests.
  size_t threads() const;

 private:
  using Threads = std::list<std::thread>;
  void Loop(Threads::iterator self, std::function<void()> task);

  const std::chrono::milliseconds linger_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> handoff_;  // GUARDED_BY(mu_); never more than idle_
  size_t idle_ = 0;                            // GUARDED_BY(mu_)
  bool stopping_ = false;                      // GUARDED_BY(mu_)
  Threads threads_;                            // GUARDED_BY(mu_)
  std::vector<Threads::iterator> exited_;      // GUARDED_BY(mu_): left Loop, not joined yet
};

}  // namespace claw::client
