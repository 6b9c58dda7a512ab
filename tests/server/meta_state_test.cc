// server/meta_state: the meta shard's node table and directory over a real engine — node
// registration keeps the state, state changes stick (removed stays removed), the directory takes
// only newer epochs, everything reloads after a reopen, a snapshot copy replaces the state
// (stale keys gone), and DestroyReplica of the meta group removes it all.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "server/meta_state.h"
#include "storage/engine.h"
#include "storage/snapshot.h"
#include "tests/server/test_engine.h"
#include "tests/storage/temp_dir.h"

namespace claw::server {
namespace {

using test::OpenEngine;

v1::NodeRecord Node(uint64_t id, const std::string& zone) {
  v1::NodeRecord n;
  n.set_node_id(id);
  n.set_name("n" + std::to_string(id));
  n.set_zone(zone);
  n.set_client_address("127.0.0.1:" + std::to_string(7000 + id));
  return n;
}

v1::ShardDescriptor Shard(uint64_t id, uint64_t conf, uint64_t range, const std::string& end) {
  v1::ShardDescriptor d;
  d.set_id(id);
  d.set_end_key(end);
  d.mutable_epoch()->set_conf_version(conf);
  d.mutable_epoch()->set_range_version(range);
  return d;
}

void Apply(storage::Engine& engine, MetaStateMachine& m, const v1::MetaCommand& cmd) {
  storage::WriteBatch batch;
  m.Apply(cmd, batch);
  REQUIRE(engine.Write(batch, storage::Durability::kNoSync).has_value());
}

v1::MetaCommand Upsert(const v1::NodeRecord& n) {
  v1::MetaCommand c;
  *c.mutable_upsert_node() = n;
  return c;
}
v1::MetaCommand SetState(uint64_t id, v1::NodeRecord::State s) {
  v1::MetaCommand c;
  c.mutable_set_node_state()->set_node_id(id);
  c.mutable_set_node_state()->set_state(s);
  return c;
}
v1::MetaCommand Report(std::initializer_list<v1::ShardDescriptor> shards) {
  v1::MetaCommand c;
  for (const auto& d : shards) *c.mutable_report_shards()->add_shards() = d;
  return c;
}

}  // namespace

TEST_CASE("meta state: nodes, states and the directory apply, persist and reload", "[server]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  MetaStateMachine m(engine.get());
  REQUIRE(m.Load().has_value());
  CHECK(m.Nodes().empty());
  {
    storage::WriteBatch batch;
    m.Bootstrap({Node(1, ""), Node(2, "")}, {Shard(1, 1, 1, ""), Shard(2, 1, 1, "m")}, batch);
    REQUIRE(engine->Write(batch, storage::Durability::kSync).has_value());
  }
  const uint64_t v0 = m.version();

  // A heartbeat's record updates addresses and locality but never the state.
  v1::NodeRecord n1 = Node(1, "z1");
  n1.set_state(v1::NodeRecord::REMOVED);
  Apply(*engine, m, Upsert(n1));
  CHECK(m.Node(1)->zone() == "z1");
  CHECK(m.Node(1)->state() == v1::NodeRecord::UP);
  CHECK(m.version() > v0);
  // An unchanged record changes nothing (no version bump).
  const uint64_t v1 = m.version();
  Apply(*engine, m, Upsert(Node(1, "z1")));
  CHECK(m.version() == v1);
  // New nodes register.
  Apply(*engine, m, Upsert(Node(3, "z3")));
  CHECK(m.Nodes().size() == 3);
  // Drain, then remove; a removed node stays removed.
  Apply(*engine, m, SetState(2, v1::NodeRecord::DRAINING));
  CHECK(m.Node(2)->state() == v1::NodeRecord::DRAINING);
  Apply(*engine, m, SetState(2, v1::NodeRecord::REMOVED));
  Apply(*engine, m, SetState(2, v1::NodeRecord::UP));
  CHECK(m.Node(2)->state() == v1::NodeRecord::REMOVED);
  Apply(*engine, m, SetState(9, v1::NodeRecord::DRAINING));  // unknown: ignored
  CHECK_FALSE(m.Node(9).has_value());

  // The directory takes newer epochs only.
  Apply(*engine, m, Report({Shard(2, 2, 1, "m"), Shard(7, 1, 2, "")}));
  Apply(*engine, m, Report({Shard(2, 1, 1, "x")}));  // older: ignored
  Apply(*engine, m, Report({Shard(2, 2, 2, "f")}));  // split: newer range_version
  Apply(*engine, m, Report({Shard(2, 3, 1, "z")}));  // newer conf but older range: ignored
  auto shards = m.Shards();
  REQUIRE(shards.size() == 3);
  CHECK(shards[1].id() == 2);
  CHECK(shards[1].end_key() == "f");
  CHECK(shards[2].id() == 7);

  // Reopen: the same state.
  engine.reset();
  engine = OpenEngine(dir.path() + "/db");
  MetaStateMachine again(engine.get());
  REQUIRE(again.Load().has_value());
  CHECK(again.Nodes().size() == 3);
  CHECK(again.Node(1)->zone() == "z1");
  CHECK(again.Node(2)->state() == v1::NodeRecord::REMOVED);
  CHECK(again.Shards().size() == 3);
  CHECK(again.Shards()[1].end_key() == "f");

  // A snapshot replaces everything; keys of the old state are gone after a reload.
  v1::MetaState snap;
  *snap.add_nodes() = Node(5, "z5");
  *snap.add_shards() = Shard(1, 4, 1, "");
  {
    storage::WriteBatch batch;
    again.Install(snap, batch);
    REQUIRE(engine->Write(batch, storage::Durability::kSync).has_value());
  }
  MetaStateMachine reloaded(engine.get());
  REQUIRE(reloaded.Load().has_value());
  REQUIRE(reloaded.Nodes().size() == 1);
  CHECK(reloaded.Nodes()[0].node_id() == 5);
  REQUIRE(reloaded.Shards().size() == 1);
  v1::MetaState filled;
  reloaded.Fill(&filled);
  CHECK(filled.SerializeAsString() == snap.SerializeAsString());

  // Destroying the meta replica removes its state with it.
  REQUIRE(storage::DestroyReplica(*engine, 1, std::nullopt, 1).has_value());
  MetaStateMachine gone(engine.get());
  REQUIRE(gone.Load().has_value());
  CHECK(gone.Nodes().empty());
  CHECK(gone.Shards().empty());
}

TEST_CASE("meta state: Newer wants both epoch counters at least as new and one newer", "[server]") {
  CHECK(MetaStateMachine::Newer(Shard(2, 2, 1, ""), Shard(2, 1, 1, "")));
  CHECK(MetaStateMachine::Newer(Shard(2, 1, 2, ""), Shard(2, 1, 1, "")));
  CHECK_FALSE(MetaStateMachine::Newer(Shard(2, 1, 1, ""), Shard(2, 1, 1, "")));
  CHECK_FALSE(MetaStateMachine::Newer(Shard(2, 3, 1, ""), Shard(2, 1, 2, "")));
  CHECK_FALSE(MetaStateMachine::Newer(Shard(2, 1, 1, ""), Shard(2, 2, 1, "")));
}

}  // namespace claw::server

namespace claw::server {

TEST_CASE("meta state: joining nodes get the next unused id, once per live name", "[server]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  MetaStateMachine m(engine.get());
  REQUIRE(m.Load().has_value());
  Apply(*engine, m, Upsert(Node(1, "")));
  Apply(*engine, m, Upsert(Node(2, "")));
  auto join = [&](const std::string& name, const std::string& peer) {
    v1::MetaCommand c;
    c.mutable_register_node()->set_name(name);
    c.mutable_register_node()->set_peer_address(peer);
    Apply(*engine, m, c);
    return m.LiveNodeNamed(name);
  };
  auto n4 = join("n4", "10.0.0.4:7380");
  REQUIRE(n4.has_value());
  CHECK(n4->node_id() == 3);
  CHECK(n4->state() == v1::NodeRecord::UP);
  // Asked again (the answer was lost): the same record.
  CHECK(join("n4", "10.0.0.4:7380")->node_id() == 3);
  CHECK(m.Nodes().size() == 3);
  // A removed node's id is never given again; its name may be.
  Apply(*engine, m, SetState(3, v1::NodeRecord::REMOVED));
  CHECK_FALSE(m.LiveNodeNamed("n4").has_value());
  CHECK(join("n4", "10.0.0.5:7380")->node_id() == 4);
  CHECK(m.Node(3)->state() == v1::NodeRecord::REMOVED);
  // Malformed requests record nothing.
  CHECK_FALSE(join("", "10.0.0.6:7380").has_value());
  CHECK_FALSE(join("n6", "").has_value());
  CHECK(m.Nodes().size() == 4);
}

TEST_CASE("meta state: placement rules are set by compare-and-set, persist and travel in snapshots", "[server]") {
  storage::test::TempDir dir;
  auto engine = OpenEngine(dir.path() + "/db");
  MetaStateMachine m(engine.get());
  REQUIRE(m.Load().has_value());
  CHECK(m.Rules().version() == 0);
  auto set = [&](uint64_t version, const std::string& name) {
    v1::MetaCommand c;
    c.mutable_set_rules()->set_version(version);
    v1::PlacementRule* r = c.mutable_set_rules()->add_rules();
    r->set_name(name);
    r->set_start_key("m");
    r->set_replication_factor(5);
    Apply(*engine, m, c);
  };
  set(0, "first");
  CHECK(m.Rules().version() == 1);
  set(0, "stale");  // made against version 0: refused
  CHECK(m.Rules().version() == 1);
  CHECK(m.Rules().rules(0).name() == "first");
  set(1, "second");
  CHECK(m.Rules().version() == 2);
  {
    MetaStateMachine reloaded(engine.get());
    REQUIRE(reloaded.Load().has_value());
    CHECK(reloaded.Rules().version() == 2);
    CHECK(reloaded.Rules().rules(0).name() == "second");
  }
  v1::MetaState snapshot;
  m.Fill(&snapshot);
  CHECK(snapshot.rules().version() == 2);
  storage::test::TempDir other_dir;
  auto other_engine = OpenEngine(other_dir.path() + "/db");
  MetaStateMachine other(other_engine.get());
  REQUIRE(other.Load().has_value());
  storage::WriteBatch batch;
  other.Install(snapshot, batch);
  REQUIRE(other_engine->Write(batch, storage::Durability::kNoSync).has_value());
  CHECK(other.Rules().rules(0).name() == "second");
  MetaStateMachine other_reloaded(other_engine.get());
  REQUIRE(other_reloaded.Load().has_value());
  CHECK(other_reloaded.Rules().version() == 2);
}

}  // namespace claw::server
