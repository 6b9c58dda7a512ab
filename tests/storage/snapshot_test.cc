// Shard snapshots over real RocksDB: export/ingest round trip (stale data replaced, outside data
// untouched, durable across reopen), consistency under concurrent writes, splitting into several
// SST files, empty ranges, keys with 0x00/0xFF, corruption and truncation of files and manifest,
// missing files, and snapshots of the wrong group or range.
#include <catch2/catch.hpp>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/engine.h"
#include "storage/key_codec.h"
#include "storage/snapshot.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

using KeyValues = std::map<std::string, std::string>;

std::unique_ptr<Engine> OpenEngine(const std::string& dir) {
  StorageOptions o;
  o.dir = dir;
  o.block_cache_bytes = 8 << 20;
  o.write_buffer_bytes = 1 << 20;
  auto engine = Engine::Open(o);
  REQUIRE(engine.has_value());
  return std::move(*engine);
}

// A data-CF key: memcomparable(user key) | ~timestamp.
std::string DataKey(std::string_view user_key, uint64_t ts) {
  std::string key;
  EncodeMemcomparable(key, user_key);
  PutBigEndian64(key, ~ts);
  return key;
}

void Put(Engine& engine, const KeyValues& kvs) {
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : kvs) REQUIRE(batch.Put(engine.data_cf(), k, v).ok());
  REQUIRE(engine.Write(batch, Durability::kNoSync).has_value());
}

void PutVersions(Engine& engine, std::string_view user_key, int versions, const std::string& tag) {
  KeyValues kvs;
  for (int ts = 1; ts <= versions; ++ts) {
    kvs[DataKey(user_key, uint64_t(ts))] = tag + std::string(user_key) + "@" + std::to_string(ts);
  }
  Put(engine, kvs);
}

KeyValues DumpDataCf(Engine& engine) {
  KeyValues out;
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(engine.db()->NewIterator(ro, engine.data_cf()));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    out[it->key().ToString()] = it->value().ToString();
  REQUIRE(it->status().ok());
  return out;
}

bool InRange(const std::string& data_key, const ShardRange& range) {
  std::string lower;
  EncodeMemcomparable(lower, range.start);
  if (data_key < lower) return false;
  if (range.end.empty()) return true;
  std::string upper;
  EncodeMemcomparable(upper, range.end);
  return data_key < upper;
}

KeyValues Inside(const KeyValues& kvs, const ShardRange& range) {
  KeyValues out;
  for (const auto& [k, v] : kvs) {
    if (InRange(k, range)) out.emplace(k, v);
  }
  return out;
}

KeyValues Outside(const KeyValues& kvs, const ShardRange& range) {
  KeyValues out;
  for (const auto& [k, v] : kvs) {
    if (!InRange(k, range)) out.emplace(k, v);
  }
  return out;
}

SnapshotRequest Request(const std::string& dir, const ShardRange& range) {
  SnapshotRequest r;
  r.group = 7;
  r.range = range;
  r.applied_index = raft::LogIndex(120);
  r.applied_term = raft::Term(3);
  r.conf = std::string("\x01\x02\x00\xff conf", 10);
  r.dir = dir;
  return r;
}

// Source and target engines with overlapping user keys, different versions and values.
struct TwoEngines {
  test::TempDir tmp;
  std::unique_ptr<Engine> source = OpenEngine(tmp.path() + "/source");
  std::unique_ptr<Engine> target = OpenEngine(tmp.path() + "/target");
  std::string snap_dir = tmp.path() + "/snap";
};

void FillSource(Engine& e) {
  const std::vector<std::string> keys = {"a",  "b", "b1", "c", std::string("c\0x", 3),
                                         "cz", "d", "e"};
  for (const std::string& k : keys) PutVersions(e, k, 3, "src:");
}

void FillTarget(Engine& e) {
  for (std::string k : {"a", "a9", "b", "bb", "c", "cy", "d", "z"}) PutVersions(e, k, 5, "old:");
}

// Incompressible bytes (splitmix64), so that file sizes follow the amount of data.
std::string RandomValue(uint64_t seed, size_t n) {
  std::string out;
  uint64_t s = seed;
  while (out.size() < n) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int i = 0; i < 8 && out.size() < n; ++i) out.push_back(char(uint8_t(z >> (8 * i))));
  }
  return out;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(std::streamoff(offset));
  char c = 0;
  f.read(&c, 1);
  c = char(c ^ 0x5a);
  f.seekp(std::streamoff(offset));
  f.write(&c, 1);
  REQUIRE(f.good());
}

TEST_CASE("snapshot: export and ingest replace exactly the shard's range", "[storage]") {
  TwoEngines t;
  FillSource(*t.source);
  FillTarget(*t.target);
  const ShardRange range{.start = "b", .end = "d"};
  const KeyValues source_before = DumpDataCf(*t.source);
  const KeyValues target_before = DumpDataCf(*t.target);

  auto exported = ExportShardSnapshot(*t.source, Request(t.snap_dir, range));
  REQUIRE(exported.has_value());
  CHECK(exported->group == 7);
  CHECK(exported->range == range);
  CHECK(exported->applied_index == raft::LogIndex(120));
  CHECK(exported->applied_term == raft::Term(3));
  CHECK(exported->conf == std::string("\x01\x02\x00\xff conf", 10));
  REQUIRE(exported->files.size() == 1);
  CHECK(exported->KeyCount() == Inside(source_before, range).size());
  CHECK(exported->KeyCount() == 5 * 3);  // b, b1, c, c\0x, cz: every version
  CHECK(std::filesystem::exists(t.snap_dir + "/MANIFEST"));
  CHECK(!std::filesystem::exists(t.snap_dir + "/MANIFEST.tmp"));

  auto verified = VerifyShardSnapshot(t.snap_dir);
  REQUIRE(verified.has_value());
  CHECK(*verified == *exported);

  auto ingested = IngestShardSnapshot(*t.target, t.snap_dir, 7, range);
  REQUIRE(ingested.has_value());
  CHECK(*ingested == *exported);
  const KeyValues target_after = DumpDataCf(*t.target);
  CHECK(Inside(target_after, range) == Inside(source_before, range));
  CHECK(Outside(target_after, range) == Outside(target_before, range));
  CHECK(!std::filesystem::exists(t.snap_dir + "/ingest.tmp"));
  CHECK(VerifyShardSnapshot(t.snap_dir).has_value());  // copied, not moved: still whole

  // Ingesting again is idempotent (the caller's recovery after a crash before it recorded the
  // applied index).
  REQUIRE(IngestShardSnapshot(*t.target, t.snap_dir, 7, range).has_value());
  CHECK(DumpDataCf(*t.target) == target_after);

  // Durable: the same data after reopening, and writes on top of ingested keys still win.
  t.target.reset();
  t.target = OpenEngine(t.tmp.path() + "/target");
  CHECK(DumpDataCf(*t.target) == target_after);
  Put(*t.target, {{DataKey("b", 2), "newer"}});
  KeyValues expected = target_after;
  expected[DataKey("b", 2)] = "newer";
  CHECK(DumpDataCf(*t.target) == expected);
}

// The data column family has prefix Bloom filters on the user key, in its SSTs and memtables. An
// export scan that let them judge it by the start key's prefix skipped every file and memtable
// whose filter does not hold that prefix (a start key of 7 bytes or more is in the filters'
// domain): the snapshot came out empty, and the new replica lost the shard's data.
TEST_CASE("snapshot: a long start key; data in the memtable and in SSTs is all exported", "[storage]") {
  TwoEngines t;
  const ShardRange range{.start = "tenant-0042/", .end = "tenant-0043/"};
  for (int i = 0; i < 20; ++i) PutVersions(*t.source, "tenant-0042/key-" + std::to_string(100 + i), 2, "sst:");
  PutVersions(*t.source, "tenant-0041/below", 2, "sst:");
  REQUIRE(t.source->db()->Flush(rocksdb::FlushOptions(), t.source->data_cf()).ok());
  for (int i = 20; i < 30; ++i) PutVersions(*t.source, "tenant-0042/key-" + std::to_string(100 + i), 2, "mem:");
  PutVersions(*t.source, "tenant-0043/above", 2, "mem:");
  const KeyValues source_before = DumpDataCf(*t.source);
  REQUIRE(Inside(source_before, range).size() == 30 * 2);

  auto exported = ExportShardSnapshot(*t.source, Request(t.snap_dir, range));
  REQUIRE(exported.has_value());
  CHECK(exported->KeyCount() == 30 * 2);
  REQUIRE(IngestShardSnapshot(*t.target, t.snap_dir, 7, range).has_value());
  CHECK(Inside(DumpDataCf(*t.target), range) == Inside(source_before, range));

  // An unbounded range's tombstone end is the column family's last key, past every prefix.
  const ShardRange open{.start = "tenant-0042/", .end = ""};
  const std::string open_dir = t.tmp.path() + "/snap-open";
  REQUIRE(ExportShardSnapshot(*t.source, Request(open_dir, open)).has_value());
  REQUIRE(IngestShardSnapshot(*t.target, open_dir, 7, open).has_value());
  CHECK(Inside(DumpDataCf(*t.target), open) == Inside(source_before, open));
}

TEST_CASE("snapshot: unbounded range, ingest into an engine with more keys above", "[storage]") {
  TwoEngines t;
  FillSource(*t.source);
  FillTarget(*t.target);
  PutVersions(*t.target, std::string(40, '\xff'), 2, "old:");
  // The target's keys in files at the bottom level, not only in its memtable.
  REQUIRE(t.target->db()
              ->CompactRange(rocksdb::CompactRangeOptions(), t.target->data_cf(), nullptr, nullptr)
              .ok());
  const ShardRange range{.start = "c", .end = ""};
  const KeyValues source_before = DumpDataCf(*t.source);
  const KeyValues target_before = DumpDataCf(*t.target);
  REQUIRE(ExportShardSnapshot(*t.source, Request(t.snap_dir, range)).has_value());
  REQUIRE(IngestShardSnapshot(*t.target, t.snap_dir, 7, range).has_value());
  const KeyValues target_after = DumpDataCf(*t.target);
  CHECK(Inside(target_after, range) == Inside(source_before, range));
  CHECK(Outside(target_after, range) == Outside(target_before, range));
  CHECK(Outside(target_after, range).size() == 5 * 4);  // a, a9, b, bb
}

// Fixed-width decimal, so that byte order is numeric order.
std::string Idx(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08" PRIu64, i);
  return buf;
}

TEST_CASE("snapshot: writes after the export starts are not in it", "[storage]") {
  TwoEngines t;
  // Enough keys that the export takes a while, while a writer appends pairs: "lo/i" (sorted
  // before the bulk) and then "zz/i" (after it). A consistent export holds a prefix of the pairs,
  // "zz/i" only with "lo/i", and at most one unpaired "lo/i".
  KeyValues bulk;
  for (int i = 0; i < 20000; ++i) bulk[DataKey("m/" + std::to_string(i), 1)] = std::string(64, 'v');
  Put(*t.source, bulk);
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::atomic<int> write_failures{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      // No Catch2 assertions off the main thread: failures are counted and checked after join.
      for (const char* prefix : {"lo/", "zz/"}) {
        rocksdb::WriteBatch batch;
        if (!batch.Put(t.source->data_cf(), DataKey(prefix + Idx(uint64_t(i)), 1), "x").ok() ||
            !t.source->Write(batch, Durability::kNoSync).has_value()) {
          write_failures.fetch_add(1);
        }
      }
      written.store(i + 1);
    }
  });
  while (written.load() < 100) std::this_thread::yield();  // the writer is under way
  const ShardRange all{.start = "", .end = ""};
  const int written_before = written.load();
  auto exported = ExportShardSnapshot(*t.source, Request(t.snap_dir, all));
  stop.store(true);
  writer.join();
  REQUIRE(write_failures.load() == 0);
  REQUIRE(exported.has_value());
  REQUIRE(IngestShardSnapshot(*t.target, t.snap_dir, 7, all).has_value());
  const KeyValues copy = DumpDataCf(*t.target);
  size_t lo = 0;
  size_t hi = 0;
  for (const auto& [k, v] : copy) {
    std::string_view in(k);
    const std::string user = DecodeMemcomparable(in).value();
    if (user.starts_with("lo/")) ++lo;
    if (user.starts_with("zz/")) ++hi;
  }
  INFO("pairs in the export: " << lo << " low, " << hi << " high; " << written.load()
                               << " written, " << written_before << " before the export");
  CHECK(copy.size() == bulk.size() + lo + hi);
  CHECK(exported->KeyCount() == copy.size());
  CHECK(lo >= size_t(written_before));
  CHECK((lo == hi || lo == hi + 1));
  for (size_t i = 0; i < lo; ++i) {
    CHECK(copy.count(DataKey("lo/" + Idx(i), 1)) == 1);
    if (i < hi) CHECK(copy.count(DataKey("zz/" + Idx(i), 1)) == 1);
  }
}

TEST_CASE("snapshot: a small max file size splits the range into several SST files", "[storage]") {
  TwoEngines t;
  KeyValues kvs;
  for (int i = 0; i < 3000; ++i) {
    kvs[DataKey("k" + std::to_string(i), uint64_t(i % 3))] = RandomValue(uint64_t(i), 100);
  }
  Put(*t.source, kvs);
  FillTarget(*t.target);
  const ShardRange range{.start = "k", .end = "l"};
  SnapshotRequest request = Request(t.snap_dir, range);
  request.max_file_bytes = 32 << 10;
  auto exported = ExportShardSnapshot(*t.source, request);
  REQUIRE(exported.has_value());
  CHECK(exported->files.size() > 3);
  CHECK(exported->KeyCount() == kvs.size());
  for (const SnapshotFile& f : exported->files) {
    CHECK(f.key_count > 0);
    CHECK(std::filesystem::file_size(t.snap_dir + "/" + f.name) == f.size);
  }
  const KeyValues target_before = DumpDataCf(*t.target);
  REQUIRE(IngestShardSnapshot(*t.target, t.snap_dir, 7, range).has_value());
  const KeyValues target_after = DumpDataCf(*t.target);
  CHECK(Inside(target_after, range) == kvs);
  CHECK(Outside(target_after, range) == Outside(target_before, range));
}

TEST_CASE("snapshot: an empty range has a manifest with no files and empties the target",
          "[storage]") {
  TwoEngines t;
  FillSource(*t.source);
  FillTarget(*t.target);
  for (const ShardRange& range :
       {ShardRange{.start = "bc", .end = "bz"}, ShardRange{.start = "zzz", .end = ""}}) {
    test::TempDir snap;
    const KeyValues target_before = DumpDataCf(*t.target);
    auto exported = ExportShardSnapshot(*t.source, Request(snap.path() + "/s", range));
    REQUIRE(exported.has_value());
    CHECK(exported->files.empty());
    REQUIRE(VerifyShardSnapshot(snap.path() + "/s").has_value());
    REQUIRE(IngestShardSnapshot(*t.target, snap.path() + "/s", 7, range).has_value());
    const KeyValues target_after = DumpDataCf(*t.target);
    CHECK(Inside(target_after, range).empty());
    CHECK(Outside(target_after, range) == Outside(target_before, range));
  }
  // "bb" (inside [bc, bz)? no: "bb" < "bc") survives; "z" (< "zzz") survives.
  CHECK(DumpDataCf(*t.target).count(DataKey("bb", 1)) == 1);
  CHECK(DumpDataCf(*t.target).count(DataKey("z", 1)) == 1);
}

TEST_CASE("snapshot: keys with 0x00 and 0xFF bytes at the range edges", "[storage]") {
  const std::vector<std::string> keys = {std::string(),
                                         std::string(1, '\0'),
                                         std::string(2, '\0'),
                                         std::string("\0\xff", 2),
                                         std::string("\0\x01", 2),
                                         std::string(1, '\x01'),
                                         std::string(1, '\xff'),
                                         std::string("\xff\0", 2),
                                         std::string(2, '\xff'),
                                         std::string("\xff\xff\0", 3),
                                         std::string(3, '\xff'),
                                         std::string(30, '\xff')};
  const std::vector<ShardRange> ranges = {
      {.start = std::string(1, '\0'), .end = std::string(2, '\xff')},
      {.start = std::string(), .end = std::string("\0\xff", 2)},
      {.start = std::string("\xff\0", 2), .end = std::string()},
      {.start = std::string(2, '\0'), .end = std::string(1, '\x01')},
  };
  for (const ShardRange& range : ranges) {
    TwoEngines t;
    for (const std::string& k : keys) PutVersions(*t.source, k, 2, "src:");
    for (const std::string& k : keys) PutVersions(*t.target, k, 3, "old:");
    const KeyValues source_before = DumpDataCf(*t.source);
    const KeyValues target_before = DumpDataCf(*t.target);
    auto exported = ExportShardSnapshot(*t.source, Request(t.snap_dir, range));
    REQUIRE(exported.has_value());
    CHECK(exported->KeyCount() == Inside(source_before, range).size());
    REQUIRE(IngestShardSnapshot(*t.target, t.snap_dir, 7, range).has_value());
    const KeyValues target_after = DumpDataCf(*t.target);
    CHECK(Inside(target_after, range) == Inside(source_before, range));
    CHECK(Outside(target_after, range) == Outside(target_before, range));
    CHECK(!Outside(target_after, range).empty());
  }
}

// A snapshot of [b, d) in several files, and a target whose data must survive every failure.
struct DamagedSnapshot {
  TwoEngines t;
  ShardRange range{.start = "b", .end = "d"};
  KeyValues target_before;
  SnapshotManifest manifest;

  DamagedSnapshot() {
    KeyValues kvs;
    for (int i = 0; i < 2000; ++i)
      kvs[DataKey("c" + std::to_string(i), 1)] = RandomValue(uint64_t(i), 50);
    Put(*t.source, kvs);
    FillTarget(*t.target);
    target_before = DumpDataCf(*t.target);
    SnapshotRequest request = Request(t.snap_dir, range);
    request.max_file_bytes = 16 << 10;
    auto exported = ExportShardSnapshot(*t.source, request);
    REQUIRE(exported.has_value());
    REQUIRE(exported->files.size() >= 2);
    manifest = *exported;
  }
  std::string FilePath(size_t i) const { return t.snap_dir + "/" + manifest.files[i].name; }

  // Verify and Ingest both fail with kCorruption mentioning `needle`; the target is untouched.
  void ExpectRefused(const std::string& needle) {
    auto verified = VerifyShardSnapshot(t.snap_dir);
    REQUIRE(!verified.has_value());
    CHECK(verified.error().code == StorageErrorCode::kCorruption);
    CHECK_THAT(verified.error().message, Catch::Contains(needle));
    auto ingested = IngestShardSnapshot(*t.target, t.snap_dir, 7, range);
    REQUIRE(!ingested.has_value());
    CHECK(ingested.error().code == StorageErrorCode::kCorruption);
    CHECK_THAT(ingested.error().message, Catch::Contains(needle));
    CHECK(DumpDataCf(*t.target) == target_before);
  }
};

TEST_CASE("snapshot: a flipped byte in an SST file is caught before ingestion", "[storage]") {
  DamagedSnapshot d;
  FlipByte(d.FilePath(1), d.manifest.files[1].size / 2);
  d.ExpectRefused(d.manifest.files[1].name);
  d.ExpectRefused("crc32c expected");
}

TEST_CASE("snapshot: a truncated SST file is caught before ingestion", "[storage]") {
  DamagedSnapshot d;
  std::filesystem::resize_file(d.FilePath(0), d.manifest.files[0].size - 100);
  d.ExpectRefused(d.manifest.files[0].name);
  d.ExpectRefused("size expected " + std::to_string(d.manifest.files[0].size));
}

TEST_CASE("snapshot: a missing SST file is caught before ingestion", "[storage]") {
  DamagedSnapshot d;
  std::filesystem::remove(d.FilePath(d.manifest.files.size() - 1));
  d.ExpectRefused(d.manifest.files.back().name + " is missing");
}

TEST_CASE("snapshot: a damaged or missing manifest is refused", "[storage]") {
  DamagedSnapshot d;
  const std::string manifest_path = d.t.snap_dir + "/MANIFEST";
  const auto size = std::filesystem::file_size(manifest_path);
  SECTION("flipped byte") {
    FlipByte(manifest_path, 20);
    d.ExpectRefused("MANIFEST");
  }
  SECTION("truncated") {
    std::filesystem::resize_file(manifest_path, size - 1);
    d.ExpectRefused("MANIFEST");
  }
  SECTION("empty") {
    std::filesystem::resize_file(manifest_path, 0);
    d.ExpectRefused("MANIFEST");
  }
  SECTION("missing: not a snapshot") {
    std::filesystem::remove(manifest_path);
    auto verified = VerifyShardSnapshot(d.t.snap_dir);
    REQUIRE(!verified.has_value());
    CHECK(verified.error().code == StorageErrorCode::kNotFound);
    auto ingested = IngestShardSnapshot(*d.t.target, d.t.snap_dir, 7, d.range);
    REQUIRE(!ingested.has_value());
    CHECK(ingested.error().code == StorageErrorCode::kNotFound);
    CHECK(DumpDataCf(*d.t.target) == d.target_before);
  }
}

TEST_CASE("snapshot: files with keys outside the manifest's range are refused", "[storage]") {
  // A well-formed manifest (valid CRC) that claims a narrower range than its files hold: the
  // ingestion would delete and overwrite another shard's keys.
  DamagedSnapshot d;
  const std::string manifest_path = d.t.snap_dir + "/MANIFEST";
  SnapshotManifest narrow = d.manifest;
  narrow.range = ShardRange{.start = "c1", .end = "c5"};
  std::filesystem::remove(manifest_path);
  std::ofstream(manifest_path, std::ios::binary) << EncodeSnapshotManifest(narrow);
  auto verified = VerifyShardSnapshot(d.t.snap_dir);
  REQUIRE(!verified.has_value());
  CHECK(verified.error().code == StorageErrorCode::kCorruption);
  CHECK_THAT(verified.error().message, Catch::Contains("outside the manifest's range"));
  CHECK(!IngestShardSnapshot(*d.t.target, d.t.snap_dir, 7, narrow.range).has_value());
  CHECK(DumpDataCf(*d.t.target) == d.target_before);
}

TEST_CASE("snapshot: a snapshot of another group or range is refused", "[storage]") {
  DamagedSnapshot d;
  for (const auto& [group, range] :
       std::vector<std::pair<GroupId, ShardRange>>{{8, d.range},
                                                   {7, ShardRange{.start = "b", .end = "e"}},
                                                   {7, ShardRange{.start = "a", .end = "d"}},
                                                   {7, ShardRange{.start = "b", .end = ""}}}) {
    auto ingested = IngestShardSnapshot(*d.t.target, d.t.snap_dir, group, range);
    REQUIRE(!ingested.has_value());
    CHECK(ingested.error().code == StorageErrorCode::kInvalidArgument);
    CHECK_THAT(ingested.error().message, Catch::Contains("expected group"));
  }
  CHECK(DumpDataCf(*d.t.target) == d.target_before);
}

TEST_CASE("snapshot: manifest encoding round trip and rejection of malformed bytes", "[storage]") {
  SnapshotManifest m;
  m.group = 42;
  m.range = ShardRange{.start = std::string("a\0b", 3), .end = std::string(1, '\xff')};
  m.applied_index = raft::LogIndex(1000);
  m.applied_term = raft::Term(9);
  m.conf = std::string("\0\x01conf", 6);
  m.files = {{.name = "data-000001.sst", .size = 123, .crc32c = 0xdeadbeef, .key_count = 7},
             {.name = "data-000002.sst", .size = 456, .crc32c = 0x01020304, .key_count = 9}};
  const std::string bytes = EncodeSnapshotManifest(m);
  auto decoded = DecodeSnapshotManifest(bytes);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == m);
  CHECK(m.KeyCount() == 16);
  CHECK(m.TotalBytes() == 579);

  // Every single-byte change and every truncation is caught.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = char(bad[i] ^ 0x01);
    auto r = DecodeSnapshotManifest(bad);
    REQUIRE(!r.has_value());
    CHECK(r.error().code == StorageErrorCode::kCorruption);
    CHECK(!DecodeSnapshotManifest(std::string_view(bytes).substr(0, i)).has_value());
  }

  // Well-checksummed but unsafe content: a path as a file name, an inverted range.
  SnapshotManifest evil = m;
  evil.files[0].name = "../../etc/passwd";
  CHECK(!DecodeSnapshotManifest(EncodeSnapshotManifest(evil)).has_value());
  evil = m;
  evil.range = ShardRange{.start = "z", .end = "a"};
  CHECK(!DecodeSnapshotManifest(EncodeSnapshotManifest(evil)).has_value());
  evil = m;
  evil.format_version = 2;
  CHECK_THAT(DecodeSnapshotManifest(EncodeSnapshotManifest(evil)).error().message,
             Catch::Contains("version"));
}

TEST_CASE("snapshot: export refuses a bad request and a non-empty directory", "[storage]") {
  TwoEngines t;
  FillSource(*t.source);
  auto inverted = ExportShardSnapshot(*t.source, Request(t.snap_dir, {.start = "d", .end = "b"}));
  REQUIRE(!inverted.has_value());
  CHECK(inverted.error().code == StorageErrorCode::kInvalidArgument);
  SnapshotRequest zero = Request(t.snap_dir, {.start = "b", .end = "d"});
  zero.max_file_bytes = 0;
  CHECK(!ExportShardSnapshot(*t.source, zero).has_value());

  REQUIRE(ExportShardSnapshot(*t.source, Request(t.snap_dir, {.start = "b", .end = "d"})));
  auto again = ExportShardSnapshot(*t.source, Request(t.snap_dir, {.start = "b", .end = "d"}));
  REQUIRE(!again.has_value());
  CHECK(again.error().code == StorageErrorCode::kInvalidArgument);
  CHECK_THAT(again.error().message, Catch::Contains("not empty"));
}

TEST_CASE("snapshot: a state-only snapshot has no files, whatever the range holds", "[storage]") {
  TwoEngines t;
  FillSource(*t.source);
  SnapshotRequest req{.group = 1,
                      .range = {.start = "", .end = ""},
                      .applied_index = raft::LogIndex(9),
                      .applied_term = raft::Term(2),
                      .conf = "whole state",
                      .dir = t.snap_dir,
                      .state_only = true};
  auto manifest = ExportShardSnapshot(*t.source, req);
  REQUIRE(manifest.has_value());
  CHECK(manifest->files.empty());
  auto verified = VerifyShardSnapshot(t.snap_dir);
  REQUIRE(verified.has_value());
  CHECK(verified->conf == "whole state");
  CHECK(verified->applied_index == raft::LogIndex(9));
}

TEST_CASE("replica removal: log, apply state, dedup, descriptor and the range's data go; a tombstone stays",
          "[storage]") {
  test::TempDir tmp;
  auto engine = OpenEngine(tmp.path() + "/db");
  const GroupId group = 7;
  FillTarget(*engine);  // a..z, 5 versions each
  rocksdb::WriteBatch batch;
  for (GroupId g : {group - 1, group, group + 1}) {
    REQUIRE(batch.Put(engine->raft_cf(), RaftEntryKey(g, 1), "e1").ok());
    REQUIRE(batch.Put(engine->raft_cf(), RaftEntryKey(g, 99), "e99").ok());
    REQUIRE(batch.Put(engine->raft_cf(), RaftHardStateKey(g), "hs").ok());
    REQUIRE(batch.Put(engine->raft_cf(), RaftLogStateKey(g), "ls").ok());
    REQUIRE(batch.Put(engine->meta_cf(), ApplyStateKey(g), "as").ok());
    REQUIRE(batch.Put(engine->meta_cf(), DedupKey(g, "req-1"), "d").ok());
    REQUIRE(batch.Put(engine->meta_cf(), ShardDescriptorKey(g), "desc").ok());
  }
  REQUIRE(engine->Write(batch, Durability::kSync).has_value());
  CHECK(ReplicaTombstone(*engine, group).value() == 0);

  SECTION("bounded range") {
    REQUIRE(DestroyReplica(*engine, group, ShardRange{.start = "b", .end = "d"}, 42).has_value());
    KeyValues data = DumpDataCf(*engine);
    std::set<std::string> users;
    for (const auto& [k, v] : data) {
      std::string_view in = k;
      users.insert(DecodeMemcomparable(in).value());
    }
    CHECK(users == std::set<std::string>{"a", "a9", "d", "z"});
  }
  SECTION("unbounded range") {
    REQUIRE(DestroyReplica(*engine, group, ShardRange{.start = "c", .end = ""}, 42).has_value());
    std::set<std::string> users;
    for (const auto& [k, v] : DumpDataCf(*engine)) {
      std::string_view in = k;
      users.insert(DecodeMemcomparable(in).value());
    }
    CHECK(users == std::set<std::string>{"a", "a9", "b", "bb"});
  }
  SECTION("no range keeps all data") {
    const size_t before = DumpDataCf(*engine).size();
    REQUIRE(DestroyReplica(*engine, group, std::nullopt, 42).has_value());
    CHECK(DumpDataCf(*engine).size() == before);
  }
  CHECK(ReplicaTombstone(*engine, group).value() == 42);
  CHECK(ReplicaTombstone(*engine, group + 1).value() == 0);
  auto raft_get = [&](const std::string& key) {
    std::string v;
    return engine->db()->Get(rocksdb::ReadOptions(), engine->raft_cf(), key, &v).ok();
  };
  for (GroupId g : {group - 1, group, group + 1}) {
    const bool kept = g != group;
    CHECK(raft_get(RaftEntryKey(g, 1)) == kept);
    CHECK(raft_get(RaftEntryKey(g, 99)) == kept);
    CHECK(raft_get(RaftHardStateKey(g)) == kept);
    CHECK(raft_get(RaftLogStateKey(g)) == kept);
    CHECK(engine->GetMeta(ApplyStateKey(g)).value().has_value() == kept);
    CHECK(engine->GetMeta(DedupKey(g, "req-1")).value().has_value() == kept);
    CHECK(engine->GetMeta(ShardDescriptorKey(g)).value().has_value() == kept);
  }
}

TEST_CASE("approximate shard bytes grow with the range's data and ignore other ranges", "[storage]") {
  test::TempDir tmp;
  auto engine = OpenEngine(tmp.path() + "/db");
  const ShardRange left{.start = "", .end = "m"};
  const ShardRange right{.start = "m", .end = ""};
  CHECK(ApproximateShardBytes(*engine, left).value() < 4096);
  KeyValues kvs;
  for (int i = 0; i < 2000; ++i) kvs[DataKey("a" + std::to_string(i), 1)] = RandomValue(uint64_t(i), 500);
  Put(*engine, kvs);
  const uint64_t in_memtable = ApproximateShardBytes(*engine, left).value();
  CHECK(in_memtable > 500'000);
  CHECK(ApproximateShardBytes(*engine, right).value() < in_memtable / 10);
  REQUIRE(engine->db()->Flush(rocksdb::FlushOptions(), engine->data_cf()).ok());
  CHECK(ApproximateShardBytes(*engine, left).value() > 500'000);
  CHECK(ApproximateShardBytes(*engine, right).value() < in_memtable / 10);
  CHECK_FALSE(ApproximateShardBytes(*engine, ShardRange{.start = "z", .end = "a"}).has_value());
}

}  // namespace
}  // namespace claw::storage
