// MetaRun: one clawctl command's calls to the placement service, which runs on the meta shard's
// (shard 1's) leader — finding that leader, following NOT_LEADER redirects, retrying, and the
// command's deadline. Shared by the node commands (node_commands.h) and the placement rules
// commands (rules_commands.h).
//
// Contracts:
//  1. The run has one deadline (the command's budget from construction). Every request ends
//     within min(--timeout, time left), and no retry starts after the deadline.
//  2. Call() asks first the address that last answered as the leader, then each endpoint in
//     order. A NOT_LEADER answer naming the leader's address is followed at once (at most
//     kMaxRedirects in a round); a NOT_LEADER without one, UNAVAILABLE or DEADLINE_EXCEEDED moves
//     on to the next endpoint. When a round ends in NOT_LEADER, UNAVAILABLE, OVERLOADED or
//     DEADLINE_EXCEEDED, it is repeated after a back-off (50 ms doubling to 1 s, at least the
//     server's retry_after_ms). Anything else is returned at once.
//  3. An error returned has `definite` false when any attempt's outcome was unknown (a write may
//     have been applied).
//
// Thread-safety: none (one command thread). Lifecycle: lives for one command; holds references
// to the Invocation and the PlacementAdmin, which must outlive it.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "tools/clawctl/args.h"
#include "tools/clawctl/placement_admin.h"
#include "tools/clawctl/shard_commands.h"  // kMaxRedirects

namespace claw::clawctl {

// Errors after which the same request may succeed later (contract 2).
bool MetaRetryable(const client::Error& error);
// Errors after which another node may answer: it was not the meta leader, or not reachable.
bool MetaAskAnother(const client::Error& error);
bool IsNotFoundError(const client::Error& error);
bool IsFailedPreconditionError(const client::Error& error);

// Prints `error` as FormatError does, with a hint about the meta shard when it has no leader;
// returns kExitFailed.
int MetaFailed(const client::Error& error, std::ostream& err);

class MetaRun {
 public:
  template <typename T>
  using CallFn = std::function<client::Result<T>(const std::string& address,
                                                 std::chrono::milliseconds timeout)>;

  MetaRun(const Invocation& inv, PlacementAdmin& admin, std::chrono::milliseconds budget)
      : inv_(inv), admin_(admin), deadline_(admin.Now() + budget) {}

  // Runs `call` on the meta leader, retrying rounds over the endpoints until the deadline.
  template <typename T>
  client::Result<T> Call(const CallFn<T>& call) {
    bool unknown_outcome = false;
    while (true) {
      auto result = Round(call);
      if (result) {
        backoffs_ = 0;
        return result;
      }
      client::Error error = result.error();
      unknown_outcome = unknown_outcome || !error.definite;
      if (!MetaRetryable(error) || !Backoff(error)) {
        error.definite = !unknown_outcome;
        return std::unexpected(error);
      }
    }
  }

  // Waits before retrying after `error` (BackoffBeforeRetry, backoff.h: 50 ms doubling to 1 s, at
  // least the server's retry_after_ms, never past the deadline). False when no time is left for
  // another attempt.
  bool Backoff(const client::Error& error);

  bool Expired() const { return admin_.Now() >= deadline_; }
  std::chrono::milliseconds Left() const;

 private:
  // One round: the known leader, then each endpoint, following NOT_LEADER hints. On failure the
  // last answer, with `definite` false when any attempt's outcome was unknown.
  template <typename T>
  client::Result<T> Round(const CallFn<T>& call) {
    client::Error last{.code = client::ErrorCode::kUnavailable,
                       .message = "no endpoint to ask (see --endpoints)"};
    bool unknown_outcome = false;
    int redirects = 0;
    for (const std::string& candidate : Candidates()) {
      std::string address = candidate;
      while (true) {
        auto result = call(address, RequestTimeout());
        if (result) {
          leader_ = address;
          return result;
        }
        last = result.error();
        unknown_outcome = unknown_outcome || !last.definite;
        if (MetaAskAnother(last) && address == leader_)
          leader_.clear();  // no longer leads, or unreachable
        if (last.code != client::ErrorCode::kNotLeader || last.leader_address.empty() ||
            last.leader_address == address || redirects >= kMaxRedirects) {
          break;
        }
        ++redirects;
        address = last.leader_address;
      }
      if (!MetaAskAnother(last) || Expired()) break;
    }
    last.definite = !unknown_outcome;
    return std::unexpected(last);
  }

  // The known leader, then each endpoint, without repeats.
  std::vector<std::string> Candidates() const;
  std::chrono::milliseconds RequestTimeout() const;

  const Invocation& inv_;
  PlacementAdmin& admin_;
  const PlacementAdmin::Clock::time_point deadline_;
  std::string leader_;  // the address that last answered as the meta leader
  int backoffs_ = 0;
};

}  // namespace claw::clawctl
