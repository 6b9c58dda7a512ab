// Store: the multi-Raft core of a node — every local replica of every shard, driven by a fixed
// pool of raft workers (a TiKV-style batch system, STYLE.md "Threads"), persisting through the
// group-commit LogWriter and applying into the engine.
//
// Picture:
//   gRPC handlers --Propose/Read--> worker mailbox ┐
//   transport ----Deliver---------> worker mailbox ├-> worker round: step, tick, collect Readies
//   log writer ---persisted-------> worker mailbox ┘     -> LogWriter (one sync for all groups)
//                                                         -> transport (one batch per node)
//                                                         -> apply (one batch per shard)
// A group belongs to exactly one worker (group id modulo worker count) for its whole life, so a
// replica and its state machine are single-threaded and lock-free.
//
// Back-pressure: client requests in flight on the node are bounded (max_pending_requests); beyond
// it Propose/Read answer OVERLOADED at once (definite). Peer messages beyond a worker's mailbox
// bound are dropped (Raft retransmits).
//
// Lifecycle: Bootstrap (first start, writes the initial groups) -> construct (opens and verifies
// every group, starts the workers) -> Propose / Read / Deliver ... -> TransferLeadersAway (on
// SIGTERM) -> destroy (stops the workers). The LogWriter, Transport, Router and Engine outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "claw/v1/cluster.pb.h"
#include "claw/v1/shard.pb.h"
#include "server/codec.h"
#include "server/key_header_cache.h"
#include "server/meta_state.h"
#include "server/replica_hashes.h"
#include "server/requests.h"
#include "server/router.h"
#include "server/watch_stream.h"
#include "server/transport.h"
#include "storage/engine.h"
#include "storage/hlc.h"
#include "storage/log_writer.h"
#include "storage/raft_log_store.h"

namespace claw::server {

class Metrics;

struct StoreOptions {
  uint64_t node_id = 0;
  // Raft workers; 0 = hardware concurrency.
  int workers = 0;
  uint32_t tick_ms = 100;
  int election_ticks = 6;
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool lease_reads = true;
  uint32_t max_clock_drift_ppm = 50'000;
  uint32_t max_inflight_appends = 256;
  uint64_t max_append_bytes = 1 << 20;
  uint64_t max_uncommitted_bytes = 64ull << 20;
  int hibernate_after_ticks = 30;
  // A hibernating follower whose leader's node was silent this long wakes up to elect.
  uint32_t node_dead_after_ms = 3000;
  // Client requests in flight on the node before OVERLOADED.
  uint64_t max_pending_requests = 10'000;
  // Peer messages queued per worker before new ones are dropped.
  uint64_t max_mailbox_messages = 200'000;
  uint64_t dedup_window_ms = 60'000;
  // Keys whose newest version header the node's state machines keep in memory, all shards
  // together (server/key_header_cache.h); 0 turns the cache off.
  uint64_t key_header_cache_keys = 262'144;
  uint64_t max_staleness_ms = 5'000;
  // Largest encoded command accepted for proposal (below the peer message limit).
  uint64_t max_command_bytes = 4ull << 20;
  // Log entries kept beyond the applied index: a group's log is compacted through
  // applied - snapshot_after_entries once it holds twice that many applied entries.
  uint64_t snapshot_after_entries = 10'000;
  // Where outgoing snapshots are exported (one subdirectory per shard and index).
  std::string snapshot_dir{};
  // Where the store's series go (server/metrics.h); nullptr: a private instance nobody scrapes.
  Metrics* metrics = nullptr;
};

class RaftWorker;
struct Group;

class Store {
 public:
  // Where the node's series go (the one passed in options, or the store's own).
  Metrics* metrics() { return metrics_; }
  // The key header caches' shared budget and lookup counts (server/key_header_cache.h).
  const KeyHeaderCacheBudget& header_cache() const { return header_budget_; }
  // Writes every group of `shards` that has a replica on `node_id` (empty logs whose snapshot
  // point carries the initial voters) and the descriptors of all shards. First start only.
  // A node hosting a replica of the meta shard also writes its initial state: `nodes` (the
  // initial cluster) and `shards`.
  [[nodiscard]] static std::expected<void, std::string> Bootstrap(
      storage::Engine* engine, uint64_t node_id, const std::vector<v1::ShardDescriptor>& shards,
      const std::vector<v1::NodeRecord>& nodes);
  // Descriptors stored by Bootstrap (or later changes), ordered by id.
  [[nodiscard]] static std::expected<std::vector<v1::ShardDescriptor>, std::string> LoadShards(
      storage::Engine* engine);

  // Opens every local group (verifying its log) and starts the workers. Fails on corruption.
  [[nodiscard]] static std::expected<std::unique_ptr<Store>, std::string> Open(
      const StoreOptions& options, storage::Engine* engine, storage::LogWriter* log_writer,
      Transport* transport, Router* router, storage::HybridClock* clock);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void Propose(ProposalRequest request);
  // Proposes a meta shard command (5 s deadline); `done` gets its applied outcome.
  void ProposeMeta(v1::MetaCommand command, std::function<void(std::expected<void, RequestError>)> done);
  void Read(ReadRequest request);
  // Messages from the transport, any thread.
  void Deliver(std::vector<GroupMessage> messages);
  // A received, verified snapshot (the transport's SnapshotSink): handed to the group's worker,
  // which steps its InstallSnapshot message and ingests `dir` when the core installs it.
  void AcceptSnapshot(GroupMessage message, std::string dir);

  // Admin API. One membership change of a shard, on its leader (ADD_LEARNER / PROMOTE / REMOVE):
  // answered with the new descriptor once applied, or the error (NOT_LEADER, EPOCH_MISMATCH,
  // INVALID_ARGUMENT, UNAVAILABLE while another change is in progress). Any thread.
  using DescriptorDone = std::function<void(std::expected<v1::ShardDescriptor, RequestError>)>;
  void ChangeReplicas(v1::ChangeReplicasRequest request, std::chrono::steady_clock::time_point deadline,
                      DescriptorDone done);
  // Moves the shard's leadership to its voter on `to_node`; answered once it leads there.
  void TransferLeader(uint64_t shard, uint64_t to_node, std::chrono::steady_clock::time_point deadline,
                      DescriptorDone done);

  // On the shard's leader: answers once every voter of the shard stored its log through `index`
  // (durably), or with CHECKPOINT_NOT_ALL_REPLICAS (naming the lagging nodes) at the deadline,
  // NOT_LEADER when this node does not lead it (any more). Synchronous checkpoints. Any thread.
  void WaitReplicated(uint64_t shard, uint64_t index, std::chrono::steady_clock::time_point deadline,
                      std::function<void(std::expected<void, RequestError>)> done);
  // Splits a shard on its leader at request.split_key, or (empty) at the middle of its data,
  // computed on the calling thread. Answered once the split applied on the leader.
  using SplitDone = std::function<void(std::expected<v1::SplitShardResponse, RequestError>)>;
  void SplitShard(v1::SplitShardRequest request, std::chrono::steady_clock::time_point deadline, SplitDone done);
  // Consistency checks (server/README.md "Consistency checks"). On the shard's leader: proposes a
  // check entry and answers once it applied there (index and descriptor), or the error
  // (SHARD_NOT_FOUND, NOT_LEADER, INVALID_ARGUMENT for the meta shard, UNAVAILABLE).
  using CheckDone = std::function<void(std::expected<v1::CheckConsistencyResponse, RequestError>)>;
  void CheckConsistency(uint64_t shard, std::chrono::steady_clock::time_point deadline, CheckDone done);
  // This node's result of the check at (shard, index): PENDING / DONE / UNAVAILABLE, or
  // SHARD_NOT_FOUND when the node hosts no replica of the shard. Any thread.
  using HashDone = std::function<void(std::expected<v1::GetReplicaHashResponse, RequestError>)>;
  void ReplicaHash(uint64_t shard, uint64_t index, HashDone done);
  ReplicaHashes& hashes() { return *hashes_; }
  // Watches (server/watch_stream.h): registers the stream on the shard's worker; `done` is called
  // exactly once (UNAVAILABLE when the node stops first). Any thread.
  void Watch(WatchRegistration registration);
  // A cluster directory entry (the meta shard's copy of a shard's committed descriptor, from the
  // placement heartbeat) for a shard this node hosts: when its configuration, newer than the local
  // one, no longer lists this node, the local replica was removed and may never be told so (its
  // former peers may all have moved away too); its worker checks the replica id and destroys it.
  // Any thread.
  void LearnDirectoryEntry(const v1::ShardDescriptor& entry);
  // MVCC GC (server/history_gc.h): raises every local data shard's GC threshold to `safe_point`
  // on its worker and returns the ranges (shard, start, end) now safe to collect up to it. Blocks
  // until every worker answered (a stopped worker's shards are left out).
  std::vector<std::tuple<uint64_t, std::string, std::string>> RaiseGcThresholds(uint64_t safe_point);
  // Approximate bytes of a shard's data on this node (storage::ApproximateShardBytes); 0 on error.
  uint64_t ApproximateBytes(const v1::ShardDescriptor& shard);
  // A shard id no node ever used: this node's id in the high 32 bits, a sequence persisted (and
  // synced) in `meta` in the low ones. Thread-safe.
  [[nodiscard]] std::expected<uint64_t, std::string> AllocateShardId();

  // Local replicas' status, ordered by shard id (blocks until every worker answered).
  // leaders_only: only the replicas this node leads (the placement heartbeat's report: copying
  // every descriptor each second was most of an idle node's heartbeat cost at 10,000 shards).
  std::vector<v1::ReplicaStatus> Status(bool leaders_only = false);
  // Asks every local leader to hand leadership to another up-to-date voter and waits until no
  // local replica leads a group that has another voter, or `timeout` passes. Returns how many
  // such groups this node still leads.
  size_t TransferLeadersAway(std::chrono::milliseconds timeout);
  // Stops accepting client requests (they get UNAVAILABLE, definite) — for shutdown.
  void StopAccepting() { accepting_.store(false); }
  // Stops the raft workers and fails every waiting client request. Call before destroying the
  // LogWriter (whose callbacks post into the workers); the Store is destroyed after it.
  void Stop();

  // The meta shard's replicated state (empty unless this node hosts a meta replica).
  MetaStateMachine& meta() { return meta_; }
  // When this node's meta replica last became leader (steady clock; time_point{} if never).
  std::chrono::steady_clock::time_point meta_leader_since() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(meta_leader_since_.load()));
  }

  // Local replicas by state, summed over the workers' last gauge passes (at most a second old).
  // Never blocks on the workers.
  struct Gauges {
    uint64_t leader = 0, follower = 0, candidate = 0, learner = 0;
    uint64_t without_leader = 0, under_replicated = 0, hibernating = 0;
  };
  Gauges gauges() const;
  // Empty when every raft worker ran its loop within `within`, else which did not and for how
  // long (the watchdog and /healthz).
  std::string Stalled(std::chrono::milliseconds within) const;
  // True while a write of this node waits for disk space: the log writer's (Raft log) or a
  // worker's (applied entries). Leaders here refuse new writes with NO_SPACE and hand their
  // leadership to a follower meanwhile (RaftWorker::Tick).
  bool NoSpace() const;

  const StoreOptions& options() const { return options_; }
  uint64_t pending_requests() const { return pending_requests_.load(); }

  // ---- Preferred (pinned) leaders (server/README.md "Preferred (pinned) leaders") ----
  // The node a shard's leadership should live on (a collocated checkpoint's active replica), as
  // this node's checkpoint service sets it while it leads the shard. The placement heartbeat
  // reports it for every shard this node leads (ShardReport.preferred_leader_node_id); the
  // placement service moves a voter there and the leadership, and keeps it there. Not
  // replicated: the next leader's checkpoint service sets it again. Thread-safe.
  // node 0 = ClearPreferredLeader.
  void SetPreferredLeader(uint64_t shard, uint64_t node);
  void ClearPreferredLeader(uint64_t shard);
  // 0 = none.
  uint64_t PreferredLeader(uint64_t shard) const;

 private:
  friend class RaftWorker;
  Store(const StoreOptions& options, storage::Engine* engine, storage::LogWriter* log_writer,
        Transport* transport, Router* router, storage::HybridClock* clock);
  RaftWorker& WorkerFor(uint64_t group);
  // A group's in-memory parts over its opened log.
  std::expected<std::unique_ptr<Group>, std::string> NewGroup(const v1::ShardDescriptor& d, uint64_t self,
                                                              std::unique_ptr<storage::GroupLog> log);
  // A replica created for a membership change, before its first snapshot (worker thread).
  std::expected<std::unique_ptr<Group>, std::string> CreateUninitializedGroup(uint64_t group, uint64_t self);
  // Admission control for client requests: the refusal to answer with, if any.
  std::optional<RequestError> Admit();
  // Admits a proposal or read and queues it on its shard's worker, or answers the refusal.
  template <class Request>
  void Enqueue(Request request);
  void Release() { pending_requests_.fetch_sub(1); }

  StoreOptions options_;
  std::unique_ptr<Metrics> own_metrics_;  // when options.metrics is nullptr
  Metrics* metrics_;
  storage::Engine* engine_;
  storage::LogWriter* log_writer_;
  Transport* transport_;
  Router* router_;
  storage::HybridClock* clock_;
  KeyHeaderCacheBudget header_budget_;  // before workers_: their state machines use it
  std::vector<std::unique_ptr<RaftWorker>> workers_;
  std::atomic<uint64_t> pending_requests_{0};
  std::mutex id_mu_;  // AllocateShardId
  MetaStateMachine meta_;
  std::unique_ptr<ReplicaHashes> hashes_;
  std::atomic<std::chrono::steady_clock::rep> meta_leader_since_{0};
  std::atomic<bool> accepting_{true};
  // Preferred leaders by shard (SetPreferredLeader).
  mutable std::mutex preferred_mu_;
  std::map<uint64_t, uint64_t> preferred_leaders_;  // guarded by preferred_mu_
};

}  // namespace claw::server
