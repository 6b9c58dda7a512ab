#include "client/thread_pool.h"

#include <algorithm>
#include <utility>

namespace claw::client {

ThreadPool::ThreadPool(size_t threads) {
  threads = std::max<size_t>(threads, 1);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void ThreadPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and the queue is drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

FanOutPool::FanOutPool(std::chrono::milliseconds linger) : linger_(linger) {}

FanOutPool::~FanOutPool() {
  Threads all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    all.splice(all.end(), threads_);
    exited_.clear();
  }
  wake_.notify_all();
  for (std::thread& thread : all) thread.join();
}

void FanOutPool::Run(std::function<void()> task) {
  Threads finished;
  {
    std::lock_guard lock(mu_);
    for (Threads::iterator it : exited_) finished.splice(finished.end(), threads_, it);
    exited_.clear();
    if (idle_ > handoff_.size()) {
      handoff_.push_back(std::move(task));
      wake_.notify_one();
    } else {
      // Assigned under the lock: the new thread touches its iterator only under it.
      auto self = threads_.emplace(threads_.end());
      *self = std::thread([this, self, first = std::move(task)]() mutable { Loop(self, std::move(first)); });
    }
  }
  for (std::thread& thread : finished) thread.join();  // already out of Loop: returns at once
}

size_t FanOutPool::threads() const {
  std::lock_guard lock(mu_);
  return threads_.size() - exited_.size();
}

void FanOutPool::Loop(Threads::iterator self, std::function<void()> task) {
  for (;;) {
    task();
    task = nullptr;
    std::unique_lock lock(mu_);
    ++idle_;
    wake_.wait_for(lock, linger_, [this] { return stopping_ || !handoff_.empty(); });
    --idle_;
    if (handoff_.empty()) {  // lingered long enough, or stopping
      if (!stopping_) exited_.push_back(self);
      return;
    }
    task = std::move(handoff_.front());
    handoff_.pop_front();
  }
}

}  // namespace claw::client
