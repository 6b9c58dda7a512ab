// Shard splits between real nodes (claw.v1.Cluster SplitShard): splits under a concurrent write
// load lose and duplicate nothing (a full scan matches the writer's own record), the directory
// tiles the key space with advanced epochs, requests with the old epoch get EPOCH_MISMATCH, the
// new shards elect leaders and take writes, everything survives a restart, and bad split
// requests are refused.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

grpc::Status Split(TestCluster& c, uint64_t shard, const std::string& key, v1::SplitShardResponse* out) {
  const int leader = [&] {
    for (const auto& r : Routes(c, 0)) {
      if (r.shard().id() == shard) return c.IndexOfAddress(r.leader_address());
    }
    return -1;
  }();
  // Not known yet (a new shard elects; a slow machine takes longer): the caller retries.
  if (leader < 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the shard's leader is not known yet");
  v1::SplitShardRequest req;
  req.set_shard_id(shard);
  req.set_split_key(key);
  return c.Admin(leader)->SplitShard(Ctx(10000).get(), req, out);
}

// Data shards by start key must tile the key space: first starts empty, each ends where the
// next starts, the last ends empty.
void CheckTiling(const std::vector<v1::ShardRoute>& routes) {
  REQUIRE_FALSE(routes.empty());
  CHECK(routes.front().shard().start_key().empty());
  CHECK(routes.back().shard().end_key().empty());
  for (size_t i = 0; i + 1 < routes.size(); ++i) {
    CHECK(routes[i].shard().end_key() == routes[i + 1].shard().start_key());
  }
}

}  // namespace

TEST_CASE("split: shards split under write load with no lost or duplicated keys", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(80));
  auto client = OpenClient(c, std::chrono::seconds(10));
  // Seed shard 2 (keys below "\x80") so that the middle key is well inside it.
  for (int k = 0; k < 200; ++k) {
    char key[16];
    std::snprintf(key, sizeof key, "k%05d", k * 10);
    REQUIRE(client->Put(key, "seed").has_value());
  }

  // Writer: new keys k00001, k00011, ... (between the seeds, on both sides of any split), each
  // recorded as acknowledged or as unknown (a failed call may or may not have applied).
  std::atomic<bool> stop{false};
  std::set<std::string> acked, unknown;
  std::thread writer([&] {
    auto wc = OpenClient(c, std::chrono::seconds(10));
    for (int k = 0; k < 2000 && !stop.load(); ++k) {
      char key[16];
      std::snprintf(key, sizeof key, "k%05d", (k * 10 + 1) % 20000);
      auto put = wc->Put(key, "v");
      (put.has_value() ? acked : unknown).insert(key);
    }
  });
  // A failed REQUIRE below must not leave the writer joinable (std::terminate).
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinOnExit() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{stop, writer};

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  v1::SplitShardResponse resp;
  // At the middle of the data. Retried: the placement service may be moving shard 2's leadership
  // (leader balance), and a request that reaches a former leader gets NOT_LEADER.
  REQUIRE(Eventually([&] { return Split(c, 2, "", &resp).ok(); }, std::chrono::seconds(10)));
  const std::string first_key = resp.right().start_key();
  CHECK(resp.left().id() == 2);
  CHECK(resp.left().end_key() == first_key);
  CHECK(first_key > "k00000");
  CHECK(first_key < "k02000");
  CHECK(resp.left().epoch().range_version() == 2);
  CHECK(resp.right().epoch().range_version() == 2);
  CHECK(resp.right().replicas_size() == 3);
  const uint64_t right_id = resp.right().id();
  CHECK(right_id > 3);

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Split the new shard again, at an explicit key (once it has a leader).
  REQUIRE(Eventually([&] { return Split(c, right_id, "k01500", &resp).ok(); }, std::chrono::seconds(10)));
  CHECK(resp.left().id() == right_id);
  CHECK(resp.right().start_key() == "k01500");

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  writer.join();
  INFO("acked " << acked.size() << ", unknown " << unknown.size());
  CHECK(acked.size() > 50);

  auto check_data = [&] {
    std::set<std::string> scanned;
    auto all = client->Scan("k", "l");
    REQUIRE(all.has_value());
    CHECK_FALSE(all->more);
    for (const auto& kv : all->kvs) {
      CHECK(scanned.insert(kv.key).second);  // no duplicates
    }
    for (const std::string& k : acked) CHECK(scanned.count(k) == 1);  // nothing acknowledged lost
    for (int k = 0; k < 200; ++k) {
      char key[16];
      std::snprintf(key, sizeof key, "k%05d", k * 10);
      CHECK(scanned.count(key) == 1);
    }
    for (const std::string& k : scanned) {
      const bool seed = k.back() == '0';
      CHECK((seed || acked.count(k) == 1 || unknown.count(k) == 1));  // nothing invented
    }
  };
  check_data();

  std::vector<v1::ShardRoute> routes = Routes(c, 0);
  CHECK(routes.size() == 4);  // 2, right_id, its right half, 3
  CheckTiling(routes);

  // A request still naming shard 2 at its old epoch is refused with the fresh descriptor.
  {
    v1::PutRequest put;
    put.mutable_header()->set_shard_id(2);
    put.mutable_header()->mutable_epoch()->set_conf_version(1);
    put.mutable_header()->mutable_epoch()->set_range_version(1);
    put.set_key("k00003");
    put.set_value("x");
    v1::PutResponse pr;
    const int leader = c.IndexOfAddress(RouteFor(c, "k00003").leader_address());
    REQUIRE(leader >= 0);
    grpc::Status st = c.Kv(leader)->Put(Ctx().get(), put, &pr);
    CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(Detail(st).code() == v1::Error::EPOCH_MISMATCH);
  }

  // Bad requests.
  CHECK(Eventually([&] {  // outside shard 2's range
    return Split(c, 2, "zzz", &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT;
  }));
  CHECK(Eventually([&] { return Split(c, 2, "", &resp).ok(); }, std::chrono::seconds(10)));  // shard 2 still has data

  // Restart everything: the directory and the data are as they were.
  for (int code : c.StopAll()) CHECK(code == 0);
  REQUIRE(c.StartAllAndWait());
  client = OpenClient(c, std::chrono::seconds(10));
  CHECK(Routes(c, 0).size() == 5);
  CheckTiling(Routes(c, 0));
  check_data();
  // The new shards take writes.
  REQUIRE(client->Put("k01999", "after").has_value());
  REQUIRE(client->Put("k00002", "after").has_value());
}

}  // namespace claw::e2e
