// The back-off between retries of one clawctl command's request, shared by the shard admin
// commands (shard_commands.cc) and the placement service's (meta_run.h): 50 ms doubling to 1 s,
// at least the server's retry_after_ms, never past the command's deadline.
//
// Thread-safety: none needed (one command thread). Stateless: the caller keeps the count of
// back-offs so far, and resets it to 0 when a request succeeds.
#pragma once

#include <algorithm>
#include <chrono>

#include "client/errors.h"

namespace claw::clawctl {

inline constexpr std::chrono::milliseconds kBackoffBase{50};
inline constexpr std::chrono::milliseconds kBackoffMax{1000};

// Waits on `admin`'s clock (anything with Now() on steady_clock and Sleep(milliseconds), i.e.
// ShardAdmin or PlacementAdmin) before retrying after `error`, and counts the wait in
// `backoffs`. False when the deadline has passed, before or after the wait: no time is left for
// another attempt.
template <typename Admin>
bool BackoffBeforeRetry(Admin& admin, std::chrono::steady_clock::time_point deadline,
                        const client::Error& error, int& backoffs) {
  using std::chrono::milliseconds;
  const auto now = admin.Now();
  if (now >= deadline) return false;
  milliseconds wait = std::min(kBackoffMax, kBackoffBase * (1 << std::min(backoffs, 10)));
  wait = std::max(wait, milliseconds(error.retry_after_ms));
  wait = std::min(wait, std::chrono::duration_cast<milliseconds>(deadline - now));
  admin.Sleep(wait);
  ++backoffs;
  return admin.Now() < deadline;
}

}  // namespace claw::clawctl
