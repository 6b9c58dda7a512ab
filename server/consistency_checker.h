// ConsistencyChecker: the periodic consistency check (config raft.consistency_check_interval_ms;
// server/README.md "Consistency checks"). Once per interval for every data shard this node leads,
// it starts a check (Store::CheckConsistency: a check entry through Raft, each replica hashes the
// shard at that index), collects every replica's hash (its own through the Store, the others'
// through claw.v1.Cluster/GetReplicaHash on their nodes' client addresses) within a bound, and
// compares them. Replicas whose hash differs from the majority's are logged as an error naming
// them and counted (clawd_replica_hash_mismatches_total); a replica that does not answer in time
// makes the check incomplete (a warning; counted by outcome in clawd_consistency_checks_total).
// Detection only: the shard keeps serving from every replica.
//
// Spreading: a shard first seen led gets a uniformly random first check time within one interval,
// then one every interval, so that checks of many shards do not come at once. Checks run one at
// a time on the checker's own thread.
//
// Threads: one thread of its own; Stop (and the destructor) are called from the node's main
// thread. Lifecycle: constructed after the Store and the Router, Stop()ped before them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "claw/v1/cluster.pb.h"
#include "server/router.h"
#include "server/store.h"

namespace claw::server {

class Metrics;

struct ConsistencyCheckerOptions {
  uint64_t node_id = 0;
  std::chrono::milliseconds interval{3'600'000};
  // Bound of one check: starting it and every replica's answer.
  std::chrono::milliseconds wait{30'000};
  Metrics* metrics = nullptr;
};

class ConsistencyChecker {
 public:
  ConsistencyChecker(ConsistencyCheckerOptions options, Store* store, Router* router);
  ~ConsistencyChecker();
  ConsistencyChecker(const ConsistencyChecker&) = delete;
  ConsistencyChecker& operator=(const ConsistencyChecker&) = delete;

  // Stops the thread (a check in progress is abandoned within one poll). Idempotent.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  class Peers;

  void Run();
  void CheckShard(uint64_t shard);
  // Waits up to `d`; false when stopping.
  bool Wait(std::chrono::milliseconds d);
  bool stopping();

  ConsistencyCheckerOptions options_;
  Store* store_;
  Router* router_;
  std::unique_ptr<Peers> peers_;
  std::mt19937_64 rng_;
  std::map<uint64_t, Clock::time_point> next_check_;  // shard -> when; checker thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace claw::server
