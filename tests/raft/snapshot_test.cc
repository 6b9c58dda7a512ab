// Log compaction and snapshot shipping (thesis §5): a follower that needs compacted entries gets
// InstallSnapshot; stale snapshots are refused; transport feedback drives the leader's
// per-peer state (probe / replicate / snapshot).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;  // Options::election_ticks default

enum class Offer : uint8_t { kSnapshot, kNothing };

// Leader 1 commits five entries (index 2..6) while node 3 is cut off, then compacts its storage
// through index 5 and, with Offer::kSnapshot, offers a snapshot at that point.
void LagAndCompact(Cluster& c, Offer offer) {
  c.Elect(1);
  c.Cut(1, 3);
  for (int i = 0; i < 5; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  REQUIRE(c[1].commit() == Ix(6));
  REQUIRE(c.node(1).applied_index == Ix(6));
  const ConfState conf = MakeConf({1, 2, 3});
  c.storage(1).Compact(Ix(5), conf);
  if (offer == Offer::kSnapshot) c.storage(1).SetShippableSnapshot(SnapshotMeta{Ix(5), T(1), conf});
}

Message SnapshotMsg(uint64_t from, uint64_t to, uint64_t term, const SnapshotMeta& meta) {
  return Message{Id(from), Id(to), T(term), InstallSnapshot{meta}};
}

TEST_CASE("snapshot: a lagging follower gets the snapshot, then the rest of the log", "[raft]") {
  Cluster c(3);
  LagAndCompact(c, Offer::kSnapshot);
  c.Heal();
  c.ClearSent();

  const int took =
      c.RunUntil([&] { return c[3].commit() == Ix(6) && c[3].last_index() == Ix(6); }, 5);
  CHECK(took >= 0);

  auto snaps = Select<InstallSnapshot>(c.sent(), Id(1), Id(3));
  REQUIRE(snaps.size() == 1);
  const SnapshotMeta& meta = BodyOf<InstallSnapshot>(snaps[0])->meta;
  CHECK(meta.index == Ix(5));
  CHECK(meta.term == T(1));
  CHECK(meta.conf == MakeConf({1, 2, 3}));
  CHECK(CountOf<InstallSnapshot>(c.sent(), Id(1), Id(2)) == 0);

  REQUIRE(c.node(3).installed_snapshots.size() == 1);
  CHECK(c.node(3).installed_snapshots[0] == meta);
  CHECK(c.storage(3).FirstIndex() == Ix(6));
  CHECK(c.storage(3).LastIndex() == Ix(6));
  CHECK(*c[3].TermAt(Ix(5)) == T(1));
  CHECK(c.node(3).applied_index == Ix(6));
  CHECK(c.node(3).applied.back().data == "p4");
  CHECK(c.Peer(1, 3)->match == Ix(6));
  CHECK(c.Peer(1, 3)->state == ProgressState::kReplicate);

  // Replication continues normally afterwards.
  const LogIndex next = MustPropose(c[1], "after");
  c.Stabilize();
  c.TickAndStabilize(1);
  CHECK(c[3].commit() == next);
}

TEST_CASE("snapshot: the leader waits while the host has no snapshot ready", "[raft]") {
  Cluster c(3);
  LagAndCompact(c, Offer::kNothing);
  c.Heal();
  c.ClearSent();
  c.TickAndStabilize(3);
  CHECK(CountOf<InstallSnapshot>(c.sent()) == 0);
  CHECK(c[3].last_index() == Ix(1));
  CHECK(c[1].role() == Role::kLeader);

  c.storage(1).SetShippableSnapshot(SnapshotMeta{Ix(5), T(1), MakeConf({1, 2, 3})});
  const int took = c.RunUntil([&] { return c[3].commit() == Ix(6); }, 5);
  CHECK(took >= 0);
  CHECK(CountOf<InstallSnapshot>(c.sent(), Id(1), Id(3)) == 1);
}

TEST_CASE("snapshot: a snapshot the log was compacted past is not shipped; a newer one is", "[raft]") {
  // Found by fault scenario S10: the leader kept re-sending a snapshot its log had been compacted
  // past; the follower held it already, answered, and was sent it again, never getting entries.
  Cluster c(3);
  LagAndCompact(c, Offer::kSnapshot);
  c.storage(1).Compact(Ix(6), MakeConf({1, 2, 3}));  // past the offered snapshot at 5
  c.Heal();
  c.ClearSent();
  c.TickAndStabilize(3);
  CHECK(CountOf<InstallSnapshot>(c.sent()) == 0);
  CHECK(c[3].last_index() == Ix(1));

  c.storage(1).SetShippableSnapshot(SnapshotMeta{Ix(6), T(1), MakeConf({1, 2, 3})});
  const int took = c.RunUntil([&] { return c[3].commit() == Ix(6); }, 5);
  CHECK(took >= 0);
  auto snaps = Select<InstallSnapshot>(c.sent(), Id(1), Id(3));
  REQUIRE(snaps.size() == 1);
  CHECK(BodyOf<InstallSnapshot>(snaps[0])->meta.index == Ix(6));

  const LogIndex next = MustPropose(c[1], "after");
  c.Stabilize();
  c.TickAndStabilize(1);
  CHECK(c[3].commit() == next);
}

TEST_CASE("snapshot: a snapshot older than the follower's commit is ignored", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 5; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  c.TickAndStabilize(1);
  REQUIRE(c[2].commit() == Ix(6));
  const std::vector<Entry> before = c.Log(2);

  c[2].Step(SnapshotMsg(1, 2, 1, SnapshotMeta{Ix(3), T(1), MakeConf({1, 2, 3})}));
  c.Drain(2);
  CHECK(c.node(2).installed_snapshots.empty());
  CHECK(c.storage(2).FirstIndex() == Ix(1));
  CHECK(c.Log(2) == before);
  CHECK(c[2].commit() == Ix(6));
  // Whatever it answers, it does not claim less than it holds.
  for (const Message& m : Select<AppendResponse>(c.outbox(), Id(2), Id(1))) {
    CHECK_FALSE(BodyOf<AppendResponse>(m)->rejected);
    CHECK(BodyOf<AppendResponse>(m)->index >= Ix(6));
  }
}

TEST_CASE("snapshot: a node added after the snapshot point catches up through it", "[raft]") {
  // Configurations take effect when appended (raft/README.md), so a snapshot older than the
  // entry that added a node is still the right start for it: the entries after the snapshot
  // carry its membership. Refusing such a snapshot (etcd's rule) would strand the node whenever
  // the newest snapshot predates its addition.
  Cluster c(2);
  c.Elect(1);
  for (int i = 0; i < 3; ++i) MustPropose(c[1], "before-" + std::to_string(i));
  c.Stabilize();
  REQUIRE(c[1].commit() == Ix(4));
  const ConfState old_conf = MakeConf({1, 2});
  c.storage(1).Compact(Ix(4), old_conf);
  c.storage(1).SetShippableSnapshot(SnapshotMeta{Ix(4), T(1), old_conf});

  c.AddBlank(3);
  const auto added = c[1].ProposeConfChange(ConfChange{{{ConfChangeType::kAddLearner, Id(3)}}});
  REQUIRE(added.has_value());
  MustPropose(c[1], "after");
  c.Stabilize();
  c.TickAndStabilize(2);

  // Node 3 installed the snapshot (whose configuration does not name it), then the log after it.
  REQUIRE(c.node(3).installed_snapshots.size() == 1);
  CHECK(c.node(3).installed_snapshots[0].conf == old_conf);
  CHECK(c[3].commit() == c[1].commit());
  CHECK(c[3].last_index() == c[1].last_index());
  CHECK(Normalized(c[3].conf()) == MakeConf({1, 2}, {3}));
  CHECK(c.AppliedData(3).back() == "after");
  // As a learner it never campaigns, and the group keeps its leader.
  c.TickAndStabilize(3 * kElection);
  CHECK(c[3].role() == Role::kFollower);
  CHECK(c.Leader() == 1);
}

TEST_CASE("snapshot: ReportSnapshot(kFailed) sends the peer back to probe", "[raft]") {
  Cluster c(3);
  LagAndCompact(c, Offer::kSnapshot);
  c.SetSnapshotReports(SnapshotReports::kManual);
  std::vector<Message> lost;
  c.Heal();
  c.SetIntercept([&](Message& m) {
    if (Is<InstallSnapshot>(m)) {
      lost.push_back(m);
      return false;
    }
    return true;
  });
  c.RunUntil([&] { return !lost.empty(); }, 5);
  REQUIRE(lost.size() == 1);
  REQUIRE(c.Peer(1, 3).has_value());
  CHECK(c.Peer(1, 3)->state == ProgressState::kSnapshot);

  // While the snapshot is out, the leader neither resends it nor sends appends.
  c.ClearSent();
  c.TickAndStabilize(3);
  CHECK(lost.size() == 1);
  size_t appends_with_entries = 0;
  for (const Message& m : Select<AppendRequest>(c.sent(), Id(1), Id(3))) {
    if (!BodyOf<AppendRequest>(m)->entries.empty()) ++appends_with_entries;
  }
  CHECK(appends_with_entries == 0);
  CHECK(c.Peer(1, 3)->state == ProgressState::kSnapshot);

  c[1].ReportSnapshot(Id(3), SnapshotOutcome::kFailed);
  CHECK(c.Peer(1, 3)->state == ProgressState::kProbe);

  // The next attempt goes through.
  c.ClearIntercept();
  c.SetSnapshotReports(SnapshotReports::kAuto);
  const int took = c.RunUntil([&] { return c[3].commit() == Ix(6); }, 5);
  CHECK(took >= 0);
  CHECK(c.node(3).installed_snapshots.size() == 1);
}

TEST_CASE("snapshot: a snapshot matching the follower's log keeps the entries after it", "[raft]") {
  // A delayed snapshot must not make a follower drop entries it has acknowledged: the leader may
  // have counted them towards a commit.
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 6; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  REQUIRE(c.Peer(1, 2)->match == Ix(7));
  const std::vector<Entry> before = c.Log(2);

  c[2].Step(SnapshotMsg(1, 2, 1, SnapshotMeta{Ix(5), T(1), MakeConf({1, 2, 3})}));
  c.Drain(2);
  CHECK(c[2].last_index() == Ix(7));
  CHECK(c.storage(2).LastIndex() == Ix(7));
  REQUIRE(c[2].TermAt(Ix(7)).has_value());
  CHECK(*c[2].TermAt(Ix(7)) == T(1));
  CHECK(c[2].commit() >= Ix(5));
}

TEST_CASE("snapshot: a snapshot replaces a conflicting follower log", "[raft]") {
  // Node 3 holds entries of a term that lost; the snapshot's point conflicts with them.
  auto st = std::make_unique<MemoryLogStorage>(MakeConf({1, 2, 3}));
  st->Append(LogWithTerms({1, 1, 1, 1, 1, 1, 1, 1}));
  st->SetHardState(HardState{T(1), kNoNode, Ix(2)});
  Cluster c;
  c.Add(3, std::move(st), [](Options& o) { o.applied = Ix(2); });
  const SnapshotMeta meta{Ix(5), T(2), MakeConf({1, 2, 3})};
  c[3].Step(SnapshotMsg(1, 3, 2, meta));
  c.Drain(3);
  REQUIRE(c.node(3).installed_snapshots.size() == 1);
  CHECK(c[3].last_index() == Ix(5));
  CHECK(c.storage(3).LastIndex() == Ix(5));
  CHECK(*c[3].TermAt(Ix(5)) == T(2));
  CHECK(c[3].commit() == Ix(5));
  CHECK(c[3].term() == T(2));
  CHECK(c[3].leader() == Id(1));
}

}  // namespace
}  // namespace claw::raft::test
