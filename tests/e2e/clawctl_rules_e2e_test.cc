// The clawctl binary's placement rules commands against 3 real clawd processes: no rules at
// version 0; a range rule set (version 1) and listed, as a table and as JSON; an overlapping rule
// refused with the server's message; an absent rule's delete exiting 3; the rule deleted
// (version 2, no rules).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

ProcessResult Ctl(const TestCluster& c, const std::vector<std::string>& args) {
  return RunClawctl(Endpoints(c), args, "", std::chrono::seconds(20));
}

}  // namespace

TEST_CASE("clawctl placement rules / rule set / rule delete on 3 nodes", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  c.StartAll();
  for (int i = 0; i < c.size(); ++i) REQUIRE(c.WaitServing(i));
  INFO(c.DumpLogs(80));

  // No rules yet (clawctl waits for the meta shard's leader within --timeout; once more if not).
  ProcessResult empty;
  REQUIRE(Eventually(
      [&] {
        empty = Ctl(c, {"placement", "rules"});
        return empty.exit_code == 0;
      },
      std::chrono::seconds(10)));
  CHECK(empty.out == "version: 0\nNAME  RANGE  REPLICAS  ZONES  LEADER ZONES\n");
  CHECK(Ctl(c, {"-w", "json", "placement", "rules"}).out == "{\"rules\":[],\"version\":\"0\"}\n");

  // A range rule: version 1.
  ProcessResult set =
      Ctl(c, {"placement", "rule", "set", "hot", "--start", "m", "--end", "p", "--replicas", "3"});
  REQUIRE(set.exit_code == 0);
  CHECK(set.err == "clawctl: rule 'hot' added (rules version 1)\n");
  ProcessResult listed = Ctl(c, {"placement", "rules"});
  CHECK(listed.exit_code == 0);
  CHECK(listed.out ==
        "version: 1\n"
        "NAME  RANGE  REPLICAS  ZONES  LEADER ZONES\n"
        "hot   m..p   3         -      -\n");
  CHECK(set.out == listed.out);
  ProcessResult json = Ctl(c, {"-w", "json", "placement", "rules"});
  CHECK(json.out ==
        R"({"rules":[{"name":"hot","start_key":"bQ==","end_key":"cA==","replication_factor":3,)"
        R"("zones":[],"leader_zones":[]}],"version":"1"})"
        "\n");

  // An overlapping rule: the server refuses, naming it; nothing changes.
  ProcessResult overlap =
      Ctl(c, {"placement", "rule", "set", "warm", "--start", "n", "--end", "z"});
  CHECK(overlap.exit_code == 1);
  CHECK_THAT(
      overlap.err,
      Catch::Contains("Error: INVALID_ARGUMENT: rule 'warm': its range overlaps rule 'hot'"));
  CHECK(overlap.out.empty());
  // Bad arguments: exit 2 before any request.
  CHECK(Ctl(c, {"placement", "rule", "set", "default", "--start", "a"}).exit_code == 2);
  CHECK(Ctl(c, {"placement", "rule", "delete", "warm"}).exit_code == 3);
  CHECK_THAT(Ctl(c, {"placement", "rules"}).out, Catch::StartsWith("version: 1\n"));

  // Deleted: version 2, no rules.
  ProcessResult del = Ctl(c, {"placement", "rule", "delete", "hot"});
  REQUIRE(del.exit_code == 0);
  CHECK(del.err == "clawctl: rule 'hot' deleted (rules version 2)\n");
  CHECK(del.out == "version: 2\nNAME  RANGE  REPLICAS  ZONES  LEADER ZONES\n");
  CHECK(Ctl(c, {"placement", "rules"}).out == del.out);
}

}  // namespace claw::e2e
