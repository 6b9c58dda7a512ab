#include "tools/clawctl/args.h"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <map>

namespace claw::clawctl {
namespace {

using std::chrono::milliseconds;

struct FlagSpec {
  std::string_view name;  // without dashes
  bool takes_value;
  bool global;
};

constexpr FlagSpec kFlags[] = {
    {"endpoints", true, true},   {"write-out", true, true}, {"timeout", true, true},
    {"consistency", true, true}, {"durability", true, true}, {"forward", false, true},
    {"help", false, true},       {"version", false, true},   {"prev-kv", false, false},
    {"stale", false, false},     {"range", false, false},    {"prefix", false, false},
    {"limit", true, false},      {"reverse", false, false},  {"keys-only", false, false},
    {"if", true, false},         {"then", true, false},      {"else", true, false},
};

const FlagSpec* FindFlag(std::string_view name) {
  for (const FlagSpec& flag : kFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
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

std::expected<void, std::string> ApplyGlobal(const FlagUse& flag, GlobalOptions* global) {
  const std::string_view name = flag.spec->name;
  if (name == "endpoints") {
    global->endpoints = SplitList(flag.value);
    if (global->endpoints.empty()) return std::unexpected("--endpoints is empty");
  } else if (name == "write-out") {
    if (flag.value == "table") {
      global->format = OutputFormat::kTable;
    } else if (flag.value == "json") {
      global->format = OutputFormat::kJson;
    } else {
      return std::unexpected("-w must be table or json, not '" + flag.value + "'");
    }
  } else if (name == "timeout") {
    auto timeout = ParseDuration(flag.value);
    if (!timeout || timeout->count() <= 0) {
      return std::unexpected("--timeout wants a positive duration like 5s or 500ms, not '" +
                             flag.value + "'");
    }
    global->timeout = *timeout;
  } else if (name == "consistency") {
    if (flag.value == "linearizable") {
      global->consistency = client::Consistency::kLinearizable;
    } else if (flag.value == "stale") {
      global->consistency = client::Consistency::kStale;
    } else {
      return std::unexpected("--consistency must be linearizable or stale");
    }
  } else if (name == "durability") {
    if (flag.value == "quorum") {
      global->durability = client::Durability::kQuorum;
    } else if (flag.value == "leader") {
      global->durability = client::Durability::kLeader;
    } else {
      return std::unexpected("--durability must be quorum or leader");
    }
  } else if (name == "forward") {
    global->forward = true;
  }
  return {};
}

// The command flags each command accepts.
const std::map<Command, std::vector<std::string_view>>& AllowedFlags() {
  static const std::map<Command, std::vector<std::string_view>> allowed{
      {Command::kPut, {"prev-kv"}},
      {Command::kGet, {"stale"}},
      {Command::kDel, {"prev-kv", "range", "prefix"}},
      {Command::kScan, {"limit", "reverse", "keys-only", "prefix"}},
      {Command::kTxn, {"if", "then", "else"}},
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
    case Command::kStatus: return "status";
    case Command::kShardList: return "shard list";
    case Command::kMemberList: return "member list";
    case Command::kHelp: return "help";
    case Command::kVersion: return "version";
  }
  return "?";
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
  if (name == "if") inv->txn_if.push_back(flag.value);
  if (name == "then") inv->txn_then.push_back(flag.value);
  if (name == "else") inv->txn_else.push_back(flag.value);
  if (name == "limit") {
    const char* end = flag.value.data() + flag.value.size();
    auto [ptr, ec] = std::from_chars(flag.value.data(), end, inv->limit);
    if (ec != std::errc() || ptr != end) {
      return std::unexpected("--limit wants a number, not '" + flag.value + "'");
    }
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
  };
  const std::string word = words.front();
  words.erase(words.begin());
  if (auto it = kSimple.find(word); it != kSimple.end()) {
    inv->command = it->second;
  } else if (word == "shard" || word == "member") {
    if (words.empty() || words.front() != "list") {
      return std::unexpected("'" + word + "' wants a subcommand: " + word + " list");
    }
    words.erase(words.begin());
    inv->command = word == "shard" ? Command::kShardList : Command::kMemberList;
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
    case Command::kPut: return want(2, 2, "put KEY VALUE [--prev-kv]");
    case Command::kGet: return want(1, 1, "get KEY [--stale]");
    case Command::kDel:
      if (inv.range && inv.prefix) return std::unexpected("del: --range and --prefix exclude each other");
      if (inv.range) return want(2, 2, "del --range START END");
      return want(1, 1, inv.prefix ? "del --prefix PREFIX" : "del KEY [--prev-kv]");
    case Command::kScan:
      if (inv.prefix) return want(1, 1, "scan --prefix PREFIX [--limit N] [--reverse] [--keys-only]");
      return want(1, 2, "scan START [END] [--limit N] [--reverse] [--keys-only]");
    case Command::kTxn: return want(0, 0, "txn [--if CMP]... [--then OP]... [--else OP]...");
    case Command::kStatus: return want(0, 0, "status");
    case Command::kShardList: return want(0, 0, "shard list");
    case Command::kMemberList: return want(0, 0, "member list");
    case Command::kHelp:
    case Command::kVersion: return {};
  }
  return {};
}

}  // namespace

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

std::expected<Invocation, std::string> ParseArgs(const std::vector<std::string>& args,
                                                 const char* env_endpoints) {
  std::vector<FlagUse> flags;
  std::vector<std::string> words;
  if (auto ok = Tokenize(args, &flags, &words); !ok) return std::unexpected(ok.error());
  Invocation inv;
  inv.global.endpoints = SplitList(env_endpoints != nullptr ? env_endpoints : "");
  if (inv.global.endpoints.empty()) inv.global.endpoints = {std::string(kDefaultEndpoint)};
  for (const FlagUse& flag : flags) {
    if (flag.spec->name == "help") return Invocation{.command = Command::kHelp};
    if (flag.spec->name == "version") return Invocation{.command = Command::kVersion};
  }
  if (auto ok = TakeCommand(std::move(words), &inv); !ok) return std::unexpected(ok.error());
  for (const FlagUse& flag : flags) {
    auto ok = flag.spec->global ? ApplyGlobal(flag, &inv.global) : ApplyCommandFlag(flag, &inv);
    if (!ok) return std::unexpected(ok.error());
  }
  if (auto ok = CheckArity(inv); !ok) return std::unexpected(ok.error());
  return inv;
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
  txn [--if CMP]... [--then OP]... [--else OP]...
                                     compare-then-else on one shard; without flags, reads
                                     compares, a blank line, then-ops, a blank line, else-ops
                                     from stdin (one per line, like etcdctl txn)
  status                             Cluster.Status of every endpoint
  shard list                         shards: id, range, epoch, replicas, leader
  member list                        nodes: id, name, addresses, zone/rack/host, reachable

  CMP: value(KEY) OP VALUE | version(KEY) OP N | mod(KEY) OP N | exists(KEY) | !exists(KEY)
       with OP one of = != < >
  OP:  put KEY VALUE | get KEY | del KEY | delrange START END
  Words with spaces or special bytes go in double quotes: "a b", "\x00\n\t\"\\".

global options:
  --endpoints A,B,C     seed endpoints host:port (default $CLAWCTL_ENDPOINTS, else 127.0.0.1:7379)
  -w, --write-out FMT   table (default) or json
  --timeout DURATION    deadline of each request, retries included: 5s (default), 500ms, 1m
  --consistency C       linearizable (default) or stale
  --durability D        quorum (default) or leader
  --forward             let a non-leader node forward the request to the leader
  -h, --help            this text;  --version  the version

output:
  table: values and keys as text, bytes outside printable ASCII and '\' escaped as \xNN / \\;
  json:  one JSON document; keys and values base64 (as in the proto3 JSON mapping), 64-bit
         numbers as decimal strings, errors on stderr.

exit codes:
  0 ok   1 the request failed (stderr: code, message, hint)   2 usage error
  3 get: key not found   4 txn: a comparison failed (the else branch ran)
)";
}

}  // namespace claw::clawctl
