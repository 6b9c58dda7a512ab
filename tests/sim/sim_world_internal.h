// Internal to the World implementation (sim_world.cc, sim_world_io.cc): the definitions of its
// private nested types. Not for use outside those two files.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "tests/sim/sim_world.h"

namespace claw::sim {

enum class EventKind : uint8_t { kTick, kSync, kDeliver, kSnapshotReport };

struct World::Envelope {
  int from = 0;
  int to = 0;
  int group = 0;
  uint64_t from_incarnation = 0;
  uint64_t to_incarnation = 0;  // a restart of the destination loses the message
  bool original = true;         // false for a network duplicate
  raft::Message msg;
  std::optional<StateMachine> image;
};

struct World::Event {
  Time time = 0;
  uint64_t seq = 0;
  EventKind kind = EventKind::kTick;
  int node = 0;
  uint64_t incarnation = 0;
  // kSnapshotReport only.
  int group = 0;
  int peer = 0;
  raft::SnapshotOutcome outcome = raft::SnapshotOutcome::kSent;
  // kDeliver only.
  std::unique_ptr<Envelope> env;
};

// One Ready write queued at the node's log writer.
struct World::PendingWrite {
  int group = 0;
  raft::WriteId id = 0;
  std::optional<raft::SnapshotMeta> snapshot;
  std::optional<StateMachine> image;  // the snapshot's data
  std::vector<raft::Entry> entries;
  std::optional<raft::HardState> hard_state;
};

struct World::GroupState {
  std::unique_ptr<raft::MemoryLogStorage> storage;  // the disk: survives crashes
  StateMachine durable_image;                       // state machine at storage's snapshot point
  // Data of the snapshots offered for shipping (storage's shippable one and a few older ones
  // still referenced by messages the core built before a refresh), by index.
  std::map<uint64_t, StateMachine> offered;
  // Volatile: lost in a crash.
  std::unique_ptr<raft::Replica> replica;
  raft::SoftState soft;
  Time hibernated_at = 0;
  StateMachine sm;
  std::map<uint64_t, StateMachine> incoming;  // snapshot data received, by snapshot index
  int snapshots_queued = 0;                   // snapshot writes not yet durable
};

struct World::Node {
  bool up = false;
  uint64_t incarnation = 0;
  Time tick_period = 0;
  Time last_restart = 0;
  Time min_sync = 0;
  Time max_sync = 0;
  bool sync_scheduled = false;
  std::vector<GroupState> groups;
  std::deque<PendingWrite> writes;  // the log writer's queue, in Ready order
  std::vector<int> dirty;           // groups touched since the host loop last ran
  std::vector<char> is_dirty;
  std::vector<Time> unreachable_since;  // node liveness: per peer, 0 = reachable
};

}  // namespace claw::sim
