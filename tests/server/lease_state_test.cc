// Lease state: the meta shard's lease records (grant with allocated or chosen ids, never reusing
// an allocated id, revoke -> REVOKING -> dropped, checkpoints of remaining TTLs; the same commands
// give the same state on two replicas, after a reload and through a snapshot), and a data shard's
// attachments (values carry the lease, the index follows overwrites and deletes, a revoke deletes
// exactly the attached keys within the shard's range in one apply, remembers the id so that a
// later put naming it is refused, and a snapshot's state carries that; the index is rebuilt from
// the values).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "server/kv_state_machine.h"
#include "server/meta_state.h"
#include "storage/engine.h"
#include "storage/key_codec.h"
#include "tests/server/test_engine.h"
#include "tests/storage/temp_dir.h"

namespace claw::server {
namespace {

using test::OpenEngine;

void Apply(storage::Engine& engine, MetaStateMachine& m, const v1::MetaCommand& cmd) {
  storage::WriteBatch batch;
  m.Apply(cmd, batch);
  REQUIRE(engine.Write(batch, storage::Durability::kNoSync).has_value());
}

v1::MetaCommand Grant(uint64_t id, uint64_t ttl, uint64_t nonce) {
  v1::MetaCommand c;
  c.mutable_grant_lease()->set_id(id);
  c.mutable_grant_lease()->set_ttl_ms(ttl);
  c.mutable_grant_lease()->set_nonce(nonce);
  return c;
}
v1::MetaCommand Revoke(uint64_t id) {
  v1::MetaCommand c;
  c.mutable_revoke_lease()->set_id(id);
  return c;
}
v1::MetaCommand Revoked(uint64_t id) {
  v1::MetaCommand c;
  c.mutable_lease_revoked()->set_id(id);
  return c;
}
v1::MetaCommand Checkpoint(std::vector<std::pair<uint64_t, uint64_t>> entries) {
  v1::MetaCommand c;
  for (auto [id, ms] : entries) {
    auto* e = c.mutable_checkpoint_leases()->add_entries();
    e->set_id(id);
    e->set_remaining_ms(ms);
  }
  return c;
}

std::string StateOf(const MetaStateMachine& m) {
  v1::MetaState s;
  m.Fill(&s);
  return s.SerializeAsString();
}

TEST_CASE("lease state: ids are allocated once, chosen ids must be free, revoke then drop", "[server][lease]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  MetaStateMachine m(engine.get());
  REQUIRE(m.Load().has_value());
  Apply(*engine, m, Grant(0, 5000, 11));
  Apply(*engine, m, Grant(0, 6000, 12));
  CHECK(m.GrantedId(11) == 1u);
  CHECK(m.GrantedId(12) == 2u);
  CHECK(!m.GrantedId(99).has_value());
  // A chosen id above the counter moves it; a taken id is refused (recorded as 0).
  Apply(*engine, m, Grant(10, 7000, 13));
  CHECK(m.GrantedId(13) == 10u);
  Apply(*engine, m, Grant(10, 7000, 14));
  CHECK(m.GrantedId(14) == 0u);
  CHECK(m.Lease(10)->ttl_ms() == 7000);
  Apply(*engine, m, Grant(0, 1000, 15));
  CHECK(m.GrantedId(15) == 11u);
  // A zero TTL never makes a lease.
  Apply(*engine, m, Grant(0, 0, 16));
  CHECK(m.GrantedId(16) == 0u);

  Apply(*engine, m, Revoke(2));
  CHECK(m.Lease(2)->state() == v1::LeaseRecord::REVOKING);
  CHECK(m.Lease(2)->remaining_ms() == 0);
  // Checkpoints touch ACTIVE leases only and never raise a remaining TTL above the TTL.
  Apply(*engine, m, Checkpoint({{1, 4200}, {2, 3000}, {10, 99'999}}));
  CHECK(m.Lease(1)->remaining_ms() == 4200);
  CHECK(m.Lease(2)->remaining_ms() == 0);
  CHECK(m.Lease(10)->remaining_ms() == 7000);
  Apply(*engine, m, Revoked(2));
  CHECK(!m.Lease(2).has_value());
  // The id of a dropped lease is never allocated again.
  Apply(*engine, m, Grant(0, 1000, 17));
  CHECK(m.GrantedId(17) == 12u);
  CHECK(m.next_lease_id() == 13);

  MetaStateMachine reloaded(engine.get());
  REQUIRE(reloaded.Load().has_value());
  CHECK(StateOf(reloaded) == StateOf(m));
  CHECK(reloaded.Leases().size() == 4);
  CHECK(reloaded.next_lease_id() == 13);
}

TEST_CASE("lease state: replicas applying the same commands agree; snapshots carry the leases", "[server][lease]") {
  storage::test::TempDir a_dir, b_dir;
  auto a_engine = OpenEngine(a_dir.path() + "/db");
  auto b_engine = OpenEngine(b_dir.path() + "/db");
  MetaStateMachine a(a_engine.get()), b(b_engine.get());
  REQUIRE(a.Load().has_value());
  REQUIRE(b.Load().has_value());
  const std::vector<v1::MetaCommand> log = {Grant(0, 3000, 1), Grant(7, 4000, 2), Checkpoint({{1, 2500}}),
                                            Grant(0, 5000, 3), Revoke(7), Checkpoint({{1, 2000}, {8, 100}}),
                                            Revoked(7)};
  for (const auto& c : log) {
    Apply(*a_engine, a, c);
    Apply(*b_engine, b, c);
    CHECK(StateOf(a) == StateOf(b));
  }
  storage::test::TempDir c_dir;
  auto c_engine = OpenEngine(c_dir.path() + "/db");
  MetaStateMachine c(c_engine.get());
  REQUIRE(c.Load().has_value());
  Apply(*c_engine, c, Grant(0, 1000, 9));  // replaced by the snapshot
  v1::MetaState snap;
  a.Fill(&snap);
  storage::WriteBatch batch;
  c.Install(snap, batch);
  REQUIRE(c_engine->Write(batch, storage::Durability::kNoSync).has_value());
  CHECK(StateOf(c) == StateOf(a));
  MetaStateMachine c_reloaded(c_engine.get());
  REQUIRE(c_reloaded.Load().has_value());
  CHECK(StateOf(c_reloaded) == StateOf(a));
  CHECK(c_reloaded.Lease(1)->remaining_ms() == 2000);
  CHECK(!c_reloaded.Lease(7).has_value());
  CHECK(c_reloaded.next_lease_id() == 9);
}

// --- data shard side

constexpr uint64_t Ms(uint64_t ms) { return ms << storage::Timestamp::kLogicalBits; }

v1::RaftCommand Put(uint64_t ts, const std::string& key, uint64_t lease) {
  v1::RaftCommand cmd;
  cmd.set_ts(ts);
  v1::PutRequest* p = cmd.mutable_batch()->add_ops()->mutable_put();
  p->set_key(key);
  p->set_value("v-" + key);
  p->set_lease(lease);
  return cmd;
}
v1::RaftCommand Del(uint64_t ts, const std::string& key) {
  v1::RaftCommand cmd;
  cmd.set_ts(ts);
  cmd.mutable_batch()->add_ops()->mutable_delete_()->set_key(key);
  return cmd;
}
v1::RaftCommand RevokeKeys(uint64_t ts, std::vector<uint64_t> ids) {
  v1::RaftCommand cmd;
  cmd.set_ts(ts);
  for (uint64_t id : ids) cmd.mutable_lease_keys()->add_ids(id);
  return cmd;
}

struct Shard {
  explicit Shard(storage::Engine* e) : engine(e), fsm(e, 5) { REQUIRE(fsm.Load().has_value()); }
  v1::TxnResponse Apply(const v1::RaftCommand& cmd) {
    storage::WriteBatch batch;
    v1::TxnResponse r = fsm.Apply(++index, 1, cmd, batch);
    fsm.FinishBatch(batch);
    REQUIRE(engine->Write(batch, storage::Durability::kNoSync).has_value());
    fsm.OnBatchWritten();
    return r;
  }
  std::vector<uint64_t> Revoke(const v1::RaftCommand& cmd, const std::string& start, const std::string& end) {
    storage::WriteBatch batch;
    auto n = fsm.ApplyLeaseRevoke(++index, 1, cmd, start, end, batch);
    fsm.FinishBatch(batch);
    REQUIRE(engine->Write(batch, storage::Durability::kNoSync).has_value());
    fsm.OnBatchWritten();
    return n;
  }
  bool Has(const std::string& key) { return fsm.ReadKey(key)->has_value(); }
  std::vector<std::string> Index(uint64_t lease) { return *fsm.LeaseKeys(lease, "", ""); }
  storage::Engine* engine;
  KvStateMachine fsm;
  uint64_t index = 10;
};

TEST_CASE("lease keys: the value carries the lease and the index follows overwrites and deletes", "[server][lease]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  Shard s(engine.get());
  s.Apply(Put(Ms(1), "a", 7));
  s.Apply(Put(Ms(2), "b", 7));
  s.Apply(Put(Ms(3), "c", 8));
  s.Apply(Put(Ms(4), "d", 0));
  CHECK(s.fsm.ReadKey("a")->value().lease == 7);
  CHECK(s.fsm.ReadKey("d")->value().lease == 0);
  CHECK(s.fsm.ReadKey("a")->value().value == "v-a");
  CHECK(s.Index(7) == std::vector<std::string>{"a", "b"});
  s.Apply(Put(Ms(5), "b", 8));  // moves to lease 8
  s.Apply(Put(Ms(6), "c", 0));  // drops its lease
  s.Apply(Del(Ms(7), "a"));
  CHECK(s.Index(7).empty());
  CHECK(s.Index(8) == std::vector<std::string>{"b"});
  CHECK(s.fsm.ReadKey("b")->value().version == 2);
}

TEST_CASE("lease keys: a revoke deletes the attached keys in its range and refuses later puts", "[server][lease]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  Shard s(engine.get());
  for (std::string k : {"a", "f", "m", "t"}) s.Apply(Put(Ms(1), k, 7));
  s.Apply(Put(Ms(2), "g", 9));
  s.Apply(Put(Ms(2), "h", 0));
  // This shard owns [a, p): "t" belongs to another shard and stays.
  CHECK(s.Revoke(RevokeKeys(Ms(3), {7, 9, 42}), "a", "p") == std::vector<uint64_t>{3, 1, 0});
  CHECK(!s.Has("a"));
  CHECK(!s.Has("f"));
  CHECK(!s.Has("m"));
  CHECK(!s.Has("g"));
  CHECK(s.Has("h"));
  CHECK(s.Has("t"));
  CHECK(s.Index(7) == std::vector<std::string>{"t"});
  // A put naming a revoked lease is refused; others pass.
  CHECK(s.fsm.RevokedLeaseOf(Put(Ms(4), "x", 7)) == 7u);
  CHECK(s.fsm.RevokedLeaseOf(Put(Ms(4), "x", 42)) == 42u);
  CHECK(!s.fsm.RevokedLeaseOf(Put(Ms(4), "x", 8)).has_value());
  CHECK(!s.fsm.RevokedLeaseOf(Put(Ms(4), "x", 0)).has_value());
  // The revoked ids travel in the snapshot state (and so with splits).
  v1::ShardSnapshotState state;
  s.fsm.FillSnapshotState(&state);
  CHECK(state.revoked_leases_size() == 3);
  KvStateMachine other(engine.get(), 6);
  REQUIRE(other.Load().has_value());
  storage::WriteBatch batch;
  other.InstallSnapshotState(1, 1, state, batch);
  REQUIRE(engine->Write(batch, storage::Durability::kNoSync).has_value());
  KvStateMachine reloaded(engine.get(), 6);
  REQUIRE(reloaded.Load().has_value());
  CHECK(reloaded.RevokedLeaseOf(Put(Ms(4), "x", 9)) == 9u);
  // After the window (the dedup window) the ids are forgotten.
  s.fsm.set_dedup_window_ms(1000);
  s.Apply(Put(Ms(10'000), "y", 0));
  CHECK(!s.fsm.RevokedLeaseOf(Put(Ms(10'001), "x", 7)).has_value());
}

TEST_CASE("lease keys: a put and the revoke in one apply round leave no key; the index rebuilds", "[server][lease]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  Shard s(engine.get());
  {
    // One round: the put's index record is only in the batch when the revoke runs.
    storage::WriteBatch batch;
    s.fsm.Apply(++s.index, 1, Put(Ms(1), "k", 5), batch);
    CHECK(s.fsm.ApplyLeaseRevoke(++s.index, 1, RevokeKeys(Ms(2), {5}), "", "", batch) == std::vector<uint64_t>{1});
    s.fsm.FinishBatch(batch);
    REQUIRE(engine->Write(batch, storage::Durability::kNoSync).has_value());
    s.fsm.OnBatchWritten();
  }
  CHECK(!s.Has("k"));
  CHECK(s.Index(5).empty());
  s.Apply(Put(Ms(3), "p", 6));
  s.Apply(Put(Ms(3), "q", 6));
  // Drop the index (as a replica that ingested a snapshot has none) and rebuild it.
  storage::WriteBatch drop;
  for (std::string k : {"p", "q"}) REQUIRE(engine->DeleteMeta(drop, storage::LeaseIndexKey(6, k)).has_value());
  REQUIRE(engine->Write(drop, storage::Durability::kNoSync).has_value());
  CHECK(s.Index(6).empty());
  storage::WriteBatch rebuild;
  s.fsm.RebuildLeaseIndex("", "", rebuild);
  REQUIRE(engine->Write(rebuild, storage::Durability::kNoSync).has_value());
  CHECK(s.Index(6) == std::vector<std::string>{"p", "q"});
}

TEST_CASE("lease keys: values written before leases existed decode unchanged", "[server][lease]") {
  StoredValue v{.version = 3, .create_ts = 1, .mod_ts = 2, .value = "x", .lease = 0};
  const std::string plain = EncodeStoredValue(v);
  CHECK(plain.size() == 25);
  v.lease = 77;
  const std::string leased = EncodeStoredValue(v);
  CHECK(leased.size() == 33);
  auto back = DecodeStoredValue(leased);
  REQUIRE(back.has_value());
  CHECK(back->version == 3);
  CHECK(back->lease == 77);
  CHECK(back->value == "x");
  CHECK(DecodeStoredValue(plain)->lease == 0);
}

}  // namespace
}  // namespace claw::server
