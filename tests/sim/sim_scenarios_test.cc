// Targeted simulation scenarios: scripted fault sequences on the simulated cluster, each checked by
// the same invariant checker as the sweeps and ending with the liveness check (Run::Heal).
//
// Each scenario has a fixed seed; CLAW_SIM_SEED=<n> replaces it (CLAW_SIM_TRACE=1 prints every
// event), e.g. CLAW_SIM_SEED=7 CLAW_SIM_TRACE=1 build/tests/sim_tests 'sim: isolated leader*'.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/sim/sim_driver.h"

namespace claw::sim {
namespace {

constexpr Time kTick = 10'000;

Scenario Targeted(uint64_t default_seed, int nodes, int groups) {
  const SeedPlan plan = PlanFromEnv(default_seed, 1);
  Scenario s;
  s.profile = "targeted";
  s.world.seed = plan.first;
  s.world.verbose_trace = plan.verbose;
  s.world.nodes = nodes;
  s.world.groups = groups;
  s.world.tick_period = kTick;
  s.faults = false;
  s.w_conf_change = 0;  // scenarios script their membership changes
  s.w_transfer = 0;
  s.w_campaign = 0;
  s.w_compact = 0;
  return s;
}

// Runs until `done` or `timeout`; returns whether `done` became true.
bool RunUntil(Run& run, Time timeout, const std::function<bool()>& done) {
  const Time end = run.world().now() + timeout;
  while (!done()) {
    if (run.failed() || run.world().now() >= end) return false;
    run.world().RunFor(kTick);
  }
  return true;
}

std::optional<int> WaitForLeader(Run& run, int group) {
  std::optional<int> leader;
  RunUntil(run, 20 * run.ElectionTimeout(), [&] {
    leader = run.world().FindLeader(group);
    return leader.has_value();
  });
  return leader;
}

// A leader of `group` other than `except`, by SoftState.
std::optional<int> OtherLeader(World& w, int group, int except) {
  for (int n = 0; n < w.nodes(); ++n) {
    if (n != except && w.up(n) && w.soft_state(n, group).role == raft::Role::kLeader) return n;
  }
  return std::nullopt;
}

void Conclude(Run& run) {
  const RunResult r = run.Finish();
  if (!r.ok) FAIL(r.report);
  SUCCEED();
}

}  // namespace

TEST_CASE("sim: isolated leader steps down, reads stay linearizable, group recovers", "[sim]") {
  Run run(Targeted(11, 5, 2),
          "sim: isolated leader steps down, reads stay linearizable, group recovers");
  World& w = run.world();
  run.Workload(30 * kTick);
  const std::optional<int> old = WaitForLeader(run, 0);
  run.Expect(old.has_value(), "scenario: no leader for g0");
  if (old) {
    w.Isolate(*old);
    const std::string lost = "written-at-isolated-leader";
    (void)w.Propose(*old, 0, lost);
    // Lease or ReadIndex reads keep arriving at the cut-off leader while the majority moves on.
    for (int i = 0; i < 6 * w.config().options.election_ticks && !run.failed(); ++i) {
      w.ReadIndex(*old, 0);
      if (auto other = OtherLeader(w, 0, *old)) {
        (void)w.Propose(*other, 0, "majority-" + std::to_string(i));
        w.ReadIndex(*other, 0);
      }
      w.RunFor(kTick);
    }
    run.Expect(w.replica(*old, 0)->role() != raft::Role::kLeader,
               "check quorum: the isolated leader still leads after 6 election timeouts");
    run.Expect(OtherLeader(w, 0, *old).has_value(), "liveness: the majority elected no leader");
    run.Heal();
    run.Expect(!w.Acked(0, lost), "a write at an isolated leader was acknowledged");
  }
  Conclude(run);
}

TEST_CASE("sim: one-way partitions around the leader", "[sim]") {
  Run run(Targeted(12, 3, 1), "sim: one-way partitions around the leader");
  World& w = run.world();
  run.Workload(20 * kTick);
  std::optional<int> leader = WaitForLeader(run, 0);
  run.Expect(leader.has_value(), "scenario: no leader");
  if (leader) {
    // The leader still reaches its followers but hears nothing back.
    for (int n = 0; n < w.nodes(); ++n) {
      if (n != *leader) w.SetLink(n, *leader, Link::kBlocked);
    }
    run.Workload(10 * run.ElectionTimeout() / kTick * kTick);
    w.HealPartitions();
    leader = WaitForLeader(run, 0);
  }
  if (leader && !run.failed()) {
    // Now the leader hears its followers but cannot reach them.
    for (int n = 0; n < w.nodes(); ++n) {
      if (n != *leader) w.SetLink(*leader, n, Link::kBlocked);
    }
    run.Workload(10 * run.ElectionTimeout());
  }
  run.Heal();
  Conclude(run);
}

TEST_CASE("sim: whole cluster crashes and restarts", "[sim]") {
  Scenario s = Targeted(22, 3, 4);
  s.world.max_sync = 3 * kTick;  // slow disks: the crash catches unsynced writes
  Run run(s, "sim: whole cluster crashes and restarts");
  World& w = run.world();
  run.Workload(50 * kTick);
  std::vector<std::pair<int, std::string>> proposed;
  for (int i = 0; i < 60 && !run.failed(); ++i) {
    const int g = i % w.groups();
    if (auto v = run.ProposeAtLeader(g)) proposed.emplace_back(g, *v);
    w.RunFor(kTick / 2);
  }
  std::vector<std::pair<int, std::string>> acked;
  for (const auto& [g, v] : proposed) {
    if (w.Acked(g, v)) acked.emplace_back(g, v);
  }
  run.Expect(!acked.empty(), "scenario: nothing was acknowledged before the crash");
  for (int n = 0; n < w.nodes(); ++n) w.Crash(n);
  w.RunFor(10 * kTick);
  run.Heal();
  for (const auto& [g, v] : acked) {
    run.Expect(run.checker().IndexOfValue(g, v) != 0, "acknowledged value " + v + " was lost");
  }
  Conclude(run);
}

TEST_CASE("sim: a leader's unsynced tail is lost in a crash", "[sim]") {
  Run run(Targeted(33, 3, 1), "sim: a leader's unsynced tail is lost in a crash");
  World& w = run.world();
  run.Workload(20 * kTick);
  const std::optional<int> leader = WaitForLeader(run, 0);
  run.Expect(leader.has_value(), "scenario: no leader");
  if (leader) {
    w.SetSyncDelay(*leader, 100 * kTick, 100 * kTick);     // the leader's disk stalls
    w.RunFor(kTick);                                       // let already scheduled syncs finish
    std::vector<std::pair<std::string, uint64_t>> values;  // value, proposed index
    for (int i = 0; i < 5; ++i) {
      const std::string v = "tail-" + std::to_string(i);
      auto index = w.Propose(*leader, 0, v);
      run.Expect(index.has_value(), "scenario: proposal refused");
      if (index) values.emplace_back(v, index->value());
    }
    w.RunFor(3 *
             kTick);  // followers persist and acknowledge: the entries commit without the leader
    const uint64_t committed = run.checker().known_commit(0);
    run.Expect(!values.empty() && committed >= values.back().second,
               "a leader whose disk stalls did not commit with its two followers' acks");
    w.Crash(*leader);
    w.SetSyncDelay(*leader, 100, 4'000);
    w.RunFor(5 * run.ElectionTimeout());
    run.Heal();
    for (const auto& [v, index] : values) {
      if (index > committed) continue;
      run.Expect(run.checker().IndexOfValue(0, v) == index,
                 "committed value " + v + " was lost with the leader's unsynced tail");
    }
  }
  Conclude(run);
}

TEST_CASE("sim: hibernating groups elect a new leader when the leader's node dies", "[sim]") {
  Scenario s = Targeted(44, 3, 8);
  s.world.options.hibernate_after_ticks = 10;
  Run run(s, "sim: hibernating groups elect a new leader when the leader's node dies");
  World& w = run.world();
  run.Workload(40 * kTick);
  w.RunFor(10 * run.ElectionTimeout());  // idle: groups fall asleep
  int hibernating = 0;
  std::vector<int> led(w.nodes(), 0);
  for (int g = 0; g < w.groups(); ++g) {
    for (int n = 0; n < w.nodes(); ++n) hibernating += w.soft_state(n, g).hibernating ? 1 : 0;
    if (auto l = w.FindLeader(g)) ++led[*l];
  }
  run.Expect(hibernating > 0, "scenario: no group hibernated after 10 idle election timeouts");
  const int victim = int(std::max_element(led.begin(), led.end()) - led.begin());
  w.Crash(victim);
  const bool recovered = RunUntil(run, 20 * run.ElectionTimeout(), [&] {
    for (int g = 0; g < w.groups(); ++g) {
      const std::optional<int> l = w.FindLeader(g);
      if (!l || *l == victim) return false;
    }
    return true;
  });
  run.Expect(recovered, "liveness: hibernating groups did not replace their dead leader");
  run.Heal();
  Conclude(run);
}

TEST_CASE("sim: a lagging follower catches up from a snapshot", "[sim]") {
  Run run(Targeted(55, 3, 2), "sim: a lagging follower catches up from a snapshot");
  World& w = run.world();
  run.Workload(20 * kTick);
  const int lagging = 2;
  w.Crash(lagging);
  run.Workload(60 * kTick);
  for (int n = 0; n < w.nodes(); ++n) {
    for (int g = 0; g < w.groups(); ++g) w.Compact(n, g);
  }
  run.Workload(10 * kTick);
  w.Restart(lagging);
  run.Heal();
  run.Expect(w.stats().snapshots_installed > 0, "scenario: no snapshot was installed");
  Conclude(run);
}

TEST_CASE("sim: joint change replaces two voters under message loss", "[sim]") {
  Scenario s = Targeted(66, 5, 1);
  s.world.initial_voters = {0, 1, 2};
  Run run(s, "sim: joint change replaces two voters under message loss");
  World& w = run.world();
  w.SetFaults({.drop_ppm = 50'000, .duplicate_ppm = 20'000, .spike_ppm = 20'000});
  run.Workload(20 * kTick);
  using raft::ConfChangeType;
  auto propose_until_accepted = [&](const raft::ConfChange& change) {
    return RunUntil(run, 30 * run.ElectionTimeout(), [&] {
      const std::optional<int> l = w.FindLeader(0);
      return l && w.ProposeConfChange(*l, 0, change).has_value();
    });
  };
  const raft::ConfChange add_learners{{{ConfChangeType::kAddLearner, raft::NodeId(4)},
                                       {ConfChangeType::kAddLearner, raft::NodeId(5)}}};
  run.Expect(propose_until_accepted(add_learners), "scenario: learners not accepted");
  std::optional<int> leader = WaitForLeader(run, 0);
  // Replace the leader and one other voter by the two learners, in one joint change.
  const int other = leader && *leader == 0 ? 1 : 0;
  if (leader) {
    const raft::ConfChange replace{{{ConfChangeType::kAddVoter, raft::NodeId(4)},
                                    {ConfChangeType::kAddVoter, raft::NodeId(5)},
                                    {ConfChangeType::kAddLearner, raft::NodeId(*leader + 1)},
                                    {ConfChangeType::kRemove, raft::NodeId(other + 1)}}};
    run.Expect(propose_until_accepted(replace), "scenario: joint change not accepted");
  }
  run.Workload(20 * run.ElectionTimeout());
  run.Heal();
  if (!run.failed() && leader) {
    const int third = 3 - *leader - other;  // the original voter that stays
    const std::optional<int> l = w.FindLeader(0);
    raft::ConfState conf = w.replica(*l, 0)->conf();
    raft::Normalize(conf);
    const std::vector<raft::NodeId> want = {raft::NodeId(third + 1), raft::NodeId(4),
                                            raft::NodeId(5)};
    run.Expect(
        conf.voters == want && raft::IsLearner(conf, raft::NodeId(*leader + 1)) &&
            !raft::IsMember(conf, raft::NodeId(other + 1)),
        "the joint change did not end with voters {n" + std::to_string(third + 1) + ", n4, n5}");
  }
  Conclude(run);
}

TEST_CASE("sim: a campaign forced by the host does not break a leader's lease", "[sim]") {
  Scenario s = Targeted(77, 3, 1);
  s.world.options.read_mode = raft::ReadMode::kLease;
  Run run(s, "sim: a campaign forced by the host does not break a leader's lease");
  World& w = run.world();
  run.Workload(20 * kTick);
  const std::optional<int> leader = WaitForLeader(run, 0);
  run.Expect(leader.has_value(), "scenario: no leader");
  if (leader) {
    const int l = *leader;
    const int a = (l + 1) % 3;  // cut off from the leader: free to vote for anyone
    const int b = (l + 2) % 3;  // still acknowledging the leader: part of its lease
    w.SetLink(l, a, Link::kBlocked);
    w.SetLink(a, l, Link::kBlocked);
    run.Workload(3 * run.ElectionTimeout());
    // The leader is cut off right after b acknowledged it; the host of b then forces a campaign.
    w.Isolate(l);
    w.Campaign(b, 0);
    for (int i = 0; i < 10 && !run.failed(); ++i) {
      if (auto other = OtherLeader(w, 0, l))
        (void)w.Propose(*other, 0, "after-" + std::to_string(i));
      w.ReadIndex(l, 0);  // the checker fails a lease read older than b's commits
      w.RunFor(kTick / 2);
    }
  }
  run.Heal();
  Conclude(run);
}

TEST_CASE("sim: replication resumes after a one-way partition swallowed 300 acks", "[sim]") {
  Run run(Targeted(88, 3, 1),
          "sim: replication resumes after a one-way partition swallowed 300 acks");
  World& w = run.world();
  run.Workload(20 * kTick);
  const std::optional<int> leader = WaitForLeader(run, 0);
  run.Expect(leader.has_value(), "scenario: no leader");
  if (leader) {
    const int follower = (*leader + 1) % 3;
    // Start from a follower the leader replicates to optimistically (pipelining).
    int warm_up = 0;
    const bool replicating = RunUntil(run, 10 * run.ElectionTimeout(), [&] {
      (void)w.Propose(*leader, 0, "warm-up-" + std::to_string(warm_up++));
      for (const raft::PeerStatus& p : w.replica(*leader, 0)->GetStatus().peers) {
        if (p.id == raft::NodeId(follower + 1)) return p.state == raft::ProgressState::kReplicate;
      }
      return false;
    });
    run.Expect(replicating, "scenario: the follower never reached the replicate state");
    w.SetLink(follower, *leader, Link::kBlocked);  // appends arrive, acknowledgements are lost
    for (int i = 0; i < 300 && !run.failed(); ++i) {
      (void)w.Propose(*leader, 0, "one-way-" + std::to_string(i));  // one append each
      w.RunFor(kTick);
    }
    w.HealPartitions();
  }
  run.Heal();  // fails when the leader never sends the follower another append
  Conclude(run);
}

TEST_CASE("sim: a joint change commits while leadership moves to a new voter", "[sim]") {
  Scenario s = Targeted(99, 5, 1);
  s.world.initial_voters = {0, 1, 2};
  Run run(s, "sim: a joint change commits while leadership moves to a new voter");
  World& w = run.world();
  run.Workload(20 * kTick);
  using raft::ConfChangeType;
  const raft::ConfChange add_learners{{{ConfChangeType::kAddLearner, raft::NodeId(4)},
                                       {ConfChangeType::kAddLearner, raft::NodeId(5)}}};
  const bool added = RunUntil(run, 20 * run.ElectionTimeout(), [&] {
    const std::optional<int> l = w.FindLeader(0);
    return l && w.ProposeConfChange(*l, 0, add_learners).has_value();
  });
  run.Expect(added, "scenario: learners not accepted");
  run.Workload(20 * kTick);
  const std::optional<int> leader = WaitForLeader(run, 0);
  if (leader && !run.failed()) {
    const int l = *leader;
    const int old = (l + 2) % 3;  // replaced with the leader; (l + 1) % 3 stays a voter
    // Acknowledgements reach the leader only from the staying voter at first, so that the target's
    // own acknowledgement is the one that commits the joint entry (and makes the leader leave it).
    for (int n : {old, 3, 4}) w.SetLink(n, l, Link::kBlocked);
    const raft::ConfChange replace{{{ConfChangeType::kAddVoter, raft::NodeId(4)},
                                    {ConfChangeType::kAddVoter, raft::NodeId(5)},
                                    {ConfChangeType::kAddLearner, raft::NodeId(l + 1)},
                                    {ConfChangeType::kAddLearner, raft::NodeId(old + 1)}}};
    run.Expect(w.ProposeConfChange(l, 0, replace).has_value(), "scenario: joint change refused");
    w.TransferLeadership(l, 0, 3);
    w.RunFor(2 * kTick);
    w.SetLink(3, l, Link::kOpen);
    w.RunFor(2 * kTick);
    w.HealPartitions();
  }
  run.Heal();
  Conclude(run);
}

}  // namespace claw::sim
