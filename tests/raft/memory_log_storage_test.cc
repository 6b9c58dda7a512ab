// MemoryLogStorage against the LogStorage contract (raft/log_storage.h, items 1-5).
#include "raft/memory_log_storage.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

// Entries 1..n of term `term`, each with a 3-byte payload.
std::vector<Entry> ThreeByteEntries(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i)
    out.push_back(MakeEntry(term, i, "e" + std::to_string(i % 10) + "x"));
  return out;
}

TEST_CASE("memory storage: an empty log sits at its snapshot point (0, 0)", "[raft]") {
  const ConfState conf = MakeConf({1, 2, 3}, {4});
  MemoryLogStorage st(conf);

  CHECK(st.FirstIndex() == Ix(1));
  CHECK(st.LastIndex() == Ix(0));
  REQUIRE(st.TermAt(Ix(0)).has_value());
  CHECK(*st.TermAt(Ix(0)) == T(0));
  CHECK(ErrorOf(st.TermAt(Ix(1))) == LogError::kUnavailable);
  CHECK(ErrorOf(st.Entries(Ix(1), Ix(2), 1000)) == LogError::kUnavailable);
  CHECK(ErrorOf(st.Snapshot()) == LogError::kUnavailable);

  const InitialState init = st.GetInitialState();
  CHECK(init.conf == conf);
  CHECK(init.hard_state == HardState{});
  CHECK(st.snapshot_point().index == Ix(0));
  CHECK(st.snapshot_point().conf == conf);
}

TEST_CASE("memory storage: append, term lookups and ranges", "[raft]") {
  MemoryLogStorage st(MakeConf({1}));
  st.Append(ThreeByteEntries(1, 5, 1));

  CHECK(st.FirstIndex() == Ix(1));
  CHECK(st.LastIndex() == Ix(5));
  for (uint64_t i = 1; i <= 5; ++i) {
    REQUIRE(st.TermAt(Ix(i)).has_value());
    CHECK(*st.TermAt(Ix(i)) == T(1));
  }
  CHECK(ErrorOf(st.TermAt(Ix(6))) == LogError::kUnavailable);

  auto mid = st.Entries(Ix(2), Ix(5), 1000);
  REQUIRE(mid.has_value());
  REQUIRE(mid->size() == 3);
  CHECK(mid->front().index == Ix(2));
  CHECK(mid->back().index == Ix(4));
  CHECK(mid->front() == ThreeByteEntries(2, 2, 1).front());

  auto empty = st.Entries(Ix(3), Ix(3), 1000);
  REQUIRE(empty.has_value());
  CHECK(empty->empty());

  // hi beyond LastIndex() + 1 reaches past the log's end.
  CHECK(ErrorOf(st.Entries(Ix(4), Ix(7), 1000)) == LogError::kUnavailable);
  // Continuing at LastIndex() + 1.
  st.Append(ThreeByteEntries(6, 6, 2));
  CHECK(st.LastIndex() == Ix(6));
  CHECK(*st.TermAt(Ix(6)) == T(2));
}

TEST_CASE("memory storage: Entries honours max_bytes but always returns one entry", "[raft]") {
  MemoryLogStorage st(MakeConf({1}));
  st.Append(ThreeByteEntries(1, 5, 1));  // 3 bytes each

  auto size_of = [&](uint64_t max_bytes) {
    auto got = st.Entries(Ix(1), Ix(6), max_bytes);
    REQUIRE(got.has_value());
    return got->size();
  };
  CHECK(size_of(0) == 1);
  CHECK(size_of(2) == 1);
  CHECK(size_of(5) == 1);
  CHECK(size_of(6) == 2);
  CHECK(size_of(7) == 2);
  CHECK(size_of(9) == 3);
  CHECK(size_of(1000) == 5);
}

TEST_CASE("memory storage: appending inside the log overwrites the suffix", "[raft]") {
  MemoryLogStorage st(MakeConf({1}));
  st.Append(ThreeByteEntries(1, 5, 1));

  st.Append({MakeEntry(2, 3, "new3")});
  CHECK(st.LastIndex() == Ix(3));
  CHECK(*st.TermAt(Ix(2)) == T(1));
  CHECK(*st.TermAt(Ix(3)) == T(2));
  CHECK(ErrorOf(st.TermAt(Ix(4))) == LogError::kUnavailable);
  auto e3 = st.Entries(Ix(3), Ix(4), 1000);
  REQUIRE(e3.has_value());
  REQUIRE(e3->size() == 1);
  CHECK(e3->front().data == "new3");

  // Overwriting from the very first index replaces everything.
  st.Append({MakeEntry(3, 1, "a"), MakeEntry(3, 2, "b")});
  CHECK(st.FirstIndex() == Ix(1));
  CHECK(st.LastIndex() == Ix(2));
  CHECK(*st.TermAt(Ix(1)) == T(3));
}

TEST_CASE("memory storage: compaction moves the snapshot point", "[raft]") {
  const ConfState conf = MakeConf({1, 2});
  const ConfState later = MakeConf({1, 2, 3});
  MemoryLogStorage st(conf);
  std::vector<Entry> log = LogWithTerms({1, 1, 2, 2, 3});
  st.Append(log);

  st.Compact(Ix(3), later);
  CHECK(st.FirstIndex() == Ix(4));
  CHECK(st.LastIndex() == Ix(5));
  REQUIRE(st.TermAt(Ix(3)).has_value());
  CHECK(*st.TermAt(Ix(3)) == T(2));  // the snapshot point keeps its term
  CHECK(ErrorOf(st.TermAt(Ix(2))) == LogError::kCompacted);
  CHECK(ErrorOf(st.TermAt(Ix(1))) == LogError::kCompacted);
  CHECK(ErrorOf(st.Entries(Ix(3), Ix(5), 1000)) == LogError::kCompacted);
  CHECK(ErrorOf(st.Entries(Ix(2), Ix(4), 1000)) == LogError::kCompacted);
  auto rest = st.Entries(Ix(4), Ix(6), 1000);
  REQUIRE(rest.has_value());
  REQUIRE(rest->size() == 2);
  CHECK((*rest)[0] == log[3]);
  CHECK((*rest)[1] == log[4]);

  CHECK(st.snapshot_point().index == Ix(3));
  CHECK(st.snapshot_point().term == T(2));
  CHECK(st.GetInitialState().conf == later);

  // Compacting the whole log leaves an empty run at the snapshot point.
  st.Compact(Ix(5), later);
  CHECK(st.FirstIndex() == Ix(6));
  CHECK(st.LastIndex() == Ix(5));
  CHECK(*st.TermAt(Ix(5)) == T(3));
  CHECK(ErrorOf(st.TermAt(Ix(4))) == LogError::kCompacted);
  CHECK(ErrorOf(st.TermAt(Ix(6))) == LogError::kUnavailable);

  // And the log continues after it.
  st.Append({MakeEntry(4, 6, "six")});
  CHECK(st.LastIndex() == Ix(6));
  CHECK(*st.TermAt(Ix(6)) == T(4));
}

TEST_CASE("memory storage: overwriting at the first index after compaction", "[raft]") {
  MemoryLogStorage st(MakeConf({1}));
  st.Append(LogWithTerms({1, 1, 1, 1}));
  st.Compact(Ix(2), MakeConf({1}));
  st.Append({MakeEntry(5, 3, "x")});
  CHECK(st.FirstIndex() == Ix(3));
  CHECK(st.LastIndex() == Ix(3));
  CHECK(*st.TermAt(Ix(3)) == T(5));
  CHECK(*st.TermAt(Ix(2)) == T(1));
}

TEST_CASE("memory storage: installing a snapshot replaces the whole log", "[raft]") {
  MemoryLogStorage st(MakeConf({1, 2, 3}));
  st.Append(LogWithTerms({1, 1, 2}));
  SnapshotMeta meta{Ix(10), T(4), MakeConf({1, 2, 3, 4})};

  st.InstallSnapshot(meta);
  CHECK(st.FirstIndex() == Ix(11));
  CHECK(st.LastIndex() == Ix(10));
  REQUIRE(st.TermAt(Ix(10)).has_value());
  CHECK(*st.TermAt(Ix(10)) == T(4));
  CHECK(ErrorOf(st.TermAt(Ix(9))) == LogError::kCompacted);
  CHECK(ErrorOf(st.TermAt(Ix(3))) == LogError::kCompacted);
  CHECK(ErrorOf(st.TermAt(Ix(11))) == LogError::kUnavailable);
  CHECK(st.snapshot_point() == meta);
  CHECK(st.GetInitialState().conf == meta.conf);

  st.Append({MakeEntry(4, 11, "eleven")});
  CHECK(st.LastIndex() == Ix(11));

  // A snapshot behind the current log end also discards everything (it replaces the log).
  SnapshotMeta behind{Ix(5), T(2), MakeConf({1, 2, 3})};
  MemoryLogStorage other(MakeConf({1, 2, 3}));
  other.Append(LogWithTerms({1, 1, 2, 2, 2, 3, 3}));
  other.InstallSnapshot(behind);
  CHECK(other.FirstIndex() == Ix(6));
  CHECK(other.LastIndex() == Ix(5));
}

TEST_CASE("memory storage: hard state and shippable snapshot", "[raft]") {
  MemoryLogStorage st(MakeConf({1, 2, 3}));
  const HardState hs{T(7), Id(2), Ix(0)};
  st.SetHardState(hs);
  CHECK(st.hard_state() == hs);
  CHECK(st.GetInitialState().hard_state == hs);

  CHECK(ErrorOf(st.Snapshot()) == LogError::kUnavailable);
  st.Append(LogWithTerms({1, 1, 1}));
  SnapshotMeta meta{Ix(2), T(1), MakeConf({1, 2, 3})};
  st.SetShippableSnapshot(meta);
  auto snap = st.Snapshot();
  REQUIRE(snap.has_value());
  CHECK(*snap == meta);
  // Offering a snapshot does not compact the log.
  CHECK(st.FirstIndex() == Ix(1));
  CHECK(st.LastIndex() == Ix(3));
}

}  // namespace
}  // namespace claw::raft::test
