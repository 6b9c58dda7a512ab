#include "server/admin_service.h"

#include "server/rpc_status.h"
#include "server/version.h"

namespace claw::server {

AdminService::AdminService(NodeIdentity identity, Store* store, Router* router, Reachable reachable)
    : identity_(std::move(identity)),
      store_(store),
      router_(router),
      reachable_(std::move(reachable)),
      started_(std::chrono::steady_clock::now()) {}

grpc::ServerUnaryReactor* AdminService::Status(grpc::CallbackServerContext* ctx,
                                               const v1::StatusRequest* /*req*/,
                                               v1::StatusResponse* resp) {
  resp->set_node_id(identity_.node_id);
  resp->set_name(identity_.name);
  resp->set_version(CLAW_VERSION);
  resp->set_cluster_id(identity_.cluster_id);
  resp->set_uptime_seconds(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count()));
  for (v1::ReplicaStatus& s : store_->Status()) {
    *resp->add_shards() = s.shard();
    *resp->add_replicas() = std::move(s);
  }
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListShards(grpc::CallbackServerContext* ctx,
                                                   const v1::ListShardsRequest* /*req*/,
                                                   v1::ListShardsResponse* resp) {
  for (const Route& r : router_->All()) {
    v1::ShardRoute* out = resp->add_shards();
    *out->mutable_shard() = r.shard;
    out->set_leader_node_id(r.leader);
    if (r.leader != 0) out->set_leader_address(router_->ClientAddress(r.leader));
  }
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListMembers(grpc::CallbackServerContext* ctx,
                                                    const v1::ListMembersRequest* /*req*/,
                                                    v1::ListMembersResponse* resp) {
  resp->set_self_node_id(identity_.node_id);
  for (const MemberInfo& m : router_->Members()) {
    v1::Member* out = resp->add_members();
    out->set_node_id(m.id);
    out->set_name(m.name);
    out->set_client_address(m.client_address);
    out->set_peer_address(m.peer_address);
    out->set_zone(m.zone);
    out->set_rack(m.rack);
    out->set_host(m.host);
    out->set_reachable(m.id == identity_.node_id || reachable_(m.id));
  }
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// The call's deadline on the steady clock; admin changes without one get 10 s.
std::chrono::steady_clock::time_point SteadyDeadline(const grpc::CallbackServerContext* ctx) {
  const auto now = std::chrono::system_clock::now();
  const auto left = ctx->deadline() - now;
  const auto cap = std::chrono::seconds(10);
  return std::chrono::steady_clock::now() +
         (left > std::chrono::hours(24) ? cap : std::chrono::duration_cast<std::chrono::steady_clock::duration>(left));
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::ChangeReplicas(grpc::CallbackServerContext* ctx,
                                                       const v1::ChangeReplicasRequest* req,
                                                       v1::ChangeReplicasResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  store_->ChangeReplicas(*req, SteadyDeadline(ctx),
                         [reactor, resp](std::expected<v1::ShardDescriptor, RequestError> r) {
                           if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
                           *resp->mutable_shard() = std::move(*r);
                           reactor->Finish(grpc::Status::OK);
                         });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::TransferLeader(grpc::CallbackServerContext* ctx,
                                                       const v1::TransferLeaderRequest* req,
                                                       v1::TransferLeaderResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  const uint64_t to = req->to_node_id();
  store_->TransferLeader(req->shard_id(), to, SteadyDeadline(ctx),
                         [reactor, resp, to](std::expected<v1::ShardDescriptor, RequestError> r) {
                           if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
                           *resp->mutable_shard() = std::move(*r);
                           resp->set_leader_node_id(to);
                           reactor->Finish(grpc::Status::OK);
                         });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::SplitShard(grpc::CallbackServerContext* ctx,
                                                   const v1::SplitShardRequest* req,
                                                   v1::SplitShardResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  store_->SplitShard(*req, SteadyDeadline(ctx),
                     [reactor, resp](std::expected<v1::SplitShardResponse, RequestError> r) {
                       if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
                       *resp = std::move(*r);
                       reactor->Finish(grpc::Status::OK);
                     });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::GetConfig(grpc::CallbackServerContext* ctx,
                                                  const v1::GetConfigRequest* /*req*/,
                                                  v1::GetConfigResponse* resp) {
  resp->set_node_id(identity_.node_id);
  resp->set_name(identity_.name);
  resp->set_yaml(identity_.config_yaml);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::CheckConsistency(grpc::CallbackServerContext* ctx,
                                                         const v1::CheckConsistencyRequest* req,
                                                         v1::CheckConsistencyResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (req->shard_id() == 0) {
    reactor->Finish(ToGrpcStatus(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                           "shard_id is required (a data shard id, see ListShards)")));
    return reactor;
  }
  store_->CheckConsistency(req->shard_id(), SteadyDeadline(ctx),
                           [reactor, resp](std::expected<v1::CheckConsistencyResponse, RequestError> r) {
                             if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
                             *resp = std::move(*r);
                             reactor->Finish(grpc::Status::OK);
                           });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::GetReplicaHash(grpc::CallbackServerContext* ctx,
                                                       const v1::GetReplicaHashRequest* req,
                                                       v1::GetReplicaHashResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (req->shard_id() == 0 || req->index() == 0) {
    reactor->Finish(ToGrpcStatus(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                           req->shard_id() == 0 ? "shard_id is required"
                                                                : "index is required (CheckConsistency's answer)")));
    return reactor;
  }
  store_->ReplicaHash(req->shard_id(), req->index(),
                      [reactor, resp](std::expected<v1::GetReplicaHashResponse, RequestError> r) {
                        if (!r) return reactor->Finish(ToGrpcStatus(r.error()));
                        *resp = std::move(*r);
                        reactor->Finish(grpc::Status::OK);
                      });
  return reactor;
}

}  // namespace claw::server
