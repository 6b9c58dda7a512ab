#include "client/retry.h"

#include <algorithm>

namespace claw::client {

RetryAction DecideRetry(const Error& error) {
  switch (error.code) {
    case ErrorCode::kNotLeader:
      return error.leader_address.empty() ? RetryAction::kBackoffElsewhere
                                          : RetryAction::kFollowLeader;
    case ErrorCode::kEpochMismatch:
    case ErrorCode::kKeyOutOfRange:
    case ErrorCode::kShardNotFound:
      return RetryAction::kRefreshRoutes;
    case ErrorCode::kOverloaded:
      return RetryAction::kBackoffSame;
    case ErrorCode::kUnavailable:
      return RetryAction::kBackoffElsewhere;
    default:
      return RetryAction::kFail;
  }
}

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, uint64_t seed)
    : base_(std::max(base, std::chrono::milliseconds(1))), cap_(std::max(cap, base_)), rng_(seed) {}

std::chrono::milliseconds Backoff::Next(std::chrono::milliseconds floor) {
  // base * 2^n, saturating at the cap (and never shifting by 63 or more).
  const int shift = std::min(attempts_, 30);
  const int64_t ceiling = std::min<int64_t>(cap_.count(), base_.count() << shift);
  ++attempts_;
  std::uniform_int_distribution<int64_t> jitter(0, ceiling);
  return std::max(std::chrono::milliseconds(jitter(rng_)), floor);
}

}  // namespace claw::client
