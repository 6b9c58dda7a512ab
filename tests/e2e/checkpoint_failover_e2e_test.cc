// Checkpoints across a crash of their active replica: kill -9 of the leader of the checkpoint's
// shard while a writer writes and a standby follows the update stream.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "client/checkpoint.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using namespace std::chrono_literals;

}  // namespace

TEST_CASE("checkpoint: kill -9 of the active replica loses no acknowledged write; the standby sees every change once, in order",
          "[e2e][checkpoint]") {
  TestCluster c(ClusterOptions{.nodes = 3, .shards = 1, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  auto cl = OpenClient(c, 5s);
  client::CheckpointClient ckpt(*cl);
  auto session = ckpt.StartSession(10s);
  REQUIRE(session.has_value());
  const std::string name = "failover/ckpt";
  auto handle = ckpt.Open(**session, name, {.read = true, .write = true, .create = true, .attributes = {.max_sections = 4}});
  REQUIRE(handle.has_value());
  REQUIRE(handle->CreateSection({.section_id = "counter", .data = "0"}).has_value());

  // The standby: every update, by sequence.
  std::mutex mu;
  std::map<uint64_t, std::string> seen;  // sequence -> the counter's data written by that change
  uint64_t first = 0, last = 0, duplicates = 0, regressions = 0;
  auto follower = ckpt.Follow(name, {}, [&](const client::CheckpointUpdate& u) {
    std::lock_guard lock(mu);
    if (first == 0) first = u.sequence;
    if (u.sequence <= last && !u.snapshot) (u.sequence == last ? duplicates : regressions) += 1;
    last = std::max(last, u.sequence);
    for (const client::SectionChange& s : u.sections) {
      if (s.section_id == "counter" && !s.deleted) seen[u.sequence] = s.data;
    }
  });
  REQUIRE(follower.has_value());

  // The writer: counter values 1, 2, ... one overwrite each, until told to stop (bounded).
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> indeterminate{0};
  std::vector<std::string> errors;
  std::thread writer([&] {
    const auto until = std::chrono::steady_clock::now() + 30s;
    client::CallOptions patient;
    patient.deadline = 10s;
    for (uint64_t i = 1; i <= 2000 && !stop.load() && std::chrono::steady_clock::now() < until; ++i) {
      auto w = handle->Overwrite("counter", std::to_string(i), patient);
      if (w) {
        acked.store(i);
      } else {
        errors.push_back(w.error().ToString());
        if (!w.error().definite) indeterminate.fetch_add(1);
        break;  // a writer that lost its write stops (the state is what the service says)
      }
    }
  });
  REQUIRE(Eventually([&] { return acked.load() >= 30; }, 15s));
  const int leader = LeaderIndex(c, client::CheckpointHeaderKey(name));
  REQUIRE(leader >= 0);
  c.Kill(leader);
  const uint64_t at_kill = acked.load();
  // Writes resume at the new leader.
  CHECK(Eventually([&] { return acked.load() >= at_kill + 30; }, 15s));
  stop.store(true);
  writer.join();
  INFO("writer errors: " << (errors.empty() ? "none" : errors.front()));
  CHECK(errors.empty());
  c.Start(leader);

  // Every acknowledged write is there; the standby caught up with the same state.
  auto read = handle->Read({{.section_id = "counter"}});
  REQUIRE(read.has_value());
  REQUIRE(read->sections.size() == 1);
  CHECK(read->sections[0].data == std::to_string(acked.load()));
  const uint64_t final_seq = read->sequence;
  CHECK(Eventually([&] {
    std::lock_guard lock(mu);
    return last >= final_seq;
  }, 15s));
  std::lock_guard lock(mu);
  CHECK(duplicates == 0);
  CHECK(regressions == 0);
  // Each change after the snapshot arrived once: the counter went up by one per sequence.
  uint64_t prev = 0;
  for (const auto& [seq, data] : seen) {
    const uint64_t v = std::stoull(data);
    if (prev != 0) CHECK(v == prev + 1);
    prev = v;
  }
  CHECK(prev == acked.load());
  CHECK(seen.rbegin()->first == final_seq);
  (*follower)->Cancel();
  CHECK(handle->Close().has_value());
  CHECK((*session)->End().has_value());
}

}  // namespace claw::e2e
