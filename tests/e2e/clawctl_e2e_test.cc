// The clawctl binary against the shared cluster: data commands (put, get, scan, del, txn) and
// admin commands (status, shard list, member list) in table and JSON output, and the exit codes
// of tools/README.md (0 ok, 1 request failed, 2 usage or not confirmed, 3 get of a missing key or
// an unknown shard, 4 txn else). The shard admin commands (show, split, transfer-leader, move)
// run against clusters of their own.
#include <catch2/catch.hpp>

#include <cstdio>
#include <optional>
#include <utility>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

// Runs clawctl with the cluster's endpoints and `args`.
ProcessResult Ctl(const TestCluster& c, const std::vector<std::string>& args,
                  const std::string& input = "") {
  return RunClawctl(Endpoints(c), args, input);
}

}  // namespace

// Keys "?ctl/..." (0x3f) and "@ctl/..." (0x40) sit on both sides of the first shard boundary.
TEST_CASE("clawctl: data commands in table and JSON output, with their exit codes", "[e2e]") {
  TestCluster& c = SharedCluster();
  REQUIRE(Ctl(c, {"del", "--range", "?ctl/", "@ctl0"}).exit_code == 0);

  SECTION("put, get, del") {
    ProcessResult put = Ctl(c, {"put", "?ctl/a", "hello"});
    CHECK(put.exit_code == 0);
    CHECK(put.out.rfind("OK\n", 0) == 0);
    ProcessResult get = Ctl(c, {"get", "?ctl/a"});
    CHECK(get.exit_code == 0);
    CHECK(get.out == "hello\n");
    ProcessResult prev = Ctl(c, {"put", "?ctl/a", "world", "--prev-kv"});
    CHECK(prev.exit_code == 0);
    CHECK(prev.out == "OK\n?ctl/a\thello\n");
    ProcessResult json = Ctl(c, {"-w", "json", "get", "?ctl/a"});
    CHECK(json.exit_code == 0);
    // base64("?ctl/a") = P2N0bC9h, base64("world") = d29ybGQ=; 64-bit numbers as strings.
    CHECK(json.out.rfind(R"({"key":"P2N0bC9h","value":"d29ybGQ=","version":"2","mod_ts":")", 0) == 0);
    CHECK(Count(json.out, "\n") == 1);
    ProcessResult del = Ctl(c, {"-w", "json", "del", "?ctl/a", "--prev-kv"});
    CHECK(del.exit_code == 0);
    CHECK(del.out.rfind(R"({"deleted":"1","prev":{"key":"P2N0bC9h","value":"d29ybGQ=","version":"2",)", 0) == 0);
    ProcessResult del_again = Ctl(c, {"del", "?ctl/a"});
    CHECK(del_again.exit_code == 0);
    CHECK(del_again.out.rfind("0\n", 0) == 0);
  }
  SECTION("get of a missing key exits 3 (null in JSON)") {
    ProcessResult table = Ctl(c, {"get", "?ctl/missing"});
    CHECK(table.exit_code == 3);
    CHECK(table.out.empty());
    CHECK(table.err.find("not found") != std::string::npos);
    ProcessResult json = Ctl(c, {"-w", "json", "get", "?ctl/missing"});
    CHECK(json.exit_code == 3);
    CHECK(json.out == "null\n");
  }
  SECTION("scan across the shard boundary: table, keys only, reverse, limit, prefix, JSON") {
    for (const char* k : {"?ctl/1", "?ctl/2", "@ctl/1", "@ctl/2"}) {
      REQUIRE(Ctl(c, {"put", k, std::string("v") + k}).exit_code == 0);
    }
    ProcessResult all = Ctl(c, {"scan", "?ctl/", "@ctl0"});
    CHECK(all.exit_code == 0);
    CHECK(all.out == "?ctl/1\tv?ctl/1\n?ctl/2\tv?ctl/2\n@ctl/1\tv@ctl/1\n@ctl/2\tv@ctl/2\n");
    ProcessResult keys = Ctl(c, {"scan", "?ctl/", "@ctl0", "--keys-only", "--reverse"});
    CHECK(keys.exit_code == 0);
    CHECK(keys.out == "@ctl/2\n@ctl/1\n?ctl/2\n?ctl/1\n");
    ProcessResult limited = Ctl(c, {"scan", "?ctl/", "@ctl0", "--limit", "3", "--keys-only"});
    CHECK(limited.exit_code == 0);
    CHECK(limited.out == "?ctl/1\n?ctl/2\n@ctl/1\n");
    ProcessResult prefix = Ctl(c, {"scan", "--prefix", "@ctl/", "--keys-only"});
    CHECK(prefix.exit_code == 0);
    CHECK(prefix.out == "@ctl/1\n@ctl/2\n");
    ProcessResult json = Ctl(c, {"-w", "json", "scan", "?ctl/", "@ctl0", "--limit", "2"});
    CHECK(json.exit_code == 0);
    CHECK(Count(json.out, R"("key":)") == 2);
    CHECK(json.out.find(R"("count":"2","more":true})") != std::string::npos);
    ProcessResult range = Ctl(c, {"del", "--range", "?ctl/", "@ctl0"});
    CHECK(range.exit_code == 0);
    CHECK(range.out == "4\n");
  }
  SECTION("txn: success exits 0, else branch exits 4") {
    REQUIRE(Ctl(c, {"put", "?ctl/lock", "free"}).exit_code == 0);
    ProcessResult won = Ctl(c, {"txn", "--if", "value(?ctl/lock) = free", "--then", "put ?ctl/lock me",
                                "--else", "get ?ctl/lock"});
    CHECK(won.exit_code == 0);
    CHECK(won.out.rfind("SUCCEEDED\n", 0) == 0);
    ProcessResult lost = Ctl(c, {"txn", "--if", "value(?ctl/lock) = free", "--then", "put ?ctl/lock you",
                                 "--else", "get ?ctl/lock"});
    CHECK(lost.exit_code == 4);
    CHECK(lost.out.rfind("FAILED\n", 0) == 0);
    CHECK(lost.out.find("me") != std::string::npos);
    // The same from a script on stdin: compares, blank line, success ops, blank line, failure ops.
    ProcessResult script = Ctl(c, {"txn"}, "version(?ctl/lock) = 2\n\nput ?ctl/lock done\n\nget ?ctl/lock\n");
    CHECK(script.exit_code == 0);
    ProcessResult got = Ctl(c, {"get", "?ctl/lock"});
    CHECK(got.out == "done\n");
  }
  SECTION("failed requests exit 1 with the error code on stderr; no endpoint at all exits 5") {
    ProcessResult big = Ctl(c, {"put", "?ctl/" + std::string(5000, 'k'), "v"});
    CHECK(big.exit_code == 1);
    CHECK(big.err.find("TOO_LARGE") != std::string::npos);
    CHECK(big.out.empty());
    ProcessResult span = Ctl(c, {"txn", "--then", "put ?ctl/x 1", "--then", "put @ctl/x 2"});
    CHECK(span.exit_code == 1);
    CHECK(span.err.find("INVALID_ARGUMENT") != std::string::npos);
    ProcessResult nobody = RunProcess({ClawctlPath(), "--endpoints", "127.0.0.1:" + std::to_string(FreePort()),
                                       "--timeout", "500ms", "get", "x"});
    CHECK(nobody.exit_code == 5);
    CHECK_THAT(nobody.err, Catch::StartsWith("Error: cannot connect to any endpoint"));
  }
  SECTION("usage errors exit 2") {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"frobnicate"}, {"get"}, {"put", "only-key"},
                                               {"scan", "a", "--limit", "lots"}, {"-w", "yaml", "get", "a"},
                                               {"txn", "--if", "value(x) ~ y"}}) {
      ProcessResult r = Ctl(c, args);
      CHECK(r.exit_code == 2);
      CHECK_FALSE(r.err.empty());
      CHECK(r.out.empty());
    }
  }
}

TEST_CASE("clawctl: put and del print exactly OK and the count without --prev-kv", "[e2e]") {
  TestCluster& c = SharedCluster();
  ProcessResult put = Ctl(c, {"put", "?ctl/exact", "v"});
  CHECK(put.exit_code == 0);
  CHECK(put.out == "OK\n");
  ProcessResult del = Ctl(c, {"del", "?ctl/exact"});
  CHECK(del.exit_code == 0);
  CHECK(del.out == "1\n");
}

TEST_CASE("clawctl: status, shard list and member list describe the cluster", "[e2e]") {
  TestCluster& c = SharedCluster();
  SECTION("status asks every endpoint") {
    ProcessResult table = Ctl(c, {"status"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("ENDPOINT", 0) == 0);
    for (int i = 0; i < c.size(); ++i) CHECK(table.out.find(c.client_address(i)) != std::string::npos);
    CHECK(Count(table.out, "\n") == 4);  // header + 3 nodes
    ProcessResult json = Ctl(c, {"-w", "json", "status"});
    CHECK(json.exit_code == 0);
    for (const char* id : {R"("node_id":"1")", R"("node_id":"2")", R"("node_id":"3")"}) {
      CHECK(json.out.find(id) != std::string::npos);
    }
    CHECK(Count(json.out, R"("replicas":"5")") == 3);  // 4 data shards + the meta shard each
    // One endpoint that does not answer: the others are listed, and the exit code is 1.
    ProcessResult partial = RunProcess({ClawctlPath(), "--endpoints",
                                        c.client_address(0) + ",127.0.0.1:" + std::to_string(FreePort()),
                                        "--timeout", "1s", "status"});
    CHECK(partial.exit_code == 1);
    CHECK(partial.out.find(c.client_address(0)) != std::string::npos);
  }
  SECTION("shard list") {
    ProcessResult table = Ctl(c, {"shard", "list"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("SHARD", 0) == 0);
    CHECK(Count(table.out, "\n") == 5);  // header + 4 data shards
    CHECK(table.out.find("(start)") != std::string::npos);
    CHECK(table.out.find("(end)") != std::string::npos);
    CHECK(table.out.find("\\x80") != std::string::npos);
    CHECK(table.out.find("\\xc0") != std::string::npos);
    ProcessResult json = Ctl(c, {"-w", "json", "shard", "list"});
    CHECK(json.exit_code == 0);
    // Boundaries 0x40, 0x80, 0xc0 in base64: QA==, gA==, wA==.
    CHECK(json.out.find(R"("id":"2","start_key":"","end_key":"QA==")") != std::string::npos);
    CHECK(json.out.find(R"("id":"3","start_key":"QA==","end_key":"gA==")") != std::string::npos);
    CHECK(json.out.find(R"("id":"4","start_key":"gA==","end_key":"wA==")") != std::string::npos);
    CHECK(json.out.find(R"("id":"5","start_key":"wA==","end_key":"")") != std::string::npos);
    CHECK(Count(json.out, R"("role":"VOTER")") == 12);
  }
  SECTION("member list") {
    ProcessResult table = Ctl(c, {"member", "list"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("NODE", 0) == 0);
    CHECK(Count(table.out, "\n") == 4);
    CHECK(Count(table.out, "yes") == 3);
    ProcessResult json = Ctl(c, {"-w", "json", "member", "list"});
    CHECK(json.exit_code == 0);
    for (int i = 0; i < c.size(); ++i) {
      CHECK(json.out.find(R"("name":"n)" + std::to_string(i + 1) + R"(","client_address":")" +
                          c.client_address(i) + "\"") != std::string::npos);
    }
    CHECK(Count(json.out, R"("reachable":true)") == 3);
  }
}

}  // namespace claw::e2e

// The shard admin commands (shard show, split, transfer-leader, move) change the cluster, so they
// run on clusters of their own, never on the shared one.
namespace claw::e2e {
namespace {

// Flags for clusters whose shards a test changes by hand: the placement service plans only once a
// minute (after three intervals), so within a test it neither removes the learner of a move in
// progress as a stray nor moves leaders back for balance.
std::vector<std::string> QuietPlacementFlags() {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "60000",
                             "--placement-node-dead-after-ms", "600000"});
  return flags;
}

// Starts every node and waits until each serves and node index `via` knows the leader of `shard`.
// (TestCluster::StartAllAndWait asks node 0 about every shard, but with 4 nodes node 0 hosts no
// replica of shard 2 and learns no leader for it.)
bool StartAndWait(TestCluster& c, int via, uint64_t shard) {
  c.StartAll();
  for (int i = 0; i < c.size(); ++i) {
    if (!c.WaitServing(i)) return false;
  }
  return Eventually([&] {
    for (const auto& r : Routes(c, via)) {
      if (r.shard().id() == shard) return !r.leader_address().empty();
    }
    return false;
  }, std::chrono::seconds(20));
}

// The descriptor of `shard` as its leader knows it (Cluster.Status of the nodes, the leader's
// replica), with the leader's node id; nullopt while no node reports leading it.
std::optional<std::pair<v1::ShardDescriptor, uint64_t>> LeaderView(TestCluster& c, uint64_t shard) {
  for (int i = 0; i < c.size(); ++i) {
    v1::StatusResponse st;
    if (!c.Running(i) || !c.Admin(i)->Status(Ctx().get(), v1::StatusRequest(), &st).ok()) continue;
    for (const auto& r : st.replicas()) {
      if (r.shard().id() == shard && r.is_leader()) return std::make_pair(r.shard(), c.node_id(i));
    }
  }
  return std::nullopt;
}

// "VOTER", "LEARNER" or "" (no replica) for node `node` in a `-w json` shard object.
std::string RoleIn(const std::string& json, uint64_t node) {
  const std::string replica = R"({"node_id":")" + std::to_string(node) + R"(","replica_id":")";
  const size_t at = json.find(replica);
  if (at == std::string::npos) return "";
  const size_t role = json.find(R"("role":")", at);
  return json.substr(role + 8, json.find('"', role + 8) - role - 8);
}

}  // namespace

TEST_CASE("clawctl: shard show, split (at --key, --key-hex, the middle) and transfer-leader", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = QuietPlacementFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));

  SECTION("show") {
    ProcessResult table = Ctl(c, {"shard", "show", "2"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("SHARD  START    END   EPOCH  LEADER\n2      (start)  \\x80  1.1", 0) == 0);
    CHECK_THAT(table.out, Catch::Contains("\nNODE  REPLICA  ROLE   LEADER  ADDRESS\n"));
    for (int i = 0; i < c.size(); ++i) CHECK_THAT(table.out, Catch::Contains(c.client_address(i)));
    CHECK(Count(table.out, " yes ") == 1);
    ProcessResult json = Ctl(c, {"-w", "json", "shard", "show", "3"});
    CHECK(json.exit_code == 0);
    CHECK(json.out.rfind(R"({"id":"3","start_key":"gA==","end_key":"",)", 0) == 0);
    CHECK(Count(json.out, R"("role":"VOTER","address":"127.0.0.1:)") == 3);
    ProcessResult missing = Ctl(c, {"shard", "show", "42"});
    CHECK(missing.exit_code == 3);
    CHECK_THAT(missing.err, Catch::Contains("no shard 42"));
  }
  SECTION("split needs --yes without a terminal; then at --key, the middle and --key-hex") {
    ProcessResult refused = Ctl(c, {"shard", "split", "2", "--key", "m"});
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Catch::Contains("add --yes"));
    CHECK(refused.out.empty());
    CHECK(Routes(c).size() == 2);

    ProcessResult at_key = Ctl(c, {"shard", "split", "2", "--key", "m", "--yes"});
    REQUIRE(at_key.exit_code == 0);
    CHECK(at_key.out.rfind("SHARD", 0) == 0);
    CHECK(Count(at_key.out, "\n") == 3);  // header and both halves (the new one has a new id)
    CHECK_THAT(at_key.out, Catch::Contains("(start)  m     1.2    "));
    CHECK_THAT(at_key.out, Catch::Contains("m        \\x80  1.2    "));
    REQUIRE(Eventually([&] { return Count(Ctl(c, {"shard", "list"}).out, "\n") == 4; }));  // + header
    ProcessResult list = Ctl(c, {"-w", "json", "shard", "list"});
    CHECK_THAT(list.out, Catch::Contains(R"({"id":"2","start_key":"","end_key":"bQ==")"));  // "m"
    CHECK_THAT(list.out, Catch::Contains(R"("start_key":"bQ==","end_key":"gA==")"));

    // The middle of [start, m): keys a000..a199, so the split key is about a100.
    auto client = OpenClient(c);
    for (int k = 0; k < 200; ++k) {
      char key[8];
      std::snprintf(key, sizeof key, "a%03d", k);
      REQUIRE(client->Put(key, std::string(100, 'v')).has_value());
    }
    ProcessResult middle = Ctl(c, {"-w", "json", "shard", "split", "2", "--yes"});
    REQUIRE(middle.exit_code == 0);
    CHECK(middle.out.rfind(R"({"shards":[{"id":"2","start_key":"","end_key":"YT)", 0) == 0);  // "a..."
    REQUIRE(Eventually([&] { return Count(Ctl(c, {"shard", "list"}).out, "\n") == 5; }));

    ProcessResult hex = Ctl(c, {"shard", "split", "3", "--key-hex", "c0ff", "--yes"});
    REQUIRE(hex.exit_code == 0);
    CHECK_THAT(hex.out, Catch::Contains("\\xc0\\xff"));
    REQUIRE(Eventually([&] { return Count(Ctl(c, {"shard", "list"}).out, "\n") == 6; }));

    // The data is all there, across the new boundaries.
    ProcessResult scan = Ctl(c, {"scan", "a", "b", "--keys-only"});
    CHECK(scan.exit_code == 0);
    CHECK(Count(scan.out, "\n") == 200);

    // Refusals: a key outside the shard (INVALID_ARGUMENT, exit 1), an empty shard without a key.
    ProcessResult outside = Ctl(c, {"shard", "split", "2", "--key", "zzz", "--yes"});
    CHECK(outside.exit_code == 1);
    CHECK_THAT(outside.err, Catch::Contains("INVALID_ARGUMENT"));
    CHECK(Ctl(c, {"shard", "split", "42", "--yes"}).exit_code == 3);
  }
  SECTION("transfer-leader") {
    auto view = LeaderView(c, 2);
    REQUIRE(view.has_value());
    const uint64_t target = view->second % 3 + 1;  // another voter
    ProcessResult moved = Ctl(c, {"shard", "transfer-leader", "2", "--to", std::to_string(target)});
    REQUIRE(moved.exit_code == 0);
    CHECK(moved.out.ends_with("  " + std::to_string(target) + "\n"));  // the LEADER column
    auto now = LeaderView(c, 2);
    REQUIRE(now.has_value());
    CHECK(now->second == target);
    // Again: a no-op. To a node with no voter of the shard: the leader's refusal, exit 1.
    CHECK(Ctl(c, {"shard", "transfer-leader", "2", "--to", std::to_string(target)}).exit_code == 0);
    ProcessResult bad = Ctl(c, {"shard", "transfer-leader", "2", "--to", "9"});
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.err, Catch::Contains("INVALID_ARGUMENT"));
    CHECK(Ctl(c, {"shard", "transfer-leader", "2"}).exit_code == 2);  // no --to
  }
}

TEST_CASE("clawctl: shard move on 4 nodes, from a follower and from the leader, resumable", "[e2e]") {
  // 4 nodes, 2 data shards: shard 2 (keys below 0x80) starts on nodes 2, 3 and 4.
  TestCluster c({.nodes = 4, .shards = 2, .flags = QuietPlacementFlags()});
  REQUIRE(StartAndWait(c, 1, 2));
  INFO(c.DumpLogs(80));
  {
    auto client = OpenClient(c);
    for (int k = 0; k < 100; ++k) REQUIRE(client->Put("mv" + std::to_string(k), "v" + std::to_string(k)).has_value());
  }
  auto view = LeaderView(c, 2);
  REQUIRE(view.has_value());
  const uint64_t leader = view->second;
  const uint64_t follower = leader == 4 ? 3 : 4;

  // Without --yes (stdin is a pipe): refused before anything is sent.
  ProcessResult refused = Ctl(c, {"shard", "move", "2", "--from", std::to_string(follower), "--to", "1"});
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("add --yes"));
  CHECK(LeaderView(c, 2)->first.epoch().conf_version() == 1);

  // From a follower to node 1, which hosts no replica of shard 2: learner, promote, remove (the
  // epoch's conf_version goes 1 -> 4). stderr is a pipe: no progress lines, only the outcome.
  ProcessResult move = Ctl(c, {"-w", "json", "shard", "move", "2", "--from", std::to_string(follower), "--to", "1",
                               "--yes"});
  REQUIRE(move.exit_code == 0);
  CHECK(move.err.empty());
  CHECK(RoleIn(move.out, 1) == "VOTER");
  CHECK(RoleIn(move.out, follower).empty());
  view = LeaderView(c, 2);
  REQUIRE(view.has_value());
  CHECK(view->first.replicas_size() == 3);
  CHECK(view->first.epoch().conf_version() == 4);

  // Run again: nothing left to do.
  ProcessResult again = Ctl(c, {"shard", "move", "2", "--from", std::to_string(follower), "--to", "1", "--yes"});
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.err, Catch::Contains("nothing to do"));

  // From the leader back to the freed node: the leadership moves to it before the removal.
  const uint64_t old_leader = LeaderView(c, 2)->second;
  ProcessResult from_leader = Ctl(c, {"shard", "move", "2", "--from", std::to_string(old_leader), "--to",
                                      std::to_string(follower), "--yes"});
  REQUIRE(from_leader.exit_code == 0);
  CHECK(from_leader.err.empty());
  view = LeaderView(c, 2);
  REQUIRE(view.has_value());
  CHECK(view->second == follower);
  CHECK(view->first.replicas_size() == 3);
  ProcessResult show = Ctl(c, {"-w", "json", "shard", "show", "2"});
  CHECK(RoleIn(show.out, old_leader).empty());
  CHECK(RoleIn(show.out, follower) == "VOTER");
  CHECK(RoleIn(show.out, 1) == "VOTER");

  // Every key is still there.
  ProcessResult scan = Ctl(c, {"scan", "mv", "mw", "--keys-only"});
  CHECK(scan.exit_code == 0);
  CHECK(Count(scan.out, "\n") == 100);

  // Bad moves: a node without a replica as --from (exit 1), an unknown shard (exit 3).
  ProcessResult nothing = Ctl(c, {"shard", "move", "2", "--from", std::to_string(old_leader), "--to", "9", "--yes"});
  CHECK(nothing.exit_code == 1);
  CHECK_THAT(nothing.err, Catch::Contains("hosts no replica of shard 2"));
  CHECK(Ctl(c, {"shard", "move", "42", "--from", "1", "--to", "2", "--yes"}).exit_code == 3);
}

}  // namespace claw::e2e
