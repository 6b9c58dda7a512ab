// Engine under power loss and a full disk, over FaultInjectionFileSystem (fault_fs.h).
//
// Crash tests write numbered batches to the raft column family, some with Durability::kSync, cut
// the power at a seeded point (between writes, in the middle of a write or flush, or after a
// clean close), drop everything not synced, reopen and check three properties:
//   1. durability: every batch acknowledged with kSync (and everything before it, since the WAL
//      is one ordered stream) is present, as is everything a successful Flush covered;
//   2. atomicity: a present batch has exactly its keys and values;
//   3. order: the present batches are a prefix of the write order.
// Each seed runs several crash cycles on the same directory, so recovery of a recovered
// database is exercised too. A failing seed is printed and reproduces the run.
//
// Also here: the filesystem model itself (new names and renames need a directory sync, the fail
// points), and disk full (a WAL write or a flush failing with ENOSPC: kNoSpace, then recovery).
// A seed fixes the workload and the crash points, not the exact step a mid-operation cut hits
// (RocksDB's background flushes race the writes); the properties hold for every interleaving.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/engine.h"
#include "tests/storage/crash_rig.h"
#include "tests/storage/fault_fs.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

using test::FaultInjectionFileSystem;

// --- The workload: batch b holds (b % 4) + 1 keys "b<b>/<j>" with values derived from b and j.

std::string BatchPrefix(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "b%08llu/", static_cast<unsigned long long>(b));
  return buf;
}

std::vector<std::pair<std::string, std::string>> BatchContents(uint64_t b) {
  std::vector<std::pair<std::string, std::string>> kvs;
  const uint64_t keys = b % 4 + 1;
  for (uint64_t j = 0; j < keys; ++j) {
    std::string value = "v" + std::to_string(b) + "." + std::to_string(j) + ":";
    // 1-5 KiB per value: a few hundred batches fill the 1 MiB memtable several times, so
    // flushes (new SSTs, MANIFEST updates, new WALs) happen inside the crash window.
    value.append(1024 * ((b + j) % 5 + 1), static_cast<char>('a' + (b + j) % 26));
    kvs.emplace_back(BatchPrefix(b) + std::to_string(j), std::move(value));
  }
  return kvs;
}

rocksdb::WriteBatch MakeBatch(Engine& engine, uint64_t b) {
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : BatchContents(b)) REQUIRE(batch.Put(engine.raft_cf(), k, v).ok());
  return batch;
}

// Everything in the raft column family, grouped by batch number.
std::map<uint64_t, std::vector<std::pair<std::string, std::string>>> ScanBatches(Engine& engine) {
  std::map<uint64_t, std::vector<std::pair<std::string, std::string>>> batches;
  std::unique_ptr<rocksdb::Iterator> it(
      engine.db()->NewIterator(rocksdb::ReadOptions(), engine.raft_cf()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    REQUIRE(key.size() > 10);
    REQUIRE(key[0] == 'b');
    const uint64_t b = std::stoull(key.substr(1, 8));
    batches[b].emplace_back(key, it->value().ToString());
  }
  REQUIRE(it->status().ok());
  return batches;
}

// Checks the three properties; returns how many batches are present (the prefix length).
uint64_t VerifyRecovered(Engine& engine, uint64_t durable, uint64_t attempted) {
  const auto batches = ScanBatches(engine);
  uint64_t expected_next = 0;
  for (const auto& [b, kvs] : batches) {
    INFO("batch " << b);
    CHECK(b == expected_next);       // 3. a prefix: no gap before a present batch
    CHECK(kvs == BatchContents(b));  // 2. all of it, exactly (keys sort as written)
    expected_next = b + 1;
  }
  const uint64_t present = batches.empty() ? 0 : batches.rbegin()->first + 1;
  CHECK(present >= durable);    // 1. every acknowledged durable batch survived
  CHECK(present <= attempted);  // nothing that was never written
  return present;
}

// The engine crash tests also turn compression off (more bytes per flush, same behaviour).
struct CrashRig : test::CrashRig {
  CrashRig() { options.compression = false; }
};

enum class CrashMode : uint8_t {
  kBetweenWrites,  // the power goes between two Engine::Write calls
  kMidOperation,   // after a seeded number of filesystem mutations: inside a write or a flush
  kAfterClose,     // the engine is closed cleanly, then the power goes
};

// One seeded run: several cycles of write-until-crash, reopen, verify.
void RunCrashSeed(uint64_t seed, int cycles) {
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  CrashRig rig;
  REQUIRE(!rig.tmp.path().empty());
  rig.Open();
  uint64_t next = 0;     // the next batch number to write
  uint64_t durable = 0;  // batches [0, durable) must survive any crash from here on
  for (int cycle = 0; cycle < cycles; ++cycle) {
    INFO("cycle " << cycle);
    const auto mode = static_cast<CrashMode>(rng() % 3);
    const uint64_t crash_after = rng() % 160;  // batches written before the crash point
    uint64_t attempted = next;
    bool failed = false;
    for (uint64_t i = 0; i < crash_after + 8 && !failed; ++i) {
      if (i == crash_after) {
        if (mode == CrashMode::kBetweenWrites) break;
        if (mode == CrashMode::kAfterClose) break;
        rig.fs->DeactivateAfter(rng() % 24);
        // Sometimes start a flush in the background so the cut can land inside it.
        if (rng() % 2 == 0) {
          rocksdb::FlushOptions fo;
          fo.wait = false;
          rig.engine->db()->Flush(fo, rig.engine->raft_cf()).PermitUncheckedError();
        }
      }
      const uint64_t b = next;
      rocksdb::WriteBatch batch = MakeBatch(*rig.engine, b);
      const Durability d = rng() % 4 == 0 ? Durability::kSync : Durability::kNoSync;
      attempted = b + 1;
      auto written = rig.engine->Write(batch, d);
      if (!written.has_value()) {
        REQUIRE(i >= crash_after);  // only the injected crash may fail a write
        failed = true;
        break;
      }
      ++next;
      if (d == Durability::kSync) durable = next;
      if (rng() % 40 == 0) {
        rocksdb::FlushOptions fo;
        fo.wait = true;
        if (rig.engine->db()->Flush(fo, rig.engine->raft_cf()).ok()) durable = next;
      }
    }
    if (mode == CrashMode::kAfterClose) rig.engine.reset();
    INFO("mode " << int(mode) << ", crash after " << crash_after << ", durable " << durable
                 << ", attempted " << attempted);
    rig.Crash();
    rig.Open();
    next = VerifyRecovered(*rig.engine, durable, attempted);
    // What recovery found is on disk now, so it is durable from here on.
    durable = next;
  }
}

TEST_CASE("engine crash: synced batches survive power loss, atomically and in order",
          "[storage][fault]") {
  const uint64_t seed = GENERATE(range(1, 25));
  RunCrashSeed(seed, 3);
}

TEST_CASE("engine crash: a wider sweep of crash points", "[storage][fault][slow]") {
  const uint64_t seed = GENERATE(range(1000, 1200));
  RunCrashSeed(seed, 4);
}

TEST_CASE("fault fs: a new file vanishes unless its directory was synced", "[storage][fault]") {
  test::TempDir tmp;
  REQUIRE(!tmp.path().empty());
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  const rocksdb::IOOptions io;
  const std::string synced_dir_file = tmp.path() + "/a";
  const std::string unsynced_dir_file = tmp.path() + "/b";
  for (const std::string& name : {synced_dir_file, unsynced_dir_file}) {
    std::unique_ptr<rocksdb::FSWritableFile> f;
    REQUIRE(fs->NewWritableFile(name, rocksdb::FileOptions(), &f, nullptr).ok());
    REQUIRE(f->Append("durable", io, nullptr).ok());
    REQUIRE(f->Sync(io, nullptr).ok());
    REQUIRE(f->Append("-lost", io, nullptr).ok());
    REQUIRE(f->Close(io, nullptr).ok());
    CHECK(fs->UnsyncedBytes(name) == 5);
    if (name == synced_dir_file) {
      std::unique_ptr<rocksdb::FSDirectory> dir;
      REQUIRE(fs->NewDirectory(tmp.path(), io, &dir, nullptr).ok());
      // The directory sync covers only what exists so far: "b" is created after it.
      REQUIRE(dir->Fsync(io, nullptr).ok());
    }
  }
  CHECK(fs->UndurableNames() == std::vector<std::string>{unsynced_dir_file});
  REQUIRE(fs->DropUnsyncedData().ok());
  std::string contents;
  REQUIRE(rocksdb::ReadFileToString(fs.get(), synced_dir_file, &contents).ok());
  CHECK(contents == "durable");
  CHECK(fs->FileExists(unsynced_dir_file, io, nullptr).IsNotFound());
}

TEST_CASE("fault fs: an unsynced rename is undone, restoring the overwritten file",
          "[storage][fault]") {
  test::TempDir tmp;
  REQUIRE(!tmp.path().empty());
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSDirectory> dir;
  REQUIRE(fs->NewDirectory(tmp.path(), io, &dir, nullptr).ok());
  const std::string current = tmp.path() + "/CURRENT";
  const std::string tmp_file = tmp.path() + "/CURRENT.tmp";
  REQUIRE(rocksdb::WriteStringToFile(fs.get(), "old", current, /*should_sync=*/true).ok());
  REQUIRE(dir->Fsync(io, nullptr).ok());
  REQUIRE(rocksdb::WriteStringToFile(fs.get(), "new", tmp_file, /*should_sync=*/true).ok());
  REQUIRE(fs->RenameFile(tmp_file, current, io, nullptr).ok());

  SECTION("without a directory sync the rename is lost") {
    REQUIRE(fs->DropUnsyncedData().ok());
    std::string contents;
    REQUIRE(rocksdb::ReadFileToString(fs.get(), current, &contents).ok());
    CHECK(contents == "old");
    // The temporary file came back under its name, then vanished: it was never durable either.
    CHECK(fs->FileExists(tmp_file, io, nullptr).IsNotFound());
  }
  SECTION("a directory sync makes it durable") {
    REQUIRE(dir->Fsync(io, nullptr).ok());
    REQUIRE(fs->DropUnsyncedData().ok());
    std::string contents;
    REQUIRE(rocksdb::ReadFileToString(fs.get(), current, &contents).ok());
    CHECK(contents == "new");
  }
}

TEST_CASE("fault fs: inactive and disk-full fail points", "[storage][fault]") {
  test::TempDir tmp;
  REQUIRE(!tmp.path().empty());
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSWritableFile> f;
  REQUIRE(fs->NewWritableFile(tmp.path() + "/f", rocksdb::FileOptions(), &f, nullptr).ok());

  fs->SetNoSpace(true);
  const rocksdb::IOStatus full = f->Append("x", io, nullptr);
  CHECK(full.IsNoSpace());
  CHECK(FromRocks(full, "append").code == StorageErrorCode::kNoSpace);
  fs->SetNoSpace(false);
  CHECK(f->Append("x", io, nullptr).ok());

  fs->DeactivateAfter(2);
  CHECK(f->Append("y", io, nullptr).ok());
  CHECK(f->Sync(io, nullptr).ok());
  CHECK(fs->IsFilesystemActive());
  CHECK(f->Append("z", io, nullptr).IsIOError());
  CHECK(!fs->IsFilesystemActive());
  CHECK(f->Sync(io, nullptr).IsIOError());
  CHECK(fs->RenameFile(tmp.path() + "/f", tmp.path() + "/g", io, nullptr).IsIOError());
  CHECK(!f->Close(io, nullptr).ok());
  fs->SetFilesystemActive(true);
  REQUIRE(fs->DropUnsyncedData().ok());  // "f" was never made durable in its directory
  CHECK(fs->FileExists(tmp.path() + "/f", io, nullptr).IsNotFound());
}

// After a NoSpace error RocksDB 7.8 stops all writes (a "hard" background error) and its
// SstFileManager retries recovery on its own thread: at once, then every 5 s of wall-clock time
// while the disk is still full. Until that attempt succeeds, DB::Resume() answers Busy. Engine
// offers no event for "recovered", so this polls, bounded: the one place these tests wait on time.
rocksdb::Status WaitForResume(Engine& engine) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    rocksdb::Status s = engine.db()->Resume();
    if (!s.IsBusy() || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void WriteBatches(Engine& engine, uint64_t from, uint64_t to, Durability d) {
  for (uint64_t b = from; b < to; ++b) {
    rocksdb::WriteBatch batch = MakeBatch(engine, b);
    auto written = engine.Write(batch, d);
    INFO("batch " << b << ": " << (written ? std::string("ok") : written.error().message));
    REQUIRE(written.has_value());
  }
}

TEST_CASE("engine disk full: a WAL write fails with kNoSpace and writes resume with space",
          "[storage][fault]") {
  CrashRig rig;
  REQUIRE(!rig.tmp.path().empty());
  rig.Open();
  WriteBatches(*rig.engine, 0, 20, Durability::kSync);

  rig.fs->SetNoSpace(true);
  for (const Durability d : {Durability::kSync, Durability::kNoSync, Durability::kSync}) {
    rocksdb::WriteBatch batch = MakeBatch(*rig.engine, 20);
    auto written = rig.engine->Write(batch, d);
    REQUIRE(!written.has_value());
    INFO(written.error().message);
    CHECK(written.error().code == StorageErrorCode::kNoSpace);
  }
  // Reads go on, and see neither the failed batch nor anything torn.
  CHECK(VerifyRecovered(*rig.engine, 20, 20) == 20);

  rig.fs->SetNoSpace(false);
  const rocksdb::Status resumed = WaitForResume(*rig.engine);
  INFO(resumed.ToString());
  REQUIRE(resumed.ok());
  // The failed batch is written again first, as the LogWriter does, keeping the write order.
  WriteBatches(*rig.engine, 20, 30, Durability::kSync);
  CHECK(VerifyRecovered(*rig.engine, 30, 30) == 30);

  rig.Crash();
  rig.Open();
  CHECK(VerifyRecovered(*rig.engine, 30, 30) == 30);
}

TEST_CASE("engine disk full: a flush on a full disk stops writes until space returns",
          "[storage][fault]") {
  CrashRig rig;
  REQUIRE(!rig.tmp.path().empty());
  rig.Open();
  WriteBatches(*rig.engine, 0, 10, Durability::kSync);
  WriteBatches(*rig.engine, 10, 20, Durability::kNoSync);

  rig.fs->SetNoSpace(true);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  const rocksdb::Status flushed = rig.engine->db()->Flush(fo, rig.engine->raft_cf());
  INFO(flushed.ToString());
  REQUIRE(!flushed.ok());
  CHECK(FromRocks(flushed, "flush").code == StorageErrorCode::kNoSpace);
  {
    rocksdb::WriteBatch batch = MakeBatch(*rig.engine, 20);
    auto written = rig.engine->Write(batch, Durability::kNoSync);
    REQUIRE(!written.has_value());
    INFO(written.error().message);
    CHECK(written.error().code == StorageErrorCode::kNoSpace);
  }

  rig.fs->SetNoSpace(false);
  const rocksdb::Status resumed = WaitForResume(*rig.engine);
  INFO(resumed.ToString());
  REQUIRE(resumed.ok());
  WriteBatches(*rig.engine, 20, 25, Durability::kSync);

  rig.Crash();
  rig.Open();
  CHECK(VerifyRecovered(*rig.engine, 25, 25) == 25);
}

}  // namespace
}  // namespace claw::storage
