// Wire-contract tests for claw.v1: messages survive a serialize/parse round trip, and the
// generated Cluster service works end to end over an in-process gRPC channel (no sockets).

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "claw/v1/cluster.grpc.pb.h"
#include "claw/v1/error.pb.h"
#include "claw/v1/shard.pb.h"

namespace {

// Shard 42 = ["m", +inf), epoch (3, 5), one voter and one learner.
claw::v1::ShardDescriptor MakeShard() {
  claw::v1::ShardDescriptor shard;
  shard.set_id(42);
  shard.set_start_key("m");
  shard.mutable_epoch()->set_conf_version(3);
  shard.mutable_epoch()->set_range_version(5);
  auto* voter = shard.add_replicas();
  voter->set_node_id(7);
  voter->set_replica_id(1);
  voter->set_role(claw::v1::Replica::VOTER);
  auto* learner = shard.add_replicas();
  learner->set_node_id(9);
  learner->set_replica_id(2);
  learner->set_role(claw::v1::Replica::LEARNER);
  return shard;
}

void CheckShard(const claw::v1::ShardDescriptor& shard) {
  CHECK(shard.id() == 42);
  CHECK(shard.start_key() == "m");
  CHECK(shard.end_key().empty());
  CHECK(shard.epoch().conf_version() == 3);
  CHECK(shard.epoch().range_version() == 5);
  REQUIRE(shard.replicas_size() == 2);
  CHECK(shard.replicas(0).node_id() == 7);
  CHECK(shard.replicas(0).replica_id() == 1);
  CHECK(shard.replicas(0).role() == claw::v1::Replica::VOTER);
  CHECK(shard.replicas(1).node_id() == 9);
  CHECK(shard.replicas(1).replica_id() == 2);
  CHECK(shard.replicas(1).role() == claw::v1::Replica::LEARNER);
}

// Answers Status with a fixed node id, version and shard.
class FixedCluster final : public claw::v1::Cluster::Service {
 public:
  grpc::Status Status(grpc::ServerContext* /*context*/, const claw::v1::StatusRequest* /*request*/,
                      claw::v1::StatusResponse* response) override {
    response->set_node_id(7);
    response->set_version("0.0.0-test");
    *response->add_shards() = MakeShard();
    return grpc::Status::OK;
  }
};

}  // namespace

TEST_CASE("Error with a leader hint and shards survives a round trip", "[proto]") {
  claw::v1::Error error;
  error.set_code(claw::v1::Error::NOT_LEADER);
  error.set_message("replica 1 of shard 42 is not the leader");
  error.mutable_leader()->set_node_id(9);
  error.mutable_leader()->set_address("10.0.0.9:7400");
  *error.add_shards() = MakeShard();
  error.set_retry_after_ms(250);

  std::string wire;
  REQUIRE(error.SerializeToString(&wire));
  claw::v1::Error parsed;
  REQUIRE(parsed.ParseFromString(wire));

  CHECK(parsed.code() == claw::v1::Error::NOT_LEADER);
  CHECK(parsed.message() == "replica 1 of shard 42 is not the leader");
  REQUIRE(parsed.has_leader());
  CHECK(parsed.leader().node_id() == 9);
  CHECK(parsed.leader().address() == "10.0.0.9:7400");
  REQUIRE(parsed.shards_size() == 1);
  CheckShard(parsed.shards(0));
  CHECK(parsed.retry_after_ms() == 250);
}

TEST_CASE("Error keeps a code this build does not know", "[proto]") {
  // A newer server may send a code added after this client was built; proto3 keeps its value
  // so that the client can log it and fall back to treating it as UNAVAILABLE.
  claw::v1::Error error;
  error.set_code(static_cast<claw::v1::Error::Code>(1000));
  std::string wire;
  REQUIRE(error.SerializeToString(&wire));
  claw::v1::Error parsed;
  REQUIRE(parsed.ParseFromString(wire));
  CHECK(parsed.code() == 1000);
  CHECK_FALSE(claw::v1::Error::Code_IsValid(parsed.code()));
}

TEST_CASE("Cluster.Status works over an in-process channel", "[proto]") {
  FixedCluster service;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  REQUIRE(server != nullptr);

  std::unique_ptr<claw::v1::Cluster::Stub> stub =
      claw::v1::Cluster::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  claw::v1::StatusResponse response;
  const grpc::Status status = stub->Status(&context, claw::v1::StatusRequest(), &response);

  REQUIRE(status.ok());
  CHECK(response.node_id() == 7);
  CHECK(response.version() == "0.0.0-test");
  REQUIRE(response.shards_size() == 1);
  CheckShard(response.shards(0));
  server->Shutdown();
}
