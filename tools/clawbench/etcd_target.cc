// The etcd target: etcd's v3 KV API (etcd_kv.proto, the subset clawbench needs) over gRPC's
// callback API, `conns` channels, connection i to endpoint i mod #endpoints (so requests reach
// every member, as etcd's benchmark does without --target-leader; members forward proposals to
// their leader). Every call carries its own ClientContext with the --timeout deadline.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "tools/clawbench/etcd_kv.grpc.pb.h"
#include "tools/clawbench/target.h"

namespace claw::clawbench {

namespace {

std::string GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

// One call in flight: everything gRPC's callback API needs alive until it reports.
template <typename Req, typename Resp>
struct Call {
  grpc::ClientContext context;
  Req request;
  Resp response;
  std::function<void(Outcome)> done;
};

class EtcdTarget : public Target {
 public:
  explicit EtcdTarget(const Options& o) : options_(o), value_(o.val_size, 'v') {}
  ~EtcdTarget() override {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return in_flight_ == 0; });
  }

  std::string Prepare() override {
    for (int i = 0; i < options_.conns; ++i) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      // Channels with equal arguments share their connections; this one's must be its own.
      args.SetInt("clawbench.conn", i);
      const std::string& endpoint = options_.endpoints[static_cast<size_t>(i) % options_.endpoints.size()];
      auto channel = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + options_.dial_timeout)) {
        return "cannot connect to " + endpoint + " within --dial-timeout";
      }
      stubs_.push_back(etcdserverpb::KV::NewStub(channel));
    }
    return {};
  }

  void Start(const Request& r, std::function<void(Outcome)> done) override {
    etcdserverpb::KV::Stub& stub = *stubs_[r.client % stubs_.size()];
    {
      std::lock_guard lock(mu_);
      ++in_flight_;
    }
    switch (r.kind) {
      case OpKind::kPut: {
        auto* call = NewCall<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(std::move(done));
        call->request.set_key(r.keys[0]);
        call->request.set_value(value_);
        stub.async()->Put(&call->context, &call->request, &call->response, [this, call](grpc::Status s) {
          Finish(call, s, Outcome{.ok = true});
        });
        return;
      }
      case OpKind::kGet: {
        auto* call = NewCall<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(std::move(done));
        call->request.set_key(r.keys[0]);
        call->request.set_serializable(options_.consistency == ReadConsistency::kSerializable);
        stub.async()->Range(&call->context, &call->request, &call->response, [this, call](grpc::Status s) {
          Finish(call, s, Outcome{.ok = true, .found = call->response.kvs_size() > 0});
        });
        return;
      }
      case OpKind::kScan: {
        auto* call = NewCall<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(std::move(done));
        call->request.set_key(r.keys[0]);
        call->request.set_range_end(std::string(1, '\0'));  // every key from `key` on
        call->request.set_limit(static_cast<int64_t>(options_.scan_limit));
        call->request.set_serializable(options_.consistency == ReadConsistency::kSerializable);
        stub.async()->Range(&call->context, &call->request, &call->response, [this, call](grpc::Status s) {
          Finish(call, s, Outcome{.ok = true, .keys_read = static_cast<uint64_t>(call->response.kvs_size())});
        });
        return;
      }
      case OpKind::kBatch: {
        auto* call = NewCall<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(std::move(done));
        for (const auto& k : r.keys) {
          auto* put = call->request.add_success()->mutable_request_put();
          put->set_key(k);
          put->set_value(value_);
        }
        stub.async()->Txn(&call->context, &call->request, &call->response, [this, call](grpc::Status s) {
          Finish(call, s, Outcome{.ok = true});
        });
        return;
      }
      case OpKind::kCheckpointWrite:  // refused by the option checks
        done(Outcome{.ok = false, .error_code = "UNIMPLEMENTED", .error_message = "etcd has no named checkpoints"});
        return;
    }
  }

 private:
  template <typename Req, typename Resp>
  Call<Req, Resp>* NewCall(std::function<void(Outcome)> done) {
    auto* call = new Call<Req, Resp>();
    call->context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    call->done = std::move(done);
    return call;
  }

  // Runs the call's `done` with `ok` or the status's error, frees the call.
  template <typename Req, typename Resp>
  void Finish(Call<Req, Resp>* call, const grpc::Status& status, Outcome ok) {
    std::unique_ptr<Call<Req, Resp>> owned(call);
    auto done = std::move(owned->done);
    owned.reset();
    if (status.ok()) {
      done(std::move(ok));
    } else {
      done(Outcome{.ok = false, .error_code = GrpcCodeName(status.error_code()), .error_message = status.error_message()});
    }
    std::lock_guard lock(mu_);
    if (--in_flight_ == 0) idle_.notify_all();
  }

  Options options_;
  std::string value_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs_;
  std::mutex mu_;
  std::condition_variable idle_;
  uint64_t in_flight_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<Target> MakeEtcdTarget(const Options& options) { return std::make_unique<EtcdTarget>(options); }

}  // namespace claw::clawbench
