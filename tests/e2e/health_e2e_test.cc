// grpc.health.v1 on the client port: SERVING while the node runs. The check is made with a
// generic stub over hand-encoded messages (the health proto is not part of claw.v1):
// HealthCheckRequest{service = ""} is empty; HealthCheckResponse{status = SERVING} is 08 01.
#include <catch2/catch.hpp>

#include <future>

#include <grpcpp/generic/generic_stub.h>

#include "cluster.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

// The health status number of the whole server at `address` (1 = SERVING), or -1 on failure.
int HealthStatus(const std::string& address) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::Slice empty(std::string{});  // the empty message: service ""
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  auto ctx = Ctx(5000);
  stub.UnaryCall(ctx.get(), "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(s); });
  if (!done.get_future().get().ok()) return -1;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (bytes.empty()) return 0;  // UNKNOWN (the default value is not encoded)
  if (bytes.size() != 2 || bytes[0] != '\x08') return -1;
  return bytes[1];
}

}  // namespace

TEST_CASE("health: every node reports SERVING on its client port", "[e2e]") {
  TestCluster& c = SharedCluster();
  for (int i = 0; i < c.size(); ++i) {
    CAPTURE(i);
    CHECK(HealthStatus(c.client_address(i)) == 1);
  }
}

// The failure reports' stack dump (gdb) works on live nodes: every node shows its raft workers.
// On a cluster of its own: gdb stops a node while it reads the symbols, over 20 s on a loaded
// machine (DumpStacks allows 60), which the shared cluster's later tests (leaders, deadlines)
// must not see.
TEST_CASE("e2e: DumpStacks shows every running node's threads", "[e2e]") {
  TestCluster c(ClusterOptions{.nodes = 2, .shards = 1, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  const std::string stacks = c.DumpStacks(3);
  INFO(stacks.substr(0, 2000));
  for (int i = 0; i < c.size(); ++i) {
    const std::string header = "---- stacks of n" + std::to_string(i + 1) + " (pid ";
    const size_t at = stacks.find(header);
    REQUIRE(at != std::string::npos);
    const size_t next = stacks.find("---- stacks of ", at + header.size());
    const std::string mine = stacks.substr(at, next == std::string::npos ? std::string::npos : next - at);
    CHECK(mine.find("raft-worker") != std::string::npos);
    CHECK(mine.find("#0 ") != std::string::npos);
  }
}

}  // namespace claw::e2e
