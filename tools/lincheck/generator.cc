#include "tools/lincheck/generator.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>

namespace claw::lincheck {
namespace {

// An operation with its linearization point, before its result is known.
struct Planned {
  Operation op{};
  int64_t at = 0;        // linearization point, in [invoke, return]
  size_t seq = 0;        // creation order, to break ties
  bool applies = true;   // unknown writes: whether it takes effect
  int expected_pick = 0; // cas: 0..99, how to choose the expected value
};

}  // namespace

std::vector<Operation> GenerateHistory(const GenerateOptions& options) {
  std::mt19937_64 rng(options.seed);
  auto below = [&](int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const size_t clients = std::max<size_t>(options.clients, 1);
  const size_t keys = std::max<size_t>(options.keys, 1);

  std::vector<int64_t> free_at(clients);
  for (int64_t& t : free_at) t = below(options.max_think + 1);
  std::vector<Planned> planned;
  planned.reserve(options.ops);
  for (size_t seq = 0; seq < options.ops; ++seq) {
    const auto client = static_cast<size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    Planned p;
    p.seq = seq;
    p.op.client = client;
    p.op.key = "k" + std::to_string(below(static_cast<int64_t>(keys)));
    const auto pick = below(100);
    p.op.kind = pick < options.put_percent                                             ? OpKind::kPut
                : pick < options.put_percent + options.cas_percent                     ? OpKind::kCas
                : pick < options.put_percent + options.cas_percent + options.delete_percent ? OpKind::kDelete
                                                                                       : OpKind::kGet;
    if (p.op.kind == OpKind::kPut || p.op.kind == OpKind::kCas) {
      p.op.value = "c" + std::to_string(client) + "-" + std::to_string(seq);
    }
    p.op.invoke = free_at[client];
    const int64_t duration = 1 + below(std::max<int64_t>(options.max_latency, 1));
    p.op.ret = p.op.invoke + duration;
    p.at = p.op.invoke + below(duration + 1);
    p.op.outcome = chance(options.unknown_rate) ? Outcome::kUnknown
                   : chance(options.error_rate) ? Outcome::kError
                                                : Outcome::kOk;
    p.applies = p.op.outcome == Outcome::kOk || (p.op.outcome == Outcome::kUnknown && chance(0.5));
    p.expected_pick = static_cast<int>(below(100));
    free_at[client] = *p.op.ret + below(options.max_think + 1);
    planned.push_back(std::move(p));
  }

  // Results, in linearization order, from a sequential map.
  std::sort(planned.begin(), planned.end(),
            [](const Planned& a, const Planned& b) { return std::pair(a.at, a.seq) < std::pair(b.at, b.seq); });
  std::map<std::string, Value> state;
  std::map<std::string, std::vector<std::string>> written;  // per key, every value written
  for (Planned& p : planned) {
    Operation& op = p.op;
    Value& current = state[op.key];
    switch (op.kind) {
      case OpKind::kGet:
        if (op.outcome == Outcome::kOk) op.value = current;
        break;
      case OpKind::kPut:
        if (p.applies) current = op.value;
        if (p.applies) written[op.key].push_back(*op.value);
        break;
      case OpKind::kDelete:
        if (p.applies) current = std::nullopt;
        break;
      case OpKind::kCas: {
        const auto& old = written[op.key];
        if (p.expected_pick < 60 || old.empty()) {
          op.expected = p.expected_pick < 80 ? current : std::nullopt;
        } else {
          op.expected = old[static_cast<size_t>(p.expected_pick) % old.size()];
        }
        const bool equal = current == op.expected;
        if (op.outcome == Outcome::kOk && !equal) op.outcome = Outcome::kFail;
        if (p.applies && equal) {
          current = op.value;
          written[op.key].push_back(*op.value);
        }
        break;
      }
    }
    if (op.outcome == Outcome::kUnknown) op.ret = std::nullopt;
  }

  std::sort(planned.begin(), planned.end(), [](const Planned& a, const Planned& b) {
    return std::pair(a.op.invoke, a.seq) < std::pair(b.op.invoke, b.seq);
  });
  std::vector<Operation> history;
  history.reserve(planned.size());
  for (Planned& p : planned) {
    p.op.line = history.size() + 1;
    history.push_back(std::move(p.op));
  }
  return history;
}

}  // namespace claw::lincheck
