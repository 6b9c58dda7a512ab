// Loading clawd's configuration: built-in defaults < YAML file < CLAWD_* environment variables <
// command-line flags. Load() reads the file named by --config (or CLAWD_CONFIG), applies the
// environment and the flags, checks every value and every cross-field rule, and returns a
// complete Config or one ConfigError listing every problem it found. Nothing here throws:
// yaml-cpp's exceptions are caught inside. Stateless; Load only reads the config file.
//
// Strict means: unknown keys, flags and CLAWD_* variables are errors (with a "did you mean"
// suggestion), so are duplicate YAML keys, duplicate flags, wrong types, values out of range,
// booleans other than true/false, integers with signs or leading zeros, and a file holding more
// than one YAML document. See config/README.md for the key table and the decisions.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace claw::config {

struct ConfigError {
  // One line per problem, each "WHERE: KEY: PROBLEM", where WHERE is "path:line:col" (1-based)
  // for the file, the variable name for the environment, the flag for the command line. The
  // server prints it and exits with 78 (EX_CONFIG).
  std::string message{};
};

struct LoadResult {
  Config config{};
  std::string config_file{};  // the file that was read; empty if none
  bool print_config = false;  // --print-config: print ToYaml(config) and exit 0
  bool check_config = false;  // --check-config: print CheckReport(result) and exit 0
  bool help = false;          // --help / -h: print HelpText() and exit 0; config is defaults
};

// The process environment as name/value pairs. Only CLAWD_* names matter; others are ignored.
using Environment = std::vector<std::pair<std::string, std::string>>;

// The CLAWD_* entries of a NUL-terminated "NAME=value" array, such as POSIX `environ`.
Environment EnvironmentFrom(const char* const* envp);

// args: the command-line arguments after the program name and subcommand. Flags are `--key
// value` or `--key=value`; booleans are `--key` (true) or `--key=true|false`. Besides one flag
// per key: --config FILE, --print-config, --check-config, --help (-h). With --help, nothing else
// is checked. CLAWD_CONFIG names the file when --config does not; empty CLAWD_CONFIG = no file.
[[nodiscard]] std::expected<LoadResult, ConfigError> Load(std::span<const std::string> args,
                                                          const Environment& env);

// The effective configuration as YAML, every key with a comment; Load accepts it back and
// yields the same Config.
std::string ToYaml(const Config& config);

// Every flag with its environment variable, value syntax, default, range and a one-line doc,
// grouped by section.
std::string HelpText();

// The --check-config report: "config OK" with the file used and the cluster membership.
std::string CheckReport(const LoadResult& result);

}  // namespace claw::config
