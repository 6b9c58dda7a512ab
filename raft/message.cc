#include "raft/message.h"

#include <type_traits>

namespace claw::raft {

std::string_view MessageTypeName(const Message& m) {
  return std::visit(
      [](const auto& body) -> std::string_view {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, AppendRequest>) return "append";
        if constexpr (std::is_same_v<T, AppendResponse>) return "append_response";
        if constexpr (std::is_same_v<T, VoteRequest>) {
          return body.kind == ElectionKind::kPreVote ? "pre_vote" : "vote";
        }
        if constexpr (std::is_same_v<T, VoteResponse>) {
          return body.kind == ElectionKind::kPreVote ? "pre_vote_response" : "vote_response";
        }
        if constexpr (std::is_same_v<T, Heartbeat>) return "heartbeat";
        if constexpr (std::is_same_v<T, HeartbeatResponse>) return "heartbeat_response";
        if constexpr (std::is_same_v<T, InstallSnapshot>) return "install_snapshot";
        if constexpr (std::is_same_v<T, TimeoutNow>) return "timeout_now";
        if constexpr (std::is_same_v<T, ReadIndexRequest>) return "read_index";
        if constexpr (std::is_same_v<T, ReadIndexResponse>) return "read_index_response";
        if constexpr (std::is_same_v<T, TransferLeaderRequest>) return "transfer_leader";
        if constexpr (std::is_same_v<T, Hibernate>) return "hibernate";
      },
      m.body);
}

}  // namespace claw::raft
