// ReadOnlyQueue: ReadIndex requests waiting for a heartbeat quorum (thesis §6.4, step 3).
//
// The leader records each request with the commit index at its arrival and piggybacks the newest
// request's id on heartbeats. A quorum acknowledging id X proves the leader still led when every
// request up to X had arrived, so all of them are released together, in arrival order.
// Owned by Replica; single-threaded.
#pragma once

#include <vector>

#include "raft/progress.h"
#include "raft/types.h"

namespace claw::raft {

struct PendingRead {
  ReadId id;
  NodeId from;  // the replica whose host asked (the leader itself for local reads)
  LogIndex index;
  std::vector<NodeId> acks;
};

class ReadOnlyQueue {
 public:
  // Returns false when `id` is already waiting.
  bool Add(ReadId id, NodeId from, LogIndex index);
  bool empty() const { return queue_.empty(); }
  ReadId LastId() const { return queue_.empty() ? ReadId{} : queue_.back().id; }
  // Records that `voter` acknowledged request `id` and returns the requests released by it.
  std::vector<PendingRead> Ack(ReadId id, NodeId voter, NodeId self,
                               const ProgressTracker& tracker);
  std::vector<PendingRead> TakeAll();

 private:
  std::vector<PendingRead> queue_;  // arrival order; short, so front erases are cheap
};

}  // namespace claw::raft
