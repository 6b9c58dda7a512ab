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

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
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

}  // namespace claw::client
