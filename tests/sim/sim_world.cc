#include "tests/sim/sim_world.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "tests/sim/sim_checker.h"
#include "tests/sim/sim_world_internal.h"

namespace claw::sim {
namespace {

const char* RoleName(raft::Role r) {
  switch (r) {
    case raft::Role::kFollower:
      return "follower";
    case raft::Role::kPreCandidate:
      return "pre_candidate";
    case raft::Role::kCandidate:
      return "candidate";
    case raft::Role::kLeader:
      return "leader";
  }
  return "?";
}

std::string DescribeConf(const raft::ConfState& c) {
  std::ostringstream os;
  auto list = [&os](const char* name, const std::vector<raft::NodeId>& ids) {
    if (ids.empty()) return;
    os << name << "={";
    for (raft::NodeId v : ids) os << " n" << v.value();
    os << " }";
  };
  list("voters", c.voters);
  list(" learners", c.learners);
  list(" outgoing", c.voters_outgoing);
  list(" learners_next", c.learners_next);
  return os.str();
}

}  // namespace

uint64_t ChainHash(uint64_t prev, const raft::Entry& e) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : e.data) h = (h ^ c) * 0x100000001b3ull;
  return Mix64(prev ^ Mix64(e.index.value()) ^ Mix64(e.term.value() * 4 + uint64_t(e.type)) ^
               Mix64(h + e.data.size()));
}

// A message in flight, with the snapshot data riding along an InstallSnapshot.

World::World(const WorldConfig& config, Checker* checker)
    : config_(config),
      checker_(checker),
      rng_(DeriveSeed(config.seed, 0x776f726c64)),
      trace_(config.verbose_trace),
      nodes_(config.nodes),
      blocked_(config.nodes * config.nodes, false),
      pending_(config.groups),
      acked_(config.groups) {
  if (config_.suspect_after == 0) {
    config_.suspect_after = 2 * Time(config_.options.election_ticks) * config_.tick_period;
  }
  raft::ConfState bootstrap;
  for (int n = 0; n < config_.nodes; ++n) {
    if (config_.initial_voters.empty() ||
        std::find(config_.initial_voters.begin(), config_.initial_voters.end(), n) !=
            config_.initial_voters.end()) {
      bootstrap.voters.push_back(raft::NodeId(n + 1));
    }
  }
  for (int n = 0; n < config_.nodes; ++n) {
    Node& node = nodes_[n];
    const int64_t skew =
        int64_t(rng_.Below(2 * config_.max_tick_skew_ppm + 1)) - int64_t(config_.max_tick_skew_ppm);
    node.tick_period = Time(int64_t(config_.tick_period) * (1'000'000 + skew) / 1'000'000);
    node.min_sync = config_.min_sync;
    node.max_sync = config_.max_sync;
    node.groups.resize(config_.groups);
    node.is_dirty.assign(config_.groups, 0);
    node.unreachable_since.assign(config_.nodes, 0);
    for (GroupState& gs : node.groups) {
      gs.storage = std::make_unique<raft::MemoryLogStorage>(bootstrap);
      gs.durable_image.conf = bootstrap;
    }
  }
  for (int n = 0; n < config_.nodes; ++n) StartNode(n);
}

World::~World() = default;

bool World::failed() const { return checker_ != nullptr && checker_->failed(); }

void World::Violation(const std::string& what) {
  if (checker_ != nullptr) {
    checker_->Fail(what);
    return;
  }
  std::fprintf(stderr, "simulation violation without a checker: %s\n%s", what.c_str(),
               trace_.Dump().c_str());
  std::abort();
}

bool World::EventAfter(const Event& a, const Event& b) {
  return a.time != b.time ? a.time > b.time : a.seq > b.seq;
}

void World::Schedule(Event e) {
  e.seq = next_seq_++;
  events_.push_back(std::move(e));
  std::push_heap(events_.begin(), events_.end(), EventAfter);
}

void World::RunUntil(Time t) {
  while (!events_.empty() && events_.front().time <= t && !failed()) {
    std::pop_heap(events_.begin(), events_.end(), EventAfter);
    Event e = std::move(events_.back());
    events_.pop_back();
    now_ = e.time;
    Dispatch(e);
  }
  if (!failed()) now_ = std::max(now_, t);
}

void World::Dispatch(Event& e) {
  if (e.kind == EventKind::kDeliver) {
    OnDeliver(*e.env);
    return;
  }
  const Node& node = nodes_[e.node];
  if (!node.up || node.incarnation != e.incarnation) return;  // scheduled before a crash
  switch (e.kind) {
    case EventKind::kTick:
      OnTick(e.node);
      break;
    case EventKind::kSync:
      OnSync(e.node);
      break;
    case EventKind::kSnapshotReport:
      OnSnapshotReport(e.node, e.group, e.peer, e.outcome);
      break;
    case EventKind::kDeliver:
      break;
  }
}

// --- Nodes: start, crash, tick, liveness.

void World::StartNode(int n) {
  Node& node = nodes_[n];
  node.up = true;
  ++node.incarnation;
  node.last_restart = now_;
  for (int g = 0; g < config_.groups; ++g) {
    GroupState& gs = node.groups[g];
    gs.sm = gs.durable_image;
    gs.soft = raft::SoftState{};
    gs.incoming.clear();
    gs.snapshots_queued = 0;
    raft::Options o = config_.options;
    o.id = raft::NodeId(n + 1);
    o.applied = gs.storage->snapshot_point().index;
    o.seed = DeriveSeed(config_.seed, (uint64_t(n) << 48) ^ (uint64_t(g) << 16) ^ node.incarnation);
    gs.replica = std::make_unique<raft::Replica>(o, gs.storage.get());
    if (checker_ != nullptr) checker_->OnReplicaStarted(n, g, *gs.replica, *gs.storage, gs.sm);
    MarkDirty(n, g);
  }
  Event tick;
  tick.time = now_ + rng_.Range(1, node.tick_period);
  tick.kind = EventKind::kTick;
  tick.node = n;
  tick.incarnation = node.incarnation;
  Schedule(std::move(tick));
  ProcessNode(n);
}

void World::Crash(int n) {
  Node& node = nodes_[n];
  if (!node.up) return;
  TraceRecord r = Trace::At(now_, TraceKind::kCrash, n);
  r.a = node.writes.size();
  trace_.Add(r);
  ++stats_.crashes;
  node.up = false;
  node.writes.clear();
  node.sync_scheduled = false;
  node.dirty.clear();
  std::fill(node.is_dirty.begin(), node.is_dirty.end(), 0);
  for (int g = 0; g < config_.groups; ++g) {
    GroupState& gs = node.groups[g];
    gs.replica.reset();
    gs.soft = raft::SoftState{};
    gs.incoming.clear();
    gs.snapshots_queued = 0;
    // The client connections to this node are gone: its pending proposals are never acknowledged.
    for (auto it = pending_[g].begin(); it != pending_[g].end();) {
      std::erase_if(it->second, [n](const Proposal& p) { return p.node == n; });
      it = it->second.empty() ? pending_[g].erase(it) : std::next(it);
    }
  }
  if (checker_ != nullptr) checker_->OnCrash(n);
}

void World::Restart(int n) {
  if (nodes_[n].up) return;
  TraceRecord r = Trace::At(now_, TraceKind::kRestart, n);
  trace_.Add(r);
  StartNode(n);
}

void World::OnTick(int n) {
  Node& node = nodes_[n];
  for (int p = 0; p < config_.nodes; ++p) {
    const bool reachable = p == n || (Reachable(n, p) && Reachable(p, n));
    if (reachable) {
      node.unreachable_since[p] = 0;
    } else if (node.unreachable_since[p] == 0) {
      node.unreachable_since[p] = now_;
    }
  }
  for (int g = 0; g < config_.groups; ++g) {
    GroupState& gs = node.groups[g];
    if (gs.soft.hibernating) {
      MaybeWakeUp(n, g);
      continue;
    }
    gs.replica->Tick();
    MarkDirty(n, g);
  }
  Event tick;
  tick.time = now_ + node.tick_period;
  tick.kind = EventKind::kTick;
  tick.node = n;
  tick.incarnation = node.incarnation;
  Schedule(std::move(tick));
  ProcessNode(n);
}

// Node liveness, as the host sees it: the leader's node has been unreachable for suspect_after, or
// it restarted since the group fell asleep, or the group sleeps without knowing a leader.
void World::MaybeWakeUp(int n, int g) {
  Node& node = nodes_[n];
  GroupState& gs = node.groups[g];
  const raft::NodeId leader = gs.soft.leader;
  if (leader == raft::NodeId(n + 1)) return;
  bool suspect = false;
  if (leader == raft::kNoNode || leader.value() > uint64_t(config_.nodes)) {
    suspect = now_ - gs.hibernated_at >= config_.suspect_after;
  } else {
    const int p = int(leader.value() - 1);
    const Time since = node.unreachable_since[p];
    suspect = since != 0 && now_ - since >= config_.suspect_after;
    const Time restarted = nodes_[p].last_restart;
    if (restarted > gs.hibernated_at && now_ - restarted >= config_.suspect_after / 2) {
      suspect = true;
    }
  }
  if (!suspect) return;
  TraceRecord r = Trace::At(now_, TraceKind::kWakeUp, n, g);
  r.a = leader.value();
  trace_.Add(r);
  ++stats_.wakeups;
  gs.replica->WakeUp(raft::WakeReason::kLeaderSuspected);
  MarkDirty(n, g);
}

void World::SetSyncDelay(int n, Time min, Time max) {
  nodes_[n].min_sync = min;
  nodes_[n].max_sync = max;
}

// --- The log writer.

void World::OnSync(int n) {
  Node& node = nodes_[n];
  node.sync_scheduled = false;
  std::deque<PendingWrite> writes = std::move(node.writes);
  node.writes.clear();
  for (PendingWrite& w : writes) {
    GroupState& gs = node.groups[w.group];
    raft::MemoryLogStorage& storage = *gs.storage;
    if (w.snapshot) {
      const raft::SnapshotMeta& meta = *w.snapshot;
      storage.InstallSnapshot(meta);
      gs.durable_image = *w.image;
      Offer(gs, *w.image);
      if (checker_ != nullptr) checker_->OnSnapshotInstalled(n, w.group, gs.sm, *w.image, meta);
      gs.sm = *w.image;
      --gs.snapshots_queued;
      ++stats_.snapshots_installed;
    }
    if (!w.entries.empty()) {
      const raft::LogIndex front = w.entries.front().index;
      if (front < storage.FirstIndex() || front > storage.LastIndex() + 1) {
        std::ostringstream os;
        os << "write: g" << w.group << " n" << n + 1 << " write " << w.id << " appends at index "
           << front.value() << " but the durable log holds [" << storage.FirstIndex().value()
           << ", " << storage.LastIndex().value() << "]";
        Violation(os.str());
        return;
      }
      storage.Append(std::move(w.entries));
    }
    if (w.hard_state) {
      if (checker_ != nullptr) checker_->OnDurableHardState(n, w.group, *w.hard_state);
      storage.SetHardState(*w.hard_state);
    }
  }
  for (const PendingWrite& w : writes) {
    node.groups[w.group].replica->OnPersisted(w.id);
    MarkDirty(n, w.group);
  }
  ++stats_.syncs;
  TraceRecord r = Trace::At(now_, TraceKind::kSync, n);
  r.a = writes.size();
  trace_.Add(r);
  ProcessNode(n);
}

// --- The host loop.

void World::MarkDirty(int n, int g) {
  Node& node = nodes_[n];
  if (node.is_dirty[g]) return;
  node.is_dirty[g] = 1;
  node.dirty.push_back(g);
}

void World::ProcessNode(int n) {
  Node& node = nodes_[n];
  while (!node.dirty.empty()) {
    const int g = node.dirty.back();
    node.dirty.pop_back();
    node.is_dirty[g] = 0;
    GroupState& gs = node.groups[g];
    if (!gs.replica) continue;
    while (gs.replica->HasReady()) {
      HandleReady(n, g, gs.replica->TakeReady());
      if (failed()) return;
    }
    if (checker_ != nullptr) {
      checker_->AfterStep(n, g, *gs.replica, *gs.storage);
      if (failed()) return;
    }
  }
}

void World::HandleReady(int n, int g, raft::Ready r) {
  Node& node = nodes_[n];
  GroupState& gs = node.groups[g];
  if (r.soft_state) {
    const raft::SoftState& s = *r.soft_state;
    if (s.role == raft::Role::kLeader && gs.soft.role != raft::Role::kLeader) {
      ++stats_.leader_changes;
    }
    if (s.hibernating && !gs.soft.hibernating) gs.hibernated_at = now_;
    gs.soft = s;
    TraceRecord tr;
    tr.time = now_;
    tr.kind = TraceKind::kRole;
    tr.node = int16_t(n);
    tr.group = g;
    tr.term = gs.replica->term().value();
    tr.a = uint64_t(s.role);
    tr.b = s.leader.value();
    tr.c = s.hibernating ? 1 : 0;
    trace_.Add(tr);
  }
  if (checker_ != nullptr) {
    checker_->OnReady(n, g, *gs.replica, r, gs.sm);
    if (failed()) return;
  }
  if (r.HasWrite()) {
    PendingWrite w;
    w.group = g;
    w.id = r.write_id;
    if (r.snapshot) {
      const raft::SnapshotMeta& meta = *r.snapshot;
      auto it = gs.incoming.find(meta.index.value());
      if (it == gs.incoming.end() || it->second.applied_term != meta.term) {
        std::ostringstream os;
        os << "snapshot: g" << g << " n" << n + 1 << " is asked to install snapshot ("
           << meta.index.value() << ", term " << meta.term.value() << ") that it never received";
        Violation(os.str());
        return;
      }
      w.snapshot = meta;
      w.image = it->second;
      gs.incoming.erase(gs.incoming.begin(), std::next(it));
      ++gs.snapshots_queued;
    }
    w.entries = std::move(r.entries);
    w.hard_state = r.hard_state;
    node.writes.push_back(std::move(w));
    if (!node.sync_scheduled) {
      node.sync_scheduled = true;
      Event sync;
      sync.time = now_ + rng_.Range(node.min_sync, node.max_sync);
      sync.kind = EventKind::kSync;
      sync.node = n;
      sync.incarnation = node.incarnation;
      Schedule(std::move(sync));
    }
  } else if (r.snapshot || !r.entries.empty() || r.hard_state) {
    Violation("ready: a Ready carries a snapshot, entries or a hard state but no write id");
    return;
  }
  for (raft::Message& m : r.messages) {
    Send(n, g, std::move(m));
    if (failed()) return;
  }
  for (const raft::Entry& e : r.committed_entries) {
    Apply(n, g, e);
    if (failed()) return;
  }
  for (const raft::ReadState& rs : r.read_states) {
    TraceRecord tr;
    tr.time = now_;
    tr.kind = TraceKind::kReadState;
    tr.node = int16_t(n);
    tr.group = g;
    tr.a = rs.id.value();
    tr.b = rs.index.value();
    tr.c = rs.status == raft::ReadStatus::kReady ? 0 : 1;
    trace_.Add(tr);
    if (rs.status == raft::ReadStatus::kReady) ++stats_.reads_ready;
    if (checker_ != nullptr) checker_->OnReadState(n, g, rs);
  }
  if (!r.committed_entries.empty()) gs.replica->OnApplied(gs.sm.applied);
}

void World::Apply(int n, int g, const raft::Entry& e) {
  GroupState& gs = nodes_[n].groups[g];
  if (checker_ != nullptr) {
    checker_->OnApply(n, g, e, gs.sm);
    if (failed()) return;
  }
  gs.sm.hash = ChainHash(gs.sm.hash, e);
  gs.sm.applied = e.index;
  gs.sm.applied_term = e.term;
  if (e.type == raft::EntryType::kConfig) {
    auto conf = raft::DecodeConfState(e.data);
    if (!conf) {
      Violation("apply: a config entry does not decode: " + conf.error());
      return;
    }
    gs.sm.conf = std::move(*conf);
  }
  ++stats_.applied_entries;
  auto it = pending_[g].find(e.index.value());
  if (it == pending_[g].end()) return;
  std::vector<Proposal>& waiting = it->second;
  for (const Proposal& p : waiting) {
    if (p.node != n || p.term != e.term || p.data != e.data) continue;
    ++stats_.acked;
    if (config_.record_acked) acked_[g].insert(p.data);
  }
  std::erase_if(waiting, [n](const Proposal& p) { return p.node == n; });
  if (waiting.empty()) pending_[g].erase(it);
}

// --- Inspection.

World::GroupState& World::Gs(int n, int g) { return nodes_[n].groups[g]; }
const World::GroupState& World::Gs(int n, int g) const { return nodes_[n].groups[g]; }
bool World::up(int n) const { return nodes_[n].up; }
const raft::Replica* World::replica(int n, int g) const { return Gs(n, g).replica.get(); }
const raft::SoftState& World::soft_state(int n, int g) const { return Gs(n, g).soft; }
const StateMachine& World::state_machine(int n, int g) const { return Gs(n, g).sm; }
const raft::MemoryLogStorage& World::storage(int n, int g) const { return *Gs(n, g).storage; }

std::optional<int> World::FindLeader(int g) const {
  std::optional<int> best;
  raft::Term best_term;
  for (int n = 0; n < config_.nodes; ++n) {
    const GroupState& gs = Gs(n, g);
    if (!nodes_[n].up || gs.soft.role != raft::Role::kLeader) continue;
    if (!best || gs.replica->term() > best_term) {
      best = n;
      best_term = gs.replica->term();
    }
  }
  return best;
}

bool World::Acked(int g, const std::string& data) const { return acked_[g].contains(data); }

std::string World::Describe() const {
  std::ostringstream os;
  for (int n = 0; n < config_.nodes; ++n) {
    const Node& node = nodes_[n];
    os << "  n" << n + 1 << (node.up ? " up" : " DOWN") << " tick_period=" << node.tick_period
       << "us queued_writes=" << node.writes.size() << "\n";
    for (int g = 0; g < config_.groups; ++g) {
      const GroupState& gs = node.groups[g];
      const raft::HardState& hs = gs.storage->hard_state();
      os << "    g" << g;
      if (gs.replica) {
        const raft::Replica& r = *gs.replica;
        os << " " << RoleName(r.role()) << (gs.soft.hibernating ? "(hibernating)" : "")
           << " term=" << r.term().value() << " leader=n" << r.leader().value()
           << " commit=" << r.commit().value() << " last=" << r.last_index().value();
        if (r.conf() != gs.sm.conf) os << " conf=" << DescribeConf(r.conf()) << " applied_conf=";
      }
      os << " applied=" << gs.sm.applied.value() << " disk=[" << gs.storage->FirstIndex().value()
         << "," << gs.storage->LastIndex().value() << "] hs=(t" << hs.term.value() << ",v"
         << hs.vote.value() << ",c" << hs.commit.value() << ") " << DescribeConf(gs.sm.conf)
         << "\n";
    }
  }
  return os.str();
}

}  // namespace claw::sim
