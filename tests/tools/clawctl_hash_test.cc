// clawctl debug hash without a cluster: its command line, the verdict on a shard's replica rows
// (majority, minority, tie, silent and skipped replicas) and the table and JSON output. The
// command against real nodes: tests/e2e/clawctl_hash_e2e_test.cc and tests/fault (S18).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tools/clawctl/args.h"
#include "tools/clawctl/hash_check.h"

namespace claw::clawctl {
namespace {

std::string ParseError(const std::vector<std::string>& args) {
  auto inv = ParseArgs(args, Environment{});
  return inv ? "" : inv.error();
}

ReplicaHashRow Done(uint64_t node, const std::string& hash) {
  return {.node_id = node, .replica_id = node, .address = "n" + std::to_string(node), .state = "done", .hash = hash,
          .keys = 3};
}

ShardHashCheck Shard(std::vector<ReplicaHashRow> rows) {
  ShardHashCheck s{.shard_id = 2, .index = 40, .leader_node_id = 1, .replicas = std::move(rows)};
  JudgeHashes(s);
  return s;
}

TEST_CASE("clawctl debug hash: command line", "[tools]") {
  auto all = ParseArgs({"debug", "hash", "--all"}, Environment{});
  REQUIRE(all);
  CHECK(all->command == Command::kDebugHash);
  CHECK(all->all_shards);
  auto one = ParseArgs({"debug", "hash", "--shard", "12", "--command-timeout", "3s"}, Environment{});
  REQUIRE(one);
  CHECK(one->shard_id == 12);
  CHECK(one->command_timeout == std::chrono::milliseconds(3000));
  auto bare = ParseArgs({"debug", "hash"}, Environment{});
  REQUIRE(bare);
  CHECK(bare->shard_id == 0);
  CHECK(ParseError({"debug", "hash", "--shard", "0"}).starts_with("--shard wants a shard id"));
  CHECK(ParseError({"debug", "hash", "--shard", "x"}).starts_with("--shard wants a shard id"));
  CHECK(ParseError({"debug", "hash", "--shard", "3", "--all"}) == "debug hash: --shard and --all exclude each other");
  CHECK(ParseError({"debug", "hash", "extra"}) == "usage: clawctl debug hash [--shard ID | --all]");
  CHECK(ParseError({"debug", "dump"}) == "'debug' wants a subcommand: hash");
  CHECK(ParseError({"get", "k", "--all"}) == "option --all does not apply to 'get'");
  CHECK(HelpText(Command::kDebugHash).starts_with("usage: clawctl debug hash [--shard ID | --all]"));
  CHECK(UsageText().find("debug hash [--shard ID | --all]") != std::string_view::npos);
}

TEST_CASE("clawctl debug hash: the verdict names the minority", "[tools]") {
  SECTION("all equal") {
    const ShardHashCheck s = Shard({Done(1, "aa"), Done(2, "aa"), Done(3, "aa")});
    CHECK(s.consistent);
    CHECK(s.error.empty());
  }
  SECTION("one differs") {
    const ShardHashCheck s = Shard({Done(1, "aa"), Done(2, "bb"), Done(3, "aa")});
    CHECK_FALSE(s.consistent);
    CHECK_FALSE(s.replicas[0].minority);
    CHECK(s.replicas[1].minority);
    CHECK_FALSE(s.replicas[2].minority);
    CHECK(s.error == "hashes differ at index 40: replica 2 on node 2 has bb over 3 keys; the majority (2) has aa");
  }
  SECTION("no majority: every replica is named") {
    const ShardHashCheck s = Shard({Done(1, "aa"), Done(2, "bb")});
    CHECK_FALSE(s.consistent);
    CHECK(s.replicas[0].minority);
    CHECK(s.replicas[1].minority);
  }
  SECTION("a replica that did not answer fails the check; a skipped one does not") {
    ReplicaHashRow pending{.node_id = 3, .replica_id = 3, .state = "pending", .error = "UNAVAILABLE: down"};
    const ShardHashCheck s = Shard({Done(1, "aa"), Done(2, "aa"), pending});
    CHECK_FALSE(s.consistent);
    CHECK(s.error == "no hash from replica 3 on node 3 (pending: UNAVAILABLE: down)");
    ReplicaHashRow skipped{.node_id = 3, .replica_id = 3, .state = "skipped"};
    CHECK(Shard({Done(1, "aa"), Done(2, "aa"), skipped}).consistent);
    CHECK_FALSE(Shard({skipped}).consistent);
  }
}

TEST_CASE("clawctl debug hash: table and JSON output", "[tools]") {
  HashCheckReport report{.shards = {Shard({Done(1, "aa"), Done(2, "bb"), Done(3, "aa")})}, .ok = false,
                         .minority_nodes = {2}};
  CHECK(FormatHashCheck(report, OutputFormat::kTable) ==
        "SHARD  INDEX  NODE  REPLICA  STATE  HASH  KEYS\n"
        "2      40     1     1        done   aa    3\n"
        "2      40     2     2        done   bb *  3\n"
        "2      40     3     3        done   aa    3\n");
  const std::string json = FormatHashCheck(report, OutputFormat::kJson);
  CHECK(json.starts_with(R"({"ok":false,"minority_nodes":["2"],"shards":[{"shard_id":"2","index":"40",)"
                         R"("leader_node_id":"1","consistent":false,"error":"hashes differ)"));
  CHECK(json.find(R"({"node_id":"2","replica_id":"2","address":"n2","state":"done","hash":"bb","keys":"3",)"
                  R"("applied_index":"0","minority":true,"error":""})") != std::string::npos);
  CHECK(DescribeHashFailures(report) ==
        "shard 2: hashes differ at index 40: replica 2 on node 2 has bb over 3 keys; the majority (2) has aa\n"
        "minority replicas on node(s): 2\n");
}

}  // namespace
}  // namespace claw::clawctl
