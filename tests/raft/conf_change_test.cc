// Membership changes: NextConf / LeaveJoint / the kConfig encoding (pure functions), and the
// replica's rules (thesis §4.1-§4.3): a configuration takes effect when appended, one change at a
// time, only after the leader committed an entry of its term; joint configurations are left
// automatically; a removed leader steps down; a truncated configuration entry is rolled back.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;

ConfChange Change(std::vector<ConfChangeStep> steps) { return ConfChange{std::move(steps)}; }
ConfChangeStep AddVoter(uint64_t id) { return {ConfChangeType::kAddVoter, Id(id)}; }
ConfChangeStep AddLearner(uint64_t id) { return {ConfChangeType::kAddLearner, Id(id)}; }
ConfChangeStep Remove(uint64_t id) { return {ConfChangeType::kRemove, Id(id)}; }

ConfState Joint(const std::vector<uint64_t>& voters, const std::vector<uint64_t>& outgoing,
                const std::vector<uint64_t>& learners = {},
                const std::vector<uint64_t>& learners_next = {}) {
  ConfState c = MakeConf(voters, learners);
  c.voters_outgoing = Ids(outgoing);
  c.learners_next = Ids(learners_next);
  return c;
}

// The configuration decoded from every kConfig entry of `log`, in order.
std::vector<ConfState> ConfigsIn(const std::vector<Entry>& log) {
  std::vector<ConfState> out;
  for (const Entry& e : log) {
    if (e.type != EntryType::kConfig) continue;
    auto conf = DecodeConfState(e.data);
    REQUIRE(conf.has_value());
    out.push_back(Normalized(*conf));
  }
  return out;
}

// ---- NextConf and friends -------------------------------------------------------------------

TEST_CASE("conf: NextConf single-step changes", "[raft]") {
  const ConfState base = MakeConf({1, 2, 3});

  auto add = NextConf(base, Change({AddVoter(4)}));
  REQUIRE(add.has_value());
  CHECK(Normalized(*add) == MakeConf({1, 2, 3, 4}));
  CHECK_FALSE(add->IsJoint());

  auto learner = NextConf(base, Change({AddLearner(4)}));
  REQUIRE(learner.has_value());
  CHECK(Normalized(*learner) == MakeConf({1, 2, 3}, {4}));

  auto promote = NextConf(MakeConf({1, 2, 3}, {4}), Change({AddVoter(4)}));
  REQUIRE(promote.has_value());
  CHECK(Normalized(*promote) == MakeConf({1, 2, 3, 4}));

  auto demote = NextConf(base, Change({AddLearner(3)}));
  REQUIRE(demote.has_value());
  CHECK(Normalized(*demote) == MakeConf({1, 2}, {3}));
  CHECK_FALSE(demote->IsJoint());

  auto remove = NextConf(base, Change({Remove(3)}));
  REQUIRE(remove.has_value());
  CHECK(Normalized(*remove) == MakeConf({1, 2}));

  auto remove_learner = NextConf(MakeConf({1, 2, 3}, {4}), Change({Remove(4)}));
  REQUIRE(remove_learner.has_value());
  CHECK(Normalized(*remove_learner) == MakeConf({1, 2, 3}));

  // Learner-only changes are never joint, however many.
  auto learners = NextConf(base, Change({AddLearner(4), AddLearner(5), AddLearner(6)}));
  REQUIRE(learners.has_value());
  CHECK(Normalized(*learners) == MakeConf({1, 2, 3}, {4, 5, 6}));
}

TEST_CASE("conf: NextConf refuses bad changes and names the node", "[raft]") {
  const ConfState base = MakeConf({1, 2, 3});

  auto absent = NextConf(base, Change({Remove(9)}));
  REQUIRE_FALSE(absent.has_value());
  CHECK(absent.error().find('9') != std::string::npos);

  auto dup = NextConf(base, Change({AddVoter(7), AddLearner(7)}));
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().find('7') != std::string::npos);

  auto empty = NextConf(MakeConf({1}), Change({Remove(1)}));
  REQUIRE_FALSE(empty.has_value());

  auto all_gone = NextConf(MakeConf({1, 2}), Change({Remove(1), Remove(2)}));
  REQUIRE_FALSE(all_gone.has_value());

  auto no_voter_left = NextConf(MakeConf({1}, {2}), Change({AddLearner(1)}));
  REQUIRE_FALSE(no_voter_left.has_value());
}

TEST_CASE("conf: more than one voter change goes through a joint configuration", "[raft]") {
  const ConfState base = MakeConf({1, 2, 3});

  auto replace = NextConf(base, Change({AddVoter(4), Remove(1)}));
  REQUIRE(replace.has_value());
  CHECK(replace->IsJoint());
  CHECK(Normalized(*replace) == Joint({2, 3, 4}, {1, 2, 3}));
  CHECK(IsVoter(*replace, Id(1)));  // still a voter of the outgoing half
  CHECK(IsVoter(*replace, Id(4)));
  auto left = LeaveJoint(*replace);
  CHECK(Normalized(left) == MakeConf({2, 3, 4}));
  CHECK_FALSE(left.IsJoint());

  // Demoting a voter while adding another: the demoted node is a learner only once left.
  auto swap = NextConf(base, Change({AddLearner(1), AddVoter(4)}));
  REQUIRE(swap.has_value());
  CHECK(Normalized(*swap) == Joint({2, 3, 4}, {1, 2, 3}, {}, {1}));
  CHECK(IsVoter(*swap, Id(1)));
  CHECK(IsLearner(*swap, Id(1)));
  CHECK(IsMember(*swap, Id(1)));
  CHECK(Normalized(LeaveJoint(*swap)) == MakeConf({2, 3, 4}, {1}));

  auto two_adds = NextConf(base, Change({AddVoter(4), AddVoter(5)}));
  REQUIRE(two_adds.has_value());
  CHECK(Normalized(*two_adds) == Joint({1, 2, 3, 4, 5}, {1, 2, 3}));
}

TEST_CASE("conf: membership predicates and Normalize", "[raft]") {
  ConfState c = Joint({3, 2, 2}, {1, 2}, {5}, {1});
  Normalize(c);
  CHECK(c.voters == Ids({2, 3}));
  CHECK(c.voters_outgoing == Ids({1, 2}));
  CHECK(IsVoter(c, Id(1)));
  CHECK(IsVoter(c, Id(3)));
  CHECK_FALSE(IsVoter(c, Id(5)));
  CHECK(IsLearner(c, Id(5)));
  CHECK(IsLearner(c, Id(1)));
  CHECK_FALSE(IsLearner(c, Id(2)));
  CHECK(IsMember(c, Id(5)));
  CHECK_FALSE(IsMember(c, Id(9)));
}

TEST_CASE("conf: Encode/Decode round trip", "[raft]") {
  const std::vector<ConfState> confs = {
      ConfState{},
      MakeConf({1}),
      MakeConf({1, 2, 3}, {4, 5}),
      Joint({2, 3, 4}, {1, 2, 3}, {}, {1}),
      MakeConf({1ull << 40, (1ull << 63) + 5, ~0ull}, {127, 128, 16383, 16384}),
  };
  for (const ConfState& conf : confs) {
    INFO(Catch::StringMaker<ConfState>::convert(conf));
    const std::string bytes = EncodeConfState(conf);
    auto back = DecodeConfState(bytes);
    REQUIRE(back.has_value());
    CHECK(Normalized(*back) == Normalized(conf));
    CHECK(EncodeConfState(*back) == bytes);
  }
}

TEST_CASE("conf: Decode rejects malformed bytes", "[raft]") {
  const std::string good = EncodeConfState(Joint({2, 3, 300}, {1, 2, 3}, {7}, {1}));
  REQUIRE(DecodeConfState(good).has_value());

  CHECK_FALSE(DecodeConfState("").has_value());
  // Every strict prefix is truncated.
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK_FALSE(DecodeConfState(std::string_view(good).substr(0, n)).has_value());
  }
  // Trailing garbage.
  CHECK_FALSE(DecodeConfState(good + "x").has_value());
  // An unknown version.
  std::string bad_version = good;
  bad_version[0] = static_cast<char>(static_cast<unsigned char>(good[0]) + 1);
  CHECK_FALSE(DecodeConfState(bad_version).has_value());
  // A varint longer than 64 bits: version, then a list length of 1, then 11 continuation bytes.
  std::string overlong = good.substr(0, 1);
  overlong += '\x01';
  overlong += std::string(10, '\xff');
  overlong += '\x01';
  overlong += std::string(3, '\x00');
  CHECK_FALSE(DecodeConfState(overlong).has_value());
  // A list length far beyond the bytes that follow.
  std::string huge_count = good.substr(0, 1);
  huge_count += "\xff\xff\xff\xff\x0f";
  CHECK_FALSE(DecodeConfState(huge_count).has_value());
}

// ---- The replica's membership rules ---------------------------------------------------------

TEST_CASE("conf: add a learner, let it catch up, promote it", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 3; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  c.AddBlank(4);

  auto index = c[1].ProposeConfChange(Change({AddLearner(4)}));
  REQUIRE(index.has_value());
  CHECK(*index == Ix(5));
  // In effect as soon as appended.
  CHECK(Normalized(c[1].conf()) == MakeConf({1, 2, 3}, {4}));
  c.RunUntil([&] { return c[4].last_index() == Ix(5) && c[4].commit() == Ix(5); }, 5);
  CHECK(c[4].last_index() == Ix(5));
  CHECK(c[4].commit() == Ix(5));
  CHECK(c.Log(4) == c.Log(1));
  CHECK(Normalized(c[4].conf()) == MakeConf({1, 2, 3}, {4}));
  CHECK(c.Peer(1, 4).has_value());
  CHECK(c.Peer(1, 4)->learner);

  // A learner's ack does not count: with two voters cut off nothing commits.
  c.Cut(1, 2);
  c.Cut(1, 3);
  const LogIndex pending = MustPropose(c[1], "needs voters");
  c.Stabilize();
  CHECK(c.Peer(1, 4)->match == pending);
  CHECK(c[1].commit() == Ix(5));
  c.Heal();
  c.TickAndStabilize(2);
  CHECK(c[1].commit() == pending);

  // A learner never campaigns.
  c.Isolate(4);
  c.Tick(4, 4 * kElection);
  CHECK(c[4].role() == Role::kFollower);
  CHECK(c[4].term() == T(1));
  c.Heal();

  auto promote = c[1].ProposeConfChange(Change({AddVoter(4)}));
  REQUIRE(promote.has_value());
  c.TickAndStabilize(2);
  for (uint64_t id : {1, 2, 3, 4}) {
    INFO("node " << id);
    CHECK(Normalized(c[id].conf()) == MakeConf({1, 2, 3, 4}));
    CHECK(c[id].commit() == *promote);
  }
  CHECK_FALSE(c.Peer(1, 4)->learner);

  // Now four voters: a quorum needs three.
  c.Cut(1, 2);
  c.Cut(1, 3);
  const LogIndex two_of_four = MustPropose(c[1], "x");
  c.Stabilize();
  CHECK(c[1].commit() < two_of_four);
  c.Heal();
  c.TickAndStabilize(2);
  CHECK(c[1].commit() == two_of_four);
}

TEST_CASE("conf: remove a follower", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  auto index = c[1].ProposeConfChange(Change({Remove(3)}));
  REQUIRE(index.has_value());
  c.Stabilize();
  c.TickAndStabilize(1);
  CHECK(c[1].commit() == *index);
  CHECK(Normalized(c[1].conf()) == MakeConf({1, 2}));
  CHECK(Normalized(c[2].conf()) == MakeConf({1, 2}));
  CHECK_FALSE(c.Peer(1, 3).has_value());

  // Two voters now: node 3 is no longer needed, nor contacted.
  c.Crash(3);
  c.ClearSent();
  const LogIndex next = MustPropose(c[1], "after");
  c.Stabilize();
  c.TickAndStabilize(kElection * 2);
  CHECK(c[1].commit() == next);
  CHECK(c[1].role() == Role::kLeader);  // check-quorum counts only 1 and 2
  CHECK(CountOf<AppendRequest>(c.sent(), Id(1), Id(3)) == 0);
  CHECK(CountOf<Heartbeat>(c.sent(), Id(1), Id(3)) == 0);
}

TEST_CASE("conf: a removed leader hands over and steps down", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  MustPropose(c[1], "a");
  c.Stabilize();
  c.ClearSent();

  auto index = c[1].ProposeConfChange(Change({Remove(1)}));
  REQUIRE(index.has_value());
  // Node 1 still leads until the change commits (under the new configuration: 2 and 3).
  CHECK(c[1].role() == Role::kLeader);
  const int took = c.RunUntil([&] { return c.Leader() == 2 || c.Leader() == 3; }, 3 * kElection);
  REQUIRE(took >= 0);
  CHECK(c[1].role() != Role::kLeader);
  const uint64_t leader = c.Leader();
  CHECK(c[leader].term() == T(2));
  CHECK(Normalized(c[leader].conf()) == MakeConf({2, 3}));

  // It handed over with TimeoutNow to a voter rather than waiting for a timeout.
  auto tn = Select<TimeoutNow>(c.sent(), Id(1));
  REQUIRE(tn.size() == 1);
  CHECK(tn[0].to == Id(leader));
  CHECK(took <= 1);

  // The removed node's entry committed everywhere that matters.
  c.TickAndStabilize(1);
  for (uint64_t id : {2, 3}) CHECK(c[id].commit() >= *index);
}

TEST_CASE("conf: a joint change replacing two voters is left automatically", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.AddBlank(4);
  c.AddBlank(5);

  auto index = c[1].ProposeConfChange(Change({AddVoter(4), AddVoter(5), Remove(2), Remove(3)}));
  REQUIRE(index.has_value());
  CHECK(Normalized(c[1].conf()) == Joint({1, 4, 5}, {1, 2, 3}));

  // While joint, another change is refused.
  auto again = c[1].ProposeConfChange(Change({AddLearner(6)}));
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == ProposeError::kConfChangePending);

  const int took = c.RunUntil(
      [&] {
        return !c[1].conf().IsJoint() && c[1].commit() == c[1].last_index() &&
               c[4].commit() == c[1].last_index() && c[5].commit() == c[1].last_index();
      },
      10);
  CHECK(took >= 0);
  CHECK(Normalized(c[1].conf()) == MakeConf({1, 4, 5}));
  for (uint64_t id : {4, 5}) CHECK(Normalized(c[id].conf()) == MakeConf({1, 4, 5}));

  // The log holds the joint entry followed by the leader's own leave entry.
  const std::vector<ConfState> configs = ConfigsIn(c.Log(1));
  REQUIRE(configs.size() == 2);
  CHECK(configs[0] == Joint({1, 4, 5}, {1, 2, 3}));
  CHECK(configs[1] == MakeConf({1, 4, 5}));

  // The new configuration works without the removed voters.
  c.Crash(2);
  c.Crash(3);
  const LogIndex next = MustPropose(c[1], "new world");
  c.Stabilize();
  CHECK(c[1].commit() == next);

  // And a further change is accepted again.
  auto later = c[1].ProposeConfChange(Change({AddLearner(6)}));
  CHECK(later.has_value());
}

TEST_CASE("conf: a joint configuration needs both majorities", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.AddBlank(4);
  c.AddBlank(5);
  // The new voters never hear from the leader: the joint entry cannot commit in C_new.
  c.Isolate(4);
  c.Isolate(5);
  auto index = c[1].ProposeConfChange(Change({AddVoter(4), AddVoter(5), Remove(2), Remove(3)}));
  REQUIRE(index.has_value());
  c.TickAndStabilize(3);
  CHECK(c[1].commit() < *index);  // C_old = {1,2,3} has a majority, C_new = {1,4,5} does not
  CHECK(c[1].conf().IsJoint());
}

TEST_CASE("conf: one change at a time", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);  // keep the first change uncommitted

  auto first = c[1].ProposeConfChange(Change({AddLearner(4)}));
  REQUIRE(first.has_value());
  auto second = c[1].ProposeConfChange(Change({AddLearner(5)}));
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error() == ProposeError::kConfChangePending);
  // Ordinary proposals are not affected.
  CHECK(c[1].Propose("x").has_value());

  c.Heal();
  c.TickAndStabilize(2);
  REQUIRE(c[1].commit() >= *first);
  auto third = c[1].ProposeConfChange(Change({AddLearner(5)}));
  REQUIRE(third.has_value());
  c.Stabilize();
  CHECK(Normalized(c[1].conf()) == MakeConf({1, 2, 3}, {4, 5}));
}

TEST_CASE("conf: refused before the leader committed an entry of its term", "[raft]") {
  Cluster c(3);
  c.WarmUp();
  c.SetIntercept([](Message& m) { return !Is<AppendRequest>(m); });
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  REQUIRE(c[1].commit() == Ix(0));

  auto early = c[1].ProposeConfChange(Change({AddLearner(4)}));
  REQUIRE_FALSE(early.has_value());
  CHECK(early.error() == ProposeError::kNotReady);

  c.ClearIntercept();
  c.TickAndStabilize(2);
  REQUIRE(c[1].commit() == Ix(1));
  CHECK(c[1].ProposeConfChange(Change({AddLearner(4)})).has_value());
}

TEST_CASE("conf: invalid changes and followers are refused", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  auto invalid = c[1].ProposeConfChange(Change({Remove(9)}));
  REQUIRE_FALSE(invalid.has_value());
  CHECK(invalid.error() == ProposeError::kInvalidConfChange);
  auto follower = c[2].ProposeConfChange(Change({AddLearner(4)}));
  REQUIRE_FALSE(follower.has_value());
  CHECK(follower.error() == ProposeError::kNotLeader);
  // Nothing was appended by either.
  CHECK(c[1].last_index() == Ix(1));
  CHECK(Normalized(c[1].conf()) == MakeConf({1, 2, 3}));
}

TEST_CASE("conf: a truncated configuration entry is rolled back", "[raft]") {
  Cluster c(5);
  c.Elect(1);
  // Only node 2 receives the change.
  c.Cut(1, 3);
  c.Cut(1, 4);
  c.Cut(1, 5);
  auto index = c[1].ProposeConfChange(Change({AddLearner(6)}));
  REQUIRE(index.has_value());
  c.Stabilize();
  REQUIRE(c[2].last_index() == *index);
  CHECK(Normalized(c[2].conf()) == MakeConf({1, 2, 3, 4, 5}, {6}));
  CHECK(c[1].commit() < *index);

  // 3, 4, 5 elect a leader of their own and commit an entry at the same index.
  c.Heal();
  c.Isolate(1);
  c.Isolate(2);
  const int took = c.RunUntil([&] { return c.Leader() >= 3; }, 6 * kElection);
  REQUIRE(took >= 0);
  const uint64_t leader = c.Leader();
  MustPropose(c[leader], "winner");
  c.Stabilize();

  c.Heal();
  c.RunUntil(
      [&] { return c[1].commit() == c[leader].commit() && c[2].commit() == c[leader].commit(); },
      5);
  CHECK(c[2].leader() == Id(leader));
  CHECK(*c[2].TermAt(*index) > T(1));
  CHECK(Normalized(c[2].conf()) == MakeConf({1, 2, 3, 4, 5}));
  CHECK(Normalized(c[1].conf()) == MakeConf({1, 2, 3, 4, 5}));
  CHECK(c.Log(2) == c.Log(leader));
  CHECK(c.Log(1) == c.Log(leader));
}

TEST_CASE("conf: a joint change that replaces the leader", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.AddBlank(4);
  auto index = c[1].ProposeConfChange(Change({AddVoter(4), Remove(1)}));
  REQUIRE(index.has_value());
  CHECK(Normalized(c[1].conf()) == Joint({2, 3, 4}, {1, 2, 3}));
  // Node 1 keeps leading the joint configuration (it is an outgoing voter) ...
  CHECK(c[1].role() == Role::kLeader);

  // ... leaves it, and then hands leadership to a voter of the new configuration.
  const int took = c.RunUntil(
      [&] {
        const uint64_t l = c.Leader();
        return l >= 2 && !c[l].conf().IsJoint();
      },
      3 * kElection);
  REQUIRE(took >= 0);
  const uint64_t leader = c.Leader();
  CHECK(Normalized(c[leader].conf()) == MakeConf({2, 3, 4}));
  CHECK(c[1].role() != Role::kLeader);
  const std::vector<ConfState> configs = ConfigsIn(c.Log(leader));
  REQUIRE(configs.size() >= 2);
  CHECK(configs[0] == Joint({2, 3, 4}, {1, 2, 3}));
  CHECK(configs[1] == MakeConf({2, 3, 4}));

  c.Crash(1);
  const LogIndex next = MustPropose(c[leader], "without 1");
  c.Stabilize();
  CHECK(c[leader].commit() == next);
}

TEST_CASE("conf: a removed node's campaign does not disturb the group", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  auto index = c[1].ProposeConfChange(Change({Remove(3)}));
  REQUIRE(index.has_value());
  c.Cut(1, 3);  // node 3 never learns it was removed
  c.Cut(2, 3);
  c.Stabilize();
  c.TickAndStabilize(1);
  REQUIRE(c[1].commit() == *index);
  c.Heal();
  c.ClearSent();
  // Node 3 still thinks it is a voter and campaigns.
  c.TickAndStabilize(4 * kElection);
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == T(1));
  CHECK(c[2].term() == T(1));
}

TEST_CASE("conf: a removed leader hands over even with an unreplicated tail", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  auto index = c[1].ProposeConfChange(Change({Remove(1)}));
  REQUIRE(index.has_value());
  c.Drain(1);  // the removal leaves in its own append
  std::vector<Message> removal = c.TakeOutbox();
  MustPropose(c[1], "tail");
  c.Drain(1);
  std::vector<Message> tail = c.TakeOutbox();  // held: the tail never arrives

  for (Message& m : removal) c.Deliver(m);
  c.DrainAll();
  c.Stabilize();
  REQUIRE(c[1].commit() >= *index);
  CHECK(c[1].role() != Role::kLeader);
  // Thesis §4.2.2 / replica.h: it hands over with TimeoutNow rather than leaving the group
  // leaderless for an election timeout plus the voters' refusal period.
  CHECK(CountOf<TimeoutNow>(c.sent(), Id(1)) == 1);
  const int took = c.RunUntil([&] { return c.Leader() == 2 || c.Leader() == 3; }, 3 * kElection);
  REQUIRE(took >= 0);
  CHECK(took <= 1);
}

TEST_CASE("conf: replicas dropped by an uncommitted configuration still campaign", "[raft]") {
  // Thesis §4.2.2, Figure 4.6. Voters {1,2,3} hand over to {3,4,5} (1 and 2 become learners).
  // The leave-joint entry reaches only 1 and 2, which are then learners in their own latest
  // configuration, while 3, 4 and 5 lack it and cannot win their votes (shorter logs). Unless 1
  // or 2 campaigns, no one ever leads again.
  Cluster c(MakeConf({1, 2, 3}, {4, 5}), {1, 2, 3, 4, 5});
  c.Elect(1);
  c.SetIntercept([](Message& m) {
    const auto* append = BodyOf<AppendRequest>(m);
    if (append == nullptr || m.to.value() < 3) return true;
    for (const Entry& e : append->entries) {
      if (e.type == EntryType::kConfig && !DecodeConfState(e.data)->IsJoint()) return false;
    }
    return true;
  });
  const auto joint =
      c[1].ProposeConfChange(Change({AddVoter(4), AddVoter(5), AddLearner(1), AddLearner(2)}));
  REQUIRE(joint.has_value());
  c.Stabilize();
  REQUIRE(c[1].commit() >= *joint);
  const LogIndex leave = *joint + 1;
  REQUIRE(c[1].last_index() >= leave);
  REQUIRE(c[2].last_index() >= leave);
  REQUIRE(c[4].last_index() < leave);
  REQUIRE_FALSE(IsVoter(c[2].conf(), Id(2)));

  // The old leader dies before the leave entry commits; the filter goes with it.
  c.Crash(1);
  c.ClearIntercept();
  const int took = c.RunUntil(
      [&] {
        const uint64_t l = c.Leader();
        return l >= 3 && c[l].commit() >= leave && !c[l].conf().IsJoint();
      },
      20 * kElection);
  REQUIRE(took >= 0);
  for (uint64_t id : {2, 3, 4, 5}) {
    CHECK(Normalized(c[id].conf()) == MakeConf({3, 4, 5}, {1, 2}));
  }
}

}  // namespace
}  // namespace claw::raft::test
