// Forwarding (header.forward on a follower), request-id deduplication of retried writes, STALE
// reads served by followers, and LEADER-durability writes, on the shared cluster with raw stubs.
#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

// A request id unique to this run of the test (the cluster outlives single test cases).
std::string RequestId(const TestCluster& c, const std::string& what) {
  return (what + "@" + c.dir()).substr(0, 64);
}

v1::RequestHeader Forwarded() {
  v1::RequestHeader h;
  h.set_forward(true);
  return h;
}

}  // namespace

TEST_CASE("forwarding: a follower asked to forward returns the leader's answer", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string key = K(0x70, "fwd/k");
  const v1::ShardRoute route = RouteFor(c, key);
  const int leader = c.IndexOfAddress(route.leader_address());
  REQUIRE(leader >= 0);
  auto kv_leader = c.Kv(leader);
  {
    v1::DeleteRequest del;
    del.set_key(key);
    v1::DeleteResponse dr;
    REQUIRE(kv_leader->Delete(Ctx().get(), del, &dr).ok());
  }
  uint64_t expected_version = 0;
  for (int i = 0; i < c.size(); ++i) {
    if (i == leader) continue;
    INFO("follower node " << c.node_id(i));
    auto kv = c.Kv(i);
    // Put through the follower: served (and answered) by the leader's node.
    v1::PutRequest put;
    *put.mutable_header() = Forwarded();
    put.set_key(key);
    put.set_value("via-" + std::to_string(i));
    put.set_prev_kv(true);
    v1::PutResponse pr;
    grpc::Status ps = kv->Put(Ctx().get(), put, &pr);
    REQUIRE(ps.ok());
    ++expected_version;
    CHECK(pr.header().node_id() == route.leader_node_id());
    CHECK(pr.header().shard_id() == route.shard().id());
    CHECK(pr.mod_ts() > 0);
    if (expected_version > 1) CHECK(pr.prev().version() == expected_version - 1);

    v1::GetRequest get;
    *get.mutable_header() = Forwarded();
    get.set_key(key);
    v1::GetResponse gr;
    REQUIRE(kv->Get(Ctx().get(), get, &gr).ok());
    CHECK(gr.header().node_id() == route.leader_node_id());
    CHECK(gr.found());
    CHECK(gr.kv().value() == "via-" + std::to_string(i));
    CHECK(gr.kv().version() == expected_version);
    CHECK(gr.kv().mod_ts() == pr.mod_ts());

    // Batch and Txn forward too, and so do the leader's errors (with their detail).
    v1::TxnRequest txn;
    *txn.mutable_header() = Forwarded();
    v1::Compare* cmp = txn.add_compare();
    cmp->set_key(key);
    cmp->set_target(v1::Compare::VERSION);
    cmp->set_op(v1::Compare::EQUAL);
    cmp->set_version(expected_version);
    txn.add_success()->mutable_get()->set_key(key);
    v1::TxnResponse tr;
    REQUIRE(kv->Txn(Ctx().get(), txn, &tr).ok());
    CHECK(tr.succeeded());
    CHECK(tr.header().node_id() == route.leader_node_id());
    REQUIRE(tr.results_size() == 1);
    CHECK(tr.results(0).get().kv().value() == "via-" + std::to_string(i));

    v1::BatchRequest batch;
    *batch.mutable_header() = Forwarded();
    batch.add_ops()->mutable_get()->set_key(key);
    batch.add_ops()->mutable_put()->set_key(key);  // no value: empty is allowed
    batch.add_ops()->mutable_get()->set_key(key);
    batch.add_ops()->mutable_put()->set_key(key + "x" + std::string(5000, 'x'));  // too long a key
    v1::BatchResponse br;
    grpc::Status bs = kv->Batch(Ctx().get(), batch, &br);
    CHECK(bs.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(Detail(bs).code() == v1::Error::TOO_LARGE);
    batch.mutable_ops()->RemoveLast();
    REQUIRE(kv->Batch(Ctx().get(), batch, &br).ok());
    ++expected_version;
    REQUIRE(br.results_size() == 3);
    CHECK(br.results(0).get().kv().value() == "via-" + std::to_string(i));
    CHECK(br.results(2).get().kv().value().empty());
    CHECK(br.results(2).get().kv().version() == expected_version);
  }
  // Without forward, the same follower refuses with NOT_LEADER (see limits_e2e_test.cc); the
  // leader's view agrees with what the followers forwarded.
  v1::GetRequest get;
  get.set_key(key);
  v1::GetResponse gr;
  REQUIRE(kv_leader->Get(Ctx().get(), get, &gr).ok());
  CHECK(gr.kv().version() == expected_version);
  CHECK(expected_version == 4);
}

TEST_CASE("dedup: a write retried with its request id applies once", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string key = K(0xb0, "dedup/k");
  const v1::ShardRoute route = RouteFor(c, key);
  auto leader = KvAt(route.leader_address());
  {
    v1::DeleteRequest del;
    del.set_key(key);
    v1::DeleteResponse dr;
    REQUIRE(leader->Delete(Ctx().get(), del, &dr).ok());
  }

  SECTION("a Put sent twice with one id: the second gets the first's answer, the value stays") {
    v1::PutRequest first;
    first.mutable_header()->set_request_id(RequestId(c, "put-once"));
    first.set_key(key);
    first.set_value("first");
    v1::PutResponse r1;
    REQUIRE(leader->Put(Ctx().get(), first, &r1).ok());
    v1::PutRequest retry = first;
    retry.set_value("second");
    v1::PutResponse r2;
    REQUIRE(leader->Put(Ctx().get(), retry, &r2).ok());
    CHECK(r2.mod_ts() == r1.mod_ts());
    // A retry through a follower that forwards is deduplicated the same way.
    v1::PutRequest via_follower = retry;
    via_follower.mutable_header()->set_forward(true);
    v1::PutResponse r3;
    REQUIRE(c.Kv(FollowerIndex(c, key))->Put(Ctx().get(), via_follower, &r3).ok());
    CHECK(r3.mod_ts() == r1.mod_ts());
    v1::GetRequest get;
    get.set_key(key);
    v1::GetResponse got;
    REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
    CHECK(got.kv().value() == "first");
    CHECK(got.kv().version() == 1);
    CHECK(got.kv().mod_ts() == r1.mod_ts());
    // A new id is a new write.
    retry.mutable_header()->set_request_id(RequestId(c, "put-twice"));
    REQUIRE(leader->Put(Ctx().get(), retry, &r2).ok());
    CHECK(r2.mod_ts() > r1.mod_ts());
    REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
    CHECK(got.kv().value() == "second");
    CHECK(got.kv().version() == 2);
  }
  SECTION("a txn increment retried with its id applies once and answers the same") {
    v1::PutRequest init;
    init.set_key(key);
    init.set_value("5");
    v1::PutResponse ir;
    REQUIRE(leader->Put(Ctx().get(), init, &ir).ok());
    // if value == 5 then value = 6 else get: applied twice, the retry would take the else branch.
    v1::TxnRequest inc;
    inc.mutable_header()->set_request_id(RequestId(c, "txn-inc"));
    v1::Compare* cmp = inc.add_compare();
    cmp->set_key(key);
    cmp->set_target(v1::Compare::VALUE);
    cmp->set_op(v1::Compare::EQUAL);
    cmp->set_value("5");
    auto* put = inc.add_success()->mutable_put();
    put->set_key(key);
    put->set_value("6");
    put->set_prev_kv(true);
    inc.add_failure()->mutable_get()->set_key(key);
    v1::TxnResponse t1, t2;
    REQUIRE(leader->Txn(Ctx().get(), inc, &t1).ok());
    CHECK(t1.succeeded());
    REQUIRE(leader->Txn(Ctx().get(), inc, &t2).ok());
    CHECK(t2.succeeded());
    REQUIRE(t2.results_size() == 1);
    CHECK(t2.results(0).put().prev().value() == "5");
    CHECK(t2.results(0).put().mod_ts() == t1.results(0).put().mod_ts());
    v1::GetRequest get;
    get.set_key(key);
    v1::GetResponse got;
    REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
    CHECK(got.kv().value() == "6");
    CHECK(got.kv().version() == 2);
  }
  SECTION("a Delete retried with its id after the key was re-created does not delete it again") {
    v1::PutRequest put;
    put.set_key(key);
    put.set_value("a");
    v1::PutResponse pr;
    REQUIRE(leader->Put(Ctx().get(), put, &pr).ok());
    v1::DeleteRequest del;
    del.mutable_header()->set_request_id(RequestId(c, "delete-once"));
    del.set_key(key);
    v1::DeleteResponse d1, d2;
    REQUIRE(leader->Delete(Ctx().get(), del, &d1).ok());
    CHECK(d1.deleted() == 1);
    REQUIRE(leader->Put(Ctx().get(), put, &pr).ok());
    REQUIRE(leader->Delete(Ctx().get(), del, &d2).ok());
    CHECK(d2.deleted() == 1);  // the first attempt's answer
    v1::GetRequest get;
    get.set_key(key);
    v1::GetResponse got;
    REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
    CHECK(got.found());
    CHECK(got.kv().value() == "a");
  }
}

TEST_CASE("stale reads: followers serve recent data; LEADER-durability writes are kept", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string key = K(0xe0, "stale/k");
  const v1::ShardRoute route = RouteFor(c, key);
  auto leader = KvAt(route.leader_address());
  const int leader_index = c.IndexOfAddress(route.leader_address());
  v1::PutRequest put;
  put.set_key(key);
  put.set_value("fresh");
  v1::PutResponse pr;
  REQUIRE(leader->Put(Ctx().get(), put, &pr).ok());

  SECTION("every follower answers a STALE get with the value, from itself") {
    for (int i = 0; i < c.size(); ++i) {
      if (i == leader_index) continue;
      INFO("follower node " << c.node_id(i));
      auto kv = c.Kv(i);
      v1::GetRequest get;
      get.mutable_header()->set_consistency(v1::STALE);
      get.set_key(key);
      v1::GetResponse got;
      grpc::Status last;
      // The follower applies the write when it learns the commit index: poll, bounded.
      const bool seen = Eventually([&] {
        got.Clear();
        last = kv->Get(Ctx().get(), get, &got);
        return last.ok() && got.found() && got.kv().mod_ts() == pr.mod_ts();
      }, std::chrono::seconds(5));
      INFO("last status " << last.error_code() << " " << last.error_message());
      REQUIRE(seen);
      CHECK(got.kv().value() == "fresh");
      CHECK(got.header().node_id() == c.node_id(i));
      CHECK(got.header().shard_id() == route.shard().id());
      // A STALE scan on the follower sees it too.
      v1::ScanRequest scan;
      scan.mutable_header()->set_consistency(v1::STALE);
      scan.set_start_key(K(0xe0, "stale/"));
      scan.set_end_key(K(0xe0, "stale0"));
      auto ctx = Ctx();
      auto reader = kv->Scan(ctx.get(), scan);
      v1::ScanResponse page;
      std::vector<std::string> keys;
      uint64_t served_by = 0;
      while (reader->Read(&page)) {
        served_by = page.header().node_id();
        for (const auto& kvp : page.kvs()) keys.push_back(kvp.key());
      }
      REQUIRE(reader->Finish().ok());
      CHECK(keys == std::vector<std::string>{key});
      CHECK(served_by == c.node_id(i));
    }
  }
  SECTION("LEADER-durability puts and deletes are acknowledged and then readable") {
    v1::PutRequest fast = put;
    fast.mutable_header()->set_durability(v1::LEADER);
    for (int n = 0; n < 20; ++n) {
      fast.set_key(K(0xe0, "stale/leader/" + std::to_string(n)));
      fast.set_value("L" + std::to_string(n));
      v1::PutResponse fr;
      REQUIRE(leader->Put(Ctx().get(), fast, &fr).ok());
      CHECK(fr.mod_ts() == 0);  // fixed only when applied (kv.proto)
    }
    v1::DeleteRequest del;
    del.mutable_header()->set_durability(v1::LEADER);
    del.set_key(K(0xe0, "stale/leader/0"));
    v1::DeleteResponse dr;
    REQUIRE(leader->Delete(Ctx().get(), del, &dr).ok());
    CHECK(dr.deleted() == 0);  // always 0 with LEADER (kv.proto)
    // A QUORUM write after them is applied after them (one leader, one log): once it is
    // acknowledged, linearizable reads must see every earlier LEADER write.
    v1::PutRequest marker = put;
    marker.set_key(K(0xe0, "stale/leader/marker"));
    REQUIRE(leader->Put(Ctx().get(), marker, &pr).ok());
    for (int n = 0; n < 20; ++n) {
      INFO("key " << n);
      v1::GetRequest get;
      get.set_key(K(0xe0, "stale/leader/" + std::to_string(n)));
      v1::GetResponse got;
      REQUIRE(leader->Get(Ctx().get(), get, &got).ok());
      if (n == 0) {
        CHECK_FALSE(got.found());
      } else {
        REQUIRE(got.found());
        CHECK(got.kv().value() == "L" + std::to_string(n));
        CHECK(got.kv().version() == 1);
        CHECK(got.kv().mod_ts() > 0);
        CHECK(got.kv().mod_ts() < pr.mod_ts());
      }
    }
    v1::DeleteRangeRequest clean;
    clean.set_start_key(K(0xe0, "stale/leader/"));
    clean.set_end_key(K(0xe0, "stale/leader0"));
    v1::DeleteRangeResponse cr;
    REQUIRE(leader->DeleteRange(Ctx().get(), clean, &cr).ok());
    CHECK(cr.deleted() == 20);  // 19 LEADER puts + the marker
  }
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("routing: a node without a replica of a shard knows its leader from the meta leader's heartbeat answers",
          "[e2e]") {
  TestCluster c({.nodes = 4, .shards = 1, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  const std::string key = K(0x10, "hint");
  // The node that hosts no replica of the key's shard, and the shard's leader as a replica sees it.
  int outsider = -1, insider = -1;
  for (int i = 0; i < c.size(); ++i) {
    bool hosts = false;
    const v1::ShardRoute route = RouteFor(c, key, i);
    for (const auto& r : route.shard().replicas()) hosts = hosts || r.node_id() == c.node_id(i);
    (hosts ? insider : outsider) = i;
  }
  REQUIRE(outsider >= 0);
  REQUIRE(insider >= 0);
  int leader = -1;
  REQUIRE(Eventually([&] { return (leader = LeaderIndex(c, key, insider)) >= 0; }));
  // ListShards there names the leader ...
  CHECK(Eventually([&] {
    leader = LeaderIndex(c, key, insider);
    return leader >= 0 && LeaderIndex(c, key, outsider) == leader;
  }));
  // ... and a write sent there is answered NOT_LEADER with the leader's address.
  auto kv = KvAt(c.client_address(outsider));
  v1::PutRequest put;
  put.set_key(key);
  put.set_value("v");
  v1::PutResponse out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const grpc::Status s = kv->Put(&ctx, put, &out);
  REQUIRE_FALSE(s.ok());
  CHECK(Detail(s).code() == v1::Error::NOT_LEADER);
  CHECK(Detail(s).leader().node_id() == c.node_id(leader));
  CHECK(Detail(s).leader().address() == c.client_address(leader));
}

}  // namespace claw::e2e
