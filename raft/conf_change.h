// Membership changes: the request a host proposes, how it turns a configuration into the next one,
// and the byte encoding of a configuration inside a kConfig log entry.
//
// Pure functions over values; thread-compatible.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace claw::raft {

enum class ConfChangeType : uint8_t {
  kAddVoter,    // add a node as voter, or promote a learner
  kAddLearner,  // add a node as learner, or demote a voter
  kRemove,      // remove a voter or learner
};

struct ConfChangeStep {
  ConfChangeType type;
  NodeId node;
};

// A set of changes applied together. When at most one voter is added or removed the change is
// applied in one step (thesis §4.2). Otherwise the group passes through a joint configuration
// (thesis §4.3) that the leader leaves on its own once the joint entry commits.
struct ConfChange {
  std::vector<ConfChangeStep> steps;
};

// The configuration that `change` leads to from `current`, which must not be joint. Errors name
// the offending node: removing an absent node, duplicates within one change, leaving no voter.
std::expected<ConfState, std::string> NextConf(const ConfState& current, const ConfChange& change);

// The configuration after leaving the joint `current`.
ConfState LeaveJoint(const ConfState& current);

// Canonical form: every list sorted, no duplicates.
void Normalize(ConfState& conf);
bool IsVoter(const ConfState& conf, NodeId id);    // in either half
bool IsLearner(const ConfState& conf, NodeId id);  // learners or learners_next
bool IsMember(const ConfState& conf, NodeId id);

// Byte encoding stored in kConfig entries: version byte, then four length-prefixed lists of
// varint ids. Decode rejects anything malformed.
std::string EncodeConfState(const ConfState& conf);
std::expected<ConfState, std::string> DecodeConfState(std::string_view bytes);

}  // namespace claw::raft
