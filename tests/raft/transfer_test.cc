// Leadership transfer (thesis §3.10): the leader brings the target up to date, sends TimeoutNow,
// and the target campaigns at once with VoteRequest::leader_transfer set.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;

TEST_CASE("transfer: to an up-to-date follower", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  MustPropose(c[1], "a");
  c.Stabilize();
  c.ClearSent();

  c[1].TransferLeadership(Id(2));
  c.Drain(1);
  auto tn = Select<TimeoutNow>(c.outbox(), Id(1));
  REQUIRE(tn.size() == 1);
  CHECK(tn[0].to == Id(2));
  c.Stabilize();

  CHECK(c[2].role() == Role::kLeader);
  CHECK(c[2].term() == T(2));
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c[1].leader() == Id(2));
  CHECK(c[3].leader() == Id(2));
  // The target campaigned directly (no pre-vote), flagged as a transfer.
  auto votes = Select<VoteRequest>(c.sent(), Id(2));
  REQUIRE(!votes.empty());
  for (const Message& m : votes) {
    CHECK(BodyOf<VoteRequest>(m)->kind == ElectionKind::kVote);
    CHECK(BodyOf<VoteRequest>(m)->leader_transfer);
  }
  // Nothing was lost on the way.
  c.TickAndStabilize(1);
  CHECK(c.AppliedData(2) == std::vector<std::string>{"", "a", ""});
}

TEST_CASE("transfer: requested on a follower is forwarded to the leader", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c[3].TransferLeadership(Id(3));
  c.Drain(3);
  auto fwd = Select<TransferLeaderRequest>(c.outbox(), Id(3), Id(1));
  REQUIRE(fwd.size() == 1);
  CHECK(BodyOf<TransferLeaderRequest>(fwd[0])->target == Id(3));
  c.Stabilize();
  CHECK(c[3].role() == Role::kLeader);
  CHECK(c[1].leader() == Id(3));
}

TEST_CASE("transfer: a lagging target is caught up before TimeoutNow", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Cut(1, 3);
  for (int i = 0; i < 3; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  REQUIRE(c[1].commit() == Ix(4));
  REQUIRE(c[3].last_index() == Ix(1));
  c.Heal();
  c.ClearSent();

  c[1].TransferLeadership(Id(3));
  c.Drain(1);
  CHECK(CountOf<TimeoutNow>(c.outbox()) == 0);
  // Catching up may need a heartbeat round to discover the lost appends.
  const int took = c.RunUntil([&] { return c[3].role() == Role::kLeader; }, kElection / 2);
  CHECK(took >= 0);
  CHECK(c[3].role() == Role::kLeader);

  // TimeoutNow went out only after node 3 acknowledged the leader's last index.
  bool acked_before_timeout_now = false;
  for (const Message& m : c.sent()) {
    if (const auto* r = BodyOf<AppendResponse>(m);
        r && m.from == Id(3) && !r->rejected && r->index == Ix(4)) {
      acked_before_timeout_now = true;
    }
    if (Is<TimeoutNow>(m)) {
      CHECK(acked_before_timeout_now);
      break;
    }
  }
  CHECK(c[3].last_index() == Ix(5));
  CHECK(TermsOf(c.Log(3)) == std::vector<uint64_t>{1, 1, 1, 1, 2});
}

TEST_CASE("transfer: proposals are refused while transferring, until it times out", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Cut(1, 3);  // the target can never catch up
  MustPropose(c[1], "a");
  c.Stabilize();

  c[1].TransferLeadership(Id(3));
  c.Stabilize();
  auto refused = c[1].Propose("b");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == ProposeError::kTransferring);
  auto conf_refused = c[1].ProposeConfChange(ConfChange{{{ConfChangeType::kAddLearner, Id(4)}}});
  REQUIRE_FALSE(conf_refused.has_value());
  CHECK(conf_refused.error() == ProposeError::kTransferring);

  c.TickAndStabilize(kElection / 2);
  CHECK(c[1].Propose("c").error() == ProposeError::kTransferring);

  // After an election timeout the leader gives up and serves again.
  c.TickAndStabilize(kElection);
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == T(1));
  auto accepted = c[1].Propose("d");
  REQUIRE(accepted.has_value());
  c.Stabilize();
  CHECK(c[1].commit() == *accepted);
  CHECK(CountOf<TimeoutNow>(c.sent()) == 0);
}

TEST_CASE("transfer: to a learner, to itself or to a stranger is ignored", "[raft]") {
  const ConfState conf = MakeConf({1, 2, 3}, {4});
  Cluster c(conf, {1, 2, 3, 4});
  c.Elect(1);
  REQUIRE(c[4].last_index() == Ix(1));
  c.ClearSent();

  for (uint64_t target : {4, 1, 9}) {
    INFO("target " << target);
    c[1].TransferLeadership(Id(target));
    c.Stabilize();
    CHECK(CountOf<TimeoutNow>(c.sent()) == 0);
    CHECK(c[1].role() == Role::kLeader);
    // Not transferring: proposals still go through.
    auto index = c[1].Propose("after " + std::to_string(target));
    REQUIRE(index.has_value());
    c.Stabilize();
    CHECK(c[1].commit() == *index);
  }
  CHECK(c[4].role() == Role::kFollower);
  CHECK(c[1].term() == T(1));
}

TEST_CASE("transfer: a delayed TimeoutNow of an older term is ignored", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c[1].TransferLeadership(Id(2));
  c.Stabilize();
  REQUIRE(c[2].role() == Role::kLeader);
  REQUIRE(c[2].term() == T(2));

  c[3].Step(Message{Id(1), Id(3), T(1), TimeoutNow{}});
  c.Stabilize();
  CHECK(c[3].role() == Role::kFollower);
  CHECK(c[3].term() == T(2));
  CHECK(c[2].role() == Role::kLeader);
}

TEST_CASE("transfer: a learner told to campaign does not", "[raft]") {
  const ConfState conf = MakeConf({1, 2, 3}, {4});
  Cluster c(conf, {1, 2, 3, 4});
  c.Elect(1);
  c[4].Step(Message{Id(1), Id(4), T(1), TimeoutNow{}});
  c.Stabilize();
  CHECK(c[4].role() == Role::kFollower);
  CHECK(c[4].term() == T(1));
  CHECK(c[1].role() == Role::kLeader);
}

}  // namespace
}  // namespace claw::raft::test
