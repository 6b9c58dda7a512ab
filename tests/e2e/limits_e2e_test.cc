// Limits and error answers of the KV API, triggered on purpose with raw stubs against a real
// cluster (kv.proto, error.proto, reliability.md §5 and §11): for each, the gRPC status code AND
// the claw.v1.Error code, plus the hints an error promises (leader address, descriptors). Requests
// go to the leader of their key's shard unless the test is about routing.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

constexpr size_t kMiB = 1 << 20;

struct Answer {
  grpc::Status status;
  v1::Error error;
};

// Checks a failed call: its gRPC code and its claw.v1.Error code.
#define CHECK_ERROR(answer, grpc_code, claw_code)                   \
  do {                                                              \
    INFO("message: " << (answer).status.error_message());            \
    CHECK((answer).status.error_code() == (grpc_code));             \
    CHECK((answer).error.code() == (claw_code));                    \
  } while (0)

class Raw {
 public:
  explicit Raw(std::unique_ptr<v1::KV::Stub> kv) : kv_(std::move(kv)) {}

  Answer Put(const std::string& key, const std::string& value, v1::RequestHeader h = {},
             v1::PutResponse* out = nullptr) {
    v1::PutRequest req;
    *req.mutable_header() = h;
    req.set_key(key);
    req.set_value(value);
    v1::PutResponse resp;
    return Done(kv_->Put(Ctx(10000).get(), req, out ? out : &resp));
  }
  Answer Get(const std::string& key, v1::RequestHeader h = {}, v1::GetResponse* out = nullptr) {
    v1::GetRequest req;
    *req.mutable_header() = h;
    req.set_key(key);
    v1::GetResponse resp;
    return Done(kv_->Get(Ctx().get(), req, out ? out : &resp));
  }
  Answer Delete(const std::string& key) {
    v1::DeleteRequest req;
    req.set_key(key);
    v1::DeleteResponse resp;
    return Done(kv_->Delete(Ctx().get(), req, &resp));
  }
  Answer DeleteRange(const std::string& start, const std::string& end, v1::DeleteRangeResponse* out = nullptr) {
    v1::DeleteRangeRequest req;
    req.set_start_key(start);
    req.set_end_key(end);
    v1::DeleteRangeResponse resp;
    return Done(kv_->DeleteRange(Ctx().get(), req, out ? out : &resp));
  }
  Answer Batch(const v1::BatchRequest& req, v1::BatchResponse* out = nullptr) {
    v1::BatchResponse resp;
    return Done(kv_->Batch(Ctx(20000).get(), req, out ? out : &resp));
  }
  Answer Txn(const v1::TxnRequest& req, v1::TxnResponse* out = nullptr) {
    v1::TxnResponse resp;
    return Done(kv_->Txn(Ctx().get(), req, out ? out : &resp));
  }
  // Reads the whole stream; the pages it got in *pages.
  Answer Scan(const v1::ScanRequest& req, std::vector<v1::ScanResponse>* pages = nullptr) {
    auto ctx = Ctx();
    auto reader = kv_->Scan(ctx.get(), req);
    v1::ScanResponse page;
    while (reader->Read(&page)) {
      if (pages) pages->push_back(page);
    }
    return Done(reader->Finish());
  }
  v1::KV::Stub* stub() { return kv_.get(); }

 private:
  static Answer Done(grpc::Status s) { return Answer{s, Detail(s)}; }
  std::unique_ptr<v1::KV::Stub> kv_;
};

// A raw stub to the leader of `key`'s shard.
Raw LeaderFor(const TestCluster& c, const std::string& key) {
  const v1::ShardRoute r = RouteFor(c, key);
  REQUIRE_FALSE(r.leader_address().empty());
  return Raw(KvAt(r.leader_address()));
}

v1::Op PutOp(const std::string& key, const std::string& value) {
  v1::Op op;
  op.mutable_put()->set_key(key);
  op.mutable_put()->set_value(value);
  return op;
}

v1::BatchRequest BatchOfPuts(const std::string& prefix, int n, size_t value_bytes = 1) {
  v1::BatchRequest req;
  for (int i = 0; i < n; ++i) *req.add_ops() = PutOp(prefix + std::to_string(i), std::string(value_bytes, 'v'));
  return req;
}

bool Found(Raw& raw, const std::string& key) {
  v1::GetResponse got;
  Answer a = raw.Get(key, {}, &got);
  REQUIRE(a.status.ok());
  return got.found();
}

std::vector<uint64_t> ShardIds(const v1::Error& e) {
  std::vector<uint64_t> ids;
  for (const auto& d : e.shards()) ids.push_back(d.id());
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

TEST_CASE("limits: key sizes, value sizes and request sizes", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string prefix = K(0x20, "lim/");
  Raw raw = LeaderFor(c, prefix);

  SECTION("an empty key is INVALID_ARGUMENT on every single-key call") {
    CHECK_ERROR(raw.Put("", "v"), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    CHECK_ERROR(raw.Get(""), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    CHECK_ERROR(raw.Delete(""), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    CHECK_ERROR(raw.DeleteRange("", prefix), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
  }
  SECTION("a key of 4096 bytes works; 4097 is TOO_LARGE and not written") {
    const std::string k4096 = prefix + std::string(4096 - prefix.size(), 'k');
    REQUIRE(k4096.size() == 4096);
    Answer ok = raw.Put(k4096, "max-key");
    REQUIRE(ok.status.ok());
    v1::GetResponse got;
    REQUIRE(raw.Get(k4096, {}, &got).status.ok());
    CHECK(got.found());
    CHECK(got.kv().key() == k4096);
    CHECK(got.kv().value() == "max-key");
    const std::string k4097 = k4096 + "k";
    CHECK_ERROR(raw.Put(k4097, "v"), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    CHECK_ERROR(raw.Get(k4097), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    CHECK_ERROR(raw.Delete(k4097), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    v1::ScanRequest scan;
    scan.set_start_key(k4097);
    CHECK_ERROR(raw.Scan(scan), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    REQUIRE(raw.Delete(k4096).status.ok());
  }
  SECTION("a value of exactly 1 MiB works; 1 MiB + 1 is TOO_LARGE and not written") {
    const std::string key = prefix + "value";
    REQUIRE(raw.Delete(key).status.ok());
    Answer big = raw.Put(key, std::string(kMiB + 1, 'x'));
    CHECK_ERROR(big, grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    CHECK_FALSE(Found(raw, key));
    REQUIRE(raw.Put(key, std::string(kMiB, 'y')).status.ok());
    v1::GetResponse got;
    REQUIRE(raw.Get(key, {}, &got).status.ok());
    CHECK(got.kv().value().size() == kMiB);
    CHECK(got.kv().value() == std::string(kMiB, 'y'));
    REQUIRE(raw.Delete(key).status.ok());
  }
  SECTION("a request over 4 MiB is TOO_LARGE (nothing applied); far over, gRPC refuses it") {
    // 5 values of 880 KiB: 4.3 MiB, over limits.max_request_bytes but under gRPC's receive limit.
    v1::BatchRequest req = BatchOfPuts(prefix + "req/", 5, 880 << 10);
    REQUIRE(req.ByteSizeLong() > 4 * kMiB);
    REQUIRE(req.ByteSizeLong() < 4 * kMiB + (512 << 10));
    CHECK_ERROR(raw.Batch(req), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    CHECK_FALSE(Found(raw, prefix + "req/0"));
    // 7 MiB: beyond what the server reads at all.
    v1::BatchRequest huge = BatchOfPuts(prefix + "req/", 7, kMiB);
    Answer a = raw.Batch(huge);
    CHECK(a.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK_FALSE(Found(raw, prefix + "req/0"));
    // 4 values of 1 MiB: over the limit by their keys and framing only; 3 of them fit.
    v1::BatchRequest fits = BatchOfPuts(prefix + "req/", 4, kMiB);
    REQUIRE(fits.ByteSizeLong() < 4 * kMiB + 4096);
    REQUIRE(fits.ByteSizeLong() > 4 * kMiB);
    CHECK_ERROR(raw.Batch(fits), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    v1::BatchRequest three = BatchOfPuts(prefix + "req/", 3, kMiB);
    // On a loaded machine a 3 MiB entry (replication, fsync) can outlast its leader; the API's
    // answer to that indeterminate failure is a retry with the same request id, applied at most
    // once. Retried up to 3 times, through the shard's current leader.
    three.mutable_header()->set_request_id(
        "limits-3MiB-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    three.mutable_header()->set_forward(true);
    Answer written = raw.Batch(three);
    for (int retry = 0; retry < 3 && written.status.error_code() == grpc::StatusCode::UNAVAILABLE; ++retry) {
      UNSCOPED_INFO("retrying the 3 MiB batch after: " << written.status.error_message());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      raw = LeaderFor(c, prefix);
      written = raw.Batch(three);
    }
    INFO("3 x 1 MiB batch: " << written.status.error_message());
    CHECK(written.status.ok());
    CHECK(Found(raw, prefix + "req/2"));
    v1::DeleteRangeResponse dr;
    REQUIRE(raw.DeleteRange(prefix + "req/", prefix + "req0", &dr).status.ok());
    CHECK(dr.deleted() == 3);
  }
}

TEST_CASE("limits: ops per batch and txn", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string prefix = K(0x21, "lim/");
  Raw raw = LeaderFor(c, prefix);

  SECTION("a batch of 1024 ops applies; 1025 is TOO_LARGE; an empty batch is invalid") {
    v1::BatchResponse resp;
    REQUIRE(raw.Batch(BatchOfPuts(prefix + "b/", 1024), &resp).status.ok());
    CHECK(resp.results_size() == 1024);
    v1::DeleteRangeResponse dr;
    REQUIRE(raw.DeleteRange(prefix + "b/", prefix + "b0", &dr).status.ok());
    CHECK(dr.deleted() == 1024);
    CHECK_ERROR(raw.Batch(BatchOfPuts(prefix + "b/", 1025)), grpc::StatusCode::INVALID_ARGUMENT,
                v1::Error::TOO_LARGE);
    CHECK_FALSE(Found(raw, prefix + "b/0"));
    CHECK_ERROR(raw.Batch(v1::BatchRequest()), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
  }
  SECTION("a txn branch of 128 ops applies; 129 ops or 129 compares are TOO_LARGE") {
    v1::TxnRequest ok;
    for (int i = 0; i < 128; ++i) *ok.add_success() = PutOp(prefix + "t/" + std::to_string(i), "v");
    v1::TxnResponse resp;
    REQUIRE(raw.Txn(ok, &resp).status.ok());
    CHECK(resp.succeeded());
    CHECK(resp.results_size() == 128);
    v1::TxnRequest too_many = ok;
    *too_many.add_success() = PutOp(prefix + "t/128", "v");
    CHECK_ERROR(raw.Txn(too_many), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    CHECK_FALSE(Found(raw, prefix + "t/128"));
    v1::TxnRequest compares;
    for (int i = 0; i < 129; ++i) {
      v1::Compare* cmp = compares.add_compare();
      cmp->set_key(prefix + "t/" + std::to_string(i));
      cmp->set_target(v1::Compare::EXISTS);
      cmp->set_op(v1::Compare::EQUAL);
      cmp->set_exists(true);
    }
    CHECK_ERROR(raw.Txn(compares), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::TOO_LARGE);
    compares.mutable_compare()->RemoveLast();
    *compares.add_failure() = PutOp(prefix + "t/else", "v");
    REQUIRE(raw.Txn(compares, &resp).status.ok());
    CHECK(resp.succeeded());  // t/0 .. t/127 exist
    CHECK(resp.results_size() == 0);
    CHECK_ERROR(raw.Txn(v1::TxnRequest()), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::DeleteRangeResponse dr;
    REQUIRE(raw.DeleteRange(prefix + "t/", prefix + "t0", &dr).status.ok());
    CHECK(dr.deleted() == 128);
  }
}

TEST_CASE("limits: malformed requests are INVALID_ARGUMENT and change nothing", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string prefix = K(0x22, "bad/");
  Raw raw = LeaderFor(c, prefix);
  REQUIRE(raw.Delete(prefix + "a").status.ok());
  REQUIRE(raw.Put(prefix + "a", "untouched").status.ok());

  SECTION("ranges whose end is not after their start") {
    CHECK_ERROR(raw.DeleteRange(prefix + "b", prefix + "a"), grpc::StatusCode::INVALID_ARGUMENT,
                v1::Error::INVALID_ARGUMENT);
    CHECK_ERROR(raw.DeleteRange(prefix + "a", prefix + "a"), grpc::StatusCode::INVALID_ARGUMENT,
                v1::Error::INVALID_ARGUMENT);
    v1::ScanRequest scan;
    scan.set_start_key(prefix + "b");
    scan.set_end_key(prefix + "a");
    CHECK_ERROR(raw.Scan(scan), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::BatchRequest batch;
    auto* dr = batch.add_ops()->mutable_delete_range();
    dr->set_start_key(prefix + "z");
    dr->set_end_key(prefix + "a");
    CHECK_ERROR(raw.Batch(batch), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    CHECK(Found(raw, prefix + "a"));
  }
  SECTION("compares without operand, target or op, and EXISTS with LESS") {
    auto txn_with = [&](const v1::Compare& cmp) {
      v1::TxnRequest t;
      *t.add_compare() = cmp;
      *t.add_success() = PutOp(prefix + "a", "changed");
      *t.add_failure() = PutOp(prefix + "a", "changed");
      return raw.Txn(t);
    };
    v1::Compare no_operand;
    no_operand.set_key(prefix + "a");
    no_operand.set_target(v1::Compare::VALUE);
    no_operand.set_op(v1::Compare::EQUAL);
    CHECK_ERROR(txn_with(no_operand), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::Compare wrong_operand = no_operand;
    wrong_operand.set_version(1);  // VALUE with a version operand
    CHECK_ERROR(txn_with(wrong_operand), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::Compare no_target = no_operand;
    no_target.set_target(v1::Compare::TARGET_UNSPECIFIED);
    no_target.set_value("untouched");
    CHECK_ERROR(txn_with(no_target), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::Compare no_op = no_operand;
    no_op.set_op(v1::Compare::OP_UNSPECIFIED);
    no_op.set_value("untouched");
    CHECK_ERROR(txn_with(no_op), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::Compare exists_less = no_operand;
    exists_less.set_target(v1::Compare::EXISTS);
    exists_less.set_op(v1::Compare::LESS);
    exists_less.set_exists(true);
    CHECK_ERROR(txn_with(exists_less), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::Compare empty_key = no_operand;
    empty_key.set_key("");
    empty_key.set_value("x");
    CHECK_ERROR(txn_with(empty_key), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::GetResponse got;
    REQUIRE(raw.Get(prefix + "a", {}, &got).status.ok());
    CHECK(got.kv().value() == "untouched");
  }
  SECTION("an op with nothing set, in a batch or a txn branch") {
    v1::BatchRequest batch;
    *batch.add_ops() = PutOp(prefix + "a", "changed");
    batch.add_ops();  // empty
    CHECK_ERROR(raw.Batch(batch), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::TxnRequest txn;
    *txn.add_success() = PutOp(prefix + "a", "changed");
    txn.add_failure();  // empty, in the branch that would not run
    CHECK_ERROR(raw.Txn(txn), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::GetResponse got;
    REQUIRE(raw.Get(prefix + "a", {}, &got).status.ok());
    CHECK(got.kv().value() == "untouched");
    CHECK(got.kv().version() == 1);
  }
  SECTION("a request id of 65 bytes is refused; 64 is fine") {
    v1::RequestHeader h;
    h.set_request_id(std::string(65, 'r'));
    CHECK_ERROR(raw.Put(prefix + "a", "changed", h), grpc::StatusCode::INVALID_ARGUMENT,
                v1::Error::INVALID_ARGUMENT);
    CHECK_ERROR(raw.Get(prefix + "a", h), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::ScanRequest scan;
    *scan.mutable_header() = h;
    CHECK_ERROR(raw.Scan(scan), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::GetResponse got;
    REQUIRE(raw.Get(prefix + "a", {}, &got).status.ok());
    CHECK(got.kv().value() == "untouched");
    h.set_request_id(std::string(64, '\xff') + c.dir());  // unique per run
    h.set_request_id(h.request_id().substr(0, 64));
    CHECK(raw.Put(prefix + "a", "id64", h).status.ok());
    REQUIRE(raw.Get(prefix + "a", {}, &got).status.ok());
    CHECK(got.kv().value() == "id64");
  }
  SECTION("unknown consistency or durability values") {
    v1::RequestHeader h;
    h.set_consistency(static_cast<v1::ReadConsistency>(7));
    CHECK_ERROR(raw.Get(prefix + "a", h), grpc::StatusCode::INVALID_ARGUMENT, v1::Error::INVALID_ARGUMENT);
    v1::RequestHeader d;
    d.set_durability(static_cast<v1::WriteDurability>(9));
    CHECK_ERROR(raw.Put(prefix + "a", "changed", d), grpc::StatusCode::INVALID_ARGUMENT,
                v1::Error::INVALID_ARGUMENT);
  }
}

TEST_CASE("errors: routing answers carry the hints they promise", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::string key = K(0x30, "route/k");      // shard [, 0x40)
  const std::string far_key = K(0x90, "route/k");  // shard [0x80, 0xc0)
  const v1::ShardRoute route = RouteFor(c, key);
  const v1::ShardRoute far_route = RouteFor(c, far_key);
  REQUIRE(route.shard().id() != far_route.shard().id());
  Raw leader = LeaderFor(c, key);

  SECTION("NOT_LEADER from a follower names the leader and its address") {
    const int follower = FollowerIndex(c, key);
    Raw raw(c.Kv(follower));
    Answer put = raw.Put(key, "v");
    CHECK_ERROR(put, grpc::StatusCode::UNAVAILABLE, v1::Error::NOT_LEADER);
    CHECK(put.error.leader().address() == route.leader_address());
    CHECK(put.error.leader().node_id() == route.leader_node_id());
    CHECK(put.error.definite());
    Answer get = raw.Get(key);
    CHECK_ERROR(get, grpc::StatusCode::UNAVAILABLE, v1::Error::NOT_LEADER);
    CHECK(get.error.leader().address() == route.leader_address());
    v1::ScanRequest scan;
    scan.set_start_key(key);
    Answer s = raw.Scan(scan);
    CHECK_ERROR(s, grpc::StatusCode::UNAVAILABLE, v1::Error::NOT_LEADER);
    CHECK(s.error.leader().address() == route.leader_address());
  }
  SECTION("KEY_OUT_OF_RANGE for a batch or txn spanning two shards, with both descriptors") {
    v1::BatchRequest batch;
    *batch.add_ops() = PutOp(key, "a");
    *batch.add_ops() = PutOp(far_key, "b");
    Answer a = leader.Batch(batch);
    CHECK_ERROR(a, grpc::StatusCode::FAILED_PRECONDITION, v1::Error::KEY_OUT_OF_RANGE);
    const std::vector<uint64_t> ids = ShardIds(a.error);
    CHECK(std::find(ids.begin(), ids.end(), route.shard().id()) != ids.end());
    CHECK(std::find(ids.begin(), ids.end(), far_route.shard().id()) != ids.end());
    v1::TxnRequest txn;
    v1::Compare* cmp = txn.add_compare();
    cmp->set_key(far_key);
    cmp->set_target(v1::Compare::VERSION);
    cmp->set_op(v1::Compare::EQUAL);
    cmp->set_version(0);
    *txn.add_success() = PutOp(key, "a");
    Answer t = leader.Txn(txn);
    CHECK_ERROR(t, grpc::StatusCode::FAILED_PRECONDITION, v1::Error::KEY_OUT_OF_RANGE);
    CHECK(t.error.shards_size() >= 2);
    CHECK_FALSE(Found(leader, key));
  }
  SECTION("KEY_OUT_OF_RANGE for a range delete crossing the shard's end") {
    v1::DeleteRangeRequest req;
    req.set_start_key(K(0x30, ""));
    req.set_end_key(K(0x50, ""));
    v1::DeleteRangeResponse resp;
    grpc::Status s = leader.stub()->DeleteRange(Ctx().get(), req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    v1::Error e = Detail(s);
    CHECK(e.code() == v1::Error::KEY_OUT_OF_RANGE);
    CHECK(e.shards_size() == 2);
  }
  SECTION("KEY_OUT_OF_RANGE for an explicit shard id that does not own the key") {
    v1::RequestHeader h;
    h.set_shard_id(far_route.shard().id());
    *h.mutable_epoch() = far_route.shard().epoch();
    Answer a = leader.Put(key, "v", h);
    CHECK_ERROR(a, grpc::StatusCode::FAILED_PRECONDITION, v1::Error::KEY_OUT_OF_RANGE);
    REQUIRE(a.error.shards_size() >= 1);
    CHECK(ShardIds(a.error) == std::vector<uint64_t>{route.shard().id()});
    CHECK(a.error.shards(0).start_key() == route.shard().start_key());
    CHECK(a.error.shards(0).end_key() == route.shard().end_key());
    CHECK_ERROR(leader.Get(key, h), grpc::StatusCode::FAILED_PRECONDITION, v1::Error::KEY_OUT_OF_RANGE);
  }
  SECTION("EPOCH_MISMATCH for a stale epoch, with the fresh descriptor") {
    v1::RequestHeader h;
    h.set_shard_id(route.shard().id());
    h.mutable_epoch()->set_conf_version(route.shard().epoch().conf_version());
    h.mutable_epoch()->set_range_version(route.shard().epoch().range_version() + 5);
    for (Answer a : {leader.Put(key, "v", h), leader.Get(key, h)}) {
      CHECK_ERROR(a, grpc::StatusCode::FAILED_PRECONDITION, v1::Error::EPOCH_MISMATCH);
      REQUIRE(a.error.shards_size() == 1);
      CHECK(a.error.shards(0).id() == route.shard().id());
      CHECK(a.error.shards(0).epoch().conf_version() == route.shard().epoch().conf_version());
      CHECK(a.error.shards(0).epoch().range_version() == route.shard().epoch().range_version());
      CHECK(a.error.shards(0).replicas_size() == 3);
    }
    CHECK_FALSE(Found(leader, key));
    // The right epoch is served.
    v1::RequestHeader good;
    good.set_shard_id(route.shard().id());
    *good.mutable_epoch() = route.shard().epoch();
    CHECK(leader.Get(key, good).status.ok());
  }
  SECTION("SHARD_NOT_FOUND for an unknown shard id and for the meta shard") {
    for (uint64_t id : {uint64_t{9999}, uint64_t{1}}) {
      INFO("shard id " << id);
      v1::RequestHeader h;
      h.set_shard_id(id);
      CHECK_ERROR(leader.Put(key, "v", h), grpc::StatusCode::NOT_FOUND, v1::Error::SHARD_NOT_FOUND);
      CHECK_ERROR(leader.Get(key, h), grpc::StatusCode::NOT_FOUND, v1::Error::SHARD_NOT_FOUND);
    }
  }
  SECTION("DEADLINE_EXCEEDED for a deadline too short to do anything") {
    v1::PutRequest req;
    req.set_key(key);
    req.set_value("late");
    v1::PutResponse resp;
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::microseconds(1));
    grpc::Status s = leader.stub()->Put(ctx.get(), req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}

TEST_CASE("errors: a scan naming an unknown shard is SHARD_NOT_FOUND", "[e2e]") {
  TestCluster& c = SharedCluster();
  Raw leader = LeaderFor(c, K(0x30, "route/k"));
  v1::ScanRequest scan;
  scan.set_start_key(K(0x30, "route/"));
  scan.mutable_header()->set_shard_id(9999);
  Answer a = leader.Scan(scan);
  CHECK_ERROR(a, grpc::StatusCode::NOT_FOUND, v1::Error::SHARD_NOT_FOUND);
}

TEST_CASE("errors: binary keys with NUL and 0xFF bytes round-trip through raw calls", "[e2e]") {
  TestCluster& c = SharedCluster();
  const std::vector<std::string> keys = {std::string("\0", 1), std::string("\0\0", 2),
                                         std::string("\x3f\xff\0\xff", 4), std::string("\xff", 1),
                                         std::string("\xff\0", 2)};
  for (const std::string& key : keys) {
    Raw raw = LeaderFor(c, key);
    const std::string value = std::string("\0\xff", 2) + key;
    REQUIRE(raw.Put(key, value).status.ok());
    v1::GetResponse got;
    REQUIRE(raw.Get(key, {}, &got).status.ok());
    REQUIRE(got.found());
    CHECK(got.kv().key() == key);
    CHECK(got.kv().value() == value);
    v1::ScanRequest scan;
    scan.set_start_key(key);
    scan.set_end_key(key + '\0');
    std::vector<v1::ScanResponse> pages;
    REQUIRE(raw.Scan(scan, &pages).status.ok());
    REQUIRE(pages.size() == 1);
    REQUIRE(pages[0].kvs_size() == 1);
    CHECK(pages[0].kvs(0).key() == key);
    REQUIRE(raw.Delete(key).status.ok());
  }
}

TEST_CASE("errors: a node with a full request queue answers OVERLOADED (definite)", "[e2e]") {
  // One node with room for a single request in flight; many concurrent writes must overflow it.
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--kv-max-pending-proposals", "1"});
  TestCluster c({.nodes = 1, .shards = 4, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  auto kv = c.Kv(0);
  constexpr int kCalls = 200;
  struct Call {
    grpc::ClientContext ctx;
    v1::PutRequest req;
    v1::PutResponse resp;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    call->req.set_key(K(0x10, "over/" + std::to_string(i)));
    call->req.set_value("v");
    calls.push_back(std::move(call));
  }
  for (auto& call : calls) {
    Call* p = call.get();
    kv->async()->Put(&p->ctx, &p->req, &p->resp, [&, p](grpc::Status s) {
      std::lock_guard lock(mu);
      p->status = s;
      ++done;
      cv.notify_one();
    });
  }
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done == kCalls; }));
  }
  int ok = 0, overloaded = 0;
  for (auto& call : calls) {
    if (call->status.ok()) {
      ++ok;
      continue;
    }
    v1::Error e = Detail(call->status);
    INFO("status " << call->status.error_code() << ": " << call->status.error_message());
    CHECK(call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(e.code() == v1::Error::OVERLOADED);
    CHECK(e.retry_after_ms() > 0);
    CHECK(e.definite());
    ++overloaded;
  }
  INFO("ok " << ok << ", overloaded " << overloaded);
  CHECK(ok >= 1);
  CHECK(overloaded >= 1);
  // The refused writes are definite: not applied.
  Raw raw(c.Kv(0));
  for (auto& call : calls) {
    CHECK(Found(raw, call->req.key()) == call->status.ok());
  }
}

}  // namespace claw::e2e
