// clawbench: a closed-loop and fixed-rate load generator for clawd and etcd (see
// tools/README.md, "clawbench"). main() parses the command line, connects the target, runs the
// workload and prints the report; everything else is in clawbench_lib.
#include <cstdio>
#include <string>
#include <vector>

#include "client/grpc_runtime.h"
#include "tools/clawbench/options.h"
#include "tools/clawbench/report.h"
#include "tools/clawbench/runner.h"
#include "tools/clawbench/target.h"

using namespace claw::clawbench;

int main(int argc, char** argv) {
  claw::client::DisableLockOrderChecks();
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto options = ParseOptions(args);
  if (!options) {
    std::fprintf(stderr, "clawbench: %s\nTry 'clawbench --help'.\n", options.error().c_str());
    return kExitUsage;
  }
  if (options->help) {
    std::fputs(UsageText().c_str(), stdout);
    return kExitOk;
  }
  auto target = options->target == TargetKind::kClawd ? MakeClawdTarget(*options) : MakeEtcdTarget(*options);
  if (std::string error = target->Prepare(); !error.empty()) {
    std::fprintf(stderr, "clawbench: %s\n", error.c_str());
    return kExitErrors;
  }
  const RunResult result = Run(*options, *target);
  const std::string report = options->format == OutputFormat::kJson ? FormatJson(*options, result)
                                                                    : FormatText(*options, result);
  std::fputs(report.c_str(), stdout);
  if (result.failed > 0) {
    std::fprintf(stderr, "clawbench: %llu of %llu requests failed\n", static_cast<unsigned long long>(result.failed),
                 static_cast<unsigned long long>(result.sent));
    return kExitErrors;
  }
  return kExitOk;
}
