// The node and placement commands of clawctl — node list, node drain, node remove and placement
// explain — over a PlacementAdmin (placement_admin.h), and their output.
//
// Contracts (tools/README.md documents them for users):
//  1. Each command has one deadline: --command-timeout (drain, remove), else --timeout, except
//     kDrainWaitTimeout for `node drain --wait`. Every request ends within min(--timeout, time
//     left), and no retry or poll starts after the deadline.
//  2. Requests go to the meta shard's leader, which runs the placement service (MetaRun,
//     meta_run.h): first the address
//     that last answered as the leader, then each endpoint in order. A NOT_LEADER answer naming
//     the leader's address is followed at once (at most kMaxRedirects in a round); a NOT_LEADER
//     without one, UNAVAILABLE or DEADLINE_EXCEEDED moves on to the next endpoint. When a round
//     ends in NOT_LEADER, UNAVAILABLE, OVERLOADED or DEADLINE_EXCEEDED, it is repeated after a
//     back-off (50 ms doubling to 1 s, at least the server's retry_after_ms). Anything else fails
//     the command at once.
//  3. drain and remove change the cluster: without --yes they ask [y/N] when stdin is a terminal
//     (Interactive::kYes) and refuse with kExitUsage otherwise, before any request is sent. A node
//     that drains (or is removed) already is not asked about nor sent the change again.
//  4. DrainNode and RemoveNode set a state, so a retry of one whose answer was lost is harmless.
//  5. NOT_FOUND (no such node, a removed node for drain, no such shard for explain) exits
//     kExitNotFound; RemoveNode's refusal while replicas remain (FAILED_PRECONDITION) exits
//     kExitFailed with the server's reason and a hint to drain first.
//  6. drain --wait polls ListNodes every kDrainPollInterval until the node's replica and leader
//     counts are both 0 (exit kExitOk), printing the counts on stderr whenever they change; when
//     the deadline comes first it exits kExitFailed (the drain itself goes on).
//
// Output: results on `out` (table or JSON), progress lines, prompts and errors on `err`.
// Thread-safety: none needed (one command per process).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "tools/clawctl/args.h"
#include "tools/clawctl/placement_admin.h"
#include "tools/clawctl/shard_commands.h"

namespace claw::clawctl {

// How often `node drain --wait` reads the node table (the counts change with the nodes'
// heartbeats, one per placement.heartbeat_interval_ms, default 1 s).
inline constexpr std::chrono::milliseconds kDrainPollInterval{1000};

// "UP", "DRAINING", "REMOVED"; a dead node: "DEAD" (UP), "DRAINING,DEAD".
std::string NodeStateText(const PlacementNode& node);
// The age of a heartbeat: "0.3s", "12s", "4m05s", "2h13m".
std::string FormatAge(uint64_t milliseconds);
// Bytes in binary units: "512B", "1.5KiB", "20GiB".
std::string FormatBytes(uint64_t bytes);

// `node list`: a table (ID, NAME, STATE, ZONE/RACK/HOST, ADDRESS, REPLICAS, LEADERS, HEARTBEAT,
// DISK_USED, DISK_FREE) or {"nodes":[...]}; drain and remove print their node the same way.
std::string FormatNodes(const std::vector<PlacementNode>& nodes, OutputFormat format);
// `placement explain`: one line each, or {"shard_id":"ID","lines":[...]}; in both, bytes outside
// printable ASCII (the shard's boundary keys in the rule line) escaped as Escape() does.
std::string FormatExplain(uint64_t shard_id, const std::vector<std::string>& lines, OutputFormat format);

// Runs node list, node drain, node remove or placement explain; returns the exit code (kExit*).
int RunNodeCommand(const Invocation& inv, PlacementAdmin& admin, Interactive interactive, std::istream& in,
                   std::ostream& out, std::ostream& err);

}  // namespace claw::clawctl
