// gRPC stubs by node address, created on first use, for commands that talk to particular nodes
// (admin calls at a shard's or the meta shard's leader, replica hash polls). Reconnects are quick
// (100 ms to 1 s backoff): these commands retry across nodes while a cluster changes leaders.
// Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "claw/v1/cluster.grpc.pb.h"
#include "client/grpc_runtime.h"

namespace claw::clawctl {

template <typename Service>
class NodeStubs {
 public:
  typename Service::Stub& At(const std::string& address) {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) it = stubs_.emplace(address, Service::NewStub(Channel(address))).first;
    return *it->second;
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    auto it = channels_.find(address);
    if (it == channels_.end()) it = channels_.emplace(address, client::NodeChannel(address)).first;
    return it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::map<std::string, std::unique_ptr<typename Service::Stub>> stubs_;
};

class ClusterStubs : public NodeStubs<v1::Cluster> {};

}  // namespace claw::clawctl
