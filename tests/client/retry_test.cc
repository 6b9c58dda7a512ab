// Retry policy: which errors are retried how, and the bounds of the jittered back-off.

#include <chrono>

#include <catch2/catch.hpp>

#include "client/retry.h"

namespace claw::client {
namespace {

using std::chrono::milliseconds;

Error WithCode(ErrorCode code) {
  Error error;
  error.code = code;
  return error;
}

}  // namespace

TEST_CASE("DecideRetry maps each error code to its reaction", "[client]") {
  Error not_leader = WithCode(ErrorCode::kNotLeader);
  CHECK(DecideRetry(not_leader) == RetryAction::kBackoffElsewhere);
  not_leader.leader_address = "10.0.0.2:7379";
  CHECK(DecideRetry(not_leader) == RetryAction::kFollowLeader);
  CHECK(DecideRetry(WithCode(ErrorCode::kEpochMismatch)) == RetryAction::kRefreshRoutes);
  CHECK(DecideRetry(WithCode(ErrorCode::kKeyOutOfRange)) == RetryAction::kRefreshRoutes);
  CHECK(DecideRetry(WithCode(ErrorCode::kShardNotFound)) == RetryAction::kRefreshRoutes);
  CHECK(DecideRetry(WithCode(ErrorCode::kOverloaded)) == RetryAction::kBackoffSame);
  CHECK(DecideRetry(WithCode(ErrorCode::kUnavailable)) == RetryAction::kBackoffElsewhere);
  for (ErrorCode final_code : {ErrorCode::kTooLarge, ErrorCode::kInvalidArgument,
                               ErrorCode::kNoSpace, ErrorCode::kDeadlineExceeded,
                               ErrorCode::kCancelled, ErrorCode::kInternal,
                               ErrorCode::kUnimplemented}) {
    CHECK(DecideRetry(WithCode(final_code)) == RetryAction::kFail);
  }
}

TEST_CASE("Backoff waits at most min(cap, base * 2^n) and grows", "[client]") {
  Backoff backoff(milliseconds(20), milliseconds(1000), 42);
  milliseconds longest{0};
  for (int n = 0; n < 12; ++n) {
    const milliseconds ceiling = std::min(milliseconds(1000), milliseconds(20 << n));
    const milliseconds wait = backoff.Next();
    CHECK(wait.count() >= 0);
    CHECK(wait <= ceiling);
    longest = std::max(longest, wait);
  }
  CHECK(backoff.attempts() == 12);
  CHECK(longest > milliseconds(100));  // the jitter reaches well beyond the base over 12 draws
}

TEST_CASE("Backoff jitter spreads over the whole interval", "[client]") {
  // Full jitter: after many draws at the cap, both small and large waits occur.
  int small = 0;
  int large = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Backoff backoff(milliseconds(20), milliseconds(1000), seed);
    for (int n = 0; n < 6; ++n) (void)backoff.Next();
    const milliseconds wait = backoff.Next();  // ceiling min(1000, 20 * 64) = 1000
    CHECK(wait <= milliseconds(1000));
    if (wait < milliseconds(250)) ++small;
    if (wait > milliseconds(750)) ++large;
  }
  CHECK(small > 20);
  CHECK(large > 20);
}

TEST_CASE("Backoff honours the server's retry_after as a floor", "[client]") {
  Backoff backoff(milliseconds(20), milliseconds(1000), 7);
  CHECK(backoff.Next(milliseconds(300)) >= milliseconds(300));
  CHECK(backoff.Next(milliseconds(5000)) == milliseconds(5000));  // beyond the cap: server knows
}

TEST_CASE("Backoff is deterministic for a seed", "[client]") {
  Backoff a(milliseconds(20), milliseconds(1000), 99);
  Backoff b(milliseconds(20), milliseconds(1000), 99);
  for (int n = 0; n < 10; ++n) CHECK(a.Next() == b.Next());
}

}  // namespace claw::client
