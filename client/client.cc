#include "client/client.h"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "claw/v1/error.pb.h"
#include "client/checkpoint_layout.h"
#include "client/convert.h"
#include "client/dispatcher.h"
#include "client/scanner.h"
#include "client/thread_pool.h"

namespace claw::client {
namespace {

using Kind = Dispatcher::Kind;
using RouteBy = Dispatcher::RouteBy;

std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  Error error;
  error.code = code;
  error.message = std::move(message);
  error.definite = true;
  return std::unexpected(std::move(error));
}

Dispatcher::Call NewCall(Dispatcher& dispatcher, std::string_view route_key, Kind kind,
                         const CallOptions& options) {
  Dispatcher::Call call;
  call.route_key = std::string(route_key);
  call.kind = kind;
  call.options = options;
  call.deadline = dispatcher.DeadlineOf(options);
  if (kind == Kind::kWrite) call.request_id = dispatcher.NewRequestId();
  return call;
}

// Whether `op` can go to `shard` (a delete_range must end within it).
bool OpFits(const Op& op, const ShardInfo& shard) {
  if (!ShardContains(shard, op.key)) return false;
  if (op.type != Op::Type::kDeleteRange || op.end_key.empty()) return true;
  return shard.end_key.empty() || op.end_key <= shard.end_key;
}

bool AllFit(const std::vector<const Op*>& ops, const ShardInfo& shard) {
  return std::all_of(ops.begin(), ops.end(), [&](const Op* op) { return OpFits(*op, shard); });
}

bool AnyWrite(const std::vector<const Op*>& ops) {
  return std::any_of(ops.begin(), ops.end(), [](const Op* op) { return op->type != Op::Type::kGet; });
}

// The end of the piece of [.., end) that `shard` holds: the smaller of the two ends.
std::string ClampEnd(std::string_view end, const ShardInfo& shard) {
  if (end.empty()) return shard.end_key;
  if (shard.end_key.empty()) return std::string(end);
  return std::string(std::min(end, std::string_view(shard.end_key)));
}

// Splits `pending` (indexes into `ops`) into the ops `shard` can take and the rest.
void Partition(const std::vector<Op>& ops, const std::vector<size_t>& pending,
               const ShardInfo& shard, std::vector<size_t>* group, std::vector<size_t>* rest) {
  for (size_t i : pending) (OpFits(ops[i], shard) ? group : rest)->push_back(i);
}

// Calls larger than this go as unary RPCs, so that a multiplexed message stays far below the
// server's limit on one received message (limits.max_request_bytes + 512 KiB).
constexpr size_t kMaxMultiplexedCallBytes = 256 << 10;

// One attempt of a point request: over the node's Multiplex stream when there is one, else (or
// for a large request, a node without Multiplex, or a call made from an async callback, which
// runs on a stream's reader) as a unary RPC. `fill` builds the request.
template <class Req, class Resp, class Fill>
grpc::Status Send(const Dispatcher::Target& target, grpc::ClientContext& context, const Fill& fill, Resp* response,
                  Req* (v1::MultiplexCall::*request_of)(), Resp* (v1::MultiplexAnswer::*response_of)(),
                  grpc::Status (v1::KV::Stub::*unary)(grpc::ClientContext*, const Req&, Resp*)) {
  if (target.mux != nullptr && !target.mux->unsupported() && !Multiplexer::InCallback()) {
    v1::MultiplexCall call;
    Req* request = (call.*request_of)();
    fill(request);
    if (request->ByteSizeLong() > kMaxMultiplexedCallBytes) return (target.kv->*unary)(&context, *request, response);
    v1::MultiplexAnswer answer;
    grpc::Status status = target.mux->Call(std::move(call), context.deadline(), &answer);
    if (status.error_code() != grpc::StatusCode::UNIMPLEMENTED || !target.mux->unsupported()) {
      if (status.ok()) (answer.*response_of)()->Swap(response);
      return status;
    }
    // The node has no Multiplex (an older server): unary from now on; this call was not served.
  }
  Req request;
  fill(&request);
  return (target.kv->*unary)(&context, request, response);
}

// The future form of a callback-taking async call.
template <typename T, typename Start>
std::future<T> AsFuture(Start start) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  start([promise](T result) { promise->set_value(std::move(result)); });
  return future;
}

// Counts the asynchronous calls not finished yet; Wait returns when there is none.
class InFlight {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void Done() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) zero_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    zero_.wait(lock, [this] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable zero_;
  uint64_t n_ = 0;  // GUARDED_BY(mu_)
};

// One asynchronous point call (Get, Put, Delete): how to build its request and where its
// response goes.
template <class Req, class Resp>
struct AsyncPoint {
  Dispatcher::Call call{};
  std::function<void(Req*, const Dispatcher::Target&)> fill{};
  Req* (v1::MultiplexCall::*request_of)() = nullptr;
  Resp* (v1::MultiplexAnswer::*response_of)() = nullptr;
  grpc::Status (v1::KV::Stub::*unary)(grpc::ClientContext*, const Req&, Resp*) = nullptr;
  std::function<void(std::expected<Resp, Error>)> finish{};
};

// One shard's part of a Batch: its ops (indexes into the batch, in order), its call (request id
// and deadline fixed for its retries) and its outcome.
struct BatchGroup {
  std::vector<size_t> members{};
  std::vector<const Op*> ops{};
  Dispatcher::Call call{};
  v1::BatchResponse response{};
  std::expected<ShardInfo, Error> done{};
  bool keys_moved = false;
};
using BatchGroups = std::vector<std::unique_ptr<BatchGroup>>;

// What a Batch has so far: the results of the parts done, and how many ops they applied.
struct BatchProgress {
  std::vector<OpResult> results{};
  size_t applied = 0;

  std::unexpected<Error> Failed(Error error) const {
    if (applied > 0) {
      error.definite = false;
      error.message += " (" + std::to_string(applied) + " of " + std::to_string(results.size()) +
                       " operations were applied on other shards)";
    }
    return std::unexpected(std::move(error));
  }
};

// Splits `pending` into groups by shard, `route` naming each op's shard; nullopt (with `error`
// set when there is one to report) when an op cannot be routed.
template <class Route>
std::optional<BatchGroups> GroupByShard(Dispatcher& d, const std::vector<Op>& ops, const std::vector<size_t>& pending,
                                        const CallOptions& options, Dispatcher::Clock::time_point deadline,
                                        const Route& route, std::optional<Error>* error) {
  BatchGroups groups;
  for (std::vector<size_t> rest = pending; !rest.empty();) {
    std::expected<ShardInfo, Error> shard = route(ops[rest.front()].key);
    if (!shard) {
      *error = shard.error();
      return std::nullopt;
    }
    if (!OpFits(ops[rest.front()], *shard)) {
      *error = Fail(ErrorCode::kInvalidArgument, "a delete_range in a batch spans shards: " + ops[rest.front()].key)
                   .error();
      return std::nullopt;
    }
    auto g = std::make_unique<BatchGroup>();
    std::vector<size_t> next;
    Partition(ops, rest, *shard, &g->members, &next);
    for (size_t i : g->members) g->ops.push_back(&ops[i]);
    g->call = NewCall(d, ops[g->members.front()].key, AnyWrite(g->ops) ? Kind::kWrite : Kind::kRead, options);
    g->call.deadline = deadline;
    g->call.fits = [group = g.get()](const ShardInfo& routed) { return AllFit(group->ops, routed); };
    groups.push_back(std::move(g));
    rest = std::move(next);
  }
  return groups;
}

void FillBatch(const BatchGroup& g, const Dispatcher::Target& target, v1::BatchRequest* request) {
  *request->mutable_header() = target.header;
  for (const Op* op : g.ops) ToProto(*op, request->add_ops());
}

// A blocking attempt of group `g`'s request.
Dispatcher::Attempt BatchAttempt(BatchGroup& g) {
  return [&g](const Dispatcher::Target& target, grpc::ClientContext& context) {
    g.response.Clear();
    return Send(target, context, [&](v1::BatchRequest* request) { FillBatch(g, target, request); }, &g.response,
                &v1::MultiplexCall::mutable_batch, &v1::MultiplexAnswer::mutable_batch, &v1::KV::Stub::Batch);
  };
}

// Folds finished groups into `progress`; the ops of groups whose keys moved go to `moved` (in
// the callers' order), to be regrouped. Returns the first error, if any.
std::optional<Error> Collect(BatchGroups& groups, BatchProgress& progress, std::vector<size_t>& moved) {
  std::optional<Error> first_error;
  for (auto& g : groups) {
    if (!g->done && g->keys_moved) {
      moved.insert(moved.end(), g->members.begin(), g->members.end());
      continue;
    }
    if (!g->done) {
      if (!first_error) first_error = g->done.error();
      continue;
    }
    if (static_cast<size_t>(g->response.results_size()) != g->members.size()) {
      if (!first_error) first_error = Fail(ErrorCode::kInternal, "batch answer has the wrong number of results").error();
      continue;
    }
    for (size_t k = 0; k < g->members.size(); ++k) {
      progress.results[g->members[k]] = ToOpResult(g->response.results(static_cast<int>(k)));
    }
    progress.applied += g->members.size();
  }
  std::sort(moved.begin(), moved.end());
  return first_error;
}

// Runs fn(0) .. fn(n - 1) at once: on fan-out threads and this one.
void ForEachAtOnce(FanOutPool& fan_out, size_t n, const std::function<void(size_t)>& fn) {
  std::vector<std::future<void>> others;
  for (size_t k = 1; k < n; ++k) {
    auto task = std::make_shared<std::packaged_task<void()>>([&fn, k] { fn(k); });
    others.push_back(task->get_future());
    fan_out.Run([task] { (*task)(); });
  }
  if (n > 0) fn(0);
  for (auto& f : others) f.get();
}

// The blocking Batch from `pending` on. Each round routes every pending op, then sends one
// request per shard, all at once (a batch of random keys spans most shards: one after another,
// it took a round trip per shard). Ops whose shard moved (split, merge) are regrouped for the
// next round, with new request ids.
Result<std::vector<OpResult>> BatchRounds(Dispatcher& d, FanOutPool& fan_out, const std::vector<Op>& ops,
                                          const CallOptions& options, Dispatcher::Clock::time_point deadline,
                                          std::vector<size_t> pending, BatchProgress progress) {
  while (!pending.empty()) {
    std::optional<Error> error;
    std::optional<BatchGroups> groups = GroupByShard(
        d, ops, pending, options, deadline, [&](const std::string& key) { return d.Route(key, RouteBy::kKey, deadline); },
        &error);
    if (!groups) return progress.Failed(std::move(*error));
    ForEachAtOnce(fan_out, groups->size(), [&](size_t k) {
      BatchGroup& g = *(*groups)[k];
      g.done = d.Run(g.call, BatchAttempt(g), &g.keys_moved);
    });
    std::vector<size_t> moved;
    if (auto failed = Collect(*groups, progress, moved)) return progress.Failed(std::move(*failed));
    pending = std::move(moved);
  }
  return std::move(progress.results);
}

}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : dispatcher(std::move(options)), pool(dispatcher.options().async_threads) {}
  // Async calls still running use the dispatcher and the pool: they end first (each by its
  // deadline at the latest).
  ~Impl() { async_calls.Wait(); }

  // Starts an asynchronous point call. Its first attempt goes out at once over the Multiplex
  // stream of the node the route cache names, and its answer is handled on that stream's reader
  // thread: no pool thread per call. Otherwise (no cached route, no stream, a large request) and
  // after a failed first attempt, the call runs on the pool as the blocking call would
  // (Dispatcher::Resume: the failure handled the same way, the same request id on retries).
  template <class Req, class Resp>
  void StartAsync(std::shared_ptr<AsyncPoint<Req, Resp>> op) {
    async_calls.Add();
    std::optional<Dispatcher::Target> target = dispatcher.FastTarget(op->call);
    v1::MultiplexCall mc;
    if (target) {
      op->fill((mc.*(op->request_of))(), *target);
      if (mc.ByteSizeLong() > kMaxMultiplexedCallBytes) target.reset();
    }
    if (!target) {
      pool.Submit([this, op] { FinishBlocking(op, nullptr, grpc::Status::OK); });
      return;
    }
    Multiplexer* mux = target->mux;
    const auto left = op->call.deadline - Dispatcher::Clock::now();
    const auto deadline =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
    mux->CallAsync(std::move(mc), deadline,
                   [this, op, first = std::move(*target)](grpc::Status status, v1::MultiplexAnswer answer) mutable {
                     if (status.ok()) {
                       Resp response;
                       (answer.*(op->response_of))()->Swap(&response);
                       op->finish(std::move(response));
                       async_calls.Done();
                       return;
                     }
                     pool.Submit([this, op, first = std::move(first), status = std::move(status)] {
                       FinishBlocking(op, &first, status);
                     });
                   });
  }

  // Client::Batch: validation, then the blocking rounds from every op.
  Result<std::vector<OpResult>> BlockingBatch(const std::vector<Op>& ops, const CallOptions& options,
                                              Dispatcher::Clock::time_point deadline) {
    for (const Op& op : ops) {
      if (op.key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty key in batch");
    }
    BatchProgress progress;
    progress.results.resize(ops.size());
    std::vector<size_t> pending(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) pending[i] = i;
    return BatchRounds(dispatcher, fan_out, ops, options, deadline, std::move(pending), std::move(progress));
  }

  // An asynchronous Batch: grouped by the cached routes, every group's first attempt goes out at
  // once over Multiplex and the last answer assembles the results on its reader thread. When a
  // route is not cached or a group cannot go out that way, the whole batch runs as the
  // blocking Batch on the pool (nothing was sent); when a group's first attempt failed, the
  // groups that failed continue on the pool (Dispatcher::Resume, their request ids), then any
  // ops whose shard moved go through the blocking rounds, as in Batch.
  void StartBatchAsync(std::vector<Op> ops, CallOptions options, std::function<void(Result<std::vector<OpResult>>)> done) {
    async_calls.Add();
    auto batch = std::make_shared<AsyncBatch>();
    batch->ops = std::move(ops);
    batch->options = options;
    batch->deadline = dispatcher.DeadlineOf(options);
    batch->done = std::move(done);
    auto blocking = [this, batch] {
      pool.Submit([this, batch] {
        batch->done(BlockingBatch(batch->ops, batch->options, batch->deadline));
        async_calls.Done();
      });
    };
    const bool empty_key =
        std::any_of(batch->ops.begin(), batch->ops.end(), [](const Op& op) { return op.key.empty(); });
    std::optional<Error> error;
    std::optional<BatchGroups> groups;
    if (!empty_key && !batch->ops.empty()) {
      std::vector<size_t> all(batch->ops.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      groups = GroupByShard(
          dispatcher, batch->ops, all, batch->options, batch->deadline,
          [this](const std::string& key) -> std::expected<ShardInfo, Error> {
            if (auto shard = dispatcher.cache().Lookup(key)) return *shard;
            return std::unexpected(Error{.code = ErrorCode::kUnavailable, .message = "not cached"});
          },
          &error);
    }
    if (!groups) return blocking();
    std::vector<std::pair<Dispatcher::Target, v1::MultiplexCall>> sends;
    for (auto& g : *groups) {
      std::optional<Dispatcher::Target> target = dispatcher.FastTarget(g->call);
      if (!target) return blocking();
      v1::MultiplexCall call;
      FillBatch(*g, *target, call.mutable_batch());
      if (call.ByteSizeLong() > kMaxMultiplexedCallBytes) return blocking();
      sends.emplace_back(std::move(*target), std::move(call));
    }
    batch->groups = std::move(*groups);
    batch->failed.resize(batch->groups.size());
    batch->outstanding.store(batch->groups.size());
    const auto left = batch->deadline - Dispatcher::Clock::now();
    const auto deadline =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
    for (size_t k = 0; k < sends.size(); ++k) {
      Multiplexer* mux = sends[k].first.mux;
      mux->CallAsync(std::move(sends[k].second), deadline,
                     [this, batch, k, first = std::move(sends[k].first)](grpc::Status status,
                                                                         v1::MultiplexAnswer answer) mutable {
                       BatchGroup& g = *batch->groups[k];
                       if (status.ok()) {
                         answer.mutable_batch()->Swap(&g.response);
                         g.done = first.shard;
                       } else {
                         batch->failed[k].emplace(std::move(first), std::move(status));
                       }
                       if (batch->outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) FinishBatch(batch);
                     });
    }
  }

  Dispatcher dispatcher;
  FanOutPool fan_out;  // Batch's per-shard requests
  ThreadPool pool;  // destroyed first: queued calls finish while the dispatcher still lives
  InFlight async_calls;

 private:
  struct AsyncBatch {
    std::vector<Op> ops{};
    CallOptions options{};
    Dispatcher::Clock::time_point deadline{};
    BatchGroups groups{};
    // By group: the target and status of a first attempt that failed.
    std::vector<std::optional<std::pair<Dispatcher::Target, grpc::Status>>> failed{};
    std::atomic<size_t> outstanding{0};  // groups not answered yet
    std::function<void(Result<std::vector<OpResult>>)> done{};
  };

  // After every group of an async batch answered (on the last one's thread).
  void FinishBatch(const std::shared_ptr<AsyncBatch>& batch) {
    const bool all_ok = std::none_of(batch->failed.begin(), batch->failed.end(), [](const auto& f) { return f.has_value(); });
    if (!all_ok) {
      pool.Submit([this, batch] {
        std::vector<size_t> failed;
        for (size_t k = 0; k < batch->groups.size(); ++k) {
          if (batch->failed[k]) failed.push_back(k);
        }
        ForEachAtOnce(fan_out, failed.size(), [&](size_t i) {
          BatchGroup& g = *batch->groups[failed[i]];
          const auto& [first, status] = *batch->failed[failed[i]];
          g.done = dispatcher.Resume(g.call, first, status, BatchAttempt(g), &g.keys_moved);
        });
        batch->done(Settle(*batch));
        async_calls.Done();
      });
      return;
    }
    batch->done(Settle(*batch));
    async_calls.Done();
  }

  // The results of an async batch whose groups are all done; ops whose shard moved run through
  // the blocking rounds.
  Result<std::vector<OpResult>> Settle(AsyncBatch& batch) {
    BatchProgress progress;
    progress.results.resize(batch.ops.size());
    std::vector<size_t> moved;
    if (auto failed = Collect(batch.groups, progress, moved)) return progress.Failed(std::move(*failed));
    if (moved.empty()) return std::move(progress.results);
    return BatchRounds(dispatcher, fan_out, batch.ops, batch.options, batch.deadline, std::move(moved),
                       std::move(progress));
  }

  // The rest of an async call on a pool thread: from its failed first attempt (`first`, its
  // `status`), or from the start (`first` null).
  template <class Req, class Resp>
  void FinishBlocking(const std::shared_ptr<AsyncPoint<Req, Resp>>& op, const Dispatcher::Target* first,
                      const grpc::Status& status) {
    Resp response;
    auto attempt = [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
      response.Clear();
      return Send(target, context, [&](Req* request) { op->fill(request, target); }, &response, op->request_of,
                  op->response_of, op->unary);
    };
    auto done = first != nullptr ? dispatcher.Resume(op->call, *first, status, attempt)
                                 : dispatcher.Run(op->call, attempt);
    if (done) {
      op->finish(std::move(response));
    } else {
      op->finish(std::unexpected(std::move(done.error())));
    }
    async_calls.Done();
  }
};

Result<std::unique_ptr<Watcher>> Client::Watch(std::string_view start, std::string_view end,
                                               const WatchOptions& options,
                                               std::function<void(const WatchUpdate&)> on_update) {
  if (!end.empty() && end <= start) {
    return Fail(ErrorCode::kInvalidArgument,
                "the watch's end key must be after its start key (or empty for the end of the key space)");
  }
  if (!on_update) return Fail(ErrorCode::kInvalidArgument, "no update callback");
  return std::make_unique<Watcher>(impl_->dispatcher, std::string(start), std::string(end), options,
                                   std::move(on_update));
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    const auto last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

Result<std::unique_ptr<Client>> Client::Open(ClientOptions options) {
  std::erase_if(options.endpoints, [](const std::string& e) { return e.empty(); });
  if (options.endpoints.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "no endpoints: give at least one host:port");
  }
  if (options.default_deadline.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "default_deadline must be positive");
  }
  return std::unique_ptr<Client>(new Client(std::make_unique<Impl>(std::move(options))));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->dispatcher.options(); }

Dispatcher& Client::dispatcher() { return impl_->dispatcher; }

Result<std::optional<KeyValue>> Client::Get(std::string_view key, const CallOptions& options) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty key");
  Dispatcher& d = impl_->dispatcher;
  Dispatcher::Call call = NewCall(d, key, Kind::kRead, options);
  v1::GetResponse response;
  auto done = d.Run(call, [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
    return Send(target, context, [&](v1::GetRequest* request) {
      *request->mutable_header() = target.header;
      request->set_key(std::string(key));
    }, &response, &v1::MultiplexCall::mutable_get, &v1::MultiplexAnswer::mutable_get, &v1::KV::Stub::Get);
  });
  if (!done) return std::unexpected(done.error());
  if (!response.found()) return std::optional<KeyValue>();
  return ToKeyValue(response.kv());
}

Result<PutResult> Client::Put(std::string_view key, std::string_view value,
                              const CallOptions& options) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty key");
  Dispatcher& d = impl_->dispatcher;
  Dispatcher::Call call = NewCall(d, key, Kind::kWrite, options);
  v1::PutResponse response;
  auto done = d.Run(call, [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
    return Send(target, context, [&](v1::PutRequest* request) {
      *request->mutable_header() = target.header;
      request->set_key(std::string(key));
      request->set_value(std::string(value));
      request->set_prev_kv(options.prev_kv);
      request->set_lease(options.lease);
    }, &response, &v1::MultiplexCall::mutable_put, &v1::MultiplexAnswer::mutable_put, &v1::KV::Stub::Put);
  });
  if (!done) return std::unexpected(done.error());
  PutResult result;
  if (response.has_prev()) result.prev = ToKeyValue(response.prev());
  result.mod_ts = response.mod_ts();
  return result;
}

Result<DeleteResult> Client::Delete(std::string_view key, const CallOptions& options) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty key");
  Dispatcher& d = impl_->dispatcher;
  Dispatcher::Call call = NewCall(d, key, Kind::kWrite, options);
  v1::DeleteResponse response;
  auto done = d.Run(call, [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
    return Send(target, context, [&](v1::DeleteRequest* request) {
      *request->mutable_header() = target.header;
      request->set_key(std::string(key));
      request->set_prev_kv(options.prev_kv);
    }, &response, &v1::MultiplexCall::mutable_delete_, &v1::MultiplexAnswer::mutable_delete_, &v1::KV::Stub::Delete);
  });
  if (!done) return std::unexpected(done.error());
  DeleteResult result;
  result.deleted = response.deleted();
  if (response.has_prev()) result.prev = ToKeyValue(response.prev());
  return result;
}

// One request per shard of [start, end): each piece is fixed when first routed ([lo, the
// shard's end clamped to `end`)) and keeps its request id across retries; if the shard splits
// under it, the piece is recomputed with a new id (Dispatcher::Run's keys_moved).
Result<uint64_t> Client::DeleteRange(std::string_view start, std::string_view end,
                                     const CallOptions& options) {
  if (start.empty()) return Fail(ErrorCode::kInvalidArgument, "empty start key");
  if (!end.empty() && end <= start) return uint64_t{0};
  if (auto parts = OutsideCheckpointSpace(start, end)) {
    uint64_t total = 0;
    for (const auto& [lo, hi] : *parts) {
      auto n = DeleteRange(lo, hi, options);
      if (!n) return n;
      total += *n;
    }
    return total;
  }
  Dispatcher& d = impl_->dispatcher;
  const Dispatcher::Clock::time_point deadline = d.DeadlineOf(options);
  std::string lo(start);
  uint64_t deleted = 0;
  for (;;) {
    Dispatcher::Call call = NewCall(d, lo, Kind::kWrite, options);
    call.deadline = deadline;
    std::optional<std::string> piece_end;
    call.fits = [&](const ShardInfo& shard) {
      if (!piece_end) return true;
      return ShardContains(shard, lo) && (shard.end_key.empty() ||
                                          (!piece_end->empty() && *piece_end <= shard.end_key));
    };
    v1::DeleteRangeResponse response;
    bool keys_moved = false;
    auto done = d.Run(
        call,
        [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
          if (!piece_end) piece_end = ClampEnd(end, target.shard);
          v1::DeleteRangeRequest request;
          *request.mutable_header() = target.header;
          request.set_start_key(lo);
          request.set_end_key(*piece_end);
          return target.kv->DeleteRange(&context, request, &response);
        },
        &keys_moved);
    if (!done && keys_moved) continue;
    if (!done) {
      Error error = done.error();
      if (deleted > 0) {
        error.definite = false;
        error.message += " (" + std::to_string(deleted) + " keys of earlier shards were deleted)";
      }
      return std::unexpected(std::move(error));
    }
    deleted += response.deleted();
    if (piece_end->empty() || *piece_end == end) return deleted;
    lo = *piece_end;
  }
}

Result<ScanResult> Client::Scan(std::string_view start, std::string_view end,
                                const ScanOptions& scan, const CallOptions& options) {
  ScanResult result;
  auto more = ScanEach(
      start, end, scan,
      [&](const KeyValue& kv) {
        result.kvs.push_back(kv);
        return true;
      },
      options);
  if (!more) return std::unexpected(more.error());
  result.more = *more;
  return result;
}

Result<bool> Client::ScanEach(std::string_view start, std::string_view end,
                              const ScanOptions& scan,
                              const std::function<bool(const KeyValue&)>& visit,
                              const CallOptions& options) {
  if (!start.empty() && !end.empty() && end <= start) return false;
  if (auto parts = OutsideCheckpointSpace(start, end)) {
    if (scan.reverse) std::swap(parts->front(), parts->back());
    uint64_t left = scan.limit;
    bool stopped = false;
    for (size_t i = 0; i < parts->size(); ++i) {
      ScanOptions part = scan;
      part.limit = left;
      uint64_t seen = 0;
      auto more = ScanEach((*parts)[i].first, (*parts)[i].second, part,
                           [&](const KeyValue& kv) {
                             ++seen;
                             if (visit(kv)) return true;
                             stopped = true;
                             return false;
                           },
                           options);
      if (!more) return more;
      if (stopped) return true;
      if (scan.limit != 0) {
        left -= std::min(left, seen);
        if (left == 0) return *more || i + 1 < parts->size();
      }
    }
    return false;
  }
  Scanner scanner(impl_->dispatcher, start, end, scan, options);
  return scanner.Run(visit);
}

Result<std::vector<OpResult>> Client::Batch(const std::vector<Op>& ops,
                                            const CallOptions& options) {
  return impl_->BlockingBatch(ops, options, impl_->dispatcher.DeadlineOf(options));
}

Result<TxnResult> Client::Txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                              const std::vector<Op>& failure, const CallOptions& options) {
  std::vector<const Op*> all_ops;  // compares become key-only gets for the routing checks
  std::vector<Op> compare_keys;
  compare_keys.reserve(compares.size());
  for (const Compare& compare : compares) compare_keys.push_back(Op::Get(compare.key));
  for (const std::vector<Op>* list :
       std::initializer_list<const std::vector<Op>*>{&compare_keys, &success, &failure}) {
    for (const Op& op : *list) all_ops.push_back(&op);
  }
  if (all_ops.empty()) return Fail(ErrorCode::kInvalidArgument, "empty txn");
  for (const Op* op : all_ops) {
    if (op->key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty key in txn");
  }
  Dispatcher& d = impl_->dispatcher;
  const Dispatcher::Clock::time_point deadline = d.DeadlineOf(options);
  const std::string request_id = d.NewRequestId();
  for (;;) {
    auto shard = d.Route(all_ops.front()->key, RouteBy::kKey, deadline);
    if (!shard) return std::unexpected(shard.error());
    if (!AllFit(all_ops, *shard)) {
      return Fail(ErrorCode::kInvalidArgument, "txn keys span shards (shard " +
                                                   std::to_string(shard->id) +
                                                   " does not hold them all)");
    }
    Dispatcher::Call call = NewCall(d, all_ops.front()->key, Kind::kWrite, options);
    call.deadline = deadline;
    call.request_id = request_id;  // nothing was sent with it unless every attempt was definite
    call.fits = [&](const ShardInfo& routed) { return AllFit(all_ops, routed); };
    v1::TxnResponse response;
    bool keys_moved = false;
    auto done = d.Run(
        call,
        [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
          return Send(target, context, [&](v1::TxnRequest* request) {
            *request->mutable_header() = target.header;
            for (const Compare& compare : compares) ToProto(compare, request->add_compare());
            for (const Op& op : success) ToProto(op, request->add_success());
            for (const Op& op : failure) ToProto(op, request->add_failure());
          }, &response, &v1::MultiplexCall::mutable_txn, &v1::MultiplexAnswer::mutable_txn, &v1::KV::Stub::Txn);
        },
        &keys_moved);
    if (!done && keys_moved) continue;
    if (!done) return std::unexpected(done.error());
    TxnResult result;
    result.succeeded = response.succeeded();
    for (const v1::OpResult& op : response.results()) result.results.push_back(ToOpResult(op));
    return result;
  }
}

std::future<Result<std::optional<KeyValue>>> Client::GetAsync(std::string key,
                                                              CallOptions options) {
  return AsFuture<Result<std::optional<KeyValue>>>(
      [&](auto done) { GetAsync(std::move(key), options, std::move(done)); });
}

std::future<Result<PutResult>> Client::PutAsync(std::string key, std::string value,
                                                CallOptions options) {
  return AsFuture<Result<PutResult>>(
      [&](auto done) { PutAsync(std::move(key), std::move(value), options, std::move(done)); });
}

std::future<Result<DeleteResult>> Client::DeleteAsync(std::string key, CallOptions options) {
  return AsFuture<Result<DeleteResult>>(
      [&](auto done) { DeleteAsync(std::move(key), options, std::move(done)); });
}

std::future<Result<std::vector<OpResult>>> Client::BatchAsync(std::vector<Op> ops,
                                                              CallOptions options) {
  return AsFuture<Result<std::vector<OpResult>>>(
      [&](auto done) { BatchAsync(std::move(ops), options, std::move(done)); });
}

void Client::GetAsync(std::string key, CallOptions options,
                      std::function<void(Result<std::optional<KeyValue>>)> done) {
  if (key.empty()) {
    impl_->pool.Submit([done = std::move(done)] { done(Fail(ErrorCode::kInvalidArgument, "empty key")); });
    return;
  }
  auto op = std::make_shared<AsyncPoint<v1::GetRequest, v1::GetResponse>>();
  op->call = NewCall(impl_->dispatcher, key, Kind::kRead, options);
  op->fill = [key = std::move(key)](v1::GetRequest* request, const Dispatcher::Target& target) {
    *request->mutable_header() = target.header;
    request->set_key(key);
  };
  op->request_of = &v1::MultiplexCall::mutable_get;
  op->response_of = &v1::MultiplexAnswer::mutable_get;
  op->unary = &v1::KV::Stub::Get;
  op->finish = [done = std::move(done)](std::expected<v1::GetResponse, Error> response) {
    if (!response) return done(std::unexpected(std::move(response.error())));
    if (!response->found()) return done(std::optional<KeyValue>());
    done(ToKeyValue(response->kv()));
  };
  impl_->StartAsync(std::move(op));
}

void Client::PutAsync(std::string key, std::string value, CallOptions options,
                      std::function<void(Result<PutResult>)> done) {
  if (key.empty()) {
    impl_->pool.Submit([done = std::move(done)] { done(Fail(ErrorCode::kInvalidArgument, "empty key")); });
    return;
  }
  auto op = std::make_shared<AsyncPoint<v1::PutRequest, v1::PutResponse>>();
  op->call = NewCall(impl_->dispatcher, key, Kind::kWrite, options);
  op->fill = [key = std::move(key), value = std::move(value), options](v1::PutRequest* request,
                                                                       const Dispatcher::Target& target) {
    *request->mutable_header() = target.header;
    request->set_key(key);
    request->set_value(value);
    request->set_prev_kv(options.prev_kv);
    request->set_lease(options.lease);
  };
  op->request_of = &v1::MultiplexCall::mutable_put;
  op->response_of = &v1::MultiplexAnswer::mutable_put;
  op->unary = &v1::KV::Stub::Put;
  op->finish = [done = std::move(done)](std::expected<v1::PutResponse, Error> response) {
    if (!response) return done(std::unexpected(std::move(response.error())));
    PutResult result;
    if (response->has_prev()) result.prev = ToKeyValue(response->prev());
    result.mod_ts = response->mod_ts();
    done(std::move(result));
  };
  impl_->StartAsync(std::move(op));
}

void Client::DeleteAsync(std::string key, CallOptions options,
                         std::function<void(Result<DeleteResult>)> done) {
  if (key.empty()) {
    impl_->pool.Submit([done = std::move(done)] { done(Fail(ErrorCode::kInvalidArgument, "empty key")); });
    return;
  }
  auto op = std::make_shared<AsyncPoint<v1::DeleteRequest, v1::DeleteResponse>>();
  op->call = NewCall(impl_->dispatcher, key, Kind::kWrite, options);
  op->fill = [key = std::move(key), options](v1::DeleteRequest* request, const Dispatcher::Target& target) {
    *request->mutable_header() = target.header;
    request->set_key(key);
    request->set_prev_kv(options.prev_kv);
  };
  op->request_of = &v1::MultiplexCall::mutable_delete_;
  op->response_of = &v1::MultiplexAnswer::mutable_delete_;
  op->unary = &v1::KV::Stub::Delete;
  op->finish = [done = std::move(done)](std::expected<v1::DeleteResponse, Error> response) {
    if (!response) return done(std::unexpected(std::move(response.error())));
    DeleteResult result;
    result.deleted = response->deleted();
    if (response->has_prev()) result.prev = ToKeyValue(response->prev());
    done(std::move(result));
  };
  impl_->StartAsync(std::move(op));
}

void Client::BatchAsync(std::vector<Op> ops, CallOptions options,
                        std::function<void(Result<std::vector<OpResult>>)> done) {
  impl_->StartBatchAsync(std::move(ops), options, std::move(done));
}

Result<NodeStatus> Client::Status(const std::string& endpoint, const CallOptions& options) {
  Dispatcher& d = impl_->dispatcher;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           d.DeadlineOf(options) - Dispatcher::Clock::now()));
  v1::StatusResponse response;
  const grpc::Status status = d.ClusterStub(endpoint).Status(&context, v1::StatusRequest(), &response);
  if (!status.ok()) {
    v1::Error detail;
    const bool has_detail = DecodeErrorDetail(status.error_details(), &detail);
    Error error = ErrorFromStatus(status, has_detail ? &detail : nullptr, /*is_write=*/false);
    error.message = endpoint + ": " + error.message;
    return std::unexpected(std::move(error));
  }
  return ToNodeStatus(response, endpoint);
}

Result<std::string> Client::WaitForConnection(std::chrono::milliseconds timeout) {
  Dispatcher& d = impl_->dispatcher;
  const auto deadline = std::chrono::system_clock::now() + timeout;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& endpoint : d.options().endpoints) channels.push_back(d.ChannelFor(endpoint));
  // Every channel starts connecting at once (GetState(true)); then each is watched in turn for a
  // short slice, so that the first one to connect wins whichever it is.
  constexpr auto kSlice = std::chrono::milliseconds(20);
  while (true) {
    for (size_t i = 0; i < channels.size(); ++i) {
      if (channels[i]->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) {
        return d.options().endpoints[i];
      }
    }
    const auto now = std::chrono::system_clock::now();
    if (now >= deadline) break;
    for (auto& channel : channels) {
      const grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/false);
      if (state == GRPC_CHANNEL_READY) break;
      channel->WaitForStateChange(state, std::min<std::chrono::system_clock::time_point>(
                                             deadline, std::chrono::system_clock::now() + kSlice));
    }
  }
  std::string names;
  for (const std::string& endpoint : d.options().endpoints) names += (names.empty() ? "" : ", ") + endpoint;
  return std::unexpected(Error{.code = ErrorCode::kUnavailable,
                               .message = "cannot connect to " + names + " within " +
                                          std::to_string(timeout.count()) + " ms"});
}

Result<std::vector<ShardInfo>> Client::ListShards(const CallOptions& options) {
  Dispatcher& d = impl_->dispatcher;
  if (auto refreshed = d.Refresh(d.DeadlineOf(options), std::nullopt); !refreshed) {
    return std::unexpected(refreshed.error());
  }
  return d.cache().Snapshot();
}

Result<std::vector<MemberInfo>> Client::ListMembers(const CallOptions& options) {
  Dispatcher& d = impl_->dispatcher;
  v1::ListMembersResponse response;
  auto done = d.RunAnywhere(d.DeadlineOf(options), [&](v1::Cluster::Stub& stub, auto deadline) {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    response.Clear();
    return stub.ListMembers(&context, v1::ListMembersRequest(), &response);
  });
  if (!done) return std::unexpected(done.error());
  std::vector<MemberInfo> members;
  for (const v1::Member& member : response.members()) members.push_back(ToMemberInfo(member));
  return members;
}

std::vector<ShardInfo> Client::CachedRoutes() const {
  return impl_->dispatcher.cache().Snapshot();
}

}  // namespace claw::client
