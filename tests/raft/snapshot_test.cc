// Log compaction and snapshot shipping (thesis §5): a follower that needs compacted entries gets
// InstallSnapshot; stale or foreign snapshots are refused; transport feedback drives the leader's
// per-peer state (probe / replicate / snapshot).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

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

TEST_CASE("snapshot: a follower installs only a snapshot whose configuration has it", "[raft]") {
  Cluster c;
  c.Add(3, std::make_unique<MemoryLogStorage>(MakeConf({1, 2, 3})));

  // A snapshot of a configuration without node 3 is refused.
  c[3].Step(SnapshotMsg(1, 3, 1, SnapshotMeta{Ix(10), T(1), MakeConf({1, 2})}));
  c.Drain(3);
  CHECK(c.node(3).installed_snapshots.empty());
  CHECK(c[3].commit() == Ix(0));
  CHECK(c[3].last_index() == Ix(0));

  // The same point with node 3 as a learner is a snapshot for it.
  const SnapshotMeta meta{Ix(10), T(1), MakeConf({1, 2}, {3})};
  c.outbox().clear();
  c[3].Step(SnapshotMsg(1, 3, 1, meta));
  c.Drain(3);
  REQUIRE(c.node(3).installed_snapshots.size() == 1);
  CHECK(c.node(3).installed_snapshots[0] == meta);
  CHECK(c.storage(3).snapshot_point() == meta);
  CHECK(c[3].commit() == Ix(10));
  CHECK(c[3].last_index() == Ix(10));
  CHECK(*c[3].TermAt(Ix(10)) == T(1));
  CHECK(Normalized(c[3].conf()) == MakeConf({1, 2}, {3}));
  auto acks = Select<AppendResponse>(c.outbox(), Id(3), Id(1));
  REQUIRE(acks.size() == 1);
  CHECK_FALSE(BodyOf<AppendResponse>(acks[0])->rejected);
  CHECK(BodyOf<AppendResponse>(acks[0])->index == Ix(10));
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
