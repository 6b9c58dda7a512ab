// A small RocksDB engine for server unit tests: 8 MiB block cache, 1 MiB memtables, no direct
// I/O (temp directories may be on tmpfs).
#pragma once

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "storage/engine.h"

namespace claw::server::test {

inline std::unique_ptr<storage::Engine> OpenEngine(const std::string& dir) {
  storage::StorageOptions o;
  o.dir = dir;
  o.direct_io = false;
  o.block_cache_bytes = 8 << 20;
  o.write_buffer_bytes = 1 << 20;
  auto opened = storage::Engine::Open(o);
  REQUIRE(opened.has_value());
  return std::move(*opened);
}

}  // namespace claw::server::test
