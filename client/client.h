// Client: the C++ client of a clawd cluster. Applications open one per process (or per set of
// seeds) and share it between threads.
//
//   auto client = claw::client::Client::Open({.endpoints = {"10.0.0.1:7379", "10.0.0.2:7379"}});
//   if (!client) { log(client.error().ToString()); return; }
//   auto put = (*client)->Put("user/42", "alice");
//   auto got = (*client)->Get("user/42");  // Result<std::optional<KeyValue>>
//
// Routing: the client keeps a cache of shard descriptors (from Cluster.ListShards on a seed,
// loaded on first use) and sends every request to the leader of the shard owning its key, with
// the shard's id and epoch in the header. It follows NOT_LEADER hints at once, replaces stale
// descriptors from EPOCH_MISMATCH / KEY_OUT_OF_RANGE details, and backs off (exponential, full
// jitter, 20 ms .. 1 s by default) on OVERLOADED and UNAVAILABLE, always within the call's
// deadline (CallOptions::deadline, default 5 s). TOO_LARGE, INVALID_ARGUMENT and NO_SPACE fail at
// once. Every write carries a request id (16 random bytes per client + an 8-byte counter) reused
// by its retries, so that the server applies it once; reads retry freely.
//
// Multi-shard operations: DeleteRange and Scan walk the shards of their range one after the
// other; Batch splits its operations by shard and sends one atomic sub-batch per shard, all at
// once (no order between shards) — the whole batch is NOT atomic across shards. Txn must stay in
// one shard.
//
// Errors: std::expected<T, Error> (client/errors.h). Error::definite says whether a failed write
// certainly had no effect.
//
// Thread-safety: every method may be called from any number of threads at once.
// Asynchronous calls: GetAsync, PutAsync, DeleteAsync and BatchAsync (each per-shard part) send
// their first attempt at once over the node's Multiplex stream (ClientOptions::multiplex)
// without a thread per call; the callback then runs on the client's thread reading that node's
// answers, so it must be short (that node's other answers wait meanwhile) and may start further
// calls (a blocking call made there goes as a unary RPC, not waiting for its own thread). Any other case (no cached route, a request over 256 KiB, a failed first attempt to
// retry, multiplex off) runs the blocking call on an internal pool
// (ClientOptions::async_threads threads) and calls back there.
// Callbacks never run on the thread that started the call and must not destroy the Client.
// Lifecycle: Open -> calls -> destroy. The destructor waits for the async calls to finish
// (each ends by its deadline at the latest).
//
// This header includes no protobuf or gRPC headers (pimpl).
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/errors.h"
#include "client/types.h"
#include "client/watcher.h"

namespace claw::client {

template <typename T>
using Result = std::expected<T, Error>;

// The smallest key greater than every key starting with `prefix` (for prefix scans and deletes):
// the prefix with its last byte below 0xff incremented and the rest dropped; empty (= the end of
// the key space) when the prefix is empty or all 0xff.
std::string PrefixEnd(std::string_view prefix);

class Client {
 public:
  // Checks the options (at least one endpoint) and creates the client. Does not contact the
  // cluster: the first call loads the routes (and fails if no endpoint answers in time).
  [[nodiscard]] static Result<std::unique_ptr<Client>> Open(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- single keys ---
  // The key's value, or nullopt when it does not exist.
  [[nodiscard]] Result<std::optional<KeyValue>> Get(std::string_view key,
                                                    const CallOptions& options = {});
  [[nodiscard]] Result<PutResult> Put(std::string_view key, std::string_view value,
                                      const CallOptions& options = {});
  [[nodiscard]] Result<DeleteResult> Delete(std::string_view key, const CallOptions& options = {});

  // --- ranges ---
  // Deletes every key in [start, end); empty end = the end of the key space. Shard by shard,
  // each shard's part atomically; on failure, parts already done stay done. Returns the count.
  [[nodiscard]] Result<uint64_t> DeleteRange(std::string_view start, std::string_view end,
                                             const CallOptions& options = {});
  // The live keys of [start, end) (empty start / end = the start / end of the key space), in
  // order (descending with scan.reverse), across shards, at most scan.limit of them.
  [[nodiscard]] Result<ScanResult> Scan(std::string_view start, std::string_view end,
                                        const ScanOptions& scan = {},
                                        const CallOptions& options = {});
  // The same, handing each key to `visit` as it arrives instead of collecting them; `visit`
  // returns false to stop early. Returns whether keys may remain (see ScanResult::more).
  [[nodiscard]] Result<bool> ScanEach(std::string_view start, std::string_view end,
                                      const ScanOptions& scan,
                                      const std::function<bool(const KeyValue&)>& visit,
                                      const CallOptions& options = {});

  // --- watches ---
  // Streams the changes of [start, end) (empty end = the end of the key space; a single key:
  // end = key + '\0'; a prefix: end = PrefixEnd(prefix)) to `on_update`, across shards, from
  // options.start_revision (exclusive; 0 = now), resuming on its own across leader changes, node
  // deaths and splits without skipping or repeating an event (client/watcher.h). Runs until the
  // returned Watcher is cancelled or destroyed (before the Client), or fails for good
  // (Watcher::Wait: COMPACTED, INVALID_ARGUMENT, ...). kInvalidArgument at once when end is set
  // and not after start.
  [[nodiscard]] Result<std::unique_ptr<Watcher>> Watch(std::string_view start, std::string_view end,
                                                       const WatchOptions& options,
                                                       std::function<void(const WatchUpdate&)> on_update);

  // --- many operations ---
  // Results in the order of `ops`. Atomic per shard only (see the header comment). Op
  // kDeleteRange here keeps the wire meaning: empty end_key = the end of the start key's shard,
  // and its range must lie within one shard. The sub-batches go out together, so one shard's
  // failure does not stop the others: on failure Error::definite is false when some sub-batch
  // was applied.
  [[nodiscard]] Result<std::vector<OpResult>> Batch(const std::vector<Op>& ops,
                                                    const CallOptions& options = {});
  // If every compare holds, runs `success`, else `failure`, atomically. Every key must lie in
  // one shard (INVALID_ARGUMENT otherwise).
  [[nodiscard]] Result<TxnResult> Txn(const std::vector<Compare>& compares,
                                      const std::vector<Op>& success,
                                      const std::vector<Op>& failure,
                                      const CallOptions& options = {});

  // --- asynchronous forms (threads: see the header comment) ---
  std::future<Result<std::optional<KeyValue>>> GetAsync(std::string key, CallOptions options = {});
  std::future<Result<PutResult>> PutAsync(std::string key, std::string value,
                                          CallOptions options = {});
  std::future<Result<DeleteResult>> DeleteAsync(std::string key, CallOptions options = {});
  std::future<Result<std::vector<OpResult>>> BatchAsync(std::vector<Op> ops,
                                                        CallOptions options = {});
  void GetAsync(std::string key, CallOptions options,
                std::function<void(Result<std::optional<KeyValue>>)> done);
  void PutAsync(std::string key, std::string value, CallOptions options,
                std::function<void(Result<PutResult>)> done);
  void DeleteAsync(std::string key, CallOptions options,
                   std::function<void(Result<DeleteResult>)> done);
  void BatchAsync(std::vector<Op> ops, CallOptions options,
                  std::function<void(Result<std::vector<OpResult>>)> done);

  // --- cluster information (for clawctl and tools) ---
  // Cluster.Status of the node at `endpoint` ("host:port"), not necessarily a seed. No retries.
  [[nodiscard]] Result<NodeStatus> Status(const std::string& endpoint,
                                          const CallOptions& options = {});
  // Connects to every seed endpoint at once and returns the first one connected within
  // `timeout`, or kUnavailable (naming the endpoints) when none is. Calls made afterwards reuse
  // the connections. Calls connect on their own, so this is optional: it tells "cannot connect"
  // apart from a slow or failing cluster (clawctl's --dial-timeout). No retries after `timeout`.
  [[nodiscard]] Result<std::string> WaitForConnection(std::chrono::milliseconds timeout);
  // The shard directory from the first endpoint that answers; also reloads the route cache.
  [[nodiscard]] Result<std::vector<ShardInfo>> ListShards(const CallOptions& options = {});
  // The cluster's nodes from the first endpoint that answers.
  [[nodiscard]] Result<std::vector<MemberInfo>> ListMembers(const CallOptions& options = {});
  // The routes the client currently caches (may be empty or stale).
  [[nodiscard]] std::vector<ShardInfo> CachedRoutes() const;

  const ClientOptions& options() const;

  // Internal to client/: the routing and retry engine, shared with CheckpointClient
  // (client/checkpoint.h), whose calls route like KV calls.
  Dispatcher& dispatcher();

 private:
  class Impl;
  explicit Client(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace claw::client
