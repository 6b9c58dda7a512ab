// The consistency check's hash (storage/state_hash.h) over a real RocksDB: equal live state gives
// equal hashes whatever the history (extra versions, tombstones), and any changed key or value
// byte (the stored value holds the state machine's version and timestamps: tests/server), an extra or a missing key, or different range bounds give a different one; the snapshot
// fixes the state hashed.
#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>

#include "storage/engine.h"
#include "storage/mvcc.h"
#include "storage/state_hash.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

class HashDb {
 public:
  HashDb() {
    StorageOptions o;
    o.dir = dir_.path() + "/db";
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 1 << 20;
    auto opened = Engine::Open(o);
    REQUIRE(opened.has_value());
    engine_ = std::move(*opened);
  }
  void Put(const std::string& key, uint64_t ts, const std::string& value) {
    rocksdb::WriteBatch batch;
    REQUIRE(MvccWriter(*engine_, batch).Put(key, Timestamp(ts), value).has_value());
    REQUIRE(engine_->Write(batch, Durability::kNoSync).has_value());
  }
  void Delete(const std::string& key, uint64_t ts) {
    rocksdb::WriteBatch batch;
    REQUIRE(MvccWriter(*engine_, batch).Delete(key, Timestamp(ts)).has_value());
    REQUIRE(engine_->Write(batch, Durability::kNoSync).has_value());
  }
  RangeHash Hash(std::string_view start = "", std::string_view end = "") {
    ReadSnapshot snapshot(*engine_);
    auto h = HashRange(*engine_, snapshot, start, end);
    REQUIRE(h.has_value());
    return *h;
  }
  Engine& engine() { return *engine_; }

 private:
  test::TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

// Three keys with a NUL byte, a 0xFF byte and an empty value among them.
void Fill(HashDb& db) {
  db.Put("a", 10, "one");
  db.Put(std::string("b\0c", 3), 11, "two");
  db.Put("c\xff", 12, "");
}

TEST_CASE("StateHasher: field boundaries, order and every byte count", "[storage]") {
  auto digest = [](std::initializer_list<std::string_view> fields) {
    StateHasher h;
    for (std::string_view f : fields) h.Add(f);
    return h.HexDigest();
  };
  CHECK(digest({"ab", "c"}) != digest({"a", "bc"}));
  CHECK(digest({"a", "b"}) != digest({"b", "a"}));
  CHECK(digest({""}) != digest({}));
  CHECK(digest({std::string_view("\0", 1)}) != digest({""}));
  CHECK(digest({"same"}) == digest({"same"}));
  CHECK(digest({}).size() == 32);
  // One flipped bit anywhere in a long field changes the hash; no two of these collide.
  const std::string base(100, 'x');
  std::set<std::string> seen{digest({base})};
  for (size_t i = 0; i < base.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string changed = base;
      changed[i] = static_cast<char>(changed[i] ^ (1 << bit));
      CHECK(seen.insert(digest({changed})).second);
    }
  }
}

TEST_CASE("HashRange: same live state, same hash, whatever the history", "[storage]") {
  HashDb a, b;
  Fill(a);
  // b reaches the same live state through older versions and a deleted key.
  b.Put("a", 5, "older");
  b.Put("gone", 6, "x");
  b.Delete("gone", 9);
  Fill(b);
  const RangeHash ha = a.Hash(), hb = b.Hash();
  CHECK(ha.hash == hb.hash);
  CHECK(ha.keys == 3);
  CHECK(hb.keys == 3);
  CHECK(a.Hash().hash == ha.hash);  // stable
}

TEST_CASE("HashRange: a changed byte, an extra or a missing key changes the hash", "[storage]") {
  HashDb base;
  Fill(base);
  const std::string expected = base.Hash().hash;

  SECTION("a value byte") {
    HashDb d;
    Fill(d);
    d.Put("a", 20, "onE");
    CHECK(d.Hash().hash != expected);
  }
  SECTION("a key byte") {
    HashDb d;
    d.Put("a", 10, "one");
    d.Put(std::string("b\0d", 3), 11, "two");
    d.Put("c\xff", 12, "");
    CHECK(d.Hash().hash != expected);
  }
  SECTION("an extra key") {
    HashDb d;
    Fill(d);
    d.Put("d", 13, "extra");
    const RangeHash h = d.Hash();
    CHECK(h.hash != expected);
    CHECK(h.keys == 4);
  }
  SECTION("a missing key") {
    HashDb d;
    Fill(d);
    d.Delete("a", 13);
    const RangeHash h = d.Hash();
    CHECK(h.hash != expected);
    CHECK(h.keys == 2);
  }
  SECTION("an empty value moved to another key") {
    HashDb d;
    d.Put("a", 10, "one");
    d.Put(std::string("b\0c", 3), 11, "");
    d.Put("c\xff", 12, "two");
    CHECK(d.Hash().hash != expected);
  }
}

TEST_CASE("HashRange: only the range counts, and the bounds are part of the hash", "[storage]") {
  HashDb a, b;
  Fill(a);
  Fill(b);
  b.Put("zz", 13, "outside [a, c)");
  b.Put("0", 14, "outside too");
  CHECK(a.Hash("a", "c").hash == b.Hash("a", "c").hash);
  CHECK(a.Hash("a", "c").keys == 2);
  CHECK(a.Hash("a", "c").hash != a.Hash("a", "d").hash);  // same keys, other bounds
  CHECK(a.Hash().hash != b.Hash().hash);
}

TEST_CASE("HashRange: hashes the snapshot, not later writes", "[storage]") {
  HashDb a;
  Fill(a);
  const std::string before = a.Hash().hash;
  ReadSnapshot snapshot(a.engine());
  a.Put("later", 30, "not in the snapshot");
  auto h = HashRange(a.engine(), snapshot, "", "");
  REQUIRE(h.has_value());
  CHECK(h->hash == before);
  CHECK(a.Hash().hash != before);
}

TEST_CASE("HashRange: an empty range hashes to a fixed value; a bad range is an error", "[storage]") {
  HashDb a, b;
  CHECK(a.Hash().hash == b.Hash().hash);
  CHECK(a.Hash().keys == 0);
  ReadSnapshot snapshot(a.engine());
  auto bad = HashRange(a.engine(), snapshot, "b", "a");
  CHECK_FALSE(bad.has_value());
}

}  // namespace
}  // namespace claw::storage
