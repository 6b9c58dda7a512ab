// Linearizable reads without log writes (thesis §6.4 ReadIndex, §6.4.1 leases).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;

void ReadIndexMode(Options& o) { o.read_mode = ReadMode::kReadIndex; }

TEST_CASE("read: lease length follows election_ticks and clock drift", "[raft]") {
  Options o = Cluster::DefaultOptions(Id(1));
  // (10 - 1) * 0.95 / 1.05 = 8.14 -> 8, minus one tick of uncertainty.
  CHECK(o.LeaseTicks() == 7);
  o.read_mode = ReadMode::kReadIndex;
  CHECK(o.LeaseTicks() == 0);
  o.read_mode = ReadMode::kLease;
  o.check_quorum = false;
  CHECK_FALSE(o.Validate().empty());
}

TEST_CASE("read: ReadIndex waits for a heartbeat quorum in kReadIndex mode", "[raft]") {
  Cluster c(3, ReadIndexMode);
  c.Elect(1);
  MustPropose(c[1], "a");
  c.Stabilize();
  REQUIRE(c[1].commit() == Ix(2));
  c.Isolate(1);
  c.outbox().clear();

  c[1].ReadIndex(ReadId(7));
  c.Drain(1);
  CHECK(c.node(1).read_states.empty());
  auto beats = Select<Heartbeat>(c.outbox(), Id(1));
  REQUIRE(beats.size() == 2);
  CHECK(!BodyOf<Heartbeat>(beats[0])->read_id.IsZero());

  // No answer from anyone: no read state, however long we wait for one.
  c.Stabilize();
  CHECK(c.node(1).read_states.empty());

  // One follower's answer makes a quorum of two.
  c.Heal();
  c.Cut(1, 3);
  for (const Message& m : beats) c.Deliver(m);
  c.Stabilize();
  auto reads = c.ReadsOf(1, 7);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kReady);
  CHECK(reads[0].index == Ix(2));
}

TEST_CASE("read: a batch of reads shares one heartbeat round", "[raft]") {
  Cluster c(3, ReadIndexMode);
  c.Elect(1);
  c.outbox().clear();
  c[1].ReadIndex(ReadId(1));
  c[1].ReadIndex(ReadId(2));
  c[1].ReadIndex(ReadId(3));
  c.Drain(1);
  CHECK(CountOf<Heartbeat>(c.outbox(), Id(1), Id(2)) == 1);
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) {
    auto reads = c.ReadsOf(1, id);
    REQUIRE(reads.size() == 1);
    CHECK(reads[0].status == ReadStatus::kReady);
    CHECK(reads[0].index == Ix(1));
  }
}

TEST_CASE("read: reads wait until the leader committed an entry of its term", "[raft]") {
  Cluster c(3, ReadIndexMode);
  c.WarmUp();
  // Appends never arrive: the new leader's empty entry stays uncommitted.
  c.SetIntercept([](Message& m) { return !Is<AppendRequest>(m); });
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  REQUIRE(c[1].commit() == Ix(0));

  c[1].ReadIndex(ReadId(5));
  c.Stabilize();
  c.TickAndStabilize(2);
  CHECK(c.ReadsOf(1, 5).empty());

  c.ClearIntercept();
  c.TickAndStabilize(3);
  REQUIRE(c[1].commit() == Ix(1));
  auto reads = c.ReadsOf(1, 5);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kReady);
  CHECK(reads[0].index == Ix(1));
}

TEST_CASE("read: a follower forwards its read to the leader", "[raft]") {
  for (ReadMode mode : {ReadMode::kReadIndex, ReadMode::kLease}) {
    INFO("mode " << (mode == ReadMode::kLease ? "lease" : "read_index"));
    Cluster c(3, [mode](Options& o) { o.read_mode = mode; });
    c.Elect(1);
    for (int i = 0; i < 3; ++i) MustPropose(c[1], "p" + std::to_string(i));
    c.Stabilize();
    REQUIRE(c[1].commit() == Ix(4));

    c.outbox().clear();
    c[2].ReadIndex(ReadId(9));
    c.Drain(2);
    auto fwd = Select<ReadIndexRequest>(c.outbox(), Id(2), Id(1));
    REQUIRE(fwd.size() == 1);
    CHECK(BodyOf<ReadIndexRequest>(fwd[0])->read_id == ReadId(9));
    c.Stabilize();

    auto reads = c.ReadsOf(2, 9);
    REQUIRE(reads.size() == 1);
    CHECK(reads[0].status == ReadStatus::kReady);
    CHECK(reads[0].index == Ix(4));
    CHECK(c.ReadsOf(1, 9).empty());  // the leader does not serve it itself
    auto answers = Select<ReadIndexResponse>(c.sent(), Id(1), Id(2));
    REQUIRE(answers.size() == 1);
    CHECK(BodyOf<ReadIndexResponse>(answers[0])->index == Ix(4));
  }
}

TEST_CASE("read: a read with no known leader is dropped", "[raft]") {
  Cluster c(3);
  c[2].ReadIndex(ReadId(3));
  c.Drain(2);
  auto reads = c.ReadsOf(2, 3);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kDropped);
}

TEST_CASE("read: kLease serves reads without a heartbeat round while the lease holds", "[raft]") {
  Cluster c(3);  // kLease is the default
  c.Elect(1);
  c.TickAndStabilize(1);
  CHECK(c[1].GetStatus().lease_valid);

  c.outbox().clear();
  c[1].ReadIndex(ReadId(4));
  c.Drain(1);
  auto reads = c.ReadsOf(1, 4);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kReady);
  CHECK(reads[0].index == Ix(1));
  CHECK(CountOf<Heartbeat>(c.outbox()) == 0);
}

TEST_CASE("read: kReadIndex never serves a read without a heartbeat round", "[raft]") {
  Cluster c(3, ReadIndexMode);
  c.Elect(1);
  c.TickAndStabilize(1);
  CHECK_FALSE(c[1].GetStatus().lease_valid);

  c.outbox().clear();
  c[1].ReadIndex(ReadId(4));
  c.Drain(1);
  CHECK(c.ReadsOf(1, 4).empty());
  CHECK(CountOf<Heartbeat>(c.outbox(), Id(1)) == 2);
}

TEST_CASE("read: the lease expires when acknowledgements stop", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  const int lease = c.node(1).options.LeaseTicks();
  REQUIRE(lease == 7);
  c.Isolate(1);
  c.TickAndStabilize(lease + 1);
  REQUIRE(c[1].role() == Role::kLeader);  // check-quorum has not fired yet
  CHECK_FALSE(c[1].GetStatus().lease_valid);

  c.outbox().clear();
  c[1].ReadIndex(ReadId(8));
  c.Drain(1);
  CHECK(c.ReadsOf(1, 8).empty());
  CHECK(CountOf<Heartbeat>(c.outbox(), Id(1)) == 2);  // falls back to a heartbeat round

  // The round completes once the leader is heard again.
  c.Heal();
  c.Stabilize();
  auto reads = c.ReadsOf(1, 8);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kReady);
}

TEST_CASE("read: the lease ends when the leader sends TimeoutNow", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.TickAndStabilize(1);
  REQUIRE(c[1].GetStatus().lease_valid);

  // Transfer to node 2; the TimeoutNow is held in the network.
  std::vector<Message> held;
  c.SetIntercept([&](Message& m) {
    if (Is<TimeoutNow>(m)) {
      held.push_back(m);
      return false;
    }
    return true;
  });
  c[1].TransferLeadership(Id(2));
  c.Stabilize();
  REQUIRE(held.size() == 1);
  CHECK(held[0].to == Id(2));
  CHECK_FALSE(c[1].GetStatus().lease_valid);

  c.outbox().clear();
  c[1].ReadIndex(ReadId(6));
  c.Drain(1);
  for (const ReadState& rs : c.ReadsOf(1, 6)) CHECK(rs.status != ReadStatus::kReady);
}

TEST_CASE("read: pending reads are dropped when the leader steps down", "[raft]") {
  Cluster c(3, ReadIndexMode);
  c.Elect(1);
  c.Isolate(1);
  c[1].ReadIndex(ReadId(5));
  c.Drain(1);
  CHECK(c.ReadsOf(1, 5).empty());

  int ticks = 0;
  while (c[1].role() == Role::kLeader && ticks < 3 * kElection) {
    c.TickAndStabilize(1);
    ++ticks;
  }
  REQUIRE(c[1].role() != Role::kLeader);
  auto reads = c.ReadsOf(1, 5);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kDropped);
}

// The reason for everything above: a deposed leader must not serve a read that misses a write
// the new leader committed (linearizability, thesis §6.4). Checked in both modes.
TEST_CASE("read: an isolated leader never serves a read after a newer leader commits", "[raft]") {
  for (ReadMode mode : {ReadMode::kReadIndex, ReadMode::kLease}) {
    INFO("mode " << (mode == ReadMode::kLease ? "lease" : "read_index"));
    Cluster c(3, [mode](Options& o) { o.read_mode = mode; });
    c.Elect(1);
    c.TickAndStabilize(1);
    c.Isolate(1);

    uint64_t next_read = 100;
    int new_commit_tick = -1;
    for (int tick = 0; tick < 4 * kElection; ++tick) {
      if (c[1].role() == Role::kLeader) c[1].ReadIndex(ReadId(next_read++));
      const size_t reads_before = c.node(1).read_states.size();
      c.TickAndStabilize(1);
      const uint64_t other = c[2].role() == Role::kLeader   ? 2
                             : c[3].role() == Role::kLeader ? 3
                                                            : 0;
      if (other != 0 && new_commit_tick < 0) {
        MustPropose(c[other], "new write");
        c.Stabilize();
        REQUIRE(c[other].commit() > Ix(1));
        new_commit_tick = tick;
      }
      if (new_commit_tick >= 0) {
        for (size_t i = reads_before; i < c.node(1).read_states.size(); ++i) {
          CHECK(c.node(1).read_states[i].status != ReadStatus::kReady);
        }
      }
    }
    CHECK(new_commit_tick >= 0);
    // Every read of the old leader is either served before, or dropped.
    for (const ReadState& rs : c.node(1).read_states) {
      if (rs.status == ReadStatus::kReady) CHECK(rs.index == Ix(1));
    }
  }
}

}  // namespace
}  // namespace claw::raft::test
