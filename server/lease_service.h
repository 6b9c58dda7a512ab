// LeaseService: the claw.v1.Lease gRPC service (proto/claw/v1/lease.proto) and the meta leader's
// lease keeper. server/README.md "Leases" has the whole design; in short:
//
// - Lease records (id, TTL, state, checkpointed remaining TTL) are the meta shard's replicated
//   state (MetaStateMachine). Grant, Revoke, Checkpoint and the final "revoked" are meta commands.
// - Deadlines live only in the meta leader's memory (steady clock). KeepAlive moves a deadline and
//   never touches Raft. Every checkpoint interval the keeper proposes the remaining TTL of every
//   lease whose remaining TTL changed since the last checkpoint, so a new leader continues each
//   lease from there: deadline = now + max(checkpointed remaining, grace), grace = twice the
//   election timeout + 1 s (the time clients need to find the new leader).
// - The keeper loop runs every kTick and measures its own progress: a gap longer than expected
//   (the process was stopped, or starved) extends every deadline by the gap before anything
//   expires, since clients could not reach this node meanwhile.
// - Expiry and Revoke are meta proposals (a deposed leader's cannot commit). A REVOKING lease's
//   keys are then deleted shard by shard: the revoker thread walks the key space from "" to the
//   end, asking the leader of the shard owning the current key (ShardLeases, REVOKE) to apply a
//   LeaseKeysRevoke command, and continuing at the end key that apply reports. Once the walk
//   reached the end, the record is dropped (LeaseRevoked) and Revoke calls are answered.
// - CheckLease validates a put's lease for the KV front end: the local meta replica's record when
//   it has one, else the meta leader's TimeToLive (positive answers cached for kCheckCacheTtl).
//
// Threads: gRPC handlers on gRPC threads; one keeper thread; one revoker thread (walks and the
// key listing of TimeToLive run there, with blocking calls). A mutex guards the in-memory state.
// Lifecycle: construct (starts both threads) -> serve -> Stop() (before the Store stops) ->
// destroy.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "claw/v1/lease.grpc.pb.h"
#include "server/requests.h"
#include "server/router.h"
#include "server/store.h"

namespace claw::server {

class KvService;
class Metrics;

struct LeaseOptions {
  uint64_t node_id = 0;
  uint64_t min_ttl_ms = 1000;
  uint64_t max_ttl_ms = 86'400'000;
  uint64_t checkpoint_interval_ms = 5000;
  // How long a new meta leader gives every lease at least (twice the election timeout + 1 s).
  uint64_t grace_ms = 3000;
  uint64_t default_deadline_ms = 5000;
  Metrics* metrics = nullptr;
};

class LeaseService final : public v1::Lease::CallbackService {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kTick = std::chrono::milliseconds(100);
  // A keeper loop gap beyond kTick + this counts as a stall of the process.
  static constexpr auto kStallSlack = std::chrono::milliseconds(400);
  static constexpr auto kCheckCacheTtl = std::chrono::seconds(1);

  LeaseService(LeaseOptions options, Store* store, Router* router, KvService* kv);
  ~LeaseService() override;
  LeaseService(const LeaseService&) = delete;
  LeaseService& operator=(const LeaseService&) = delete;
  void Stop();

  grpc::ServerUnaryReactor* Grant(grpc::CallbackServerContext* ctx, const v1::LeaseGrantRequest* req,
                                  v1::LeaseGrantResponse* resp) override;
  grpc::ServerUnaryReactor* Revoke(grpc::CallbackServerContext* ctx, const v1::LeaseRevokeRequest* req,
                                   v1::LeaseRevokeResponse* resp) override;
  grpc::ServerBidiReactor<v1::LeaseKeepAliveRequest, v1::LeaseKeepAliveResponse>* KeepAlive(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* TimeToLive(grpc::CallbackServerContext* ctx, const v1::LeaseTimeToLiveRequest* req,
                                       v1::LeaseTimeToLiveResponse* resp) override;
  grpc::ServerUnaryReactor* Leases(grpc::CallbackServerContext* ctx, const v1::LeaseLeasesRequest* req,
                                   v1::LeaseLeasesResponse* resp) override;
  grpc::ServerUnaryReactor* ShardLeases(grpc::CallbackServerContext* ctx, const v1::ShardLeasesRequest* req,
                                        v1::ShardLeasesResponse* resp) override;

  // Whether `lease` exists and is ACTIVE; answers `done` once (maybe on another thread) with
  // nothing or the error for the put (LEASE_NOT_FOUND, or UNAVAILABLE when the meta leader cannot
  // be asked).
  void CheckLease(uint64_t lease, Clock::time_point deadline, std::function<void(std::optional<RequestError>)> done);

  // Renews `id` on this (leading) node: its new TTL in ms, or 0 when it is not an ACTIVE lease.
  uint64_t Renew(uint64_t id);
  std::optional<RequestError> NotMetaLeader() const;

 private:
  struct Waiter {
    Clock::time_point deadline{};
    std::function<void(std::expected<uint64_t, RequestError>)> done{};
  };

  void KeeperLoop();
  void KeeperOnce(Clock::time_point now, Clock::duration gap);
  void Checkpoint(Clock::time_point now);
  void RevokerLoop();
  // Walks every shard for the REVOKING leases; true when every shard applied. Revoker thread.
  bool RevokeWalk(const std::vector<uint64_t>& ids, std::map<uint64_t, uint64_t>* deleted);
  // One ShardLeases call at the leader of the shard owning `key` (following NOT_LEADER hints).
  std::expected<v1::ShardLeasesResponse, std::string> CallShard(const v1::ShardLeasesRequest& req);
  std::vector<std::string> ListKeys(uint64_t id, std::string* error);
  void ProposeMeta(v1::MetaCommand cmd, std::function<void(std::expected<void, RequestError>)> done);
  v1::Lease::Stub* StubFor(const std::string& address);
  void FillTtl(const v1::LeaseRecord& rec, Clock::time_point now, v1::LeaseTimeToLiveResponse* out);
  Clock::time_point DeadlineOf(const grpc::CallbackServerContext* ctx) const;
  bool Leading() const;

  const LeaseOptions options_;
  Store* store_;
  Router* router_;
  KvService* kv_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                 // guarded by mu_
  // The meta leadership the deadlines belong to (Store::meta_leader_since); {} = not leading.
  Clock::time_point adopted_{};                       // guarded by mu_
  std::map<uint64_t, Clock::time_point> deadlines_;   // guarded by mu_
  // Leases whose expiry was proposed and not yet applied.
  std::set<uint64_t> expiring_;                       // guarded by mu_
  // The remaining TTL last checkpointed per lease (ms), to skip unchanged ones.
  std::map<uint64_t, uint64_t> checkpointed_;         // guarded by mu_
  Clock::time_point last_checkpoint_{};               // guarded by mu_
  std::map<uint64_t, std::vector<Waiter>> waiters_;   // Revoke calls; guarded by mu_
  std::deque<std::function<void()>> tasks_;           // revoker tasks; guarded by mu_
  bool revoke_wanted_ = false;                        // guarded by mu_
  std::map<uint64_t, Clock::time_point> check_cache_;  // positive CheckLease answers; guarded by mu_

  std::mutex stubs_mu_;
  std::map<std::string, std::unique_ptr<v1::Lease::Stub>> stubs_;  // guarded by stubs_mu_

  std::thread keeper_;
  std::thread revoker_;
};

}  // namespace claw::server
