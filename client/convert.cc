#include "client/convert.h"

namespace claw::client {

KeyValue ToKeyValue(const v1::KeyValue& kv) {
  return KeyValue{kv.key(), kv.value(), kv.version(), kv.mod_ts(), kv.create_ts(), kv.lease()};
}

ShardInfo ToShardInfo(const v1::ShardDescriptor& shard) {
  ShardInfo info;
  info.id = shard.id();
  info.start_key = shard.start_key();
  info.end_key = shard.end_key();
  info.epoch = ShardEpoch{shard.epoch().conf_version(), shard.epoch().range_version()};
  for (const v1::Replica& replica : shard.replicas()) {
    info.replicas.push_back(ReplicaInfo{replica.node_id(), replica.replica_id(),
                                        replica.role() == v1::Replica::LEARNER});
  }
  return info;
}

ShardInfo ToShardInfo(const v1::ShardRoute& route) {
  ShardInfo info = ToShardInfo(route.shard());
  info.leader_node_id = route.leader_node_id();
  info.leader_address = route.leader_address();
  return info;
}

MemberInfo ToMemberInfo(const v1::Member& member) {
  return MemberInfo{member.node_id(), member.name(), member.client_address(),
                    member.peer_address(), member.zone(), member.rack(), member.host(),
                    member.reachable()};
}

NodeStatus ToNodeStatus(const v1::StatusResponse& status, const std::string& endpoint) {
  NodeStatus node;
  node.endpoint = endpoint;
  node.node_id = status.node_id();
  node.name = status.name();
  node.version = status.version();
  node.cluster_id = status.cluster_id();
  node.uptime_seconds = status.uptime_seconds();
  for (const v1::ReplicaStatus& replica : status.replicas()) {
    ReplicaStatusInfo info;
    info.shard = ToShardInfo(replica.shard());
    info.term = replica.term();
    info.leader_node_id = replica.leader_node_id();
    info.is_leader = replica.is_leader();
    info.commit_index = replica.commit_index();
    info.applied_index = replica.applied_index();
    info.last_index = replica.last_index();
    info.hibernating = replica.hibernating();
    node.replicas.push_back(std::move(info));
  }
  if (status.replicas().empty()) {  // an older server: descriptors only
    for (const v1::ShardDescriptor& shard : status.shards()) {
      ReplicaStatusInfo info;
      info.shard = ToShardInfo(shard);
      node.replicas.push_back(std::move(info));
    }
  }
  return node;
}

void ToProto(const Op& op, v1::Op* out) {
  switch (op.type) {
    case Op::Type::kGet:
      out->mutable_get()->set_key(op.key);
      break;
    case Op::Type::kPut: {
      v1::PutRequest* put = out->mutable_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_prev_kv(op.prev_kv);
      put->set_lease(op.lease);
      break;
    }
    case Op::Type::kDelete:
      out->mutable_delete_()->set_key(op.key);
      out->mutable_delete_()->set_prev_kv(op.prev_kv);
      break;
    case Op::Type::kDeleteRange:
      out->mutable_delete_range()->set_start_key(op.key);
      out->mutable_delete_range()->set_end_key(op.end_key);
      break;
  }
}

void ToProto(const Compare& compare, v1::Compare* out) {
  out->set_key(compare.key);
  switch (compare.target) {
    case Compare::Target::kValue:
      out->set_target(v1::Compare::VALUE);
      out->set_value(compare.value);
      break;
    case Compare::Target::kVersion:
      out->set_target(v1::Compare::VERSION);
      out->set_version(compare.number);
      break;
    case Compare::Target::kModTs:
      out->set_target(v1::Compare::MOD_TS);
      out->set_mod_ts(compare.number);
      break;
    case Compare::Target::kExists:
      out->set_target(v1::Compare::EXISTS);
      out->set_exists(compare.exists);
      break;
  }
  switch (compare.op) {
    case Compare::Op::kEqual: out->set_op(v1::Compare::EQUAL); break;
    case Compare::Op::kNotEqual: out->set_op(v1::Compare::NOT_EQUAL); break;
    case Compare::Op::kLess: out->set_op(v1::Compare::LESS); break;
    case Compare::Op::kGreater: out->set_op(v1::Compare::GREATER); break;
  }
}

OpResult ToOpResult(const v1::OpResult& result) {
  OpResult out;
  switch (result.result_case()) {
    case v1::OpResult::kGet:
      out.type = Op::Type::kGet;
      if (result.get().found()) out.kv = ToKeyValue(result.get().kv());
      break;
    case v1::OpResult::kPut:
      out.type = Op::Type::kPut;
      if (result.put().has_prev()) out.kv = ToKeyValue(result.put().prev());
      out.mod_ts = result.put().mod_ts();
      break;
    case v1::OpResult::kDelete:
      out.type = Op::Type::kDelete;
      if (result.delete_().has_prev()) out.kv = ToKeyValue(result.delete_().prev());
      out.deleted = result.delete_().deleted();
      break;
    case v1::OpResult::kDeleteRange:
      out.type = Op::Type::kDeleteRange;
      out.deleted = result.delete_range().deleted();
      break;
    case v1::OpResult::RESULT_NOT_SET:
      break;
  }
  return out;
}

}  // namespace claw::client
