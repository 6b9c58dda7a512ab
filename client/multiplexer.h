// Multiplexer: the client's point requests to one node over one claw.v1.KV.Multiplex stream,
// internal to client/. Calls from any number of threads are queued; whenever the stream's writer
// is free, everything queued goes out as one MultiplexRequest, so that concurrent callers share
// HTTP/2 messages instead of paying for a unary RPC each. Answers come back in any order and are
// matched by tag.
//
// Two ways to call: Call blocks its thread until the answer (or the deadline); CallAsync returns
// at once and its callback runs later on a thread of the Multiplexer: the stream's reader when
// the answer arrives, the deadline sweeper when the deadline passes first. No thread per call
// and no hand-off per answer: the reader runs the callbacks of one message in a row, and calls
// they start meanwhile (on any Multiplexer) go out together once they all returned.
//
// Failure model: a stream that ends (the node died, restarted, or the connection broke) fails
// every call written to it and still unanswered with UNAVAILABLE, indeterminate like a unary call
// cut off (the Dispatcher retries with the same request id); calls still queued go to a new
// stream. A node that answers UNIMPLEMENTED has no Multiplex: unsupported() turns true and the
// callers use unary RPCs. A call whose deadline passes gets DEADLINE_EXCEEDED (definite if it was
// never written); a late answer is dropped.
//
// Threads: each stream is a blocking gRPC bidi call owned by a reader thread, which opens the
// call, reads answers until it ends, waits for any write in progress and reports the end. There
// is no writer thread: a caller that finds no write in progress takes the writer role and writes
// everything queued, again and again until the queue is empty, so that calls arriving meanwhile
// ride along (combining) and an idle stream costs no thread hand-off on the way out. Blocking
// calls keep every lifetime plain: no reaction can outlive the objects it touches, and the
// destructor cancels and waits. A sweeper thread, started with the first CallAsync, fails async
// calls at their deadlines (a node that stopped answering never ends its stream by itself).
// Call and CallAsync may be called from many threads at once, CallAsync also from a callback.
//
// Lifecycle: owned by the Dispatcher's per-address stubs (after the KV stub, whose channel the
// streams use). The destructor fails waiting calls (async callbacks run on the destructor's
// thread), cancels the open stream and joins its threads; no Call may run concurrently with it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <thread>
#include <unordered_map>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "claw/v1/kv.grpc.pb.h"

namespace claw::client {

class Multiplexer {
 public:
  Multiplexer(v1::KV::Stub* stub, std::string address);
  ~Multiplexer();
  Multiplexer(const Multiplexer&) = delete;
  Multiplexer& operator=(const Multiplexer&) = delete;

  // Sends `call` (its tag and timeout are set here) and waits until it is answered or
  // `deadline` passes. Returns the call's status; when OK, `answer` holds the response.
  grpc::Status Call(v1::MultiplexCall call, std::chrono::system_clock::time_point deadline,
                    v1::MultiplexAnswer* answer);

  // The same without waiting: `done` runs exactly once with the call's status and, when OK, its
  // answer: on the stream's reader thread, the sweeper's at the deadline, or this thread when the
  // call cannot be queued (closing; no Multiplex: UNIMPLEMENTED). `done` must not block for long
  // (answers from this node wait meanwhile) and must not destroy what owns this Multiplexer.
  using Done = std::function<void(grpc::Status status, v1::MultiplexAnswer answer)>;
  void CallAsync(v1::MultiplexCall call, std::chrono::system_clock::time_point deadline, Done done);

  // The node answered UNIMPLEMENTED: it has no Multiplex.
  bool unsupported() const;

  // Whether this thread is running async callbacks (a stream reader or the sweeper). A blocking
  // Call from there could wait for the very thread that must read its answer: callers use a
  // unary RPC instead.
  static bool InCallback();

 private:
  using ReaderWriter = grpc::ClientReaderWriter<v1::MultiplexRequest, v1::MultiplexResponse>;
  struct Stream {
    grpc::ClientContext ctx;
    ReaderWriter* rw = nullptr;  // GUARDED_BY(mu_): set once the call is open, cleared at its end
    bool dead = false;           // GUARDED_BY(mu_): takes no more writes
    bool writing = false;        // GUARDED_BY(mu_): a thread holds the writer role
    std::thread reader;          // owns the call
  };
  struct Waiter {
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    v1::MultiplexAnswer answer;
  };
  struct Pending {
    Waiter* waiter = nullptr;   // a blocking caller, or
    Done done{};                // an async one
    std::chrono::system_clock::time_point deadline{};  // async: its key in deadlines_
    Stream* sent_on = nullptr;  // the stream its call was written to; null while queued
  };
  // Async callbacks to run once mu_ is released.
  using Ready = std::vector<std::pair<Done, std::pair<grpc::Status, v1::MultiplexAnswer>>>;

  // Queues `call` for `pending` under a new tag, which it returns. Needs mu_.
  uint64_t EnqueueLocked(v1::MultiplexCall& call, std::chrono::system_clock::time_point deadline, Pending pending);
  // Hands `status` and `answer` to the caller waiting for `it` and forgets it; an async caller's
  // callback goes to `ready`. Needs mu_.
  void CompleteLocked(std::unordered_map<uint64_t, Pending>::iterator it, grpc::Status status,
                      v1::MultiplexAnswer answer, Ready& ready);
  // Runs `ready`'s callbacks (mu_ not held); calls they start go out together afterwards.
  void RunReady(Ready& ready);
  void SweepLoop();
  // Opens a stream when calls are queued and none is open. Needs mu_.
  void OpenLocked();
  void ReadLoop(Stream* s);
  // Takes the writer role on the open stream if it is free and writes queued calls until none
  // are left. Called with `lock` held; returns with it held (released around each write).
  void DrainLocked(std::unique_lock<std::mutex>& lock);
  void OnAnswers(v1::MultiplexResponse& response);
  // Needs mu_; callbacks of failed async calls go to `ready`.
  void OnStreamEnd(Stream* s, const grpc::Status& status, Ready& ready);

  v1::KV::Stub* stub_;
  const std::string address_;
  mutable std::mutex mu_;
  std::condition_variable changed_;  // a writer role released, or a stream removed
  Stream* stream_ = nullptr;      // the open stream, if any (owned by streams_)
  std::vector<std::unique_ptr<Stream>> streams_;  // every stream not yet joined
  bool unsupported_ = false;
  bool closing_ = false;
  uint64_t next_tag_ = 0;
  v1::MultiplexRequest queued_;                    // calls not yet handed to a write
  std::unordered_map<uint64_t, Pending> waiting_;  // tag -> caller, until answered
  std::set<std::pair<std::chrono::system_clock::time_point, uint64_t>> deadlines_;  // async calls waiting
  std::condition_variable sweep_;  // deadlines_ got an earlier first entry, or closing_
  std::thread sweeper_;            // started by the first CallAsync
};

}  // namespace claw::client
