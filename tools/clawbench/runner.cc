#include "tools/clawbench/runner.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace claw::clawbench {

namespace {

using Clock = std::chrono::steady_clock;

// The counters of a run, updated from the target's threads.
class Recorder {
 public:
  void Record(const Request& r, const Outcome& o, Clock::duration latency) {
    if (o.ok) {
      histogram_.Record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
    }
    std::lock_guard lock(mu_);
    last_done_ = Clock::now();
    if (!o.ok) {
      ++result_.failed;
      if (++result_.errors[o.error_code] == 1) result_.error_text[o.error_code] = o.error_message;
      return;
    }
    ++result_.ok;
    ++result_.ops[std::string(OpKindName(r.kind))];
    if (r.kind == OpKind::kGet && !o.found) ++result_.not_found;
    result_.keys_read += o.keys_read;
    if (r.kind == OpKind::kPut || r.kind == OpKind::kBatch || r.kind == OpKind::kCheckpointWrite) {
      result_.keys_written += r.keys.size();
    }
  }

  RunResult Finish(uint64_t sent, Clock::time_point start) {
    std::lock_guard lock(mu_);
    result_.sent = sent;
    result_.latency = histogram_.Snapshot();
    const auto end = std::max(last_done_, start);
    result_.elapsed_s = std::chrono::duration<double>(end - start).count();
    return result_;
  }

 private:
  Histogram histogram_;
  std::mutex mu_;
  RunResult result_;                // GUARDED_BY(mu_) but histogram
  Clock::time_point last_done_{};  // GUARDED_BY(mu_)
};

// Counts requests in flight; Wait returns when none is.
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

struct RunContext {
  const Options& options;
  Target& target;
  Recorder recorder;
  std::atomic<uint64_t> issued{0};
  std::optional<Clock::time_point> stop_at;
  InFlight chains;
};

// One closed-loop client: sends, and from the completion sends the next, until the run ends.
class Chain {
 public:
  Chain(RunContext& run, uint32_t client, RequestMaker maker) : run_(run), client_(client), maker_(std::move(maker)) {}

  void Step() {
    const uint64_t n = run_.issued.fetch_add(1);
    if ((run_.options.total && n >= run_.options.total) || (run_.stop_at && Clock::now() >= *run_.stop_at)) {
      run_.issued.fetch_sub(1);
      run_.chains.Done();
      return;
    }
    const Request request = maker_.Next(client_);
    const auto sent = Clock::now();
    run_.target.Start(request, [this, request, sent](Outcome o) {
      run_.recorder.Record(request, o, Clock::now() - sent);
      Step();
    });
  }

 private:
  RunContext& run_;
  uint32_t client_;
  RequestMaker maker_;
};

uint64_t Mix(uint64_t seed, uint64_t client) { return seed * 0x9E3779B97F4A7C15ull + client * 0xBF58476D1CE4E5B9ull + 1; }

}  // namespace

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kPut: return "put";
    case OpKind::kGet: return "get";
    case OpKind::kScan: return "scan";
    case OpKind::kBatch: return "batch";
    case OpKind::kCheckpointWrite: return "checkpoint_write";
  }
  return "?";
}

RequestMaker::RequestMaker(const Options& options, const ZipfianGenerator* zipf, std::atomic<uint64_t>* sequential,
                           uint64_t seed)
    : options_(options),
      picker_({.key_space = options.key_space_size, .distribution = options.key_dist, .zipf_theta = options.zipf_theta},
              zipf, seed),
      sequential_(sequential) {}

uint64_t RequestMaker::NextIndex() {
  if (options_.sequential_keys) return sequential_->fetch_add(1) % options_.key_space_size;
  return picker_.Next();
}

Request RequestMaker::Next(uint32_t client) {
  Request r;
  r.client = client;
  switch (options_.workload) {
    case Workload::kPut: r.kind = OpKind::kPut; break;
    case Workload::kGet: r.kind = OpKind::kGet; break;
    case Workload::kScan: r.kind = OpKind::kScan; break;
    case Workload::kBatch: r.kind = OpKind::kBatch; break;
    case Workload::kCheckpoint:
      r.kind = OpKind::kCheckpointWrite;
      r.keys.push_back("s" + std::to_string(NextIndex() % options_.sections));
      return r;
    case Workload::kMixed: r.kind = picker_.Uniform() < options_.read_ratio ? OpKind::kGet : OpKind::kPut; break;
  }
  const size_t n = r.kind == OpKind::kBatch ? static_cast<size_t>(options_.ops_per_request) : 1;
  // A request's keys are distinct (etcd refuses a Txn that writes one key twice).
  std::set<uint64_t> chosen;
  while (chosen.size() < n) {
    const uint64_t i = NextIndex();
    if (chosen.insert(i).second) r.keys.push_back(KeyName(i, options_.key_space_size, options_.key_size));
  }
  return r;
}

RunResult Run(const Options& options, Target& target) {
  std::unique_ptr<ZipfianGenerator> zipf;
  if (options.key_dist == KeyDistribution::kZipfian) {
    zipf = std::make_unique<ZipfianGenerator>(options.key_space_size, options.zipf_theta);
  }
  std::atomic<uint64_t> sequential{0};
  RunContext run{.options = options, .target = target, .recorder = {}, .issued = {}, .stop_at = {}, .chains = {}};
  const auto start = Clock::now();
  if (options.duration.count() > 0) run.stop_at = start + options.duration;

  if (options.rate <= 0) {
    std::vector<std::unique_ptr<Chain>> chains;
    for (int c = 0; c < options.clients; ++c) {
      chains.push_back(std::make_unique<Chain>(run, static_cast<uint32_t>(c),
                                               RequestMaker(options, zipf.get(), &sequential, Mix(options.seed, c))));
      run.chains.Add();
    }
    for (auto& chain : chains) chain->Step();
    run.chains.Wait();
    return run.recorder.Finish(run.issued.load(), start);
  }

  // Fixed rate: this thread keeps the timetable; free clients wait on a stack.
  std::mutex mu;
  std::condition_variable freed;
  std::vector<uint32_t> free_clients;  // GUARDED_BY(mu)
  for (int c = options.clients - 1; c >= 0; --c) free_clients.push_back(static_cast<uint32_t>(c));
  RequestMaker maker(options, zipf.get(), &sequential, Mix(options.seed, 0));
  InFlight in_flight;
  uint64_t sent = 0;
  for (uint64_t i = 0; options.total == 0 || i < options.total; ++i) {
    const auto scheduled = start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(static_cast<double>(i) / options.rate));
    if (run.stop_at && scheduled >= *run.stop_at) break;
    std::this_thread::sleep_until(scheduled);
    uint32_t client = 0;
    {
      std::unique_lock lock(mu);
      freed.wait(lock, [&] { return !free_clients.empty(); });
      client = free_clients.back();
      free_clients.pop_back();
    }
    const Request request = maker.Next(client);
    in_flight.Add();
    ++sent;
    target.Start(request, [&, request, scheduled](Outcome o) {
      run.recorder.Record(request, o, Clock::now() - scheduled);
      {
        std::lock_guard lock(mu);
        free_clients.push_back(request.client);
      }
      freed.notify_one();
      in_flight.Done();
    });
  }
  in_flight.Wait();
  return run.recorder.Finish(sent, start);
}

}  // namespace claw::clawbench
