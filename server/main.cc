// clawd's entry point: --help, --version and `clawd demo` (a local in-process cluster, see
// server/demo.h). The node itself (config, storage, raft workers, gRPC services) lands later.
//
// Exit codes follow sysexits.h: 0 on success, 64 (EX_USAGE) for a command line it cannot use.

#include <charconv>
#include <cstdio>
#include <string_view>

#include "server/demo.h"
#include "server/version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;  // EX_USAGE

constexpr std::string_view kHelp =
    R"(Usage: clawd [--help | --version]
       clawd demo [--nodes N] [--groups N] [--writes N] [--seed N]

clawd is the daemon of clawd, a clustered, strongly consistent key-value database.
Each clawd process is one node of a cluster; it hosts replicas of many shards, each
replicated by its own Raft group.

This build has no networked node yet. `clawd demo` runs a local cluster in one
process over virtual time: each node hosts one Raft replica per shard; it elects
leaders, commits writes, lets idle groups hibernate, kills the node leading the most
groups, fails over, restarts it and checks that every replica holds the same history.

Options:
  -h, --help       Print this help and exit.
  -V, --version    Print the version and exit.

demo options:
  --nodes N        Nodes in the cluster, 1..7 (default 3).
  --groups N       Raft groups (shards) per node, 1..100000 (default 16).
  --writes N       Writes per group in each write phase, 1..1000000 (default 100).
  --seed N         Seed of the election-timeout randomization (default 1).

Exit codes: 0 success, 1 demo check failed, 64 usage error.
)";

int UsageError(std::string_view what, std::string_view arg) {
  std::fprintf(stderr, "clawd: %.*s '%.*s'\nRun 'clawd --help' for usage.\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(arg.size()),
               arg.data());
  return kExitUsage;
}

// Parses "--flag N" with N in [lo, hi]; returns false (after printing why) on bad input.
bool ParseBounded(std::string_view flag, const char* text, uint64_t lo, uint64_t hi,
                  uint64_t& out) {
  const std::string_view s = text == nullptr ? std::string_view() : std::string_view(text);
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    std::fprintf(stderr, "clawd demo: %.*s needs an integer in [%llu, %llu], got '%.*s'\n",
                 static_cast<int>(flag.size()), flag.data(), static_cast<unsigned long long>(lo),
                 static_cast<unsigned long long>(hi), static_cast<int>(s.size()), s.data());
    return false;
  }
  out = v;
  return true;
}

int Demo(int argc, char** argv) {
  claw::server::DemoOptions opts;
  for (int i = 2; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    uint64_t v = 0;
    if (flag == "--nodes") {
      if (!ParseBounded(flag, value, 1, 7, v)) return kExitUsage;
      opts.nodes = static_cast<int>(v);
    } else if (flag == "--groups") {
      if (!ParseBounded(flag, value, 1, 100'000, v)) return kExitUsage;
      opts.groups = static_cast<int>(v);
    } else if (flag == "--writes") {
      if (!ParseBounded(flag, value, 1, 1'000'000, v)) return kExitUsage;
      opts.writes_per_group = static_cast<int>(v);
    } else if (flag == "--seed") {
      if (!ParseBounded(flag, value, 0, UINT64_MAX, v)) return kExitUsage;
      opts.seed = v;
    } else {
      return UsageError("unknown demo option", flag);
    }
  }
  return claw::server::RunDemo(opts, stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(
        "clawd: no command given (the node is not implemented yet; try 'clawd demo').\n"
        "Run 'clawd --help' for usage.\n",
        stderr);
    return kExitUsage;
  }
  const std::string_view arg = argv[1];
  if (arg == "demo") return Demo(argc, argv);
  const bool help = arg == "-h" || arg == "--help";
  const bool version = arg == "-V" || arg == "--version";
  if (!help && !version) {
    return UsageError(arg.starts_with('-') ? "unknown option" : "unknown command", arg);
  }
  if (argc > 2) return UsageError("unexpected argument", argv[2]);
  if (help) {
    std::fwrite(kHelp.data(), 1, kHelp.size(), stdout);
  } else {
    std::printf("clawd %s\n", CLAW_VERSION);
  }
  return kExitOk;
}
