// clawctl: the command-line client of a clawd cluster. Parses the command line (args.h), opens
// a Client on the endpoints, runs one command (commands.h) and exits with its code.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/client.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/commands.h"

int main(int argc, char** argv) {
  using namespace claw::clawctl;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto inv = ParseArgs(args, std::getenv("CLAWCTL_ENDPOINTS"));
  if (!inv) {
    std::cerr << "clawctl: " << inv.error() << "\n(run `clawctl --help` for usage)\n";
    return kExitUsage;
  }
  if (inv->command == Command::kHelp) {
    std::cout << UsageText();
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
  const int code = RunCommand(*inv, **client, std::cin, std::cout, std::cerr);
  std::cout.flush();
  return code;
}
