// Plain value types of the C++ client API: options, keys and values, shard routes, members, and
// the operations of Batch and Txn. No protobuf or gRPC types appear here, so that code including
// client/client.h does not pull in generated headers (they dominate build time).
//
// Ownership: every type is a value; copy or move freely. Thread-safety: none needed (values).
// Keys and values are arbitrary byte strings held in std::string; keys order bytewise.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace claw::client {

// How fresh a read must be (claw.v1.ReadConsistency).
enum class Consistency : uint8_t {
  kLinearizable,  // reflects every write acknowledged before the read started; served by leaders
  kStale,         // any replica that heard from its leader within CallOptions::max_staleness_ms
};

// When a write is acknowledged (claw.v1.WriteDurability).
enum class Durability : uint8_t {
  kQuorum,  // durable on a majority of the shard's voters and applied by the leader
  kLeader,  // durable on the leader only: may be lost with the leader's node (see kv.proto)
};

// Options of one call. The default is a linearizable read / quorum write with the client's
// default deadline.
struct CallOptions {
  Consistency consistency = Consistency::kLinearizable;
  Durability durability = Durability::kQuorum;
  // Total time for the call, retries included; 0 = ClientOptions::default_deadline.
  std::chrono::milliseconds deadline{0};
  // Ask a node that does not lead the shard to forward the call (one hop) instead of answering
  // NOT_LEADER. The client follows NOT_LEADER hints anyway; forwarding saves a round trip when
  // routes are cold.
  bool forward = false;
  // For kStale reads: oldest acceptable state in milliseconds; 0 = the server's default.
  uint64_t max_staleness_ms = 0;
  // Put and Delete: also return the key's previous value.
  bool prev_kv = false;
  // Put: attach the key to this lease (client/lease.h); 0 = none.
  uint64_t lease = 0;
};

// Options of a Client, fixed at Open.
struct ClientOptions {
  // Seed endpoints "host:port". At least one; the client learns the rest from the cluster.
  std::vector<std::string> endpoints{};
  // Deadline of a call whose CallOptions::deadline is 0.
  std::chrono::milliseconds default_deadline{5000};
  // Retry back-off: full jitter over min(backoff_max, backoff_base * 2^attempt).
  std::chrono::milliseconds backoff_base{20};
  std::chrono::milliseconds backoff_max{1000};
  // Threads running the async calls that cannot go out at once over a Multiplex stream, and the
  // retries of those that failed there (each thread runs one blocking call at a time, back-off
  // sleeps included): as many as calls expected to retry at once, e.g. during a failover.
  size_t async_threads = 4;
  // Send Get, Put, Delete, Batch and Txn attempts over one claw.v1.KV.Multiplex stream per node,
  // where calls made at the same time share messages (client/multiplexer.h), instead of a unary
  // RPC each. Nodes without Multiplex get unary RPCs either way. Default on.
  bool multiplex = true;
  // Seed for request ids and back-off jitter; 0 = from std::random_device. Tests fix it.
  uint64_t seed = 0;
};

// One key's current value (claw.v1.KeyValue).
struct KeyValue {
  std::string key{};
  std::string value{};
  uint64_t version = 0;    // writes since the key was (re)created; 1 after the first Put
  uint64_t mod_ts = 0;     // HLC timestamp of the last write: the key's revision
  uint64_t create_ts = 0;  // HLC timestamp of the write that (re)created the key
  uint64_t lease = 0;      // the lease the key is attached to; 0 = none
};

// --- Watches (Client::Watch, client/watcher.h) ---

struct WatchOptions {
  // Events with revision (mod_ts) > start_revision; 0 = from now (each shard's current revision
  // when its stream registers).
  uint64_t start_revision = 0;
  // Events carry the key's previous value.
  bool prev_kv = false;
  // Ask each shard's stream for a progress notification at least this often while idle; 0 = only
  // the ones the server sends on its own (after each catch-up and with every batch of events).
  std::chrono::milliseconds progress_interval{0};
};

struct WatchEvent {
  enum class Type : uint8_t { kPut, kDelete };
  Type type = Type::kPut;
  // kPut: the new value (kv.mod_ts = the revision). kDelete: key and mod_ts (= revision) only.
  KeyValue kv{};
  // With WatchOptions::prev_kv: the value before this event, when the key existed.
  std::optional<KeyValue> prev{};
};

// What one shard's stream delivered: events of whole writes in revision order (may be empty),
// for keys in [start, end) (the part of the watched range one shard held when it was sent), and
// progress: no event of [start, end) with revision <= progress_revision will come any more.
struct WatchUpdate {
  std::string start{};
  std::string end{};
  std::vector<WatchEvent> events{};
  uint64_t progress_revision = 0;
};

struct PutResult {
  std::optional<KeyValue> prev{};  // with CallOptions::prev_kv, when the key existed
  uint64_t mod_ts = 0;             // 0 with Durability::kLeader
};

struct DeleteResult {
  uint64_t deleted = 0;            // 0 or 1 (always 0 with Durability::kLeader)
  std::optional<KeyValue> prev{};  // with CallOptions::prev_kv, when the key existed
};

struct ScanOptions {
  uint64_t limit = 0;  // most keys in total; 0 = no limit
  bool reverse = false;
  bool keys_only = false;
};

struct ScanResult {
  std::vector<KeyValue> kvs{};
  // The limit stopped the scan while keys may remain in the range.
  bool more = false;
};

// The version of a shard descriptor (claw.v1.Epoch); both counters only grow.
struct ShardEpoch {
  uint64_t conf_version = 0;
  uint64_t range_version = 0;
  friend bool operator==(const ShardEpoch&, const ShardEpoch&) = default;
};

struct ReplicaInfo {
  uint64_t node_id = 0;
  uint64_t replica_id = 0;
  bool learner = false;
};

// One shard and where to send its requests: range [start_key, end_key), empty end_key =
// +infinity. leader_node_id 0 / empty leader_address = leader unknown.
struct ShardInfo {
  uint64_t id = 0;
  std::string start_key{};
  std::string end_key{};
  ShardEpoch epoch{};
  std::vector<ReplicaInfo> replicas{};
  uint64_t leader_node_id = 0;
  std::string leader_address{};
};

// One node of the cluster (claw.v1.Member).
struct MemberInfo {
  uint64_t node_id = 0;
  std::string name{};
  std::string client_address{};
  std::string peer_address{};
  std::string zone{};
  std::string rack{};
  std::string host{};
  bool reachable = false;
};

// One replica hosted by a node (claw.v1.ReplicaStatus).
struct ReplicaStatusInfo {
  ShardInfo shard{};  // its leader fields are unset; see leader_node_id
  uint64_t term = 0;
  uint64_t leader_node_id = 0;
  bool is_leader = false;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_index = 0;
  bool hibernating = false;
};

// Cluster.Status of one node.
struct NodeStatus {
  std::string endpoint{};  // the address asked
  uint64_t node_id = 0;
  std::string name{};
  std::string version{};
  uint64_t cluster_id = 0;
  uint64_t uptime_seconds = 0;
  std::vector<ReplicaStatusInfo> replicas{};
};

// One operation of Batch or Txn. Build with the factory functions.
struct Op {
  enum class Type : uint8_t { kGet, kPut, kDelete, kDeleteRange };
  Type type = Type::kGet;
  std::string key{};      // kDeleteRange: the inclusive start
  std::string value{};    // kPut only
  std::string end_key{};  // kDeleteRange only: exclusive end; empty = end of the key's shard
  bool prev_kv = false;   // kPut, kDelete
  uint64_t lease = 0;     // kPut only: attach the key to this lease; 0 = none

  static Op Get(std::string key) { return Op{Type::kGet, std::move(key), {}, {}, false, 0}; }
  static Op Put(std::string key, std::string value, uint64_t lease = 0) {
    return Op{Type::kPut, std::move(key), std::move(value), {}, false, lease};
  }
  static Op Delete(std::string key) { return Op{Type::kDelete, std::move(key), {}, {}, false, 0}; }
  static Op DeleteRange(std::string start, std::string end) {
    return Op{Type::kDeleteRange, std::move(start), {}, std::move(end), false, 0};
  }
};

// The result of one Op, in the same position.
struct OpResult {
  Op::Type type = Op::Type::kGet;
  // kGet: the value when found. kPut / kDelete: the previous value when prev_kv and it existed.
  std::optional<KeyValue> kv{};
  uint64_t deleted = 0;  // kDelete, kDeleteRange
  uint64_t mod_ts = 0;   // kPut
};

// A condition of Txn on one key (claw.v1.Compare).
struct Compare {
  enum class Target : uint8_t { kValue, kVersion, kModTs, kExists };
  enum class Op : uint8_t { kEqual, kNotEqual, kLess, kGreater };
  std::string key{};
  Target target = Target::kValue;
  Op op = Op::kEqual;
  std::string value{};  // Target::kValue
  uint64_t number = 0;  // Target::kVersion, Target::kModTs
  bool exists = false;  // Target::kExists (with Op::kEqual: holds when existence == `exists`)
};

struct TxnResult {
  bool succeeded = false;         // every comparison held and the success branch ran
  std::vector<OpResult> results{};  // of the branch that ran
};

}  // namespace claw::client
