// Engine: opening with the three column families, tuning visible in the OPTIONS file, O_DIRECT
// detection and fallback, option validation, reopen.
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "storage/engine.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

std::string ReadOptionsFile(const std::string& dir) {
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("OPTIONS-") && name > newest) newest = name;
  }
  std::ifstream in(dir + "/" + newest);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("engine: opens with raft, data and meta column families and its tuning", "[storage]") {
  test::TempDir dir;
  REQUIRE(!dir.path().empty());
  StorageOptions o;
  o.dir = dir.path() + "/db";
  o.block_cache_bytes = 32 << 20;
  o.compaction_rate_bytes_per_sec = 64 << 20;
  {
    auto engine = Engine::Open(o);
    REQUIRE(engine.has_value());
    CHECK((*engine)->raft_cf()->GetName() == "raft");
    CHECK((*engine)->data_cf()->GetName() == "data");
    CHECK((*engine)->meta_cf()->GetName() == "meta");
    rocksdb::WriteBatch batch;
    REQUIRE(batch.Put((*engine)->meta_cf(), "k", "v").ok());
    REQUIRE((*engine)->Write(batch, Durability::kSync).has_value());
  }
  const std::string options = ReadOptionsFile(o.dir);
  CHECK(options.find("[CFOptions \"raft\"]") != std::string::npos);
  CHECK(options.find("[CFOptions \"data\"]") != std::string::npos);
  CHECK(options.find("bottommost_compression=kZSTD") != std::string::npos);
  CHECK(options.find("kLZ4Compression") != std::string::npos);
  CHECK(options.find("bytes_per_sync=1048576") != std::string::npos);
  CHECK(options.find("bloomfilter") != std::string::npos);
  // The data CF filters on the user key (MVCC reads are seeks over a key's versions).
  CHECK(options.find("prefix_extractor=claw.MvccUserKeyPrefix.v1") != std::string::npos);

  // Reopen: the data is there.
  auto engine = Engine::Open(o);
  REQUIRE(engine.has_value());
  std::string value;
  REQUIRE((*engine)->db()->Get(rocksdb::ReadOptions(), (*engine)->meta_cf(), "k", &value).ok());
  CHECK(value == "v");
}

TEST_CASE("engine: O_DIRECT where the filesystem allows it, one warning where not", "[storage]") {
  test::TempDir disk;
  StorageOptions o;
  o.dir = disk.path() + "/db";
  std::string why;
  std::filesystem::create_directories(o.dir);
  const bool disk_supports = SupportsDirectIo(o.dir, &why);
  auto engine = Engine::Open(o);
  REQUIRE(engine.has_value());
  CHECK((*engine)->direct_io() == disk_supports);
  CHECK((*engine)->warnings().size() == (disk_supports ? 0u : 1u));
  if (disk_supports) {
    CHECK(ReadOptionsFile(o.dir).find("use_direct_reads=true") != std::string::npos);
  }

  // A filesystem that refuses O_DIRECT (ramfs; tmpfs did before Linux 6.6): the engine still
  // opens, buffered, and says so once. Mounting needs root, which CI has.
  if (::geteuid() != 0) {
    WARN("not root: cannot mount a ramfs to test the O_DIRECT fallback");
    return;
  }
  test::TempDir mount_point;
  REQUIRE(::mount("ramfs", mount_point.path().c_str(), "ramfs", 0, nullptr) == 0);
  StorageOptions t;
  t.dir = mount_point.path() + "/db";
  {
    auto on_ramfs = Engine::Open(t);
    REQUIRE(on_ramfs.has_value());
    CHECK_FALSE((*on_ramfs)->direct_io());
    REQUIRE((*on_ramfs)->warnings().size() == 1);
    CHECK((*on_ramfs)->warnings()[0].find("direct I/O is not available") != std::string::npos);
    CHECK(ReadOptionsFile(t.dir).find("use_direct_reads=false") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(t.dir + "/.direct_io_probe"));
  }
  REQUIRE(::umount2(mount_point.path().c_str(), MNT_DETACH) == 0);
}

TEST_CASE("engine: invalid options are refused with the field named", "[storage]") {
  StorageOptions o;
  auto missing_dir = Engine::Open(o);
  REQUIRE_FALSE(missing_dir.has_value());
  CHECK(missing_dir.error().code == StorageErrorCode::kInvalidArgument);
  CHECK(missing_dir.error().message.find("dir") != std::string::npos);

  test::TempDir dir;
  o.dir = dir.path();
  o.max_write_buffers = 1;
  auto bad = Engine::Open(o);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("max_write_buffers") != std::string::npos);
}

TEST_CASE("engine: RocksDB's log goes to info_log, filtered by level, and no LOG file is written", "[storage]") {
  test::TempDir dir;
  std::vector<std::pair<StorageOptions::LogLevel, std::string>> lines;
  std::mutex mu;
  StorageOptions o;
  o.dir = dir.path() + "/db";
  o.info_log = [&](StorageOptions::LogLevel level, std::string_view message) {
    std::lock_guard lock(mu);
    lines.emplace_back(level, std::string(message));
  };
  o.info_log_level = StorageOptions::LogLevel::kInfo;
  {
    auto engine = Engine::Open(o);
    REQUIRE(engine.has_value());
  }
  {
    std::lock_guard lock(mu);
    CHECK(lines.size() > 10);  // the options dump at open, at least
    bool options_dump = false;
    for (const auto& [level, text] : lines) {
      if (text.find("Options.") != std::string::npos) options_dump = true;
    }
    CHECK(options_dump);
    lines.clear();
  }
  CHECK_FALSE(std::filesystem::exists(o.dir + "/LOG"));

  // At the default level (warnings) an uneventful open says nothing.
  o.info_log_level = StorageOptions::LogLevel::kWarn;
  {
    auto engine = Engine::Open(o);
    REQUIRE(engine.has_value());
  }
  std::lock_guard lock(mu);
  for (const auto& [level, text] : lines) {
    CHECK(level >= StorageOptions::LogLevel::kWarn);
  }
  CHECK_FALSE(std::filesystem::exists(o.dir + "/LOG"));
}

// A full disk: writes are refused with kNoSpace before RocksDB sees them (storage.min_free_bytes),
// nothing is lost, and once space returns the same engine writes again without any recovery
// step. RocksDB 7.8 itself cannot go on after a WAL append failed with ENOSPC (and its info LOG
// on the full disk made its error handler assert: fault suite S13), hence both the check and
// info_log.
TEST_CASE("engine: below min_free_bytes writes fail with kNoSpace, and succeed once space returns", "[storage]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot mount a small tmpfs to fill");
    return;
  }
  test::TempDir mount_point;
  REQUIRE(::mount("tmpfs", mount_point.path().c_str(), "tmpfs", 0, "size=16m") == 0);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point.path()};
  StorageOptions o;
  o.dir = mount_point.path() + "/db";
  o.write_buffer_bytes = 1 << 20;
  o.block_cache_bytes = 8 << 20;
  o.min_free_bytes = 4 << 20;
  o.info_log = [](StorageOptions::LogLevel, std::string_view) {};
  auto engine = Engine::Open(o);
  INFO((engine ? std::string() : engine.error().message));
  REQUIRE(engine.has_value());
  Engine& e = **engine;
  const std::string value(16 << 10, 'v');
  auto put = [&](const std::string& key) {
    rocksdb::WriteBatch batch;
    REQUIRE(batch.Put(e.meta_cf(), key, value).ok());
    return e.Write(batch, Durability::kSync);
  };
  REQUIRE(put("before").has_value());

  // Another process fills the file system to the last block.
  const std::string filler = mount_point.path() + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string chunk(64 << 10, 'f');
    while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && out.flush()) {
    }
  }
  REQUIRE(e.FreeBytes().has_value());
  CHECK(*e.FreeBytes() < (1u << 20));
  for (int i = 0; i < 20; ++i) {
    auto w = put("refused" + std::to_string(i));
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error().code == StorageErrorCode::kNoSpace);
    CHECK(w.error().message.find("storage.min_free_bytes") != std::string::npos);
  }

  // Space back: the very next write succeeds, on the same engine; nothing was lost.
  std::filesystem::remove(filler);
  REQUIRE(put("after").has_value());
  std::string got;
  REQUIRE(e.db()->Get(rocksdb::ReadOptions(), e.meta_cf(), "before", &got).ok());
  CHECK(got == value);
  REQUIRE(e.db()->Get(rocksdb::ReadOptions(), e.meta_cf(), "after", &got).ok());
  CHECK(got == value);
  CHECK(e.db()->Get(rocksdb::ReadOptions(), e.meta_cf(), "refused0", &got).IsNotFound());
  CHECK_FALSE(std::filesystem::exists(o.dir + "/LOG"));
}

}  // namespace
}  // namespace claw::storage
