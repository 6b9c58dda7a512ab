#include "server/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <prometheus/text_serializer.h>

#include "server/version.h"

namespace claw::server {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// The text between the n-th and (n+1)-th space-separated field of /proc/self/stat after the
// command name (which may contain spaces and is closed by the last ')').
std::vector<std::string_view> StatFields(std::string_view stat) {
  std::vector<std::string_view> fields;
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return fields;
  std::string_view rest = stat.substr(close + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = rest.find(' ');
    fields.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  return fields;  // fields[0] is the state (field 3 of proc(5))
}

double ParseDouble(std::string_view s) {
  double v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

struct Metrics::Families {
  explicit Families(prometheus::Registry& r)
      : proposals_committed(BuildCounter()
                                .Name("clawd_raft_proposals_committed_total")
                                .Help("Proposals (writes and admin commands) proposed by leaders on this node and committed.")
                                .Register(r)),
        proposals_applied(BuildCounter()
                              .Name("clawd_raft_proposals_applied_total")
                              .Help("Raft log entries applied by the replicas on this node.")
                              .Register(r)),
        proposals_failed(BuildCounter()
                             .Name("clawd_raft_proposals_failed_total")
                             .Help("Proposals that failed on this node: refused by Raft (not leader, too many "
                                   "uncommitted entries), or lost with the leadership before they committed.")
                             .Register(r)),
        proposals_packed(BuildCounter()
                             .Name("clawd_raft_proposals_packed_total")
                             .Help("Client writes that leaders on this node proposed in one Raft entry with other "
                                   "writes (a worker packs the writes it takes for a shard in one round).")
                             .Register(r)),
        proposals_pending(BuildGauge()
                              .Name("clawd_raft_proposals_pending")
                              .Help("Client requests (writes and linearizable reads) admitted and not yet answered.")
                              .Register(r)),
        leader_changes(BuildCounter()
                           .Name("clawd_raft_leader_changes_total")
                           .Help("Leader changes seen by the replicas on this node (a new leader elected).")
                           .Register(r)),
        log_written_bytes(BuildCounter()
                              .Name("clawd_raft_log_written_bytes_total")
                              .Help("Bytes of Raft log batches written by the group-commit log writer.")
                              .Register(r)),
        log_append_duration(BuildHistogram()
                                .Name("clawd_raft_log_append_duration_seconds")
                                .Help("Time from a replica handing a log write to the group-commit writer until it "
                                      "is durable (queueing, write and fsync).")
                                .Register(r)),
        wal_fsync_duration(BuildHistogram()
                               .Name("clawd_wal_fsync_duration_seconds")
                               .Help("Duration of one synced group-commit write of the Raft log (WAL append and fsync).")
                               .Register(r)),
        apply_duration(BuildHistogram()
                           .Name("clawd_raft_apply_duration_seconds")
                           .Help("Duration of writing one apply batch (the committed entries of one worker pass).")
                           .Register(r)),
        requests_overloaded(BuildCounter()
                                .Name("clawd_requests_overloaded_total")
                                .Help("Client requests refused with OVERLOADED because too many were in flight.")
                                .Register(r)),
        shards(BuildGauge()
                   .Name("clawd_shards")
                   .Help("Replicas hosted on this node, by Raft role.")
                   .Register(r)),
        shards_without_leader(BuildGauge()
                                  .Name("clawd_shards_without_leader")
                                  .Help("Replicas on this node that know no leader of their shard.")
                                  .Register(r)),
        shards_under_replicated(BuildGauge()
                                    .Name("clawd_shards_under_replicated")
                                    .Help("Shards led by this node with a voter on a node not heard from within "
                                          "node_dead_after_ms.")
                                    .Register(r)),
        shards_hibernating(BuildGauge()
                               .Name("clawd_shards_hibernating")
                               .Help("Replicas on this node whose group hibernates (idle: no ticks, no heartbeats).")
                               .Register(r)),
        snapshot_sent(BuildCounter()
                          .Name("clawd_snapshot_sent_total")
                          .Help("Snapshots this node sent to peers.")
                          .Register(r)),
        snapshot_sent_bytes(BuildCounter()
                                .Name("clawd_snapshot_sent_bytes_total")
                                .Help("Bytes of snapshot files this node sent to peers.")
                                .Register(r)),
        snapshot_received(BuildCounter()
                              .Name("clawd_snapshot_received_total")
                              .Help("Snapshots this node received and verified.")
                              .Register(r)),
        snapshot_received_bytes(BuildCounter()
                                    .Name("clawd_snapshot_received_bytes_total")
                                    .Help("Bytes of snapshot files this node received.")
                                    .Register(r)),
        snapshot_send_failures(BuildCounter()
                                   .Name("clawd_snapshot_send_failures_total")
                                   .Help("Snapshots this node failed to send (the leader retries).")
                                   .Register(r)),
        peer_messages_sent(BuildCounter()
                               .Name("clawd_peer_messages_sent_total")
                               .Help("Raft messages sent to peer nodes.")
                               .Register(r)),
        peer_messages_dropped(BuildCounter()
                                  .Name("clawd_peer_messages_dropped_total")
                                  .Help("Raft messages dropped because a peer was unreachable or its queue full "
                                        "(Raft retransmits).")
                                  .Register(r)),
        peer_reconnects(BuildCounter()
                            .Name("clawd_peer_reconnects_total")
                            .Help("Peer streams reopened after a failure.")
                            .Register(r)),
        consistency_checks(BuildCounter()
                               .Name("clawd_consistency_checks_total")
                               .Help("Periodic consistency checks this node ran as a shard's leader, by outcome: "
                                     "consistent, mismatch (replica hashes differ), incomplete (a replica did not "
                                     "answer).")
                               .Register(r)),
        replica_hash_mismatches(BuildCounter()
                                    .Name("clawd_replica_hash_mismatches_total")
                                    .Help("Periodic consistency checks of shards led by this node that found "
                                          "replicas with different hashes at one index (the log names the "
                                          "minority replicas).")
                                    .Register(r)),
        peer_rtt(BuildHistogram()
                     .Name("clawd_peer_round_trip_time_seconds")
                     .Help("Round-trip time of the Raft peer streams, by peer node id (measured by echoing "
                           "batch timestamps; excludes the time the peer held the echo).")
                     .Register(r)),
        grpc_started(BuildCounter()
                         .Name("clawd_grpc_server_started_total")
                         .Help("RPCs started on the server, by type, service and method.")
                         .Register(r)),
        grpc_handled(BuildCounter()
                         .Name("clawd_grpc_server_handled_total")
                         .Help("RPCs completed on the server, by type, service, method and status code.")
                         .Register(r)),
        grpc_handling(BuildHistogram()
                          .Name("clawd_grpc_server_handling_seconds")
                          .Help("Time from an RPC's start to its status being sent, by type, service and method.")
                          .Register(r)),
        rocksdb_sst_bytes(BuildGauge()
                              .Name("clawd_rocksdb_sst_files_size_bytes")
                              .Help("Size of the live RocksDB SST files (all column families).")
                              .Register(r)),
        rocksdb_memtable_bytes(BuildGauge()
                                   .Name("clawd_rocksdb_memtable_bytes")
                                   .Help("Size of the RocksDB memtables (active and immutable).")
                                   .Register(r)),
        rocksdb_pending_compaction_bytes(BuildGauge()
                                             .Name("clawd_rocksdb_pending_compaction_bytes")
                                             .Help("Estimated bytes RocksDB compaction still has to rewrite.")
                                             .Register(r)),
        rocksdb_write_stopped(BuildGauge()
                                  .Name("clawd_rocksdb_write_stopped")
                                  .Help("1 while RocksDB stops writes (too many L0 files or memtables), else 0.")
                                  .Register(r)),
        rocksdb_delayed_write_rate(BuildGauge()
                                       .Name("clawd_rocksdb_delayed_write_rate_bytes")
                                       .Help("Bytes per second RocksDB slows writes to; 0 when writes are not delayed.")
                                       .Register(r)),
        rocksdb_write_stall_seconds(BuildCounter()
                                        .Name("clawd_rocksdb_write_stall_seconds_total")
                                        .Help("Time RocksDB writes spent stalled or delayed.")
                                        .Register(r)),
        key_header_cache_hits(BuildCounter()
                                  .Name("clawd_key_header_cache_hits_total")
                                  .Help("Writes that found their key's current version header in memory "
                                        "(kv.key_header_cache_keys) instead of reading it from RocksDB.")
                                  .Register(r)),
        key_header_cache_misses(BuildCounter()
                                    .Name("clawd_key_header_cache_misses_total")
                                    .Help("Writes that read their key's current version from RocksDB (not cached).")
                                    .Register(r)),
        key_header_cache_keys(BuildGauge()
                                  .Name("clawd_key_header_cache_keys")
                                  .Help("Keys whose version header the node holds in memory (all shards; "
                                        "limit kv.key_header_cache_keys).")
                                  .Register(r)),
        rocksdb_block_cache_hits(BuildCounter()
                                     .Name("clawd_rocksdb_block_cache_hits_total")
                                     .Help("RocksDB block cache hits.")
                                     .Register(r)),
        rocksdb_block_cache_misses(BuildCounter()
                                       .Name("clawd_rocksdb_block_cache_misses_total")
                                       .Help("RocksDB block cache misses.")
                                       .Register(r)),
        rocksdb_block_cache_hit_ratio(BuildGauge()
                                          .Name("clawd_rocksdb_block_cache_hit_ratio")
                                          .Help("RocksDB block cache hits / lookups since the node started (0..1); "
                                                "for a recent ratio use rate() of the hits and misses counters.")
                                          .Register(r)),
        disk_total_bytes(BuildGauge()
                             .Name("clawd_disk_total_bytes")
                             .Help("Size of the file system holding the data directory.")
                             .Register(r)),
        disk_free_bytes(BuildGauge()
                            .Name("clawd_disk_free_bytes")
                            .Help("Bytes available to clawd on the file system holding the data directory.")
                            .Register(r)),
        disk_full(BuildGauge()
                      .Name("clawd_disk_full")
                      .Help("1 while a write of the node waits for disk space (Raft log or applied entries; its "
                            "leaders hand off and new writes get NO_SPACE), else 0.")
                      .Register(r)),
        placement_operators(BuildCounter()
                                .Name("clawd_placement_operators_total")
                                .Help("Placement operators on the meta leader, by type and outcome (started, "
                                      "succeeded, timed_out, abandoned).")
                                .Register(r)),
        placement_operators_running(BuildGauge()
                                        .Name("clawd_placement_operators_running")
                                        .Help("Placement operators in flight (on the meta leader; 0 elsewhere).")
                                        .Register(r)),
        placement_shards_needing_repair(BuildGauge()
                                            .Name("clawd_placement_shards_needing_repair")
                                            .Help("Shards with fewer live voters than their placement rule wants, as the "
                                                  "meta leader last planned (0 on other nodes).")
                                            .Register(r)),
        leases(BuildGauge()
                   .Name("clawd_leases")
                   .Help("Leases (granted or revoking), on the meta leader; 0 elsewhere.")
                   .Register(r)),
        leases_granted(BuildCounter()
                           .Name("clawd_leases_granted_total")
                           .Help("Leases granted by this node while it led the meta shard.")
                           .Register(r)),
        leases_revoked(BuildCounter()
                           .Name("clawd_leases_revoked_total")
                           .Help("Leases revoked by a client (Revoke) through this node while it led the meta shard.")
                           .Register(r)),
        leases_expired(BuildCounter()
                           .Name("clawd_leases_expired_total")
                           .Help("Leases this node expired (TTL passed without keep-alive) while it led the meta shard.")
                           .Register(r)),
        lease_keys_deleted(BuildCounter()
                               .Name("clawd_lease_keys_deleted_total")
                               .Help("Keys deleted because their lease expired or was revoked, counted by the leader "
                                     "of the shard that deleted them.")
                               .Register(r)),
        meta_leader(BuildGauge()
                        .Name("clawd_meta_leader")
                        .Help("1 on the node leading the meta shard (the placement service), else 0.")
                        .Register(r)),
        ready(BuildGauge()
                  .Name("clawd_ready")
                  .Help("1 once the node has recovered its local store and serves (what /readyz answers), else 0.")
                  .Register(r)),
        build_info(BuildGauge()
                       .Name("clawd_build_info")
                       .Help("Always 1; the labels say which build of clawd runs.")
                       .Register(r)),
        process_cpu(BuildCounter()
                        .Name("process_cpu_seconds_total")
                        .Help("User and system CPU time spent by the process.")
                        .Register(r)),
        process_rss(BuildGauge()
                        .Name("process_resident_memory_bytes")
                        .Help("Resident memory of the process.")
                        .Register(r)),
        process_vsize(BuildGauge()
                          .Name("process_virtual_memory_bytes")
                          .Help("Virtual memory of the process.")
                          .Register(r)),
        process_open_fds(BuildGauge()
                             .Name("process_open_fds")
                             .Help("Open file descriptors of the process.")
                             .Register(r)),
        process_max_fds(BuildGauge()
                            .Name("process_max_fds")
                            .Help("The process's open file descriptor limit (RLIMIT_NOFILE, soft).")
                            .Register(r)),
        process_start_time(BuildGauge()
                               .Name("process_start_time_seconds")
                               .Help("Start time of the process since the Unix epoch.")
                               .Register(r)),
        process_threads(BuildGauge()
                            .Name("process_threads")
                            .Help("Threads of the process.")
                            .Register(r)) {}

  Family<Counter>& proposals_committed;
  Family<Counter>& proposals_applied;
  Family<Counter>& proposals_failed;
  Family<Counter>& proposals_packed;
  Family<Gauge>& proposals_pending;
  Family<Counter>& leader_changes;
  Family<Counter>& log_written_bytes;
  Family<Histogram>& log_append_duration;
  Family<Histogram>& wal_fsync_duration;
  Family<Histogram>& apply_duration;
  Family<Counter>& requests_overloaded;
  Family<Gauge>& shards;
  Family<Gauge>& shards_without_leader;
  Family<Gauge>& shards_under_replicated;
  Family<Gauge>& shards_hibernating;
  Family<Counter>& snapshot_sent;
  Family<Counter>& snapshot_sent_bytes;
  Family<Counter>& snapshot_received;
  Family<Counter>& snapshot_received_bytes;
  Family<Counter>& snapshot_send_failures;
  Family<Counter>& peer_messages_sent;
  Family<Counter>& peer_messages_dropped;
  Family<Counter>& peer_reconnects;
  Family<Counter>& consistency_checks;
  Family<Counter>& replica_hash_mismatches;
  Family<Histogram>& peer_rtt;
  Family<Counter>& grpc_started;
  Family<Counter>& grpc_handled;
  Family<Histogram>& grpc_handling;
  Family<Gauge>& rocksdb_sst_bytes;
  Family<Gauge>& rocksdb_memtable_bytes;
  Family<Gauge>& rocksdb_pending_compaction_bytes;
  Family<Gauge>& rocksdb_write_stopped;
  Family<Gauge>& rocksdb_delayed_write_rate;
  Family<Counter>& rocksdb_write_stall_seconds;
  Family<Counter>& key_header_cache_hits;
  Family<Counter>& key_header_cache_misses;
  Family<Gauge>& key_header_cache_keys;
  Family<Counter>& rocksdb_block_cache_hits;
  Family<Counter>& rocksdb_block_cache_misses;
  Family<Gauge>& rocksdb_block_cache_hit_ratio;
  Family<Gauge>& disk_total_bytes;
  Family<Gauge>& disk_free_bytes;
  Family<Gauge>& disk_full;
  Family<Counter>& placement_operators;
  Family<Gauge>& placement_operators_running;
  Family<Gauge>& placement_shards_needing_repair;
  Family<Gauge>& leases;
  Family<Counter>& leases_granted;
  Family<Counter>& leases_revoked;
  Family<Counter>& leases_expired;
  Family<Counter>& lease_keys_deleted;
  Family<Gauge>& meta_leader;
  Family<Gauge>& ready;
  Family<Gauge>& build_info;
  Family<Counter>& process_cpu;
  Family<Gauge>& process_rss;
  Family<Gauge>& process_vsize;
  Family<Gauge>& process_open_fds;
  Family<Gauge>& process_max_fds;
  Family<Gauge>& process_start_time;
  Family<Gauge>& process_threads;
};

struct Metrics::Process {
  explicit Process(Families& f)
      : cpu(f.process_cpu.Add({})),
        rss(f.process_rss.Add({})),
        vsize(f.process_vsize.Add({})),
        open_fds(f.process_open_fds.Add({})),
        max_fds(f.process_max_fds.Add({})),
        start_time(f.process_start_time.Add({})),
        threads(f.process_threads.Add({})) {
    const std::string stat = ReadFile("/proc/self/stat");
    const auto v = StatFields(stat);
    // starttime is field 22 of proc(5): index 19 here (fields start at field 3).
    const std::string boot = ReadFile("/proc/stat");
    double btime = 0;
    if (const size_t at = boot.find("\nbtime "); at != std::string::npos) btime = ParseDouble(boot.substr(at + 7, 20));
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    if (v.size() > 19 && ticks > 0) start_time.Set(btime + ParseDouble(v[19]) / ticks);
  }

  // From /proc/self/stat: utime, stime (fields 14, 15), num_threads (20), vsize (23), rss (24).
  void Collect() {
    const std::string stat = ReadFile("/proc/self/stat");
    const auto v = StatFields(stat);
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    if (v.size() > 21 && ticks > 0) {
      Metrics::AdvanceTo(cpu, (ParseDouble(v[11]) + ParseDouble(v[12])) / ticks);
      threads.Set(ParseDouble(v[17]));
      vsize.Set(ParseDouble(v[20]));
      rss.Set(ParseDouble(v[21]) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
    }
    std::error_code ec;
    double fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++fds;
    }
    open_fds.Set(fds);
    struct rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) max_fds.Set(static_cast<double>(limit.rlim_cur));
  }

  Counter& cpu;
  Gauge& rss;
  Gauge& vsize;
  Gauge& open_fds;
  Gauge& max_fds;
  Gauge& start_time;
  Gauge& threads;
};

const prometheus::Histogram::BucketBoundaries& Metrics::DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = [] {
    prometheus::Histogram::BucketBoundaries b;
    double bound = 0.0001;
    for (int i = 0; i < 18; ++i, bound *= 2) b.push_back(bound);
    return b;
  }();
  return buckets;
}

Metrics::Metrics()
    : registry_(std::make_unique<prometheus::Registry>()),
      f_(std::make_unique<Families>(*registry_)),
      proposals_committed(f_->proposals_committed.Add({})),
      proposals_applied(f_->proposals_applied.Add({})),
      proposals_failed(f_->proposals_failed.Add({})),
      proposals_packed(f_->proposals_packed.Add({})),
      proposals_pending(f_->proposals_pending.Add({})),
      leader_changes(f_->leader_changes.Add({})),
      log_written_bytes(f_->log_written_bytes.Add({})),
      log_append_duration(f_->log_append_duration.Add({}, DurationBuckets())),
      wal_fsync_duration(f_->wal_fsync_duration.Add({}, DurationBuckets())),
      apply_duration(f_->apply_duration.Add({}, DurationBuckets())),
      requests_overloaded(f_->requests_overloaded.Add({})),
      shards_leader(f_->shards.Add({{"role", "leader"}})),
      shards_follower(f_->shards.Add({{"role", "follower"}})),
      shards_candidate(f_->shards.Add({{"role", "candidate"}})),
      shards_learner(f_->shards.Add({{"role", "learner"}})),
      shards_without_leader(f_->shards_without_leader.Add({})),
      shards_under_replicated(f_->shards_under_replicated.Add({})),
      shards_hibernating(f_->shards_hibernating.Add({})),
      snapshot_sent(f_->snapshot_sent.Add({})),
      snapshot_sent_bytes(f_->snapshot_sent_bytes.Add({})),
      snapshot_received(f_->snapshot_received.Add({})),
      snapshot_received_bytes(f_->snapshot_received_bytes.Add({})),
      snapshot_send_failures(f_->snapshot_send_failures.Add({})),
      peer_messages_sent(f_->peer_messages_sent.Add({})),
      peer_messages_dropped(f_->peer_messages_dropped.Add({})),
      peer_reconnects(f_->peer_reconnects.Add({})),
      consistency_checks_consistent(f_->consistency_checks.Add({{"outcome", "consistent"}})),
      consistency_checks_mismatch(f_->consistency_checks.Add({{"outcome", "mismatch"}})),
      consistency_checks_incomplete(f_->consistency_checks.Add({{"outcome", "incomplete"}})),
      replica_hash_mismatches(f_->replica_hash_mismatches.Add({})),
      rocksdb_sst_bytes(f_->rocksdb_sst_bytes.Add({})),
      rocksdb_memtable_bytes(f_->rocksdb_memtable_bytes.Add({})),
      rocksdb_pending_compaction_bytes(f_->rocksdb_pending_compaction_bytes.Add({})),
      rocksdb_write_stopped(f_->rocksdb_write_stopped.Add({})),
      rocksdb_delayed_write_rate(f_->rocksdb_delayed_write_rate.Add({})),
      rocksdb_write_stall_seconds(f_->rocksdb_write_stall_seconds.Add({})),
      key_header_cache_hits(f_->key_header_cache_hits.Add({})),
      key_header_cache_misses(f_->key_header_cache_misses.Add({})),
      key_header_cache_keys(f_->key_header_cache_keys.Add({})),
      rocksdb_block_cache_hits(f_->rocksdb_block_cache_hits.Add({})),
      rocksdb_block_cache_misses(f_->rocksdb_block_cache_misses.Add({})),
      rocksdb_block_cache_hit_ratio(f_->rocksdb_block_cache_hit_ratio.Add({})),
      disk_total_bytes(f_->disk_total_bytes.Add({})),
      disk_free_bytes(f_->disk_free_bytes.Add({})),
      disk_full(f_->disk_full.Add({})),
      placement_operators_running(f_->placement_operators_running.Add({})),
      placement_shards_needing_repair(f_->placement_shards_needing_repair.Add({})),
      leases(f_->leases.Add({})),
      leases_granted(f_->leases_granted.Add({})),
      leases_revoked(f_->leases_revoked.Add({})),
      leases_expired(f_->leases_expired.Add({})),
      lease_keys_deleted(f_->lease_keys_deleted.Add({})),
      meta_leader(f_->meta_leader.Add({})),
      ready(f_->ready.Add({})),
      process_(std::make_unique<Process>(*f_)) {
  f_->build_info.Add({{"version", CLAW_VERSION}, {"revision", CLAW_REVISION}}).Set(1);
  // Every placement series exists from the start (at 0), so that rate() and alerts see them.
  for (std::string_view type : {"add_replica", "remove_replica", "move_replica", "transfer_leader", "split"}) {
    for (std::string_view outcome : {"started", "succeeded", "timed_out", "abandoned"}) {
      PlacementOperator(type, outcome);
    }
  }
}

Metrics::~Metrics() = default;

void Metrics::AdvanceTo(prometheus::Counter& counter, double total) {
  const double now = counter.Value();
  if (total > now) counter.Increment(total - now);
}

prometheus::Histogram& Metrics::PeerRoundTrip(uint64_t node) {
  return f_->peer_rtt.Add({{"peer", std::to_string(node)}}, DurationBuckets());
}

const Metrics::GrpcMethod& Metrics::Grpc(std::string_view full_method, std::string_view type) {
  std::lock_guard lock(grpc_mu_);
  if (auto it = grpc_methods_.find(full_method); it != grpc_methods_.end()) return it->second;
  // "/claw.v1.KV/Put" -> service claw.v1.KV, method Put.
  std::string_view path = full_method;
  if (path.starts_with('/')) path.remove_prefix(1);
  const size_t slash = path.find('/');
  GrpcMethod& m = grpc_methods_.try_emplace(std::string(full_method)).first->second;
  m.type = std::string(type);
  m.service = std::string(slash == std::string_view::npos ? std::string_view("unknown") : path.substr(0, slash));
  m.method = std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
  const prometheus::Labels labels{{"grpc_type", m.type}, {"grpc_service", m.service}, {"grpc_method", m.method}};
  m.started = &f_->grpc_started.Add(labels);
  m.handling = &f_->grpc_handling.Add(labels, DurationBuckets());
  return m;
}

prometheus::Counter& Metrics::GrpcHandled(const GrpcMethod& method, std::string_view code) {
  // Family::Add returns the existing series for known labels (under the family's own lock).
  return f_->grpc_handled.Add({{"grpc_type", method.type},
                               {"grpc_service", method.service},
                               {"grpc_method", method.method},
                               {"grpc_code", std::string(code)}});
}

prometheus::Counter& Metrics::GrpcHandled(const GrpcMethod& method, int code, std::string_view name) {
  if (code < 0 || code >= static_cast<int>(method.handled.size())) return GrpcHandled(method, name);
  std::atomic<prometheus::Counter*>& slot = method.handled[static_cast<size_t>(code)];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &GrpcHandled(method, name);  // the same series whichever thread gets here first
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

prometheus::Counter& Metrics::PlacementOperator(std::string_view type, std::string_view outcome) {
  return f_->placement_operators.Add({{"type", std::string(type)}, {"outcome", std::string(outcome)}});
}

uint64_t Metrics::AddCollector(Collector collector) {
  std::lock_guard lock(collect_mu_);
  const uint64_t id = next_collector_++;
  collectors_.emplace_back(id, std::move(collector));
  return id;
}

void Metrics::RemoveCollector(uint64_t id) {
  std::lock_guard lock(collect_mu_);
  std::erase_if(collectors_, [id](const auto& c) { return c.first == id; });
}

std::string Metrics::Render() {
  {
    std::lock_guard lock(collect_mu_);
    process_->Collect();
    for (auto& [id, collect] : collectors_) collect(*this);
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace claw::server
