// StorageOptions: the RocksDB tuning clawd runs with, as named, documented settings. The config
// module (config/) fills it from YAML/env/flags; Engine::Open applies it. Every effective RocksDB
// option ends up in the OPTIONS-* file RocksDB writes into the data directory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace claw::storage {

struct StorageOptions {
  // Directory of the node's RocksDB (created if missing).
  std::string dir;

  // O_DIRECT for reads and for flush/compaction writes: the block cache is the only cache, and
  // compaction does not evict the page cache the OS would otherwise fill. Default on. Filesystems
  // that refuse O_DIRECT (tmpfs) are detected at open; the engine then runs buffered and reports
  // one warning.
  bool direct_io = true;

  // Shared LRU block cache for all column families. Default 256 MiB; size it to about a third of
  // the memory left to clawd.
  uint64_t block_cache_bytes = 256ull << 20;

  // Bloom filter bits per key on the data column family, built on the user key (the key without
  // its timestamp suffix) so that MVCC point reads skip files holding no version of the key.
  // 10 bits ~ 1% false positives; 0 disables. The memtables get a filter on the same prefix
  // (2 % of write_buffer_bytes each) whenever this one is on.
  int bloom_bits_per_key = 10;

  // Memtable size per column family and how many may exist before writes stall.
  uint64_t write_buffer_bytes = 64ull << 20;
  int max_write_buffers = 4;

  // Flush and compaction threads. Default 4 (2 cores here; more cores, more jobs).
  int max_background_jobs = 4;

  // Rate limit for flush and compaction writes, bytes per second; 0 = unlimited. Keeps
  // compaction from starving foreground fsyncs on a shared disk.
  uint64_t compaction_rate_bytes_per_sec = 0;

  // Incremental sync of SST and WAL files while they are written (smooths fsync latency).
  uint64_t bytes_per_sync = 1ull << 20;
  uint64_t wal_bytes_per_sync = 512ull << 10;

  // Compression per level: none on L0/L1 (hot, short-lived), LZ4 above the bottom, ZSTD at the
  // bottommost level where most bytes live. Not configurable beyond on/off.
  bool compression = true;

  // Writes are refused with kNoSpace, before RocksDB sees them, while the file system holding
  // `dir` has fewer free bytes than this. RocksDB 7.8 cannot always go on after a WAL append
  // failed with ENOSPC (the WAL's writer can stay poisoned after DB::Resume, and the next write
  // asserts in Debian's build), so clawd stops writing before the disk is really full; the log
  // writer and the apply path wait and retry. 0 = no check. Default 128 MiB.
  uint64_t min_free_bytes = 128ull << 20;

  // RocksDB's own diagnostic log. Unset: RocksDB's LOG file in `dir`. Set (clawd): every message
  // at or above info_log_level goes to this function instead (from RocksDB's threads) and no LOG
  // file is written. clawd needs that: a LOG file that hits ENOSPC poisons its writer, and
  // RocksDB's error handler then appends to it while handling the disk-full error (an assertion
  // in Debian's build), so a full disk would kill the node instead of letting it wait.
  enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };
  std::function<void(LogLevel, std::string_view)> info_log{};
  LogLevel info_log_level = LogLevel::kWarn;

  // Empty when valid, else a message naming the field.
  std::string Validate() const;
};

}  // namespace claw::storage
