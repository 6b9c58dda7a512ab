#include "tests/sim/sim_driver.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "raft/check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace claw::sim {
namespace {

constexpr Time kTick = 10'000;  // nominal tick period, microseconds

// The run whose core check failure is being reported; see Run::OnCoreCheckFailure.
Run* g_current_run = nullptr;

std::optional<uint64_t> EnvU64(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

// Picks an index by weight; all weights zero picks 0.
size_t Pick(Rng& rng, std::initializer_list<int> weights) {
  int total = 0;
  for (int w : weights) total += w;
  if (total <= 0) return 0;
  int x = int(rng.Below(uint64_t(total)));
  size_t i = 0;
  for (int w : weights) {
    if (x < w) return i;
    x -= w;
    ++i;
  }
  return 0;
}

std::vector<raft::NodeId> Members(const raft::ConfState& c) {
  std::vector<raft::NodeId> out = c.voters;
  for (const auto* list : {&c.learners, &c.voters_outgoing, &c.learners_next}) {
    out.insert(out.end(), list->begin(), list->end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string ReproLine(uint64_t seed, const std::string& test_name) {
  return "seed=" + std::to_string(seed) + ": reproduce with CLAW_SIM_SEED=" + std::to_string(seed) +
         " build/tests/sim_tests '" + test_name + "'";
}

SeedPlan PlanFromEnv(uint64_t default_first, uint64_t default_count) {
  SeedPlan plan{default_first, default_count, false, 3};
  if (auto max = EnvU64("CLAW_SIM_MAX_FAILURES")) plan.max_failures = *max;
  if (auto seed = EnvU64("CLAW_SIM_SEED")) {
    plan.first = *seed;
    plan.count = 1;
  } else {
    if (auto first = EnvU64("CLAW_SIM_FIRST_SEED")) plan.first = *first;
    if (auto count = EnvU64("CLAW_SIM_SEEDS")) plan.count = *count;
  }
  plan.verbose = plan.count == 1 && EnvU64("CLAW_SIM_TRACE").value_or(0) != 0;
  return plan;
}

Scenario DrawScenario(uint64_t seed) {
  Rng rng(DeriveSeed(seed, 0x7363656e));
  Scenario s;
  WorldConfig& w = s.world;
  w.seed = seed;
  const size_t shape = Pick(rng, {50, 40, 10});
  w.nodes = shape == 0 ? 3 : shape == 1 ? 5 : 7;
  w.groups = rng.Chance(1, 10) ? int(rng.Range(9, 24)) : int(rng.Range(1, 8));
  if (w.nodes >= 5 && rng.Chance(3, 10)) w.initial_voters = {0, 1, 2};
  w.tick_period = kTick;
  w.max_tick_skew_ppm = 10'000;

  raft::Options& o = w.options;
  o.election_ticks = rng.Chance(7, 10) ? 10 : int(rng.Range(6, 20));
  o.heartbeat_ticks = rng.Chance(7, 10) ? 1 : int(rng.Range(1, std::max(1, o.election_ticks / 3)));
  o.pre_vote = !rng.Chance(1, 10);
  o.read_mode = rng.Chance(6, 10) ? raft::ReadMode::kLease : raft::ReadMode::kReadIndex;
  o.check_quorum = o.read_mode == raft::ReadMode::kLease || !rng.Chance(2, 10);
  if (rng.Chance(1, 4))
    o.hibernate_after_ticks = int(rng.Range(o.election_ticks, 3 * o.election_ticks));
  if (rng.Chance(1, 5)) o.max_inflight_appends = uint32_t(rng.Range(1, 4));
  if (rng.Chance(1, 5)) o.max_append_bytes = rng.Range(8, 64);
  if (rng.Chance(1, 5)) o.max_apply_bytes = rng.Range(8, 64);
  if (rng.Chance(1, 10)) o.max_uncommitted_bytes = rng.Range(64, 512);
  // Half the hosts offer only snapshots made by compaction, which may predate a node's addition.
  w.refresh_snapshots = rng.Chance(1, 2);

  s.chaos = rng.Range(200, 800) * kTick;
  s.client_interval = rng.Range(kTick / 4, kTick);
  s.nemesis_interval = rng.Range(3, 15) * kTick;
  s.min_down = 3 * kTick;
  s.max_down_time = rng.Range(10, 60) * kTick;
  s.max_down = (w.nodes - 1) / 2;
  const size_t profile = Pick(rng, {10, 55, 25, 10});
  switch (profile) {
    case 0:
      s.profile = "calm";
      s.faults = false;
      break;
    case 1:
      s.profile = "moderate";
      break;
    case 2:
      s.profile = "heavy";
      s.max_drop_ppm = 300'000;
      s.max_duplicate_ppm = 100'000;
      s.max_spike_ppm = 50'000;
      s.w_crash = 5;
      break;
    default:
      s.profile = "crashy";
      s.max_down = w.nodes;  // majorities go down too
      s.w_crash = 8;
      s.w_crash_all = 1;
      s.max_down_time = rng.Range(5, 30) * kTick;
      break;
  }
  return s;
}

std::string DescribeScenario(const Scenario& s) {
  const WorldConfig& w = s.world;
  const raft::Options& o = w.options;
  std::ostringstream os;
  os << "profile=" << s.profile << " nodes=" << w.nodes << " groups=" << w.groups
     << " initial_voters=" << (w.initial_voters.empty() ? w.nodes : int(w.initial_voters.size()))
     << " election_ticks=" << o.election_ticks << " heartbeat_ticks=" << o.heartbeat_ticks
     << " pre_vote=" << o.pre_vote << " check_quorum=" << o.check_quorum
     << " read_mode=" << (o.read_mode == raft::ReadMode::kLease ? "lease" : "read_index")
     << " lease_ticks=" << o.LeaseTicks() << " hibernate_after=" << o.hibernate_after_ticks
     << " max_inflight=" << o.max_inflight_appends << " max_append_bytes=" << o.max_append_bytes
     << " max_apply_bytes=" << o.max_apply_bytes << " max_uncommitted=" << o.max_uncommitted_bytes
     << " snapshots=" << (w.refresh_snapshots ? "on_demand" : "compaction_only")
     << " chaos=" << s.chaos / kTick << "ticks";
  return os.str();
}

Run::Run(const Scenario& scenario, std::string test_name)
    : scenario_(scenario),
      test_name_(std::move(test_name)),
      rng_(DeriveSeed(scenario.world.seed, 0x647269766572)),
      checker_(scenario.world.nodes, scenario.world.groups),
      restart_at_(scenario.world.nodes) {
  g_current_run = this;
  raft::SetCheckFailureHandler(&Run::OnCoreCheckFailure);
#if defined(__SANITIZE_ADDRESS__)
  // A sanitizer report names the failing seed too.
  __sanitizer_set_death_callback(
      [] { OnCoreCheckFailure("sanitizer", 0, "see the report above"); });
#endif
  world_ = std::make_unique<World>(scenario_.world, &checker_);
}

Run::~Run() {
  raft::SetCheckFailureHandler(nullptr);
  g_current_run = nullptr;
}

void Run::OnCoreCheckFailure(const char* file, int line, const char* message) {
  if (g_current_run == nullptr) return;
  std::ostringstream os;
  os << "core check failed at " << file << ":" << line << ": " << message;
  std::fprintf(stderr, "\n%s\n", g_current_run->Report(os.str()).c_str());
  std::fflush(stderr);
}

Time Run::ElectionTimeout() const {
  return Time(scenario_.world.options.election_ticks) * scenario_.world.tick_period;
}

bool Run::Expect(bool ok, const std::string& what) {
  if (!ok) checker_.Fail(what);
  return ok;
}

int Run::RandomUpNode() {
  std::vector<int> up;
  for (int n = 0; n < world_->nodes(); ++n) {
    if (world_->up(n)) up.push_back(n);
  }
  if (up.empty()) return -1;
  return up[rng_.Below(up.size())];
}

std::optional<std::string> Run::ProposeAtLeader(int g) {
  std::optional<int> leader = world_->FindLeader(g);
  if (!leader) return std::nullopt;
  std::string value = "g" + std::to_string(g) + "-v" + std::to_string(next_value_++);
  if (!world_->Propose(*leader, g, value)) return std::nullopt;
  return value;
}

void Run::ClientOp() {
  const int g = int(rng_.Below(uint64_t(world_->groups())));
  const Scenario& s = scenario_;
  const size_t op =
      Pick(rng_, {s.w_propose, s.w_read, s.w_transfer, s.w_conf_change, s.w_compact, s.w_campaign});
  std::optional<int> leader = world_->FindLeader(g);
  const int any = RandomUpNode();
  if (any < 0) return;
  const int target = leader && !rng_.Chance(1, 8) ? *leader : any;
  switch (op) {
    case 0: {
      const uint64_t batch = rng_.Chance(1, 4) ? rng_.Range(2, 5) : 1;
      for (uint64_t i = 0; i < batch && !failed(); ++i) {
        (void)world_->Propose(target, g,
                              "g" + std::to_string(g) + "-v" + std::to_string(next_value_++));
      }
      break;
    }
    case 1:
      world_->ReadIndex(rng_.Chance(1, 2) ? target : any, g);
      break;
    case 2:
      world_->TransferLeadership(target, g, int(rng_.Below(uint64_t(world_->nodes()))));
      break;
    case 3:
      ConfChangeOp(g);
      break;
    case 4:
      world_->Compact(any, g);
      break;
    default:
      world_->Campaign(any, g);
      break;
  }
}

// Membership changes that keep a sensible group: never below 3 voters on 5+ nodes (2 on 3 nodes).
void Run::ConfChangeOp(int g) {
  std::optional<int> leader = world_->FindLeader(g);
  if (!leader) return;
  const raft::ConfState& conf = world_->replica(*leader, g)->conf();
  if (conf.IsJoint()) return;
  const int n = world_->nodes();
  std::vector<raft::NodeId> voters = conf.voters;
  std::vector<raft::NodeId> learners = conf.learners;
  std::vector<raft::NodeId> absent;
  for (int i = 0; i < n; ++i) {
    const raft::NodeId id(i + 1);
    if (!raft::IsMember(conf, id)) absent.push_back(id);
  }
  const size_t min_voters = n >= 5 ? 3 : 2;
  auto take = [this](std::vector<raft::NodeId>& from) {
    const size_t i = rng_.Below(from.size());
    const raft::NodeId id = from[i];
    from.erase(from.begin() + long(i));
    return id;
  };
  raft::ConfChange change;
  using raft::ConfChangeType;
  if (n >= 5 && learners.size() >= 2 && voters.size() >= min_voters && rng_.Chance(1, 2)) {
    // Joint: two learners replace two voters.
    for (int k = 0; k < 2; ++k) {
      change.steps.push_back({ConfChangeType::kAddVoter, take(learners)});
      change.steps.push_back(
          {rng_.Chance(1, 2) ? ConfChangeType::kAddLearner : ConfChangeType::kRemove,
           take(voters)});
    }
  } else if (!learners.empty() && rng_.Chance(2, 3)) {
    change.steps.push_back({ConfChangeType::kAddVoter, take(learners)});
    if (n >= 5 && voters.size() >= min_voters && rng_.Chance(1, 3)) {
      change.steps.push_back({ConfChangeType::kAddLearner, take(voters)});  // joint, 1 for 1
    }
  } else if (!absent.empty() && rng_.Chance(3, 4)) {
    change.steps.push_back(
        {rng_.Chance(3, 4) ? ConfChangeType::kAddLearner : ConfChangeType::kAddVoter,
         take(absent)});
  } else if (voters.size() > min_voters) {
    change.steps.push_back(
        {rng_.Chance(1, 2) ? ConfChangeType::kAddLearner : ConfChangeType::kRemove, take(voters)});
  } else if (!learners.empty()) {
    change.steps.push_back({ConfChangeType::kAddVoter, take(learners)});
  }
  if (change.steps.empty()) return;
  (void)world_->ProposeConfChange(*leader, g, change);
}

void Run::NemesisOp() {
  const Scenario& s = scenario_;
  World& w = *world_;
  const int n = w.nodes();
  int down = 0;
  for (int i = 0; i < n; ++i) down += w.up(i) ? 0 : 1;
  switch (Pick(rng_, {s.w_heal, s.w_network, s.w_one_way, s.w_partition, s.w_isolate, s.w_crash,
                      s.w_crash_all})) {
    case 0:
      w.HealPartitions();
      if (rng_.Chance(1, 2)) w.SetFaults({});
      break;
    case 1: {
      NetworkFaults f;
      f.drop_ppm = uint32_t(rng_.Below(s.max_drop_ppm + 1));
      f.duplicate_ppm = uint32_t(rng_.Below(s.max_duplicate_ppm + 1));
      f.spike_ppm = uint32_t(rng_.Below(s.max_spike_ppm + 1));
      w.SetFaults(f);
      break;
    }
    case 2: {
      const int a = int(rng_.Below(uint64_t(n)));
      const int b = (a + 1 + int(rng_.Below(uint64_t(n - 1)))) % n;
      w.SetLink(a, b, Link::kBlocked);
      break;
    }
    case 3: {
      std::vector<int> side;
      for (int i = 0; i < n; ++i) {
        if (rng_.Chance(1, 2)) side.push_back(i);
      }
      w.HealPartitions();
      w.Partition(side);
      break;
    }
    case 4:
      w.HealPartitions();
      w.Isolate(int(rng_.Below(uint64_t(n))));
      break;
    case 5: {
      if (down >= s.max_down) break;
      const int victim = RandomUpNode();
      if (victim < 0) break;
      w.Crash(victim);
      restart_at_[victim] = w.now() + rng_.Range(s.min_down, s.max_down_time);
      break;
    }
    default:
      for (int i = 0; i < n; ++i) {
        if (!w.up(i)) continue;
        w.Crash(i);
        restart_at_[i] = w.now() + rng_.Range(s.min_down, s.max_down_time);
      }
      break;
  }
}

void Run::RestartDueNodes() {
  for (int i = 0; i < world_->nodes(); ++i) {
    if (restart_at_[i] && *restart_at_[i] <= world_->now()) {
      restart_at_[i].reset();
      world_->Restart(i);
    }
  }
}

void Run::Chaos(Time duration) {
  World& w = *world_;
  const Time end = w.now() + duration;
  next_client_ = w.now() + rng_.Range(1, 2 * scenario_.client_interval);
  next_nemesis_ = w.now() + rng_.Range(1, 2 * scenario_.nemesis_interval);
  while (w.now() < end && !failed()) {
    Time next = std::min(end, next_client_);
    if (scenario_.faults) next = std::min(next, next_nemesis_);
    for (const auto& at : restart_at_) {
      if (at) next = std::min(next, *at);
    }
    w.RunUntil(next);
    if (failed()) break;
    RestartDueNodes();
    if (w.now() >= next_client_) {
      ClientOp();
      next_client_ = w.now() + rng_.Range(1, 2 * scenario_.client_interval);
    }
    if (scenario_.faults && w.now() >= next_nemesis_) {
      NemesisOp();
      next_nemesis_ = w.now() + rng_.Range(1, 2 * scenario_.nemesis_interval);
    }
  }
}

void Run::Workload(Time duration) {
  World& w = *world_;
  const Time end = w.now() + duration;
  while (w.now() < end && !failed()) {
    w.RunUntil(std::min(end, w.now() + rng_.Range(1, 2 * scenario_.client_interval)));
    if (!failed() && w.now() < end) ClientOp();
  }
}

bool Run::Converged(int g, std::string* why) {
  World& w = *world_;
  std::vector<int> leaders;
  for (int n = 0; n < w.nodes(); ++n) {
    if (w.replica(n, g)->role() == raft::Role::kLeader) leaders.push_back(n);
  }
  if (leaders.empty()) {
    *why = "g" + std::to_string(g) + " has no leader";
    return false;
  }
  const int l = *std::max_element(leaders.begin(), leaders.end(), [&w, g](int a, int b) {
    return w.replica(a, g)->term() < w.replica(b, g)->term();
  });
  const raft::Replica& lr = *w.replica(l, g);
  const raft::ConfState& conf = lr.conf();
  for (int other : leaders) {
    // A node removed from the group may keep believing it leads when check_quorum is off: no
    // member talks to it any more. Members and, with check_quorum, anyone else must step down.
    if (other == l) continue;
    if (raft::IsMember(conf, raft::NodeId(other + 1)) || scenario_.world.options.check_quorum) {
      *why = "g" + std::to_string(g) + " has leaders n" + std::to_string(l + 1) + " (term " +
             std::to_string(lr.term().value()) + ") and n" + std::to_string(other + 1) + " (term " +
             std::to_string(w.replica(other, g)->term().value()) + ")";
      return false;
    }
  }
  if (conf.IsJoint()) {
    *why = "g" + std::to_string(g) + " is still in a joint configuration";
    return false;
  }
  for (raft::NodeId v : conf.voters) {
    const raft::Replica& r = *w.replica(int(v.value() - 1), g);
    if (r.leader() != raft::NodeId(l + 1) || r.term() != lr.term()) {
      *why = "g" + std::to_string(g) + " voter n" + std::to_string(v.value()) +
             " does not accept leader n" + std::to_string(l + 1);
      return false;
    }
  }
  const StateMachine& lsm = w.state_machine(l, g);
  if (lsm.applied != lr.commit() || lsm.applied.value() < checker_.known_commit(g)) {
    *why = "g" + std::to_string(g) + " leader applied " + std::to_string(lsm.applied.value()) +
           " of commit " + std::to_string(lr.commit().value()) + ", highest known commit " +
           std::to_string(checker_.known_commit(g));
    return false;
  }
  for (raft::NodeId m : Members(conf)) {
    const StateMachine& sm = w.state_machine(int(m.value() - 1), g);
    if (sm.applied != lsm.applied || sm.hash != lsm.hash) {
      *why = "g" + std::to_string(g) + " member n" + std::to_string(m.value()) + " applied " +
             std::to_string(sm.applied.value()) + ", leader n" + std::to_string(l + 1) +
             " applied " + std::to_string(lsm.applied.value());
      return false;
    }
  }
  return true;
}

bool Run::Heal() {
  World& w = *world_;
  if (failed()) return false;
  w.SetFaults({});
  w.HealPartitions();
  for (int n = 0; n < w.nodes(); ++n) {
    restart_at_[n].reset();
    w.Restart(n);
  }
  const int groups = w.groups();
  const Time deadline = w.now() + 50 * ElectionTimeout();
  const Time step = std::max<Time>(ElectionTimeout() / 2, 1);
  std::vector<std::optional<std::string>> fresh(groups);
  std::vector<Time> proposed_at(groups, 0);
  std::vector<bool> acked(groups, false);
  std::string why;
  while (!failed()) {
    w.RunFor(step);
    if (failed()) return false;
    bool all = true;
    for (int g = 0; g < groups; ++g) {
      if (!acked[g] && fresh[g] && w.Acked(g, *fresh[g])) acked[g] = true;
      if (!acked[g]) {
        all = false;
        why = "g" + std::to_string(g) + " did not commit a fresh proposal";
        // Retry when the last attempt was lost (leader changed before it committed).
        if (!fresh[g] || w.now() - proposed_at[g] >= 4 * ElectionTimeout()) {
          if (auto v = ProposeAtLeader(g)) {
            fresh[g] = v;
            proposed_at[g] = w.now();
          }
        }
        continue;
      }
      if (!Converged(g, &why)) all = false;
    }
    if (failed()) return false;
    if (all) break;
    if (w.now() >= deadline) {
      checker_.Fail("liveness: not live and converged 50 election timeouts after healing: " + why);
      return false;
    }
  }
  for (int n = 0; n < w.nodes() && !failed(); ++n) {
    for (int g = 0; g < groups && !failed(); ++g) {
      checker_.CheckLog(n, g, *w.replica(n, g), w.storage(n, g));
    }
  }
  return !failed();
}

std::string Run::Report(const std::string& what) {
  std::ostringstream os;
  os << ReproLine(scenario_.world.seed, test_name_) << "\n"
     << "violation: " << what << "\n"
     << "scenario: " << DescribeScenario(scenario_) << "\n"
     << "at t=" << world_->now() / 1000 << "ms; state:\n"
     << world_->Describe() << "last " << kTraceCapacity << " events:\n"
     << world_->trace().Dump();
  return os.str();
}

RunResult Run::Finish() {
  RunResult r;
  r.ok = !failed();
  if (!r.ok) r.report = Report(checker_.error());
  r.stats = world_->stats();
  r.leaders = checker_.leaders_elected();
  r.simulated = world_->now();
  return r;
}

RunResult RunSeed(uint64_t seed, const std::string& test_name, bool verbose) {
  Scenario s = DrawScenario(seed);
  s.world.verbose_trace = verbose;
  // Forces snapshots made only by compaction on every seed (tests/sim/FINDINGS.md, F4).
  if (EnvU64("CLAW_SIM_STALE_SNAPSHOTS").value_or(0) != 0) s.world.refresh_snapshots = false;
  Run run(s, test_name);
  if (verbose) std::fprintf(stderr, "scenario: %s\n", DescribeScenario(s).c_str());
  run.Chaos(s.chaos);
  run.Heal();
  return run.Finish();
}

}  // namespace claw::sim
