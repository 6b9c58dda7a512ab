// CrashRig: a database directory on a FaultInjectionFileSystem, opened and "powered off" over and
// over, for the storage crash tests. Small memtables and few background threads keep flushes,
// new WALs and MANIFEST updates inside the crash window.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <rocksdb/env.h>

#include "storage/engine.h"
#include "tests/storage/fault_fs.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage::test {

inline StorageOptions CrashTestOptions(const std::string& dir) {
  StorageOptions o;
  o.dir = dir;
  o.direct_io = false;
  o.block_cache_bytes = 8 << 20;
  o.write_buffer_bytes = 1 << 20;
  o.max_write_buffers = 2;
  o.max_background_jobs = 2;
  return o;
}

struct CrashRig {
  TempDir tmp;
  std::shared_ptr<FaultInjectionFileSystem> fs = std::make_shared<FaultInjectionFileSystem>();
  std::unique_ptr<rocksdb::Env> env = NewFaultInjectionEnv(fs);
  StorageOptions options = CrashTestOptions(tmp.path() + "/db");
  std::unique_ptr<Engine> engine;

  void Open() {
    auto opened = Engine::Open(options, env.get());
    INFO((opened.has_value() ? std::string() : opened.error().message));
    REQUIRE(opened.has_value());
    engine = std::move(*opened);
  }
  // Power loss: nothing more reaches the disk, the process goes away, unsynced data vanishes,
  // the machine comes back. Release everything that refers to `engine` first.
  void Crash() {
    fs->SetFilesystemActive(false);
    engine.reset();
    const rocksdb::IOStatus dropped = fs->DropUnsyncedData();
    INFO(dropped.ToString());
    REQUIRE(dropped.ok());
    fs->SetFilesystemActive(true);
  }
};

}  // namespace claw::storage::test
