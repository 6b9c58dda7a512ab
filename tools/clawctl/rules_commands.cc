#include "tools/clawctl/rules_commands.h"

#include <algorithm>
#include <expected>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>
#include <utility>
#include <vector>

#include "tools/clawctl/format.h"
#include "tools/clawctl/meta_run.h"

namespace claw::clawctl {
namespace {

using client::Error;
using client::ErrorCode;
using std::chrono::milliseconds;

constexpr std::string_view kDefaultRule = "default";

// The change a read-modify-write makes to the rules it read.
struct Edit {
  std::optional<PlacementRules> next{};  // unset: the change is in force already, send nothing
  std::string note{};                    // what was done, for stderr: "rule 'hot' added"
};

// Computes the edit from the rules read; `maybe_applied` says an earlier SetRules of this command
// may have gone through. An exit code instead when the command stops there (its message printed).
using Modify =
    std::function<std::expected<Edit, int>(const PlacementRules& current, bool maybe_applied)>;

std::vector<PlacementRule>::const_iterator FindRule(const PlacementRules& rules,
                                                    const std::string& name) {
  return std::find_if(rules.rules.begin(), rules.rules.end(),
                      [&](const PlacementRule& rule) { return rule.name == name; });
}

std::string Quoted(const std::string& name) { return "'" + name + "'"; }

std::string ZoneList(const std::vector<std::string>& zones) {
  std::string text;
  for (const std::string& zone : zones) text += (text.empty() ? "" : ",") + zone;
  return text.empty() ? "-" : text;
}

client::Result<PlacementRules> ReadRules(MetaRun& run, PlacementAdmin& admin) {
  return run.Call<PlacementRules>([&](const std::string& address, milliseconds timeout) {
    return admin.GetRules(address, timeout);
  });
}

// The server's refusal of the rules, as it is (it names the bad rule).
int Refused(const Error& error, std::ostream& err) {
  err << "Error: " << error.ToString() << '\n'
      << "hint: the rules in force: clawctl placement rules\n";
  return kExitFailed;
}

// Contracts 2-4 of the header: read, modify, compare-and-set, again on a concurrent change.
int ReadModifyWrite(const Invocation& inv, PlacementAdmin& admin, const Modify& modify,
                    std::ostream& out, std::ostream& err) {
  MetaRun run(inv, admin, inv.command_timeout.value_or(inv.global.timeout));
  bool maybe_applied = false;
  while (true) {
    auto current = ReadRules(run, admin);
    if (!current) {
      Error error = current.error();
      error.definite = error.definite && !maybe_applied;
      return MetaFailed(error, err);
    }
    auto edit = modify(*current, maybe_applied);
    if (!edit) return edit.error();
    if (!edit->next) {
      err << "clawctl: " << edit->note << '\n';
      out << FormatRules(*current, inv.global.format);
      return kExitOk;
    }
    PlacementRules next = std::move(*edit->next);
    next.version = current->version;
    auto written = run.Call<PlacementRules>([&](const std::string& address, milliseconds timeout) {
      return admin.SetRules(address, next, timeout);
    });
    if (written) {
      err << "clawctl: " << edit->note << " (rules version " << written->version << ")\n";
      out << FormatRules(*written, inv.global.format);
      return kExitOk;
    }
    Error error = written.error();
    maybe_applied = maybe_applied || !error.definite;
    error.definite = !maybe_applied;
    if (error.code == ErrorCode::kInvalidArgument) return Refused(error, err);
    if (!IsFailedPreconditionError(error)) return MetaFailed(error, err);
    if (!run.Backoff(error)) {
      err << "Error: the rules kept changing until the --command-timeout ran out\n";
      return MetaFailed(error, err);
    }
    err << "clawctl: the rules changed meanwhile (they were at version " << current->version
        << "); reading them again\n";
  }
}

// Whether `inv`'s options give a new range rule a range.
bool GivesRange(const Invocation& inv) {
  return (inv.rule_start && !inv.rule_start->empty()) || (inv.rule_end && !inv.rule_end->empty());
}

int RunSet(const Invocation& inv, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  const std::string& name = inv.rule_name;
  return ReadModifyWrite(
      inv, admin,
      [&](const PlacementRules& current, bool /*maybe_applied*/) -> std::expected<Edit, int> {
        const auto found = FindRule(current, name);
        const bool exists = found != current.rules.end();
        if (!exists && name != kDefaultRule && !GivesRange(inv)) {
          err << "Error: there is no rule " << Quoted(name)
              << " yet: a new rule needs its range, --start KEY and/or --end KEY (or --start-hex / "
                 "--end-hex); "
              << "only the default rule covers the rest of the key space\n";
          return std::unexpected(kExitUsage);
        }
        PlacementRule rule =
            exists ? *found
                   : PlacementRule{.name = name, .replication_factor = kDefaultRuleReplicas};
        if (inv.rule_start) rule.start_key = *inv.rule_start;
        if (inv.rule_end) rule.end_key = *inv.rule_end;
        if (inv.rule_replicas) rule.replication_factor = *inv.rule_replicas;
        if (inv.rule_zones) rule.zones = *inv.rule_zones;
        if (inv.rule_leader_zones) rule.leader_zones = *inv.rule_leader_zones;
        if (exists && rule == *found)
          return Edit{.note = "rule " + Quoted(name) + " is as asked already; nothing to change"};
        PlacementRules next = current;
        if (exists) {
          next.rules[static_cast<size_t>(found - current.rules.begin())] = std::move(rule);
        } else {
          next.rules.push_back(std::move(rule));
        }
        return Edit{.next = std::move(next),
                    .note = "rule " + Quoted(name) + (exists ? " changed" : " added")};
      },
      out, err);
}

int RunDelete(const Invocation& inv, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  const std::string& name = inv.rule_name;
  return ReadModifyWrite(
      inv, admin,
      [&](const PlacementRules& current, bool maybe_applied) -> std::expected<Edit, int> {
        const auto found = FindRule(current, name);
        if (found == current.rules.end()) {
          // Gone after an attempt whose answer was lost: that attempt deleted it.
          if (maybe_applied) return Edit{.note = "rule " + Quoted(name) + " is deleted"};
          err << "Error: no rule " << Quoted(name) << " (see `clawctl placement rules`)\n";
          return std::unexpected(kExitNotFound);
        }
        PlacementRules next = current;
        next.rules.erase(next.rules.begin() + (found - current.rules.begin()));
        return Edit{.next = std::move(next), .note = "rule " + Quoted(name) + " deleted"};
      },
      out, err);
}

int RunList(const Invocation& inv, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  MetaRun run(inv, admin, inv.global.timeout);
  auto rules = ReadRules(run, admin);
  if (!rules) return MetaFailed(rules.error(), err);
  out << FormatRules(*rules, inv.global.format);
  return kExitOk;
}

}  // namespace

std::string RuleRangeText(const PlacementRule& rule) {
  if (rule.name == kDefaultRule && rule.start_key.empty() && rule.end_key.empty())
    return "(other keys)";
  return (rule.start_key.empty() ? std::string("(start)") : Escape(rule.start_key)) + ".." +
         (rule.end_key.empty() ? std::string("(end)") : Escape(rule.end_key));
}

std::string FormatRules(const PlacementRules& rules, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    Table table({"NAME", "RANGE", "REPLICAS", "ZONES", "LEADER ZONES"});
    for (const PlacementRule& rule : rules.rules) {
      const uint32_t replicas =
          rule.replication_factor == 0 ? kDefaultRuleReplicas : rule.replication_factor;
      table.AddRow({rule.name, RuleRangeText(rule), std::to_string(replicas), ZoneList(rule.zones),
                    ZoneList(rule.leader_zones)});
    }
    std::ostringstream out;
    out << "version: " << rules.version << '\n';
    table.Print(out, format);
    return out.str();
  }
  JsonWriter json;
  json.BeginObject().Key("rules").BeginArray();
  for (const PlacementRule& rule : rules.rules) {
    json.BeginObject().Key("name").String(rule.name);
    json.Key("start_key").Bytes(rule.start_key).Key("end_key").Bytes(rule.end_key);
    json.Key("replication_factor").Uint32(rule.replication_factor);
    json.Key("zones").BeginArray();
    for (const std::string& zone : rule.zones) json.String(zone);
    json.EndArray().Key("leader_zones").BeginArray();
    for (const std::string& zone : rule.leader_zones) json.String(zone);
    json.EndArray().EndObject();
  }
  json.EndArray().Key("version").Uint64(rules.version).EndObject();
  return json.str() + "\n";
}

int RunRulesCommand(const Invocation& inv, PlacementAdmin& admin, std::ostream& out,
                    std::ostream& err) {
  switch (inv.command) {
    case Command::kPlacementRules:
      return RunList(inv, admin, out, err);
    case Command::kPlacementRuleSet:
      return RunSet(inv, admin, out, err);
    case Command::kPlacementRuleDelete:
      return RunDelete(inv, admin, out, err);
    default:
      return kExitUsage;
  }
}

}  // namespace claw::clawctl
