#include "server/watch_service.h"

#include <algorithm>
#include <memory>
#include <tuple>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "server/kv_state_machine.h"
#include <prometheus/registry.h>

#include "server/metrics.h"
#include "server/rpc_status.h"
#include "storage/mvcc.h"

namespace claw::server {
namespace {

// A catch-up response holds at least this many events (more to finish a revision), or stops
// once it passed this many bytes.
constexpr size_t kCatchUpEvents = 256;
constexpr size_t kCatchUpBytes = 1 << 20;

class WatchCall final : public grpc::ServerWriteReactor<v1::WatchResponse>, public WatchStream::Sink {
 public:
  WatchCall(WatchService* svc, const v1::WatchRequest* req) : svc_(svc), req_(req) {
    if (auto err = Validate()) {
      Finish(ToGrpcStatus(*err));
      return;
    }
    std::optional<Route> route =
        req->header().shard_id() != 0 ? svc->router()->Get(req->header().shard_id()) : svc->router()->Lookup(req->start_key());
    if (!route || route->shard.id() == kMetaShard) {
      Finish(ToGrpcStatus(req->header().shard_id() != 0
                              ? MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                                          "no shard " + std::to_string(req->header().shard_id()) +
                                              " is known to this node; refresh the routes")
                              : MakeError(RpcCode::kFailedPrecondition, v1::Error::KEY_OUT_OF_RANGE,
                                          "no shard holds the start of the watch")));
      return;
    }
    if (!route->local) {
      RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::NOT_LEADER,
                                 "this node hosts no replica of shard " + std::to_string(route->shard.id()) +
                                     "; watch at its leader");
      if (route->leader != 0) {
        e.detail.mutable_leader()->set_node_id(route->leader);
        e.detail.mutable_leader()->set_address(svc->router()->ClientAddress(route->leader));
      }
      Finish(ToGrpcStatus(e));
      return;
    }
    WatchStream::Options o{.start = req->start_key(),
                           .end = req->end_key(),
                           .start_revision = req->start_revision(),
                           .prev_kv = req->prev_kv(),
                           .progress_interval_ms = req->progress_interval_ms(),
                           .limits = svc->limits()};
    stream_ = std::make_shared<WatchStream>(this, std::move(o), [svc](WatchEnd why) { svc->Ended(why); });
    svc->Opened();
    WatchRegistration reg{.shard = route->shard.id(),
                          .check_epoch = req->header().has_epoch() && req->header().shard_id() != 0,
                          .epoch = req->header().epoch(),
                          .stream = stream_};
    // Runs on the worker, maybe after the call ended and this reactor was deleted: it touches
    // only the stream (shared).
    reg.done = [stream = stream_](std::expected<WatchRegistration::CatchUp, RequestError> c) {
      if (!c) {
        stream->End(std::move(c.error()), WatchEnd::kError);
        return;
      }
      stream->SetCatchUp(std::move(*c));  // before the first write starts (RaftWorker::RegisterWatch)
    };
    svc->store()->Watch(std::move(reg));
  }

  // WatchStream::Sink
  void Write(const v1::WatchResponse* response) override {
    svc_->Sent(static_cast<uint64_t>(response->events_size()));
    StartWrite(response);
  }
  void Finish(std::optional<RequestError> error) override {
    if (error) {
      Finish(ToGrpcStatus(*error));
    } else {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the watch was cancelled"));
    }
  }
  using grpc::ServerWriteReactor<v1::WatchResponse>::Finish;

  void OnWriteDone(bool ok) override {
    stream_->OnWriteDone(ok);
    std::optional<WatchCatchUp> point = stream_->TakeCatchUp();
    if (ok && point) {
      // The first response is out: read the catch-up now, on this gRPC thread.
      auto responses = CatchUp(*point);
      if (!responses) {
        stream_->End(MakeError(RpcCode::kInternal, v1::Error::UNAVAILABLE, "watch catch-up failed: " + responses.error()),
                     WatchEnd::kError);
        return;
      }
      stream_->CatchUpReady(std::move(*responses));
    }
  }
  void OnCancel() override {
    if (stream_) stream_->Cancel();
  }
  void OnDone() override { delete this; }

 private:
  std::optional<RequestError> Validate() const {
    const std::string& s = req_->start_key();
    const std::string& e = req_->end_key();
    if (s.size() > svc_->max_key_bytes() || e.size() > svc_->max_key_bytes()) {
      return MakeError(RpcCode::kInvalidArgument, v1::Error::TOO_LARGE, "a watch bound is over limits.max_key_bytes");
    }
    if (!e.empty() && e <= s) {
      return MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                       "end_key must be after start_key (or empty for the end of the key space)");
    }
    return std::nullopt;
  }

  struct Version {
    std::string key;
    uint64_t ts = 0;
    std::optional<StoredValue> value;  // nullopt: tombstone
    bool base = false;
  };

  // Every version in (from, snapshot_ts] of the served range, as events sorted by (revision, key),
  // in responses that each hold whole revisions; the last one carries snapshot_ts as progress.
  std::expected<std::vector<v1::WatchResponse>, std::string> CatchUp(const WatchRegistration::CatchUp& c) {
    std::vector<v1::WatchResponse> out;
    std::vector<Version> versions;
    if (c.from < c.snapshot_ts) {
      storage::MvccReader reader(*c.engine, c.snapshot->get());
      std::string error;
      auto r = storage::ForEachVersion(
          reader,
          {.start = c.start, .end = c.end, .after = storage::Timestamp(c.from), .upto = storage::Timestamp(c.snapshot_ts),
           .with_base = req_->prev_kv()},
          [&](const storage::MvccVersion& v) {
            Version out_v{.key = std::string(v.key), .ts = v.ts.value(), .value = std::nullopt, .base = v.base};
            if (v.type == storage::MvccValueType::kPut) {
              auto decoded = DecodeStoredValue(v.payload);
              if (!decoded) {
                error = decoded.error();
                return false;
              }
              out_v.value = std::move(*decoded);
            }
            versions.push_back(std::move(out_v));
            return true;
          });
      if (!r) return std::unexpected(r.error().message);
      if (!error.empty()) return std::unexpected(error);
    }
    // Previous values: the next older version of the same key (storage order is newest first).
    std::vector<ChangeEvent> events;
    for (size_t i = 0; i < versions.size(); ++i) {
      if (versions[i].base) continue;
      ChangeEvent e{.ts = versions[i].ts, .key = versions[i].key, .value = versions[i].value, .prev = std::nullopt};
      if (i + 1 < versions.size() && versions[i + 1].key == versions[i].key) e.prev = versions[i + 1].value;
      events.push_back(std::move(e));
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const ChangeEvent& a, const ChangeEvent& b) { return std::tie(a.ts, a.key) < std::tie(b.ts, b.key); });
    v1::WatchResponse r;
    size_t bytes = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      WatchStream::ToWire(events[i], req_->prev_kv(), r.add_events());
      bytes += events[i].key.size() + (events[i].value ? events[i].value->value.size() : 0) + 48;
      const bool revision_ends = i + 1 == events.size() || events[i + 1].ts != events[i].ts;
      if (revision_ends && (static_cast<size_t>(r.events_size()) >= kCatchUpEvents || bytes >= kCatchUpBytes)) {
        *r.mutable_header() = c.header;
        r.set_progress_revision(events[i].ts);
        out.push_back(std::move(r));
        r = v1::WatchResponse();
        bytes = 0;
      }
    }
    *r.mutable_header() = c.header;
    r.set_progress_revision(std::max(c.from, c.snapshot_ts));
    out.push_back(std::move(r));
    return out;
  }

  WatchService* svc_;
  const v1::WatchRequest* req_;
  std::shared_ptr<WatchStream> stream_;
};

}  // namespace

WatchService::WatchService(Store* store, Router* router, WatchLimits limits, uint64_t max_key_bytes, Metrics* metrics)
    : store_(store), router_(router), limits_(limits), max_key_bytes_(max_key_bytes), metrics_(metrics) {
  if (metrics_ == nullptr) return;
  prometheus::Registry& r = metrics_->registry();
  watchers_ = &prometheus::BuildGauge()
                   .Name("clawd_watchers")
                   .Help("Watch streams open on this node.")
                   .Register(r)
                   .Add({});
  events_sent_ = &prometheus::BuildCounter()
                      .Name("clawd_watch_events_sent_total")
                      .Help("Watch events handed to clients' streams.")
                      .Register(r)
                      .Add({});
  auto& ended = prometheus::BuildCounter()
                    .Name("clawd_watchers_ended_total")
                    .Help("Watch streams ended, by reason.")
                    .Register(r);
  const char* reasons[] = {"client", "fell_behind", "split", "removed", "shutdown", "error"};
  for (size_t i = 0; i < ended_.size(); ++i) ended_[i] = &ended.Add({{"reason", reasons[i]}});
}

grpc::ServerWriteReactor<v1::WatchResponse>* WatchService::Watch(grpc::CallbackServerContext*,
                                                                 const v1::WatchRequest* req) {
  return new WatchCall(this, req);
}

void WatchService::Opened() {
  if (watchers_ != nullptr) watchers_->Increment();
}

void WatchService::Ended(WatchEnd why) {
  if (watchers_ == nullptr) return;
  watchers_->Decrement();
  ended_[static_cast<size_t>(why)]->Increment();
}

void WatchService::Sent(uint64_t events) {
  if (events_sent_ != nullptr && events > 0) events_sent_->Increment(static_cast<double>(events));
}

}  // namespace claw::server
