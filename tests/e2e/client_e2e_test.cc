// The C++ client against a real 3-node, 4-shard cluster (every node a seed): single-key CRUD
// with prev_kv and versions, Batch split by shard, Scan and DeleteRange across the shard
// boundaries 0x40, 0x80 and 0xc0, binary keys, and the client's own argument checks.
#include <algorithm>
#include <map>

#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

using client::Op;

// First bytes on both sides of every shard boundary, and the extremes.
constexpr unsigned char kFirstBytes[] = {0x01, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xfe, 0xff};

// Wipes the whole key space (every shard) and returns how many keys went.
uint64_t Wipe(client::Client& c) {
  auto wiped = c.DeleteRange(std::string(1, '\0'), "");
  REQUIRE(wiped.has_value());
  return *wiped;
}

std::vector<std::string> Keys(const client::ScanResult& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs) out.push_back(kv.key);
  return out;
}

}  // namespace

TEST_CASE("client: put, get and delete keep values, versions and timestamps", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  for (unsigned char first : {0x10, 0x50, 0x90, 0xd0}) {  // one key in each shard
    const std::string key = K(first, "crud/key");
    INFO("key first byte " << int(first));
    REQUIRE(c->Delete(key).has_value());

    auto put1 = c->Put(key, "v1");
    REQUIRE(put1.has_value());
    CHECK(put1->mod_ts > 0);
    auto got = c->Get(key);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->key == key);
    CHECK((*got)->value == "v1");
    CHECK((*got)->version == 1);
    CHECK((*got)->mod_ts == put1->mod_ts);
    CHECK((*got)->create_ts == put1->mod_ts);

    client::CallOptions prev;
    prev.prev_kv = true;
    auto put2 = c->Put(key, "v2", prev);
    REQUIRE(put2.has_value());
    REQUIRE(put2->prev.has_value());
    CHECK(put2->prev->value == "v1");
    CHECK(put2->prev->version == 1);
    CHECK(put2->prev->mod_ts == put1->mod_ts);
    CHECK(put2->mod_ts > put1->mod_ts);
    got = c->Get(key);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "v2");
    CHECK((*got)->version == 2);
    CHECK((*got)->mod_ts == put2->mod_ts);
    CHECK((*got)->create_ts == put1->mod_ts);

    auto del = c->Delete(key, prev);
    REQUIRE(del.has_value());
    CHECK(del->deleted == 1);
    REQUIRE(del->prev.has_value());
    CHECK(del->prev->value == "v2");
    CHECK(del->prev->version == 2);
    got = c->Get(key);
    REQUIRE(got.has_value());
    CHECK_FALSE(got->has_value());
    auto del_again = c->Delete(key, prev);
    REQUIRE(del_again.has_value());
    CHECK(del_again->deleted == 0);

    // Re-created: the version restarts at 1 and create_ts is the new write's.
    auto put3 = c->Put(key, "");
    REQUIRE(put3.has_value());
    got = c->Get(key);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value.empty());
    CHECK((*got)->version == 1);
    CHECK((*got)->create_ts == put3->mod_ts);
    CHECK((*got)->create_ts > put2->mod_ts);
  }
}

TEST_CASE("client: prev is absent when the key did not exist or prev_kv was not asked", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  const std::string key = K(0x10, "crud/prev");
  REQUIRE(c->Delete(key).has_value());
  client::CallOptions prev;
  prev.prev_kv = true;
  auto first = c->Put(key, "v1", prev);  // asked, but there was nothing
  REQUIRE(first.has_value());
  CHECK_FALSE(first->prev.has_value());
  auto second = c->Put(key, "v2");  // not asked
  REQUIRE(second.has_value());
  CHECK_FALSE(second->prev.has_value());
  auto del = c->Delete(key);  // not asked
  REQUIRE(del.has_value());
  CHECK(del->deleted == 1);
  CHECK_FALSE(del->prev.has_value());
  auto del_missing = c->Delete(key, prev);  // asked, but there was nothing
  REQUIRE(del_missing.has_value());
  CHECK_FALSE(del_missing->prev.has_value());
  // The raw answer: the field itself is set.
  v1::PutRequest req;
  req.set_key(key);
  req.set_value("raw");
  req.mutable_header()->set_forward(true);
  v1::PutResponse resp;
  REQUIRE(cluster.Kv(0)->Put(Ctx().get(), req, &resp).ok());
  CHECK_FALSE(resp.has_prev());
}

TEST_CASE("client: binary keys and values with NUL and 0xFF bytes round-trip", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  const std::string value("\0\xff\0v\xfe\n", 6);
  const std::vector<std::string> keys = {std::string("\0", 1), std::string("\0\xff\0bin", 6),
                                         std::string("\x7f\0\xff", 3), std::string("\xff\xff\0", 3),
                                         std::string("\xff\xff\xff\xff", 4)};
  for (const std::string& key : keys) REQUIRE(c->Put(key, value + key).has_value());
  for (const std::string& key : keys) {
    auto got = c->Get(key);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->key == key);
    CHECK((*got)->value == value + key);
  }
  // A prefix that differs only after a NUL is another key.
  auto missing = c->Get(std::string("\0\xff", 2));
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
  // Scans return the bytes unchanged, in bytewise (unsigned) order.
  auto low = c->Scan(std::string("\0", 1), std::string("\0\xff\x01", 3));
  REQUIRE(low.has_value());
  CHECK(Keys(*low) == std::vector<std::string>{keys[0], keys[1]});
  auto high = c->Scan(std::string("\xff\xff", 2), "");
  REQUIRE(high.has_value());
  CHECK(Keys(*high) == std::vector<std::string>{keys[3], keys[4]});
  for (const std::string& key : keys) REQUIRE(c->Delete(key).has_value());
}

TEST_CASE("client: scans, batches and range deletes cross the shard boundaries", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  Wipe(*c);

  // 10 first bytes x 5 keys, written by one batch that the client splits over the 4 shards.
  std::map<std::string, std::string> expected;
  std::vector<Op> ops;
  for (unsigned char first : kFirstBytes) {
    for (int i = 0; i < 5; ++i) {
      const std::string key = K(first, "scan/" + std::to_string(i));
      const std::string value = "value-" + std::to_string(int(first)) + "-" + std::to_string(i);
      expected[key] = value;
      ops.push_back(Op::Put(key, value));
    }
  }
  auto batch = c->Batch(ops);
  REQUIRE(batch.has_value());
  REQUIRE(batch->size() == ops.size());
  for (const client::OpResult& r : *batch) {
    CHECK(r.type == Op::Type::kPut);
    CHECK(r.mod_ts > 0);
  }
  std::vector<std::string> all;
  for (const auto& [k, v] : expected) all.push_back(k);

  SECTION("forward scan of the whole key space, with values and versions") {
    auto r = c->Scan("", "");
    REQUIRE(r.has_value());
    CHECK_FALSE(r->more);
    CHECK(Keys(*r) == all);
    for (const auto& kv : r->kvs) {
      CHECK(kv.value == expected[kv.key]);
      CHECK(kv.version == 1);
      CHECK(kv.mod_ts > 0);
    }
  }
  SECTION("reverse scan of the whole key space") {
    client::ScanOptions o;
    o.reverse = true;
    auto r = c->Scan("", "", o);
    REQUIRE(r.has_value());
    std::vector<std::string> rev(all.rbegin(), all.rend());
    CHECK(Keys(*r) == rev);
  }
  SECTION("a limit that ends inside the second shard, forward and reverse") {
    client::ScanOptions o;
    o.limit = 12;  // shard [, 0x40) holds 10 of them
    auto r = c->Scan("", "", o);
    REQUIRE(r.has_value());
    CHECK(r->more);
    CHECK(Keys(*r) == std::vector<std::string>(all.begin(), all.begin() + 12));
    o.reverse = true;
    auto rr = c->Scan("", "", o);
    REQUIRE(rr.has_value());
    CHECK(rr->more);
    CHECK(Keys(*rr) == std::vector<std::string>(all.rbegin(), all.rbegin() + 12));
  }
  SECTION("keys_only omits values") {
    client::ScanOptions o;
    o.keys_only = true;
    auto r = c->Scan(K(0x3f, ""), K(0x81, ""), o);
    REQUIRE(r.has_value());
    REQUIRE(r->kvs.size() == 25);  // 0x3f 0x40 0x41 0x7f 0x80
    for (const auto& kv : r->kvs) {
      CHECK(kv.value.empty());
      CHECK(kv.version == 1);
    }
    CHECK(r->kvs.front().key == K(0x3f, "scan/0"));
    CHECK(r->kvs.back().key == K(0x80, "scan/4"));
  }
  SECTION("prefix scans, inside a shard and at the end of the key space") {
    auto r = c->Scan(K(0x40, "scan/"), client::PrefixEnd(K(0x40, "scan/")));
    REQUIRE(r.has_value());
    REQUIRE(r->kvs.size() == 5);
    CHECK(r->kvs[0].key == K(0x40, "scan/0"));
    CHECK(r->kvs[4].key == K(0x40, "scan/4"));
    auto top = c->Scan(K(0xff, ""), client::PrefixEnd(K(0xff, "")));
    REQUIRE(client::PrefixEnd(K(0xff, "")).empty());
    REQUIRE(top.has_value());
    CHECK(top->kvs.size() == 5);
    CHECK(top->kvs.front().key == K(0xff, "scan/0"));
    client::ScanOptions o;
    o.reverse = true;
    o.limit = 3;
    auto rev = c->Scan(K(0xbf, "scan/"), client::PrefixEnd(K(0xc0, "scan/")), o);
    REQUIRE(rev.has_value());
    CHECK(Keys(*rev) == std::vector<std::string>{K(0xc0, "scan/4"), K(0xc0, "scan/3"), K(0xc0, "scan/2")});
    CHECK(rev->more);
  }
  SECTION("DeleteRange across three boundaries deletes exactly the keys inside") {
    auto deleted = c->DeleteRange(K(0x3f, ""), K(0xc0, ""));
    REQUIRE(deleted.has_value());
    CHECK(*deleted == 30);  // 0x3f 0x40 0x41 0x7f 0x80 0xbf
    auto r = c->Scan("", "");
    REQUIRE(r.has_value());
    std::vector<std::string> left;
    for (const std::string& k : all) {
      const auto b = static_cast<unsigned char>(k[0]);
      if (b < 0x3f || b >= 0xc0) left.push_back(k);
    }
    CHECK(Keys(*r) == left);
    // Nothing left to delete there.
    auto again = c->DeleteRange(K(0x3f, ""), K(0xc0, ""));
    REQUIRE(again.has_value());
    CHECK(*again == 0);
  }
  SECTION("a batch mixing shards keeps results in op order and each shard's part atomic") {
    std::vector<Op> mixed = {Op::Put(K(0x10, "scan/m"), "a"), Op::Put(K(0xd0, "scan/m"), "b"),
                             Op::Get(K(0x10, "scan/m")),      Op::Delete(K(0x40, "scan/0")),
                             Op::Get(K(0xd0, "scan/m")),      Op::Get(K(0x40, "scan/0")),
                             Op::Get(K(0x90, "scan/none"))};
    auto r = c->Batch(mixed);
    REQUIRE(r.has_value());
    REQUIRE(r->size() == mixed.size());
    CHECK((*r)[0].type == Op::Type::kPut);
    CHECK((*r)[1].type == Op::Type::kPut);
    REQUIRE((*r)[2].kv.has_value());
    CHECK((*r)[2].kv->value == "a");
    CHECK((*r)[3].deleted == 1);
    REQUIRE((*r)[4].kv.has_value());
    CHECK((*r)[4].kv->value == "b");
    CHECK_FALSE((*r)[5].kv.has_value());  // deleted earlier in the same shard's sub-batch
    CHECK_FALSE((*r)[6].kv.has_value());
    // The two puts of the first shard's group and the second's landed in one write each.
    CHECK((*r)[0].mod_ts > 0);
    CHECK((*r)[1].mod_ts > 0);
    auto got = c->Get(K(0xd0, "scan/m"));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->value == "b");
  }
  SECTION("a shard with more keys than a server page (512) scans completely") {
    std::vector<Op> many;
    for (int i = 0; i < 700; ++i) {
      char suffix[16];
      std::snprintf(suffix, sizeof suffix, "big/%04d", i);
      many.push_back(Op::Put(K(0x60, suffix), std::string(100, 'x')));
    }
    REQUIRE(c->Batch(many).has_value());
    auto r = c->Scan(K(0x60, ""), K(0x61, ""));
    REQUIRE(r.has_value());
    REQUIRE(r->kvs.size() == 700);
    CHECK(r->kvs.front().key == K(0x60, "big/0000"));
    CHECK(r->kvs.back().key == K(0x60, "big/0699"));
    CHECK(std::is_sorted(r->kvs.begin(), r->kvs.end(),
                         [](const auto& a, const auto& b) { return a.key < b.key; }));
    client::ScanOptions o;
    o.limit = 600;
    auto limited = c->Scan(K(0x60, ""), K(0x61, ""), o);
    REQUIRE(limited.has_value());
    CHECK(limited->kvs.size() == 600);
    CHECK(limited->kvs.back().key == K(0x60, "big/0599"));
    CHECK(limited->more);
    auto wiped = c->DeleteRange(K(0x60, ""), K(0x61, ""));
    REQUIRE(wiped.has_value());
    CHECK(*wiped == 700);
  }
}

TEST_CASE("client: refuses what it can tell is wrong without asking", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  auto empty = c->Put("", "v");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == client::ErrorCode::kInvalidArgument);
  CHECK(empty.error().definite);
  auto span = c->Txn({}, {Op::Put(K(0x10, "span"), "a"), Op::Put(K(0x90, "span"), "b")}, {});
  REQUIRE_FALSE(span.has_value());
  CHECK(span.error().code == client::ErrorCode::kInvalidArgument);
  auto too_big = c->Put(K(0x10, "big"), std::string((1 << 20) + 1, 'x'));
  REQUIRE_FALSE(too_big.has_value());
  CHECK(too_big.error().code == client::ErrorCode::kTooLarge);
  CHECK(too_big.error().definite);
  auto got = c->Get(K(0x10, "big"));
  REQUIRE(got.has_value());
  CHECK_FALSE(got->has_value());
}

}  // namespace claw::e2e
