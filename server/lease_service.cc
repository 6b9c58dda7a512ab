#include "server/lease_service.h"

#include <algorithm>
#include <random>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "server/kv_service.h"
#include "server/kv_state_machine.h"
#include "server/metrics.h"
#include "server/rpc_status.h"
#include "server/thread_name.h"
#include "storage/mvcc.h"

namespace claw::server {
namespace {

using Clock = LeaseService::Clock;

RequestError LeaseNotFound(uint64_t id) {
  return MakeError(RpcCode::kNotFound, v1::Error::LEASE_NOT_FOUND,
                   "lease " + std::to_string(id) + " does not exist (never granted, expired or revoked); grant a new lease");
}

uint64_t Millis(Clock::duration d) {
  return d.count() <= 0 ? 0 : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// Answers one keep-alive per request, in order, while this node leads the meta shard.
class KeepAliveReactor final : public grpc::ServerBidiReactor<v1::LeaseKeepAliveRequest, v1::LeaseKeepAliveResponse> {
 public:
  explicit KeepAliveReactor(LeaseService* svc) : svc_(svc) {
    if (auto err = svc_->NotMetaLeader()) {
      Finish(ToGrpcStatus(*err));
      return;
    }
    StartRead(&req_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    if (auto err = svc_->NotMetaLeader()) {
      Finish(ToGrpcStatus(*err));
      return;
    }
    resp_.set_id(req_.id());
    resp_.set_ttl_ms(svc_->Renew(req_.id()));
    StartWrite(&resp_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "keep-alive stream broken"));
      return;
    }
    StartRead(&req_);
  }
  void OnDone() override { delete this; }

 private:
  LeaseService* svc_;
  v1::LeaseKeepAliveRequest req_;
  v1::LeaseKeepAliveResponse resp_;
};

}  // namespace

LeaseService::LeaseService(LeaseOptions options, Store* store, Router* router, KvService* kv)
    : options_(options), store_(store), router_(router), kv_(kv) {
  keeper_ = std::thread([this] { KeeperLoop(); });
  revoker_ = std::thread([this] { RevokerLoop(); });
}

LeaseService::~LeaseService() { Stop(); }

void LeaseService::Stop() {
  std::map<uint64_t, std::vector<Waiter>> waiters;
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard lock(mu_);
    if (stop_ && !keeper_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (keeper_.joinable()) keeper_.join();
  if (revoker_.joinable()) revoker_.join();
  {
    std::lock_guard lock(mu_);
    waiters.swap(waiters_);
    tasks.swap(tasks_);
  }
  for (auto& [id, ws] : waiters) {
    for (Waiter& w : ws) w.done(std::unexpected(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE, "node shutting down", false)));
  }
  for (auto& t : tasks) t();  // they see stop_ and answer UNAVAILABLE
}

bool LeaseService::Leading() const {
  auto meta = router_->Get(kMetaShard);
  return meta && meta->local && meta->leader == options_.node_id;
}

std::optional<RequestError> LeaseService::NotMetaLeader() const {
  if (Leading()) return std::nullopt;
  auto meta = router_->Get(kMetaShard);
  RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::NOT_LEADER,
                             "node " + std::to_string(options_.node_id) +
                                 " does not lead the meta shard, which serves leases");
  if (meta && meta->leader != 0 && meta->leader != options_.node_id) {
    e.detail.mutable_leader()->set_node_id(meta->leader);
    e.detail.mutable_leader()->set_address(router_->ClientAddress(meta->leader));
  } else {
    e.detail.set_retry_after_ms(500);
  }
  return e;
}

Clock::time_point LeaseService::DeadlineOf(const grpc::CallbackServerContext* ctx) const {
  const auto now_sys = std::chrono::system_clock::now();
  const auto dl = ctx->deadline();
  if (dl - now_sys > std::chrono::hours(24 * 365)) return Clock::now() + std::chrono::milliseconds(options_.default_deadline_ms);
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(dl - now_sys);
}

v1::Lease::Stub* LeaseService::StubFor(const std::string& address) {
  std::lock_guard lock(stubs_mu_);
  auto& stub = stubs_[address];
  if (!stub) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    stub = v1::Lease::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return stub.get();
}

void LeaseService::ProposeMeta(v1::MetaCommand cmd, std::function<void(std::expected<void, RequestError>)> done) {
  store_->ProposeMeta(std::move(cmd), std::move(done));
}

// --- keeper

void LeaseService::KeeperLoop() {
  NameThisThread("lease-keeper");
  Clock::time_point last = Clock::now();
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, kTick, [this] { return stop_; });
    if (stop_) break;
    const Clock::time_point now = Clock::now();
    const Clock::duration gap = now - last;
    last = now;
    lock.unlock();
    KeeperOnce(now, gap);
    lock.lock();
  }
}

void LeaseService::KeeperOnce(Clock::time_point now, Clock::duration gap) {
  const bool leading = Leading();
  const Clock::time_point since = store_->meta_leader_since();
  std::vector<uint64_t> due;
  std::vector<Waiter> timed_out;
  std::vector<Waiter> deposed;
  size_t count = 0;
  {
    std::lock_guard lock(mu_);
    if (!leading) {
      if (adopted_ != Clock::time_point{}) {
        SPDLOG_INFO("leases: no longer the meta leader; forgetting {} deadlines", deadlines_.size());
        for (auto& [id, ws] : waiters_) {
          for (Waiter& w : ws) deposed.push_back(std::move(w));
        }
        waiters_.clear();
      }
      adopted_ = {};
      deadlines_.clear();
      expiring_.clear();
      checkpointed_.clear();
    } else {
      if (adopted_ == since && gap > kTick + kStallSlack) {
        // This process did not run for `gap` (stopped, swapped out, starved): nobody could renew
        // a lease here meanwhile, so nobody loses one for it.
        const Clock::duration extend = gap - kTick;
        SPDLOG_WARN("leases: the keeper was stalled for {} ms; extending {} deadlines by that much", Millis(extend),
                    deadlines_.size());
        for (auto& [id, d] : deadlines_) d += extend;
      }
      const bool adopting = adopted_ != since;
      if (adopting) {
        SPDLOG_INFO("leases: leading the meta shard; continuing leases from their checkpoints (grace {} ms)",
                    options_.grace_ms);
        adopted_ = since;
        deadlines_.clear();
        expiring_.clear();
        checkpointed_.clear();
        last_checkpoint_ = now;
      }
      const std::vector<v1::LeaseRecord> records = store_->meta().Leases();
      count = records.size();
      std::set<uint64_t> active;
      for (const v1::LeaseRecord& r : records) {
        if (r.state() != v1::LeaseRecord::ACTIVE) {
          // A new leader resumes the revokes its predecessor left (the revoker also looks every
          // 500 ms on its own).
          if (adopting) revoke_wanted_ = true;
          continue;
        }
        active.insert(r.id());
        if (!deadlines_.contains(r.id())) {
          const uint64_t ms = std::max(r.remaining_ms(), options_.grace_ms);
          deadlines_[r.id()] = now + std::chrono::milliseconds(ms);
          checkpointed_[r.id()] = r.remaining_ms();
        }
      }
      for (auto it = deadlines_.begin(); it != deadlines_.end();) {
        if (!active.contains(it->first)) {
          checkpointed_.erase(it->first);
          it = deadlines_.erase(it);
        } else {
          if (it->second <= now && expiring_.insert(it->first).second) due.push_back(it->first);
          ++it;
        }
      }
    }
    for (auto& [id, ws] : waiters_) {
      for (auto it = ws.begin(); it != ws.end();) {
        if (it->deadline <= now) {
          timed_out.push_back(std::move(*it));
          it = ws.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (revoke_wanted_) cv_.notify_all();
  }
  if (options_.metrics) options_.metrics->leases.Set(leading ? static_cast<double>(count) : 0);
  for (Waiter& w : deposed) {
    w.done(std::unexpected(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                     "this node stopped leading the meta shard; the revoke continues at the new "
                                     "leader (see TimeToLive)",
                                     false)));
  }
  for (Waiter& w : timed_out) {
    w.done(std::unexpected(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                     "the lease is still revoking: a shard did not delete its keys yet; the meta "
                                     "leader keeps retrying (TimeToLive shows state REVOKING)",
                                     false)));
  }
  for (uint64_t id : due) {
    SPDLOG_INFO("leases: lease {} expired; revoking it", id);
    v1::MetaCommand cmd;
    cmd.mutable_revoke_lease()->set_id(id);
    cmd.mutable_revoke_lease()->set_expired(true);
    ProposeMeta(std::move(cmd), [this, id](std::expected<void, RequestError> r) {
      {
        std::lock_guard lock(mu_);
        expiring_.erase(id);
        if (r) revoke_wanted_ = true;
      }
      if (r) {
        if (options_.metrics) options_.metrics->leases_expired.Increment();
        cv_.notify_all();
      }
    });
  }
  if (leading) Checkpoint(now);
}

void LeaseService::Checkpoint(Clock::time_point now) {
  v1::MetaCommand cmd;
  {
    std::lock_guard lock(mu_);
    if (now - last_checkpoint_ < std::chrono::milliseconds(options_.checkpoint_interval_ms)) return;
    last_checkpoint_ = now;
    for (const auto& [id, deadline] : deadlines_) {
      if (expiring_.contains(id)) continue;
      const uint64_t remaining = Millis(deadline - now);
      auto it = checkpointed_.find(id);
      if (it != checkpointed_.end() && it->second == remaining) continue;
      checkpointed_[id] = remaining;
      v1::LeaseCheckpoint::Entry* e = cmd.mutable_checkpoint_leases()->add_entries();
      e->set_id(id);
      e->set_remaining_ms(remaining);
    }
  }
  if (!cmd.has_checkpoint_leases()) return;
  ProposeMeta(std::move(cmd), [](std::expected<void, RequestError> r) {
    if (!r) SPDLOG_DEBUG("leases: a checkpoint failed: {}", r.error().detail.message());
  });
}

uint64_t LeaseService::Renew(uint64_t id) {
  auto rec = store_->meta().Lease(id);
  if (!rec || rec->state() != v1::LeaseRecord::ACTIVE) return 0;
  std::lock_guard lock(mu_);
  if (expiring_.contains(id)) return 0;
  if (adopted_ == Clock::time_point{} || adopted_ != store_->meta_leader_since()) return rec->ttl_ms();  // keeper adopts it
  deadlines_[id] = Clock::now() + std::chrono::milliseconds(rec->ttl_ms());
  return rec->ttl_ms();
}

// --- revoker

void LeaseService::RevokerLoop() {
  NameThisThread("lease-revoker");
  std::map<uint64_t, uint64_t> deleted;  // per REVOKING lease, summed over the walks
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_ || revoke_wanted_ || !tasks_.empty(); });
    if (stop_) break;
    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    revoke_wanted_ = false;
    lock.unlock();
    for (auto& t : tasks) t();
    std::vector<uint64_t> ids;
    if (Leading()) {
      for (const v1::LeaseRecord& r : store_->meta().Leases()) {
        if (r.state() == v1::LeaseRecord::REVOKING) ids.push_back(r.id());
      }
    }
    if (!ids.empty()) {
      if (RevokeWalk(ids, &deleted)) {
        for (uint64_t id : ids) {
          const uint64_t n = deleted[id];
          deleted.erase(id);
          v1::MetaCommand cmd;
          cmd.mutable_lease_revoked()->set_id(id);
          ProposeMeta(std::move(cmd), [this, id, n](std::expected<void, RequestError> r) {
            std::vector<Waiter> ws;
            {
              std::lock_guard l(mu_);
              if (!r) {
                revoke_wanted_ = true;
                return;
              }
              auto it = waiters_.find(id);
              if (it != waiters_.end()) {
                ws = std::move(it->second);
                waiters_.erase(it);
              }
            }
            SPDLOG_INFO("leases: lease {} revoked; {} keys deleted", id, n);
            for (Waiter& w : ws) w.done(n);
          });
        }
      } else {
        lock.lock();
        revoke_wanted_ = false;  // retried on the next 500 ms wake-up
        lock.unlock();
      }
    }
    lock.lock();
  }
}

bool LeaseService::RevokeWalk(const std::vector<uint64_t>& ids, std::map<uint64_t, uint64_t>* deleted) {
  v1::ShardLeasesRequest req;
  req.set_mode(v1::ShardLeasesRequest::REVOKE);
  for (uint64_t id : ids) req.add_ids(id);
  std::string key;  // "" = the start of the key space
  for (int step = 0; step < 1'000'000; ++step) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return false;
    }
    if (!Leading()) return false;
    req.set_key(key);
    auto r = CallShard(req);
    if (!r) {
      SPDLOG_WARN("leases: deleting the keys of {} revoked leases at key '{}': {}; retrying", ids.size(),
                  key.substr(0, 64), r.error());
      return false;
    }
    for (int i = 0; i < r->deleted_per_id_size() && i < static_cast<int>(ids.size()); ++i) {
      (*deleted)[ids[static_cast<size_t>(i)]] += r->deleted_per_id(i);
    }
    if (r->shard().end_key().empty()) return true;
    if (r->shard().end_key() <= key) return false;  // cannot happen: a shard's end is after its keys
    key = r->shard().end_key();
  }
  return false;
}

std::expected<v1::ShardLeasesResponse, std::string> LeaseService::CallShard(const v1::ShardLeasesRequest& req) {
  std::string last_error = "no node answered";
  for (int round = 0; round < 3; ++round) {
    std::vector<std::string> targets;
    if (auto route = router_->Lookup(req.key()); route && route->leader != 0) {
      targets.push_back(router_->ClientAddress(route->leader));
    }
    for (const MemberInfo& m : router_->Members()) {
      if (!m.client_address.empty()) targets.push_back(m.client_address);
    }
    for (size_t i = 0; i < targets.size() && i < 16; ++i) {
      if (targets[i].empty()) continue;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      v1::ShardLeasesResponse resp;
      grpc::Status s = StubFor(targets[i])->ShardLeases(&ctx, req, &resp);
      if (s.ok()) return resp;
      last_error = targets[i] + ": " + s.error_message();
      v1::Error detail;
      if (ErrorDetail(s, &detail)) {
        for (const v1::ShardDescriptor& d : detail.shards()) router_->Learn(d);
        // Follow a leader hint next (unless that is where the walk goes anyway).
        if (detail.code() == v1::Error::NOT_LEADER && !detail.leader().address().empty() &&
            (i + 1 >= targets.size() || targets[i + 1] != detail.leader().address())) {
          targets.insert(targets.begin() + static_cast<long>(i) + 1, detail.leader().address());
        }
      }
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(300), [this] { return stop_; })) break;
  }
  return std::unexpected(last_error);
}

std::vector<std::string> LeaseService::ListKeys(uint64_t id, std::string* error) {
  std::vector<std::string> keys;
  v1::ShardLeasesRequest req;
  req.set_mode(v1::ShardLeasesRequest::LIST);
  req.add_ids(id);
  std::string key;
  for (int step = 0; step < 1'000'000; ++step) {
    req.set_key(key);
    auto r = CallShard(req);
    if (!r) {
      *error = r.error();
      return keys;
    }
    for (const std::string& k : r->keys()) keys.push_back(k);
    if (r->shard().end_key().empty() || r->shard().end_key() <= key) return keys;
    key = r->shard().end_key();
  }
  return keys;
}

// --- RPCs

void LeaseService::FillTtl(const v1::LeaseRecord& rec, Clock::time_point now, v1::LeaseTimeToLiveResponse* out) {
  out->set_id(rec.id());
  out->set_granted_ttl_ms(rec.ttl_ms());
  out->set_state(rec.state());
  if (rec.state() != v1::LeaseRecord::ACTIVE) return;
  std::lock_guard lock(mu_);
  auto it = deadlines_.find(rec.id());
  out->set_ttl_ms(it != deadlines_.end() ? Millis(it->second - now) : std::max(rec.remaining_ms(), options_.grace_ms));
}

grpc::ServerUnaryReactor* LeaseService::Grant(grpc::CallbackServerContext* ctx, const v1::LeaseGrantRequest* req,
                                              v1::LeaseGrantResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (req->ttl_ms() < options_.min_ttl_ms || req->ttl_ms() > options_.max_ttl_ms) {
    reactor->Finish(ToGrpcStatus(MakeError(
        RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
        "ttl_ms " + std::to_string(req->ttl_ms()) + " is outside the allowed " + std::to_string(options_.min_ttl_ms) +
            ".." + std::to_string(options_.max_ttl_ms) + " ms (config lease.min_ttl_ms / lease.max_ttl_ms)")));
    return reactor;
  }
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  auto exists = [id = req->id()] {
    return MakeError(RpcCode::kFailedPrecondition, v1::Error::INVALID_ARGUMENT,
                     "lease " + std::to_string(id) + " already exists; choose another id, or 0 to have one allocated");
  };
  if (req->id() != 0 && store_->meta().Lease(req->id())) {
    reactor->Finish(ToGrpcStatus(exists()));
    return reactor;
  }
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t nonce = 0;
  while (nonce == 0) nonce = rng();
  v1::MetaCommand cmd;
  cmd.mutable_grant_lease()->set_id(req->id());
  cmd.mutable_grant_lease()->set_ttl_ms(req->ttl_ms());
  cmd.mutable_grant_lease()->set_nonce(nonce);
  const uint64_t ttl = req->ttl_ms();
  ProposeMeta(std::move(cmd), [this, reactor, resp, nonce, ttl, exists](std::expected<void, RequestError> r) {
    if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
    std::optional<uint64_t> id = store_->meta().GrantedId(nonce);
    if (!id) {
      return reactor->Finish(ToGrpcStatus(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                                    "the grant's outcome is unknown; list the leases", false)));
    }
    if (*id == 0) return reactor->Finish(ToGrpcStatus(exists()));
    {
      std::lock_guard lock(mu_);
      if (adopted_ != Clock::time_point{}) deadlines_[*id] = Clock::now() + std::chrono::milliseconds(ttl);
    }
    if (options_.metrics) options_.metrics->leases_granted.Increment();
    resp->set_id(*id);
    resp->set_ttl_ms(ttl);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::Revoke(grpc::CallbackServerContext* ctx, const v1::LeaseRevokeRequest* req,
                                               v1::LeaseRevokeResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  const uint64_t id = req->id();
  auto rec = store_->meta().Lease(id);
  if (!rec) {
    reactor->Finish(ToGrpcStatus(LeaseNotFound(id)));
    return reactor;
  }
  auto finish = [reactor, resp](std::expected<uint64_t, RequestError> r) {
    if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
    resp->set_deleted(*r);
    reactor->Finish(grpc::Status::OK);
  };
  {
    std::lock_guard lock(mu_);
    waiters_[id].push_back(Waiter{.deadline = DeadlineOf(ctx), .done = finish});
  }
  if (rec->state() != v1::LeaseRecord::ACTIVE) {
    std::lock_guard lock(mu_);
    revoke_wanted_ = true;
    cv_.notify_all();
    return reactor;
  }
  v1::MetaCommand cmd;
  cmd.mutable_revoke_lease()->set_id(id);
  ProposeMeta(std::move(cmd), [this, id](std::expected<void, RequestError> r) {
    std::vector<Waiter> failed;
    {
      std::lock_guard lock(mu_);
      if (r) {
        revoke_wanted_ = true;
      } else if (auto it = waiters_.find(id); it != waiters_.end()) {
        failed = std::move(it->second);
        waiters_.erase(it);
      }
    }
    if (r) {
      if (options_.metrics) options_.metrics->leases_revoked.Increment();
      cv_.notify_all();
    }
    for (Waiter& w : failed) w.done(std::unexpected(r.error()));
  });
  return reactor;
}

grpc::ServerBidiReactor<v1::LeaseKeepAliveRequest, v1::LeaseKeepAliveResponse>* LeaseService::KeepAlive(
    grpc::CallbackServerContext*) {
  return new KeepAliveReactor(this);
}

grpc::ServerUnaryReactor* LeaseService::TimeToLive(grpc::CallbackServerContext* ctx,
                                                   const v1::LeaseTimeToLiveRequest* req,
                                                   v1::LeaseTimeToLiveResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  auto rec = store_->meta().Lease(req->id());
  if (!rec) {
    reactor->Finish(ToGrpcStatus(LeaseNotFound(req->id())));
    return reactor;
  }
  FillTtl(*rec, Clock::now(), resp);
  if (!req->keys()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  const uint64_t id = req->id();
  std::lock_guard lock(mu_);
  tasks_.push_back([this, reactor, resp, id] {
    {
      std::lock_guard l(mu_);
      if (stop_) return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node shutting down"));
    }
    std::string error;
    for (std::string& k : ListKeys(id, &error)) resp->add_keys(std::move(k));
    if (!error.empty()) {
      return reactor->Finish(ToGrpcStatus(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                                    "listing the lease's keys: " + error)));
    }
    reactor->Finish(grpc::Status::OK);
  });
  cv_.notify_all();
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::Leases(grpc::CallbackServerContext* ctx, const v1::LeaseLeasesRequest*,
                                               v1::LeaseLeasesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  const Clock::time_point now = Clock::now();
  for (const v1::LeaseRecord& r : store_->meta().Leases()) FillTtl(r, now, resp->add_leases());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::ShardLeases(grpc::CallbackServerContext* ctx,
                                                    const v1::ShardLeasesRequest* req,
                                                    v1::ShardLeasesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (req->ids_size() == 0 || (req->mode() != v1::ShardLeasesRequest::REVOKE && req->mode() != v1::ShardLeasesRequest::LIST)) {
    reactor->Finish(ToGrpcStatus(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                           "ShardLeases needs a mode and at least one lease id")));
    return reactor;
  }
  v1::RequestHeader header;
  KvService::Target t = kv_->Route(header, {req->key()}, nullptr);
  if (t.refuse) {
    reactor->Finish(ToGrpcStatus(*t.refuse));
    return reactor;
  }
  const auto deadline = DeadlineOf(ctx);
  if (req->mode() == v1::ShardLeasesRequest::REVOKE) {
    ProposalRequest p{.shard = t.shard, .keys = {req->key()}};
    *p.command.mutable_lease_keys()->mutable_ids() = req->ids();
    p.command.mutable_lease_keys()->set_owner_key(req->key());
    p.deadline = deadline;
    const int n = req->ids_size();
    p.done = [reactor, resp, n](std::expected<ProposalResult, RequestError> r) {
      if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
      const v1::TxnResponse& res = r->result;
      if (res.results_size() != n + 1) {
        return reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "unexpected lease revoke result"));
      }
      uint64_t total = 0;
      for (int i = 0; i < n; ++i) {
        resp->add_deleted_per_id(res.results(i).delete_range().deleted());
        total += res.results(i).delete_range().deleted();
      }
      resp->set_deleted(total);
      resp->mutable_shard()->set_id(r->header.shard_id());
      *resp->mutable_shard()->mutable_epoch() = r->header.epoch();
      resp->mutable_shard()->set_end_key(res.results(n).get().kv().key());
      reactor->Finish(grpc::Status::OK);
    };
    store_->Propose(std::move(p));
    return reactor;
  }
  ReadRequest r{.shard = t.shard, .keys = {req->key()}};
  r.deadline = deadline;
  const uint64_t id = req->ids(0);
  r.done = [reactor, resp, id](std::expected<ReadContext, RequestError> ready) {
    if (!ready) return reactor->Finish(ToGrpcStatus(ready.error()));
    auto keys = LeaseIndexKeys(*ready->engine, id, ready->shard.start_key(), ready->shard.end_key());
    if (!keys) return reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, keys.error().message));
    storage::MvccReader reader(*ready->engine);
    for (const std::string& k : *keys) {
      auto got = reader.Get(k, storage::Timestamp::Max());
      if (!got || !got->has_value()) continue;
      auto v = DecodeStoredValue(**got);
      if (v && v->lease == id) resp->add_keys(k);
    }
    *resp->mutable_shard() = ready->shard;
    reactor->Finish(grpc::Status::OK);
  };
  store_->Read(std::move(r));
  return reactor;
}

// --- front-end check

void LeaseService::CheckLease(uint64_t lease, Clock::time_point deadline,
                              std::function<void(std::optional<RequestError>)> done) {
  if (auto rec = store_->meta().Lease(lease)) {
    if (rec->state() == v1::LeaseRecord::ACTIVE) return done(std::nullopt);
    return done(LeaseNotFound(lease));
  }
  if (Leading()) return done(LeaseNotFound(lease));
  {
    std::lock_guard lock(mu_);
    auto it = check_cache_.find(lease);
    if (it != check_cache_.end() && Clock::now() - it->second < kCheckCacheTtl) return done(std::nullopt);
    if (check_cache_.size() > 10'000) check_cache_.clear();
  }
  auto meta = router_->Get(kMetaShard);
  std::string address = meta && meta->leader != 0 ? router_->ClientAddress(meta->leader) : "";
  if (address.empty()) {
    for (const MemberInfo& m : router_->Members()) {
      if (m.id != options_.node_id && !m.client_address.empty()) {
        address = m.client_address;
        break;
      }
    }
  }
  if (address.empty()) {
    RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                               "cannot check the put's lease: the meta shard's leader is unknown; retry");
    e.detail.set_retry_after_ms(500);
    return done(std::move(e));
  }
  struct Call {
    grpc::ClientContext ctx;
    v1::LeaseTimeToLiveRequest req;
    v1::LeaseTimeToLiveResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->req.set_id(lease);
  call->ctx.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
  StubFor(address)->async()->TimeToLive(&call->ctx, &call->req, &call->resp,
                                        [this, call, lease, done = std::move(done)](grpc::Status s) {
    if (s.ok() && call->resp.state() == v1::LeaseRecord::ACTIVE) {
      {
        std::lock_guard lock(mu_);
        check_cache_[lease] = Clock::now();
      }
      return done(std::nullopt);
    }
    v1::Error detail;
    if (s.ok() || (ErrorDetail(s, &detail) && detail.code() == v1::Error::LEASE_NOT_FOUND)) {
      return done(LeaseNotFound(lease));
    }
    RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                               "cannot check the put's lease at the meta shard's leader: " + s.error_message() + "; retry");
    e.detail.set_retry_after_ms(200);
    done(std::move(e));
  });
}

}  // namespace claw::server
