#include "tools/clawctl/shard_admin.h"

#include <thread>

#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "client/convert.h"
#include "client/errors.h"
#include "tools/clawctl/node_stubs.h"

namespace claw::clawctl {
namespace {

// The admin RPCs change the cluster: a failure may leave their outcome unknown (Error::definite).
constexpr bool kIsWrite = true;

client::Error ToError(const grpc::Status& status) {
  v1::Error detail;
  const bool has_detail = client::DecodeErrorDetail(status.error_details(), &detail);
  return client::ErrorFromStatus(status, has_detail ? &detail : nullptr, kIsWrite);
}

void SetDeadline(grpc::ClientContext* context, ShardAdmin::Timeout timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

v1::Epoch ToProto(const client::ShardEpoch& epoch) {
  v1::Epoch out;
  out.set_conf_version(epoch.conf_version);
  out.set_range_version(epoch.range_version);
  return out;
}

}  // namespace

GrpcShardAdmin::GrpcShardAdmin(client::Client& client)
    : client_(client), stubs_(std::make_unique<ClusterStubs>()) {}

GrpcShardAdmin::~GrpcShardAdmin() = default;

client::Result<std::vector<client::ShardInfo>> GrpcShardAdmin::ListShards(Timeout timeout) {
  client::CallOptions options;
  options.deadline = timeout;
  return client_.ListShards(options);
}

client::Result<std::vector<client::MemberInfo>> GrpcShardAdmin::ListMembers(Timeout timeout) {
  client::CallOptions options;
  options.deadline = timeout;
  return client_.ListMembers(options);
}

client::Result<client::NodeStatus> GrpcShardAdmin::NodeStatus(const std::string& address,
                                                               Timeout timeout) {
  client::CallOptions options;
  options.deadline = timeout;
  return client_.Status(address, options);
}

client::Result<client::ShardInfo> GrpcShardAdmin::ChangeReplicas(const std::string& address,
                                                                 const ReplicaChange& change,
                                                                 Timeout timeout) {
  v1::ChangeReplicasRequest request;
  request.set_shard_id(change.shard_id);
  *request.mutable_epoch() = ToProto(change.epoch);
  switch (change.kind) {
    case ReplicaChange::Kind::kAddLearner:
      request.set_change(v1::ChangeReplicasRequest::ADD_LEARNER);
      break;
    case ReplicaChange::Kind::kPromote: request.set_change(v1::ChangeReplicasRequest::PROMOTE); break;
    case ReplicaChange::Kind::kRemove: request.set_change(v1::ChangeReplicasRequest::REMOVE); break;
  }
  request.set_node_id(change.node_id);
  v1::ChangeReplicasResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).ChangeReplicas(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status));
  return client::ToShardInfo(response.shard());
}

client::Result<client::ShardInfo> GrpcShardAdmin::TransferLeader(const std::string& address,
                                                                 uint64_t shard_id,
                                                                 uint64_t to_node,
                                                                 Timeout timeout) {
  v1::TransferLeaderRequest request;
  request.set_shard_id(shard_id);
  request.set_to_node_id(to_node);
  v1::TransferLeaderResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).TransferLeader(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status));
  client::ShardInfo shard = client::ToShardInfo(response.shard());
  shard.leader_node_id = response.leader_node_id();
  return shard;
}

client::Result<SplitResult> GrpcShardAdmin::SplitShard(const std::string& address,
                                                       uint64_t shard_id, const std::string& key,
                                                       const client::ShardEpoch& epoch,
                                                       Timeout timeout) {
  v1::SplitShardRequest request;
  request.set_shard_id(shard_id);
  request.set_split_key(key);
  *request.mutable_epoch() = ToProto(epoch);
  v1::SplitShardResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).SplitShard(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status));
  return SplitResult{client::ToShardInfo(response.left()), client::ToShardInfo(response.right())};
}

ShardAdmin::Clock::time_point GrpcShardAdmin::Now() { return Clock::now(); }

void GrpcShardAdmin::Sleep(std::chrono::milliseconds duration) {
  std::this_thread::sleep_for(duration);
}

}  // namespace claw::clawctl
