// Leader election (thesis §3.4, §3.6.1, §6.2 check-quorum, §9.6 pre-vote) and the "refuse
// campaigns for an election timeout" rule that makes leases safe (§6.4.1).
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;  // Options::election_ticks default

enum class Transfer : uint8_t { kNo, kYes };

Message VoteRequestMsg(uint64_t from, uint64_t to, uint64_t term, uint64_t last_index,
                       uint64_t last_term, ElectionKind kind = ElectionKind::kVote,
                       Transfer transfer = Transfer::kNo) {
  VoteRequest v;
  v.kind = kind;
  v.last_index = Ix(last_index);
  v.last_term = T(last_term);
  v.leader_transfer = transfer == Transfer::kYes;
  return Message{Id(from), Id(to), T(term), v};
}

// Vote responses `from` sent to `to`, in order.
std::vector<VoteResponse> VoteResponses(const std::vector<Message>& msgs, uint64_t from,
                                        uint64_t to) {
  std::vector<VoteResponse> out;
  for (const Message& m : Select<VoteResponse>(msgs, Id(from), Id(to))) {
    out.push_back(*BodyOf<VoteResponse>(m));
  }
  return out;
}

bool AnyGranted(const std::vector<VoteResponse>& rs) {
  for (const VoteResponse& r : rs) {
    if (r.granted) return true;
  }
  return false;
}

TEST_CASE("election: a single voter elects itself only once its vote is durable", "[raft]") {
  Cluster c(1);
  c.SetPersistence(1, Persistence::kManual);
  c[1].Campaign();
  c.Drain(1);

  // The term and vote are written, but not yet durable: no leadership yet.
  CHECK(c[1].term() == T(1));
  CHECK(c[1].role() == Role::kCandidate);
  REQUIRE(!c.node(1).unpersisted.empty());
  bool wrote_vote = false;
  for (const PendingWrite& w : c.node(1).unpersisted) {
    if (w.hard_state && w.hard_state->term == T(1) && w.hard_state->vote == Id(1)) {
      wrote_vote = true;
    }
  }
  CHECK(wrote_vote);

  c.Persist(1);
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].leader() == Id(1));
  CHECK(c.storage(1).hard_state().vote == Id(1));

  // The new leader's empty entry commits once it, too, is durable.
  CHECK(c[1].last_index() == Ix(1));
  CHECK(c[1].commit() == Ix(0));
  c.Persist(1);
  CHECK(c[1].commit() == Ix(1));
  REQUIRE(c.node(1).applied.size() == 1);
  CHECK(c.node(1).applied[0] == MakeEntry(1, 1));
}

TEST_CASE("election: a single voter campaigns on its own after an election timeout", "[raft]") {
  Cluster c(1);
  int ticks = 0;
  while (c[1].role() != Role::kLeader && ticks < 3 * kElection) {
    c.Tick(1);
    ++ticks;
  }
  CHECK(c[1].role() == Role::kLeader);
  CHECK(ticks >= kElection);
  CHECK(ticks < 2 * kElection);
  CHECK(c[1].term() == T(1));
  CHECK(c[1].commit() == Ix(1));
}

TEST_CASE("election: three voters elect the campaigner; pre-vote first", "[raft]") {
  Cluster c(3);
  c.WarmUp();
  c.ClearSent();
  c[1].Campaign();
  c.Drain(1);

  // The pre-vote asks for term 1 without bumping anyone's term.
  CHECK(c[1].role() == Role::kPreCandidate);
  CHECK(c[1].term() == T(0));
  for (uint64_t to : {2, 3}) {
    auto reqs = Select<VoteRequest>(c.outbox(), Id(1), Id(to));
    REQUIRE(reqs.size() == 1);
    CHECK(BodyOf<VoteRequest>(reqs[0])->kind == ElectionKind::kPreVote);
    CHECK(reqs[0].term == T(1));
  }
  c.DeliverRound();
  CHECK(c[2].term() == T(0));
  CHECK(c[3].term() == T(0));

  c.Stabilize();
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == T(1));
  CHECK(c[1].commit() == Ix(1));
  for (uint64_t id : {2, 3}) {
    CHECK(c[id].role() == Role::kFollower);
    CHECK(c[id].term() == T(1));
    CHECK(c[id].leader() == Id(1));
    CHECK(c.storage(id).hard_state().vote == Id(1));
    CHECK(c[id].last_index() == Ix(1));
  }
  // A real vote followed the pre-vote.
  CHECK(CountOf<VoteRequest>(c.sent(), Id(1), Id(2)) == 2);

  c.TickAndStabilize(1);
  for (uint64_t id : {1, 2, 3}) {
    CHECK(c[id].commit() == Ix(1));
    CHECK(c.AppliedData(id) == std::vector<std::string>{""});
  }
}

TEST_CASE("election: five voters", "[raft]") {
  Cluster c(5);
  c.Elect(3);
  CHECK(c.Leader() == 3);
  CHECK(c[3].term() == T(1));
  for (uint64_t id : {1, 2, 4, 5}) {
    CHECK(c[id].leader() == Id(3));
    CHECK(c[id].commit() == Ix(1));
  }
  REQUIRE(c.Peer(3, 5).has_value());
  CHECK(c.Peer(3, 5)->match == Ix(1));
}

TEST_CASE("election: a candidate wins with a bare majority of five", "[raft]") {
  Cluster c(5);
  c.WarmUp();
  c.Crash(4);
  c.Crash(5);
  c[1].Campaign();
  c.Stabilize();
  CHECK(c[1].role() == Role::kLeader);
  c.Crash(3);
  // Two of five cannot elect anyone.
  c[2].Campaign();
  c.Stabilize();
  CHECK(c[2].role() != Role::kLeader);
  CHECK(c[1].role() == Role::kLeader);
}

TEST_CASE("election: a split vote is resolved by randomized timeouts", "[raft]") {
  Cluster c(4, [](Options& o) { o.pre_vote = false; });
  c.WarmUp();
  // 3 only hears 1, 4 only hears 2: each candidate gets two of four votes.
  c.Cut(2, 3);
  c.Cut(1, 4);
  c[1].Campaign();
  c[2].Campaign();
  c.Stabilize();
  CHECK(c[1].role() == Role::kCandidate);
  CHECK(c[2].role() == Role::kCandidate);
  CHECK(c[1].term() == T(1));
  CHECK(c[2].term() == T(1));
  CHECK(c.Leader() == 0);

  c.Heal();
  const int took = c.RunUntil([&] { return c.Leader() != 0; }, 6 * kElection);
  REQUIRE(took >= 0);
  const uint64_t leader = c.Leader();
  CHECK(c[leader].term() >= T(2));
  c.TickAndStabilize(1);
  for (uint64_t id : c.ids()) CHECK(c[id].leader() == Id(leader));
}

// Thesis §3.6.1 / paper §5.4.1: a voter refuses a candidate whose log is less up to date.
TEST_CASE("election: votes require an up-to-date log", "[raft]") {
  struct Case {
    uint64_t last_index;
    uint64_t last_term;
    bool granted;
  };
  // The voter's log is [1, 2]: last (index 2, term 2).
  const std::vector<Case> cases = {
      {3, 1, false},  // longer but older last term
      {1, 2, false},  // same last term, shorter
      {2, 2, true},   // identical
      {3, 2, true},   // same last term, longer
      {1, 3, true},   // newer last term, shorter
  };
  for (ElectionKind kind : {ElectionKind::kVote, ElectionKind::kPreVote}) {
    for (const Case& tc : cases) {
      INFO("kind=" << (kind == ElectionKind::kVote ? "vote" : "pre_vote") << " candidate last=("
                   << tc.last_index << "," << tc.last_term << ")");
      auto st = std::make_unique<MemoryLogStorage>(MakeConf({1, 2, 3}));
      st->Append(LogWithTerms({1, 2}));
      st->SetHardState(HardState{T(2), kNoNode, Ix(0)});
      Cluster c;
      c.Add(1, std::move(st));
      c.WarmUp();
      c.ClearSent();

      c[1].Step(VoteRequestMsg(2, 1, 3, tc.last_index, tc.last_term, kind));
      c.Drain(1);
      auto rs = VoteResponses(c.sent(), 1, 2);
      REQUIRE(rs.size() == 1);
      CHECK(rs[0].kind == kind);
      CHECK(rs[0].granted == tc.granted);
      if (kind == ElectionKind::kVote) {
        CHECK(c[1].term() == T(3));
        CHECK(c.storage(1).hard_state().term == T(3));
        CHECK(c.storage(1).hard_state().vote == (tc.granted ? Id(2) : kNoNode));
      } else {
        // A pre-vote changes nothing durable.
        CHECK(c[1].term() == T(2));
        CHECK(c.storage(1).hard_state().term == T(2));
        CHECK(c.storage(1).hard_state().vote == kNoNode);
      }
    }
  }
}

TEST_CASE("election: one vote per term, and it survives a restart", "[raft]") {
  Cluster c(3);
  c.WarmUp();
  c.ClearSent();

  c[1].Step(VoteRequestMsg(2, 1, 1, 0, 0));
  c.Drain(1);
  c[1].Step(VoteRequestMsg(3, 1, 1, 0, 0));
  c.Drain(1);
  // The same candidate asking again (a retransmission) gets the same answer.
  c[1].Step(VoteRequestMsg(2, 1, 1, 0, 0));
  c.Drain(1);

  auto to2 = VoteResponses(c.sent(), 1, 2);
  auto to3 = VoteResponses(c.sent(), 1, 3);
  REQUIRE(to2.size() == 2);
  REQUIRE(to3.size() == 1);
  CHECK(to2[0].granted);
  CHECK(to2[1].granted);
  CHECK_FALSE(to3[0].granted);
  CHECK(c.storage(1).hard_state() == HardState{T(1), Id(2), Ix(0)});

  // After a restart the durable vote still binds.
  c.Crash(1);
  c.Restart(1);
  c.Tick(1, kElection);  // past the startup refusal window
  c.ClearSent();
  c[1].Step(VoteRequestMsg(3, 1, 1, 0, 0));
  c.Drain(1);
  CHECK_FALSE(AnyGranted(VoteResponses(c.sent(), 1, 3)));
  CHECK(c[1].term() == T(1));
}

TEST_CASE("election: a message of a higher term makes the leader step down", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[1].term() == T(1));

  // A stale term is ignored.
  c[1].Step(Message{Id(2), Id(1), T(0), Heartbeat{Ix(0), ReadId(0), 0}});
  c.Drain(1);
  CHECK(c[1].role() == Role::kLeader);

  // Node 2 leads term 2 (elected behind our back): its first message dethrones us.
  AppendRequest append;
  append.prev_index = Ix(1);
  append.prev_term = T(1);
  append.commit = Ix(1);
  c.outbox().clear();
  c[1].Step(Message{Id(2), Id(1), T(2), append});
  c.Drain(1);
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c[1].term() == T(2));
  CHECK(c[1].leader() == Id(2));
  CHECK(c.storage(1).hard_state().term == T(2));
  CHECK(c.node(1).soft_states.back().role == Role::kFollower);

  // A response carrying a higher term has the same effect on a leader.
  Cluster d(3);
  d.Elect(2);
  AppendResponse resp;
  resp.index = Ix(1);
  resp.rejected = true;
  d[2].Step(Message{Id(3), Id(2), T(5), resp});
  d.Drain(2);
  CHECK(d[2].role() == Role::kFollower);
  CHECK(d[2].term() == T(5));
}

TEST_CASE("election: pre-vote keeps a partitioned node from disrupting the group", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(3);
  c.TickAndStabilize(5 * kElection);

  // Node 3 pre-campaigned over and over, without ever bumping its term.
  CHECK(c[3].term() == T(1));
  CHECK(c[3].role() == Role::kPreCandidate);
  CHECK(c[1].role() == Role::kLeader);

  c.Heal();
  c.TickAndStabilize(3);
  CHECK(c[1].role() == Role::kLeader);
  for (uint64_t id : {1, 2, 3}) {
    CHECK(c[id].term() == T(1));
    CHECK(c[id].leader() == Id(1));
  }
}

TEST_CASE("election: without pre-vote or check-quorum a rejoining node disrupts", "[raft]") {
  // The contrast to the test above, showing what pre-vote buys.
  Cluster c(3, [](Options& o) {
    o.pre_vote = false;
    o.check_quorum = false;
    o.read_mode = ReadMode::kReadIndex;
  });
  c.Elect(1);
  c.Isolate(3);
  c.TickAndStabilize(5 * kElection);
  CHECK(c[3].term() > T(2));
  const Term partitioned_term = c[3].term();

  c.Heal();
  // Node 3's higher term reaches the others and forces a new election; whoever leads now leads
  // a term at least as new as the partitioned node's.
  const int took = c.RunUntil(
      [&] { return c.Leader() != 0 && c[c.Leader()].term() >= partitioned_term; }, 6 * kElection);
  CHECK(took >= 0);
  CHECK(c[1].term() >= partitioned_term);
}

TEST_CASE("election: check-quorum makes an isolated leader step down", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);

  int ticks = 0;
  while (c[1].role() == Role::kLeader && ticks < 3 * kElection) {
    c.TickAndStabilize(1);
    ++ticks;
  }
  CHECK(c[1].role() != Role::kLeader);
  CHECK(ticks >= kElection);  // not before an election timeout without a quorum
  CHECK(ticks <= 2 * kElection);
  CHECK(c[1].leader() == kNoNode);
  CHECK(c[1].term() == T(1));  // stepping down alone does not bump the term
  CHECK(c.node(1).soft_states.back().role == Role::kFollower);

  // The majority side elects a new leader meanwhile.
  const int took = c.RunUntil(
      [&] { return c[2].role() == Role::kLeader || c[3].role() == Role::kLeader; }, 3 * kElection);
  CHECK(took >= 0);
  CHECK(c[c.Leader()].term() == T(2));
}

TEST_CASE("election: voters refuse campaigns while they hear from a leader", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.ClearSent();
  const LogIndex last = c[1].last_index();
  const Term last_term = T(1);

  for (ElectionKind kind : {ElectionKind::kPreVote, ElectionKind::kVote}) {
    c[2].Step(VoteRequestMsg(3, 2, 2, last.value(), last_term.value(), kind));
    c.Drain(2);
  }
  CHECK_FALSE(AnyGranted(VoteResponses(c.sent(), 2, 3)));
  CHECK(c[2].term() == T(1));
  CHECK(c[2].leader() == Id(1));

  // The leader itself refuses too (its lease).
  c[1].Step(VoteRequestMsg(3, 1, 2, last.value(), last_term.value()));
  c.Drain(1);
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == T(1));

  // A campaign ordered by the leader (TimeoutNow) is not refused.
  c[2].Step(VoteRequestMsg(3, 2, 2, last.value(), last_term.value(), ElectionKind::kVote,
                           Transfer::kYes));
  c.Drain(2);
  auto rs = VoteResponses(c.sent(), 2, 3);
  REQUIRE(!rs.empty());
  CHECK(rs.back().granted);
  CHECK(c[2].term() == T(2));
}

TEST_CASE("election: a voter grants again once it stopped hearing from the leader", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Cut(1, 2);
  c.Cut(1, 3);
  c.Tick(2, kElection);  // node 2 alone: its leader has been silent for an election timeout
  c.ClearSent();
  c[2].Step(VoteRequestMsg(3, 2, 2, 1, 1));
  c.Drain(2);
  auto rs = VoteResponses(c.sent(), 2, 3);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].granted);
}

TEST_CASE("election: a restarted voter refuses campaigns for an election timeout", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Crash(2);
  c.Restart(2);
  c.Cut(1, 2);  // node 2 hears no leader after the restart
  c.ClearSent();

  c[2].Step(VoteRequestMsg(3, 2, 2, 1, 1));
  c.Drain(2);
  CHECK_FALSE(AnyGranted(VoteResponses(c.sent(), 2, 3)));
  CHECK(c[2].term() == T(1));

  c.Tick(2, kElection);
  c.ClearSent();
  c[2].Step(VoteRequestMsg(3, 2, 2, 1, 1));
  c.Drain(2);
  auto rs = VoteResponses(c.sent(), 2, 3);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].granted);
  CHECK(c[2].term() == T(2));
}

TEST_CASE("election: timeouts are drawn from [E, 2E) and vary with the seed", "[raft]") {
  std::set<int> first_timeouts;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    Cluster c;
    c.Add(1, std::make_unique<MemoryLogStorage>(MakeConf({1, 2, 3})),
          [&](Options& o) { o.seed = seed; });
    int ticks = 0;
    while (c[1].role() == Role::kFollower && ticks < 3 * kElection) {
      c.Tick(1);
      ++ticks;
    }
    CHECK(c[1].role() == Role::kPreCandidate);
    CHECK(ticks >= kElection);
    CHECK(ticks < 2 * kElection);
    first_timeouts.insert(ticks);

    // The failed pre-vote is retried after another randomized timeout.
    c.outbox().clear();
    int retry = 0;
    while (c.outbox().empty() && retry < 3 * kElection) {
      c.Tick(1);
      ++retry;
    }
    CHECK(CountOf<VoteRequest>(c.outbox(), Id(1)) == 2);
    CHECK(retry >= kElection);
    CHECK(retry < 2 * kElection);
  }
  CHECK(first_timeouts.size() >= 4);
}

TEST_CASE("election: a vote lost in a crash was never announced", "[raft]") {
  Cluster c(3, [](Options& o) { o.pre_vote = false; });
  c.WarmUp();
  c.ClearSent();
  c.SetPersistence(2, Persistence::kManual);
  c[2].Step(VoteRequestMsg(1, 2, 1, 0, 0));
  c.Drain(2);
  CHECK(VoteResponses(c.sent(), 2, 1).empty());  // held: the vote is not durable yet

  // The write is lost; after the restart node 2 may vote for someone else in term 1.
  c.Crash(2);
  c.Restart(2);
  c.SetPersistence(2, Persistence::kAuto);
  c.Tick(2, kElection);
  c[2].Step(VoteRequestMsg(3, 2, 1, 0, 0));
  c.Drain(2);
  size_t granted_in_term_1 = 0;
  for (const Message& m : Select<VoteResponse>(c.sent(), Id(2))) {
    if (m.term == T(1) && BodyOf<VoteResponse>(m)->granted) ++granted_in_term_1;
  }
  CHECK(granted_in_term_1 == 1);
  CHECK(VoteResponses(c.sent(), 2, 1).empty());
}

TEST_CASE("election: a candidate that hears the winner of its term follows it", "[raft]") {
  Cluster c(3, [](Options& o) { o.pre_vote = false; });
  c.WarmUp();
  c.Cut(2, 1);
  c.Cut(2, 3);
  c[2].Campaign();
  c.Drain(2);
  REQUIRE(c[2].role() == Role::kCandidate);
  REQUIRE(c[2].term() == T(1));
  c.Heal();
  c.outbox().clear();

  // Node 1 wins term 1 with node 3's vote and tells node 2.
  c.Cut(1, 2);
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  REQUIRE(c[1].term() == T(1));
  c.Heal();
  c.TickAndStabilize(1);
  CHECK(c[2].role() == Role::kFollower);
  CHECK(c[2].term() == T(1));
  CHECK(c[2].leader() == Id(1));
}

TEST_CASE("election: messages from strangers are ignored", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  AppendResponse resp;
  resp.index = Ix(1);
  c[1].Step(Message{Id(9), Id(1), T(1), resp});
  c[1].Step(Message{Id(9), Id(1), T(1), HeartbeatResponse{ReadId(0), 0}});
  c[1].Step(Message{Id(9), Id(1), T(1), VoteResponse{ElectionKind::kVote, true}});
  c.Stabilize();
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == T(1));
  CHECK_FALSE(c.Peer(1, 9).has_value());
  CHECK(MustPropose(c[1], "still fine") == Ix(2));
}

TEST_CASE("election: an isolated leader steps down even while asked to transfer", "[raft]") {
  // A balancer may keep asking a leader to move; that must not keep an isolated leader alive.
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);
  for (int tick = 0; tick < 4 * kElection && c[1].role() == Role::kLeader; ++tick) {
    if (tick % 4 == 0) c[1].TransferLeadership(Id(tick % 8 == 0 ? 2 : 3));
    c.TickAndStabilize(1);
  }
  CHECK(c[1].role() != Role::kLeader);
}

}  // namespace
}  // namespace claw::raft::test
