// clawctl's command line: global options, the command, its arguments and flags, parsed by hand
// into an Invocation (no exceptions, precise messages). Options may appear anywhere on the line;
// `--` ends them. Usage errors come back as text for stderr and exit code 2.
//
// Pure functions over values; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.h"

namespace claw::clawctl {

// Exit codes (also in `clawctl --help` and tools/README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the request failed (error on stderr)
inline constexpr int kExitUsage = 2;        // bad command line, or a destructive command not confirmed
inline constexpr int kExitNotFound = 3;     // get: no such key; shard *, placement explain: no such
                                            // shard; node drain / remove: no such node;
                                            // placement rule delete: no such rule
inline constexpr int kExitTxnFailed = 4;    // txn: a comparison failed (the else branch ran)

inline constexpr std::string_view kDefaultEndpoint = "127.0.0.1:7379";

enum class OutputFormat : uint8_t { kTable, kJson };

enum class Command : uint8_t {
  kHelp,
  kVersion,
  kPut,
  kGet,
  kDel,
  kScan,
  kTxn,
  kStatus,
  kShardList,
  kShardShow,
  kShardSplit,
  kShardTransferLeader,
  kShardMove,
  kMemberList,
  kNodeList,
  kNodeDrain,
  kNodeRemove,
  kPlacementExplain,
  kPlacementRules,
  kPlacementRuleSet,
  kPlacementRuleDelete,
};

struct GlobalOptions {
  std::vector<std::string> endpoints{};
  OutputFormat format = OutputFormat::kTable;
  std::chrono::milliseconds timeout{5000};
  client::Consistency consistency = client::Consistency::kLinearizable;
  client::Durability durability = client::Durability::kQuorum;
  bool forward = false;
};

struct Invocation {
  GlobalOptions global{};
  Command command = Command::kHelp;
  std::vector<std::string> args{};  // positional arguments after the command word(s)
  // Command flags (each valid for some commands only; see ParseArgs).
  bool prev_kv = false;    // put, del
  bool range = false;      // del --range START END
  bool prefix = false;     // del --prefix P, scan --prefix P
  bool reverse = false;    // scan
  bool keys_only = false;  // scan
  uint64_t limit = 0;      // scan
  std::vector<std::string> txn_if{};    // txn --if COMPARE (repeated)
  std::vector<std::string> txn_then{};  // txn --then OP
  std::vector<std::string> txn_else{};  // txn --else OP
  // shard show / split / transfer-leader / move, placement explain.
  uint64_t shard_id = 0;                   // the ID argument (> 0)
  std::optional<std::string> split_key{};  // split --key KEY or --key-hex HEX, as bytes
  uint64_t from_node = 0;                  // move --from NODE
  uint64_t to_node = 0;                    // transfer-leader, move --to NODE
  bool yes = false;  // split, move, node drain, node remove --yes: do not ask for confirmation
  // split, transfer-leader, move, node drain, node remove --command-timeout: the whole command's
  // time, all steps, retries and waiting included (unset: --timeout, except kMoveTimeout for move
  // and kDrainWaitTimeout for node drain --wait).
  std::optional<std::chrono::milliseconds> command_timeout{};
  // node drain / remove.
  uint64_t node_id = 0;  // the N argument (> 0)
  bool wait = false;     // node drain --wait: until the node holds no replica and no leadership
  // placement rule set / delete: the NAME argument, and for set the options given (unset: an
  // existing rule keeps its value). --start KEY / --start-hex HEX ("": the start of the key
  // space), --end KEY / --end-hex HEX ("": to the end), --replicas N (1..kMaxRuleReplicas),
  // --zones a,b ("": any zone), --leader-zones a,b ("": no preference).
  std::string rule_name{};
  std::optional<std::string> rule_start{};
  std::optional<std::string> rule_end{};
  std::optional<uint32_t> rule_replicas{};
  std::optional<std::vector<std::string>> rule_zones{};
  std::optional<std::vector<std::string>> rule_leader_zones{};
  // help: the command whose help to print (kHelp: the whole usage text).
  Command help_topic = Command::kHelp;
};

// The default --command-timeout of `shard move` (a learner may need a snapshot to catch up).
inline constexpr std::chrono::milliseconds kMoveTimeout{60'000};
// The default --command-timeout of `node drain --wait` (every replica of the node is re-created
// elsewhere, by snapshot when needed).
inline constexpr std::chrono::milliseconds kDrainWaitTimeout{600'000};

// The largest --replicas of `placement rule set` (the server's limit on a rule's voters).
inline constexpr uint32_t kMaxRuleReplicas = 7;
// The replicas of a rule `placement rule set` adds without --replicas (the server's default).
inline constexpr uint32_t kDefaultRuleReplicas = 3;

// Parses argv[1..]. `env_endpoints` is $CLAWCTL_ENDPOINTS (nullptr when unset); --endpoints
// overrides it, and without either the endpoint is kDefaultEndpoint.
[[nodiscard]] std::expected<Invocation, std::string> ParseArgs(
    const std::vector<std::string>& args, const char* env_endpoints);

// "5s", "500ms", "2m", or a bare number of seconds.
[[nodiscard]] std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// "6b6579" -> "key": pairs of hex digits (either case), at least one pair.
[[nodiscard]] std::optional<std::string> ParseHex(std::string_view text);

// The text of `clawctl --help`.
std::string_view UsageText();
// The text of `clawctl COMMAND --help` (also `clawctl help COMMAND`): the command's own help
// where it has one, else UsageText().
std::string_view HelpText(Command topic);

}  // namespace claw::clawctl
