// The history lincheck checks: the operations of a key-value register workload as its clients saw
// them, and the JSON-lines file they are read from and written to (tools/README.md, "lincheck").
//
// One operation per line, one JSON object each; blank lines and lines starting with '#' are
// skipped:
//   {"client":3,"op":"put","key":"k1","value":"v7","invoke":123456,"return":123789,"outcome":"ok"}
//   {"client":4,"op":"get","key":"k1","value":null,"invoke":123500,"return":123600,"outcome":"ok"}
//   {"client":5,"op":"cas","key":"k1","expected":"v7","value":"v8","invoke":123700,"outcome":"unknown"}
//   {"client":6,"op":"delete","key":"k1","invoke":123800,"return":123900,"outcome":"ok"}
// - "op": get, put, cas (compare-and-set), delete. "value": what a put or cas writes, or what a
//   get returned (null: the key was absent). "expected": what a cas compares with (null: absent).
// - "invoke" and "return": integer times on one clock for all clients (any unit), taken before the
//   request was sent and after its answer arrived. "return" is required unless the outcome is
//   error or unknown; return >= invoke.
// - "outcome": ok (applied, with its result); fail (definitely not applied; for a cas: the value
//   differed from "expected", which is an observation); error (definitely not applied and nothing
//   observed, e.g. rejected before it was proposed); unknown, also "timeout" (possibly applied,
//   possibly not: it is ordered as if it never returned).
// - Other fields are ignored, so drivers may add their own ("error":"DEADLINE_EXCEEDED").
//
// Pure functions over values; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace claw::lincheck {

enum class OpKind : uint8_t { kGet, kPut, kCas, kDelete };
enum class Outcome : uint8_t { kOk, kFail, kError, kUnknown };

// A value of the register; nullopt is "absent" (never written, or deleted).
using Value = std::optional<std::string>;

struct Operation {
  uint64_t client = 0;
  OpKind kind = OpKind::kGet;
  std::string key{};
  Value value{};     // put, cas: the value written; get: the value read
  Value expected{};  // cas: the value compared with
  int64_t invoke = 0;
  std::optional<int64_t> ret{};  // as given; the checker ignores it for unknown outcomes
  Outcome outcome = Outcome::kOk;
  size_t line = 0;  // 1-based line in the file read; 0 for operations built in code
};

struct ParseError {
  size_t line = 0;
  std::string message{};
};

// Reads a whole history. Every line is either an operation or an error: on any error the result
// holds all of them (line by line, in order) and no operations.
[[nodiscard]] std::expected<std::vector<Operation>, std::vector<ParseError>> ReadHistory(std::istream& in);

// One line of the file, without its line number: an error names the field and what is wrong.
[[nodiscard]] std::expected<Operation, std::string> ParseOperation(std::string_view line);

// The JSON line of `op` (no newline), which ParseOperation reads back to the same operation
// (line aside). Fields that do not apply to the kind (a get's "expected") are not written.
std::string FormatOperation(const Operation& op);

std::string_view OpKindName(OpKind kind);
std::string_view OutcomeName(Outcome outcome);

// A JSON string literal of `text`, quotes included ("v\"7"); `value` prints null when absent.
std::string JsonQuote(std::string_view text);
std::string JsonValue(const Value& value);

}  // namespace claw::lincheck
