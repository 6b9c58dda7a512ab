// clawctl's commands: run a parsed Invocation against a Client and render the answer as a table
// or JSON (tools/README.md documents both). The Format* functions are pure, so tests check the
// output without a cluster; RunCommand does the calls and picks the exit code.
//
// Thread-safety: none needed (one command per process). Output goes to the given streams: data
// to `out`, errors and notes to `err`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/shard_commands.h"

namespace claw::clawctl {

// Runs the command and returns the process exit code (kExit*). `interactive` says whether split,
// move, node drain and node remove may ask for confirmation on `in` (see shard_commands.h and
// node_commands.h).
int RunCommand(const Invocation& inv, client::Client& client, std::istream& in, std::ostream& out,
               std::ostream& err, Interactive interactive = Interactive::kNo);

// "clawctl: CODE: message" plus a hint line when there is a useful one, and a note when a write
// may have been applied.
std::string FormatError(const client::Error& error);

std::string FormatGet(const client::KeyValue& kv, OutputFormat format);
std::string FormatPut(const client::PutResult& result, OutputFormat format);
std::string FormatDelete(const client::DeleteResult& result, OutputFormat format);
std::string FormatDeleteCount(uint64_t deleted, OutputFormat format);
// Table mode prints one "KEY<TAB>VALUE" line per key (just KEY with keys_only).
std::string FormatScan(const client::ScanResult& result, bool keys_only, OutputFormat format);
std::string FormatTxn(const client::TxnResult& result, OutputFormat format);
std::string FormatShards(const std::vector<client::ShardInfo>& shards, OutputFormat format);
// One shard in detail: its row as in FormatShards, then one row per replica with its node's
// client address (from `members`; "-" when unknown). JSON: the shard's object of FormatShards,
// each replica with "address" added.
std::string FormatShardShow(const client::ShardInfo& shard,
                            const std::vector<client::MemberInfo>& members, OutputFormat format);
std::string FormatMembers(const std::vector<client::MemberInfo>& members, OutputFormat format);
// The meta shard's id: the shard holding the directory and the node table.
inline constexpr uint64_t kMetaShardId = 1;

// One entry per endpoint: its status, or the error it answered with.
struct EndpointStatus {
  std::string endpoint{};
  std::optional<client::NodeStatus> status{};
  std::optional<client::Error> error{};
};
// `endpoint status`: one row per endpoint (table: ENDPOINT, NODE, NAME, VERSION, UPTIME,
// REPLICAS, LEADERS, then its replica of the meta shard: META role, META TERM, META APPLIED, and
// ERROR); json {"nodes":[{"endpoint","node_id","name","version","cluster_id","uptime_seconds",
// "replicas","leaders","meta":{"role","term","leader_node_id","commit_index","applied_index",
// "last_index"}}]}, or {"endpoint","error":{"code","message"}} for one that failed.
std::string FormatStatus(const std::vector<EndpointStatus>& nodes, OutputFormat format);

}  // namespace claw::clawctl
