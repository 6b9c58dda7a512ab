// Log replication (thesis §3.5, §3.6), commitment rules (§3.6.2, Figure 3.7 / paper Figure 8),
// flow control (probe / replicate, pipelining, size limits, batching) and the durability rules of
// thesis §10.2.1 (a leader counts itself once durable; followers ack only durable entries).
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "tests/raft/test_cluster.h"

namespace claw::raft::test {
namespace {

constexpr int kElection = 10;

// Number of AppendRequests `to` received carrying at least one entry.
size_t NonEmptyAppendsTo(const std::vector<Message>& msgs, uint64_t to) {
  size_t n = 0;
  for (const Message& m : Select<AppendRequest>(msgs, kNoNode, Id(to))) {
    if (!BodyOf<AppendRequest>(m)->entries.empty()) ++n;
  }
  return n;
}

TEST_CASE("replication: proposals replicate to every follower and commit", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  CHECK(MustPropose(c[1], "a") == Ix(2));
  CHECK(MustPropose(c[1], "b") == Ix(3));
  CHECK(MustPropose(c[1], "c") == Ix(4));
  c.Stabilize();
  CHECK(c[1].commit() == Ix(4));
  c.TickAndStabilize(1);

  const std::vector<std::string> expected = {"", "a", "b", "c"};
  for (uint64_t id : {1, 2, 3}) {
    INFO("node " << id);
    CHECK(c[id].commit() == Ix(4));
    CHECK(c.storage(id).LastIndex() == Ix(4));
    CHECK(c.AppliedData(id) == expected);
    CHECK(TermsOf(c.Log(id)) == std::vector<uint64_t>{1, 1, 1, 1});
    CHECK(c.storage(id).hard_state().commit == Ix(4));
  }
  for (uint64_t peer : {2, 3}) {
    auto p = c.Peer(1, peer);
    REQUIRE(p.has_value());
    CHECK(p->match == Ix(4));
    CHECK(p->next == Ix(5));
    CHECK(p->state == ProgressState::kReplicate);
  }
  CHECK(c[2].Propose("x").error() == ProposeError::kNotLeader);
}

TEST_CASE("replication: a follower that was down catches up", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Crash(3);
  for (int i = 0; i < 5; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  CHECK(c[1].commit() == Ix(6));  // 1 and 2 are a majority

  c.Restart(3);
  c.TickAndStabilize(3);
  CHECK(c[3].last_index() == Ix(6));
  CHECK(c[3].commit() == Ix(6));
  CHECK(c.node(3).applied.size() == 6);
}

// Paper Figure 7: the leader of term 8 and six followers whose logs are missing entries (a, b),
// have extra uncommitted entries (c, d), or both (e, f). The leader brings every log in line with
// its own.
TEST_CASE("replication: Figure 7 follower logs converge to the leader's", "[raft]") {
  const std::vector<uint64_t> leader_log = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::map<uint64_t, std::vector<uint64_t>> followers = {
      {2, {1, 1, 1, 4, 4, 5, 5, 6, 6}},           // (a)
      {3, {1, 1, 1, 4}},                          // (b)
      {4, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},     // (c)
      {5, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},  // (d)
      {6, {1, 1, 1, 4, 4, 4, 4}},                 // (e)
      {7, {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},     // (f)
  };
  const ConfState conf = MakeConf({1, 2, 3, 4, 5, 6, 7});
  Cluster c;
  auto make = [&](const std::vector<uint64_t>& terms) {
    auto st = std::make_unique<MemoryLogStorage>(conf);
    st->Append(LogWithTerms(terms));
    st->SetHardState(HardState{T(7), kNoNode, Ix(0)});
    return st;
  };
  c.Add(1, make(leader_log));
  for (const auto& [id, terms] : followers) c.Add(id, make(terms));

  c.WarmUp();
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == T(8));
  c.TickAndStabilize(3);

  std::vector<uint64_t> expected = leader_log;
  expected.push_back(8);  // the new leader's empty entry
  std::vector<Entry> want = c.Log(1);
  REQUIRE(TermsOf(want) == expected);
  for (uint64_t id = 2; id <= 7; ++id) {
    INFO("follower " << id);
    CHECK(c.Log(id) == want);
    CHECK(c.storage(id).LastIndex() == Ix(11));
    CHECK(c[id].commit() == Ix(11));
    CHECK(c.node(id).applied.size() == 11);
  }
}

// Thesis §5.4.2-style backtracking: a follower with a long divergent tail is repaired in a couple
// of round trips, not one per conflicting entry.
TEST_CASE("replication: fast backtracking skips a whole conflicting term", "[raft]") {
  std::vector<uint64_t> leader_terms(5, 1);
  leader_terms.insert(leader_terms.end(), 50, 3);  // 6..55 at term 3
  std::vector<uint64_t> stale_terms(5, 1);
  stale_terms.insert(stale_terms.end(), 100, 2);  // 6..105 at term 2

  const ConfState conf = MakeConf({1, 2, 3});
  Cluster c;
  auto make = [&](const std::vector<uint64_t>& terms) {
    auto st = std::make_unique<MemoryLogStorage>(conf);
    st->Append(LogWithTerms(terms));
    st->SetHardState(HardState{T(3), kNoNode, Ix(0)});
    return st;
  };
  c.Add(1, make(leader_terms));
  c.Add(2, make(stale_terms));
  c.Add(3, make(leader_terms));
  c.WarmUp();
  c.ClearSent();
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  c.TickAndStabilize(2);

  size_t rejections = 0;
  for (const Message& m : Select<AppendResponse>(c.sent(), Id(2), Id(1))) {
    if (BodyOf<AppendResponse>(m)->rejected) ++rejections;
  }
  CHECK(rejections >= 1);
  CHECK(rejections <= 3);
  CHECK(c.storage(2).LastIndex() == Ix(56));
  CHECK(c.Log(2) == c.Log(1));
  CHECK(c[2].commit() == Ix(56));
}

TEST_CASE("replication: fast backtracking to a short follower log", "[raft]") {
  std::vector<uint64_t> leader_terms(60, 1);
  const ConfState conf = MakeConf({1, 2, 3});
  Cluster c;
  auto make = [&](size_t n) {
    auto st = std::make_unique<MemoryLogStorage>(conf);
    st->Append(LogWithTerms(std::vector<uint64_t>(n, 1)));
    st->SetHardState(HardState{T(1), kNoNode, Ix(0)});
    return st;
  };
  c.Add(1, make(60));
  c.Add(2, make(3));
  c.Add(3, make(60));
  c.WarmUp();
  c.ClearSent();
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);

  size_t rejections = 0;
  for (const Message& m : Select<AppendResponse>(c.sent(), Id(2), Id(1))) {
    const auto* r = BodyOf<AppendResponse>(m);
    if (!r->rejected) continue;
    ++rejections;
    CHECK(r->reject_hint == Ix(3));  // the follower's last index
  }
  CHECK(rejections == 1);
  CHECK(c.storage(2).LastIndex() == Ix(61));
}

// Paper Figure 8 (thesis Figure 3.7), situation (c): S1 leads term 4 and replicates the term-2
// entry at index 2 to a majority. Counting replicas must not commit it: only an entry of the
// leader's own term commits by counting, and then everything before it with it.
TEST_CASE("replication: Figure 8, an old-term entry never commits by counting", "[raft]") {
  const ConfState conf = MakeConf({1, 2, 3, 4, 5});
  Cluster c;
  auto make = [&](const std::vector<uint64_t>& terms, uint64_t term) {
    auto st = std::make_unique<MemoryLogStorage>(conf);
    st->Append(LogWithTerms(terms));
    st->SetHardState(HardState{T(term), kNoNode, Ix(1)});
    return st;
  };
  const auto applied_one = [](Options& o) { o.applied = Ix(1); };
  c.Add(1, make({1, 2}, 3), applied_one);
  c.Add(2, make({1, 2}, 3), applied_one);
  c.Add(3, make({1}, 3), applied_one);
  c.Add(4, make({1}, 3), applied_one);
  c.Add(5, make({1, 3}, 3), applied_one);
  c.Crash(5);

  c.WarmUp();
  // S1's appends carry no entry past index 2 (as if the network lost the tail of each message).
  std::vector<Message> trimmed;
  c.SetIntercept([&](Message& m) {
    if (auto* a = std::get_if<AppendRequest>(&m.body)) {
      std::erase_if(a->entries, [](const Entry& e) { return e.index > Ix(2); });
      trimmed.push_back(m);
    }
    return true;
  });
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  REQUIRE(c[1].term() == T(4));
  REQUIRE(c[1].last_index() == Ix(3));  // the term-4 empty entry
  REQUIRE(!trimmed.empty());

  // Index 2 (term 2) is on S1..S4, four of five. Still not committed.
  for (uint64_t id : {2, 3, 4}) {
    INFO("node " << id);
    REQUIRE(c[id].TermAt(Ix(2)).has_value());
    CHECK(*c[id].TermAt(Ix(2)) == T(2));
    CHECK(c[id].last_index() == Ix(2));
  }
  CHECK(c[1].commit() == Ix(1));
  c.TickAndStabilize(2);
  CHECK(c[1].commit() == Ix(1));
  for (uint64_t id : {2, 3, 4}) CHECK(c[id].commit() == Ix(1));

  // Once the term-4 entry reaches a majority, both commit together.
  c.ClearIntercept();
  MustPropose(c[1], "after");
  c.Stabilize();
  c.TickAndStabilize(2);
  CHECK(c[1].commit() == Ix(4));
  for (uint64_t id : {2, 3, 4}) {
    INFO("node " << id);
    CHECK(c[id].commit() == Ix(4));
    CHECK(TermsOf(c.Log(id)) == std::vector<uint64_t>{1, 2, 4, 4});
  }
}

TEST_CASE("replication: the term-2 entry is lost when a term-3 leader overwrites it", "[raft]") {
  // Figure 8 (d): S5, with the term-3 entry at index 2, wins term 5 with votes of S2..S4 and
  // overwrites index 2 everywhere. Possible exactly because index 2 never committed.
  const ConfState conf = MakeConf({1, 2, 3, 4, 5});
  Cluster c;
  auto make = [&](const std::vector<uint64_t>& terms) {
    auto st = std::make_unique<MemoryLogStorage>(conf);
    st->Append(LogWithTerms(terms));
    st->SetHardState(HardState{T(4), kNoNode, Ix(1)});
    return st;
  };
  const auto applied_one = [](Options& o) { o.applied = Ix(1); };
  c.Add(1, make({1, 2}), applied_one);
  c.Add(2, make({1, 2}), applied_one);
  c.Add(3, make({1, 2}), applied_one);
  c.Add(4, make({1}), applied_one);
  c.Add(5, make({1, 3}), applied_one);
  c.Crash(1);
  c.WarmUp();
  c[5].Campaign();
  c.Stabilize();
  REQUIRE(c[5].role() == Role::kLeader);
  c.TickAndStabilize(2);
  for (uint64_t id : {2, 3, 4, 5}) {
    INFO("node " << id);
    CHECK(TermsOf(c.Log(id)) == std::vector<uint64_t>{1, 3, 5});
    CHECK(c[id].commit() == Ix(3));
  }
}

TEST_CASE("replication: heartbeats carry min(match, commit)", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Cut(1, 3);
  MustPropose(c[1], "a");
  MustPropose(c[1], "b");
  c.Stabilize();
  REQUIRE(c[1].commit() == Ix(3));
  REQUIRE(c.Peer(1, 3)->match == Ix(1));

  c.outbox().clear();
  c.Tick(1);
  auto to2 = Select<Heartbeat>(c.outbox(), Id(1), Id(2));
  auto to3 = Select<Heartbeat>(c.outbox(), Id(1), Id(3));
  REQUIRE(to2.size() == 1);
  REQUIRE(to3.size() == 1);
  CHECK(BodyOf<Heartbeat>(to2[0])->commit == Ix(3));
  CHECK(BodyOf<Heartbeat>(to3[0])->commit == Ix(1));

  // Node 3 never learns a commit index beyond what it holds.
  c.Heal();
  c.Deliver(to3[0]);
  c.Drain(3);
  CHECK(c[3].commit() == Ix(1));
  CHECK(c[3].last_index() == Ix(1));
}

TEST_CASE("replication: pipelining stops at max_inflight_appends", "[raft]") {
  Cluster c(3, [](Options& o) { o.max_inflight_appends = 2; });
  c.Elect(1);
  REQUIRE(c.Peer(1, 2)->state == ProgressState::kReplicate);

  c.outbox().clear();
  for (int i = 0; i < 5; ++i) {
    MustPropose(c[1], "p" + std::to_string(i));
    c.Drain(1);  // one Ready per proposal
  }
  CHECK(NonEmptyAppendsTo(c.outbox(), 2) == 2);
  CHECK(NonEmptyAppendsTo(c.outbox(), 3) == 2);

  // Acks open the window; the rest follows and everything commits.
  c.Stabilize();
  CHECK(c[1].commit() == Ix(6));
  CHECK(c.Peer(1, 2)->match == Ix(6));
  CHECK(c.Peer(1, 3)->match == Ix(6));
}

TEST_CASE("replication: a peer in probe state gets one append at a time", "[raft]") {
  Cluster c(3);
  c.WarmUp();
  // Hold every append until the leader is elected: a new leader probes its peers.
  std::vector<Message> held;
  c.SetIntercept([&](Message& m) {
    if (Is<AppendRequest>(m)) {
      held.push_back(m);
      return false;
    }
    return true;
  });
  c[1].Campaign();
  c.Stabilize();
  REQUIRE(c[1].role() == Role::kLeader);
  REQUIRE(c.Peer(1, 2)->state == ProgressState::kProbe);
  CHECK(CountOf<AppendRequest>(held, Id(1), Id(2)) == 1);

  for (int i = 0; i < 3; ++i) {
    MustPropose(c[1], "p" + std::to_string(i));
    c.Stabilize();
  }
  CHECK(CountOf<AppendRequest>(held, Id(1), Id(2)) == 1);
  CHECK(CountOf<AppendRequest>(held, Id(1), Id(3)) == 1);
  CHECK(c[1].commit() == Ix(0));

  c.ClearIntercept();
  for (Message& m : held) c.Deliver(m);
  c.Stabilize();
  CHECK(c[1].commit() == Ix(4));
  CHECK(c.Peer(1, 2)->state == ProgressState::kReplicate);
}

TEST_CASE("replication: max_append_bytes splits a large batch", "[raft]") {
  Cluster c(3, [](Options& o) { o.max_append_bytes = 10; });
  c.Elect(1);
  c.ClearSent();
  for (int i = 0; i < 4; ++i) MustPropose(c[1], "xxxxx" + std::to_string(i));  // 6 bytes each
  c.Stabilize();

  size_t appends_with_entries = 0;
  size_t entries_sent = 0;
  for (const Message& m : Select<AppendRequest>(c.sent(), Id(1), Id(2))) {
    const auto& entries = BodyOf<AppendRequest>(m)->entries;
    if (entries.empty()) continue;
    ++appends_with_entries;
    entries_sent += entries.size();
    CHECK((PayloadBytes(entries) <= 10 || entries.size() == 1));
  }
  CHECK(appends_with_entries >= 4);  // two 6-byte entries exceed 10 bytes
  CHECK(entries_sent == 4);
  CHECK(c[1].commit() == Ix(5));

  // A single entry larger than the cap still goes out (at least one entry per append).
  MustPropose(c[1], std::string(100, 'z'));
  c.Stabilize();
  CHECK(c[1].commit() == Ix(6));
}

TEST_CASE("replication: proposals between two Readies leave in one append per follower", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.outbox().clear();
  for (int i = 0; i < 10; ++i) MustPropose(c[1], "p" + std::to_string(i));

  Ready rd = c.TakeReady(1);
  CHECK(rd.entries.size() == 10);
  CHECK(rd.entries.front().index == Ix(2));
  CHECK(rd.entries.back().index == Ix(11));
  for (uint64_t to : {2, 3}) {
    auto appends = Select<AppendRequest>(rd.messages, Id(1), Id(to));
    REQUIRE(appends.size() == 1);
    const auto* a = BodyOf<AppendRequest>(appends[0]);
    CHECK(a->entries.size() == 10);
    CHECK(a->prev_index == Ix(1));
    CHECK(a->prev_term == T(1));
  }
  c.HandleReady(1, std::move(rd));
  c.Stabilize();
  CHECK(c[1].commit() == Ix(11));
}

TEST_CASE("replication: max_uncommitted_bytes refuses proposals", "[raft]") {
  Cluster c(3, [](Options& o) { o.max_uncommitted_bytes = 10; });
  c.Elect(1);
  c.Isolate(1);  // nothing commits

  CHECK(c[1].Propose("123456").has_value());  // 6
  CHECK(c[1].Propose("123").has_value());     // 9
  auto refused = c[1].Propose("123456");      // would be 15
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == ProposeError::kUncommittedLimit);
  const LogIndex last = c[1].last_index();
  CHECK(last == Ix(3));

  c.Heal();
  c.Stabilize();
  c.TickAndStabilize(1);
  CHECK(c[1].commit() == Ix(3));
  CHECK(c[1].Propose("123456").has_value());

  // One proposal is accepted whatever its size when nothing is uncommitted.
  c.Stabilize();
  REQUIRE(c[1].commit() == Ix(4));
  CHECK(c[1].Propose(std::string(100, 'b')).has_value());
}

TEST_CASE("replication: the leader counts itself only once its write is durable", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.SetPersistence(1, Persistence::kManual);
  c.Cut(1, 3);

  CHECK(MustPropose(c[1], "x") == Ix(2));
  c.Drain(1);
  // The append left before the leader's own write is durable.
  CHECK(CountOf<AppendRequest>(c.outbox(), Id(1), Id(2)) == 1);
  REQUIRE(c.node(1).unpersisted.size() == 1);
  c.Stabilize();
  CHECK(c.Peer(1, 2)->match == Ix(2));
  CHECK(c[1].commit() == Ix(1));  // node 2's ack alone is one of three

  c.Persist(1);
  CHECK(c[1].commit() == Ix(2));
}

TEST_CASE("replication: a follower acks only durable entries", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.SetPersistence(2, Persistence::kManual);
  c.Cut(1, 3);

  c.ClearSent();
  MustPropose(c[1], "x");
  c.Stabilize();  // node 2 received the append; its write waits
  REQUIRE(c.node(2).unpersisted.size() >= 1);
  CHECK(c.node(2).unpersisted.front().entries.size() == 1);
  CHECK(c[2].last_index() == Ix(2));  // in its log, not yet durable
  CHECK(CountOf<AppendResponse>(c.sent(), Id(2), Id(1)) == 0);
  CHECK(c.Peer(1, 2)->match == Ix(1));
  CHECK(c[1].commit() == Ix(1));

  c.ClearSent();
  c.Persist(2);
  auto acks = Select<AppendResponse>(c.outbox(), Id(2), Id(1));
  REQUIRE(acks.size() == 1);
  CHECK_FALSE(BodyOf<AppendResponse>(acks[0])->rejected);
  CHECK(BodyOf<AppendResponse>(acks[0])->index == Ix(2));
  c.Stabilize();
  CHECK(c[1].commit() == Ix(2));
}

TEST_CASE("replication: vote grants wait for the durable vote", "[raft]") {
  Cluster c(3);
  c.WarmUp();
  c.SetPersistence(2, Persistence::kManual);
  c.SetPersistence(3, Persistence::kManual);
  c[1].Campaign();
  c.Stabilize();
  CHECK(c[1].role() == Role::kCandidate);
  CHECK(CountOf<VoteResponse>(c.sent(), Id(2), Id(1)) == 1);  // the pre-vote answer only

  c.Persist(2);
  auto grants = Select<VoteResponse>(c.outbox(), Id(2), Id(1));
  REQUIRE(grants.size() == 1);
  CHECK(BodyOf<VoteResponse>(grants[0])->kind == ElectionKind::kVote);
  CHECK(BodyOf<VoteResponse>(grants[0])->granted);
  c.Stabilize();
  CHECK(c[1].role() == Role::kLeader);
}

TEST_CASE("replication: a follower truncates a conflicting uncommitted suffix", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);
  // The old leader appends entries nobody else gets.
  MustPropose(c[1], "lost1");
  MustPropose(c[1], "lost2");
  c.Stabilize();
  CHECK(c[1].last_index() == Ix(3));

  // The others elect a new leader and commit different entries.
  const int took = c.RunUntil(
      [&] { return c[2].role() == Role::kLeader || c[3].role() == Role::kLeader; }, 4 * kElection);
  REQUIRE(took >= 0);
  const uint64_t leader = c[2].role() == Role::kLeader ? 2 : 3;
  MustPropose(c[leader], "kept");
  c.Stabilize();

  c.Heal();
  c.TickAndStabilize(3);
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c.Log(1) == c.Log(leader));
  for (const Entry& e : c.node(1).applied) {
    CHECK(e.data != "lost1");
    CHECK(e.data != "lost2");
  }
  CHECK(c.AppliedData(1) == c.AppliedData(leader));
}

TEST_CASE("replication: a stale duplicate append does not truncate a matching log", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 3; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  REQUIRE(c[2].last_index() == Ix(4));
  const std::vector<Entry> before = c.Log(2);

  // The leader's first append of index 2, delivered again late.
  AppendRequest old;
  old.prev_index = Ix(1);
  old.prev_term = T(1);
  old.commit = Ix(1);
  old.entries = {before[1]};
  c.outbox().clear();
  c[2].Step(Message{Id(1), Id(2), T(1), old});
  c.Drain(2);
  CHECK(c[2].last_index() == Ix(4));
  CHECK(c.Log(2) == before);
  CHECK(c.storage(2).LastIndex() == Ix(4));
  for (const Message& m : Select<AppendResponse>(c.outbox(), Id(2), Id(1))) {
    CHECK_FALSE(BodyOf<AppendResponse>(m)->rejected);
  }
  // The leader's view of node 2 does not go back either.
  c.Stabilize();
  CHECK(c.Peer(1, 2)->match == Ix(4));
}

TEST_CASE("replication: a stale rejection does not move next below match", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 3; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  REQUIRE(c.Peer(1, 2)->match == Ix(4));

  AppendResponse stale;
  stale.index = Ix(1);
  stale.rejected = true;
  stale.reject_hint = Ix(0);
  stale.hint_term = T(0);
  c[1].Step(Message{Id(2), Id(1), T(1), stale});
  c.Stabilize();
  CHECK(c.Peer(1, 2)->match == Ix(4));
  CHECK(c.Peer(1, 2)->next >= Ix(5));
  CHECK(c[1].commit() == Ix(4));
}

TEST_CASE("replication: the leader applies only entries it holds durably", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.SetPersistence(1, Persistence::kManual);
  const LogIndex index = MustPropose(c[1], "x");
  c.Stabilize();
  // Nodes 2 and 3 are a quorum without the leader.
  CHECK(c[1].commit() == index);
  CHECK(c.node(1).applied_index == Ix(1));  // not yet durable locally: not handed out
  c.Persist(1);
  CHECK(c.node(1).applied_index == index);
  CHECK(c.node(1).applied.back().data == "x");
}

TEST_CASE("replication: a follower applies only entries it holds durably", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Cut(1, 3);
  const LogIndex index = MustPropose(c[1], "x");
  c.Stabilize();
  REQUIRE(c[1].commit() == index);
  c.Heal();

  c.SetPersistence(3, Persistence::kManual);
  c.TickAndStabilize(2);  // node 3 receives entry 2 together with commit 2
  REQUIRE(c[3].last_index() == index);
  CHECK(c.node(3).applied_index == Ix(1));
  c.Persist(3);
  c.Stabilize();
  c.TickAndStabilize(1);
  c.Persist(3);
  CHECK(c.node(3).applied_index == index);
}

TEST_CASE("replication: a write lost in a follower crash is never counted", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  c.Crash(3);
  c.SetPersistence(2, Persistence::kManual);
  const LogIndex index = MustPropose(c[1], "x");
  c.Stabilize();
  CHECK(c[1].commit() == Ix(1));
  c.Crash(2);  // its write of entry 2 is lost
  c.Restart(2);
  c.SetPersistence(2, Persistence::kAuto);
  CHECK(c.storage(2).LastIndex() == Ix(1));
  c.Stabilize();
  CHECK(c[1].commit() == Ix(1));
  // The leader notices the gap and repairs it.
  c.TickAndStabilize(3);
  CHECK(c.storage(2).LastIndex() == index);
  CHECK(c[1].commit() == index);
}

TEST_CASE("replication: committed entries are handed out within max_apply_bytes", "[raft]") {
  Cluster c(3, [](Options& o) { o.max_apply_bytes = 10; });
  c.Elect(1);
  c.node(2).keep_readies = true;
  for (int i = 0; i < 6; ++i) MustPropose(c[1], "xxxxx" + std::to_string(i));  // 6 bytes each
  c.Stabilize();
  c.TickAndStabilize(1);
  REQUIRE(c[2].commit() == Ix(7));
  CHECK(c.node(2).applied_index == Ix(7));
  size_t readies_with_entries = 0;
  for (const Ready& rd : c.node(2).kept_readies) {
    if (rd.committed_entries.empty()) continue;
    ++readies_with_entries;
    CHECK((PayloadBytes(rd.committed_entries) <= 10 || rd.committed_entries.size() == 1));
  }
  CHECK(readies_with_entries >= 6);
}

TEST_CASE("replication: entries above Options::applied are handed out again on restart", "[raft]") {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 3; ++i) MustPropose(c[1], "p" + std::to_string(i));
  c.Stabilize();
  c.TickAndStabilize(1);
  REQUIRE(c.node(2).applied_index == Ix(4));

  c.Crash(2);
  c.node(2).keep_readies = true;
  c.Restart(2, [](Options& o) { o.applied = Ix(2); });
  CHECK(c[2].commit() == Ix(4));
  c.Drain(2);
  std::vector<uint64_t> handed_out;
  for (const Ready& rd : c.node(2).kept_readies) {
    for (const Entry& e : rd.committed_entries) handed_out.push_back(e.index.value());
  }
  CHECK(handed_out == std::vector<uint64_t>{3, 4});
  CHECK(c.node(2).applied_index == Ix(4));
}

}  // namespace
}  // namespace claw::raft::test
