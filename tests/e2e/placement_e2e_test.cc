// The placement service's replicated state and heartbeats between real nodes: every node
// registers with the meta shard's leader and reports its load; the meta shard's directory follows
// splits and membership changes reported by shard leaders; a killed node is reported dead after
// placement.node_dead_after_ms and alive again once it returns; other nodes answer NOT_LEADER with
// the meta leader's address; the state survives a restart and a meta leader change.
#include <catch2/catch.hpp>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

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
    if (!n.dead() && (n.node().client_address() != c.client_address(i) || n.load().replicas() == 0 ||
                      n.load().disk_free_bytes() == 0 || n.load().disk_used_bytes() == 0)) {
      return false;
    }
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
  // Load: while a client writes and reads, the nodes report writes and reads per second.
  {
    auto client = OpenClient(c);
    std::atomic<bool> busy{true};
    std::thread load([&] {
      for (int k = 0; k < 20000 && busy.load(); ++k) {
        (void)client->Put("load" + std::to_string(k % 50), "v");
        (void)client->Get("load" + std::to_string(k % 50));
      }
    });
    const bool reported = Eventually(
        [&] {
          auto nodes = Nodes(c);
          if (!nodes) return false;
          double reads = 0, writes = 0;
          for (const auto& n : nodes->nodes()) {
            reads += n.load().reads_per_second();
            writes += n.load().writes_per_second();
          }
          return reads > 0 && writes > 0;
        },
        std::chrono::seconds(10));
    busy = false;
    load.join();
    CHECK(reported);
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
    // Three nodes, three replicas per shard: no node can be drained (the reason says why).
    v1::DrainNodeRequest drain;
    drain.set_node_id(2);
    v1::DrainNodeResponse dresp;
    s = PlacementAt(c, leader)->DrainNode(Ctx().get(), drain, &dresp);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK_THAT(s.error_message(), Catch::Contains("node 2 cannot be drained: shard ") &&
                                      Catch::Contains("would have 2 up nodes to live on without n2"));
    CHECK(Nodes(c)->nodes(1).node().state() == v1::NodeRecord::UP);
    // A heartbeat from a node of another cluster (a stale process dialling a reused port) is
    // refused and changes nothing.
    v1::HeartbeatRequest foreign;
    foreign.mutable_node()->set_node_id(1);
    foreign.mutable_node()->set_name("n1");
    foreign.mutable_node()->set_peer_address("127.0.0.1:1");
    foreign.set_cluster_id(42);
    v1::HeartbeatResponse hresp;
    s = PlacementAt(c, leader)->Heartbeat(Ctx().get(), foreign, &hresp);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(Nodes(c)->nodes(0).node().peer_address() == c.peer_address(0));
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

namespace claw::e2e {
namespace {

std::vector<std::string> PlacementFlags() {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "100", "--placement-node-dead-after-ms", "2000",
                             "--raft-snapshot-after-entries", "100"});
  return flags;
}

// Starts a 4-node cluster and waits until the placement service runs and every node reported.
bool StartFourNodes(TestCluster& c) {
  c.StartAll();
  for (int i = 0; i < c.size(); ++i) {
    if (!c.WaitServing(i)) return false;
  }
  return Eventually([&] { return NodesAre(c, {}); }, std::chrono::seconds(20));
}

// Voter node indexes of every shard in the directory.
std::map<uint64_t, std::set<int>> Voters(TestCluster& c) {
  std::map<uint64_t, std::set<int>> out;
  auto d = Directory(c);
  if (!d) return out;
  for (const auto& s : d->shards()) {
    for (const auto& r : s.replicas()) {
      if (r.role() == v1::Replica::VOTER) out[s.id()].insert(static_cast<int>(r.node_id()) - 1);
    }
  }
  return out;
}

// Puts keys w<n> until `stop`, recording acknowledged keys and failures.
struct Writer {
  std::atomic<bool> stop{false};
  std::atomic<size_t> acked_count{0};
  std::vector<std::string> acked;
  std::vector<std::string> failures;
  std::thread thread;
  explicit Writer(TestCluster& c) {
    thread = std::thread([this, &c] {
      auto client = OpenClient(c, std::chrono::seconds(10));
      for (int k = 0; k < 100000 && !stop.load(); ++k) {
        const std::string key = (k % 2 == 0 ? "w" : "\xc0w") + std::to_string(k);
        auto put = client->Put(key, "v");
        if (put.has_value()) {
          acked.push_back(key);
          acked_count.fetch_add(1);
        } else {
          failures.push_back(key + ": " + put.error().message);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  void Finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  ~Writer() { Finish(); }
};

}  // namespace

TEST_CASE("placement: a drained node loses every replica and leadership under write load; then it can be removed",
          "[e2e]") {
  TestCluster c({.nodes = 4, .shards = 2, .flags = PlacementFlags()});
  REQUIRE(StartFourNodes(c));
  INFO(c.DumpLogs(100));
  Writer writer(c);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  const int drained = 2;  // node 3: a replica of every shard at bootstrap
  auto meta = [&] { return PlacementAt(c, MetaLeader(c)); };
  v1::DrainNodeRequest drain;
  drain.set_node_id(c.node_id(drained));
  v1::DrainNodeResponse dresp;
  REQUIRE(Eventually([&] { return MetaLeader(c) >= 0 && meta()->DrainNode(Ctx().get(), drain, &dresp).ok(); }));
  CHECK(dresp.node().state() == v1::NodeRecord::DRAINING);

  // Not removable while it holds replicas.
  v1::RemoveNodeRequest remove;
  remove.set_node_id(c.node_id(drained));
  v1::RemoveNodeResponse rresp;
  grpc::Status s = meta()->RemoveNode(Ctx().get(), remove, &rresp);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK_THAT(s.error_message(), Catch::Contains("drain it first"));

  REQUIRE(Eventually(
      [&] {
        auto nodes = Nodes(c);
        if (!nodes) return false;
        for (const auto& n : nodes->nodes()) {
          if (n.node().node_id() == c.node_id(drained) && (n.replicas() != 0 || n.leaders() != 0)) return false;
        }
        v1::StatusResponse st;
        return c.Admin(drained)->Status(Ctx().get(), v1::StatusRequest(), &st).ok() && st.replicas_size() == 0;
      },
      std::chrono::seconds(90)));
  // Writes went on while the drain moved replicas and leaders (a fast drain may take a second,
  // so the count during it is not fixed); then keep writing to the drained layout.
  const size_t acked_during_drain = writer.acked_count.load();
  INFO("acked before the drain ended " << acked_during_drain);
  CHECK(acked_during_drain > 0);
  CHECK(Eventually([&] { return writer.acked_count.load() >= acked_during_drain + 100; }, std::chrono::seconds(60)));
  writer.Finish();
  INFO("acked " << writer.acked.size());
  CHECK(writer.failures.empty());
  for (const std::string& f : writer.failures) UNSCOPED_INFO(f);
  // Every data shard still has 3 voters, none on the drained node.
  for (const auto& [shard, voters] : Voters(c)) {
    if (shard == 1) continue;
    CHECK(voters.size() == 3);
    CHECK(voters.count(drained) == 0);
  }
  // Nothing acknowledged was lost.
  {
    auto client = OpenClient(c);
    for (const std::string& k : writer.acked) {
      auto got = client->Get(k);
      REQUIRE(got.has_value());
      CHECK(got->has_value());
    }
  }
  REQUIRE(meta()->RemoveNode(Ctx().get(), remove, &rresp).ok());
  CHECK(rresp.node().state() == v1::NodeRecord::REMOVED);
}

TEST_CASE("placement: the replicas of a dead node are re-created on the survivors", "[e2e]") {
  TestCluster c({.nodes = 4, .shards = 2, .flags = PlacementFlags()});
  REQUIRE(StartFourNodes(c));
  INFO(c.DumpLogs(100));
  {
    auto client = OpenClient(c);
    for (int k = 0; k < 200; ++k) REQUIRE(client->Put("r" + std::to_string(k), "v").has_value());
  }
  // Kill a node that is not the meta leader and holds data replicas.
  int victim = -1;
  REQUIRE(Eventually([&] {
    const int meta = MetaLeader(c);
    for (const auto& [shard, voters] : Voters(c)) {
      if (shard == 1) continue;
      for (int v : voters) {
        if (v != meta) victim = v;
      }
    }
    return meta >= 0 && victim >= 0;
  }));
  c.Kill(victim);
  REQUIRE(Eventually(
      [&] {
        auto voters = Voters(c);
        if (voters.empty()) return false;
        for (const auto& [shard, vs] : voters) {
          if (shard != 1 && (vs.size() != 3 || vs.count(victim) != 0)) return false;
        }
        return true;
      },
      std::chrono::seconds(60)));
  // The data is intact and writable everywhere.
  auto client = OpenClient(c);
  for (int k = 0; k < 200; ++k) {
    auto got = client->Get("r" + std::to_string(k));
    REQUIRE(got.has_value());
    CHECK(got->has_value());
  }
  REQUIRE(client->Put("r-after", "v").has_value());
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("placement: 6 nodes in 3 zones spread every shard over the zones and survive losing a zone", "[e2e]") {
  TestCluster c({.nodes = 6, .shards = 4, .flags = PlacementFlags()});
  const std::vector<std::string> zones = {"z1", "z1", "z2", "z2", "z3", "z3"};
  for (int i = 0; i < 6; ++i) c.Start(i, {"--zone", zones[i], "--rack", "r" + std::to_string(i)});
  for (int i = 0; i < 6; ++i) REQUIRE(c.WaitServing(i));
  REQUIRE(Eventually([&] { return NodesAre(c, {}); }, std::chrono::seconds(20)));
  {
    auto client = OpenClient(c, std::chrono::seconds(10));
    for (int k = 0; k < 256; ++k) {
      REQUIRE(client->Put(std::string(1, static_cast<char>(k)) + "zone-key", "v" + std::to_string(k)).has_value());
    }
  }
  auto zones_of = [&](const std::set<int>& nodes) {
    std::set<std::string> out;
    for (int n : nodes) out.insert(zones[n]);
    return out;
  };
  // Bootstrap placed replicas round-robin; the placement service spreads every data shard over
  // all three zones, and the meta shard over five nodes — and then stops moving replicas (the
  // directory is the same for 2 s). The zone is lost at rest: a move's promote → remove window
  // (4 voters, 2 of them in one zone) does not survive losing that zone (single-step changes;
  // see server/README.md, known gaps).
  std::map<uint64_t, std::set<uint64_t>> settled;  // every replica id (voters and learners)
  auto stable_since = std::chrono::steady_clock::now();
  REQUIRE(Eventually(
      [&] {
        auto voters = Voters(c);
        bool spread = voters.size() == 5;
        for (const auto& [shard, vs] : voters) {
          if (shard == 1 ? vs.size() != 5 : (vs.size() != 3 || zones_of(vs).size() != 3)) spread = false;
        }
        std::map<uint64_t, std::set<uint64_t>> replicas;
        if (auto d = Directory(c)) {
          for (const auto& sh : d->shards()) {
            for (const auto& r : sh.replicas()) replicas[sh.id()].insert(r.replica_id());
          }
        }
        if (!spread || replicas != settled) {
          settled = replicas;
          stable_since = std::chrono::steady_clock::now();
          return false;
        }
        return std::chrono::steady_clock::now() - stable_since > std::chrono::seconds(2);
      },
      std::chrono::seconds(90)));

  // Lose zone z1 (nodes 0 and 1) at once: every data shard keeps a quorum; its lost replica is
  // re-created on the survivors (two zones left: 2 + 1).
  const int meta = MetaLeader(c);
  INFO("meta leader before the zone loss: node index " << meta);
  c.Kill(0);
  c.Kill(1);
  std::string last;  // the directory's voters at the last poll, for a failure report
  const bool repaired = Eventually(
      [&] {
        auto voters = Voters(c);
        last = "directory voters (node indexes):";
        for (const auto& [shard, vs] : voters) {
          last += "\n  shard " + std::to_string(shard) + ":";
          for (int v : vs) last += " " + std::to_string(v);
        }
        if (voters.size() != 5) return false;
        for (const auto& [shard, vs] : voters) {
          if (shard == 1) continue;
          if (vs.size() != 3 || vs.count(0) != 0 || vs.count(1) != 0 || zones_of(vs).size() != 2) return false;
        }
        return true;
      },
      std::chrono::seconds(60));
  INFO(last);
  INFO(c.DumpLogs(300));
  REQUIRE(repaired);
  auto client = OpenClient(c, std::chrono::seconds(10));
  for (int k = 0; k < 256; ++k) {
    auto got = client->Get(std::string(1, static_cast<char>(k)) + "zone-key");
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "v" + std::to_string(k));
  }
  REQUIRE(client->Put("after-zone-loss", "v").has_value());
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("placement: a shard growing past placement.split_bytes is split automatically, keys intact", "[e2e]") {
  std::vector<std::string> flags = PlacementFlags();
  flags.insert(flags.end(), {"--placement-split-bytes", "64KiB"});
  TestCluster c({.nodes = 3, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  REQUIRE(Eventually([&] { return NodesAre(c, {}); }, std::chrono::seconds(20)));
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string value(1000, 'x');
  std::set<std::string> written;
  for (int k = 0; k < 600; ++k) {  // ~600 KB into shard 2 (keys below "\x80")
    char key[16];
    std::snprintf(key, sizeof key, "g%05d", k);
    REQUIRE(client->Put(key, value).has_value());
    written.insert(key);
  }
  // Shard 2 splits (repeatedly) until every part is under 64 KiB.
  REQUIRE(Eventually([&] { auto d = Directory(c); return d && d->shards_size() >= 6; }, std::chrono::seconds(60)));
  auto all = client->Scan("g", "h");
  REQUIRE(all.has_value());
  std::set<std::string> scanned;
  for (const auto& kv : all->kvs) {
    CHECK(kv.value == value);
    scanned.insert(kv.key);
  }
  CHECK(scanned == written);
  CHECK(c.DumpLogs(400).find("[split]") != std::string::npos);
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("placement: 3 nodes join a running 3-node cluster; replicas and leaders rebalance to within 10% of even",
          "[e2e]") {
  TestCluster c({.nodes = 6, .initial = 3, .shards = 8, .flags = PlacementFlags()});
  for (int i = 0; i < 3; ++i) c.Start(i);
  for (int i = 0; i < 3; ++i) REQUIRE(c.WaitServing(i));
  REQUIRE(c.WaitLeaders(0));
  auto client = OpenClient(c, std::chrono::seconds(10));
  std::map<std::string, std::string> written;
  for (int k = 0; k < 256; ++k) {
    const std::string key = std::string(1, static_cast<char>(k)) + "join-key";
    REQUIRE(client->Put(key, "v" + std::to_string(k)).has_value());
    written[key] = "v" + std::to_string(k);
  }
  // One at a time, so that the placement service hands out ids 4, 5, 6 in order.
  for (int i = 3; i < 6; ++i) {
    c.Start(i);
    REQUIRE(c.WaitServing(i));
  }
  REQUIRE(Eventually(
      [&] {
        auto nodes = Nodes(c);
        if (!nodes || nodes->nodes_size() != 6) return false;
        for (const auto& n : nodes->nodes()) {
          const int i = static_cast<int>(n.node().node_id()) - 1;
          if (n.dead() || n.node().name() != "n" + std::to_string(i + 1) ||
              n.node().client_address() != c.client_address(i)) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(20)));

  // Even within 10%, or within one where 10% of the mean is less than one replica (29 replicas
  // — 8 data shards × 3 and the meta shard's 5 — over 6 nodes: 4 or 5 each; 9 leaders: 1 or 2).
  auto within = [](const std::vector<double>& counts, double total) {
    const double mean = total / static_cast<double>(counts.size());
    const double slack = std::max(0.1 * mean, 1.0);
    return std::all_of(counts.begin(), counts.end(), [&](double x) { return std::abs(x - mean) <= slack; });
  };
  std::string last;
  const bool balanced = Eventually(
      [&] {
        auto nodes = Nodes(c);
        auto voters = Voters(c);
        if (!nodes || voters.size() != 9) return false;
        std::vector<double> replicas(6, 0), leaders(6, 0);
        double total_replicas = 0, total_leaders = 0;
        for (const auto& [shard, vs] : voters) {
          if (vs.size() != (shard == 1 ? 5u : 3u)) return false;
          for (int n : vs) replicas[n] += 1;
          total_replicas += static_cast<double>(vs.size());
        }
        for (const auto& n : nodes->nodes()) {
          leaders[n.node().node_id() - 1] = static_cast<double>(n.leaders());
          total_leaders += static_cast<double>(n.leaders());
        }
        last.clear();
        for (int i = 0; i < 6; ++i) {
          last += "n" + std::to_string(i + 1) + ": " + std::to_string(static_cast<int>(replicas[i])) + " replicas, " +
                  std::to_string(static_cast<int>(leaders[i])) + " leaders\n";
        }
        return total_leaders == 9 && within(replicas, total_replicas) && within(leaders, total_leaders);
      },
      std::chrono::seconds(120));
  INFO(last);
  REQUIRE(balanced);

  // The data followed the replicas.
  for (const auto& [key, value] : written) {
    auto got = client->Get(key);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == value);
  }
  // A joined node restarts from its data directory: same id, no second join.
  REQUIRE(c.Stop(4) == 0);
  c.Start(4);
  REQUIRE(c.WaitServing(4));
  REQUIRE(Eventually(
      [&] {
        auto nodes = Nodes(c);
        return nodes && nodes->nodes_size() == 6 &&
               std::none_of(nodes->nodes().begin(), nodes->nodes().end(), [](const auto& n) { return n.dead(); });
      },
      std::chrono::seconds(20)));
  REQUIRE(client->Put("after-restart", "v").has_value());
}

TEST_CASE("placement: a node joining under a name another node has is refused with exit code 78", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = PlacementFlags()});
  REQUIRE(c.StartAllAndWait());
  const std::string addr = "127.0.0.1:";
  ProcessResult r = RunProcess({CLAWD_BINARY, "--name", "n2", "--data-dir", c.dir() + "/intruder",
                                "--client-addr", addr + std::to_string(FreePort()),
                                "--peer-addr", addr + std::to_string(FreePort()),
                                "--http-addr", addr + std::to_string(FreePort()),
                                "--join", c.client_address(2) + "," + c.client_address(0),
                                "--storage-direct-io=false"},
                               "", std::chrono::seconds(60));
  CHECK(r.exit_code == 78);
  CHECK_THAT(r.out + r.err, Catch::Contains("refused the join: the name 'n2' belongs to node 2"));
  // The cluster is unchanged: three nodes.
  REQUIRE(Eventually([&] { auto n = Nodes(c); return n && n->nodes_size() == 3; }, std::chrono::seconds(10)));
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("placement: rules pin a key range to a zone with its own replication factor and prefer leader zones",
          "[e2e]") {
  TestCluster c({.nodes = 6, .shards = 2, .flags = PlacementFlags()});
  const std::vector<std::string> zones = {"z1", "z1", "z2", "z2", "z3", "z3"};
  for (int i = 0; i < 6; ++i) c.Start(i, {"--zone", zones[i]});
  for (int i = 0; i < 6; ++i) REQUIRE(c.WaitServing(i));
  REQUIRE(Eventually([&] { return NodesAre(c, {}); }, std::chrono::seconds(20)));
  auto client = OpenClient(c, std::chrono::seconds(10));
  for (const std::string key : {"a", "m", "n", "o", "p", "z"}) REQUIRE(client->Put(key, "v-" + key).has_value());

  auto placement = [&] {
    const int leader = MetaLeader(c);
    return PlacementAt(c, leader < 0 ? 0 : leader);
  };
  v1::SetRulesRequest req;
  v1::PlacementRule* pinned = req.mutable_rules()->add_rules();
  pinned->set_name("pinned");
  pinned->set_start_key("m");
  pinned->set_end_key("p");
  pinned->set_replication_factor(2);
  pinned->add_zones("z1");
  v1::PlacementRule* def = req.mutable_rules()->add_rules();
  def->set_name("default");
  def->add_leader_zones("z3");
  // Invalid rules and a stale version are refused and change nothing.
  {
    v1::SetRulesRequest bad = req;
    bad.mutable_rules()->mutable_rules(0)->set_end_key("a");
    v1::PlacementRules out;
    grpc::Status s = placement()->SetRules(Ctx().get(), bad, &out);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() == "rule 'pinned': start_key must be below end_key");
    bad = req;
    bad.mutable_rules()->set_version(7);
    s = placement()->SetRules(Ctx().get(), bad, &out);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  }
  v1::PlacementRules stored;
  REQUIRE(Eventually([&] { return placement()->SetRules(Ctx().get(), req, &stored).ok(); }, std::chrono::seconds(10)));
  CHECK(stored.version() == 1);
  CHECK(stored.rules_size() == 2);

  // The leader of each data shard, by asking every node.
  auto leaders = [&] {
    std::map<uint64_t, int> out;
    for (int i = 0; i < c.size(); ++i) {
      v1::StatusResponse st;
      if (!c.Admin(i)->Status(Ctx(1000).get(), v1::StatusRequest(), &st).ok()) continue;
      for (const auto& r : st.replicas()) {
        if (r.is_leader()) out[r.shard().id()] = i;
      }
    }
    return out;
  };
  std::string last;
  const bool placed = Eventually(
      [&] {
        auto d = Directory(c);
        if (!d) return false;
        auto led = leaders();
        bool saw_pinned = false;
        last.clear();
        for (const auto& s : d->shards()) {
          if (s.id() == 1) continue;
          std::set<int> voters;
          for (const auto& r : s.replicas()) {
            if (r.role() == v1::Replica::VOTER) voters.insert(static_cast<int>(r.node_id()) - 1);
          }
          last += "shard " + std::to_string(s.id()) + " [" + s.start_key() + ", " + s.end_key() + "): " +
                  std::to_string(voters.size()) + " voters, leader index " +
                  (led.contains(s.id()) ? std::to_string(led[s.id()]) : std::string("?")) + "\n";
          if (s.start_key() == "m" && s.end_key() == "p") {
            saw_pinned = true;
            if (voters != std::set<int>{0, 1}) return false;
          } else {
            if (voters.size() != 3) return false;
            if (!led.contains(s.id()) || zones[led[s.id()]] != "z3") return false;
          }
        }
        return saw_pinned;
      },
      std::chrono::seconds(90));
  INFO(last);
  REQUIRE(placed);
  for (const std::string key : {"a", "m", "n", "o", "p", "z"}) {
    auto got = client->Get(key);
    INFO(key << ": " << (got ? std::string("ok") : got.error().ToString()));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "v-" + key);
  }
  v1::PlacementRules read;
  REQUIRE(placement()->GetRules(Ctx().get(), v1::GetRulesRequest(), &read).ok());
  CHECK(read.version() == 1);
}

}  // namespace claw::e2e
