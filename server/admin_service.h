// AdminService: the claw.v1.Cluster gRPC service — node status, the shard directory with leaders
// (the C++ client's route source), the member list and the node's effective configuration.
// Answers from the Router, the Store and the identity it was built with.
// Thread-safe. Status blocks its handler briefly while every raft worker reports (admin calls are
// rare; the KV path never waits like this).
#pragma once

#include <chrono>
#include <functional>

#include "claw/v1/cluster.grpc.pb.h"
#include "server/router.h"
#include "server/store.h"

namespace claw::server {

struct NodeIdentity {
  uint64_t node_id = 0;
  uint64_t cluster_id = 0;
  std::string name{};
  // The node's effective configuration as config::ToYaml prints it (GetConfig's answer).
  std::string config_yaml{};
};

class AdminService final : public v1::Cluster::CallbackService {
 public:
  using Reachable = std::function<bool(uint64_t node)>;
  AdminService(NodeIdentity identity, Store* store, Router* router, Reachable reachable);

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest* req,
                                   v1::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* ListShards(grpc::CallbackServerContext* ctx,
                                       const v1::ListShardsRequest* req,
                                       v1::ListShardsResponse* resp) override;
  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* ctx,
                                        const v1::ListMembersRequest* req,
                                        v1::ListMembersResponse* resp) override;
  grpc::ServerUnaryReactor* ChangeReplicas(grpc::CallbackServerContext* ctx,
                                           const v1::ChangeReplicasRequest* req,
                                           v1::ChangeReplicasResponse* resp) override;
  grpc::ServerUnaryReactor* TransferLeader(grpc::CallbackServerContext* ctx,
                                           const v1::TransferLeaderRequest* req,
                                           v1::TransferLeaderResponse* resp) override;
  grpc::ServerUnaryReactor* SplitShard(grpc::CallbackServerContext* ctx, const v1::SplitShardRequest* req,
                                       v1::SplitShardResponse* resp) override;
  grpc::ServerUnaryReactor* GetConfig(grpc::CallbackServerContext* ctx, const v1::GetConfigRequest* req,
                                      v1::GetConfigResponse* resp) override;
  grpc::ServerUnaryReactor* CheckConsistency(grpc::CallbackServerContext* ctx,
                                             const v1::CheckConsistencyRequest* req,
                                             v1::CheckConsistencyResponse* resp) override;
  grpc::ServerUnaryReactor* GetReplicaHash(grpc::CallbackServerContext* ctx, const v1::GetReplicaHashRequest* req,
                                           v1::GetReplicaHashResponse* resp) override;

 private:
  NodeIdentity identity_;
  Store* store_;
  Router* router_;
  Reachable reachable_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace claw::server
