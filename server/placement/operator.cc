#include "server/placement/operator.h"

#include <type_traits>

namespace claw::placement {
namespace {

std::string Node(NodeId id) { return "n" + std::to_string(id.value()); }

}  // namespace

std::string_view PriorityName(Priority priority) {
  switch (priority) {
    case Priority::kRepair: return "repair";
    case Priority::kOverReplicated: return "over-replicated";
    case Priority::kDrain: return "drain";
    case Priority::kConstraint: return "constraint";
    case Priority::kPreferredLeader: return "preferred-leader";
    case Priority::kDiversity: return "diversity";
    case Priority::kReplicaBalance: return "replica-balance";
    case Priority::kLeaderBalance: return "leader-balance";
    case Priority::kBytesBalance: return "bytes-balance";
    case Priority::kSplit: return "split";
  }
  return "?";
}

std::string ToString(const Action& action) {
  return std::visit(
      [](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, AddReplica>) {
          return "add replica on " + Node(a.target);
        } else if constexpr (std::is_same_v<T, RemoveReplica>) {
          return "remove replica on " + Node(a.node);
        } else if constexpr (std::is_same_v<T, MoveReplica>) {
          return "move replica " + Node(a.from) + " -> " + Node(a.to);
        } else if constexpr (std::is_same_v<T, TransferLeader>) {
          return "transfer leader " + Node(a.from) + " -> " + Node(a.to);
        } else {
          return a.key.empty() ? std::string("split") : "split at key " + QuoteKey(a.key);
        }
      },
      action);
}

std::string ToString(const Operator& op) {
  std::string out = "shard " + std::to_string(op.shard.value()) + ": " + ToString(op.action) +
                    " [" + std::string(PriorityName(op.priority)) + "]";
  if (!op.reason.empty()) out += " " + op.reason;
  return out;
}

std::string QuoteKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out + "\"";
}

}  // namespace claw::placement
