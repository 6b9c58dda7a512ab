// clawctl's placement rules commands (placement rules, placement rule set, placement rule delete)
// against an in-memory placement service with a fake clock: the table and JSON output, the
// read-modify-write of set and delete (a new rule, a rule replaced keeping the values of the
// options left out, nothing to change), the compare-and-set retried on a concurrent change and
// bounded by --command-timeout, an answer lost after the change went through, deleting an absent
// rule (exit 3), bad command lines (exit 2 before any request) and the server's refusal (exit 1,
// its message as is).

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/support/status_code_enum.h>
#include <catch2/catch.hpp>

#include "tests/tools/clawctl_test_util.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/rules_commands.h"

namespace claw::clawctl::testing {
namespace {

// The placement service of nodes 1..3 as clawd's answers GetRules and SetRules: only the meta
// leader serves (others: NOT_LEADER naming it); SetRules checks the version (FAILED_PRECONDITION
// when it differs), then the rules (INVALID_ARGUMENT naming the bad one: a default rule with a
// range, overlapping ranges), and stores them with the version one higher. Time is fake: Sleep
// advances Now.
class FakeRules final : public FakeClockAdmin<PlacementAdmin> {
 public:
  uint64_t leader = 2;
  PlacementRules stored{};
  // Run at the start of every SetRules, before the version check: another client's change.
  std::function<void(FakeRules&)> before_set{};
  // Answers of the leader to its next SetRules after applying it: a lost answer.
  std::deque<Error> lost_answers{};
  std::vector<std::string> calls{};  // "GetRules @2", "SetRules v3 @2"

  client::Result<PlacementRules> GetRules(const std::string& address, Timeout) override {
    if (auto refused = Answer("GetRules", address)) return std::unexpected(*refused);
    return stored;
  }

  client::Result<PlacementRules> SetRules(const std::string& address, const PlacementRules& rules,
                                          Timeout) override {
    if (auto refused = Answer("SetRules v" + std::to_string(rules.version), address)) {
      return std::unexpected(*refused);
    }
    if (before_set) before_set(*this);
    if (rules.version != stored.version) {
      return std::unexpected(Error{
          .code = ErrorCode::kFailedPrecondition,
          .message = "the rules changed meanwhile (version " + std::to_string(stored.version) +
                     ", the request was made against " + std::to_string(rules.version) + ")",
          .grpc_code = static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION)});
    }
    if (std::string problem = Validate(rules); !problem.empty()) {
      return std::unexpected(
          Error{.code = ErrorCode::kInvalidArgument,
                .message = problem,
                .grpc_code = static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT)});
    }
    stored = rules;
    stored.version = rules.version + 1;
    if (!lost_answers.empty()) {
      Error lost = lost_answers.front();
      lost_answers.pop_front();
      return std::unexpected(lost);
    }
    return stored;
  }

  // Another client's change: a rule added and the version bumped.
  void ConcurrentAdd(const PlacementRule& rule) {
    stored.rules.push_back(rule);
    ++stored.version;
  }

  // The node commands are tested against their own fake (clawctl_node_test.cc).
  client::Result<std::vector<PlacementNode>> ListNodes(const std::string&, Timeout) override {
    return NotInThisFake();
  }
  client::Result<PlacementNode> DrainNode(const std::string&, uint64_t, Timeout) override {
    return NotInThisFake();
  }
  client::Result<PlacementNode> RemoveNode(const std::string&, uint64_t, Timeout) override {
    return NotInThisFake();
  }
  client::Result<std::vector<std::string>> Explain(const std::string&, uint64_t, Timeout) override {
    return NotInThisFake();
  }
  client::Result<PlacementNode> Join(const std::string&, const PlacementNode&, Timeout) override {
    return NotInThisFake();
  }

 private:
  // A few of server::ValidateRules' checks, with its messages.
  static std::string Validate(const PlacementRules& rules) {
    for (size_t i = 0; i < rules.rules.size(); ++i) {
      const PlacementRule& r = rules.rules[i];
      const std::string which = "rule '" + r.name + "'";
      if (r.name == "default") {
        if (!r.start_key.empty() || !r.end_key.empty()) {
          return which +
                 ": the default rule covers every shard no other rule covers; it takes no range";
        }
        continue;
      }
      if (r.start_key.empty() && r.end_key.empty()) {
        return which + ": a rule other than 'default' needs a range (start_key and/or end_key)";
      }
      for (size_t j = 0; j < i; ++j) {
        const PlacementRule& o = rules.rules[j];
        const bool overlap = o.name != "default" &&
                             (o.end_key.empty() || r.start_key < o.end_key) &&
                             (r.end_key.empty() || o.start_key < r.end_key);
        if (overlap) return which + ": its range overlaps rule '" + o.name + "'";
      }
    }
    return {};
  }

  std::optional<Error> Answer(const std::string& what, const std::string& address) {
    const uint64_t node = NodeOf(address);
    calls.push_back(what + " @" + std::to_string(node));
    if (node == leader) return std::nullopt;
    Error e = NotMetaLeader(node);
    e.leader_node_id = leader;
    e.leader_address = AddressOf(leader);
    return e;
  }
};

// Runs clawctl with `args` (endpoints node1..node3) against `admin`, as main() does: a command
// line ParseArgs refuses exits kExitUsage with its message, before any request.
Run RunOn(FakeRules& admin, const std::vector<std::string>& args) {
  auto inv = ParseArgs(args, "node1:7379,node2:7379,node3:7379");
  if (!inv) return Logged(Run{.code = kExitUsage, .err = "clawctl: " + inv.error() + "\n"});
  return Capture([&](std::istream&, std::ostream& out, std::ostream& err) {
    return RunRulesCommand(*inv, admin, out, err);
  });
}

PlacementRule HotRule() {
  return PlacementRule{.name = "hot",
                       .start_key = "m",
                       .end_key = "p",
                       .replication_factor = 5,
                       .zones = {"z1", "z2"},
                       .leader_zones = {"z1"}};
}

}  // namespace

TEST_CASE("clawctl placement rules: arguments", "[tools]") {
  auto parse = [](std::vector<std::string> args) { return ParseArgs(args, nullptr); };
  auto list = parse({"-w", "json", "placement", "rules"});
  REQUIRE(list);
  CHECK(list->command == Command::kPlacementRules);
  auto set =
      parse({"placement", "rule", "set", "hot", "--start", "m", "--end-hex", "7A7a", "--replicas",
             "5", "--zones", "z1, z2", "--leader-zones", "z2", "--command-timeout", "10s"});
  REQUIRE(set);
  CHECK(set->command == Command::kPlacementRuleSet);
  CHECK(set->rule_name == "hot");
  CHECK(set->rule_start == std::string("m"));
  CHECK(set->rule_end == std::string("zz"));
  CHECK(set->rule_replicas == 5u);
  CHECK(set->rule_zones == std::vector<std::string>{"z1", "z2"});
  CHECK(set->rule_leader_zones == std::vector<std::string>{"z2"});
  CHECK(set->command_timeout == milliseconds(10'000));
  // Options left out stay unset (an existing rule keeps its values); "" clears a list.
  auto partial = parse({"placement", "rule", "set", "default", "--zones", ""});
  REQUIRE(partial);
  CHECK_FALSE(partial->rule_start);
  CHECK_FALSE(partial->rule_replicas);
  CHECK_FALSE(partial->rule_leader_zones);
  CHECK(partial->rule_zones == std::vector<std::string>{});
  auto del = parse({"placement", "rule", "delete", "hot"});
  REQUIRE(del);
  CHECK(del->command == Command::kPlacementRuleDelete);
  CHECK(del->rule_name == "hot");

  const std::string set_usage =
      "usage: clawctl placement rule set NAME [--start KEY | --start-hex HEX] [--end KEY | "
      "--end-hex HEX] "
      "[--replicas N] [--zones A,B] [--leader-zones A,B] [--command-timeout D]";
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"placement"},
       "'placement' wants a subcommand: explain SHARD, rules, rule set, rule delete"},
      {{"placement", "rule"},
       "'placement rule' wants a subcommand: set NAME [options], delete NAME"},
      {{"placement", "rule", "list"},
       "'placement rule' wants a subcommand: set NAME [options], delete NAME"},
      {{"placement", "rules", "hot"}, "usage: clawctl placement rules"},
      {{"placement", "rule", "set"}, set_usage},
      {{"placement", "rule", "set", "a", "b"}, set_usage},
      {{"placement", "rule", "delete"},
       "usage: clawctl placement rule delete NAME [--command-timeout D]"},
      {{"placement", "rule", "delete", "hot", "--replicas", "3"},
       "option --replicas does not apply to 'placement rule delete'"},
      {{"placement", "rules", "--start", "a"},
       "option --start does not apply to 'placement rules'"},
      {{"placement", "rule", "set", "hot rule"},
       "rule NAME must be 1..64 of A-Z a-z 0-9 . _ - (see `clawctl placement rules`), not 'hot "
       "rule'"},
      {{"placement", "rule", "set", "meta", "--replicas", "3"},
       "'meta' is the meta shard's own rule and cannot be changed"},
      {{"placement", "rule", "set", "default", "--start", "a"},
       "the default rule covers every shard no other rule covers: it takes no --start or --end"},
      {{"placement", "rule", "set", "default", "--end-hex", "ff"},
       "the default rule covers every shard no other rule covers: it takes no --start or --end"},
      {{"placement", "rule", "set", "hot", "--start", "p", "--end", "m"},
       "--start must be below --end (the rule covers [START, END))"},
      {{"placement", "rule", "set", "hot", "--start", "", "--end", ""},
       "rule 'hot' needs a range: a non-empty --start and/or --end (only the default rule covers "
       "the whole key "
       "space)"},
      {{"placement", "rule", "set", "hot", "--start", "a", "--start-hex", "61"},
       "give one --start or --start-hex, not several"},
      {{"placement", "rule", "set", "hot", "--end-hex", "6"},
       "--end-hex wants pairs of hex digits like 6b6579, not '6' (for the end of the key space: "
       "--end \"\")"},
      {{"placement", "rule", "set", "hot", "--replicas", "0"},
       "--replicas wants a number of voters from 1 to 7, not '0'"},
      {{"placement", "rule", "set", "hot", "--replicas", "8"},
       "--replicas wants a number of voters from 1 to 7, not '8'"},
      {{"placement", "rule", "set", "hot", "--replicas", "three"},
       "--replicas wants a number of voters from 1 to 7, not 'three'"},
      {{"placement", "rule", "set", "hot", "--zones", "z1,z 2"},
       "--zones: 'z 2' is not a zone name (1..64 of A-Z a-z 0-9 . _ -)"},
      {{"placement", "rule", "set", "hot", "--zones", "z1,z1"},
       "--zones: zone 'z1' is listed twice"},
      {{"placement", "rule", "set", "hot", "--leader-zones", "z1", "--leader-zones", "z2"},
       "give --leader-zones once, as a list: a,b,c"},
      {{"placement", "rule", "set", "hot", "--zones", "z1,z2", "--leader-zones", "z3"},
       "--leader-zones: 'z3' is not one of --zones, so no replica can be there"},
  };
  for (const auto& [args, message] : bad) {
    auto inv = parse(args);
    REQUIRE_FALSE(inv);
    CHECK(inv.error() == message);
  }

  // Help: each command has its own; the usage lists them.
  auto help = parse({"placement", "rule", "set", "--help"});
  REQUIRE(help);
  CHECK(help->help_topic == Command::kPlacementRuleSet);
  CHECK(parse({"help", "placement", "rules"})->help_topic == Command::kPlacementRules);
  for (Command topic :
       {Command::kPlacementRules, Command::kPlacementRuleSet, Command::kPlacementRuleDelete}) {
    CHECK(HelpText(topic) != UsageText());
    CHECK(HelpText(topic).find("exit codes:") != std::string_view::npos);
  }
  for (const char* line :
       {"placement rules", "placement rule set NAME", "placement rule delete NAME"}) {
    CHECK(UsageText().find(line) != std::string_view::npos);
  }
}

TEST_CASE("clawctl placement rules: the rules and their version, as a table and as JSON",
          "[tools]") {
  FakeRules admin;
  admin.stored.version = 4;
  admin.stored.rules = {
      PlacementRule{
          .name = "default", .replication_factor = 0, .zones = {}, .leader_zones = {"z2"}},
      HotRule(),
      PlacementRule{.name = "bin",
                    .start_key = std::string("\x00\x01", 2),
                    .end_key = "",
                    .replication_factor = 1}};
  Run table = RunOn(admin, {"placement", "rules"});
  CHECK(table.code == kExitOk);
  CHECK(admin.calls ==
        Calls({"GetRules @1", "GetRules @2"}));  // node 1 redirects to the meta leader
  CHECK(table.out ==
        "version: 4\n"
        "NAME     RANGE            REPLICAS  ZONES  LEADER ZONES\n"
        "default  (other keys)     3         -      z2\n"
        "hot      m..p             5         z1,z2  z1\n"
        "bin      \\x00\\x01..(end)  1         -      -\n");
  CHECK(table.err.empty());

  Run json = RunOn(admin, {"-w", "json", "placement", "rules"});
  CHECK(json.code == kExitOk);
  CHECK(
      json.out ==
      R"({"rules":[)"
      R"({"name":"default","start_key":"","end_key":"","replication_factor":0,"zones":[],"leader_zones":["z2"]},)"
      R"({"name":"hot","start_key":"bQ==","end_key":"cA==","replication_factor":5,"zones":["z1","z2"],)"
      R"("leader_zones":["z1"]},)"
      R"({"name":"bin","start_key":"AAE=","end_key":"","replication_factor":1,"zones":[],"leader_zones":[]}],)"
      R"("version":"4"})"
      "\n");

  FakeRules empty;
  Run none = RunOn(empty, {"placement", "rules"});
  CHECK(none.code == kExitOk);
  CHECK(none.out == "version: 0\nNAME  RANGE  REPLICAS  ZONES  LEADER ZONES\n");
  CHECK(RunOn(empty, {"-w", "json", "placement", "rules"}).out ==
        "{\"rules\":[],\"version\":\"0\"}\n");
  CHECK(RuleRangeText(PlacementRule{.name = "r", .start_key = "", .end_key = "k"}) == "(start)..k");
}

TEST_CASE("clawctl placement rule set: adds a rule, or replaces one keeping the values not given",
          "[tools]") {
  FakeRules admin;
  admin.stored.version = 2;
  admin.stored.rules = {PlacementRule{.name = "default", .replication_factor = 3}};

  SECTION("a new range rule is added at the end, with 3 replicas unless --replicas") {
    Run run = RunOn(admin, {"placement", "rule", "set", "cold", "--start-hex", "00ff", "--end", "b",
                            "--zones", "z1", "--command-timeout", "3s"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls == Calls({"GetRules @1", "GetRules @2", "SetRules v2 @2"}));
    REQUIRE(admin.stored.rules.size() == 2);
    CHECK(admin.stored.rules[1] == PlacementRule{.name = "cold",
                                                 .start_key = std::string("\x00\xff", 2),
                                                 .end_key = "b",
                                                 .replication_factor = 3,
                                                 .zones = {"z1"}});
    CHECK(admin.stored.version == 3);
    CHECK(run.err == "clawctl: rule 'cold' added (rules version 3)\n");
    CHECK(run.out ==
          "version: 3\n"
          "NAME     RANGE         REPLICAS  ZONES  LEADER ZONES\n"
          "default  (other keys)  3         -      -\n"
          "cold     \\x00\\xff..b   3         z1     -\n");
  }

  SECTION("an existing rule is replaced in place; options left out keep their values") {
    admin.stored.rules.push_back(HotRule());
    admin.stored.rules.push_back(
        PlacementRule{.name = "tail", .start_key = "x", .replication_factor = 3});
    Run run = RunOn(
        admin, {"-w", "json", "placement", "rule", "set", "hot", "--replicas", "3", "--end", "q"});
    CHECK(run.code == kExitOk);
    REQUIRE(admin.stored.rules.size() == 3);
    PlacementRule want = HotRule();
    want.replication_factor = 3;
    want.end_key = "q";
    CHECK(admin.stored.rules[1] == want);
    CHECK(admin.stored.rules[2].name == "tail");
    CHECK(run.err == "clawctl: rule 'hot' changed (rules version 3)\n");
    CHECK_THAT(run.out,
               Catch::Contains(
                   R"("name":"hot","start_key":"bQ==","end_key":"cQ==","replication_factor":3,)"
                   R"("zones":["z1","z2"],"leader_zones":["z1"]})"));
    CHECK_THAT(run.out, Catch::EndsWith(R"("version":"3"})"
                                        "\n"));

    // "" clears a list; the default rule takes zones without a range.
    Run clear =
        RunOn(admin, {"placement", "rule", "set", "hot", "--zones", "", "--leader-zones", ""});
    CHECK(clear.code == kExitOk);
    CHECK(admin.stored.rules[1].zones.empty());
    CHECK(admin.stored.rules[1].leader_zones.empty());
    CHECK(RunOn(admin,
                {"placement", "rule", "set", "default", "--zones", "z1,z2", "--leader-zones", "z2"})
              .code == kExitOk);
    CHECK(admin.stored.rules[0] == PlacementRule{.name = "default",
                                                 .replication_factor = 3,
                                                 .zones = {"z1", "z2"},
                                                 .leader_zones = {"z2"}});
    CHECK(admin.stored.version == 5);
  }

  SECTION("a rule that is as asked already: nothing is sent") {
    admin.stored.rules.push_back(HotRule());
    Run run =
        RunOn(admin, {"placement", "rule", "set", "hot", "--replicas", "5", "--zones", "z1,z2"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls == Calls({"GetRules @1", "GetRules @2"}));
    CHECK(run.err == "clawctl: rule 'hot' is as asked already; nothing to change\n");
    CHECK_THAT(run.out, Catch::StartsWith("version: 2\n"));
    CHECK(admin.stored.version == 2);
  }

  SECTION("a new range rule without a range: a usage error after the read, nothing changed") {
    Run run = RunOn(admin, {"placement", "rule", "set", "hot", "--replicas", "5"});
    CHECK(run.code == kExitUsage);
    CHECK_THAT(run.err, Catch::Contains(
                            "there is no rule 'hot' yet: a new rule needs its range, --start KEY"));
    CHECK(admin.calls == Calls({"GetRules @1", "GetRules @2"}));
    CHECK(run.out.empty());
    // A new default rule needs none.
    CHECK(RunOn(admin, {"placement", "rule", "set", "default", "--replicas", "5"}).code == kExitOk);
  }

  SECTION("bad arguments exit 2 before any request") {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"placement", "rule", "set", "default", "--start", "a"},
          {"placement", "rule", "set", "hot", "--replicas", "9"},
          {"placement", "rule", "set", "hot", "--start", "z", "--end", "a"},
          {"placement", "rule", "delete", "bad/name"}}) {
      Run run = RunOn(admin, args);
      CHECK(run.code == kExitUsage);
      CHECK_THAT(run.err, Catch::StartsWith("clawctl: "));
    }
    CHECK(admin.calls.empty());
  }
}

TEST_CASE("clawctl placement rule set: a concurrent change is read again and the change redone",
          "[tools]") {
  FakeRules admin;
  admin.leader = 1;

  SECTION("one concurrent change: the second attempt keeps the other client's rule") {
    admin.before_set = [](FakeRules& fake) {
      fake.ConcurrentAdd(PlacementRule{
          .name = "other", .start_key = "a", .end_key = "c", .replication_factor = 3});
      fake.before_set = nullptr;
    };
    Run run = RunOn(admin, {"placement", "rule", "set", "hot", "--start", "m", "--end", "p"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls == Calls({"GetRules @1", "SetRules v0 @1", "GetRules @1", "SetRules v1 @1"}));
    REQUIRE(admin.stored.rules.size() == 2);
    CHECK(admin.stored.rules[0].name == "other");
    CHECK(admin.stored.rules[1].name == "hot");
    CHECK(admin.stored.version == 2);
    CHECK_THAT(
        run.err,
        Catch::Contains("clawctl: the rules changed meanwhile (they were at version 0); reading "
                        "them again\n"));
    CHECK_THAT(run.err, Catch::EndsWith("clawctl: rule 'hot' added (rules version 2)\n"));
    CHECK(admin.slept == milliseconds(50));
  }

  SECTION("the other client set the same rule: nothing left to do") {
    admin.before_set = [](FakeRules& fake) {
      fake.ConcurrentAdd(
          PlacementRule{.name = "hot", .start_key = "m", .end_key = "p", .replication_factor = 3});
      fake.before_set = nullptr;
    };
    Run run = RunOn(admin, {"placement", "rule", "set", "hot", "--start", "m", "--end", "p"});
    CHECK(run.code == kExitOk);
    CHECK(admin.calls == Calls({"GetRules @1", "SetRules v0 @1", "GetRules @1"}));
    CHECK_THAT(run.err, Catch::EndsWith("rule 'hot' is as asked already; nothing to change\n"));
  }

  SECTION("the rules keep changing: bounded by --command-timeout") {
    int changes = 0;
    admin.before_set = [&](FakeRules& fake) {
      ++changes;
      fake.ConcurrentAdd(PlacementRule{.name = "r" + std::to_string(changes),
                                       .start_key = "a" + std::to_string(changes),
                                       .end_key = "b" + std::to_string(changes),
                                       .replication_factor = 3});
    };
    Run run = RunOn(admin,
                    {"placement", "rule", "set", "hot", "--start", "m", "--command-timeout", "2s"});
    CHECK(run.code == kExitFailed);
    CHECK(admin.slept == milliseconds(2000));
    CHECK(changes >= 3);
    CHECK_THAT(run.err, Catch::Contains(
                            "Error: the rules kept changing until the --command-timeout ran out\n"
                            "Error: FAILED_PRECONDITION: the rules changed meanwhile"));
    for (const PlacementRule& rule : admin.stored.rules) CHECK(rule.name != "hot");
  }

  SECTION("the answer to a change that went through is lost: the retry finds it done") {
    admin.lost_answers.push_back(
        Error{.code = ErrorCode::kUnavailable, .message = "connection reset", .definite = false});
    Run run = RunOn(admin, {"placement", "rule", "set", "hot", "--start", "m"});
    CHECK(run.code == kExitOk);
    // The same compare-and-set on the next endpoint, redirected to the leader and refused there
    // (version 1 now), then a fresh read.
    CHECK(admin.calls == Calls({"GetRules @1", "SetRules v0 @1", "SetRules v0 @2", "SetRules v0 @1",
                                "GetRules @1"}));
    CHECK_THAT(run.err, Catch::EndsWith("rule 'hot' is as asked already; nothing to change\n"));
    CHECK(admin.stored.version == 1);
  }
}

TEST_CASE("clawctl placement rule delete: the rule dropped; an absent one exits 3", "[tools]") {
  FakeRules admin;
  admin.stored.version = 7;
  admin.stored.rules = {PlacementRule{.name = "default", .replication_factor = 5}, HotRule()};

  Run run = RunOn(admin, {"placement", "rule", "delete", "hot"});
  CHECK(run.code == kExitOk);
  CHECK(admin.calls == Calls({"GetRules @1", "GetRules @2", "SetRules v7 @2"}));
  REQUIRE(admin.stored.rules.size() == 1);
  CHECK(admin.stored.rules[0].name == "default");
  CHECK(admin.stored.version == 8);
  CHECK(run.err == "clawctl: rule 'hot' deleted (rules version 8)\n");
  CHECK(run.out ==
        "version: 8\n"
        "NAME     RANGE         REPLICAS  ZONES  LEADER ZONES\n"
        "default  (other keys)  5         -      -\n");

  admin.calls.clear();
  Run absent = RunOn(admin, {"placement", "rule", "delete", "hot"});
  CHECK(absent.code == kExitNotFound);
  CHECK(absent.err == "Error: no rule 'hot' (see `clawctl placement rules`)\n");
  CHECK(absent.out.empty());
  CHECK(admin.calls == Calls({"GetRules @1", "GetRules @2"}));  // no SetRules
  CHECK(admin.stored.version == 8);

  // A delete whose answer was lost after it went through: the rule is gone, which is success.
  admin.stored.rules.push_back(HotRule());
  admin.lost_answers.push_back(
      Error{.code = ErrorCode::kDeadlineExceeded, .message = "deadline", .definite = false});
  Run lost = RunOn(admin, {"placement", "rule", "delete", "hot"});
  CHECK(lost.code == kExitOk);
  CHECK_THAT(lost.err, Catch::EndsWith("clawctl: rule 'hot' is deleted\n"));
  CHECK(admin.stored.rules.size() == 1);
}

TEST_CASE("clawctl placement rule set: the server's refusal is printed as it is", "[tools]") {
  FakeRules admin;
  admin.stored.rules = {HotRule()};
  admin.stored.version = 1;
  Run run = RunOn(admin, {"placement", "rule", "set", "warm", "--start", "n", "--end", "z"});
  CHECK(run.code == kExitFailed);
  CHECK(run.err ==
        "Error: INVALID_ARGUMENT: rule 'warm': its range overlaps rule 'hot'\n"
        "hint: the rules in force: clawctl placement rules\n");
  CHECK(run.out.empty());
  CHECK(admin.stored.rules.size() == 1);
  CHECK(admin.stored.version == 1);
  // Refused once, not retried.
  CHECK(admin.calls == Calls({"GetRules @1", "GetRules @2", "SetRules v1 @2"}));
}

}  // namespace claw::clawctl::testing
