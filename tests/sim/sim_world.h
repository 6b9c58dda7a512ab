// World: a deterministic, single-threaded simulation of a clawd cluster's Raft layer.
//
// N nodes each host G groups; every (node, group) is a raft::Replica over a raft::MemoryLogStorage
// (that node's "disk" for the group). A discrete-event scheduler with a logical clock drives:
//   - ticks: each node ticks its (non-hibernating) replicas every tick period, its clock running at
//     a per-node rate skew (within the core's max_clock_drift_ppm);
//   - the host loop of each node, modelled on production: after inputs, for every replica with a
//     Ready: queue its write (snapshot, entries, hard state) to the node's log writer, send its
//     messages, apply its committed entries to the node's state machine, report reads, OnApplied;
//   - a log writer per node with group commit: one sync at a random later time makes every queued
//     write of every group durable in order, then calls OnPersisted for each;
//   - a network with random delay (reordering), drop, duplication and one-way blocked links;
//   - crashes (unsynced writes, replicas and messages to the node are lost) and restarts.
// The World only models; a Checker (optional, sim_checker.h) is called at every step to verify,
// and a driver (sim_driver.h) decides faults and workload between events.
//
// State machine model: a node's state machine for a group is a hash chain over the entries it
// applied (index, term, type, data) plus the configuration in effect. It is durable only at its
// snapshot point (log compaction or an installed snapshot): a restarted node rebuilds it from that
// snapshot by re-applying the log (Options::applied = snapshot point index).
//
// Implementation: sim_world.cc (nodes, log writer, host loop), sim_world_io.cc (network, faults,
// client requests), sim_world_internal.h (their shared private types).
//
// Ownership: the World owns everything it simulates; the Checker is borrowed and must outlive it.
// Single-threaded. One World per run; it is not reusable after a Crash/Restart misuse.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/conf_change.h"
#include "raft/memory_log_storage.h"
#include "raft/options.h"
#include "raft/ready.h"
#include "raft/replica.h"
#include "tests/sim/sim_rng.h"
#include "tests/sim/sim_trace.h"

namespace claw::sim {

class Checker;

struct WorldConfig {
  uint64_t seed = 1;
  int nodes = 3;
  int groups = 1;
  // 0-based node indexes bootstrapped as the initial voters of every group; empty = all nodes.
  std::vector<int> initial_voters;
  // Template for every replica; id, seed and applied are filled in per replica.
  raft::Options options;

  Time tick_period = 10'000;            // nominal, in microseconds
  uint32_t max_tick_skew_ppm = 10'000;  // each node's clock rate is off by up to this much
  Time min_delay = 100;                 // one-way network delay range
  Time max_delay = 3'000;
  Time spike_delay = 40'000;  // upper bound of a delay spike (reordering)
  Time min_sync = 100;        // log writer sync latency range
  Time max_sync = 4'000;
  // A hibernating follower's host wakes it (kLeaderSuspected) once node liveness lost its leader's
  // node for this long; 0 = two election timeouts.
  Time suspect_after = 0;
  // Print every trace record as it happens (CLAW_SIM_TRACE=1).
  bool verbose_trace = false;
  // Snapshot generation model. true: a host that ships a snapshot starts building a fresh one at
  // its applied index at once, so the next request gets a newer snapshot (TiKV generates leader
  // snapshots on demand). false: only log compaction makes new snapshots.
  bool refresh_snapshots = true;
  // Remember acknowledged proposals for Acked(); benchmarks turn it off to save memory.
  bool record_acked = true;
};

enum class Link : uint8_t { kOpen, kBlocked };

struct NetworkFaults {
  uint32_t drop_ppm = 0;       // chance that a message is lost
  uint32_t duplicate_ppm = 0;  // chance that a message is delivered twice
  uint32_t spike_ppm = 0;      // chance that a message is delayed up to spike_delay
};

// The state machine of one (node, group): see the class comment.
struct StateMachine {
  raft::LogIndex applied;
  raft::Term applied_term;
  uint64_t hash = 0;     // chain over every applied entry, see ChainHash
  raft::ConfState conf;  // configuration in effect at `applied`
  bool operator==(const StateMachine&) const = default;
};

// The hash chain step shared by state machines and the checker's global history.
uint64_t ChainHash(uint64_t prev, const raft::Entry& e);

struct WorldStats {
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t duplicated = 0;
  uint64_t syncs = 0;
  uint64_t proposals = 0;        // accepted by a leader
  uint64_t acked = 0;            // applied at the proposing node at the proposed index
  uint64_t applied_entries = 0;  // over all nodes
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_installed = 0;
  uint64_t reads_requested = 0;
  uint64_t reads_ready = 0;
  uint64_t conf_changes = 0;  // accepted proposals
  uint64_t transfers = 0;
  uint64_t compactions = 0;
  uint64_t crashes = 0;
  uint64_t leader_changes = 0;  // SoftState changes to kLeader
  uint64_t wakeups = 0;
};

class World {
 public:
  // Bootstraps every group and starts every node at time 0. `checker` may be null (benchmarks).
  World(const WorldConfig& config, Checker* checker);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // --- Time.
  Time now() const { return now_; }
  // Processes every event due at or before `t`, then sets the clock to `t`. Stops early (and
  // leaves the clock at the failing event) once the checker recorded a violation.
  void RunUntil(Time t);
  void RunFor(Time d) { RunUntil(now_ + d); }
  // Whether the checker recorded a violation.
  bool failed() const;

  // --- Faults.
  void SetFaults(const NetworkFaults& f);
  const NetworkFaults& faults() const { return faults_; }
  // Messages from `from` to `to` are lost while the link is blocked (one-way).
  void SetLink(int from, int to, Link state);
  bool blocked(int from, int to) const { return blocked_[from * config_.nodes + to]; }
  // Splits the nodes into `side` and the rest, blocking both ways across.
  void Partition(const std::vector<int>& side);
  void Isolate(int node);
  void HealPartitions();
  void Crash(int node);
  void Restart(int node);
  bool up(int node) const;
  // Overrides one node's sync latency range (targeted scenarios: a slow disk).
  void SetSyncDelay(int node, Time min, Time max);

  // --- Client requests, each run through the node's host loop and the checker at once.
  std::expected<raft::LogIndex, raft::ProposeError> Propose(int node, int group, std::string data);
  std::expected<raft::LogIndex, raft::ProposeError> ProposeConfChange(
      int node, int group, const raft::ConfChange& change);
  // Proposes every value in one go (one Ready, one AppendRequest per follower); returns how many
  // the replica accepted.
  size_t ProposeBatch(int node, int group, std::vector<std::string> values);
  void ReadIndex(int node, int group);
  void TransferLeadership(int node, int group, int target);
  void Campaign(int node, int group);
  // Compacts the node's log for `group` at its applied index and offers that snapshot for shipping.
  // Returns false when there is nothing to compact.
  bool Compact(int node, int group);

  // --- Inspection (the host's view: SoftState, state machine, disk).
  int nodes() const { return config_.nodes; }
  int groups() const { return config_.groups; }
  const WorldConfig& config() const { return config_; }
  // Null while the node is down.
  const raft::Replica* replica(int node, int group) const;
  const raft::SoftState& soft_state(int node, int group) const;
  const StateMachine& state_machine(int node, int group) const;
  const raft::MemoryLogStorage& storage(int node, int group) const;
  // The up node whose replica of `group` says (in its SoftState) it leads at the highest term.
  std::optional<int> FindLeader(int group) const;
  // Whether the client proposal `data` was acknowledged (applied at its proposer at its index).
  bool Acked(int group, const std::string& data) const;
  const WorldStats& stats() const { return stats_; }
  Trace& trace() { return trace_; }
  // One line per replica: role, term, commit, applied, last index, durable state.
  std::string Describe() const;

 private:
  struct Envelope;
  struct Event;
  struct PendingWrite;
  struct GroupState;
  struct Node;
  struct Proposal {
    int node;
    raft::Term term;
    std::string data;
  };

  GroupState& Gs(int node, int group);
  const GroupState& Gs(int node, int group) const;
  // Heap order: the earliest (time, seq) on top.
  static bool EventAfter(const Event& a, const Event& b);
  void Schedule(Event e);
  void Dispatch(Event& e);
  void StartNode(int node);
  void OnTick(int node);
  void MaybeWakeUp(int node, int group);
  void OnSync(int node);
  void OnDeliver(Envelope& env);
  void OnSnapshotReport(int node, int group, int peer, raft::SnapshotOutcome outcome);
  // The host loop: drains the Ready of every replica touched since the last call.
  void ProcessNode(int node);
  void MarkDirty(int node, int group);
  void HandleReady(int node, int group, raft::Ready r);
  void Send(int node, int group, raft::Message m);
  void Apply(int node, int group, const raft::Entry& e);
  void DropEnvelope(const Envelope& env, const char* why);
  void ScheduleSnapshotReport(const Envelope& env, raft::SnapshotOutcome outcome);
  // Offers `image` as the group's shippable snapshot (storage and data).
  void Offer(GroupState& gs, const StateMachine& image);
  bool Reachable(int from, int to) const;
  void TraceFaults();
  void Violation(const std::string& what);

  WorldConfig config_;
  Checker* checker_;
  Rng rng_;
  Trace trace_;
  Time now_ = 0;
  uint64_t next_seq_ = 0;
  std::vector<Event> events_;  // binary heap ordered by (time, seq)
  std::vector<Node> nodes_;
  NetworkFaults faults_;
  std::vector<bool> blocked_;  // [from * nodes + to]
  uint64_t next_read_id_ = 1;
  // Client proposals waiting for their proposer to apply them, per group, by index.
  std::vector<std::map<uint64_t, std::vector<Proposal>>> pending_;
  std::vector<std::set<std::string>> acked_;  // per group, when config_.record_acked
  WorldStats stats_;
};

}  // namespace claw::sim
