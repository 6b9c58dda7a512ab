#include "raft/conf_change.h"

#include <algorithm>

namespace claw::raft {
namespace {

bool Contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

void Erase(std::vector<NodeId>& v, NodeId id) { std::erase(v, id); }

void SortUnique(std::vector<NodeId>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

std::string NodeName(NodeId id) { return "node " + std::to_string(id.value()); }

constexpr uint8_t kConfEncodingVersion = 1;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(uint8_t(v)));
}

bool GetVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift <= 63 && !in.empty(); shift += 7) {
    const uint8_t byte = uint8_t(in.front());
    in.remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // would overflow 64 bits
    v |= uint64_t(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

void Normalize(ConfState& conf) {
  SortUnique(conf.voters);
  SortUnique(conf.learners);
  SortUnique(conf.voters_outgoing);
  SortUnique(conf.learners_next);
}

bool IsVoter(const ConfState& conf, NodeId id) {
  return Contains(conf.voters, id) || Contains(conf.voters_outgoing, id);
}

bool IsLearner(const ConfState& conf, NodeId id) {
  return Contains(conf.learners, id) || Contains(conf.learners_next, id);
}

bool IsMember(const ConfState& conf, NodeId id) { return IsVoter(conf, id) || IsLearner(conf, id); }

std::expected<ConfState, std::string> NextConf(const ConfState& current, const ConfChange& change) {
  if (current.IsJoint()) return std::unexpected("the configuration is joint; leave it first");
  if (change.steps.empty()) return std::unexpected("the change has no steps");
  std::vector<NodeId> touched;
  ConfState next = current;
  for (const ConfChangeStep& step : change.steps) {
    if (step.node == kNoNode) return std::unexpected("node id 0 is not a valid node");
    if (Contains(touched, step.node)) {
      return std::unexpected(NodeName(step.node) + " appears twice in one change");
    }
    touched.push_back(step.node);
    switch (step.type) {
      case ConfChangeType::kAddVoter:
        if (Contains(next.voters, step.node)) {
          return std::unexpected(NodeName(step.node) + " is already a voter");
        }
        Erase(next.learners, step.node);
        next.voters.push_back(step.node);
        break;
      case ConfChangeType::kAddLearner:
        if (Contains(next.learners, step.node)) {
          return std::unexpected(NodeName(step.node) + " is already a learner");
        }
        Erase(next.voters, step.node);
        next.learners.push_back(step.node);
        break;
      case ConfChangeType::kRemove:
        if (!IsMember(next, step.node)) {
          return std::unexpected(NodeName(step.node) + " is not a member");
        }
        Erase(next.voters, step.node);
        Erase(next.learners, step.node);
        break;
    }
  }
  if (next.voters.empty()) return std::unexpected("the change would leave no voter");
  Normalize(next);

  // Count voters that come or go. One is safe in a single step (thesis §4.2); more need a joint
  // configuration in which both the old and the new voter sets must agree (thesis §4.3).
  size_t voter_changes = 0;
  for (NodeId id : next.voters) voter_changes += Contains(current.voters, id) ? 0 : 1;
  for (NodeId id : current.voters) voter_changes += Contains(next.voters, id) ? 0 : 1;
  if (voter_changes <= 1) return next;

  ConfState joint;
  joint.voters = next.voters;
  joint.voters_outgoing = current.voters;
  // A voter being demoted stays a voter of the outgoing half until the joint config is left.
  for (NodeId id : next.learners) {
    if (Contains(current.voters, id)) {
      joint.learners_next.push_back(id);
    } else {
      joint.learners.push_back(id);
    }
  }
  Normalize(joint);
  return joint;
}

ConfState LeaveJoint(const ConfState& current) {
  ConfState next;
  next.voters = current.voters;
  next.learners = current.learners;
  next.learners.insert(next.learners.end(), current.learners_next.begin(),
                       current.learners_next.end());
  Normalize(next);
  return next;
}

std::string EncodeConfState(const ConfState& conf) {
  std::string out;
  out.push_back(char(kConfEncodingVersion));
  for (const std::vector<NodeId>* list :
       {&conf.voters, &conf.learners, &conf.voters_outgoing, &conf.learners_next}) {
    PutVarint(out, list->size());
    for (NodeId id : *list) PutVarint(out, id.value());
  }
  return out;
}

std::expected<ConfState, std::string> DecodeConfState(std::string_view bytes) {
  if (bytes.empty()) return std::unexpected("empty configuration entry");
  if (uint8_t(bytes.front()) != kConfEncodingVersion) {
    return std::unexpected("unknown configuration encoding version " +
                           std::to_string(uint8_t(bytes.front())));
  }
  bytes.remove_prefix(1);
  ConfState conf;
  for (std::vector<NodeId>* list :
       {&conf.voters, &conf.learners, &conf.voters_outgoing, &conf.learners_next}) {
    uint64_t count = 0;
    if (!GetVarint(bytes, count)) return std::unexpected("truncated configuration entry");
    if (count > bytes.size()) return std::unexpected("configuration list longer than the entry");
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t id = 0;
      if (!GetVarint(bytes, id)) return std::unexpected("truncated configuration entry");
      if (id == 0) return std::unexpected("configuration names node 0");
      list->push_back(NodeId(id));
    }
  }
  if (!bytes.empty()) return std::unexpected("trailing bytes after configuration entry");
  ConfState normalized = conf;
  Normalize(normalized);
  if (!(normalized == conf))
    return std::unexpected("configuration lists are not sorted and unique");
  for (NodeId id : conf.learners) {
    if (IsVoter(conf, id)) return std::unexpected(NodeName(id) + " is both voter and learner");
  }
  for (NodeId id : conf.learners_next) {
    if (!Contains(conf.voters_outgoing, id) || Contains(conf.voters, id)) {
      return std::unexpected(NodeName(id) + " in learners_next must be an outgoing-only voter");
    }
  }
  return conf;
}

}  // namespace claw::raft
