#include "workload.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <random>
#include <sstream>

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
  if (!options_.bank_accounts.empty()) {
    // The accounts, all at once (one shard: one atomic batch), retried for up to 10 s.
    auto client = OpenClient(options_, options_.seed * 31 + 5);
    std::vector<client::Op> init;
    for (const std::string& a : options_.bank_accounts) {
      init.push_back(client::Op::Put(a, std::to_string(options_.bank_initial)));
    }
    for (int attempt = 0; client != nullptr && attempt < 20 && !bank_ready_; ++attempt) {
      bank_ready_ = client->Batch(init).has_value();
      if (!bank_ready_) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (!bank_ready_) Violation("bank: the accounts could not be created");
  }
  for (int i = 0; i < options_.clients; ++i) threads_.emplace_back([this, i] { RegisterClient(i); });
  for (int i = 0; i < options_.set_writers; ++i) threads_.emplace_back([this, i] { SetWriter(i); });
  for (int i = 0; i < static_cast<int>(options_.pinned.size()); ++i) {
    threads_.emplace_back([this, i] { Pinned(i); });
  }
  if (bank_ready_) {
    for (int i = 0; i < options_.bank_clients; ++i) threads_.emplace_back([this, i] { BankClient(i); });
  }
  for (int i = 0; i < options_.stale_readers; ++i) threads_.emplace_back([this, i] { StaleReader(i); });
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

std::vector<std::string> Workload::Violations() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out = violations_;
  if (violation_count_ > violations_.size()) {
    out.push_back("... and " + std::to_string(violation_count_ - violations_.size()) + " more");
  }
  return out;
}

BankStats Workload::Bank() const {
  std::lock_guard lock(mu_);
  return bank_;
}

std::vector<StaleRead> Workload::StaleReads() const {
  std::lock_guard lock(mu_);
  return stale_reads_;
}

void Workload::Violation(std::string what) {
  std::lock_guard lock(mu_);
  ++violation_count_;
  if (violations_.size() < 20) violations_.push_back("t=" + std::to_string(Now() / 1000) + "ms " + std::move(what));
}

std::string BankStats::Summary() const {
  return std::to_string(reads) + " snapshots read, " + std::to_string(transfers) + " transfers, " +
         std::to_string(conflicts) + " compare conflicts, " + std::to_string(errors) + " errors, " +
         std::to_string(unknown) + " unknown";
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
  // Key -> the highest version and mod_ts this thread read or wrote (monotonic versions).
  struct Seen {
    uint64_t version = 0, mod_ts = 0;
    std::string how{};
  };
  std::map<std::string, Seen> seen;
  auto observe = [&](const std::string& key, uint64_t version, uint64_t mod_ts, const std::string& how) {
    Seen& s = seen[key];
    if ((version != 0 && version < s.version) || mod_ts < s.mod_ts) {  // version 0: not known (a write)
      Violation("monotonic versions: client thread " + std::to_string(index) + " " + how + " of " + key.substr(1) +
                ": version " + std::to_string(version) + ", mod_ts " + std::to_string(mod_ts) + " after " + s.how +
                " (version " + std::to_string(s.version) + ", mod_ts " + std::to_string(s.mod_ts) + ")");
    }
    s.version = std::max(s.version, version);
    if (mod_ts >= s.mod_ts) {
      s.mod_ts = mod_ts;
      s.how = how;
    }
  };
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
          observe(key, (*got)->version, (*got)->mod_ts, "read " + (*got)->value);
        } else if (seen.contains(key)) {
          Violation("monotonic versions: client thread " + std::to_string(index) + " found no " + key.substr(1) +
                    " after " + seen[key].how + " (the workload never deletes)");
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
        if (put->mod_ts != 0) observe(key, 0, put->mod_ts, "put " + value);
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
        if (txn->succeeded && !txn->results.empty() && txn->results[0].mod_ts != 0) {
          observe(key, 0, txn->results[0].mod_ts, "cas to " + value);
        }
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

void Workload::BankClient(int index) {
  std::mt19937_64 rng(options_.seed * 6700417 + 3 + static_cast<uint64_t>(index));
  auto client = OpenClient(options_, rng());
  if (client == nullptr) return;
  const std::vector<std::string>& accounts = options_.bank_accounts;
  const int64_t total = options_.bank_initial * static_cast<int64_t>(accounts.size());
  std::vector<client::Op> reads;
  for (const std::string& a : accounts) reads.push_back(client::Op::Get(a));
  const int64_t end = Now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.max_duration).count();
  auto count = [this](size_t BankStats::*field) {
    std::lock_guard lock(mu_);
    ++(bank_.*field);
  };
  while (!stop_ && Now() < end) {
    const auto think = options_.think_max.count() > 0 ? rng() % static_cast<uint64_t>(options_.think_max.count() + 1) : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(think));
    // A snapshot of every account: one read-only Txn (no compares: the success branch runs).
    auto snap = client->Txn({}, reads, {});
    if (!snap) {
      count(&BankStats::errors);
      continue;
    }
    std::vector<int64_t> balance;
    std::string shown;
    bool parsed = snap->results.size() == accounts.size();
    for (size_t i = 0; parsed && i < accounts.size(); ++i) {
      const std::optional<client::KeyValue>& kv = snap->results[i].kv;
      int64_t v = 0;
      parsed = kv.has_value() &&
               std::from_chars(kv->value.data(), kv->value.data() + kv->value.size(), v).ec == std::errc() &&
               std::to_string(v) == kv->value;
      balance.push_back(v);
      shown += " " + accounts[i].substr(1) + "=" + (kv ? kv->value : std::string("<missing>"));
    }
    int64_t sum = 0;
    for (int64_t b : balance) sum += b;
    const bool negative = std::any_of(balance.begin(), balance.end(), [](int64_t b) { return b < 0; });
    if (!parsed || sum != total || negative) {
      Violation("bank: a snapshot totals " + std::to_string(sum) + " (want " + std::to_string(total) + ")" +
                (negative ? ", a negative balance" : "") + (parsed ? "" : ", an account missing or not a number") +
                ":" + shown);
    }
    count(&BankStats::reads);
    if (!parsed || rng() % 3 == 0) continue;  // a third of the rounds only read
    const size_t from = rng() % accounts.size();
    size_t to = rng() % (accounts.size() - 1);
    if (to >= from) ++to;
    if (balance[from] <= 0) continue;
    const int64_t amount = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(balance[from]));
    std::vector<client::Compare> held;
    for (size_t i : {from, to}) {
      client::Compare c;
      c.key = accounts[i];
      c.target = client::Compare::Target::kValue;
      c.op = client::Compare::Op::kEqual;
      c.value = std::to_string(balance[i]);
      held.push_back(std::move(c));
    }
    auto moved = client->Txn(held,
                             {client::Op::Put(accounts[from], std::to_string(balance[from] - amount)),
                              client::Op::Put(accounts[to], std::to_string(balance[to] + amount))},
                             {});
    if (moved) {
      count(moved->succeeded ? &BankStats::transfers : &BankStats::conflicts);
    } else {
      count(moved.error().definite ? &BankStats::errors : &BankStats::unknown);
    }
  }
}

void Workload::StaleReader(int index) {
  if (options_.endpoints.empty() || options_.keys.empty()) return;
  const size_t node = static_cast<size_t>(index) % options_.endpoints.size();
  std::mt19937_64 rng(options_.seed * 1299709 + 11 + static_cast<uint64_t>(index));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 300);
  auto stub = v1::KV::NewStub(
      grpc::CreateCustomChannel(options_.endpoints[node], grpc::InsecureChannelCredentials(), args));
  const int64_t end = Now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.max_duration).count();
  while (!stop_ && Now() < end) {
    const std::string& key = options_.keys[rng() % options_.keys.size()];
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options_.op_deadline);
    v1::GetRequest req;
    req.set_key(key);
    req.mutable_header()->set_consistency(v1::STALE);
    req.mutable_header()->set_max_staleness_ms(options_.stale_bound_ms);
    v1::GetResponse resp;
    StaleRead r;
    r.key = key;
    r.node = static_cast<int>(node);
    r.invoke = Now();
    const grpc::Status status = stub->Get(&ctx, req, &resp);
    r.ret = Now();
    if (status.ok()) {
      if (resp.found()) r.value = resp.kv().value();
      std::lock_guard lock(mu_);
      stale_reads_.push_back(std::move(r));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + rng() % 6));
  }
}

std::vector<std::string> CheckStaleReads(const std::vector<Record>& history, const std::vector<StaleRead>& reads,
                                         uint64_t bound_ms, size_t max) {
  struct Write {
    int64_t invoke = 0;
    std::optional<int64_t> ret{};  // ok writes only
  };
  std::map<std::pair<std::string, std::string>, Write> by_value;  // (key, value) -> its write
  // Per key: the acknowledged writes by invoke, with the least return time from each on.
  struct Acked {
    std::vector<int64_t> invoke{}, min_ret_from{};
    int64_t first_ret = INT64_MAX;
  };
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> acked_raw;
  for (const Record& r : history) {
    const bool writes = r.op.kind == OpKind::kPut || r.op.kind == OpKind::kCas;
    if (!writes || !r.op.value) continue;
    if (r.op.outcome != Outcome::kOk && r.op.outcome != Outcome::kUnknown) continue;  // never applied
    Write w{r.op.invoke, r.op.outcome == Outcome::kOk ? r.op.ret : std::nullopt};
    by_value[{r.op.key, *r.op.value}] = w;
    if (w.ret) acked_raw[r.op.key].push_back({w.invoke, *w.ret});
  }
  std::map<std::string, Acked> acked;
  for (auto& [key, list] : acked_raw) {
    std::sort(list.begin(), list.end());
    Acked& a = acked[key];
    a.min_ret_from.resize(list.size());
    int64_t least = INT64_MAX;
    for (size_t i = list.size(); i-- > 0;) {
      least = std::min(least, list[i].second);
      a.min_ret_from[i] = least;
    }
    for (const auto& [invoke, ret] : list) a.invoke.push_back(invoke);
    a.first_ret = least;
  }
  const int64_t bound_us = static_cast<int64_t>(bound_ms) * 1000;
  std::vector<std::string> out;
  size_t violations = 0;
  auto report = [&](const StaleRead& r, const std::string& why) {
    if (++violations > max) return;
    std::ostringstream line;
    line << "stale read at n" << r.node + 1 << " of " << r.key.substr(1) << " [" << r.invoke / 1000 << ", "
         << r.ret / 1000 << "] ms returned " << (r.value ? *r.value : std::string("not found")) << ": " << why;
    out.push_back(line.str());
  };
  for (const StaleRead& r : reads) {
    const int64_t limit = r.invoke - bound_us;
    auto ak = acked.find(r.key);
    if (!r.value) {
      if (ak != acked.end() && ak->second.first_ret < limit) {
        report(r, "a write was acknowledged at " + std::to_string(ak->second.first_ret / 1000) + " ms, before invoke - " +
                      std::to_string(bound_ms) + " ms");
      }
      continue;
    }
    auto w = by_value.find({r.key, *r.value});
    if (w == by_value.end()) {
      report(r, "no write of that value may have been applied");
      continue;
    }
    if (w->second.invoke > r.ret) {
      report(r, "its write was invoked at " + std::to_string(w->second.invoke / 1000) + " ms, after the read returned");
      continue;
    }
    if (!w->second.ret || ak == acked.end()) continue;
    // An acknowledged write invoked after this one returned overwrote it; did one return before limit?
    const Acked& a = ak->second;
    const auto first = std::upper_bound(a.invoke.begin(), a.invoke.end(), *w->second.ret) - a.invoke.begin();
    if (static_cast<size_t>(first) < a.invoke.size() && a.min_ret_from[static_cast<size_t>(first)] < limit) {
      report(r, "overwritten by a write acknowledged at " +
                    std::to_string(a.min_ret_from[static_cast<size_t>(first)] / 1000) + " ms, more than " +
                    std::to_string(bound_ms) + " ms before the read");
    }
  }
  if (violations > max) out.push_back("... and " + std::to_string(violations - max) + " more");
  return out;
}

}  // namespace claw::fault
