#include "server/placement_service.h"

#include <sys/statvfs.h>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <variant>

#include "server/metrics.h"
#include "server/placement_rules.h"
#include "server/replica_id.h"
#include "server/rpc_status.h"
#include "server/split_key.h"
#include "server/thread_name.h"

namespace claw::server {
namespace {

using Clock = std::chrono::steady_clock;

bool SameRecord(const v1::NodeRecord& a, const v1::NodeRecord& b) {
  return a.name() == b.name() && a.peer_address() == b.peer_address() && a.client_address() == b.client_address() &&
         a.zone() == b.zone() && a.rack() == b.rack() && a.host() == b.host() &&
         a.capacity_bytes() == b.capacity_bytes();
}

// The rules the service applies: the stored ones, and the meta shard's 5 voters settling for as
// many as there are up nodes (at least 3): on a small cluster it would otherwise never finish a
// drain or a repair (CockroachDB needs RF + 1 nodes to decommission for the same reason).
placement::PlacementPolicy PolicyFor(const placement::ClusterView& view, const v1::PlacementRules& rules) {
  const auto up = static_cast<uint32_t>(std::count_if(view.nodes.begin(), view.nodes.end(), [](const auto& n) {
    return n.state == placement::NodeState::kUp;
  }));
  return PolicyFromRules(rules, up);
}

}  // namespace

// A shard's leader reports its preferred leader with every heartbeat; a new leader reports none
// until its checkpoint service set it (within a round of that service). So a pin is forgotten
// only after kForgetPinAfter reports in a row without it, else the leader balance could take the
// leadership from the pinned node in between.
void PlacementService::NotePreferredLeader(ShardStats* stats, uint64_t reported) {
  constexpr int kForgetPinAfter = 3;
  if (reported != 0) {
    stats->preferred_leader = reported;
    stats->reports_without_pin = 0;
  } else if (stats->preferred_leader != 0 && ++stats->reports_without_pin >= kForgetPinAfter) {
    stats->preferred_leader = 0;
    stats->reports_without_pin = 0;
  }
}

PlacementService::PlacementService(PlacementOptions options, Store* store, Router* router)
    : options_(options), store_(store), router_(router) {
  planner_ = std::thread([this] { PlanLoop(); });
}

PlacementService::~PlacementService() { Stop(); }

namespace {

// Slow-node judgement (server/README.md "Slow nodes"): a node's delay is the worse of its tick
// lag and its longest log write since its previous heartbeat. It is over the bar when that is
// above kSlowFloor and above kSlowRatio times the median of the other live nodes' delays (so a
// cluster that is slow everywhere, or a busy test machine, moves nothing). kSlowAfter heartbeats
// over in a row make it slow; kFastAfter under in a row make it normal again.
constexpr double kSlowFloorSeconds = 0.05;
constexpr double kSlowRatio = 4;
constexpr int kSlowAfter = 3;
constexpr int kFastAfter = 10;

double Delay(const v1::NodeLoad& load) { return std::max(load.tick_lag_seconds(), load.log_write_seconds()); }

}  // namespace

void PlacementService::JudgeSlowness(uint64_t node) {
  Liveness& l = liveness_[node];
  const auto now = Clock::now();
  std::vector<double> others;
  for (const auto& [id, o] : liveness_) {
    if (id != node && now - o.last <= 3 * std::chrono::milliseconds(options_.heartbeat_interval_ms)) {
      others.push_back(Delay(o.load));
    }
  }
  if (others.empty()) {  // nothing to compare with: no verdict either way
    l.over = l.under = 0;
    l.slow = false;
    return;
  }
  std::sort(others.begin(), others.end());
  const double median = others[others.size() / 2];
  const double delay = Delay(l.load);
  if (delay > kSlowFloorSeconds && delay > kSlowRatio * median) {
    ++l.over;
    l.under = 0;
  } else {
    ++l.under;
    l.over = 0;
  }
  if (!l.slow && l.over >= kSlowAfter) {
    l.slow = true;
    l.slow_reason = fmt::format("tick lag {:.0f} ms, log write {:.0f} ms against a median of {:.0f} ms elsewhere",
                                l.load.tick_lag_seconds() * 1e3, l.load.log_write_seconds() * 1e3, median * 1e3);
    SPDLOG_WARN("placement: node {} is slow ({} for {} heartbeats); moving its leaderships away", node,
                l.slow_reason, l.over);
  } else if (l.slow && l.under >= kFastAfter) {
    l.slow = false;
    SPDLOG_INFO("placement: node {} is no longer slow ({} heartbeats within the bar)", node, l.under);
  }
}

void PlacementService::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (planner_.joinable()) planner_.join();
}

bool PlacementService::Dead(uint64_t node, Clock::time_point now) const {
  Clock::time_point last = store_->meta_leader_since();
  if (auto it = liveness_.find(node); it != liveness_.end()) last = std::max(last, it->second.last);
  return now - last > std::chrono::milliseconds(options_.node_dead_after_ms);
}

bool PlacementService::Silent(uint64_t node, Clock::time_point now) const {
  Clock::time_point last = store_->meta_leader_since();
  if (auto it = liveness_.find(node); it != liveness_.end()) last = std::max(last, it->second.last);
  return now - last > 3 * std::chrono::milliseconds(options_.heartbeat_interval_ms);
}

placement::ClusterView PlacementService::View(Clock::time_point now) {
  placement::ClusterView view;
  std::map<uint64_t, uint32_t> involved;
  for (const auto& [shard, p] : pending_) {
    std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, placement::AddReplica>) {
            ++involved[a.target.value()];
          } else if constexpr (std::is_same_v<T, placement::RemoveReplica>) {
            ++involved[a.node.value()];
          } else if constexpr (std::is_same_v<T, placement::MoveReplica> ||
                               std::is_same_v<T, placement::TransferLeader>) {
            ++involved[a.from.value()];
            ++involved[a.to.value()];
          }
        },
        p.op.action);
  }
  for (const v1::NodeRecord& n : store_->meta().Nodes()) {
    placement::NodeInfo info;
    info.id = placement::NodeId(n.node_id());
    info.locality = {.zone = n.zone(), .rack = n.rack(), .host = n.host()};
    info.capacity_bytes = n.capacity_bytes();
    switch (n.state()) {
      case v1::NodeRecord::DRAINING: info.state = placement::NodeState::kDraining; break;
      case v1::NodeRecord::REMOVED: info.state = placement::NodeState::kRemoved; break;
      default: info.state = placement::NodeState::kUp; break;
    }
    if (info.state != placement::NodeState::kRemoved && Dead(n.node_id(), now)) info.state = placement::NodeState::kDead;
    if (auto it = liveness_.find(n.node_id()); it != liveness_.end()) {
      info.disk_used_bytes = it->second.load.disk_used_bytes();
      info.disk_free_bytes = it->second.load.disk_free_bytes();
      info.slow = it->second.slow;
    }
    info.operators_in_flight = involved[n.node_id()];
    view.nodes.push_back(std::move(info));
  }
  // Learners by (shard, node) with when this leader first saw them: one that appears while this
  // node leads, and is not this service's own operator, belongs to someone else's move in
  // progress (clawctl shard move) and is left alone for operator_timeout_ms before it counts as
  // stray — unless the shard needs repair (a replica on a node that is not up): repair never
  // waits for someone else's move. Learners already there when this node took over (a former
  // meta leader's operators, whose plans died with it) are stray at once.
  std::map<uint64_t, placement::NodeState> node_state;
  for (const placement::NodeInfo& n : view.nodes) node_state[n.id.value()] = n.state;
  std::map<std::pair<uint64_t, uint64_t>, Clock::time_point> learners;
  for (const v1::ShardDescriptor& d : store_->meta().Shards()) {
    placement::ShardInfo info;
    info.id = placement::ShardId(d.id());
    bool foreign_move = false;
    bool all_up = true;
    for (const v1::Replica& r : d.replicas()) {
      const auto state = node_state.find(r.node_id());
      if (state == node_state.end() || state->second != placement::NodeState::kUp) all_up = false;
      if (r.role() != v1::Replica::LEARNER) continue;
      const auto key = std::make_pair(d.id(), r.node_id());
      auto seen = learner_since_.find(key);
      const Clock::time_point since =
          seen != learner_since_.end() ? seen->second : learners_baselined_ ? now : Clock::time_point{};
      learners[key] = since;
      if (now - since < std::chrono::milliseconds(options_.operator_timeout_ms)) foreign_move = true;
    }
    foreign_move = foreign_move && all_up;
    info.start_key = d.start_key();
    info.end_key = d.end_key();
    for (const v1::Replica& r : d.replicas()) {
      info.replicas.push_back({.node = placement::NodeId(r.node_id()),
                               .id = placement::ReplicaId(r.replica_id()),
                               .role = r.role() == v1::Replica::LEARNER ? placement::ReplicaRole::kLearner
                                                                        : placement::ReplicaRole::kVoter});
    }
    if (auto it = shard_leader_.find(d.id()); it != shard_leader_.end()) info.leader = placement::NodeId(it->second);
    if (auto it = shard_stats_.find(d.id()); it != shard_stats_.end()) {
      info.bytes = it->second.bytes;
      info.qps = it->second.qps;
      // A preferred leader that missed its last heartbeats is not honoured (the shard is placed as
      // if it had none): a leadership transfer to a node that may be down stalls the shard's
      // writes for an election timeout on every attempt, and node_dead_after is minutes.
      const uint64_t pin = it->second.preferred_leader;
      if (pin != 0 && !Silent(pin, now)) info.preferred_leader = placement::NodeId(pin);
    }
    info.splittable = SplittableRange(d.start_key(), d.end_key());
    bool settling = false;
    if (auto it = settling_.find(d.id()); it != settling_.end()) {
      const bool stale = now - it->second.since > std::chrono::milliseconds(options_.operator_timeout_ms);
      if (d.epoch().conf_version() >= it->second.conf_version || stale) {
        settling_.erase(it);
      } else {
        settling = true;
      }
    }
    info.operator_in_flight = pending_.count(d.id()) > 0 || foreign_move || settling;
    view.shards.push_back(std::move(info));
  }
  learner_since_ = std::move(learners);
  learners_baselined_ = true;
  return view;
}

std::optional<v1::OperatorStep> PlacementService::NextStep(const Pending& p, const v1::ShardDescriptor& d,
                                                           uint64_t leader) {
  auto role = [&](placement::NodeId n) -> std::optional<v1::Replica::Role> {
    for (const v1::Replica& r : d.replicas()) {
      if (r.node_id() == n.value()) return r.role();
    }
    return std::nullopt;
  };
  v1::OperatorStep step;
  step.set_shard_id(d.id());
  *step.mutable_epoch() = d.epoch();
  step.set_reason(p.op.reason);
  auto make = [&](v1::OperatorStep::Kind kind, placement::NodeId node) {
    step.set_kind(kind);
    step.set_node_id(node.value());
    return std::optional<v1::OperatorStep>(step);
  };
  // Adding `t` to completion: learner, then voter. nullopt when `t` already votes.
  auto add = [&](placement::NodeId t) -> std::optional<v1::OperatorStep> {
    const auto r = role(t);
    if (!r) return make(v1::OperatorStep::ADD_LEARNER, t);
    if (*r == v1::Replica::LEARNER) return make(v1::OperatorStep::PROMOTE, t);
    return std::nullopt;
  };
  // Removing `n`: hand leadership away first (to `prefer` when it votes).
  auto remove = [&](placement::NodeId n, placement::NodeId prefer) -> std::optional<v1::OperatorStep> {
    if (!role(n)) return std::nullopt;
    if (leader == n.value()) {
      if (!prefer.IsZero() && role(prefer) == v1::Replica::VOTER) return make(v1::OperatorStep::TRANSFER_LEADER, prefer);
      for (const v1::Replica& r : d.replicas()) {
        if (r.node_id() != n.value() && r.role() == v1::Replica::VOTER) {
          return make(v1::OperatorStep::TRANSFER_LEADER, placement::NodeId(r.node_id()));
        }
      }
      return std::nullopt;  // nobody to hand over to: abandon
    }
    return make(v1::OperatorStep::REMOVE, n);
  };
  return std::visit(
      [&](const auto& a) -> std::optional<v1::OperatorStep> {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, placement::AddReplica>) {
          return add(a.target);
        } else if constexpr (std::is_same_v<T, placement::RemoveReplica>) {
          return remove(a.node, placement::NodeId());
        } else if constexpr (std::is_same_v<T, placement::MoveReplica>) {
          if (auto s = add(a.to)) return s;
          return remove(a.from, a.to);
        } else if constexpr (std::is_same_v<T, placement::TransferLeader>) {
          if (leader == a.to.value() || role(a.to) != v1::Replica::VOTER) return std::nullopt;
          return make(v1::OperatorStep::TRANSFER_LEADER, a.to);
        } else {
          if (d.epoch().range_version() > p.planned.range_version()) return std::nullopt;
          step.set_kind(v1::OperatorStep::SPLIT);
          step.set_split_key(a.key);
          return std::optional<v1::OperatorStep>(step);
        }
      },
      p.op.action);
}

placement::PlacementConfig PlacementService::Config() const {
  placement::PlacementConfig c;
  c.split_bytes = options_.split_bytes;
  c.split_qps = static_cast<double>(options_.split_qps);
  c.max_operators_per_node = options_.max_operators_per_node;
  return c;
}

namespace {

std::string_view OperatorType(const placement::Operator& op) {
  return std::visit(
      [](const auto& a) -> std::string_view {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, placement::AddReplica>) return "add_replica";
        if constexpr (std::is_same_v<T, placement::RemoveReplica>) return "remove_replica";
        if constexpr (std::is_same_v<T, placement::MoveReplica>) return "move_replica";
        if constexpr (std::is_same_v<T, placement::TransferLeader>) return "transfer_leader";
        return "split";
      },
      op.action);
}

}  // namespace

void PlacementService::CountOperator(const placement::Operator& op, std::string_view outcome) {
  if (options_.metrics != nullptr) options_.metrics->PlacementOperator(OperatorType(op), outcome).Increment();
}

void PlacementService::UpdateGauges(bool leading) {
  if (options_.metrics == nullptr) return;
  std::set<uint64_t> repair;
  if (leading) {
    for (const auto& [shard, p] : pending_) {
      if (p.op.priority == placement::Priority::kRepair) repair.insert(shard);
    }
    for (const auto* findings : {&last_plan_.stuck, &last_plan_.waiting}) {
      for (const placement::Finding& f : *findings) {
        if (f.priority == placement::Priority::kRepair) repair.insert(f.shard.value());
      }
    }
  }
  options_.metrics->placement_operators_running.Set(static_cast<double>(pending_.size()));
  options_.metrics->placement_shards_needing_repair.Set(static_cast<double>(repair.size()));
  options_.metrics->meta_leader.Set(leading ? 1 : 0);
}

void PlacementService::PlanLoop() {
  NameThisThread("placement");
  const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
    PlanOnce(Clock::now());
  }
}

void PlacementService::PlanOnce(Clock::time_point now) {
  const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  auto meta = router_->Get(kMetaShard);
  const bool leading = meta && meta->local && meta->leader == options_.node_id;
  // A new leader waits until every live node had time to report (and its directory caught up).
  if (!leading || now - store_->meta_leader_since() < 3 * interval) {
    if (!pending_.empty()) SPDLOG_INFO("placement: not the meta leader; dropping {} operators", pending_.size());
    for (const auto& [shard, p] : pending_) CountOperator(p.op, "abandoned");
    pending_.clear();
    settling_.clear();
    learner_since_.clear();
    learners_baselined_ = false;
    shard_leader_.clear();
    leaders_version_ = 0;
    shard_stats_.clear();
    last_plan_ = {};
    UpdateGauges(leading);  // a new meta leader is the leader already, while it waits to plan
    return;
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.started > std::chrono::milliseconds(options_.operator_timeout_ms)) {
      SPDLOG_WARN("placement: {} timed out; the next plan decides afresh", placement::ToString(it->second.op));
      CountOperator(it->second.op, "timed_out");
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  // An operator whose destination died, is draining or was removed can never finish: drop it,
  // so that the plan below can repair the shard another way.
  placement::ClusterView view = View(now);
  std::map<uint64_t, placement::NodeState> states;
  for (const placement::NodeInfo& n : view.nodes) states[n.id.value()] = n.state;
  bool dropped = false;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const uint64_t dest = std::visit(
        [](const auto& a) -> uint64_t {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, placement::AddReplica>) return a.target.value();
          if constexpr (std::is_same_v<T, placement::MoveReplica> || std::is_same_v<T, placement::TransferLeader>) {
            return a.to.value();
          }
          return 0;
        },
        it->second.op.action);
    const bool silent_pin = it->second.op.priority == placement::Priority::kPreferredLeader && dest != 0 && Silent(dest, now);
    if (dest != 0 && (states[dest] != placement::NodeState::kUp || silent_pin)) {
      SPDLOG_INFO("placement: abandoned: {} (n{} is no longer up)", placement::ToString(it->second.op), dest);
      CountOperator(it->second.op, "abandoned");
      it = pending_.erase(it);
      dropped = true;
    } else {
      ++it;
    }
  }
  if (dropped) view = View(now);
  last_plan_ = placement::PlanWithFindings(view, PolicyFor(view, store_->meta().Rules()), Config());
  std::map<uint64_t, v1::Epoch> epochs;
  for (const v1::ShardDescriptor& d : store_->meta().Shards()) epochs[d.id()] = d.epoch();
  for (const placement::Operator& op : last_plan_.operators) {
    SPDLOG_INFO("placement: {}", placement::ToString(op));
    CountOperator(op, "started");
    pending_[op.shard.value()] = Pending{.op = op, .planned = epochs[op.shard.value()], .started = now};
  }
  UpdateGauges(true);
}

void PlacementService::ProposeAndWait(v1::MetaCommand command,
                                      std::function<void(std::expected<void, RequestError>)> done) {
  store_->ProposeMeta(std::move(command), std::move(done));
}

grpc::ServerUnaryReactor* PlacementService::DrainNode(grpc::CallbackServerContext* ctx, const v1::DrainNodeRequest* req,
                                                      v1::DrainNodeResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  const uint64_t id = req->node_id();
  auto node = store_->meta().Node(id);
  if (!node || node->state() == v1::NodeRecord::REMOVED) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "node " + std::to_string(id) +
                                                                  (node ? " was removed" : " is not a member")));
    return reactor;
  }
  {
    // The cluster as it would be with the node draining: can every shard it holds move?
    std::lock_guard lock(mu_);
    placement::ClusterView view = View(Clock::now());
    for (placement::NodeInfo& n : view.nodes) {
      if (n.id.value() == id && n.state == placement::NodeState::kUp) n.state = placement::NodeState::kDraining;
    }
    if (auto why = placement::DrainBlocker(view, PolicyFor(view, store_->meta().Rules()), placement::NodeId(id))) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                   "node " + std::to_string(id) + " cannot be drained: " + *why));
      return reactor;
    }
  }
  v1::MetaCommand cmd;
  cmd.mutable_set_node_state()->set_node_id(id);
  cmd.mutable_set_node_state()->set_state(v1::NodeRecord::DRAINING);
  ProposeAndWait(std::move(cmd), [this, reactor, resp, id](std::expected<void, RequestError> r) {
    if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
    if (auto n = store_->meta().Node(id)) *resp->mutable_node() = *n;
    SPDLOG_INFO("placement: draining node {}", id);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::RemoveNode(grpc::CallbackServerContext* ctx,
                                                       const v1::RemoveNodeRequest* req, v1::RemoveNodeResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  const uint64_t id = req->node_id();
  auto node = store_->meta().Node(id);
  if (!node) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "node " + std::to_string(id) + " is not a member"));
    return reactor;
  }
  std::vector<uint64_t> held;
  for (const v1::ShardDescriptor& d : store_->meta().Shards()) {
    if (ReplicaOn(d, id) != nullptr) held.push_back(d.id());
  }
  if (!held.empty()) {
    std::string list;
    for (size_t i = 0; i < held.size() && i < 10; ++i) list += (i ? ", " : "") + std::to_string(held[i]);
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "node " + std::to_string(id) + " still holds " + std::to_string(held.size()) +
                                     " replicas (shards " + list + (held.size() > 10 ? ", ..." : "") +
                                     "): drain it first (clawctl node drain " + std::to_string(id) +
                                     ") and wait until it holds none"));
    return reactor;
  }
  v1::MetaCommand cmd;
  cmd.mutable_set_node_state()->set_node_id(id);
  cmd.mutable_set_node_state()->set_state(v1::NodeRecord::REMOVED);
  ProposeAndWait(std::move(cmd), [this, reactor, resp, id](std::expected<void, RequestError> r) {
    if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
    if (auto n = store_->meta().Node(id)) *resp->mutable_node() = *n;
    SPDLOG_INFO("placement: node {} removed from the cluster", id);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::Explain(grpc::CallbackServerContext* ctx, const v1::ExplainRequest* req,
                                                    v1::ExplainResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  std::lock_guard lock(mu_);
  placement::ClusterView view = View(Clock::now());
  const placement::ShardId shard(req->shard_id());
  if (std::none_of(view.shards.begin(), view.shards.end(), [&](const auto& s) { return s.id == shard; })) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "shard " + std::to_string(req->shard_id()) + " is not in the directory"));
    return reactor;
  }
  for (std::string& line : placement::Explain(view, PolicyFor(view, store_->meta().Rules()), Config(), shard)) {
    resp->add_lines(std::move(line));
  }
  if (auto it = pending_.find(req->shard_id()); it != pending_.end()) {
    resp->add_lines("in progress: " + placement::ToString(it->second.op));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::Join(grpc::CallbackServerContext* ctx, const v1::JoinRequest* req,
                                                 v1::JoinResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  const v1::NodeRecord& asked = req->node();
  if (asked.name().empty() || asked.peer_address().empty() || asked.client_address().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "a joining node must give its name, peer address and client address"));
    return reactor;
  }
  // The answer once the node is recorded: its id and the node table. Another live node of the
  // same name with other addresses is a configuration mistake, not a retry.
  auto answer = [this, resp, asked]() -> grpc::Status {
    auto n = store_->meta().LiveNodeNamed(asked.name());
    if (!n) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the join was not recorded; try again");
    if (n->peer_address() != asked.peer_address()) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          "the name '" + asked.name() + "' belongs to node " + std::to_string(n->node_id()) +
                              " at peer address " + n->peer_address() +
                              ": give this node another name (or remove that node first: clawctl node remove " +
                              std::to_string(n->node_id()) + ")");
    }
    resp->set_node_id(n->node_id());
    resp->set_cluster_id(options_.cluster_id);
    for (v1::NodeRecord& r : store_->meta().Nodes()) *resp->add_nodes() = std::move(r);
    for (v1::ShardDescriptor& d : store_->meta().Shards()) *resp->add_shards() = std::move(d);
    return grpc::Status::OK;
  };
  if (store_->meta().LiveNodeNamed(asked.name())) {
    reactor->Finish(answer());
    return reactor;
  }
  for (const v1::NodeRecord& n : store_->meta().Nodes()) {
    if (n.state() != v1::NodeRecord::REMOVED && n.peer_address() == asked.peer_address()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                                   "peer address " + asked.peer_address() + " belongs to node " +
                                       std::to_string(n.node_id()) + " (" + n.name() + ")"));
      return reactor;
    }
  }
  v1::MetaCommand cmd;
  *cmd.mutable_register_node() = asked;
  cmd.mutable_register_node()->set_node_id(0);
  ProposeAndWait(std::move(cmd), [reactor, answer, asked](std::expected<void, RequestError> r) {
    if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
    grpc::Status s = answer();
    if (s.ok()) SPDLOG_INFO("placement: node '{}' at {} joined the cluster", asked.name(), asked.peer_address());
    reactor->Finish(s);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::GetRules(grpc::CallbackServerContext* ctx,
                                                     const v1::GetRulesRequest* /*req*/, v1::PlacementRules* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  *resp = store_->meta().Rules();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::SetRules(grpc::CallbackServerContext* ctx, const v1::SetRulesRequest* req,
                                                     v1::PlacementRules* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  if (std::string problem = ValidateRules(req->rules()); !problem.empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, problem));
    return reactor;
  }
  const uint64_t expected = req->rules().version();
  auto stale = [this, expected]() -> std::optional<grpc::Status> {
    const uint64_t now = store_->meta().Rules().version();
    if (now == expected) return std::nullopt;
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the rules changed meanwhile (version " + std::to_string(now) + ", the request was made against " +
                            std::to_string(expected) + "): read them again and reapply the change");
  };
  if (auto s = stale()) {
    reactor->Finish(*s);
    return reactor;
  }
  v1::MetaCommand cmd;
  *cmd.mutable_set_rules() = req->rules();
  ProposeAndWait(std::move(cmd), [this, reactor, resp, expected](std::expected<void, RequestError> r) {
    if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
    *resp = store_->meta().Rules();
    if (resp->version() != expected + 1) {
      // Another change was applied first: this one was refused by the state machine.
      return reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                          "the rules changed meanwhile: read them again and reapply the change"));
    }
    SPDLOG_INFO("placement: rules version {}: {} rules", resp->version(), resp->rules_size());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

std::optional<RequestError> PlacementService::NotMetaLeader() const {
  auto meta = router_->Get(kMetaShard);
  if (meta && meta->local && meta->leader == options_.node_id) return std::nullopt;
  RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::NOT_LEADER,
                             "node " + std::to_string(options_.node_id) +
                                 " does not lead the meta shard, which runs the placement service");
  if (meta && meta->leader != 0) {
    e.detail.mutable_leader()->set_node_id(meta->leader);
    e.detail.mutable_leader()->set_address(router_->ClientAddress(meta->leader));
  } else {
    e.detail.set_retry_after_ms(500);
  }
  return e;
}

bool PlacementService::RefuseUnlessMetaLeader(grpc::ServerUnaryReactor* reactor) const {
  auto err = NotMetaLeader();
  if (err) reactor->Finish(ToGrpcStatus(*err));
  return err.has_value();
}

void PlacementService::Propose(v1::MetaCommand command) {
  ProposalRequest p;
  p.shard = kMetaShard;
  *p.command.mutable_meta() = std::move(command);
  p.deadline = Clock::now() + std::chrono::seconds(5);
  p.done = [](std::expected<ProposalResult, RequestError> r) {
    if (!r) SPDLOG_DEBUG("placement: a meta shard proposal failed: {}", r.error().detail.message());
  };
  store_->Propose(std::move(p));
}

grpc::ServerUnaryReactor* PlacementService::Heartbeat(grpc::CallbackServerContext* ctx,
                                                      const v1::HeartbeatRequest* req,
                                                      v1::HeartbeatResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  const uint64_t node = req->node().node_id();
  if (node == 0) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "heartbeat without a node id"));
    return reactor;
  }
  if (req->cluster_id() != options_.cluster_id) {
    SPDLOG_WARN("placement: refusing a heartbeat from node {} ({}) of cluster {:016x}; this is cluster {:016x}", node,
                req->node().peer_address(), req->cluster_id(), options_.cluster_id);
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 fmt::format("this node belongs to cluster {:016x}, the heartbeat's sender to {:016x}",
                                             options_.cluster_id, req->cluster_id())));
    return reactor;
  }
  MetaStateMachine& meta = store_->meta();
  {
    std::lock_guard lock(mu_);
    Liveness& l = liveness_[node];
    l.last = Clock::now();
    l.load = req->load();
    JudgeSlowness(node);
    if (leaders_version_ == 0) leaders_version_ = options_.node_id << 40;
    for (const v1::ShardReport& r : req->shards()) {
      const uint64_t shard = r.shard().id();
      if (uint64_t& leader = shard_leader_[shard]; leader != node) {
        leader = node;
        ++leaders_version_;
      }
      ShardStats& stats = shard_stats_[shard];
      stats.bytes = r.bytes();
      stats.qps = r.qps();
      NotePreferredLeader(&stats, r.preferred_leader_node_id());
      auto it = pending_.find(shard);
      if (it == pending_.end()) continue;
      // The leader's own descriptor is the freshest: derive the next step from it.
      if (auto step = NextStep(it->second, r.shard(), node)) {
        *resp->add_steps() = std::move(*step);
      } else {
        SPDLOG_INFO("placement: done: {}", placement::ToString(it->second.op));
        CountOperator(it->second.op, "succeeded");
        pending_.erase(it);
        settling_[shard] = Settling{.conf_version = r.shard().epoch().conf_version(), .since = Clock::now()};
      }
    }
  }
  // Replicated facts that changed: the node's record, and descriptors newer than the directory's.
  auto known = meta.Node(node);
  if (!known || !SameRecord(*known, req->node())) {
    v1::MetaCommand cmd;
    *cmd.mutable_upsert_node() = req->node();
    Propose(std::move(cmd));
  }
  v1::MetaCommand report;
  for (const v1::ShardReport& r : req->shards()) {
    if (meta.NewerThanDirectory(r.shard())) *report.mutable_report_shards()->add_shards() = r.shard();
  }
  if (report.report_shards().shards_size() > 0) Propose(std::move(report));
  resp->set_node_id(node);
  for (v1::NodeRecord& n : meta.Nodes()) *resp->add_nodes() = std::move(n);
  const uint64_t version = meta.version();
  resp->set_directory_version(version);
  resp->set_directory_from(options_.node_id);
  if (req->directory_from() != options_.node_id || req->directory_version() != version) {
    resp->set_directory_included(true);
    for (v1::ShardDescriptor& d : meta.Shards()) *resp->add_directory() = std::move(d);
  }
  {
    std::lock_guard lock(mu_);
    if (leaders_version_ != 0 && req->leaders_version() != leaders_version_) {
      resp->set_leaders_included(true);
      resp->set_leaders_version(leaders_version_);
      for (const auto& [shard, leader] : shard_leader_) {
        v1::ShardLeaderHint* h = resp->add_leaders();
        h->set_shard_id(shard);
        h->set_node_id(leader);
      }
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::ListNodes(grpc::CallbackServerContext* ctx,
                                                      const v1::ListNodesRequest* /*req*/,
                                                      v1::ListNodesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  const auto now = Clock::now();
  const auto dead_after = std::chrono::milliseconds(options_.node_dead_after_ms);
  // Liveness counts from when this node took the meta leadership at the earliest: a new leader
  // has heard no heartbeats yet and must not call everyone dead.
  const Clock::time_point since = store_->meta_leader_since();
  std::map<uint64_t, uint64_t> replicas, leaders;
  for (const v1::ShardDescriptor& d : store_->meta().Shards()) {
    for (const v1::Replica& r : d.replicas()) ++replicas[r.node_id()];
  }
  std::lock_guard lock(mu_);
  for (const auto& [shard, node] : shard_leader_) ++leaders[node];
  for (const v1::NodeRecord& n : store_->meta().Nodes()) {
    v1::NodeStatus* out = resp->add_nodes();
    *out->mutable_node() = n;
    auto it = liveness_.find(n.node_id());
    Clock::time_point last = since;
    if (it != liveness_.end()) {
      *out->mutable_load() = it->second.load;
      out->set_last_heartbeat_ms_ago(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.last).count()));
      last = std::max(last, it->second.last);
    }
    out->set_dead(n.state() != v1::NodeRecord::REMOVED && now - last > dead_after);
    out->set_replicas(replicas[n.node_id()]);
    out->set_leaders(leaders[n.node_id()]);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::GetDirectory(grpc::CallbackServerContext* ctx,
                                                         const v1::GetDirectoryRequest* /*req*/,
                                                         v1::GetDirectoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (RefuseUnlessMetaLeader(reactor)) return reactor;
  for (v1::ShardDescriptor& d : store_->meta().Shards()) *resp->add_shards() = std::move(d);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// ---------------------------------------------------------------------------------------------

PlacementReporter::PlacementReporter(PlacementOptions options, v1::NodeRecord self, Store* store, Router* router,
                                     std::vector<std::string> seeds, OnNodes on_nodes)
    : options_(options),
      self_(std::move(self)),
      store_(store),
      router_(router),
      seeds_(std::move(seeds)),
      on_nodes_(std::move(on_nodes)) {
  thread_ = std::thread([this] { Run(); });
}

PlacementReporter::~PlacementReporter() { Stop(); }

void PlacementReporter::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PlacementReporter::SendTo(const std::string& address, const v1::HeartbeatRequest& req,
                               v1::HeartbeatResponse* resp, std::string* redirect) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::Placement::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::max<uint64_t>(options_.heartbeat_interval_ms, 500)));
  grpc::Status s = stub->Heartbeat(&ctx, req, resp);
  if (s.ok()) return true;
  v1::Error detail;
  if (ErrorDetail(s, &detail) && detail.code() == v1::Error::NOT_LEADER) *redirect = detail.leader().address();
  return false;
}

void PlacementReporter::Run() {
  NameThisThread("heartbeat");
  const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, interval, [this] { return stop_; })) return;
    }
    v1::HeartbeatRequest req;
    *req.mutable_node() = self_;
    req.set_directory_version(directory_version_);
    req.set_directory_from(directory_from_);
    req.set_leaders_version(leaders_version_);
    req.set_cluster_id(options_.cluster_id);
    uint64_t replicas = 0, leaders = 0, bytes = 0, all_bytes = 0;
    const auto now = Clock::now();
    std::map<uint64_t, Counts> requests;
    double reads_per_second = 0, writes_per_second = 0;
    // Every replica's range only when a capacity share is set (its bytes count against it);
    // otherwise the led ones, and the replica count from the workers' gauges (≤ 1 s old).
    const bool all = options_.capacity != 0;
    if (!all) {
      const Store::Gauges g = store_->gauges();
      replicas = g.leader + g.follower + g.candidate + g.learner;
    }
    for (const v1::ReplicaStatus& r : store_->Status(/*leaders_only=*/!all)) {
      if (all) {
        ++replicas;
        all_bytes += store_->ApproximateBytes(r.shard());
      }
      if (!r.is_leader()) continue;
      ++leaders;
      v1::ShardReport* rep = req.add_shards();
      *rep->mutable_shard() = r.shard();
      rep->set_bytes(store_->ApproximateBytes(r.shard()));
      rep->set_preferred_leader_node_id(store_->PreferredLeader(r.shard().id()));
      bytes += rep->bytes();
      // Requests per second since the previous report (none the first time).
      const uint64_t id = r.shard().id();
      requests[id] = Counts{.requests = r.leader_requests(), .writes = r.leader_writes(), .at = now};
      if (auto prev = last_requests_.find(id); prev != last_requests_.end() &&
                                               r.leader_requests() >= prev->second.requests &&
                                               r.leader_writes() >= prev->second.writes) {
        const double secs = std::chrono::duration<double>(now - prev->second.at).count();
        if (secs > 0) {
          const auto total = static_cast<double>(r.leader_requests() - prev->second.requests);
          const auto writes = static_cast<double>(r.leader_writes() - prev->second.writes);
          rep->set_qps(total / secs);
          writes_per_second += writes / secs;
          reads_per_second += (total - writes) / secs;
        }
      }
    }
    last_requests_ = std::move(requests);
    req.mutable_load()->set_reads_per_second(reads_per_second);
    req.mutable_load()->set_writes_per_second(writes_per_second);
    req.mutable_load()->set_bytes(bytes);
    if (struct statvfs fs{}; !options_.data_dir.empty() && ::statvfs(options_.data_dir.c_str(), &fs) == 0) {
      const uint64_t fs_free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
      if (options_.capacity == 0) {
        req.mutable_load()->set_disk_used_bytes(static_cast<uint64_t>(fs.f_blocks - fs.f_bfree) * fs.f_frsize);
        req.mutable_load()->set_disk_free_bytes(fs_free);
      } else {
        // A share of a file system: count this node's own data against its capacity.
        req.mutable_load()->set_disk_used_bytes(all_bytes);
        req.mutable_load()->set_disk_free_bytes(std::min(fs_free, options_.capacity - std::min(options_.capacity, all_bytes)));
      }
    }
    req.mutable_load()->set_replicas(replicas);
    req.mutable_load()->set_leaders(leaders);
    if (options_.metrics != nullptr) {
      const SlowMeter::Window slow = options_.metrics->slow.Take();
      req.mutable_load()->set_tick_lag_seconds(slow.tick_lag_seconds);
      req.mutable_load()->set_log_write_seconds(slow.log_write_seconds);
    }

    // Where to send: the last address that answered, the meta leader this node knows of, then
    // every member in turn (one NOT_LEADER hint followed per attempt).
    std::vector<std::string> targets;
    if (!last_good_.empty()) targets.push_back(last_good_);
    if (auto meta = router_->Get(kMetaShard); meta && meta->leader != 0) {
      targets.push_back(router_->ClientAddress(meta->leader));
    }
    for (const MemberInfo& m : router_->Members()) {
      if (!m.client_address.empty() && m.id != options_.node_id) targets.push_back(m.client_address);
    }
    targets.insert(targets.end(), seeds_.begin(), seeds_.end());
    bool sent = false;
    v1::HeartbeatResponse resp;
    for (size_t i = 0; i < targets.size() && !sent; ++i) {
      std::string redirect;
      if (SendTo(targets[i], req, &resp, &redirect)) {
        last_good_ = targets[i];
        sent = true;
      } else if (!redirect.empty() && SendTo(redirect, req, &resp, &redirect)) {
        last_good_ = redirect;
        sent = true;
      }
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (!sent) {
      last_good_.clear();
      SPDLOG_DEBUG("placement: no meta leader took this node's heartbeat");
      continue;
    }
    if (on_nodes_ && resp.nodes_size() > 0) on_nodes_({resp.nodes().begin(), resp.nodes().end()});
    if (resp.directory_included()) {
      size_t learnt = 0;
      for (const v1::ShardDescriptor& d : resp.directory()) {
        learnt += router_->Learn(d) ? 1 : 0;
        store_->LearnDirectoryEntry(d);
      }
      if (learnt > 0) SPDLOG_DEBUG("placement: {} routes learnt from the directory", learnt);
      directory_version_ = resp.directory_version();
      directory_from_ = resp.directory_from();
    }
    if (resp.leaders_included()) {
      // After the directory: a shard it just taught is known by now.
      for (const v1::ShardLeaderHint& h : resp.leaders()) router_->LearnLeader(h.shard_id(), h.node_id());
      leaders_version_ = resp.leaders_version();
    }
    Execute(resp);
  }
}

void PlacementReporter::Execute(const v1::HeartbeatResponse& resp) {
  const auto now = Clock::now();
  for (const v1::OperatorStep& step : resp.steps()) {
    const uint64_t shard = step.shard_id();
    {
      std::lock_guard lock(executing_->mu);
      if (!executing_->shards.insert(shard).second) continue;  // its previous step still runs
    }
    const std::string what = v1::OperatorStep::Kind_Name(step.kind()) + " node " + std::to_string(step.node_id()) +
                             " of shard " + std::to_string(shard);
    SPDLOG_INFO("placement: {} ({})", what, step.reason());
    auto finish = [executing = executing_, shard, what](const RequestError* err) {
      if (err != nullptr) SPDLOG_INFO("placement: {} not done: {}", what, err->detail.message());
      std::lock_guard lock(executing->mu);
      executing->shards.erase(shard);
    };
    auto on_desc = [finish](std::expected<v1::ShardDescriptor, RequestError> r) { finish(r ? nullptr : &r.error()); };
    switch (step.kind()) {
      case v1::OperatorStep::ADD_LEARNER:
      case v1::OperatorStep::PROMOTE:
      case v1::OperatorStep::REMOVE: {
        v1::ChangeReplicasRequest req;
        req.set_shard_id(shard);
        *req.mutable_epoch() = step.epoch();
        req.set_change(step.kind() == v1::OperatorStep::ADD_LEARNER ? v1::ChangeReplicasRequest::ADD_LEARNER
                       : step.kind() == v1::OperatorStep::PROMOTE   ? v1::ChangeReplicasRequest::PROMOTE
                                                                    : v1::ChangeReplicasRequest::REMOVE);
        req.set_node_id(step.node_id());
        store_->ChangeReplicas(std::move(req), now + std::chrono::seconds(10), on_desc);
        break;
      }
      case v1::OperatorStep::TRANSFER_LEADER:
        store_->TransferLeader(shard, step.node_id(), now + std::chrono::seconds(5), on_desc);
        break;
      case v1::OperatorStep::SPLIT: {
        v1::SplitShardRequest req;
        req.set_shard_id(shard);
        *req.mutable_epoch() = step.epoch();
        req.set_split_key(step.split_key());
        store_->SplitShard(std::move(req), now + std::chrono::seconds(10),
                           [finish](std::expected<v1::SplitShardResponse, RequestError> r) {
                             finish(r ? nullptr : &r.error());
                           });
        break;
      }
      default:
        finish(nullptr);
        break;
    }
  }
}

}  // namespace claw::server
