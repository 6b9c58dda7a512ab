// lincheck: the JSON-lines format, the checker on hand-made histories that are and are not
// linearizable, agreement with a brute-force search on small random histories, generated
// histories (linearizable by construction) before and after one read is corrupted, and the
// lincheck binary's exit codes and report. Nothing is timed.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/lincheck/checker.h"
#include "tools/lincheck/generator.h"
#include "tools/lincheck/history.h"
#include "tools/lincheck/report.h"

namespace claw::lincheck {
namespace {

const Value kAbsent{};  // a get of nothing, a cas expecting nothing

// Builders for hand-made histories on key "k"; `line` numbers them for the report.
Operation Make(uint64_t client, OpKind kind, Value value, Value expected, int64_t invoke, std::optional<int64_t> ret,
               Outcome outcome) {
  return Operation{.client = client,
                   .kind = kind,
                   .key = "k",
                   .value = std::move(value),
                   .expected = std::move(expected),
                   .invoke = invoke,
                   .ret = ret,
                   .outcome = outcome,
                   .line = 0};
}
Operation Put(uint64_t client, std::string value, int64_t invoke, int64_t ret, Outcome outcome = Outcome::kOk) {
  return Make(client, OpKind::kPut, std::move(value), kAbsent, invoke, ret, outcome);
}
Operation Get(uint64_t client, Value value, int64_t invoke, int64_t ret, Outcome outcome = Outcome::kOk) {
  return Make(client, OpKind::kGet, std::move(value), kAbsent, invoke, ret, outcome);
}
Operation Cas(uint64_t client, Value expected, Value value, int64_t invoke, int64_t ret, Outcome outcome) {
  return Make(client, OpKind::kCas, std::move(value), std::move(expected), invoke, ret, outcome);
}
Operation Del(uint64_t client, int64_t invoke, int64_t ret, Outcome outcome = Outcome::kOk) {
  return Make(client, OpKind::kDelete, kAbsent, kAbsent, invoke, ret, outcome);
}
// The same operation with an unknown outcome (it never returned).
Operation Unknown(Operation op) {
  op.outcome = Outcome::kUnknown;
  op.ret = std::nullopt;
  return op;
}

std::vector<Operation> Numbered(std::vector<Operation> history) {
  for (size_t i = 0; i < history.size(); ++i) history[i].line = i + 1;
  return history;
}

// Checks with and without pruning (which must agree) and returns the pruned result.
CheckResult CheckBoth(const std::vector<Operation>& history) {
  const CheckResult pruned = CheckHistory(history, CheckOptions{.prune = PruneUnknown::kYes});
  const CheckResult unpruned = CheckHistory(history, CheckOptions{.prune = PruneUnknown::kNo});
  UNSCOPED_INFO(FormatReport(history, pruned, ReportOptions{.detail = Detail::kPerKey}));
  CHECK(pruned.verdict == unpruned.verdict);
  return pruned;
}

Verdict Check(std::vector<Operation> history) { return CheckBoth(Numbered(std::move(history))).verdict; }

// The lines of the operations a failed key's report says cannot come next.
std::vector<size_t> StuckLines(const std::vector<Operation>& history, const CheckResult& result) {
  std::vector<size_t> lines;
  for (const KeyResult& key : result.keys) {
    for (size_t i : key.stuck) lines.push_back(history[i].line);
  }
  return lines;
}

TEST_CASE("lincheck reads and writes its JSON lines", "[tools][lincheck]") {
  SECTION("every field, escapes and unicode") {
    auto op = ParseOperation(
        R"({"client":3,"op":"cas","key":"k\"1\\\u00e9\ud83d\ude00","expected":null,"value":"v\n7",)"
        R"("invoke":-5,"return":12,"outcome":"fail","extra":{"a":[1,2.5,true,null]}})");
    REQUIRE(op);
    CHECK(op->client == 3);
    CHECK(op->kind == OpKind::kCas);
    CHECK(op->key == "k\"1\\\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(op->expected == kAbsent);
    CHECK(op->value == Value("v\n7"));
    CHECK(op->invoke == -5);
    CHECK(op->ret == std::optional<int64_t>(12));
    CHECK(op->outcome == Outcome::kFail);
    auto again = ParseOperation(FormatOperation(*op));
    REQUIRE(again);
    CHECK(FormatOperation(*again) == FormatOperation(*op));
  }
  SECTION("unknown outcomes need no return; timeout is unknown") {
    auto op = ParseOperation(R"({"client":1,"op":"put","key":"k","value":"v","invoke":5,"outcome":"timeout"})");
    REQUIRE(op);
    CHECK(op->outcome == Outcome::kUnknown);
    CHECK_FALSE(op->ret);
    CHECK(ParseOperation(FormatOperation(*op)));
  }
  SECTION("bad lines name what is wrong") {
    auto error = [](const std::string& line) {
      auto op = ParseOperation(line);
      REQUIRE_FALSE(op);
      return op.error();
    };
    CHECK(error(R"({"client":1,"op":"put","key":"k","value":"v","invoke":5,"outcome":"ok"})") ==
          R"(missing "return" (an integer time, as the outcome is known))");
    CHECK(error(R"({"client":1,"op":"put","key":"k","value":"v","invoke":5,"return":4,"outcome":"ok"})") ==
          R"("return" 4 is before "invoke" 5)");
    CHECK(error(R"({"client":1,"op":"get","key":"k","invoke":5,"return":6,"outcome":"ok"})").starts_with(
        R"(missing "value")"));
    CHECK(error(R"({"client":1,"op":"put","key":"k","value":null,"invoke":5,"return":6,"outcome":"ok"})") ==
          R"("value" must be the value written: a string, not null)");
    CHECK(error(R"({"client":1,"op":"put","key":"k","value":"v","invoke":5.0,"return":6,"outcome":"ok"})") ==
          R"("invoke" must be an integer time, not a number with a fraction or exponent)");
    CHECK(error(R"({"client":1,"op":"rename","key":"k","invoke":5,"return":6,"outcome":"ok"})").starts_with(
        R"(unknown "op" "rename")"));
    CHECK(error(R"({"client":1,"op":"get","key":"k","key":"j","invoke":5,"return":6,"outcome":"ok"})") ==
          R"("key" appears twice)");
    CHECK(error(R"({"client":1,"op":"get","key":"k\x","value":null,"invoke":5,"return":6,"outcome":"ok"})") ==
          "malformed JSON: unknown escape in a string at column 32");
    CHECK(error(R"({"client":1,"op":"get","key":"k\ud800","value":null,"invoke":5,"return":6,"outcome":"ok"})")
              .starts_with("malformed JSON: unpaired surrogate"));
    CHECK(error(R"({"client":1})" " x").starts_with("malformed JSON: unexpected text after the object"));
    CHECK(error(R"({"client":99999999999999999999,"op":"get"})").starts_with("malformed JSON: integer out of range"));
  }
  SECTION("a file: comments and blank lines skipped, every bad line reported, nothing kept") {
    std::istringstream good("# history\n\n"
                            R"({"client":1,"op":"delete","key":"k","invoke":1,"return":2,"outcome":"ok"})"
                            "\n");
    auto ops = ReadHistory(good);
    REQUIRE(ops);
    REQUIRE(ops->size() == 1);
    CHECK((*ops)[0].line == 3);
    std::istringstream bad(R"({"client":1,"op":"delete","key":"k","invoke":1,"return":2,"outcome":"ok"})"
                           "\nnot json\n"
                           R"({"client":1,"op":"delete","key":"k","invoke":1,"return":2,"outcome":"ok"})"
                           "\n{}\n");
    auto errors = ReadHistory(bad);
    REQUIRE_FALSE(errors);
    REQUIRE(errors.error().size() == 2);
    CHECK(errors.error()[0].line == 2);
    CHECK(errors.error()[1].line == 4);
    CHECK(errors.error()[1].message == R"(missing "op" (get, put, cas or delete))");
  }
}

TEST_CASE("lincheck rejects histories that are not linearizable", "[tools][lincheck]") {
  SECTION("stale read after a completed put") {
    auto history = Numbered({Put(1, "a", 0, 10), Put(1, "b", 20, 30), Get(2, "a", 40, 50)});
    const CheckResult result = CheckBoth(history);
    REQUIRE(result.verdict == Verdict::kNotLinearizable);
    REQUIRE(result.keys.size() == 1);
    const KeyResult& key = result.keys[0];
    CHECK(key.prefix == std::vector<size_t>{0, 1});
    CHECK(key.value_after_prefix == Value("b"));
    CHECK(StuckLines(history, result) == std::vector<size_t>{3});
    CHECK(IllegalReason(history[2], key.value_after_prefix) == R"(it read "a" but the value is "b")");
    const std::string report = FormatReport(history, result, ReportOptions{});
    CHECK(report.find(R"(line 3  client 2  get -> "a"  [40, 50]  ok  -- it read "a" but the value is "b")") !=
          std::string::npos);
  }
  SECTION("lost write: an acknowledged put is not seen") {
    CHECK(Check({Put(1, "a", 0, 10), Get(2, kAbsent, 20, 30)}) == Verdict::kNotLinearizable);
  }
  SECTION("two cas succeed from the same expected value") {
    CHECK(Check({Put(1, "a", 0, 10), Cas(2, "a", "b", 20, 40, Outcome::kOk), Cas(3, "a", "c", 25, 45, Outcome::kOk)}) ==
          Verdict::kNotLinearizable);
  }
  SECTION("read of a value never written") {
    CHECK(Check({Put(1, "a", 0, 10), Get(2, "z", 5, 30)}) == Verdict::kNotLinearizable);
  }
  SECTION("non-monotonic reads across clients during a slow put") {
    CHECK(Check({Put(1, "a", 0, 10), Put(1, "b", 20, 100), Get(2, "b", 30, 40), Get(3, "a", 50, 60)}) ==
          Verdict::kNotLinearizable);
  }
  SECTION("a cas fails although the value was what it expected") {
    CHECK(Check({Put(1, "a", 0, 10), Cas(2, "a", "b", 20, 30, Outcome::kFail)}) == Verdict::kNotLinearizable);
  }
  SECTION("a read after a completed delete sees the old value") {
    CHECK(Check({Put(1, "a", 0, 10), Del(1, 20, 30), Get(2, "a", 40, 50)}) == Verdict::kNotLinearizable);
  }
  SECTION("an unknown put observed, then its effect undone") {
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Put(2, "b", 20, 0)), Get(3, "b", 30, 40), Get(3, "a", 50, 60)}) ==
          Verdict::kNotLinearizable);
  }
  SECTION("one key bad among good ones") {
    std::vector<Operation> history = {Put(1, "a", 0, 10), Get(2, "a", 20, 30)};
    Operation bad = Get(3, "a", 20, 30);
    bad.key = "j";
    history.push_back(bad);
    const CheckResult result = CheckBoth(Numbered(history));
    CHECK(result.verdict == Verdict::kNotLinearizable);
    REQUIRE(result.keys.size() == 2);
    CHECK(result.keys[0].key == "j");
    CHECK(result.keys[0].verdict == Verdict::kNotLinearizable);
    CHECK(result.keys[1].verdict == Verdict::kLinearizable);
  }
}

TEST_CASE("lincheck accepts linearizable histories", "[tools][lincheck]") {
  SECTION("concurrent puts, reads seeing either order") {
    CHECK(Check({Put(1, "a", 0, 100), Put(2, "b", 0, 100), Get(3, "b", 10, 20), Get(4, "a", 30, 40)}) ==
          Verdict::kLinearizable);
    CHECK(Check({Put(1, "a", 0, 100), Put(2, "b", 0, 100), Get(3, "a", 10, 20), Get(4, "b", 30, 40)}) ==
          Verdict::kLinearizable);
  }
  SECTION("equal times are concurrent") {
    CHECK(Check({Put(1, "a", 0, 10), Get(2, kAbsent, 10, 20)}) == Verdict::kLinearizable);
  }
  SECTION("an unknown put observed later") {
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Put(2, "b", 20, 0)), Get(3, "a", 30, 40), Get(3, "b", 500, 510)}) ==
          Verdict::kLinearizable);
  }
  SECTION("an unknown put never observed") {
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Put(2, "b", 20, 0)), Get(3, "a", 30, 40), Get(3, "a", 500, 510)}) ==
          Verdict::kLinearizable);
  }
  SECTION("an unknown put seen only by a failed cas") {
    // The cas failed, so the value was not "a": the unknown put must have happened before it.
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Put(2, "b", 20, 0)), Cas(3, "a", "c", 30, 40, Outcome::kFail)}) ==
          Verdict::kLinearizable);
    CHECK(Check({Put(1, "a", 0, 10), Cas(3, "a", "c", 30, 40, Outcome::kFail)}) == Verdict::kNotLinearizable);
  }
  SECTION("unknown cas and delete, applied or not") {
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Cas(2, "a", "b", 20, 0, Outcome::kOk)), Get(3, "b", 30, 40)}) ==
          Verdict::kLinearizable);
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Cas(2, "a", "b", 20, 0, Outcome::kOk)), Get(3, "a", 30, 40)}) ==
          Verdict::kLinearizable);
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Del(2, 20, 0)), Get(3, kAbsent, 30, 40), Get(3, kAbsent, 50, 60)}) ==
          Verdict::kLinearizable);
    CHECK(Check({Put(1, "a", 0, 10), Unknown(Del(2, 20, 0)), Get(3, kAbsent, 30, 40), Get(3, "a", 50, 60)}) ==
          Verdict::kNotLinearizable);
  }
  SECTION("failed and erroneous operations do not count; unknown gets say nothing") {
    CHECK(Check({Put(1, "a", 0, 10, Outcome::kError), Put(1, "b", 20, 30, Outcome::kFail), Get(2, kAbsent, 40, 50),
                 Unknown(Get(3, "zzz", 0, 0)), Cas(4, "x", "y", 60, 70, Outcome::kError)}) == Verdict::kLinearizable);
  }
  SECTION("cas chains and deletes") {
    CHECK(Check({Cas(1, kAbsent, "a", 0, 10, Outcome::kOk), Cas(2, "a", "b", 20, 30, Outcome::kOk),
                 Cas(3, "a", "c", 25, 35, Outcome::kFail), Del(1, 40, 50), Get(2, kAbsent, 60, 70)}) ==
          Verdict::kLinearizable);
  }
  SECTION("an empty history") { CHECK(Check({}) == Verdict::kLinearizable); }
}

// Brute force: every order of the informative operations that respects real time.
bool BruteForceLinearizable(std::vector<Operation> ops) {
  std::erase_if(ops, [](const Operation& op) {
    return op.outcome == Outcome::kError || (op.outcome == Outcome::kFail && op.kind != OpKind::kCas) ||
           (op.outcome == Outcome::kUnknown && op.kind == OpKind::kGet);
  });
  const int64_t never = INT64_MAX;
  auto ret = [&](const Operation& op) { return op.outcome == Outcome::kUnknown ? never : *op.ret; };
  std::vector<size_t> order(ops.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  do {
    bool ok = true;
    Value value;
    for (size_t a = 0; a < order.size() && ok; ++a) {
      const Operation& op = ops[order[a]];
      for (size_t b = a + 1; b < order.size() && ok; ++b) ok = !(ret(ops[order[b]]) < op.invoke);
      if (!ok) break;
      switch (op.kind) {
        case OpKind::kGet: ok = op.value == value; break;
        case OpKind::kPut: value = op.value; break;
        case OpKind::kDelete: value = std::nullopt; break;
        case OpKind::kCas:
          if (op.outcome == Outcome::kOk) ok = value == op.expected;
          if (op.outcome == Outcome::kFail) ok = value != op.expected;
          if (op.outcome != Outcome::kFail && value == op.expected) value = op.value;
          break;
      }
    }
    if (ok) return true;
  } while (std::next_permutation(order.begin(), order.end()));
  return false;
}

TEST_CASE("lincheck agrees with a brute-force search on small random histories", "[tools][lincheck]") {
  std::mt19937_64 rng(7);
  auto below = [&](int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  const std::vector<Value> values = {kAbsent, "a", "b", "c"};
  const std::vector<Outcome> outcomes = {Outcome::kOk, Outcome::kOk, Outcome::kOk, Outcome::kFail, Outcome::kError,
                                         Outcome::kUnknown};
  int linearizable = 0;
  int not_linearizable = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<Operation> history;
    const int n = 1 + below(7);
    for (int i = 0; i < n; ++i) {
      const auto kind = static_cast<OpKind>(below(4));
      const int64_t invoke = below(20);
      const int64_t ret = invoke + below(10);
      Outcome outcome = outcomes[static_cast<size_t>(below(static_cast<int>(outcomes.size())))];
      Value value = values[static_cast<size_t>(below(4))];
      if (kind == OpKind::kPut && !value) value = "d";
      if (kind == OpKind::kDelete) value = kAbsent;
      Operation op = Make(static_cast<uint64_t>(i), kind, value, values[static_cast<size_t>(below(4))], invoke, ret,
                          outcome);
      if (kind != OpKind::kCas) op.expected = kAbsent;
      if (outcome == Outcome::kUnknown) op.ret = std::nullopt;
      history.push_back(op);
    }
    history = Numbered(history);
    const bool expected = BruteForceLinearizable(history);
    std::string text;
    for (const Operation& op : history) text += FormatOperation(op) + "\n";
    INFO("round " << round << "\n" << text);
    const Verdict verdict = CheckBoth(history).verdict;
    REQUIRE(verdict == (expected ? Verdict::kLinearizable : Verdict::kNotLinearizable));
    ++(expected ? linearizable : not_linearizable);
  }
  // Both kinds were exercised.
  CHECK(linearizable > 300);
  CHECK(not_linearizable > 300);
}

// A read of `history` made stale: an ok get R, a put W and an ok put W2 such that W returned
// before W2 was invoked and W2 returned before R was invoked; R now reads W's value. Values are
// unique, so R cannot be linearized. Returns R's index, or nullopt when there is no such triple.
std::optional<size_t> MakeStaleRead(std::vector<Operation>& history, size_t from) {
  for (size_t r = from; r < history.size(); ++r) {
    Operation& read = history[r];
    if (read.kind != OpKind::kGet || read.outcome != Outcome::kOk) continue;
    for (const Operation& w2 : history) {
      if (w2.key != read.key || w2.kind != OpKind::kPut || w2.outcome != Outcome::kOk || *w2.ret >= read.invoke) {
        continue;
      }
      for (const Operation& w : history) {
        if (w.key == read.key && w.kind == OpKind::kPut && w.outcome == Outcome::kOk && *w.ret < w2.invoke &&
            w.value != read.value) {
          read.value = w.value;
          return r;
        }
      }
    }
  }
  return std::nullopt;
}

TEST_CASE("lincheck passes generated histories and fails them once a read is corrupted", "[tools][lincheck]") {
  struct Shape {
    size_t clients, keys, ops;
    double unknown_rate, error_rate;
  };
  const std::vector<Shape> shapes = {{3, 1, 30, 0, 0},    {5, 2, 200, 0.1, 0.05}, {10, 1, 400, 0, 0},
                                     {10, 1, 300, 0.05, 0.05}, {10, 5, 2000, 0.02, 0.01}};
  int stale_reads = 0;
  for (const Shape& shape : shapes) {
    for (uint64_t seed = 1; seed <= 8; ++seed) {
      const GenerateOptions gen{.clients = shape.clients,
                                .keys = shape.keys,
                                .ops = shape.ops,
                                .seed = seed,
                                .unknown_rate = shape.unknown_rate,
                                .error_rate = shape.error_rate};
      INFO("clients " << shape.clients << " keys " << shape.keys << " ops " << shape.ops << " unknown "
                      << shape.unknown_rate << " seed " << seed);
      std::vector<Operation> history = GenerateHistory(gen);
      REQUIRE(history.size() == shape.ops);
      REQUIRE(CheckBoth(history).verdict == Verdict::kLinearizable);

      std::mt19937_64 rng(seed);
      std::vector<size_t> reads;
      for (size_t i = 0; i < history.size(); ++i) {
        if (history[i].kind == OpKind::kGet && history[i].outcome == Outcome::kOk) reads.push_back(i);
      }
      REQUIRE_FALSE(reads.empty());
      // A read of a value never written.
      std::vector<Operation> bad = history;
      const size_t r = reads[rng() % reads.size()];
      bad[r].value = "never-written";
      const CheckResult result = CheckBoth(bad);
      REQUIRE(result.verdict == Verdict::kNotLinearizable);
      const auto stuck = StuckLines(bad, result);
      CHECK(std::find(stuck.begin(), stuck.end(), bad[r].line) != stuck.end());

      // A stale read, when the history has one to make.
      bad = history;
      if (const auto stale = MakeStaleRead(bad, static_cast<size_t>(rng() % history.size()) / 2)) {
        INFO("stale read at line " << bad[*stale].line);
        CHECK(CheckBoth(bad).verdict == Verdict::kNotLinearizable);
        ++stale_reads;
      }
    }
  }
  CHECK(stale_reads > 20);
}

TEST_CASE("lincheck gives up when its budget runs out", "[tools][lincheck]") {
  const std::vector<Operation> history = GenerateHistory(GenerateOptions{.clients = 10, .keys = 2, .ops = 2000});
  const CheckResult result = CheckHistory(history, CheckOptions{.max_steps = 100});
  CHECK(result.verdict == Verdict::kBudgetExhausted);
  for (const KeyResult& key : result.keys) CHECK(key.steps == 100);
  const std::string report = FormatReport(history, result, ReportOptions{});
  CHECK(report.find("unknown: budget exhausted on 2 of 2 keys") != std::string::npos);
  CHECK(CheckHistory(history, CheckOptions{.deadline = std::chrono::steady_clock::time_point::min()}).verdict ==
        Verdict::kBudgetExhausted);
  CHECK(CheckHistory(history, CheckOptions{}).verdict == Verdict::kLinearizable);
}

TEST_CASE("lincheck checks a generated history of 20,000 operations on 5 keys", "[tools][lincheck]") {
  const std::vector<Operation> history =
      GenerateHistory(GenerateOptions{.clients = 10, .keys = 5, .ops = 20000, .unknown_rate = 0.01, .error_rate = 0.01});
  const CheckResult result = CheckHistory(history, CheckOptions{});
  INFO(FormatReport(history, result, ReportOptions{.detail = Detail::kPerKey}));
  CHECK(result.verdict == Verdict::kLinearizable);
}

// The lincheck binary on files: exit codes, the report and the errors.
struct Run {
  int code = -1;
  std::string output{};  // standard output and error
};

Run RunLincheck(const std::string& args, const std::string& file_text) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("lincheck_test_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(file) << file_text;
  Run run;
  FILE* pipe = ::popen((std::string(LINCHECK_BINARY) + " " + args + " " + file.string() + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, n);
  const int status = ::pclose(pipe);
  std::filesystem::remove(file);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  UNSCOPED_INFO("lincheck " << args << ": exit " << run.code << "\n" << run.output);
  return run;
}

std::string Lines(const std::vector<Operation>& history) {
  std::string text;
  for (const Operation& op : history) text += FormatOperation(op) + "\n";
  return text;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE("the lincheck binary: exit codes and the window it prints", "[tools][lincheck]") {
  SECTION("linearizable: 0") {
    const Run run = RunLincheck("", Lines({Put(1, "a", 0, 10), Get(2, "a", 20, 30)}));
    CHECK(run.code == 0);
    CHECK(Contains(run.output, "linearizable: 2 operations on 1 keys"));
  }
  SECTION("not linearizable: 1, with the prefix and the operation that cannot follow") {
    const std::string text = "# stale read\n" + Lines({Put(1, "a", 100, 110), Put(1, "b", 120, 130),
                                                       Get(2, "b", 125, 140), Get(3, "a", 150, 160)});
    const Run run = RunLincheck("", text);
    CHECK(run.code == 1);
    CHECK(Contains(run.output, R"(key "k": not linearizable)"));
    CHECK(Contains(run.output, "longest linearizable prefix: 3 of 4 operations searched"));
    CHECK(Contains(run.output, R"(line 3  client 1  put "b"  [120, 130]  ok  => "b")"));
    CHECK(Contains(run.output, R"(after it the value is "b", and none of these can come next)"));
    CHECK(Contains(run.output,
                   R"(line 5  client 3  get -> "a"  [150, 160]  ok  -- it read "a" but the value is "b")"));
    CHECK(Contains(run.output, R"(not linearizable: 1 of 1 keys ("k"))"));
  }
  SECTION("bad input: 2, every bad line with its number") {
    const Run run = RunLincheck("", Lines({Put(1, "a", 0, 10)}) + "{\"client\":1}\n\nnot json\n");
    CHECK(run.code == 2);
    CHECK(Contains(run.output, ":2: missing \"op\""));
    CHECK(Contains(run.output, ":4: malformed JSON"));
    CHECK(Contains(run.output, "2 bad lines; nothing checked"));
  }
  SECTION("budget exhausted: 3") {
    const Run run = RunLincheck("--max-steps 5", Lines(GenerateHistory(GenerateOptions{.clients = 4, .keys = 1, .ops = 100})));
    CHECK(run.code == 3);
    CHECK(Contains(run.output, "unknown: budget exhausted on 1 of 1 keys"));
  }
  SECTION("usage") {
    CHECK(RunLincheck("--help", "").code == 0);
    CHECK(Contains(RunLincheck("--help", "").output, "Exit codes: 0 linearizable, 1 not linearizable"));
    CHECK(RunLincheck("--max-steps x", "").code == 2);
    CHECK(RunLincheck("--frobnicate", "").code == 2);
  }
  SECTION("--generate writes a history lincheck accepts") {
    const Run generated = RunLincheck("--generate --clients 4 --keys 2 --ops 300 --seed 3 --unknown-rate 0.1", "");
    REQUIRE(generated.code == 0);
    std::istringstream in(generated.output);
    auto history = ReadHistory(in);
    REQUIRE(history);
    CHECK(history->size() == 300);
    CHECK(RunLincheck("", generated.output).code == 0);
  }
}

}  // namespace
}  // namespace claw::lincheck
