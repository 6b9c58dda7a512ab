// The linearizability check of a key-value register history (reliability.md §4).
//
// The history is split by key (P-compositionality: a map of independent registers is
// linearizable iff each key's sub-history is) and each key is searched on its own with Wing &
// Gong's algorithm and Lowe's memoisation, as Porcupine does: the calls and returns, in time
// order, form a linked list; the search linearizes the earliest-called pending operation that
// the register model allows, unlinks it and starts again from the head, and backtracks when it
// meets a return (an operation that returned before anything left was linearized). A cache of
// (set of linearized operations, register value) cuts every path that reaches a configuration
// seen before. Times tie as concurrent: a call at the same time as a return comes first.
// Reads commute: when a pending ok get (or failed cas, which changes nothing either) is legal on
// the current value, it is linearized next and alone; if that fails, so does the configuration
// (any completion could have taken it first), which cuts the search at high concurrency.
//
// Model (state = the value, or absent): get returns the value; put and delete set it; cas with
// outcome ok needs value == expected and sets it to the new one; cas with outcome fail needs
// value != expected; an unknown-outcome write may take effect at any point after its call, or
// never (it never returns, so it may be linearized last). Operations that carry no information
// are dropped first: definite errors, failed puts, gets and deletes, and unknown gets.
//
// Pruning (PruneUnknown::kYes), sound for any history:
//   1. an unknown write whose value nobody observes (no ok get of it, no cas expecting it) is
//      dropped, when the key has no failed cas (a failed cas observes that a value differs);
//   2. an unknown put or cas whose value only it writes, and that an ok get or ok cas observed,
//      returns at the earliest such observer's return.
//
// Budget: at most CheckOptions::max_steps search steps per key and everything before
// `deadline`; a key that runs out is kBudgetExhausted ("unknown"), never a pass or a failure.
//
// Pure functions over values; thread-safe (one call uses one thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/lincheck/history.h"

namespace claw::lincheck {

enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kBudgetExhausted };
enum class PruneUnknown : uint8_t { kYes, kNo };

struct CheckOptions {
  uint64_t max_steps = 20'000'000;  // per key; a step considers one call or return of the list
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  PruneUnknown prune = PruneUnknown::kYes;
};

// One key's result. Operations are named by their index in the history checked.
struct KeyResult {
  std::string key{};
  Verdict verdict = Verdict::kLinearizable;
  size_t ops = 0;      // the key's operations in the history
  size_t checked = 0;  // of which searched (the others carry no information or were pruned)
  uint64_t steps = 0;
  size_t cache_entries = 0;
  double seconds = 0;
  // Not linearizable, or budget exhausted: the longest linearizable prefix found, in
  // linearization order, the register's value after it, and the operations that could be
  // linearized next by real time (each called before the earliest return among those left), of
  // which none leads to a complete linearization.
  std::vector<size_t> prefix{};
  Value value_after_prefix{};
  std::vector<size_t> stuck{};
  size_t blocking = 0;  // of `stuck`: the one with the earliest return
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;  // not linearizable > budget exhausted > linearizable
  std::vector<KeyResult> keys{};              // by key, in byte order
  uint64_t steps = 0;
  double seconds = 0;
};

CheckResult CheckHistory(const std::vector<Operation>& history, const CheckOptions& options);

// Whether `op` would be legal as the next operation on a register holding `value` (unknown
// outcomes always are): the reason it is not, else empty. For reports.
std::string IllegalReason(const Operation& op, const Value& value);

std::string_view VerdictName(Verdict verdict);

}  // namespace claw::lincheck
