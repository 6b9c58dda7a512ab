#include "server/kv_service.h"

#include <algorithm>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "client/checkpoint_layout.h"
#include "server/kv_state_machine.h"
#include "server/rpc_status.h"
#include "storage/mvcc.h"

namespace claw::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kMaxRequestIdBytes = 64;
// A scan page holds at most this many keys or (about) bytes.
constexpr size_t kScanPageKeys = 512;
constexpr size_t kScanPageBytes = 1 << 20;

RequestError Invalid(std::string message) {
  return MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT, std::move(message));
}
RequestError TooLarge(std::string message) {
  return MakeError(RpcCode::kInvalidArgument, v1::Error::TOO_LARGE, std::move(message));
}
// Writes inside the checkpoint key space (client/checkpoint_layout.h) would corrupt checkpoints.
std::optional<RequestError> Reserved(const std::string& start, const std::string* end) {
  const bool hit = end == nullptr ? start >= client::kCheckpointPrefix && start < client::CheckpointPrefixEnd()
                                  : client::OverlapsCheckpointSpace(start, *end);
  if (!hit) return std::nullopt;
  return Invalid("keys from \\xff\\xffckpt/ to \\xff\\xffckpt0 hold named checkpoints: change them through "
                 "claw.v1.Checkpoint (clawctl checkpoint), not the KV API (the client library's DeleteRange "
                 "skips them)");
}

// Checks for one request, before anything is routed or proposed.
class Validator {
 public:
  explicit Validator(const KvLimits& l) : l_(l) {}

  std::optional<RequestError> Header(const v1::RequestHeader& h) const {
    if (h.request_id().size() > kMaxRequestIdBytes) {
      return Invalid("request_id has " + std::to_string(h.request_id().size()) + " bytes; at most 64");
    }
    if (h.consistency() < 0 || h.consistency() > v1::STALE) return Invalid("unknown read consistency");
    if (h.durability() < 0 || h.durability() > v1::LEADER) return Invalid("unknown write durability");
    return std::nullopt;
  }
  std::optional<RequestError> Key(const std::string& key, const char* what) const {
    if (key.empty()) return Invalid(std::string(what) + " is empty; keys are 1 to " + std::to_string(l_.max_key_bytes) + " bytes");
    if (key.size() > l_.max_key_bytes) {
      return TooLarge(std::string(what) + " has " + std::to_string(key.size()) + " bytes; the limit is " +
                      std::to_string(l_.max_key_bytes) + " (limits.max_key_bytes)");
    }
    return std::nullopt;
  }
  std::optional<RequestError> Value(const std::string& value) const {
    if (value.size() > l_.max_value_bytes) {
      return TooLarge("value has " + std::to_string(value.size()) + " bytes; the limit is " +
                      std::to_string(l_.max_value_bytes) + " (limits.max_value_bytes)");
    }
    return std::nullopt;
  }
  // [start, end): start non-empty unless `allow_empty_start`; end empty or after start.
  std::optional<RequestError> Range(const std::string& start, const std::string& end,
                                    bool allow_empty_start) const {
    if (!(allow_empty_start && start.empty())) {
      if (auto e = Key(start, "start_key")) return e;
    }
    if (!end.empty()) {
      if (end.size() > l_.max_key_bytes) return TooLarge("end_key is over limits.max_key_bytes");
      if (end <= start) return Invalid("end_key must be after start_key (or empty for the end of the key space)");
    }
    return std::nullopt;
  }
  std::optional<RequestError> Size(const google::protobuf::Message& m) const {
    const size_t n = m.ByteSizeLong();
    if (n > l_.max_request_bytes) {
      return TooLarge("request has " + std::to_string(n) + " bytes; the limit is " +
                      std::to_string(l_.max_request_bytes) + " (limits.max_request_bytes)");
    }
    return std::nullopt;
  }
  // One op of a Batch or Txn; appends its keys. `range_end` receives a range op's end.
  std::optional<RequestError> Op(const v1::Op& op, std::vector<std::string>* keys,
                                 std::vector<std::string>* range_ends, bool* reads) const {
    switch (op.op_case()) {
      case v1::Op::kGet:
        *reads = true;
        keys->push_back(op.get().key());
        return Key(op.get().key(), "key");
      case v1::Op::kPut:
        keys->push_back(op.put().key());
        if (auto e = Key(op.put().key(), "key")) return e;
        if (auto e = Reserved(op.put().key(), nullptr)) return e;
        return Value(op.put().value());
      case v1::Op::kDelete:
        keys->push_back(op.delete_().key());
        if (auto e = Reserved(op.delete_().key(), nullptr)) return e;
        return Key(op.delete_().key(), "key");
      case v1::Op::kDeleteRange:
        *reads = true;
        keys->push_back(op.delete_range().start_key());
        range_ends->push_back(op.delete_range().end_key());
        if (auto e = Reserved(op.delete_range().start_key(), &op.delete_range().end_key())) return e;
        return Range(op.delete_range().start_key(), op.delete_range().end_key(), false);
      default:
        return Invalid("an op has none of get, put, delete, delete_range set");
    }
  }
  std::optional<RequestError> Compare(const v1::Compare& c, std::vector<std::string>* keys) const {
    keys->push_back(c.key());
    if (auto e = Key(c.key(), "compare key")) return e;
    if (c.op() < v1::Compare::EQUAL || c.op() > v1::Compare::GREATER) return Invalid("compare op is unset or unknown");
    bool ok = false;
    switch (c.target()) {
      case v1::Compare::VALUE: ok = c.operand_case() == v1::Compare::kValue; break;
      case v1::Compare::VERSION: ok = c.operand_case() == v1::Compare::kVersion; break;
      case v1::Compare::MOD_TS: ok = c.operand_case() == v1::Compare::kModTs; break;
      case v1::Compare::EXISTS:
        ok = c.operand_case() == v1::Compare::kExists &&
             (c.op() == v1::Compare::EQUAL || c.op() == v1::Compare::NOT_EQUAL);
        break;
      default: return Invalid("compare target is unset or unknown");
    }
    if (!ok) return Invalid("compare on key '" + c.key().substr(0, 64) + "': the operand does not match the target (or EXISTS with LESS/GREATER)");
    return std::nullopt;
  }

 private:
  const KvLimits& l_;
};

template <class Req, class Resp>
using ForwardFn = void (*)(v1::KV::Stub*, grpc::ClientContext*, const Req*, Resp*,
                           std::function<void(grpc::Status)>);

// Re-issues the call on the leader's node (forward = false there: one hop at most).
template <class Req, class Resp>
void Forward(KvService* svc, const Reply& reply, const Req& req, Resp* resp, const std::string& address,
             ForwardFn<Req, Resp> fn) {
  struct State {
    grpc::ClientContext ctx;
    Req req;
  };
  auto st = std::make_shared<State>();
  st->req = req;
  st->req.mutable_header()->set_forward(false);
  st->ctx.set_deadline(std::chrono::system_clock::now() + (reply.deadline - SteadyClock::now()));
  fn(svc->StubFor(address), &st->ctx, &st->req, resp, [st, finish = reply.finish](grpc::Status s) { finish(std::move(s)); });
}

// Answers `err`, or forwards when it is NOT_LEADER with a known leader and the caller asked.
template <class Req, class Resp>
void Refuse(KvService* svc, const Reply& reply, const Req& req, Resp* resp, const RequestError& err,
            ForwardFn<Req, Resp> fwd) {
  if (req.header().forward() && err.detail.code() == v1::Error::NOT_LEADER &&
      !err.detail.leader().address().empty()) {
    Forward(svc, reply, req, resp, err.detail.leader().address(), fwd);
    return;
  }
  reply.finish(ToGrpcStatus(err));
}

// The leases named by the puts of a command (each once).
std::vector<uint64_t> LeasesOf(const v1::RaftCommand& cmd) {
  std::vector<uint64_t> out;
  auto scan = [&](const google::protobuf::RepeatedPtrField<v1::Op>& ops) {
    for (const v1::Op& op : ops) {
      if (op.has_put() && op.put().lease() != 0 &&
          std::find(out.begin(), out.end(), op.put().lease()) == out.end()) {
        out.push_back(op.put().lease());
      }
    }
  };
  if (cmd.has_batch()) scan(cmd.batch().ops());
  if (cmd.has_txn()) {
    scan(cmd.txn().success());
    scan(cmd.txn().failure());
  }
  return out;
}

template <class Req, class Resp>
void WriteOn(KvService* svc, const Reply& reply, const Req& req, Resp* resp, std::vector<std::string> keys,
             const std::vector<std::string>& range_ends, v1::RaftCommand cmd, bool needs_apply,
             std::function<void(const ProposalResult&, Resp*)> fill, ForwardFn<Req, Resp> fwd);

// Shared path of every write: check the leases its puts name (server/lease_service.h), route,
// propose, then fill the response from the command's result. `req` and `resp` live until
// reply.finish runs.
template <class Req, class Resp>
void Write(KvService* svc, const Reply& reply, const Req& req, Resp* resp, std::vector<std::string> keys,
           const std::vector<std::string>& range_ends, v1::RaftCommand cmd, bool needs_apply,
           std::function<void(const ProposalResult&, Resp*)> fill, ForwardFn<Req, Resp> fwd) {
  std::vector<uint64_t> leases = LeasesOf(cmd);
  if (leases.empty()) {
    WriteOn(svc, reply, req, resp, std::move(keys), range_ends, std::move(cmd), needs_apply, std::move(fill), fwd);
    return;
  }
  // A put naming a lease waits for its apply (durability QUORUM even when LEADER was asked): the
  // apply may still refuse it (the lease was revoked meanwhile), which must not be acknowledged.
  svc->CheckLeases(std::move(leases), reply.deadline, reply.finish,
                   [=, req = &req, keys = std::move(keys), cmd = std::move(cmd), fill = std::move(fill)]() mutable {
                     WriteOn(svc, reply, *req, resp, std::move(keys), range_ends, std::move(cmd), true,
                             std::move(fill), fwd);
                   });
}

template <class Req, class Resp>
void WriteOn(KvService* svc, const Reply& reply, const Req& req, Resp* resp, std::vector<std::string> keys,
             const std::vector<std::string>& range_ends, v1::RaftCommand cmd, bool needs_apply,
             std::function<void(const ProposalResult&, Resp*)> fill, ForwardFn<Req, Resp> fwd) {
  const auto deadline = reply.deadline;
  if (deadline <= SteadyClock::now()) {
    reply.finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before the write was proposed"));
    return;
  }
  KvService::Target t = svc->Route(req.header(), keys, range_ends.empty() ? nullptr : &range_ends.front());
  for (size_t i = 1; !t.refuse && i < range_ends.size(); ++i) {
    t = svc->Route(req.header(), keys, &range_ends[i]);
  }
  if (t.refuse) {
    Refuse(svc, reply, req, resp, *t.refuse, fwd);
    return;
  }
  auto route = svc->router()->Get(t.shard);
  ProposalRequest p{.shard = t.shard, .check_epoch = true, .epoch = route->shard.epoch(), .keys = std::move(keys)};
  cmd.set_request_id(req.header().request_id());
  *cmd.mutable_epoch() = route->shard.epoch();
  p.command = std::move(cmd);
  p.durability = needs_apply || req.header().durability() != v1::LEADER ? v1::QUORUM : v1::LEADER;
  p.deadline = deadline;
  p.done = [svc, reply, req = &req, resp, fill = std::move(fill), fwd](std::expected<ProposalResult, RequestError> r) {
    if (!r) {
      Refuse(svc, reply, *req, resp, r.error(), fwd);
      return;
    }
    *resp->mutable_header() = r->header;
    fill(*r, resp);
    reply.finish(grpc::Status::OK);
  };
  svc->store()->Propose(std::move(p));
}

// Clamps a range's empty end to the end of the shard that owns its start.
void ClampRange(Router* router, const std::string& start, std::string* end) {
  if (!end->empty()) return;
  if (auto r = router->Lookup(start)) *end = r->shard.end_key();
}

}  // namespace

KvService::KvService(Store* store, Router* router, KvLimits limits)
    : store_(store), router_(router), limits_(limits) {
  Metrics* m = store->metrics();
  auto series = [m](const char* method) { return &m->Grpc(std::string("/claw.v1.KV/") + method, "multiplexed"); };
  multiplexed_[v1::MultiplexCall::REQUEST_NOT_SET] = series("Multiplex");
  multiplexed_[v1::MultiplexCall::kGet] = series("Get");
  multiplexed_[v1::MultiplexCall::kPut] = series("Put");
  multiplexed_[v1::MultiplexCall::kDelete] = series("Delete");
  multiplexed_[v1::MultiplexCall::kBatch] = series("Batch");
  multiplexed_[v1::MultiplexCall::kTxn] = series("Txn");
}

const Metrics::GrpcMethod& KvService::MultiplexedSeries(v1::MultiplexCall::RequestCase kind) {
  const size_t i = static_cast<size_t>(kind);
  return *(i < multiplexed_.size() && multiplexed_[i] != nullptr ? multiplexed_[i] : multiplexed_[0]);
}

KvService::~KvService() = default;

v1::KV::Stub* KvService::StubFor(const std::string& address) {
  std::lock_guard lock(stubs_mu_);
  auto& stub = stubs_[address];
  if (!stub) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(static_cast<int>(limits_.max_request_bytes + (1 << 20)));
    args.SetMaxReceiveMessageSize(-1);
    // A restarted leader must be reachable again quickly (gRPC's default backoff reaches 120 s).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    stub = v1::KV::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return stub.get();
}

void KvService::CheckLeases(std::vector<uint64_t> leases, SteadyClock::time_point deadline,
                            std::function<void(grpc::Status)> fail, std::function<void()> then) {
  if (leases.empty()) return then();
  if (!lease_check_) {
    fail(ToGrpcStatus(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE, "leases are not served yet")));
    return;
  }
  const uint64_t lease = leases.back();
  leases.pop_back();
  lease_check_(lease, deadline,
               [this, leases = std::move(leases), deadline, fail = std::move(fail), then = std::move(then)](
                   std::optional<RequestError> err) mutable {
                 if (err) return fail(ToGrpcStatus(*err));
                 CheckLeases(std::move(leases), deadline, std::move(fail), std::move(then));
               });
}

template <class Req, class Resp>
grpc::ServerUnaryReactor* KvService::Unary(grpc::CallbackServerContext* ctx, const Req& req, Resp* resp,
                                           void (KvService::*serve)(const Req&, Resp*, const Reply&)) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  (this->*serve)(req, resp, Reply{.finish = [reactor](grpc::Status s) { reactor->Finish(std::move(s)); },
                                  .deadline = Deadline(ctx)});
  return reactor;
}

SteadyClock::time_point KvService::Deadline(const grpc::CallbackServerContext* ctx) const {
  const auto now_sys = std::chrono::system_clock::now();
  const auto now = SteadyClock::now();
  const auto dl = ctx->deadline();
  const auto cap = std::chrono::milliseconds(limits_.default_deadline_ms);
  if (dl - now_sys > std::chrono::hours(24 * 365)) return now + cap;  // no deadline set
  return now + std::chrono::duration_cast<SteadyClock::duration>(dl - now_sys);
}

KvService::Target KvService::Route(const v1::RequestHeader& h, const std::vector<std::string>& keys,
                                   const std::string* range_end) {
  Target t;
  std::optional<server::Route> route;
  if (h.shard_id() != 0) {
    route = router_->Get(h.shard_id());
    if (!route || route->shard.id() == kMetaShard) {
      t.refuse = MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                           "no shard " + std::to_string(h.shard_id()) + " is known to this node");
      return t;
    }
  } else {
    route = router_->Lookup(keys.front());
  }
  auto out_of_range = [&](const std::string& why) {
    std::string lo = *std::min_element(keys.begin(), keys.end());
    std::string hi = *std::max_element(keys.begin(), keys.end());
    RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::KEY_OUT_OF_RANGE, why);
    for (auto& d : router_->Overlapping(lo, range_end && !range_end->empty() ? *range_end : hi + '\0')) {
      *e.detail.add_shards() = d;
    }
    return e;
  };
  if (!route) {
    t.refuse = out_of_range("no shard owns the key");
    return t;
  }
  for (const std::string& k : keys) {
    if (!InRange(route->shard, k)) {
      t.refuse = out_of_range("the keys of one request must lie in one shard; shard " +
                              std::to_string(route->shard.id()) + " does not hold them all");
      return t;
    }
  }
  if (range_end && !range_end->empty() && !route->shard.end_key().empty() &&
      *range_end > route->shard.end_key()) {
    t.refuse = out_of_range("the range crosses the end of shard " + std::to_string(route->shard.id()));
    return t;
  }
  if (h.shard_id() != 0 && h.has_epoch() &&
      (h.epoch().conf_version() != route->shard.epoch().conf_version() ||
       h.epoch().range_version() != route->shard.epoch().range_version())) {
    RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::EPOCH_MISMATCH,
                               "shard " + std::to_string(route->shard.id()) + " is at another epoch");
    *e.detail.add_shards() = route->shard;
    t.refuse = std::move(e);
    return t;
  }
  t.shard = route->shard.id();
  if (!route->local) {
    RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::NOT_LEADER,
                               "node " + std::to_string(router_->self()) + " hosts no replica of shard " +
                                   std::to_string(t.shard));
    if (route->leader != 0) {
      e.detail.mutable_leader()->set_node_id(route->leader);
      e.detail.mutable_leader()->set_address(router_->ClientAddress(route->leader));
    }
    *e.detail.add_shards() = route->shard;
    t.refuse = std::move(e);
  }
  return t;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* req,
                                         v1::PutResponse* resp) {
  return Unary(ctx, *req, resp, &KvService::ServePut);
}

void KvService::ServePut(const v1::PutRequest& request, v1::PutResponse* resp, const Reply& reply) {
  const v1::PutRequest* req = &request;
  Validator v(limits_);
  std::optional<RequestError> err = v.Header(req->header());
  if (!err) err = v.Key(req->key(), "key");
  if (!err) err = Reserved(req->key(), nullptr);
  if (!err) err = v.Value(req->value());
  if (!err) err = v.Size(*req);
  if (err) {
    reply.finish(ToGrpcStatus(*err));
    return;
  }
  v1::RaftCommand cmd;
  *cmd.mutable_batch()->add_ops()->mutable_put() = *req;
  cmd.mutable_batch()->mutable_ops(0)->mutable_put()->clear_header();
  Write<v1::PutRequest, v1::PutResponse>(
      this, reply, *req, resp, {req->key()}, {}, std::move(cmd), req->prev_kv(),
      [](const ProposalResult& r, v1::PutResponse* out) {
        if (r.result.results_size() == 1) {
          v1::PutResponse p = r.result.results(0).put();
          if (p.has_prev()) *out->mutable_prev() = p.prev();
          out->set_mod_ts(p.mod_ts());
        }
      },
      [](v1::KV::Stub* s, grpc::ClientContext* c, const v1::PutRequest* q, v1::PutResponse* p,
         std::function<void(grpc::Status)> cb) { s->async()->Put(c, q, p, std::move(cb)); });
}

grpc::ServerUnaryReactor* KvService::Delete(grpc::CallbackServerContext* ctx, const v1::DeleteRequest* req,
                                         v1::DeleteResponse* resp) {
  return Unary(ctx, *req, resp, &KvService::ServeDelete);
}

void KvService::ServeDelete(const v1::DeleteRequest& request, v1::DeleteResponse* resp, const Reply& reply) {
  const v1::DeleteRequest* req = &request;
  Validator v(limits_);
  std::optional<RequestError> err = v.Header(req->header());
  if (!err) err = v.Key(req->key(), "key");
  if (!err) err = Reserved(req->key(), nullptr);
  if (err) {
    reply.finish(ToGrpcStatus(*err));
    return;
  }
  v1::RaftCommand cmd;
  *cmd.mutable_batch()->add_ops()->mutable_delete_() = *req;
  cmd.mutable_batch()->mutable_ops(0)->mutable_delete_()->clear_header();
  Write<v1::DeleteRequest, v1::DeleteResponse>(
      this, reply, *req, resp, {req->key()}, {}, std::move(cmd), req->prev_kv(),
      [](const ProposalResult& r, v1::DeleteResponse* out) {
        if (r.result.results_size() == 1) {
          const v1::DeleteResponse& d = r.result.results(0).delete_();
          out->set_deleted(d.deleted());
          if (d.has_prev()) *out->mutable_prev() = d.prev();
        }
      },
      [](v1::KV::Stub* s, grpc::ClientContext* c, const v1::DeleteRequest* q, v1::DeleteResponse* p,
         std::function<void(grpc::Status)> cb) { s->async()->Delete(c, q, p, std::move(cb)); });
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx, const v1::DeleteRangeRequest* req,
                                         v1::DeleteRangeResponse* resp) {
  return Unary(ctx, *req, resp, &KvService::ServeDeleteRange);
}

void KvService::ServeDeleteRange(const v1::DeleteRangeRequest& request, v1::DeleteRangeResponse* resp, const Reply& reply) {
  const v1::DeleteRangeRequest* req = &request;
  Validator v(limits_);
  std::optional<RequestError> err = v.Header(req->header());
  if (!err) err = v.Range(req->start_key(), req->end_key(), false);
  if (!err) err = Reserved(req->start_key(), &req->end_key());
  if (err) {
    reply.finish(ToGrpcStatus(*err));
    return;
  }
  v1::RaftCommand cmd;
  v1::DeleteRangeRequest* op = cmd.mutable_batch()->add_ops()->mutable_delete_range();
  op->set_start_key(req->start_key());
  std::string end = req->end_key();
  ClampRange(router_, req->start_key(), &end);
  op->set_end_key(end);
  Write<v1::DeleteRangeRequest, v1::DeleteRangeResponse>(
      this, reply, *req, resp, {req->start_key()}, {end}, std::move(cmd), true,
      [](const ProposalResult& r, v1::DeleteRangeResponse* out) {
        if (r.result.results_size() == 1) out->set_deleted(r.result.results(0).delete_range().deleted());
      },
      [](v1::KV::Stub* s, grpc::ClientContext* c, const v1::DeleteRangeRequest* q,
         v1::DeleteRangeResponse* p, std::function<void(grpc::Status)> cb) {
        s->async()->DeleteRange(c, q, p, std::move(cb));
      });
}

namespace {

// Validates a list of ops (Batch, or one Txn branch), clamps range ends, strips headers.
std::optional<RequestError> PrepareOps(const Validator& v, Router* router,
                                       google::protobuf::RepeatedPtrField<v1::Op>* ops,
                                       std::vector<std::string>* keys,
                                       std::vector<std::string>* range_ends, bool* reads) {
  for (v1::Op& op : *ops) {
    if (auto e = v.Op(op, keys, range_ends, reads)) return e;
    switch (op.op_case()) {
      case v1::Op::kGet: op.mutable_get()->clear_header(); break;
      case v1::Op::kPut: op.mutable_put()->clear_header(); break;
      case v1::Op::kDelete: op.mutable_delete_()->clear_header(); break;
      case v1::Op::kDeleteRange: {
        auto* dr = op.mutable_delete_range();
        dr->clear_header();
        std::string end = dr->end_key();
        ClampRange(router, dr->start_key(), &end);
        dr->set_end_key(end);
        range_ends->back() = end;
        break;
      }
      default: break;
    }
  }
  return std::nullopt;
}

}  // namespace

grpc::ServerUnaryReactor* KvService::Batch(grpc::CallbackServerContext* ctx, const v1::BatchRequest* req,
                                         v1::BatchResponse* resp) {
  return Unary(ctx, *req, resp, &KvService::ServeBatch);
}

void KvService::ServeBatch(const v1::BatchRequest& request, v1::BatchResponse* resp, const Reply& reply) {
  const v1::BatchRequest* req = &request;
  Validator v(limits_);
  std::optional<RequestError> err = v.Header(req->header());
  if (!err && req->ops_size() == 0) err = Invalid("a batch needs at least one op");
  if (!err && static_cast<uint64_t>(req->ops_size()) > limits_.max_batch_ops) {
    err = TooLarge("batch has " + std::to_string(req->ops_size()) + " ops; the limit is " +
                   std::to_string(limits_.max_batch_ops) + " (limits.max_batch_ops)");
  }
  if (!err) err = v.Size(*req);
  v1::RaftCommand cmd;
  std::vector<std::string> keys, range_ends;
  bool reads = false;
  if (!err) {
    *cmd.mutable_batch()->mutable_ops() = req->ops();
    err = PrepareOps(v, router_, cmd.mutable_batch()->mutable_ops(), &keys, &range_ends, &reads);
  }
  if (err) {
    reply.finish(ToGrpcStatus(*err));
    return;
  }
  Write<v1::BatchRequest, v1::BatchResponse>(
      this, reply, *req, resp, std::move(keys), range_ends, std::move(cmd), reads,
      [](const ProposalResult& r, v1::BatchResponse* out) { *out->mutable_results() = r.result.results(); },
      [](v1::KV::Stub* s, grpc::ClientContext* c, const v1::BatchRequest* q, v1::BatchResponse* p,
         std::function<void(grpc::Status)> cb) { s->async()->Batch(c, q, p, std::move(cb)); });
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx, const v1::TxnRequest* req,
                                         v1::TxnResponse* resp) {
  return Unary(ctx, *req, resp, &KvService::ServeTxn);
}

void KvService::ServeTxn(const v1::TxnRequest& request, v1::TxnResponse* resp, const Reply& reply) {
  const v1::TxnRequest* req = &request;
  Validator v(limits_);
  std::optional<RequestError> err = v.Header(req->header());
  const uint64_t most = static_cast<uint64_t>(
      std::max({req->compare_size(), req->success_size(), req->failure_size()}));
  if (!err && most > limits_.max_txn_ops) {
    err = TooLarge("txn has " + std::to_string(most) + " compares or ops in one part; the limit is " +
                   std::to_string(limits_.max_txn_ops) + " (limits.max_txn_ops)");
  }
  if (!err && req->compare_size() + req->success_size() + req->failure_size() == 0) {
    err = Invalid("a txn needs at least one compare or op");
  }
  if (!err) err = v.Size(*req);
  v1::RaftCommand cmd;
  std::vector<std::string> keys, range_ends;
  bool reads = true;
  if (!err) {
    v1::TxnRequest* txn = cmd.mutable_txn();
    *txn = *req;
    txn->clear_header();
    for (const v1::Compare& c : txn->compare()) {
      if ((err = v.Compare(c, &keys))) break;
    }
    if (!err) err = PrepareOps(v, router_, txn->mutable_success(), &keys, &range_ends, &reads);
    if (!err) err = PrepareOps(v, router_, txn->mutable_failure(), &keys, &range_ends, &reads);
  }
  if (err) {
    reply.finish(ToGrpcStatus(*err));
    return;
  }
  Write<v1::TxnRequest, v1::TxnResponse>(
      this, reply, *req, resp, std::move(keys), range_ends, std::move(cmd), true,
      [](const ProposalResult& r, v1::TxnResponse* out) {
        out->set_succeeded(r.result.succeeded());
        *out->mutable_results() = r.result.results();
      },
      [](v1::KV::Stub* s, grpc::ClientContext* c, const v1::TxnRequest* q, v1::TxnResponse* p,
         std::function<void(grpc::Status)> cb) { s->async()->Txn(c, q, p, std::move(cb)); });
}

grpc::ServerUnaryReactor* KvService::Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                         v1::GetResponse* resp) {
  return Unary(ctx, *req, resp, &KvService::ServeGet);
}

void KvService::ServeGet(const v1::GetRequest& request, v1::GetResponse* resp, const Reply& reply) {
  using Fwd = ForwardFn<v1::GetRequest, v1::GetResponse>;
  static constexpr Fwd kForward = [](v1::KV::Stub* s, grpc::ClientContext* c, const v1::GetRequest* q,
                                     v1::GetResponse* p, std::function<void(grpc::Status)> cb) {
    s->async()->Get(c, q, p, std::move(cb));
  };
  const v1::GetRequest* req = &request;
  Validator v(limits_);
  std::optional<RequestError> err = v.Header(req->header());
  if (!err) err = v.Key(req->key(), "key");
  if (err) {
    reply.finish(ToGrpcStatus(*err));
    return;
  }
  const bool stale = req->header().consistency() == v1::STALE;
  Target t = Route(req->header(), {req->key()}, nullptr);
  // A stale read may be served by any replica, so only "not hosted here" refuses it.
  if (t.refuse) {
    Refuse(this, reply, *req, resp, *t.refuse, kForward);
    return;
  }
  auto route = router_->Get(t.shard);
  ReadRequest r{.shard = t.shard, .check_epoch = true, .epoch = route->shard.epoch(), .keys = {req->key()}};
  r.consistency = stale ? v1::STALE : v1::LINEARIZABLE;
  r.max_staleness_ms = req->header().max_staleness_ms();
  r.deadline = reply.deadline;
  r.done = [this, reply, req, resp](std::expected<ReadContext, RequestError> ready) {
    if (!ready) {
      Refuse(this, reply, *req, resp, ready.error(), kForward);
      return;
    }
    storage::MvccReader reader(*ready->engine);
    auto got = reader.Get(req->key(), storage::Timestamp::Max());
    if (!got) {
      reply.finish(grpc::Status(grpc::StatusCode::INTERNAL, "read failed: " + got.error().message));
      return;
    }
    *resp->mutable_header() = ready->header;
    if (got->has_value()) {
      auto sv = DecodeStoredValue(**got);
      if (!sv) {
        reply.finish(grpc::Status(grpc::StatusCode::DATA_LOSS, "stored value of the key is corrupt: " + sv.error()));
        return;
      }
      resp->set_found(true);
      ToKeyValue(req->key(), *sv, false, resp->mutable_kv());
    }
    reply.finish(grpc::Status::OK);
  };
  store_->Read(std::move(r));
}

}  // namespace claw::server
