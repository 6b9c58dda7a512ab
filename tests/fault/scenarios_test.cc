// The smoke tier of the fault suite (reliability.md §10.3), each scenario short: S00 baseline,
// S01 leader kill -9 (with failover figures), S02 follower kill -9, S03 whole-cluster kill -9,
// S05 leader pause, S06 isolated leader, S07 majority/minority split, S08 one-way partition,
// and the positive control that proves the checks can fail. [slow] repeats them over more seeds.
// Replay one: CLAW_FAULT_SEED=<seed> build/tests/fault_tests "<test name>" (see README.md).
#include <algorithm>
#include <iostream>
#include <set>

#include <catch2/catch.hpp>

#include "scenario.h"


namespace claw::fault {
namespace {

using namespace std::chrono_literals;

// Fault-phase failures allowed on the pinned node's writes: they must fail cleanly.
const std::set<std::string> kCleanWriteErrors = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "NOT_LEADER"};

// Writes sent straight to `node` while `side` (which holds it) was cut off from the rest, invoked
// in [from_us, to_us], to shards with at most half their voters on `side`, must never be
// acknowledged and must fail with a clean error. (With 5 nodes and 3 replicas a shard may have
// its majority on the smaller side: its writes may succeed there, and are only counted.)
void CheckMinorityWrites(Scenario& s, const std::vector<int>& side, int node, int64_t from_us, int64_t to_us) {
  size_t tried = 0, acked = 0, unclean = 0, majority_side = 0;
  std::string example;
  for (const Record& r : s.workload().History()) {
    if (r.pinned_node != node || r.op.kind != lincheck::OpKind::kPut) continue;
    if (r.op.invoke < from_us || r.op.invoke > to_us) continue;
    const std::vector<int> voters = s.VotersOf(r.op.key);
    const auto inside = std::count_if(voters.begin(), voters.end(), [&](int v) {
      return std::find(side.begin(), side.end(), v) != side.end();
    });
    if (voters.empty() || 2 * static_cast<size_t>(inside) > voters.size()) {
      ++majority_side;
      continue;
    }
    ++tried;
    if (r.op.outcome == lincheck::Outcome::kOk) {
      ++acked;
      example = lincheck::FormatOperation(r.op);
    } else if (!kCleanWriteErrors.contains(r.error)) {
      ++unclean;
      example = r.error;
    }
  }
  std::cout << "  minority writes to n" << node + 1 << ": " << tried << " tried, " << acked << " acknowledged, "
            << unclean << " with another error (" << majority_side
            << " more to shards with a majority on its side, not checked)\n";
  s.Check(tried > 0, "no write reached the cut-off node: the minority check saw nothing");
  s.Check(acked == 0, std::to_string(acked) + " writes to the cut-off minority node were acknowledged, e.g. " + example);
  s.Check(unclean == 0, std::to_string(unclean) + " minority writes failed with an error other than "
                        "UNAVAILABLE / DEADLINE_EXCEEDED / NOT_LEADER, e.g. " + example);
}

int64_t Us(Scenario& s) { return s.workload().Now(); }

Result Baseline(uint64_t seed) {
  Scenario s({.name = "S00-baseline", .seed = seed});
  REQUIRE(s.StartCluster());
  s.StartWorkload();
  s.Warmup(2s);
  s.Sleep(4s);
  return s.Finish();
}

Result LeaderKill(uint64_t seed, int rounds, bool default_timing = false) {
  Scenario s({.name = default_timing ? "S01-leader-kill9-default-timing" : "S01-leader-kill9",
              .seed = seed,
              .default_timing = default_timing});
  REQUIRE(s.StartCluster());
  s.StartWorkload();
  s.Warmup(2s);
  for (int round = 0; round < rounds; ++round) {
    const int victim = s.LeaderHeavyNode();
    s.Kill(victim);
    s.Sleep(std::chrono::milliseconds(2000 + s.rng()() % 1000));
    s.Restart(victim);
    // Let it catch up and take leaderships back before the next round.
    s.Sleep(2500ms);
  }
  Result r = s.Finish();
  CHECK(!r.failover_ms.empty());
  // A generous bound, not a timing assertion: the election takes 0.5-1 s with FastFlags.
  CHECK(Quantile(r.failover_ms, 1.0) < 20000);
  return r;
}

Result FollowerKill(uint64_t seed) {
  Scenario s({.name = "S02-follower-kill9", .seed = seed});
  REQUIRE(s.StartCluster());
  // The node leading the fewest shards.
  std::vector<int> led(3, 0);
  for (const auto& [shard, node] : s.Leaders()) {
    if (node >= 0 && node < 3) ++led[static_cast<size_t>(node)];
  }
  const int victim = static_cast<int>(std::min_element(led.begin(), led.end()) - led.begin());
  s.StartWorkload();
  s.Warmup(2s);
  s.Kill(victim);
  s.Sleep(3s);
  s.Restart(victim);
  s.Sleep(2s);
  return s.Finish();
}

Result WholeClusterKill(uint64_t seed) {
  Scenario s({.name = "S03-whole-cluster-kill9", .seed = seed, .recovery = 3000ms});
  REQUIRE(s.StartCluster());
  s.StartWorkload();
  s.Warmup(2s);
  s.KillAll();
  s.Sleep(std::chrono::milliseconds(300 + s.rng()() % 700));
  s.RestartAll();
  s.Check(s.WaitHealthy(30s), "the cluster did not serve again within 30 s of the restart");
  s.Note("every node serves again");
  s.Sleep(2s);
  return s.Finish();
}

Result LeaderPause(uint64_t seed) {
  Scenario s({.name = "S05-leader-pause", .seed = seed});
  REQUIRE(s.StartCluster());
  const int victim = s.LeaderHeavyNode();
  s.StartWorkload({{.node = victim, .address = s.cluster().client_address(victim), .writes = true}});
  s.Warmup(2s);
  s.Pause(victim);
  s.Sleep(3s);  // 3 election timeouts with FastFlags
  s.Resume(victim);
  s.Sleep(3s);
  return s.Finish();
}

// S06: the leader-heavy node is cut off from its peers both ways for 5 s; clients still reach every
// node, and a pinned client reads and writes straight at the cut-off node.
Result IsolateLeader(uint64_t seed, const std::string& binary, bool expect_violation) {
  Scenario s({.name = expect_violation ? "S06-isolate-leader-broken-local-reads" : "S06-isolate-leader",
              .seed = seed,
              .binary = binary,
              .expect_violation = expect_violation});
  REQUIRE(s.StartCluster());
  const int victim = s.LeaderHeavyNode();
  s.StartWorkload({{.node = victim, .address = s.cluster().client_address(victim), .writes = true}});
  s.Warmup(2s);
  s.Isolate({victim});
  const int64_t cut = Us(s);
  s.Sleep(5s);
  const int64_t healed = Us(s);
  s.Heal();
  if (!expect_violation) CheckMinorityWrites(s, {victim}, victim, cut, healed);
  return s.Finish();
}

// S07: 5 nodes split 2 / 3 with the leader-heavy node on the minority side; the minority's writes
// fail cleanly, the majority serves, everything serves again after the heal.
Result Split(uint64_t seed) {
  Scenario s({.name = "S07-majority-minority-split", .seed = seed, .nodes = 5, .clients = 6});
  REQUIRE(s.StartCluster());
  const int leader = s.LeaderHeavyNode();
  const int other = s.RandomNode(leader);
  s.StartWorkload({{.node = leader, .address = s.cluster().client_address(leader), .writes = true},
                   {.node = other, .address = s.cluster().client_address(other), .writes = true}});
  s.Warmup(2s);
  s.Isolate({leader, other});
  const int64_t cut = Us(s);
  s.Sleep(5s);
  const int64_t healed = Us(s);
  s.Heal();
  CheckMinorityWrites(s, {leader, other}, leader, cut, healed);
  CheckMinorityWrites(s, {leader, other}, other, cut, healed);
  return s.Finish();
}

// S08 (lite): the leader-heavy node cannot send to its peers, but hears them.
Result OneWay(uint64_t seed) {
  Scenario s({.name = "S08-one-way", .seed = seed});
  REQUIRE(s.StartCluster());
  const int victim = s.LeaderHeavyNode();
  std::vector<int> others;
  for (int i = 0; i < s.cluster().size(); ++i) {
    if (i != victim) others.push_back(i);
  }
  s.StartWorkload({{.node = victim, .address = s.cluster().client_address(victim), .writes = false}});
  s.Warmup(2s);
  s.OneWay(victim, others);
  s.Sleep(5s);
  s.Heal();
  return s.Finish();
}

}  // namespace

TEST_CASE("S00 baseline: no fault", "[fault]") { CHECK(Baseline(Seed(1)).passed); }

TEST_CASE("S01 leader kill -9 and restart, twice; failover time per shard", "[fault]") {
  CHECK(LeaderKill(Seed(1), 2).passed);
}

TEST_CASE("S02 follower kill -9 and restart", "[fault]") { CHECK(FollowerKill(Seed(1)).passed); }

TEST_CASE("S03 whole-cluster kill -9 and restart: everything acknowledged is there", "[fault]") {
  CHECK(WholeClusterKill(Seed(1)).passed);
}

TEST_CASE("S05 leader paused with SIGSTOP, then SIGCONT", "[fault]") { CHECK(LeaderPause(Seed(1)).passed); }

TEST_CASE("S06 leader isolated by nftables; its minority writes fail cleanly", "[fault]") {
  CHECK(IsolateLeader(Seed(1), "", false).passed);
}

TEST_CASE("S07 majority/minority split of 5 nodes, leader on the minority side", "[fault]") {
  CHECK(Split(Seed(1)).passed);
}

TEST_CASE("S08 one-way partition: the leader cannot send to its peers", "[fault]") {
  CHECK(OneWay(Seed(1)).passed);
}

// Built when CMake's CLAW_BREAK list holds serve-local-reads (the default).
#ifdef CLAWD_BROKEN_LOCAL_READS_BINARY
TEST_CASE("positive control: S06 catches a clawd that serves LINEARIZABLE reads locally", "[fault]") {
  const Result r = IsolateLeader(Seed(1), CLAWD_BROKEN_LOCAL_READS_BINARY, true);
  INFO("artifacts in " << r.artifacts);
  CHECK(r.verdict == "not linearizable");
  CHECK(r.passed);
}
#endif

TEST_CASE("S01 leader kill -9, more seeds and rounds", "[fault][slow]") {
  for (uint64_t seed = 2; seed <= 4; ++seed) CHECK(LeaderKill(Seed(seed), 3).passed);
}

// The failover figure of issue 7 ("leader killed under load: writes resume on every shard, p99 <
// 1.5 s with default timeouts"): printed, not asserted beyond the generous bound.
TEST_CASE("S01 leader kill -9 with clawd's default timeouts", "[fault][slow]") {
  for (uint64_t seed = 1; seed <= 3; ++seed) CHECK(LeaderKill(Seed(seed), 3, /*default_timing=*/true).passed);
}

TEST_CASE("S03 whole-cluster kill -9, more seeds", "[fault][slow]") {
  for (uint64_t seed = 2; seed <= 4; ++seed) CHECK(WholeClusterKill(Seed(seed)).passed);
}

TEST_CASE("S05 and S06, more seeds", "[fault][slow]") {
  for (uint64_t seed = 2; seed <= 4; ++seed) {
    CHECK(LeaderPause(Seed(seed)).passed);
    CHECK(IsolateLeader(Seed(seed), "", false).passed);
  }
}

TEST_CASE("S07 and S08, more seeds", "[fault][slow]") {
  for (uint64_t seed = 2; seed <= 3; ++seed) {
    CHECK(Split(Seed(seed)).passed);
    CHECK(OneWay(Seed(seed)).passed);
  }
}

}  // namespace claw::fault
