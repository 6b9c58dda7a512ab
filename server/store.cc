#include "server/store.h"

#include <algorithm>
#include <future>
#include <thread>

#include <spdlog/spdlog.h>

#include "raft/replica.h"
#include "server/group.h"
#include "server/metrics.h"
#include "server/raft_worker.h"
#include "server/replica_id.h"
#include "server/split_key.h"
#include "storage/key_codec.h"
#include "storage/mvcc.h"
#include "storage/snapshot.h"

namespace claw::server {
namespace {

uint64_t LocalReplica(const v1::ShardDescriptor& d, uint64_t node) {
  const v1::Replica* r = ReplicaOn(d, node);
  return r == nullptr ? 0 : r->replica_id();
}

}  // namespace

std::expected<void, std::string> Store::Bootstrap(storage::Engine* engine, uint64_t node_id,
                                                  const std::vector<v1::ShardDescriptor>& shards,
                                                  const std::vector<v1::NodeRecord>& nodes) {
  storage::WriteBatch batch;
  for (const v1::ShardDescriptor& d : shards) {
    if (d.id() == kMetaShard && LocalReplica(d, node_id) != 0) {
      MetaStateMachine meta(engine);
      meta.Bootstrap(nodes, shards, batch);
    }
  }
  for (const v1::ShardDescriptor& d : shards) {
    if (auto put = engine->PutMeta(batch, storage::ShardDescriptorKey(d.id()), d.SerializeAsString()); !put) {
      return std::unexpected("batching shard descriptors: " + put.error().message);
    }
    if (LocalReplica(d, node_id) == 0) continue;
    raft::SnapshotMeta point{.index = raft::LogIndex(kInitialLogIndex), .term = raft::Term(0), .conf = ConfOf(d)};
    auto log = storage::GroupLog::Bootstrap(engine, d.id(), point);
    if (!log) return std::unexpected("creating the log of shard " + std::to_string(d.id()) + ": " + log.error().message);
  }
  if (auto w = engine->Write(batch, storage::Durability::kSync); !w) {
    return std::unexpected("writing shard descriptors: " + w.error().message);
  }
  return {};
}

std::expected<std::vector<v1::ShardDescriptor>, std::string> Store::LoadShards(storage::Engine* engine) {
  std::vector<v1::ShardDescriptor> out;
  std::string corrupt;
  auto scan = engine->ScanMeta(storage::ShardDescriptorPrefix(), [&](std::string_view key, std::string_view value) {
    auto id = storage::ParseShardDescriptorKey(key);
    v1::ShardDescriptor d;
    if (!id || !d.ParseFromArray(value.data(), static_cast<int>(value.size())) || d.id() != *id) {
      corrupt = "a shard descriptor in " + engine->dir() + " is corrupt";
      return false;
    }
    out.push_back(std::move(d));
    return true;
  });
  if (!scan) return std::unexpected("reading shard descriptors: " + scan.error().message);
  if (!corrupt.empty()) return std::unexpected(corrupt);
  return out;
}

Store::Store(const StoreOptions& options, storage::Engine* engine, storage::LogWriter* log_writer,
             Transport* transport, Router* router, storage::HybridClock* clock)
    : options_(options),
      own_metrics_(options.metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      metrics_(options.metrics == nullptr ? own_metrics_.get() : options.metrics),
      engine_(engine),
      log_writer_(log_writer),
      transport_(transport),
      router_(router),
      clock_(clock),
      header_budget_(options.key_header_cache_keys),
      meta_(engine),
      hashes_(std::make_unique<ReplicaHashes>(engine)) {}

std::expected<std::unique_ptr<Store>, std::string> Store::Open(
    const StoreOptions& options, storage::Engine* engine, storage::LogWriter* log_writer,
    Transport* transport, Router* router, storage::HybridClock* clock) {
  auto shards = LoadShards(engine);
  if (!shards) return std::unexpected(shards.error());
  std::unique_ptr<Store> store(new Store(options, engine, log_writer, transport, router, clock));
  if (auto m = store->meta_.Load(); !m) return std::unexpected(m.error());
  int n = options.workers > 0 ? options.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  store->options_.workers = n;
  for (int i = 0; i < n; ++i) store->workers_.push_back(std::make_unique<RaftWorker>(store.get(), i));

  for (const v1::ShardDescriptor& d : *shards) {
    const uint64_t self = LocalReplica(d, options.node_id);
    router->Upsert(d, self != 0);
    if (self == 0) continue;
    auto log = storage::GroupLog::Open(engine, d.id());
    if (!log) return std::unexpected("opening the log of shard " + std::to_string(d.id()) + ": " + log.error().message);
    auto g = store->NewGroup(d, self, std::move(*log));
    if (!g) return std::unexpected(g.error());
    // A brand-new group elects its first leader on the replica listed first, a few ticks after
    // start (once peer streams are open): bootstrap lists a different node first for each shard,
    // which spreads the leaders evenly.
    if ((*g)->replica->term().IsZero() && d.replicas_size() > 0 && d.replicas(0).node_id() == options.node_id) {
      (*g)->campaign_at_tick = 3;
    }
    store->WorkerFor(d.id()).AddGroup(std::move(*g));
  }
  for (auto& w : store->workers_) w->Start();
  return store;
}

std::expected<std::unique_ptr<Group>, std::string> Store::NewGroup(const v1::ShardDescriptor& d, uint64_t self,
                                                                   std::unique_ptr<storage::GroupLog> log) {
  auto g = std::make_unique<Group>();
  g->id = d.id();
  g->desc = d;
  g->self = self;
  g->log = std::move(log);
  g->fsm = std::make_unique<KvStateMachine>(engine_, d.id(), &header_budget_);
  g->fsm->set_dedup_window_ms(options_.dedup_window_ms);
  if (auto l = g->fsm->Load(); !l) {
    return std::unexpected("loading the state of shard " + std::to_string(d.id()) + ": " + l.error().message);
  }
  raft::Options ro;
  ro.id = raft::NodeId(self);
  ro.election_ticks = options_.election_ticks;
  ro.heartbeat_ticks = options_.heartbeat_ticks;
  ro.pre_vote = options_.pre_vote;
  ro.check_quorum = true;
  ro.read_mode = options_.lease_reads ? raft::ReadMode::kLease : raft::ReadMode::kReadIndex;
  ro.max_clock_drift_ppm = options_.max_clock_drift_ppm;
  ro.max_append_bytes = options_.max_append_bytes;
  ro.max_inflight_appends = options_.max_inflight_appends;
  ro.max_uncommitted_bytes = options_.max_uncommitted_bytes;
  ro.hibernate_after_ticks = options_.hibernate_after_ticks;
  ro.applied = raft::LogIndex(g->fsm->state().applied_index);
  ro.seed = options_.node_id * 0x9E3779B97F4A7C15ull ^ d.id() ^ self;
  if (std::string why = ro.Validate(); !why.empty()) return std::unexpected("raft options: " + why);
  g->replica = std::make_unique<raft::Replica>(ro, g->log.get());
  return g;
}

std::expected<std::unique_ptr<Group>, std::string> Store::CreateUninitializedGroup(uint64_t group, uint64_t self) {
  // An empty log with no configuration: the replica is no voter, so it never campaigns; the
  // leader's snapshot brings the configuration. A log left by an earlier attempt that crashed
  // before its snapshot (no descriptor was written) is cleared first.
  raft::SnapshotMeta point{.index = raft::LogIndex(0), .term = raft::Term(0), .conf = {}};
  auto log = storage::GroupLog::Bootstrap(engine_, group, point);
  if (!log) {
    auto tombstone = storage::ReplicaTombstone(*engine_, group);
    if (!tombstone) return std::unexpected(tombstone.error().message);
    if (auto d = storage::DestroyReplica(*engine_, group, std::nullopt, *tombstone); !d) {
      return std::unexpected("clearing a leftover log: " + d.error().message);
    }
    log = storage::GroupLog::Bootstrap(engine_, group, point);
    if (!log) return std::unexpected(log.error().message);
  }
  v1::ShardDescriptor d;
  d.set_id(group);
  auto g = NewGroup(d, self, std::move(*log));
  if (!g) return g;
  (*g)->initialized = false;
  return g;
}

void Store::ChangeReplicas(v1::ChangeReplicasRequest request, std::chrono::steady_clock::time_point deadline,
                           DescriptorDone done) {
  const uint64_t shard = request.shard_id();
  WorkerFor(shard).Post(RaftWorker::Task(
      [request = std::move(request), deadline, done = std::move(done)](RaftWorker& w) mutable {
        w.ChangeReplicas(request, deadline, std::move(done));
      }));
}

void Store::TransferLeader(uint64_t shard, uint64_t to_node, std::chrono::steady_clock::time_point deadline,
                           DescriptorDone done) {
  WorkerFor(shard).Post(RaftWorker::Task([shard, to_node, deadline, done = std::move(done)](RaftWorker& w) mutable {
    w.TransferLeader(shard, to_node, deadline, std::move(done));
  }));
}

void Store::WaitReplicated(uint64_t shard, uint64_t index, std::chrono::steady_clock::time_point deadline,
                           std::function<void(std::expected<void, RequestError>)> done) {
  WorkerFor(shard).Post(RaftWorker::Task([shard, index, deadline, done = std::move(done)](RaftWorker& w) mutable {
    w.WaitReplicated(shard, index, deadline, std::move(done));
  }));
}

void Store::CheckConsistency(uint64_t shard, std::chrono::steady_clock::time_point deadline, CheckDone done) {
  WorkerFor(shard).Post(RaftWorker::Task([shard, deadline, done = std::move(done)](RaftWorker& w) mutable {
    w.CheckConsistency(shard, deadline, std::move(done));
  }));
}

void Store::ReplicaHash(uint64_t shard, uint64_t index, HashDone done) {
  WorkerFor(shard).Post(RaftWorker::Task([shard, index, done = std::move(done)](RaftWorker& w) mutable {
    w.ReplicaHash(shard, index, std::move(done));
  }));
}

namespace {

// Calls the registration's `done` with UNAVAILABLE if the task carrying it is dropped unrun (its
// worker stopped).
class WatchTaskGuard {
 public:
  explicit WatchTaskGuard(WatchRegistration r) : r_(std::make_shared<WatchRegistration>(std::move(r))) {}
  WatchTaskGuard(const WatchTaskGuard&) = default;
  ~WatchTaskGuard() {
    if (r_.use_count() == 1 && r_->done) {
      r_->done(std::unexpected(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                         "node shutting down; watch elsewhere")));
    }
  }
  WatchRegistration Take() {
    WatchRegistration out = std::move(*r_);
    r_->done = nullptr;
    return out;
  }

 private:
  std::shared_ptr<WatchRegistration> r_;
};

}  // namespace

void Store::LearnDirectoryEntry(const v1::ShardDescriptor& entry) {
  auto route = router_->Get(entry.id());
  if (!route || !route->local || entry.id() == kMetaShard) return;
  if (entry.epoch().conf_version() <= route->shard.epoch().conf_version()) return;
  for (const v1::Replica& r : entry.replicas()) {
    if (r.node_id() == options_.node_id) return;  // still hosted here (or re-added: the group says so)
  }
  WorkerFor(entry.id()).Post(RaftWorker::Task([entry](RaftWorker& w) { w.DestroyIfRemovedBy(entry); }));
}

void Store::Watch(WatchRegistration registration) {
  if (!accepting_.load()) {
    registration.done(std::unexpected(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                                "node shutting down; watch elsewhere")));
    return;
  }
  const uint64_t shard = registration.shard;
  WatchTaskGuard guard(std::move(registration));
  WorkerFor(shard).Post(RaftWorker::Task([guard](RaftWorker& w) mutable { w.RegisterWatch(guard.Take()); }));
}

std::vector<std::tuple<uint64_t, std::string, std::string>> Store::RaiseGcThresholds(uint64_t safe_point) {
  using Ranges = std::vector<std::tuple<uint64_t, std::string, std::string>>;
  std::vector<std::future<Ranges>> answers;
  for (auto& worker : workers_) {
    auto promise = std::make_shared<std::promise<Ranges>>();
    answers.push_back(promise->get_future());
    worker->Post(RaftWorker::Task([promise, safe_point](RaftWorker& w) { promise->set_value(w.RaiseGcThresholds(safe_point)); }));
  }
  Ranges out;
  for (auto& answer : answers) {
    // A stopped worker drops the task (its promise dies unset: broken_promise).
    if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) continue;
    try {
      Ranges part = answer.get();
      out.insert(out.end(), part.begin(), part.end());
    } catch (const std::future_error&) {
    }
  }
  return out;
}

uint64_t Store::ApproximateBytes(const v1::ShardDescriptor& shard) {
  if (shard.id() == kMetaShard) return 0;
  auto bytes = storage::ApproximateShardBytes(*engine_, {.start = shard.start_key(), .end = shard.end_key()});
  return bytes ? *bytes : 0;
}

std::expected<uint64_t, std::string> Store::AllocateShardId() {
  std::lock_guard lock(id_mu_);
  auto stored = engine_->GetMeta(storage::ShardIdSequenceKey());
  if (!stored) return std::unexpected(stored.error().message);
  uint64_t seq = 0;
  if (*stored && (*stored)->size() == 8) seq = storage::GetBigEndian64(**stored);
  ++seq;
  if (seq > kMaxNodeId) return std::unexpected("this node allocated every shard id it may");
  std::string value;
  storage::PutBigEndian64(value, seq);
  storage::WriteBatch batch;
  if (auto put = engine_->PutMeta(batch, storage::ShardIdSequenceKey(), value); !put) {
    return std::unexpected(put.error().message);
  }
  // Synced before the id is used: an id handed out is never handed out again, even across a crash.
  if (auto w = engine_->Write(batch, storage::Durability::kSync); !w) return std::unexpected(w.error().message);
  return options_.node_id << 32 | seq;
}

void Store::SplitShard(v1::SplitShardRequest request, std::chrono::steady_clock::time_point deadline,
                       SplitDone done) {
  if (request.split_key().empty()) {
    // The key where the shard's live data (keys and values, newest versions) is halved: two passes
    // over the range on this (the caller's) thread, never on a raft worker.
    auto route = router_->Get(request.shard_id());
    if (route && route->shard.id() != kMetaShard) {
      storage::MvccReader reader(*engine_);
      const storage::Timestamp now(~uint64_t{0});
      uint64_t total = 0;
      auto counted = reader.ForEach(route->shard.start_key(), route->shard.end_key(), now, storage::ScanDirection::kForward,
                                    [&](std::string_view k, std::string_view v) {
                                      total += k.size() + v.size();
                                      return true;
                                    });
      uint64_t seen = 0;
      std::string middle;
      if (counted && total > 0) {
        auto found = reader.ForEach(route->shard.start_key(), route->shard.end_key(), now,
                                    storage::ScanDirection::kForward, [&](std::string_view k, std::string_view v) {
                                      seen += k.size() + v.size();
                                      if (2 * seen < total) return true;
                                      middle = k;
                                      return false;
                                    });
        if (!found) middle.clear();
      }
      // The first key cannot split (the left half would be empty): take the next one.
      if (middle == route->shard.start_key()) middle.push_back('\0');
      // Never inside a checkpoint's range (server/split_key.h).
      if (!middle.empty()) middle = CheckpointSafeMiddleKey(route->shard.start_key(), route->shard.end_key(), middle);
      request.set_split_key(middle);
    }
  }
  const uint64_t shard = request.shard_id();
  WorkerFor(shard).Post(RaftWorker::Task(
      [request = std::move(request), deadline, done = std::move(done)](RaftWorker& w) mutable {
        w.SplitShard(request, deadline, std::move(done));
      }));
}

Store::~Store() { workers_.clear(); }

void Store::Stop() {
  accepting_.store(false);
  for (auto& w : workers_) w->Stop();
}

RaftWorker& Store::WorkerFor(uint64_t group) { return *workers_[group % workers_.size()]; }

std::optional<RequestError> Store::Admit() {
  if (!accepting_.load()) {
    return MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                     "node is shutting down; retry on another node");
  }
  if (pending_requests_.fetch_add(1) >= options_.max_pending_requests) {
    pending_requests_.fetch_sub(1);
    metrics_->requests_overloaded.Increment();
    RequestError e = MakeError(RpcCode::kResourceExhausted, v1::Error::OVERLOADED,
                               "node has " + std::to_string(options_.max_pending_requests) +
                                   " requests in flight; retry after a back-off");
    e.detail.set_retry_after_ms(options_.tick_ms);
    return e;
  }
  return std::nullopt;
}

template <class Request>
void Store::Enqueue(Request request) {
  if (auto refused = Admit()) {
    request.done(std::unexpected(std::move(*refused)));
    return;
  }
  // Every completion path releases the admission exactly once, by construction.
  request.done = [this, done = std::move(request.done)](auto result) {
    Release();
    done(std::move(result));
  };
  WorkerFor(request.shard).Post(std::move(request));
}

void Store::Propose(ProposalRequest request) { Enqueue(std::move(request)); }

void Store::ProposeMeta(v1::MetaCommand command, std::function<void(std::expected<void, RequestError>)> done) {
  ProposalRequest p;
  p.shard = kMetaShard;
  *p.command.mutable_meta() = std::move(command);
  p.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  p.done = [done = std::move(done)](std::expected<ProposalResult, RequestError> r) {
    if (!r) return done(std::unexpected(std::move(r.error())));
    done({});
  };
  Propose(std::move(p));
}
void Store::Read(ReadRequest request) { Enqueue(std::move(request)); }

void Store::Deliver(std::vector<GroupMessage> messages) {
  for (GroupMessage& m : messages) {
    if (!WorkerFor(m.group).Post(std::move(m))) {
      SPDLOG_WARN("raft worker mailbox full; dropping peer messages");
    }
  }
}

void Store::AcceptSnapshot(GroupMessage message, std::string dir) {
  const uint64_t group = message.group;
  auto shared = std::make_shared<GroupMessage>(std::move(message));
  WorkerFor(group).Post(RaftWorker::Task([shared, dir](RaftWorker& worker) {
    worker.OfferIncomingSnapshot(std::move(*shared), dir);
  }));
}

Store::Gauges Store::gauges() const {
  Gauges sum;
  for (const auto& w : workers_) {
    const RaftWorker::Gauges g = w->gauges();
    sum.leader += g.leader;
    sum.follower += g.follower;
    sum.candidate += g.candidate;
    sum.learner += g.learner;
    sum.without_leader += g.without_leader;
    sum.under_replicated += g.under_replicated;
    sum.hibernating += g.hibernating;
  }
  return sum;
}

std::string Store::Stalled(std::chrono::milliseconds within) const {
  const auto now = std::chrono::steady_clock::now();
  std::string out;
  for (size_t i = 0; i < workers_.size(); ++i) {
    const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(now - workers_[i]->last_loop());
    if (idle <= within) continue;
    if (!out.empty()) out += "; ";
    out += "raft worker " + std::to_string(i) + " has not run its loop for " + std::to_string(idle.count()) + " ms";
  }
  return out;
}

bool Store::NoSpace() const {
  if (log_writer_->no_space()) return true;
  for (const auto& w : workers_) {
    if (w->waiting_for_space()) return true;
  }
  return false;
}

std::vector<v1::ReplicaStatus> Store::Status(bool leaders_only) {
  std::vector<std::future<std::vector<v1::ReplicaStatus>>> futures;
  for (auto& w : workers_) {
    auto promise = std::make_shared<std::promise<std::vector<v1::ReplicaStatus>>>();
    futures.push_back(promise->get_future());
    w->Post(RaftWorker::Task([promise, leaders_only](RaftWorker& worker) {
      std::vector<v1::ReplicaStatus> out;
      for (Group* g : worker.groups()) {
        if (leaders_only && !g->IsLeader()) continue;
        v1::ReplicaStatus s;
        *s.mutable_shard() = g->desc;
        s.set_term(g->replica->term().value());
        s.set_leader_node_id(g->NodeOf(g->soft.leader.value()));
        s.set_is_leader(g->IsLeader());
        s.set_commit_index(g->replica->commit().value());
        s.set_applied_index(g->fsm->state().applied_index);
        s.set_last_index(g->replica->last_index().value());
        s.set_hibernating(g->soft.hibernating);
        s.set_leader_requests(g->leader_requests);
        s.set_leader_writes(g->leader_writes);
        out.push_back(std::move(s));
      }
      promise->set_value(std::move(out));
    }));
  }
  std::vector<v1::ReplicaStatus> all;
  for (auto& f : futures) {
    for (auto& s : f.get()) all.push_back(std::move(s));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.shard().id() < b.shard().id(); });
  return all;
}

size_t Store::TransferLeadersAway(std::chrono::milliseconds timeout) {
  transport_->SetDraining();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t leading = 0;
  do {
    std::vector<std::future<size_t>> futures;
    for (auto& w : workers_) {
      auto promise = std::make_shared<std::promise<size_t>>();
      futures.push_back(promise->get_future());
      w->Post(RaftWorker::Task([promise, transport = transport_](RaftWorker& worker) {
        size_t n = 0;
        for (Group* g : worker.groups()) {
          if (!g->IsLeader()) continue;
          // The most caught-up voter that is not this replica (none in a one-voter group: there
          // is nobody to hand over to, so it is not waited for).
          raft::Status st = g->replica->GetStatus();
          raft::NodeId best{};
          raft::LogIndex best_match{};
          for (const raft::PeerStatus& p : st.peers) {
            // A voter that has not answered recently (down, partitioned) cannot take over.
            if (p.id.value() == g->self || p.learner || !p.recent_active) continue;
            if (transport->Draining(g->NodeOf(p.id.value()))) continue;  // it would refuse
            if (best.IsZero() || p.match > best_match) {
              best = p.id;
              best_match = p.match;
            }
          }
          if (!best.IsZero()) {
            ++n;
            g->replica->TransferLeadership(best);
            worker.MarkDirty(g);
          }
        }
        promise->set_value(n);
      }));
    }
    leading = 0;
    for (auto& f : futures) leading += f.get();
    if (leading == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.tick_ms));
  } while (std::chrono::steady_clock::now() < deadline);
  return leading;
}

// ---- Preferred (pinned) leaders ----

void Store::SetPreferredLeader(uint64_t shard, uint64_t node) {
  std::lock_guard lock(preferred_mu_);
  if (node == 0) {
    preferred_leaders_.erase(shard);
  } else {
    preferred_leaders_[shard] = node;
  }
}

void Store::ClearPreferredLeader(uint64_t shard) { SetPreferredLeader(shard, 0); }

uint64_t Store::PreferredLeader(uint64_t shard) const {
  std::lock_guard lock(preferred_mu_);
  auto it = preferred_leaders_.find(shard);
  return it == preferred_leaders_.end() ? 0 : it->second;
}

}  // namespace claw::server
