// KvService::Multiplex: many Get / Put / Delete / Batch / Txn calls over one bidirectional stream
// (proto/claw/v1/kv.proto). Each call is served by the same Serve* function as its unary RPC; its
// answer is queued, and every answer queued while the previous message was being written goes
// out in the next one, so that a busy stream writes few, large messages.
//
// Lifecycle (gRPC callback API rules): reads run back to back; at most one write is in flight;
// Finish is called once the client has half-closed (or the call was cancelled), every call has
// been answered and nothing is left to write. OnDone then deletes the reactor: no completion can
// still reach it, because Finish waits for the last one. Completions arrive on raft worker and
// gRPC threads; `mu_` guards the queue and the counters, and no gRPC operation is started while
// holding it (a reaction may run inline).
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "server/grpc_metrics.h"
#include "server/kv_service.h"

namespace claw::server {
namespace {

class MultiplexStream final : public grpc::ServerBidiReactor<v1::MultiplexRequest, v1::MultiplexResponse> {
 public:
  explicit MultiplexStream(KvService* svc) : svc_(svc) { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // half-close or cancellation: answer what is in flight, then finish
      std::unique_lock lock(mu_);
      reading_ = false;
      Pump(lock);
      return;
    }
    {
      std::lock_guard lock(mu_);
      in_flight_ += static_cast<uint64_t>(in_.calls_size());
    }
    for (v1::MultiplexCall& call : *in_.mutable_calls()) Serve(std::move(call));
    in_.Clear();
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    writing_ = false;
    out_.Clear();
    if (!ok) broken_ = true;  // the client is gone: answers are dropped from now on
    Pump(lock);
  }

  void OnDone() override { delete this; }

 private:
  // One call and its answer; kept alive by the completion until the call is answered.
  struct Slot {
    v1::MultiplexCall call;
    v1::MultiplexAnswer answer;
    const Metrics::GrpcMethod* series = nullptr;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  };

  void Serve(v1::MultiplexCall call) {
    auto slot = std::make_shared<Slot>();
    slot->call = std::move(call);
    slot->answer.set_tag(slot->call.tag());
    slot->series = &svc_->MultiplexedSeries(slot->call.request_case());
    slot->series->started->Increment();
    Reply reply{.finish = [this, slot](grpc::Status s) { Answer(*slot, std::move(s)); },
                .deadline = svc_->DeadlineIn(slot->call.timeout_ms())};
    v1::MultiplexCall& c = slot->call;
    v1::MultiplexAnswer& a = slot->answer;
    switch (c.request_case()) {
      case v1::MultiplexCall::kGet: return svc_->ServeGet(c.get(), a.mutable_get(), reply);
      case v1::MultiplexCall::kPut: return svc_->ServePut(c.put(), a.mutable_put(), reply);
      case v1::MultiplexCall::kDelete: return svc_->ServeDelete(c.delete_(), a.mutable_delete_(), reply);
      case v1::MultiplexCall::kBatch: return svc_->ServeBatch(c.batch(), a.mutable_batch(), reply);
      case v1::MultiplexCall::kTxn: return svc_->ServeTxn(c.txn(), a.mutable_txn(), reply);
      case v1::MultiplexCall::REQUEST_NOT_SET:
        break;
    }
    reply.finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "a Multiplex call needs one of get, put, delete, batch, txn"));
  }

  void Answer(Slot& slot, grpc::Status status) {
    const int code = static_cast<int>(status.error_code());
    slot.series->handling->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - slot.started).count());
    svc_->store()->metrics()->GrpcHandled(*slot.series, code, GrpcCodeName(code)).Increment();
    v1::MultiplexAnswer& a = slot.answer;
    if (!status.ok()) {
      a.clear_response();
      a.set_code(static_cast<int32_t>(status.error_code()));
      a.set_message(status.error_message());
      a.set_details(status.error_details());
    }
    std::unique_lock lock(mu_);
    --in_flight_;
    if (!broken_) queued_.add_answers()->Swap(&a);
    Pump(lock);
  }

  // Starts the next write or the Finish, whichever is due; releases `lock` before either.
  void Pump(std::unique_lock<std::mutex>& lock) {
    if (writing_ || finished_) return;
    if (broken_) queued_.Clear();
    if (queued_.answers_size() > 0) {
      writing_ = true;
      out_.Swap(&queued_);
      lock.unlock();
      StartWrite(&out_);
      return;
    }
    if (reading_ || in_flight_ > 0) return;
    finished_ = true;
    const bool broken = broken_;
    lock.unlock();
    Finish(broken ? grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled") : grpc::Status::OK);
  }

  KvService* svc_;
  v1::MultiplexRequest in_;  // the read in flight (only OnReadDone touches it)
  v1::MultiplexResponse out_;  // the write in flight (only the writer touches it)
  std::mutex mu_;
  v1::MultiplexResponse queued_;  // answers waiting for the next write
  uint64_t in_flight_ = 0;        // calls read and not yet answered
  bool reading_ = true;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::MultiplexRequest, v1::MultiplexResponse>* KvService::Multiplex(
    grpc::CallbackServerContext* /*ctx*/) {
  return new MultiplexStream(this);
}

std::chrono::steady_clock::time_point KvService::DeadlineIn(uint64_t timeout_ms) const {
  const uint64_t ms = timeout_ms == 0 ? limits_.default_deadline_ms : timeout_ms;
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(std::min<uint64_t>(ms, 24ull * 3600 * 1000));
}

}  // namespace claw::server
