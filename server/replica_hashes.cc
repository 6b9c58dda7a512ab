#include "server/replica_hashes.h"

#include <spdlog/spdlog.h>

#include "server/thread_name.h"

namespace claw::server {

ReplicaHashes::ReplicaHashes(storage::Engine* engine) : engine_(engine), thread_([this] { Run(); }) {}

ReplicaHashes::~ReplicaHashes() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ReplicaHashes::Keep(uint64_t shard, uint64_t index, Result result) {
  auto& per_shard = results_[shard];
  per_shard[index] = std::move(result);
  while (per_shard.size() > kKeptPerShard) per_shard.erase(per_shard.begin());
}

void ReplicaHashes::Start(uint64_t shard, uint64_t index, std::string start, std::string end) {
  auto snapshot = std::make_unique<storage::ReadSnapshot>(*engine_);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      Keep(shard, index, Result{.state = State::kFailed, .error = "too many consistency checks queued on this node"});
      return;
    }
    Keep(shard, index, Result{});
    queue_.push_back(Job{.shard = shard, .index = index, .start = std::move(start), .end = std::move(end),
                         .snapshot = std::move(snapshot)});
  }
  cv_.notify_one();
}

std::optional<ReplicaHashes::Result> ReplicaHashes::Find(uint64_t shard, uint64_t index) const {
  std::lock_guard lock(mu_);
  auto s = results_.find(shard);
  if (s == results_.end()) return std::nullopt;
  auto r = s->second.find(index);
  if (r == s->second.end()) return std::nullopt;
  return r->second;
}

void ReplicaHashes::Forget(uint64_t shard) {
  std::lock_guard lock(mu_);
  results_.erase(shard);
}

void ReplicaHashes::Run() {
  NameThisThread("replica-hash");
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    auto hashed = storage::HashRange(*engine_, *job.snapshot, job.start, job.end);
    job.snapshot.reset();
    Result result;
    if (hashed) {
      result = Result{.state = State::kDone, .hash = std::move(hashed->hash), .keys = hashed->keys};
      SPDLOG_INFO("shard {}: consistency check at index {}: hash {} over {} keys ({} bytes)", job.shard, job.index,
                  result.hash, result.keys, hashed->bytes);
    } else {
      result = Result{.state = State::kFailed, .error = hashed.error().message};
      SPDLOG_ERROR("shard {}: consistency check at index {} failed: {}", job.shard, job.index, result.error);
    }
    lock.lock();
    // Forget may have dropped the shard meanwhile: then the result is not wanted either.
    auto s = results_.find(job.shard);
    if (s != results_.end() && s->second.contains(job.index)) s->second[job.index] = std::move(result);
  }
}

}  // namespace claw::server
