// Multiplexer: the client's point requests to one node over one claw.v1.KV.Multiplex stream,
// internal to client/. Calls from any number of threads are queued; whenever no write is in
// flight, everything queued goes out as one MultiplexRequest, so that concurrent callers share
// HTTP/2 messages instead of paying for a unary RPC each. Answers come back in any order and are
// matched by tag.
//
// Failure model: a stream that ends (the node died, restarted, or the connection broke) fails
// every call still waiting on it with UNAVAILABLE, indeterminate like a unary call cut off (the
// Dispatcher retries with the same request id); the next call opens a new stream. A node that
// answers UNIMPLEMENTED has no Multiplex: unsupported() turns true and callers use unary RPCs.
// A caller that stops waiting at its deadline gets DEADLINE_EXCEEDED; a late answer is dropped.
//
// Thread-safety: Call may be called from many threads at once. Lifecycle: owned by the
// Dispatcher's per-address stubs; the destructor cancels the stream, fails waiting calls and
// waits for gRPC to finish with it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

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

  // The node answered UNIMPLEMENTED: it has no Multiplex.
  bool unsupported() const;

 private:
  class Stream;
  struct Waiter {
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    v1::MultiplexAnswer answer;
  };

  struct Pending {
    Waiter* waiter = nullptr;
    Stream* sent_on = nullptr;  // the stream its call was written to; null while queued
  };

  // Stream callbacks (called without mu_ held).
  void OnAnswers(v1::MultiplexResponse& response);
  void OnWriteDone(Stream* stream, bool ok);
  void OnReadEnd(Stream* stream);
  void OnStreamDone(Stream* stream, const grpc::Status& status);
  // Marks `stream` dead, opens a new one for queued calls; releases `lock`.
  void EndLocked(Stream* stream, std::unique_lock<std::mutex>& lock);
  // A new stream when calls are queued and none is open (the caller starts it after unlocking).
  std::shared_ptr<Stream> OpenLocked();
  // Writes everything queued to the open stream unless a write is in flight; releases `lock`.
  void MaybeWrite(std::unique_lock<std::mutex>& lock);

  v1::KV::Stub* stub_;
  const std::string address_;
  mutable std::mutex mu_;
  std::condition_variable stream_gone_;
  Stream* stream_ = nullptr;  // the open stream, if any
  int live_streams_ = 0;      // streams not yet done (OnDone)
  bool unsupported_ = false;
  bool closing_ = false;
  uint64_t next_tag_ = 0;
  v1::MultiplexRequest queued_;                      // calls not yet handed to a write
  std::unordered_map<uint64_t, Pending> waiting_;    // tag -> caller, until answered
};

}  // namespace claw::client
