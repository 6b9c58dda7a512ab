// Metrics: every Prometheus series a node exports on its HTTP port (/metrics, text format 0.0.4).
// Names follow Prometheus conventions (DESIGN.md "Operations"): the `clawd_` prefix (the
// standard `process_*` series excepted), base units (seconds, bytes, ratios 0..1), `_total` on
// counters only, and no label whose values grow with the data (no shard ids): per-shard detail is
// `clawctl shard show`. server/README.md "Metrics" lists every series and what it means.
//
// Two kinds of series:
// - event series (counters, histograms) that the parts update where things happen, through the
//   references below (prometheus-cpp metrics are thread-safe);
// - state series (gauges such as shards by role, RocksDB sizes, disk and process figures) that
//   collectors registered with AddCollector set just before each scrape. A collector must be
//   quick and must not block on anything that can hang (Node removes its collectors before
//   taking the parts they read down).
//
// Threads: everything is thread-safe. Lifecycle: one per Node (tests make their own); parts hold
// plain references and must not outlive it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/slow_meter.h"

namespace claw::server {

class Metrics {
  // Declared first: the series references below are initialized from them.
  struct Families;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;

 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Runs the collectors, then renders every family in the text exposition format 0.0.4.
  std::string Render();
  // For components that register their own families (server/watch_service.cc).
  prometheus::Registry& registry() { return *registry_; }

  // Collectors run (in registration order, one scrape at a time) before each Render. Returns an
  // id for RemoveCollector; removal waits for a running scrape to finish.
  using Collector = std::function<void(Metrics&)>;
  uint64_t AddCollector(Collector collector);
  void RemoveCollector(uint64_t id);

  // Not exported: the delays the placement heartbeat reports (slow_meter.h).
  SlowMeter slow;

  // --- Raft (RaftWorker)
  prometheus::Counter& proposals_committed;
  prometheus::Counter& proposals_applied;
  prometheus::Counter& proposals_failed;
  prometheus::Counter& proposals_packed;
  prometheus::Gauge& proposals_pending;
  prometheus::Counter& leader_changes;
  prometheus::Counter& log_written_bytes;
  prometheus::Histogram& log_append_duration;
  prometheus::Histogram& wal_fsync_duration;
  prometheus::Histogram& apply_duration;
  prometheus::Counter& requests_overloaded;
  // Local replicas by role, set by a collector from Store::Gauges.
  prometheus::Gauge& shards_leader;
  prometheus::Gauge& shards_follower;
  prometheus::Gauge& shards_candidate;
  prometheus::Gauge& shards_learner;
  prometheus::Gauge& shards_without_leader;
  prometheus::Gauge& shards_under_replicated;
  prometheus::Gauge& shards_hibernating;

  // --- Snapshots and peers (GrpcTransport)
  prometheus::Counter& snapshot_sent;
  prometheus::Counter& snapshot_sent_bytes;
  prometheus::Counter& snapshot_received;
  prometheus::Counter& snapshot_received_bytes;
  prometheus::Counter& snapshot_send_failures;
  prometheus::Counter& peer_messages_sent;
  prometheus::Counter& peer_messages_dropped;
  prometheus::Counter& peer_reconnects;

  // --- Consistency checks (ConsistencyChecker, on shard leaders)
  prometheus::Counter& consistency_checks_consistent;
  prometheus::Counter& consistency_checks_mismatch;
  prometheus::Counter& consistency_checks_incomplete;
  prometheus::Counter& replica_hash_mismatches;
  // Round-trip time to one peer node (label peer = its node id; one series per cluster node).
  prometheus::Histogram& PeerRoundTrip(uint64_t node);

  // --- gRPC server (GrpcServerMetrics interceptor). `type` is unary, client_stream,
  // server_stream or bidi_stream; `service` the full service name (claw.v1.KV); `code` the
  // status code name (OK, UNAVAILABLE, ...).
  struct GrpcMethod {
    prometheus::Counter* started = nullptr;
    prometheus::Histogram* handling = nullptr;
    std::string type{}, service{}, method{};
    // clawd_grpc_server_handled_total by status code number (0..16), filled on first use so
    // that counting a finished RPC costs no label lookup.
    mutable std::array<std::atomic<prometheus::Counter*>, 17> handled{};
  };
  // The series of one method (created on first use, cached).
  const GrpcMethod& Grpc(std::string_view full_method, std::string_view type);
  prometheus::Counter& GrpcHandled(const GrpcMethod& method, std::string_view code);
  // The same for status code `code` named `name`, cached in `method`.
  prometheus::Counter& GrpcHandled(const GrpcMethod& method, int code, std::string_view name);

  // --- Storage, set by a collector from Engine::Stats and statvfs.
  prometheus::Gauge& rocksdb_sst_bytes;
  prometheus::Gauge& rocksdb_memtable_bytes;
  prometheus::Gauge& rocksdb_pending_compaction_bytes;
  prometheus::Gauge& rocksdb_write_stopped;
  prometheus::Gauge& rocksdb_delayed_write_rate;
  prometheus::Counter& rocksdb_write_stall_seconds;
  // The state machines' key header caches (server/key_header_cache.h).
  prometheus::Counter& key_header_cache_hits;
  prometheus::Counter& key_header_cache_misses;
  prometheus::Gauge& key_header_cache_keys;
  prometheus::Counter& rocksdb_block_cache_hits;
  prometheus::Counter& rocksdb_block_cache_misses;
  prometheus::Gauge& rocksdb_block_cache_hit_ratio;
  prometheus::Gauge& disk_total_bytes;
  prometheus::Gauge& disk_free_bytes;
  prometheus::Gauge& disk_full;

  // --- Placement (PlacementService on the meta leader). type: add_replica, remove_replica,
  // move_replica, transfer_leader, split; outcome: started, succeeded, timed_out, abandoned.
  prometheus::Counter& PlacementOperator(std::string_view type, std::string_view outcome);
  prometheus::Gauge& placement_operators_running;
  prometheus::Gauge& placement_shards_needing_repair;
  // --- Leases (LeaseService on the meta leader; keys deleted by the data shards' leaders)
  prometheus::Gauge& leases;
  prometheus::Counter& leases_granted;
  prometheus::Counter& leases_revoked;
  prometheus::Counter& leases_expired;
  prometheus::Counter& lease_keys_deleted;
  prometheus::Gauge& meta_leader;

  // --- Node
  prometheus::Gauge& ready;

  // Raises a counter to `total` (a cumulative figure read from elsewhere, e.g. a RocksDB
  // ticker); never lowers it.
  static void AdvanceTo(prometheus::Counter& counter, double total);

  // Bucket bounds shared by the duration histograms: 100 us .. ~13 s, doubling (18 buckets).
  static const prometheus::Histogram::BucketBoundaries& DurationBuckets();

 private:
  // Process series (process_cpu_seconds_total, ...), set from /proc before each scrape.
  struct Process;
  std::unique_ptr<Process> process_;
  std::mutex grpc_mu_;
  std::map<std::string, GrpcMethod, std::less<>> grpc_methods_;  // guarded by grpc_mu_
  std::mutex collect_mu_;  // one scrape at a time; held while collectors run
  std::vector<std::pair<uint64_t, Collector>> collectors_;  // guarded by collect_mu_
  uint64_t next_collector_ = 1;                              // guarded by collect_mu_
};

}  // namespace claw::server
