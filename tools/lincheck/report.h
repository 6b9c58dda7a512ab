// lincheck's text report: a summary line, and for each key that is not linearizable the window a
// human needs to see why (Porcupine-style): the end of the longest linearizable prefix found, the
// value after it, and the operations that could have come next, each with its line, client,
// times, and why the register did not allow it.
//
// Pure functions over values; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/lincheck/checker.h"
#include "tools/lincheck/history.h"

namespace claw::lincheck {

enum class Detail : uint8_t { kSummary, kPerKey };  // kPerKey: a line for every key

struct ReportOptions {
  Detail detail = Detail::kSummary;
  size_t prefix_tail = 8;  // operations shown from the end of the longest prefix
  size_t max_stuck = 30;   // operations shown that could not come next
};

std::string FormatReport(const std::vector<Operation>& history, const CheckResult& result,
                         const ReportOptions& options);

// One operation for humans: `line 12  client 3  cas "v1" -> "v2"  [1000, 1200]  ok`.
std::string DescribeOperation(const Operation& op);

}  // namespace claw::lincheck
