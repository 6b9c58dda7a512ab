// Named checkpoints and placement between real nodes: no split cuts a checkpoint's key range
// (client/checkpoint_layout.h) — an admin split inside one lands at the checkpoint's start or is
// refused with the reason, the placement service's size splits and rule-boundary splits go to
// the checkpoint's start or end, and a shard holding only one checkpoint is never re-planned for
// a split it cannot get. KV puts under the checkpoint prefix stand in for checkpoint writes.
#include <catch2/catch.hpp>

#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "claw/v1/placement.grpc.pb.h"
#include "client/checkpoint_layout.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using client::CheckpointEnd;
using client::CheckpointSectionKey;
using client::CheckpointStart;

// Splits `shard` at `key` on its leader (as node 0 knows it).
grpc::Status SplitAt(TestCluster& c, uint64_t shard, const std::string& key, v1::SplitShardResponse* out) {
  int leader = -1;
  for (const auto& r : Routes(c, 0)) {
    if (r.shard().id() == shard) leader = c.IndexOfAddress(r.leader_address());
  }
  if (leader < 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the shard's leader is not known yet");
  v1::SplitShardRequest req;
  req.set_shard_id(shard);
  req.set_split_key(key);
  return c.Admin(leader)->SplitShard(Ctx(10000).get(), req, out);
}

// Retries while the leader is unknown or moving (NOT_LEADER, UNAVAILABLE); returns the last status.
grpc::Status SplitRetrying(TestCluster& c, uint64_t shard, const std::string& key, v1::SplitShardResponse* out) {
  grpc::Status last;
  Eventually(
      [&] {
        last = SplitAt(c, shard, key, out);
        return last.error_code() != grpc::StatusCode::UNAVAILABLE && Detail(last).code() != v1::Error::NOT_LEADER;
      },
      std::chrono::seconds(10));
  return last;
}

std::set<std::string> StartKeys(const TestCluster& c) {
  std::set<std::string> out;
  for (const auto& r : Routes(c, 0)) out.insert(r.shard().start_key());
  return out;
}

std::string Printable(const std::string& key) {
  std::string out;
  for (const char ch : key) {
    const auto b = static_cast<unsigned char>(ch);
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", b);
    out += (b >= 0x20 && b < 0x7f) ? std::string(1, ch) : std::string(hex);
  }
  return "\"" + out + "\"";
}

// No start key strictly inside checkpoint `name`'s range.
bool Uncut(const std::set<std::string>& starts, const std::string& name) {
  auto it = starts.upper_bound(CheckpointStart(name));
  return it == starts.end() || *it >= CheckpointEnd(name);
}

}  // namespace

TEST_CASE("checkpoint ranges: an admin split inside one lands at its start, or is refused saying why",
          "[e2e][placement]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string x_header = CheckpointStart("x") + "h", x_section = CheckpointSectionKey("x", "A");
  for (const std::string& key : {x_header, x_section, CheckpointStart("y") + "h"}) {
    REQUIRE(client->Put(key, "v").has_value());
  }

  // Inside checkpoint x: the split happens at x's start.
  v1::SplitShardResponse resp;
  const uint64_t holder = RouteFor(c, x_section).shard().id();
  grpc::Status s = SplitRetrying(c, holder, x_section, &resp);
  REQUIRE(s.ok());
  CHECK(resp.right().start_key() == CheckpointStart("x"));
  CHECK(resp.left().end_key() == CheckpointStart("x"));
  const uint64_t x_shard = resp.right().id();

  // The shard now starts with x: a key inside x cannot split it.
  s = SplitRetrying(c, x_shard, x_section, &resp);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Detail(s).code() == v1::Error::INVALID_ARGUMENT);
  CHECK(s.error_message().find("lies inside checkpoint 'x''s key range") != std::string::npos);
  CHECK(s.error_message().find("split at or after the checkpoint's end") != std::string::npos);

  // At the middle of its data (x's two keys and y's one): the middle falls in x, so the split goes
  // to x's end, leaving x a shard of its own...
  s = SplitRetrying(c, x_shard, "", &resp);
  REQUIRE(s.ok());
  CHECK(resp.left().start_key() == CheckpointStart("x"));
  CHECK(resp.right().start_key() == CheckpointEnd("x"));
  // ... which no split can cut.
  s = SplitRetrying(c, x_shard, "", &resp);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("lies inside checkpoint 'x''s key range") != std::string::npos);

  CHECK(Uncut(StartKeys(c), "x"));
  for (const std::string& key : {x_header, x_section, CheckpointStart("y") + "h"}) {
    auto got = client->Get(key);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "v");
  }
}

TEST_CASE("checkpoint ranges: size splits and rule boundaries avoid them, and are not re-planned",
          "[e2e][placement]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "100", "--placement-split-bytes", "64KiB"});
  TestCluster c({.nodes = 3, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  auto client = OpenClient(c, std::chrono::seconds(10));
  // ~120 KB in checkpoint x's sections, in the last shard ["\x80", +inf), and one key of y.
  const std::string value(1000, 'x');
  for (int i = 0; i < 120; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "s%03d", i);
    REQUIRE(client->Put(CheckpointSectionKey("x", id), value).has_value());
  }
  REQUIRE(client->Put(CheckpointStart("y") + "h", "v").has_value());

  // Past 64 KiB the shard splits at x's start, then (x is most of it) at x's end; x, still past
  // the size, is then left alone: one checkpoint, unsplittable.
  std::string last;
  const bool split = Eventually(
      [&] {
        const std::set<std::string> starts = StartKeys(c);
        last.clear();
        for (const std::string& k : starts) last += Printable(k) + " ";
        return starts.contains(CheckpointStart("x")) && starts.contains(CheckpointEnd("x"));
      },
      std::chrono::seconds(20));
  INFO("shard starts: " << last);
  INFO(c.DumpLogs(80));
  REQUIRE(split);
  CHECK(Uncut(StartKeys(c), "x"));

  // A placement rule starting inside y's range splits at y's start instead.
  const uint64_t y_shard = RouteFor(c, CheckpointStart("y") + "h").shard().id();
  v1::SetRulesRequest req;
  v1::PlacementRule* rule = req.mutable_rules()->add_rules();
  rule->set_name("y-and-after");
  rule->set_start_key(CheckpointStart("y") + "h");
  v1::PlacementRules stored;
  REQUIRE(Eventually(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          auto stub = v1::Placement::NewStub(grpc::CreateChannel(c.client_address(i), grpc::InsecureChannelCredentials()));
          if (stub->SetRules(Ctx(2000).get(), req, &stored).ok()) return true;
        }
        return false;
      },
      std::chrono::seconds(10)));
  REQUIRE(Eventually([&] { return StartKeys(c).contains(CheckpointStart("y")); }, std::chrono::seconds(20)));
  CHECK(RouteFor(c, CheckpointStart("y") + "h").shard().id() != y_shard);
  CHECK(Uncut(StartKeys(c), "y"));

  // Settled: 20 more heartbeat intervals plan no split the leaders refuse, and add no shard.
  const size_t shards = Routes(c, 0).size();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(Routes(c, 0).size() == shards);
  const std::string logs = c.DumpLogs(100000);
  CHECK(logs.find("lies inside checkpoint") == std::string::npos);
  CHECK(Uncut(StartKeys(c), "x"));
  auto got = client->Get(CheckpointSectionKey("x", "s007"));
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->value == value);
}

}  // namespace claw::e2e
