// Proposal packing on a real cluster: the client writes a leader takes for one shard in one round
// of its worker go to the log as one entry (claw.v1.PackedCommands), and each write still gets
// its own result. Concurrent compare-and-set increments of one counter, each recording its own
// key only when it succeeds, must agree with the counter; the leader's
// clawd_raft_proposals_packed_total shows that packing happened.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "e2e_util.h"
#include "tests/common/http_get.h"

namespace claw::e2e {
namespace {

using testing::HttpGet;

double PackedOn(const TestCluster& c, int node) {
  return SampleValue(HttpGet(c.http_port(node), "/metrics").body, "clawd_raft_proposals_packed_total");
}

}  // namespace

TEST_CASE("packing: concurrent writes to one shard share entries and keep their own results", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string prefix = K(0x50, "pack/");
  const std::string counter = prefix + "counter";
  const int leader = LeaderIndex(c, counter);
  REQUIRE(leader >= 0);
  auto kv = KvAt(RouteFor(c, counter).leader_address());
  {
    v1::PutRequest put;
    put.set_key(counter);
    put.set_value("0");
    v1::PutResponse resp;
    REQUIRE(kv->Put(Ctx().get(), put, &resp).ok());
  }
  const double packed_before = PackedOn(c, leader);
  REQUIRE(packed_before >= 0);

  // Each thread: read the counter, then a txn "if the version is still v: counter = n + 1 and
  // record my attempt's key; else get the counter".
  constexpr int kThreads = 16, kAttempts = 25;
  std::atomic<int> successes{0};
  std::vector<std::vector<std::string>> recorded(kThreads), refused(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = KvAt(RouteFor(c, counter).leader_address());
      for (int a = 0; a < kAttempts; ++a) {
        v1::GetRequest get;
        get.set_key(counter);
        v1::GetResponse cur;
        grpc::Status s = stub->Get(Ctx().get(), get, &cur);
        if (!s.ok() || !cur.found()) {
          errors[t] = "get: " + s.error_message();
          return;
        }
        const std::string mine = prefix + "t" + std::to_string(t) + "/" + std::to_string(a);
        v1::TxnRequest txn;
        v1::Compare* cmp = txn.add_compare();
        cmp->set_key(counter);
        cmp->set_target(v1::Compare::VERSION);
        cmp->set_op(v1::Compare::EQUAL);
        cmp->set_version(cur.kv().version());
        auto* inc = txn.add_success()->mutable_put();
        inc->set_key(counter);
        inc->set_value(std::to_string(std::stoi(cur.kv().value()) + 1));
        auto* rec = txn.add_success()->mutable_put();
        rec->set_key(mine);
        rec->set_value(cur.kv().value());
        txn.add_failure()->mutable_get()->set_key(counter);
        v1::TxnResponse resp;
        s = stub->Txn(Ctx().get(), txn, &resp);
        if (!s.ok()) {
          errors[t] = "txn: " + s.error_message();
          return;
        }
        if (resp.succeeded()) {
          if (resp.results_size() != 2) {
            errors[t] = "a succeeded txn answered " + std::to_string(resp.results_size()) + " results";
            return;
          }
          ++successes;
          recorded[t].push_back(mine);
        } else {
          // The failure branch's get: the counter moved past what this thread read.
          if (resp.results_size() != 1 || !resp.results(0).has_get() ||
              resp.results(0).get().kv().version() <= cur.kv().version()) {
            errors[t] = "a failed txn answered " + resp.ShortDebugString();
            return;
          }
          refused[t].push_back(mine);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(errors[t].empty());
    UNSCOPED_INFO(errors[t]);
  }
  INFO(successes.load() << " of " << kThreads * kAttempts << " increments succeeded");
  CHECK(successes.load() > 0);

  // The counter says exactly how many succeeded; every success's key is there and every
  // refusal's is not.
  v1::GetRequest get;
  get.set_key(counter);
  v1::GetResponse final_value;
  REQUIRE(kv->Get(Ctx().get(), get, &final_value).ok());
  CHECK(final_value.kv().value() == std::to_string(successes.load()));
  auto has = [&](const std::string& key) {
    v1::GetRequest g;
    g.set_key(key);
    v1::GetResponse r;
    REQUIRE(kv->Get(Ctx().get(), g, &r).ok());
    return r.found();
  };
  std::set<std::string> values;  // each success read a different counter value
  for (int t = 0; t < kThreads; ++t) {
    for (const std::string& key : recorded[t]) CHECK(has(key));
    for (const std::string& key : refused[t]) CHECK_FALSE(has(key));
  }
  v1::ScanRequest scan;
  scan.set_start_key(prefix + "t");
  scan.set_end_key(prefix + "u");
  auto ctx = Ctx();
  auto reader = kv->Scan(ctx.get(), scan);
  v1::ScanResponse page;
  size_t records = 0;
  while (reader->Read(&page)) {
    for (const auto& item : page.kvs()) {
      ++records;
      CHECK(values.insert(item.value()).second);
    }
  }
  REQUIRE(reader->Finish().ok());
  CHECK(records == static_cast<size_t>(successes.load()));

  // 16 writers at once on 2 cores: the leader took several in one round many times.
  const double packed_after = PackedOn(c, leader);
  INFO("packed writes on the leader: " << packed_before << " -> " << packed_after);
  CHECK(packed_after > packed_before);
}

}  // namespace claw::e2e
