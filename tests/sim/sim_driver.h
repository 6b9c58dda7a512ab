// Run: one simulation run — a World, its Checker, and the driver that injects faults and client
// workload between events, heals the cluster and checks liveness at the end.
//
// A run is fully determined by its Scenario, and a sweep's Scenario by its seed (DrawScenario), so
// "seed=<n>" reproduces a failure exactly. Every failure report starts with the reproduction
// command, then the violation, the scenario, every replica's state and the last events.
//
// Fault mix (Scenario): network faults (drop, duplicate, delay spikes that reorder), one-way
// blocked links, two-sided partitions, isolated nodes, node crashes with restarts after a while,
// rarely a whole-cluster crash; they come and go at random intervals. Client workload: proposals
// to whoever claims leadership (and sometimes to anyone: kNotLeader), ReadIndex requests,
// leadership transfers, membership changes (remove/demote a voter, add a node as learner, promote,
// and on 5+ nodes joint changes replacing two voters at once) and log compactions.
//
// Liveness (Heal): all faults cleared and all nodes up; within 50 election timeouts every group
// must have exactly one leader accepted by all its voters, commit a fresh proposal, and all
// members of its final configuration must have applied the same history, through the highest
// index any replica ever committed.
//
// Single-threaded; one Run at a time per process (the core's check-failure handler points at it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/sim/sim_checker.h"
#include "tests/sim/sim_rng.h"
#include "tests/sim/sim_world.h"

namespace claw::sim {

struct Scenario {
  WorldConfig world;
  std::string profile = "custom";  // a short name for reports ("moderate", "heavy", ...)

  // Length of the fault + workload phase.
  Time chaos = 0;

  // Client workload: an operation every [1, 2 * client_interval] of simulated time, chosen by
  // these weights.
  Time client_interval = 5'000;
  int w_propose = 60;
  int w_read = 15;
  int w_transfer = 2;
  int w_conf_change = 3;
  int w_compact = 5;
  int w_campaign = 1;

  // Faults: a fault change every [1, 2 * nemesis_interval], chosen by these weights.
  bool faults = true;
  Time nemesis_interval = 100'000;
  int w_heal = 4;
  int w_network = 3;  // new drop / duplicate / spike rates
  int w_one_way = 2;
  int w_partition = 2;
  int w_isolate = 2;
  int w_crash = 3;
  int w_crash_all = 0;
  uint32_t max_drop_ppm = 50'000;
  uint32_t max_duplicate_ppm = 20'000;
  uint32_t max_spike_ppm = 20'000;
  int max_down = 1;  // nodes down at once (crash_all ignores it)
  Time min_down = 50'000;
  Time max_down_time = 600'000;
};

// The scenario of sweep seed `seed`: cluster shape, options, fault profile, lengths.
Scenario DrawScenario(uint64_t seed);
// One line describing a scenario, for reports.
std::string DescribeScenario(const Scenario& s);

struct RunResult {
  bool ok = true;
  std::string report;  // empty when ok
  WorldStats stats;
  uint64_t leaders = 0;  // distinct (group, term) leaders
  Time simulated = 0;
};

class Run {
 public:
  // `test_name` is the Catch2 test case that reproduces this run (for the failure report).
  Run(const Scenario& scenario, std::string test_name);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  World& world() { return *world_; }
  Checker& checker() { return checker_; }
  Rng& rng() { return rng_; }
  const Scenario& scenario() const { return scenario_; }
  bool failed() const { return checker_.failed(); }

  // Random faults (when scenario().faults) and client workload for `duration`.
  void Chaos(Time duration);
  // Client workload only, for `duration`.
  void Workload(Time duration);
  // One random client operation.
  void ClientOp();
  // Proposes a fresh unique value for `group` at its leader, if any; returns the value.
  std::optional<std::string> ProposeAtLeader(int group);
  // Clears every fault, restarts every node and checks liveness (see the file comment).
  // Returns false (with a recorded failure) when liveness or safety fails.
  bool Heal();
  // Records a failure unless `ok`.
  bool Expect(bool ok, const std::string& what);
  // The run's outcome, with the full failure report when it failed.
  RunResult Finish();

  // Elapsed simulated time in election timeouts.
  Time ElectionTimeout() const;

 private:
  void NemesisOp();
  void ConfChangeOp(int group);
  void RestartDueNodes();
  int RandomUpNode();
  // Whether `group` is live and converged; otherwise sets *why.
  bool Converged(int group, std::string* why);
  std::string Report(const std::string& what);
  static void OnCoreCheckFailure(const char* file, int line, const char* message);

  Scenario scenario_;
  std::string test_name_;
  Rng rng_;
  Checker checker_;
  std::unique_ptr<World> world_;
  std::vector<std::optional<Time>> restart_at_;  // per node, while down
  uint64_t next_value_ = 1;
  Time next_client_ = 0;
  Time next_nemesis_ = 0;
};

// Runs sweep seed `seed` (DrawScenario, Chaos, Heal) as test case `test_name`.
RunResult RunSeed(uint64_t seed, const std::string& test_name, bool verbose);

// The seeds a sweep runs: [first, first + count), overridden by CLAW_SIM_SEED (exactly that seed),
// CLAW_SIM_FIRST_SEED and CLAW_SIM_SEEDS. `verbose` is CLAW_SIM_TRACE=1 when one seed runs.
struct SeedPlan {
  uint64_t first = 0;
  uint64_t count = 0;
  bool verbose = false;
  uint64_t max_failures = 3;  // CLAW_SIM_MAX_FAILURES: a sweep stops after this many
};
SeedPlan PlanFromEnv(uint64_t default_first, uint64_t default_count);

// "seed=<n>: reproduce with CLAW_SIM_SEED=<n> build/tests/sim_tests '<test name>'"
std::string ReproLine(uint64_t seed, const std::string& test_name);

}  // namespace claw::sim
