// The text config/ produces: --print-config YAML, --help and the --check-config report. All of it
// is generated from the key table (config/keys.cc), so it always covers every key.

#include <cstdio>
#include <string>
#include <string_view>

#include "config/keys.h"
#include "config/load.h"
#include "config/values.h"

namespace claw::config {
namespace {

// A YAML double-quoted scalar.
std::string QuoteYaml(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(c) & 0xffu);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool IsStringKind(KeyKind kind) {
  switch (kind) {
    case KeyKind::kPath:
    case KeyKind::kName:
    case KeyKind::kLabel:
    case KeyKind::kAddr:
    case KeyKind::kOptionalAddr:
    case KeyKind::kCluster:
    case KeyKind::kAddrList:
      return true;
    default:
      return false;
  }
}

std::string_view SectionOf(const KeySpec& key) {
  const size_t dot = key.path.find('.');
  return dot == std::string_view::npos ? std::string_view() : key.path.substr(0, dot);
}

std::string_view Placeholder(KeyKind kind) {
  switch (kind) {
    case KeyKind::kPath: return "DIR";
    case KeyKind::kName: return "NAME";
    case KeyKind::kLabel: return "LABEL";
    case KeyKind::kAddr: return "HOST:PORT";
    case KeyKind::kOptionalAddr: return "HOST:PORT";
    case KeyKind::kCluster: return "NAME=HOST:PORT,...";
    case KeyKind::kAddrList: return "HOST:PORT,...";
    case KeyKind::kLogLevel: return "LEVEL";
    case KeyKind::kCount: return "N";
    case KeyKind::kBytes: return "BYTES";
    case KeyKind::kMillis: return "MS";
    case KeyKind::kBool: return "[=true|false]";
  }
  return "VALUE";
}

std::string RangeText(const KeySpec& key) {
  switch (key.kind) {
    case KeyKind::kCount:
      return std::to_string(key.min) + ".." + std::to_string(key.max);
    case KeyKind::kBytes:
      return FormatBytes(key.min) + ".." + FormatBytes(key.max);
    case KeyKind::kMillis:
      return std::to_string(key.min) + ".." + std::to_string(key.max) + " ms";
    default:
      return {};
  }
}

std::string DefaultText(const KeySpec& key) {
  const std::string value = ValueText(key, Config{});
  return value.empty() ? "\"\"" : value;
}

// Word-wraps `text` into lines of at most `width` characters, each prefixed with `indent`.
std::string Wrap(std::string_view text, std::string_view indent, size_t width) {
  std::string out;
  std::string line(indent);
  while (!text.empty()) {
    const size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    if (line.size() > indent.size() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = indent;
    }
    if (line.size() > indent.size()) line += ' ';
    line += word;
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
  return out + line + "\n";
}

std::string Pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text + " ";
}

constexpr std::string_view kHelpIntro =
    R"(Usage: clawd [flags]

Configuration comes from built-in defaults, then the YAML file named by --config (or
CLAWD_CONFIG), then CLAWD_* environment variables, then flags; each overrides the one before.
Every key has a flag and a variable: raft.election_ticks is --raft-election-ticks and
CLAWD_RAFT_ELECTION_TICKS. Flags: --flag VALUE or --flag=VALUE; booleans --flag or
--flag=true|false. Sizes: 4096, 512KiB, 64MiB, 1GiB. Durations (*_ms): 100, 100ms, 5s, 10m, 1h.
Unknown keys, flags and CLAWD_* variables are errors. Exit code 78 on a config error.

General:
  --config FILE                              CLAWD_CONFIG
      YAML config file. Default: none (defaults, environment and flags only).
  --print-config
      Print the effective configuration as YAML (a valid config file) and exit.
  --check-config
      Check the configuration, print a summary and exit.
  -h, --help
      Print this help and exit.
)";

}  // namespace

std::string ToYaml(const Config& config) {
  std::string out =
      "# clawd effective configuration (clawd --print-config).\n"
      "# Precedence: defaults < this file < CLAWD_* environment < flags.\n";
  std::string_view section;
  for (const KeySpec& key : AllKeys()) {
    const std::string_view key_section = SectionOf(key);
    const std::string indent = key_section.empty() ? "" : "  ";
    if (key_section != section) {
      section = key_section;
      out += "\n" + std::string(section) + ":\n";
    }
    const std::string value = ValueText(key, config);
    out += indent + "# " + std::string(key.doc) + "\n";
    out += indent + std::string(key.path.substr(section.empty() ? 0 : section.size() + 1)) +
           ": " + (IsStringKind(key.kind) ? QuoteYaml(value) : value) + "\n";
  }
  return out;
}

std::string HelpText() {
  std::string out(kHelpIntro);
  std::string_view section = "-";
  for (const KeySpec& key : AllKeys()) {
    const std::string_view key_section = SectionOf(key);
    if (key_section != section) {
      section = key_section;
      out += section.empty() ? std::string("\nNode:\n")
                             : "\n" + std::string(section) + ".* keys:\n";
    }
    const std::string flag = FlagName(key) + (key.kind == KeyKind::kBool ? "" : " ") +
                             std::string(Placeholder(key.kind));
    out += "  " + Pad(flag, 42) + EnvName(key) + "\n";
    const std::string range = RangeText(key);
    out += Wrap(std::string(key.doc) + " Default " + DefaultText(key) +
                    (range.empty() ? "" : "; " + range) + ". [" + std::string(key.path) + "]",
                "      ", 98);
  }
  return out;
}

std::string CheckReport(const LoadResult& result) {
  const Config& c = result.config;
  size_t id = 0;
  for (size_t i = 0; i < c.initial_cluster.size(); ++i) {
    if (c.initial_cluster[i].name == c.name) id = i + 1;
  }
  std::string out = "config OK: ";
  out += result.config_file.empty() ? "no config file (defaults, environment and flags)"
                                    : result.config_file;
  if (!c.join.empty()) {
    std::string seeds;
    for (const std::string& a : c.join) seeds += (seeds.empty() ? "" : ",") + a;
    out += "\nnode " + c.name + " (joins the cluster at " + seeds + "; node id from its placement service" +
           "), data_dir " + c.data_dir + "\n";
    out += "client " + c.client_addr + " (advertised " + c.advertise_client_addr + "), peer " +
           c.peer_addr + " (advertised " + c.advertise_peer_addr + "), http " + c.http_addr + "\n";
    return out;
  }
  out += "\nnode " + c.name + " (node id " + std::to_string(id) + " of " +
         std::to_string(c.initial_cluster.size()) + "), data_dir " + c.data_dir + "\n";
  out += "client " + c.client_addr + " (advertised " + c.advertise_client_addr + "), peer " +
         c.peer_addr + ", http " + c.http_addr + "\n";
  out += "initial_cluster " + FormatInitialCluster(c.initial_cluster) + "\n";
  return out;
}

}  // namespace claw::config
