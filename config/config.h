// Config: everything an operator can set for one clawd node, as plain structs with documented
// defaults. A default-constructed Config is the built-in defaults; config::Load (config/load.h)
// layers the YAML file, CLAWD_* environment variables and command-line flags over it, validates
// every field and every cross-field rule, and resolves the derived fields (initial_cluster,
// peer_addr, advertise_client_addr), so that a Config returned by Load is complete and valid.
//
// Each field's comment says what it is, the trade-off, and the default. The key names, flags,
// environment variables and ranges are listed in one table, config/keys.cc, and in
// config/README.md. Values are copied: no ownership, no threads, no I/O here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace claw::config {

inline constexpr uint64_t kKiB = 1ull << 10;
inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kGiB = 1ull << 30;

// One voter of the initial cluster. Its node id is its 1-based position in
// Config::initial_cluster, so every node must be given the same list in the same order.
struct Member {
  std::string name{};
  std::string peer_addr{};  // host:port the other nodes dial for Raft traffic
  bool operator==(const Member&) const = default;
};

enum class LogLevel : uint8_t { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

// "trace", "debug", "info", "warn", "error", "critical", "off" (spdlog's names).
std::string_view LogLevelName(LogLevel level);

struct RaftConfig {
  // Length of one Raft tick, the unit of every Raft timeout. Shorter detects failures sooner at
  // the cost of more timer work per active group. Default 100 ms; 10..10000.
  uint64_t tick_ms = 100;
  // Ticks without hearing from a leader before a follower campaigns (randomized up to twice
  // that). Lower fails over faster but risks spurious elections under load. Default 6 (600 ms
  // with the default tick: failover p99 under 1 s on loopback, config/README.md); 3..1000.
  int election_ticks = 6;
  // Ticks between leader heartbeats; must be less than election_ticks. Default 1.
  int heartbeat_ticks = 1;
  // Raft worker threads, each owning a partition of the groups. 0 = one per core (the server
  // counts the cores). Default 0; 0..256.
  int workers = 0;
  // Idle ticks after which a leader hibernates its group (no ticks, no heartbeats until traffic or
  // a suspicious peer wakes it). Saves CPU and network with many idle shards; 0 disables.
  // Default 30.
  int hibernate_after_ticks = 30;
  // Append requests in flight per follower (pipelining window). Larger hides more latency and
  // buffers more memory. Default 256; 1..65536.
  uint32_t max_inflight_appends = 256;
  // Soft cap on entry bytes in one append request (one entry is always sent). Must be below
  // limits.max_peer_message_bytes. Default 1 MiB.
  uint64_t max_append_bytes = 1 * kMiB;
  // Entry bytes a leader accepts beyond its commit index before refusing proposals (one proposal
  // is always accepted when nothing is uncommitted); bounds memory when followers lag. 0 = no
  // limit. Default 64 MiB.
  uint64_t max_uncommitted_bytes = 64 * kMiB;
  // Pre-vote (Raft thesis §9.6): a node returning from a partition cannot disrupt the group.
  // Costs one extra round trip per election. Default true.
  bool pre_vote = true;
  // Linearizable reads under a leader lease (thesis §6.4.1), skipping a heartbeat round per read;
  // relies on max_clock_drift_ppm. false = ReadIndex for every read. Default true.
  bool lease_reads = true;
  // Bound on the rate difference of two nodes' clocks, in parts per million; shortens the lease
  // accordingly. Default 50000 (5%); 0..499999.
  uint32_t max_clock_drift_ppm = 50'000;
  // Log entries kept beyond the applied index before the log is compacted behind a snapshot.
  // More keeps slow followers on cheap appends instead of snapshots, at the cost of disk.
  // Default 10000; 100..10,000,000.
  uint64_t snapshot_after_entries = 10'000;
  // A peer silent for this long is suspected down: hibernating groups it leads are woken so that
  // they can elect a new leader. Must exceed election_ticks * tick_ms. Not the placement
  // service's (longer) timeout for re-creating a dead node's replicas. Default 3000 ms.
  uint64_t node_dead_after_ms = 3000;
  // How often the leader of each shard starts a consistency check (server/README.md
  // "Consistency checks"): every replica hashes the shard at one Raft index and the leader
  // compares the hashes; a difference is logged as an error naming the minority replica and
  // counted in clawd_replica_hash_mismatches_total. Each check reads the whole shard once on
  // every replica (in the background). Checks of different shards are spread over the interval.
  // 0 = off. Default 1 h; 0..7 days.
  uint64_t consistency_check_interval_ms = 3'600'000;
  bool operator==(const RaftConfig&) const = default;
};

// RocksDB tuning; mirrors storage::StorageOptions (storage/options.h), which the server fills
// from it. config/ does not include storage/ headers.
struct StorageConfig {
  // O_DIRECT for reads, flushes and compactions: the block cache is the only cache. Falls back
  // to buffered I/O with a warning where the filesystem refuses O_DIRECT (tmpfs). Default true.
  bool direct_io = true;
  // Shared block cache; about a third of the memory left to clawd. Default 256 MiB; >= 8 MiB.
  uint64_t block_cache_bytes = 256 * kMiB;
  // Bloom filter bits per user key: 10 ~ 1% false positives, 0 disables. Default 10; 0..32.
  int bloom_bits_per_key = 10;
  // Memtable size per column family: larger batches flushes, costs memory and recovery time.
  // Default 64 MiB; >= 1 MiB.
  uint64_t write_buffer_bytes = 64 * kMiB;
  // Memtables per column family before writes stall. Default 4; 2..64.
  int max_write_buffers = 4;
  // Flush and compaction threads. Default 4; 1..256.
  int max_background_jobs = 4;
  // Flush and compaction write rate limit, bytes per second, so compaction cannot starve the
  // log's fsyncs on a shared disk. 0 = unlimited. Default 0.
  uint64_t compaction_rate_bytes_per_sec = 0;
  // Incremental sync of SST files while written (smooths fsync latency); 0 = off. Default 1 MiB.
  uint64_t bytes_per_sync = 1 * kMiB;
  // Incremental sync of WAL files while written; 0 = off. Default 512 KiB.
  uint64_t wal_bytes_per_sync = 512 * kKiB;
  // LZ4 on upper levels and ZSTD bottommost; false stores everything uncompressed (more disk,
  // less CPU). Default true.
  bool compression = true;
  // Writes wait (new client writes get NO_SPACE, leaders hand off) while the data directory's
  // file system has less free space than this: RocksDB cannot recover in-process from a WAL
  // write that hit ENOSPC, so clawd stops before the disk is really full. 0 = no check (a full
  // disk then stops the node). Default 128 MiB; 0..1 TiB.
  uint64_t min_free_bytes = 128 * kMiB;
  // MVCC history kept for watches (and other reads of the past): every replica garbage-collects,
  // every storage.mvcc_gc_interval_ms, the versions no read at or above now - retention can see.
  // A watch from a revision older than that fails with COMPACTED. Longer costs disk (every
  // overwritten or deleted value stays this long). Default 3600000 (1 h); 1000..30 days.
  uint64_t mvcc_retention_ms = 3'600'000;
  // How often the MVCC GC passes over the node's shards. Default 60000 (1 min); 100..1 day.
  uint64_t mvcc_gc_interval_ms = 60'000;
  bool operator==(const StorageConfig&) const = default;
};

// Request limits, checked by the front end before anything is proposed.
struct LimitsConfig {
  // Largest key. Default 4096; 1..65536.
  uint64_t max_key_bytes = 4096;
  // Largest value; max_key_bytes + max_value_bytes must fit in max_request_bytes. Default 1 MiB.
  uint64_t max_value_bytes = 1 * kMiB;
  // Largest request (and so largest Raft entry); with 64 KiB of framing it must stay below 95% of
  // max_peer_message_bytes. Default 4 MiB.
  uint64_t max_request_bytes = 4 * kMiB;
  // Operations in one Batch request. Default 1024.
  uint64_t max_batch_ops = 1024;
  // Operations in one Txn request (compares plus both branches). Default 128.
  uint64_t max_txn_ops = 128;
  // Largest page of one Scan; larger scans are streamed in pages. Default 10000.
  uint64_t max_scan_limit = 10'000;
  // Largest gRPC message between nodes; every Raft entry must fit in one. Default 64 MiB.
  uint64_t max_peer_message_bytes = 64 * kMiB;
  bool operator==(const LimitsConfig&) const = default;
};

struct KvConfig {
  // How long a write's idempotency id is remembered, so that a retry within it is applied once.
  // Longer tolerates longer client retry loops, costs memory (one record per write with an id:
  // about 100 B plus the result, so 60 s at 10k writes/s is ~100 MB). Default 60000 (1 min); >= 1000.
  uint64_t dedup_window_ms = 60'000;
  // Keys whose newest version header (version, create and mod timestamps, lease: not the value)
  // the node keeps in memory, all shards together, so that a put or delete needs no read of the
  // key first (server/key_header_cache.h). About 130 B per key: the default 262144 is ~32 MiB.
  // Size it to the keys written within a few seconds; 0 turns the cache off. Default 262144.
  uint64_t key_header_cache_keys = 262'144;
  // Largest staleness a follower (stale) read may request. Default 5000 ms.
  uint64_t max_staleness_ms = 5000;
  // Deadline applied to a request that carries none. Default 5000 ms.
  uint64_t default_deadline_ms = 5000;
  // Proposals pending per node before new requests get OVERLOADED. Default 10000.
  uint64_t max_pending_proposals = 10'000;
  // Request bytes pending per node before new requests get OVERLOADED. Default 64 MiB.
  uint64_t max_pending_bytes = 64 * kMiB;
  // Per watch stream, the events / bytes queued for a client that reads slower than the shard
  // changes; past either the stream ends with WATCH_FELL_BEHIND and the revision to resume from
  // (the C++ client resumes on its own). Defaults 10000 events, 16 MiB; >= 1, >= 1 KiB.
  uint64_t watch_max_queue_events = 10'000;
  uint64_t watch_max_queue_bytes = 16 * kMiB;
  bool operator==(const KvConfig&) const = default;
};

struct ShutdownConfig {
  // On SIGTERM, time spent transferring leaderships away and finishing in-flight requests before
  // the node closes regardless. Keep it below systemd's TimeoutStopSec. Default 10000 ms.
  uint64_t drain_timeout_ms = 10'000;
  bool operator==(const ShutdownConfig&) const = default;
};

// The placement service (run by the meta shard's leader) and every node's heartbeat to it.
struct PlacementConfig {
  // How often every node reports its load and the shards it leads to the placement service.
  // Shorter detects dead nodes and imbalance sooner, at one small RPC per node per interval.
  // Default 1000 ms; 50..60000.
  uint64_t heartbeat_interval_ms = 1000;
  // A node whose heartbeats stopped this long is dead: its replicas are re-created elsewhere.
  // Long enough to ride out a reboot or a short partition without moving data (production: the
  // default 5 min); tests use seconds. Default 300000 ms; 1000..86400000, > 3 heartbeat intervals.
  uint64_t node_dead_after_ms = 300'000;
  // A shard whose data grows past this many bytes is split at its middle key (approximate size,
  // all versions). Default 256 MiB (PD's region split size); 64KiB..1TiB.
  uint64_t split_bytes = 256ull << 20;
  // A shard serving more than this many requests per second at its leader is split. Default 3000
  // (PD); 1..10000000.
  uint64_t split_qps = 3000;
  // Placement operators that may involve one node at a time (each moves at most one snapshot into
  // or out of it), which bounds the snapshot traffic rebalancing puts on a node. Default 4; 1..64.
  uint64_t max_operators_per_node = 4;
  // Snapshot bytes a node sends per second, all peers together: re-replication and rebalancing
  // then leave disk and network to clients (CockroachDB's rebalance snapshot rate is 32 MiB/s).
  // A shard of S bytes takes S / rate to move. Default 64 MiB; 0 = unlimited; 0..1TiB.
  uint64_t snapshot_bytes_per_second = 64ull << 20;
  bool operator==(const PlacementConfig&) const = default;
};

struct LeaseConfig {
  // Shortest and longest TTL a lease may be granted with (claw.v1.Lease/Grant). A short TTL
  // notices a dead holder sooner, but below a few election timeouts a meta leader change can
  // outlast it. Defaults 1000 ms and 86400000 ms (1 day); 100..86400000 each, min <= max.
  uint64_t min_ttl_ms = 1000;
  uint64_t max_ttl_ms = 86'400'000;
  // How often the meta leader records every lease's remaining TTL through Raft, so that a new
  // leader continues leases from there instead of restarting their TTLs. Shorter loses less TTL
  // precision on failover (a lease may live up to one interval longer than its TTL after one), at
  // one meta shard command per interval. Default 5000 ms; 100..3600000.
  uint64_t checkpoint_interval_ms = 5000;
  bool operator==(const LeaseConfig&) const = default;
};

struct CheckpointConfig {
  // Named checkpoints (claw.v1.Checkpoint). Retention of a checkpoint created without one, and
  // the longest any may have. Defaults 60000 ms and 31536000000 ms (365 days); default <= max.
  uint64_t default_retention_ms = 60'000;
  uint64_t max_retention_ms = 31'536'000'000;
  // Largest max_size (sum of a checkpoint's section data) a checkpoint may be created with, and
  // its default. Default 64MiB; 1KiB..64GiB.
  uint64_t max_checkpoint_bytes = 64ull << 20;
  // Most sections a checkpoint may be created with. Default 10000; 1..1000000.
  uint64_t max_sections = 10'000;
  // Largest section (one stored value): at most limits.max_value_bytes - 64. Default 1MiB - 4KiB.
  uint64_t max_section_bytes = (1u << 20) - 4096;
  // How often each node's cleanup loop visits the checkpoints of the shards it leads (retention,
  // expired sections, closes by session end). Default 1000 ms; 100..60000.
  uint64_t sweep_interval_ms = 1000;
  bool operator==(const CheckpointConfig&) const = default;
};

struct Config {
  // This node's name: 1..64 of [A-Za-z0-9._-]; must appear in initial_cluster. Default "n1".
  std::string name = "n1";
  // Directory of the node's RocksDB and identity files (created if missing).
  // Default "./clawd-data".
  std::string data_dir = "./clawd-data";
  // host:port of the client gRPC listener. Default "127.0.0.1:7379".
  std::string client_addr = "127.0.0.1:7379";
  // host:port of the peer (Raft transport) listener. Must equal this node's address in
  // initial_cluster, or bind a wildcard host (0.0.0.0, [::]) on the same port; when it is set
  // nowhere, it is taken from initial_cluster. Default "127.0.0.1:7380".
  std::string peer_addr = "127.0.0.1:7380";
  // host:port of the HTTP listener (/metrics, /healthz, /readyz). Default "127.0.0.1:7381".
  std::string http_addr = "127.0.0.1:7381";
  // Client address other nodes hand out to clients (NOT_LEADER hints). Empty = client_addr;
  // must be set when client_addr binds a wildcard host. Load always fills it.
  std::string advertise_client_addr{};
  // The voters of the cluster when it is first created, "n1=host:port,n2=host:port"; node ids are
  // the 1-based positions. Empty = this node alone (name=peer_addr); Load always fills it.
  // 1..64 members, unique names and addresses.
  std::vector<Member> initial_cluster{};
  // Client addresses (host:port) of members of a running cluster: a node started with join and
  // an empty data directory asks the placement service there for a node id and joins; once
  // joined it uses them only as heartbeat seeds. Excludes initial_cluster. Default empty.
  std::vector<std::string> join{};
  // Peer address this node hands to the cluster when it joins. Empty = peer_addr; must be set
  // when peer_addr binds a wildcard host. Only with join (initial_cluster names the addresses
  // otherwise). Load fills it for joining nodes.
  std::string advertise_peer_addr{};
  // Shards the key space is pre-split into when the cluster is first created; ignored after.
  // More shards spread load over more Raft groups from the start. Default 16; 1..16384 (pre-split at two-byte boundaries, at least 4 apart).
  int shards = 16;
  // Placement labels: replicas of a shard are spread over zones, then racks, then hosts.
  // Each 0..64 of [A-Za-z0-9._-]; empty = unknown. An empty host means the machine's hostname,
  // which the server looks up (config/ does no I/O beyond reading the file). Default "".
  std::string zone{};
  std::string rack{};
  std::string host{};
  // Disk bytes this node offers: the placement service balances replicas and bytes in
  // proportion to it and sends no replica to a node whose use would pass 95% of it. 0 = the size
  // of the file system holding data_dir (looked up by the server). Set it when several nodes share
  // a file system or only part of a disk is for clawd. Default 0; 0..1024TiB.
  uint64_t capacity = 0;
  // Log verbosity. Default info.
  LogLevel log_level = LogLevel::kInfo;

  RaftConfig raft{};
  StorageConfig storage{};
  LimitsConfig limits{};
  KvConfig kv{};
  ShutdownConfig shutdown{};
  PlacementConfig placement{};
  LeaseConfig lease{};
  CheckpointConfig checkpoint{};

  bool operator==(const Config&) const = default;
};

}  // namespace claw::config
