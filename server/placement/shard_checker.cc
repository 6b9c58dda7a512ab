#include "server/placement/shard_checker.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <tuple>
#include <utility>

namespace claw::placement {
namespace {

// Slack for comparing loads that are equal in exact arithmetic.
constexpr double kEpsilon = 1e-9;
// Smallest shard the bytes balancer moves (see Balance).
constexpr uint64_t kMinBytesBalanceShard = 1ull << 20;

std::string Name(NodeId id) { return "n" + std::to_string(id.value()); }

std::string Fixed(double v) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 1);
  return std::string(buf, result.ptr);
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

Outcome Propose(Operator op) { return Outcome{Outcome::Kind::kOperator, std::move(op), {}}; }
Outcome Stuck(std::string why) { return Outcome{Outcome::Kind::kStuck, {}, std::move(why)}; }
Outcome Waiting(std::string why) { return Outcome{Outcome::Kind::kWaiting, {}, std::move(why)}; }

// Replicas (plus the one about to arrive) per unit of weight.
double Density(const NodeLoad& n) { return static_cast<double>(n.replicas + 1) / n.weight; }

// Whether `a` is the less loaded target: replicas per weight, then bytes per weight, then id.
bool LessLoaded(const NodeLoad& a, const NodeLoad& b) {
  const double da = Density(a), db = Density(b);
  if (std::abs(da - db) > kEpsilon * std::max(da, db)) return da < db;
  const double ba = a.bytes / a.weight, bb = b.bytes / b.weight;
  if (std::abs(ba - bb) > kEpsilon * std::max(ba, bb)) return ba < bb;
  return a.id() < b.id();
}

std::string Describe(Metric metric, const LoadModel& model, const NodeLoad& n) {
  const char* what = metric == Metric::kReplicas  ? " replicas"
                     : metric == Metric::kLeaders ? " leaders"
                                                  : " replica-sizes of bytes";
  return Name(n.id()) + " holds " + Fixed(model.Value(n, metric)) + what + " (fair share " +
         Fixed(model.FairShare(n, metric)) + ")";
}

}  // namespace

ShardChecker::ShardChecker(const ShardInfo& shard, const PlacementPolicy& policy,
                           const PlacementConfig& config, const LoadModel& model)
    : shard_(&shard),
      rule_(&policy.RuleFor(shard)),
      policy_(&policy),
      config_(&config),
      model_(&model),
      rf_(std::max<uint32_t>(rule_->replication_factor, 1)) {
  for (const ReplicaInfo& r : shard.replicas) {
    const NodeLoad* load = model.Find(r.node);
    Member m{.node = r.node, .load = load,
             .state = load != nullptr ? load->info->state : NodeState::kRemoved};
    (r.role == ReplicaRole::kVoter ? voters_ : learners_).push_back(m);
  }
  auto by_node = [](const Member& a, const Member& b) { return a.node < b.node; };
  std::sort(voters_.begin(), voters_.end(), by_node);
  std::sort(learners_.begin(), learners_.end(), by_node);
  for (size_t i = 0; i < voters_.size(); ++i) {
    if (!voters_[i].live()) continue;
    live_.push_back(voters_[i].load->info);
    if (voters_[i].node == shard.leader) leader_ = static_cast<int>(i);
  }
  if (!shard.preferred_leader.IsZero()) {
    const NodeLoad* p = model.Find(shard.preferred_leader);
    if (p != nullptr && p->up() && !p->info->slow && rule_->AllowsZone(p->info->locality.zone)) pin_ = p;
  }
}

Outcome ShardChecker::Check(Priority priority) const {
  const bool quorum = 2 * live_.size() > voters_.size();
  if (!quorum || leader() == nullptr) {
    // Membership changes, transfers and splits all need a leader; report once, under repair.
    if (priority != Priority::kRepair) return {};
    if (voters_.empty()) return Stuck("no voters (only learners); needs manual recovery");
    if (!quorum) {
      return Stuck("quorum lost: " + std::to_string(live_.size()) + " of " +
                   std::to_string(voters_.size()) +
                   " voters are live; the shard needs manual recovery");
    }
    return Stuck("no live leader known (waiting for an election)");
  }
  switch (priority) {
    case Priority::kRepair: return Repair();
    case Priority::kOverReplicated: return OverReplicated();
    case Priority::kDrain: return Drain();
    case Priority::kConstraint: return Constraint();
    case Priority::kPreferredLeader: return PreferredLeader();
    case Priority::kDiversity: return DiversityMove();
    case Priority::kReplicaBalance: return Balance(Metric::kReplicas, priority);
    case Priority::kLeaderBalance: return Leader();
    case Priority::kBytesBalance: return Balance(Metric::kBytes, priority);
    case Priority::kSplit: return SplitCheck();
  }
  return {};
}

Outcome ShardChecker::Repair() const {
  std::vector<std::string> lost;
  for (const Member& m : voters_) {
    if (!m.live()) lost.push_back(Name(m.node) + " " + std::string(NodeStateName(m.state)));
  }
  if (live_voters() < static_cast<int>(rf_)) {
    std::string state = std::to_string(live_voters()) + " of " + std::to_string(rf_) +
                        " voters live";
    if (!lost.empty()) state += " (" + Join(lost) + ")";
    TargetSearch search = BestTarget(NodeId{});
    // The preferred leader, when it is as good a target, saves a move later.
    if (search.target != nullptr && pin_ != nullptr && Exclusion(*pin_) == nullptr && model_->HasSlot(*pin_) &&
        DiversityWith(NodeId{}, pin_->info) == DiversityWith(NodeId{}, search.target->info)) {
      search.target = pin_;
    }
    if (search.target != nullptr) {
      return Propose(Make(AddReplica{search.target->id()}, Priority::kRepair, state));
    }
    if (search.any_legal) return Waiting(state + "; the best targets have no free operator slot");
    return Stuck("cannot restore " + std::to_string(rf_) + " voters, " + state + "; " +
                 NoTargetReason());
  }
  for (const Member& m : voters_) {
    if (m.live()) continue;
    return Propose(Make(RemoveReplica{m.node}, Priority::kRepair,
                        Name(m.node) + " is " + std::string(NodeStateName(m.state)) + "; " +
                            std::to_string(live_voters()) + " live voters remain"));
  }
  return {};
}

Outcome ShardChecker::OverReplicated() const {
  if (!learners_.empty()) {
    // Nothing is in flight on this shard, so a learner is left over from an abandoned operator.
    auto dead = std::find_if(learners_.begin(), learners_.end(),
                             [](const Member& m) { return !m.live(); });
    const Member& pick = dead != learners_.end() ? *dead : learners_.front();
    return Propose(Make(RemoveReplica{pick.node}, Priority::kOverReplicated,
                        "learner on " + Name(pick.node) + " with no operator in flight"));
  }
  if (voters_.size() <= rf_) return {};
  const Member* victim = WorstVoter();
  return Propose(Make(RemoveReplica{victim->node}, Priority::kOverReplicated,
                      std::to_string(voters_.size()) + " voters, rule \"" + rule_->name +
                          "\" wants " + std::to_string(rf_) + "; " + Name(victim->node) +
                          " is the worst placed"));
}

// Worst first: on a dead node, on a draining node, outside the allowed zones, the one whose
// removal leaves the widest spread, not the leader, on the most loaded node, lowest id.
const ShardChecker::Member* ShardChecker::WorstVoter() const {
  auto key = [&](const Member& m) {
    const int state = m.state == NodeState::kUp ? 2 : m.state == NodeState::kDraining ? 1 : 0;
    const int allowed = m.load != nullptr && rule_->AllowsZone(m.load->info->locality.zone);
    const Diversity left = DiversityWith(m.node, nullptr);
    const int is_leader = leader() == &m;
    const double load = m.load != nullptr ? static_cast<double>(m.load->replicas) / m.load->weight
                                          : 0;
    return std::make_tuple(IsPin(m.node), state, allowed, -left.zones, -left.racks, -left.hosts,
                           is_leader, -load, m.node);
  };
  const Member* worst = &voters_.front();
  for (const Member& m : voters_) {
    if (key(m) < key(*worst)) worst = &m;
  }
  return worst;
}

Outcome ShardChecker::Drain() const {
  std::vector<std::string> stuck;
  const Member& lead = *leader();
  if (lead.state == NodeState::kDraining) {
    bool busy = false;
    if (const Member* to = BestLeaderTarget(SIZE_MAX, &busy)) {
      return Propose(Make(TransferLeader{lead.node, to->node}, Priority::kDrain,
                          "leader " + Name(lead.node) + " is draining"));
    }
    if (busy) return Waiting("the voters that could take leadership have no free operator slot");
    stuck.push_back("no voter on an up node can take leadership from draining " +
                    Name(lead.node));
  } else if (lead.state == NodeState::kUp && lead.load->info->slow) {
    // A slow node keeps its replicas; only its leaderships go, to voters that are not slow. With
    // none, the leader stays (nothing is stuck: it still serves).
    bool busy = false;
    if (const Member* to = BestLeaderTarget(SIZE_MAX, &busy)) {
      return Propose(Make(TransferLeader{lead.node, to->node}, Priority::kDrain,
                          "leader " + Name(lead.node) + " is slow"));
    }
    if (busy) return Waiting("the voters that could take leadership from a slow node have no free operator slot");
  }
  for (const Member& m : voters_) {
    if (m.state != NodeState::kDraining) continue;
    TargetSearch search = BestTarget(m.node);
    if (search.target != nullptr) {
      return Propose(Make(MoveReplica{m.node, search.target->id()}, Priority::kDrain,
                          Name(m.node) + " is draining"));
    }
    if (search.any_legal) return Waiting("the best targets have no free operator slot");
    stuck.push_back("cannot move the replica off draining " + Name(m.node) + ": " +
                    NoTargetReason());
    break;  // every draining replica has the same targets
  }
  if (!stuck.empty()) return Stuck(Join(stuck));
  return {};
}

Outcome ShardChecker::Constraint() const {
  if (rule_->split_enabled && shard_->splittable) {
    if (std::optional<std::string> key = policy_->BoundaryInside(*shard_)) {
      return Propose(Make(Split{*key}, Priority::kConstraint,
                          "a placement rule's range starts or ends inside the shard"));
    }
  }
  if (rule_->allowed_zones.empty()) return {};
  for (const Member& m : voters_) {
    if (m.state != NodeState::kUp || rule_->AllowsZone(m.load->info->locality.zone)) continue;
    const std::string why = Name(m.node) + " (zone \"" + m.load->info->locality.zone +
                            "\") is outside rule \"" + rule_->name + "\"'s zones " +
                            Join(rule_->allowed_zones);
    TargetSearch search = BestTarget(m.node);
    if (search.target != nullptr) {
      return Propose(Make(MoveReplica{m.node, search.target->id()}, Priority::kConstraint, why));
    }
    if (search.any_legal) return Waiting(why + "; the best targets have no free operator slot");
    return Stuck(why + "; " + NoTargetReason());
  }
  return {};
}

Outcome ShardChecker::DiversityMove() const {
  const Diversity current = diversity();
  if (current == BestDiversity(model_->up_domains(), live_.size())) return {};  // cannot improve
  const Member* from = nullptr;
  const NodeLoad* to = nullptr;
  Diversity best = current;
  // Widest spread; then move a follower rather than the leader, off the fuller node, onto the
  // emptier node; then ids.
  std::tuple<int, int, int, bool, double, double, NodeId, NodeId> best_key{};
  bool busy = false;
  for (const Member& m : voters_) {
    if (m.state != NodeState::kUp || IsPin(m.node)) continue;
    const bool source_busy = !model_->HasSlot(*m.load);
    for (const NodeLoad& n : model_->nodes()) {
      if (Exclusion(n) != nullptr) continue;
      const Diversity d = DiversityWith(m.node, n.info);
      if (d <= current) continue;
      if (source_busy || !model_->HasSlot(n)) {
        busy = true;
        continue;
      }
      auto key = std::make_tuple(-d.zones, -d.racks, -d.hosts, leader() == &m,
                                 -static_cast<double>(m.load->replicas) / m.load->weight,
                                 Density(n), n.id(), m.node);
      if (to == nullptr || key < best_key) from = &m, to = &n, best = d, best_key = key;
    }
  }
  if (to != nullptr) {
    return Propose(Make(MoveReplica{from->node, to->id()}, Priority::kDiversity,
                        "spreads the voters over " + ToString(best) + " instead of " +
                            ToString(current)));
  }
  if (busy) return Waiting("a wider spread is possible but its nodes have no free operator slot");
  return {};
}

Outcome ShardChecker::Balance(Metric metric, Priority priority) const {
  // Bytes balance leaves shards under kMinBytesBalanceShard alone. Their sizes are mostly
  // estimation noise that moves between plans (memtables, compactions). The potential argument
  // assumes fixed totals, and on such noise the bytes balancer undid the replica balancer's moves
  // every second (tests/fault S20). It moves a snapshot to gain nothing anyway.
  if (metric == Metric::kBytes && shard_->bytes < kMinBytesBalanceShard) return {};
  const double unit = model_->ByteUnit();
  const double size = static_cast<double>(shard_->bytes) / unit;
  const double amount = metric == Metric::kReplicas ? 1 : size;
  if (amount <= 0) return {};
  const Diversity current = diversity();
  const Member* from = nullptr;
  const NodeLoad* to = nullptr;
  std::tuple<bool, double, NodeId, NodeId> best{};
  bool busy = false;
  for (const Member& m : voters_) {
    if (m.state != NodeState::kUp || IsPin(m.node)) continue;
    const NodeLoad& s = *m.load;
    if (!model_->HasSlot(s)) {
      busy = true;
      continue;
    }
    for (const NodeLoad& n : model_->nodes()) {
      if (Exclusion(n) != nullptr || !model_->Triggers(s, n, metric)) continue;
      // The move must lower this metric's spread by a whole unit, and the replica and byte
      // imbalances together (so that the two balancers never undo each other).
      if (model_->PotentialDelta(s, n, metric, amount) >
          -model_->RequiredFall(s, n, metric, amount)) {
        continue;
      }
      const double total = model_->PotentialDelta(s, n, Metric::kReplicas, 1) +
                           model_->PotentialDelta(s, n, Metric::kBytes, size);
      if (total >= -kEpsilon) continue;
      if (DiversityWith(m.node, n.info) < current) continue;
      if (!model_->HasSlot(n)) {
        busy = true;
        continue;
      }
      // A follower before the leader, then the largest fall of the imbalance, then ids.
      auto key = std::make_tuple(leader() == &m, total, m.node, n.id());
      if (to == nullptr || key < best) from = &m, to = &n, best = key;
    }
  }
  if (to != nullptr) {
    return Propose(Make(MoveReplica{from->node, to->id()}, priority,
                        Describe(metric, *model_, *from->load) + ", " +
                            Describe(metric, *model_, *to)));
  }
  if (busy) return Waiting("a balancing move exists but its nodes have no free operator slot");
  return {};
}

Outcome ShardChecker::Leader() const {
  const Member& lead = *leader();
  if (lead.state != NodeState::kUp || lead.load->info->slow) return {};  // Drain()'s
  if (pin_ != nullptr) return {};  // PreferredLeader()'s: neither zones nor balance move it
  const size_t rank = Rank(lead);
  bool busy = false;
  if (rank > 0) {
    if (const Member* to = BestLeaderTarget(rank - 1, &busy)) {
      return Propose(Make(TransferLeader{lead.node, to->node}, Priority::kLeaderBalance,
                          "rule \"" + rule_->name + "\" prefers zone \"" +
                              to->load->info->locality.zone + "\" for the leader"));
    }
    if (busy) return Waiting("a voter in a preferred zone has no free operator slot");
  }
  const NodeLoad& s = *lead.load;
  const Member* to = nullptr;
  double best = 0;
  for (const Member& m : voters_) {
    if (&m == &lead || m.state != NodeState::kUp || m.load->info->slow || Rank(m) != rank) continue;
    const NodeLoad& t = *m.load;
    if (!model_->Triggers(s, t, Metric::kLeaders)) continue;
    const double delta = model_->PotentialDelta(s, t, Metric::kLeaders, 1);
    if (delta > -model_->RequiredFall(s, t, Metric::kLeaders, 1)) continue;
    if (!model_->HasSlot(s) || !model_->HasSlot(t)) {
      busy = true;
      continue;
    }
    if (to == nullptr || delta < best - kEpsilon) to = &m, best = delta;
  }
  if (to != nullptr) {
    return Propose(Make(TransferLeader{lead.node, to->node}, Priority::kLeaderBalance,
                        Describe(Metric::kLeaders, *model_, s) + ", " +
                            Describe(Metric::kLeaders, *model_, *to->load)));
  }
  if (busy) return Waiting("a leader transfer would even out leaders but has no free slot");
  return {};
}

// The honoured preferred leader P: a voter on P (replacing the worst other voter, so the count
// stays), then leadership to P. A preferred node that is up and not slow but outside the rule's
// zones is reported (hard constraints win); one that is down, draining or slow is ignored until
// it is healthy again.
Outcome ShardChecker::PreferredLeader() const {
  const NodeId want = shard_->preferred_leader;
  if (want.IsZero()) return {};
  if (pin_ == nullptr) {
    const NodeLoad* p = model_->Find(want);
    if (p != nullptr && p->up() && !p->info->slow) {
      return Stuck("preferred leader " + Name(want) + " (zone \"" + p->info->locality.zone +
                   "\") is outside rule \"" + rule_->name + "\"'s zones " +
                   Join(rule_->allowed_zones) + "; the leader is placed by the other rules");
    }
    return {};
  }
  const Member& lead = *leader();
  if (lead.node == want) return {};
  const std::string why = "the shard's preferred leader is " + Name(want);
  auto voter = std::find_if(voters_.begin(), voters_.end(), [&](const Member& m) { return m.node == want; });
  if (voter != voters_.end()) {
    return Propose(Make(TransferLeader{lead.node, want}, Priority::kPreferredLeader, why));
  }
  // A learner on P is a leftover: OverReplicated() removes it first; the next plan adds the voter.
  if (Holds(want)) return {};
  if (const char* excluded = Exclusion(*pin_)) {
    return Stuck(why + " but it cannot take a replica: " + excluded);
  }
  const Member* from = PreferredLeaderSource();
  return Propose(Make(MoveReplica{from->node, want}, Priority::kPreferredLeader,
                      why + ", which holds no voter; " + Name(from->node) + " makes room"));
}

const ShardChecker::Member* ShardChecker::PreferredLeaderSource() const {
  auto key = [&](const Member& m) {
    const int state = m.state == NodeState::kUp ? 2 : m.state == NodeState::kDraining ? 1 : 0;
    const int allowed = m.load != nullptr && rule_->AllowsZone(m.load->info->locality.zone);
    const Diversity after = DiversityWith(m.node, pin_->info);
    const int is_leader = leader() == &m;
    const double load = m.load != nullptr ? static_cast<double>(m.load->replicas) / m.load->weight
                                          : 0;
    return std::make_tuple(state, allowed, -after.zones, -after.racks, -after.hosts, is_leader,
                           -load, m.node);
  };
  const Member* worst = &voters_.front();
  for (const Member& m : voters_) {
    if (key(m) < key(*worst)) worst = &m;
  }
  return worst;
}

Outcome ShardChecker::SplitCheck() const {
  if (!rule_->split_enabled || !shard_->splittable) return {};
  if (shard_->bytes > config_->split_bytes) {
    return Propose(Make(Split{}, Priority::kSplit,
                        std::to_string(shard_->bytes) + " bytes > split_bytes " +
                            std::to_string(config_->split_bytes)));
  }
  if (shard_->qps > config_->split_qps) {
    return Propose(Make(Split{}, Priority::kSplit,
                        Fixed(shard_->qps) + " qps > split_qps " + Fixed(config_->split_qps)));
  }
  return {};
}

const char* ShardChecker::Exclusion(const NodeLoad& node) const {
  if (Holds(node.id())) return "already hold a replica";
  switch (node.info->state) {
    case NodeState::kUp: break;
    case NodeState::kDraining: return "draining";
    case NodeState::kDead: return "dead";
    case NodeState::kRemoved: return "removed";
  }
  if (!rule_->AllowsZone(node.info->locality.zone)) return "outside the allowed zones";
  if (!model_->HasRoom(node, shard_->bytes)) return "full";
  return nullptr;
}

std::string ShardChecker::NoTargetReason() const {
  std::vector<std::pair<std::string, int>> counts;
  for (const NodeLoad& n : model_->nodes()) {
    const char* why = Exclusion(n);
    if (why == nullptr) continue;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == why; });
    if (it == counts.end()) {
      counts.emplace_back(why, 1);
    } else {
      ++it->second;
    }
  }
  std::vector<std::string> parts;
  for (const auto& [why, count] : counts) parts.push_back(std::to_string(count) + " " + why);
  return "no legal target among " + std::to_string(model_->nodes().size()) + " nodes" +
         (parts.empty() ? std::string() : ": " + Join(parts));
}

ShardChecker::TargetSearch ShardChecker::BestTarget(NodeId leaving) const {
  TargetSearch out;
  std::vector<std::pair<const NodeLoad*, Diversity>> legal;
  for (const NodeLoad& n : model_->nodes()) {
    if (Exclusion(n) == nullptr) legal.emplace_back(&n, DiversityWith(leaving, n.info));
  }
  if (legal.empty()) return out;
  out.any_legal = true;
  Diversity best = legal.front().second;
  for (const auto& [n, d] : legal) best = std::max(best, d);
  // Only the best reachable spread: a busy best target makes the shard wait, not settle for less.
  for (const auto& [n, d] : legal) {
    if (d != best || !model_->HasSlot(*n)) continue;
    if (out.target == nullptr || LessLoaded(*n, *out.target)) out.target = n;
  }
  return out;
}

Diversity ShardChecker::DiversityWith(NodeId leaving, const NodeInfo* joining) const {
  std::vector<const NodeInfo*> nodes;
  nodes.reserve(live_.size() + 1);
  for (const NodeInfo* n : live_) {
    if (n->id != leaving) nodes.push_back(n);
  }
  if (joining != nullptr) nodes.push_back(joining);
  return DiversityOf(nodes);
}

const ShardChecker::Member* ShardChecker::BestLeaderTarget(size_t max_rank,
                                                            bool* any_without_slot) const {
  const Member& lead = *leader();
  const Member* best = nullptr;
  auto key = [&](const Member& m) {
    return std::make_tuple(!IsPin(m.node), Rank(m),
                           static_cast<double>(m.load->leaders + 1) / m.load->weight, m.node);
  };
  for (const Member& m : voters_) {
    if (&m == &lead || m.state != NodeState::kUp || m.load->info->slow || Rank(m) > max_rank) continue;
    if (!model_->HasSlot(*m.load) || !model_->HasSlot(*lead.load)) {
      *any_without_slot = true;
      // An honoured preferred leader's voter is waited for, never passed over.
      if (IsPin(m.node)) return nullptr;
      continue;
    }
    if (best == nullptr || key(m) < key(*best)) best = &m;
  }
  return best;
}

bool ShardChecker::Holds(NodeId node) const {
  auto on = [&](const Member& m) { return m.node == node; };
  return std::any_of(voters_.begin(), voters_.end(), on) ||
         std::any_of(learners_.begin(), learners_.end(), on);
}

Operator ShardChecker::Make(Action action, Priority priority, std::string reason) const {
  return Operator{.shard = shard_->id, .action = std::move(action), .priority = priority,
                  .reason = std::move(reason)};
}

Diversity ShardChecker::BestReachable(size_t* eligible_nodes) const {
  std::vector<const NodeInfo*> candidates;
  for (const NodeLoad& n : model_->nodes()) {
    if (!n.up() || !rule_->AllowsZone(n.info->locality.zone)) continue;
    if (Holds(n.id()) || model_->HasRoom(n, shard_->bytes)) candidates.push_back(n.info);
  }
  if (eligible_nodes != nullptr) *eligible_nodes = candidates.size();
  return BestDiversity(candidates, rf_);
}

}  // namespace claw::placement
