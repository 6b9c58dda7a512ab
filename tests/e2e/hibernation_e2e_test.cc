// Idle groups hibernate (no ticks, no heartbeats) and wake on traffic.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <thread>

#include "cluster.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Shard ids whose replicas on every node report hibernating.
std::set<uint64_t> SleepingEverywhere(TestCluster& c) {
  std::map<uint64_t, int> sleeping;
  for (int i = 0; i < c.size(); ++i) {
    v1::StatusResponse st;
    if (!c.Admin(i)->Status(Ctx().get(), v1::StatusRequest(), &st).ok()) return {};
    for (const auto& r : st.replicas()) sleeping[r.shard().id()] += r.hibernating() ? 1 : 0;
  }
  std::set<uint64_t> out;
  for (const auto& [id, n] : sleeping) {
    if (n == c.size()) out.insert(id);
  }
  return out;
}

}  // namespace

TEST_CASE("hibernation: idle shards sleep on every replica and wake on a write", "[e2e]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  // 30 idle ticks of 50 ms: every shard should be asleep on all three nodes well within 10 s.
  std::set<uint64_t> asleep;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline && asleep.size() < 5) {
    asleep = SleepingEverywhere(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(asleep.size() == 5);  // the meta shard and 4 data shards

  // A write to shard 2 (keys below 0x40) wakes it and succeeds; it sleeps again afterwards.
  auto client = OpenClient(c);
  REQUIRE(client->Put(K(0x10, "wake"), "up").has_value());
  auto got = client->Get(K(0x10, "wake"));
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->value == "up");
  const auto again = Clock::now() + std::chrono::seconds(10);
  asleep.clear();
  while (Clock::now() < again && asleep.count(2) == 0) {
    asleep = SleepingEverywhere(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(asleep.count(2) == 1);
}

}  // namespace claw::e2e
