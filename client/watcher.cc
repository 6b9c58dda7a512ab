#include "client/watcher.h"

#include <algorithm>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "claw/v1/watch.grpc.pb.h"
#include "client/convert.h"
#include "client/dispatcher.h"
#include "client/retry.h"

namespace claw::client {
namespace {

// Errors resuming cannot fix: the watch stops with them.
bool Terminal(ErrorCode code) {
  switch (code) {
    case ErrorCode::kCompacted:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kTooLarge:
    case ErrorCode::kUnimplemented:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

WatchEvent ToEvent(const v1::WatchEvent& e) {
  WatchEvent out;
  out.type = e.type() == v1::WatchEvent::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
  out.kv = ToKeyValue(e.kv());
  if (e.has_prev_kv()) out.prev = ToKeyValue(e.prev_kv());
  return out;
}

}  // namespace

Watcher::Watcher(Dispatcher& dispatcher, std::string start, std::string end, WatchOptions options,
                 OnUpdate on_update)
    : dispatcher_(dispatcher), options_(options), on_update_(std::move(on_update)) {
  Spawn(std::move(start), std::move(end), options_.start_revision);
}

Watcher::~Watcher() {
  Cancel();
  for (;;) {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    if (threads.empty()) break;
    for (std::thread& t : threads) t.join();
  }
}

void Watcher::Spawn(std::string lo, std::string hi, uint64_t revision) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  threads_.emplace_back([this, lo = std::move(lo), hi = std::move(hi), revision]() mutable {
    RunPart(std::move(lo), std::move(hi), revision);
  });
}

void Watcher::Fail(Error error) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  error_ = std::move(error);
  for (grpc::ClientContext* ctx : contexts_) ctx->TryCancel();
  done_cv_.notify_all();
}

void Watcher::Cancel() {
  Error e;
  e.code = ErrorCode::kCancelled;
  e.message = "the watch was cancelled";
  Fail(std::move(e));
}

Error Watcher::Wait() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [this] { return stopped_; });
  return *error_;
}

std::optional<Error> Watcher::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!done_cv_.wait_for(lock, timeout, [this] { return stopped_; })) return std::nullopt;
  return *error_;
}

bool Watcher::Done() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

void Watcher::RunPart(std::string lo, std::string hi, uint64_t revision) {
  const ClientOptions& copts = dispatcher_.options();
  uint64_t seed = 0;
  {
    std::lock_guard lock(mu_);
    seed = copts.seed + (++seed_) * 0x9e3779b97f4a7c15ULL;
  }
  auto backoff = std::make_unique<Backoff>(copts.backoff_base, copts.backoff_max, seed);
  std::string avoid;  // the address that failed last
  uint64_t rotation = 0;
  // Waits for the back-off unless the watch stops first; false when it stopped.
  auto pause = [&](std::chrono::milliseconds floor) {
    std::unique_lock lock(mu_);
    return !done_cv_.wait_for(lock, backoff->Next(floor), [this] { return stopped_; });
  };
  for (bool first = true;; first = false) {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
    }
    if (!first) resumes_.fetch_add(1);
    const auto deadline = Dispatcher::Clock::now() + copts.default_deadline;
    auto shard = dispatcher_.Route(lo, Dispatcher::RouteBy::kKey, deadline);
    if (!shard) {
      if (!pause(std::chrono::milliseconds(0))) return;
      continue;
    }
    // Fan-out: this part keeps what the shard holds; the rest is a new part from the same revision.
    if (!shard->end_key.empty() && (hi.empty() || shard->end_key < hi)) {
      Spawn(shard->end_key, hi, revision);
      hi = shard->end_key;
    }
    // The leader by default; after a failure there, the other replicas in turn.
    std::string address = shard->leader_address;
    if (address.empty() || address == avoid) {
      std::vector<std::string> candidates;
      for (const ReplicaInfo& r : shard->replicas) {
        if (auto a = dispatcher_.cache().AddressOf(r.node_id); a && *a != avoid) candidates.push_back(*a);
      }
      if (candidates.empty()) candidates = copts.endpoints;
      address = candidates[rotation++ % candidates.size()];
    }
    grpc::ClientContext ctx;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      contexts_.push_back(&ctx);
    }
    v1::WatchRequest request;
    request.mutable_header()->set_shard_id(shard->id);
    request.mutable_header()->mutable_epoch()->set_conf_version(shard->epoch.conf_version);
    request.mutable_header()->mutable_epoch()->set_range_version(shard->epoch.range_version);
    request.set_start_key(lo);
    request.set_end_key(hi);
    request.set_start_revision(revision);
    request.set_prev_kv(options_.prev_kv);
    request.set_progress_interval_ms(static_cast<uint64_t>(options_.progress_interval.count()));
    auto stub = v1::Watch::NewStub(dispatcher_.ChannelFor(address));
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader = stub->Watch(&ctx, request);
    v1::WatchResponse response;
    while (reader->Read(&response)) {
      backoff = std::make_unique<Backoff>(copts.backoff_base, copts.backoff_max, seed + revision);
      avoid.clear();
      WatchUpdate update{.start = lo, .end = hi, .events = {}, .progress_revision = 0};
      uint64_t reached = std::max(revision, response.progress_revision());
      for (const v1::WatchEvent& e : response.events()) {
        if (e.kv().mod_ts() <= revision) continue;  // delivered before a resume
        reached = std::max(reached, e.kv().mod_ts());
        update.events.push_back(ToEvent(e));
      }
      if (update.events.empty() && reached == revision && !response.created()) continue;
      update.progress_revision = reached;
      revision = reached;
      std::lock_guard deliver(deliver_mu_);
      {
        std::lock_guard lock(mu_);
        if (stopped_) break;
      }
      on_update_(update);
    }
    const grpc::Status status = reader->Finish();
    {
      std::lock_guard lock(mu_);
      std::erase(contexts_, &ctx);
      if (stopped_) return;
    }
    v1::Error detail;
    const bool has_detail = !status.ok() && DecodeErrorDetail(status.error_details(), &detail);
    Error error;
    if (status.ok()) {
      error.code = ErrorCode::kUnavailable;
      error.message = "the watch stream ended";
    } else {
      error = ErrorFromStatus(status, has_detail ? &detail : nullptr, false);
    }
    if (Terminal(error.code)) {
      error.message = "watch of shard " + std::to_string(shard->id) + " at " + address + ": " + error.message;
      Fail(std::move(error));
      return;
    }
    if (error.code == ErrorCode::kWatchFellBehind) continue;  // resume at once from `revision`
    switch (DecideRetry(error)) {
      case RetryAction::kFollowLeader:
        dispatcher_.cache().SetLeader(shard->id, error.leader_node_id, error.leader_address);
        continue;
      case RetryAction::kRefreshRoutes: {
        std::vector<ShardInfo> fresh;
        for (const v1::ShardDescriptor& d : detail.shards()) fresh.push_back(ToShardInfo(d));
        if (!fresh.empty()) dispatcher_.cache().Update(fresh);
        (void)dispatcher_.Refresh(deadline, std::nullopt);
        if (!pause(std::chrono::milliseconds(0))) return;
        continue;
      }
      default:
        // UNAVAILABLE (node down, shutting down, replica removed), OVERLOADED, anything else
        // transient: try another replica after a back-off, with fresh routes.
        dispatcher_.cache().ForgetLeader(shard->id, address);
        avoid = address;
        if (!pause(std::chrono::milliseconds(error.retry_after_ms))) return;
        (void)dispatcher_.Refresh(Dispatcher::Clock::now() + copts.default_deadline, std::nullopt);
        continue;
    }
  }
}

}  // namespace claw::client
