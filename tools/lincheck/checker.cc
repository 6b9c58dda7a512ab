#include "tools/lincheck/checker.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace claw::lincheck {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();  // return of an unknown outcome
constexpr int32_t kAbsent = 0;    // value id of "absent"
constexpr int32_t kIllegal = -1;  // Step: the model does not allow the operation here
constexpr int32_t kNone = -1;     // end of the event list

// One operation of one key, its values interned as ids (kAbsent = absent).
struct KeyOp {
  size_t source = 0;  // index in the history
  OpKind kind = OpKind::kGet;
  Outcome outcome = Outcome::kOk;
  int32_t value = kAbsent;     // get: read; put, cas: written
  int32_t expected = kAbsent;  // cas
  int64_t invoke = 0;
  int64_t ret = kNever;
};

// The register model: the value after `op` on `state`, or kIllegal.
int32_t Step(const KeyOp& op, int32_t state) {
  switch (op.kind) {
    case OpKind::kGet: return op.value == state ? state : kIllegal;
    case OpKind::kPut: return op.value;
    case OpKind::kDelete: return kAbsent;
    case OpKind::kCas:
      switch (op.outcome) {
        case Outcome::kOk: return state == op.expected ? op.value : kIllegal;
        case Outcome::kFail: return state != op.expected ? state : kIllegal;
        case Outcome::kError:  // dropped before the search
        case Outcome::kUnknown: return state == op.expected ? op.value : state;
      }
  }
  return kIllegal;
}

// Whether the search needs `op` at all (see the header: what carries no information).
bool Informative(const Operation& op) {
  switch (op.outcome) {
    case Outcome::kOk: return true;
    case Outcome::kFail: return op.kind == OpKind::kCas;
    case Outcome::kError: return false;
    case Outcome::kUnknown: return op.kind != OpKind::kGet;
  }
  return true;
}

// Ok gets and failed cas: legal or not, they never change the value.
bool PreservesValue(const KeyOp& op) {
  return (op.kind == OpKind::kGet && op.outcome == Outcome::kOk) ||
         (op.kind == OpKind::kCas && op.outcome == Outcome::kFail);
}

bool IsWrite(const KeyOp& op) { return op.kind != OpKind::kGet; }
int32_t Written(const KeyOp& op) { return op.kind == OpKind::kDelete ? kAbsent : op.value; }

// Values of one key as small integers; 0 is absent.
class ValueTable {
 public:
  int32_t Id(const Value& value) {
    if (!value) return kAbsent;
    auto [it, inserted] = ids_.try_emplace(*value, static_cast<int32_t>(names_.size() + 1));
    if (inserted) names_.push_back(*value);
    return it->second;
  }
  Value Name(int32_t id) const {
    if (id == kAbsent) return std::nullopt;
    return names_[static_cast<size_t>(id - 1)];
  }

 private:
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> names_;
};

// The header's pruning rules 1 and 2.
void Prune(std::vector<KeyOp>& ops) {
  bool failed_cas = false;
  std::unordered_set<int32_t> observed;                   // by any get, cas of any outcome
  std::unordered_map<int32_t, int64_t> first_observer;    // ok get or ok cas: earliest return
  std::unordered_map<int32_t, int> writers;
  for (const KeyOp& op : ops) {
    if (op.kind == OpKind::kCas && op.outcome == Outcome::kFail) failed_cas = true;
    std::optional<int32_t> seen;
    if (op.kind == OpKind::kGet) seen = op.value;
    if (op.kind == OpKind::kCas && op.outcome != Outcome::kFail) seen = op.expected;
    if (seen) {
      observed.insert(*seen);
      if (op.outcome == Outcome::kOk) {
        auto [it, inserted] = first_observer.try_emplace(*seen, op.ret);
        if (!inserted) it->second = std::min(it->second, op.ret);
      }
    }
    if (op.kind == OpKind::kPut || op.kind == OpKind::kCas) ++writers[op.value];
  }
  std::erase_if(ops, [&](const KeyOp& op) {
    return op.outcome == Outcome::kUnknown && IsWrite(op) && !failed_cas && !observed.contains(Written(op));
  });
  for (KeyOp& op : ops) {
    if (op.outcome != Outcome::kUnknown || op.kind == OpKind::kDelete || op.value == kAbsent) continue;
    if (writers[op.value] != 1) continue;
    if (auto it = first_observer.find(op.value); it != first_observer.end()) op.ret = std::max(op.invoke, it->second);
  }
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Lowe's cache of configurations (set of linearized operations, value). A configuration is
// stored compactly as [hi, value, u...]: hi is one past the highest linearized operation and u
// the operations below hi that are not linearized (operations are numbered in call order, so
// these are the few still pending). Open addressing over an arena of records.
class ConfigCache {
 public:
  ConfigCache() : slots_(kInitialSlots, 0), hashes_(kInitialSlots, 0) {}

  // Adds the record; false when it was there already.
  bool Insert(uint64_t hash, const std::vector<uint32_t>& record) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots_[i] == 0) {
        slots_[i] = arena_.size() + 1;
        hashes_[i] = hash;
        arena_.push_back(static_cast<uint32_t>(record.size()));
        arena_.insert(arena_.end(), record.begin(), record.end());
        ++size_;
        return true;
      }
      if (hashes_[i] == hash && Equal(slots_[i] - 1, record)) return false;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kInitialSlots = 1024;

  bool Equal(size_t offset, const std::vector<uint32_t>& record) const {
    if (arena_[offset] != record.size()) return false;
    return std::equal(record.begin(), record.end(), arena_.begin() + static_cast<std::ptrdiff_t>(offset + 1));
  }
  void Grow() {
    std::vector<size_t> slots(slots_.size() * 2, 0);
    std::vector<uint64_t> hashes(slots.size(), 0);
    const size_t mask = slots.size() - 1;
    for (size_t j = 0; j < slots_.size(); ++j) {
      if (slots_[j] == 0) continue;
      size_t i = hashes_[j] & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = slots_[j];
      hashes[i] = hashes_[j];
    }
    slots_ = std::move(slots);
    hashes_ = std::move(hashes);
  }

  std::vector<size_t> slots_;  // arena offset + 1; 0 = empty
  std::vector<uint64_t> hashes_;
  std::vector<uint32_t> arena_;  // records, each after its length
  size_t size_ = 0;
};

// Wing & Gong's search over one key's operations (sorted by call), with Lowe's cache.
class Search {
 public:
  Search(const std::vector<KeyOp>& ops, const CheckOptions& options) : ops_(ops), options_(options) {
    const size_t n = ops_.size();
    head_ = static_cast<int32_t>(2 * n);
    next_.assign(2 * n + 1, kNone);
    prev_.assign(2 * n + 1, kNone);
    std::vector<int32_t> events(2 * n);
    for (size_t i = 0; i < 2 * n; ++i) events[i] = static_cast<int32_t>(i);
    // Call node 2i at ops[i].invoke, return node 2i+1 at ops[i].ret; on equal times calls first.
    auto time = [&](int32_t node) { return node % 2 == 0 ? ops_[node / 2].invoke : ops_[node / 2].ret; };
    std::sort(events.begin(), events.end(), [&](int32_t a, int32_t b) {
      return std::tuple(time(a), a % 2, a / 2) < std::tuple(time(b), b % 2, b / 2);
    });
    int32_t last = head_;
    for (int32_t node : events) {
      next_[last] = node;
      prev_[node] = last;
      last = node;
    }
    zobrist_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      zobrist_[i] = SplitMix64(i * 2 + 1);
      if (ops_[i].ret != kNever) ++finite_left_;
    }
  }

  Verdict Run() {
    if (finite_left_ == 0) return Verdict::kLinearizable;
    int32_t node = kFresh;
    while (true) {
      ++steps_;
      if (steps_ > options_.max_steps) return Verdict::kBudgetExhausted;
      if (steps_ % 4096 == 0 && Clock::now() > options_.deadline) return Verdict::kBudgetExhausted;
      if (node == kFresh) {  // a configuration reached just now
        const int32_t read = LegalReadCandidate();
        if (read == kNone) {
          node = next_[head_];
          continue;
        }
        // Reads commute: if this configuration completes, it completes with `read` next.
        const auto i = static_cast<size_t>(read / 2);
        if (Visit(i, state_)) {
          if (Push(i, state_, Choice::kOnly)) return Verdict::kLinearizable;
          continue;
        }
        if (!Backtrack(node)) return Verdict::kNotLinearizable;  // (L + read, value) failed before
        continue;
      }
      if (node % 2 == 0) {  // a call: try to linearize it next (a read here is illegal, see above)
        const auto i = static_cast<size_t>(node / 2);
        if (!PreservesValue(ops_[i])) {
          const int32_t after = Step(ops_[i], state_);
          if (after != kIllegal && Visit(i, after)) {
            if (Push(i, after, Choice::kOneOf)) return Verdict::kLinearizable;
            node = kFresh;
            continue;
          }
        }
        node = next_[node];
        continue;
      }
      // A return: its operation must precede everything left, and nothing fits.
      if (!Backtrack(node)) return Verdict::kNotLinearizable;
    }
  }

  uint64_t steps() const { return std::min(steps_, options_.max_steps); }
  size_t cache_entries() const { return cache_.size(); }
  const std::vector<size_t>& best() const { return best_; }
  int32_t best_state() const { return best_state_; }

 private:
  // kOneOf: the search tries the other candidates when op fails; kOnly: op was the one
  // candidate worth trying (a legal read), so when it fails its configuration has failed too.
  enum class Choice : uint8_t { kOneOf, kOnly };
  static constexpr int32_t kFresh = -2;  // Run's node at a configuration not scanned yet

  struct Frame {
    Choice choice = Choice::kOneOf;
    size_t op = 0;
    int32_t state = kAbsent;  // before op
    size_t hi = 0;            // before op
  };

  // Linearizes op i, which takes the value to `after`; true when every operation that returns
  // is linearized (those left never return, so they fit after everything).
  bool Push(size_t i, int32_t after, Choice choice) {
    frames_.push_back(Frame{.choice = choice, .op = i, .state = state_, .hi = hi_});
    state_ = after;
    hi_ = std::max(hi_, i + 1);
    lin_hash_ ^= zobrist_[i];
    Lift(i);
    if (ops_[i].ret != kNever && --finite_left_ == 0) return true;
    if (frames_.size() > best_.size()) RecordBest();
    return false;
  }

  // Undoes linearizations up to the latest configuration with candidates left to try, and sets
  // `node` to the next of them; false when there is none (not linearizable).
  bool Backtrack(int32_t& node) {
    while (!frames_.empty()) {
      const Frame frame = frames_.back();
      frames_.pop_back();
      state_ = frame.state;
      hi_ = frame.hi;
      lin_hash_ ^= zobrist_[frame.op];
      Unlift(frame.op);
      if (ops_[frame.op].ret != kNever) ++finite_left_;
      if (frame.choice == Choice::kOneOf) {
        node = next_[2 * frame.op];
        return true;
      }
    }
    return false;
  }

  // The first candidate (a call before the first return in the list) that leaves the value as it
  // is and is legal on it, or kNone.
  int32_t LegalReadCandidate() const {
    for (int32_t node = next_[head_]; node != kNone && node % 2 == 0; node = next_[node]) {
      const KeyOp& op = ops_[static_cast<size_t>(node / 2)];
      if (PreservesValue(op) && Step(op, state_) != kIllegal) return node;
    }
    return kNone;
  }

  // Adds (linearized + {i}, after) to the cache; false when it was there.
  bool Visit(size_t i, int32_t after) {
    const size_t hi = std::max(hi_, i + 1);
    record_.clear();
    record_.push_back(static_cast<uint32_t>(hi));
    record_.push_back(static_cast<uint32_t>(after));
    for (int32_t node = next_[head_]; node != kNone; node = next_[node]) {
      if (node % 2 != 0) continue;
      const auto op = static_cast<size_t>(node / 2);
      if (op >= hi) break;
      if (op != i) record_.push_back(static_cast<uint32_t>(op));
    }
    return cache_.Insert(lin_hash_ ^ zobrist_[i] ^ SplitMix64(static_cast<uint64_t>(after) << 1), record_);
  }

  void Unlink(int32_t node) {
    next_[prev_[node]] = next_[node];
    if (next_[node] != kNone) prev_[next_[node]] = prev_[node];
  }
  void Relink(int32_t node) {
    next_[prev_[node]] = node;
    if (next_[node] != kNone) prev_[next_[node]] = node;
  }
  // Dancing links: Unlift undoes the latest Lift still in effect.
  void Lift(size_t i) {
    Unlink(static_cast<int32_t>(2 * i));
    Unlink(static_cast<int32_t>(2 * i + 1));
  }
  void Unlift(size_t i) {
    Relink(static_cast<int32_t>(2 * i + 1));
    Relink(static_cast<int32_t>(2 * i));
  }

  void RecordBest() {
    best_.clear();
    for (const Frame& frame : frames_) best_.push_back(frame.op);
    best_state_ = state_;
  }

  const std::vector<KeyOp>& ops_;
  const CheckOptions& options_;
  std::vector<int32_t> next_;  // event list: call of op i is node 2i, its return 2i+1
  std::vector<int32_t> prev_;
  int32_t head_ = 0;
  std::vector<uint64_t> zobrist_;  // per op, XORed into lin_hash_ while linearized
  ConfigCache cache_;
  std::vector<uint32_t> record_;  // scratch for Visit

  std::vector<Frame> frames_;
  int32_t state_ = kAbsent;
  size_t hi_ = 0;
  uint64_t lin_hash_ = 0;
  size_t finite_left_ = 0;  // ops not linearized that return
  uint64_t steps_ = 0;

  std::vector<size_t> best_;  // the longest prefix so far
  int32_t best_state_ = kAbsent;
};

// Fills the prefix and stuck operations of a key that failed or ran out of budget.
void Explain(const std::vector<KeyOp>& ops, const Search& search, const ValueTable& values, KeyResult& result) {
  std::vector<bool> linearized(ops.size(), false);
  for (size_t i : search.best()) {
    linearized[i] = true;
    result.prefix.push_back(ops[i].source);
  }
  result.value_after_prefix = values.Name(search.best_state());
  int64_t earliest_return = kNever;
  size_t blocking = ops.size();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!linearized[i] && ops[i].ret < earliest_return) earliest_return = ops[i].ret, blocking = i;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!linearized[i] && ops[i].invoke <= earliest_return) result.stuck.push_back(ops[i].source);
  }
  if (blocking < ops.size()) result.blocking = ops[blocking].source;
}

KeyResult CheckKey(const std::string& key, const std::vector<Operation>& history, const std::vector<size_t>& indexes,
                   const CheckOptions& options) {
  const Clock::time_point start = Clock::now();
  KeyResult result;
  result.key = key;
  result.ops = indexes.size();
  ValueTable values;
  std::vector<KeyOp> ops;
  for (size_t index : indexes) {
    const Operation& op = history[index];
    if (!Informative(op)) continue;
    ops.push_back(KeyOp{.source = index,
                        .kind = op.kind,
                        .outcome = op.outcome,
                        .value = values.Id(op.value),
                        .expected = values.Id(op.expected),
                        .invoke = op.invoke,
                        .ret = op.outcome == Outcome::kUnknown || !op.ret ? kNever : *op.ret});
  }
  if (options.prune == PruneUnknown::kYes) Prune(ops);
  std::sort(ops.begin(), ops.end(),
            [](const KeyOp& a, const KeyOp& b) { return std::pair(a.invoke, a.source) < std::pair(b.invoke, b.source); });
  result.checked = ops.size();
  if (Clock::now() > options.deadline) {
    result.verdict = Verdict::kBudgetExhausted;
    return result;
  }
  Search search(ops, options);
  result.verdict = search.Run();
  result.steps = search.steps();
  result.cache_entries = search.cache_entries();
  if (result.verdict != Verdict::kLinearizable) Explain(ops, search, values, result);
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace

CheckResult CheckHistory(const std::vector<Operation>& history, const CheckOptions& options) {
  const Clock::time_point start = Clock::now();
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < history.size(); ++i) by_key[history[i].key].push_back(i);
  CheckResult result;
  for (const auto& [key, indexes] : by_key) {
    KeyResult key_result = CheckKey(key, history, indexes, options);
    result.steps += key_result.steps;
    if (key_result.verdict == Verdict::kNotLinearizable) {
      result.verdict = Verdict::kNotLinearizable;
    } else if (key_result.verdict == Verdict::kBudgetExhausted && result.verdict == Verdict::kLinearizable) {
      result.verdict = Verdict::kBudgetExhausted;
    }
    result.keys.push_back(std::move(key_result));
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

std::string IllegalReason(const Operation& op, const Value& value) {
  if (op.outcome == Outcome::kUnknown || op.outcome == Outcome::kError) return "";
  const std::string now = "the value is " + JsonValue(value);
  switch (op.kind) {
    case OpKind::kGet:
      if (op.outcome == Outcome::kOk && op.value != value) return "it read " + JsonValue(op.value) + " but " + now;
      return "";
    case OpKind::kCas:
      if (op.outcome == Outcome::kOk && op.expected != value) {
        return "it expected " + JsonValue(op.expected) + " but " + now;
      }
      if (op.outcome == Outcome::kFail && op.expected == value) return "it failed but " + now + ", as it expected";
      return "";
    case OpKind::kPut:
    case OpKind::kDelete: return "";
  }
  return "";
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable: return "linearizable";
    case Verdict::kNotLinearizable: return "not linearizable";
    case Verdict::kBudgetExhausted: return "unknown: budget exhausted";
  }
  return "?";
}

}  // namespace claw::lincheck
