// clawbench's command line, parsed by hand into Options (no exceptions, precise messages).
// Shaped like etcd's `benchmark` tool: global flags, then a workload command with its own
// flags; flags may appear anywhere on the line, as `--flag value` or `--flag=value`.
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

#include "tools/clawbench/keys.h"

namespace claw::clawbench {

// Exit codes (also in --help and tools/README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitErrors = 1;  // the run completed but some requests failed, or setup failed
inline constexpr int kExitUsage = 2;   // bad command line

enum class TargetKind : uint8_t { kClawd, kEtcd };
enum class Workload : uint8_t { kPut, kGet, kMixed, kScan, kBatch, kCheckpoint };
enum class OutputFormat : uint8_t { kText, kJson };
enum class ReadConsistency : uint8_t { kLinearizable, kSerializable };
enum class WriteDurability : uint8_t { kQuorum, kLeader };

struct Options {
  bool help = false;
  TargetKind target = TargetKind::kClawd;
  Workload workload = Workload::kPut;
  std::string workload_name = "put";  // as typed: get and range are one workload
  std::vector<std::string> endpoints;  // default by target
  int conns = 1;
  int clients = 1;
  uint64_t total = 10000;              // requests; 0 = until --duration
  std::chrono::milliseconds duration{0};  // 0 = until --total
  double rate = 0;                     // requests per second in total; 0 = closed loop
  std::chrono::milliseconds timeout{10000};       // per request
  std::chrono::milliseconds dial_timeout{5000};
  // clawd: the client library's Multiplex streams (ClientOptions::multiplex); off = unary RPCs.
  bool multiplex = true;
  // clawd: puts, gets and batches through the library's asynchronous calls (PutAsync, GetAsync,
  // BatchAsync: answered on its stream readers) instead of its blocking calls on a pool of
  // `clients` threads.
  bool async_calls = true;
  OutputFormat format = OutputFormat::kText;
  WriteDurability durability = WriteDurability::kQuorum;
  uint64_t seed = 1;

  // Keys and values.
  size_t key_size = 8;
  size_t val_size = 8;
  uint64_t key_space_size = 10000;
  bool sequential_keys = false;
  KeyDistribution key_dist = KeyDistribution::kUniform;
  double zipf_theta = 0.99;

  ReadConsistency consistency = ReadConsistency::kLinearizable;  // get, range, mixed, scan
  double read_ratio = 0.5;        // mixed
  uint64_t scan_limit = 100;      // scan: keys per request
  uint64_t ops_per_request = 10;  // batch
  // checkpoint: sections per client's checkpoint, and whether it is SYNCHRONOUS.
  uint64_t sections = 16;
  bool sync_replication = false;
};

// Parses argv[1..]; the error is a one-line message for stderr (exit kExitUsage).
[[nodiscard]] std::expected<Options, std::string> ParseOptions(const std::vector<std::string>& args);

// "10s", "500ms", "2m", "1.5s", a bare number = seconds; nullopt when malformed or negative.
[[nodiscard]] std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The text of --help.
std::string UsageText();

std::string_view WorkloadName(Workload w);
std::string_view TargetName(TargetKind t);

}  // namespace claw::clawbench
