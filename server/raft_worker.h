// RaftWorker: one thread of the store's batch system. It owns a fixed subset of the node's groups
// (replica, log, state machine) and runs rounds: drain the mailbox, step every group it concerns,
// tick active groups, then collect every touched group's Ready — writes to the LogWriter, messages
// to the transport (one batch per destination node), committed entries to the state machine —
// and answer the client requests that completed.
//
// Threads: Post is thread-safe; everything else runs on the worker's thread. Lifecycle: construct
// -> AddGroup ... (before Start) -> Start -> ... -> destroy (stops and joins; requests still
// pending are failed with UNAVAILABLE).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "claw/v1/cluster.pb.h"
#include "claw/v1/command.pb.h"
#include "server/codec.h"
#include "server/requests.h"
#include "server/watch_stream.h"
#include "storage/raft_log_store.h"

namespace claw::server {

class Store;
struct Group;
struct PendingProposal;

class RaftWorker {
 public:
  struct Persisted {
    uint64_t group = 0;
    storage::GroupWrite write{};
  };
  // Runs on the worker thread with access to the worker's groups.
  using Task = std::function<void(RaftWorker&)>;
  using Event = std::variant<GroupMessage, ProposalRequest, ReadRequest, Persisted, Task>;

  RaftWorker(Store* store, int index);
  ~RaftWorker();
  RaftWorker(const RaftWorker&) = delete;
  RaftWorker& operator=(const RaftWorker&) = delete;

  void AddGroup(std::unique_ptr<Group> group);
  void Start();
  // Joins the thread and fails every waiting client request (UNAVAILABLE); later posts of client
  // requests fail at once, other events are dropped. Groups stay (for the destructor).
  void Stop();
  // Queues an event; returns false when a peer message was dropped because the mailbox is full.
  bool Post(Event event);

  // Monitoring, any thread: local replicas by state as of the worker's last gauge pass (once a
  // second, on its tick), and when its loop last ran (the watchdog's proof of progress).
  struct Gauges {
    uint64_t leader = 0, follower = 0, candidate = 0, learner = 0;
    uint64_t without_leader = 0, under_replicated = 0, hibernating = 0;
  };
  Gauges gauges() const;
  std::chrono::steady_clock::time_point last_loop() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_loop_.load()));
  }
  // True while the worker's applied entries wait for disk space (its loop keeps running).
  bool waiting_for_space() const { return waiting_for_space_.load(std::memory_order_relaxed); }

  // Worker-thread helpers for Tasks.
  std::vector<Group*> groups();
  void MarkDirty(Group* g) { dirty_.insert(g); }
  // A verified snapshot for one of this worker's groups: remember its directory and step its
  // InstallSnapshot message.
  void OfferIncomingSnapshot(GroupMessage message, const std::string& dir);
  // A snapshot of another shard was refused because it overlaps this worker's replica of
  // `shard`: that replica asks its peers whether it is still a member (REPLICA_QUERY). One removed
  // while its node was away hears nothing otherwise (a learner never campaigns); told "gone", it
  // is destroyed and the refused snapshot's next attempt lands.
  void NudgeOverlappingReplica(uint64_t shard);
  // Store::LearnDirectoryEntry: destroys this worker's replica of `entry.id()` when the entry, a
  // committed descriptor newer than the replica's, shows it removed (RemovedBy).
  void DestroyIfRemovedBy(const v1::ShardDescriptor& entry);
  // Admin API (Store::ChangeReplicas / TransferLeader), on the shard's worker.
  using DescriptorDone = std::function<void(std::expected<v1::ShardDescriptor, RequestError>)>;
  void ChangeReplicas(const v1::ChangeReplicasRequest& request, std::chrono::steady_clock::time_point deadline,
                      DescriptorDone done);
  void TransferLeader(uint64_t shard, uint64_t to_node, std::chrono::steady_clock::time_point deadline,
                      DescriptorDone done);
  // Answers once every voter of `shard` (this node leading it) stored the log through `index`
  // (Store::WaitReplicated).
  void WaitReplicated(uint64_t shard, uint64_t index, std::chrono::steady_clock::time_point deadline,
                      std::function<void(std::expected<void, RequestError>)> done);
  using SplitDone = std::function<void(std::expected<v1::SplitShardResponse, RequestError>)>;
  void SplitShard(const v1::SplitShardRequest& request, std::chrono::steady_clock::time_point deadline,
                  SplitDone done);
  // Watches (Store::Watch): registers a stream on the shard's replica here.
  void RegisterWatch(WatchRegistration registration);
  // MVCC GC (server/history_gc.h): raises the GC threshold of every initialized data shard of
  // this worker to `safe_point` and returns their ranges (shard, start, end) to collect.
  std::vector<std::tuple<uint64_t, std::string, std::string>> RaiseGcThresholds(uint64_t safe_point);
  // Consistency checks (Store::CheckConsistency / ReplicaHash), on the shard's worker.
  using CheckDone = std::function<void(std::expected<v1::CheckConsistencyResponse, RequestError>)>;
  void CheckConsistency(uint64_t shard, std::chrono::steady_clock::time_point deadline, CheckDone done);
  using HashDone = std::function<void(std::expected<v1::GetReplicaHashResponse, RequestError>)>;
  void ReplicaHash(uint64_t shard, uint64_t index, HashDone done);

 private:
  void Run();
  static void FailClientRequest(Event& e);
  void HandleEvent(Event& event, std::chrono::steady_clock::time_point now);
  void HandleMessage(GroupMessage& m, std::chrono::steady_clock::time_point now);
  void HandleProposal(ProposalRequest& p);
  void HandleRead(ReadRequest& r, std::chrono::steady_clock::time_point now);
  void HandlePersisted(Persisted& p);
  void Tick(std::chrono::steady_clock::time_point now);
  void UpdateGauges(std::chrono::steady_clock::time_point now);
  void ProcessReadies();
  void HandleReady(Group* g, std::unordered_map<uint64_t, std::vector<GroupMessage>>& outbox);
  void ApplyEntries(Group* g, std::vector<raft::Entry>& entries);
  void ServeReads(Group* g);
  // Writes the pass's applies (one batch for all its shards), then answers what they complete.
  void FlushApplies();
  // Writes round_.batch: true when written; false on a full disk (the batch stays in round_,
  // waiting_for_space() is set, and ProcessReadies retries it before anything else). Any other
  // storage error stops the process (fail-stop).
  bool WriteApplies();
  // Bounded-staleness reads: the group's commit index was at most `leader_commit` at `as_of`;
  // the replica is current as of `as_of` once it has applied that far (AdvanceCurrency, after
  // each apply). Leaders note their own commit every tick while a quorum acknowledges them;
  // followers learn it from a currency probe (MaybeProbe).
  void NoteLeaderCommit(Group* g, std::chrono::steady_clock::time_point as_of, uint64_t leader_commit);
  // A follower that serves STALE reads asks its leader for the commit index (a ReadIndex round
  // of the core's own): the answer is at least the group's commit when the probe was sent, so
  // no clock of another node and no delayed message can make it look newer than it is.
  void MaybeProbe(Group* g, std::chrono::steady_clock::time_point now);
  // Client writes of one round go to the log together (HandleProposal collects them per group):
  // ProposePacks proposes every group's pack at the round's end, ProposePack one group's (also
  // before a command that must follow them), ProposeEntry one entry of one command or a
  // PackedCommands of several, failing all of them alike when the replica refuses.
  void ProposePacks();
  void ProposePack(Group* g);
  void ProposeEntry(Group* g, std::vector<std::pair<std::string, PendingProposal>> commands);
  void AdvanceCurrency(Group* g);
  // Whether `g`'s applied state is known to be at most `bound_ms` old.
  bool FreshWithin(const Group* g, std::chrono::steady_clock::time_point now, uint64_t bound_ms) const;
  // On a node whose disk is full: hands the leadership of `g` to its most up-to-date follower.
  void HandOffForSpace(Group* g);
  void InstallSnapshot(Group* g, const raft::SnapshotMeta& meta);
  void SendSnapshot(Group* g, uint64_t node, raft::Message m);
  void MaybeCompact(Group* g);
  void MaybeExportSnapshot(Group* g);
  void RemoveRetiredSnapshots(Group* g);
  // Serves the parked STALE reads now current within their bound, fails those past their time.
  void ServeParkedStaleReads(Group* g, std::chrono::steady_clock::time_point now);
  RequestError NotCurrent(const Group* g, uint64_t bound_ms) const;
  std::chrono::milliseconds ElectionTimeout() const;
  void OnLeadershipLost(Group* g);
  // Membership: replicas created by a leader's first message, removal notices, destruction.
  Group* CreateReplica(const GroupMessage& m);
  void MaybeSendGone(Group* g, uint64_t from, std::chrono::steady_clock::time_point now);
  void HandleReplicaGone(Group* g, const GroupMessage& m);
  void ApplyConfig(Group* g, uint64_t index, const std::string& data);
  void ApplySplit(Group* g, uint64_t index, const v1::SplitCommand& split);
  // A ConsistencyCheck entry at `index` was applied: writes the apply batch through it and hands
  // a snapshot of that state to the store's ReplicaHashes.
  void StartConsistencyCheck(Group* g, uint64_t index);
#ifdef CLAW_BREAK_DIVERGE_REPLICA
  void DivergeOnce(Group* g);
#endif
  void OpenSplitShard(const v1::ShardDescriptor& desc, bool campaign, uint64_t gc_threshold);
  // Watches: hands the events of the written apply batch to g's watchers and ends the streams
  // whose range left the shard (after a split).
  void PublishWatchEvents(Group* g);
  // Ends every watcher of g (split, removal, snapshot, shutdown).
  void EndWatchers(Group* g, const RequestError& error, WatchEnd why);
  void TickWatchers();
  // Sets g->destroy; DestroyRemoved destroys it once nothing is in flight.
  void MarkForDestroy(Group* g);
  void DestroyRemoved();
  void CheckTransfers(Group* g, std::chrono::steady_clock::time_point now);
  // Answers the replication waits of g that are done, past their deadline, or (g no longer
  // leads) can no longer be judged here; `why` is the error for the latter.
  void CheckReplicationWaits(Group* g, std::chrono::steady_clock::time_point now);
  void FailReplicationWaits(Group* g, const RequestError& why);
  // The local leader replica of `shard` for an admin change, or the error to answer with
  // (SHARD_NOT_FOUND, NOT_LEADER, or EPOCH_MISMATCH when `epoch` is given and differs).
  std::expected<Group*, RequestError> AdminLeader(uint64_t shard, const v1::Epoch* epoch);
  // Tasks to run on a later tick (retries within a deadline).
  void Defer(std::chrono::steady_clock::time_point at, Task task);
  void RunDeferred(std::chrono::steady_clock::time_point now);
  void ExpireDeadlines(Group* g, std::chrono::steady_clock::time_point now);
  Group* Find(uint64_t group);
  // Checks the common preconditions of a client request against the local replica; returns the
  // error to answer with, if any.
  std::optional<RequestError> Check(Group* g, uint64_t shard, bool check_epoch,
                                    const v1::Epoch& epoch, const std::vector<std::string>& keys,
                                    bool need_leader);
  RequestError NotLeader(Group* g);
  v1::ResponseHeader Header(Group* g);

  Store* store_;
  const int index_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> inbox_;         // guarded by mu_
  uint64_t inbox_messages_ = 0;      // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool stopped_ = false;             // guarded by mu_
  std::unordered_map<uint64_t, std::unique_ptr<Group>> groups_;
  std::unordered_set<Group*> dirty_;
  std::unordered_set<Group*> destroying_;  // groups with destroy set, not destroyed yet
  std::unordered_set<Group*> awake_;       // groups Tick visits between sweeps (see Tick)
  // Applies of the current pass, written together by FlushApplies.
  struct ApplyRound {
    struct Completion {
      Group* group = nullptr;
      std::function<void(std::expected<ProposalResult, RequestError>)> done{};
      v1::TxnResponse result{};
      std::optional<RequestError> refused{};  // not applied: answer with this error
    };
    storage::WriteBatch batch;
    // When the pass applied its first entry (Clock::time_point{} while nothing is applied).
    std::chrono::steady_clock::time_point started{};
    std::vector<Group*> groups;
    // Shards created by splits in this pass (descriptor, whether the parent's replica here led).
    std::vector<std::pair<v1::ShardDescriptor, bool>> created;
    std::vector<Completion> completions;
    std::vector<std::function<void(std::expected<ProposalResult, RequestError>)>> superseded;
  };
  ApplyRound round_;
  std::vector<Group*> packing_;  // groups with client writes packed in this round
  // Groups with watchers (progress notifications on ticks); GC thresholds of shards split off in
  // this pass (child id -> the parent's threshold).
  std::unordered_set<Group*> watched_;
  std::unordered_map<uint64_t, uint64_t> split_thresholds_;
  std::vector<std::pair<std::chrono::steady_clock::time_point, Task>> deferred_;
  std::chrono::steady_clock::time_point next_tick_{};
  uint64_t ticks_ = 0;
  mutable std::mutex gauges_mu_;
  Gauges gauges_{};  // guarded by gauges_mu_
  std::atomic<std::chrono::steady_clock::rep> last_loop_{std::chrono::steady_clock::now().time_since_epoch().count()};
  std::atomic<bool> waiting_for_space_{false};
  std::chrono::steady_clock::time_point waiting_since_{};  // worker thread: when applies stopped for space
  uint64_t probe_seq_ = 0;                                 // worker thread: currency probe ids (MaybeProbe)
  std::chrono::steady_clock::time_point last_resume_{};    // worker thread: last DB::Resume while waiting
  std::thread thread_;
};

}  // namespace claw::server
