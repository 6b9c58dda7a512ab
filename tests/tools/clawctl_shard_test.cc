// clawctl's shard admin commands (show, split, transfer-leader, move) against an in-memory
// cluster with a fake clock: the steps of a move and their order, resuming after a partial move,
// leader finding and NOT_LEADER redirects, retries within --command-timeout, epochs on every
// change, a split whose answer was lost, and the --yes / [y/N] confirmation.

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/support/status_code_enum.h>

#include "tests/client/fake_cluster.h"
#include "tests/tools/clawctl_test_util.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/commands.h"
#include "tools/clawctl/shard_commands.h"

namespace claw::clawctl::testing {
namespace {

using client::ReplicaInfo;
using client::ShardInfo;

// A cluster of `nodes` nodes as the admin RPCs see it, answering like clawd (server/README.md):
// NOT_LEADER with the leader's address from followers, SHARD_NOT_FOUND from nodes without a
// replica, EPOCH_MISMATCH for a change planned on another epoch, PROMOTE refused (UNAVAILABLE)
// while the learner has not caught up, REMOVE of the leader refused (FAILED_PRECONDITION).
// Time is fake: Sleep advances Now.
class FakeAdmin final : public FakeClockAdmin<ShardAdmin> {
 public:
  // A failure the next admin RPC answers with; `apply_first`: serve it, then fail.
  struct Fault {
    Error error{};
    bool apply_first = false;
    std::function<void(FakeAdmin&)> effect{};  // run when the fault hits, e.g. a concurrent change
  };

  explicit FakeAdmin(int nodes) : nodes_(nodes) {}

  // Shard `id` on `voters`, led by `leader`, epoch 1.1.
  void AddShard(uint64_t id, std::string start, std::string end, std::vector<uint64_t> voters,
                uint64_t leader) {
    ShardInfo shard;
    shard.id = id;
    shard.start_key = std::move(start);
    shard.end_key = std::move(end);
    shard.epoch = {1, 1};
    for (uint64_t node : voters) shard.replicas.push_back(ReplicaInfo{node, node, false});
    shard.leader_node_id = leader;
    shards_[id] = shard;
  }
  ShardInfo& shard(uint64_t id) { return shards_.at(id); }
  size_t shard_count() const { return shards_.size(); }

  bool directory_knows_leaders = true;
  // Directory entries that differ from the replicas' own descriptors (a node's stale entry for a
  // shard it hosts no replica of), by shard id.
  std::map<uint64_t, ShardInfo> stale_directory{};
  int status_calls = 0;
  bool status_answers = true;  // false: Cluster.Status fails (older nodes, or unreachable)
  int promote_refusals = 0;       // PROMOTE answers "has not caught up" this many times
  std::deque<Fault> faults{};     // for the next admin RPCs, in order
  std::vector<std::string> calls{};  // "ADD_LEARNER 1 @2": change, node, and the node asked
  int list_calls = 0;

  client::Result<std::vector<ShardInfo>> ListShards(Timeout) override {
    ++list_calls;
    std::vector<ShardInfo> out;
    for (const auto& [id, s] : shards_) {
      ShardInfo route = stale_directory.contains(id) ? stale_directory.at(id) : s;
      if (directory_knows_leaders) {
        route.leader_address = AddressOf(s.leader_node_id);
      } else {
        route.leader_node_id = 0;
      }
      out.push_back(route);
    }
    std::sort(out.begin(), out.end(),
              [](const ShardInfo& a, const ShardInfo& b) { return a.start_key < b.start_key; });
    return out;
  }

  client::Result<std::vector<client::MemberInfo>> ListMembers(Timeout) override {
    std::vector<client::MemberInfo> members;
    for (int i = 1; i <= nodes_; ++i) {
      client::MemberInfo m;
      m.node_id = static_cast<uint64_t>(i);
      m.name = "n" + std::to_string(i);
      m.client_address = AddressOf(m.node_id);
      m.reachable = true;
      members.push_back(m);
    }
    return members;
  }

  client::Result<client::NodeStatus> NodeStatus(const std::string& address, Timeout) override {
    ++status_calls;
    if (!status_answers) return std::unexpected(Err(ErrorCode::kUnimplemented, "no Status"));
    client::NodeStatus status;
    status.node_id = NodeOf(address);
    for (const auto& [id, s] : shards_) {
      if (std::none_of(s.replicas.begin(), s.replicas.end(),
                       [&](const ReplicaInfo& r) { return r.node_id == status.node_id; })) {
        continue;
      }
      client::ReplicaStatusInfo replica;
      replica.shard = Descriptor(s);
      replica.leader_node_id = s.leader_node_id;
      replica.is_leader = s.leader_node_id == status.node_id;
      status.replicas.push_back(replica);
    }
    return status;
  }

  client::Result<ShardInfo> ChangeReplicas(const std::string& address, const ReplicaChange& change,
                                           Timeout) override {
    const char* names[] = {"ADD_LEARNER", "PROMOTE", "REMOVE"};
    calls.push_back(std::string(names[static_cast<int>(change.kind)]) + " " +
                    std::to_string(change.node_id) + " @" + address.substr(4, 1));
    std::optional<Fault> fault = TakeFault();
    if (fault && !fault->apply_first) return std::unexpected(fault->error);
    ShardInfo* s = nullptr;
    if (auto refused = AtLeader(address, change.shard_id, &s)) return std::unexpected(*refused);
    if (!(s->epoch == change.epoch)) return std::unexpected(Err(ErrorCode::kEpochMismatch, "changed"));
    auto on = std::find_if(s->replicas.begin(), s->replicas.end(),
                           [&](const ReplicaInfo& r) { return r.node_id == change.node_id; });
    switch (change.kind) {
      case ReplicaChange::Kind::kAddLearner:
        if (on != s->replicas.end()) return std::unexpected(Err(ErrorCode::kInvalidArgument, "already hosts"));
        s->replicas.push_back(ReplicaInfo{change.node_id, (s->epoch.conf_version + 1) << 32 | change.node_id, true});
        break;
      case ReplicaChange::Kind::kPromote:
        if (on == s->replicas.end() || !on->learner) {
          return std::unexpected(Err(ErrorCode::kInvalidArgument, "there is no learner"));
        }
        if (promote_refusals > 0) {
          --promote_refusals;
          return std::unexpected(Err(ErrorCode::kUnavailable, "the learner has not caught up; retry"));
        }
        on->learner = false;
        break;
      case ReplicaChange::Kind::kRemove:
        if (on == s->replicas.end()) return std::unexpected(Err(ErrorCode::kInvalidArgument, "no replica"));
        if (change.node_id == s->leader_node_id) {
          Error e = Err(ErrorCode::kInvalidArgument, "the replica leads the shard; transfer leadership first");
          e.grpc_code = static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION);
          return std::unexpected(e);
        }
        s->replicas.erase(on);
        break;
    }
    ++s->epoch.conf_version;
    if (fault) return std::unexpected(fault->error);
    return Descriptor(*s);
  }

  client::Result<ShardInfo> TransferLeader(const std::string& address, uint64_t shard_id,
                                           uint64_t to_node, Timeout) override {
    calls.push_back("TRANSFER " + std::to_string(to_node) + " @" + address.substr(4, 1));
    if (auto fault = TakeFault(); fault && !fault->apply_first) return std::unexpected(fault->error);
    auto it = shards_.find(shard_id);
    if (it == shards_.end()) return std::unexpected(Err(ErrorCode::kShardNotFound, "no replica"));
    ShardInfo& s = it->second;
    auto target = std::find_if(s.replicas.begin(), s.replicas.end(),
                               [&](const ReplicaInfo& r) { return r.node_id == to_node && !r.learner; });
    if (target == s.replicas.end()) return std::unexpected(Err(ErrorCode::kInvalidArgument, "hosts no voter"));
    if (s.leader_node_id != to_node) {
      ShardInfo* led = nullptr;
      if (auto refused = AtLeader(address, shard_id, &led)) return std::unexpected(*refused);
      s.leader_node_id = to_node;
    }
    ShardInfo out = Descriptor(s);
    out.leader_node_id = to_node;
    return out;
  }

  client::Result<SplitResult> SplitShard(const std::string& address, uint64_t shard_id,
                                         const std::string& key, const client::ShardEpoch& epoch,
                                         Timeout) override {
    calls.push_back("SPLIT " + key + " @" + address.substr(4, 1));
    std::optional<Fault> fault = TakeFault();
    if (fault && !fault->apply_first) return std::unexpected(fault->error);
    ShardInfo* s = nullptr;
    if (auto refused = AtLeader(address, shard_id, &s)) return std::unexpected(*refused);
    if (!(s->epoch == epoch)) return std::unexpected(Err(ErrorCode::kEpochMismatch, "changed"));
    const std::string at = key.empty() ? s->start_key + "m" : key;
    if (at <= s->start_key || (!s->end_key.empty() && at >= s->end_key)) {
      return std::unexpected(Err(ErrorCode::kInvalidArgument, "not inside"));
    }
    ShardInfo right = *s;
    right.id = next_id_++;
    right.start_key = at;
    right.epoch = {1, s->epoch.range_version + 1};
    s->end_key = at;
    ++s->epoch.range_version;
    shards_[right.id] = right;
    if (fault) return std::unexpected(fault->error);
    return SplitResult{Descriptor(*s), Descriptor(right)};
  }

 private:
  static Error Err(ErrorCode code, std::string message) {
    return Error{.code = code, .message = std::move(message)};
  }
  static ShardInfo Descriptor(ShardInfo s) {
    s.leader_node_id = 0;
    s.leader_address.clear();
    return s;
  }
  std::optional<Fault> TakeFault() {
    if (faults.empty()) return std::nullopt;
    Fault fault = faults.front();
    faults.pop_front();
    if (fault.effect) fault.effect(*this);
    return fault;
  }
  // The refusal of the node at `address` when it does not lead the shard.
  std::optional<Error> AtLeader(const std::string& address, uint64_t shard_id, ShardInfo** shard) {
    auto it = shards_.find(shard_id);
    const uint64_t node = NodeOf(address);
    if (it == shards_.end() ||
        std::none_of(it->second.replicas.begin(), it->second.replicas.end(),
                     [&](const ReplicaInfo& r) { return r.node_id == node; })) {
      return Err(ErrorCode::kShardNotFound, "node hosts no replica");
    }
    if (it->second.leader_node_id != node) {
      Error e = Err(ErrorCode::kNotLeader, "not the leader");
      e.leader_node_id = it->second.leader_node_id;
      e.leader_address = AddressOf(e.leader_node_id);
      return e;
    }
    *shard = &it->second;
    return std::nullopt;
  }

  int nodes_;
  std::map<uint64_t, ShardInfo> shards_;
  uint64_t next_id_ = 100;
};

Run RunOn(FakeAdmin& admin, std::vector<std::string> args, Interactive interactive = Interactive::kNo,
          const std::string& stdin_text = "") {
  auto inv = ParseArgs(args, nullptr);
  REQUIRE(inv);
  return Capture(
      [&](std::istream& in, std::ostream& out, std::ostream& err) {
        return RunShardCommand(*inv, admin, interactive, in, out, err);
      },
      stdin_text);
}

bool Hosts(const ShardInfo& shard, uint64_t node, bool learner) {
  return std::any_of(shard.replicas.begin(), shard.replicas.end(), [&](const ReplicaInfo& r) {
    return r.node_id == node && r.learner == learner;
  });
}

bool HostsAny(const ShardInfo& shard, uint64_t node) {
  return Hosts(shard, node, false) || Hosts(shard, node, true);
}

}  // namespace

TEST_CASE("clawctl shard move plans each step from the descriptor", "[tools]") {
  ShardInfo s;
  s.id = 2;
  s.replicas = {{2, 2, false}, {3, 3, false}, {4, 4, false}};
  s.leader_node_id = 3;
  using Kind = MoveStep::Kind;
  CHECK(NextMoveStep(s, 4, 1)->kind == Kind::kAddLearner);
  CHECK(NextMoveStep(s, 4, 1)->node_id == 1);
  s.replicas.push_back({1, 1ULL << 32 | 1, true});
  CHECK(NextMoveStep(s, 4, 1)->kind == Kind::kPromote);
  s.replicas.back().learner = false;
  CHECK(NextMoveStep(s, 4, 1)->kind == Kind::kRemove);
  CHECK(NextMoveStep(s, 4, 1)->node_id == 4);
  // --from leads: the leadership goes to --to first.
  CHECK(NextMoveStep(s, 3, 1)->kind == Kind::kTransferLeader);
  CHECK(NextMoveStep(s, 3, 1)->node_id == 1);
  s.leader_node_id = 0;  // unknown: try the removal; the leader refuses if it is --from
  CHECK(NextMoveStep(s, 3, 1)->kind == Kind::kRemove);
  s.replicas.erase(s.replicas.begin() + 2);  // node 4 gone
  CHECK(NextMoveStep(s, 4, 1)->kind == Kind::kDone);
  // Neither node hosts a replica: nothing to move.
  auto none = NextMoveStep(s, 5, 6);
  REQUIRE_FALSE(none);
  CHECK(none.error().find("node 5 hosts no replica of shard 2") != std::string::npos);
  // A learner on --from (never a leader) is simply removed.
  s.replicas.push_back({5, 5, true});
  CHECK(NextMoveStep(s, 5, 1)->kind == Kind::kRemove);
}

TEST_CASE("clawctl shard move: learner, catch-up, promote, remove, printed as they complete", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "\x80", {2, 3, 4}, 3);
  admin.promote_refusals = 3;
  Run run = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"});
  CHECK(run.code == kExitOk);
  CHECK(admin.calls == std::vector<std::string>{"ADD_LEARNER 1 @3", "PROMOTE 1 @3", "PROMOTE 1 @3",
                                                "PROMOTE 1 @3", "PROMOTE 1 @3", "REMOVE 4 @3"});
  CHECK(run.err ==
        "clawctl: shard 2: added a learner on node 1 (epoch 2.1)\n"
        "clawctl: shard 2: waiting for the learner on node 1 to catch up\n"
        "clawctl: shard 2: promoted the learner on node 1 to voter (epoch 3.1)\n"
        "clawctl: shard 2: removed the replica on node 4 (epoch 4.1)\n");
  CHECK(run.out ==
        "SHARD  START    END   EPOCH  REPLICAS  LEADER\n"
        "2      (start)  \\x80  4.1    2,3,1     3\n");
  const ShardInfo& s = admin.shard(2);
  CHECK(Hosts(s, 1, false));
  CHECK_FALSE(HostsAny(s, 4));
  CHECK(admin.slept > milliseconds(0));
  CHECK(admin.slept < milliseconds(1000));  // 50 + 100 + 200 ms of back-off

  // Run again: nothing left to do, no change sent.
  admin.calls.clear();
  Run again = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"});
  CHECK(again.code == kExitOk);
  CHECK(admin.calls.empty());
  CHECK(again.err.find("nothing to do") != std::string::npos);
}

TEST_CASE("clawctl shard move hands the leadership over when --from leads", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {2, 3, 4}, 2);
  Run run = RunOn(admin, {"-w", "json", "shard", "move", "2", "--from", "2", "--to", "1", "--yes"});
  CHECK(run.code == kExitOk);
  CHECK(admin.calls == std::vector<std::string>{"ADD_LEARNER 1 @2", "PROMOTE 1 @2", "TRANSFER 1 @2",
                                                "REMOVE 2 @1"});
  CHECK(run.err.find("clawctl: shard 2: moved the leadership from node 2 to node 1\n") != std::string::npos);
  CHECK(admin.shard(2).leader_node_id == 1);
  CHECK_FALSE(HostsAny(admin.shard(2), 2));
  CHECK(run.out.starts_with(R"({"shards":[{"id":"2",)"));
  CHECK(run.out.find(R"("leader_node_id":"1","leader_address":"node1:7379"})") != std::string::npos);
}

TEST_CASE("clawctl shard move resumes after a partial move and re-plans after changes", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {2, 3, 4}, 3);
  SECTION("a learner already on --to is promoted, not added again") {
    admin.shard(2).replicas.push_back({1, 1ULL << 32 | 1, true});
    admin.shard(2).epoch = {2, 1};
    Run run = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"});
    CHECK(run.code == kExitOk);
    CHECK(run.err.starts_with("clawctl: shard 2: resuming: promote the learner on node 1\n"));
    CHECK(admin.calls == std::vector<std::string>{"PROMOTE 1 @3", "REMOVE 4 @3"});
  }
  SECTION("a change planned on a stale epoch is re-planned from a fresh directory") {
    admin.faults.push_back({Error{.code = ErrorCode::kEpochMismatch, .message = "changed"}, false});
    Run run = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls.front() == "ADD_LEARNER 1 @3");
    CHECK(admin.calls[1] == "ADD_LEARNER 1 @3");
    CHECK(admin.list_calls == 2);
  }
  SECTION("an answer lost after the change applied: the next plan skips it") {
    admin.faults.push_back({Error{.code = ErrorCode::kUnavailable, .message = "leader lost", .definite = false}, true});
    Run run = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"});
    CHECK(run.code == kExitOk);
    // Asked again elsewhere: node 2 redirects to the leader, which refuses the old epoch; the
    // fresh plan promotes the learner the lost answer had added.
    CHECK(admin.calls == std::vector<std::string>{"ADD_LEARNER 1 @3", "ADD_LEARNER 1 @2", "ADD_LEARNER 1 @3",
                                                  "PROMOTE 1 @3", "REMOVE 4 @3"});
    CHECK(Hosts(admin.shard(2), 1, false));
    CHECK_FALSE(HostsAny(admin.shard(2), 4));
  }
}

TEST_CASE("clawctl shard move plans from the replicas' descriptor, not a stale directory entry", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {2, 3, 4}, 3);
  // The directory still has the bootstrap entry without a leader; the replicas have a learner on
  // node 1 from an earlier, interrupted move.
  admin.stale_directory[2] = admin.shard(2);
  admin.stale_directory[2].leader_node_id = 0;
  admin.shard(2).replicas.push_back({1, 2ULL << 32 | 1, true});
  admin.shard(2).epoch = {2, 1};
  Run run = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"});
  CHECK(run.code == kExitOk);
  CHECK(run.err.starts_with("clawctl: shard 2: resuming: promote the learner on node 1\n"));
  CHECK(admin.calls == std::vector<std::string>{"PROMOTE 1 @3", "REMOVE 4 @3"});
  // Node 2 (the first replica listed) names the leader, node 3, which is asked next.
  CHECK(admin.status_calls == 2);
  Run show = RunOn(admin, {"shard", "show", "2"});
  CHECK(show.out.starts_with("SHARD  START    END    EPOCH  LEADER\n"
                             "2      (start)  (end)  4.1    3\n"));
}

TEST_CASE("clawctl shard move: REMOVE refused because --from leads now", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {1, 2, 3}, 3);
  admin.shard(2).replicas.push_back({4, 4, false});  // --to is a voter already
  admin.directory_knows_leaders = false;
  admin.status_answers = false;
  admin.shard(2).leader_node_id = 2;  // --from leads, the directory does not know
  Run run = RunOn(admin, {"shard", "move", "2", "--from", "2", "--to", "4", "--yes"});
  CHECK(run.code == kExitOk);
  // Without a leader in the directory the plan says REMOVE; the leader refuses; transfer; remove.
  CHECK(admin.calls == std::vector<std::string>{"REMOVE 2 @1", "REMOVE 2 @2", "TRANSFER 4 @2", "REMOVE 2 @4"});
  CHECK_FALSE(HostsAny(admin.shard(2), 2));
  CHECK(admin.shard(2).leader_node_id == 4);
}

TEST_CASE("clawctl shard move stops at --command-timeout and says how to resume", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {2, 3, 4}, 3);
  admin.promote_refusals = 1'000'000;
  Run run = RunOn(admin, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes",
                          "--command-timeout", "5s"});
  CHECK(run.code == kExitFailed);
  CHECK(run.err.find("UNAVAILABLE: the learner has not caught up") != std::string::npos);
  CHECK(run.err.find("run the same command again to resume") != std::string::npos);
  CHECK(admin.slept <= milliseconds(5000));
  CHECK(admin.slept >= milliseconds(4000));
  CHECK(Hosts(admin.shard(2), 1, true));  // the learner stays
  // The default budget of a move is 60 s.
  FakeAdmin slow(4);
  slow.AddShard(2, "", "", {2, 3, 4}, 3);
  slow.promote_refusals = 1'000'000;
  CHECK(RunOn(slow, {"shard", "move", "2", "--from", "4", "--to", "1", "--yes"}).code == kExitFailed);
  CHECK(slow.slept == kMoveTimeout);
}

TEST_CASE("clawctl shard commands find the leader through replicas and NOT_LEADER hints", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {2, 3, 4}, 4);
  admin.directory_knows_leaders = false;
  // The replicas' status names the leader: asked at once.
  Run direct = RunOn(admin, {"shard", "transfer-leader", "2", "--to", "2"});
  CHECK(direct.code == kExitOk);
  CHECK(admin.calls == std::vector<std::string>{"TRANSFER 2 @4"});
  // Without Status answers, the replicas in turn: node 2 answers NOT_LEADER naming node 4.
  admin.shard(2).leader_node_id = 4;
  admin.status_answers = false;
  admin.calls.clear();
  Run run = RunOn(admin, {"shard", "transfer-leader", "2", "--to", "3"});
  CHECK(run.code == kExitOk);
  CHECK(admin.calls == std::vector<std::string>{"TRANSFER 3 @2", "TRANSFER 3 @4"});
  CHECK(admin.shard(2).leader_node_id == 3);
  CHECK(run.out == "SHARD  START    END    EPOCH  REPLICAS  LEADER\n"
                   "2      (start)  (end)  1.1    2,3,4     3\n");
  // To a node that hosts no voter: the leader's refusal, exit 1.
  Run bad = RunOn(admin, {"shard", "transfer-leader", "2", "--to", "1"});
  CHECK(bad.code == kExitFailed);
  CHECK(bad.err.starts_with("Error: INVALID_ARGUMENT: hosts no voter\n"));
}

TEST_CASE("clawctl shard split: at a key or the middle, on the leader, with the epoch", "[tools]") {
  FakeAdmin admin(3);
  admin.AddShard(2, "", "\x80", {1, 2, 3}, 2);
  admin.AddShard(3, "\x80", "", {1, 2, 3}, 3);
  SECTION("at --key") {
    Run run = RunOn(admin, {"shard", "split", "2", "--key", "k", "--yes"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls == std::vector<std::string>{"SPLIT k @2"});
    CHECK(run.out == "SHARD  START    END   EPOCH  REPLICAS  LEADER\n"
                     "2      (start)  k     1.2    1,2,3     2\n"
                     "100    k        \\x80  1.2    1,2,3     -\n");
    CHECK(admin.shard_count() == 3);
  }
  SECTION("at --key-hex, binary") {
    Run run = RunOn(admin, {"-w", "json", "shard", "split", "2", "--key-hex", "00ff", "--yes"});
    CHECK(run.code == kExitOk);
    CHECK(admin.shard(2).end_key == std::string("\x00\xff", 2));
    CHECK(run.out.find(R"("id":"100","start_key":"AP8=")") != std::string::npos);
  }
  SECTION("at the middle of the data") {
    Run run = RunOn(admin, {"shard", "split", "3", "--yes"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls == std::vector<std::string>{"SPLIT  @3"});
    CHECK(admin.shard(100).start_key == "\x80m");
  }
  SECTION("a key outside the shard: the leader's refusal, exit 1") {
    Run run = RunOn(admin, {"shard", "split", "2", "--key", "\x90", "--yes"});
    CHECK(run.code == kExitFailed);
    CHECK(run.err.starts_with("Error: INVALID_ARGUMENT: not inside\n"));
  }
  SECTION("an answer lost after the split applied: found in the directory, not split twice") {
    admin.faults.push_back({Error{.code = ErrorCode::kUnavailable, .message = "leader lost", .definite = false}, true});
    Run run = RunOn(admin, {"shard", "split", "2", "--key", "k", "--yes"});
    CHECK(run.code == kExitOk);
    CHECK(admin.shard_count() == 3);
    CHECK(run.err.find("answer was lost") != std::string::npos);
    CHECK(run.out.find("100    k") != std::string::npos);
  }
  SECTION("the shard split by someone else meanwhile: refused, exit 1") {
    admin.faults.push_back({Error{.code = ErrorCode::kEpochMismatch, .message = "changed"}, false,
                            [](FakeAdmin& a) {
                              a.shard(2).end_key = "c";
                              a.shard(2).epoch.range_version = 5;
                            }});
    Run run = RunOn(admin, {"shard", "split", "2", "--key", "b", "--yes"});
    CHECK(run.code == kExitFailed);
    CHECK(run.err.starts_with("Error: EPOCH_MISMATCH: shard 2's range changed meanwhile (epoch 1.1 -> 1.5)"));
    CHECK(admin.calls == std::vector<std::string>{"SPLIT b @2"});
  }
}

TEST_CASE("clawctl split and move need --yes without a terminal and ask [y/N] on one", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "", "", {1, 2, 3}, 1);
  SECTION("no terminal, no --yes: exit 2 before any request") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"shard", "split", "2", "--key", "k"}, {"shard", "move", "2", "--from", "1", "--to", "4"}}) {
      Run run = RunOn(admin, args);
      CHECK(run.code == kExitUsage);
      CHECK(run.err.find("add --yes") != std::string::npos);
    }
    CHECK(admin.list_calls == 0);
    CHECK(admin.calls.empty());
  }
  SECTION("a terminal: no (or nothing) changes nothing; y goes ahead") {
    Run no = RunOn(admin, {"shard", "split", "2", "--key", "k"}, Interactive::kYes, "n\n");
    CHECK(no.code == kExitUsage);
    CHECK(no.err.starts_with("Split shard 2 [(start), (end)) at k? [y/N] "));
    CHECK(no.err.find("not confirmed") != std::string::npos);
    CHECK(RunOn(admin, {"shard", "split", "2", "--key", "k"}, Interactive::kYes, "").code == kExitUsage);
    CHECK(admin.calls.empty());
    Run yes = RunOn(admin, {"shard", "split", "2", "--key", "k"}, Interactive::kYes, " Yes\n");
    CHECK(yes.code == kExitOk);
    CHECK(admin.shard_count() == 2);
    Run move = RunOn(admin, {"shard", "move", "2", "--from", "1", "--to", "4"}, Interactive::kYes, "y\n");
    CHECK(move.code == kExitOk);
    CHECK(move.err.starts_with("Move shard 2's replica from node 1 to node 4 (next step: add a learner on "
                               "node 4)? [y/N] clawctl: shard 2: added a learner on node 4"));
  }
}

TEST_CASE("clawctl shard commands exit 3 for a shard the directory does not know", "[tools]") {
  FakeAdmin admin(3);
  admin.AddShard(2, "", "", {1, 2, 3}, 1);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"shard", "show", "9"},
           {"shard", "split", "9", "--yes"},
           {"shard", "transfer-leader", "9", "--to", "2"},
           {"shard", "move", "9", "--from", "1", "--to", "2", "--yes"}}) {
    Run run = RunOn(admin, args);
    CHECK(run.code == kExitNotFound);
    CHECK(run.err == "Error: no shard 9 (see `clawctl shard list`)\n");
    CHECK(run.out.empty());
  }
  CHECK(admin.calls.empty());
}

TEST_CASE("clawctl shard show prints the shard and its replicas' nodes", "[tools]") {
  FakeAdmin admin(4);
  admin.AddShard(2, "a", "m", {1, 2, 4}, 2);
  admin.shard(2).replicas.push_back({3, 7ULL << 32 | 3, true});
  Run table = RunOn(admin, {"shard", "show", "2"});
  CHECK(table.code == kExitOk);
  CHECK(table.out ==
        "SHARD  START  END  EPOCH  LEADER\n"
        "2      a      m    1.1    2\n"
        "\n"
        "NODE  REPLICA      ROLE     LEADER  ADDRESS\n"
        "1     1            VOTER    no      node1:7379\n"
        "2     2            VOTER    yes     node2:7379\n"
        "4     4            VOTER    no      node4:7379\n"
        "3     30064771075  LEARNER  no      node3:7379\n");
  Run json = RunOn(admin, {"-w", "json", "shard", "show", "2"});
  CHECK(json.out.starts_with(R"({"id":"2","start_key":"YQ==","end_key":"bQ==","epoch":{"conf_version":"1",)"));
  CHECK(json.out.find(R"({"node_id":"3","replica_id":"30064771075","role":"LEARNER","address":"node3:7379"})") !=
        std::string::npos);
}

TEST_CASE("clawctl shard commands over gRPC: show from the directory, admin RPC errors", "[tools]") {
  // FakeCluster serves ListShards and ListMembers but none of the admin RPCs (UNIMPLEMENTED).
  client::testing::FakeCluster cluster(3);
  std::string endpoints;
  for (const auto& address : cluster.addresses()) endpoints += address + ",";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--endpoints", endpoints, "--timeout", "2s"});
    auto inv = ParseArgs(args, nullptr);
    REQUIRE(inv);
    auto client = client::Client::Open({.endpoints = inv->global.endpoints});
    REQUIRE(client);
    return Capture([&](std::istream& in, std::ostream& out, std::ostream& err) {
      return RunCommand(*inv, **client, in, out, err);
    });
  };
  Run show = run({"shard", "show", "1"});
  CHECK(show.code == kExitOk);
  CHECK(show.out.find("1     1        VOTER  yes     " + cluster.address(1)) != std::string::npos);
  CHECK(run({"shard", "show", "7"}).code == kExitNotFound);
  Run transfer = run({"shard", "transfer-leader", "1", "--to", "2"});
  CHECK(transfer.code == kExitFailed);
  CHECK(transfer.err.starts_with("Error: UNIMPLEMENTED"));
  CHECK(run({"shard", "split", "1"}).code == kExitUsage);  // no terminal, no --yes
}

}  // namespace claw::clawctl::testing
