// Seed sweeps: many random runs (sim_driver.h DrawScenario), each checked for safety after every
// event and for liveness after healing. The default tier runs 2,000 seeds; [slow] runs 100,000.
//
// Reproduce one seed: CLAW_SIM_SEED=<n> [CLAW_SIM_TRACE=1] build/tests/sim_tests '<test name>'.
// Other seeds: CLAW_SIM_FIRST_SEED=<first> CLAW_SIM_SEEDS=<count>; a sweep stops after
// CLAW_SIM_MAX_FAILURES failing seeds (default 3).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "tests/sim/sim_driver.h"

namespace claw::sim {
namespace {

struct SweepTotals {
  uint64_t seeds = 0;
  uint64_t failures = 0;
  uint64_t leaders = 0;
  Time simulated = 0;
  WorldStats stats;
};

void Add(WorldStats& total, const WorldStats& s) {
  total.delivered += s.delivered;
  total.dropped += s.dropped;
  total.duplicated += s.duplicated;
  total.syncs += s.syncs;
  total.proposals += s.proposals;
  total.acked += s.acked;
  total.applied_entries += s.applied_entries;
  total.snapshots_sent += s.snapshots_sent;
  total.snapshots_installed += s.snapshots_installed;
  total.reads_requested += s.reads_requested;
  total.reads_ready += s.reads_ready;
  total.conf_changes += s.conf_changes;
  total.transfers += s.transfers;
  total.compactions += s.compactions;
  total.crashes += s.crashes;
  total.leader_changes += s.leader_changes;
  total.wakeups += s.wakeups;
}

SweepTotals Sweep(const std::string& test_name, uint64_t default_first, uint64_t default_count) {
  const SeedPlan plan = PlanFromEnv(default_first, default_count);
  SweepTotals t;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t seed = plan.first; seed < plan.first + plan.count; ++seed) {
    const RunResult r = RunSeed(seed, test_name, plan.verbose);
    ++t.seeds;
    t.leaders += r.leaders;
    t.simulated += r.simulated;
    Add(t.stats, r.stats);
    if (!r.ok) {
      ++t.failures;
      std::fprintf(stderr, "\n%s\n", r.report.c_str());
      FAIL_CHECK(ReproLine(seed, test_name) << "\n" << r.report.substr(0, 4000));
      if (t.failures >= plan.max_failures) break;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const WorldStats& s = t.stats;
  std::printf(
      "%s: %llu seeds [%llu..] in %.1fs wall, %.0fs simulated, %llu failures; leaders=%llu "
      "proposals=%llu acked=%llu reads=%llu/%llu conf_changes=%llu transfers=%llu "
      "compactions=%llu snapshots=%llu/%llu crashes=%llu wakeups=%llu delivered=%llu "
      "dropped=%llu duplicated=%llu\n",
      test_name.c_str(), (unsigned long long)t.seeds, (unsigned long long)plan.first, secs,
      double(t.simulated) / 1e6, (unsigned long long)t.failures, (unsigned long long)t.leaders,
      (unsigned long long)s.proposals, (unsigned long long)s.acked,
      (unsigned long long)s.reads_ready, (unsigned long long)s.reads_requested,
      (unsigned long long)s.conf_changes, (unsigned long long)s.transfers,
      (unsigned long long)s.compactions, (unsigned long long)s.snapshots_installed,
      (unsigned long long)s.snapshots_sent, (unsigned long long)s.crashes,
      (unsigned long long)s.wakeups, (unsigned long long)s.delivered, (unsigned long long)s.dropped,
      (unsigned long long)s.duplicated);
  std::fflush(stdout);
  return t;
}

// Every feature the sweep is meant to exercise was exercised (only meaningful for big sweeps).
void CheckCoverage(const SweepTotals& t) {
  if (t.seeds < 200 || t.failures > 0) return;
  const WorldStats& s = t.stats;
  CHECK(s.acked > 0);
  CHECK(s.reads_ready > 0);
  CHECK(s.conf_changes > 0);
  CHECK(s.transfers > 0);
  CHECK(s.snapshots_installed > 0);
  CHECK(s.crashes > 0);
  CHECK(s.wakeups > 0);
  CHECK(s.duplicated > 0);
}

}  // namespace

TEST_CASE("sim: random faults sweep", "[sim]") {
  const SweepTotals t = Sweep("sim: random faults sweep", 1, 2000);
  CHECK(t.failures == 0);
  CheckCoverage(t);
}

TEST_CASE("sim: random faults sweep, 100k seeds", "[sim][slow]") {
  const SweepTotals t = Sweep("sim: random faults sweep, 100k seeds", 1'000'000, 100'000);
  CHECK(t.failures == 0);
  CheckCoverage(t);
}

}  // namespace claw::sim
