// The clawctl binary's etcdctl-shaped commands against real clawd processes: endpoint health
// (grpc.health.v1 per endpoint), endpoint status (with the meta shard's replica), config show
// (Cluster.GetConfig), CLAWCTL_* variables, --dial-timeout's exit code, and member add / list /
// remove on a cluster of its own.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

ProcessResult Ctl(const TestCluster& c, const std::vector<std::string>& args) {
  return RunClawctl(Endpoints(c), args, "", std::chrono::seconds(40));
}

// An address nothing listens on.
std::string DeadAddress() { return "127.0.0.1:" + std::to_string(FreePort()); }

}  // namespace

TEST_CASE("clawctl endpoint health / status and config show on 3 nodes", "[e2e]") {
  TestCluster& c = SharedCluster();
  SECTION("endpoint health: every node SERVING") {
    ProcessResult table = Ctl(c, {"endpoint", "health"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.starts_with("ENDPOINT"));
    CHECK(Count(table.out, " true ") == 3);
    CHECK(Count(table.out, "SERVING") == 3);
    ProcessResult simple = Ctl(c, {"-w", "simple", "endpoint", "health"});
    CHECK(simple.exit_code == 0);
    for (int i = 0; i < c.size(); ++i) {
      CHECK_THAT(simple.out, Catch::Contains(c.client_address(i) + " is healthy: SERVING, took "));
    }
    ProcessResult json = Ctl(c, {"-w", "json", "endpoint", "health"});
    CHECK(json.exit_code == 0);
    CHECK(Count(json.out, R"("health":true,"state":"SERVING")") == 3);
    // A dead endpoint among them: reported, exit 1; only dead ones: exit 5.
    ProcessResult partial =
        RunClawctl(c.client_address(0) + "," + DeadAddress(), {"endpoint", "health"}, "", std::chrono::seconds(20));
    CHECK(partial.exit_code == 1);
    CHECK(Count(partial.out, " true ") == 1);
    CHECK(Count(partial.out, " false ") == 1);
    CHECK_THAT(partial.err, Catch::StartsWith("Error: unhealthy cluster"));
    ProcessResult none = RunClawctl(DeadAddress(), {"endpoint", "health"}, "", std::chrono::seconds(20));
    CHECK(none.exit_code == 5);
  }
  SECTION("endpoint status: one row per node, one of them leads the meta shard") {
    ProcessResult table = Ctl(c, {"endpoint", "status"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.starts_with("ENDPOINT"));
    CHECK_THAT(table.out, Catch::Contains("META TERM"));
    CHECK(Count(table.out, "\n") == 4);
    CHECK(Count(table.out, " leader ") == 1);
    CHECK(Count(table.out, " follower ") == 2);
    ProcessResult json = Ctl(c, {"-w", "json", "endpoint", "status"});
    CHECK(json.exit_code == 0);
    CHECK(Count(json.out, R"("meta":{"role":"leader")") == 1);
    CHECK(Count(json.out, R"("meta":{"role":"follower")") == 2);
    ProcessResult simple = Ctl(c, {"-w", "simple", "status"});
    CHECK(simple.exit_code == 0);
    CHECK(Count(simple.out, "\n") == 3);  // no header
    CHECK_THAT(simple.out, Catch::StartsWith(c.client_address(0) + ", 1, n1, "));
  }
  SECTION("config show: the first endpoint's effective configuration, as YAML clawd reads") {
    ProcessResult yaml = RunClawctl(c.client_address(1), {"config", "show"});
    CHECK(yaml.exit_code == 0);
    CHECK_THAT(yaml.out, Catch::StartsWith("# the effective configuration of node 2 (n2) at " + c.client_address(1)));
    CHECK_THAT(yaml.out, Catch::Contains("name: \"n2\""));
    CHECK_THAT(yaml.out, Catch::Contains(c.client_address(1)));
    // Flags given to clawd show: the test cluster's raft tick.
    CHECK_THAT(yaml.out, Catch::Contains("tick_ms: 50"));
    ProcessResult json = Ctl(c, {"-w", "json", "config", "show"});
    CHECK(json.exit_code == 0);
    CHECK_THAT(json.out, Catch::StartsWith(R"({"endpoint":")" + c.client_address(0) +
                                           R"(","node_id":"1","name":"n1","yaml":")"));
    ProcessResult down = RunClawctl(DeadAddress(), {"config", "show"}, "", std::chrono::seconds(20));
    CHECK(down.exit_code == 5);
    CHECK_THAT(down.err, Catch::StartsWith("Error: UNAVAILABLE: "));
  }
  SECTION("CLAWCTL_* variables and --dial-timeout") {
    // RunClawctl gives --endpoints; the environment sets the output format.
    ::setenv("CLAWCTL_WRITE_OUT", "json", 1);
    ProcessResult json = Ctl(c, {"shard", "list"});
    ::unsetenv("CLAWCTL_WRITE_OUT");
    CHECK(json.exit_code == 0);
    CHECK_THAT(json.out, Catch::StartsWith(R"({"shards":[)"));
    // The flag wins over the variable.
    ::setenv("CLAWCTL_WRITE_OUT", "json", 1);
    ProcessResult table = Ctl(c, {"-w", "table", "shard", "list"});
    ::unsetenv("CLAWCTL_WRITE_OUT");
    CHECK_THAT(table.out, Catch::StartsWith("SHARD"));
    // Nothing to connect to: exit 5 once --dial-timeout passes, long before --timeout.
    const auto start = std::chrono::steady_clock::now();
    ProcessResult unreachable =
        RunClawctl(DeadAddress(), {"--dial-timeout", "500ms", "--timeout", "20s", "get", "k"}, "", std::chrono::seconds(20));
    CHECK(unreachable.exit_code == 5);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK_THAT(unreachable.err, Catch::StartsWith("Error: cannot connect to any endpoint"));
  }
}

TEST_CASE("clawctl member add / list / remove on 3 nodes", "[e2e]") {
  std::vector<std::string> flags = FastFlags();
  // No placement plan during the test: the added node never runs, and must not be given replicas.
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "60000"});
  TestCluster c({.nodes = 3, .shards = 1, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  const std::string peer = DeadAddress();
  const std::string client = DeadAddress();

  ProcessResult added = Ctl(c, {"member", "add", "n9", "--peer-urls", peer, "--client-urls", client, "--zone", "z9"});
  REQUIRE(added.exit_code == 0);
  CHECK(added.out.starts_with("ID  NAME  STATE"));
  CHECK_THAT(added.out, Catch::Contains("4   n9    UP     z9/-/-"));
  CHECK_THAT(added.err, Catch::Contains("is a member; start it with (clawd config) name: n9, advertise_peer_addr: " + peer));
  // Again: the same node, no second one. Another node's peer address: refused.
  ProcessResult again = Ctl(c, {"-w", "json", "member", "add", "n9", "--peer-urls", peer, "--client-urls", client});
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::StartsWith(R"({"nodes":[{"node_id":"4","name":"n9","state":"UP",)"));
  ProcessResult taken = Ctl(c, {"member", "add", "n8", "--peer-urls", c.peer_address(0), "--client-urls", client});
  CHECK(taken.exit_code == 1);
  CHECK_THAT(taken.err, Catch::StartsWith("Error: peer address " + c.peer_address(0) + " belongs to node 1"));

  // The placement service's node table lists it at once. (`member list` is each node's learnt
  // view, refreshed by its heartbeat: with this test's slow heartbeats it lags; it lists the
  // three running nodes meanwhile.)
  ProcessResult nodes_after_add = Ctl(c, {"-w", "simple", "node", "list"});
  CHECK(nodes_after_add.exit_code == 0);
  CHECK_THAT(nodes_after_add.out, Catch::Contains("4, n9, UP, z9/-/-, " + client + ", 0, 0, -"));
  ProcessResult members = Ctl(c, {"-w", "simple", "member", "list"});
  CHECK(members.exit_code == 0);
  CHECK_THAT(members.out, Catch::StartsWith("1, n1, " + c.client_address(0)));

  // member remove needs --yes without a terminal, then removes it for good.
  ProcessResult unconfirmed = Ctl(c, {"member", "remove", "4"});
  CHECK(unconfirmed.exit_code == 2);
  CHECK_THAT(unconfirmed.err, Catch::Contains("add --yes to confirm"));
  ProcessResult removed = Ctl(c, {"member", "remove", "4", "--yes"});
  CHECK(removed.exit_code == 0);
  CHECK_THAT(removed.out, Catch::Contains("REMOVED"));
  ProcessResult nodes = Ctl(c, {"-w", "json", "node", "list"});
  CHECK(nodes.exit_code == 0);
  CHECK_THAT(nodes.out, Catch::Contains(R"("node_id":"4","name":"n9","state":"REMOVED")"));
}

}  // namespace claw::e2e
