#include "config/keys.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "config/values.h"

// Each row's accessor: a captureless lambda returning a pointer to the field.
#define CLAW_FIELD(member) [](Config& c) -> FieldRef { return &c.member; }

namespace claw::config {
namespace {

constexpr uint64_t kTiB = kGiB * kKiB;
constexpr uint64_t kHourMs = 3'600'000;
constexpr uint64_t kDayMs = 24 * kHourMs;
using K = KeyKind;

// clang-format off
const KeySpec kKeys[] = {
  {"name", K::kName, 0, 0, "This node's name; must appear in initial_cluster.", CLAW_FIELD(name)},
  {"data_dir", K::kPath, 0, 0, "Directory of the node's RocksDB and identity files.",
   CLAW_FIELD(data_dir)},
  {"client_addr", K::kAddr, 0, 0, "host:port of the client gRPC listener.",
   CLAW_FIELD(client_addr)},
  {"peer_addr", K::kAddr, 0, 0,
   "host:port of the Raft peer listener; taken from initial_cluster when set nowhere.",
   CLAW_FIELD(peer_addr)},
  {"http_addr", K::kAddr, 0, 0, "host:port of the /metrics, /healthz, /readyz listener.",
   CLAW_FIELD(http_addr)},
  {"advertise_client_addr", K::kOptionalAddr, 0, 0,
   "Client address handed out to clients; empty = client_addr.",
   CLAW_FIELD(advertise_client_addr)},
  {"initial_cluster", K::kCluster, 0, 0,
   "Voters at cluster creation, name=host:port,...; ids are positions; empty = this node alone.",
   CLAW_FIELD(initial_cluster)},
  {"join", K::kAddrList, 0, 0,
   "Client addresses of members of a running cluster to join (instead of initial_cluster).",
   CLAW_FIELD(join)},
  {"advertise_peer_addr", K::kOptionalAddr, 0, 0,
   "Peer address a joining node hands to the cluster; empty = peer_addr.",
   CLAW_FIELD(advertise_peer_addr)},
  {"shards", K::kCount, 1, 16384, "Shards the key space is pre-split into at cluster creation.",
   CLAW_FIELD(shards)},
  {"zone", K::kLabel, 0, 0, "Placement label: zone of this node.", CLAW_FIELD(zone)},
  {"rack", K::kLabel, 0, 0, "Placement label: rack of this node.", CLAW_FIELD(rack)},
  {"host", K::kLabel, 0, 0, "Placement label: host of this node; empty = the hostname.",
   CLAW_FIELD(host)},
  {"capacity", K::kBytes, 0, 1024 * kTiB,
   "Disk bytes this node offers to placement; 0 = the size of data_dir's file system.", CLAW_FIELD(capacity)},
  {"log_level", K::kLogLevel, 0, 0, "trace, debug, info, warn, error, critical or off.",
   CLAW_FIELD(log_level)},

  {"raft.tick_ms", K::kMillis, 10, 10'000, "Length of one Raft tick.", CLAW_FIELD(raft.tick_ms)},
  {"raft.election_ticks", K::kCount, 3, 1000, "Ticks without a leader before a follower campaigns.",
   CLAW_FIELD(raft.election_ticks)},
  {"raft.heartbeat_ticks", K::kCount, 1, 1000,
   "Ticks between leader heartbeats; below election_ticks.", CLAW_FIELD(raft.heartbeat_ticks)},
  {"raft.workers", K::kCount, 0, 256, "Raft worker threads; 0 = one per core.",
   CLAW_FIELD(raft.workers)},
  {"raft.hibernate_after_ticks", K::kCount, 0, 1'000'000,
   "Idle ticks before a group hibernates; 0 disables.", CLAW_FIELD(raft.hibernate_after_ticks)},
  {"raft.max_inflight_appends", K::kCount, 1, 65'536, "Append requests in flight per follower.",
   CLAW_FIELD(raft.max_inflight_appends)},
  {"raft.max_append_bytes", K::kBytes, kKiB, kGiB, "Soft cap on entry bytes per append request.",
   CLAW_FIELD(raft.max_append_bytes)},
  {"raft.max_uncommitted_bytes", K::kBytes, 0, kTiB,
   "Uncommitted bytes before a leader refuses proposals; 0 = no limit.",
   CLAW_FIELD(raft.max_uncommitted_bytes)},
  {"raft.pre_vote", K::kBool, 0, 0, "Pre-vote before elections (no disruption by returning nodes).",
   CLAW_FIELD(raft.pre_vote)},
  {"raft.lease_reads", K::kBool, 0, 0, "Serve linearizable reads under a leader lease.",
   CLAW_FIELD(raft.lease_reads)},
  {"raft.max_clock_drift_ppm", K::kCount, 0, 499'999,
   "Bound on clock rate difference between nodes, ppm; shortens the lease.",
   CLAW_FIELD(raft.max_clock_drift_ppm)},
  {"raft.snapshot_after_entries", K::kCount, 100, 10'000'000,
   "Log entries kept beyond the applied index before compaction.",
   CLAW_FIELD(raft.snapshot_after_entries)},
  {"raft.node_dead_after_ms", K::kMillis, 1, kDayMs,
   "Silence after which a peer is suspected down; above election_ticks * tick_ms.",
   CLAW_FIELD(raft.node_dead_after_ms)},
  {"raft.consistency_check_interval_ms", K::kMillis, 0, 7 * kDayMs,
   "How often a leader checks each shard it leads for replica divergence; 0 disables.",
   CLAW_FIELD(raft.consistency_check_interval_ms)},

  {"storage.direct_io", K::kBool, 0, 0, "O_DIRECT reads, flushes and compactions.",
   CLAW_FIELD(storage.direct_io)},
  {"storage.block_cache_bytes", K::kBytes, 8 * kMiB, kTiB, "Shared RocksDB block cache.",
   CLAW_FIELD(storage.block_cache_bytes)},
  {"storage.bloom_bits_per_key", K::kCount, 0, 32, "Bloom filter bits per user key; 0 disables.",
   CLAW_FIELD(storage.bloom_bits_per_key)},
  {"storage.write_buffer_bytes", K::kBytes, kMiB, 4 * kGiB, "Memtable size per column family.",
   CLAW_FIELD(storage.write_buffer_bytes)},
  {"storage.max_write_buffers", K::kCount, 2, 64, "Memtables per column family before stalls.",
   CLAW_FIELD(storage.max_write_buffers)},
  {"storage.max_background_jobs", K::kCount, 1, 256, "Flush and compaction threads.",
   CLAW_FIELD(storage.max_background_jobs)},
  {"storage.compaction_rate_bytes_per_sec", K::kBytes, 0, kTiB,
   "Flush/compaction write rate limit per second; 0 = unlimited.",
   CLAW_FIELD(storage.compaction_rate_bytes_per_sec)},
  {"storage.bytes_per_sync", K::kBytes, 0, kGiB, "Incremental sync of SST files; 0 = off.",
   CLAW_FIELD(storage.bytes_per_sync)},
  {"storage.wal_bytes_per_sync", K::kBytes, 0, kGiB, "Incremental sync of WAL files; 0 = off.",
   CLAW_FIELD(storage.wal_bytes_per_sync)},
  {"storage.compression", K::kBool, 0, 0, "LZ4 upper levels, ZSTD bottommost.",
   CLAW_FIELD(storage.compression)},
  {"storage.min_free_bytes", K::kBytes, 0, kTiB,
   "Writes wait while the data disk has less free space; 0 = no check.",
   CLAW_FIELD(storage.min_free_bytes)},
  {"storage.mvcc_retention_ms", K::kMillis, 1000, 30 * kDayMs,
   "MVCC history kept for watches; older versions are garbage-collected.",
   CLAW_FIELD(storage.mvcc_retention_ms)},
  {"storage.mvcc_gc_interval_ms", K::kMillis, 100, kDayMs, "How often MVCC GC runs over the node's shards.",
   CLAW_FIELD(storage.mvcc_gc_interval_ms)},

  {"limits.max_key_bytes", K::kBytes, 1, 64 * kKiB, "Largest key.",
   CLAW_FIELD(limits.max_key_bytes)},
  {"limits.max_value_bytes", K::kBytes, 1, kGiB, "Largest value.",
   CLAW_FIELD(limits.max_value_bytes)},
  {"limits.max_request_bytes", K::kBytes, kKiB, kGiB,
   "Largest request; holds the largest key plus value.", CLAW_FIELD(limits.max_request_bytes)},
  {"limits.max_batch_ops", K::kCount, 1, 100'000, "Operations in one Batch request.",
   CLAW_FIELD(limits.max_batch_ops)},
  {"limits.max_txn_ops", K::kCount, 1, 10'000, "Operations in one Txn request.",
   CLAW_FIELD(limits.max_txn_ops)},
  {"limits.max_scan_limit", K::kCount, 1, 10'000'000, "Largest page of one Scan.",
   CLAW_FIELD(limits.max_scan_limit)},
  {"limits.max_peer_message_bytes", K::kBytes, kMiB, 2 * kGiB - 1,
   "Largest message between nodes; every Raft entry must fit.",
   CLAW_FIELD(limits.max_peer_message_bytes)},

  {"kv.dedup_window_ms", K::kMillis, 1000, 7 * kDayMs,
   "How long a write's idempotency id is remembered.", CLAW_FIELD(kv.dedup_window_ms)},
  {"kv.key_header_cache_keys", K::kCount, 0, 1'000'000'000,
   "Keys whose newest version header the node keeps in memory for writes; 0 disables.",
   CLAW_FIELD(kv.key_header_cache_keys)},
  {"kv.max_staleness_ms", K::kMillis, 0, kDayMs, "Largest staleness a follower read may ask for.",
   CLAW_FIELD(kv.max_staleness_ms)},
  {"kv.default_deadline_ms", K::kMillis, 1, kHourMs, "Deadline of a request that carries none.",
   CLAW_FIELD(kv.default_deadline_ms)},
  {"kv.max_pending_proposals", K::kCount, 1, 10'000'000,
   "Pending proposals per node before OVERLOADED.", CLAW_FIELD(kv.max_pending_proposals)},
  {"kv.max_pending_bytes", K::kBytes, kMiB, kTiB, "Pending request bytes per node before OVERLOADED.",
   CLAW_FIELD(kv.max_pending_bytes)},
  {"kv.watch_max_queue_events", K::kCount, 1, 10'000'000,
   "Events queued per watch stream before it ends with WATCH_FELL_BEHIND.", CLAW_FIELD(kv.watch_max_queue_events)},
  {"kv.watch_max_queue_bytes", K::kBytes, kKiB, kGiB,
   "Bytes queued per watch stream before it ends with WATCH_FELL_BEHIND.", CLAW_FIELD(kv.watch_max_queue_bytes)},

  {"shutdown.drain_timeout_ms", K::kMillis, 0, kHourMs,
   "On SIGTERM, time to move leaders away and drain before closing.",
   CLAW_FIELD(shutdown.drain_timeout_ms)},

  {"placement.heartbeat_interval_ms", K::kMillis, 50, 60'000,
   "How often each node reports load and led shards to the placement service.",
   CLAW_FIELD(placement.heartbeat_interval_ms)},
  {"placement.node_dead_after_ms", K::kMillis, 1000, kDayMs,
   "Heartbeat silence after which a node is dead and its replicas are re-created elsewhere.",
   CLAW_FIELD(placement.node_dead_after_ms)},
  {"placement.split_bytes", K::kBytes, 64 * kKiB, kTiB, "A shard larger than this is split at its middle key.",
   CLAW_FIELD(placement.split_bytes)},
  {"placement.split_qps", K::kCount, 1, 10'000'000, "A shard serving more requests per second is split.",
   CLAW_FIELD(placement.split_qps)},
  {"placement.max_operators_per_node", K::kCount, 1, 64,
   "Placement operators (and so snapshots) involving one node at a time.",
   CLAW_FIELD(placement.max_operators_per_node)},
  {"placement.snapshot_bytes_per_second", K::kBytes, 0, kTiB,
   "Snapshot bytes a node sends per second (re-replication, rebalancing); 0 = unlimited.",
   CLAW_FIELD(placement.snapshot_bytes_per_second)},

  {"lease.min_ttl_ms", K::kMillis, 100, kDayMs, "Shortest TTL a lease may be granted with.",
   CLAW_FIELD(lease.min_ttl_ms)},
  {"lease.max_ttl_ms", K::kMillis, 100, kDayMs, "Longest TTL a lease may be granted with.",
   CLAW_FIELD(lease.max_ttl_ms)},
  {"lease.checkpoint_interval_ms", K::kMillis, 100, kHourMs,
   "How often the meta leader records remaining lease TTLs through Raft (failover precision).",
   CLAW_FIELD(lease.checkpoint_interval_ms)},

  {"checkpoint.default_retention_ms", K::kMillis, 0, 365 * kDayMs,
   "Retention of a checkpoint created without one (after its last handle closes).",
   CLAW_FIELD(checkpoint.default_retention_ms)},
  {"checkpoint.max_retention_ms", K::kMillis, 0, 365 * kDayMs, "Longest retention a checkpoint may have.",
   CLAW_FIELD(checkpoint.max_retention_ms)},
  {"checkpoint.max_checkpoint_bytes", K::kBytes, kKiB, 64 * kGiB,
   "Largest (and default) max_size of a checkpoint: the sum of its sections' data.",
   CLAW_FIELD(checkpoint.max_checkpoint_bytes)},
  {"checkpoint.max_sections", K::kCount, 1, 1'000'000, "Most sections a checkpoint may be created with.",
   CLAW_FIELD(checkpoint.max_sections)},
  {"checkpoint.max_section_bytes", K::kBytes, 1, kGiB,
   "Largest section of a checkpoint (at most limits.max_value_bytes - 64).",
   CLAW_FIELD(checkpoint.max_section_bytes)},
  {"checkpoint.sweep_interval_ms", K::kMillis, 100, 60'000,
   "How often a node cleans up the checkpoints of the shards it leads.",
   CLAW_FIELD(checkpoint.sweep_interval_ms)},
};
// clang-format on

constexpr std::array<std::string_view, 8> kSections = {"raft",      "storage", "limits", "kv",
                                                       "shutdown",  "placement", "lease", "checkpoint"};

std::string Transform(std::string_view path, char sep, bool upper) {
  std::string out;
  for (char c : path) {
    if (c == '.' || c == '_') {
      out += sep;
    } else {
      out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    }
  }
  return out;
}

std::optional<std::string> CheckRange(const KeySpec& key, uint64_t value) {
  if (value >= key.min && value <= key.max) return std::nullopt;
  if (key.kind == KeyKind::kBytes) {
    return "must be between " + FormatBytes(key.min) + " and " + FormatBytes(key.max) + " (" +
           std::to_string(key.min) + ".." + std::to_string(key.max) + " bytes), got " +
           std::to_string(value);
  }
  const std::string unit = key.kind == KeyKind::kMillis ? " ms" : "";
  return "must be in [" + std::to_string(key.min) + ", " + std::to_string(key.max) + "]" + unit +
         ", got " + std::to_string(value) + unit;
}

std::optional<std::string> SetNumber(const KeySpec& key, std::string_view text, Config& config) {
  const auto value = key.kind == KeyKind::kBytes    ? ParseBytes(text)
                     : key.kind == KeyKind::kMillis ? ParseMillis(text)
                                                    : ParseUint(text);
  if (!value) return value.error();
  if (auto error = CheckRange(key, *value)) return error;
  std::visit(
      [&](auto* field) {
        using T = std::remove_pointer_t<decltype(field)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          *field = static_cast<T>(*value);
        }
      },
      key.field(config));
  return std::nullopt;
}

template <typename T>
std::optional<std::string> Store(const KeySpec& key, Config& config,
                                 std::expected<T, std::string> value) {
  if (!value) return value.error();
  *std::get<T*>(key.field(config)) = std::move(*value);
  return std::nullopt;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The last component of a path, flag or variable name: "election_ticks" of "raft.election_ticks".
std::string_view LastWord(std::string_view s) {
  const size_t sep = s.find_last_of('.');
  return sep == std::string_view::npos ? s : s.substr(sep + 1);
}

}  // namespace

std::span<const KeySpec> AllKeys() { return kKeys; }
std::span<const std::string_view> Sections() { return kSections; }

const KeySpec* FindKey(std::string_view path) {
  for (const KeySpec& key : kKeys) {
    if (key.path == path) return &key;
  }
  return nullptr;
}

const KeySpec* FindKeyByFlag(std::string_view flag) {
  for (const KeySpec& key : kKeys) {
    if (Transform(key.path, '-', false) == flag) return &key;
  }
  return nullptr;
}

const KeySpec* FindKeyByEnv(std::string_view env) {
  for (const KeySpec& key : kKeys) {
    if (EnvName(key) == env) return &key;
  }
  return nullptr;
}

std::string FlagName(const KeySpec& key) { return "--" + Transform(key.path, '-', false); }
std::string EnvName(const KeySpec& key) { return "CLAWD_" + Transform(key.path, '_', true); }

std::optional<std::string> SetFromText(const KeySpec& key, std::string_view text,
                                       Config& config) {
  switch (key.kind) {
    case KeyKind::kPath:
      if (text.empty()) return std::string("must not be empty");
      return Store<std::string>(key, config, std::string(text));
    case KeyKind::kName:
      return Store(key, config, ParseLabel(text, 1));
    case KeyKind::kLabel:
      return Store(key, config, ParseLabel(text, 0));
    case KeyKind::kAddr:
      return Store(key, config, ParseHostPort(text));
    case KeyKind::kOptionalAddr:
      if (text.empty()) return Store<std::string>(key, config, std::string());
      return Store(key, config, ParseHostPort(text));
    case KeyKind::kCluster:
      return Store(key, config, ParseInitialCluster(text));
    case KeyKind::kAddrList:
      return Store(key, config, ParseAddrList(text));
    case KeyKind::kLogLevel:
      return Store(key, config, ParseLogLevel(text));
    case KeyKind::kBool:
      return Store(key, config, ParseBool(text));
    case KeyKind::kCount:
    case KeyKind::kBytes:
    case KeyKind::kMillis:
      return SetNumber(key, text, config);
  }
  return std::string("unhandled key kind");
}

std::string ValueText(const KeySpec& key, const Config& config) {
  Config copy = config;  // the accessors take a mutable Config
  return std::visit(
      [&](auto* field) -> std::string {
        using T = std::remove_pointer_t<decltype(field)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return *field;
        } else if constexpr (std::is_same_v<T, std::vector<Member>>) {
          return FormatInitialCluster(*field);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out;
          for (const std::string& a : *field) out += (out.empty() ? "" : ",") + a;
          return out;
        } else if constexpr (std::is_same_v<T, LogLevel>) {
          return std::string(LogLevelName(*field));
        } else if constexpr (std::is_same_v<T, bool>) {
          return *field ? "true" : "false";
        } else {
          const uint64_t v = static_cast<uint64_t>(*field);
          return key.kind == KeyKind::kBytes ? FormatBytes(v) : std::to_string(v);
        }
      },
      key.field(copy));
}

std::string Suggest(std::string_view word, std::span<const std::string> candidates) {
  const std::string* best = nullptr;
  size_t best_distance = SIZE_MAX;
  for (const std::string& candidate : candidates) {
    size_t d = EditDistance(word, candidate);
    // A key placed in the wrong section ("tick_ms" for "raft.tick_ms") is a near miss too.
    if (LastWord(candidate) == LastWord(word) && LastWord(candidate) != candidate) d = 1;
    // Allow about one edit per three characters of the part that differs, so that a shared
    // prefix such as "CLAWD_" does not make unrelated names look close.
    size_t common = 0;
    while (common < word.size() && common < candidate.size() && word[common] == candidate[common]) {
      ++common;
    }
    const size_t allowed = std::max<size_t>(1, (word.size() - common) / 3);
    if (d <= allowed && d < best_distance) {
      best = &candidate;
      best_distance = d;
    }
  }
  return best == nullptr ? std::string() : "did you mean " + *best + "?";
}

}  // namespace claw::config
