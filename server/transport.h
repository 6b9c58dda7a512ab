// Transport: how raft workers reach the replicas of their groups on other nodes. The interface
// the store sees; GrpcTransport (grpc_transport.h) is the implementation over one long-lived gRPC
// stream per peer node.
//
// Contract: Send is best-effort and non-blocking (Raft tolerates loss, duplication and
// reordering); messages to one node leave in the order of Send calls. LastHeard reports node-level
// liveness: when anything (even an empty keep-alive batch) last arrived from the node.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "server/codec.h"

namespace claw::server {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(uint64_t node, std::vector<GroupMessage> messages) = 0;
  // steady_clock time of the last batch received from `node`; time_point{} when never.
  virtual std::chrono::steady_clock::time_point LastHeard(uint64_t node) const = 0;
  // Tells every peer, from now on, that this node is shutting down.
  virtual void SetDraining() = 0;
  // Whether `node` said it is shutting down (leaderships must not be handed to it).
  virtual bool Draining(uint64_t node) const = 0;
  // Streams the snapshot directory `dir` (storage/snapshot.h) with its InstallSnapshot message to
  // `node`, in chunks, beside the message stream. `done(true)` once the receiver verified it,
  // `done(false)` when the transfer failed; called on a transport thread.
  virtual void SendSnapshot(uint64_t node, GroupMessage message, std::string dir,
                            std::function<void(bool ok)> done) = 0;
};

}  // namespace claw::server
