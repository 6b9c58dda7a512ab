// Hibernation (replica.h class comment): an idle leader puts the group to sleep; any activity wakes
// it; a host that suspects a dead leader wakes the followers so that they elect a new one.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;
constexpr int kHibernateAfter = 5;

void Hibernating(Options& o) { o.hibernate_after_ticks = kHibernateAfter; }

bool AllHibernating(Cluster& c) {
  for (uint64_t id : c.ids()) {
    if (c.node(id).up && !c[id].hibernating()) return false;
  }
  return true;
}

// Elects node 1 and lets the idle group fall asleep.
void ElectAndSleep(Cluster& c) {
  c.Elect(1);
  const int took = c.RunUntil([&] { return AllHibernating(c); }, 3 * kHibernateAfter);
  REQUIRE(took >= 0);
}

TEST_CASE("hibernate: an idle leader puts the group to sleep", "[raft]") {
  Cluster c(3, Hibernating);
  c.Elect(1);
  c.ClearSent();
  const int took = c.RunUntil([&] { return AllHibernating(c); }, 3 * kHibernateAfter);
  REQUIRE(took >= 0);
  CHECK(took >= kHibernateAfter - 1);  // not before it has been idle for a while

  for (uint64_t to : {2, 3}) {
    auto h = Select<Hibernate>(c.sent(), Id(1), Id(to));
    REQUIRE(h.size() >= 1);
    CHECK(BodyOf<Hibernate>(h.back())->index == c[1].last_index());
    CHECK(BodyOf<Hibernate>(h.back())->commit == c[1].commit());
  }
  for (uint64_t id : {1, 2, 3}) {
    INFO("node " << id);
    REQUIRE(!c.node(id).soft_states.empty());
    CHECK(c.node(id).soft_states.back().hibernating);
  }
  CHECK(c[1].role() == Role::kLeader);
  CHECK_FALSE(c[1].GetStatus().lease_valid);  // a hibernating leader gives up its lease
}

TEST_CASE("hibernate: a sleeping group stays quiet even if ticked", "[raft]") {
  Cluster c(3, Hibernating);
  ElectAndSleep(c);
  c.outbox().clear();
  for (uint64_t id : {1, 2, 3}) c.Tick(id, 3 * kElection);
  CHECK(c.outbox().empty());
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[2].role() == Role::kFollower);
  CHECK(c[3].role() == Role::kFollower);
  CHECK(c[2].term() == T(1));
}

TEST_CASE("hibernate: is off by default", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.ClearSent();
  c.TickAndStabilize(5 * kElection);
  CHECK_FALSE(c[1].hibernating());
  CHECK(CountOf<Hibernate>(c.sent()) == 0);
}

TEST_CASE("hibernate: a proposal wakes the group", "[raft]") {
  Cluster c(3, Hibernating);
  ElectAndSleep(c);

  const LogIndex index = MustPropose(c[1], "wake");
  CHECK_FALSE(c[1].hibernating());
  c.Stabilize();
  CHECK_FALSE(c[2].hibernating());
  CHECK_FALSE(c[3].hibernating());
  CHECK(c[1].commit() == index);
  CHECK_FALSE(c.node(1).soft_states.back().hibernating);

  // Idle again: back to sleep.
  const int took = c.RunUntil([&] { return AllHibernating(c); }, 3 * kHibernateAfter);
  CHECK(took >= 0);
  CHECK(c[2].commit() == index);
}

TEST_CASE("hibernate: a read wakes the leader and is served", "[raft]") {
  Cluster c(3, Hibernating);
  ElectAndSleep(c);
  c[1].ReadIndex(ReadId(3));
  CHECK_FALSE(c[1].hibernating());
  c.Stabilize();
  auto reads = c.ReadsOf(1, 3);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kReady);
  CHECK(reads[0].index == c[1].commit());
}

TEST_CASE("hibernate: a follower forwarding a read wakes up", "[raft]") {
  Cluster c(3, Hibernating);
  ElectAndSleep(c);
  c[2].ReadIndex(ReadId(4));
  c.Stabilize();
  CHECK_FALSE(c[2].hibernating());
  auto reads = c.ReadsOf(2, 4);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].status == ReadStatus::kReady);
}

TEST_CASE("hibernate: followers woken by a suspected leader elect a new one", "[raft]") {
  Cluster c(3, Hibernating);
  ElectAndSleep(c);
  c.Crash(1);

  // Asleep, nobody notices the dead leader.
  c.TickAndStabilize(3 * kElection);
  CHECK(c[2].hibernating());
  CHECK(c[3].hibernating());
  CHECK(c[2].term() == T(1));

  c[2].WakeUp(WakeReason::kLeaderSuspected);
  c[3].WakeUp(WakeReason::kLeaderSuspected);
  CHECK_FALSE(c[2].hibernating());
  CHECK_FALSE(c[3].hibernating());
  const int took = c.RunUntil([&] { return c.Leader() == 2 || c.Leader() == 3; }, 3 * kElection);
  REQUIRE(took >= 0);
  CHECK(took < 2 * kElection);
  CHECK(c[c.Leader()].term() == T(2));

  // The new leader works; the old one rejoins as a follower.
  const LogIndex index = MustPropose(c[c.Leader()], "new");
  c.Stabilize();
  CHECK(c[c.Leader()].commit() == index);
  c.Restart(1);
  const uint64_t leader = c.Leader();
  c.RunUntil([&] { return c[1].commit() == index; }, 2 * kElection);
  CHECK(c[1].leader() == Id(leader));
}

TEST_CASE("hibernate: a follower that is behind ignores Hibernate", "[raft]") {
  Cluster c(3, Hibernating);
  c.Elect(1);
  c[2].Step(Message{Id(1), Id(2), T(1), Hibernate{Ix(99), Ix(99)}});
  c.Drain(2);
  CHECK_FALSE(c[2].hibernating());
}

TEST_CASE("hibernate: a leader with a lagging follower stays awake", "[raft]") {
  Cluster c(3, Hibernating);
  c.Elect(1);
  c.Cut(1, 3);
  MustPropose(c[1], "x");
  c.Stabilize();
  c.TickAndStabilize(3 * kHibernateAfter);
  CHECK_FALSE(c[1].hibernating());
  CHECK(c[1].role() == Role::kLeader);
}

// Lease safety across hibernation. The leader wakes for a read and regains its lease from the
// acknowledgements of followers that answered its heartbeats while staying asleep. When the
// leader is then cut off, the followers' hosts (rightly) suspect it and call WakeUp; the followers
// must still not elect a new leader that commits while the old leader's lease lets it serve reads.
TEST_CASE("hibernate: followers woken as suspects do not cut a running lease short", "[raft]") {
  Cluster c(3, Hibernating);  // kLease is the default
  ElectAndSleep(c);

  c[1].ReadIndex(ReadId(1));
  c.Stabilize();
  REQUIRE(c.ReadsOf(1, 1).size() == 1);
  REQUIRE(c.ReadsOf(1, 1)[0].status == ReadStatus::kReady);
  INFO("followers asleep after the read round: " << c[2].hibernating() << c[3].hibernating());

  c.Isolate(1);
  c[2].WakeUp(WakeReason::kLeaderSuspected);
  c[3].WakeUp(WakeReason::kLeaderSuspected);

  uint64_t next_read = 100;
  int new_commit_tick = -1;
  size_t stale_reads = 0;
  for (int tick = 0; tick < 3 * kElection; ++tick) {
    if (new_commit_tick >= 0 && c[1].role() == Role::kLeader) {
      const size_t before = c.node(1).read_states.size();
      c[1].ReadIndex(ReadId(next_read++));
      c.Drain(1);
      for (size_t i = before; i < c.node(1).read_states.size(); ++i) {
        if (c.node(1).read_states[i].status == ReadStatus::kReady) ++stale_reads;
      }
    }
    c.TickAndStabilize(1);
    const uint64_t other = c[2].role() == Role::kLeader ? 2 : c[3].role() == Role::kLeader ? 3 : 0;
    if (other != 0 && new_commit_tick < 0) {
      MustPropose(c[other], "new write");
      c.Stabilize();
      REQUIRE(c[other].commit() > c[1].commit());
      new_commit_tick = tick;
    }
  }
  CHECK(new_commit_tick >= 0);
  // A read served by node 1 after the new leader committed misses that write.
  CHECK(stale_reads == 0);
}

}  // namespace
}  // namespace claw::raft::test
