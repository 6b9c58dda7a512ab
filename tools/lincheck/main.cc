// lincheck: checks that a key-value register history (JSON lines, see history.h) is
// linearizable, or generates one (see tools/README.md, "lincheck"). main() parses the command
// line, reads the file and prints the report; everything else is in lincheck_lib.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/lincheck/checker.h"
#include "tools/lincheck/generator.h"
#include "tools/lincheck/history.h"
#include "tools/lincheck/report.h"

namespace {

using namespace claw::lincheck;

constexpr int kExitLinearizable = 0;
constexpr int kExitNotLinearizable = 1;
constexpr int kExitBadInput = 2;  // also a bad command line
constexpr int kExitBudgetExhausted = 3;
constexpr size_t kMaxErrorsShown = 20;

constexpr std::string_view kUsage = R"(usage: lincheck [OPTIONS] FILE        check a history ('-': standard input)
       lincheck --generate [GENERATE OPTIONS]   print a linearizable history
       lincheck --help

Checks that a history of key-value register operations is linearizable: Wing & Gong's search
with Lowe's memoisation, each key on its own. FILE holds one JSON object per line:
  {"client":3,"op":"put","key":"k1","value":"v7","invoke":100,"return":180,"outcome":"ok"}
  op:      get | put | cas | delete
  value:   what put or cas writes, what get read; null = absent
  expected (cas): the value compared with; null = absent
  invoke, return: integer times on one clock; return may be null or left out when the
           outcome is error or unknown
  outcome: ok | fail (not applied; a failed cas saw another value) | error (not applied,
           nothing observed) | unknown, timeout (maybe applied; treated as never returning)
Blank lines and lines starting with '#' are skipped; other fields are ignored.

Options:
  --max-steps N        search steps per key before giving up (default 20000000)
  --time-budget SEC    seconds for the whole check before giving up (default 300; 0 = none)
  --no-prune           search unknown-outcome writes as they are (slower; for cross-checks)
  -v, --verbose        a line for every key (operations, steps, cache entries, time)

On failure lincheck prints, per key, the end of the longest linearizable prefix it found, the
value after it, and the operations that could come next in real time, none of which fits.

Generate options (values are unique per write):
  --clients N (10)  --keys N (5)  --ops N (20000)  --seed N (1)
  --unknown-rate F (0)  --error-rate F (0)   fractions of operations, 0..1

Exit codes: 0 linearizable, 1 not linearizable, 2 bad input or usage,
            3 unknown (budget exhausted).
)";

struct Args {
  bool help = false;
  bool generate = false;
  std::string file{};
  CheckOptions check{};
  double time_budget = 300;
  Detail detail = Detail::kSummary;
  GenerateOptions gen{};
};

template <typename T>
std::optional<T> Number(std::string_view text) {
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Parses argv[1..]; an error is one line for stderr.
std::optional<std::string> Parse(const std::vector<std::string>& args, Args& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::optional<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    auto number = [&]<typename T>(T& field) -> std::optional<std::string> {
      auto text = next();
      if (!text) return arg + " needs a value";
      auto parsed = Number<T>(*text);
      if (!parsed || *parsed < 0) return arg + ": not a valid number: '" + *text + "'";
      field = *parsed;
      return std::nullopt;
    };
    std::optional<std::string> error;
    if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (arg == "--generate") {
      out.generate = true;
    } else if (arg == "--no-prune") {
      out.check.prune = PruneUnknown::kNo;
    } else if (arg == "-v" || arg == "--verbose") {
      out.detail = Detail::kPerKey;
    } else if (arg == "--max-steps") {
      error = number(out.check.max_steps);
      if (!error && out.check.max_steps == 0) error = "--max-steps must be at least 1";
    } else if (arg == "--time-budget") {
      error = number(out.time_budget);
    } else if (arg == "--clients") {
      error = number(out.gen.clients);
    } else if (arg == "--keys") {
      error = number(out.gen.keys);
    } else if (arg == "--ops") {
      error = number(out.gen.ops);
    } else if (arg == "--seed") {
      error = number(out.gen.seed);
    } else if (arg == "--unknown-rate") {
      error = number(out.gen.unknown_rate);
    } else if (arg == "--error-rate") {
      error = number(out.gen.error_rate);
    } else if (arg.size() > 1 && arg[0] == '-') {
      error = "unknown option " + arg;
    } else if (!out.file.empty()) {
      error = "one history file only (got '" + out.file + "' and '" + arg + "')";
    } else {
      out.file = arg;
    }
    if (error) return error;
  }
  if (!out.help && !out.generate && out.file.empty()) return "no history file given";
  if (out.gen.unknown_rate > 1 || out.gen.error_rate > 1) return "rates are fractions from 0 to 1";
  return std::nullopt;
}

int Check(const Args& args) {
  std::ifstream file;
  if (args.file != "-") {
    file.open(args.file);
    if (!file) {
      std::fprintf(stderr, "lincheck: cannot open %s\n", args.file.c_str());
      return kExitBadInput;
    }
  }
  auto history = ReadHistory(args.file == "-" ? std::cin : file);
  if (!history) {
    const auto& errors = history.error();
    for (size_t i = 0; i < errors.size() && i < kMaxErrorsShown; ++i) {
      std::fprintf(stderr, "lincheck: %s:%zu: %s\n", args.file.c_str(), errors[i].line, errors[i].message.c_str());
    }
    if (errors.size() > kMaxErrorsShown) {
      std::fprintf(stderr, "lincheck: ... and %zu more bad lines\n", errors.size() - kMaxErrorsShown);
    }
    std::fprintf(stderr, "lincheck: %s: %zu bad lines; nothing checked\n", args.file.c_str(), errors.size());
    return kExitBadInput;
  }
  CheckOptions options = args.check;
  if (args.time_budget > 0) {
    options.deadline = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(args.time_budget));
  }
  const CheckResult result = CheckHistory(*history, options);
  std::fputs(FormatReport(*history, result, ReportOptions{.detail = args.detail}).c_str(), stdout);
  switch (result.verdict) {
    case Verdict::kLinearizable: return kExitLinearizable;
    case Verdict::kNotLinearizable: return kExitNotLinearizable;
    case Verdict::kBudgetExhausted: return kExitBudgetExhausted;
  }
  return kExitNotLinearizable;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> raw(argv + 1, argv + argc);
  Args args;
  if (auto error = Parse(raw, args)) {
    std::fprintf(stderr, "lincheck: %s\nTry 'lincheck --help'.\n", error->c_str());
    return kExitBadInput;
  }
  if (args.help) {
    std::fputs(kUsage.data(), stdout);
    return kExitLinearizable;
  }
  if (args.generate) {
    std::string out;
    for (const Operation& op : GenerateHistory(args.gen)) out += FormatOperation(op) + "\n";
    std::fputs(out.c_str(), stdout);
    return kExitLinearizable;
  }
  return Check(args);
}
