// Quorum arithmetic for majority and joint configurations (thesis §4.3): the commit index a set of
// acknowledgements supports, and the outcome of an election.
//
// Pure functions; `lookup` maps a voter to its acknowledged index (or vote) and is called once
// per voter.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "raft/types.h"

namespace claw::raft {

enum class VoteTally : uint8_t { kPending, kLost, kWon };

// Largest value acknowledged by a majority of `voters`. An empty set supports everything, so that
// a joint configuration whose outgoing half is empty reduces to its incoming half.
template <typename Lookup>
uint64_t MajorityValue(const std::vector<NodeId>& voters, Lookup lookup) {
  if (voters.empty()) return std::numeric_limits<uint64_t>::max();
  // Groups have a handful of voters: a small stack buffer avoids allocating on the hot path.
  constexpr size_t kInline = 16;
  uint64_t inline_buf[kInline];
  std::vector<uint64_t> heap_buf;
  uint64_t* values = inline_buf;
  if (voters.size() > kInline) {
    heap_buf.resize(voters.size());
    values = heap_buf.data();
  }
  for (size_t i = 0; i < voters.size(); ++i) values[i] = lookup(voters[i]);
  std::sort(values, values + voters.size());
  // Sorted ascending, the value at position n - (n/2 + 1) is held by n/2 + 1 voters or more.
  return values[voters.size() - (voters.size() / 2 + 1)];
}

// `lookup` returns std::optional<bool>: granted, refused, or not yet heard.
template <typename Lookup>
VoteTally MajorityTally(const std::vector<NodeId>& voters, Lookup lookup) {
  if (voters.empty()) return VoteTally::kWon;
  size_t granted = 0, missing = 0;
  for (NodeId id : voters) {
    const std::optional<bool> v = lookup(id);
    if (!v) {
      ++missing;
    } else if (*v) {
      ++granted;
    }
  }
  const size_t quorum = voters.size() / 2 + 1;
  if (granted >= quorum) return VoteTally::kWon;
  if (granted + missing >= quorum) return VoteTally::kPending;
  return VoteTally::kLost;
}

// Joint configuration: both halves must agree.
template <typename Lookup>
uint64_t JointValue(const std::vector<NodeId>& incoming, const std::vector<NodeId>& outgoing,
                    Lookup lookup) {
  return std::min(MajorityValue(incoming, lookup), MajorityValue(outgoing, lookup));
}

template <typename Lookup>
VoteTally JointTally(const std::vector<NodeId>& incoming, const std::vector<NodeId>& outgoing,
                     Lookup lookup) {
  const VoteTally a = MajorityTally(incoming, lookup);
  const VoteTally b = MajorityTally(outgoing, lookup);
  if (a == VoteTally::kLost || b == VoteTally::kLost) return VoteTally::kLost;
  if (a == VoteTally::kWon && b == VoteTally::kWon) return VoteTally::kWon;
  return VoteTally::kPending;
}

}  // namespace claw::raft
