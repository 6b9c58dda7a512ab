// Test harness for the Raft core: N replicas of one group, each over its own MemoryLogStorage, in
// one thread, driven by hand. No threads, no sleeps, no sockets.
//
// The harness plays the host of replica.h's class comment:
//   - Drain(id) takes every Ready of a replica and, in the contract's order, persists the write
//   into
//     the replica's storage (snapshot, entries, hard state), calls OnPersisted, queues the messages
//     in the cluster's outbox, applies the committed entries (then OnApplied) and collects the
//     read states. A replica in Persistence::kManual keeps its writes pending until Persist(id).
//   - Deliver / DeliverRound / Stabilize move messages from the outbox into Step(), through the
//     network model: down nodes, cut links and an optional intercept that may drop or rewrite.
//   - Tick / TickAll advance time (hibernating replicas are not ticked, as a host would do).
// Every Drain also checks two safety properties: at most one leader per term, and every replica
// applies the same entry at each index.
//
// Test-only; header-only so that each *_test.cc includes it. Uses Catch2 assertions.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "raft/conf_change.h"
#include "raft/log_storage.h"
#include "raft/memory_log_storage.h"
#include "raft/message.h"
#include "raft/options.h"
#include "raft/ready.h"
#include "raft/replica.h"
#include "raft/types.h"

namespace Catch {

template <typename Tag>
struct StringMaker<claw::raft::StrongU64<Tag>> {
  static std::string convert(const claw::raft::StrongU64<Tag>& v) {
    return std::to_string(v.value());
  }
};
template <typename Tag>
struct StringMaker<claw::raft::Counter<Tag>> {
  static std::string convert(const claw::raft::Counter<Tag>& v) {
    return std::to_string(v.value());
  }
};
template <>
struct StringMaker<claw::raft::Role> {
  static std::string convert(claw::raft::Role r) {
    switch (r) {
      case claw::raft::Role::kFollower:
        return "Follower";
      case claw::raft::Role::kPreCandidate:
        return "PreCandidate";
      case claw::raft::Role::kCandidate:
        return "Candidate";
      case claw::raft::Role::kLeader:
        return "Leader";
    }
    return "Role?";
  }
};
template <>
struct StringMaker<claw::raft::ProposeError> {
  static std::string convert(claw::raft::ProposeError e) {
    switch (e) {
      case claw::raft::ProposeError::kNotLeader:
        return "kNotLeader";
      case claw::raft::ProposeError::kTransferring:
        return "kTransferring";
      case claw::raft::ProposeError::kUncommittedLimit:
        return "kUncommittedLimit";
      case claw::raft::ProposeError::kConfChangePending:
        return "kConfChangePending";
      case claw::raft::ProposeError::kNotReady:
        return "kNotReady";
      case claw::raft::ProposeError::kInvalidConfChange:
        return "kInvalidConfChange";
    }
    return "ProposeError?";
  }
};
template <>
struct StringMaker<claw::raft::ProgressState> {
  static std::string convert(claw::raft::ProgressState s) {
    switch (s) {
      case claw::raft::ProgressState::kProbe:
        return "kProbe";
      case claw::raft::ProgressState::kReplicate:
        return "kReplicate";
      case claw::raft::ProgressState::kSnapshot:
        return "kSnapshot";
    }
    return "ProgressState?";
  }
};
template <>
struct StringMaker<claw::raft::ReadStatus> {
  static std::string convert(claw::raft::ReadStatus s) {
    return s == claw::raft::ReadStatus::kReady ? "kReady" : "kDropped";
  }
};
template <>
struct StringMaker<claw::raft::LogError> {
  static std::string convert(claw::raft::LogError e) {
    return e == claw::raft::LogError::kCompacted ? "kCompacted" : "kUnavailable";
  }
};
template <>
struct StringMaker<std::vector<claw::raft::NodeId>> {
  static std::string convert(const std::vector<claw::raft::NodeId>& ids) {
    std::string out = "{";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out += ",";
      out += std::to_string(ids[i].value());
    }
    return out + "}";
  }
};
template <>
struct StringMaker<claw::raft::ConfState> {
  static std::string convert(const claw::raft::ConfState& c) {
    using Ids = StringMaker<std::vector<claw::raft::NodeId>>;
    return "voters=" + Ids::convert(c.voters) + " learners=" + Ids::convert(c.learners) +
           " outgoing=" + Ids::convert(c.voters_outgoing) +
           " learners_next=" + Ids::convert(c.learners_next);
  }
};

}  // namespace Catch

namespace claw::raft::test {

// ---- Small constructors for values ---------------------------------------------------------

constexpr NodeId Id(uint64_t v) { return NodeId(v); }
constexpr Term T(uint64_t v) { return Term(v); }
constexpr LogIndex Ix(uint64_t v) { return LogIndex(v); }

inline std::vector<NodeId> Ids(const std::vector<uint64_t>& ids) {
  std::vector<NodeId> out;
  for (uint64_t id : ids) out.push_back(NodeId(id));
  return out;
}

inline ConfState MakeConf(const std::vector<uint64_t>& voters,
                          const std::vector<uint64_t>& learners = {}) {
  ConfState conf;
  conf.voters = Ids(voters);
  conf.learners = Ids(learners);
  return conf;
}

// `conf` in canonical form (sorted lists), for comparisons.
inline ConfState Normalized(ConfState conf) {
  Normalize(conf);
  return conf;
}

inline Entry MakeEntry(uint64_t term, uint64_t index, std::string data = {},
                       EntryType type = EntryType::kNormal) {
  Entry e;
  e.term = Term(term);
  e.index = LogIndex(index);
  e.type = type;
  e.data = std::move(data);
  return e;
}

// Entries at indexes 1..terms.size() with the given terms; data names (term, index) so that two
// conflicting entries never compare equal.
inline std::vector<Entry> LogWithTerms(const std::vector<uint64_t>& terms) {
  std::vector<Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) {
    out.push_back(
        MakeEntry(terms[i], i + 1, "t" + std::to_string(terms[i]) + "i" + std::to_string(i + 1)));
  }
  return out;
}

inline std::vector<uint64_t> TermsOf(const std::vector<Entry>& entries) {
  std::vector<uint64_t> out;
  for (const Entry& e : entries) out.push_back(e.term.value());
  return out;
}

inline uint64_t PayloadBytes(const std::vector<Entry>& entries) {
  uint64_t n = 0;
  for (const Entry& e : entries) n += e.PayloadSize();
  return n;
}

// The error of a std::expected, or nullopt when it holds a value.
template <typename V, typename E>
std::optional<E> ErrorOf(const std::expected<V, E>& x) {
  if (x.has_value()) return std::nullopt;
  return x.error();
}

// Proposes on a replica that must accept; returns the entry's index.
inline LogIndex MustPropose(Replica& r, std::string data) {
  auto index = r.Propose(std::move(data));
  REQUIRE(index.has_value());
  return *index;
}

// ---- Messages ------------------------------------------------------------------------------

template <typename B>
const B* BodyOf(const Message& m) {
  return std::get_if<B>(&m.body);
}

template <typename B>
bool Is(const Message& m) {
  return std::holds_alternative<B>(m.body);
}

// Messages of body type B, optionally only those from `from` and/or to `to` (kNoNode = any).
template <typename B>
std::vector<Message> Select(const std::vector<Message>& msgs, NodeId from = kNoNode,
                            NodeId to = kNoNode) {
  std::vector<Message> out;
  for (const Message& m : msgs) {
    if (!Is<B>(m)) continue;
    if (from != kNoNode && m.from != from) continue;
    if (to != kNoNode && m.to != to) continue;
    out.push_back(m);
  }
  return out;
}

template <typename B>
size_t CountOf(const std::vector<Message>& msgs, NodeId from = kNoNode, NodeId to = kNoNode) {
  return Select<B>(msgs, from, to).size();
}

inline std::string Describe(const Message& m) {
  std::ostringstream out;
  out << MessageTypeName(m) << " " << m.from.value() << "->" << m.to.value() << " t"
      << m.term.value();
  if (const auto* a = BodyOf<AppendRequest>(m)) {
    out << " prev=" << a->prev_index.value() << "/" << a->prev_term.value()
        << " commit=" << a->commit.value() << " n=" << a->entries.size();
  } else if (const auto* r = BodyOf<AppendResponse>(m)) {
    out << " index=" << r->index.value() << (r->rejected ? " rejected" : "")
        << " hint=" << r->reject_hint.value() << "/" << r->hint_term.value();
  } else if (const auto* v = BodyOf<VoteResponse>(m)) {
    out << (v->granted ? " granted" : " refused");
  }
  return out.str();
}

// ---- The cluster ---------------------------------------------------------------------------

enum class Persistence : uint8_t {
  kAuto,    // every write is persisted and acknowledged as soon as it is taken
  kManual,  // writes wait in TestNode::unpersisted until Cluster::Persist(id)
};

enum class SnapshotReports : uint8_t {
  kAuto,    // the sender gets ReportSnapshot(kSent) on delivery and (kFailed) on a drop
  kManual,  // the test calls ReportSnapshot itself
};

// One Ready's write, as the host hands it to its log writer.
struct PendingWrite {
  std::optional<SnapshotMeta> snapshot;
  std::vector<Entry> entries;
  std::optional<HardState> hard_state;
  WriteId id = 0;
};

struct TestNode {
  NodeId id;
  Options options;
  std::unique_ptr<MemoryLogStorage> storage;
  std::unique_ptr<Replica> replica;
  bool up = true;
  Persistence persistence = Persistence::kAuto;
  std::deque<PendingWrite> unpersisted;
  std::vector<Entry> applied;  // every entry applied, in order (snapshots skip ahead)
  LogIndex applied_index;
  std::vector<ReadState> read_states;
  std::vector<SnapshotMeta> installed_snapshots;
  std::vector<SoftState> soft_states;  // every SoftState a Ready reported, in order
  std::vector<Ready> kept_readies;     // filled only while keep_readies is set
  bool keep_readies = false;
  WriteId last_write_id = 0;  // of the current incarnation
  LogIndex last_commit;       // of the current incarnation
};

class Cluster {
 public:
  using Tweak = std::function<void(Options&)>;
  // Returns false to drop the message; may rewrite it.
  using Intercept = std::function<bool(Message&)>;

  static Options DefaultOptions(NodeId id) {
    Options o;
    o.id = id;
    o.seed = id.value() * 0x9e3779b97f4a7c15ull + 17;
    return o;
  }

  Cluster() = default;

  // A brand-new group whose voters are 1..voters, every storage bootstrapped with that conf.
  explicit Cluster(uint64_t voters, const Tweak& tweak = {}) {
    std::vector<uint64_t> ids;
    for (uint64_t i = 1; i <= voters; ++i) ids.push_back(i);
    const ConfState conf = MakeConf(ids);
    for (uint64_t id : ids) Add(id, std::make_unique<MemoryLogStorage>(conf), tweak);
  }

  // A new group with `conf`; `members` get a bootstrapped storage each.
  Cluster(const ConfState& conf, const std::vector<uint64_t>& members, const Tweak& tweak = {}) {
    for (uint64_t id : members) Add(id, std::make_unique<MemoryLogStorage>(conf), tweak);
  }

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  TestNode& Add(uint64_t id, std::unique_ptr<MemoryLogStorage> storage, const Tweak& tweak = {}) {
    REQUIRE(nodes_.count(id) == 0);
    TestNode n;
    n.id = NodeId(id);
    n.options = DefaultOptions(NodeId(id));
    if (tweak) tweak(n.options);
    n.storage = std::move(storage);
    n.applied_index = n.options.applied;
    n.replica = std::make_unique<Replica>(n.options, n.storage.get());
    auto [it, inserted] = nodes_.emplace(id, std::move(n));
    REQUIRE(inserted);
    return it->second;
  }

  // A node outside the group (empty log, empty configuration) that joins through a conf change.
  TestNode& AddBlank(uint64_t id, const Tweak& tweak = {}) {
    return Add(id, std::make_unique<MemoryLogStorage>(), tweak);
  }

  bool Has(uint64_t id) const { return nodes_.count(id) != 0; }
  TestNode& node(uint64_t id) {
    auto it = nodes_.find(id);
    REQUIRE(it != nodes_.end());
    return it->second;
  }
  Replica& operator[](uint64_t id) {
    TestNode& n = node(id);
    REQUIRE(n.replica != nullptr);
    return *n.replica;
  }
  MemoryLogStorage& storage(uint64_t id) { return *node(id).storage; }
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }

  // ---- Ready handling ----------------------------------------------------------------------

  void SetPersistence(uint64_t id, Persistence p) { node(id).persistence = p; }
  void SetSnapshotReports(SnapshotReports r) { snapshot_reports_ = r; }

  // Takes and handles Readies until the replica has none.
  void Drain(uint64_t id) {
    TestNode& n = node(id);
    if (!n.up) return;
    for (int i = 0; n.replica->HasReady(); ++i) {
      REQUIRE(i < 1000);
      Handle(n, n.replica->TakeReady());
    }
    CheckSafety(n);
  }

  void DrainAll() {
    for (uint64_t id : ids()) Drain(id);
  }

  // Persists every pending write of a kManual replica, in order, then drains it.
  void Persist(uint64_t id) {
    TestNode& n = node(id);
    while (!n.unpersisted.empty()) {
      PendingWrite w = std::move(n.unpersisted.front());
      n.unpersisted.pop_front();
      WriteToStorage(n, w);
      n.replica->OnPersisted(w.id);
    }
    Drain(id);
  }

  // Takes one Ready without handling it, for inspection; hand it back with HandleReady.
  Ready TakeReady(uint64_t id) {
    Replica& r = (*this)[id];
    REQUIRE(r.HasReady());
    return r.TakeReady();
  }
  void HandleReady(uint64_t id, Ready rd) {
    Handle(node(id), std::move(rd));
    Drain(id);
  }

  // ---- Network -----------------------------------------------------------------------------

  std::vector<Message>& outbox() { return outbox_; }
  std::vector<Message> TakeOutbox() { return std::exchange(outbox_, {}); }
  // Every message a replica emitted since construction or ClearSent(), in order.
  const std::vector<Message>& sent() const { return sent_; }
  void ClearSent() { sent_.clear(); }
  // Every message that reached Step(), in order.
  const std::vector<Message>& delivered() const { return delivered_; }

  void SetIntercept(Intercept f) { intercept_ = std::move(f); }
  void ClearIntercept() { intercept_ = nullptr; }
  void CutOneWay(uint64_t from, uint64_t to) { cut_.insert({from, to}); }
  void Cut(uint64_t a, uint64_t b) {
    CutOneWay(a, b);
    CutOneWay(b, a);
  }
  void Isolate(uint64_t id) {
    for (uint64_t other : ids()) {
      if (other != id) Cut(id, other);
    }
  }
  // Restores every link and removes the intercept.
  void Heal() {
    cut_.clear();
    intercept_ = nullptr;
  }

  // Passes `m` through the network model into its destination's Step(). Returns whether it
  // arrived. Does not drain the destination.
  bool Deliver(Message m) {
    const uint64_t from = m.from.value();
    const uint64_t to = m.to.value();
    bool ok = nodes_.count(to) != 0 && node(to).up && node(to).replica != nullptr &&
              cut_.count({from, to}) == 0;
    if (ok && intercept_) ok = intercept_(m);
    const bool is_snapshot = Is<InstallSnapshot>(m);
    if (ok) {
      delivered_.push_back(m);
      node(to).replica->Step(std::move(m));
    }
    if (is_snapshot && snapshot_reports_ == SnapshotReports::kAuto && Has(from) && node(from).up) {
      node(from).replica->ReportSnapshot(NodeId(to),
                                         ok ? SnapshotOutcome::kSent : SnapshotOutcome::kFailed);
    }
    return ok;
  }

  // Delivers everything in the outbox, then drains every replica. Returns how many were taken.
  size_t DeliverRound() {
    std::vector<Message> batch = TakeOutbox();
    for (Message& m : batch) Deliver(std::move(m));
    DrainAll();
    return batch.size();
  }

  // Delivers messages until the outbox stays empty (no ticks).
  void Stabilize(int max_rounds = 2000) {
    DrainAll();
    for (int round = 0; !outbox_.empty(); ++round) {
      if (round >= max_rounds) {
        std::string tail;
        for (size_t i = 0; i < outbox_.size() && i < 10; ++i) tail += Describe(outbox_[i]) + "; ";
        FAIL("cluster did not stabilize; outbox: " << tail);
      }
      DeliverRound();
    }
  }

  // ---- Time --------------------------------------------------------------------------------

  // Ticks one replica n times (even when hibernating), draining after each tick.
  void Tick(uint64_t id, int n = 1) {
    for (int i = 0; i < n; ++i) {
      (*this)[id].Tick();
      Drain(id);
    }
  }

  // Ticks every replica that is up and not hibernating, n times; messages stay in the outbox.
  void TickAll(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, node_ref] : nodes_) {
        if (!node_ref.up || node_ref.replica->hibernating()) continue;
        node_ref.replica->Tick();
      }
      DrainAll();
    }
  }

  // n times: one tick of every replica, then Stabilize.
  void TickAndStabilize(int n = 1) {
    for (int i = 0; i < n; ++i) {
      TickAll(1);
      Stabilize();
    }
  }

  // Stabilizes, then ticks and stabilizes until `done()` holds. Returns the ticks it took, or -1
  // after max_ticks ticks.
  int RunUntil(const std::function<bool()>& done, int max_ticks) {
    Stabilize();
    for (int t = 0; t <= max_ticks; ++t) {
      if (done()) return t;
      if (t == max_ticks) break;
      TickAndStabilize(1);
    }
    return -1;
  }

  // ---- Elections ---------------------------------------------------------------------------

  // Every up replica lives through its first election timeout (during which voters refuse
  // campaigns, see replica.h); whatever they send meanwhile is dropped.
  void WarmUp() {
    int max_ticks = 0;
    for (auto& [id, n] : nodes_) max_ticks = std::max(max_ticks, n.options.election_ticks);
    for (int i = 0; i < max_ticks; ++i) TickAll(1);
    outbox_.clear();
  }

  // WarmUp, then `id` campaigns and wins; then one heartbeat round so that every follower also
  // knows the commit of the new leader's first entry.
  void Elect(uint64_t id) {
    WarmUp();
    (*this)[id].Campaign();
    Stabilize();
    REQUIRE((*this)[id].role() == Role::kLeader);
    TickAndStabilize(1);
    REQUIRE((*this)[id].role() == Role::kLeader);
  }

  // The up replica that is leader in the highest term, or 0.
  uint64_t Leader() {
    uint64_t best = 0;
    Term best_term;
    for (auto& [id, n] : nodes_) {
      if (!n.up || n.replica->role() != Role::kLeader) continue;
      if (best == 0 || n.replica->term() > best_term) {
        best = id;
        best_term = n.replica->term();
      }
    }
    return best;
  }

  // ---- Faults ------------------------------------------------------------------------------

  // Stops the replica; writes not yet persisted are lost, the storage stays.
  void Crash(uint64_t id) {
    TestNode& n = node(id);
    n.replica.reset();
    n.unpersisted.clear();
    n.up = false;
  }

  // Starts a new replica over the crashed one's storage, with the host's applied index.
  void Restart(uint64_t id, const Tweak& tweak = {}) {
    TestNode& n = node(id);
    REQUIRE(!n.up);
    n.options.applied = n.applied_index;
    if (tweak) tweak(n.options);  // may lower `applied` to have entries handed out again
    n.applied_index = n.options.applied;
    n.last_write_id = 0;
    n.last_commit = LogIndex();
    n.replica = std::make_unique<Replica>(n.options, n.storage.get());
    n.up = true;
  }

  // ---- Inspection --------------------------------------------------------------------------

  // The replica's whole log as the core sees it (from the storage's first index).
  std::vector<Entry> Log(uint64_t id) {
    Replica& r = (*this)[id];
    const LogIndex first = storage(id).FirstIndex();
    if (r.last_index() < first) return {};
    auto entries = r.ReadEntries(first, r.last_index() + 1);
    REQUIRE(entries.has_value());
    return *entries;
  }

  std::optional<PeerStatus> Peer(uint64_t leader, uint64_t peer) {
    for (const PeerStatus& p : (*this)[leader].GetStatus().peers) {
      if (p.id == NodeId(peer)) return p;
    }
    return std::nullopt;
  }

  // Every read state of `id` with ReadId `read`.
  std::vector<ReadState> ReadsOf(uint64_t id, uint64_t read) {
    std::vector<ReadState> out;
    for (const ReadState& rs : node(id).read_states) {
      if (rs.id == ReadId(read)) out.push_back(rs);
    }
    return out;
  }

  std::vector<std::string> AppliedData(uint64_t id) {
    std::vector<std::string> out;
    for (const Entry& e : node(id).applied) out.push_back(e.data);
    return out;
  }

 private:
  void Handle(TestNode& n, Ready rd) {
    if (n.keep_readies) n.kept_readies.push_back(rd);
    if (rd.soft_state) n.soft_states.push_back(*rd.soft_state);
    for (Message& m : rd.messages) {
      REQUIRE(m.from == n.id);
      REQUIRE(m.to != n.id);
      sent_.push_back(m);
      outbox_.push_back(std::move(m));
    }
    if (rd.HasWrite()) {
      // Writes are numbered 1, 2, ... in Ready order (ready.h).
      REQUIRE(rd.write_id == n.last_write_id + 1);
      n.last_write_id = rd.write_id;
      PendingWrite w{std::move(rd.snapshot), std::move(rd.entries), std::move(rd.hard_state),
                     rd.write_id};
      if (n.persistence == Persistence::kAuto) {
        WriteToStorage(n, w);
        n.replica->OnPersisted(w.id);
      } else {
        n.unpersisted.push_back(std::move(w));
      }
    } else {
      REQUIRE(!rd.snapshot.has_value());
      REQUIRE(rd.entries.empty());
      REQUIRE(!rd.hard_state.has_value());
    }
    const LogIndex before = n.applied_index;
    for (Entry& e : rd.committed_entries) {
      if (e.index <= n.applied_index) continue;  // handed out again after a restart
      REQUIRE(e.index == n.applied_index + 1);
      CheckApplied(e);
      n.applied_index = e.index;
      n.applied.push_back(std::move(e));
    }
    if (n.applied_index > before) n.replica->OnApplied(n.applied_index);
    for (ReadState& rs : rd.read_states) n.read_states.push_back(rs);
  }

  void WriteToStorage(TestNode& n, PendingWrite& w) {
    if (w.snapshot) {
      n.storage->InstallSnapshot(*w.snapshot);
      n.installed_snapshots.push_back(*w.snapshot);
      if (w.snapshot->index > n.applied_index) n.applied_index = w.snapshot->index;
    }
    if (!w.entries.empty()) n.storage->Append(w.entries);
    if (w.hard_state) {
      // Durable term never goes back; a vote, once cast, never changes within its term; the
      // durable commit never goes back.
      const HardState& old = n.storage->hard_state();
      REQUIRE(w.hard_state->term >= old.term);
      if (w.hard_state->term == old.term && old.vote != kNoNode) {
        REQUIRE(w.hard_state->vote == old.vote);
      }
      if (!w.snapshot) REQUIRE(w.hard_state->commit >= old.commit);
      n.storage->SetHardState(*w.hard_state);
    }
  }

  // State machine safety: every replica applies the same entry at a given index.
  void CheckApplied(const Entry& e) {
    auto [it, inserted] = applied_by_index_.emplace(e.index.value(), e);
    if (!inserted) {
      INFO("index " << e.index.value() << " applied with terms " << it->second.term.value()
                    << " and " << e.term.value());
      REQUIRE(it->second == e);
    }
  }

  // Election safety: at most one leader per term. Commit never goes back.
  void CheckSafety(TestNode& n) {
    if (!n.up) return;
    REQUIRE(n.replica->commit() >= n.last_commit);
    n.last_commit = n.replica->commit();
    if (n.replica->role() != Role::kLeader) return;
    auto [it, inserted] = leader_by_term_.emplace(n.replica->term().value(), n.id.value());
    INFO("term " << n.replica->term().value() << " has leaders " << it->second << " and "
                 << n.id.value());
    REQUIRE(it->second == n.id.value());
  }

  std::map<uint64_t, TestNode> nodes_;
  std::vector<Message> outbox_;
  std::vector<Message> sent_;
  std::vector<Message> delivered_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  Intercept intercept_;
  SnapshotReports snapshot_reports_ = SnapshotReports::kAuto;
  std::map<uint64_t, uint64_t> leader_by_term_;
  std::map<uint64_t, Entry> applied_by_index_;
};

}  // namespace claw::raft::test
