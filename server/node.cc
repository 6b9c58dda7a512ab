#include "server/node.h"

#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "config/load.h"
#include "server/admin_service.h"
#include "server/grpc_metrics.h"
#include "server/grpc_transport.h"
#include "server/http_server.h"
#include "server/history_gc.h"
#include "server/kv_service.h"
#include "server/lease_service.h"
#include "server/checkpoint_service.h"
#include "server/metrics.h"
#include "server/watch_service.h"
#include "server/placement_service.h"
#include "server/consistency_checker.h"
#include "server/router.h"
#include "server/rpc_status.h"
#include "server/store.h"
#include "server/systemd_notify.h"
#include "storage/crc32c.h"
#include "storage/engine.h"
#include "storage/hlc.h"
#include "storage/key_codec.h"
#include "storage/log_writer.h"

namespace claw::server {
namespace {

constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE
constexpr int kExitCantCreate = 73;   // EX_CANTCREAT
constexpr int kExitIo = 74;           // EX_IOERR
constexpr int kExitProtocol = 76;     // EX_PROTOCOL
constexpr int kExitConfig = 78;       // EX_CONFIG
// How far ahead of this node's clock a replicated timestamp may be and still be merged.
constexpr uint64_t kMaxClockOffsetMs = 500;

std::string BoundaryKey(uint32_t v) {
  std::string s{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

std::string EncodeIdentity(uint64_t cluster_id, uint64_t node_id) {
  std::string out;
  storage::PutBigEndian64(out, cluster_id);
  storage::PutBigEndian64(out, node_id);
  storage::PutFixed32(out, storage::Crc32c(out));
  return out;
}

storage::StorageOptions StorageOptionsFrom(const config::Config& c) {
  storage::StorageOptions o;
  o.dir = c.data_dir;
  o.direct_io = c.storage.direct_io;
  o.block_cache_bytes = c.storage.block_cache_bytes;
  o.bloom_bits_per_key = c.storage.bloom_bits_per_key;
  o.write_buffer_bytes = c.storage.write_buffer_bytes;
  o.max_write_buffers = c.storage.max_write_buffers;
  o.max_background_jobs = c.storage.max_background_jobs;
  o.compaction_rate_bytes_per_sec = c.storage.compaction_rate_bytes_per_sec;
  o.bytes_per_sync = c.storage.bytes_per_sync;
  o.wal_bytes_per_sync = c.storage.wal_bytes_per_sync;
  o.compression = c.storage.compression;
  o.min_free_bytes = c.storage.min_free_bytes;
  // RocksDB's diagnostics go to clawd's log (storage/options.h says why there is no LOG file):
  // its warnings and errors always, its chatty info lines (flushes, compactions, the options
  // dump at open) only at log level debug.
  o.info_log = [](storage::StorageOptions::LogLevel level, std::string_view message) {
    while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
    switch (level) {
      case storage::StorageOptions::LogLevel::kDebug:
      case storage::StorageOptions::LogLevel::kInfo: spdlog::debug("rocksdb: {}", message); return;
      case storage::StorageOptions::LogLevel::kWarn: spdlog::warn("rocksdb: {}", message); return;
      case storage::StorageOptions::LogLevel::kError: spdlog::error("rocksdb: {}", message); return;
    }
  };
  o.info_log_level = spdlog::should_log(spdlog::level::debug) ? storage::StorageOptions::LogLevel::kInfo
                                                               : storage::StorageOptions::LogLevel::kWarn;
  return o;
}

StoreOptions StoreOptionsFrom(const config::Config& c, uint64_t node_id) {
  StoreOptions o;
  o.node_id = node_id;
  o.workers = c.raft.workers;
  o.tick_ms = static_cast<uint32_t>(c.raft.tick_ms);
  o.election_ticks = c.raft.election_ticks;
  o.heartbeat_ticks = c.raft.heartbeat_ticks;
  o.pre_vote = c.raft.pre_vote;
  o.lease_reads = c.raft.lease_reads;
  o.max_clock_drift_ppm = c.raft.max_clock_drift_ppm;
  o.max_inflight_appends = c.raft.max_inflight_appends;
  o.max_append_bytes = c.raft.max_append_bytes;
  o.max_uncommitted_bytes = c.raft.max_uncommitted_bytes;
  o.hibernate_after_ticks = c.raft.hibernate_after_ticks;
  o.node_dead_after_ms = static_cast<uint32_t>(c.raft.node_dead_after_ms);
  o.max_pending_requests = c.kv.max_pending_proposals;
  o.dedup_window_ms = c.kv.dedup_window_ms;
  o.key_header_cache_keys = c.kv.key_header_cache_keys;
  o.max_staleness_ms = c.kv.max_staleness_ms;
  o.snapshot_after_entries = c.raft.snapshot_after_entries;
  o.snapshot_dir = c.data_dir + "/snapshots";
  // A command is the request plus a small envelope; it must fit one peer message with room for
  // the append's own fields (reliability.md §5.4: refuse before persisting, never after).
  o.max_command_bytes = std::min<uint64_t>(c.limits.max_request_bytes + (64 << 10),
                                           c.limits.max_peer_message_bytes * 95 / 100);
  return o;
}

}  // namespace

std::vector<v1::ShardDescriptor> InitialShards(int shards, int nodes) {
  std::vector<v1::ShardDescriptor> out;
  const int replicas = std::min(3, nodes);
  auto place = [&](v1::ShardDescriptor& d, int ordinal) {
    d.mutable_epoch()->set_conf_version(1);
    d.mutable_epoch()->set_range_version(1);
    for (int k = 0; k < replicas; ++k) {
      const uint64_t node = static_cast<uint64_t>((ordinal + k) % nodes) + 1;
      v1::Replica* r = d.add_replicas();
      r->set_node_id(node);
      r->set_replica_id(node);
      r->set_role(v1::Replica::VOTER);
    }
  };
  v1::ShardDescriptor meta;
  meta.set_id(kMetaShard);
  place(meta, 0);
  out.push_back(meta);
  for (int i = 0; i < shards; ++i) {
    v1::ShardDescriptor d;
    d.set_id(static_cast<uint64_t>(i) + 2);
    d.set_start_key(i == 0 ? std::string() : BoundaryKey(static_cast<uint32_t>(uint64_t{65536} * i / shards)));
    if (i + 1 < shards) d.set_end_key(BoundaryKey(static_cast<uint32_t>(uint64_t{65536} * (i + 1) / shards)));
    place(d, i + 1);
    out.push_back(std::move(d));
  }
  return out;
}

uint64_t ClusterId(const std::vector<config::Member>& members) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const auto& m : members) {
    mix(m.name);
    mix(m.peer_addr);
  }
  return h;
}

struct Node::Parts {
  // Declared first, destroyed last: every part below may hold references into it.
  std::unique_ptr<Metrics> metrics = std::make_unique<Metrics>();
  config::Config config;
  uint64_t node_id = 0;
  uint64_t cluster_id = 0;
  std::string client_address;
  std::unique_ptr<storage::Engine> engine;
  std::unique_ptr<storage::LogWriter> log_writer;
  std::unique_ptr<storage::HybridClock> clock;
  std::unique_ptr<Router> router;
  std::unique_ptr<GrpcTransport> transport;
  std::atomic<Store*> store_ptr{nullptr};
  std::unique_ptr<Store> store;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<WatchService> watch;
  std::unique_ptr<HistoryGc> history_gc;
  std::unique_ptr<AdminService> admin;
  std::unique_ptr<PlacementService> placement;
  std::unique_ptr<LeaseService> lease;
  std::unique_ptr<CheckpointService> checkpoint;
  std::unique_ptr<PlacementReporter> reporter;
  std::unique_ptr<ConsistencyChecker> checker;  // when raft.consistency_check_interval_ms > 0
  std::unique_ptr<grpc::Server> peer_server;
  std::unique_ptr<grpc::Server> client_server;
  bool shut_down = false;
  // What /readyz and the systemd status say; kServing once the client server runs.
  enum class Phase : uint8_t { kRecovering, kServing, kStopping };
  std::atomic<Phase> phase{Phase::kRecovering};
  // When a loop counts as stuck (/healthz 503, no watchdog ping).
  std::chrono::milliseconds stall_after{10'000};
  // Destroyed (in Shutdown, or here in this order) before the parts they read.
  std::unique_ptr<systemd::Supervisor> supervisor;
  std::unique_ptr<HttpServer> http;
  std::mutex learnt_mu;
  std::string learnt;  // guarded by learnt_mu: the node table last saved (serialized)

  // The node table from a heartbeat answer: new peers are dialled, addresses and localities
  // updated, and the table saved when it changed (reporter thread).
  void LearnNodes(const std::vector<v1::NodeRecord>& nodes);
  // /healthz and the watchdog: empty while the raft workers and the log writer progress.
  std::string Stalled() const;
  std::string Unready() const;
  // The systemd STATUS= line while serving.
  std::string StatusLine() const;
  // Sets the state gauges before a scrape (HTTP thread).
  void Collect(Metrics& m) const;
};

std::string Node::Parts::Stalled() const {
  if (phase.load() != Phase::kServing) return {};  // recovering or stopping: alive, not judged
  std::string out = store->Stalled(stall_after);
  if (auto since = log_writer->busy_since(); since && !log_writer->no_space()) {
    const auto busy = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - *since);
    if (busy > stall_after) {
      if (!out.empty()) out += "; ";
      out += "a raft log write (fsync) has not returned for " + std::to_string(busy.count()) + " ms";
    }
  }
  return out;
}

std::string Node::Parts::Unready() const {
  switch (phase.load()) {
    case Phase::kRecovering: return "starting: recovering the local store";
    case Phase::kServing: return {};
    case Phase::kStopping: return "stopping";
  }
  return "unknown";
}

std::string Node::Parts::StatusLine() const {
  const Store::Gauges g = store->gauges();
  const uint64_t replicas = g.leader + g.follower + g.candidate + g.learner;
  std::string line = "serving " + std::to_string(replicas) + " replicas (" + std::to_string(g.leader) + " leading";
  if (g.without_leader != 0) line += ", " + std::to_string(g.without_leader) + " without a leader";
  if (g.under_replicated != 0) line += ", " + std::to_string(g.under_replicated) + " under-replicated";
  return line + "); clients on " + client_address;
}

void Node::Parts::Collect(Metrics& m) const {
  m.ready.Set(phase.load() == Phase::kServing ? 1 : 0);
  // Recovering (or a start that failed part way): the parts below may not exist yet.
  if (phase.load() == Phase::kRecovering || !store || !transport || !engine) return;
  const Store::Gauges g = store->gauges();
  m.shards_leader.Set(static_cast<double>(g.leader));
  m.shards_follower.Set(static_cast<double>(g.follower));
  m.shards_candidate.Set(static_cast<double>(g.candidate));
  m.shards_learner.Set(static_cast<double>(g.learner));
  m.shards_without_leader.Set(static_cast<double>(g.without_leader));
  m.shards_under_replicated.Set(static_cast<double>(g.under_replicated));
  m.shards_hibernating.Set(static_cast<double>(g.hibernating));
  m.proposals_pending.Set(static_cast<double>(store->pending_requests()));
  const GrpcTransport::Stats t = transport->stats();
  Metrics::AdvanceTo(m.peer_messages_sent, static_cast<double>(t.messages_sent));
  Metrics::AdvanceTo(m.peer_messages_dropped, static_cast<double>(t.messages_dropped));
  Metrics::AdvanceTo(m.peer_reconnects, static_cast<double>(t.reconnects));
  const storage::EngineStats e = engine->Stats();
  m.rocksdb_sst_bytes.Set(static_cast<double>(e.sst_files_bytes));
  m.rocksdb_memtable_bytes.Set(static_cast<double>(e.memtable_bytes));
  m.rocksdb_pending_compaction_bytes.Set(static_cast<double>(e.pending_compaction_bytes));
  m.rocksdb_write_stopped.Set(e.write_stopped ? 1 : 0);
  m.disk_full.Set(store->NoSpace() ? 1 : 0);
  m.rocksdb_delayed_write_rate.Set(static_cast<double>(e.delayed_write_rate));
  Metrics::AdvanceTo(m.rocksdb_write_stall_seconds, static_cast<double>(e.stall_micros) / 1e6);
  Metrics::AdvanceTo(m.rocksdb_block_cache_hits, static_cast<double>(e.block_cache_hits));
  Metrics::AdvanceTo(m.rocksdb_block_cache_misses, static_cast<double>(e.block_cache_misses));
  const uint64_t lookups = e.block_cache_hits + e.block_cache_misses;
  const KeyHeaderCacheBudget& headers = store->header_cache();
  Metrics::AdvanceTo(m.key_header_cache_hits, static_cast<double>(headers.hits.load(std::memory_order_relaxed)));
  Metrics::AdvanceTo(m.key_header_cache_misses, static_cast<double>(headers.misses.load(std::memory_order_relaxed)));
  m.key_header_cache_keys.Set(static_cast<double>(std::max<int64_t>(0, headers.used.load(std::memory_order_relaxed))));
  m.rocksdb_block_cache_hit_ratio.Set(lookups == 0 ? 0 : static_cast<double>(e.block_cache_hits) / static_cast<double>(lookups));
  struct statvfs fs{};
  if (::statvfs(config.data_dir.c_str(), &fs) == 0) {
    m.disk_total_bytes.Set(static_cast<double>(fs.f_blocks) * static_cast<double>(fs.f_frsize));
    m.disk_free_bytes.Set(static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize));
  }
}

namespace {

MemberInfo MemberFrom(const v1::NodeRecord& n) {
  return MemberInfo{.id = n.node_id(),
                    .name = n.name(),
                    .peer_address = n.peer_address(),
                    .client_address = n.client_address(),
                    .zone = n.zone(),
                    .rack = n.rack(),
                    .host = n.host()};
}

std::expected<void, StartError> SavePeerTable(storage::Engine* engine, const std::vector<v1::NodeRecord>& nodes) {
  v1::MetaState table;
  for (const v1::NodeRecord& n : nodes) *table.add_nodes() = n;
  storage::WriteBatch batch;
  if (auto put = engine->PutMeta(batch, storage::PeerTableKey(), table.SerializeAsString()); !put) {
    return std::unexpected(StartError{kExitIo, "saving the peer table: " + put.error().message});
  }
  if (auto w = engine->Write(batch, storage::Durability::kSync); !w) {
    return std::unexpected(StartError{kExitIo, "saving the peer table: " + w.error().message});
  }
  return {};
}

}  // namespace

void Node::Parts::LearnNodes(const std::vector<v1::NodeRecord>& nodes) {
  for (const v1::NodeRecord& n : nodes) {
    if (n.node_id() == node_id || n.node_id() == 0 || n.state() == v1::NodeRecord::REMOVED) continue;
    transport->AddPeer(n.node_id(), n.peer_address());
    router->UpsertMember(MemberFrom(n));
  }
  v1::MetaState table;
  for (const v1::NodeRecord& n : nodes) *table.add_nodes() = n;
  std::string serialized = table.SerializeAsString();
  std::lock_guard lock(learnt_mu);
  if (serialized == learnt) return;
  if (auto saved = SavePeerTable(engine.get(), nodes); !saved) {
    SPDLOG_WARN("{}", saved.error().message);
    return;
  }
  learnt = std::move(serialized);
}

Node::Node() : p_(std::make_unique<Parts>()) {}
Node::~Node() { Shutdown(); }
uint64_t Node::node_id() const { return p_->node_id; }
const std::string& Node::client_address() const { return p_->client_address; }

namespace {

// The disk bytes the node offers to placement: `capacity`, else its data directory's file system
// size; 0 when unknown.
uint64_t CapacityOf(const config::Config& c) {
  if (c.capacity != 0) return c.capacity;
  struct statvfs fs{};
  if (::statvfs(c.data_dir.c_str(), &fs) != 0) return 0;
  return static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
}

struct StoredIdentity {
  uint64_t cluster_id = 0;
  uint64_t node_id = 0;
};

// The identity recorded in the data directory; nullopt when it is new.
std::expected<std::optional<StoredIdentity>, StartError> ReadIdentity(storage::Engine* engine,
                                                                      const std::string& data_dir) {
  auto stored = engine->GetMeta(storage::NodeIdentityKey());
  if (!stored) return std::unexpected(StartError{kExitIo, "reading the node identity: " + stored.error().message});
  if (!stored->has_value()) return std::nullopt;
  const std::string& raw = **stored;
  if (raw.size() != 20 || storage::GetFixed32(std::string_view(raw).substr(16)) != storage::Crc32c(std::string_view(raw).substr(0, 16))) {
    return std::unexpected(StartError{kExitIo, "the node identity record in " + data_dir + " is corrupt"});
  }
  return StoredIdentity{.cluster_id = storage::GetBigEndian64(raw),
                        .node_id = storage::GetBigEndian64(std::string_view(raw).substr(8))};
}

std::expected<void, StartError> WriteIdentity(storage::Engine* engine, uint64_t cluster_id, uint64_t node_id) {
  storage::WriteBatch batch;
  if (auto put = engine->PutMeta(batch, storage::NodeIdentityKey(), EncodeIdentity(cluster_id, node_id)); !put) {
    return std::unexpected(StartError{kExitIo, "writing the node identity: " + put.error().message});
  }
  if (auto w = engine->Write(batch, storage::Durability::kSync); !w) {
    return std::unexpected(StartError{kExitIo, "writing the node identity: " + w.error().message});
  }
  return {};
}

// The node table this node last learnt (storage::PeerTableKey); empty when it never did.
std::vector<v1::NodeRecord> LoadPeerTable(storage::Engine* engine) {
  auto stored = engine->GetMeta(storage::PeerTableKey());
  v1::MetaState table;
  if (!stored || !stored->has_value() || !table.ParseFromString(**stored)) {
    if (stored && stored->has_value()) SPDLOG_WARN("the stored peer table is unreadable; learning it anew");
    return {};
  }
  return {table.nodes().begin(), table.nodes().end()};
}

// Checks or writes the node identity; on first start bootstraps the initial shards.
std::expected<void, StartError> Identity(storage::Engine* engine, const config::Config& c,
                                          uint64_t cluster_id, uint64_t node_id) {
  auto stored_identity = ReadIdentity(engine, c.data_dir);
  if (!stored_identity) return std::unexpected(stored_identity.error());
  if (*stored_identity) {
    const uint64_t stored_cluster = (*stored_identity)->cluster_id;
    const uint64_t stored_node = (*stored_identity)->node_id;
    if (stored_cluster != cluster_id || stored_node != node_id) {
      return std::unexpected(StartError{
          kExitProtocol,
          fmt::format("{} belongs to node {} of cluster {:016x}, but the configuration makes this node {} of "
                      "cluster {:016x}: initial_cluster and name must be what they were when the data "
                      "directory was created (or point data_dir at a new directory)",
                      c.data_dir, stored_node, stored_cluster, node_id, cluster_id)});
    }
    return {};
  }
  SPDLOG_INFO("bootstrapping node {} of a new cluster {:016x}: {} data shards over {} nodes", node_id,
              cluster_id, c.shards, c.initial_cluster.size());
  auto shards = InitialShards(c.shards, static_cast<int>(c.initial_cluster.size()));
  // The meta shard's node table starts with the initial cluster; heartbeats fill in the rest.
  std::vector<v1::NodeRecord> nodes;
  for (size_t i = 0; i < c.initial_cluster.size(); ++i) {
    v1::NodeRecord n;
    n.set_node_id(i + 1);
    n.set_name(c.initial_cluster[i].name);
    n.set_peer_address(c.initial_cluster[i].peer_addr);
    n.set_state(v1::NodeRecord::UP);
    nodes.push_back(std::move(n));
  }
  if (auto b = Store::Bootstrap(engine, node_id, shards, nodes); !b) {
    return std::unexpected(StartError{kExitIo, "bootstrap failed: " + b.error()});
  }
  return WriteIdentity(engine, cluster_id, node_id);
}

// Asks the placement service of the running cluster at `c.join` for a node id (Placement.Join),
// following NOT_LEADER hints to the meta shard's leader, retrying for up to two minutes (the
// cluster may be electing). ALREADY_EXISTS and INVALID_ARGUMENT are configuration mistakes.
std::expected<v1::JoinResponse, StartError> JoinCluster(const config::Config& c, const std::string& client_address) {
  v1::JoinRequest req;
  v1::NodeRecord* self = req.mutable_node();
  self->set_name(c.name);
  self->set_peer_address(c.advertise_peer_addr);
  self->set_client_address(client_address);
  self->set_zone(c.zone);
  self->set_rack(c.rack);
  self->set_host(c.host);
  self->set_capacity_bytes(CapacityOf(c));
  std::string seeds;
  for (const std::string& a : c.join) seeds += (seeds.empty() ? "" : ",") + a;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  auto backoff = std::chrono::milliseconds(200);
  std::string last_error = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<std::string> targets(c.join.begin(), c.join.end());
    for (size_t i = 0; i < targets.size() && i < c.join.size() + 3; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto stub =
          v1::Placement::NewStub(grpc::CreateCustomChannel(targets[i], grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::JoinResponse resp;
      const grpc::Status st = stub->Join(&ctx, req, &resp);
      if (st.ok()) {
        if (resp.node_id() == 0 || resp.cluster_id() == 0) {
          return std::unexpected(StartError{kExitProtocol, targets[i] + " answered the join without a node id"});
        }
        return resp;
      }
      if (st.error_code() == grpc::StatusCode::ALREADY_EXISTS || st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        return std::unexpected(StartError{kExitConfig, "the cluster at " + targets[i] + " refused the join: " +
                                                           st.error_message()});
      }
      last_error = targets[i] + ": " + st.error_message();
      v1::Error detail;
      if (ErrorDetail(st, &detail) && detail.code() == v1::Error::NOT_LEADER && !detail.leader().address().empty()) {
        targets.insert(targets.begin() + static_cast<std::ptrdiff_t>(i) + 1, detail.leader().address());
      }
    }
    SPDLOG_WARN("cannot join the cluster yet ({}); retrying in {} ms", last_error, backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  return std::unexpected(StartError{kExitUnavailable, "could not join the cluster at " + seeds + " within 2 minutes (" +
                                                          last_error +
                                                          "); check join and that those nodes serve and their "
                                                          "meta shard has a leader"});
}

}  // namespace

namespace {

// RocksDB keeps a descriptor per SST file, and every peer and client connection takes one: raise
// the soft limit to the hard one, and warn below what a busy node needs (deploy/clawd.service
// sets LimitNOFILE= well above it).
constexpr rlim_t kWantedOpenFiles = 65'536;

void CheckOpenFileLimit() {
  struct rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur < kWantedOpenFiles) {
    SPDLOG_WARN("the open file limit is {}; clawd wants at least {} (RocksDB files and connections): raise "
                "LimitNOFILE= in the systemd unit, or `ulimit -n` before starting clawd",
                static_cast<uint64_t>(limit.rlim_cur), static_cast<uint64_t>(kWantedOpenFiles));
  }
}

}  // namespace

std::expected<std::unique_ptr<Node>, StartError> Node::Start(const config::Config& config) {
  std::unique_ptr<Node> node(new Node());
  Parts& p = *node->p_;
  p.config = config;
  CheckOpenFileLimit();
  Parts* parts = &p;
  // The HTTP listener first: /healthz and /metrics answer during a long recovery, and a port in
  // use fails the start before the data directory is touched.
  auto http = HttpServer::Start(config.http_addr,
                                HttpHandlers{.metrics = [parts] { return parts->metrics->Render(); },
                                             .unhealthy = [parts] { return parts->Stalled(); },
                                             .unready = [parts] { return parts->Unready(); }});
  if (!http) return std::unexpected(StartError{kExitUnavailable, http.error()});
  p.http = std::move(*http);
  p.metrics->AddCollector([parts](Metrics& m) { parts->Collect(m); });
  const auto watchdog = systemd::WatchdogInterval();
  if (watchdog) {
    p.stall_after = std::max<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog / 2), std::chrono::seconds(2));
  }
  const auto period = watchdog ? std::min<std::chrono::milliseconds>(
                                     std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog / 4),
                                     std::chrono::seconds(5))
                               : std::chrono::milliseconds(5000);
  p.supervisor = std::make_unique<systemd::Supervisor>(
      period, [parts] { return parts->phase.load() == Parts::Phase::kServing; },
      [parts] { return parts->Stalled(); }, [parts] { return parts->StatusLine(); });
  systemd::NotifyStatus("recovering the local store in " + config.data_dir);
  const bool joining = !config.join.empty();
  if (!joining && p.config.initial_cluster.empty()) p.config.initial_cluster.push_back({config.name, config.peer_addr});
  const auto& members = p.config.initial_cluster;
  std::string self_peer_address = config.advertise_peer_addr.empty() ? config.peer_addr : config.advertise_peer_addr;
  if (!joining) {
    auto self = std::find_if(members.begin(), members.end(), [&](const auto& m) { return m.name == config.name; });
    if (self == members.end()) {
      return std::unexpected(StartError{kExitConfig, "name '" + config.name + "' is not in initial_cluster"});
    }
    p.node_id = static_cast<uint64_t>(self - members.begin()) + 1;
    p.cluster_id = ClusterId(members);
    self_peer_address = self->peer_addr;
  }
  p.client_address = config.advertise_client_addr.empty() ? config.client_addr : config.advertise_client_addr;

  auto engine = storage::Engine::Open(StorageOptionsFrom(config));
  if (!engine) {
    const bool corrupt = engine.error().code == storage::StorageErrorCode::kCorruption;
    return std::unexpected(StartError{corrupt ? kExitIo : kExitCantCreate,
                                      "cannot open the data directory " + config.data_dir + ": " + engine.error().message});
  }
  p.engine = std::move(*engine);
  for (const std::string& w : p.engine->warnings()) SPDLOG_WARN("{}", w);
  // Every node this one knows of: the initial cluster, the node table of a join, and the one it
  // learnt from the placement service before (which has the nodes that joined since).
  std::vector<v1::NodeRecord> known;
  if (!joining) {
    if (auto id = Identity(p.engine.get(), p.config, p.cluster_id, p.node_id); !id) return std::unexpected(id.error());
    for (size_t i = 0; i < members.size(); ++i) {
      v1::NodeRecord n;
      n.set_node_id(i + 1);
      n.set_name(members[i].name);
      n.set_peer_address(members[i].peer_addr);
      known.push_back(std::move(n));
    }
  } else {
    auto stored = ReadIdentity(p.engine.get(), config.data_dir);
    if (!stored) return std::unexpected(stored.error());
    if (*stored) {
      p.node_id = (*stored)->node_id;
      p.cluster_id = (*stored)->cluster_id;
    } else {
      SPDLOG_INFO("joining the cluster at {} as '{}'", fmt::join(config.join, ","), config.name);
      auto joined = JoinCluster(config, p.client_address);
      if (!joined) return std::unexpected(joined.error());
      p.node_id = joined->node_id();
      p.cluster_id = joined->cluster_id();
      known.assign(joined->nodes().begin(), joined->nodes().end());
      // The directory and peer table first, the identity last: a crash in between joins again
      // (same name and address: the same id).
      const std::vector<v1::ShardDescriptor> directory(joined->shards().begin(), joined->shards().end());
      if (auto b = Store::Bootstrap(p.engine.get(), p.node_id, directory, {}); !b) {
        return std::unexpected(StartError{kExitIo, "recording the shard directory: " + b.error()});
      }
      if (auto saved = SavePeerTable(p.engine.get(), known); !saved) return std::unexpected(saved.error());
      if (auto id = WriteIdentity(p.engine.get(), p.cluster_id, p.node_id); !id) return std::unexpected(id.error());
      SPDLOG_INFO("joined cluster {:016x} as node {}", p.cluster_id, p.node_id);
    }
  }
  for (v1::NodeRecord& n : LoadPeerTable(p.engine.get())) known.push_back(std::move(n));

  Metrics* metrics = p.metrics.get();
  p.log_writer = std::make_unique<storage::LogWriter>(
      p.engine.get(), 8ull << 20, [metrics](const storage::LogBatchTiming& t) {
        metrics->log_written_bytes.Increment(static_cast<double>(t.bytes));
        if (t.synced) {
          metrics->wal_fsync_duration.Observe(std::chrono::duration<double>(t.duration).count());
          metrics->slow.RecordLogWrite(t.duration);
        }
      });
  p.clock = std::make_unique<storage::HybridClock>(kMaxClockOffsetMs);
  p.router = std::make_unique<Router>(p.node_id);
  TransportOptions topts{.self = p.node_id, .cluster_id = p.cluster_id};
  p.router->UpsertMember(MemberInfo{.id = p.node_id,
                                    .name = config.name,
                                    .peer_address = self_peer_address,
                                    .client_address = p.client_address,
                                    .zone = config.zone,
                                    .rack = config.rack,
                                    .host = config.host});
  for (const v1::NodeRecord& n : known) {
    if (n.node_id() == p.node_id || n.node_id() == 0 || n.state() == v1::NodeRecord::REMOVED) continue;
    topts.peers[n.node_id()] = n.peer_address();  // later entries (learnt) win
    p.router->UpsertMember(MemberFrom(n));
  }
  topts.hello.set_cluster_id(p.cluster_id);
  topts.hello.set_peer_address(self_peer_address);
  topts.hello.set_from_node_id(p.node_id);
  topts.hello.set_name(config.name);
  topts.hello.set_client_address(p.client_address);
  topts.hello.set_zone(config.zone);
  topts.hello.set_rack(config.rack);
  topts.hello.set_host(config.host);
  topts.max_message_bytes = config.limits.max_peer_message_bytes;
  topts.max_batch_bytes = std::min<uint64_t>(4 << 20, config.limits.max_peer_message_bytes / 2);
  topts.snapshot_dir = config.data_dir + "/snapshots";
  topts.snapshot_bytes_per_second = config.placement.snapshot_bytes_per_second;
  topts.metrics = metrics;
  {
    // Snapshot directories of an earlier run are stale: received ones were not installed (or
    // were, and are copies), exported ones are rebuilt on demand.
    std::error_code ec;
    std::filesystem::remove_all(topts.snapshot_dir, ec);
    std::filesystem::create_directories(topts.snapshot_dir, ec);
    if (ec) return std::unexpected(StartError{kExitCantCreate, "cannot create " + topts.snapshot_dir + ": " + ec.message()});
  }
  p.transport = std::make_unique<GrpcTransport>(
      topts, p.router.get(),
      [parts](std::vector<GroupMessage> msgs) {
        if (Store* s = parts->store_ptr.load()) s->Deliver(std::move(msgs));
      },
      [parts](GroupMessage msg, std::string dir) {
        if (Store* s = parts->store_ptr.load()) {
          s->AcceptSnapshot(std::move(msg), std::move(dir));
        } else {
          std::error_code ec;
          std::filesystem::remove_all(dir, ec);
        }
      });
  // Each peer's Hello names the receiver: set per stream by the transport from its peer table.

  StoreOptions sopts = StoreOptionsFrom(config, p.node_id);
  sopts.metrics = metrics;
  auto store = Store::Open(sopts, p.engine.get(), p.log_writer.get(), p.transport.get(), p.router.get(),
                           p.clock.get());
  if (!store) return std::unexpected(StartError{kExitIo, store.error()});
  p.store = std::move(*store);
  p.store_ptr.store(p.store.get());

  grpc::ServerBuilder peer_builder;
  int peer_port = 0;
  peer_builder.AddListeningPort(config.peer_addr, grpc::InsecureServerCredentials(), &peer_port);
  peer_builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_peer_message_bytes));
  peer_builder.RegisterService(p.transport->service());
  InstallGrpcMetrics(peer_builder, metrics);
  p.peer_server = peer_builder.BuildAndStart();
  if (!p.peer_server || peer_port == 0) {
    return std::unexpected(StartError{kExitUnavailable, "cannot listen on peer_addr " + config.peer_addr +
                                                            " (in use, or not an address of this host?)"});
  }
  p.transport->Start();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  KvLimits limits{.max_key_bytes = config.limits.max_key_bytes,
                  .max_value_bytes = config.limits.max_value_bytes,
                  .max_request_bytes = config.limits.max_request_bytes,
                  .max_batch_ops = config.limits.max_batch_ops,
                  .max_txn_ops = config.limits.max_txn_ops,
                  .max_scan_limit = config.limits.max_scan_limit,
                  .default_deadline_ms = config.kv.default_deadline_ms};
  p.kv = std::make_unique<KvService>(p.store.get(), p.router.get(), limits);
  const auto dead_after = std::chrono::milliseconds(config.raft.node_dead_after_ms);
  p.admin = std::make_unique<AdminService>(
      NodeIdentity{.node_id = p.node_id, .cluster_id = p.cluster_id, .name = config.name,
                   .config_yaml = claw::config::ToYaml(config)}, p.store.get(),
      p.router.get(), [parts, dead_after](uint64_t peer) {
        return std::chrono::steady_clock::now() - parts->transport->LastHeard(peer) < dead_after;
      });
  grpc::ServerBuilder client_builder;
  int client_port = 0;
  client_builder.AddListeningPort(config.client_addr, grpc::InsecureServerCredentials(), &client_port);
  // Requests a bit over the limit still arrive, so that they get a clear TOO_LARGE; far over it,
  // gRPC refuses them itself (RESOURCE_EXHAUSTED).
  client_builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_request_bytes + (512 << 10)));
  InstallGrpcMetrics(client_builder, metrics);
  client_builder.RegisterService(p.kv.get());
  p.watch = std::make_unique<WatchService>(
      p.store.get(), p.router.get(),
      WatchLimits{.max_queue_events = config.kv.watch_max_queue_events,
                  .max_queue_bytes = config.kv.watch_max_queue_bytes},
      config.limits.max_key_bytes, metrics);
  client_builder.RegisterService(p.watch.get());
  // Before clients arrive: history a previous run of this node may have collected is not
  // assumed present (HistoryGc::Start raises every shard's GC threshold first).
  p.history_gc = std::make_unique<HistoryGc>(p.store.get(), p.engine.get(), config.storage.mvcc_retention_ms,
                                             config.storage.mvcc_gc_interval_ms);
  p.history_gc->Start();
  client_builder.RegisterService(p.admin.get());
  const PlacementOptions popts{.node_id = p.node_id,
                               .cluster_id = p.cluster_id,
                               .heartbeat_interval_ms = config.placement.heartbeat_interval_ms,
                               .node_dead_after_ms = config.placement.node_dead_after_ms,
                               .split_bytes = config.placement.split_bytes,
                               .split_qps = config.placement.split_qps,
                               .max_operators_per_node = static_cast<uint32_t>(config.placement.max_operators_per_node),
                               .data_dir = config.data_dir,
                               .capacity = config.capacity,
                               .metrics = metrics};
  p.placement = std::make_unique<PlacementService>(popts, p.store.get(), p.router.get());
  client_builder.RegisterService(p.placement.get());
  // Leases: a new meta leader gives every lease at least twice the election timeout plus 1 s:
  // the election, then a client's keep-alive stream timing out at the old leader (1 s,
  // client/lease.h) and finding the new one.
  const LeaseOptions lopts{.node_id = p.node_id,
                           .min_ttl_ms = config.lease.min_ttl_ms,
                           .max_ttl_ms = config.lease.max_ttl_ms,
                           .checkpoint_interval_ms = config.lease.checkpoint_interval_ms,
                           .grace_ms = 2 * config.raft.tick_ms * static_cast<uint64_t>(config.raft.election_ticks) + 1000,
                           .default_deadline_ms = config.kv.default_deadline_ms,
                           .metrics = metrics};
  p.lease = std::make_unique<LeaseService>(lopts, p.store.get(), p.router.get(), p.kv.get());
  p.kv->set_lease_check([lease = p.lease.get()](uint64_t id, std::chrono::steady_clock::time_point deadline,
                                                std::function<void(std::optional<RequestError>)> done) {
    lease->CheckLease(id, deadline, std::move(done));
  });
  client_builder.RegisterService(p.lease.get());
  const CheckpointOptions copts{.node_id = p.node_id,
                                .default_retention_ms = config.checkpoint.default_retention_ms,
                                .max_retention_ms = config.checkpoint.max_retention_ms,
                                .max_checkpoint_bytes = config.checkpoint.max_checkpoint_bytes,
                                .max_sections = config.checkpoint.max_sections,
                                .max_section_bytes = config.checkpoint.max_section_bytes,
                                .sweep_interval_ms = config.checkpoint.sweep_interval_ms,
                                .default_deadline_ms = config.kv.default_deadline_ms,
                                .max_request_bytes = config.limits.max_request_bytes,
                                .max_txn_ops = config.limits.max_txn_ops,
                                .metrics = metrics};
  p.checkpoint = std::make_unique<CheckpointService>(copts, p.store.get(), p.router.get(), p.kv.get());
  client_builder.RegisterService(p.checkpoint.get());
  p.client_server = client_builder.BuildAndStart();
  if (!p.client_server || client_port == 0) {
    return std::unexpected(StartError{kExitUnavailable, "cannot listen on client_addr " + config.client_addr +
                                                            " (in use, or not an address of this host?)"});
  }
  p.client_server->GetHealthCheckService()->SetServingStatus(true);
  v1::NodeRecord self_record;
  self_record.set_node_id(p.node_id);
  self_record.set_name(config.name);
  self_record.set_peer_address(self_peer_address);
  self_record.set_client_address(p.client_address);
  self_record.set_zone(config.zone);
  self_record.set_rack(config.rack);
  self_record.set_host(config.host);
  self_record.set_capacity_bytes(CapacityOf(config));
  p.reporter = std::make_unique<PlacementReporter>(
      popts, std::move(self_record), p.store.get(), p.router.get(), config.join,
      [parts](const std::vector<v1::NodeRecord>& nodes) { parts->LearnNodes(nodes); });
  if (config.raft.consistency_check_interval_ms > 0) {
    p.checker = std::make_unique<ConsistencyChecker>(
        ConsistencyCheckerOptions{.node_id = p.node_id,
                                  .interval = std::chrono::milliseconds(config.raft.consistency_check_interval_ms),
                                  .metrics = metrics},
        p.store.get(), p.router.get());
  }
  // Ready: the local store is recovered and every listener bound. Never gated on quorum (a node
  // of a cluster starting cold would wait for its peers, and systemd would time it out).
  p.phase.store(Parts::Phase::kServing);
  SPDLOG_INFO("node {} ({}) of cluster {:016x} serving: client {} peer {} http {}, {} local replicas", p.node_id,
              config.name, p.cluster_id, config.client_addr, config.peer_addr, config.http_addr,
              p.store->Status().size());
  systemd::NotifyReady("serving " + std::to_string(p.store->Status().size()) + " replicas; clients on " +
                       p.client_address);
  return node;
}

void Node::Shutdown() {
  Parts& p = *p_;
  if (p.shut_down) return;
  p.shut_down = true;
  p.phase.store(Parts::Phase::kStopping);
  systemd::NotifyStopping("stopping: moving leaderships to other nodes, draining requests");
  if (p.client_server) p.client_server->GetHealthCheckService()->SetServingStatus(false);
  if (p.checker) p.checker->Stop();
  if (p.history_gc) p.history_gc->Stop();
  if (p.reporter) p.reporter->Stop();
  if (p.placement) p.placement->Stop();
  if (p.lease) p.lease->Stop();
  if (p.checkpoint) p.checkpoint->Stop();
  if (p.store) {
    p.store->StopAccepting();
    const auto drain = std::chrono::milliseconds(p.config.shutdown.drain_timeout_ms);
    const size_t still = p.store->TransferLeadersAway(drain);
    if (still == 0) {
      SPDLOG_INFO("shutdown: no leadership left to hand over");
    } else {
      SPDLOG_WARN("shutdown: still leading {} shards after {} ms; they elect anew after this node stops",
                  still, drain.count());
    }
    p.store->Stop();
  }
  // The supervisor and the HTTP listener read the parts torn down below.
  p.supervisor.reset();
  p.http.reset();
  systemd::NotifyStatus("stopping: closing the database");
  const auto soon = std::chrono::system_clock::now() + std::chrono::seconds(1);
  if (p.client_server) p.client_server->Shutdown(soon);
  if (p.peer_server) p.peer_server->Shutdown(soon);
  p.store_ptr.store(nullptr);
  p.log_writer.reset();  // drains: its callbacks post into the stopped workers
  p.store.reset();
  p.transport.reset();
  p.kv.reset();
  p.watch.reset();
  p.history_gc.reset();
  p.lease.reset();
  p.checkpoint.reset();
  p.admin.reset();
  p.checker.reset();
  p.reporter.reset();
  p.placement.reset();
  p.client_server.reset();
  p.peer_server.reset();
  p.engine.reset();
  SPDLOG_INFO("node {} stopped; data directory closed", p.node_id);
}

}  // namespace claw::server
