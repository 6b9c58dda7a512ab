// Report: a RunResult as text for people (etcd benchmark's layout: summary, histogram, latency
// distribution, errors) or as one JSON document for machines (-w json; keys are a stable API,
// see tools/README.md). Pure functions; thread-safe.
#pragma once

#include <string>

#include "tools/clawbench/options.h"
#include "tools/clawbench/runner.h"

namespace claw::clawbench {

std::string FormatText(const Options& options, const RunResult& result);
std::string FormatJson(const Options& options, const RunResult& result);

}  // namespace claw::clawbench
