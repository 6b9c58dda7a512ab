// Retry policy of the client: which failures are retried and how (DecideRetry), and how long to
// wait between attempts (Backoff: exponential with full jitter, as in the AWS architecture note
// "Exponential Backoff And Jitter": wait ~ U[0, min(cap, base * 2^attempt)]).
//
// Every retry happens within the call's deadline; the dispatcher (client/dispatcher.h) enforces
// that and re-sends a write with the same request id, so that the server applies it once.
// Thread-safety: Backoff is a per-call value, used by one thread. DecideRetry is pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "client/errors.h"

namespace claw::client {

enum class RetryAction : uint8_t {
  kFail,              // give up: the error is final (TOO_LARGE, INVALID_ARGUMENT, NO_SPACE, ...)
  kFollowLeader,      // NOT_LEADER with a hint: retry at once at the hinted leader
  kRefreshRoutes,     // EPOCH_MISMATCH, KEY_OUT_OF_RANGE, SHARD_NOT_FOUND: fix routes, retry
  kBackoffElsewhere,  // UNAVAILABLE, NOT_LEADER without a hint: back off, try another node
  kBackoffSame,       // OVERLOADED: back off, retry the same node (others would redirect to it)
};

[[nodiscard]] RetryAction DecideRetry(const Error& error);

class Backoff {
 public:
  // `seed` feeds the jitter; base and cap are ClientOptions::backoff_base / backoff_max.
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, uint64_t seed);

  // The wait before the next attempt: uniform in [0, min(cap, base * 2^n)] where n counts the
  // calls so far, but at least `floor` (a server's retry_after_ms, which may exceed the cap).
  [[nodiscard]] std::chrono::milliseconds Next(
      std::chrono::milliseconds floor = std::chrono::milliseconds(0));

  // Calls of Next so far.
  int attempts() const { return attempts_; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  int attempts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace claw::client
