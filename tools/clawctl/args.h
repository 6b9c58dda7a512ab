// clawctl's command line: global options, the command, its arguments and flags, parsed by hand
// into an Invocation (no exceptions, precise messages). Options may appear anywhere on the line;
// `--` ends them. Every global option may also come from the environment as CLAWCTL_<NAME>
// (upper case, dashes as underscores: CLAWCTL_DIAL_TIMEOUT); the command line wins over the
// environment, which wins over the default. Usage errors come back as text for stderr and exit
// code 2.
//
// Pure functions over values; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.h"
#include "tools/clawctl/format.h"  // OutputFormat

namespace claw::clawctl {

// Exit codes (also in `clawctl --help` and tools/README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the request failed (error on stderr)
inline constexpr int kExitUsage = 2;        // bad command line, or a destructive command not confirmed
inline constexpr int kExitNotFound = 3;     // get: no such key; shard *, placement explain: no such
                                            // shard; node drain / remove: no such node;
                                            // placement rule delete: no such rule
inline constexpr int kExitTxnFailed = 4;    // txn: a comparison failed (the else branch ran)
inline constexpr int kExitCannotConnect = 5;  // no endpoint connected within --dial-timeout

inline constexpr std::string_view kDefaultEndpoint = "127.0.0.1:7379";


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
  kMemberAdd,
  kNodeList,
  kNodeDrain,
  kNodeRemove,
  kPlacementExplain,
  kPlacementRules,
  kPlacementRuleSet,
  kPlacementRuleDelete,
  kEndpointHealth,
  kConfigShow,
  kCompletion,
  kDebugHash,
  kWatch,
  kLeaseGrant,
  kLeaseRevoke,
  kLeaseTtl,
  kLeaseList,
  kLeaseKeepAlive,
  kCheckpointCreate,
  kCheckpointList,
  kCheckpointShow,
  kCheckpointRead,
  kCheckpointWrite,
  kCheckpointUnlink,
  kCheckpointWatch,
  kCheckpointDeleteSection,
  kCheckpointActive,
  kCheckpointRetention,  // the last checkpoint command (IsCheckpointCommand)
};

// The checkpoint commands' options (checkpoint_commands.h).
struct CheckpointFlags {
  // create: --sync / --async (unset: the service's default, asynchronous).
  std::optional<bool> synchronous{};
  bool collocated = false;        // create --collocated
  std::string active_node{};      // create --active-node NODE (a node name)
  std::optional<std::chrono::milliseconds> retention{};  // create --retention DUR; retention NAME DUR
  uint64_t max_size = 0;          // create --max-size N (0: the default)
  uint64_t max_sections = 0;      // create --max-sections N
  uint64_t max_section_size = 0;  // create --max-section-size N
  std::optional<std::string> file{};  // write --file F: the data from a file ("-": stdin)
  bool create = false;            // write --create: create the section when missing
  std::optional<std::chrono::milliseconds> expires{};  // write --expires DUR (from now)
  uint64_t from_sequence = 0;     // watch --from-seq N
};

// The default deadline of one request (--timeout) and of the one-request commands.
inline constexpr std::chrono::milliseconds kDefaultTimeout{5000};
// The default --dial-timeout.
inline constexpr std::chrono::milliseconds kDefaultDialTimeout{2000};

struct GlobalOptions {
  std::vector<std::string> endpoints{};
  OutputFormat format = OutputFormat::kTable;
  // The deadline of each request, retries included: --timeout; without it, for the commands
  // that are one request (all but the multi-step ones, IsMultiStep), --command-timeout; else
  // kDefaultTimeout.
  std::chrono::milliseconds timeout = kDefaultTimeout;
  // How long to wait for a connection to one of the endpoints before exiting
  // kExitCannotConnect (--dial-timeout).
  std::chrono::milliseconds dial_timeout = kDefaultDialTimeout;
  client::Consistency consistency = client::Consistency::kLinearizable;
  client::Durability durability = client::Durability::kQuorum;
  bool forward = false;
  // Whether stderr is a terminal: progress lines of long commands (shard move, node drain
  // --wait) are printed only then. Not an option: main sets it (tests: as they need).
  bool progress = true;
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
  // --command-timeout (global): the whole command's time, all steps, retries and waiting
  // included. Unset: the multi-step commands take --timeout, except kMoveTimeout for move and
  // kDrainWaitTimeout for node drain --wait; the others are one request of `global.timeout`.
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
  // member add NAME --peer-urls ADDR --client-urls ADDR [--zone Z] [--rack R] [--host H].
  std::string member_name{};
  std::string peer_address{};
  std::string client_address{};
  std::string zone{};
  std::string rack{};
  std::string host{};
  // watch KEY [--prefix | --range-end END] [--rev R] [--prev-kv] [--progress] [--count N]: the
  // global --timeout given on the command line or in $CLAWCTL_TIMEOUT is how long to watch.
  std::optional<std::string> range_end{};
  uint64_t rev = 0;
  uint64_t count = 0;  // 0 = no limit
  bool progress = false;
  std::optional<std::chrono::milliseconds> watch_timeout{};
  // debug hash --shard ID (shard_id) or --all (all_shards; also without either).
  bool all_shards = false;
  // lease commands and put --lease ID.
  uint64_t lease_id = 0;                     // put --lease ID; lease revoke / ttl / keep-alive ID
  std::chrono::milliseconds lease_ttl{0};    // lease grant TTL
  bool lease_keys = false;                   // lease ttl --keys
  bool once = false;                         // lease keep-alive --once
  CheckpointFlags checkpoint{};
  // help: the command whose help to print (kHelp: the whole usage text).
  Command help_topic = Command::kHelp;
};

// The default --command-timeout of `shard move` (a learner may need a snapshot to catch up).
inline constexpr std::chrono::milliseconds kMoveTimeout{60'000};
// The default --command-timeout of `node drain --wait` (every replica of the node is re-created
// elsewhere, by snapshot when needed).
inline constexpr std::chrono::milliseconds kDrainWaitTimeout{600'000};
// The default --command-timeout of `debug hash`, per shard: starting the check and every
// replica's answer.
inline constexpr std::chrono::milliseconds kHashWaitTimeout{20'000};

// The largest --replicas of `placement rule set` (the server's limit on a rule's voters).
inline constexpr uint32_t kMaxRuleReplicas = 7;
// The replicas of a rule `placement rule set` adds without --replicas (the server's default).
inline constexpr uint32_t kDefaultRuleReplicas = 3;

// The CLAWCTL_* variables of the global options that are set: name -> value.
using Environment = std::map<std::string, std::string>;

// Parses argv[1..] with the global options' environment variables `env` (EnvironmentOf);
// a variable's value is checked as its option's would be (errors name the variable).
[[nodiscard]] std::expected<Invocation, std::string> ParseArgs(const std::vector<std::string>& args,
                                                               const Environment& env);
// The same with only $CLAWCTL_ENDPOINTS (nullptr: unset).
[[nodiscard]] std::expected<Invocation, std::string> ParseArgs(
    const std::vector<std::string>& args, const char* env_endpoints);

// The environment variable of each global option that has one ("CLAWCTL_DIAL_TIMEOUT"), looked
// up with `getenv` (std::getenv in main; tests pass their own).
[[nodiscard]] Environment EnvironmentOf(const std::function<const char*(const char*)>& getenv);

// The commands as typed ("shard transfer-leader"), for help and shell completion; aliases
// (`status`, `member remove`, `delete`) included.
struct CommandWords {
  std::string_view words;
  Command command;
};
const std::vector<CommandWords>& AllCommands();
// The options `command` accepts besides the global ones, without dashes ("prev-kv").
std::vector<std::string_view> CommandFlags(Command command);
// Whether option `name` (without dashes) takes a value.
bool FlagTakesValue(std::string_view name);
// The global options, without dashes ("endpoints"); `takes_value` says which take a value.
struct GlobalFlag {
  std::string_view name;
  bool takes_value;
};
std::vector<GlobalFlag> GlobalFlags();
// Whether the command's --command-timeout spans several requests (split, transfer-leader, move,
// node drain / remove, placement rule set / delete) rather than setting the one request's.
bool IsMultiStep(Command command);

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
