// Load(): the command line is parsed first (it names the file and the mode), then the layers are
// applied in precedence order — file, environment, flags — each overwriting the previous, and the
// result is resolved and cross-checked. Problems are collected, not returned at the first one, so
// that an operator fixes a config in one pass.

#include "config/load.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "config/keys.h"
#include "config/load_state.h"

namespace claw::config {

void LoadState::Error(std::string_view where, std::string_view key, std::string_view problem) {
  std::string line(where);
  line += ": ";
  if (!key.empty()) line.append(key).append(": ");
  line += problem;
  errors.push_back(std::move(line));
}

void LoadState::Set(const KeySpec& key, std::string_view text, const std::string& where) {
  if (auto problem = SetFromText(key, text, config)) {
    Error(where, key.path, *problem);
    return;
  }
  origin[key.path] = where;
}

namespace {

constexpr std::string_view kEnvPrefix = "CLAWD_";
constexpr std::string_view kConfigEnv = "CLAWD_CONFIG";

struct FlagValue {
  const KeySpec* key = nullptr;
  std::string value{};
  std::string flag{};  // as spelled on the command line, without "=value"
};

struct CommandLine {
  std::optional<std::string> config_file{};
  bool print_config = false;
  bool check_config = false;
  std::vector<FlagValue> values{};
};

std::vector<std::string> AllFlagNames() {
  std::vector<std::string> names = {"--config", "--print-config", "--check-config", "--help"};
  for (const KeySpec& key : AllKeys()) names.push_back(FlagName(key));
  return names;
}

std::vector<std::string> AllEnvNames() {
  std::vector<std::string> names = {std::string(kConfigEnv)};
  for (const KeySpec& key : AllKeys()) names.push_back(EnvName(key));
  return names;
}

// Handles one argument at args[i] (advancing i past a separate value); records errors in state.
void ParseFlag(std::span<const std::string> args, size_t& i, std::set<std::string>& seen,
               CommandLine& line, LoadState& state) {
  const std::string& arg = args[i];
  if (!arg.starts_with("--") || arg.size() == 2) {
    const KeySpec* previous = i > 0 && args[i - 1].starts_with("--")
                                  ? FindKeyByFlag(std::string_view(args[i - 1]).substr(2))
                                  : nullptr;
    const bool after_bool = previous != nullptr && previous->kind == KeyKind::kBool &&
                            (arg == "true" || arg == "false");
    state.Error(arg, "", after_bool ? "unexpected argument; a boolean flag takes its value "
                                      "after '=', as in " + args[i - 1] + "=" + arg
                                    : std::string("unexpected argument; flags start with --"));
    return;
  }
  const size_t eq = arg.find('=');
  const std::string flag = arg.substr(0, eq);
  std::optional<std::string> value;
  if (eq != std::string::npos) value = arg.substr(eq + 1);
  if (!seen.insert(flag).second) {
    state.Error(flag, "", "given more than once; give each flag once");
    return;
  }
  if (flag == "--print-config" || flag == "--check-config") {
    if (value) return state.Error(flag, "", "takes no value");
    (flag == "--print-config" ? line.print_config : line.check_config) = true;
    return;
  }
  const KeySpec* key = flag == "--config" ? nullptr : FindKeyByFlag(flag.substr(2));
  if (key == nullptr && flag != "--config") {
    const std::string hint = Suggest(flag, AllFlagNames());
    return state.Error(flag, "", "unknown flag; " + (hint.empty() ? "run clawd --help" : hint));
  }
  if (!value && key != nullptr && key->kind == KeyKind::kBool) value = "true";
  if (!value) {
    if (i + 1 >= args.size() || args[i + 1].starts_with("--")) {
      return state.Error(flag, "", "needs a value, as in " + flag + " VALUE or " + flag +
                                       "=VALUE");
    }
    value = args[++i];
  }
  if (key == nullptr) {
    if (value->empty()) return state.Error(flag, "", "needs a file path");
    line.config_file = *value;
    return;
  }
  line.values.push_back(FlagValue{key, *value, flag});
}

CommandLine ParseCommandLine(std::span<const std::string> args, LoadState& state) {
  CommandLine line;
  std::set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) ParseFlag(args, i, seen, line, state);
  return line;
}

void ApplyEnvironment(const Environment& env, LoadState& state) {
  Environment sorted = env;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [name, value] : sorted) {
    if (!name.starts_with(kEnvPrefix) || name == kConfigEnv) continue;
    const KeySpec* key = FindKeyByEnv(name);
    if (key == nullptr) {
      const std::string hint = Suggest(name, AllEnvNames());
      state.Error(name, "", "unknown environment variable; " +
                                (hint.empty() ? std::string("unset it or run clawd --help")
                                              : hint));
      continue;
    }
    state.Set(*key, value, name);
  }
}

std::optional<std::string> EnvValue(const Environment& env, std::string_view name) {
  for (const auto& [n, v] : env) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += (out.empty() ? "" : "\n") + line;
  return out;
}

}  // namespace

Environment EnvironmentFrom(const char* const* envp) {
  Environment env;
  for (; envp != nullptr && *envp != nullptr; ++envp) {
    const std::string_view entry = *envp;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with(kEnvPrefix)) continue;
    env.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::expected<LoadResult, ConfigError> Load(std::span<const std::string> args,
                                            const Environment& env) {
  LoadResult result;
  if (std::ranges::any_of(args, [](const std::string& a) { return a == "--help" || a == "-h"; })) {
    result.help = true;
    return result;
  }
  LoadState state;
  const CommandLine line = ParseCommandLine(args, state);
  std::string named_by = "--config";
  if (line.config_file) {
    result.config_file = *line.config_file;
  } else if (auto from_env = EnvValue(env, kConfigEnv); from_env && !from_env->empty()) {
    result.config_file = *from_env;
    named_by = kConfigEnv;
  }
  if (!result.config_file.empty()) ApplyFile(result.config_file, named_by, state);
  ApplyEnvironment(env, state);
  for (const FlagValue& flag : line.values) state.Set(*flag.key, flag.value, flag.flag);
  if (state.errors.empty()) Resolve(state);
  if (!state.errors.empty()) return std::unexpected(ConfigError{Join(state.errors)});
  result.config = std::move(state.config);
  result.print_config = line.print_config;
  result.check_config = line.check_config;
  return result;
}

}  // namespace claw::config
