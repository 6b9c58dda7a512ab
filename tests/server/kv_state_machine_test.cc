// server/kv_state_machine over a real storage::Engine in a temp directory: batches and txns (every
// compare target and op, both branches), version / create_ts / mod_ts, the apply-time timestamp
// rule, the in-round overlay, DeleteRange counts over committed and same-round keys, the dedup
// window (first result returned, expiry by command timestamps, persistence across Load), snapshot
// state, apply state persistence and atomicity, and determinism across round groupings and
// restarts. Seeds are fixed: failures reproduce.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <rocksdb/iterator.h>

#include "raft/rand.h"
#include "server/kv_state_machine.h"
#include "storage/engine.h"
#include "storage/key_codec.h"
#include "tests/storage/temp_dir.h"

namespace claw::server {
namespace {

// HLC timestamp of a physical millisecond (logical part 0).
constexpr uint64_t Ms(uint64_t ms) { return ms << storage::Timestamp::kLogicalBits; }

enum class PrevKv : uint8_t { kNo, kYes };

v1::Op PutOp(const std::string& key, const std::string& value, PrevKv prev = PrevKv::kNo) {
  v1::Op op;
  op.mutable_put()->set_key(key);
  op.mutable_put()->set_value(value);
  op.mutable_put()->set_prev_kv(prev == PrevKv::kYes);
  return op;
}
v1::Op DelOp(const std::string& key, PrevKv prev = PrevKv::kNo) {
  v1::Op op;
  op.mutable_delete_()->set_key(key);
  op.mutable_delete_()->set_prev_kv(prev == PrevKv::kYes);
  return op;
}
v1::Op RangeOp(const std::string& start, const std::string& end) {
  v1::Op op;
  op.mutable_delete_range()->set_start_key(start);
  op.mutable_delete_range()->set_end_key(end);
  return op;
}
v1::Op GetOp(const std::string& key) {
  v1::Op op;
  op.mutable_get()->set_key(key);
  return op;
}

v1::RaftCommand Batch(uint64_t ts, const std::vector<v1::Op>& ops, const std::string& id = "") {
  v1::RaftCommand cmd;
  cmd.set_ts(ts);
  cmd.set_request_id(id);
  for (const v1::Op& op : ops) *cmd.mutable_batch()->add_ops() = op;
  return cmd;
}

v1::RaftCommand Txn(uint64_t ts, const std::vector<v1::Compare>& compares,
                    const std::vector<v1::Op>& success, const std::vector<v1::Op>& failure,
                    const std::string& id = "") {
  v1::RaftCommand cmd;
  cmd.set_ts(ts);
  cmd.set_request_id(id);
  v1::TxnRequest* t = cmd.mutable_txn();
  for (const v1::Compare& c : compares) *t->add_compare() = c;
  for (const v1::Op& op : success) *t->add_success() = op;
  for (const v1::Op& op : failure) *t->add_failure() = op;
  return cmd;
}

v1::Compare CmpBase(const std::string& key, v1::Compare::Target target, v1::Compare::Op op) {
  v1::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_op(op);
  return c;
}
v1::Compare CmpValue(const std::string& key, v1::Compare::Op op, const std::string& value) {
  v1::Compare c = CmpBase(key, v1::Compare::VALUE, op);
  c.set_value(value);
  return c;
}
v1::Compare CmpVersion(const std::string& key, v1::Compare::Op op, uint64_t version) {
  v1::Compare c = CmpBase(key, v1::Compare::VERSION, op);
  c.set_version(version);
  return c;
}
v1::Compare CmpModTs(const std::string& key, v1::Compare::Op op, uint64_t mod_ts) {
  v1::Compare c = CmpBase(key, v1::Compare::MOD_TS, op);
  c.set_mod_ts(mod_ts);
  return c;
}
v1::Compare CmpExists(const std::string& key, v1::Compare::Op op, bool exists) {
  v1::Compare c = CmpBase(key, v1::Compare::EXISTS, op);
  c.set_exists(exists);
  return c;
}

std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  REQUIRE(m.SerializeToString(&out));
  return out;
}

using Dump = std::vector<std::pair<std::string, std::string>>;

// One shard's state machine over its own engine; restartable (engine and state machine reopened
// from the directory).
class TestShard {
 public:
  // `header_budget`: the key header cache's budget (null: no cache).
  explicit TestShard(uint64_t group = 7, uint64_t window_ms = 600'000,
                     KeyHeaderCacheBudget* header_budget = nullptr)
      : group_(group), window_ms_(window_ms), header_budget_(header_budget) {
    Open();
  }

  void Restart() {
    sm_.reset();
    engine_.reset();
    Open();
  }

  KvStateMachine& sm() { return *sm_; }
  storage::Engine& engine() { return *engine_; }
  void set_term(uint64_t term) { term_ = term; }
  uint64_t next_index() const { return index_ + 1; }
  // After a snapshot install moved the applied index.
  void set_index(uint64_t index) { index_ = index; }

  // Applies `cmd` into `batch` at the next index, without writing.
  v1::TxnResponse ApplyInto(storage::WriteBatch& batch, const v1::RaftCommand& cmd) {
    return sm_->Apply(++index_, term_, cmd, batch);
  }
  void Commit(storage::WriteBatch& batch) {
    sm_->FinishBatch(batch);
    REQUIRE(engine_->Write(batch, storage::Durability::kNoSync).has_value());
    sm_->OnBatchWritten();
  }

  // One round: every command in one batch, then written.
  std::vector<v1::TxnResponse> Round(const std::vector<v1::RaftCommand>& cmds) {
    storage::WriteBatch batch;
    std::vector<v1::TxnResponse> out;
    for (const v1::RaftCommand& cmd : cmds) out.push_back(ApplyInto(batch, cmd));
    Commit(batch);
    return out;
  }
  v1::TxnResponse Apply(const v1::RaftCommand& cmd) { return Round({cmd}).front(); }

  std::optional<StoredValue> Read(const std::string& key) {
    auto r = sm_->ReadKey(key);
    REQUIRE(r.has_value());
    return *r;
  }

  Dump DumpCf(rocksdb::ColumnFamilyHandle* cf) {
    Dump out;
    std::unique_ptr<rocksdb::Iterator> it(engine_->db()->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.emplace_back(it->key().ToString(), it->value().ToString());
    }
    REQUIRE(it->status().ok());
    return out;
  }

 private:
  void Open() {
    storage::StorageOptions o;
    o.dir = dir_.path() + "/db";
    o.direct_io = false;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 1 << 20;
    auto opened = storage::Engine::Open(o);
    REQUIRE(opened.has_value());
    engine_ = std::move(*opened);
    sm_ = std::make_unique<KvStateMachine>(engine_.get(), group_, header_budget_);
    sm_->set_dedup_window_ms(window_ms_);
    REQUIRE(sm_->Load().has_value());
    index_ = sm_->state().applied_index;
  }

  storage::test::TempDir dir_;
  uint64_t group_;
  uint64_t window_ms_;
  KeyHeaderCacheBudget* header_budget_;
  uint64_t index_ = 0;
  uint64_t term_ = 1;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<KvStateMachine> sm_;
};

void CheckStored(const std::optional<StoredValue>& got, const std::string& value, uint64_t version,
                 uint64_t create_ts, uint64_t mod_ts) {
  REQUIRE(got.has_value());
  CHECK(got->value == value);
  CHECK(got->version == version);
  CHECK(got->create_ts == create_ts);
  CHECK(got->mod_ts == mod_ts);
}

void CheckKv(const v1::KeyValue& kv, const std::string& key, const std::string& value,
             uint64_t version, uint64_t create_ts, uint64_t mod_ts) {
  CHECK(kv.key() == key);
  CHECK(kv.value() == value);
  CHECK(kv.version() == version);
  CHECK(kv.create_ts() == create_ts);
  CHECK(kv.mod_ts() == mod_ts);
}

TEST_CASE("kv: stored value layout is version | create_ts | mod_ts | value", "[server]") {
  StoredValue v{.version = 0x0102030405060708ull,
                .create_ts = 9,
                .mod_ts = Ms(77),
                .value = std::string("v\0\xff", 3)};
  const std::string enc = EncodeStoredValue(v);
  REQUIRE(enc.size() == 27);
  CHECK(enc.substr(0, 8) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(enc.substr(8, 8) == std::string("\0\0\0\0\0\0\0\x09", 8));
  CHECK(enc.substr(24) == std::string("v\0\xff", 3));
  auto dec = DecodeStoredValue(enc);
  REQUIRE(dec.has_value());
  CHECK(dec->version == v.version);
  CHECK(dec->create_ts == 9);
  CHECK(dec->mod_ts == Ms(77));
  CHECK(dec->value == v.value);

  auto empty = DecodeStoredValue(enc.substr(0, 24));
  REQUIRE(empty.has_value());
  CHECK(empty->value.empty());
  CHECK_FALSE(DecodeStoredValue(enc.substr(0, 23)).has_value());

  v1::KeyValue kv;
  ToKeyValue("k", v, /*keys_only=*/true, &kv);
  CHECK(kv.key() == "k");
  CHECK(kv.value().empty());
  CHECK(kv.version() == v.version);
  ToKeyValue("k", v, /*keys_only=*/false, &kv);
  CHECK(kv.value() == v.value);
}

TEST_CASE("kv: put, get, delete and re-create track version, create_ts and mod_ts", "[server]") {
  TestShard s;
  const uint64_t t1 = Ms(1000), t2 = Ms(1001), t3 = Ms(1002), t4 = Ms(1003), t5 = Ms(1004),
                 t6 = Ms(1005);

  v1::TxnResponse r = s.Apply(Batch(t1, {PutOp("k", "v1", PrevKv::kYes)}));
  CHECK(r.succeeded());
  REQUIRE(r.results_size() == 1);
  CHECK(r.results(0).put().mod_ts() == t1);
  CHECK_FALSE(r.results(0).put().has_prev());
  CheckStored(s.Read("k"), "v1", 1, t1, t1);

  r = s.Apply(Batch(t2, {PutOp("k", "v2", PrevKv::kYes)}));
  REQUIRE(r.results(0).put().has_prev());
  CheckKv(r.results(0).put().prev(), "k", "v1", 1, t1, t1);
  CHECK(r.results(0).put().mod_ts() == t2);
  CheckStored(s.Read("k"), "v2", 2, t1, t2);

  r = s.Apply(Batch(t3, {GetOp("k"), GetOp("missing")}));
  REQUIRE(r.results_size() == 2);
  CHECK(r.results(0).get().found());
  CheckKv(r.results(0).get().kv(), "k", "v2", 2, t1, t2);
  CHECK_FALSE(r.results(1).get().found());
  CHECK_FALSE(r.results(1).get().has_kv());

  r = s.Apply(Batch(t4, {DelOp("k", PrevKv::kYes)}));
  CHECK(r.results(0).delete_().deleted() == 1);
  CheckKv(r.results(0).delete_().prev(), "k", "v2", 2, t1, t2);
  CHECK_FALSE(s.Read("k").has_value());

  r = s.Apply(Batch(t5, {DelOp("k", PrevKv::kYes)}));
  CHECK(r.results(0).delete_().deleted() == 0);
  CHECK_FALSE(r.results(0).delete_().has_prev());

  // Re-created: the version restarts at 1 and create_ts is the new write's.
  r = s.Apply(Batch(t6, {PutOp("k", "v3")}));
  CheckStored(s.Read("k"), "v3", 1, t6, t6);

  // Without prev_kv no previous value is returned; binary keys, values and an empty value.
  const std::string bkey("\0k\xff", 3), bval("\xff\0", 2);
  r = s.Apply(Batch(Ms(1006), {PutOp("k", "v4"), PutOp(bkey, bval), PutOp("empty", "")}));
  CHECK_FALSE(r.results(0).put().has_prev());
  CheckStored(s.Read("k"), "v4", 2, t6, Ms(1006));
  CheckStored(s.Read(bkey), bval, 1, Ms(1006), Ms(1006));
  CheckStored(s.Read("empty"), "", 1, Ms(1006), Ms(1006));
  CHECK(s.sm().state().applied_index == 7);
}

TEST_CASE("kv: the apply timestamp is max(command ts, last applied ts + 1)", "[server]") {
  TestShard s;
  struct Step {
    uint64_t cmd_ts;
    uint64_t want_ts;
  };
  const std::vector<Step> steps = {
      {Ms(1000), Ms(1000)},          // ahead of last_ts 0: taken as proposed
      {Ms(500), Ms(1000) + 1},       // behind (a new leader's slower clock): last + 1
      {0, Ms(1000) + 2},             // no timestamp
      {Ms(1000) + 2, Ms(1000) + 3},  // equal to last: still strictly increasing
      {Ms(5000), Ms(5000)},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    CAPTURE(i);
    v1::TxnResponse r = s.Apply(Batch(steps[i].cmd_ts, {PutOp("k", std::to_string(i))}));
    CHECK(r.results(0).put().mod_ts() == steps[i].want_ts);
    CHECK(s.sm().state().last_ts == steps[i].want_ts);
    CHECK(s.Read("k")->mod_ts == steps[i].want_ts);
  }
  CHECK(s.Read("k")->version == 5);
  CHECK(s.Read("k")->create_ts == Ms(1000));

  // Every op of one command shares its timestamp; a txn's too.
  v1::TxnResponse r = s.Apply(Batch(Ms(10), {PutOp("a", "1"), PutOp("b", "2")}));
  CHECK(r.results(0).put().mod_ts() == Ms(5000) + 1);
  CHECK(r.results(1).put().mod_ts() == Ms(5000) + 1);
  r = s.Apply(Txn(Ms(9000), {}, {PutOp("c", "3")}, {}));
  CHECK(r.results(0).put().mod_ts() == Ms(9000));

  // An empty entry moves the applied index and term, not the timestamp.
  s.sm().ApplyEmpty(100, 4);
  CHECK(s.sm().state().applied_index == 100);
  CHECK(s.sm().state().applied_term == 4);
  CHECK(s.sm().state().last_ts == Ms(9000));
}

TEST_CASE("kv: commands of one round read the round's earlier writes before the batch is written",
          "[server]") {
  TestShard s;
  s.Apply(Batch(Ms(100), {PutOp("c", "committed")}));

  storage::WriteBatch batch;
  v1::TxnResponse r1 = s.ApplyInto(batch, Batch(Ms(200), {PutOp("a", "1")}));
  CHECK(r1.results(0).put().mod_ts() == Ms(200));
  v1::TxnResponse r2 =
      s.ApplyInto(batch, Batch(Ms(201), {GetOp("a"), PutOp("a", "2", PrevKv::kYes)}));
  REQUIRE(r2.results(0).get().found());
  CheckKv(r2.results(0).get().kv(), "a", "1", 1, Ms(200), Ms(200));
  CheckKv(r2.results(1).put().prev(), "a", "1", 1, Ms(200), Ms(200));
  v1::TxnResponse r3 = s.ApplyInto(
      batch,
      Txn(Ms(202), {CmpValue("a", v1::Compare::EQUAL, "2"), CmpVersion("a", v1::Compare::EQUAL, 2)},
          {GetOp("a")}, {}));
  CHECK(r3.succeeded());
  CheckKv(r3.results(0).get().kv(), "a", "2", 2, Ms(200), Ms(201));
  v1::TxnResponse r4 = s.ApplyInto(batch, Batch(Ms(203), {DelOp("a", PrevKv::kYes), DelOp("c")}));
  CHECK(r4.results(0).delete_().deleted() == 1);
  CheckKv(r4.results(0).delete_().prev(), "a", "2", 2, Ms(200), Ms(201));
  CHECK(r4.results(1).delete_().deleted() == 1);
  v1::TxnResponse r5 = s.ApplyInto(batch, Batch(Ms(204), {GetOp("a"), GetOp("c")}));
  CHECK_FALSE(r5.results(0).get().found());
  CHECK_FALSE(r5.results(1).get().found());
  v1::TxnResponse r6 = s.ApplyInto(batch, Txn(Ms(205), {CmpExists("a", v1::Compare::EQUAL, false)},
                                              {PutOp("a", "3")}, {PutOp("failed", "x")}));
  CHECK(r6.succeeded());

  // Nothing of the round is in the engine yet: ReadKey serves the committed state only.
  CHECK_FALSE(s.Read("a").has_value());
  CheckStored(s.Read("c"), "committed", 1, Ms(100), Ms(100));

  s.Commit(batch);
  CheckStored(s.Read("a"), "3", 1, Ms(205), Ms(205));
  CHECK_FALSE(s.Read("c").has_value());
  CHECK_FALSE(s.Read("failed").has_value());
  CHECK(s.sm().state().applied_index == 7);
  CHECK(s.sm().state().last_ts == Ms(205));

  // After the write the overlay is gone and reads come from the engine.
  v1::TxnResponse r7 = s.Apply(Batch(Ms(300), {GetOp("a")}));
  CheckKv(r7.results(0).get().kv(), "a", "3", 1, Ms(205), Ms(205));
}

TEST_CASE("kv: DeleteRange counts committed and same-round keys exactly once", "[server]") {
  TestShard s;
  s.Apply(Batch(Ms(100), {PutOp("0", "x"), PutOp("a", "x"), PutOp("b", "x"), PutOp("c", "x"),
                          PutOp("d", "x"), PutOp("x", "x")}));

  storage::WriteBatch batch;
  // Same round: delete a committed key, overwrite one, add keys inside, at the end bound and
  // after it.
  s.ApplyInto(batch, Batch(Ms(200), {DelOp("b"), PutOp("c", "new"), PutOp("bb", "y"),
                                     PutOp("e", "y"), PutOp("d\xff", "y")}));
  // [a, e): a, bb, c, d, d\xff live; b deleted this round; e is the exclusive end.
  v1::TxnResponse r = s.ApplyInto(batch, Batch(Ms(201), {RangeOp("a", "e")}));
  CHECK(r.results(0).delete_range().deleted() == 5);
  // Again in the same round: nothing left to delete.
  r = s.ApplyInto(batch, Batch(Ms(202), {RangeOp("a", "e"), GetOp("c"), GetOp("bb"), GetOp("e")}));
  CHECK(r.results(0).delete_range().deleted() == 0);
  CHECK_FALSE(r.results(1).get().found());
  CHECK_FALSE(r.results(2).get().found());
  CHECK(r.results(3).get().found());
  // End empty = unbounded: e (this round) and x (committed).
  r = s.ApplyInto(batch, Batch(Ms(203), {RangeOp("d", ""), PutOp("d", "again")}));
  CHECK(r.results(0).delete_range().deleted() == 2);
  s.Commit(batch);

  for (const char* gone : {"a", "b", "bb", "c", "d\xff", "e", "x"}) {
    CAPTURE(gone);
    CHECK_FALSE(s.Read(gone).has_value());
  }
  CheckStored(s.Read("0"), "x", 1, Ms(100), Ms(100));
  CheckStored(s.Read("d"), "again", 1, Ms(203), Ms(203));

  // Committed-only ranges in later rounds; tombstoned keys are not counted.
  CHECK(s.Apply(Batch(Ms(300), {RangeOp("a", "d")})).results(0).delete_range().deleted() == 0);
  CHECK(s.Apply(Batch(Ms(301), {RangeOp("", "")})).results(0).delete_range().deleted() == 2);
  CHECK_FALSE(s.Read("0").has_value());
  CHECK_FALSE(s.Read("d").has_value());
}

TEST_CASE("kv: txn compares on every target and op", "[server]") {
  TestShard s;
  s.Apply(Batch(Ms(100), {PutOp("k", "m")}));
  s.Apply(Batch(Ms(200), {PutOp("k", "m"), PutOp("hi", "\xff")}));
  const uint64_t k_mod = Ms(200);
  using C = v1::Compare;

  struct Case {
    const char* what;
    v1::Compare compare;
    bool holds;
  };
  const std::vector<Case> cases = {
      {"value == m", CmpValue("k", C::EQUAL, "m"), true},
      {"value == n", CmpValue("k", C::EQUAL, "n"), false},
      {"value != n", CmpValue("k", C::NOT_EQUAL, "n"), true},
      {"value != m", CmpValue("k", C::NOT_EQUAL, "m"), false},
      {"value < n", CmpValue("k", C::LESS, "n"), true},
      {"value < m", CmpValue("k", C::LESS, "m"), false},
      {"value < a", CmpValue("k", C::LESS, "a"), false},
      {"value < mm (prefix is less)", CmpValue("k", C::LESS, "mm"), true},
      {"value > a", CmpValue("k", C::GREATER, "a"), true},
      {"value > m", CmpValue("k", C::GREATER, "m"), false},
      {"value > empty", CmpValue("k", C::GREATER, ""), true},
      {"0xff > a (bytes compare unsigned)", CmpValue("hi", C::GREATER, "a"), true},
      {"0xff < a", CmpValue("hi", C::LESS, "a"), false},
      {"missing value == empty", CmpValue("none", C::EQUAL, ""), false},
      {"missing value != m", CmpValue("none", C::NOT_EQUAL, "m"), true},
      {"missing value < m", CmpValue("none", C::LESS, "m"), false},
      {"missing value > m", CmpValue("none", C::GREATER, "m"), false},
      {"version == 2", CmpVersion("k", C::EQUAL, 2), true},
      {"version == 1", CmpVersion("k", C::EQUAL, 1), false},
      {"version != 1", CmpVersion("k", C::NOT_EQUAL, 1), true},
      {"version != 2", CmpVersion("k", C::NOT_EQUAL, 2), false},
      {"version < 3", CmpVersion("k", C::LESS, 3), true},
      {"version < 2", CmpVersion("k", C::LESS, 2), false},
      {"version > 1", CmpVersion("k", C::GREATER, 1), true},
      {"version > 2", CmpVersion("k", C::GREATER, 2), false},
      {"missing version == 0", CmpVersion("none", C::EQUAL, 0), true},
      {"missing version < 1", CmpVersion("none", C::LESS, 1), true},
      {"missing version > 0", CmpVersion("none", C::GREATER, 0), false},
      {"mod_ts == k_mod", CmpModTs("k", C::EQUAL, k_mod), true},
      {"mod_ts == create", CmpModTs("k", C::EQUAL, Ms(100)), false},
      {"mod_ts != create", CmpModTs("k", C::NOT_EQUAL, Ms(100)), true},
      {"mod_ts != k_mod", CmpModTs("k", C::NOT_EQUAL, k_mod), false},
      {"mod_ts < k_mod + 1", CmpModTs("k", C::LESS, k_mod + 1), true},
      {"mod_ts < k_mod", CmpModTs("k", C::LESS, k_mod), false},
      {"mod_ts > k_mod - 1", CmpModTs("k", C::GREATER, k_mod - 1), true},
      {"mod_ts > k_mod", CmpModTs("k", C::GREATER, k_mod), false},
      {"missing mod_ts == 0", CmpModTs("none", C::EQUAL, 0), true},
      {"missing mod_ts < 1", CmpModTs("none", C::LESS, 1), true},
      {"exists == true", CmpExists("k", C::EQUAL, true), true},
      {"exists == false", CmpExists("k", C::EQUAL, false), false},
      {"exists != false", CmpExists("k", C::NOT_EQUAL, false), true},
      {"exists != true", CmpExists("k", C::NOT_EQUAL, true), false},
      {"missing exists == false", CmpExists("none", C::EQUAL, false), true},
      {"missing exists == true", CmpExists("none", C::EQUAL, true), false},
      {"missing exists != true", CmpExists("none", C::NOT_EQUAL, true), true},
      {"unspecified target", CmpBase("k", C::TARGET_UNSPECIFIED, C::EQUAL), false},
      {"unspecified op", CmpValue("k", C::OP_UNSPECIFIED, "m"), false},
  };
  // success: one get; failure: two gets — the result count tells which branch ran.
  for (const Case& c : cases) {
    CAPTURE(c.what);
    v1::TxnResponse r =
        s.Apply(Txn(Ms(300), {c.compare}, {GetOp("k")}, {GetOp("none"), GetOp("k")}));
    CHECK(r.succeeded() == c.holds);
    CHECK(r.results_size() == (c.holds ? 1 : 2));
  }
  // The compares wrote nothing.
  CheckStored(s.Read("k"), "m", 2, Ms(100), k_mod);

  // All compares must hold; none at all = success.
  CHECK(s.Apply(Txn(Ms(400), {}, {GetOp("k")}, {})).succeeded());
  CHECK(s.Apply(Txn(Ms(400),
                    {CmpVersion("k", C::EQUAL, 2), CmpValue("k", C::EQUAL, "m"),
                     CmpExists("none", C::EQUAL, false)},
                    {}, {}))
            .succeeded());
  CHECK_FALSE(s.Apply(Txn(Ms(400),
                          {CmpVersion("k", C::EQUAL, 2), CmpValue("k", C::EQUAL, "x"),
                           CmpExists("none", C::EQUAL, false)},
                          {}, {}))
                  .succeeded());
}

TEST_CASE("kv: txn branches run every op type and report results in order", "[server]") {
  TestShard s;
  s.Apply(Batch(Ms(100), {PutOp("a", "1"), PutOp("b", "2"), PutOp("c1", "3"), PutOp("c2", "4"),
                          PutOp("d", "5")}));

  SECTION("success branch") {
    v1::TxnResponse r =
        s.Apply(Txn(Ms(200), {CmpValue("a", v1::Compare::EQUAL, "1")},
                    {GetOp("a"), PutOp("a", "A", PrevKv::kYes), DelOp("b", PrevKv::kYes),
                     RangeOp("c", "d"), GetOp("a"), GetOp("c1")},
                    {PutOp("f", "F")}));
    CHECK(r.succeeded());
    REQUIRE(r.results_size() == 6);
    CheckKv(r.results(0).get().kv(), "a", "1", 1, Ms(100), Ms(100));
    CheckKv(r.results(1).put().prev(), "a", "1", 1, Ms(100), Ms(100));
    CHECK(r.results(1).put().mod_ts() == Ms(200));
    CHECK(r.results(2).delete_().deleted() == 1);
    CheckKv(r.results(2).delete_().prev(), "b", "2", 1, Ms(100), Ms(100));
    CHECK(r.results(3).delete_range().deleted() == 2);
    CheckKv(r.results(4).get().kv(), "a", "A", 2, Ms(100), Ms(200));
    CHECK_FALSE(r.results(5).get().found());
    CheckStored(s.Read("a"), "A", 2, Ms(100), Ms(200));
    CHECK_FALSE(s.Read("b").has_value());
    CHECK_FALSE(s.Read("c1").has_value());
    CHECK_FALSE(s.Read("c2").has_value());
    CHECK(s.Read("d").has_value());
    CHECK_FALSE(s.Read("f").has_value());
  }
  SECTION("failure branch") {
    v1::TxnResponse r = s.Apply(Txn(
        Ms(200), {CmpValue("a", v1::Compare::EQUAL, "0")}, {PutOp("a", "A")},
        {PutOp("f", "F", PrevKv::kYes), DelOp("d", PrevKv::kYes), RangeOp("c", ""), GetOp("f")}));
    CHECK_FALSE(r.succeeded());
    REQUIRE(r.results_size() == 4);
    CHECK_FALSE(r.results(0).put().has_prev());
    CHECK(r.results(0).put().mod_ts() == Ms(200));
    CheckKv(r.results(1).delete_().prev(), "d", "5", 1, Ms(100), Ms(100));
    CHECK(r.results(2).delete_range().deleted() == 3);  // c1, c2 and f (d already deleted)
    CHECK_FALSE(r.results(3).get().found());
    CheckStored(s.Read("a"), "1", 1, Ms(100), Ms(100));
    CHECK_FALSE(s.Read("f").has_value());
    CHECK(s.Read("b").has_value());
  }
}

TEST_CASE("kv: a request id is applied once and its first result returned", "[server]") {
  TestShard s;
  v1::TxnResponse first = s.Apply(Batch(Ms(100), {PutOp("k", "v1", PrevKv::kYes)}, "r1"));
  CHECK(s.sm().dedup_entries() == 1);
  REQUIRE(s.sm().FindDuplicate("r1") != nullptr);
  CHECK(Bytes(*s.sm().FindDuplicate("r1")) == Bytes(first));
  CHECK(s.sm().FindDuplicate("r2") == nullptr);

  // The retry carries other ops and a later ts: answered from the record, no effect.
  v1::TxnResponse retry = s.Apply(Batch(Ms(200), {PutOp("k", "v2"), DelOp("z")}, "r1"));
  CHECK(Bytes(retry) == Bytes(first));
  CHECK(retry.results(0).put().mod_ts() == Ms(100));
  CheckStored(s.Read("k"), "v1", 1, Ms(100), Ms(100));
  CHECK(s.sm().dedup_entries() == 1);
  // The entry was still applied as a log position.
  CHECK(s.sm().state().last_ts == Ms(200));
  CHECK(s.sm().state().applied_index == 2);

  // Another id applies; a command without id is never deduplicated.
  s.Apply(Batch(Ms(300), {PutOp("k", "v3")}, "r2"));
  s.Apply(Batch(Ms(301), {PutOp("n", "1")}));
  s.Apply(Batch(Ms(302), {PutOp("n", "2")}));
  CHECK(s.Read("k")->version == 2);
  CHECK(s.Read("n")->version == 2);
  CHECK(s.sm().dedup_entries() == 2);

  // A failed txn is recorded as failed: its retry fails again even though it would now succeed.
  v1::TxnResponse failed = s.Apply(
      Txn(Ms(400), {CmpExists("k", v1::Compare::EQUAL, false)}, {PutOp("t", "1")}, {}, "t1"));
  CHECK_FALSE(failed.succeeded());
  s.Apply(Batch(Ms(401), {DelOp("k")}));
  v1::TxnResponse again = s.Apply(
      Txn(Ms(402), {CmpExists("k", v1::Compare::EQUAL, false)}, {PutOp("t", "1")}, {}, "t1"));
  CHECK_FALSE(again.succeeded());
  CHECK_FALSE(s.Read("t").has_value());

  // Twice in one round: the second sees the first's record.
  storage::WriteBatch batch;
  v1::TxnResponse a = s.ApplyInto(batch, Batch(Ms(500), {PutOp("q", "1")}, "same-round"));
  v1::TxnResponse b = s.ApplyInto(batch, Batch(Ms(501), {PutOp("q", "2")}, "same-round"));
  s.Commit(batch);
  CHECK(Bytes(a) == Bytes(b));
  CheckStored(s.Read("q"), "1", 1, Ms(500), Ms(500));
}

TEST_CASE("kv: dedup records expire by command timestamps, not by a clock", "[server]") {
  // Timestamps from 1970: a wall clock would have expired everything long ago.
  const uint64_t window_ms = 1000;
  const uint64_t w = Ms(window_ms);
  TestShard s(/*group=*/7, window_ms);
  const uint64_t t = Ms(5000);
  s.Apply(Batch(t, {PutOp("k", "a")}, "r1"));
  s.Apply(Batch(t + 10, {PutOp("j", "a")}, "r2"));

  // At exactly expires_ts the record still holds.
  v1::TxnResponse r = s.Apply(Batch(t + w, {PutOp("k", "b")}, "r1"));
  CHECK(r.results(0).put().mod_ts() == t);
  CheckStored(s.Read("k"), "a", 1, t, t);
  CHECK(s.sm().dedup_entries() == 2);

  // One tick later r1 is gone (r2 not yet): the retry applies as new and is recorded again.
  r = s.Apply(Batch(t + w + 1, {PutOp("k", "c")}, "r1"));
  CHECK(r.results(0).put().mod_ts() == t + w + 1);
  CheckStored(s.Read("k"), "c", 2, t, t + w + 1);
  CHECK(s.sm().dedup_entries() == 2);
  REQUIRE(s.sm().FindDuplicate("r2") != nullptr);

  // A command without id also expires records; the deletion reaches the engine.
  s.Apply(Batch(t + 10 + w + 1, {GetOp("k")}));
  CHECK(s.sm().FindDuplicate("r2") == nullptr);
  CHECK(s.sm().dedup_entries() == 1);
  s.Restart();
  CHECK(s.sm().dedup_entries() == 1);
  CHECK(s.sm().FindDuplicate("r2") == nullptr);
  REQUIRE(s.sm().FindDuplicate("r1") != nullptr);
  CHECK(s.sm().FindDuplicate("r1")->results(0).put().mod_ts() == t + w + 1);
}

TEST_CASE("kv: apply state and dedup window survive a restart", "[server]") {
  const uint64_t window_ms = 1000;
  TestShard s(/*group=*/7, window_ms);
  s.set_term(3);
  const v1::TxnResponse r1 = s.Apply(Batch(Ms(100), {PutOp("k", "1", PrevKv::kYes)}, "r1"));
  const v1::TxnResponse r2 = s.Apply(Batch(Ms(600), {PutOp("k", "2", PrevKv::kYes)}, "r2"));
  s.set_term(4);
  s.sm().ApplyEmpty(3, 4);
  storage::WriteBatch batch;
  s.Commit(batch);  // an apply state record alone

  s.Restart();
  CHECK(s.sm().state().applied_index == 3);
  CHECK(s.sm().state().applied_term == 4);
  CHECK(s.sm().state().last_ts == Ms(600));
  CHECK(s.sm().dedup_entries() == 2);
  REQUIRE(s.sm().FindDuplicate("r1") != nullptr);
  CHECK(Bytes(*s.sm().FindDuplicate("r1")) == Bytes(r1));
  REQUIRE(s.sm().FindDuplicate("r2") != nullptr);
  CHECK(Bytes(*s.sm().FindDuplicate("r2")) == Bytes(r2));

  // Retries after the restart are still answered from the window.
  CHECK(Bytes(s.Apply(Batch(Ms(700), {PutOp("k", "x")}, "r1"))) == Bytes(r1));
  CHECK(s.sm().state().applied_index == 4);
  CheckStored(s.Read("k"), "2", 2, Ms(100), Ms(600));

  // The loaded window expires in timestamp order: past r1's end, before r2's.
  s.Apply(Batch(Ms(100 + window_ms) + 1, {GetOp("k")}));
  CHECK(s.sm().FindDuplicate("r1") == nullptr);
  CHECK(s.sm().FindDuplicate("r2") != nullptr);
  CHECK(s.sm().dedup_entries() == 1);
}

// Meta-CF keys of `shard` under the one-byte type `type` (storage/README.md, meta table).
size_t CountMetaKeys(TestShard& s, char type) {
  size_t n = 0;
  for (const auto& [key, value] : s.DumpCf(s.engine().meta_cf())) n += (!key.empty() && key[0] == type);
  return n;
}

TEST_CASE("kv: one dedup bucket per apply batch, deleted whole once its records expired", "[server]") {
  const uint64_t window_ms = 1000;
  TestShard s(/*group=*/7, window_ms);
  const std::vector<v1::TxnResponse> first =
      s.Round({Batch(Ms(100), {PutOp("a", "1")}, "r1"), Batch(Ms(101), {PutOp("b", "1")}, "r2"),
               Batch(Ms(102), {PutOp("c", "1")})});  // no id: not recorded
  CHECK(CountMetaKeys(s, 0x09) == 1);
  s.Round({Batch(Ms(600), {PutOp("a", "2")}, "r3")});
  CHECK(CountMetaKeys(s, 0x09) == 2);
  CHECK(CountMetaKeys(s, 0x03) == 0);  // nothing in the legacy per-request layout

  s.Restart();  // both buckets load
  CHECK(s.sm().dedup_entries() == 3);
  REQUIRE(s.sm().FindDuplicate("r2") != nullptr);
  CHECK(Bytes(*s.sm().FindDuplicate("r2")) == Bytes(first[1]));

  // Past the first bucket's last expiry (r2 at 101 + window): its key goes; the second stays.
  s.Apply(Batch(Ms(101 + window_ms) + 1, {GetOp("a")}));
  CHECK(s.sm().FindDuplicate("r1") == nullptr);
  CHECK(s.sm().FindDuplicate("r2") == nullptr);
  CHECK(s.sm().FindDuplicate("r3") != nullptr);
  CHECK(CountMetaKeys(s, 0x09) == 1);
  s.Apply(Batch(Ms(600 + window_ms) + 1, {GetOp("a")}));
  CHECK(CountMetaKeys(s, 0x09) == 0);
  CHECK(s.sm().dedup_entries() == 0);
  s.Restart();
  CHECK(s.sm().dedup_entries() == 0);
}

TEST_CASE("kv: legacy per-request dedup records load and are deleted as they expire", "[server]") {
  const uint64_t window_ms = 1000;
  TestShard s(/*group=*/7, window_ms);
  v1::TxnResponse old;
  old.set_succeeded(true);
  old.add_results()->mutable_put()->set_mod_ts(Ms(50));
  std::string value;
  storage::PutBigEndian64(value, Ms(50) + (window_ms << storage::Timestamp::kLogicalBits));
  old.AppendToString(&value);
  storage::WriteBatch batch;
  REQUIRE(s.engine().PutMeta(batch, storage::DedupKey(7, "legacy"), value).has_value());
  REQUIRE(s.engine().Write(batch, storage::Durability::kNoSync).has_value());
  s.Restart();
  REQUIRE(s.sm().FindDuplicate("legacy") != nullptr);
  CHECK(Bytes(*s.sm().FindDuplicate("legacy")) == Bytes(old));
  // A retry is answered from the legacy record, without effect.
  CHECK(Bytes(s.Apply(Batch(Ms(60), {PutOp("k", "x")}, "legacy"))) == Bytes(old));
  CHECK_FALSE(s.Read("k").has_value());
  CHECK(CountMetaKeys(s, 0x03) == 1);
  s.Apply(Batch(Ms(50 + window_ms) + 1, {GetOp("k")}));
  CHECK(s.sm().FindDuplicate("legacy") == nullptr);
  CHECK(CountMetaKeys(s, 0x03) == 0);
}

TEST_CASE("kv: a round whose batch was never written leaves no trace after a restart", "[server]") {
  TestShard s;
  s.set_term(2);
  s.Round({Batch(Ms(100), {PutOp("a", "1")}), Batch(Ms(101), {PutOp("b", "1")}, "r1")});
  CHECK(s.sm().state().applied_index == 2);

  storage::WriteBatch lost;
  s.ApplyInto(lost, Batch(Ms(200), {PutOp("a", "2"), DelOp("b")}, "r2"));
  s.sm().FinishBatch(lost);  // never written: a crash before the apply write
  CHECK(s.sm().state().applied_index == 3);

  s.Restart();
  CHECK(s.sm().state().applied_index == 2);
  CHECK(s.sm().state().applied_term == 2);
  CHECK(s.sm().state().last_ts == Ms(101));
  CHECK(s.sm().FindDuplicate("r2") == nullptr);
  CHECK(s.sm().FindDuplicate("r1") != nullptr);
  CheckStored(s.Read("a"), "1", 1, Ms(100), Ms(100));
  CHECK(s.Read("b").has_value());
  // Redoing the entry from the log gives what the lost batch would have held.
  s.Apply(Batch(Ms(200), {PutOp("a", "2"), DelOp("b")}, "r2"));
  CHECK(s.sm().state().applied_index == 3);
  CheckStored(s.Read("a"), "2", 2, Ms(100), Ms(200));
  CHECK_FALSE(s.Read("b").has_value());
}

TEST_CASE("kv: snapshot state round trip: last_ts and the live dedup window", "[server]") {
  const uint64_t window_ms = 1000;
  const uint64_t w = Ms(window_ms);
  TestShard a(/*group=*/7, window_ms);

  v1::ShardSnapshotState fresh;
  a.sm().FillSnapshotState(&fresh);
  CHECK(fresh.last_ts() == 0);
  CHECK(fresh.dedup_size() == 0);

  a.Apply(Batch(Ms(1000), {PutOp("old", "1")}, "r0"));  // expires below
  const v1::TxnResponse r1 = a.Apply(Batch(Ms(1500), {PutOp("k", "1")}, "r1"));
  const v1::TxnResponse r2 = a.Apply(Batch(Ms(1800), {DelOp("k", PrevKv::kYes)}, "r2"));
  a.Apply(Batch(Ms(2001) + 1, {GetOp("k")}));  // past r0's end: r0 expires
  REQUIRE(a.sm().dedup_entries() == 2);

  v1::ShardSnapshotState st;
  a.sm().FillSnapshotState(&st);
  CHECK(st.last_ts() == Ms(2001) + 1);
  REQUIRE(st.dedup_size() == 2);
  CHECK(st.dedup(0).request_id() == "r1");
  CHECK(st.dedup(0).expires_ts() == Ms(1500) + w);
  CHECK(Bytes(st.dedup(0).result()) == Bytes(r1));
  CHECK(st.dedup(1).request_id() == "r2");
  CHECK(st.dedup(1).expires_ts() == Ms(1800) + w);
  CHECK(Bytes(st.dedup(1).result()) == Bytes(r2));

  // It travels in a manifest: through bytes.
  v1::ShardSnapshotState wire;
  REQUIRE(wire.ParseFromString(Bytes(st)));

  TestShard b(/*group=*/7, window_ms);
  b.Apply(Batch(Ms(50), {PutOp("b-only", "1")}, "b-old"));
  REQUIRE(b.sm().FindDuplicate("b-old") != nullptr);
  storage::WriteBatch batch;
  b.sm().InstallSnapshotState(50, 7, wire, batch);
  REQUIRE(b.engine().Write(batch, storage::Durability::kNoSync).has_value());
  b.sm().OnBatchWritten();

  auto check_installed = [&] {
    CHECK(b.sm().state().applied_index == 50);
    CHECK(b.sm().state().applied_term == 7);
    CHECK(b.sm().state().last_ts == Ms(2001) + 1);
    CHECK(b.sm().dedup_entries() == 2);
    CHECK(b.sm().FindDuplicate("b-old") == nullptr);
    CHECK(b.sm().FindDuplicate("r0") == nullptr);
    REQUIRE(b.sm().FindDuplicate("r1") != nullptr);
    CHECK(Bytes(*b.sm().FindDuplicate("r1")) == Bytes(r1));
    REQUIRE(b.sm().FindDuplicate("r2") != nullptr);
    CHECK(Bytes(*b.sm().FindDuplicate("r2")) == Bytes(r2));
  };
  check_installed();
  b.Restart();
  check_installed();

  // The installed state drives what follows: the ts rule, dedup answers and expiry order.
  CHECK(b.next_index() == 51);
  v1::TxnResponse retry = b.Apply(Batch(Ms(10), {PutOp("k", "again")}, "r1"));
  CHECK(Bytes(retry) == Bytes(r1));
  CHECK(b.sm().state().last_ts == Ms(2001) + 2);
  b.Apply(Batch(Ms(1500) + w + 1, {GetOp("k")}));
  CHECK(b.sm().FindDuplicate("r1") == nullptr);
  CHECK(b.sm().FindDuplicate("r2") != nullptr);

  v1::ShardSnapshotState again;
  b.sm().FillSnapshotState(&again);
  CHECK(again.last_ts() == Ms(1500) + w + 1);
  REQUIRE(again.dedup_size() == 1);
  CHECK(again.dedup(0).request_id() == "r2");
}

TEST_CASE("kv: shards sharing an engine keep separate apply state and dedup windows", "[server]") {
  storage::test::TempDir dir;
  storage::StorageOptions o;
  o.dir = dir.path() + "/db";
  o.direct_io = false;
  o.block_cache_bytes = 8 << 20;
  auto engine = storage::Engine::Open(o);
  REQUIRE(engine.has_value());
  // 2 and 0x200: a byte-prefix relation in a variable-length encoding would mix them up.
  KvStateMachine two(engine->get(), 2), big(engine->get(), 0x200);
  REQUIRE(two.Load().has_value());
  REQUIRE(big.Load().has_value());
  storage::WriteBatch batch;
  two.Apply(9, 1, Batch(Ms(100), {PutOp("a", "1")}, "id"), batch);
  two.FinishBatch(batch);
  REQUIRE((*engine)->Write(batch, storage::Durability::kNoSync).has_value());
  two.OnBatchWritten();

  KvStateMachine big2(engine->get(), 0x200), two2(engine->get(), 2);
  REQUIRE(big2.Load().has_value());
  REQUIRE(two2.Load().has_value());
  CHECK(big2.state().applied_index == 0);
  CHECK(big2.dedup_entries() == 0);
  CHECK(two2.state().applied_index == 9);
  CHECK(two2.dedup_entries() == 1);
}

// A random but reproducible log: puts, deletes, ranges, gets and txns over a few keys, timestamps
// that sometimes run backwards or are missing, and request ids that repeat (retries) across the
// dedup window.
std::vector<v1::RaftCommand> RandomLog(uint64_t seed, size_t n) {
  raft::SplitMix64 rng(seed);
  const std::vector<std::string> keys = {"a",    "b",    "c", "d", "e", std::string("\0", 1),
                                         "\xff", "b\x01"};
  auto key = [&] { return keys[rng.Below(keys.size())]; };
  auto op = [&] {
    switch (rng.Below(5)) {
      case 0:
      case 1:
        return PutOp(key(), "v" + std::to_string(rng.Below(1000)),
                     rng.Below(2) == 0 ? PrevKv::kYes : PrevKv::kNo);
      case 2:
        return DelOp(key(), rng.Below(2) == 0 ? PrevKv::kYes : PrevKv::kNo);
      case 3: {
        std::string x = key(), y = key();
        if (y < x) std::swap(x, y);
        return RangeOp(x, rng.Below(4) == 0 ? std::string() : y);
      }
      default:
        return GetOp(key());
    }
  };
  auto ops = [&] {
    std::vector<v1::Op> out(1 + rng.Below(4));
    for (v1::Op& o : out) o = op();
    return out;
  };
  std::vector<v1::RaftCommand> log;
  uint64_t clock_ms = 10'000;
  for (size_t i = 0; i < n; ++i) {
    clock_ms += rng.Below(30);
    uint64_t ts = Ms(clock_ms) + rng.Below(3);
    if (rng.Below(8) == 0) ts = Ms(clock_ms - rng.Below(200));  // a slower leader's clock
    if (rng.Below(20) == 0) ts = 0;
    std::string id = rng.Below(3) == 0 ? "req-" + std::to_string(rng.Below(12)) : std::string();
    if (rng.Below(3) == 0) {
      std::vector<v1::Compare> cmps;
      for (uint64_t c = rng.Below(3); c > 0; --c) {
        const auto cop = static_cast<v1::Compare::Op>(1 + rng.Below(4));
        switch (rng.Below(4)) {
          case 0:
            cmps.push_back(CmpValue(key(), cop, "v" + std::to_string(rng.Below(1000))));
            break;
          case 1:
            cmps.push_back(CmpVersion(key(), cop, rng.Below(4)));
            break;
          case 2:
            cmps.push_back(CmpModTs(key(), cop, Ms(clock_ms - rng.Below(100))));
            break;
          default:
            cmps.push_back(
                CmpExists(key(), rng.Below(2) == 0 ? v1::Compare::EQUAL : v1::Compare::NOT_EQUAL,
                          rng.Below(2) == 0));
        }
      }
      log.push_back(Txn(ts, cmps, ops(), ops(), id));
    } else {
      log.push_back(Batch(ts, ops(), id));
    }
  }
  return log;
}

// How the dedup window answered a log applied one command per round.
struct DedupStats {
  size_t answered = 0;  // a recorded id: the first result came back
  size_t renewed = 0;   // an id used before whose record expired: applied anew
};

// Applies `log` in rounds of random sizes (1..max_round) chosen by `seed`, restarting the state
// machine every `restart_every` rounds (0 = never); returns every result's bytes. With max_round
// 1, `stats` counts how retries were answered.
std::vector<std::string> ApplyLog(TestShard& s, const std::vector<v1::RaftCommand>& log,
                                  uint64_t seed, uint64_t max_round, uint64_t restart_every,
                                  DedupStats* stats = nullptr) {
  raft::SplitMix64 rng(seed);
  std::vector<std::string> results;
  size_t i = 0;
  uint64_t rounds = 0;
  std::set<std::string> seen_ids;
  while (i < log.size()) {
    const size_t n = std::min<size_t>(1 + rng.Below(max_round), log.size() - i);
    std::optional<std::string> recorded;
    bool used_before = false;
    if (stats != nullptr && n == 1 && !log[i].request_id().empty()) {
      if (const v1::TxnResponse* dup = s.sm().FindDuplicate(log[i].request_id()))
        recorded = Bytes(*dup);
      used_before = !seen_ids.insert(log[i].request_id()).second;
    }
    std::vector<v1::RaftCommand> round(log.begin() + static_cast<ptrdiff_t>(i),
                                       log.begin() + static_cast<ptrdiff_t>(i + n));
    for (const v1::TxnResponse& r : s.Round(round)) results.push_back(Bytes(r));
    if (recorded && *recorded == results.back()) {
      ++stats->answered;
    } else if (used_before) {
      ++stats->renewed;
    }
    i += n;
    if (restart_every != 0 && ++rounds % restart_every == 0) s.Restart();
  }
  return results;
}

TEST_CASE("kv: replicas applying the same log store identical bytes", "[server]") {
  const std::vector<v1::RaftCommand> log = RandomLog(/*seed=*/20240601, /*n=*/600);
  const uint64_t window_ms = 300;  // short enough that ids expire and recur within the log
  TestShard a(/*group=*/7, window_ms), b(/*group=*/7, window_ms);
  DedupStats stats;
  const std::vector<std::string> ra =
      ApplyLog(a, log, /*seed=*/1, /*max_round=*/1, /*restart_every=*/0, &stats);
  const std::vector<std::string> rb =
      ApplyLog(b, log, /*seed=*/2, /*max_round=*/12, /*restart_every=*/7);

  REQUIRE(ra.size() == log.size());
  REQUIRE(rb.size() == log.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    CAPTURE(i);
    CHECK(ra[i] == rb[i]);
  }
  CHECK(a.sm().state().applied_index == 600);
  CHECK(b.sm().state().applied_index == 600);
  CHECK(a.sm().state().last_ts == b.sm().state().last_ts);
  CHECK(a.sm().dedup_entries() == b.sm().dedup_entries());

  const Dump data_a = a.DumpCf(a.engine().data_cf()), data_b = b.DumpCf(b.engine().data_cf());
  // Dedup buckets are keyed by the index that ended each apply batch, so their bytes follow a
  // replica's batching; the window they hold must not (compared through the snapshot state).
  auto without_buckets = [](Dump d) {
    std::erase_if(d, [](const auto& kv) { return !kv.first.empty() && kv.first[0] == 0x09; });
    return d;
  };
  const Dump meta_a = without_buckets(a.DumpCf(a.engine().meta_cf())),
             meta_b = without_buckets(b.DumpCf(b.engine().meta_cf()));
  CHECK(data_a.size() > 300);  // many versions: the comparison is not vacuous
  CHECK(meta_a.size() >= 1);   // the apply state
  CHECK(data_a == data_b);
  CHECK(meta_a == meta_b);
  v1::ShardSnapshotState window_a, window_b;
  a.sm().FillSnapshotState(&window_a);
  b.sm().FillSnapshotState(&window_b);
  CHECK(window_a.dedup_size() > 0);
  CHECK(Bytes(window_a) == Bytes(window_b));
  b.Restart();  // and the same window comes back from b's buckets
  v1::ShardSnapshotState reloaded;
  b.sm().FillSnapshotState(&reloaded);
  CHECK(Bytes(reloaded) == Bytes(window_a));

  // The log did exercise retries answered from the window and ids recurring after expiry.
  INFO("answered " << stats.answered << ", renewed " << stats.renewed);
  CHECK(stats.answered >= 10);
  CHECK(stats.renewed >= 10);
}

TEST_CASE("kv: the key header cache changes no result and no stored byte", "[server]") {
  // The same random log (puts, deletes, range deletes, txns comparing every target, gets) through
  // a state machine without the cache, one with room for every key, and one whose budget of 3
  // keys forces rotations all the time.
  const std::vector<v1::RaftCommand> log = RandomLog(/*seed=*/20261207, /*n=*/800);
  KeyHeaderCacheBudget roomy(1 << 20), tight(3);
  TestShard plain(/*group=*/7, /*window_ms=*/300), cached(7, 300, &roomy), squeezed(7, 300, &tight);
  const std::vector<std::string> r_plain = ApplyLog(plain, log, /*seed=*/5, /*max_round=*/6, /*restart_every=*/0);
  const std::vector<std::string> r_cached = ApplyLog(cached, log, /*seed=*/5, /*max_round=*/6, /*restart_every=*/0);
  const std::vector<std::string> r_squeezed =
      ApplyLog(squeezed, log, /*seed=*/9, /*max_round=*/3, /*restart_every=*/50);
  REQUIRE(r_plain.size() == log.size());
  CHECK(roomy.used.load() > 0);  // the cache was used: the comparison is not vacuous
  for (size_t i = 0; i < log.size(); ++i) {
    CAPTURE(i);
    CHECK(r_cached[i] == r_plain[i]);
    CHECK(r_squeezed[i] == r_plain[i]);
  }
  CHECK(cached.DumpCf(cached.engine().data_cf()) == plain.DumpCf(plain.engine().data_cf()));
  CHECK(squeezed.DumpCf(squeezed.engine().data_cf()) == plain.DumpCf(plain.engine().data_cf()));
  CHECK(tight.used.load() <= 6);
}

TEST_CASE("kv: a snapshot install drops the key header cache", "[server]") {
  KeyHeaderCacheBudget budget(1000);
  TestShard s(/*group=*/7, /*window_ms=*/600'000, &budget);
  for (uint64_t i = 1; i <= 3; ++i) s.Apply(Batch(Ms(100 + i), {PutOp("k", "v" + std::to_string(i))}));
  CheckStored(s.Read("k"), "v3", 3, Ms(101), Ms(103));
  REQUIRE(budget.used.load() > 0);

  // The snapshot's data replaces the shard's: "k" at version 10 (written as an ingest would).
  storage::WriteBatch ingest;
  StoredValue theirs{.version = 10, .create_ts = Ms(50), .mod_ts = Ms(150), .value = "theirs", .lease = 0};
  storage::MvccWriter writer(s.engine(), ingest);
  REQUIRE(writer.Put("k", storage::Timestamp(Ms(150)), EncodeStoredValue(theirs)).has_value());
  v1::ShardSnapshotState state;
  state.set_last_ts(Ms(150));
  s.sm().InstallSnapshotState(/*index=*/40, /*term=*/2, state, ingest);
  REQUIRE(s.engine().Write(ingest, storage::Durability::kNoSync).has_value());
  CHECK(budget.used.load() == 0);
  s.set_index(40);

  // A blind put counts on from the snapshot's version, not from the cached 3.
  s.Apply(Batch(Ms(200), {PutOp("k", "mine")}));
  CheckStored(s.Read("k"), "mine", 11, Ms(50), Ms(200));
}

}  // namespace
}  // namespace claw::server
