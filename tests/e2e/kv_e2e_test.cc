// End-to-end KV behaviour on a real 3-node cluster: CRUD, routing errors, forwarding, scans
// across shard boundaries, transactions, restarts.
#include <catch2/catch.hpp>

#include "cluster.h"
#include "server/rpc_status.h"

namespace claw::e2e {
namespace {

v1::Error Detail(const grpc::Status& s) {
  v1::Error e;
  server::ErrorDetail(s, &e);
  return e;
}

// The client address of the leader of the shard owning `key`, from node 0's directory.
std::string LeaderOf(TestCluster& c, const std::string& key) {
  v1::ListShardsResponse resp;
  REQUIRE(c.Admin(0)->ListShards(Ctx().get(), v1::ListShardsRequest(), &resp).ok());
  for (const auto& s : resp.shards()) {
    const auto& d = s.shard();
    if (key >= d.start_key() && (d.end_key().empty() || key < d.end_key())) return s.leader_address();
  }
  FAIL("no shard owns the key");
  return {};
}

std::unique_ptr<v1::KV::Stub> KvAt(const std::string& address) {
  return v1::KV::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

grpc::Status Put(v1::KV::Stub* kv, const std::string& key, const std::string& value,
                 v1::PutResponse* out = nullptr) {
  v1::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  v1::PutResponse resp;
  auto s = kv->Put(Ctx().get(), req, out ? out : &resp);
  return s;
}

}  // namespace

TEST_CASE("a 3-node cluster serves puts and gets through shard leaders", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4});
  c.StartAll();
  for (int i = 0; i < 3; ++i) REQUIRE(c.WaitServing(i));
  REQUIRE(c.WaitLeaders(0));
  INFO(c.DumpLogs());

  const std::string key = "hello";
  auto leader = KvAt(LeaderOf(c, key));
  v1::PutResponse put;
  REQUIRE(Put(leader.get(), key, "world", &put).ok());
  CHECK(put.header().applied_index() > 0);
  CHECK(put.mod_ts() > 0);

  v1::GetRequest get;
  get.set_key(key);
  v1::GetResponse got;
  REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
  CHECK(got.found());
  CHECK(got.kv().value() == "world");
  CHECK(got.kv().version() == 1);

  SECTION("a follower answers NOT_LEADER with the leader's address") {
    const std::string leader_addr = LeaderOf(c, key);
    std::string expected = "world";
    for (int i = 0; i < 3; ++i) {
      if (c.client_address(i) == leader_addr) continue;
      v1::GetResponse r;
      grpc::Status s = c.Kv(i)->Get(Ctx().get(), get, &r);
      REQUIRE(s.error_code() == grpc::StatusCode::UNAVAILABLE);
      v1::Error e = Detail(s);
      CHECK(e.code() == v1::Error::NOT_LEADER);
      CHECK(e.leader().address() == leader_addr);
      // With forwarding, the same node answers by asking the leader.
      v1::GetRequest fwd = get;
      fwd.mutable_header()->set_forward(true);
      REQUIRE(c.Kv(i)->Get(Ctx().get(), fwd, &r).ok());
      CHECK(r.kv().value() == expected);
      v1::PutRequest p;
      p.mutable_header()->set_forward(true);
      p.set_key(key);
      p.set_value("forwarded");
      v1::PutResponse pr;
      REQUIRE(c.Kv(i)->Put(Ctx().get(), p, &pr).ok());
      expected = "forwarded";
    }
    REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
    CHECK(got.kv().value() == "forwarded");
    CHECK(got.kv().version() == 3);
  }

  SECTION("every node's data survives a restart of the whole cluster") {
    for (int i = 0; i < 3; ++i) CHECK(c.Stop(i) == 0);
    c.StartAll();
    for (int i = 0; i < 3; ++i) REQUIRE(c.WaitServing(i));
    REQUIRE(c.WaitLeaders(0));
    auto again = KvAt(LeaderOf(c, key));
    v1::GetResponse r;
    REQUIRE(again->Get(Ctx().get(), get, &r).ok());
    CHECK(r.kv().value() == "world");
  }
}

}  // namespace claw::e2e
