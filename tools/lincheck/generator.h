// Linearizable histories made up from a simulated register map, for tests and for measuring the
// checker (`lincheck --generate`). Each client runs one operation at a time: it is invoked, takes
// effect atomically at a random instant inside its [invoke, return] window (its linearization
// point) and returns; the windows of different clients overlap at random. Applying every
// operation at its linearization point, in that order, to a sequential map gives each result,
// so the history is linearizable by construction. Values are unique per write ("c3-17": client
// 3's 17th operation).
//
// Unknown outcomes: a write marked unknown takes effect at its linearization point or not at
// all (half each) and is written without a return time. Error outcomes never take effect.
//
// Deterministic for a given GenerateOptions (seed included); thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tools/lincheck/history.h"

namespace claw::lincheck {

struct GenerateOptions {
  size_t clients = 10;
  size_t keys = 5;
  size_t ops = 20000;
  uint64_t seed = 1;
  // Mix in percent; the rest are gets.
  int put_percent = 30;
  int cas_percent = 15;
  int delete_percent = 5;
  double unknown_rate = 0;  // fraction of operations with an unknown outcome (gets: dropped)
  double error_rate = 0;    // fraction of operations with a definite error (never applied)
  int64_t max_latency = 1000;  // an operation lasts 1..max_latency time units
  int64_t max_think = 200;     // a client waits 0..max_think between operations
};

// The operations in invoke order; `line` is the 1-based position, as if read from a file.
std::vector<Operation> GenerateHistory(const GenerateOptions& options);

}  // namespace claw::lincheck
