#include "tools/clawctl/txn_script.h"

#include <charconv>
#include <cstdint>

namespace claw::clawctl {
namespace {

using client::Compare;
using client::Op;

std::unexpected<std::string> Fail(std::string message) {
  return std::unexpected(std::move(message));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one word at text[*pos] (bare: up to a space or one of `stops`; or quoted), moving *pos.
std::expected<std::string, std::string> ReadWord(std::string_view text, size_t* pos,
                                                 std::string_view stops = "") {
  size_t i = *pos;
  std::string word;
  if (i < text.size() && text[i] == '"') {
    for (++i; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] != '\\') {
        word += text[i];
        continue;
      }
      if (++i >= text.size()) return Fail("a quoted word ends in a backslash");
      switch (text[i]) {
        case 'n': word += '\n'; break;
        case 't': word += '\t'; break;
        case 'r': word += '\r'; break;
        case '0': word += '\0'; break;
        case 'x': {
          const int hi = i + 1 < text.size() ? HexDigit(text[i + 1]) : -1;
          const int lo = i + 2 < text.size() ? HexDigit(text[i + 2]) : -1;
          if (hi < 0 || lo < 0) return Fail("\\x wants two hex digits");
          word += static_cast<char>(hi * 16 + lo);
          i += 2;
          break;
        }
        default: word += text[i];  // \" and \\ and anything else: the character itself
      }
    }
    if (i >= text.size()) return Fail("unterminated quote in: " + std::string(text));
    *pos = i + 1;
    return word;
  }
  while (i < text.size() && text[i] != ' ' && text[i] != '\t' &&
         stops.find(text[i]) == std::string_view::npos) {
    word += text[i++];
  }
  *pos = i;
  return word;
}

void SkipSpaces(std::string_view text, size_t* pos) {
  while (*pos < text.size() && (text[*pos] == ' ' || text[*pos] == '\t')) ++*pos;
}

std::expected<Compare::Op, std::string> ParseOperator(std::string_view op) {
  if (op == "=" || op == "==") return Compare::Op::kEqual;
  if (op == "!=") return Compare::Op::kNotEqual;
  if (op == "<") return Compare::Op::kLess;
  if (op == ">") return Compare::Op::kGreater;
  return Fail("unknown comparison '" + std::string(op) + "' (use = != < >)");
}

}  // namespace

std::expected<std::vector<std::string>, std::string> SplitWords(std::string_view line) {
  std::vector<std::string> words;
  size_t pos = 0;
  for (SkipSpaces(line, &pos); pos < line.size(); SkipSpaces(line, &pos)) {
    auto word = ReadWord(line, &pos);
    if (!word) return std::unexpected(word.error());
    words.push_back(std::move(*word));
  }
  return words;
}

std::expected<Compare, std::string> ParseCompare(std::string_view text) {
  const std::string shown(text);
  size_t pos = 0;
  SkipSpaces(text, &pos);
  Compare compare;
  bool negated = false;
  if (pos < text.size() && text[pos] == '!') {
    negated = true;
    ++pos;
  }
  const size_t open = text.find('(', pos);
  if (open == std::string_view::npos) return Fail("comparison without '(KEY)': " + shown);
  const std::string_view target = text.substr(pos, open - pos);
  pos = open + 1;
  auto key = ReadWord(text, &pos, ")");
  if (!key) return std::unexpected(key.error());
  if (pos >= text.size() || text[pos] != ')') return Fail("missing ')' in: " + shown);
  ++pos;
  compare.key = std::move(*key);
  if (target == "exists") {
    SkipSpaces(text, &pos);
    if (pos != text.size()) return Fail("exists(KEY) takes no operand: " + shown);
    compare.target = Compare::Target::kExists;
    compare.op = Compare::Op::kEqual;
    compare.exists = !negated;
    return compare;
  }
  if (negated) return Fail("'!' applies to exists(KEY) only: " + shown);
  SkipSpaces(text, &pos);
  auto op_word = ReadWord(text, &pos);
  if (!op_word) return std::unexpected(op_word.error());
  auto op = ParseOperator(*op_word);
  if (!op) return std::unexpected(op.error());
  compare.op = *op;
  SkipSpaces(text, &pos);
  auto operand = ReadWord(text, &pos);
  if (!operand) return std::unexpected(operand.error());
  SkipSpaces(text, &pos);
  if (pos != text.size()) return Fail("unexpected text after the operand: " + shown);
  if (target == "value") {
    compare.target = Compare::Target::kValue;
    compare.value = std::move(*operand);
    return compare;
  }
  if (target != "version" && target != "mod") {
    return Fail("unknown comparison target '" + std::string(target) +
                "' (use value, version, mod, exists)");
  }
  compare.target = target == "version" ? Compare::Target::kVersion : Compare::Target::kModTs;
  const char* end = operand->data() + operand->size();
  auto [ptr, ec] = std::from_chars(operand->data(), end, compare.number);
  if (ec != std::errc() || ptr != end || operand->empty()) {
    return Fail(std::string(target) + "(KEY) compares with a number, not '" + *operand + "'");
  }
  return compare;
}

std::expected<Op, std::string> ParseOp(std::string_view text) {
  auto words = SplitWords(text);
  if (!words) return std::unexpected(words.error());
  const std::vector<std::string>& w = *words;
  const std::string verb = w.empty() ? "" : w[0];
  if (verb == "put" && w.size() == 3) return Op::Put(w[1], w[2]);
  if (verb == "get" && w.size() == 2) return Op::Get(w[1]);
  if ((verb == "del" || verb == "delete") && w.size() == 2) return Op::Delete(w[1]);
  if (verb == "delrange" && w.size() == 3) return Op::DeleteRange(w[1], w[2]);
  return Fail("bad operation '" + std::string(text) +
              "' (use put KEY VALUE, get KEY, del KEY, delrange START END)");
}

std::expected<TxnSpec, std::string> ParseTxnFlags(const std::vector<std::string>& if_flags,
                                                  const std::vector<std::string>& then_flags,
                                                  const std::vector<std::string>& else_flags) {
  TxnSpec spec;
  for (const std::string& text : if_flags) {
    auto compare = ParseCompare(text);
    if (!compare) return std::unexpected(compare.error());
    spec.compares.push_back(std::move(*compare));
  }
  for (const auto& [texts, ops] : {std::pair{&then_flags, &spec.success},
                                   std::pair{&else_flags, &spec.failure}}) {
    for (const std::string& text : *texts) {
      auto op = ParseOp(text);
      if (!op) return std::unexpected(op.error());
      ops->push_back(std::move(*op));
    }
  }
  return spec;
}

std::expected<TxnSpec, std::string> ParseTxnScript(std::istream& in) {
  std::vector<std::string> sections[3];
  int section = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == '#') continue;
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (++section > 2) return Fail("a txn script has at most three sections");
      continue;
    }
    sections[section].push_back(line);
  }
  return ParseTxnFlags(sections[0], sections[1], sections[2]);
}

}  // namespace claw::clawctl
