// The clawctl binary's node and placement commands against 4 real clawd processes with a quick
// placement service (heartbeats every 100 ms): node list (4 nodes UP, also through a node that
// does not lead the meta shard and redirects), placement explain, node remove refused while the
// node holds replicas, node drain --wait until it holds none, then node remove.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

// Runs clawctl with `endpoints` and `args`.
ProcessResult CtlAt(const std::string& endpoints, const std::vector<std::string>& args) {
  return RunClawctl(endpoints, args, "", std::chrono::seconds(40));
}

ProcessResult Ctl(const TestCluster& c, const std::vector<std::string>& args) {
  return CtlAt(Endpoints(c), args);
}

// The node index whose replica of the meta shard (shard 1) leads, or -1.
int MetaLeader(const TestCluster& c) {
  for (int i = 0; i < c.size(); ++i) {
    v1::StatusResponse st;
    if (!c.Running(i) || !c.Admin(i)->Status(Ctx(1000).get(), v1::StatusRequest(), &st).ok()) continue;
    for (const auto& r : st.replicas()) {
      if (r.shard().id() == 1 && r.is_leader()) return i;
    }
  }
  return -1;
}

// The number of replicas node i hosts (Cluster.Status), or -1 when it does not answer.
int ReplicasOn(const TestCluster& c, int i) {
  v1::StatusResponse st;
  if (!c.Admin(i)->Status(Ctx(1000).get(), v1::StatusRequest(), &st).ok()) return -1;
  return st.replicas_size();
}

// A node's object in `node list -w json` (from its "node_id" to the next node), or "".
std::string NodeJson(const std::string& json, uint64_t node) {
  const size_t at = json.find(R"({"node_id":")" + std::to_string(node) + "\"");
  if (at == std::string::npos) return "";
  const size_t end = json.find(R"({"node_id":")", at + 1);
  return json.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

TEST_CASE("clawctl node list / drain --wait / remove and placement explain on 4 nodes", "[e2e]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "100", "--placement-node-dead-after-ms", "3000",
                             "--raft-snapshot-after-entries", "100"});
  TestCluster c({.nodes = 4, .shards = 2, .flags = flags});
  c.StartAll();
  for (int i = 0; i < c.size(); ++i) REQUIRE(c.WaitServing(i));
  INFO(c.DumpLogs(80));

  // Every node registered and heard from: 4 rows UP, alive, with a heartbeat.
  REQUIRE(Eventually(
      [&] {
        ProcessResult r = Ctl(c, {"-w", "json", "node", "list"});
        return r.exit_code == 0 && Count(r.out, R"("state":"UP","dead":false)") == 4 &&
               Count(r.out, R"("last_heartbeat_ms_ago")") == 4;
      },
      std::chrono::seconds(20)));
  ProcessResult table = Ctl(c, {"node", "list"});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.starts_with("ID  NAME  STATE  ZONE/RACK/HOST  ADDRESS"));
  CHECK(Count(table.out, "\n") == 5);  // header + 4 nodes
  CHECK(Count(table.out, "  UP  ") == 4);
  for (int i = 0; i < c.size(); ++i) CHECK_THAT(table.out, Catch::Contains(c.client_address(i)));

  // Asked through one node that does not lead the meta shard: its NOT_LEADER is followed.
  const int meta = MetaLeader(c);
  REQUIRE(meta >= 0);
  ProcessResult redirected = CtlAt(c.client_address((meta + 1) % 4), {"node", "list"});
  CHECK(redirected.exit_code == 0);
  CHECK(Count(redirected.out, "\n") == 5);

  // placement explain: the rule and one line per replica at least; an unknown shard exits 3.
  ProcessResult explain = Ctl(c, {"placement", "explain", "2"});
  CHECK(explain.exit_code == 0);
  CHECK(Count(explain.out, "\n") >= 4);
  CHECK_THAT(explain.out, Catch::Contains("voter"));
  // Shard 2 ends at key 0x80: the rule line carries it escaped (the raw byte is not UTF-8, which
  // a proto3 string field may not hold).
  CHECK_THAT(explain.out, Catch::Contains("\\x80"));
  ProcessResult explain_json = Ctl(c, {"-w", "json", "placement", "explain", "2"});
  CHECK(explain_json.exit_code == 0);
  CHECK(explain_json.out.starts_with(R"({"shard_id":"2","lines":[")"));
  ProcessResult no_shard = Ctl(c, {"placement", "explain", "42"});
  CHECK(no_shard.exit_code == 3);
  CHECK_THAT(no_shard.err, Catch::Contains("shard 42 is not in the directory"));

  // Node 3 holds a replica of every shard at bootstrap: removing it is refused, with the reason.
  const int drained = 2;
  const std::string id = std::to_string(c.node_id(drained));
  CHECK(Ctl(c, {"node", "remove", id}).exit_code == 2);  // no --yes, no terminal
  ProcessResult refused = Ctl(c, {"node", "remove", id, "--yes"});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("node " + id + " cannot be removed: node " + id + " still holds"));
  CHECK_THAT(refused.err, Catch::Contains("hint: drain it first: clawctl node drain " + id + " --wait"));
  CHECK(refused.out.empty());

  // Drain with --wait: the node's row with no replica and no leader.
  const auto started = std::chrono::steady_clock::now();
  ProcessResult drain = Ctl(c, {"-w", "json", "node", "drain", id, "--wait", "--yes", "--command-timeout", "25s"});
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  INFO("node drain --wait took " << took.count() << " ms");
  REQUIRE(drain.exit_code == 0);
  CHECK_THAT(drain.err, Catch::Contains("clawctl: node " + id + " is draining"));
  CHECK_THAT(drain.err, !Catch::Contains(" left\n"));  // stderr is a pipe: no progress lines
  CHECK_THAT(drain.err, Catch::Contains("clawctl: node " + id + ": drained"));
  CHECK_THAT(drain.out, Catch::Contains(R"("state":"DRAINING")"));
  CHECK_THAT(drain.out, Catch::Contains(R"("replicas":"0","leaders":"0")"));
  ProcessResult list = Ctl(c, {"-w", "json", "node", "list"});
  CHECK_THAT(NodeJson(list.out, c.node_id(drained)), Catch::Contains(R"("replicas":"0","leaders":"0")"));
  // The node itself lets go of its replicas once their removal reaches it.
  CHECK(Eventually([&] { return ReplicasOn(c, drained) == 0; }, std::chrono::seconds(10)));

  // Now it can be removed; again is a no-op; it is listed REMOVED.
  ProcessResult removed = Ctl(c, {"node", "remove", id, "--yes"});
  REQUIRE(removed.exit_code == 0);
  CHECK_THAT(removed.out, Catch::Contains("REMOVED"));
  ProcessResult again = Ctl(c, {"node", "remove", id, "--yes"});
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.err, Catch::Contains("removed already"));
  list = Ctl(c, {"-w", "json", "node", "list"});
  CHECK_THAT(NodeJson(list.out, c.node_id(drained)), Catch::Contains(R"("state":"REMOVED")"));
  CHECK(Count(list.out, R"("state":"UP")") == 3);
  // A removed node cannot be drained; an unknown one is not found.
  CHECK(Ctl(c, {"node", "drain", id, "--yes"}).exit_code == 3);
  CHECK(Ctl(c, {"node", "drain", "9", "--yes"}).exit_code == 3);
}

}  // namespace claw::e2e
