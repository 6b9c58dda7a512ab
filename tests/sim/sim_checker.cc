#include "tests/sim/sim_checker.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "tests/sim/sim_rng.h"

namespace claw::sim {
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

uint64_t ContentHash(const raft::Entry& e) {
  uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(e.type);
  for (unsigned char c : e.data) h = (h ^ c) * 0x100000001b3ull;
  return Mix64(h ^ e.data.size());
}

std::string Describe(const raft::Entry& e) {
  return Cat("(index ", e.index.value(), ", term ", e.term.value(),
             e.type == raft::EntryType::kConfig ? ", config" : "", ", data \"", e.data, "\")");
}

raft::ConfState Normalized(raft::ConfState c) {
  raft::Normalize(c);
  return c;
}

}  // namespace

size_t Checker::EntryKeyHash::operator()(const EntryKey& k) const {
  return Mix64(k.index * 0x9e3779b97f4a7c15ull ^ k.term);
}

Checker::Checker(int nodes, int groups)
    : nodes_(nodes), groups_count_(groups), groups_(groups), replicas_(nodes * groups) {}

uint64_t Checker::IndexOfValue(int group, const std::string& data) const {
  auto it = groups_[group].applied_values.find(data);
  return it == groups_[group].applied_values.end() ? 0 : it->second;
}

void Checker::Fail(const std::string& what) {
  if (error_.empty()) error_ = what;
}

void Checker::CheckEntry(int node, int group, const raft::Entry& e, uint64_t prev_term, Prev prev) {
  const bool check_prev = prev == Prev::kKnown;
  GroupRecord& g = groups_[group];
  const EntryKey key{e.index.value(), e.term.value()};
  const uint64_t content = ContentHash(e);
  auto [it, inserted] = g.entries.try_emplace(key, EntryRecord{content, prev_term, node});
  if (inserted) {
    if (!check_prev) it->second.prev_term = UINT64_MAX;  // unknown until someone writes it
    return;
  }
  EntryRecord& rec = it->second;
  if (rec.content != content) {
    Fail(Cat("log matching: g", group, " n", node + 1, " holds ", Describe(e), " but n",
             rec.writer + 1, " wrote different contents at the same (index, term)"));
    return;
  }
  if (!check_prev) return;
  if (rec.prev_term == UINT64_MAX) {
    rec.prev_term = prev_term;
  } else if (rec.prev_term != prev_term) {
    Fail(Cat("log matching: g", group, " n", node + 1, " holds ", Describe(e),
             " after an entry of term ", prev_term, " but n", rec.writer + 1,
             " holds it after an entry of term ", rec.prev_term));
  }
}

void Checker::OnReplicaStarted(int node, int group, const raft::Replica& r,
                               const raft::MemoryLogStorage& storage, const StateMachine& sm) {
  ReplicaRecord& rr = Rr(node, group);
  const raft::SnapshotMeta& point = storage.snapshot_point();
  rr.term = r.term().value();
  rr.commit = point.index.value();
  rr.leader_checked_term = 0;
  if (r.term() < rr.durable.term) {
    Fail(Cat("durability: g", group, " n", node + 1, " restarted at term ", r.term().value(),
             " below its durable term ", rr.durable.term.value()));
  }
  if (sm.applied != point.index) {
    Fail(Cat("harness: g", group, " n", node + 1, " state machine at ", sm.applied.value(),
             " but snapshot point at ", point.index.value()));
  }
  // Everything the node holds on disk was written by it through a Ready: it must match.
  const raft::LogIndex last = storage.LastIndex();
  if (last > point.index) {
    auto entries = storage.Entries(point.index + 1, last + 1, UINT64_MAX);
    if (!entries) {
      Fail(Cat("harness: g", group, " n", node + 1, " cannot read its own log"));
      return;
    }
    uint64_t prev = point.term.value();
    for (const raft::Entry& e : *entries) {
      CheckEntry(node, group, e, prev, Prev::kKnown);
      prev = e.term.value();
    }
  }
}

void Checker::OnCrash(int node) {
  for (int g = 0; g < groups_count_; ++g) {
    ReplicaRecord& rr = Rr(node, g);
    rr.term = rr.commit = rr.leader_checked_term = 0;
  }
}

void Checker::OnReady(int node, int group, const raft::Replica& r, const raft::Ready& ready,
                      const StateMachine& sm) {
  GroupRecord& g = groups_[group];
  if (ready.snapshot) {
    const raft::SnapshotMeta& meta = *ready.snapshot;
    const uint64_t i = meta.index.value();
    if (i < g.committed_terms.size() && g.committed_terms[i] != 0 &&
        g.committed_terms[i] != meta.term.value()) {
      Fail(Cat("snapshot: g", group, " n", node + 1, " installs a snapshot at (", i, ", term ",
               meta.term.value(), ") but the entry committed there has term ",
               g.committed_terms[i]));
    }
  }
  if (ready.entries.empty()) return;
  const raft::Entry& front = ready.entries.front();
  if (front.index <= sm.applied) {
    Fail(Cat("log: g", group, " n", node + 1, " rewrites index ", front.index.value(),
             " which it already applied (applied ", sm.applied.value(), ")"));
    return;
  }
  uint64_t prev = 0;
  bool check_prev = true;
  if (auto t = r.TermAt(front.index - 1)) {
    prev = t->value();
  } else {
    check_prev = false;
  }
  for (size_t k = 0; k < ready.entries.size(); ++k) {
    const raft::Entry& e = ready.entries[k];
    if (k > 0) {
      const raft::Entry& before = ready.entries[k - 1];
      if (e.index != before.index + 1 || e.term < before.term) {
        Fail(Cat("log: g", group, " n", node + 1, " writes non-contiguous entries ",
                 Describe(before), " then ", Describe(e)));
        return;
      }
      prev = before.term.value();
      check_prev = true;
    }
    CheckEntry(node, group, e, prev, check_prev ? Prev::kKnown : Prev::kUnknown);
  }
}

void Checker::OnDurableHardState(int node, int group, const raft::HardState& hs) {
  ReplicaRecord& rr = Rr(node, group);
  const raft::HardState& d = rr.durable;
  if (hs.term < d.term) {
    Fail(Cat("durability: g", group, " n", node + 1, " persists term ", hs.term.value(),
             " below its durable term ", d.term.value()));
  } else if (hs.term == d.term && !d.vote.IsZero() && hs.vote != d.vote) {
    Fail(Cat("durability: g", group, " n", node + 1, " changes its vote in term ", hs.term.value(),
             " from n", d.vote.value(), " to n", hs.vote.value()));
  } else if (hs.commit < d.commit) {
    Fail(Cat("durability: g", group, " n", node + 1, " persists commit ", hs.commit.value(),
             " below its durable commit ", d.commit.value()));
  }
  rr.durable = hs;
}

void Checker::OnApply(int node, int group, const raft::Entry& e, const StateMachine& before) {
  GroupRecord& g = groups_[group];
  const uint64_t i = e.index.value();
  if (e.index != before.applied + 1) {
    Fail(Cat("apply: g", group, " n", node + 1, " applies ", Describe(e), " after index ",
             before.applied.value(), " (not contiguous)"));
    return;
  }
  const uint64_t hash = ChainHash(before.hash, e);
  if (i <= g.history.size()) {
    const HistoryEntry& h = g.history[i - 1];
    if (h.term != e.term || h.type != e.type || h.data != e.data) {
      Fail(Cat("state machine safety: g", group, " n", node + 1, " applies ", Describe(e),
               " but (index ", i, ", term ", h.term.value(), ", data \"", h.data,
               "\") was applied there before"));
      return;
    }
    if (h.hash != hash) {
      Fail(Cat("state machine safety: g", group, " n", node + 1, " applies index ", i,
               " on a state machine whose earlier contents differ from the history"));
      return;
    }
  } else {
    if (i < g.committed_terms.size() && g.committed_terms[i] != 0 &&
        g.committed_terms[i] != e.term.value()) {
      Fail(Cat("state machine safety: g", group, " n", node + 1, " applies ", Describe(e),
               " but the entry known committed there has term ", g.committed_terms[i]));
      return;
    }
    const uint64_t prev_hash = i == 1 ? 0 : g.history[i - 2].hash;
    if (prev_hash != before.hash) {
      Fail(Cat("state machine safety: g", group, " n", node + 1, " applies index ", i,
               " on a state machine whose earlier contents differ from the history"));
      return;
    }
    g.history.push_back(HistoryEntry{e.term, e.type, e.data, hash});
  }
  if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
    auto [it, inserted] = g.applied_values.try_emplace(e.data, i);
    if (!inserted && it->second != i) {
      Fail(Cat("state machine safety: g", group, " value \"", e.data, "\" applied at index ",
               it->second, " and again at index ", i, " (n", node + 1, ")"));
    }
  }
}

void Checker::OnSnapshotInstalled(int node, int group, const StateMachine& before,
                                  const StateMachine& image, const raft::SnapshotMeta& meta) {
  GroupRecord& g = groups_[group];
  const uint64_t i = meta.index.value();
  if (image.applied != meta.index || image.applied_term != meta.term ||
      Normalized(image.conf) != Normalized(meta.conf)) {
    Fail(Cat("snapshot: g", group, " n", node + 1, " installs snapshot (", i, ", term ",
             meta.term.value(), ") whose data is a state machine at (", image.applied.value(),
             ", term ", image.applied_term.value(), ") or with another configuration"));
  } else if (meta.index < before.applied) {
    Fail(Cat("snapshot: g", group, " n", node + 1, " installs a snapshot at ", i,
             " below its applied index ", before.applied.value(), " (state machine rollback)"));
  } else if (i > g.history.size() || g.history[i - 1].hash != image.hash) {
    Fail(Cat("snapshot: g", group, " n", node + 1, " installs a snapshot at ", i,
             " whose contents differ from the applied history (history size ", g.history.size(),
             ")"));
  }
}

void Checker::OnReadRequested(int group, raft::ReadId id) {
  reads_[id.value()] = ReadRecord{group, groups_[group].known_commit};
}

void Checker::OnReadState(int node, int group, const raft::ReadState& rs) {
  auto it = reads_.find(rs.id.value());
  if (it == reads_.end() || it->second.group != group) {
    Fail(Cat("read: g", group, " n", node + 1, " reports read ", rs.id.value(),
             " that was never requested in this group"));
    return;
  }
  if (rs.status == raft::ReadStatus::kReady && rs.index.value() < it->second.required) {
    Fail(Cat("linearizable read: g", group, " n", node + 1, " serves read ", rs.id.value(),
             " at index ", rs.index.value(), " but index ", it->second.required,
             " was already committed when the read was requested (stale read)"));
  }
}

void Checker::RecordCommitted(int node, int group, uint64_t index, uint64_t term) {
  GroupRecord& g = groups_[group];
  if (g.committed_terms.size() <= index) g.committed_terms.resize(index + 1 + index / 2, 0);
  uint64_t& known = g.committed_terms[index];
  if (known == 0) {
    known = term;
  } else if (known != term) {
    Fail(Cat("commit: g", group, " n", node + 1, " commits index ", index, " with term ", term,
             " but an entry of term ", known, " was committed there"));
  }
}

void Checker::AfterStep(int node, int group, const raft::Replica& r,
                        const raft::MemoryLogStorage& storage) {
  ReplicaRecord& rr = Rr(node, group);
  GroupRecord& g = groups_[group];
  const uint64_t term = r.term().value();
  const uint64_t commit = r.commit().value();
  if (term < rr.term) {
    Fail(Cat("monotonic: g", group, " n", node + 1, " term went from ", rr.term, " to ", term));
    return;
  }
  if (commit < rr.commit) {
    Fail(Cat("monotonic: g", group, " n", node + 1, " commit went from ", rr.commit, " to ",
             commit));
    return;
  }
  for (uint64_t i = rr.commit + 1; i <= commit; ++i) {
    auto t = r.TermAt(raft::LogIndex(i));
    if (!t) {
      if (t.error() == raft::LogError::kCompacted) continue;
      Fail(Cat("commit: g", group, " n", node + 1, " has commit ", commit,
               " beyond its last index ", r.last_index().value()));
      return;
    }
    RecordCommitted(node, group, i, t->value());
  }
  rr.term = term;
  rr.commit = commit;
  g.known_commit = std::max(g.known_commit, commit);
  if (r.role() == raft::Role::kLeader && rr.leader_checked_term != term) {
    rr.leader_checked_term = term;
    CheckLeader(node, group, r, storage);
  }
}

void Checker::CheckLeader(int node, int group, const raft::Replica& r,
                          const raft::MemoryLogStorage& storage) {
  GroupRecord& g = groups_[group];
  const uint64_t term = r.term().value();
  auto [it, inserted] = g.leaders.try_emplace(term, node);
  if (inserted) {
    ++leaders_elected_;
  } else if (it->second != node) {
    Fail(Cat("election safety: g", group, " n", node + 1, " and n", it->second + 1,
             " are both leaders of term ", term));
    return;
  }
  const uint64_t first = storage.FirstIndex().value();
  for (uint64_t i = first; i <= g.known_commit && i < g.committed_terms.size(); ++i) {
    if (g.committed_terms[i] == 0) continue;
    auto t = r.TermAt(raft::LogIndex(i));
    if (!t && t.error() == raft::LogError::kCompacted) continue;
    if (!t || t->value() != g.committed_terms[i]) {
      Fail(Cat("leader completeness: g", group, " n", node + 1, " leads term ", term,
               " but lacks committed entry (index ", i, ", term ", g.committed_terms[i],
               "); it has ", t ? Cat("term ", t->value()) : std::string("nothing"), " there"));
      return;
    }
  }
}

void Checker::CheckLog(int node, int group, const raft::Replica& r,
                       const raft::MemoryLogStorage& storage) {
  const raft::LogIndex first = storage.FirstIndex();
  const raft::LogIndex last = r.last_index();
  if (last < first) return;
  auto entries = r.ReadEntries(first, last + 1);
  if (!entries) return;  // compacted meanwhile by a pending snapshot: nothing to compare
  uint64_t prev = 0;
  bool check_prev = false;
  if (auto t = r.TermAt(first - 1)) {
    prev = t->value();
    check_prev = true;
  }
  for (const raft::Entry& e : *entries) {
    CheckEntry(node, group, e, prev, check_prev ? Prev::kKnown : Prev::kUnknown);
    prev = e.term.value();
    check_prev = true;
  }
}

}  // namespace claw::sim
