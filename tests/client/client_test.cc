// Client end to end against FakeCluster (in-process gRPC servers on loopback): routing, the
// reactions to NOT_LEADER / EPOCH_MISMATCH / OVERLOADED / UNAVAILABLE, request ids on retries,
// deadlines, multi-shard Scan / DeleteRange / Batch, Txn, async calls and the admin passthroughs.

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "client/client.h"
#include "tests/client/fake_cluster.h"

namespace claw::client {
namespace {

using std::chrono::milliseconds;
using testing::FakeCluster;

std::unique_ptr<Client> Connect(const FakeCluster& cluster,
                                std::vector<std::string> endpoints = {}) {
  ClientOptions options;
  options.endpoints = endpoints.empty() ? cluster.addresses() : std::move(endpoints);
  options.backoff_base = milliseconds(1);
  options.backoff_max = milliseconds(20);
  options.seed = 1;
  auto client = Client::Open(options);
  REQUIRE(client);
  return std::move(*client);
}

std::vector<FakeCluster::Received> Of(const FakeCluster& cluster, const std::string& method) {
  std::vector<FakeCluster::Received> out;
  for (auto& r : cluster.received()) {
    if (r.method == method) out.push_back(r);
  }
  return out;
}

v1::Error Detail(v1::Error::Code code) {
  v1::Error error;
  error.set_code(code);
  error.set_message("injected");
  return error;
}

std::vector<std::string> Keys(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> keys;
  for (const auto& kv : kvs) keys.push_back(kv.key);
  return keys;
}

// Three shards ["", "h"), ["h", "q"), ["q", +inf) led by nodes 1, 2, 3, holding "a".."z".
void ThreeShards(FakeCluster& cluster, Client& client) {
  cluster.Split("h", 2, 2);
  cluster.Split("q", 3, 3);
  for (char c = 'a'; c <= 'z'; ++c) {
    REQUIRE(client.Put(std::string(1, c), std::string("v") + c));
  }
}

}  // namespace

TEST_CASE("Client writes and reads through the shard leader", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  auto put = client->Put("k", "v1");
  REQUIRE(put);
  CHECK(put->mod_ts > 0);
  auto got = client->Get("k");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->value == "v1");
  CHECK((*got)->version == 1);
  auto missing = client->Get("nope");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());
  auto prev = client->Put("k", "v2", {.prev_kv = true});
  REQUIRE(prev);
  REQUIRE(prev->prev);
  CHECK(prev->prev->value == "v1");
  auto deleted = client->Delete("k", {.prev_kv = true});
  REQUIRE(deleted);
  CHECK(deleted->deleted == 1);
  CHECK(deleted->prev->value == "v2");
  CHECK(cluster.list_shards_calls() == 1);  // routes loaded once
  for (const auto& r : cluster.received()) CHECK(r.node_id == 1);
  CHECK_FALSE(client->Get(""));  // empty keys are refused locally
}

TEST_CASE("Client follows NOT_LEADER hints with the same request id", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));
  cluster.SetLeader(1, 3);
  cluster.ClearReceived();
  REQUIRE(client->Put("k", "v"));
  const auto puts = Of(cluster, "Put");
  REQUIRE(puts.size() == 2);
  CHECK(puts[0].node_id == 1);
  CHECK(puts[1].node_id == 3);
  CHECK(puts[0].header.request_id().size() == 24);
  CHECK(puts[0].header.request_id() == puts[1].header.request_id());
  CHECK(client->CachedRoutes().at(0).leader_node_id == 3);
  cluster.ClearReceived();
  REQUIRE(client->Get("k"));
  CHECK(Of(cluster, "Get").size() == 1);  // straight to the new leader
  CHECK(cluster.version("k") == 1);
}

TEST_CASE("Client finds leaders the directory does not report", "[client]") {
  FakeCluster cluster(3);
  cluster.SetLeader(1, 2);
  cluster.set_report_leaders(false);
  auto client = Connect(cluster);
  REQUIRE(client->Put("k", "v"));
  CHECK(Of(cluster, "Put").back().node_id == 2);
}

TEST_CASE("Client replaces stale descriptors from EPOCH_MISMATCH and retries", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  REQUIRE(client->Put("a", "1"));
  cluster.Split("m", 2, 3);  // ["m", +inf) becomes shard 2, led by node 3
  cluster.ClearReceived();
  REQUIRE(client->Put("z", "26"));
  // Then shard 2 at its new epoch: on node 3 at once, or via a NOT_LEADER hop when the pick
  // among shard 2's replicas (descriptors carry no leader) was another node.
  const auto puts = Of(cluster, "Put");
  REQUIRE(puts.size() >= 2);
  REQUIRE(puts.size() <= 3);
  CHECK(puts[0].header.shard_id() == 1);
  CHECK(puts[0].header.epoch().range_version() == 1);
  CHECK(puts.back().header.shard_id() == 2);
  CHECK(puts.back().header.epoch().range_version() == 2);
  CHECK(puts.back().node_id == 3);
  for (const auto& put : puts) CHECK(put.header.request_id() == puts[0].header.request_id());
  CHECK(cluster.list_shards_calls() == 1);  // the error carried the fresh descriptors
  // "a" still routes to shard 1, whose epoch the cache learned too.
  cluster.ClearReceived();
  REQUIRE(client->Get("a"));
  CHECK(Of(cluster, "Get").size() == 1);
}

TEST_CASE("Client backs off on OVERLOADED and applies the write once", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));
  cluster.ClearReceived();
  cluster.Inject({.node_id = 1, .method = "Put", .grpc_code = grpc::StatusCode::RESOURCE_EXHAUSTED,
                  .error = Detail(v1::Error::OVERLOADED), .count = 2});
  REQUIRE(client->Put("k", "v"));
  const auto puts = Of(cluster, "Put");
  REQUIRE(puts.size() == 3);
  for (const auto& put : puts) {
    CHECK(put.node_id == 1);  // OVERLOADED: back off, same leader
    CHECK(put.header.request_id() == puts[0].header.request_id());
  }
  CHECK(cluster.version("k") == 1);
}

TEST_CASE("Client retries an indeterminate write with its request id", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));
  // The leader applies the write, then the answer is lost.
  cluster.Inject({.node_id = 1, .method = "Put", .grpc_code = grpc::StatusCode::UNAVAILABLE,
                  .no_detail = true, .apply_first = true});
  REQUIRE(client->Put("k", "v"));
  const auto puts = Of(cluster, "Put");
  REQUIRE(puts.size() >= 3);  // warm-up, the lost one, the retry (maybe via a follower)
  const std::string id = puts[1].header.request_id();
  CHECK(puts.back().header.request_id() == id);
  CHECK(cluster.deliveries(id) == 2);
  CHECK(cluster.version("k") == 1);  // applied once
}

TEST_CASE("Client fails at once on TOO_LARGE", "[client]") {
  FakeCluster cluster(1);
  auto client = Connect(cluster);
  cluster.Inject({.method = "Put", .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                  .error = Detail(v1::Error::TOO_LARGE)});
  auto put = client->Put("k", "huge");
  REQUIRE_FALSE(put);
  CHECK(put.error().code == ErrorCode::kTooLarge);
  CHECK(put.error().definite);
  CHECK(Of(cluster, "Put").size() == 1);
}

TEST_CASE("Client gives up at the call's deadline", "[client]") {
  FakeCluster cluster(1);
  auto client = Connect(cluster);
  cluster.Inject({.method = "Put", .grpc_code = grpc::StatusCode::RESOURCE_EXHAUSTED,
                  .error = Detail(v1::Error::OVERLOADED), .count = 1000000});
  const auto start = std::chrono::steady_clock::now();
  auto put = client->Put("k", "v", {.deadline = milliseconds(200)});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(put);
  CHECK(put.error().code == ErrorCode::kDeadlineExceeded);
  CHECK(put.error().definite);  // every attempt was refused before proposing
  CHECK(put.error().message.find("OVERLOADED") != std::string::npos);
  CHECK(took >= milliseconds(190));
  CHECK(took < milliseconds(1500));
  CHECK(Of(cluster, "Put").size() > 3);
}

TEST_CASE("Client tries another node when the leader's node is down", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));
  cluster.StopNode(1);
  cluster.SetLeader(1, 2);
  auto put = client->Put("k", "v");
  REQUIRE(put);
  CHECK(Of(cluster, "Put").back().node_id == 2);
}

TEST_CASE("Client skips a dead seed", "[client]") {
  FakeCluster cluster(2);
  auto client = Connect(cluster, {"127.0.0.1:1", cluster.address(2)});
  REQUIRE(client->Put("k", "v"));
  auto shards = client->ListShards();
  REQUIRE(shards);
  CHECK(shards->size() == 1);
}

TEST_CASE("Client scans across shards in both directions", "[client]") {
  FakeCluster cluster(3);
  cluster.set_page_size(2);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  auto all = client->Scan("", "");
  REQUIRE(all);
  REQUIRE(all->kvs.size() == 26);
  CHECK(all->kvs.front().key == "a");
  CHECK(all->kvs.back().key == "z");
  CHECK(all->kvs[7].value == "vh");
  CHECK_FALSE(all->more);

  auto middle = client->Scan("f", "s");
  REQUIRE(middle);
  CHECK(Keys(middle->kvs) == std::vector<std::string>{"f", "g", "h", "i", "j", "k", "l", "m", "n",
                                                      "o", "p", "q", "r"});
  auto reverse = client->Scan("f", "s", {.reverse = true});
  REQUIRE(reverse);
  REQUIRE(reverse->kvs.size() == 13);
  CHECK(reverse->kvs.front().key == "r");
  CHECK(reverse->kvs.back().key == "f");

  auto limited = client->Scan("e", "", {.limit = 5, .keys_only = true});
  REQUIRE(limited);
  CHECK(Keys(limited->kvs) == std::vector<std::string>{"e", "f", "g", "h", "i"});
  CHECK(limited->more);
  auto limited_reverse = client->Scan("", "j", {.limit = 3, .reverse = true});
  REQUIRE(limited_reverse);
  CHECK(Keys(limited_reverse->kvs) == std::vector<std::string>{"i", "h", "g"});
}

TEST_CASE("ScanEach stops when the visitor says so", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  std::vector<std::string> seen;
  auto more = client->ScanEach("", "", {}, [&](const KeyValue& kv) {
    seen.push_back(kv.key);
    return seen.size() < 10;
  });
  REQUIRE(more);
  CHECK(*more);
  CHECK(seen.size() == 10);
  CHECK(seen.back() == "j");
}

TEST_CASE("Client resumes a scan after a broken stream without repeating keys", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  cluster.Inject({.node_id = 2, .method = "Scan", .grpc_code = grpc::StatusCode::UNAVAILABLE,
                  .no_detail = true});
  auto all = client->Scan("", "");
  REQUIRE(all);
  CHECK(all->kvs.size() == 26);
}

TEST_CASE("Client deletes a range shard by shard", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  auto deleted = client->DeleteRange("c", "x");
  REQUIRE(deleted);
  CHECK(*deleted == 21);
  CHECK(Of(cluster, "DeleteRange").size() == 3);
  auto rest = client->Scan("", "");
  REQUIRE(rest);
  CHECK(Keys(rest->kvs) == std::vector<std::string>{"a", "b", "x", "y", "z"});
  auto to_end = client->DeleteRange("y", "");
  REQUIRE(to_end);
  CHECK(*to_end == 2);
  auto prefix = client->DeleteRange("a", PrefixEnd("a"));
  REQUIRE(prefix);
  CHECK(*prefix == 1);
}

TEST_CASE("Client splits a batch by shard and keeps result order", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  cluster.ClearReceived();
  auto results = client->Batch({Op::Put("b", "B"), Op::Get("z"), Op::Delete("i"), Op::Get("b"),
                                Op::Get("nothing-here")});
  REQUIRE(results);
  REQUIRE(results->size() == 5);
  CHECK((*results)[0].type == Op::Type::kPut);
  CHECK((*results)[1].kv->value == "vz");
  CHECK((*results)[2].deleted == 1);
  CHECK((*results)[3].kv->value == "B");  // after the put in the same shard's sub-batch
  CHECK_FALSE((*results)[4].kv);
  CHECK(Of(cluster, "Batch").size() == 3);  // shards 1 (b, b, nothing-here), 3 (z), 2 (i)
}

TEST_CASE("Client sends a batch's per-shard requests at once", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  cluster.set_batch_barrier(3);  // each Batch call waits until all three shards' calls arrived
  auto results = client->Batch({Op::Put("b", "B"), Op::Put("i", "I"), Op::Put("z", "Z")});
  REQUIRE(results);
  CHECK(results->size() == 3);
  CHECK(cluster.max_batches_in_flight() == 3);  // one after another, it would be 1
  CHECK(cluster.data().at("i") == "I");
}

TEST_CASE("Client regroups a batch when a shard splits under it", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  REQUIRE(client->Put("a", "1"));
  cluster.Split("m", 2, 2);  // the cache still has one shard
  auto results = client->Batch({Op::Put("b", "B"), Op::Put("x", "X")});
  REQUIRE(results);
  CHECK(cluster.data().at("x") == "X");
  CHECK(cluster.data().at("b") == "B");
}

TEST_CASE("Client runs a transaction on one shard", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  Compare is_va{.key = "a", .target = Compare::Target::kValue, .op = Compare::Op::kEqual,
                .value = "va"};
  auto txn = client->Txn({is_va}, {Op::Put("a", "changed")}, {Op::Get("a")});
  REQUIRE(txn);
  CHECK(txn->succeeded);
  auto again = client->Txn({is_va}, {Op::Put("a", "x")}, {Op::Get("a")});
  REQUIRE(again);
  CHECK_FALSE(again->succeeded);
  REQUIRE(again->results.size() == 1);
  CHECK(again->results[0].kv->value == "changed");
  auto spanning = client->Txn({is_va}, {Op::Put("z", "x")}, {});
  REQUIRE_FALSE(spanning);
  CHECK(spanning.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("Client async calls complete on the pool", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  std::vector<std::future<Result<PutResult>>> puts;
  for (int i = 0; i < 20; ++i) puts.push_back(client->PutAsync("k" + std::to_string(i), "v"));
  for (auto& put : puts) CHECK(put.get().has_value());
  auto got = client->GetAsync("k7").get();
  REQUIRE(got);
  CHECK((*got)->value == "v");
  std::promise<bool> called;
  client->DeleteAsync("k7", {}, [&](Result<DeleteResult> result) {
    called.set_value(result.has_value() && result->deleted == 1);
  });
  CHECK(called.get_future().get());
  auto batch = client->BatchAsync({Op::Get("k1"), Op::Get("k7")}).get();
  REQUIRE(batch);
  CHECK((*batch)[0].kv.has_value());
  CHECK_FALSE((*batch)[1].kv.has_value());
}

TEST_CASE("Client async calls go over Multiplex and call back from its reader; chains start from callbacks",
          "[client]") {
  FakeCluster cluster(3);
  cluster.set_multiplex(true);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));  // loads the routes: async calls can go out at once
  const int before = cluster.multiplexed_calls();

  // 8 chains of 40 puts, each started from the previous one's callback.
  constexpr int kChains = 8, kPerChain = 40;
  std::atomic<int> ok{0}, done{0}, inline_calls{0};
  std::function<void(int, int)> step = [&](int chain, int i) {
    if (i == kPerChain) return;
    static thread_local bool starting = false;
    starting = true;
    client->PutAsync("c" + std::to_string(chain) + "/" + std::to_string(i), std::to_string(i), {},
                     [&, chain, i](Result<PutResult> r) {
                       if (starting) ++inline_calls;
                       if (r) ++ok;
                       ++done;
                       step(chain, i + 1);
                     });
    starting = false;
  };
  for (int c = 0; c < kChains; ++c) step(c, 0);
  for (int waited = 0; done.load() < kChains * kPerChain && waited < 1000; ++waited) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  CHECK(done.load() == kChains * kPerChain);
  CHECK(ok.load() == kChains * kPerChain);
  CHECK(inline_calls.load() == 0);
  CHECK(cluster.multiplexed_calls() - before >= kChains * kPerChain);
  CHECK(cluster.data().at("c3/17") == "17");

  auto got = client->GetAsync("c5/39").get();
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->value == "39");
  auto deleted = client->DeleteAsync("c5/39").get();
  REQUIRE(deleted);
  CHECK(deleted->deleted == 1);
  auto empty = client->PutAsync("", "v").get();
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == ErrorCode::kInvalidArgument);

  // A blocking call from a callback (on the stream's reader) does not wait for that reader: it
  // goes as a unary RPC and succeeds well within its deadline.
  std::promise<Result<PutResult>> nested;
  client->PutAsync("outer", "o", {}, [&](Result<PutResult>) {
    nested.set_value(client->Put("inner", "i", {.deadline = std::chrono::seconds(3)}));
  });
  auto inner = nested.get_future();
  REQUIRE(inner.wait_for(std::chrono::seconds(2)) == std::future_status::ready);
  CHECK(inner.get().has_value());
  CHECK(cluster.data().at("inner") == "i");
}

TEST_CASE("Client async calls: a failed first attempt continues like a blocking call, with its request id",
          "[client]") {
  FakeCluster cluster(3);
  cluster.set_multiplex(true);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));

  SECTION("NOT_LEADER: the hint is followed") {
    cluster.SetLeader(1, 2);  // the client still thinks node 1 leads
    cluster.ClearReceived();
    auto put = client->PutAsync("k", "v").get();
    REQUIRE(put);
    const auto puts = Of(cluster, "Put");
    REQUIRE(puts.size() == 2);
    CHECK(puts[0].node_id == 1);
    CHECK(puts[1].node_id == 2);
    CHECK(puts[0].header.request_id() == puts[1].header.request_id());
    CHECK(cluster.deliveries(puts[0].header.request_id()) == 1);
  }
  SECTION("an answer lost after the write applied: retried with the same id, applied once") {
    cluster.Inject({.node_id = 1, .method = "Put", .grpc_code = grpc::StatusCode::UNAVAILABLE,
                    .error = Detail(v1::Error::UNAVAILABLE), .apply_first = true});
    cluster.ClearReceived();
    auto put = client->PutAsync("k", "v").get();
    REQUIRE(put);
    const auto puts = Of(cluster, "Put");  // node 1, then elsewhere (NOT_LEADER back to 1), ...
    REQUIRE(puts.size() >= 2);
    for (const auto& p : puts) CHECK(p.header.request_id() == puts[0].header.request_id());
    CHECK(cluster.deliveries(puts[0].header.request_id()) == 2);  // reached the leader twice
    CHECK(cluster.version("k") == 1);                              // applied once
  }
  SECTION("a definite error is returned as the blocking call would") {
    cluster.Inject({.node_id = 1, .method = "Put", .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .error = Detail(v1::Error::TOO_LARGE)});
    auto put = client->PutAsync("k", "v").get();
    REQUIRE_FALSE(put);
    CHECK(put.error().code == ErrorCode::kTooLarge);
    CHECK(put.error().definite);
    CHECK(cluster.version("k") == 0);
  }
}

TEST_CASE("Client async batches go out per shard over Multiplex and settle like Batch after failures", "[client]") {
  FakeCluster cluster(3);
  cluster.set_multiplex(true);
  auto client = Connect(cluster);
  ThreeShards(cluster, *client);
  const std::vector<Op> ops = {Op::Put("b", "B"), Op::Get("z"), Op::Delete("i"), Op::Get("b"), Op::Get("nothing-here")};
  auto check = [](const Result<std::vector<OpResult>>& results) {
    REQUIRE(results);
    REQUIRE(results->size() == 5);
    CHECK((*results)[1].kv->value == "vz");
    CHECK((*results)[3].kv->value == "B");  // after the put in the same shard's sub-batch
    CHECK_FALSE((*results)[4].kv);
  };

  SECTION("one Multiplex call per shard, answered from the readers") {
    const int before = cluster.multiplexed_calls();
    cluster.ClearReceived();
    check(client->BatchAsync(ops).get());
    CHECK(Of(cluster, "Batch").size() == 3);
    CHECK(cluster.multiplexed_calls() - before == 3);
    CHECK(cluster.data().count("i") == 0);
  }
  SECTION("a shard whose leader moved: that part follows the hint with its request id") {
    cluster.SetLeader(2, 3);  // shard 2 holds "i"
    cluster.ClearReceived();
    check(client->BatchAsync(ops).get());
    std::vector<FakeCluster::Received> to_shard2;
    for (const auto& r : Of(cluster, "Batch")) {
      if (r.key == "i") to_shard2.push_back(r);
    }
    REQUIRE(to_shard2.size() == 2);
    CHECK(to_shard2[0].node_id == 2);
    CHECK(to_shard2[1].node_id == 3);
    CHECK(to_shard2[0].header.request_id() == to_shard2[1].header.request_id());
  }
  SECTION("a shard that split under it: its ops are regrouped") {
    cluster.Split("x", 4, 1);  // the cache still has shard 3 as [q, +inf)
    auto results = client->BatchAsync({Op::Put("r", "R"), Op::Put("y", "Y"), Op::Put("c", "C")}).get();
    REQUIRE(results);
    CHECK(results->size() == 3);
    CHECK(cluster.data().at("r") == "R");
    CHECK(cluster.data().at("y") == "Y");
    CHECK(cluster.data().at("c") == "C");
  }
  SECTION("invalid input fails as Batch does") {
    auto empty = client->BatchAsync({Op::Put("", "v")}).get();
    REQUIRE_FALSE(empty);
    CHECK(empty.error().code == ErrorCode::kInvalidArgument);
    auto none = client->BatchAsync({}).get();
    REQUIRE(none);
    CHECK(none->empty());
  }
}

TEST_CASE("Client async calls to a node that never answers end at their deadline; the destructor waits for them",
          "[client]") {
  FakeCluster cluster(3);
  cluster.set_multiplex(true);
  auto client = Connect(cluster);
  REQUIRE(client->Put("warm", "up"));
  cluster.set_stalled(1, true);

  const auto start = std::chrono::steady_clock::now();
  auto late = client->PutAsync("k", "v", {.deadline = milliseconds(200)});
  REQUIRE(late.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  const auto waited = std::chrono::steady_clock::now() - start;
  auto r = late.get();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kDeadlineExceeded);
  CHECK_FALSE(r.error().definite);  // it was written: the node may have applied it
  CHECK(waited >= milliseconds(190));

  // Calls in flight when the client goes: each gets its callback, once, by its deadline.
  std::atomic<int> callbacks{0};
  for (int i = 0; i < 10; ++i) {
    client->GetAsync("k" + std::to_string(i), {.deadline = milliseconds(300)},
                     [&](Result<std::optional<KeyValue>> got) {
                       if (!got && got.error().code == ErrorCode::kDeadlineExceeded) ++callbacks;
                     });
  }
  client.reset();
  CHECK(callbacks.load() == 10);
}

TEST_CASE("Client passes Status, ListShards and ListMembers through", "[client]") {
  FakeCluster cluster(3);
  auto client = Connect(cluster);
  cluster.Split("m", 2, 2);
  auto status = client->Status(cluster.address(2));
  REQUIRE(status);
  CHECK(status->node_id == 2);
  CHECK(status->replicas.size() == 2);
  auto shards = client->ListShards();
  REQUIRE(shards);
  REQUIRE(shards->size() == 2);
  CHECK((*shards)[1].start_key == "m");
  CHECK((*shards)[1].leader_address == cluster.address(2));
  auto members = client->ListMembers();
  REQUIRE(members);
  REQUIRE(members->size() == 3);
  CHECK((*members)[2].zone == "z3");
  auto down = client->Status("127.0.0.1:1", {.deadline = milliseconds(500)});
  REQUIRE_FALSE(down);
  CHECK(down.error().code == ErrorCode::kUnavailable);
}

TEST_CASE("Client::Open needs an endpoint", "[client]") {
  auto client = Client::Open(ClientOptions{});
  REQUIRE_FALSE(client);
  CHECK(client.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("PrefixEnd is the first key after a prefix", "[client]") {
  CHECK(PrefixEnd("abc") == "abd");
  CHECK(PrefixEnd(std::string("a\xff", 2)) == "b");
  CHECK(PrefixEnd("\xff\xff").empty());
  CHECK(PrefixEnd("").empty());
}

TEST_CASE("Client falls back to unary calls on a node without Multiplex, and only tries once", "[client]") {
  // FakeCluster serves no claw.v1.KV.Multiplex: its first call answers UNIMPLEMENTED, which the
  // client takes as "unary from now on" without failing or repeating the call.
  FakeCluster cluster(1);
  auto client = Connect(cluster);
  for (int i = 0; i < 20; ++i) REQUIRE(client->Put("k" + std::to_string(i), "v"));
  auto got = client->Get("k7");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(Of(cluster, "Put").size() == 20);  // each put reached the node once, as a unary RPC
  CHECK(cluster.version("k0") == 1);
}

}  // namespace claw::client
