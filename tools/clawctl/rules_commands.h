// The placement rules commands of clawctl — placement rules, placement rule set, placement rule
// delete — over a PlacementAdmin (placement_admin.h), and their output.
//
// Contracts (tools/README.md documents them for users):
//  1. Requests go to the meta shard's leader, found, redirected to and retried as MetaRun
//     (meta_run.h) does. `placement rules` has --timeout in all; set and delete have
//     --command-timeout (default --timeout) for the whole read-modify-write, retries included.
//  2. set and delete are a read-modify-write: GetRules, change the one rule named NAME (set:
//  replace
//     it, keeping the values of the options not given, or add it at the end; delete: drop it),
//     SetRules with the version read. The other rules are sent back as they were read.
//  3. SetRules is a compare-and-set on that version: FAILED_PRECONDITION (a concurrent change, or
//     an earlier attempt of this command that went through) makes the command read the rules
//     again and redo its change on them, after a back-off, until the deadline.
//  4. A change that is already in force (set with the values the rule has, delete of a rule gone
//     after an attempt whose outcome was unknown) sends nothing and succeeds.
//  5. Bad options exit kExitUsage before any request (ParseArgs checks them); a new range rule
//     without a range exits kExitUsage after the read, before any change. The server's
//     INVALID_ARGUMENT (which names the bad rule) is printed as it is and exits kExitFailed.
//     Deleting a rule that does not exist exits kExitNotFound.
//
// Output: the rules (table or JSON) on `out` — for set and delete, the rules afterwards; what was
// changed, retries and errors on `err`. Thread-safety: none needed (one command per process).
#pragma once

#include <iosfwd>
#include <string>

#include "tools/clawctl/args.h"
#include "tools/clawctl/placement_admin.h"

namespace claw::clawctl {

// A rule's key range for the table: "START..END" with keys escaped as Escape() does, "(start)" /
// "(end)" for an empty bound; the default rule (no range): "(other keys)".
std::string RuleRangeText(const PlacementRule& rule);

// `placement rules`: "version: V" then a table (NAME, RANGE, REPLICAS, ZONES, LEADER ZONES; "-"
// for no zones), or the proto3 JSON mapping of claw.v1.PlacementRules:
// {"rules":[{"name","start_key","end_key" (base64),"replication_factor","zones","leader_zones"}],
//  "version":"V"}.
std::string FormatRules(const PlacementRules& rules, OutputFormat format);

// Runs placement rules, placement rule set or placement rule delete; returns the exit code.
int RunRulesCommand(const Invocation& inv, PlacementAdmin& admin, std::ostream& out,
                    std::ostream& err);

}  // namespace claw::clawctl
