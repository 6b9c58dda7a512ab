// Dispatcher: the client's routing and retry engine, internal to client/. It owns the route cache,
// one gRPC channel (and KV / Cluster stubs) per node address, and the request-id generator, and
// runs one logical request as a loop of attempts:
//
//   route the request's key to a shard (refresh from Cluster.ListShards on a miss) -> pick the
//   node (leader, or any replica for stale reads) -> attempt -> on failure decode claw.v1.Error
//   and react (client/retry.h): follow a NOT_LEADER hint at once, merge fresh descriptors and
//   retry, back off with full jitter and try elsewhere, or give up
//
// until it succeeds, fails for good, or the call's deadline passes. The attempt callback builds
// the request from the Target it is given (shard id, epoch and header fields change between
// attempts; a write's request_id does not), so the same callback serves every retry.
//
// Thread-safety: every method may be called from many threads at once (the cache, channel map
// and counters are internally synchronized; gRPC stubs are thread-safe). Lifecycle: created by
// Client::Open, destroyed with the Client after its async threads have stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "claw/v1/checkpoint.grpc.pb.h"
#include "claw/v1/cluster.grpc.pb.h"
#include "claw/v1/kv.grpc.pb.h"
#include "client/errors.h"
#include "client/multiplexer.h"
#include "client/route_cache.h"
#include "client/types.h"

namespace claw::client {

class Dispatcher {
 public:
  using Clock = std::chrono::steady_clock;

  // Where one attempt goes, and the header it must send.
  struct Target {
    ShardInfo shard{};
    std::string address{};
    v1::KV::Stub* kv = nullptr;
    Multiplexer* mux = nullptr;  // the node's Multiplex stream; null when ClientOptions::multiplex is off
    v1::RequestHeader header{};  // shard_id, epoch, consistency, durability, request_id, ...
  };

  enum class Kind : uint8_t { kRead, kWrite };
  enum class RouteBy : uint8_t {
    kKey,     // the shard containing route_key
    kBefore,  // the shard holding the keys just below route_key (reverse scans)
  };

  // One logical request.
  struct Call {
    std::string route_key{};
    RouteBy route_by = RouteBy::kKey;
    Kind kind = Kind::kRead;
    CallOptions options{};
    Clock::time_point deadline{};
    // Writes: the idempotency token, the same on every attempt (NewRequestId()).
    std::string request_id{};
    // When set, checked against the routed shard before each attempt: false means the
    // request's keys no longer fit one shard (see Run's `keys_moved`).
    std::function<bool(const ShardInfo&)> fits{};
  };

  // Sends one attempt: builds the request from `target`, calls the stub with `context`, stores
  // the response where the caller wants it, and returns the call's status.
  using Attempt = std::function<grpc::Status(const Target& target, grpc::ClientContext& context)>;

  explicit Dispatcher(ClientOptions options);

  // Runs `call` until an attempt succeeds (returns the shard it succeeded on) or fails for good.
  // When call.fits rejects the routed shard and every attempt so far failed definitely, sets
  // *keys_moved (if given) and returns a KEY_OUT_OF_RANGE error: the caller regroups its keys
  // (with a new request id) and runs again. After an indeterminate attempt it fails instead.
  [[nodiscard]] std::expected<ShardInfo, Error> Run(const Call& call, const Attempt& attempt,
                                                    bool* keys_moved = nullptr);

  // The target of an asynchronous call's first attempt when it can go out at once over a
  // Multiplex stream: the key's shard is cached (no refresh here), fits the call, and its node
  // has a stream not known to be unsupported. Nullopt otherwise: run the call with Run instead.
  [[nodiscard]] std::optional<Target> FastTarget(const Call& call);
  // Continues `call` after its first attempt, sent by the caller to `first`, failed with
  // `status`: that failure is handled as Run would have (hints, back-off, definiteness), then
  // Run's loop goes on (`keys_moved` as for Run). A first attempt that a node without Multiplex
  // refused (UNIMPLEMENTED) was never served: the call starts over as Run.
  [[nodiscard]] std::expected<ShardInfo, Error> Resume(const Call& call, const Target& first,
                                                       const grpc::Status& status, const Attempt& attempt,
                                                       bool* keys_moved = nullptr);

  // The shard owning `key` (refreshing the cache on a miss), for callers that group keys.
  [[nodiscard]] std::expected<ShardInfo, Error> Route(const std::string& key, RouteBy by,
                                                      Clock::time_point deadline);

  // Reloads the route cache and node addresses from ListShards + ListMembers on the first
  // reachable endpoint. Skipped when another thread refreshed since `seen_generation`.
  [[nodiscard]] std::expected<void, Error> Refresh(Clock::time_point deadline,
                                                   std::optional<uint64_t> seen_generation);

  // Runs `fn` on the Cluster stub of each known endpoint (seeds, then learned nodes) in turn
  // until one succeeds; for ListShards / ListMembers passthroughs.
  // `deadline` is the one for this endpoint's try (contexts take system_clock time).
  using ClusterCall = std::function<grpc::Status(
      v1::Cluster::Stub& stub, std::chrono::system_clock::time_point deadline)>;
  [[nodiscard]] std::expected<void, Error> RunAnywhere(Clock::time_point deadline,
                                                       const ClusterCall& fn);

  v1::KV::Stub& KvStub(const std::string& address);
  v1::Cluster::Stub& ClusterStub(const std::string& address);
  // The claw.v1.Checkpoint stub of `address` (client/checkpoint.cc's attempts: the call is routed
  // like a KV call, only the service differs).
  v1::Checkpoint::Stub& CheckpointStub(const std::string& address);
  // The channel the stubs of `address` use (made on first use, kept for the client's life).
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address);

  // 16 random bytes fixed per client, then an 8-byte big-endian counter.
  [[nodiscard]] std::string NewRequestId();
  // The absolute deadline of a call started now with `options`.
  [[nodiscard]] Clock::time_point DeadlineOf(const CallOptions& options) const;

  RouteCache& cache() { return cache_; }
  const RouteCache& cache() const { return cache_; }
  const ClientOptions& options() const { return options_; }

 private:
  struct Stubs {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::KV::Stub> kv;
    std::unique_ptr<Multiplexer> mux;  // after kv: destroyed before it
    std::unique_ptr<v1::Cluster::Stub> cluster;
    std::unique_ptr<v1::Checkpoint::Stub> checkpoint;
  };
  // State of one Run, threaded through its helpers.
  struct RunState;

  Stubs& StubsFor(const std::string& address);
  // Seeds first, then the learned node addresses; no duplicates.
  std::vector<std::string> Endpoints() const;
  std::string PickAddress(const Call& call, const ShardInfo& shard, const RunState& state);
  v1::RequestHeader MakeHeader(const Call& call, const ShardInfo& shard) const;
  RunState NewRunState();
  // Run's loop of attempts from `state`.
  std::expected<ShardInfo, Error> Loop(const Call& call, const Attempt& attempt, bool* keys_moved,
                                       RunState& state);
  // Reacts to a failed attempt. Returns the final error, or nullopt to try again.
  std::optional<Error> HandleFailure(const Call& call, const Target& target,
                                     const grpc::Status& status, RunState& state);
  // Records the error's leader hint for the shard that now owns the call's key.
  void SetLeaderOf(const Call& call, const Error& error);
  // Sleeps for `wait`, but not past the deadline. False when the deadline came first.
  bool SleepWithin(std::chrono::milliseconds wait, Clock::time_point deadline) const;
  uint64_t NextSeed();

  const ClientOptions options_;
  RouteCache cache_;
  std::mutex refresh_mu_;  // one refresh at a time

  mutable std::mutex stubs_mu_;
  std::unordered_map<std::string, std::unique_ptr<Stubs>> stubs_;  // GUARDED_BY(stubs_mu_)

  std::string client_id_;  // 16 random bytes
  std::atomic<uint64_t> request_counter_{0};
  std::atomic<uint64_t> seed_counter_{0};
  uint64_t seed_base_ = 0;
};

}  // namespace claw::client
