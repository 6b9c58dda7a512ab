#include "workload.h"

#include <map>
#include <optional>
#include <random>

#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "claw/v1/kv.grpc.pb.h"
#include "client/client.h"
#include "client/errors.h"

namespace claw::fault {

namespace {

using lincheck::OpKind;
using lincheck::Outcome;

// Failed client call -> lincheck outcome. Reads never have an effect, so a failed read is an
// error whatever its kind.
Outcome OutcomeOf(const client::Error& e, OpKind kind) {
  if (kind == OpKind::kGet) return Outcome::kError;
  return e.definite ? Outcome::kError : Outcome::kUnknown;
}

std::unique_ptr<client::Client> OpenClient(const WorkloadOptions& o, uint64_t seed) {
  client::ClientOptions co;
  co.endpoints = o.endpoints;
  co.default_deadline = o.op_deadline;
  co.seed = seed;
  co.async_threads = 1;
  auto opened = client::Client::Open(co);
  return opened ? std::move(*opened) : nullptr;
}

}  // namespace

Workload::Workload(WorkloadOptions options)
    : options_(std::move(options)), start_(std::chrono::steady_clock::now()) {}

Workload::~Workload() { Stop(); }

int64_t Workload::Now() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count();
}

uint64_t Workload::NextClientId() { return next_client_.fetch_add(1); }

void Workload::Start() {
  for (int i = 0; i < options_.clients; ++i) threads_.emplace_back([this, i] { RegisterClient(i); });
  for (int i = 0; i < options_.set_writers; ++i) threads_.emplace_back([this, i] { SetWriter(i); });
  for (int i = 0; i < static_cast<int>(options_.pinned.size()); ++i) {
    threads_.emplace_back([this, i] { Pinned(i); });
  }
}

void Workload::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Workload::Add(Record r) {
  std::lock_guard lock(mu_);
  history_.push_back(std::move(r));
}

std::vector<Record> Workload::History() const {
  std::lock_guard lock(mu_);
  return history_;
}

std::vector<std::string> Workload::AckedSetKeys() const {
  std::lock_guard lock(mu_);
  return acked_;
}

size_t Workload::OkBefore(int64_t until) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const Record& r : history_) n += r.op.outcome == Outcome::kOk && r.op.ret && *r.op.ret < until;
  return n;
}

void Workload::RegisterClient(int index) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(index));
  auto client = OpenClient(options_, rng());
  if (client == nullptr || options_.keys.empty()) return;
  uint64_t id = NextClientId();
  std::map<std::string, std::string> last_read;  // key -> the value this client last saw
  const int64_t end = Now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.max_duration).count();
  for (uint64_t seq = 0; !stop_ && Now() < end; ++seq) {
    const std::string& key = options_.keys[rng() % options_.keys.size()];
    const unsigned roll = static_cast<unsigned>(rng() % 100);
    Record r;
    r.op.client = id;
    r.op.key = key;
    const std::string value = "c" + std::to_string(id) + "-" + std::to_string(seq);
    auto known = last_read.find(key);
    if (roll < 50) {
      r.op.kind = OpKind::kGet;
      r.op.invoke = Now();
      auto got = client->Get(key);
      r.op.ret = Now();
      if (got) {
        r.op.outcome = Outcome::kOk;
        if (got->has_value()) {
          r.op.value = (*got)->value;
          last_read[key] = (*got)->value;
        }
      } else {
        r.op.outcome = OutcomeOf(got.error(), r.op.kind);
        r.error = std::string(client::ErrorCodeName(got.error().code));
      }
    } else if (roll < 80 || known == last_read.end()) {
      r.op.kind = OpKind::kPut;
      r.op.value = value;
      r.op.invoke = Now();
      auto put = client->Put(key, value);
      r.op.ret = Now();
      if (put) {
        r.op.outcome = Outcome::kOk;
      } else {
        r.op.outcome = OutcomeOf(put.error(), r.op.kind);
        r.error = std::string(client::ErrorCodeName(put.error().code));
      }
    } else {
      r.op.kind = OpKind::kCas;
      r.op.expected = known->second;
      r.op.value = value;
      client::Compare cmp;
      cmp.key = key;
      cmp.target = client::Compare::Target::kValue;
      cmp.op = client::Compare::Op::kEqual;
      cmp.value = known->second;
      r.op.invoke = Now();
      auto txn = client->Txn({cmp}, {client::Op::Put(key, value)}, {});
      r.op.ret = Now();
      if (txn) {
        r.op.outcome = txn->succeeded ? Outcome::kOk : Outcome::kFail;
      } else {
        r.op.outcome = OutcomeOf(txn.error(), r.op.kind);
        r.error = std::string(client::ErrorCodeName(txn.error().code));
      }
    }
    const bool unknown = r.op.outcome == Outcome::kUnknown;
    if (unknown) r.op.ret.reset();
    Add(std::move(r));
    // An operation that may still be in flight ends this client: go on as a new one.
    if (unknown) id = NextClientId();
    const auto think = options_.think_max.count() > 0 ? rng() % static_cast<uint64_t>(options_.think_max.count() + 1) : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(think));
  }
}

void Workload::SetWriter(int index) {
  std::mt19937_64 rng(options_.seed * 7919 + 17 + static_cast<uint64_t>(index));
  auto client = OpenClient(options_, rng());
  if (client == nullptr || options_.set_prefixes.empty()) return;
  const int64_t end = Now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.max_duration).count();
  for (uint64_t n = 0; !stop_ && Now() < end; ++n) {
    const std::string& prefix = options_.set_prefixes[n % options_.set_prefixes.size()];
    const std::string key = prefix + "w" + std::to_string(index) + "/" + std::to_string(n);
    if (client->Put(key, "x").has_value()) {
      std::lock_guard lock(mu_);
      acked_.push_back(key);
    }
    const auto think = options_.think_max.count() > 0 ? rng() % static_cast<uint64_t>(options_.think_max.count() + 1) : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(think));
  }
}

void Workload::Pinned(int index) {
  const PinnedClient& p = options_.pinned[static_cast<size_t>(index)];
  std::mt19937_64 rng(options_.seed * 104729 + 31 + static_cast<uint64_t>(index));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect at once after a refused or dropped connection: the node may come back any time.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 300);
  auto stub = v1::KV::NewStub(grpc::CreateCustomChannel(p.address, grpc::InsecureChannelCredentials(), args));
  uint64_t id = NextClientId();
  const int64_t end = Now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.max_duration).count();
  for (uint64_t seq = 0; !stop_ && Now() < end && !options_.keys.empty(); ++seq) {
    const std::string& key = options_.keys[rng() % options_.keys.size()];
    const bool put = p.writes && rng() % 2 == 0;
    Record r;
    r.pinned_node = p.node;
    r.op.client = id;
    r.op.key = key;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options_.op_deadline);
    grpc::Status status;
    if (put) {
      r.op.kind = OpKind::kPut;
      r.op.value = "p" + std::to_string(id) + "-" + std::to_string(seq);
      v1::PutRequest req;
      req.set_key(key);
      req.set_value(*r.op.value);
      req.mutable_header()->set_request_id("pin-" + std::to_string(options_.seed) + "-" + *r.op.value);
      v1::PutResponse resp;
      r.op.invoke = Now();
      status = stub->Put(&ctx, req, &resp);
      r.op.ret = Now();
    } else {
      r.op.kind = OpKind::kGet;
      v1::GetRequest req;
      req.set_key(key);
      req.mutable_header()->set_consistency(v1::LINEARIZABLE);
      v1::GetResponse resp;
      r.op.invoke = Now();
      status = stub->Get(&ctx, req, &resp);
      r.op.ret = Now();
      if (status.ok() && resp.found()) r.op.value = resp.kv().value();
    }
    if (status.ok()) {
      r.op.outcome = Outcome::kOk;
    } else {
      v1::Error detail;
      const bool has_detail = client::DecodeErrorDetail(status.error_details(), &detail);
      const client::Error e = client::ErrorFromStatus(status, has_detail ? &detail : nullptr, put);
      r.error = std::string(client::ErrorCodeName(e.code));
      r.op.outcome = OutcomeOf(e, r.op.kind);
    }
    const bool unknown = r.op.outcome == Outcome::kUnknown;
    if (unknown) r.op.ret.reset();
    Add(std::move(r));
    if (unknown) id = NextClientId();
    // Pinned clients poll more slowly: most of their calls fail while the node is cut off.
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 10));
  }
}

}  // namespace claw::fault
