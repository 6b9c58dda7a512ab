// KvService: the claw.v1.KV gRPC service (callback API). Handlers validate a request against the
// limits, find the shard owning its keys, and enqueue a proposal or a read on the store; the store
// answers on a raft worker thread and the handler's completion finishes the call. Handlers never
// block and never touch raft/ (STYLE.md "Threads" rule 5).
//
// Every refusal made here happens before anything is proposed and is definite. A request for a
// shard this node does not lead is answered NOT_LEADER with the leader's address, or forwarded to
// the leader (one hop; the forwarded call carries forward = false) when the caller set
// RequestHeader.forward.
//
// Thread-safe (gRPC calls handlers concurrently). Lifecycle: construct with a running Store; the
// gRPC server must be shut down before the Store is destroyed.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "claw/v1/kv.grpc.pb.h"
#include "server/metrics.h"
#include "server/requests.h"
#include "server/router.h"
#include "server/store.h"

namespace claw::server {

// How one request is answered: `finish` ends it (a unary call's reactor, or one call of a
// Multiplex stream, server/multiplex_stream.h); `deadline` is when the caller stops waiting.
// The request and response objects the Serve* functions get live until `finish` runs.
struct Reply {
  std::function<void(grpc::Status)> finish;
  std::chrono::steady_clock::time_point deadline{};
};

struct KvLimits {
  uint64_t max_key_bytes = 4096;
  uint64_t max_value_bytes = 1 << 20;
  uint64_t max_request_bytes = 4 << 20;
  uint64_t max_batch_ops = 1024;
  uint64_t max_txn_ops = 128;
  uint64_t max_scan_limit = 10'000;
  uint64_t default_deadline_ms = 5'000;
};

class KvService final : public v1::KV::CallbackService {
 public:
  KvService(Store* store, Router* router, KvLimits limits);
  ~KvService() override;

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::GetResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* req,
                                v1::PutResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v1::DeleteRequest* req,
                                   v1::DeleteResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteRangeRequest* req,
                                        v1::DeleteRangeResponse* resp) override;
  grpc::ServerWriteReactor<v1::ScanResponse>* Scan(grpc::CallbackServerContext* ctx,
                                                   const v1::ScanRequest* req) override;
  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx, const v1::BatchRequest* req,
                                  v1::BatchResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const v1::TxnRequest* req,
                                v1::TxnResponse* resp) override;
  grpc::ServerBidiReactor<v1::MultiplexRequest, v1::MultiplexResponse>* Multiplex(
      grpc::CallbackServerContext* ctx) override;

  // The handlers behind the unary RPCs and Multiplex calls.
  void ServeGet(const v1::GetRequest& req, v1::GetResponse* resp, const Reply& reply);
  void ServePut(const v1::PutRequest& req, v1::PutResponse* resp, const Reply& reply);
  void ServeDelete(const v1::DeleteRequest& req, v1::DeleteResponse* resp, const Reply& reply);
  void ServeDeleteRange(const v1::DeleteRangeRequest& req, v1::DeleteRangeResponse* resp, const Reply& reply);
  void ServeBatch(const v1::BatchRequest& req, v1::BatchResponse* resp, const Reply& reply);
  void ServeTxn(const v1::TxnRequest& req, v1::TxnResponse* resp, const Reply& reply);
  // A deadline `timeout_ms` from now (0: limits().default_deadline_ms).
  std::chrono::steady_clock::time_point DeadlineIn(uint64_t timeout_ms) const;
  // The gRPC series a Multiplex call of `kind` counts in: its unary method's, with grpc_type
  // "multiplexed" (dashboards' per-method rates include them).
  const Metrics::GrpcMethod& MultiplexedSeries(v1::MultiplexCall::RequestCase kind);

  // The stub for a node's client address (cached), for forwarding.
  v1::KV::Stub* StubFor(const std::string& address);
  std::chrono::steady_clock::time_point Deadline(const grpc::CallbackServerContext* ctx) const;
  Store* store() { return store_; }
  Router* router() { return router_; }
  const KvLimits& limits() const { return limits_; }

  // Where a request goes: the shard (0 when none owns the keys) and the answer to give at once
  // (not local / no leader) when the request cannot be served here.
  struct Target {
    uint64_t shard = 0;
    std::optional<RequestError> refuse;
    std::string leader_address;  // for forwarding
  };
  Target Route(const v1::RequestHeader& h, const std::vector<std::string>& keys,
               const std::string* range_end);

  // Validates a lease named by a put before the write is routed (LeaseService::CheckLease):
  // answers nothing (the lease is ACTIVE) or the error to refuse the write with. Set once, before
  // serving; unset = puts naming a lease are refused.
  using LeaseCheck = std::function<void(uint64_t lease, std::chrono::steady_clock::time_point deadline,
                                        std::function<void(std::optional<RequestError>)> done)>;
  void set_lease_check(LeaseCheck check) { lease_check_ = std::move(check); }
  const LeaseCheck& lease_check() const { return lease_check_; }
  // Checks every lease of `leases` in turn, then calls `then` (or finishes the call with the
  // first refusal).
  void CheckLeases(std::vector<uint64_t> leases, std::chrono::steady_clock::time_point deadline,
                   std::function<void(grpc::Status)> fail, std::function<void()> then);

 private:
  // A unary RPC served by `serve`, answered through the call's default reactor.
  template <class Req, class Resp>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const Req& req, Resp* resp,
                                  void (KvService::*serve)(const Req&, Resp*, const Reply&));

  Store* store_;
  Router* router_;
  KvLimits limits_;
  LeaseCheck lease_check_;
  std::mutex stubs_mu_;
  std::map<std::string, std::unique_ptr<v1::KV::Stub>> stubs_;  // guarded by stubs_mu_
  // MultiplexedSeries by request case (index 0: a call with none).
  std::array<const Metrics::GrpcMethod*, 8> multiplexed_{};
};

}  // namespace claw::server
