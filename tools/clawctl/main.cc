// clawctl: the command-line client of a clawd cluster. Parses the command line (args.h), opens
// a Client on the endpoints, runs one command (commands.h) and exits with its code.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "client/client.h"
#include "client/grpc_runtime.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/commands.h"
#include "tools/clawctl/completion.h"

namespace {

// Whether file descriptor `fd` (0: stdin, 2: stderr) is a terminal. isatty() is in <unistd.h>,
// outside tools/' include boundary (STYLE.md), so this asks Linux's /proc what the descriptor
// is: a character device named /dev/pts/N, /dev/ttyN or /dev/console. Anything else (a pipe, a
// file, /dev/null, no /proc) counts as no terminal — the safe side: split, move, node drain and
// node remove then need --yes, and long commands print no progress.
bool IsTerminal(int fd) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path link = "/proc/self/fd/" + std::to_string(fd);
  if (!fs::is_character_file(link, ec) || ec) return false;
  const std::string target = fs::read_symlink(link, ec).string();
  if (ec) return false;
  return target.starts_with("/dev/pts/") || target.starts_with("/dev/tty") || target == "/dev/console";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace claw::clawctl;
  claw::client::DisableLockOrderChecks();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto inv = ParseArgs(args, EnvironmentOf([](const char* name) { return std::getenv(name); }));
  if (!inv) {
    std::cerr << "Error: " << inv.error() << "\n(run `clawctl --help` for usage)\n";
    return kExitUsage;
  }
  if (inv->command == Command::kHelp) {
    std::cout << HelpText(inv->help_topic);
    return kExitOk;
  }
  if (inv->command == Command::kVersion) {
    std::cout << "clawctl version: " << CLAW_VERSION << "\nAPI version: claw.v1\n";
    return kExitOk;
  }
  if (inv->command == Command::kCompletion) {
    std::cout << BashCompletionScript();
    return kExitOk;
  }
  inv->global.progress = IsTerminal(2);
  claw::client::ClientOptions options;
  options.endpoints = inv->global.endpoints;
  options.default_deadline = inv->global.timeout;
  options.async_threads = 1;
  auto client = claw::client::Client::Open(options);
  if (!client) {
    std::cerr << FormatError(client.error());
    return kExitUsage;
  }
  const Interactive interactive = IsTerminal(0) ? Interactive::kYes : Interactive::kNo;
  const int code = RunCommand(*inv, **client, std::cin, std::cout, std::cerr, interactive);
  std::cout.flush();
  return code;
}
