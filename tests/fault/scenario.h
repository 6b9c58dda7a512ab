// Scenario: one run of a fault scenario (reliability.md §10.3): a cluster in the fault namespace,
// the workload, the faults the test injects, and the common checks (§10.4) at the end.
//
//   Scenario s({.name = "S01-leader-kill9", .seed = Seed(1)});
//   REQUIRE(s.StartCluster());
//   s.StartWorkload();
//   s.Warmup(2s);                      // also checks the minimum load before the fault
//   s.Kill(s.LeaderHeavyNode());       // faults, each on the timeline
//   ...
//   const Result r = s.Finish();       // heal, recover, final writes, every check
//
// Checks in Finish(): lincheck on the history (exit 0 only: not linearizable or budget exhausted
// fail), every acknowledged set write present, a final write on every shard within 20 s of the
// heal, equal replica hashes of every data shard at one Raft index (replica_hashes.h), at least min_ok_before_fault ok operations before the first fault, and no
// AddressSanitizer / runtime error / panic / fatal / [critical] line in any node log. Scenario-
// specific checks add theirs with Check(). A failing run keeps its history, timeline, lincheck
// report and node logs in <build>/tests/fault-runs/<name>-<seed>/ and prints the seed and the
// command that replays it. A positive control (expect_violation) passes only when lincheck finds
// the history not linearizable.
//
// Every random choice comes from one seed: CLAW_FAULT_SEED overrides the test's default (Seed()).
// Thread-safety: one test thread drives it (the workload has its own threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cluster.h"
#include "netns.h"
#include "workload.h"

namespace claw::fault {

// The scenario seed: $CLAW_FAULT_SEED when set, else `fallback`.
uint64_t Seed(uint64_t fallback);

struct ScenarioOptions {
  std::string name{};  // "S01-leader-kill9": names the artifacts directory
  uint64_t seed = 1;
  int nodes = 3;
  int shards = 4;
  std::string binary{};  // the clawd executable; empty = clawd
  // Flags added to every node's command line (after e2e::FastFlags()).
  std::vector<std::string> extra_flags{};
  int clients = 8;
  int set_writers = 2;
  size_t min_ok_before_fault = 100;
  bool expect_violation = false;  // positive control: lincheck must fail
  std::chrono::milliseconds op_deadline{2000};
  // How long the workload keeps running after the heal before it stops.
  std::chrono::milliseconds recovery{2000};
  // clawd's default Raft timing (100 ms tick, 1 s election, 3 s node death) instead of
  // e2e::FastFlags' 50 ms tick: for failover figures users would see.
  bool default_timing = false;
  // S16: every node runs with powerloss_shim.c preloaded, so that PowerLoss() can drop what it
  // never synced.
  bool power_loss_shim = false;
  // Positive control of lost writes: the set check must find acknowledged writes missing (the
  // test passes only then); lincheck's verdict, the final writes and the recovery bound are
  // reported, not checked (a clawd that lost committed entries may stay unavailable too).
  bool expect_lost_writes = false;
  // Positive control of replica divergence (S18): the end-of-run replica hash check must find
  // the replicas on this node index (0-based) in the minority (the test passes only then).
  // -1: every replica must agree (the check every scenario runs).
  int expect_diverged_node = -1;
  // S17: this node's replicas may be missing from, or differ in, the end-of-run hash check (its
  // files were damaged on purpose; clawd fails reads of a damaged block); reported, not failed.
  int hash_may_fail_node = -1;
  // Bank clients (workload.h) on 5 accounts of the first shard; 0 = no bank.
  int bank_clients = 0;
  // STALE readers pinned at every node in turn (workload.h), checked against their bound in
  // Finish (CheckStaleReads); 0 = none.
  int stale_readers = 0;
  uint64_t stale_bound_ms = 1000;
};

// What a finished run measured.
struct Result {
  bool passed = false;
  size_t ops = 0, ok = 0, failed = 0, errors = 0, unknown = 0;
  size_t acked_set_writes = 0, lost_set_writes = 0;
  std::string verdict{};  // lincheck's
  // The end-of-run replica hash check: whether every replica agreed, and the node ids (1-based)
  // of the replicas that did not.
  bool hashes_equal = false;
  std::set<uint64_t> minority_nodes{};
  // Write unavailability per (shard, leader kill): last served write before the kill to the
  // first after it, in ms (Scenario::Kill of a node that led shards).
  std::vector<double> failover_ms{};
  // After Heal(): the first served write per shard, in ms after the heal (max over shards).
  double recovery_ms = 0;
  std::string artifacts{};  // the kept directory, or ""
  BankStats bank{};
  size_t stale_reads = 0;
  // Bank, monotonic-version and stale-read violations (each also a failure, except in a
  // positive control, where they are printed only).
  size_t violations = 0;
};

// p-quantile (0..1) of `samples` (nearest rank); 0 for none.
double Quantile(std::vector<double> samples, double q);

class Scenario {
 public:
  explicit Scenario(ScenarioOptions options);
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  // Starts every node and waits until each serves and every shard has a leader; loads the routes.
  [[nodiscard]] bool StartCluster();
  // Waits until every running node serves and every data shard has a leader.
  [[nodiscard]] bool WaitHealthy(std::chrono::milliseconds timeout);
  void StartWorkload(std::vector<PinnedClient> pinned = {});
  // Runs the workload for `d`, then marks the fault phase: the minimum-load check counts here.
  void Warmup(std::chrono::milliseconds d);

  // --- faults (each on the timeline) ---
  void Kill(int node);  // SIGKILL; records the shards it led for the failover figures
  void KillAll();
  // Power loss of `nodes` at once (needs power_loss_shim): kill -9 them, then drop from each
  // data directory what the node never synced (powerloss.h); they stay down until restarted. The
  // kill waits for phase 1.4 s of the steady clock's 2-second periods, where
  // clawd_broken_ack_before_fsync's acknowledged tail is longest; the real clawd does not care.
  void PowerLoss(const std::vector<int>& nodes);
  void PowerLossAll();
  void Restart(int node);
  void RestartAll();
  // A node that is meant to fail-stop (S13, S14): its log lines up to now may hold "[critical]" /
  // "fatal" (the abort's reason); sanitizer reports and panics still fail the run.
  void AllowFailStopLog(int node);
  // A node that refuses to start (S17: corrupted files) stays down: Finish does not restart it.
  void KeepDown(int node);
  // A node whose files were damaged (S17) may fail-stop whenever it reads the damage, also late
  // in the run (an apply touching the damaged block): if it exited on its own by Finish, that is
  // no failure as long as its log names the corruption (a line with "corrupt" or "checksum"); it
  // then stays down, and its fail-stop lines are allowed wherever they are in its log.
  void MayFailStopOnDamage(int node);

  // --- disk (S13) ---
  // Before StartCluster: node's data directory becomes a fresh `mib` MiB ext4 (a loop-mounted
  // image file, no reserved blocks), unmounted and removed by the destructor even when the test
  // fails. Needs root, mkfs.ext4 and loop devices.
  void MountSmallDisk(int node, int mib);
  // Fills that file system to ENOSPC with a root-owned filler file; returns the bytes written.
  uint64_t FillDisk(int node);
  void FreeDisk(int node);  // removes the filler
  void Pause(int node);
  void Resume(int node);
  // Cuts `nodes` off from every other node, both ways (clients still reach everyone).
  void Isolate(const std::vector<int>& nodes);
  // Drops only what `from` sends to `to` (each node of `to`).
  void OneWay(int from, const std::vector<int>& to);
  // Random loss of `percent` % of the packets on every peer link of `node`, both directions.
  void Lossy(int node, int percent);
  void Heal();
  void Sleep(std::chrono::milliseconds d);

  // --- views ---
  // Data shard id -> the index of a node that says it leads it (-1: none), from every running
  // node's Cluster.Status (a node knows only the leaders of the shards it hosts).
  std::map<uint64_t, int> Leaders();
  // The node leading the most data shards (ties: the lowest index; a random node if none known).
  int LeaderHeavyNode();
  // The node indexes of the voters of the shard owning `key`, as ListShards said at the start.
  std::vector<int> VotersOf(const std::string& key) const;
  // The id of the shard owning `key`, as ListShards said at the start (0: none).
  uint64_t ShardIdOf(const std::string& key) const { return ShardOf(key); }
  int RandomNode(int except = -1);
  std::mt19937_64& rng() { return rng_; }
  e2e::TestCluster& cluster() { return *cluster_; }
  Workload& workload() { return *workload_; }
  const ScenarioOptions& options() const { return options_; }
  // Milliseconds since the workload's clock started (the timeline's clock).
  double NowMs() const;

  // A scenario-specific check: a failure is reported with the others and fails the run.
  void Check(bool ok, const std::string& what);
  void Note(const std::string& event);  // a timeline entry

  Result Finish();

 private:
  struct KillEvent {
    int64_t at_us = 0;
    int node = 0;
    std::vector<uint64_t> shards{};  // led by the node just before the kill
  };
  uint64_t ShardOf(const std::string& key) const;
  std::string PowerLossLog(int node) const;  // the shim's side file of a node
  std::string FillerPath(int node) const;
  void UnmountDisks();
  void FinalWrites(Result& r);
  void CheckSet(Result& r);
  void CheckHashes(Result& r);  // replica_hashes.h, every data shard at one index
  void CheckLinearizable(Result& r, const std::vector<Record>& history, std::string* report);
  void CheckLogs();
  void CheckClientInvariants(Result& r, const std::vector<Record>& history);
  void MeasureFailover(Result& r, const std::vector<Record>& history);
  void MeasureRecovery(Result& r, const std::vector<Record>& history);
  std::string KeepArtifacts(const std::vector<Record>& history, const std::string& lincheck_report);

  ScenarioOptions options_;
  std::mt19937_64 rng_;
  std::unique_ptr<e2e::TestCluster> cluster_;
  std::unique_ptr<Workload> workload_;
  std::vector<std::string> keys_{};
  std::vector<std::string> set_prefixes_{};
  std::vector<std::string> bank_accounts_{};
  struct ShardRange {
    uint64_t id = 0;
    std::string start{}, end{};
    std::vector<int> voters{};
  };
  std::vector<ShardRange> shards_{};
  std::vector<std::string> timeline_{};
  std::vector<std::string> failures_{};
  std::vector<KillEvent> kills_{};
  std::map<int, uint64_t> log_allowed_until_{};  // node -> log bytes exempt (AllowFailStopLog)
  std::map<int, std::string> mounted_images_{};  // node -> image file of its small disk
  std::set<int> kept_down_{};                       // KeepDown
  std::set<int> may_fail_stop_{};                   // MayFailStopOnDamage
  std::optional<int64_t> fault_at_us_{};
  std::optional<int64_t> heal_at_us_{};
  std::chrono::steady_clock::time_point created_;
};

}  // namespace claw::fault
