// Conversions between the client's plain types (client/types.h) and claw.v1 messages. Internal
// to client/: the only place that knows both vocabularies. Pure functions.
#pragma once

#include <string>

#include "claw/v1/cluster.pb.h"
#include "claw/v1/kv.pb.h"
#include "claw/v1/shard.pb.h"
#include "client/types.h"

namespace claw::client {

KeyValue ToKeyValue(const v1::KeyValue& kv);
ShardInfo ToShardInfo(const v1::ShardDescriptor& shard);
// A route: the descriptor plus its leader.
ShardInfo ToShardInfo(const v1::ShardRoute& route);
MemberInfo ToMemberInfo(const v1::Member& member);
NodeStatus ToNodeStatus(const v1::StatusResponse& status, const std::string& endpoint);

void ToProto(const Op& op, v1::Op* out);
void ToProto(const Compare& compare, v1::Compare* out);
OpResult ToOpResult(const v1::OpResult& result);

}  // namespace claw::client
