// FanOutPool: every task runs at once (tasks that wait for each other all finish, which a
// fixed-size queue would deadlock), idle threads are reused instead of new ones made, lingering
// threads exit, and the destructor waits for running tasks.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "client/thread_pool.h"

namespace claw::client {
namespace {

using namespace std::chrono_literals;

// Waits (bounded) until `pred` holds.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST_CASE("fan-out pool: tasks that wait for each other all run at once", "[client]") {
  FanOutPool pool;
  constexpr int kTasks = 24;
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  std::atomic<int> finished{0};
  for (int i = 0; i < kTasks; ++i) {
    pool.Run([&] {
      std::unique_lock lock(mu);
      ++arrived;
      cv.notify_all();
      // Every task waits until all have started: only possible if none is queued.
      if (cv.wait_for(lock, 10s, [&] { return arrived == kTasks; })) finished.fetch_add(1);
    });
  }
  REQUIRE(Eventually([&] { return finished.load() == kTasks; }));
  CHECK(pool.threads() == kTasks);
}

TEST_CASE("fan-out pool: idle threads are reused, not multiplied", "[client]") {
  FanOutPool pool;
  std::atomic<int> done{0};
  for (int round = 0; round < 50; ++round) {
    const int target = (round + 1) * 4;
    for (int i = 0; i < 4; ++i) pool.Run([&] { done.fetch_add(1); });
    REQUIRE(Eventually([&] { return done.load() == target; }));
  }
  // 200 tasks in rounds of 4: a thread per task would have made 200.
  CHECK(pool.threads() <= 8);
}

TEST_CASE("fan-out pool: threads idle past the linger time exit; the pool still runs tasks",
          "[client]") {
  FanOutPool pool(20ms);
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) pool.Run([&] { done.fetch_add(1); });
  REQUIRE(Eventually([&] { return done.load() == 6; }));
  REQUIRE(Eventually([&] { return pool.threads() == 0; }));
  pool.Run([&] { done.fetch_add(1); });  // joins the exited threads, makes a new one
  REQUIRE(Eventually([&] { return done.load() == 7; }));
}

TEST_CASE("fan-out pool: the destructor waits for running tasks", "[client]") {
  std::atomic<bool> finished{false};
  {
    FanOutPool pool;
    pool.Run([&] {
      std::this_thread::sleep_for(50ms);
      finished = true;
    });
  }
  CHECK(finished.load());
}

}  // namespace
}  // namespace claw::client
