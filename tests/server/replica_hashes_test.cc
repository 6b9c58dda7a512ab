// server/replica_hashes over a real engine with data written by KvStateMachine: two replicas that
// applied the same commands hash alike, one extra write makes them differ, and so does the same
// data with another version history (version, create_ts and mod_ts are hashed); results are pending
// until the background hash is done, kept per shard up to kKeptPerShard, and forgotten with the
// shard; the hash is of the state when Start was called, not of later writes.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "server/kv_state_machine.h"
#include "server/replica_hashes.h"
#include "storage/engine.h"
#include "storage/state_hash.h"
#include "tests/storage/temp_dir.h"

namespace claw::server {
namespace {

constexpr uint64_t kShard = 7;

class Replica {
 public:
  Replica() {
    storage::StorageOptions o;
    o.dir = dir_.path() + "/db";
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 1 << 20;
    auto opened = storage::Engine::Open(o);
    REQUIRE(opened.has_value());
    engine_ = std::move(*opened);
    fsm_ = std::make_unique<KvStateMachine>(engine_.get(), kShard);
    REQUIRE(fsm_->Load().has_value());
    hashes_ = std::make_unique<ReplicaHashes>(engine_.get());
  }
  // Applies one put as Raft entry `index` and writes it.
  void Put(uint64_t index, const std::string& key, const std::string& value) {
    v1::RaftCommand cmd;
    cmd.set_ts(index << 18);
    v1::Op* op = cmd.mutable_batch()->add_ops();
    op->mutable_put()->set_key(key);
    op->mutable_put()->set_value(value);
    storage::WriteBatch batch;
    fsm_->Apply(index, 1, cmd, batch);
    fsm_->FinishBatch(batch);
    REQUIRE(engine_->Write(batch, storage::Durability::kNoSync).has_value());
    fsm_->OnBatchWritten();
  }
  // Waits (bounded) until the check at `index` is no longer pending.
  ReplicaHashes::Result WaitDone(uint64_t index) {
    for (int i = 0; i < 500; ++i) {
      auto r = hashes_->Find(kShard, index);
      REQUIRE(r.has_value());
      if (r->state != ReplicaHashes::State::kPending) return *r;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("the check at index " << index << " stayed pending for 5 s");
    return {};
  }
  storage::Engine& engine() { return *engine_; }
  ReplicaHashes& hashes() { return *hashes_; }

 private:
  storage::test::TempDir dir_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<KvStateMachine> fsm_;
  std::unique_ptr<ReplicaHashes> hashes_;
};

TEST_CASE("ReplicaHashes: equal applies hash alike; one extra write differs", "[server]") {
  Replica a, b, c, d;
  for (Replica* r : {&a, &b, &c}) {
    r->Put(6, "k1", "v1");
    r->Put(7, std::string("k\0" "2", 3), "v2");
    r->Put(8, "k1", "v1 again");  // version 2
  }
  c.Put(9, "extra", "only on c");
  // d has the same keys and values, but k1 written once: version 1, other timestamps.
  d.Put(7, std::string("k\0" "2", 3), "v2");
  d.Put(8, "k1", "v1 again");
  for (Replica* r : {&a, &b, &c, &d}) r->hashes().Start(kShard, 10, "", "");
  const auto ha = a.WaitDone(10), hb = b.WaitDone(10), hc = c.WaitDone(10), hd = d.WaitDone(10);
  CHECK(hd.keys == 2);
  CHECK(hd.hash != ha.hash);
  REQUIRE(ha.state == ReplicaHashes::State::kDone);
  CHECK(ha.hash == hb.hash);
  CHECK(ha.keys == 2);
  CHECK(hc.hash != ha.hash);
  CHECK(hc.keys == 3);
  // The same as hashing the range directly.
  storage::ReadSnapshot snapshot(a.engine());
  auto direct = storage::HashRange(a.engine(), snapshot, "", "");
  REQUIRE(direct.has_value());
  CHECK(direct->hash == ha.hash);
}

TEST_CASE("ReplicaHashes: the state at Start, bounded results, Forget", "[server]") {
  Replica a;
  a.Put(6, "k", "v");
  a.hashes().Start(kShard, 7, "", "");
  a.Put(8, "later", "not hashed at 7");
  a.hashes().Start(kShard, 9, "", "");
  const auto at7 = a.WaitDone(7), at9 = a.WaitDone(9);
  CHECK(at7.keys == 1);
  CHECK(at9.keys == 2);
  CHECK(at7.hash != at9.hash);
  CHECK_FALSE(a.hashes().Find(kShard, 8).has_value());   // no check there
  CHECK_FALSE(a.hashes().Find(kShard + 1, 7).has_value());  // another shard
  // The last kKeptPerShard results stay; older ones are evicted.
  for (uint64_t i = 0; i < ReplicaHashes::kKeptPerShard; ++i) a.hashes().Start(kShard, 100 + i, "", "");
  CHECK_FALSE(a.hashes().Find(kShard, 7).has_value());
  CHECK(a.WaitDone(100 + ReplicaHashes::kKeptPerShard - 1).hash == at9.hash);
  a.hashes().Forget(kShard);
  CHECK_FALSE(a.hashes().Find(kShard, 100).has_value());
}

TEST_CASE("ReplicaHashes: a bad range fails the check with the reason", "[server]") {
  Replica a;
  a.hashes().Start(kShard, 7, "b", "a");
  const auto r = a.WaitDone(7);
  CHECK(r.state == ReplicaHashes::State::kFailed);
  CHECK_FALSE(r.error.empty());
}

}  // namespace
}  // namespace claw::server
