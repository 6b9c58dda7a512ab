// clawctl: the command-line client of a clawd cluster. Parses the command line (args.h), opens
// a Client on the endpoints, runs one command (commands.h) and exits with its code.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "client/client.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/commands.h"

namespace {

// Whether standard input is a terminal someone can answer questions on. isatty() is in
// <unistd.h>, outside tools/' include boundary (STYLE.md), so this asks Linux's /proc what file
// descriptor 0 is: a character device named /dev/pts/N, /dev/ttyN or /dev/console. Anything
// else (a pipe, a file, /dev/null, no /proc) counts as no terminal: split, move, node drain and
// node remove then need --yes, the safe side.
claw::clawctl::Interactive StdinInteractive() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path fd0 = "/proc/self/fd/0";
  if (!fs::is_character_file(fd0, ec) || ec) return claw::clawctl::Interactive::kNo;
  const std::string target = fs::read_symlink(fd0, ec).string();
  if (ec) return claw::clawctl::Interactive::kNo;
  const bool terminal = target.starts_with("/dev/pts/") || target.starts_with("/dev/tty") ||
                        target == "/dev/console";
  return terminal ? claw::clawctl::Interactive::kYes : claw::clawctl::Interactive::kNo;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace claw::clawctl;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto inv = ParseArgs(args, std::getenv("CLAWCTL_ENDPOINTS"));
  if (!inv) {
    std::cerr << "clawctl: " << inv.error() << "\n(run `clawctl --help` for usage)\n";
    return kExitUsage;
  }
  if (inv->command == Command::kHelp) {
    std::cout << HelpText(inv->help_topic);
    return kExitOk;
  }
  if (inv->command == Command::kVersion) {
    std::cout << "clawctl " << CLAW_VERSION << "\n";
    return kExitOk;
  }
  claw::client::ClientOptions options;
  options.endpoints = inv->global.endpoints;
  options.default_deadline = inv->global.timeout;
  options.async_threads = 1;
  auto client = claw::client::Client::Open(options);
  if (!client) {
    std::cerr << FormatError(client.error());
    return kExitUsage;
  }
  const int code = RunCommand(*inv, **client, std::cin, std::cout, std::cerr, StdinInteractive());
  std::cout.flush();
  return code;
}
