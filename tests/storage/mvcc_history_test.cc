// The MVCC version scan (ForEachVersion): every version in a timestamp window, tombstones
// included, keys ascending and newest first within a key; range bounds; the base version below
// the window; the reader's snapshot; and what is left after GC (the history a watch may replay).
#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <vector>

#include "storage/engine.h"
#include "storage/mvcc.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

class HistoryDb {
 public:
  HistoryDb() {
    StorageOptions o;
    o.dir = dir_.path() + "/db";
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 1 << 20;
    auto opened = Engine::Open(o);
    REQUIRE(opened.has_value());
    engine_ = std::move(*opened);
  }
  Engine& engine() { return *engine_; }
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

 private:
  test::TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

// (key, ts, "put:value" | "del", base)
using Row = std::tuple<std::string, uint64_t, std::string, bool>;

std::vector<Row> Versions(Engine& engine, VersionScanRequest request, size_t stop_after = 0) {
  MvccReader reader(engine);
  std::vector<Row> out;
  auto r = ForEachVersion(reader, request, [&](const MvccVersion& v) {
    out.emplace_back(std::string(v.key), v.ts.value(),
                     v.type == MvccValueType::kPut ? "put:" + std::string(v.payload) : "del", v.base);
    return stop_after == 0 || out.size() < stop_after;
  });
  REQUIRE(r.has_value());
  return out;
}

TEST_CASE("mvcc history: every version in the window, tombstones included, in storage order",
          "[storage][watch]") {
  HistoryDb db;
  db.Put("a", 10, "a1");
  db.Put("a", 20, "a2");
  db.Delete("a", 30);
  db.Put("a", 40, "a3");
  db.Put("b", 15, "b1");
  db.Put(std::string("b\x00x", 3), 25, "bx");  // a key that extends "b" with 0x00
  db.Delete("c", 35);
  db.Put("d", 5, "d1");

  CHECK(Versions(db.engine(), {}) ==
        std::vector<Row>{{"a", 40, "put:a3", false}, {"a", 30, "del", false}, {"a", 20, "put:a2", false},
                         {"a", 10, "put:a1", false}, {"b", 15, "put:b1", false},
                         {std::string("b\x00x", 3), 25, "put:bx", false}, {"c", 35, "del", false},
                         {"d", 5, "put:d1", false}});

  SECTION("window (after, upto]") {
    CHECK(Versions(db.engine(), {.after = Timestamp(20), .upto = Timestamp(35)}) ==
          std::vector<Row>{{"a", 30, "del", false}, {std::string("b\x00x", 3), 25, "put:bx", false},
                           {"c", 35, "del", false}});
  }
  SECTION("with the base version below the window, only for keys with events") {
    CHECK(Versions(db.engine(), {.after = Timestamp(20), .upto = Timestamp(35), .with_base = true}) ==
          std::vector<Row>{{"a", 30, "del", false}, {"a", 20, "put:a2", true},
                           {std::string("b\x00x", 3), 25, "put:bx", false}, {"c", 35, "del", false}});
  }
  SECTION("range bounds: start inclusive, end exclusive") {
    CHECK(Versions(db.engine(), {.start = "b", .end = "c"}) ==
          std::vector<Row>{{"b", 15, "put:b1", false}, {std::string("b\x00x", 3), 25, "put:bx", false}});
    CHECK(Versions(db.engine(), {.start = "c"}) ==
          std::vector<Row>{{"c", 35, "del", false}, {"d", 5, "put:d1", false}});
  }
  SECTION("the visitor stops the scan") {
    CHECK(Versions(db.engine(), {}, 2).size() == 2);
  }
  SECTION("a bad range or window is refused") {
    MvccReader reader(db.engine());
    auto noop = [](const MvccVersion&) { return true; };
    CHECK(ForEachVersion(reader, {.start = "b", .end = "a"}, noop).error().code ==
          StorageErrorCode::kInvalidArgument);
    CHECK(ForEachVersion(reader, {.after = Timestamp(5), .upto = Timestamp(4)}, noop).error().code ==
          StorageErrorCode::kInvalidArgument);
  }
}

TEST_CASE("mvcc history: reads the reader's snapshot, not later writes", "[storage][watch]") {
  HistoryDb db;
  db.Put("k", 10, "v1");
  MvccReader reader(db.engine());
  db.Put("k", 20, "v2");
  std::vector<uint64_t> seen;
  REQUIRE(ForEachVersion(reader, {}, [&](const MvccVersion& v) {
            seen.push_back(v.ts.value());
            return true;
          }).has_value());
  CHECK(seen == std::vector<uint64_t>{10});
}

TEST_CASE("mvcc history: after GC at a safe point, the window above it is complete", "[storage][watch]") {
  HistoryDb db;
  // Many versions of one key, a deleted key, and a key older than the safe point.
  for (uint64_t ts = 10; ts <= 100; ts += 10) db.Put("k", ts, "v" + std::to_string(ts));
  db.Put("gone", 5, "x");
  db.Delete("gone", 15);
  db.Put("old", 3, "o");
  const auto before = Versions(db.engine(), {.after = Timestamp(45), .with_base = true});
  REQUIRE(MvccGc(db.engine(), "", "", Timestamp(45)).has_value());
  // Everything above the safe point, and the base of the first event above it, survive.
  CHECK(Versions(db.engine(), {.after = Timestamp(45), .with_base = true}) == before);
  CHECK(before.size() == 7);  // 100..50, base 40
  // Below it, only the newest put at or below the safe point is left of each key.
  CHECK(Versions(db.engine(), {.upto = Timestamp(45)}) ==
        std::vector<Row>{{"k", 40, "put:v40", false}, {"old", 3, "put:o", false}});
}

}  // namespace
}  // namespace claw::storage
