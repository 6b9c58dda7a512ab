#include "tools/clawctl/args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <map>

#include "client/checkpoint_layout.h"

namespace claw::clawctl {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kRuleSetShape =
    "placement rule set NAME [--start KEY | --start-hex HEX] [--end KEY | --end-hex HEX] "
    "[--replicas N] [--zones A,B] [--leader-zones A,B] [--command-timeout D]";

struct FlagSpec {
  std::string_view name;  // without dashes
  bool takes_value;
  bool global;
};

constexpr FlagSpec kFlags[] = {
    {"endpoints", true, true},   {"write-out", true, true},     {"timeout", true, true},
    {"consistency", true, true}, {"durability", true, true},    {"forward", false, true},
    {"help", false, true},       {"version", false, true},      {"prev-kv", false, false},
    {"stale", false, false},     {"range", false, false},       {"prefix", false, false},
    {"limit", true, false},      {"reverse", false, false},     {"keys-only", false, false},
    {"if", true, false},         {"then", true, false},         {"else", true, false},
    {"key", true, false},        {"key-hex", true, false},      {"from", true, false},
    {"to", true, false},         {"yes", false, false},         {"command-timeout", true, true},
    {"wait", false, false},      {"start", true, false},        {"start-hex", true, false},
    {"end", true, false},        {"end-hex", true, false},      {"replicas", true, false},
    {"zones", true, false},      {"leader-zones", true, false}, {"dial-timeout", true, true},
    {"peer-urls", true, false},  {"client-urls", true, false},  {"zone", true, false},
    {"rack", true, false},       {"host", true, false},         {"shard", true, false},
    {"all", false, false},       {"range-end", true, false},    {"rev", true, false},
    {"count", true, false},      {"progress", false, false},
    {"all", false, false},       {"lease", true, false},        {"keys", false, false},
    {"once", false, false},      {"sync", false, false},        {"async", false, false},
    {"collocated", false, false}, {"active-node", true, false}, {"retention", true, false},
    {"max-size", true, false},   {"max-sections", true, false}, {"max-section-size", true, false},
    {"file", true, false},       {"create", false, false},      {"expires", true, false},
    {"from-seq", true, false},
};

// How a flag's value came: on the command line or from its CLAWCTL_* variable.
struct FlagOrigin {
  std::string_view env_name;  // empty: the command line
};

const FlagSpec* FindFlag(std::string_view name) {
  for (const FlagSpec& flag : kFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

// A whole decimal number (no sign, no spaces).
std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t number = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return number;
}

// A node id as --from / --to take it: a number above 0.
std::expected<uint64_t, std::string> ParseNodeId(std::string_view flag, std::string_view text) {
  auto id = ParseNumber(text);
  if (!id || *id == 0) {
    return std::unexpected("--" + std::string(flag) + " wants a node id (a number > 0, see " +
                           "`clawctl member list`), not '" + std::string(text) + "'");
  }
  return *id;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    start = comma + 1;
  }
  return items;
}

// A flag as written: its spec, the value (when it takes one).
struct FlagUse {
  const FlagSpec* spec = nullptr;
  std::string value{};
};

// Whether `token` looks like an option rather than a value such as "-1" or "-".
bool LooksLikeOption(std::string_view token) {
  if (token.size() < 2 || token[0] != '-') return false;
  return token[1] == '-' || (token[1] >= 'a' && token[1] <= 'z') ||
         (token[1] >= 'A' && token[1] <= 'Z');
}

// Splits the command line into flags and positional words.
std::expected<void, std::string> Tokenize(const std::vector<std::string>& args,
                                          std::vector<FlagUse>* flags,
                                          std::vector<std::string>* words) {
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (options_done || !LooksLikeOption(token)) {
      words->push_back(token);
      continue;
    }
    if (token == "--") {
      options_done = true;
      continue;
    }
    std::string name;
    std::optional<std::string> value;
    if (token == "-w") {
      name = "write-out";
    } else if (token == "-h") {
      name = "help";
    } else if (token.starts_with("--")) {
      const size_t eq = token.find('=');
      name = token.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) value = token.substr(eq + 1);
    } else {
      return std::unexpected("unknown option " + token);
    }
    const FlagSpec* spec = FindFlag(name);
    if (spec == nullptr) return std::unexpected("unknown option " + token);
    if (spec->takes_value && !value) {
      if (i + 1 >= args.size()) return std::unexpected("option --" + name + " needs a value");
      value = args[++i];
    }
    if (!spec->takes_value && value) {
      return std::unexpected("option --" + name + " takes no value");
    }
    flags->push_back(FlagUse{spec, value.value_or("")});
  }
  return {};
}

// The global options as given: the command line's over the environment's (Resolve applies them).
struct GlobalChoice {
  std::optional<std::chrono::milliseconds> timeout{};
  std::optional<std::chrono::milliseconds> command_timeout{};
};

// Applies global option `flag` (from the command line, or from the environment variable
// `env_name`) to `inv`.
std::expected<void, std::string> ApplyGlobal(const FlagUse& flag, std::string_view env_name,
                                             Invocation* inv, GlobalChoice* choice) {
  GlobalOptions* global = &inv->global;
  const std::string_view name = flag.spec->name;
  // Error messages name where the bad value came from.
  const std::string source =
      env_name.empty() ? (name == "write-out" ? std::string("-w") : "--" + std::string(name))
                       : "$" + std::string(env_name);
  auto duration = [&](std::string_view example) -> std::expected<milliseconds, std::string> {
    auto value = ParseDuration(flag.value);
    if (!value || value->count() <= 0) {
      return std::unexpected(source + " wants a positive duration like " + std::string(example) +
                             ", not '" + flag.value + "'");
    }
    return *value;
  };
  if (name == "endpoints") {
    global->endpoints = SplitList(flag.value);
    if (global->endpoints.empty()) return std::unexpected(source + " is empty");
  } else if (name == "write-out") {
    if (flag.value == "table") {
      global->format = OutputFormat::kTable;
    } else if (flag.value == "json") {
      global->format = OutputFormat::kJson;
    } else if (flag.value == "simple") {
      global->format = OutputFormat::kSimple;
    } else {
      return std::unexpected(source + " must be table, simple or json, not '" + flag.value + "'");
    }
  } else if (name == "timeout") {
    auto timeout = duration("5s or 500ms");
    if (!timeout) return std::unexpected(timeout.error());
    choice->timeout = *timeout;
  } else if (name == "command-timeout") {
    auto timeout = duration("60s or 2m");
    if (!timeout) return std::unexpected(timeout.error());
    choice->command_timeout = *timeout;
  } else if (name == "dial-timeout") {
    auto timeout = duration("2s or 500ms");
    if (!timeout) return std::unexpected(timeout.error());
    global->dial_timeout = *timeout;
  } else if (name == "consistency") {
    if (flag.value == "linearizable") {
      global->consistency = client::Consistency::kLinearizable;
    } else if (flag.value == "stale") {
      global->consistency = client::Consistency::kStale;
    } else {
      return std::unexpected(source + " must be linearizable or stale");
    }
  } else if (name == "durability") {
    if (flag.value == "quorum") {
      global->durability = client::Durability::kQuorum;
    } else if (flag.value == "leader") {
      global->durability = client::Durability::kLeader;
    } else {
      return std::unexpected(source + " must be quorum or leader");
    }
  } else if (name == "forward") {
    global->forward = true;
  }
  return {};
}

// The command flags each command accepts.
const std::map<Command, std::vector<std::string_view>>& AllowedFlags() {
  static const std::map<Command, std::vector<std::string_view>> allowed{
      {Command::kPut, {"prev-kv", "lease"}},
      {Command::kLeaseTtl, {"keys"}},
      {Command::kLeaseKeepAlive, {"once"}},
      {Command::kGet, {"stale"}},
      {Command::kDel, {"prev-kv", "range", "prefix"}},
      {Command::kScan, {"limit", "reverse", "keys-only", "prefix"}},
      {Command::kTxn, {"if", "then", "else"}},
      {Command::kShardSplit, {"key", "key-hex", "yes"}},
      {Command::kShardTransferLeader, {"to"}},
      {Command::kShardMove, {"from", "to", "yes"}},
      {Command::kNodeDrain, {"wait", "yes"}},
      {Command::kNodeRemove, {"yes"}},
      {Command::kPlacementRuleSet,
       {"start", "start-hex", "end", "end-hex", "replicas", "zones", "leader-zones"}},
      {Command::kMemberAdd, {"peer-urls", "client-urls", "zone", "rack", "host"}},
      {Command::kDebugHash, {"shard", "all"}},
      {Command::kWatch, {"prefix", "range-end", "rev", "prev-kv", "progress", "count"}},
      {Command::kCheckpointCreate,
       {"sync", "async", "collocated", "active-node", "retention", "max-size", "max-sections",
        "max-section-size"}},
      {Command::kCheckpointWrite, {"file", "create", "expires"}},
      {Command::kCheckpointWatch, {"from-seq", "count"}},
  };
  return allowed;
}

std::string_view CommandName(Command command) {
  switch (command) {
    case Command::kPut: return "put";
    case Command::kGet: return "get";
    case Command::kDel: return "del";
    case Command::kScan: return "scan";
    case Command::kTxn: return "txn";
    case Command::kStatus: return "endpoint status";
    case Command::kEndpointHealth: return "endpoint health";
    case Command::kConfigShow: return "config show";
    case Command::kCompletion: return "completion";
    case Command::kDebugHash: return "debug hash";
    case Command::kWatch: return "watch";
    case Command::kMemberAdd: return "member add";
    case Command::kShardList: return "shard list";
    case Command::kShardShow: return "shard show";
    case Command::kShardSplit: return "shard split";
    case Command::kShardTransferLeader: return "shard transfer-leader";
    case Command::kShardMove: return "shard move";
    case Command::kMemberList: return "member list";
    case Command::kNodeList: return "node list";
    case Command::kNodeDrain: return "node drain";
    case Command::kNodeRemove: return "node remove";
    case Command::kPlacementExplain: return "placement explain";
    case Command::kPlacementRules: return "placement rules";
    case Command::kPlacementRuleSet:
      return "placement rule set";
    case Command::kPlacementRuleDelete: return "placement rule delete";
    case Command::kHelp: return "help";
    case Command::kVersion: return "version";
    case Command::kLeaseGrant: return "lease grant";
    case Command::kLeaseRevoke: return "lease revoke";
    case Command::kLeaseTtl: return "lease ttl";
    case Command::kLeaseList: return "lease list";
    case Command::kLeaseKeepAlive: return "lease keep-alive";
    case Command::kCheckpointCreate: return "checkpoint create";
    case Command::kCheckpointList: return "checkpoint list";
    case Command::kCheckpointShow: return "checkpoint show";
    case Command::kCheckpointRead: return "checkpoint read";
    case Command::kCheckpointWrite: return "checkpoint write";
    case Command::kCheckpointUnlink: return "checkpoint unlink";
    case Command::kCheckpointWatch: return "checkpoint watch";
    case Command::kCheckpointDeleteSection: return "checkpoint delete-section";
    case Command::kCheckpointActive: return "checkpoint active";
    case Command::kCheckpointRetention: return "checkpoint retention";
  }
  return "?";
}

// A rule or zone name as the server accepts it: 1..64 of [A-Za-z0-9._-].
bool ValidLabel(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// placement rule set --start / --start-hex / --end / --end-hex.
std::expected<void, std::string> ApplyRuleKey(const FlagUse& flag, Invocation* inv) {
  const std::string_view name = flag.spec->name;
  const bool start = name.starts_with("start");
  auto& key = start ? inv->rule_start : inv->rule_end;
  const std::string which = start ? "start" : "end";
  if (key) return std::unexpected("give one --" + which + " or --" + which + "-hex, not several");
  if (!name.ends_with("-hex")) {
    key = flag.value;
    return {};
  }
  key = ParseHex(flag.value);
  if (!key) {
    return std::unexpected(
        "--" + std::string(name) + " wants pairs of hex digits like 6b6579, not '" + flag.value +
        "' (for the " + (start ? "start" : "end") + " of the key space: --" + which + " \"\")");
  }
  return {};
}

std::expected<void, std::string> ApplyCommandFlag(const FlagUse& flag, Invocation* inv) {
  const std::string_view name = flag.spec->name;
  const auto& allowed = AllowedFlags();
  auto it = allowed.find(inv->command);
  if (it == allowed.end() || std::find(it->second.begin(), it->second.end(), name) ==
                                 it->second.end()) {
    return std::unexpected("option --" + std::string(name) + " does not apply to '" +
                           std::string(CommandName(inv->command)) + "'");
  }
  if (name == "prev-kv") inv->prev_kv = true;
  if (name == "stale") inv->global.consistency = client::Consistency::kStale;
  if (name == "range") inv->range = true;
  if (name == "prefix") inv->prefix = true;
  if (name == "reverse") inv->reverse = true;
  if (name == "keys-only") inv->keys_only = true;
  if (name == "keys") inv->lease_keys = true;
  if (name == "once") inv->once = true;
  if (name == "lease") {
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(flag.value.data(), flag.value.data() + flag.value.size(), id);
    if (ec != std::errc() || end != flag.value.data() + flag.value.size() || id == 0) {
      return std::unexpected("--lease wants a lease id (a number > 0, from `clawctl lease grant`), not '" +
                             flag.value + "'");
    }
    inv->lease_id = id;
  }
  if (name == "if") inv->txn_if.push_back(flag.value);
  if (name == "then") inv->txn_then.push_back(flag.value);
  if (name == "else") inv->txn_else.push_back(flag.value);
  if (name == "yes") inv->yes = true;
  if (name == "wait") inv->wait = true;
  if (name == "all") inv->all_shards = true;
  if (name == "progress") inv->progress = true;
  if (name == "range-end") inv->range_end = flag.value;
  if (name == "rev" || name == "count") {
    auto n = ParseNumber(flag.value);
    if (!n) {
      return std::unexpected("--" + std::string(name) + " wants a number" +
                             (name == "rev" ? " (a revision: a key's mod_ts)" : "") + ", not '" + flag.value + "'");
    }
    (name == "rev" ? inv->rev : inv->count) = *n;
  }
  if (name.starts_with("max-") || name == "from-seq") {
    auto n = ParseNumber(flag.value);
    if (!n) return std::unexpected("--" + std::string(name) + " wants a number, not '" + flag.value + "'");
    if (name == "max-size") inv->checkpoint.max_size = *n;
    if (name == "max-sections") inv->checkpoint.max_sections = *n;
    if (name == "max-section-size") inv->checkpoint.max_section_size = *n;
    if (name == "from-seq") inv->checkpoint.from_sequence = *n;
  }
  if (name == "sync" || name == "async") {
    const bool sync = name == "sync";
    if (inv->checkpoint.synchronous && *inv->checkpoint.synchronous != sync) {
      return std::unexpected("--sync and --async exclude each other");
    }
    inv->checkpoint.synchronous = sync;
  }
  if (name == "collocated") inv->checkpoint.collocated = true;
  if (name == "active-node") inv->checkpoint.active_node = flag.value;
  if (name == "create") inv->checkpoint.create = true;
  if (name == "file") inv->checkpoint.file = flag.value;
  if (name == "retention" || name == "expires") {
    auto d = ParseDuration(flag.value);
    if (!d) {
      return std::unexpected("--" + std::string(name) + " wants a duration like 30s, 500ms, 2m or 10, not '" +
                             flag.value + "'");
    }
    (name == "retention" ? inv->checkpoint.retention : inv->checkpoint.expires) = *d;
  }
  if (name == "shard") {
    auto id = ParseNumber(flag.value);
    if (!id || *id == 0) {
      return std::unexpected("--shard wants a shard id (a number > 0, see `clawctl shard list`), not '" +
                             flag.value + "'");
    }
    inv->shard_id = *id;
  }
  if (name == "limit") {
    auto limit = ParseNumber(flag.value);
    if (!limit) return std::unexpected("--limit wants a number, not '" + flag.value + "'");
    inv->limit = *limit;
  }
  if (name == "key" || name == "key-hex") {
    if (inv->split_key) return std::unexpected("give one --key or --key-hex, not several");
    if (name == "key") {
      inv->split_key = flag.value;
    } else {
      inv->split_key = ParseHex(flag.value);
      if (!inv->split_key) {
        return std::unexpected("--key-hex wants pairs of hex digits like 6b6579, not '" +
                               flag.value + "'");
      }
    }
    if (inv->split_key->empty()) {
      return std::unexpected("--" + std::string(name) +
                             " is empty (leave it out to split at the middle of the data)");
    }
  }
  if (name == "from" || name == "to") {
    auto node = ParseNodeId(name, flag.value);
    if (!node) return std::unexpected(node.error());
    (name == "from" ? inv->from_node : inv->to_node) = *node;
  }
  if (name == "start" || name == "start-hex" || name == "end" || name == "end-hex") {
    auto ok = ApplyRuleKey(flag, inv);
    if (!ok) return ok;
  }
  if (name == "replicas") {
    auto replicas = ParseNumber(flag.value);
    if (!replicas || *replicas == 0 || *replicas > kMaxRuleReplicas) {
      return std::unexpected("--replicas wants a number of voters from 1 to " +
                             std::to_string(kMaxRuleReplicas) + ", not '" + flag.value + "'");
    }
    inv->rule_replicas = static_cast<uint32_t>(*replicas);
  }
  if (name == "zones" || name == "leader-zones") {
    auto& zones = name == "zones" ? inv->rule_zones : inv->rule_leader_zones;
    if (zones) return std::unexpected("give --" + std::string(name) + " once, as a list: a,b,c");
    zones = SplitList(flag.value);
    for (size_t i = 0; i < zones->size(); ++i) {
      const std::string& zone = (*zones)[i];
      if (!ValidLabel(zone)) {
        return std::unexpected("--" + std::string(name) + ": '" + zone +
                               "' is not a zone name (1..64 of A-Z a-z 0-9 . _ -)");
      }
      if (std::find(zones->begin(), zones->begin() + static_cast<std::ptrdiff_t>(i), zone) !=
          zones->begin() + static_cast<std::ptrdiff_t>(i)) {
        return std::unexpected("--" + std::string(name) + ": zone '" + zone + "' is listed twice");
      }
    }
  }
  if (name == "peer-urls" || name == "client-urls") {
    std::string& address = name == "peer-urls" ? inv->peer_address : inv->client_address;
    const std::vector<std::string> list = SplitList(flag.value);
    if (list.size() != 1) {
      return std::unexpected("--" + std::string(name) + " wants one address host:port, not '" +
                             flag.value + "'");
    }
    address = list[0];
    // A node address is host:port; a URL's scheme is dropped (etcdctl takes URLs here).
    for (std::string_view scheme : {"http://", "https://"}) {
      if (address.starts_with(scheme)) address.erase(0, scheme.size());
    }
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || !ParseNumber(address.substr(colon + 1))) {
      return std::unexpected("--" + std::string(name) + " wants host:port, not '" + flag.value +
                             "'");
    }
  }
  if (name == "zone" || name == "rack" || name == "host") {
    if (!ValidLabel(flag.value)) {
      return std::unexpected("--" + std::string(name) + ": '" + flag.value +
                             "' is not a locality name (1..64 of A-Z a-z 0-9 . _ -)");
    }
    (name == "zone" ? inv->zone : name == "rack" ? inv->rack : inv->host) = flag.value;
  }
  return {};
}

// Picks the command from the leading words; the rest are its arguments.
std::expected<void, std::string> TakeCommand(std::vector<std::string> words, Invocation* inv) {
  if (words.empty()) return std::unexpected("no command given");
  static const std::map<std::string_view, Command> kSimple = {
      {"put", Command::kPut},     {"get", Command::kGet},         {"del", Command::kDel},
      {"delete", Command::kDel},  {"scan", Command::kScan},       {"txn", Command::kTxn},
      {"status", Command::kStatus}, {"help", Command::kHelp},     {"version", Command::kVersion},
      {"completion", Command::kCompletion}, {"watch", Command::kWatch},
  };
  const std::string word = words.front();
  words.erase(words.begin());
  if (auto it = kSimple.find(word); it != kSimple.end()) {
    inv->command = it->second;
  } else if (word == "shard") {
    static const std::map<std::string_view, Command> kShard = {
        {"list", Command::kShardList},
        {"show", Command::kShardShow},
        {"split", Command::kShardSplit},
        {"transfer-leader", Command::kShardTransferLeader},
        {"move", Command::kShardMove},
    };
    auto sub = words.empty() ? kShard.end() : kShard.find(words.front());
    if (sub == kShard.end()) {
      return std::unexpected("'shard' wants a subcommand: list, show, split, transfer-leader, move");
    }
    words.erase(words.begin());
    inv->command = sub->second;
  } else if (word == "node") {
    static const std::map<std::string_view, Command> kNode = {
        {"list", Command::kNodeList},
        {"drain", Command::kNodeDrain},
        {"remove", Command::kNodeRemove},
    };
    auto sub = words.empty() ? kNode.end() : kNode.find(words.front());
    if (sub == kNode.end()) return std::unexpected("'node' wants a subcommand: list, drain, remove");
    words.erase(words.begin());
    inv->command = sub->second;
  } else if (word == "placement") {
    const std::string sub = words.empty() ? "" : words.front();
    if (sub == "explain") {
      inv->command = Command::kPlacementExplain;
    } else if (sub == "rules") {
      inv->command = Command::kPlacementRules;
    } else if (sub == "rule") {
      const std::string action = words.size() < 2 ? "" : words[1];
      if (action != "set" && action != "delete") {
        return std::unexpected(
            "'placement rule' wants a subcommand: set NAME [options], delete NAME");
      }
      words.erase(words.begin());
      inv->command = action == "set" ? Command::kPlacementRuleSet : Command::kPlacementRuleDelete;
    } else {
      return std::unexpected(
          "'placement' wants a subcommand: explain SHARD, rules, rule set, rule delete");
    }
    words.erase(words.begin());
  } else if (word == "member") {
    static const std::map<std::string_view, Command> kMember = {
        {"list", Command::kMemberList},
        {"add", Command::kMemberAdd},
        {"remove", Command::kNodeRemove},
    };
    auto sub = words.empty() ? kMember.end() : kMember.find(words.front());
    if (sub == kMember.end()) return std::unexpected("'member' wants a subcommand: list, add, remove");
    words.erase(words.begin());
    inv->command = sub->second;
  } else if (word == "endpoint") {
    static const std::map<std::string_view, Command> kEndpoint = {
        {"health", Command::kEndpointHealth},
        {"status", Command::kStatus},
    };
    auto sub = words.empty() ? kEndpoint.end() : kEndpoint.find(words.front());
    if (sub == kEndpoint.end()) return std::unexpected("'endpoint' wants a subcommand: health, status");
    words.erase(words.begin());
    inv->command = sub->second;
  } else if (word == "debug") {
    if (words.empty() || words.front() != "hash") {
      return std::unexpected("'debug' wants a subcommand: hash");
    }
    words.erase(words.begin());
    inv->command = Command::kDebugHash;
  } else if (word == "lease") {
    static const std::map<std::string_view, Command> kLease = {
        {"grant", Command::kLeaseGrant}, {"revoke", Command::kLeaseRevoke},
        {"ttl", Command::kLeaseTtl},     {"list", Command::kLeaseList},
        {"keep-alive", Command::kLeaseKeepAlive},
    };
    auto sub = words.empty() ? kLease.end() : kLease.find(words.front());
    if (sub == kLease.end()) {
      return std::unexpected("'lease' wants a subcommand: grant TTL, revoke ID, ttl ID, list, keep-alive ID");
    }
    words.erase(words.begin());
    inv->command = sub->second;
  } else if (word == "checkpoint") {
    static const std::map<std::string_view, Command> kCheckpoint = {
        {"create", Command::kCheckpointCreate}, {"list", Command::kCheckpointList},
        {"show", Command::kCheckpointShow},     {"read", Command::kCheckpointRead},
        {"write", Command::kCheckpointWrite},   {"unlink", Command::kCheckpointUnlink},
        {"watch", Command::kCheckpointWatch},   {"delete-section", Command::kCheckpointDeleteSection},
        {"retention", Command::kCheckpointRetention}, {"active", Command::kCheckpointActive},
    };
    auto sub = words.empty() ? kCheckpoint.end() : kCheckpoint.find(words.front());
    if (sub == kCheckpoint.end()) {
      return std::unexpected(
          "'checkpoint' wants a subcommand: create, list, show, read, write, unlink, watch, delete-section, "
          "retention, active");
    }
    words.erase(words.begin());
    inv->command = sub->second;
  } else if (word == "config") {
    if (words.empty() || words.front() != "show") {
      return std::unexpected("'config' wants a subcommand: show");
    }
    words.erase(words.begin());
    inv->command = Command::kConfigShow;
  } else {
    return std::unexpected("unknown command '" + word + "'");
  }
  inv->args = std::move(words);
  return {};
}

std::expected<void, std::string> CheckArity(const Invocation& inv) {
  const size_t n = inv.args.size();
  auto want = [&](size_t lo, size_t hi, std::string_view shape) -> std::expected<void, std::string> {
    if (n >= lo && n <= hi) return {};
    return std::unexpected("usage: clawctl " + std::string(shape));
  };
  switch (inv.command) {
    case Command::kPut: return want(2, 2, "put KEY VALUE [--prev-kv] [--lease ID]");
    case Command::kLeaseGrant: return want(1, 1, "lease grant TTL (e.g. 10s, 500ms, or seconds)");
    case Command::kLeaseRevoke: return want(1, 1, "lease revoke ID");
    case Command::kLeaseTtl: return want(1, 1, "lease ttl ID [--keys]");
    case Command::kLeaseList: return want(0, 0, "lease list");
    case Command::kLeaseKeepAlive: return want(1, 1, "lease keep-alive ID [--once]");
    case Command::kGet: return want(1, 1, "get KEY [--stale]");
    case Command::kCheckpointCreate:
      if (inv.checkpoint.collocated == false && !inv.checkpoint.active_node.empty()) {
        return std::unexpected("checkpoint create: --active-node needs --collocated");
      }
      return want(1, 1, "checkpoint create NAME [--sync|--async] [--collocated [--active-node N]] "
                        "[--retention DUR] [--max-size N] [--max-sections N] [--max-section-size N]");
    case Command::kCheckpointList: return want(0, 0, "checkpoint list");
    case Command::kCheckpointShow: return want(1, 1, "checkpoint show NAME");
    case Command::kCheckpointRead: return want(1, 2, "checkpoint read NAME [SECTION]");
    case Command::kCheckpointWrite:
      if (inv.checkpoint.file) return want(1, 2, "checkpoint write NAME [SECTION] --file F [--create] [--expires DUR]");
      return want(2, 3, "checkpoint write NAME [SECTION] VALUE|--file F [--create] [--expires DUR]");
    case Command::kCheckpointUnlink: return want(1, 1, "checkpoint unlink NAME");
    case Command::kCheckpointWatch:
      return want(1, 1, "checkpoint watch NAME [--from-seq N] [--count N] [--timeout DUR]");
    case Command::kCheckpointDeleteSection: return want(2, 2, "checkpoint delete-section NAME SECTION");
    case Command::kCheckpointRetention: return want(2, 2, "checkpoint retention NAME DUR");
    case Command::kCheckpointActive: return want(2, 2, "checkpoint active NAME NODE");
    case Command::kDel:
      if (inv.range && inv.prefix) return std::unexpected("del: --range and --prefix exclude each other");
      if (inv.range) return want(2, 2, "del --range START END");
      return want(1, 1, inv.prefix ? "del --prefix PREFIX" : "del KEY [--prev-kv]");
    case Command::kScan:
      if (inv.prefix) return want(1, 1, "scan --prefix PREFIX [--limit N] [--reverse] [--keys-only]");
      return want(1, 2, "scan START [END] [--limit N] [--reverse] [--keys-only]");
    case Command::kTxn: return want(0, 0, "txn [--if CMP]... [--then OP]... [--else OP]...");
    case Command::kWatch:
      if (inv.prefix && inv.range_end) return std::unexpected("watch: --prefix and --range-end exclude each other");
      if (inv.range_end && !inv.range_end->empty() && inv.args.size() == 1 && *inv.range_end <= inv.args[0]) {
        return std::unexpected("watch: --range-end must be after KEY (or empty for the end of the key space)");
      }
      return want(1, 1, "watch KEY [--prefix | --range-end END] [--rev R] [--prev-kv] [--progress] [--count N] [--timeout D]");
    case Command::kStatus: return want(0, 0, "endpoint status");
    case Command::kEndpointHealth: return want(0, 0, "endpoint health");
    case Command::kConfigShow: return want(0, 0, "config show");
    case Command::kDebugHash:
      if (inv.all_shards && inv.shard_id != 0) return std::unexpected("debug hash: --shard and --all exclude each other");
      return want(0, 0, "debug hash [--shard ID | --all]");
    case Command::kCompletion:
      if (n == 1 && inv.args[0] != "bash") {
        return std::unexpected("completion: only bash is supported, not '" + inv.args[0] + "'");
      }
      return want(1, 1, "completion bash");
    case Command::kMemberAdd:
      return want(1, 1, "member add NAME --peer-urls HOST:PORT --client-urls HOST:PORT [--zone Z] "
                        "[--rack R] [--host H]");
    case Command::kShardList: return want(0, 0, "shard list");
    case Command::kShardShow: return want(1, 1, "shard show ID");
    case Command::kShardSplit: return want(1, 1, "shard split ID [--key KEY | --key-hex HEX] [--yes]");
    case Command::kShardTransferLeader: return want(1, 1, "shard transfer-leader ID --to NODE");
    case Command::kShardMove: return want(1, 1, "shard move ID --from NODE --to NODE [--yes]");
    case Command::kMemberList: return want(0, 0, "member list");
    case Command::kNodeList: return want(0, 0, "node list");
    case Command::kNodeDrain: return want(1, 1, "node drain N [--wait] [--yes] [--command-timeout D]");
    case Command::kNodeRemove: return want(1, 1, "node remove N [--yes] [--command-timeout D]");
    case Command::kPlacementExplain: return want(1, 1, "placement explain SHARD");
    case Command::kPlacementRules: return want(0, 0, "placement rules");
    case Command::kPlacementRuleSet:
      return want(1, 1, std::string(kRuleSetShape));
    case Command::kPlacementRuleDelete:
      return want(1, 1, "placement rule delete NAME [--command-timeout D]");
    case Command::kHelp:
    case Command::kVersion: return {};
  }
  return {};
}

// The NAME argument and the options of placement rule set / delete, checked as the server would
// (so that a bad command line fails before any request).
std::expected<void, std::string> CheckRuleCommand(Invocation* inv) {
  inv->rule_name = inv->args[0];
  const std::string& name = inv->rule_name;
  if (!ValidLabel(name)) {
    return std::unexpected(
        "rule NAME must be 1..64 of A-Z a-z 0-9 . _ - (see `clawctl placement rules`), not '" +
        name + "'");
  }
  if (name == "meta") {
    return std::unexpected("'meta' is the meta shard's own rule and cannot be changed");
  }
  if (inv->command != Command::kPlacementRuleSet) return {};
  if (name == "default" && (inv->rule_start || inv->rule_end)) {
    return std::unexpected(
        "the default rule covers every shard no other rule covers: it takes no --start or --end");
  }
  if (inv->rule_start && inv->rule_end && inv->rule_start->empty() && inv->rule_end->empty()) {
    return std::unexpected("rule '" + name +
                           "' needs a range: a non-empty --start and/or --end (only the " +
                           "default rule covers the whole key space)");
  }
  if (inv->rule_start && inv->rule_end && !inv->rule_end->empty() &&
      *inv->rule_start >= *inv->rule_end) {
    return std::unexpected("--start must be below --end (the rule covers [START, END))");
  }
  if (inv->rule_zones && !inv->rule_zones->empty() && inv->rule_leader_zones) {
    for (const std::string& zone : *inv->rule_leader_zones) {
      if (std::find(inv->rule_zones->begin(), inv->rule_zones->end(), zone) ==
          inv->rule_zones->end()) {
        return std::unexpected("--leader-zones: '" + zone +
                               "' is not one of --zones, so no replica can be there");
      }
    }
  }
  return {};
}

bool IsCheckpointCommand(Command command) {
  return command >= Command::kCheckpointCreate && command <= Command::kCheckpointRetention;
}

// The commands whose argument is a shard id.
bool IsShardCommand(Command command) {
  return command == Command::kShardShow || command == Command::kShardSplit ||
         command == Command::kShardTransferLeader || command == Command::kShardMove ||
         command == Command::kPlacementExplain;
}

// The shard id argument and the flags a shard command cannot do without.
std::expected<void, std::string> CheckShardCommand(Invocation* inv) {
  auto id = ParseNumber(inv->args[0]);
  if (!id || *id == 0) {
    return std::unexpected("shard ID wants a number > 0 (see `clawctl shard list`), not '" +
                           inv->args[0] + "'");
  }
  inv->shard_id = *id;
  const std::string name(CommandName(inv->command));
  if (inv->command == Command::kShardMove && inv->from_node == 0) {
    return std::unexpected(name + " needs --from NODE (the node giving up its replica)");
  }
  if ((inv->command == Command::kShardMove || inv->command == Command::kShardTransferLeader) &&
      inv->to_node == 0) {
    return std::unexpected(name + " needs --to NODE");
  }
  if (inv->command == Command::kShardMove && inv->from_node == inv->to_node) {
    return std::unexpected(name + ": --from and --to name the same node");
  }
  return {};
}

}  // namespace

std::optional<std::string> ParseHex(std::string_view text) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.empty() || text.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high << 4 | low));
  }
  return bytes;
}

std::optional<milliseconds> ParseDuration(std::string_view text) {
  uint64_t number = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || ptr == text.data() || number > 1'000'000'000) return std::nullopt;
  const std::string_view unit(ptr, static_cast<size_t>(end - ptr));
  if (unit.empty() || unit == "s") return milliseconds(number * 1000);
  if (unit == "ms") return milliseconds(number);
  if (unit == "m") return milliseconds(number * 60'000);
  return std::nullopt;
}

namespace {

// "dial-timeout" -> "CLAWCTL_DIAL_TIMEOUT".
std::string EnvName(std::string_view flag) {
  std::string name = "CLAWCTL_";
  for (char c : flag) {
    name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
}

// The global options that have an environment variable (not --help, --version).
bool HasEnv(const FlagSpec& flag) {
  return flag.global && flag.name != "help" && flag.name != "version";
}

// The global options from the environment: a valueless option (--forward) is on for "1" or
// "true", off for "0", "false" or "".
std::expected<void, std::string> ApplyEnvironment(const Environment& env, Invocation* inv,
                                                  GlobalChoice* choice) {
  for (const FlagSpec& spec : kFlags) {
    if (!HasEnv(spec)) continue;
    const std::string name = EnvName(spec.name);
    auto it = env.find(name);
    if (it == env.end()) continue;
    if (!spec.takes_value) {
      if (it->second == "0" || it->second == "false" || it->second.empty()) continue;
      if (it->second != "1" && it->second != "true") {
        return std::unexpected("$" + name + " must be true, false, 1 or 0, not '" + it->second + "'");
      }
    }
    if (spec.name == "endpoints" && SplitList(it->second).empty()) continue;  // unset, in effect
    if (auto ok = ApplyGlobal(FlagUse{&spec, it->second}, name, inv, choice); !ok) return ok;
  }
  return {};
}

}  // namespace

bool IsMultiStep(Command command) {
  switch (command) {
    case Command::kShardSplit:
    case Command::kShardTransferLeader:
    case Command::kShardMove:
    case Command::kNodeDrain:
    case Command::kNodeRemove:
    case Command::kPlacementRuleSet:
    case Command::kPlacementRuleDelete:
    case Command::kDebugHash: return true;
    default: return false;
  }
}

Environment EnvironmentOf(const std::function<const char*(const char*)>& getenv) {
  Environment env;
  for (const FlagSpec& spec : kFlags) {
    if (!HasEnv(spec)) continue;
    const std::string name = EnvName(spec.name);
    if (const char* value = getenv(name.c_str()); value != nullptr) env[name] = value;
  }
  return env;
}

std::expected<Invocation, std::string> ParseArgs(const std::vector<std::string>& args,
                                                 const char* env_endpoints) {
  Environment env;
  if (env_endpoints != nullptr) env["CLAWCTL_ENDPOINTS"] = env_endpoints;
  return ParseArgs(args, env);
}

std::expected<Invocation, std::string> ParseArgs(const std::vector<std::string>& args,
                                                 const Environment& env) {
  std::vector<FlagUse> flags;
  std::vector<std::string> words;
  if (auto ok = Tokenize(args, &flags, &words); !ok) return std::unexpected(ok.error());
  Invocation inv;
  inv.global.endpoints = {std::string(kDefaultEndpoint)};
  // The command a help request is about: `COMMAND --help` or `help COMMAND`.
  auto help_about = [](std::vector<std::string> topic_words) {
    Invocation topic;
    if (!TakeCommand(std::move(topic_words), &topic)) return Command::kHelp;
    return topic.command;
  };
  for (const FlagUse& flag : flags) {
    if (flag.spec->name == "help") {
      return Invocation{.command = Command::kHelp, .help_topic = help_about(words)};
    }
    if (flag.spec->name == "version") return Invocation{.command = Command::kVersion};
  }
  if (auto ok = TakeCommand(std::move(words), &inv); !ok) return std::unexpected(ok.error());
  if (inv.command == Command::kHelp) {
    return Invocation{.command = Command::kHelp, .help_topic = help_about(inv.args)};
  }
  // Default < environment < command line.
  GlobalChoice choice;
  if (auto ok = ApplyEnvironment(env, &inv, &choice); !ok) return std::unexpected(ok.error());
  for (const FlagUse& flag : flags) {
    auto ok = flag.spec->global ? ApplyGlobal(flag, "", &inv, &choice) : ApplyCommandFlag(flag, &inv);
    if (!ok) return std::unexpected(ok.error());
  }
  inv.command_timeout = choice.command_timeout;
  if (inv.command == Command::kWatch || inv.command == Command::kCheckpointWatch) {
    inv.watch_timeout = choice.timeout;
  }
  if (choice.timeout) {
    inv.global.timeout = *choice.timeout;
  } else if (choice.command_timeout && !IsMultiStep(inv.command)) {
    inv.global.timeout = *choice.command_timeout;
  }
  if (auto ok = CheckArity(inv); !ok) return std::unexpected(ok.error());
  if (IsShardCommand(inv.command)) {
    if (auto ok = CheckShardCommand(&inv); !ok) return std::unexpected(ok.error());
  }
  if (inv.command == Command::kPlacementRuleSet || inv.command == Command::kPlacementRuleDelete) {
    if (auto ok = CheckRuleCommand(&inv); !ok) return std::unexpected(ok.error());
  }
  if (inv.command == Command::kLeaseRevoke || inv.command == Command::kLeaseTtl ||
      inv.command == Command::kLeaseKeepAlive) {
    auto id = ParseNumber(inv.args[0]);
    if (!id || *id == 0) {
      return std::unexpected("lease ID wants a lease id (a number > 0, see `clawctl lease list`), not '" +
                             inv.args[0] + "'");
    }
    inv.lease_id = *id;
  }
  if (IsCheckpointCommand(inv.command) && inv.command != Command::kCheckpointList) {
    if (std::string bad = client::CheckpointNameError(inv.args[0]); !bad.empty()) {
      return std::unexpected("checkpoint NAME: " + bad);
    }
  }
  if (inv.command == Command::kCheckpointRetention) {
    inv.checkpoint.retention = ParseDuration(inv.args[1]);
    if (!inv.checkpoint.retention) {
      return std::unexpected("checkpoint retention DUR wants a duration like 30s, 500ms, 2m or 10, not '" +
                             inv.args[1] + "'");
    }
  }
  if (inv.command == Command::kLeaseGrant) {
    auto ttl = ParseDuration(inv.args[0]);
    if (!ttl || ttl->count() <= 0) {
      return std::unexpected("lease grant TTL wants a positive duration like 10s, 500ms or 30, not '" +
                             inv.args[0] + "'");
    }
    inv.lease_ttl = *ttl;
  }
  if (inv.command == Command::kNodeDrain || inv.command == Command::kNodeRemove) {
    auto id = ParseNumber(inv.args[0]);
    if (!id || *id == 0) {
      return std::unexpected("node N wants a node id (a number > 0, see `clawctl node list`), not '" +
                             inv.args[0] + "'");
    }
    inv.node_id = *id;
  }
  if (inv.command == Command::kMemberAdd) {
    inv.member_name = inv.args[0];
    if (!ValidLabel(inv.member_name)) {
      return std::unexpected("member NAME must be 1..64 of A-Z a-z 0-9 . _ -, not '" +
                             inv.member_name + "' (it is the new node's `name` in its config)");
    }
    if (inv.peer_address.empty()) {
      return std::unexpected("member add needs --peer-urls HOST:PORT (the node's advertise_peer_addr)");
    }
    if (inv.client_address.empty()) {
      return std::unexpected("member add needs --client-urls HOST:PORT (the node's client address)");
    }
  }
  return inv;
}

const std::vector<CommandWords>& AllCommands() {
  static const std::vector<CommandWords> commands = {
      {"put", Command::kPut},
      {"get", Command::kGet},
      {"del", Command::kDel},
      {"delete", Command::kDel},
      {"scan", Command::kScan},
      {"txn", Command::kTxn},
      {"endpoint health", Command::kEndpointHealth},
      {"endpoint status", Command::kStatus},
      {"status", Command::kStatus},
      {"member list", Command::kMemberList},
      {"member add", Command::kMemberAdd},
      {"member remove", Command::kNodeRemove},
      {"node list", Command::kNodeList},
      {"node drain", Command::kNodeDrain},
      {"node remove", Command::kNodeRemove},
      {"shard list", Command::kShardList},
      {"shard show", Command::kShardShow},
      {"shard split", Command::kShardSplit},
      {"shard transfer-leader", Command::kShardTransferLeader},
      {"shard move", Command::kShardMove},
      {"placement explain", Command::kPlacementExplain},
      {"placement rules", Command::kPlacementRules},
      {"placement rule set", Command::kPlacementRuleSet},
      {"placement rule delete", Command::kPlacementRuleDelete},
      {"config show", Command::kConfigShow},
      {"debug hash", Command::kDebugHash},
      {"watch", Command::kWatch},
      {"lease grant", Command::kLeaseGrant},
      {"lease revoke", Command::kLeaseRevoke},
      {"lease ttl", Command::kLeaseTtl},
      {"lease list", Command::kLeaseList},
      {"lease keep-alive", Command::kLeaseKeepAlive},
      {"checkpoint create", Command::kCheckpointCreate},
      {"checkpoint list", Command::kCheckpointList},
      {"checkpoint show", Command::kCheckpointShow},
      {"checkpoint read", Command::kCheckpointRead},
      {"checkpoint write", Command::kCheckpointWrite},
      {"checkpoint unlink", Command::kCheckpointUnlink},
      {"checkpoint watch", Command::kCheckpointWatch},
      {"checkpoint delete-section", Command::kCheckpointDeleteSection},
      {"checkpoint retention", Command::kCheckpointRetention},
      {"checkpoint active", Command::kCheckpointActive},
      {"version", Command::kVersion},
      {"completion", Command::kCompletion},
      {"help", Command::kHelp},
  };
  return commands;
}

std::vector<std::string_view> CommandFlags(Command command) {
  const auto& allowed = AllowedFlags();
  auto it = allowed.find(command);
  if (it == allowed.end()) return {};
  return it->second;
}

bool FlagTakesValue(std::string_view name) {
  const FlagSpec* spec = FindFlag(name);
  return spec != nullptr && spec->takes_value;
}

std::vector<GlobalFlag> GlobalFlags() {
  std::vector<GlobalFlag> flags;
  for (const FlagSpec& spec : kFlags) {
    if (spec.global) flags.push_back(GlobalFlag{spec.name, spec.takes_value});
  }
  return flags;
}

std::string_view UsageText() {
  return R"(clawctl: command-line client of a clawd cluster

usage: clawctl [global options] COMMAND [arguments] [options]

commands:
  put KEY VALUE [--prev-kv]          write a key (--prev-kv: also print the old value)
  get KEY [--stale]                  print a key's value (--stale: any replica may answer)
  del KEY [--prev-kv]                delete a key
  del --range START END              delete every key in [START, END)
  del --prefix PREFIX                delete every key starting with PREFIX
  scan START [END] [--limit N] [--reverse] [--keys-only]
                                     list keys in [START, END) (END empty or absent: to the end)
  scan --prefix PREFIX [...]         list keys starting with PREFIX
  watch KEY [--prefix | --range-end END] [--rev R] [--prev-kv] [--progress] [--count N]
                                     print changes of KEY (a prefix, or [KEY, END)) as they
                                     happen, from revision R (exclusive; default now); ends after
                                     N events or --timeout D (default: until interrupted)
  put KEY VALUE --lease ID           attach the key to a lease: it goes when the lease does
  lease grant TTL                    create a lease (TTL: 10s, 500ms, or seconds); prints its id
  lease revoke ID                    revoke a lease and delete its keys in every shard
  lease ttl ID [--keys]              a lease's remaining TTL (--keys: and its keys)
  lease list                         every lease
  lease keep-alive ID [--once]       renew a lease until interrupted (--once: one renewal)
  checkpoint create NAME [--sync|--async] [--collocated [--active-node N]] [--retention DUR]
             [--max-size N] [--max-sections N] [--max-section-size N]
                                     create a named checkpoint (kept DUR after this command,
                                     whose handle is the only one, closes; then deleted)
  checkpoint list | show NAME        checkpoints; one's attributes, size, sequence, handles
  checkpoint read NAME [SECTION]     a section's data (default: every section / the default one)
  checkpoint write NAME [SECTION] VALUE|--file F [--create] [--expires DUR]
                                     replace a section's data (--create: create it if missing)
  checkpoint delete-section NAME SECTION | unlink NAME | retention NAME DUR
  checkpoint active NAME NODE        move a collocated checkpoint's active replica to NODE
  checkpoint watch NAME [--from-seq N] [--count N]
                                     print every change of a checkpoint (a hot standby's stream)
  txn [--if CMP]... [--then OP]... [--else OP]...
                                     compare-then-else on one shard; without flags, reads
                                     compares, a blank line, then-ops, a blank line, else-ops
                                     from stdin (one per line, like etcdctl txn)
  endpoint health                    whether each endpoint's server is SERVING (grpc.health.v1)
  endpoint status                    each endpoint's node: id, name, version, replicas, leaders,
                                     its meta shard replica's role, term and applied index
                                     (`status` is the same)
  config show                        the effective configuration of the first endpoint's node
  debug hash [--shard ID | --all]    consistency check: every replica hashes its shard at one
                                     Raft index; fails naming replicas that differ
  shard list                         shards: id, range, epoch, replicas, leader
  shard show ID                      one shard: range, epoch, leader, replicas and their nodes
  shard split ID [--key KEY | --key-hex HEX] [--yes]
                                     split a shard at KEY (default: the middle of its data)
  shard transfer-leader ID --to NODE hand the shard's leadership to the voter on node NODE
  shard move ID --from NODE --to NODE [--yes]
                                     move a replica: learner on NODE, catch up, promote,
                                     leadership away from --from if needed, remove --from
  member list                        nodes: id, name, addresses, zone/rack/host, reachable
  member add NAME --peer-urls HOST:PORT --client-urls HOST:PORT [--zone Z] [--rack R] [--host H]
                                     register a new node (then start it with that name, peer
                                     address and `join:`); prints its id
  member remove N [--yes]            the same as node remove N
  node list                          the placement service's node table: state (UP, DRAINING,
                                     REMOVED, DEAD), locality, address, replicas, leaders,
                                     last heartbeat, disk
  node drain N [--wait] [--yes]      move every replica and leadership off node N (--wait:
                                     until none is left, with progress on stderr)
  node remove N [--yes]              remove node N for good, once it holds no replica
  placement explain SHARD            why shard SHARD's replicas are where they are, and what
                                     the placement service does about it
  placement rules                    the placement rules (name, key range, replicas, zones,
                                     leader zones) and their version
  placement rule set NAME [--start KEY | --start-hex HEX] [--end KEY | --end-hex HEX]
                     [--replicas N] [--zones A,B] [--leader-zones A,B]
                                     add rule NAME, or change it (options left out keep their
                                     values)
  placement rule delete NAME         delete rule NAME
  version                            clawctl's version
  completion bash                    a bash completion script: source <(clawctl completion bash)

  CMP: value(KEY) OP VALUE | version(KEY) OP N | mod(KEY) OP N | exists(KEY) | !exists(KEY)
       with OP one of = != < >
  OP:  put KEY VALUE | get KEY | del KEY | delrange START END
  Words with spaces or special bytes go in double quotes: "a b", "\x00\n\t\"\\".
  split, move, node drain and node/member remove change the cluster: they ask [y/N] on a
  terminal and need --yes otherwise. move and drain --wait show progress on stderr when it is
  a terminal.
  `clawctl COMMAND --help` (or `clawctl help COMMAND`) describes one command.

global options (each also from $CLAWCTL_<NAME>, e.g. CLAWCTL_DIAL_TIMEOUT=1s; the flag wins):
  --endpoints A,B,C       seed endpoints host:port (default 127.0.0.1:7379)
  -w, --write-out FMT     table (default), simple or json
  --dial-timeout D        wait this long for a connection to an endpoint (default 2s)
  --command-timeout D     the whole command, retries included (default 5s; shard move 60s,
                          node drain --wait 10m)
  --timeout D             each request, retries included (default --command-timeout when the
                          command is one request, else 5s); durations: 500ms, 5s, 1m
  --consistency C         linearizable (default) or stale
  --durability D          quorum (default) or leader
  --forward               let a non-leader node forward the request to the leader
  -h, --help              this text (after a command: its own help);  --version  the version
  TLS is not supported yet, so there are no TLS options.

output:
  table:  aligned columns with a header; keys and values as text, bytes outside printable
          ASCII and '\' escaped as \xNN / \\
  simple: the same records as plain lines, columns separated by ", ", no header
  json:   one JSON document (a stable API); keys and values base64 (as in the proto3 JSON
          mapping), 64-bit numbers as decimal strings
  Data goes to stdout; errors go to stderr as `Error: ...`, notes as `clawctl: ...`.

exit codes:
  0 ok   1 the request failed (stderr: code, message, hint); endpoint health/status: some
         endpoint failed
  2 usage error, or split/move/node drain/remove not confirmed (no --yes without a
    terminal, or not answered y)
  3 get: key not found; shard show/split/transfer-leader/move, placement explain: no such
    shard; node drain/remove: no such node; placement rule delete: no such rule
  4 txn: a comparison failed (the else branch ran)
  5 cannot connect: no endpoint connected within --dial-timeout (endpoint commands, config
    show: none could be reached)
)";
}

std::string_view HelpText(Command topic) {
  switch (topic) {
    case Command::kWatch:
      return R"(usage: clawctl watch KEY [--prefix | --range-end END] [--rev R] [--prev-kv] [--progress]
                    [--count N] [--timeout D]

Prints the changes of KEY (with --prefix: of every key starting with KEY; with --range-end:
of [KEY, END), END "" = to the end of the key space) as they are applied, across shards
(claw.v1.Watch through the client library, which resumes across leader changes, node deaths
and splits without losing or repeating an event). From revision R, exclusive (a revision is a
write's mod_ts, as `put` and `get -w json` print it): --rev R replays the retained history
after R first (storage.mvcc_retention_ms, default 1 h); default: from now.
Ends after N events (--count), after --timeout D, or when interrupted.

  table / simple   one line per event: PUT KEY VALUE or DELETE KEY, then the revision in
                   brackets; --prev-kv adds (prev: VALUE); --progress prints PROGRESS R lines
                   (no event at or below R will still come from that part of the range)
  -w json   one object per line: {"type","key","value","mod_ts","version","create_ts",
            "prev":{...}} (key and values base64) or {"progress_revision"}

exit codes: 0 N events seen, or the timeout passed; 1 the watch failed (COMPACTED: R is older
than the retained history; the message names the oldest revision available); 2 usage error;
5 no endpoint could be reached
)";
    case Command::kCheckpointCreate:
    case Command::kCheckpointList:
    case Command::kCheckpointShow:
    case Command::kCheckpointRead:
    case Command::kCheckpointWrite:
    case Command::kCheckpointUnlink:
    case Command::kCheckpointWatch:
    case Command::kCheckpointDeleteSection:
    case Command::kCheckpointActive:
    case Command::kCheckpointRetention:
      return R"(usage: clawctl checkpoint create NAME [--sync|--async] [--collocated [--active-node NODE]]
                    [--retention DUR] [--max-size N] [--max-sections N] [--max-section-size N]
       clawctl checkpoint list
       clawctl checkpoint show NAME
       clawctl checkpoint read NAME [SECTION]
       clawctl checkpoint write NAME [SECTION] VALUE|--file F [--create] [--expires DUR]
       clawctl checkpoint delete-section NAME SECTION
       clawctl checkpoint unlink NAME
       clawctl checkpoint retention NAME DUR
       clawctl checkpoint active NAME NODE
       clawctl checkpoint watch NAME [--from-seq N] [--count N] [--timeout DUR]

Named checkpoints (claw.v1.Checkpoint, the SA Forum AIS checkpoint model): sets of sections
stored in one shard, replicated by it. NAME is 1..255 of A-Z a-z 0-9 . _ : / = @ -; a SECTION
id is the argument's bytes ("" = the default section, the only one of a checkpoint created
without --max-sections).

Every command that needs a handle (create, read, write, delete-section) opens one for its own
session: a short lease (5 s) kept alive while the command runs, revoked at its end, which
closes the handle. A checkpoint with no open handle is KEPT FOR ITS RETENTION TIME and then
deleted: `checkpoint create` alone makes a checkpoint that lives --retention (default 60 s)
unless a process opens it meanwhile (the SAF model); `retention NAME DUR` changes that time,
also of a running timer. `unlink` removes the name at once; the data goes when the last
handle closes.

  create     --sync: a write returns once every replica stored it (SA_CKPT_WR_ALL_REPLICAS);
             --async (default): once the active replica (the shard's leader) applied it.
             --collocated [--active-node NODE]: the application picks the active replica.
             Limits: --max-size (bytes of all sections), --max-sections (1 = the default
             section only), --max-section-size. An existing checkpoint with the same
             attributes is opened, with others refused (CHECKPOINT_EXISTS).
  active     a collocated checkpoint: NODE (name or id) becomes its active replica; returns
             once NODE leads the checkpoint's shard (the placement service adds a replica
             there if needed), exit 1 if not by --timeout (the choice stays recorded)
  show       attributes, size, sections, sequence number, open handles, retention state
             (closed at, deleted at), active node, replicas, shard
  read       table / simple: SECTION given (or a checkpoint of the default section only): the
             raw data; else one row per section ID SIZE EXPIRES DATA (escaped)
  write      replaces the section's whole data with VALUE or the bytes of file F ("-": stdin);
             --create creates the section when missing; --expires DUR: it expires DUR from now
  watch      one line per change: SEQ REVISION then SECTION=DATA, -SECTION (deleted),
             +handle / -handle, DELETED; from --from-seq N (default: the current state first,
             as one SNAPSHOT line); ends after N changes (--count), --timeout, or interrupted
  -w json    create/show: the status object {"name","attributes":{...},"size","sections",
             "sequence","handles":[...],"unlinked","closed_unix_ms","delete_at_unix_ms",
             "active_node_id","replica_node_ids","shard_id"}; list: {"checkpoints":[...]};
             read: {"sequence","sections":[{"id","data","size"}]} (id and data base64);
             write: {"sequence","revision"}; watch: one object per change per line

exit codes: 0 done; 1 the request failed (CHECKPOINT_EXISTS, CHECKPOINT_ACCESS_DENIED,
CHECKPOINT_NO_SPACE, TOO_LARGE, ...); 2 usage error; 3 no such checkpoint or section
(CHECKPOINT_NOT_FOUND, CHECKPOINT_SECTION_NOT_FOUND); 5 no endpoint could be reached
)";
    case Command::kShardShow:
      return R"(usage: clawctl shard show ID

One shard as the cluster's directory knows it (Cluster.ListShards on the first endpoint that
answers): its range [START, END), epoch (conf_version.range_version), leader, and each replica
with its node, role (VOTER or LEARNER) and the node's client address.

  -w json   the shard as one object of `shard list -w json`, replicas with "address"

exit codes: 0 ok, 1 the request failed, 2 usage error, 3 no shard ID
)";
    case Command::kShardSplit:
      return R"(usage: clawctl shard split ID [--key KEY | --key-hex HEX] [--yes] [--command-timeout D]

Splits shard ID in two on its leader (Cluster.SplitShard): the shard keeps [START, KEY), a new
shard with a new id takes [KEY, END), with replicas on the same nodes. Prints both shards.
Without a key the leader picks the key that halves the shard's data (an empty shard cannot be
split that way). The request names the shard's epoch, so it never splits a shard that changed
meanwhile (a retry of a split that went through is refused, not applied twice).

  --key KEY           split at KEY (the bytes of the argument); must lie strictly inside
  --key-hex HEX       the same, KEY given as hex digits (binary keys): --key-hex 00ff10
  --yes               do not ask; required when stdin is not a terminal
  --command-timeout D the whole command, redirects and retries included (default --timeout)

exit codes: 0 ok, 1 the request failed, 2 usage error or not confirmed, 3 no shard ID
)";
    case Command::kShardTransferLeader:
      return R"(usage: clawctl shard transfer-leader ID --to NODE [--command-timeout D]

Hands the leadership of shard ID to its voter on node NODE (Cluster.TransferLeader, sent to the
current leader) and waits until NODE leads. Prints the shard. A no-op when NODE already leads.

  --to NODE           the node id of a voter of the shard (see `clawctl shard show ID`)
  --command-timeout D the whole command, redirects and retries included (default --timeout)

exit codes: 0 ok, 1 the request failed, 2 usage error, 3 no shard ID
)";
    case Command::kShardMove:
      return R"(usage: clawctl shard move ID --from NODE --to NODE [--yes] [--command-timeout D]

Moves shard ID's replica from node --from to node --to without ever lowering its number of
voters, one Raft configuration change at a time (Cluster.ChangeReplicas on the leader):
  1. add a learner on --to (it catches up by snapshot)
  2. promote it to voter, retrying while the leader answers that it has not caught up
  3. if --from leads the shard, transfer the leadership to --to (or another voter)
  4. remove the replica on --from (its node deletes the replica's data)
Each step is printed on stderr as it completes; the final shard on stdout. Every step is
planned from the shard's current descriptor, so running the command again after a failure
skips what is already done (a learner already on --to, a voter already promoted, ...).

  --from NODE         the node id giving up its replica
  --to NODE           the node id receiving one (it must not host one of the shard already,
                      unless a previous move got that far)
  --yes               do not ask; required when stdin is not a terminal
  --command-timeout D the whole move, waiting for the learner included (default 60s);
                      each request still ends within --timeout

exit codes: 0 ok, 1 a step failed (the steps done stay done: run again to resume),
            2 usage error or not confirmed, 3 no shard ID
)";
    case Command::kNodeList:
      return R"(usage: clawctl node list

The node table of the placement service (Placement.ListNodes, answered by the meta shard's
leader; the endpoints are tried in turn and NOT_LEADER redirects followed), one row per node:

  ID, NAME              the node id and its configured name
  STATE                 UP (serving, receives replicas), DRAINING (being emptied by `node
                        drain`), REMOVED (by `node remove`); DEAD when no heartbeat reached the
                        meta leader for placement.node_dead_after_ms (its replicas are being
                        re-created elsewhere), DRAINING,DEAD when both
  ZONE/RACK/HOST        its locality ("-" when not configured)
  ADDRESS               its client address
  REPLICAS, LEADERS     replicas the shard directory places on it, and shards it leads
  HEARTBEAT             how long ago its last heartbeat arrived ("-": none since the meta
                        leader took over)
  DISK_USED, DISK_FREE  its data disk, from that heartbeat

  -w json   {"nodes":[...]}: node_id, name, state, dead, client_address, peer_address, zone,
            rack, host, capacity_bytes, replicas, leaders, and once heard from
            last_heartbeat_ms_ago and load (the node's own report: replicas, leaders, bytes,
            disk_used_bytes, disk_free_bytes); 64-bit numbers as decimal strings

exit codes: 0 ok, 1 the request failed, 2 usage error
)";
    case Command::kNodeDrain:
      return R"(usage: clawctl node drain N [--wait] [--yes] [--command-timeout D]

Marks node N DRAINING (Placement.DrainNode, on the meta shard's leader). The placement service
then moves every replica and every leadership off it, and places nothing new on it; the node
keeps serving meanwhile. Draining a node that drains already changes nothing. Prints the node's
row as `node list` does. Once it holds nothing, `clawctl node remove N` removes it for good.

  --wait              poll the node table (every second) until the node holds no replica and
                      leads no shard, printing on stderr what is left whenever it changes:
                        clawctl: node 3: 5 replicas, 2 leaders left
                      A drain needs enough other UP nodes to hold every shard's replicas.
  --yes               do not ask; required when stdin is not a terminal
  --command-timeout D the whole command, finding the meta leader, retries and --wait included
                      (default --timeout; 10m with --wait). Each request still ends within
                      --timeout. When it runs out the drain goes on in the background; run the
                      command again to keep waiting.

exit codes: 0 ok (with --wait: the node is empty), 1 the request failed or --wait ran out of
            time, 2 usage error or not confirmed, 3 no node N (or it was removed)
)";
    case Command::kNodeRemove:
      return R"(usage: clawctl node remove N [--yes] [--command-timeout D]   (or: member remove N)

Marks node N REMOVED for good (Placement.RemoveNode, on the meta shard's leader). The service
refuses (FAILED_PRECONDITION, with its reason) while the shard directory still lists a replica
on the node: drain it first with `clawctl node drain N --wait`. Prints the node's row as
`node list` does. Removing a removed node changes nothing.

  --yes               do not ask; required when stdin is not a terminal
  --command-timeout D the whole command, finding the meta leader and retries included
                      (default --timeout)

exit codes: 0 ok, 1 the request failed or was refused (replicas remain), 2 usage error or not
            confirmed, 3 no node N
)";
    case Command::kPlacementExplain:
      return R"(usage: clawctl placement explain SHARD

Prints the placement service's account of shard SHARD (Placement.Explain, on the meta shard's
leader), one line each: the rule the shard follows, each replica with its node's locality and
state, how diverse the replicas are and how diverse they could be, then the operator in flight,
the one the service would start, what it waits for, the rule it cannot meet and why — or
"placement is optimal". Bytes outside printable ASCII (the shard's boundary keys) are written
\xNN, as keys are everywhere in clawctl's output.

  -w json   {"shard_id":"SHARD","lines":[...]}

exit codes: 0 ok, 1 the request failed, 2 usage error, 3 no shard SHARD in the directory
)";
    case Command::kPlacementRules:
      return R"(usage: clawctl placement rules

The placement rules in force (Placement.GetRules, on the meta shard's leader) and their version,
which grows with every change (0 before the first). Each rule places the replicas of the shards
in a key range: the rule named "default" covers every shard no other rule covers (without one:
3 replicas in any zone); the meta shard keeps its own rule.

  version: V            first line
  NAME                  the rule's name
  RANGE                 START..END, the keys [START, END) it covers, escaped as keys are
                        everywhere in clawctl ((start) / (end): an open end); the default
                        rule: (other keys)
  REPLICAS              voters per shard
  ZONES                 zones its replicas must be in ("-": any)
  LEADER ZONES          zones preferred for the leader, in order ("-": none)

  -w json   {"rules":[{"name","start_key","end_key","replication_factor","zones",
            "leader_zones"}],"version":"V"} (the proto3 JSON mapping: keys base64, the
            version a decimal string)

exit codes: 0 ok, 1 the request failed, 2 usage error
)";
    case Command::kPlacementRuleSet:
      return R"(usage: clawctl placement rule set NAME [--start KEY | --start-hex HEX]
          [--end KEY | --end-hex HEX] [--replicas N] [--zones A,B] [--leader-zones A,B]
          [--command-timeout D]

Adds rule NAME, or changes it: reads the rules (Placement.GetRules), replaces rule NAME (the
options left out keep the values it has) or adds it at the end, and writes them back
(Placement.SetRules) if no one changed them meanwhile; if someone did, reads them again and
redoes the change. Prints the rules afterwards, as `placement rules` does. Shards straddling a
rule's boundary are split there; the placement service then moves replicas to follow the rules.

  NAME                  1..64 of A-Z a-z 0-9 . _ -; "default" covers every shard no other
                        rule covers and takes no --start or --end
  --start KEY           the first key the rule covers (the bytes of the argument; "": the
                        start of the key space)
  --end KEY             the first key past it ("": to the end of the key space)
  --start-hex HEX, --end-hex HEX
                        the same, given as hex digits (binary keys): --start-hex 00ff10
                        A new rule other than "default" needs --start and/or --end; ranges
                        may not overlap.
  --replicas N          voters per shard, 1..7 (a new rule: 3)
  --zones A,B           its replicas only in these zones ("": any zone, the default)
  --leader-zones A,B    the leader in the first listed zone that has a voter, else the next
                        ("": no preference); each one of --zones when those are given
  --command-timeout D   the whole command, retries included (default --timeout)

exit codes: 0 ok (also when the rule is as asked already), 1 the request failed or the server
            refused the rules (its message names the bad rule), 2 usage error
)";
    case Command::kPlacementRuleDelete:
      return R"(usage: clawctl placement rule delete NAME [--command-timeout D]

Deletes rule NAME: reads the rules (Placement.GetRules), drops rule NAME and writes them back
(Placement.SetRules) if no one changed them meanwhile; if someone did, reads them again and
redoes it. Prints the rules afterwards, as `placement rules` does. The shards it covered follow
the default rule from then on.

  --command-timeout D   the whole command, retries included (default --timeout)

exit codes: 0 ok, 1 the request failed, 2 usage error, 3 no rule NAME
)";
    case Command::kEndpointHealth:
      return R"(usage: clawctl endpoint health

Checks each endpoint in --endpoints on its own with grpc.health.v1.Health/Check (the whole
server): healthy when it answers SERVING. A node answers SERVING from the moment it serves
clients until it begins to stop.

  table   ENDPOINT, HEALTH (true/false), STATE (SERVING, NOT_SERVING, ...), TOOK, ERROR
  simple  127.0.0.1:7379 is healthy: SERVING, took 0.4ms
  json    {"endpoints":[{"endpoint","health","state","took_us","error":{"code","message"}}]}

exit codes: 0 every endpoint is healthy, 1 some is not, 5 none could be reached
)";
    case Command::kStatus:
      return R"(usage: clawctl endpoint status   (or: clawctl status)

Asks each endpoint in --endpoints for its node's status (Cluster.Status), one row each:

  ENDPOINT, NODE, NAME, VERSION, UPTIME
  REPLICAS, LEADERS     replicas the node hosts, and how many of them lead
  META                  its replica of the meta shard (shard 1): leader, follower, learner, or
                        - when it hosts none; META TERM and META APPLIED are that replica's
                        Raft term and applied index
  ERROR                 the error code when the endpoint did not answer

  -w json   {"nodes":[{"endpoint","node_id","name","version","cluster_id","uptime_seconds",
            "replicas","leaders","meta":{"role","term","leader_node_id","commit_index",
            "applied_index","last_index"}}]}; a failed endpoint: {"endpoint","error":{...}}

exit codes: 0 ok, 1 some endpoint failed, 5 none could be reached
)";
    case Command::kDebugHash:
      return R"(usage: clawctl debug hash [--shard ID | --all] [--command-timeout D]

Checks that every replica of a shard holds the same data. For each shard (--shard ID: that
one; --all or neither: every data shard) the shard's leader proposes a consistency check
entry through Raft; every replica, when it applies it, hashes the shard's keys with their
values and versions as of exactly that log index (Cluster.CheckConsistency). clawctl then
asks each replica's node for its hash (Cluster.GetReplicaHash) until all answered or
--command-timeout (default 20s per shard) passed, and prints one row per replica.

  SHARD, INDEX          the shard and the Raft index of its check entry
  NODE, REPLICA         where the replica is, and its id
  STATE                 done, pending (no answer in time), unavailable (it passed the index
                        without hashing: a snapshot; clawctl starts a new check), not-found
  HASH, KEYS            the 128-bit hash of the shard's live keys and how many there are; a
                        "*" marks a replica that differs from the majority

  -w json   {"ok","minority_nodes":[..],"shards":[{"shard_id","index","leader_node_id",
            "consistent","error","replicas":[{"node_id","replica_id","address","state","hash",
            "keys","applied_index","minority","error"}]}]}

exit codes: 0 every replica agrees, 1 hashes differ (stderr names the minority replicas) or
a replica did not answer in time, 3 no such shard, 5 no endpoint could be reached
)";
    case Command::kConfigShow:
      return R"(usage: clawctl config show

Prints the effective configuration of the node at the first endpoint (Cluster.GetConfig):
its configuration file, environment and flags applied, as `clawd --print-config` prints it,
after a comment line naming the node. The output is YAML that `clawd --config` accepts. To see
another node's, name it first: clawctl --endpoints HOST:PORT config show.

  -w json   {"endpoint","node_id","name","yaml"}

exit codes: 0 ok, 1 the request failed, 5 the endpoint could not be reached
)";
    case Command::kMemberAdd:
      return R"(usage: clawctl member add NAME --peer-urls HOST:PORT --client-urls HOST:PORT
                          [--zone Z] [--rack R] [--host H]

Registers a new node with the placement service (Placement.Join, on the meta shard's leader)
and prints its row as `node list` does, with the id it was given. Then start clawd on it with
the same `name`, `advertise_peer_addr` and locality, and `join:` naming the cluster's nodes:
it finds itself registered and takes that id. (A node started with `join:` registers itself,
so `member add` is optional: it reserves the name and addresses ahead.) Adding a node that is
registered already with the same peer address prints it again.

  NAME                  the node's name (1..64 of A-Z a-z 0-9 . _ -)
  --peer-urls HOST:PORT its advertised peer (Raft) address; an http:// prefix is dropped
  --client-urls HOST:PORT its client address
  --zone, --rack, --host its locality, as in its configuration

exit codes: 0 ok, 1 the request failed or the name or peer address belongs to another node,
            2 usage error
)";
    case Command::kCompletion:
      return R"(usage: clawctl completion bash

Prints a bash completion script for clawctl: commands, subcommands, global options and each
command's options, and the values of -w, --consistency and --durability. Load it in the
current shell with

  source <(clawctl completion bash)

or install it as /usr/share/bash-completion/completions/clawctl.
)";
    default:
      return UsageText();
  }
}

}  // namespace claw::clawctl
