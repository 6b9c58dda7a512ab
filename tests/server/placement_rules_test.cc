// server/placement_rules: validation of the rules Placement.SetRules stores, and their
// translation into the planner's policy.
#include <catch2/catch.hpp>

#include <string>

#include "client/checkpoint_layout.h"
#include "server/placement/planner.h"
#include "server/placement_rules.h"

namespace claw::server {
namespace {

v1::PlacementRule Rule(const std::string& name, const std::string& start, const std::string& end, uint32_t rf = 3) {
  v1::PlacementRule r;
  r.set_name(name);
  r.set_start_key(start);
  r.set_end_key(end);
  r.set_replication_factor(rf);
  return r;
}

std::string Check(std::initializer_list<v1::PlacementRule> rules) {
  v1::PlacementRules all;
  for (const auto& r : rules) *all.add_rules() = r;
  return ValidateRules(all);
}

}  // namespace

TEST_CASE("placement rules: valid sets", "[server]") {
  CHECK(Check({}).empty());
  CHECK(Check({Rule("default", "", "", 5)}).empty());
  CHECK(Check({Rule("default", "", ""), Rule("eu", "a", "m"), Rule("us", "m", ""), Rule("head", "", "a")}).empty());
  v1::PlacementRule pinned = Rule("pinned", "p", "q", 0);
  pinned.add_zones("z1");
  pinned.add_zones("z2");
  pinned.add_leader_zones("z2");
  CHECK(Check({pinned}).empty());
}

TEST_CASE("placement rules: every refusal names the rule and the problem", "[server]") {
  CHECK(Check({Rule("", "a", "b")}) == "rule 1: the name must be 1..64 of [A-Za-z0-9._-]");
  CHECK(Check({Rule("bad name", "a", "b")}) == "rule 'bad name': the name must be 1..64 of [A-Za-z0-9._-]");
  CHECK(Check({Rule("meta", "a", "b")}) == "rule 'meta': 'meta' is the meta shard's own rule and cannot be set");
  CHECK(Check({Rule("x", "a", "b"), Rule("x", "c", "d")}) == "rule 'x': the name appears twice");
  CHECK(Check({Rule("x", "a", "b", 8)}) == "rule 'x': replication factor 8 is above 7");
  CHECK(Check({Rule("default", "a", "")}) ==
        "rule 'default': the default rule covers every shard no other rule covers; it takes no range");
  CHECK(Check({Rule("x", "", "")}) == "rule 'x': a rule other than 'default' needs a range (start_key and/or end_key)");
  CHECK(Check({Rule("x", "b", "a")}) == "rule 'x': start_key must be below end_key");
  CHECK(Check({Rule("x", "b", "b")}) == "rule 'x': start_key must be below end_key");
  CHECK(Check({Rule("x", "a", "m"), Rule("y", "l", "")}) == "rule 'y': its range overlaps rule 'x'");
  CHECK(Check({Rule("x", "m", ""), Rule("y", "", "n")}) == "rule 'y': its range overlaps rule 'x'");
  v1::PlacementRule zones = Rule("z", "a", "b");
  zones.add_zones("z1");
  zones.add_zones("z1");
  CHECK(Check({zones}) == "rule 'z': zone 'z1' is listed twice");
  v1::PlacementRule leader = Rule("l", "a", "b");
  leader.add_zones("z1");
  leader.add_leader_zones("z2");
  CHECK(Check({leader}) == "rule 'l': leader zone 'z2' is not one of the rule's zones, so no replica can be there");
  v1::PlacementRule label = Rule("q", "a", "b");
  label.add_zones("no spaces");
  CHECK(Check({label}) == "rule 'q': zone 'no spaces' is not 1..64 of [A-Za-z0-9._-]");
}

TEST_CASE("placement rules become the planner's policy; the meta rule follows the up nodes", "[server]") {
  v1::PlacementRules rules;
  *rules.add_rules() = Rule("default", "", "", 5);
  v1::PlacementRule eu = Rule("eu", "a", "m", 0);
  eu.add_zones("eu-1");
  eu.add_leader_zones("eu-1");
  *rules.add_rules() = eu;
  const placement::PlacementPolicy policy = PolicyFromRules(rules, 4);
  CHECK(policy.default_rule.name == "default");
  CHECK(policy.default_rule.replication_factor == 5);
  REQUIRE(policy.range_rules.size() == 1);
  CHECK(policy.range_rules[0].start_key == "a");
  CHECK(policy.range_rules[0].end_key == "m");
  CHECK(policy.range_rules[0].rule.replication_factor == 3);  // 0 = 3
  CHECK(policy.range_rules[0].rule.allowed_zones == std::vector<std::string>{"eu-1"});
  CHECK(policy.range_rules[0].rule.preferred_leader_zones == std::vector<std::string>{"eu-1"});
  CHECK(policy.shard_rules.at(placement::kMetaShard).replication_factor == 4);
  CHECK(PolicyFromRules({}, 2).shard_rules.at(placement::kMetaShard).replication_factor == 3);
  CHECK(PolicyFromRules({}, 9).shard_rules.at(placement::kMetaShard).replication_factor == 5);
  CHECK(PolicyFromRules({}, 9).default_rule.replication_factor == 3);
}

TEST_CASE("placement rules: a boundary inside a checkpoint's range moves to the checkpoint's start", "[server]") {
  using client::CheckpointEnd;
  using client::CheckpointStart;
  const std::string x = CheckpointStart("x");
  v1::PlacementRules rules;
  *rules.add_rules() = Rule("ckpt-a", CheckpointStart("a") + "h", x + "sA");  // both ends inside
  *rules.add_rules() = Rule("inside-one", CheckpointStart("y") + "h", CheckpointStart("y") + "s");
  *rules.add_rules() = Rule("tail", CheckpointEnd("y"), "");  // a checkpoint's end cuts nothing
  const placement::PlacementPolicy policy = PolicyFromRules(rules, 3);
  REQUIRE(policy.range_rules.size() == 2);  // "inside-one" covers nothing: dropped
  CHECK(policy.range_rules[0].rule.name == "ckpt-a");
  CHECK(policy.range_rules[0].start_key == CheckpointStart("a"));
  CHECK(policy.range_rules[0].end_key == x);
  CHECK(policy.range_rules[1].rule.name == "tail");
  CHECK(policy.range_rules[1].start_key == CheckpointEnd("y"));
  CHECK(policy.range_rules[1].end_key.empty());

  // The planner splits the shard holding checkpoint x at x's start, and the shard that starts
  // there has no boundary left inside: nothing to re-plan.
  placement::ShardInfo shard;
  shard.start_key = CheckpointStart("a");
  shard.end_key = CheckpointEnd("x") + "zz";
  CHECK(policy.BoundaryInside(shard) == x);
  shard.start_key = x;
  CHECK_FALSE(policy.BoundaryInside(shard).has_value());
}

}  // namespace claw::server
