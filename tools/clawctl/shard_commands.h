// The shard admin commands of clawctl — shard show, split, transfer-leader and move — over a
// ShardAdmin (shard_admin.h), and the confirmation asked before the destructive ones.
//
// Contracts (tools/README.md documents them for users):
//  1. Each command has one deadline: --command-timeout, else --timeout (split, transfer-leader,
//     show) or kMoveTimeout (move). Every request ends within min(--timeout, time left), and no
//     retry starts after the deadline.
//  2. A request goes to the shard's leader as the directory names it, else to the nodes of its
//     replicas in turn; a NOT_LEADER answer with the leader's address is followed at once (at
//     most kMaxRedirects times in a row). NOT_LEADER without a leader, UNAVAILABLE,
//     EPOCH_MISMATCH, SHARD_NOT_FOUND, OVERLOADED and DEADLINE_EXCEEDED are retried after a
//     back-off (50 ms doubling to 1 s, at least the server's retry_after_ms), from a fresh read
//     of the directory. Anything else fails the command.
//  3. Every change names the epoch of the descriptor it was planned on, so a retry of a change
//     that went through (its answer lost) is refused with EPOCH_MISMATCH rather than applied
//     twice, and a shard changed by someone else is re-read before the next step.
//  4. move is planned step by step from the shard's current descriptor (NextMoveStep), so it is
//     idempotent: run again after a failure, it skips the steps already done.
//  5. split and move change the cluster: without --yes they ask [y/N] when stdin is a terminal
//     (Interactive::kYes) and refuse with kExitUsage otherwise, before any request is sent.
//
// Output: results on `out` (table or JSON, shaped like `shard list`), progress lines, prompts and
// errors on `err`. Thread-safety: none needed (one command per process).
#pragma once

#include <cstdint>
#include <expected>
#include <iosfwd>
#include <string>
#include <string_view>

#include "client/types.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/shard_admin.h"

namespace claw::clawctl {

// Whether someone can answer a question: stdin is a terminal (main decides).
enum class Interactive : uint8_t { kNo, kYes };

inline constexpr int kMaxRedirects = 3;

// One step of `shard move`.
struct MoveStep {
  enum class Kind : uint8_t {
    kAddLearner,      // add a learner on node_id (the --to node)
    kPromote,         // promote the learner on node_id (the --to node) to voter
    kTransferLeader,  // hand the leadership to node_id (the --to node, a voter by then)
    kRemove,          // remove the replica on node_id (the --from node)
    kDone,            // --to hosts a voter and --from no replica
  };
  Kind kind = Kind::kDone;
  uint64_t node_id = 0;
};

// The next step of moving `shard`'s replica from node `from` to node `to`, from its descriptor
// and leader alone. An error when neither node hosts a replica of the shard.
[[nodiscard]] std::expected<MoveStep, std::string> NextMoveStep(const client::ShardInfo& shard,
                                                                uint64_t from, uint64_t to);
// "add a learner on node 4", "remove the replica on node 2", ...
std::string DescribeMoveStep(const MoveStep& step, uint64_t leader);

enum class Answer : uint8_t { kNo, kYes };
// Writes `question` and " [y/N] " to `err`, reads one line from `in`: kYes for y or yes in any
// case; anything else, or end of input, is kNo.
Answer AskYesNo(std::string_view question, std::istream& in, std::ostream& err);

// The answer to "may this command change the cluster?": given by --yes, else asked on a terminal
// (`question`); refused (with "nothing was changed" on `err`) otherwise.
enum class Consent : uint8_t { kGiven, kRefused };
Consent Confirm(const Invocation& inv, Interactive interactive, std::string_view question, std::istream& in,
                std::ostream& err);
// For a changing command without --yes and no terminal to ask on: says so and returns kExitUsage.
int NeedsYes(std::string_view command_name, std::ostream& err);

// Where the progress lines of a long command (shard move, node drain --wait) go: `err` when
// stderr is a terminal (inv.global.progress), else a stream that drops them, so that pipes and
// logs get only the outcome.
std::ostream& ProgressStream(const Invocation& inv, std::ostream& err);

// Runs shard show, split, transfer-leader or move; returns the exit code (kExit*).
int RunShardCommand(const Invocation& inv, ShardAdmin& admin, Interactive interactive,
                    std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace claw::clawctl
