#include "client/lease.h"

#include <algorithm>
#include <map>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "claw/v1/lease.grpc.pb.h"
#include "client/grpc_runtime.h"

namespace claw::client {

using Clock = std::chrono::steady_clock;

class LeaseClient::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(std::move(options)) {}

  v1::Lease::Stub& StubFor(const std::string& address) {
    std::lock_guard lock(mu_);
    auto& stub = stubs_[address];
    if (!stub) stub = v1::Lease::NewStub(NodeChannel(address));
    return *stub;
  }

  // Where to send the next attempt: the leader last found, else the seeds in turn (skipping the
  // one that last failed to answer, when there are others).
  std::string Target() {
    std::lock_guard lock(mu_);
    if (!leader_.empty()) return leader_;
    std::string pick = options_.endpoints[next_seed_++ % options_.endpoints.size()];
    if (pick == unresponsive_ && options_.endpoints.size() > 1) {
      pick = options_.endpoints[next_seed_++ % options_.endpoints.size()];
    }
    return pick;
  }
  // `address` did not answer in time: forget it as the leader and avoid it next.
  void Unresponsive(const std::string& address) {
    std::lock_guard lock(mu_);
    if (leader_ == address) leader_.clear();
    unresponsive_ = address;
  }
  void SetLeader(std::string address) {
    std::lock_guard lock(mu_);
    leader_ = std::move(address);
  }

  Clock::time_point DeadlineOf(const CallOptions& options) const {
    return Clock::now() + (options.deadline.count() > 0 ? options.deadline : options_.default_deadline);
  }

  // Runs `attempt(stub, context)` until it succeeds, fails for good, or the deadline passes.
  // `definite_only`: retry only failures that certainly had no effect.
  Result<void> Run(const CallOptions& options, bool definite_only,
                   const std::function<grpc::Status(v1::Lease::Stub&, grpc::ClientContext&)>& attempt) {
    const Clock::time_point deadline = DeadlineOf(options);
    Error last{.code = ErrorCode::kDeadlineExceeded, .message = "no meta leader answered in time"};
    while (Clock::now() < deadline) {
      const std::string address = Target();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
      grpc::Status s = attempt(StubFor(address), ctx);
      if (s.ok()) return {};
      v1::Error detail;
      const bool has = DecodeErrorDetail(s.error_details(), &detail);
      last = ErrorFromStatus(s, has ? &detail : nullptr, definite_only);
      if (has && detail.code() == v1::Error::NOT_LEADER) {
        SetLeader(detail.leader().address());
        if (!detail.leader().address().empty()) continue;
      } else if (last.code == ErrorCode::kUnavailable || last.code == ErrorCode::kDeadlineExceeded) {
        Unresponsive(address);
        if (definite_only && !last.definite) return std::unexpected(last);
      } else {
        return std::unexpected(last);
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(100),
                                                            std::max<Clock::duration>(deadline - Clock::now(), {})));
    }
    return std::unexpected(last);
  }

 private:
  const ClientOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<v1::Lease::Stub>> stubs_;
  std::string leader_;
  std::string unresponsive_;
  size_t next_seed_ = 0;
};

namespace {

LeaseInfo ToLeaseInfo(const v1::LeaseTimeToLiveResponse& r) {
  LeaseInfo info;
  info.id = r.id();
  info.ttl_ms = r.ttl_ms();
  info.granted_ttl_ms = r.granted_ttl_ms();
  info.state = r.state() == v1::LeaseRecord::REVOKING ? LeaseInfo::State::kRevoking : LeaseInfo::State::kActive;
  for (const std::string& k : r.keys()) info.keys.push_back(k);
  return info;
}

}  // namespace

Result<std::unique_ptr<LeaseClient>> LeaseClient::Open(ClientOptions options) {
  if (options.endpoints.empty()) {
    return std::unexpected(Error{.code = ErrorCode::kInvalidArgument, .message = "no endpoints given"});
  }
  return std::unique_ptr<LeaseClient>(new LeaseClient(std::make_shared<Impl>(std::move(options))));
}

LeaseClient::LeaseClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
LeaseClient::~LeaseClient() = default;

Result<LeaseInfo> LeaseClient::Grant(std::chrono::milliseconds ttl, uint64_t id, const CallOptions& options) {
  v1::LeaseGrantRequest req;
  req.set_ttl_ms(ttl.count() < 0 ? 0 : static_cast<uint64_t>(ttl.count()));
  req.set_id(id);
  v1::LeaseGrantResponse resp;
  auto r = impl_->Run(options, true, [&](v1::Lease::Stub& stub, grpc::ClientContext& ctx) {
    return stub.Grant(&ctx, req, &resp);
  });
  if (!r) return std::unexpected(r.error());
  return LeaseInfo{.id = resp.id(), .ttl_ms = resp.ttl_ms(), .granted_ttl_ms = resp.ttl_ms()};
}

Result<uint64_t> LeaseClient::Revoke(uint64_t id, const CallOptions& options) {
  v1::LeaseRevokeRequest req;
  req.set_id(id);
  v1::LeaseRevokeResponse resp;
  auto r = impl_->Run(options, false, [&](v1::Lease::Stub& stub, grpc::ClientContext& ctx) {
    return stub.Revoke(&ctx, req, &resp);
  });
  if (!r) return std::unexpected(r.error());
  return resp.deleted();
}

Result<LeaseInfo> LeaseClient::TimeToLive(uint64_t id, Keys keys, const CallOptions& options) {
  v1::LeaseTimeToLiveRequest req;
  req.set_id(id);
  req.set_keys(keys == Keys::kWithKeys);
  v1::LeaseTimeToLiveResponse resp;
  auto r = impl_->Run(options, false, [&](v1::Lease::Stub& stub, grpc::ClientContext& ctx) {
    return stub.TimeToLive(&ctx, req, &resp);
  });
  if (!r) return std::unexpected(r.error());
  return ToLeaseInfo(resp);
}

Result<std::vector<LeaseInfo>> LeaseClient::List(const CallOptions& options) {
  v1::LeaseLeasesResponse resp;
  auto r = impl_->Run(options, false, [&](v1::Lease::Stub& stub, grpc::ClientContext& ctx) {
    return stub.Leases(&ctx, v1::LeaseLeasesRequest(), &resp);
  });
  if (!r) return std::unexpected(r.error());
  std::vector<LeaseInfo> out;
  for (const auto& l : resp.leases()) out.push_back(ToLeaseInfo(l));
  return out;
}

Result<uint64_t> LeaseClient::KeepAliveOnce(uint64_t id, const CallOptions& options) {
  uint64_t ttl = 0;
  auto r = impl_->Run(options, false, [&](v1::Lease::Stub& stub, grpc::ClientContext& ctx) {
    auto stream = stub.KeepAlive(&ctx);
    v1::LeaseKeepAliveRequest req;
    req.set_id(id);
    v1::LeaseKeepAliveResponse resp;
    if (stream->Write(req) && stream->Read(&resp)) ttl = resp.ttl_ms();
    stream->WritesDone();
    return stream->Finish();
  });
  if (!r) return std::unexpected(r.error());
  if (ttl == 0) {
    return std::unexpected(Error{.code = ErrorCode::kLeaseNotFound,
                                 .message = "lease " + std::to_string(id) + " does not exist (expired or revoked)"});
  }
  return ttl;
}

std::unique_ptr<LeaseKeepAlive> LeaseClient::KeepAlive(uint64_t id, std::function<void(const Error&)> on_lost) {
  return std::make_unique<LeaseKeepAlive>(impl_, id, std::move(on_lost));
}

LeaseKeepAlive::LeaseKeepAlive(std::shared_ptr<LeaseClient::Impl> impl, uint64_t id,
                               std::function<void(const Error&)> on_lost)
    : impl_(std::move(impl)), id_(id), on_lost_(std::move(on_lost)) {
  thread_ = std::thread([this] { Run(); });
}

LeaseKeepAlive::~LeaseKeepAlive() { Stop(); }

void LeaseKeepAlive::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void LeaseKeepAlive::Run() {
  using std::chrono::milliseconds;
  milliseconds interval{1000};
  // Sleeps up to `d` in small steps so that Stop() is quick.
  auto nap = [this](Clock::duration d) {
    const Clock::time_point until = Clock::now() + d;
    while (!stop_.load() && Clock::now() < until) {
      std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(20), until - Clock::now()));
    }
  };
  while (!stop_.load()) {
    const std::string address = impl_->Target();
    grpc::ClientContext ctx;
    // Bounded streams (one or two renewals each): a leader that stops answering is left within
    // 1 s, well inside the grace a new meta leader gives every lease.
    ctx.set_deadline(std::chrono::system_clock::now() + std::min<milliseconds>(2 * interval, milliseconds(1000)));
    auto stream = impl_->StubFor(address).KeepAlive(&ctx);
    bool broke = false;
    while (!stop_.load()) {
      v1::LeaseKeepAliveRequest req;
      req.set_id(id_);
      v1::LeaseKeepAliveResponse resp;
      if (!stream->Write(req) || !stream->Read(&resp)) {
        broke = true;
        break;
      }
      if (resp.ttl_ms() == 0) {
        alive_.store(false);
        ctx.TryCancel();
        stream->Finish();
        if (on_lost_) {
          on_lost_(Error{.code = ErrorCode::kLeaseNotFound,
                         .message = "lease " + std::to_string(id_) + " does not exist any more (expired or revoked)"});
        }
        return;
      }
      last_ttl_ms_.store(resp.ttl_ms());
      renewals_.fetch_add(1);
      interval = std::clamp(milliseconds(resp.ttl_ms() / 3), milliseconds(100), milliseconds(5000));
      nap(interval);
      if (ctx.deadline() - std::chrono::system_clock::now() < interval) break;  // open a fresh stream
    }
    if (stop_.load()) {
      ctx.TryCancel();
      stream->Finish();
      return;
    }
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    v1::Error detail;
    if (DecodeErrorDetail(s.error_details(), &detail) && detail.code() == v1::Error::NOT_LEADER) {
      impl_->SetLeader(detail.leader().address());
      if (!detail.leader().address().empty()) continue;
    } else if (broke) {
      impl_->Unresponsive(address);
    }
    if (broke) nap(milliseconds(100));
  }
}

}  // namespace claw::client
