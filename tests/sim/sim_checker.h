// Checker: the Raft safety invariants, verified incrementally after every simulated event.
//
// The World calls the hooks below as things happen; each hook does work proportional to what
// changed, so a run with thousands of events costs little more than the events themselves.
// Invariants (thesis §3.6.3, Figure 3.2, and the read and durability rules of our contract):
//   1. Election safety: at most one leader per (group, term) over the whole run, restarts included.
//   2. Log matching: globally, an (index, term) pair always carries the same entry and the same
//      previous term, for every entry any node writes (Ready) or holds (storage at restart, logs at
//      the end of a run).
//   3. Leader completeness: a replica that becomes leader holds every entry known committed in its
//      group (known = at or below some replica's commit index at that moment).
//   4. State machine safety: every apply matches the group's one global history at that index;
//      applies are contiguous; an installed snapshot equals that history's prefix; no client value
//      is applied at two indexes.
//   5. Monotonicity: a replica's term and commit never decrease within its lifetime; a node's
//      durable term never decreases across crashes, and its durable vote never changes within a
//      term; a replica never rewrites entries it already applied.
//   6. Linearizable reads: a ReadState{kReady} index is >= the highest commit index any replica
//      had when the read was requested.
// Acknowledged writes are never lost because of 4 (an acknowledged value is applied at the
// proposer, so the history at its index is fixed) plus the end-of-run convergence check that every
// member applied the whole history (sim_driver.cc).
//
// The first violation is recorded and later ones are ignored; the World stops at once.
// Owned by the run driver; single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "raft/memory_log_storage.h"
#include "raft/ready.h"
#include "raft/replica.h"
#include "tests/sim/sim_world.h"

namespace claw::sim {

class Checker {
 public:
  Checker(int nodes, int groups);

  // --- Hooks called by the World.
  void OnReplicaStarted(int node, int group, const raft::Replica& r,
                        const raft::MemoryLogStorage& storage, const StateMachine& sm);
  void OnCrash(int node);
  void OnReady(int node, int group, const raft::Replica& r, const raft::Ready& ready,
               const StateMachine& sm);
  void OnDurableHardState(int node, int group, const raft::HardState& hs);
  void OnApply(int node, int group, const raft::Entry& e, const StateMachine& before);
  void OnSnapshotInstalled(int node, int group, const StateMachine& before,
                           const StateMachine& image, const raft::SnapshotMeta& meta);
  void OnReadRequested(int group, raft::ReadId id);
  void OnReadState(int node, int group, const raft::ReadState& rs);
  // After every event that touched the replica: term, commit, role.
  void AfterStep(int node, int group, const raft::Replica& r,
                 const raft::MemoryLogStorage& storage);

  // --- End-of-run checks and facts for the driver.
  // Log matching over everything the replica holds (durable and not).
  void CheckLog(int node, int group, const raft::Replica& r, const raft::MemoryLogStorage& storage);
  uint64_t known_commit(int group) const { return groups_[group].known_commit; }
  uint64_t history_size(int group) const { return groups_[group].history.size(); }
  // Chain hash of the global history through `index` (>= 1, <= history_size).
  uint64_t history_hash(int group, uint64_t index) const {
    return groups_[group].history[index - 1].hash;
  }
  uint64_t leaders_elected() const { return leaders_elected_; }
  // The index at which client value `data` was applied in `group`, or 0 if it never was.
  uint64_t IndexOfValue(int group, const std::string& data) const;

  void Fail(const std::string& what);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  struct EntryKey {
    uint64_t index;
    uint64_t term;
    bool operator==(const EntryKey&) const = default;
  };
  struct EntryKeyHash {
    size_t operator()(const EntryKey& k) const;
  };
  struct EntryRecord {
    uint64_t content;    // hash of type and data
    uint64_t prev_term;  // term of the entry before it, as written alongside it
    int writer;          // first node seen writing it, for messages
  };
  struct HistoryEntry {
    raft::Term term;
    raft::EntryType type;
    std::string data;
    uint64_t hash;  // chain hash through this entry
  };
  struct GroupRecord {
    std::unordered_map<EntryKey, EntryRecord, EntryKeyHash> entries;
    std::vector<HistoryEntry> history;      // history[i - 1] is the entry applied at index i
    std::vector<uint64_t> committed_terms;  // [i] = term known committed at i; 0 = not known
    uint64_t known_commit = 0;
    std::map<uint64_t, int> leaders;                           // term -> node
    std::unordered_map<std::string, uint64_t> applied_values;  // client value -> index
  };
  struct ReplicaRecord {
    // Current lifetime.
    uint64_t term = 0;
    uint64_t commit = 0;
    uint64_t leader_checked_term = 0;
    // Durable, across lifetimes.
    raft::HardState durable;
  };
  struct ReadRecord {
    int group;
    uint64_t required;
  };

  ReplicaRecord& Rr(int node, int group) { return replicas_[node * groups_count_ + group]; }
  // Whether the term of the entry before a checked entry is known (it is not when compacted).
  enum class Prev : uint8_t { kKnown, kUnknown };
  // Records or compares one entry written or held by `node`, after an entry of `prev_term`.
  void CheckEntry(int node, int group, const raft::Entry& e, uint64_t prev_term, Prev prev);
  void RecordCommitted(int node, int group, uint64_t index, uint64_t term);
  void CheckLeader(int node, int group, const raft::Replica& r, const raft::MemoryLogStorage& s);

  int nodes_;
  int groups_count_;
  std::vector<GroupRecord> groups_;
  std::vector<ReplicaRecord> replicas_;  // [node * groups + group]
  std::map<uint64_t, ReadRecord> reads_;
  uint64_t leaders_elected_ = 0;
  std::string error_;
};

}  // namespace claw::sim
