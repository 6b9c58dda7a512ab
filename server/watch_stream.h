// WatchStream: one Watch call's state shared by the raft worker that serves its shard and the gRPC
// reactor that writes its responses (server/watch_service.cc). No gRPC types: the reactor plugs
// in as a Sink.
//
// Picture:
//   worker thread: Register (catch-up point) -> Deliver(events of each written apply batch) ...
//                  -> End(error) on split / removal / snapshot / shutdown
//   gRPC threads:  catch-up scan (from the RocksDB snapshot taken at registration), then writes
//                  the queued responses one at a time (OnWriteDone), Cancel when the client goes
//
// Invariants:
//   1. Responses go out in revision order and each holds whole writes (all events of one
//      revision), so sent_revision_ (the highest revision of a response handed to gRPC) means
//      "every event of the served range with revision <= sent_revision_ was sent".
//   2. Live events wait behind the catch-up: the queue is only written once the catch-up is.
//   3. The queue of responses not yet handed to gRPC is bounded (events and bytes). Past it the
//      stream ends with WATCH_FELL_BEHIND and resume_revision = sent_revision_: the unsent
//      responses are dropped, never skipped silently (the client resumes from there).
//   4. Sink::Write is called with at most one write in flight; Sink::Finish exactly once, after
//      the last write completed. Both are called without the lock held.
//
// Thread-safety: every method locks mu_. Lifecycle: made by the reactor, shared (shared_ptr)
// with the worker's Group until the worker drops it (done()).
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "claw/v1/watch.pb.h"
#include "server/kv_state_machine.h"
#include "server/requests.h"
#include "storage/state_hash.h"

namespace claw::server {

struct WatchLimits {
  uint64_t max_queue_events = 10'000;
  uint64_t max_queue_bytes = 16ull << 20;
};

// Why streams ended (metrics): index into the watch counters.
enum class WatchEnd : uint8_t { kClient, kFellBehind, kSplit, kRemoved, kShutdown, kError };

// Where a stream's catch-up starts (RaftWorker::RegisterWatch): a RocksDB snapshot of the
// applied state at the registration, the window (from, snapshot_ts] and the served range.
struct WatchCatchUp {
  storage::Engine* engine = nullptr;
  std::shared_ptr<storage::ReadSnapshot> snapshot{};
  uint64_t from = 0;
  uint64_t snapshot_ts = 0;
  std::string start{};
  std::string end{};
  v1::ResponseHeader header{};
};

class WatchStream {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void Write(const v1::WatchResponse* response) = 0;
    // nullopt: cancelled by the client (the status does not matter any more).
    virtual void Finish(std::optional<RequestError> error) = 0;
  };
  struct Options {
    std::string start{};  // the request's range [start, end); empty end = unbounded
    std::string end{};
    uint64_t start_revision = 0;  // 0 = from now
    bool prev_kv = false;
    uint64_t progress_interval_ms = 0;
    WatchLimits limits{};
  };
  // Counts streams and events for /metrics; may be empty.
  using OnEnded = std::function<void(WatchEnd)>;

  WatchStream(Sink* sink, Options options, OnEnded on_ended);

  const Options& options() const { return options_; }

  // --- worker thread ---
  // Registered at `from` (events with revision > from follow; the catch-up covers (from,
  // snapshot_ts]) over [served_start, served_end). Sends the first response.
  void Registered(uint64_t from, uint64_t snapshot_ts, std::string served_start, std::string served_end,
                  const v1::ResponseHeader& header);
  const std::string& served_start() const { return served_start_; }
  const std::string& served_end() const { return served_end_; }
  bool Covers(std::string_view key) const {
    return key >= served_start_ && (served_end_.empty() || key < served_end_);
  }
  // Live events of one written apply batch (already filtered to the served range; may be empty)
  // and the replica's last applied revision after it.
  void Deliver(const std::vector<const ChangeEvent*>& events, uint64_t applied_ts, const v1::ResponseHeader& header);
  // A progress notification at `applied_ts` if the interval passed since the last response.
  void MaybeProgress(uint64_t applied_ts, uint64_t now_ms, const v1::ResponseHeader& header);
  // Ends the stream with `error` (its resume_revision is filled in), dropping what is unsent.
  void End(RequestError error, WatchEnd why);
  // The stream ended (the worker forgets it).
  bool done() const;

  // The catch-up point, kept here (not in the reactor, which may be gone when the worker answers)
  // until the first response is written.
  void SetCatchUp(WatchCatchUp c);
  std::optional<WatchCatchUp> TakeCatchUp();

  // --- gRPC side ---
  // The catch-up's responses, in order (computed by the reactor from the registration snapshot).
  void CatchUpReady(std::vector<v1::WatchResponse> responses);
  void OnWriteDone(bool ok);
  void Cancel();

  // Bytes a response occupies in the queue.
  static uint64_t SizeOf(const v1::WatchResponse& r);
  // Fills a wire event from a change (prev only with prev_kv).
  static void ToWire(const ChangeEvent& e, bool prev_kv, v1::WatchEvent* out);

 private:
  // Under mu_: picks the next response to write, or decides to finish. Returns what to do after
  // unlocking.
  struct Next {
    const v1::WatchResponse* write = nullptr;
    bool finish = false;
    std::optional<RequestError> error{};
  };
  Next PickLocked();
  // The client cancelled or went away: drop what is queued, once. Needs mu_.
  void EndByClientLocked();
  void Act(Next next);
  void EndLocked(RequestError error, WatchEnd why);

  Sink* const sink_;
  const Options options_;
  const OnEnded on_ended_;
  std::string served_start_;
  std::string served_end_;
  mutable std::mutex mu_;
  bool catching_up_ = true;                 // guarded by mu_ (invariant 2)
  std::deque<v1::WatchResponse> catch_up_;  // guarded by mu_
  std::deque<v1::WatchResponse> queue_;     // guarded by mu_: live, not handed to gRPC
  uint64_t queue_events_ = 0;               // guarded by mu_
  uint64_t queue_bytes_ = 0;                // guarded by mu_
  v1::WatchResponse in_flight_;             // guarded by writing_
  bool writing_ = false;                    // guarded by mu_
  uint64_t in_flight_revision_ = 0;         // guarded by mu_
  uint64_t sent_revision_ = 0;              // guarded by mu_ (invariant 1)
  uint64_t queued_revision_ = 0;            // guarded by mu_: highest revision queued
  uint64_t last_response_ms_ = 0;           // guarded by mu_
  bool ended_ = false;                      // guarded by mu_: End or Cancel happened
  bool registered_ = false;                 // guarded by mu_: Registered ran
  std::optional<WatchCatchUp> catch_up_point_;  // guarded by mu_
  std::optional<RequestError> end_error_;   // guarded by mu_
  bool finished_ = false;                   // guarded by mu_: Finish called
};

// A Watch call asking the worker of `shard` to register its stream (Store::Watch).
struct WatchRegistration {
  uint64_t shard = 0;
  bool check_epoch = false;
  v1::Epoch epoch{};
  std::shared_ptr<WatchStream> stream{};
  using CatchUp = WatchCatchUp;
  // Called once on the worker: the catch-up's point, or why not. Must not capture the gRPC
  // reactor (it may be gone by then): only the stream.
  std::function<void(std::expected<CatchUp, RequestError>)> done{};
};

}  // namespace claw::server
