// Parsers and formatters for the value syntaxes of config keys: integers, byte sizes, durations,
// booleans, host:port addresses, labels and initial_cluster lists. The same parser serves a YAML
// scalar, an environment variable and a flag value. Each returns the value or a one-line problem
// that says what was expected and what was given (the caller adds where and which key). Pure
// functions, no state.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace claw::config {

// A decimal integer: digits only, no sign, no leading zeros (YAML 1.1 would read 010 as octal),
// no separators; rejects negatives and values above 2^64-1 with their own message.
[[nodiscard]] std::expected<uint64_t, std::string> ParseUint(std::string_view text);

// A byte size: an integer with an optional unit B, KiB, MiB, GiB or TiB ("64MiB", "64 MiB",
// "4096"). Decimal units (KB, MB, GB, TB, K, M, G) are refused as ambiguous.
[[nodiscard]] std::expected<uint64_t, std::string> ParseBytes(std::string_view text);

// A duration in milliseconds: an integer (milliseconds) or an integer with a unit ms, s, m or h
// ("5s", "100ms", "10m").
[[nodiscard]] std::expected<uint64_t, std::string> ParseMillis(std::string_view text);

// Exactly "true" or "false".
[[nodiscard]] std::expected<bool, std::string> ParseBool(std::string_view text);

// One of LogLevelName()'s names.
[[nodiscard]] std::expected<LogLevel, std::string> ParseLogLevel(std::string_view text);

// host:port with port 1..65535. host is a DNS name or IPv4 address ([A-Za-z0-9.-], at most 253
// characters) or a bracketed IPv6 address ("[::1]:7379").
[[nodiscard]] std::expected<std::string, std::string> ParseHostPort(std::string_view text);

// True when `addr` (valid host:port) binds every interface: 0.0.0.0 or [::].
bool IsWildcardAddr(std::string_view addr);
// The port of a valid host:port.
std::string_view PortOf(std::string_view addr);

// A node name (min_len 1) or placement label (min_len 0): at most 64 of [A-Za-z0-9._-].
[[nodiscard]] std::expected<std::string, std::string> ParseLabel(std::string_view text,
                                                                 size_t min_len);

// "n1=host:port,n2=host:port": whitespace around entries is ignored; names and addresses must be
// unique, addresses must not be wildcards, at most 64 members. Empty text = empty list.
[[nodiscard]] std::expected<std::vector<Member>, std::string> ParseInitialCluster(
    std::string_view text);
std::string FormatInitialCluster(const std::vector<Member>& members);

// "host:port,host:port": whitespace around entries is ignored; no duplicates, no wildcards, at
// most 64 entries. Empty text = empty list.
[[nodiscard]] std::expected<std::vector<std::string>, std::string> ParseAddrList(std::string_view text);

// The largest exact unit: 67108864 -> "64MiB", 1000 -> "1000".
std::string FormatBytes(uint64_t bytes);

}  // namespace claw::config
