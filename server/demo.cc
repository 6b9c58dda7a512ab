#include "server/demo.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "raft/memory_log_storage.h"
#include "raft/replica.h"

namespace claw::server {
namespace {

using raft::NodeId;

constexpr int kTickMs = 10;          // virtual time per tick
constexpr int kElectionTicks = 10;   // 100 ms
constexpr int kHibernateTicks = 20;  // 200 ms idle
constexpr int kLivenessTicks = 30;   // node liveness declares a silent node dead after 300 ms
constexpr int kMaxTicksPerPhase = 20'000;

struct ReplicaSlot {
  std::unique_ptr<raft::MemoryLogStorage> storage;
  std::unique_ptr<raft::Replica> replica;
  std::vector<std::string> applied;  // the state machine: applied commands, in order
};

struct DemoNode {
  NodeId id;
  bool up = true;
  std::vector<ReplicaSlot> groups;
};

struct Envelope {
  int group;
  raft::Message message;
};

class LocalCluster {
 public:
  explicit LocalCluster(const DemoOptions& o) : opts_(o) {
    raft::ConfState conf;
    for (int n = 1; n <= o.nodes; ++n) conf.voters.push_back(NodeId(uint64_t(n)));
    nodes_.resize(size_t(o.nodes));
    for (int n = 0; n < o.nodes; ++n) {
      nodes_[n].id = NodeId(uint64_t(n + 1));
      nodes_[n].groups.resize(size_t(o.groups));
      for (int g = 0; g < o.groups; ++g) {
        nodes_[n].groups[g].storage = std::make_unique<raft::MemoryLogStorage>(conf);
        StartReplica(n, g);
      }
    }
  }

  // Advances one tick: deliver last tick's messages, tick awake replicas, drain their Readys.
  void Step() {
    ++ticks_;
    std::deque<Envelope> inbox = std::move(network_);
    network_.clear();
    for (Envelope& env : inbox) {
      DemoNode& dst = nodes_[env.message.to.value() - 1];
      if (dst.up) dst.groups[env.group].replica->Step(std::move(env.message));
    }
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (!nodes_[n].up) continue;
      for (ReplicaSlot& slot : nodes_[n].groups) {
        if (!slot.replica->hibernating()) slot.replica->Tick();
      }
    }
    WakeFollowersOfDeadNodes();
    DrainAll();
  }

  void DrainAll() {
    for (DemoNode& node : nodes_) {
      if (!node.up) continue;
      for (size_t g = 0; g < node.groups.size(); ++g) Drain(node, int(g));
    }
  }

  // The group's leader if every live voter agrees on it.
  const DemoNode* LeaderOf(int g) const {
    for (const DemoNode& node : nodes_) {
      if (node.up && node.groups[g].replica->role() == raft::Role::kLeader) return &node;
    }
    return nullptr;
  }

  bool AllGroupsLed() const {
    for (int g = 0; g < opts_.groups; ++g) {
      if (LeaderOf(g) == nullptr) return false;
    }
    return true;
  }

  // Proposes `count` writes to each group's leader (retrying across ticks) and waits until every
  // live replica applied them.
  bool WriteAndWait(int count, const char* tag) {
    std::vector<int> proposed(size_t(opts_.groups), 0);
    for (int t = 0; t < kMaxTicksPerPhase; ++t) {
      for (int g = 0; g < opts_.groups; ++g) {
        const DemoNode* leader = LeaderOf(g);
        if (leader == nullptr) continue;
        auto& replica = *nodes_[leader->id.value() - 1].groups[g].replica;
        // A few per tick: the core batches them into one append per follower.
        for (int k = 0; k < 8 && proposed[g] < count; ++k) {
          std::string cmd =
              std::string(tag) + "-" + std::to_string(g) + "-" + std::to_string(proposed[g]);
          if (!replica.Propose(std::move(cmd))) break;
          ++proposed[g];
        }
      }
      DrainAll();
      Step();
      if (std::all_of(proposed.begin(), proposed.end(), [&](int p) { return p == count; }) &&
          Converged()) {
        return true;
      }
    }
    return false;
  }

  // Every live replica of every group has applied the same commands as the group's leader.
  bool Converged() const {
    for (int g = 0; g < opts_.groups; ++g) {
      const DemoNode* leader = LeaderOf(g);
      if (leader == nullptr) return false;
      const auto& reference = leader->groups[g].applied;
      const raft::LogIndex commit = leader->groups[g].replica->commit();
      if (leader->groups[g].replica->applied() != commit) return false;
      for (const DemoNode& node : nodes_) {
        if (node.up && node.groups[g].applied != reference) return false;
      }
    }
    return true;
  }

  int CountHibernating() const {
    int n = 0;
    for (const DemoNode& node : nodes_) {
      if (!node.up) continue;
      for (const ReplicaSlot& slot : node.groups) n += slot.replica->hibernating() ? 1 : 0;
    }
    return n;
  }

  int LeadersOn(int n) const {
    int count = 0;
    for (int g = 0; g < opts_.groups; ++g) {
      const DemoNode* leader = LeaderOf(g);
      count += leader != nullptr && leader == &nodes_[n] ? 1 : 0;
    }
    return count;
  }

  // kill -9: the node's memory is gone; its storage holds what was persisted (everything, here:
  // the demo's log writer syncs each write before acknowledging it).
  void Crash(int n) {
    nodes_[n].up = false;
    dead_since_[n] = ticks_;
    for (ReplicaSlot& slot : nodes_[n].groups) slot.replica.reset();
  }

  void Restart(int n) {
    nodes_[n].up = true;
    dead_since_.erase(n);
    for (int g = 0; g < opts_.groups; ++g) {
      // The state machine is rebuilt from the log: re-apply from the snapshot point.
      nodes_[n].groups[g].applied.clear();
      StartReplica(n, g);
    }
  }

  int ticks() const { return ticks_; }
  int nodes() const { return int(nodes_.size()); }
  uint64_t messages() const { return messages_; }

 private:
  void StartReplica(int n, int g) {
    raft::Options o;
    o.id = nodes_[n].id;
    o.election_ticks = kElectionTicks;
    o.heartbeat_ticks = 1;
    o.hibernate_after_ticks = kHibernateTicks;
    o.seed = opts_.seed * 1'000'003 + uint64_t(g);
    nodes_[n].groups[g].replica =
        std::make_unique<raft::Replica>(o, nodes_[n].groups[g].storage.get());
  }

  void Drain(DemoNode& node, int g) {
    ReplicaSlot& slot = node.groups[g];
    while (slot.replica->HasReady()) {
      raft::Ready rd = slot.replica->TakeReady();
      if (rd.snapshot) slot.storage->InstallSnapshot(*rd.snapshot);
      slot.storage->Append(std::move(rd.entries));
      if (rd.hard_state) slot.storage->SetHardState(*rd.hard_state);
      for (raft::Message& m : rd.messages) {
        ++messages_;
        network_.push_back(Envelope{.group = g, .message = std::move(m)});
      }
      for (const raft::Entry& e : rd.committed_entries) {
        if (e.type == raft::EntryType::kNormal && !e.data.empty()) slot.applied.push_back(e.data);
      }
      if (!rd.committed_entries.empty()) {
        slot.replica->OnApplied(rd.committed_entries.back().index);
      }
      if (rd.HasWrite()) slot.replica->OnPersisted(rd.write_id);
    }
  }

  // Node liveness: once a node has been silent long enough, wake the sleeping followers of the
  // groups it led so they can elect a new leader (the core cannot notice from a sleeping group).
  void WakeFollowersOfDeadNodes() {
    for (const auto& [dead, since] : dead_since_) {
      if (ticks_ - since < kLivenessTicks) continue;
      for (DemoNode& node : nodes_) {
        if (!node.up) continue;
        for (ReplicaSlot& slot : node.groups) {
          if (slot.replica->hibernating() && slot.replica->leader() == nodes_[dead].id) {
            slot.replica->WakeUp(raft::WakeReason::kLeaderSuspected);
          }
        }
      }
    }
  }

  DemoOptions opts_;
  std::vector<DemoNode> nodes_;
  std::deque<Envelope> network_;
  std::map<int, int> dead_since_;
  int ticks_ = 0;
  uint64_t messages_ = 0;
};

template <typename Done>
bool RunUntil(LocalCluster& c, Done done) {
  for (int t = 0; t < kMaxTicksPerPhase; ++t) {
    if (done()) return true;
    c.Step();
  }
  return done();
}

}  // namespace

int RunDemo(const DemoOptions& o, std::FILE* out) {
  LocalCluster c(o);
  std::fprintf(out,
               "clawd demo: %d nodes x %d groups (one Raft group per shard), %d ms ticks, "
               "virtual time\n\n",
               o.nodes, o.groups, kTickMs);
  auto ms = [&](int ticks) { return ticks * kTickMs; };
  bool ok = true;

  int start = c.ticks();
  if (!RunUntil(c, [&] { return c.AllGroupsLed(); })) {
    std::fprintf(out, "FAIL: not every group elected a leader\n");
    return 1;
  }
  std::fprintf(out, "1. elections: every group has a leader after %d ms; leaders per node:",
               ms(c.ticks() - start));
  for (int n = 0; n < c.nodes(); ++n) std::fprintf(out, " n%d=%d", n + 1, c.LeadersOn(n));
  std::fprintf(out, "\n");

  start = c.ticks();
  ok = c.WriteAndWait(o.writes_per_group, "a") && ok;
  std::fprintf(out, "2. writes: %d per group committed and applied on every replica in %d ms\n",
               o.writes_per_group, ms(c.ticks() - start));

  start = c.ticks();
  RunUntil(c, [&] { return c.CountHibernating() == o.nodes * o.groups; });
  std::fprintf(out,
               "3. idle: %d of %d replicas hibernating after %d ms (no ticks, no heartbeats)\n",
               c.CountHibernating(), o.nodes * o.groups, ms(c.ticks() - start));

  int victim = 0;
  for (int n = 1; n < c.nodes(); ++n) {
    if (c.LeadersOn(n) > c.LeadersOn(victim)) victim = n;
  }
  const int lost = c.LeadersOn(victim);
  c.Crash(victim);
  start = c.ticks();
  const bool failed_over = RunUntil(c, [&] { return c.AllGroupsLed(); });
  ok = failed_over && ok;
  std::fprintf(out,
               "4. crash: node n%d (leader of %d groups) killed; %s after %d ms "
               "(node liveness wakes sleeping followers after %d ms)\n",
               victim + 1, lost, failed_over ? "all groups led again" : "FAIL: groups leaderless",
               ms(c.ticks() - start), ms(kLivenessTicks));

  start = c.ticks();
  ok = c.WriteAndWait(o.writes_per_group, "b") && ok;
  std::fprintf(out, "5. writes with n%d down: %d more per group committed in %d ms\n", victim + 1,
               o.writes_per_group, ms(c.ticks() - start));

  c.Restart(victim);
  start = c.ticks();
  const bool caught_up = RunUntil(c, [&] { return c.Converged(); });
  ok = caught_up && ok;
  std::fprintf(out, "6. restart: n%d recovered from its log and %s in %d ms\n", victim + 1,
               caught_up ? "caught up" : "FAIL: did not catch up", ms(c.ticks() - start));

  const bool agree = c.Converged();
  ok = agree && ok;
  std::fprintf(out,
               "\n%s: %d groups x %d replicas hold identical histories of %d writes each; "
               "%llu messages in %d ms of virtual time\n",
               ok ? "OK" : "FAIL", o.groups, o.nodes, 2 * o.writes_per_group,
               static_cast<unsigned long long>(c.messages()), ms(c.ticks()));
  return ok ? 0 : 1;
}

}  // namespace claw::server
