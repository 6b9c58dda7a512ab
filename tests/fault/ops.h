// Plumbing of the operational fault scenarios (ops_test.cc: S04 rolling restart, S10 lagging
// follower caught up by snapshot, S15 gray failure, S20 zone loss), on top of Scenario:
//
// - Terminate: SIGTERM a node and wait, bounded, for its exit status (graceful stop).
// - ShardTerms / WriteGaps / CountOutcomes: what the cluster and the history say (Raft terms from
//   Cluster.Status, the longest stretch without a served write per shard, failures by kind).
// - DirectoryVoters: the meta shard's directory (Placement.GetDirectory at the meta leader).
// - Filler: extra writers putting fresh keys into every shard (log growth for S10), outside the
//   history; their acknowledged keys are remembered and can be read back.
// - CgroupThrottle: a cgroup v1 group holding one node's process (S15), with a CPU quota or a
//   disk write rate; removed (the process moved back to the root group) by Release() or the
//   destructor.
// - MetricValue / LogCount: a node's Prometheus series and its log lines.
//
// Thread-safety: everything but Filler's workers runs on the test thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "scenario.h"

namespace claw::fault {

// "n3" for node index 2.
std::string NodeName(int node);

// What a graceful stop did: exit status (-signal when killed by one), or nullopt when the node
// did not exit within the bound (it is then killed with -9 and reaped); how long it took.
struct StopResult {
  std::optional<int> status{};
  double ms = 0;
};
// Sends SIGTERM to `node` and waits up to `bound` for it to exit; on the timeline.
StopResult Terminate(Scenario& s, int node, std::chrono::milliseconds bound);

// Shard id -> the highest Raft term any running node reports for it (Cluster.Status), every shard
// including the meta shard.
std::map<uint64_t, uint64_t> ShardTerms(Scenario& s);

// Per data shard, the longest stretch in [from_us, to_us] (workload clock) without a served write
// of the register clients (an ok put, an ok or failed cas): from `from_us` or the previous served
// write's return to the next one's return, and from the last one to `to_us`. In ms.
std::map<uint64_t, double> WriteGaps(Scenario& s, int64_t from_us, int64_t to_us);

// Operations of the history by outcome within [from_us, to_us] (invocation time). An unknown
// outcome has no return time (the client gave up at its deadline, 2 s).
struct OutcomeCounts {
  size_t ops = 0, ok = 0, cas_failed = 0, errors = 0, unknown = 0;
  size_t unknown_writes = 0;
  std::map<std::string, size_t> by_error{};  // error code name -> count (errors and unknown)
  std::string Summary() const;
};
OutcomeCounts CountOutcomes(Scenario& s, int64_t from_us, int64_t to_us);

// The meta shard's directory: shard id -> voter node indexes (learners left out); nullopt when no
// meta leader answered.
std::optional<std::map<uint64_t, std::vector<int>>> DirectoryVoters(Scenario& s);

// Value of the Prometheus series `name` (summed over its label sets) on `node`'s /metrics, or
// nullopt when the node did not answer or has no such series.
std::optional<double> MetricValue(Scenario& s, int node, const std::string& name);

// Lines of `node`'s log that contain `what`, from byte `from` on.
size_t LogCount(Scenario& s, int node, const std::string& what, uint64_t from = 0);
// The current size of `node`'s log (a `from` for LogCount).
uint64_t LogSize(Scenario& s, int node);

// Writers putting keys "<prefix>fill/<writer>-<n>" with `value_bytes` values, one thread per
// prefix (pick one prefix per shard), each with its own client over every node. Their writes are
// not in the history (their keys are their own).
class Filler {
 public:
  Filler(Scenario& s, std::vector<std::string> prefixes, size_t value_bytes);
  ~Filler();  // stops
  Filler(const Filler&) = delete;
  Filler& operator=(const Filler&) = delete;

  void Stop();
  uint64_t acked() const { return acked_.load(); }
  // The last acknowledged key of each prefix (value: Value(key)).
  std::map<std::string, std::string> LastAcked() const;
  std::string Value(const std::string& key) const;

 private:
  void Run(size_t index, std::vector<std::string> endpoints);

  std::vector<std::string> prefixes_;
  size_t value_bytes_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  std::vector<std::thread> threads_{};
  mutable std::mutex mu_;
  std::map<std::string, std::string> last_{};  // prefix -> key; guarded by mu_
};

// One node's process in a cgroup v1 group of one controller with limits set (S15): the `cpu`
// controller with a CFS quota, or `blkio` with a write rate on the block device of its data
// directory. Needs root and the v1 controller mounted at /sys/fs/cgroup/<controller> (Apply
// fails the test with the reason otherwise). The group is
// /sys/fs/cgroup/<controller>/claw-fault-<test pid>-<node name>; Release() or the destructor
// moves the process back to the root group and removes it.
class CgroupThrottle {
 public:
  explicit CgroupThrottle(std::string controller) : controller_(std::move(controller)) {}
  ~CgroupThrottle();  // Release()
  CgroupThrottle(const CgroupThrottle&) = delete;
  CgroupThrottle& operator=(const CgroupThrottle&) = delete;

  // Creates the group, writes each (control file, value) in order, then moves `pid` (every
  // thread) into it.
  void Apply(pid_t pid, const std::string& node_name,
             const std::vector<std::pair<std::string, std::string>>& limits);
  // Moves the process back to the root group (if it still runs) and removes the group. Returns
  // the group's `stat_file` (e.g. cpu.stat) read just before, as one line, "" when none.
  std::string Release(const std::string& stat_file = "");

 private:
  std::string controller_;
  std::string dir_{};
  pid_t pid_ = -1;
};

// The cpu controller's limits for `percent` % of one CPU (cpu.cfs_quota_us over a 100 ms period).
std::vector<std::pair<std::string, std::string>> CpuQuota(int percent);
// "major:minor" of the whole block device holding `path` (the disk of a partition), or "" when
// it cannot be found (then blkio throttling is impossible: not a block device file system).
std::string BlockDeviceOf(const std::string& path);
// The blkio controller's limits: writes to `device` ("major:minor") at most `bytes_per_second`.
std::vector<std::pair<std::string, std::string>> WriteBps(const std::string& device,
                                                          uint64_t bytes_per_second);

}  // namespace claw::fault
