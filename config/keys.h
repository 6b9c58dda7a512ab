// The table of every config key: its YAML path, value kind, range, one-line doc and the Config
// field it sets. Flag and environment names are derived from the path, so the three spellings
// can never drift apart: `raft.election_ticks` <-> `--raft-election-ticks` <->
// `CLAWD_RAFT_ELECTION_TICKS`. Loading, validation, --print-config and --help all walk this one
// table (config/keys.cc). Immutable static data; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"

namespace claw::config {

enum class KeyKind : uint8_t {
  kPath,         // non-empty string
  kName,         // node name: 1..64 of [A-Za-z0-9._-]
  kLabel,        // placement label: 0..64 of [A-Za-z0-9._-]
  kAddr,         // host:port
  kOptionalAddr, // host:port or empty
  kCluster,      // name=host:port,... (YAML also takes a sequence of name=host:port)
  kAddrList,     // host:port,... (YAML also takes a sequence of host:port)
  kLogLevel,     // trace .. off
  kCount,        // integer in [min, max]
  kBytes,        // byte size in [min, max]
  kMillis,       // duration in milliseconds in [min, max]
  kBool,         // true | false
};

// A pointer to the Config field a key sets.
using FieldRef = std::variant<std::string*, std::vector<Member>*, std::vector<std::string>*, LogLevel*,
                              bool*, int*, uint32_t*, uint64_t*>;

struct KeySpec {
  std::string_view path{};  // YAML path: "name", "raft.election_ticks"
  KeyKind kind = KeyKind::kPath;
  uint64_t min = 0;  // numeric kinds only, inclusive
  uint64_t max = 0;
  std::string_view doc{};  // one line, for --help and --print-config
  FieldRef (*field)(Config&) = nullptr;
};

// Every key, top-level keys first, then by section in a fixed order.
std::span<const KeySpec> AllKeys();
// The section names ("raft", "storage", ...), in table order.
std::span<const std::string_view> Sections();

const KeySpec* FindKey(std::string_view path);
const KeySpec* FindKeyByFlag(std::string_view flag);  // flag without the leading "--"
const KeySpec* FindKeyByEnv(std::string_view env);

std::string FlagName(const KeySpec& key);  // "--raft-election-ticks"
std::string EnvName(const KeySpec& key);   // "CLAWD_RAFT_ELECTION_TICKS"

// Parses `text` for `key`, checks its range and stores it in `config`; the error is a one-line
// problem without location or key name.
[[nodiscard]] std::optional<std::string> SetFromText(const KeySpec& key, std::string_view text,
                                                     Config& config);
// The value of `key` in `config` as SetFromText accepts it back ("64MiB", "true", "n1=...").
std::string ValueText(const KeySpec& key, const Config& config);

// "did you mean X?" for the candidate closest to `word`, or "" when none is close.
std::string Suggest(std::string_view word, std::span<const std::string> candidates);

}  // namespace claw::config
