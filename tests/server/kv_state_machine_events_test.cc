// KvStateMachine change events for watches: recorded only while collection is on, one per
// written key in apply order with the command's timestamp, the new value and the previous one
// (including writes earlier in the same round, from the overlay), none for a delete of a missing
// key or a duplicate request, one DELETE per key of a DeleteRange in key order with its value.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "server/kv_state_machine.h"
#include "storage/engine.h"
#include "tests/storage/temp_dir.h"

namespace claw::server {
namespace {

constexpr uint64_t Ms(uint64_t ms) { return ms << storage::Timestamp::kLogicalBits; }

v1::RaftCommand Cmd(uint64_t ts, std::vector<v1::Op> ops, const std::string& id = "") {
  v1::RaftCommand cmd;
  cmd.set_ts(ts);
  cmd.set_request_id(id);
  for (v1::Op& op : ops) *cmd.mutable_batch()->add_ops() = std::move(op);
  return cmd;
}
v1::Op Put(const std::string& key, const std::string& value) {
  v1::Op op;
  op.mutable_put()->set_key(key);
  op.mutable_put()->set_value(value);
  return op;
}
v1::Op Del(const std::string& key) {
  v1::Op op;
  op.mutable_delete_()->set_key(key);
  return op;
}
v1::Op DelRange(const std::string& start, const std::string& end) {
  v1::Op op;
  op.mutable_delete_range()->set_start_key(start);
  op.mutable_delete_range()->set_end_key(end);
  return op;
}

class Shard {
 public:
  Shard() {
    storage::StorageOptions o;
    o.dir = dir_.path() + "/db";
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 1 << 20;
    auto opened = storage::Engine::Open(o);
    REQUIRE(opened.has_value());
    engine_ = std::move(*opened);
    sm_ = std::make_unique<KvStateMachine>(engine_.get(), 7);
    REQUIRE(sm_->Load().has_value());
  }
  KvStateMachine& sm() { return *sm_; }
  // One round: all commands in one batch, then written.
  void Round(const std::vector<v1::RaftCommand>& cmds) {
    storage::WriteBatch batch;
    for (const v1::RaftCommand& c : cmds) (void)sm_->Apply(++index_, 1, c, batch);
    sm_->FinishBatch(batch);
    REQUIRE(engine_->Write(batch, storage::Durability::kNoSync).has_value());
    sm_->OnBatchWritten();
  }

 private:
  storage::test::TempDir dir_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<KvStateMachine> sm_;
  uint64_t index_ = 0;
};

std::string Describe(const ChangeEvent& e) {
  std::string out = (e.value ? "PUT " : "DEL ") + e.key;
  if (e.value) out += "=" + e.value->value + "@v" + std::to_string(e.value->version);
  out += e.prev ? " prev=" + e.prev->value : " prev=none";
  return out;
}

std::vector<std::string> Take(KvStateMachine& sm) {
  std::vector<std::string> out;
  for (const ChangeEvent& e : sm.TakeEvents()) out.push_back(Describe(e));
  return out;
}

TEST_CASE("state machine events: recorded only while collecting", "[server][watch]") {
  Shard s;
  s.Round({Cmd(Ms(10), {Put("a", "1")})});
  CHECK(s.sm().TakeEvents().empty());
  s.sm().set_collect_events(true);
  s.Round({Cmd(Ms(20), {Put("a", "2")})});
  auto events = s.sm().TakeEvents();
  REQUIRE(events.size() == 1);
  CHECK(events[0].ts == Ms(20));
  CHECK(events[0].value->mod_ts == Ms(20));
  CHECK(events[0].value->create_ts == Ms(10));
  CHECK(events[0].prev->value == "1");
  s.sm().set_collect_events(false);
  s.Round({Cmd(Ms(30), {Put("a", "3")})});
  CHECK(s.sm().TakeEvents().empty());
}

TEST_CASE("state machine events: puts, deletes and prev values within one round", "[server][watch]") {
  Shard s;
  s.Round({Cmd(Ms(10), {Put("a", "1")})});
  s.sm().set_collect_events(true);
  s.Round({Cmd(Ms(20), {Put("a", "2"), Put("b", "1")}), Cmd(Ms(21), {Del("a"), Del("zz")}),
           Cmd(Ms(22), {Put("a", "3")})});
  CHECK(Take(s.sm()) == std::vector<std::string>{"PUT a=2@v2 prev=1", "PUT b=1@v1 prev=none",
                                                 "DEL a prev=2", "PUT a=3@v1 prev=none"});
}

TEST_CASE("state machine events: a DeleteRange gives one DELETE per live key, in key order", "[server][watch]") {
  Shard s;
  s.Round({Cmd(Ms(10), {Put("k1", "a"), Put("k3", "c"), Put("k5", "e"), Put("x", "out")})});
  s.Round({Cmd(Ms(11), {Del("k3")})});
  s.sm().set_collect_events(true);
  // k2 is written earlier in the same round (overlay); k3 is already deleted; k5 rewritten.
  s.Round({Cmd(Ms(20), {Put("k2", "b"), Put("k5", "E")}), Cmd(Ms(21), {DelRange("k", "l")})});
  auto events = s.sm().TakeEvents();
  std::vector<std::string> got;
  for (const ChangeEvent& e : events) got.push_back(Describe(e));
  CHECK(got == std::vector<std::string>{"PUT k2=b@v1 prev=none", "PUT k5=E@v2 prev=e", "DEL k1 prev=a",
                                        "DEL k2 prev=b", "DEL k5 prev=E"});
  for (size_t i = 2; i < events.size(); ++i) CHECK(events[i].ts == Ms(21));
}

TEST_CASE("state machine events: a duplicate request records nothing", "[server][watch]") {
  Shard s;
  s.sm().set_collect_events(true);
  s.Round({Cmd(Ms(10), {Put("a", "1")}, "req-1")});
  CHECK(s.sm().TakeEvents().size() == 1);
  s.Round({Cmd(Ms(20), {Put("a", "1")}, "req-1")});
  CHECK(s.sm().TakeEvents().empty());
}

}  // namespace
}  // namespace claw::server
