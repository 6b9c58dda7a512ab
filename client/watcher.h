// Watcher: one Client::Watch call — a change stream over a key range, across shards, resumed
// transparently. Returned by Client::Watch; cancel it (or destroy it) to stop.
//
// Fan-out: the range is split by shard (the route cache), one claw.v1.Watch stream per part, each
// on its own thread, served by the shard's leader by default (any replica may serve). Each part
// keeps its revision: the highest of its last event and last progress notification. When a
// stream ends — NOT_LEADER, UNAVAILABLE, a node killed, EPOCH_MISMATCH after a split, the server
// saying the watcher fell behind — the part is routed again (refreshing routes when told to),
// re-split if its shard no longer covers it, and each piece resumes from that revision: nothing
// is skipped (the server's catch-up replays (revision, now]) and nothing is delivered twice
// (events at or below the part's revision are dropped, and responses hold whole revisions).
//
// Delivery: `on_update` is called with the updates of every part, one call at a time (never
// concurrently), each part's in revision order; parts are not ordered between themselves. It
// must not call Cancel or destroy the Watcher (a deadlock); it may set a flag another thread acts
// on. Failures that resuming cannot fix (COMPACTED, INVALID_ARGUMENT, TOO_LARGE, any error the
// client does not retry) stop every part; Wait returns the error.
//
// Thread-safety: Cancel, Wait and Done from any thread. Lifecycle: Client::Watch -> ... -> Cancel
// / destroy (cancels and joins). Borrows the Client's Dispatcher: destroy the Watcher before the
// Client.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/errors.h"
#include "client/types.h"

namespace grpc {
class ClientContext;
}

namespace claw::client {

class Dispatcher;

class Watcher {
 public:
  using OnUpdate = std::function<void(const WatchUpdate&)>;

  // Starts watching [start, end) (empty end = the end of the key space). Internal: use
  // Client::Watch.
  Watcher(Dispatcher& dispatcher, std::string start, std::string end, WatchOptions options, OnUpdate on_update);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Stops every stream; Wait then returns kCancelled.
  void Cancel();
  // Blocks until the watch stops: the error that stopped it (kCancelled after Cancel).
  Error Wait();
  // Like Wait, but gives up after `timeout` (nullopt: still running).
  std::optional<Error> WaitFor(std::chrono::milliseconds timeout);
  bool Done() const;
  // Streams reopened after one ended (resumes, re-splits), over all parts: for monitoring.
  uint64_t resumes() const { return resumes_.load(); }

 private:
  // Runs one part [lo, hi) from `revision` until cancelled or failed for good.
  void RunPart(std::string lo, std::string hi, uint64_t revision);
  void Spawn(std::string lo, std::string hi, uint64_t revision);
  void Fail(Error error);

  Dispatcher& dispatcher_;
  const WatchOptions options_;
  const OnUpdate on_update_;
  std::mutex deliver_mu_;  // one on_update_ call at a time
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  bool stopped_ = false;                            // guarded by mu_
  std::optional<Error> error_;                      // guarded by mu_
  std::vector<std::thread> threads_;                // guarded by mu_
  std::vector<grpc::ClientContext*> contexts_;      // guarded by mu_: streams open now
  uint64_t seed_ = 0;                               // guarded by mu_
  std::atomic<uint64_t> resumes_{0};
};

}  // namespace claw::client
