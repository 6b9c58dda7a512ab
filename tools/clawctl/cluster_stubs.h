// claw.v1.Cluster stubs by node address, created on first use, for commands that talk to
// particular nodes (admin calls at a shard's leader, replica hash polls). Reconnects are quick
// (100 ms to 1 s backoff): these commands retry across nodes while a cluster changes leaders.
// Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "claw/v1/cluster.grpc.pb.h"

namespace claw::clawctl {

class ClusterStubs {
 public:
  v1::Cluster::Stub& At(const std::string& address) {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
      it = stubs_.emplace(address, v1::Cluster::NewStub(channel)).first;
    }
    return *it->second;
  }

 private:
  std::map<std::string, std::unique_ptr<v1::Cluster::Stub>> stubs_;
};

}  // namespace claw::clawctl
