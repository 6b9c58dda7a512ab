#include "storage/engine.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/rate_limiter.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>

namespace claw::storage {

std::string StorageOptions::Validate() const {
  if (dir.empty()) return "storage dir must be set";
  if (block_cache_bytes < (8ull << 20)) return "block_cache_bytes must be at least 8 MiB";
  if (bloom_bits_per_key < 0 || bloom_bits_per_key > 32) {
    return "bloom_bits_per_key must be in [0, 32]";
  }
  if (write_buffer_bytes < (1ull << 20)) return "write_buffer_bytes must be at least 1 MiB";
  if (max_write_buffers < 2) return "max_write_buffers must be at least 2";
  if (max_background_jobs < 1) return "max_background_jobs must be at least 1";
  return {};
}

bool SupportsDirectIo(const std::string& dir, std::string* why) {
  const std::string probe = dir + "/.direct_io_probe";
  const int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT, 0600);
  const int open_errno = errno;
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());  // some filesystems create the file before refusing O_DIRECT
  if (fd < 0) {
    *why = std::string("open(O_DIRECT) failed: ") + std::strerror(open_errno);
    return false;
  }
  return true;
}

namespace {

// Hands RocksDB's log messages to StorageOptions::info_log (see there for why no LOG file).
class ForwardingLogger final : public rocksdb::Logger {
 public:
  using Sink = std::function<void(StorageOptions::LogLevel, std::string_view)>;
  ForwardingLogger(Sink sink, StorageOptions::LogLevel min)
      : rocksdb::Logger(ToRocks(min)), sink_(std::move(sink)) {}

  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    // HEADER_LEVEL (the options dump at open) sorts above FATAL but is only informative.
    const StorageOptions::LogLevel mine = FromRocks(level);
    if (ToRocks(mine) < GetInfoLogLevel()) return;
    char small[512];
    va_list again;
    va_copy(again, ap);
    const int n = std::vsnprintf(small, sizeof(small), format, ap);
    if (n < 0) {
      va_end(again);
      return;
    }
    if (static_cast<size_t>(n) < sizeof(small)) {
      va_end(again);
      sink_(mine, std::string_view(small, static_cast<size_t>(n)));
      return;
    }
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), format, again);
    va_end(again);
    big.resize(static_cast<size_t>(n));
    sink_(mine, big);
  }

 private:
  static rocksdb::InfoLogLevel ToRocks(StorageOptions::LogLevel l) {
    switch (l) {
      case StorageOptions::LogLevel::kDebug: return rocksdb::InfoLogLevel::DEBUG_LEVEL;
      case StorageOptions::LogLevel::kInfo: return rocksdb::InfoLogLevel::INFO_LEVEL;
      case StorageOptions::LogLevel::kWarn: return rocksdb::InfoLogLevel::WARN_LEVEL;
      case StorageOptions::LogLevel::kError: return rocksdb::InfoLogLevel::ERROR_LEVEL;
    }
    return rocksdb::InfoLogLevel::INFO_LEVEL;
  }
  static StorageOptions::LogLevel FromRocks(rocksdb::InfoLogLevel l) {
    switch (l) {
      case rocksdb::InfoLogLevel::DEBUG_LEVEL: return StorageOptions::LogLevel::kDebug;
      case rocksdb::InfoLogLevel::WARN_LEVEL: return StorageOptions::LogLevel::kWarn;
      case rocksdb::InfoLogLevel::ERROR_LEVEL:
      case rocksdb::InfoLogLevel::FATAL_LEVEL: return StorageOptions::LogLevel::kError;
      default: return StorageOptions::LogLevel::kInfo;  // INFO, HEADER
    }
  }

  Sink sink_;
};

// The data column family's keys are memcomparable(user key) | 8-byte timestamp: the prefix
// without the timestamp names one user key, so Bloom filters built on it answer "does any
// version of this key exist here?" for MVCC point reads (which are seeks, not Gets).
class UserKeyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "claw.MvccUserKeyPrefix.v1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() > 8; }
};

constexpr double kMemtableBloomRatio = 0.02;

rocksdb::ColumnFamilyOptions BaseCfOptions(const StorageOptions& o,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           bool bloom) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = o.write_buffer_bytes;
  cf.max_write_buffer_number = o.max_write_buffers;
  cf.level_compaction_dynamic_level_bytes = true;
  if (o.compression) {
    // L0 and L1 are rewritten soon: no compression; LZ4 (cheap) above the bottom; ZSTD where
    // most bytes settle.
    cf.compression_per_level = {rocksdb::kNoCompression,  rocksdb::kNoCompression,
                                rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                                rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                                rocksdb::kLZ4Compression};
    cf.bottommost_compression = rocksdb::kZSTD;
  } else {
    cf.compression = rocksdb::kNoCompression;
  }
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = 16 << 10;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  if (bloom && o.bloom_bits_per_key > 0) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(o.bloom_bits_per_key));
    table.whole_key_filtering = false;  // filter on the user-key prefix instead
    cf.prefix_extractor = std::make_shared<UserKeyPrefix>();
    // The same filter over the memtables: a point read (or a put's header read on a key-header
    // cache miss) of a key with no version in a memtable skips that memtable's skiplist search,
    // one cache miss per level (perf under puts to new keys: 3.7 % of the machine). 2 % of the
    // write buffer (1.3 MiB per 64 MiB memtable) is about 50 bits per key for 300-byte versions.
    cf.memtable_prefix_bloom_size_ratio = kMemtableBloomRatio;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

}  // namespace

std::expected<std::unique_ptr<Engine>, StorageError> Engine::Open(const StorageOptions& o,
                                                                  rocksdb::Env* env) {
  if (std::string problem = o.Validate(); !problem.empty()) {
    return std::unexpected(StorageError{.code = StorageErrorCode::kInvalidArgument,
                                        .message = "storage options: " + problem});
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) {
    return std::unexpected(
        StorageError{.code = StorageErrorCode::kIo,
                     .message = "cannot create storage dir " + o.dir + ": " + ec.message()});
  }
  std::unique_ptr<Engine> engine(new Engine());
  engine->dir_ = o.dir;
  engine->min_free_bytes_ = o.min_free_bytes;

  rocksdb::DBOptions db;
  if (o.info_log) db.info_log = std::make_shared<ForwardingLogger>(o.info_log, o.info_log_level);
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.max_background_jobs = o.max_background_jobs;
  db.bytes_per_sync = o.bytes_per_sync;
  db.wal_bytes_per_sync = o.wal_bytes_per_sync;
  db.paranoid_checks = true;
#ifdef CLAW_BREAK_IGNORE_CRC
  // POSITIVE CONTROL, never in clawd (tests/fault's clawd_broken_ignore_crc): no paranoid checks.
  db.paranoid_checks = false;
#endif
  if (env != nullptr) db.env = env;
  engine->statistics_ = rocksdb::CreateDBStatistics();
  engine->statistics_->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  db.statistics = engine->statistics_;
  // A torn WAL tail after a crash is normal (unsynced writes): replay stops at the first bad
  // record and drops the rest. A flipped bit in a synced record looks the same to RocksDB and
  // also cuts the log there; the open fails only if an SST holds data beyond that point
  // (README "Tuning", tests/fault S17).
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  if (o.compaction_rate_bytes_per_sec > 0) {
    db.rate_limiter.reset(rocksdb::NewGenericRateLimiter(int64_t(o.compaction_rate_bytes_per_sec)));
  }
  if (o.direct_io) {
    std::string why;
    if (SupportsDirectIo(o.dir, &why)) {
      db.use_direct_reads = true;
      db.use_direct_io_for_flush_and_compaction = true;
      engine->direct_io_ = true;
    } else {
      engine->warnings_.push_back("direct I/O is not available for " + o.dir + " (" + why +
                                  "); running with buffered I/O");
    }
  }

  auto cache = rocksdb::NewLRUCache(o.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, BaseCfOptions(o, cache, false)},
      {"raft", BaseCfOptions(o, cache, false)},
      {"data", BaseCfOptions(o, cache, true)},
      {"meta", BaseCfOptions(o, cache, false)},
  };
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db, o.dir, cfs, &engine->cfs_, &raw);
  if (!s.ok()) return std::unexpected(FromRocks(s, "open " + o.dir));
  engine->db_.reset(raw);
  return engine;
}

Engine::~Engine() {
  for (rocksdb::ColumnFamilyHandle* cf : cfs_) {
    if (db_) db_->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
  }
  if (db_) db_->Close().PermitUncheckedError();
}

EngineStats Engine::Stats() const {
  EngineStats out;
  auto aggregated = [this](const std::string& name) {
    uint64_t v = 0;
    return db_->GetAggregatedIntProperty(name, &v) ? v : 0;
  };
  auto db_wide = [this](const std::string& name) {
    uint64_t v = 0;
    return db_->GetIntProperty(name, &v) ? v : 0;
  };
  out.sst_files_bytes = aggregated(rocksdb::DB::Properties::kLiveSstFilesSize);
  out.memtable_bytes = aggregated(rocksdb::DB::Properties::kCurSizeAllMemTables);
  out.pending_compaction_bytes = aggregated(rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
  out.write_stopped = db_wide(rocksdb::DB::Properties::kIsWriteStopped) != 0;
  out.delayed_write_rate = db_wide(rocksdb::DB::Properties::kActualDelayedWriteRate);
  out.stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
  out.block_cache_hits = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
  out.block_cache_misses = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
  return out;
}

std::optional<uint64_t> Engine::FreeBytes() const {
  struct statvfs fs{};
  if (::statvfs(dir_.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_frsize);
}

std::expected<void, StorageError> Engine::Write(rocksdb::WriteBatch& batch, Durability durability,
                                                Headroom headroom) {
  const uint64_t need = headroom == Headroom::kApply ? min_free_bytes_ / 4 : min_free_bytes_;
  if (need > 0) {
    // One statvfs per write batch (about a microsecond; batches are group commits).
    if (const auto free = FreeBytes(); free && *free < need) {
      return std::unexpected(StorageError{
          .code = StorageErrorCode::kNoSpace,
          .message = "write: only " + std::to_string(*free) + " bytes free for " + dir_ +
                     "; writes wait until storage.min_free_bytes (" + std::to_string(min_free_bytes_) +
                     ") are free"});
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = durability == Durability::kSync;
  rocksdb::Status s = db_->Write(wo, &batch);
  // An ENOSPC past the free-space check (the disk filled faster than the margin) is still
  // kNoSpace: DB::Resume() recovers from many of them (a failed flush, a WAL switch); from a
  // poisoned WAL writer it does not, and the next write fails (kIo) or asserts: fail-stop.
  if (!s.ok()) return std::unexpected(FromRocks(s, "write"));
  return {};
}

std::expected<std::optional<std::string>, StorageError> Engine::GetMeta(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return std::unexpected(FromRocks(s, "reading a meta record in " + dir_));
  return std::optional<std::string>(std::move(value));
}

std::expected<void, StorageError> Engine::ScanMeta(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() && it->key().ToStringView().starts_with(prefix); it->Next()) {
    if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
  }
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "scanning meta records in " + dir_));
  return {};
}

std::expected<void, StorageError> Engine::PutMeta(WriteBatch& batch, std::string_view key,
                                                  std::string_view value) const {
  rocksdb::Status s = batch.Put(meta_cf(), rocksdb::Slice(key.data(), key.size()),
                                rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return std::unexpected(FromRocks(s, "batching a meta record"));
  return {};
}

std::expected<void, StorageError> Engine::DeleteMeta(WriteBatch& batch, std::string_view key) const {
  rocksdb::Status s = batch.Delete(meta_cf(), rocksdb::Slice(key.data(), key.size()));
  if (!s.ok()) return std::unexpected(FromRocks(s, "batching a meta delete"));
  return {};
}

}  // namespace claw::storage
