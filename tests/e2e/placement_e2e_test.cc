// The placement service's replicated state and heartbeats between real nodes: every node
// registers with the meta shard's leader and reports its load; the meta shard's directory follows
// splits and membership changes reported by shard leaders; a killed node is reported dead after
// placement.node_dead_after_ms and alive again once it returns; other nodes answer NOT_LEADER with
// the meta leader's address; the state survives a restart and a meta leader change.
#include <catch2/catch.hpp>

#include <grpcpp/grpcpp.h>

#include "claw/v1/placement.grpc.pb.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

std::unique_ptr<v1::Placement::Stub> PlacementAt(const TestCluster& c, int i) {
  return v1::Placement::NewStub(
      grpc::CreateCustomChannel(c.client_address(i), grpc::InsecureChannelCredentials(), TestChannelArgs()));
}

// The node index whose replica of the meta shard leads, or -1.
int MetaLeader(TestCluster& c) {
  for (int i = 0; i < c.size(); ++i) {
    if (!c.Running(i)) continue;
    v1::StatusResponse st;
    if (!c.Admin(i)->Status(Ctx(1000).get(), v1::StatusRequest(), &st).ok()) continue;
    for (const auto& r : st.replicas()) {
      if (r.shard().id() == 1 && r.is_leader()) return i;
    }
  }
  return -1;
}

std::optional<v1::ListNodesResponse> Nodes(TestCluster& c) {
  const int leader = MetaLeader(c);
  if (leader < 0) return std::nullopt;
  v1::ListNodesResponse resp;
  if (!PlacementAt(c, leader)->ListNodes(Ctx(1000).get(), v1::ListNodesRequest(), &resp).ok()) return std::nullopt;
  return resp;
}

std::optional<v1::GetDirectoryResponse> Directory(TestCluster& c) {
  const int leader = MetaLeader(c);
  if (leader < 0) return std::nullopt;
  v1::GetDirectoryResponse resp;
  if (!PlacementAt(c, leader)->GetDirectory(Ctx(1000).get(), v1::GetDirectoryRequest(), &resp).ok()) {
    return std::nullopt;
  }
  return resp;
}

// Every node of `c` registered with its client address and a recent heartbeat; `dead` lists the
// node indexes expected dead.
bool NodesAre(TestCluster& c, const std::set<int>& dead) {
  auto nodes = Nodes(c);
  if (!nodes || nodes->nodes_size() != c.size()) return false;
  for (const auto& n : nodes->nodes()) {
    const int i = static_cast<int>(n.node().node_id()) - 1;
    if (n.dead() != (dead.count(i) == 1)) return false;
    if (!n.dead() && (n.node().client_address() != c.client_address(i) || n.load().replicas() == 0)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("placement: nodes heartbeat to the meta leader, which records them and the directory", "[e2e]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "100", "--placement-node-dead-after-ms", "1500",
                             "--zone", "z1"});
  TestCluster c({.nodes = 3, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(80));

  REQUIRE(Eventually([&] { return NodesAre(c, {}); }));
  {
    auto nodes = Nodes(c);
    REQUIRE(nodes.has_value());
    for (const auto& n : nodes->nodes()) {
      CHECK(n.node().state() == v1::NodeRecord::UP);
      CHECK(n.node().zone() == "z1");
      CHECK(n.node().capacity_bytes() > 0);
      CHECK(n.node().peer_address() == c.peer_address(static_cast<int>(n.node().node_id()) - 1));
    }
  }
  // Any other node answers NOT_LEADER naming the meta leader.
  {
    const int leader = MetaLeader(c);
    REQUIRE(leader >= 0);
    v1::ListNodesResponse resp;
    grpc::Status s = PlacementAt(c, (leader + 1) % 3)->ListNodes(Ctx().get(), v1::ListNodesRequest(), &resp);
    CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(Detail(s).code() == v1::Error::NOT_LEADER);
    CHECK(Detail(s).leader().address() == c.client_address(leader));
  }

  // The directory starts with the bootstrap shards and follows a split reported by its leader.
  auto directory = Directory(c);
  REQUIRE(directory.has_value());
  CHECK(directory->shards_size() == 3);  // meta + 2
  {
    auto client = OpenClient(c);
    for (int k = 0; k < 50; ++k) REQUIRE(client->Put("d" + std::to_string(k), "v").has_value());
  }
  const int leader2 = c.IndexOfAddress(RouteFor(c, "d1").leader_address());
  REQUIRE(leader2 >= 0);
  v1::SplitShardRequest split;
  split.set_shard_id(2);
  split.set_split_key("d3");
  v1::SplitShardResponse split_resp;
  REQUIRE(c.Admin(leader2)->SplitShard(Ctx(10000).get(), split, &split_resp).ok());
  REQUIRE(Eventually([&] {
    auto d = Directory(c);
    if (!d || d->shards_size() != 4) return false;
    for (const auto& s : d->shards()) {
      if (s.id() == 2 && s.end_key() != "d3") return false;
    }
    return true;
  }));

  // A killed node is dead after node_dead_after, alive again once back.
  int victim = (MetaLeader(c) + 1) % 3;
  c.Kill(victim);
  REQUIRE(Eventually([&] { return NodesAre(c, {victim}); }, std::chrono::seconds(10)));
  c.Start(victim);
  REQUIRE(c.WaitServing(victim));
  REQUIRE(Eventually([&] { return NodesAre(c, {}); }, std::chrono::seconds(10)));

  // The state is replicated: a new meta leader (the old one stopped) knows the nodes and the
  // directory, and does not call live nodes dead.
  const int old_meta = MetaLeader(c);
  REQUIRE(c.Stop(old_meta) == 0);
  REQUIRE(Eventually([&] { return MetaLeader(c) >= 0; }));
  REQUIRE(Eventually([&] { return NodesAre(c, {old_meta}); }, std::chrono::seconds(10)));
  directory = Directory(c);
  REQUIRE(directory.has_value());
  CHECK(directory->shards_size() == 4);
  c.Start(old_meta);
  REQUIRE(c.WaitServing(old_meta));
  REQUIRE(Eventually([&] { return NodesAre(c, {}); }, std::chrono::seconds(10)));
}

}  // namespace claw::e2e
