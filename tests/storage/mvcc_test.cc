// MVCC over a real RocksDB: encoding, visibility at timestamps, forward and reverse scans with
// limits and resume keys (keys with 0x00 and 0xFF bytes, the empty key, many versions), range
// bounds, DeleteRange, GC (reads at or above the safe point unchanged) and corruption detection,
// then a randomized comparison against an in-memory model. Seeds are fixed: failures reproduce.
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "raft/rand.h"
#include "storage/engine.h"
#include "storage/mvcc.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

using Ts = Timestamp;
constexpr ScanDirection kFwd = ScanDirection::kForward;
constexpr ScanDirection kRev = ScanDirection::kReverse;

// Deterministic, so failures reproduce.
using Rng = raft::SplitMix64;

// Keys rich in the bytes that matter to the encoding: 0x00, 0x01, 0x02, 0xFF, and the empty key.
std::string RandomKey(Rng& rng) {
  static constexpr char kAlphabet[] = {'\0', '\x01', '\x02', '\xff', 'a'};
  std::string key(rng.Below(4), '\0');
  for (char& c : key) c = kAlphabet[rng.Below(sizeof(kAlphabet))];
  return key;
}

class TestDb {
 public:
  TestDb() {
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
    REQUIRE(MvccWriter(*engine_, batch).Put(key, Ts(ts), value).has_value());
    REQUIRE(engine_->Write(batch, Durability::kNoSync).has_value());
  }
  void Delete(const std::string& key, uint64_t ts) {
    rocksdb::WriteBatch batch;
    REQUIRE(MvccWriter(*engine_, batch).Delete(key, Ts(ts)).has_value());
    REQUIRE(engine_->Write(batch, Durability::kNoSync).has_value());
  }
  uint64_t DeleteRange(const std::string& start, const std::string& end, uint64_t ts) {
    rocksdb::WriteBatch batch;
    auto n = MvccWriter(*engine_, batch).DeleteRange(start, end, Ts(ts));
    REQUIRE(n.has_value());
    REQUIRE(engine_->Write(batch, Durability::kNoSync).has_value());
    return *n;
  }
  void RawPut(const std::string& key, const std::string& value) {
    REQUIRE(engine_->db()->Put(rocksdb::WriteOptions(), engine_->data_cf(), key, value).ok());
  }
  void Flush() { REQUIRE(engine_->db()->Flush(rocksdb::FlushOptions(), engine_->data_cf()).ok()); }

  std::optional<std::string> Get(const std::string& key, uint64_t ts) {
    auto got = MvccReader(*engine_).Get(key, Ts(ts));
    REQUIRE(got.has_value());
    return *got;
  }
  ScanResult Scan(const std::string& start, const std::string& end, uint64_t ts, size_t limit,
                  ScanDirection direction) {
    auto got = MvccReader(*engine_).Scan(ScanRequest{
        .start = start, .end = end, .ts = Ts(ts), .limit = limit, .direction = direction});
    REQUIRE(got.has_value());
    return *got;
  }
  // Every page of a scan with `limit`, following resume keys, concatenated.
  std::vector<KeyValue> ScanPaged(std::string start, std::string end, uint64_t ts, size_t limit,
                                  ScanDirection direction) {
    std::vector<KeyValue> all;
    for (int pages = 0; pages < 10'000; ++pages) {
      ScanResult page = Scan(start, end, ts, limit, direction);
      CHECK(page.kvs.size() <= limit);
      all.insert(all.end(), page.kvs.begin(), page.kvs.end());
      if (!page.resume_key) return all;
      CHECK(page.kvs.size() == limit);  // only a full page resumes
      (direction == kFwd ? start : end) = *page.resume_key;
    }
    FAIL("scan does not terminate");
    return all;
  }

 private:
  test::TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

// Model of the versioned store: key -> ts -> value (nullopt = tombstone).
class Model {
 public:
  void Put(const std::string& key, uint64_t ts, std::optional<std::string> value) {
    data_[key][ts] = std::move(value);
  }
  std::optional<std::string> Get(const std::string& key, uint64_t ts) const {
    auto k = data_.find(key);
    if (k == data_.end()) return std::nullopt;
    auto v = k->second.upper_bound(ts);
    if (v == k->second.begin()) return std::nullopt;
    return std::prev(v)->second;
  }
  std::vector<KeyValue> Scan(const std::string& start, const std::string& end, uint64_t ts,
                             ScanDirection direction) const {
    std::vector<KeyValue> out;
    for (const auto& [key, versions] : data_) {
      if (key < start || (!end.empty() && key >= end)) continue;
      if (auto v = Get(key, ts)) out.push_back(KeyValue{key, *v});
    }
    if (direction == kRev) std::reverse(out.begin(), out.end());
    return out;
  }
  // MVCC DeleteRange: a tombstone at ts for each key live at ts.
  uint64_t DeleteRange(const std::string& start, const std::string& end, uint64_t ts) {
    uint64_t n = 0;
    for (const KeyValue& kv : Scan(start, end, ts, kFwd)) {
      data_[kv.key][ts] = std::nullopt;
      ++n;
    }
    return n;
  }
  // GC rules of mvcc.h; returns how many versions were removed.
  uint64_t Gc(uint64_t safe_point) {
    uint64_t removed = 0;
    for (auto& [key, versions] : data_) {
      auto visible = versions.upper_bound(safe_point);
      if (visible == versions.begin()) continue;
      --visible;
      if (visible->second.has_value()) {
        removed += uint64_t(std::distance(versions.begin(), visible));
        versions.erase(versions.begin(), visible);
      } else {
        removed += uint64_t(std::distance(versions.begin(), visible)) + 1;
        versions.erase(versions.begin(), std::next(visible));
      }
    }
    return removed;
  }
  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    for (const auto& [key, versions] : data_) keys.push_back(key);
    return keys;
  }

 private:
  std::map<std::string, std::map<uint64_t, std::optional<std::string>>> data_;
};

std::vector<KeyValue> Kvs(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  std::vector<KeyValue> out;
  for (const auto& [k, v] : pairs) out.push_back(KeyValue{k, v});
  return out;
}

using std::string_literals::operator""s;

TEST_CASE("mvcc: key and value encoding", "[storage]") {
  // Same user key: newer versions sort first. Different user keys: user-key order wins.
  CHECK(EncodeMvccKey("k", Ts(20)) < EncodeMvccKey("k", Ts(10)));
  CHECK(EncodeMvccKey("k", Ts::Max()) < EncodeMvccKey("k", Ts(1)));
  CHECK(EncodeMvccKey("k", Ts(1)) < EncodeMvccKey("k\0"s, Ts::Max()));
  CHECK(EncodeMvccKey("", Ts(1)) < EncodeMvccKey("\0"s, Ts::Max()));
  CHECK(EncodeMvccKey("a\xff", Ts(1)) < EncodeMvccKey("b", Ts::Max()));

  for (const std::string& key : {""s, "\0"s, "a\0\xff"s, "\xff\xff"s, "plain"s}) {
    for (uint64_t ts : {uint64_t{1}, uint64_t{12345}, Ts::Max().value()}) {
      auto decoded = DecodeMvccKey(EncodeMvccKey(key, Ts(ts)));
      REQUIRE(decoded.has_value());
      CHECK(decoded->user_key == key);
      CHECK(decoded->ts == Ts(ts));
    }
  }

  const std::string stored = EncodeMvccPut("v\0x"s);  // the decoded payload points into it
  auto put = DecodeMvccValue("k", stored);
  REQUIRE(put.has_value());
  CHECK(put->type == MvccValueType::kPut);
  CHECK(put->payload == "v\0x"s);
  const std::string stored_empty = EncodeMvccPut("");
  auto empty_put = DecodeMvccValue("k", stored_empty);
  REQUIRE(empty_put.has_value());
  CHECK(empty_put->type == MvccValueType::kPut);
  CHECK(empty_put->payload.empty());
  auto tombstone = DecodeMvccValue("k", EncodeMvccTombstone());
  REQUIRE(tombstone.has_value());
  CHECK(tombstone->type == MvccValueType::kTombstone);

  for (const std::string& bad : {""s, "\x03"s, "\x00v"s, "\x02x"s}) {
    auto decoded = DecodeMvccValue("k\x01", bad);
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().code == StorageErrorCode::kCorruption);
    CHECK_THAT(decoded.error().message, Catch::Contains("6b01"));
  }
  for (const std::string& bad :
       {""s, "k"s, "k\0\x01"s, "k\0\x02\0\0\0\0\0\0\0\x01"s, "k\0\x01\0\0\0\0\0\0\0"s,
        EncodeMvccKey("k", Ts(5)) + "x", EncodeMvccKey("k", Ts(0))}) {
    auto decoded = DecodeMvccKey(bad);
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().code == StorageErrorCode::kCorruption);
  }
}

TEST_CASE("mvcc: Get sees the newest version at or below the read timestamp", "[storage]") {
  TestDb db;
  db.Put("k", 10, "v10");
  db.Put("k", 20, "v20");
  db.Delete("k", 30);
  db.Put("k", 40, "v40");
  db.Put("k", 50, "");  // an empty value is a value, not a delete
  // Neighbours that must not leak into k's answers.
  db.Put("j", 5, "j5");
  db.Put("k\0"s, 5, "k0");
  db.Put("ka", 5, "ka");
  db.Put("", 5, "empty");

  const std::vector<std::pair<uint64_t, std::optional<std::string>>> expected = {
      {0, std::nullopt},  {1, std::nullopt}, {9, std::nullopt},
      {10, "v10"},        {11, "v10"},       {19, "v10"},
      {20, "v20"},        {29, "v20"},       {30, std::nullopt},
      {39, std::nullopt}, {40, "v40"},       {49, "v40"},
      {50, ""},           {51, ""}};
  for (const auto& [ts, value] : expected) {
    INFO("ts " << ts);
    CHECK(db.Get("k", ts) == value);
  }
  CHECK(db.Get("k", Ts::Max().value()) == "");
  CHECK(db.Get("k\0"s, 4) == std::nullopt);
  CHECK(db.Get("k\0"s, 5) == "k0");
  CHECK(db.Get("", 100) == "empty");
  CHECK(db.Get("\0"s, 100) == std::nullopt);
  CHECK(db.Get("kb", 100) == std::nullopt);
  CHECK(db.Get("zzz", 100) == std::nullopt);

  SECTION("the same after a flush to an SST") {
    db.Flush();
    for (const auto& [ts, value] : expected) CHECK(db.Get("k", ts) == value);
  }
}

TEST_CASE("mvcc: a reader sees one snapshot, its own or the caller's", "[storage]") {
  TestDb db;
  db.Put("a", 10, "old");
  MvccReader own(db.engine());
  const rocksdb::Snapshot* snapshot = db.engine().db()->GetSnapshot();
  {
    MvccReader borrowed(db.engine(), snapshot);
    db.Put("a", 20, "new");
    db.Put("b", 5, "b");
    for (const MvccReader* reader : {&own, &borrowed}) {
      auto a = reader->Get("a", Ts(100));
      auto b = reader->Get("b", Ts(100));
      REQUIRE(a.has_value());
      REQUIRE(b.has_value());
      CHECK(*a == "old");
      CHECK(*b == std::nullopt);
      auto scanned = reader->Scan(ScanRequest{.start = "", .end = "", .ts = Ts(100)});
      REQUIRE(scanned.has_value());
      CHECK(scanned->kvs == Kvs({{"a", "old"}}));
    }
  }
  db.engine().db()->ReleaseSnapshot(snapshot);
  CHECK(db.Get("a", 100) == "new");
}

TEST_CASE("mvcc: Put and Delete refuse timestamp zero", "[storage]") {
  TestDb db;
  rocksdb::WriteBatch batch;
  MvccWriter writer(db.engine(), batch);
  CHECK(writer.Put("k", Ts(), "v").error().code == StorageErrorCode::kInvalidArgument);
  CHECK(writer.Delete("k", Ts()).error().code == StorageErrorCode::kInvalidArgument);
  CHECK(writer.DeleteRange("a", "b", Ts()).error().code == StorageErrorCode::kInvalidArgument);
  CHECK(batch.Count() == 0);
}

// A fixed history over awkward keys, shared by the scan tests.
struct ScanFixture {
  TestDb db;
  Model model;
  const std::vector<std::string> keys = {""s,     "\0"s,   "\0\0"s,   "\0\x01"s,  "\0\xff"s,
                                         "\x01"s, "a"s,    "a\0"s,    "a\0b"s,    "a\x01"s,
                                         "ab"s,   "\xff"s, "\xff\0"s, "\xff\xff"s};

  void Put(const std::string& k, uint64_t ts, const std::string& v) {
    db.Put(k, ts, v);
    model.Put(k, ts, v);
  }
  void Delete(const std::string& k, uint64_t ts) {
    db.Delete(k, ts);
    model.Put(k, ts, std::nullopt);
  }

  ScanFixture() {
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string& k = keys[i];
      const uint64_t base = 10 * (i % 4 + 1);  // first versions at 10, 20, 30, 40
      Put(k, base, "v" + std::to_string(i) + "@" + std::to_string(base));
      if (i % 3 == 0) Delete(k, base + 25);
      if (i % 3 == 1) Put(k, base + 25, "v" + std::to_string(i) + "@" + std::to_string(base + 25));
      if (i % 5 == 0) Put(k, base + 50, "again" + std::to_string(i));
    }
    // One key with many versions, well past the step-before-seek bound, to exercise the seeks.
    for (uint64_t ts = 1; ts <= 60; ++ts) {
      if (ts % 7 == 0) {
        Delete("a\x01"s, ts);
      } else {
        Put("a\x01"s, ts, "many@" + std::to_string(ts));
      }
    }
  }
};

TEST_CASE("mvcc: scans forward and reverse match the model at every timestamp", "[storage]") {
  ScanFixture f;
  for (int flushed = 0; flushed < 2; ++flushed) {
    if (flushed == 1) f.db.Flush();
    for (uint64_t ts = 0; ts <= 110; ts += (ts < 70 ? 1 : 13)) {
      INFO("ts " << ts << (flushed ? " after flush" : ""));
      for (ScanDirection dir : {kFwd, kRev}) {
        ScanResult all = f.db.Scan("", "", ts, 0, dir);
        CHECK(all.kvs == f.model.Scan("", "", ts, dir));
        CHECK_FALSE(all.resume_key.has_value());
      }
      for (const std::string& k : f.keys) CHECK(f.db.Get(k, ts) == f.model.Get(k, ts));
    }
  }
}

TEST_CASE("mvcc: paged scans with limits and resume keys cover the range once", "[storage]") {
  ScanFixture f;
  for (uint64_t ts : {5, 10, 30, 36, 45, 56, 80, 200}) {
    for (ScanDirection dir : {kFwd, kRev}) {
      const std::vector<KeyValue> expected = f.model.Scan("", "", ts, dir);
      for (size_t limit = 1; limit <= expected.size() + 1; ++limit) {
        INFO("ts " << ts << " limit " << limit << " reverse " << (dir == kRev));
        CHECK(f.db.ScanPaged("", "", ts, limit, dir) == expected);
      }
    }
  }

  // Resume keys precisely: forward, the next key to read; reverse, the last key returned.
  ScanResult fwd = f.db.Scan("", "", 200, 2, kFwd);
  const std::vector<KeyValue> all = f.model.Scan("", "", 200, kFwd);
  REQUIRE(all.size() > 3);
  CHECK(fwd.kvs == std::vector<KeyValue>(all.begin(), all.begin() + 2));
  CHECK(fwd.resume_key == all[2].key);
  ScanResult rev = f.db.Scan("", "", 200, 2, kRev);
  CHECK(rev.kvs == std::vector<KeyValue>({all[all.size() - 1], all[all.size() - 2]}));
  CHECK(rev.resume_key == all[all.size() - 2].key);
  // A limit equal to the number of live keys: no resume key (nothing is left).
  CHECK_FALSE(f.db.Scan("", "", 200, all.size(), kFwd).resume_key.has_value());
  CHECK_FALSE(f.db.Scan("", "", 200, all.size(), kRev).resume_key.has_value());
}

TEST_CASE("mvcc: scan bounds are [start, end) over keys with 0x00 and 0xFF", "[storage]") {
  ScanFixture f;
  std::vector<std::string> bounds = f.keys;
  for (const std::string& extra : {"\0\0\0"s, "\0\x02"s, "a\0a"s, "b"s, "\xff\xff\xff"s, "\x7f"s}) {
    bounds.push_back(extra);
  }
  bounds.push_back("");  // as end: unbounded
  for (uint64_t ts : {12, 40, 70, 200}) {
    for (const std::string& start : bounds) {
      for (const std::string& end : bounds) {
        if (!end.empty() && end < start) continue;
        for (ScanDirection dir : {kFwd, kRev}) {
          INFO("ts " << ts << " reverse " << (dir == kRev));
          const std::vector<KeyValue> expected = f.model.Scan(start, end, ts, dir);
          CHECK(f.db.Scan(start, end, ts, 0, dir).kvs == expected);
          CHECK(f.db.ScanPaged(start, end, ts, 2, dir) == expected);
        }
      }
    }
  }
  auto bad = MvccReader(f.db.engine()).Scan(ScanRequest{.start = "b", .end = "a", .ts = Ts(9)});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == StorageErrorCode::kInvalidArgument);
  CHECK(f.db.Scan("a", "a", 200, 0, kFwd).kvs.empty());
  CHECK(f.db.Scan("a", "a", 200, 0, kRev).kvs.empty());
}

TEST_CASE("mvcc: many versions per key, read at every timestamp, both directions", "[storage]") {
  TestDb db;
  Model model;
  // Neighbours with many versions too, so the seek paths cross user keys in both directions.
  for (const std::string& k : {"m"s, "m\0"s, "n"s}) {
    for (uint64_t ts = 3; ts <= 120; ts += 3) {
      const bool tombstone = (ts / 3) % 5 == 0;
      if (tombstone) {
        db.Delete(k, ts);
        model.Put(k, ts, std::nullopt);
      } else {
        db.Put(k, ts, k + std::to_string(ts));
        model.Put(k, ts, k + std::to_string(ts));
      }
    }
  }
  for (uint64_t ts = 0; ts <= 125; ++ts) {
    INFO("ts " << ts);
    for (ScanDirection dir : {kFwd, kRev}) {
      CHECK(db.Scan("", "", ts, 0, dir).kvs == model.Scan("", "", ts, dir));
      CHECK(db.ScanPaged("", "", ts, 1, dir) == model.Scan("", "", ts, dir));
    }
  }
}

TEST_CASE("mvcc: DeleteRange tombstones the keys live at ts and nothing else", "[storage]") {
  TestDb db;
  db.Put("a", 10, "a");
  db.Put("b", 10, "b");
  db.Put("b\0"s, 10, "b0");
  db.Put("c", 10, "c");
  db.Delete("c", 15);    // already deleted: gets no new tombstone
  db.Put("d", 30, "d");  // written after the delete's ts: not live at 20
  db.Put("e", 10, "e");

  CHECK(db.DeleteRange("b", "e", 20) == 2);  // b and b\0
  CHECK(db.Get("a", 25) == "a");
  CHECK(db.Get("b", 25) == std::nullopt);
  CHECK(db.Get("b\0"s, 25) == std::nullopt);
  CHECK(db.Get("d", 35) == "d");
  CHECK(db.Get("e", 25) == "e");
  // History before the delete is intact.
  CHECK(db.Get("b", 19) == "b");
  CHECK(db.Scan("", "", 19, 0, kFwd).kvs ==
        Kvs({{"a", "a"}, {"b", "b"}, {"b\0"s, "b0"}, {"e", "e"}}));
  CHECK(db.Scan("", "", 40, 0, kFwd).kvs == Kvs({{"a", "a"}, {"d", "d"}, {"e", "e"}}));

  // Re-put after the range delete.
  db.Put("b", 50, "b2");
  CHECK(db.Get("b", 50) == "b2");
  CHECK(db.Get("b", 49) == std::nullopt);

  // Unbounded end, and an empty range.
  CHECK(db.DeleteRange("", "", 60) == 4);  // a, b, d, e
  CHECK(db.Scan("", "", 60, 0, kFwd).kvs.empty());
  CHECK(db.DeleteRange("", "", 70) == 0);
}

TEST_CASE("mvcc: GC keeps what reads at or above the safe point see", "[storage]") {
  TestDb db;
  db.Put("a", 10, "a10");
  db.Put("a", 20, "a20");
  db.Put("a", 40, "a40");  // above the safe point
  db.Put("b", 10, "b10");
  db.Delete("b", 20);  // newest <= safe point is a tombstone: removed with all older
  db.Put("c", 10, "c10");
  db.Delete("c", 20);
  db.Put("c", 35, "c35");  // above the safe point: kept; the tombstone under it still goes
  db.Put("d", 31, "d31");  // only versions above the safe point
  db.Put("e", 5, "e5");    // a single old version: kept

  auto stats = MvccGc(db.engine(), "", "", Ts(30));
  REQUIRE(stats.has_value());
  CHECK(stats->keys_scanned == 5);
  CHECK(stats->versions_scanned == 10);
  CHECK(stats->versions_removed == 5);  // a@10, b@10, b@20, c@10, c@20
  CHECK(stats->bytes_removed > 0);

  // What reads at >= 30 see is unchanged.
  CHECK(db.Get("a", 30) == "a20");
  CHECK(db.Get("a", 40) == "a40");
  CHECK(db.Get("b", 30) == std::nullopt);
  CHECK(db.Get("c", 30) == std::nullopt);
  CHECK(db.Get("c", 35) == "c35");
  CHECK(db.Get("d", 31) == "d31");
  CHECK(db.Get("e", 30) == "e5");
  // Older history is gone.
  CHECK(db.Get("a", 15) == std::nullopt);
  CHECK(db.Get("b", 15) == std::nullopt);
  // Versions actually left in the column family.
  std::unique_ptr<rocksdb::Iterator> it(
      db.engine().db()->NewIterator(rocksdb::ReadOptions(), db.engine().data_cf()));
  std::vector<std::string> left;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = DecodeMvccKey(it->key().ToString());
    REQUIRE(key.has_value());
    left.push_back(key->user_key + "@" + std::to_string(key->ts.value()));
  }
  CHECK(left == std::vector<std::string>({"a@40", "a@20", "c@35", "d@31", "e@5"}));

  // A second pass finds nothing; a range restricts GC.
  CHECK(MvccGc(db.engine(), "", "", Ts(30))->versions_removed == 0);
  db.Put("x", 1, "x1");
  db.Put("x", 2, "x2");
  db.Put("y", 1, "y1");
  db.Put("y", 2, "y2");
  CHECK(MvccGc(db.engine(), "x", "y", Ts(100))->versions_removed == 1);
  CHECK(db.Get("y", 1) == "y1");
  CHECK(MvccGc(db.engine(), "b", "a", Ts(100)).error().code == StorageErrorCode::kInvalidArgument);
}

TEST_CASE("mvcc: GC over a random history leaves reads at or above the safe point identical",
          "[storage]") {
  TestDb db;
  Rng rng{0x6c0ffee};
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back(RandomKey(rng) + std::to_string(i % 7));
  for (int op = 0; op < 1500; ++op) {
    const std::string& k = keys[rng.Below(keys.size())];
    const uint64_t ts = 1 + rng.Below(300);
    if (rng.Below(4) == 0) {
      db.Delete(k, ts);
    } else {
      db.Put(k, ts, "v" + std::to_string(op));
    }
  }
  const uint64_t safe_point = 150;
  // Snapshot of every answer at or above the safe point.
  std::vector<uint64_t> read_ts = {safe_point, safe_point + 1, 200, 299, 300, 1000};
  std::map<uint64_t, std::vector<KeyValue>> fwd, rev;
  std::map<std::pair<std::string, uint64_t>, std::optional<std::string>> gets;
  for (uint64_t ts : read_ts) {
    fwd[ts] = db.Scan("", "", ts, 0, kFwd).kvs;
    rev[ts] = db.Scan("", "", ts, 0, kRev).kvs;
    for (const std::string& k : keys) gets[{k, ts}] = db.Get(k, ts);
  }
  auto stats = MvccGc(db.engine(), "", "", Ts(safe_point), GcOptions{.max_batch_bytes = 256});
  REQUIRE(stats.has_value());
  CHECK(stats->versions_removed > 0);
  db.Flush();
  for (uint64_t ts : read_ts) {
    INFO("ts " << ts);
    CHECK(db.Scan("", "", ts, 0, kFwd).kvs == fwd[ts]);
    CHECK(db.Scan("", "", ts, 0, kRev).kvs == rev[ts]);
    for (const std::string& k : keys) CHECK(db.Get(k, ts) == gets[{k, ts}]);
  }
}

TEST_CASE("mvcc: corrupt values and keys are errors naming the key, never data", "[storage]") {
  TestDb db;
  db.Put("a", 10, "a");
  db.Put("c", 10, "c");

  SECTION("unknown value type") {
    db.RawPut(EncodeMvccKey("b", Ts(10)), "\x07garbage");
    auto got = MvccReader(db.engine()).Get("b", Ts(20));
    REQUIRE_FALSE(got.has_value());
    CHECK(got.error().code == StorageErrorCode::kCorruption);
    CHECK_THAT(got.error().message, Catch::Contains("620001"));  // "b" 00 01, in hex
    CHECK_THAT(got.error().message, Catch::Contains("0x07"));
    for (ScanDirection dir : {kFwd, kRev}) {
      auto scanned = MvccReader(db.engine()).Scan(ScanRequest{.ts = Ts(20), .direction = dir});
      REQUIRE_FALSE(scanned.has_value());
      CHECK(scanned.error().code == StorageErrorCode::kCorruption);
    }
    // Invisible at the read timestamp: not read, not an error.
    CHECK(db.Get("b", 5) == std::nullopt);
    auto gc = MvccGc(db.engine(), "", "", Ts(20));
    REQUIRE_FALSE(gc.has_value());
    CHECK(gc.error().code == StorageErrorCode::kCorruption);
  }
  SECTION("empty value and tombstone with payload") {
    db.RawPut(EncodeMvccKey("b", Ts(10)), "");
    db.RawPut(EncodeMvccKey("d", Ts(10)), "\x02x");
    CHECK(MvccReader(db.engine()).Get("b", Ts(20)).error().code == StorageErrorCode::kCorruption);
    CHECK(MvccReader(db.engine()).Get("d", Ts(20)).error().code == StorageErrorCode::kCorruption);
  }
  SECTION("a key that does not decode") {
    db.RawPut("b\x05not-mvcc", "\x01value");
    for (ScanDirection dir : {kFwd, kRev}) {
      auto scanned = MvccReader(db.engine()).Scan(ScanRequest{.ts = Ts(20), .direction = dir});
      REQUIRE_FALSE(scanned.has_value());
      CHECK(scanned.error().code == StorageErrorCode::kCorruption);
      CHECK_THAT(scanned.error().message, Catch::Contains("62056e6f742d6d766363"));
    }
    CHECK(MvccGc(db.engine(), "", "", Ts(20)).error().code == StorageErrorCode::kCorruption);
    // Reads that never touch it still work.
    CHECK(db.Get("a", 20) == "a");
  }
  SECTION("a key with a valid user-key prefix and a bad length") {
    db.RawPut(EncodeMvccKey("b", Ts(10)) + "zz", "\x01value");
    // A point read of "b" is judged by the prefix Bloom filters on "b"'s encoding, which this
    // key does not carry (its prefix is everything but its last 8 bytes): never its value.
    auto got = MvccReader(db.engine()).Get("b", Ts(20));
    if (got.has_value()) CHECK_FALSE(got->has_value());
    // Reads that cross it report it.
    for (ScanDirection dir : {kFwd, kRev}) {
      auto scanned = MvccReader(db.engine()).Scan(ScanRequest{.ts = Ts(20), .direction = dir});
      REQUIRE_FALSE(scanned.has_value());
      CHECK(scanned.error().code == StorageErrorCode::kCorruption);
    }
  }
}

TEST_CASE("mvcc: random puts, deletes, range deletes and GC match an in-memory model",
          "[storage]") {
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    TestDb db;
    Model model;
    Rng rng{seed};
    uint64_t safe_point = 0;
    std::vector<std::string> keys;
    for (int i = 0; i < 30; ++i) keys.push_back(RandomKey(rng));
    auto random_ts = [&] { return safe_point + 1 + rng.Below(120); };
    auto read_ts = [&] {
      return rng.Below(8) == 0 ? Ts::Max().value() : safe_point + rng.Below(140);
    };
    for (int op = 0; op < 2500; ++op) {
      INFO("op " << op);
      const uint64_t choice = rng.Below(100);
      const std::string& k = keys[rng.Below(keys.size())];
      if (choice < 55) {
        const uint64_t ts = random_ts();
        const std::string value = "v" + std::to_string(op);
        db.Put(k, ts, value);
        model.Put(k, ts, value);
      } else if (choice < 75) {
        const uint64_t ts = random_ts();
        db.Delete(k, ts);
        model.Put(k, ts, std::nullopt);
      } else if (choice < 78) {
        std::string start = keys[rng.Below(keys.size())];
        std::string end = rng.Below(5) == 0 ? "" : keys[rng.Below(keys.size())];
        if (!end.empty() && end < start) std::swap(start, end);
        const uint64_t ts = random_ts();
        CHECK(db.DeleteRange(start, end, ts) == model.DeleteRange(start, end, ts));
      } else if (choice < 80) {
        safe_point += rng.Below(40);
        auto stats = MvccGc(db.engine(), "", "", Ts(safe_point));
        REQUIRE(stats.has_value());
        CHECK(stats->versions_removed == model.Gc(safe_point));
      } else if (choice < 81) {
        db.Flush();
      } else if (choice < 93) {
        const uint64_t ts = read_ts();
        CHECK(db.Get(k, ts) == model.Get(k, ts));
      } else {
        std::string start = keys[rng.Below(keys.size())];
        std::string end = rng.Below(3) == 0 ? "" : keys[rng.Below(keys.size())];
        if (!end.empty() && end < start) std::swap(start, end);
        const uint64_t ts = read_ts();
        const ScanDirection dir = rng.Below(2) == 0 ? kFwd : kRev;
        const size_t limit = rng.Below(6);
        const std::vector<KeyValue> expected = model.Scan(start, end, ts, dir);
        if (limit == 0) {
          CHECK(db.Scan(start, end, ts, 0, dir).kvs == expected);
        } else {
          CHECK(db.ScanPaged(start, end, ts, limit, dir) == expected);
        }
      }
    }
    // Final full comparison at every timestamp from the safe point on.
    for (uint64_t ts = safe_point; ts <= safe_point + 130; ++ts) {
      INFO("final ts " << ts);
      CHECK(db.Scan("", "", ts, 0, kFwd).kvs == model.Scan("", "", ts, kFwd));
      CHECK(db.Scan("", "", ts, 0, kRev).kvs == model.Scan("", "", ts, kRev));
    }
  }
}

// --- The MVCC version scan (ForEachVersion): every version in a timestamp window, tombstones
// included, keys ascending and newest first within a key; range bounds; the base version below
// the window; the reader's snapshot; and what is left after GC (the history a watch may replay).

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
  TestDb db;
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
  TestDb db;
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
  TestDb db;
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
