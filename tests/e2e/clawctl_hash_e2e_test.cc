// The consistency check on a real 3-node cluster: Cluster.CheckConsistency on a shard's leader and
// Cluster.GetReplicaHash on each replica's node (equal hashes at one index after writes, a new
// hash after another write, PENDING for an index not applied yet, the errors for bad input), and
// `clawctl debug hash` in table and JSON output with its exit codes. The divergence case (hashes
// differ, exit 1 naming the minority) is tests/fault/divergence_test.cc (S18).
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <thread>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

ProcessResult Ctl(const TestCluster& c, const std::vector<std::string>& args) {
  return RunClawctl(Endpoints(c), args);
}

// Starts a check of the shard of `key` on its leader; the answer's index.
v1::CheckConsistencyResponse StartCheck(const TestCluster& c, const std::string& key) {
  v1::CheckConsistencyResponse resp;
  REQUIRE(Eventually([&] {
    const int leader = LeaderIndex(c, key);
    if (leader < 0) return false;
    v1::CheckConsistencyRequest req;
    req.set_shard_id(RouteFor(c, key).shard().id());
    return c.Admin(leader)->CheckConsistency(Ctx().get(), req, &resp).ok();
  }));
  return resp;
}

// Every node's hash of (shard, index), once each answered DONE.
std::vector<v1::GetReplicaHashResponse> Hashes(const TestCluster& c, uint64_t shard, uint64_t index) {
  std::vector<v1::GetReplicaHashResponse> out(c.size());
  for (int i = 0; i < c.size(); ++i) {
    REQUIRE(Eventually([&] {
      v1::GetReplicaHashRequest req;
      req.set_shard_id(shard);
      req.set_index(index);
      return c.Admin(i)->GetReplicaHash(Ctx().get(), req, &out[i]).ok() &&
             out[i].state() == v1::GetReplicaHashResponse::DONE;
    }));
  }
  return out;
}

}  // namespace

TEST_CASE("consistency check RPCs: equal replica hashes at one index; bad input", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string key = K(0x71, "hash/a");
  auto client = OpenClient(c);
  REQUIRE(client != nullptr);
  REQUIRE(client->Put(key, "one").has_value());
  REQUIRE(client->Put(K(0x71, "hash/b"), "two").has_value());

  const v1::CheckConsistencyResponse first = StartCheck(c, key);
  const uint64_t shard = first.shard().id();
  CHECK(first.index() > 0);
  CHECK(first.shard().replicas_size() == 3);
  const auto at_first = Hashes(c, shard, first.index());
  std::set<uint64_t> nodes;
  for (const auto& h : at_first) {
    CHECK(h.hash() == at_first[0].hash());
    CHECK(h.hash().size() == 32);
    CHECK(h.keys() >= 2);
    CHECK(h.index() == first.index());
    CHECK(h.applied_index() >= first.index());
    nodes.insert(h.node_id());
  }
  CHECK(nodes == std::set<uint64_t>{1, 2, 3});

  // Another write, another check: a new, again equal, hash; the old result is still there.
  REQUIRE(client->Put(key, "three").has_value());
  const v1::CheckConsistencyResponse second = StartCheck(c, key);
  CHECK(second.index() > first.index());
  const auto at_second = Hashes(c, shard, second.index());
  for (const auto& h : at_second) CHECK(h.hash() == at_second[0].hash());
  CHECK(at_second[0].hash() != at_first[0].hash());
  CHECK(Hashes(c, shard, first.index())[1].hash() == at_first[0].hash());

  auto hash_status = [&](int node, uint64_t shard_id, uint64_t index, v1::GetReplicaHashResponse* out) {
    v1::GetReplicaHashRequest req;
    req.set_shard_id(shard_id);
    req.set_index(index);
    return c.Admin(node)->GetReplicaHash(Ctx().get(), req, out);
  };
  v1::GetReplicaHashResponse resp;
  SECTION("an index not applied yet is PENDING") {
    REQUIRE(hash_status(0, shard, second.index() + 1'000'000, &resp).ok());
    CHECK(resp.state() == v1::GetReplicaHashResponse::PENDING);
  }
  SECTION("an index applied without a check there is UNAVAILABLE") {
    REQUIRE(hash_status(0, shard, second.index() - 1, &resp).ok());
    CHECK(resp.state() == v1::GetReplicaHashResponse::UNAVAILABLE);
    CHECK_FALSE(resp.error().empty());
  }
  SECTION("bad input gets a clear error") {
    grpc::Status st = hash_status(0, 0, 5, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("shard_id is required") != std::string::npos);
    st = hash_status(0, shard, 0, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    st = hash_status(0, 999'999, 5, &resp);
    CHECK(st.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(Detail(st).code() == v1::Error::SHARD_NOT_FOUND);
    v1::CheckConsistencyRequest req;
    v1::CheckConsistencyResponse check;
    st = c.Admin(0)->CheckConsistency(Ctx().get(), req, &check);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    req.set_shard_id(1);
    st = c.Admin(0)->CheckConsistency(Ctx().get(), req, &check);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("meta shard") != std::string::npos);
    req.set_shard_id(shard);
    st = c.Admin(FollowerIndex(c, key))->CheckConsistency(Ctx().get(), req, &check);
    CHECK(st.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(Detail(st).code() == v1::Error::NOT_LEADER);
  }
}

TEST_CASE("clawctl debug hash: every replica agrees, table and JSON, exit codes", "[e2e]") {
  TestCluster& c = SharedCluster();
  auto client = OpenClient(c);
  REQUIRE(client != nullptr);
  for (unsigned char first : {0x11, 0x51, 0x91, 0xd1}) REQUIRE(client->Put(K(first, "ctl-hash"), "v").has_value());

  ProcessResult all = Ctl(c, {"debug", "hash", "--all"});
  INFO(all.out << all.err);
  CHECK(all.exit_code == 0);
  CHECK(all.out.rfind("SHARD", 0) == 0);
  CHECK(all.out.find("HASH") != std::string::npos);
  CHECK(Count(all.out, " done ") == 3 * Routes(c).size());  // every data shard's 3 replicas
  CHECK(Count(all.out, " *") == 0);

  const uint64_t shard = RouteFor(c, K(0x51, "ctl-hash")).shard().id();
  ProcessResult json = Ctl(c, {"-w", "json", "debug", "hash", "--shard", std::to_string(shard)});
  INFO(json.out << json.err);
  CHECK(json.exit_code == 0);
  CHECK(json.out.rfind(R"({"ok":true,"minority_nodes":[],"shards":[{"shard_id":")" + std::to_string(shard) + "\"", 0) == 0);
  CHECK(Count(json.out, R"("state":"done")") == 3);
  CHECK(Count(json.out, R"("minority":false)") == 3);

  CHECK(Ctl(c, {"debug", "hash"}).exit_code == 0);  // --all is the default

  SECTION("bad input") {
    ProcessResult r = Ctl(c, {"debug", "hash", "--shard", "0"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--shard wants a shard id") != std::string::npos);
    r = Ctl(c, {"debug", "hash", "--shard", "2", "--all"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("exclude each other") != std::string::npos);
    r = Ctl(c, {"debug"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("'debug' wants a subcommand: hash") != std::string::npos);
    r = Ctl(c, {"debug", "hash", "--shard", "999999"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("no shard 999999") != std::string::npos);
    r = Ctl(c, {"debug", "hash", "--shard", "1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("meta shard") != std::string::npos);
  }
}

}  // namespace claw::e2e
