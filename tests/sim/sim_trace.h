// Trace: the simulator's event log, a ring buffer of the last kTraceCapacity events.
//
// Records are small fixed-size structs filled on the hot path and formatted to text only when a run
// fails (or, with CLAW_SIM_TRACE=1, as they happen), so that thousands of seeds stay cheap.
// Owned by one World; single-threaded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "raft/message.h"

namespace claw::sim {

// Simulated time in microseconds since the run started.
using Time = uint64_t;

enum class TraceKind : uint8_t {
  kDeliver,     // a message reached its destination and was stepped
  kDrop,        // a message was lost (drop fault, partition, or destination down)
  kSync,        // a node's log writer made its queued writes durable (a = number of writes)
  kRole,        // a replica's SoftState changed (a = role, b = leader node id, c = hibernating)
  kPropose,     // a client proposal (a = result index or 0, b = error code + 1 when it failed)
  kRead,        // a ReadIndex request (a = read id)
  kReadState,   // a ReadState came out (a = read id, b = index, c = status)
  kTransfer,    // a leadership transfer request (a = target node id)
  kConfChange,  // a configuration change proposal (a = result index or 0)
  kCompact,     // log compaction at a node (a = index)
  kCrash,       // a node crashed
  kRestart,     // a node restarted
  kFault,     // the network fault set changed (a = drop ppm, b = duplicate ppm, c = blocked links)
  kWakeUp,    // the host woke a hibernating replica (a = suspected leader node id)
  kCampaign,  // the host told a replica to campaign
};

struct TraceRecord {
  Time time = 0;
  TraceKind kind = TraceKind::kDeliver;
  uint8_t msg_type = 0;  // MessageBody variant index, for kDeliver and kDrop
  int16_t node = -1;     // the node the event happened at (0-based)
  int32_t group = -1;
  uint64_t from = 0;  // message sender / receiver node ids (1-based), for kDeliver and kDrop
  uint64_t to = 0;
  uint64_t term = 0;
  uint64_t a = 0, b = 0, c = 0, d = 0;  // kind-specific details, see TraceKind
};

inline constexpr size_t kTraceCapacity = 200;

class Trace {
 public:
  // When `verbose`, every record is also printed to stderr as it is added.
  explicit Trace(bool verbose) : verbose_(verbose) {}

  void Add(const TraceRecord& r);
  // Fills a record for message `m` (type, ids, term and the body's salient fields).
  static TraceRecord ForMessage(Time t, TraceKind kind, int group, const raft::Message& m);
  // A record of a non-message event at `node` (0-based; -1 for none) and `group` (-1 for none).
  static TraceRecord At(Time t, TraceKind kind, int node, int group = -1) {
    TraceRecord r;
    r.time = t;
    r.kind = kind;
    r.node = int16_t(node);
    r.group = group;
    return r;
  }

  // The last (up to) kTraceCapacity records, oldest first, one per line.
  std::string Dump() const;
  static std::string Format(const TraceRecord& r);

 private:
  bool verbose_;
  std::array<TraceRecord, kTraceCapacity> ring_{};
  uint64_t added_ = 0;
};

}  // namespace claw::sim
