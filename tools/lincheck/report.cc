#include "tools/lincheck/report.h"

#include <algorithm>
#include <cstdio>

namespace claw::lincheck {
namespace {

std::string Seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", seconds);
  return text;
}

std::string WhatItDid(const Operation& op) {
  switch (op.kind) {
    case OpKind::kGet: return "get -> " + JsonValue(op.value);
    case OpKind::kPut: return "put " + JsonValue(op.value);
    case OpKind::kCas: return "cas " + JsonValue(op.expected) + " -> " + JsonValue(op.value);
    case OpKind::kDelete: return "delete";
  }
  return "?";
}

std::string Times(const Operation& op) {
  const std::string ret = op.outcome == Outcome::kUnknown ? "never" : op.ret ? std::to_string(*op.ret) : "-";
  return "[" + std::to_string(op.invoke) + ", " + ret + "]";
}

// The value after `op`, legal on `before`.
Value After(const Operation& op, const Value& before) {
  switch (op.kind) {
    case OpKind::kGet: return before;
    case OpKind::kPut: return op.value;
    case OpKind::kDelete: return std::nullopt;
    case OpKind::kCas: return before == op.expected ? op.value : before;
  }
  return before;
}

void FormatKeyLine(const KeyResult& key, std::string& out) {
  out += "key " + JsonQuote(key.key) + ": " + std::string(VerdictName(key.verdict)) + ", " +
         std::to_string(key.ops) + " operations (" + std::to_string(key.checked) + " searched), " +
         std::to_string(key.steps) + " steps, " + std::to_string(key.cache_entries) + " cache entries, " +
         Seconds(key.seconds) + "\n";
}

// The window of a key that is not linearizable (or ran out of budget).
void FormatWindow(const std::vector<Operation>& history, const KeyResult& key, const ReportOptions& options,
                  std::string& out) {
  out += "  longest linearizable prefix: " + std::to_string(key.prefix.size()) + " of " +
         std::to_string(key.checked) + " operations searched";
  if (key.prefix.empty()) {
    out += "; the value is " + JsonValue(std::nullopt) + " (absent) at the start\n";
  } else {
    const size_t shown = std::min(options.prefix_tail, key.prefix.size());
    out += "; its last " + std::to_string(shown) + ", in linearization order (value after each):\n";
    // Replaying the whole prefix gives the value after each shown operation.
    Value value;
    for (size_t i = 0; i < key.prefix.size(); ++i) {
      const Operation& op = history[key.prefix[i]];
      value = After(op, value);
      if (i + shown >= key.prefix.size()) out += "    " + DescribeOperation(op) + "  => " + JsonValue(value) + "\n";
    }
  }
  out += "  after it the value is " + JsonValue(key.value_after_prefix) + ", and none of these can come next";
  if (key.blocking < history.size() && !key.stuck.empty()) {
    const Operation& blocking = history[key.blocking];
    out += " (each was called before line " + std::to_string(blocking.line) + " returned at " +
           std::to_string(blocking.ret.value_or(0)) + ")";
  }
  out += ":\n";
  for (size_t i = 0; i < key.stuck.size() && i < options.max_stuck; ++i) {
    const Operation& op = history[key.stuck[i]];
    std::string why = IllegalReason(op, key.value_after_prefix);
    if (why.empty()) why = "allowed here, but no linearization of the rest follows it";
    out += "    " + DescribeOperation(op) + "  -- " + why + "\n";
  }
  if (key.stuck.size() > options.max_stuck) {
    out += "    ... and " + std::to_string(key.stuck.size() - options.max_stuck) + " more\n";
  }
}

}  // namespace

std::string DescribeOperation(const Operation& op) {
  return "line " + std::to_string(op.line) + "  client " + std::to_string(op.client) + "  " + WhatItDid(op) + "  " +
         Times(op) + "  " + std::string(OutcomeName(op.outcome));
}

std::string FormatReport(const std::vector<Operation>& history, const CheckResult& result,
                         const ReportOptions& options) {
  std::string out;
  std::vector<std::string> failed;
  std::vector<std::string> exhausted;
  size_t searched = 0;
  for (const KeyResult& key : result.keys) {
    searched += key.checked;
    if (options.detail == Detail::kPerKey || key.verdict != Verdict::kLinearizable) FormatKeyLine(key, out);
    if (key.verdict == Verdict::kNotLinearizable) {
      FormatWindow(history, key, options, out);
      failed.push_back(JsonQuote(key.key));
    } else if (key.verdict == Verdict::kBudgetExhausted) {
      out += "  longest linearizable prefix found: " + std::to_string(key.prefix.size()) + " of " +
             std::to_string(key.checked) + " operations searched\n";
      exhausted.push_back(JsonQuote(key.key));
    }
  }
  auto list = [](const std::vector<std::string>& keys) {
    std::string text;
    for (size_t i = 0; i < keys.size() && i < 10; ++i) text += (i ? ", " : "") + keys[i];
    if (keys.size() > 10) text += ", ...";
    return text;
  };
  const std::string totals = std::to_string(history.size()) + " operations on " + std::to_string(result.keys.size()) +
                             " keys (" + std::to_string(searched) + " searched), " + std::to_string(result.steps) +
                             " steps in " + Seconds(result.seconds);
  switch (result.verdict) {
    case Verdict::kLinearizable: out += "linearizable: " + totals + "\n"; break;
    case Verdict::kNotLinearizable:
      out += "not linearizable: " + std::to_string(failed.size()) + " of " + std::to_string(result.keys.size()) +
             " keys (" + list(failed) + "); " + totals + "\n";
      break;
    case Verdict::kBudgetExhausted:
      out += "unknown: budget exhausted on " + std::to_string(exhausted.size()) + " of " +
             std::to_string(result.keys.size()) + " keys (" + list(exhausted) + "); " + totals +
             "; raise --max-steps or --time-budget, or check fewer operations per key\n";
      break;
  }
  return out;
}

}  // namespace claw::lincheck
