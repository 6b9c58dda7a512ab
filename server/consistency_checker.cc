#include "server/consistency_checker.h"

#include <algorithm>
#include <future>
#include <set>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "claw/v1/cluster.grpc.pb.h"
#include "server/metrics.h"
#include "server/thread_name.h"

namespace claw::server {

// Cluster stubs of the other nodes, by client address (checker thread only).
class ConsistencyChecker::Peers {
 public:
  v1::Cluster::Stub& At(const std::string& address) {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) {
      auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      it = stubs_.emplace(address, v1::Cluster::NewStub(channel)).first;
    }
    return *it->second;
  }

 private:
  std::map<std::string, std::unique_ptr<v1::Cluster::Stub>> stubs_;
};

ConsistencyChecker::ConsistencyChecker(ConsistencyCheckerOptions options, Store* store, Router* router)
    : options_(options),
      store_(store),
      router_(router),
      peers_(std::make_unique<Peers>()),
      rng_(std::random_device{}()),
      thread_([this] { Run(); }) {}

ConsistencyChecker::~ConsistencyChecker() { Stop(); }

void ConsistencyChecker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ConsistencyChecker::Wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

bool ConsistencyChecker::stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

void ConsistencyChecker::Run() {
  NameThisThread("consistency");
  const auto interval = std::max(options_.interval, std::chrono::milliseconds(100));
  // How often to look for due checks: 1/20 of the interval, 100 ms .. 10 s (each look asks every
  // raft worker which shards it leads).
  const auto tick = std::clamp<std::chrono::milliseconds>(interval / 20, std::chrono::milliseconds(100),
                                                          std::chrono::seconds(10));
  while (Wait(tick)) {
    std::vector<uint64_t> due;
    const Clock::time_point now = Clock::now();
    for (const v1::ReplicaStatus& r : store_->Status(/*leaders_only=*/true)) {
      const uint64_t shard = r.shard().id();
      if (shard == kMetaShard || !r.is_leader()) continue;
      auto [it, fresh] = next_check_.try_emplace(shard);
      if (fresh) {
        std::uniform_int_distribution<int64_t> offset(0, interval.count());
        it->second = now + std::chrono::milliseconds(offset(rng_));
      }
      if (it->second <= now) due.push_back(shard);
    }
    for (uint64_t shard : due) {
      if (stopping()) return;
      CheckShard(shard);
      next_check_[shard] = Clock::now() + interval;
    }
  }
}

void ConsistencyChecker::CheckShard(uint64_t shard) {
  const Clock::time_point deadline = Clock::now() + options_.wait;
  auto started = std::make_shared<std::promise<std::expected<v1::CheckConsistencyResponse, RequestError>>>();
  auto started_future = started->get_future();
  store_->CheckConsistency(shard, deadline, [started](std::expected<v1::CheckConsistencyResponse, RequestError> r) {
    started->set_value(std::move(r));
  });
  while (started_future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (stopping() || Clock::now() > deadline + std::chrono::seconds(1)) return;
  }
  auto check = started_future.get();
  if (!check) {
    SPDLOG_DEBUG("shard {}: periodic consistency check not started: {}", shard, check.error().detail.message());
    return;
  }
  const uint64_t index = check->index();
  struct Answer {
    uint64_t node = 0;
    uint64_t replica = 0;
    std::string hash{};
    std::string missing{};  // why there is no hash
  };
  std::vector<Answer> answers;
  for (const v1::Replica& r : check->shard().replicas()) {
    Answer a{.node = r.node_id(), .replica = r.replica_id()};
    while (true) {
      std::expected<v1::GetReplicaHashResponse, std::string> got = std::unexpected(std::string("no answer"));
      if (r.node_id() == options_.node_id) {
        auto p = std::make_shared<std::promise<std::expected<v1::GetReplicaHashResponse, RequestError>>>();
        auto f = p->get_future();
        store_->ReplicaHash(shard, index, [p](std::expected<v1::GetReplicaHashResponse, RequestError> h) {
          p->set_value(std::move(h));
        });
        if (f.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
          auto h = f.get();
          if (h) {
            got = std::move(*h);
          } else {
            got = std::unexpected(h.error().detail.message());
          }
        }
      } else {
        const std::string address = router_->ClientAddress(r.node_id());
        if (address.empty()) {
          got = std::unexpected("node " + std::to_string(r.node_id()) + " has no known client address");
        } else {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          v1::GetReplicaHashRequest req;
          req.set_shard_id(shard);
          req.set_index(index);
          v1::GetReplicaHashResponse resp;
          const grpc::Status st = peers_->At(address).GetReplicaHash(&ctx, req, &resp);
          if (st.ok()) {
            got = std::move(resp);
          } else {
            got = std::unexpected(address + ": " + st.error_message());
          }
        }
      }
      if (got && got->state() == v1::GetReplicaHashResponse::DONE) {
        a.hash = got->hash();
        a.missing.clear();
        break;
      }
      if (!got) {
        a.missing = got.error();
      } else if (got->state() == v1::GetReplicaHashResponse::UNAVAILABLE) {
        a.missing = "unavailable: " + got->error();
      } else {
        a.missing = "pending";
      }
      if (got && got->state() == v1::GetReplicaHashResponse::UNAVAILABLE) break;
      if (Clock::now() >= deadline || !Wait(std::chrono::milliseconds(200))) break;
    }
    answers.push_back(std::move(a));
  }
  std::map<std::string, int> votes;
  for (const Answer& a : answers) {
    if (!a.hash.empty()) ++votes[a.hash];
  }
  if (votes.size() > 1) {
    int best = 0;
    for (const auto& [hash, n] : votes) best = std::max(best, n);
    int tied = 0;
    std::string majority;
    for (const auto& [hash, n] : votes) {
      if (n == best) {
        ++tied;
        majority = hash;
      }
    }
    std::string minority;
    for (const Answer& a : answers) {
      if (a.hash.empty() || (tied == 1 && a.hash == majority)) continue;
      minority += (minority.empty() ? "" : ", ") + std::string("replica ") + std::to_string(a.replica) + " on node " +
                  std::to_string(a.node) + " (" + a.hash + ")";
    }
    if (options_.metrics != nullptr) {
      options_.metrics->consistency_checks_mismatch.Increment();
      options_.metrics->replica_hash_mismatches.Increment();
    }
    SPDLOG_ERROR("shard {}: replica hashes differ at index {}: minority {}; {}", shard, index, minority,
                 tied == 1 ? "the other " + std::to_string(best) + " replicas have " + majority
                           : std::string("no majority"));
    return;
  }
  std::string missing;
  for (const Answer& a : answers) {
    if (a.hash.empty()) {
      missing += (missing.empty() ? "" : ", ") + std::string("replica ") + std::to_string(a.replica) + " on node " +
                 std::to_string(a.node) + " (" + a.missing + ")";
    }
  }
  if (!missing.empty()) {
    if (options_.metrics != nullptr) options_.metrics->consistency_checks_incomplete.Increment();
    SPDLOG_WARN("shard {}: consistency check at index {} incomplete: no hash from {}", shard, index, missing);
    return;
  }
  if (options_.metrics != nullptr) options_.metrics->consistency_checks_consistent.Increment();
  SPDLOG_DEBUG("shard {}: consistency check at index {}: {} replicas agree", shard, index, answers.size());
}

}  // namespace claw::server
