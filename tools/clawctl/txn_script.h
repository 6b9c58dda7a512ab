// The txn language of clawctl: comparisons and operations as short text, given as repeated
// --if / --then / --else flags or as an etcdctl-style script on stdin (compares, blank line,
// success ops, blank line, failure ops; one per line).
//
//   CMP := value(KEY) OP WORD | version(KEY) OP N | mod(KEY) OP N | exists(KEY) | !exists(KEY)
//   OP  := = | != | < | >
//   OPS := put KEY VALUE | get KEY | del KEY | delrange START END
//
// KEY / VALUE / WORD are bare words (no spaces) or double-quoted strings with the escapes
// \" \\ \n \t \r \0 and \xNN, so any bytes can be written. Pure functions; thread-safe.
#pragma once

#include <expected>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.h"

namespace claw::clawctl {

struct TxnSpec {
  std::vector<client::Compare> compares{};
  std::vector<client::Op> success{};
  std::vector<client::Op> failure{};
};

// Splits a line into words (bare or quoted, see above).
[[nodiscard]] std::expected<std::vector<std::string>, std::string> SplitWords(
    std::string_view line);
[[nodiscard]] std::expected<client::Compare, std::string> ParseCompare(std::string_view text);
[[nodiscard]] std::expected<client::Op, std::string> ParseOp(std::string_view text);

[[nodiscard]] std::expected<TxnSpec, std::string> ParseTxnFlags(
    const std::vector<std::string>& if_flags, const std::vector<std::string>& then_flags,
    const std::vector<std::string>& else_flags);
// Lines starting with '#' are comments. At most three sections.
[[nodiscard]] std::expected<TxnSpec, std::string> ParseTxnScript(std::istream& in);

}  // namespace claw::clawctl
