// Wire <-> core conversion for the Raft peer transport: raft::Message and friends to and from the
// claw.v1 RaftPeer protobufs (proto/claw/v1/raft_peer.proto). The only place in clawd where the
// two vocabularies meet (STYLE.md "Boundaries").
//
// Decoding is total: a message from the network that does not make sense (unknown type, zero
// group, zero sender) is refused with a reason instead of reaching the core, which trusts its
// inputs. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "claw/v1/raft_peer.pb.h"
#include "raft/message.h"

namespace claw::server {

// A Raft message of one group, as the transport moves it.
struct GroupMessage {
  uint64_t group = 0;
  raft::Message message{};
  // Non-zero: not a Raft message but the host-level notice that replica `message.to` is not a
  // member of the group at this conf_version (REPLICA_GONE; `message.body` is meaningless).
  uint64_t gone_conf_version = 0;
  // True: not a Raft message but replica `message.from` asking whether it is still a member
  // (REPLICA_QUERY; `message.body` is meaningless). A replica of the group whose applied
  // configuration no longer lists the sender answers with REPLICA_GONE; others ignore it.
  bool member_query = false;
};

// Host-level notices (REPLICA_GONE, REPLICA_QUERY) travel as such and are never stepped.
inline bool IsHostNotice(const GroupMessage& m) { return m.gone_conf_version != 0 || m.member_query; }

void EncodeRaftMessage(uint64_t group, const raft::Message& m, v1::RaftMessage* out);
// The transport's form: a Raft message or a REPLICA_GONE notice.
void EncodeGroupMessage(const GroupMessage& m, v1::RaftMessage* out);
[[nodiscard]] std::expected<GroupMessage, std::string> DecodeRaftMessage(v1::RaftMessage&& in);

// Heartbeats and their responses travel in the compact coalesced form.
bool IsCoalescible(const raft::Message& m);
void EncodeHeartbeat(uint64_t group, const raft::Message& m, v1::CoalescedHeartbeat* out);
[[nodiscard]] std::expected<GroupMessage, std::string> DecodeHeartbeat(const v1::CoalescedHeartbeat& in,
                                                                     bool response);

void EncodeConfState(const raft::ConfState& c, v1::RaftConfState* out);
raft::ConfState DecodeConfState(const v1::RaftConfState& in);

}  // namespace claw::server
