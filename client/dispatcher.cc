#include "client/dispatcher.h"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

#include "claw/v1/error.pb.h"
#include "client/convert.h"
#include "client/grpc_runtime.h"
#include "client/retry.h"

namespace claw::client {
namespace {

using std::chrono::milliseconds;

// Redirects (NOT_LEADER hints, fresh descriptors) followed at once before the next one waits a
// back-off: stops two replicas that disagree about the leader from bouncing a call in a loop.
constexpr int kMaxImmediateRetries = 3;
// Longest try of one endpoint in RunAnywhere, so that a silent endpoint leaves time for others.
constexpr milliseconds kEndpointTry{1000};

std::chrono::system_clock::time_point ToSystem(Dispatcher::Clock::time_point deadline) {
  const auto left = deadline - Dispatcher::Clock::now();
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
}

Error MakeError(ErrorCode code, std::string message, bool definite) {
  Error error;
  error.code = code;
  error.message = std::move(message);
  error.definite = definite;
  return error;
}

}  // namespace

struct Dispatcher::RunState {
  Backoff backoff;
  uint64_t rotation = 0;     // spreads the choice among equal candidates
  int attempts = 0;          // attempts sent
  int immediate = 0;         // retries in a row without a back-off
  bool all_definite = true;  // every failed attempt so far certainly had no effect
  std::string avoid{};       // the address that just failed; not picked next
  std::optional<Error> last{};

  Error DeadlineError() const {
    if (attempts == 0 && last) {  // never got as far as sending: say why (no route, no endpoint)
      Error error = *last;
      error.message = "no attempt within the deadline: " + error.message;
      return error;
    }
    std::string message = "deadline exceeded after " + std::to_string(attempts) + " attempt(s)";
    if (last) message += "; last error: " + last->ToString();
    return MakeError(ErrorCode::kDeadlineExceeded, std::move(message), all_definite);
  }
};

Dispatcher::Dispatcher(ClientOptions options) : options_(std::move(options)) {
  std::random_device device;
  std::mt19937_64 random((uint64_t{device()} << 32) ^ device());
  for (int i = 0; i < 2; ++i) {
    const uint64_t word = random();
    for (int b = 0; b < 8; ++b) client_id_.push_back(static_cast<char>(word >> (8 * b)));
  }
  seed_base_ = options_.seed != 0 ? options_.seed : random();
}

uint64_t Dispatcher::NextSeed() {
  // SplitMix64 over a counter: distinct, well-mixed seeds per call.
  uint64_t z = seed_base_ + 0x9e3779b97f4a7c15ULL * (++seed_counter_);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string Dispatcher::NewRequestId() {
  const uint64_t n = ++request_counter_;
  std::string id = client_id_;
  for (int b = 7; b >= 0; --b) id.push_back(static_cast<char>(n >> (8 * b)));
  return id;
}

Dispatcher::Clock::time_point Dispatcher::DeadlineOf(const CallOptions& options) const {
  const milliseconds budget =
      options.deadline.count() > 0 ? options.deadline : options_.default_deadline;
  return Clock::now() + budget;
}

Dispatcher::Stubs& Dispatcher::StubsFor(const std::string& address) {
  std::lock_guard lock(stubs_mu_);
  std::unique_ptr<Stubs>& stubs = stubs_[address];
  if (!stubs) {
    stubs = std::make_unique<Stubs>();
    // Scan pages and batch answers may pass gRPC's 4 MiB default.
    stubs->channel = NodeChannel(address, /*max_backoff_ms=*/2000, /*max_receive_bytes=*/64 << 20);
    stubs->kv = v1::KV::NewStub(stubs->channel);
    if (options_.multiplex) stubs->mux = std::make_unique<Multiplexer>(stubs->kv.get(), address);
    stubs->cluster = v1::Cluster::NewStub(stubs->channel);
    stubs->checkpoint = v1::Checkpoint::NewStub(stubs->channel);
  }
  return *stubs;
}

v1::KV::Stub& Dispatcher::KvStub(const std::string& address) { return *StubsFor(address).kv; }

v1::Cluster::Stub& Dispatcher::ClusterStub(const std::string& address) {
  return *StubsFor(address).cluster;
}

v1::Checkpoint::Stub& Dispatcher::CheckpointStub(const std::string& address) {
  return *StubsFor(address).checkpoint;
}

std::shared_ptr<grpc::Channel> Dispatcher::ChannelFor(const std::string& address) {
  return StubsFor(address).channel;
}

std::vector<std::string> Dispatcher::Endpoints() const {
  std::vector<std::string> endpoints = options_.endpoints;
  for (std::string& address : cache_.KnownAddresses()) {
    if (std::find(endpoints.begin(), endpoints.end(), address) == endpoints.end()) {
      endpoints.push_back(std::move(address));
    }
  }
  return endpoints;
}

std::expected<void, Error> Dispatcher::RunAnywhere(Clock::time_point deadline,
                                                   const ClusterCall& fn) {
  std::optional<Error> last;
  for (const std::string& endpoint : Endpoints()) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) break;
    const grpc::Status status =
        fn(ClusterStub(endpoint), ToSystem(std::min(deadline, now + kEndpointTry)));
    if (status.ok()) return {};
    v1::Error detail;
    const bool has_detail = DecodeErrorDetail(status.error_details(), &detail);
    last = ErrorFromStatus(status, has_detail ? &detail : nullptr, /*is_write=*/false);
    last->message = endpoint + ": " + last->message;
  }
  if (!last) return std::unexpected(MakeError(ErrorCode::kDeadlineExceeded, "no time left", true));
  if (last->code == ErrorCode::kUnavailable) last->message = "no endpoint answered; " + last->message;
  return std::unexpected(*last);
}

std::expected<void, Error> Dispatcher::Refresh(Clock::time_point deadline,
                                               std::optional<uint64_t> seen_generation) {
  std::lock_guard lock(refresh_mu_);
  if (seen_generation && cache_.generation() != *seen_generation) return {};
  v1::ListShardsResponse shards;
  v1::ListMembersResponse members;
  bool have_members = false;
  auto loaded = RunAnywhere(deadline, [&](v1::Cluster::Stub& stub, auto try_deadline) {
    grpc::ClientContext context;
    context.set_deadline(try_deadline);
    grpc::Status status = stub.ListShards(&context, v1::ListShardsRequest(), &shards);
    if (!status.ok()) return status;
    grpc::ClientContext members_context;  // best effort: addresses of non-leader replicas
    members_context.set_deadline(try_deadline);
    have_members =
        stub.ListMembers(&members_context, v1::ListMembersRequest(), &members).ok();
    return grpc::Status::OK;
  });
  if (!loaded) return std::unexpected(loaded.error());
  if (have_members) {
    std::unordered_map<uint64_t, std::string> addresses;
    for (const v1::Member& member : members.members()) {
      addresses[member.node_id()] = member.client_address();
    }
    cache_.SetMembers(addresses);
  }
  std::vector<ShardInfo> routes;
  for (const v1::ShardRoute& route : shards.shards()) {
    ShardInfo info = ToShardInfo(route);
    if (info.leader_address.empty() && info.leader_node_id != 0) {
      info.leader_address = cache_.AddressOf(info.leader_node_id).value_or("");
    }
    routes.push_back(std::move(info));
  }
  cache_.ReplaceAll(std::move(routes));
  return {};
}

std::expected<ShardInfo, Error> Dispatcher::Route(const std::string& key, RouteBy by,
                                                  Clock::time_point deadline) {
  auto lookup = [&] { return by == RouteBy::kKey ? cache_.Lookup(key) : cache_.LookupBefore(key); };
  const uint64_t generation = cache_.generation();
  if (auto shard = lookup()) return *shard;
  if (auto refreshed = Refresh(deadline, generation); !refreshed) {
    return std::unexpected(refreshed.error());
  }
  if (auto shard = lookup()) return *shard;
  return std::unexpected(MakeError(ErrorCode::kUnavailable, "no shard covers the key", true));
}

v1::RequestHeader Dispatcher::MakeHeader(const Call& call, const ShardInfo& shard) const {
  v1::RequestHeader header;
  header.set_shard_id(shard.id);
  header.mutable_epoch()->set_conf_version(shard.epoch.conf_version);
  header.mutable_epoch()->set_range_version(shard.epoch.range_version);
  header.set_consistency(call.options.consistency == Consistency::kStale ? v1::STALE
                                                                        : v1::LINEARIZABLE);
  header.set_durability(call.options.durability == Durability::kLeader ? v1::LEADER : v1::QUORUM);
  header.set_request_id(call.request_id);
  header.set_forward(call.options.forward);
  header.set_max_staleness_ms(call.options.max_staleness_ms);
  return header;
}

std::string Dispatcher::PickAddress(const Call& call, const ShardInfo& shard,
                                    const RunState& state) {
  const bool stale = call.kind == Kind::kRead && call.options.consistency == Consistency::kStale;
  if (!stale && !shard.leader_address.empty() && shard.leader_address != state.avoid) {
    return shard.leader_address;
  }
  std::vector<std::string> candidates;
  auto add = [&](const std::string& address) {
    if (address != state.avoid &&
        std::find(candidates.begin(), candidates.end(), address) == candidates.end()) {
      candidates.push_back(address);
    }
  };
  for (const ReplicaInfo& replica : shard.replicas) {
    if (auto address = cache_.AddressOf(replica.node_id)) add(*address);
  }
  if (candidates.empty()) {
    for (const std::string& endpoint : Endpoints()) add(endpoint);
  }
  if (candidates.empty()) return state.avoid;  // the only address there is
  return candidates[(state.rotation + static_cast<uint64_t>(state.attempts)) % candidates.size()];
}

void Dispatcher::SetLeaderOf(const Call& call, const Error& error) {
  auto owner = call.route_by == RouteBy::kKey ? cache_.Lookup(call.route_key)
                                              : cache_.LookupBefore(call.route_key);
  if (owner) cache_.SetLeader(owner->id, error.leader_node_id, error.leader_address);
}

bool Dispatcher::SleepWithin(milliseconds wait, Clock::time_point deadline) const {
  const Clock::time_point wake = Clock::now() + wait;
  if (wake >= deadline) {
    std::this_thread::sleep_until(deadline);
    return false;
  }
  std::this_thread::sleep_until(wake);
  return true;
}

std::optional<Error> Dispatcher::HandleFailure(const Call& call, const Target& target,
                                               const grpc::Status& status, RunState& state) {
  v1::Error detail;
  const bool has_detail = DecodeErrorDetail(status.error_details(), &detail);
  Error error = ErrorFromStatus(status, has_detail ? &detail : nullptr, call.kind == Kind::kWrite);
  if (error.leader_address.empty() && error.leader_node_id != 0) {
    error.leader_address = cache_.AddressOf(error.leader_node_id).value_or("");
  }
  state.all_definite = state.all_definite && error.definite;
  error.definite = state.all_definite;
  state.last = error;
  // Fresh descriptors may come with any code (clawd adds them to NOT_LEADER too).
  const bool had_shards = !detail.shards().empty();
  if (had_shards) {
    std::vector<ShardInfo> fresh;
    for (const v1::ShardDescriptor& shard : detail.shards()) fresh.push_back(ToShardInfo(shard));
    cache_.Update(fresh);
  }

  RetryAction action = DecideRetry(error);
  if (action == RetryAction::kFollowLeader && error.leader_address == target.address) {
    action = RetryAction::kBackoffElsewhere;  // "not the leader, ask me": a confused replica
  }
  switch (action) {
    case RetryAction::kFail:
      if (error.code == ErrorCode::kDeadlineExceeded) return state.DeadlineError();
      return error;
    case RetryAction::kFollowLeader:
      cache_.SetLeader(target.shard.id, error.leader_node_id, error.leader_address);
      state.avoid.clear();
      break;
    case RetryAction::kRefreshRoutes: {
      if (error.code == ErrorCode::kShardNotFound) {
        cache_.ForgetLeader(target.shard.id, target.address);
      }
      if (!had_shards) {
        if (auto refreshed = Refresh(call.deadline, std::nullopt); !refreshed) {
          state.last = refreshed.error();
        }
      } else if (!error.leader_address.empty()) {  // a leader hint for the key's fresh shard
        SetLeaderOf(call, error);
      }
      break;
    }
    case RetryAction::kBackoffElsewhere:
      cache_.ForgetLeader(target.shard.id, target.address);
      state.avoid = target.address;
      state.immediate = kMaxImmediateRetries;  // wait below
      break;
    case RetryAction::kBackoffSame:
      if (call.options.consistency == Consistency::kStale && call.kind == Kind::kRead) {
        state.avoid = target.address;
      }
      state.immediate = kMaxImmediateRetries;
      break;
  }
  if (++state.immediate <= kMaxImmediateRetries) return std::nullopt;
  state.immediate = 0;
  if (!SleepWithin(state.backoff.Next(milliseconds(error.retry_after_ms)), call.deadline)) {
    return state.DeadlineError();
  }
  return std::nullopt;
}

Dispatcher::RunState Dispatcher::NewRunState() {
  RunState state{Backoff(options_.backoff_base, options_.backoff_max, NextSeed())};
  state.rotation = NextSeed();
  return state;
}

std::optional<Dispatcher::Target> Dispatcher::FastTarget(const Call& call) {
  auto shard = call.route_by == RouteBy::kKey ? cache_.Lookup(call.route_key) : cache_.LookupBefore(call.route_key);
  if (!shard || (call.fits && !call.fits(*shard))) return std::nullopt;
  RunState state{Backoff(options_.backoff_base, options_.backoff_max, 1)};
  state.rotation = NextSeed();
  Target target;
  target.address = PickAddress(call, *shard, state);
  if (target.address.empty()) return std::nullopt;
  Stubs& stubs = StubsFor(target.address);
  if (stubs.mux == nullptr || stubs.mux->unsupported()) return std::nullopt;
  target.shard = std::move(*shard);
  target.kv = stubs.kv.get();
  target.mux = stubs.mux.get();
  target.header = MakeHeader(call, target.shard);
  return target;
}

std::expected<ShardInfo, Error> Dispatcher::Resume(const Call& call, const Target& first, const grpc::Status& status,
                                                   const Attempt& attempt, bool* keys_moved) {
  RunState state = NewRunState();
  const bool unserved = status.error_code() == grpc::StatusCode::UNIMPLEMENTED && first.mux != nullptr &&
                        first.mux->unsupported();
  if (!unserved) {
    state.attempts = 1;
    if (std::optional<Error> final_error = HandleFailure(call, first, status, state)) {
      return std::unexpected(std::move(*final_error));
    }
  }
  return Loop(call, attempt, keys_moved, state);
}

std::expected<ShardInfo, Error> Dispatcher::Run(const Call& call, const Attempt& attempt,
                                                bool* keys_moved) {
  RunState state = NewRunState();
  return Loop(call, attempt, keys_moved, state);
}

std::expected<ShardInfo, Error> Dispatcher::Loop(const Call& call, const Attempt& attempt, bool* keys_moved,
                                                 RunState& state) {
  for (;;) {
    if (Clock::now() >= call.deadline) return std::unexpected(state.DeadlineError());
    auto shard = Route(call.route_key, call.route_by, call.deadline);
    if (!shard) {
      state.last = shard.error();
      if (!SleepWithin(state.backoff.Next(), call.deadline)) {
        return std::unexpected(state.DeadlineError());
      }
      continue;
    }
    if (call.fits && !call.fits(*shard)) {
      if (!state.all_definite) {
        return std::unexpected(MakeError(
            ErrorCode::kUnavailable,
            "the shard split after an attempt with an unknown outcome; not re-sent", false));
      }
      if (keys_moved != nullptr) *keys_moved = true;
      return std::unexpected(
          MakeError(ErrorCode::kKeyOutOfRange, "the request's keys span shards", true));
    }
    Target target;
    target.shard = std::move(*shard);
    target.address = PickAddress(call, target.shard, state);
    Stubs& stubs = StubsFor(target.address);
    target.kv = stubs.kv.get();
    target.mux = stubs.mux.get();
    target.header = MakeHeader(call, target.shard);
    grpc::ClientContext context;
    context.set_deadline(ToSystem(call.deadline));
    ++state.attempts;
    const grpc::Status status = attempt(target, context);
    if (status.ok()) return std::move(target.shard);
    if (std::optional<Error> final_error = HandleFailure(call, target, status, state)) {
      return std::unexpected(std::move(*final_error));
    }
  }
}

}  // namespace claw::client
