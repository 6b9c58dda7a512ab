// The World's inputs: the network (send, delivery, faults) and client requests. See sim_world.h;
// the nodes, the log writer and the host loop are in sim_world.cc.
#include "tests/sim/sim_world.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "tests/sim/sim_checker.h"
#include "tests/sim/sim_world_internal.h"

namespace claw::sim {

// --- The network.

bool World::Reachable(int from, int to) const { return nodes_[to].up && !blocked(from, to); }

void World::Send(int n, int g, raft::Message m) {
  const uint64_t to_id = m.to.value();
  if (to_id == 0 || to_id > uint64_t(config_.nodes) || to_id == uint64_t(n + 1)) {
    Violation("send: g" + std::to_string(g) + " n" + std::to_string(n + 1) +
              " sends a message to node " + std::to_string(to_id));
    return;
  }
  const int to = int(to_id - 1);
  auto env = std::make_unique<Envelope>();
  env->from = n;
  env->to = to;
  env->group = g;
  env->from_incarnation = nodes_[n].incarnation;
  env->to_incarnation = nodes_[to].incarnation;
  if (const auto* snap = std::get_if<raft::InstallSnapshot>(&m.body)) {
    GroupState& gs = nodes_[n].groups[g];
    const raft::SnapshotMeta& meta = snap->meta;
    auto offered = gs.offered.find(meta.index.value());
    if (offered != gs.offered.end() && offered->second.applied_term == meta.term) {
      env->image = offered->second;
      if (config_.refresh_snapshots && gs.sm.applied > meta.index) Offer(gs, gs.sm);
    } else {
      std::ostringstream os;
      os << "snapshot: g" << g << " n" << n + 1 << " ships snapshot (" << meta.index.value()
         << ", term " << meta.term.value() << ") that its host never offered";
      Violation(os.str());
      return;
    }
    ++stats_.snapshots_sent;
  }
  env->msg = std::move(m);
  if (!Reachable(n, to)) {
    // The transport knows the connection is down.
    nodes_[n].groups[g].replica->ReportUnreachable(env->msg.to);
    MarkDirty(n, g);
    DropEnvelope(*env, "unreachable");
    return;
  }
  if (faults_.drop_ppm != 0 && rng_.ChancePpm(faults_.drop_ppm)) {
    DropEnvelope(*env, "drop");
    return;
  }
  auto delay = [this] {
    if (faults_.spike_ppm != 0 && rng_.ChancePpm(faults_.spike_ppm)) {
      return rng_.Range(config_.max_delay, config_.spike_delay);
    }
    return rng_.Range(config_.min_delay, config_.max_delay);
  };
  if (faults_.duplicate_ppm != 0 && rng_.ChancePpm(faults_.duplicate_ppm)) {
    Event dup;
    dup.time = now_ + delay();
    dup.kind = EventKind::kDeliver;
    dup.env = std::make_unique<Envelope>(*env);
    dup.env->original = false;
    Schedule(std::move(dup));
    ++stats_.duplicated;
  }
  Event e;
  e.time = now_ + delay();
  e.kind = EventKind::kDeliver;
  e.env = std::move(env);
  Schedule(std::move(e));
}

void World::DropEnvelope(const Envelope& env, const char* /*why*/) {
  ++stats_.dropped;
  trace_.Add(Trace::ForMessage(now_, TraceKind::kDrop, env.group, env.msg));
  if (env.original && std::holds_alternative<raft::InstallSnapshot>(env.msg.body)) {
    ScheduleSnapshotReport(env, raft::SnapshotOutcome::kFailed);
  }
}

// The sender's transport learns, a network delay later, whether its snapshot arrived.
void World::ScheduleSnapshotReport(const Envelope& env, raft::SnapshotOutcome outcome) {
  Event report;
  report.time = now_ + rng_.Range(config_.min_delay, config_.max_delay);
  report.kind = EventKind::kSnapshotReport;
  report.node = env.from;
  report.incarnation = env.from_incarnation;
  report.group = env.group;
  report.peer = env.to;
  report.outcome = outcome;
  Schedule(std::move(report));
}

void World::OnDeliver(Envelope& env) {
  Node& dst = nodes_[env.to];
  if (!dst.up || dst.incarnation != env.to_incarnation) {
    DropEnvelope(env, "destination restarted");
    return;
  }
  if (blocked(env.from, env.to)) {
    DropEnvelope(env, "partition");
    return;
  }
  GroupState& gs = dst.groups[env.group];
  if (const auto* snap = std::get_if<raft::InstallSnapshot>(&env.msg.body)) {
    gs.incoming[snap->meta.index.value()] = *env.image;
    if (env.original) {
      ScheduleSnapshotReport(env, raft::SnapshotOutcome::kSent);
    }
  }
  ++stats_.delivered;
  trace_.Add(Trace::ForMessage(now_, TraceKind::kDeliver, env.group, env.msg));
  gs.replica->Step(std::move(env.msg));
  MarkDirty(env.to, env.group);
  ProcessNode(env.to);
}

void World::OnSnapshotReport(int n, int g, int peer, raft::SnapshotOutcome outcome) {
  nodes_[n].groups[g].replica->ReportSnapshot(raft::NodeId(peer + 1), outcome);
  MarkDirty(n, g);
  ProcessNode(n);
}

void World::SetFaults(const NetworkFaults& f) {
  faults_ = f;
  TraceFaults();
}

void World::SetLink(int from, int to, Link state) {
  blocked_[from * config_.nodes + to] = state == Link::kBlocked;
  TraceFaults();
}

void World::Partition(const std::vector<int>& side) {
  std::vector<bool> in_side(config_.nodes, false);
  for (int n : side) in_side[n] = true;
  for (int a = 0; a < config_.nodes; ++a) {
    for (int b = 0; b < config_.nodes; ++b) {
      if (in_side[a] != in_side[b]) blocked_[a * config_.nodes + b] = true;
    }
  }
  TraceFaults();
}

void World::Isolate(int node) { Partition({node}); }

void World::HealPartitions() {
  std::fill(blocked_.begin(), blocked_.end(), false);
  TraceFaults();
}

void World::TraceFaults() {
  TraceRecord r = Trace::At(now_, TraceKind::kFault, -1);
  r.a = faults_.drop_ppm;
  r.b = faults_.duplicate_ppm;
  r.c = uint64_t(std::count(blocked_.begin(), blocked_.end(), true));
  r.d = faults_.spike_ppm;
  trace_.Add(r);
}

// --- Client requests.

std::expected<raft::LogIndex, raft::ProposeError> World::Propose(int n, int g, std::string data) {
  if (!nodes_[n].up) return std::unexpected(raft::ProposeError::kNotLeader);
  GroupState& gs = nodes_[n].groups[g];
  auto result = gs.replica->Propose(data);
  TraceRecord r = Trace::At(now_, TraceKind::kPropose, n, g);
  r.term = gs.replica->term().value();
  r.a = result ? result->value() : 0;
  r.b = result ? 0 : uint64_t(result.error()) + 1;
  trace_.Add(r);
  if (result) {
    ++stats_.proposals;
    pending_[g][result->value()].push_back(Proposal{n, gs.replica->term(), std::move(data)});
  }
  MarkDirty(n, g);
  ProcessNode(n);
  return result;
}

size_t World::ProposeBatch(int n, int g, std::vector<std::string> values) {
  if (!nodes_[n].up) return 0;
  GroupState& gs = nodes_[n].groups[g];
  size_t accepted = 0;
  for (std::string& v : values) {
    auto result = gs.replica->Propose(v);
    if (!result) break;
    ++accepted;
    ++stats_.proposals;
    pending_[g][result->value()].push_back(Proposal{n, gs.replica->term(), std::move(v)});
  }
  MarkDirty(n, g);
  ProcessNode(n);
  return accepted;
}

std::expected<raft::LogIndex, raft::ProposeError> World::ProposeConfChange(
    int n, int g, const raft::ConfChange& change) {
  if (!nodes_[n].up) return std::unexpected(raft::ProposeError::kNotLeader);
  GroupState& gs = nodes_[n].groups[g];
  auto result = gs.replica->ProposeConfChange(change);
  TraceRecord r = Trace::At(now_, TraceKind::kConfChange, n, g);
  r.a = result ? result->value() : 0;
  r.b = result ? 0 : uint64_t(result.error());
  r.c = change.steps.size();
  trace_.Add(r);
  if (result) ++stats_.conf_changes;
  MarkDirty(n, g);
  ProcessNode(n);
  return result;
}

void World::ReadIndex(int n, int g) {
  if (!nodes_[n].up) return;
  const raft::ReadId id(next_read_id_++);
  if (checker_ != nullptr) checker_->OnReadRequested(g, id);
  TraceRecord r = Trace::At(now_, TraceKind::kRead, n, g);
  r.a = id.value();
  r.b = checker_ != nullptr ? checker_->known_commit(g) : 0;
  trace_.Add(r);
  ++stats_.reads_requested;
  nodes_[n].groups[g].replica->ReadIndex(id);
  MarkDirty(n, g);
  ProcessNode(n);
}

void World::TransferLeadership(int n, int g, int target) {
  if (!nodes_[n].up) return;
  TraceRecord r = Trace::At(now_, TraceKind::kTransfer, n, g);
  r.a = uint64_t(target + 1);
  trace_.Add(r);
  ++stats_.transfers;
  nodes_[n].groups[g].replica->TransferLeadership(raft::NodeId(target + 1));
  MarkDirty(n, g);
  ProcessNode(n);
}

void World::Campaign(int n, int g) {
  if (!nodes_[n].up) return;
  TraceRecord r = Trace::At(now_, TraceKind::kCampaign, n, g);
  trace_.Add(r);
  nodes_[n].groups[g].replica->Campaign();
  MarkDirty(n, g);
  ProcessNode(n);
}

bool World::Compact(int n, int g) {
  if (!nodes_[n].up) return false;
  GroupState& gs = nodes_[n].groups[g];
  raft::MemoryLogStorage& storage = *gs.storage;
  const raft::LogIndex through = gs.sm.applied;
  if (through <= storage.snapshot_point().index || gs.snapshots_queued > 0) return false;
  if (through > storage.LastIndex()) {
    Violation("apply: g" + std::to_string(g) + " n" + std::to_string(n + 1) + " applied index " +
              std::to_string(through.value()) + " beyond its durable log end " +
              std::to_string(storage.LastIndex().value()));
    return false;
  }
  storage.Compact(through, gs.sm.conf);
  if (storage.snapshot_point().term != gs.sm.applied_term) {
    Violation("apply: g" + std::to_string(g) + " n" + std::to_string(n + 1) +
              " applied an entry whose term differs from its durable log at index " +
              std::to_string(through.value()));
    return false;
  }
  gs.durable_image = gs.sm;
  Offer(gs, gs.sm);
  ++stats_.compactions;
  TraceRecord r = Trace::At(now_, TraceKind::kCompact, n, g);
  r.a = through.value();
  trace_.Add(r);
  return true;
}

void World::Offer(GroupState& gs, const StateMachine& image) {
  gs.storage->SetShippableSnapshot(
      raft::SnapshotMeta{image.applied, image.applied_term, image.conf});
  gs.offered[image.applied.value()] = image;
  while (gs.offered.size() > 4) gs.offered.erase(gs.offered.begin());
}

}  // namespace claw::sim
