// Raft vocabulary shared by the core, the storage engine and the node: strong ids, log entries,
// hard state, configurations and snapshot metadata.
//
// Plain values: cheap to copy or move, no ownership, no thread-safety concerns of their own.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace claw::raft {

// A 64-bit integer with a meaning. Distinct Tags make distinct types, so a Term can never be passed
// where a LogIndex is expected. Zero is the "none" value for every id.
template <typename Tag>
class StrongU64 {
 public:
  constexpr StrongU64() = default;
  constexpr explicit StrongU64(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr bool IsZero() const { return v_ == 0; }
  constexpr auto operator<=>(const StrongU64&) const = default;

 private:
  uint64_t v_ = 0;
};

// Ids only compare; terms and indexes also count.
template <typename Tag>
class Counter : public StrongU64<Tag> {
 public:
  using StrongU64<Tag>::StrongU64;
  constexpr Counter operator+(uint64_t n) const { return Counter(this->value() + n); }
  constexpr Counter operator-(uint64_t n) const { return Counter(this->value() - n); }
  // Distance between two counters; requires *this >= other.
  constexpr uint64_t operator-(Counter other) const { return this->value() - other.value(); }
  constexpr Counter& operator++() {
    *this = *this + 1;
    return *this;
  }
  constexpr auto operator<=>(const Counter&) const = default;
};

struct NodeIdTag {};
struct TermTag {};
struct LogIndexTag {};
struct ReadIdTag {};

// Identifies a replica's node within a group. NodeId{0} means "none" (no leader, no vote).
using NodeId = StrongU64<NodeIdTag>;
// Raft term (thesis §3.3). Term{0} precedes every election.
using Term = Counter<TermTag>;
// Position in the replicated log; the first real entry has index 1 and LogIndex{0} is "before all".
using LogIndex = Counter<LogIndexTag>;
// A caller-chosen token naming one linearizable read request (ReadIndex, thesis §6.4).
using ReadId = StrongU64<ReadIdTag>;

inline constexpr NodeId kNoNode{};

enum class EntryType : uint8_t {
  kNormal = 0,  // application command (an empty one is the leader's no-op, thesis §6.4)
  kConfig = 1,  // encoded ConfState; takes effect as soon as it is appended (thesis §4.1)
};

struct Entry {
  Term term{};
  LogIndex index{};
  EntryType type = EntryType::kNormal;
  std::string data{};

  // Bytes this entry is charged for in size limits (payload only; headers are fixed cost).
  size_t PayloadSize() const { return data.size(); }
  bool operator==(const Entry&) const = default;
};

// State that must be durable before the replica answers any message (thesis §3.8, Figure 3.1):
// the current term, the vote cast in it, and the highest index known to be committed.
struct HardState {
  Term term{};
  NodeId vote{};
  LogIndex commit{};
  bool operator==(const HardState&) const = default;
};

// A group's membership. Outside a joint configuration voters_outgoing and learners_next are empty.
// During a joint configuration (thesis §4.3) decisions need a majority of `voters` AND a majority
// of `voters_outgoing`; `learners_next` are outgoing voters that become learners when the joint
// configuration is left. A node is never both a voter (of either half) and a learner.
struct ConfState {
  std::vector<NodeId> voters{};
  std::vector<NodeId> learners{};
  std::vector<NodeId> voters_outgoing{};
  std::vector<NodeId> learners_next{};

  bool IsJoint() const { return !voters_outgoing.empty(); }
  bool operator==(const ConfState&) const = default;
};

// Describes a snapshot of the state machine: every entry up to `index` is reflected in it, and
// `conf` is the configuration in effect at `index`. The snapshot's bytes are the host's business
// (SST files for clawd); the core only reasons about this metadata.
struct SnapshotMeta {
  LogIndex index{};
  Term term{};
  ConfState conf{};
  bool operator==(const SnapshotMeta&) const = default;
};

}  // namespace claw::raft

template <typename Tag>
struct std::hash<claw::raft::StrongU64<Tag>> {
  size_t operator()(claw::raft::StrongU64<Tag> v) const noexcept {
    return std::hash<uint64_t>{}(v.value());
  }
};
template <typename Tag>
struct std::hash<claw::raft::Counter<Tag>> {
  size_t operator()(claw::raft::Counter<Tag> v) const noexcept {
    return std::hash<uint64_t>{}(v.value());
  }
};
