// KvService::Scan: a server-streaming call that reads one shard's part of a range in pages from
// one RocksDB snapshot taken at the read point, so that every page of the call sees the same state.
#include <grpcpp/grpcpp.h>

#include "server/kv_service.h"
#include "server/kv_state_machine.h"
#include "server/rpc_status.h"
#include "storage/mvcc.h"

namespace claw::server {
namespace {

// A page holds at most this many keys, or stops once it passed this many bytes (so a page stays
// well below gRPC's default 4 MiB receive limit even with 1 MiB values).
constexpr size_t kPageKeys = 512;
constexpr size_t kPageBytes = 1 << 20;

class ScanCall final : public grpc::ServerWriteReactor<v1::ScanResponse> {
 public:
  ScanCall(KvService* svc, grpc::CallbackServerContext* ctx, const v1::ScanRequest* req)
      : svc_(svc), req_(req) {
    const KvLimits& l = svc->limits();
    remaining_ = req->limit() == 0 || req->limit() > l.max_scan_limit ? l.max_scan_limit : req->limit();
    if (auto err = Validate()) {
      Finish(ToGrpcStatus(*err));
      return;
    }
    std::optional<Route> route = req->reverse() ? svc->router()->LookupBefore(req->end_key())
                                                : svc->router()->Lookup(req->start_key());
    if (req->header().shard_id() != 0) route = svc->router()->Get(req->header().shard_id());
    if (!route || route->shard.id() == kMetaShard) {
      Finish(ToGrpcStatus(req->header().shard_id() != 0
                              ? MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                                          "no shard " + std::to_string(req->header().shard_id()) +
                                              " is known to this node")
                              : MakeError(RpcCode::kFailedPrecondition, v1::Error::KEY_OUT_OF_RANGE,
                                          "no shard holds the start of the scan")));
      return;
    }
    shard_ = route->shard;
    const std::string& anchor = req->reverse() ? route->shard.start_key() : req->start_key();
    KvService::Target t = svc->Route(req->header(), {anchor}, nullptr);
    if (t.refuse) {
      Finish(ToGrpcStatus(*t.refuse));
      return;
    }
    ReadRequest r{.shard = t.shard, .check_epoch = true, .epoch = shard_.epoch()};
    r.consistency = req->header().consistency() == v1::STALE ? v1::STALE : v1::LINEARIZABLE;
    r.max_staleness_ms = req->header().max_staleness_ms();
    r.deadline = svc->Deadline(ctx);
    r.done = [this](std::expected<ReadContext, RequestError> ready) { OnReadPoint(std::move(ready)); };
    svc->store()->Read(std::move(r));
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading the scan"));
      return;
    }
    if (last_) {
      Finish(grpc::Status::OK);
      return;
    }
    NextPage();
  }

  void OnDone() override { delete this; }

 private:
  std::optional<RequestError> Validate() const {
    const KvLimits& l = svc_->limits();
    const std::string& s = req_->start_key();
    const std::string& e = req_->end_key();
    if (s.size() > l.max_key_bytes || e.size() > l.max_key_bytes) {
      return MakeError(RpcCode::kInvalidArgument, v1::Error::TOO_LARGE, "a scan bound is over limits.max_key_bytes");
    }
    if (!e.empty() && e <= s) {
      return MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                       "end_key must be after start_key (or empty for the end of the key space)");
    }
    if (req_->header().request_id().size() > 64) {
      return MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT, "request_id is over 64 bytes");
    }
    return std::nullopt;
  }

  void OnReadPoint(std::expected<ReadContext, RequestError> ready) {
    if (!ready) {
      Finish(ToGrpcStatus(ready.error()));
      return;
    }
    header_ = ready->header;
    shard_ = ready->shard;
    reader_ = std::make_unique<storage::MvccReader>(*ready->engine);  // snapshot taken now
    lo_ = std::max(req_->start_key(), shard_.start_key());
    hi_ = req_->end_key();
    if (!shard_.end_key().empty() && (hi_.empty() || shard_.end_key() < hi_)) hi_ = shard_.end_key();
    NextPage();
  }

  void NextPage() {
    resp_.Clear();
    *resp_.mutable_header() = header_;
    size_t bytes = 0;
    size_t n = 0;
    const size_t page_keys = std::min<uint64_t>(kPageKeys, remaining_);
    std::string last_key;
    bool page_full = false;
    std::string decode_error;
    auto r = reader_->ForEach(
        lo_, hi_, storage::Timestamp::Max(),
        req_->reverse() ? storage::ScanDirection::kReverse : storage::ScanDirection::kForward,
        [&](std::string_view key, std::string_view payload) {
          if (n == page_keys || bytes >= kPageBytes) {
            page_full = true;
            return false;
          }
          auto v = DecodeStoredValue(payload);
          if (!v) {
            decode_error = v.error();
            return false;
          }
          ToKeyValue(key, *v, req_->keys_only(), resp_.add_kvs());
          bytes += key.size() + (req_->keys_only() ? 0 : v->value.size()) + 32;
          last_key.assign(key);
          ++n;
          return true;
        });
    if (!r || !decode_error.empty()) {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                          "scan failed: " + (r ? decode_error : r.error().message)));
      return;
    }
    remaining_ -= n;
    if (page_full) {
      // Continue after last_key: forward, from its successor; reverse, below it.
      if (req_->reverse()) {
        hi_ = last_key;
      } else {
        lo_ = last_key + '\0';
      }
      if (remaining_ == 0) {
        resp_.set_more(true);
        resp_.set_resume_key(req_->reverse() ? hi_ : lo_);
        last_ = true;
      }
    } else {
      last_ = true;
      if (req_->reverse()) {
        if (!shard_.start_key().empty() && req_->start_key() < shard_.start_key()) {
          resp_.set_next_shard(true);
          resp_.set_next_key(shard_.start_key());
        }
      } else if (!shard_.end_key().empty() &&
                 (req_->end_key().empty() || shard_.end_key() < req_->end_key())) {
        resp_.set_next_shard(true);
        resp_.set_next_key(shard_.end_key());
      }
    }
    StartWrite(&resp_);
  }

  KvService* svc_;
  const v1::ScanRequest* req_;
  v1::ShardDescriptor shard_;
  v1::ResponseHeader header_;
  std::unique_ptr<storage::MvccReader> reader_;
  std::string lo_, hi_;
  uint64_t remaining_ = 0;
  bool last_ = false;
  v1::ScanResponse resp_;
};

}  // namespace

grpc::ServerWriteReactor<v1::ScanResponse>* KvService::Scan(grpc::CallbackServerContext* ctx,
                                                             const v1::ScanRequest* req) {
  return new ScanCall(this, ctx, req);
}

}  // namespace claw::server
