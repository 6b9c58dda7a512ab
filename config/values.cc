#include "config/values.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace claw::config {
namespace {

constexpr size_t kMaxLabelLen = 64;
constexpr size_t kMaxHostLen = 253;
constexpr size_t kMaxMembers = 64;

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "64MiB" / "64 MiB" into digits and unit.
std::pair<std::string_view, std::string_view> SplitNumber(std::string_view text) {
  size_t n = 0;
  while (n < text.size() && IsDigit(text[n])) ++n;
  std::string_view unit = text.substr(n);
  if (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return {text.substr(0, n), unit};
}

// Multiplies `value` by `factor`, refusing overflow.
std::expected<uint64_t, std::string> Scale(uint64_t value, uint64_t factor,
                                           std::string_view text) {
  if (factor != 0 && value > UINT64_MAX / factor) {
    return std::unexpected("value " + Quote(text) + " is too large");
  }
  return value * factor;
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
}

bool IsIpv6Char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
}

std::expected<void, std::string> CheckHost(std::string_view host, std::string_view text) {
  if (host.empty()) return std::unexpected("host is missing in " + Quote(text));
  if (host.front() == '[') {
    const bool bracketed = host.size() > 2 && host.back() == ']';
    const std::string_view inner = bracketed ? host.substr(1, host.size() - 2) : host;
    bool ok = bracketed && inner.find(':') != std::string_view::npos;
    for (char c : inner) ok = ok && IsIpv6Char(c);
    if (!ok) return std::unexpected("invalid IPv6 address " + Quote(host) + " in " + Quote(text));
    return {};
  }
  if (host.find(':') != std::string_view::npos) {
    return std::unexpected("write an IPv6 address in brackets, such as [::1]:7379; got " +
                           Quote(text));
  }
  if (host.size() > kMaxHostLen) return std::unexpected("host name is longer than 253 characters");
  for (char c : host) {
    if (!IsHostChar(c)) {
      return std::unexpected("host " + Quote(host) + " may hold only letters, digits, '.' and "
                             "'-'");
    }
  }
  return {};
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "trace", "debug", "info", "warn", "error", "critical", "off"};
  return kNames[static_cast<size_t>(level)];
}

std::expected<uint64_t, std::string> ParseUint(std::string_view text) {
  if (text.empty()) return std::unexpected(std::string("expected an integer, got an empty value"));
  if (text.front() == '-') {
    return std::unexpected("must not be negative, got " + Quote(text));
  }
  uint64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::unexpected("expected an integer, got " + Quote(text));
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return std::unexpected("integer " + Quote(text) + " is too large");
    }
    value = value * 10 + digit;
  }
  if (text.size() > 1 && text.front() == '0') {
    return std::unexpected("leading zeros are not allowed (YAML may read them as octal), got " +
                           Quote(text));
  }
  return value;
}

std::expected<uint64_t, std::string> ParseBytes(std::string_view text) {
  const auto [digits, unit] = SplitNumber(text);
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 6> kUnits = {{
      {"", 1}, {"B", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}, {"TiB", kGiB * kKiB}}};
  static constexpr std::array<std::string_view, 12> kAmbiguous = {
      "K", "KB", "kB", "k", "M", "MB", "G", "GB", "T", "TB", "kb", "mb"};
  const std::string expected =
      "expected a byte size: an integer with an optional unit B, KiB, MiB, GiB or TiB, such as "
      "64MiB; got " + Quote(text);
  if (digits.empty()) {
    if (!text.empty() && text.front() == '-') {
      return std::unexpected("must not be negative, got " + Quote(text));
    }
    return std::unexpected(expected);
  }
  const auto value = ParseUint(digits);
  if (!value) return std::unexpected(value.error());
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return Scale(*value, factor, text);
  }
  for (std::string_view name : kAmbiguous) {
    if (unit == name) {
      return std::unexpected("unit " + Quote(unit) + " is ambiguous; write KiB, MiB, GiB or TiB "
                             "(powers of 1024) or a plain number of bytes; got " + Quote(text));
    }
  }
  return std::unexpected(expected);
}

std::expected<uint64_t, std::string> ParseMillis(std::string_view text) {
  const auto [digits, unit] = SplitNumber(text);
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 5> kUnits = {
      {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
  if (digits.empty()) {
    if (!text.empty() && text.front() == '-') {
      return std::unexpected("must not be negative, got " + Quote(text));
    }
    return std::unexpected("expected a duration: integer milliseconds, or an integer with a unit "
                           "ms, s, m or h, such as 5s; got " + Quote(text));
  }
  const auto value = ParseUint(digits);
  if (!value) return std::unexpected(value.error());
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return Scale(*value, factor, text);
  }
  return std::unexpected("expected a duration: integer milliseconds, or an integer with a unit "
                         "ms, s, m or h, such as 5s; got " + Quote(text));
}

std::expected<bool, std::string> ParseBool(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return std::unexpected("expected true or false, got " + Quote(text));
}

std::expected<LogLevel, std::string> ParseLogLevel(std::string_view text) {
  for (int i = 0; i <= static_cast<int>(LogLevel::kOff); ++i) {
    if (LogLevelName(static_cast<LogLevel>(i)) == text) return static_cast<LogLevel>(i);
  }
  return std::unexpected(
      "expected one of trace, debug, info, warn, error, critical, off; got " + Quote(text));
}

std::expected<std::string, std::string> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || (text.front() == '[' && text[colon - 1] != ']')) {
    return std::unexpected("expected host:port, such as 127.0.0.1:7379; got " + Quote(text));
  }
  if (auto host = CheckHost(text.substr(0, colon), text); !host) {
    return std::unexpected(host.error());
  }
  const std::string_view port_text = text.substr(colon + 1);
  const auto port = ParseUint(port_text);
  if (!port || *port == 0 || *port > 65535) {
    return std::unexpected("port must be an integer in [1, 65535], got " + Quote(port_text) +
                           " in " + Quote(text));
  }
  return std::string(text);
}

bool IsWildcardAddr(std::string_view addr) {
  const std::string_view host = addr.substr(0, addr.rfind(':'));
  return host == "0.0.0.0" || host == "[::]";
}

std::string_view PortOf(std::string_view addr) { return addr.substr(addr.rfind(':') + 1); }

std::expected<std::string, std::string> ParseLabel(std::string_view text, size_t min_len) {
  if (text.size() < min_len) return std::unexpected(std::string("must not be empty"));
  if (text.size() > kMaxLabelLen) {
    return std::unexpected("must be at most 64 characters, got " + std::to_string(text.size()));
  }
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') {
      return std::unexpected("may hold only letters, digits, '.', '_' and '-'; got " +
                             Quote(text));
    }
  }
  return std::string(text);
}

namespace {

std::expected<Member, std::string> ParseMember(std::string_view entry) {
  const size_t eq = entry.find('=');
  if (eq == std::string_view::npos) {
    return std::unexpected("entry " + Quote(entry) + " is not name=host:port");
  }
  auto name = ParseLabel(entry.substr(0, eq), 1);
  if (!name) return std::unexpected("member name in " + Quote(entry) + " " + name.error());
  auto addr = ParseHostPort(entry.substr(eq + 1));
  if (!addr) return std::unexpected("member " + *name + ": " + addr.error());
  if (IsWildcardAddr(*addr)) {
    return std::unexpected("member " + *name + ": " + Quote(*addr) +
                           " is a wildcard; other nodes must be able to dial it");
  }
  return Member{std::move(*name), std::move(*addr)};
}


// The trimmed entries of a comma-separated list (none for blank text); an empty entry (a stray
// comma) is an error naming its position.
std::expected<std::vector<std::string_view>, std::string> SplitList(std::string_view text) {
  std::vector<std::string_view> entries;
  if (Trim(text).empty()) return entries;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view entry = Trim(text.substr(start, end - start));
    if (entry.empty()) {
      return std::unexpected("empty entry at position " + std::to_string(entries.size() + 1) +
                             " (stray comma?) in " + Quote(text));
    }
    entries.push_back(entry);
    start = end + 1;
  }
  return entries;
}

}  // namespace

std::expected<std::vector<Member>, std::string> ParseInitialCluster(std::string_view text) {
  auto entries = SplitList(text);
  if (!entries) return std::unexpected(entries.error());
  std::vector<Member> members;
  for (const std::string_view entry : *entries) {
    auto member = ParseMember(entry);
    if (!member) return std::unexpected(member.error());
    for (const Member& m : members) {
      if (m.name == member->name) {
        return std::unexpected("member name " + Quote(m.name) + " appears twice");
      }
      if (m.peer_addr == member->peer_addr) {
        return std::unexpected("members " + m.name + " and " + member->name +
                               " have the same address " + m.peer_addr);
      }
    }
    members.push_back(std::move(*member));
    if (members.size() > kMaxMembers) {
      return std::unexpected(std::string("at most 64 members are allowed"));
    }
  }
  return members;
}

std::expected<std::vector<std::string>, std::string> ParseAddrList(std::string_view text) {
  auto entries = SplitList(text);
  if (!entries) return std::unexpected(entries.error());
  std::vector<std::string> out;
  for (const std::string_view entry : *entries) {
    auto addr = ParseHostPort(entry);
    if (!addr) return std::unexpected(addr.error());
    if (IsWildcardAddr(*addr)) {
      return std::unexpected(*addr + " binds every interface; give an address this node can dial");
    }
    if (std::find(out.begin(), out.end(), *addr) != out.end()) {
      return std::unexpected("address " + *addr + " appears twice");
    }
    out.push_back(std::move(*addr));
    if (out.size() > kMaxMembers) return std::unexpected(std::string("at most 64 addresses are allowed"));
  }
  return out;
}

std::string FormatInitialCluster(const std::vector<Member>& members) {
  std::string out;
  for (const Member& m : members) {
    if (!out.empty()) out += ',';
    out += m.name + "=" + m.peer_addr;
  }
  return out;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 4> kUnits = {
      {{"TiB", kGiB * kKiB}, {"GiB", kGiB}, {"MiB", kMiB}, {"KiB", kKiB}}};
  for (const auto& [name, factor] : kUnits) {
    if (bytes != 0 && bytes % factor == 0) return std::to_string(bytes / factor) + std::string(name);
  }
  return std::to_string(bytes);
}

}  // namespace claw::config
