// claw.v1.KV.Multiplex on a real cluster: many calls of every kind in one message, each answered
// once by tag with the status and error detail its unary RPC would give (validation, NOT_LEADER
// with the leader's address, forwarding); the per-call metrics; and the client library, which
// sends its point requests this way, under concurrent callers and across a kill -9 of a leader.
#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "cluster.h"
#include "e2e_util.h"
#include "tests/common/http_get.h"

namespace claw::e2e {
namespace {

v1::MultiplexCall PutCall(uint64_t tag, const std::string& key, const std::string& value, bool forward = false) {
  v1::MultiplexCall c;
  c.set_tag(tag);
  c.set_timeout_ms(5000);
  c.mutable_put()->set_key(key);
  c.mutable_put()->set_value(value);
  c.mutable_put()->mutable_header()->set_forward(forward);
  return c;
}

v1::MultiplexCall GetCall(uint64_t tag, const std::string& key) {
  v1::MultiplexCall c;
  c.set_tag(tag);
  c.set_timeout_ms(5000);
  c.mutable_get()->set_key(key);
  return c;
}

// Sends `calls` in one message on a new stream to `address`, half-closes, and returns the answers
// by tag (each tag must come back exactly once) and the stream's status.
std::map<uint64_t, v1::MultiplexAnswer> RoundTrip(const std::string& address, const std::vector<v1::MultiplexCall>& calls,
                                                  grpc::Status* status) {
  auto kv = KvAt(address);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = kv->Multiplex(&ctx);
  v1::MultiplexRequest req;
  for (const auto& c : calls) *req.add_calls() = c;
  REQUIRE(stream->Write(req));
  REQUIRE(stream->WritesDone());
  std::map<uint64_t, v1::MultiplexAnswer> out;
  v1::MultiplexResponse resp;
  while (stream->Read(&resp)) {
    for (const auto& a : resp.answers()) {
      INFO("tag " << a.tag());
      CHECK(out.emplace(a.tag(), a).second);
    }
  }
  *status = stream->Finish();
  return out;
}

v1::Error DetailOf(const v1::MultiplexAnswer& a) {
  return Detail(grpc::Status(static_cast<grpc::StatusCode>(a.code()), a.message(), a.details()));
}

// clawd_grpc_server_started_total{grpc_method=METHOD, grpc_type="multiplexed"} on node i.
double MultiplexedStarted(const TestCluster& c, int i, const std::string& method) {
  const auto r = testing::HttpGet(c.http_port(i), "/metrics");
  const std::regex line("clawd_grpc_server_started_total\\{[^}]*grpc_method=\"" + method +
                        "\"[^}]*grpc_type=\"multiplexed\"[^}]*\\} ([0-9.e+]+)");
  std::smatch m;
  return std::regex_search(r.body, m, line) ? std::stod(m[1]) : 0;
}

// Starts `c`, waits until it serves with leaders known, and opens a client (10 s deadline).
std::unique_ptr<client::Client> StartWithClient(TestCluster& c) {
  c.StartAll();
  for (int i = 0; i < c.size(); ++i) REQUIRE(c.WaitServing(i));
  REQUIRE(c.WaitLeaders(0));
  return OpenClient(c, std::chrono::seconds(10));
}

}  // namespace

TEST_CASE("multiplex: calls of every kind in one message, each answered once as its unary RPC would be",
          "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string key = K(0x21, "mux-a");
  const int leader = LeaderIndex(c, key);
  REQUIRE(leader >= 0);
  const int follower = FollowerIndex(c, key);
  REQUIRE(follower >= 0);

  std::vector<v1::MultiplexCall> calls;
  calls.push_back(PutCall(1, key, "one"));
  calls.push_back(PutCall(2, "", "empty key"));  // refused by validation
  v1::MultiplexCall none;
  none.set_tag(3);
  calls.push_back(none);  // no request at all
  v1::MultiplexCall txn;
  txn.set_tag(4);
  txn.set_timeout_ms(5000);
  v1::Compare* cmp = txn.mutable_txn()->add_compare();
  cmp->set_key(K(0x21, "mux-b"));
  cmp->set_target(v1::Compare::EXISTS);
  cmp->set_op(v1::Compare::EQUAL);
  cmp->set_exists(false);
  txn.mutable_txn()->add_success()->mutable_put()->set_key(K(0x21, "mux-b"));
  txn.mutable_txn()->mutable_success(0)->mutable_put()->set_value("created");
  calls.push_back(txn);
  v1::MultiplexCall batch;
  batch.set_tag(5);
  batch.set_timeout_ms(5000);
  for (const char* k : {"mux-c", "mux-d"}) {
    v1::Op* op = batch.mutable_batch()->add_ops();
    op->mutable_put()->set_key(K(0x21, k));
    op->mutable_put()->set_value("batched");
  }
  calls.push_back(batch);
  v1::MultiplexCall del;
  del.set_tag(6);
  del.set_timeout_ms(5000);
  del.mutable_delete_()->set_key(K(0x21, "mux-never"));
  calls.push_back(del);
  grpc::Status status;
  auto answers = RoundTrip(c.client_address(leader), calls, &status);
  REQUIRE(status.ok());
  REQUIRE(answers.size() == calls.size());

  CHECK(answers[1].code() == 0);
  CHECK(answers[1].has_put());
  CHECK(answers[1].put().mod_ts() > 0);
  CHECK(answers[2].code() == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  CHECK(DetailOf(answers[2]).code() == v1::Error::INVALID_ARGUMENT);
  CHECK_FALSE(answers[2].has_put());
  CHECK(answers[3].code() == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  CHECK(answers[4].code() == 0);
  CHECK(answers[4].txn().succeeded());
  CHECK(answers[5].code() == 0);
  CHECK(answers[5].batch().results_size() == 2);
  CHECK(answers[6].code() == 0);
  CHECK(answers[6].delete_().deleted() == 0);

  // Reads see the writes; a follower answers NOT_LEADER naming the leader, or forwards.
  answers = RoundTrip(c.client_address(leader), {GetCall(7, key), GetCall(8, K(0x21, "mux-b"))}, &status);
  REQUIRE(status.ok());
  CHECK(answers[7].get().kv().value() == "one");
  CHECK(answers[8].get().kv().value() == "created");
  answers = RoundTrip(c.client_address(follower), {PutCall(9, key, "two"), PutCall(10, key, "three", true)}, &status);
  REQUIRE(status.ok());
  REQUIRE(answers.size() == 2);
  CHECK(answers[9].code() == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  const v1::Error hint = DetailOf(answers[9]);
  CHECK(hint.code() == v1::Error::NOT_LEADER);
  CHECK(hint.leader().address() == c.client_address(leader));
  CHECK(answers[10].code() == 0);  // forwarded to the leader
  answers = RoundTrip(c.client_address(leader), {GetCall(11, key)}, &status);
  CHECK(answers[11].get().kv().value() == "three");
  CHECK(answers[11].get().kv().version() == 2);

  // Each call counts in its method's series, typed "multiplexed".
  CHECK(MultiplexedStarted(c, leader, "Put") >= 1);
  CHECK(MultiplexedStarted(c, leader, "Txn") >= 1);
  CHECK(MultiplexedStarted(c, leader, "Get") >= 3);
}

TEST_CASE("multiplex: the client's concurrent callers share streams; a killed leader's calls are retried",
          "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4});
  auto client = StartWithClient(c);
  const std::string hot = K(0x41, "hot");
  const int victim = LeaderIndex(c, hot);
  REQUIRE(victim >= 0);

  // 8 threads put distinct keys over every shard; halfway, the leader of `hot`'s shard is killed.
  constexpr int kThreads = 8, kPerThread = 150;
  std::atomic<int> ok{0}, done{0};
  std::vector<std::string> failures;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = K(static_cast<unsigned char>(0x10 + 0x30 * (i % 4)), "t" + std::to_string(t) + "-" + std::to_string(i));
        auto r = client->Put(key, "v" + std::to_string(i));
        if (r) {
          ++ok;
        } else {
          std::lock_guard lock(mu);
          failures.push_back(key + ": " + r.error().ToString());
        }
        ++done;
      }
    });
  }
  REQUIRE(Eventually([&] { return done.load() >= kThreads * kPerThread / 2; }, std::chrono::seconds(60)));
  c.Kill(victim);
  for (auto& th : threads) th.join();
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(ok.load() == kThreads * kPerThread);

  // Every write is there, read back through the client (linearizable reads, multiplexed too).
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; i += 7) {
      const std::string key = K(static_cast<unsigned char>(0x10 + 0x30 * (i % 4)), "t" + std::to_string(t) + "-" + std::to_string(i));
      auto got = client->Get(key);
      REQUIRE(got.has_value());
      REQUIRE(got->has_value());
      CHECK((*got)->value == "v" + std::to_string(i));
    }
  }
  // The puts went over Multiplex streams: the surviving nodes counted them so.
  double multiplexed = 0;
  for (int i = 0; i < 3; ++i) {
    if (i != victim) multiplexed += MultiplexedStarted(c, i, "Put");
  }
  CHECK(multiplexed > 0);
}

TEST_CASE("multiplex: async calls chained from their callbacks; a killed leader's calls are retried, a stopped "
          "node's end at their deadline",
          "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4});
  auto client = StartWithClient(c);
  const std::string hot = K(0x41, "hot");
  const int victim = LeaderIndex(c, hot);
  REQUIRE(victim >= 0);

  // 32 chains of PutAsync over every shard, each starting its next put from the previous one's
  // callback (on the client's stream reader, or a pool thread after a retry); halfway, the leader
  // of `hot`'s shard is killed.
  constexpr int kChains = 32, kPerChain = 40;
  auto key_of = [](int chain, int i) {
    return K(static_cast<unsigned char>(0x10 + 0x30 * (i % 4)), "c" + std::to_string(chain) + "-" + std::to_string(i));
  };
  std::atomic<int> ok{0}, done{0}, on_caller{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::function<void(int, int)> step = [&](int chain, int i) {
    if (i == kPerChain) return;
    static thread_local bool starting = false;  // inside PutAsync on this thread
    starting = true;
    client->PutAsync(key_of(chain, i), "v" + std::to_string(i), {}, [&, chain, i](client::Result<client::PutResult> r) {
      if (starting) ++on_caller;  // called back from within PutAsync: never
      if (r) {
        ++ok;
      } else {
        std::lock_guard lock(mu);
        failures.push_back(key_of(chain, i) + ": " + r.error().ToString());
      }
      ++done;
      step(chain, i + 1);
    });
    starting = false;
  };
  for (int chain = 0; chain < kChains; ++chain) step(chain, 0);
  REQUIRE(Eventually([&] { return done.load() >= kChains * kPerChain / 2; }, std::chrono::seconds(60)));
  c.Kill(victim);
  REQUIRE(Eventually([&] { return done.load() == kChains * kPerChain; }, std::chrono::seconds(60)));
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(ok.load() == kChains * kPerChain);
  CHECK(on_caller.load() == 0);

  // Read back with the future forms.
  std::vector<std::pair<std::string, std::future<client::Result<std::optional<client::KeyValue>>>>> reads;
  for (int chain = 0; chain < kChains; chain += 3) {
    for (int i = 0; i < kPerChain; i += 5) reads.emplace_back("v" + std::to_string(i), client->GetAsync(key_of(chain, i)));
  }
  for (auto& [want, got] : reads) {
    auto r = got.get();
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    CHECK((*r)->value == want);
  }
  // A batch over every shard, its parts answered by the stream readers.
  std::vector<client::Op> ops;
  for (int i = 0; i < 16; ++i) ops.push_back(client::Op::Put(key_of(99, i), "b" + std::to_string(i)));
  auto batch = client->BatchAsync(ops).get();
  REQUIRE(batch.has_value());
  CHECK(batch->size() == ops.size());
  auto batched = client->Get(key_of(99, 7));
  REQUIRE(batched.has_value());
  REQUIRE(batched->has_value());
  CHECK((*batched)->value == "b7");
  auto deleted = client->DeleteAsync(key_of(0, 0)).get();
  REQUIRE(deleted.has_value());
  CHECK(deleted->deleted);
  auto gone = client->GetAsync(key_of(0, 0)).get();
  REQUIRE(gone.has_value());
  CHECK(!gone->has_value());

  // A node that stops answering (SIGSTOP) never ends its stream: the client's own deadline ends
  // the calls sent to it. Its leaderships move while it is stopped; calls sent afterwards go
  // to the new leaders and succeed.
  client.reset();
  c.Start(victim);
  REQUIRE(c.WaitServing(victim));
  auto fresh = OpenClient(c, std::chrono::seconds(10));
  REQUIRE(fresh->Put(hot, "before").has_value());
  const int stopped = LeaderIndex(c, hot, (victim + 1) % 3);
  REQUIRE(stopped >= 0);
  c.Pause(stopped);
  const auto sent = std::chrono::steady_clock::now();
  auto late = fresh->PutAsync(hot, "during", {.deadline = std::chrono::milliseconds(300)});
  REQUIRE(late.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  const auto waited = std::chrono::steady_clock::now() - sent;
  auto r = late.get();
  REQUIRE(!r.has_value());
  CHECK(r.error().code == client::ErrorCode::kDeadlineExceeded);
  CHECK(waited >= std::chrono::milliseconds(290));
  c.Resume(stopped);
  REQUIRE(Eventually([&] { return fresh->Put(hot, "after").has_value(); }, std::chrono::seconds(30)));
}

}  // namespace claw::e2e
