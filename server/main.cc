// clawd's entry point: runs a node (server/node.h) configured by config/ (file, CLAWD_* env,
// flags), or `clawd demo` (a local in-process cluster over virtual time, see server/demo.h).
//
// Exit codes follow sysexits.h: 0 on success (including a clean SIGTERM/SIGINT shutdown), 64
// (EX_USAGE) for a demo command line it cannot use, 78 (EX_CONFIG) for any configuration error,
// and the codes of server::StartError when the node cannot start.

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include <pthread.h>
#include <signal.h>

#include <string>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "client/grpc_runtime.h"
#include "config/load.h"
#include "raft/check.h"
#include "server/demo.h"
#include "server/node.h"
#include "server/version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG

constexpr std::string_view kHelp =
    R"(Usage: clawd [OPTIONS]            run a node (see the options below)
       clawd demo [--nodes N] [--groups N] [--writes N] [--seed N]
       clawd --version

clawd is the daemon of clawd, a clustered, strongly consistent key-value database.
Each clawd process is one node of a cluster; it hosts replicas of many shards, each
replicated by its own Raft group, and serves the claw.v1 gRPC API (KV, Cluster,
grpc.health.v1, reflection) on its client address.

With no options at all, clawd starts a single-node cluster in ./clawd-data, serving
clients on 127.0.0.1:7379. A three-node cluster on one machine:

  clawd --name n1 --data-dir d1 --client-addr 127.0.0.1:7379 --peer-addr 127.0.0.1:7380 \
        --http-addr 127.0.0.1:7381 --initial-cluster n1=127.0.0.1:7380,n2=127.0.0.1:7480,n3=127.0.0.1:7580
  (and n2, n3 likewise with their own ports and data directories)

SIGTERM or SIGINT stops the node gracefully: health turns NOT_SERVING, the shards it
leads move to other nodes, in-flight requests finish, the database closes; exit 0.

`clawd demo` runs a local cluster in one process over virtual time (no network): it
elects, writes, hibernates idle groups, kills the busiest leader node, fails over,
restarts it and checks that every replica holds the same history. Options: --nodes
1..7 (3), --groups 1..100000 (16), --writes 1..1000000 (100), --seed N (1).

Exit codes: 0 success; 1 demo check failed; 64 usage error (demo); 78 configuration
error; 69 a listen address is unavailable; 73 the data directory cannot be created;
74 I/O error or corrupt data; 76 the data directory belongs to another node or cluster.

Operations: GET /metrics (Prometheus), /healthz (the node's loops progress) and /readyz
(the local store is recovered and the node serves) on http_addr. Under systemd
(deploy/systemd/clawd.service, Type=notify) clawd reports READY once it serves (never
waiting for quorum), STATUS lines, WATCHDOG pings only while its raft and log loops
progress, and STOPPING; logs then go to the journal with their priority.

Configuration: defaults < YAML file (--config FILE) < CLAWD_* environment < flags.
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

// "<N>" syslog priority prefix of a log line (sd-daemon(3)): journald reads it as the entry's
// priority, so `journalctl -p warning` and colours work for clawd's own levels.
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    int priority = 6;  // info
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: priority = 7; break;
      case spdlog::level::info: priority = 6; break;
      case spdlog::level::warn: priority = 4; break;
      case spdlog::level::err: priority = 3; break;
      case spdlog::level::critical: priority = 2; break;
      default: break;
    }
    const char text[] = {'<', static_cast<char>('0' + priority), '>'};
    dest.append(text, text + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriority>(); }
};

// A failed invariant of the Raft core (raft/check.h) aborts the process (fail-stop); the core has
// no logger, so this says where and why first. Found by tests/fault S17: a node whose WAL lost
// acknowledged entries aborted on its leader's first heartbeat without a word.
void OnRaftCheckFailure(const char* file, int line, const char* message) {
  spdlog::critical("raft invariant violated at {}:{}: {}; stopping (fail-stop: its storage is corrupt or lost "
                   "acknowledged entries, or a bug)",
                   file, line, message);
  spdlog::default_logger()->flush();
}

void SetUpLogging(const claw::config::Config& config) {
  auto logger = spdlog::stderr_color_mt("clawd");
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    // Under systemd, stderr goes to the journal: it stamps the time itself and takes the
    // priority from the line's prefix.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%L [" + config.name + "] %v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [" + config.name + "] %v");
  }
  logger->set_level(static_cast<spdlog::level::level_enum>(config.log_level));
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  spdlog::flush_on(spdlog::level::warn);
  claw::raft::SetCheckFailureHandler(OnRaftCheckFailure);
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

// Runs a node until SIGTERM or SIGINT, then shuts it down gracefully.
int Serve(const std::vector<std::string>& args, char** envp) {
  auto loaded = claw::config::Load(args, claw::config::EnvironmentFrom(envp));
  if (!loaded) {
    std::fprintf(stderr, "clawd: configuration error:\n%s\n", loaded.error().message.c_str());
    return kExitConfig;
  }
  if (loaded->help) {
    std::fwrite(kHelp.data(), 1, kHelp.size(), stdout);
    std::fputs(claw::config::HelpText().c_str(), stdout);
    return kExitOk;
  }
  if (loaded->print_config) {
    std::fputs(claw::config::ToYaml(loaded->config).c_str(), stdout);
    return kExitOk;
  }
  if (loaded->check_config) {
    std::fputs(claw::config::CheckReport(*loaded).c_str(), stdout);
    return kExitOk;
  }
  const claw::config::Config& config = loaded->config;
  // Signals are taken synchronously by this thread. Block them before any thread exists (the log
  // flusher is the first): every thread inherits the mask, so none dies of a SIGTERM.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  SetUpLogging(config);
  auto node = claw::server::Node::Start(config);
  if (!node) {
    spdlog::critical("cannot start: {}", node.error().message);
    return node.error().exit_code;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("{} received: shutting down (health NOT_SERVING, moving leaderships, draining)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*node)->Shutdown();
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv, char** envp) {
  claw::client::DisableLockOrderChecks();
  const std::string_view arg = argc > 1 ? argv[1] : "";
  if (arg == "demo") return Demo(argc, argv);
  if (arg == "-V" || arg == "--version") {
    if (argc > 2) return UsageError("unexpected argument", argv[2]);
    std::printf("clawd %s\n", CLAW_VERSION);
    return kExitOk;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  return Serve(args, envp);
}
