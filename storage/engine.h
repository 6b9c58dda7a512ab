// Engine: the node's one RocksDB instance with column families `raft`, `data` and `meta`, opened
// with StorageOptions. The only owner of rocksdb::DB in clawd (DESIGN.md "Storage").
//
// Thread-safety: RocksDB is thread-safe; Engine adds no state after Open, so all methods may be
// called concurrently. Lifecycle: Open -> use -> destroy (closes the DB after a final flush of
// nothing: the WAL makes unflushed memtables durable).
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/statistics.h>
#include <rocksdb/write_batch.h>

#include "storage/error.h"
#include "storage/options.h"

namespace claw::storage {

// The unit of atomic writes through Engine::Write. Callers above storage/ name it through this
// alias and fill it only through storage's functions (MvccWriter, EncodeGroupWrite, PutMeta...),
// never with RocksDB calls of their own.
using WriteBatch = rocksdb::WriteBatch;

// What the engine reports for monitoring (server/metrics.h exports it). Read through RocksDB
// properties and tickers: cheap, no I/O.
struct EngineStats {
  uint64_t sst_files_bytes = 0;           // live SST files, all column families
  uint64_t memtable_bytes = 0;            // active and immutable memtables
  uint64_t pending_compaction_bytes = 0;  // estimated bytes compaction still has to rewrite
  bool write_stopped = false;             // RocksDB stops writes (too many L0 files / memtables)
  uint64_t delayed_write_rate = 0;        // bytes/s writes are slowed to; 0 when not delayed
  uint64_t stall_micros = 0;              // time writes spent stalled or delayed, since open
  uint64_t block_cache_hits = 0;          // since open
  uint64_t block_cache_misses = 0;        // since open
};

enum class Durability : uint8_t {
  kSync,    // the WAL is fsynced before Write returns
  kNoSync,  // in the WAL (survives a process crash), not yet fsynced (may be lost on power loss)
};

class Engine {
 public:
  // Opens (creating if needed) the database in options.dir. Fails with kInvalidArgument for bad
  // options, kCorruption when RocksDB finds damaged files (the node must not start), kIo else.
  // `env`, when set, replaces the default RocksDB environment (as rocksdb::Options::env does),
  // e.g. one over a FileSystemWrapper that injects faults; it must outlive the Engine.
  [[nodiscard]] static std::expected<std::unique_ptr<Engine>, StorageError> Open(
      const StorageOptions& options, rocksdb::Env* env = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // How much of StorageOptions::min_free_bytes a write may not touch: new data (the Raft log,
  // everything by default) stops at the whole margin; applying entries the log already holds
  // (bounded by what the log took before it stopped) may use the margin's last three quarters,
  // so that a node out of space still applies what it has and keeps serving.
  enum class Headroom : uint8_t { kNewData, kApply };
  // Writes the batch. kNoSpace (nothing written; retry later, after DB::Resume) while the file
  // system has fewer free bytes than the headroom asks, or when RocksDB itself hit ENOSPC.
  [[nodiscard]] std::expected<void, StorageError> Write(rocksdb::WriteBatch& batch, Durability durability,
                                                        Headroom headroom = Headroom::kNewData);

  // --- The `meta` column family for callers outside storage/ (storage/README.md lists its keys;
  // key_codec.h builds them). Point read: nullopt when absent.
  [[nodiscard]] std::expected<std::optional<std::string>, StorageError> GetMeta(
      std::string_view key) const;
  // Calls `visit` for every meta key starting with `prefix`, in order, until it returns false.
  [[nodiscard]] std::expected<void, StorageError> ScanMeta(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const;
  // Adds a put or a delete of a meta key to `batch`.
  [[nodiscard]] std::expected<void, StorageError> PutMeta(WriteBatch& batch, std::string_view key,
                                                          std::string_view value) const;
  [[nodiscard]] std::expected<void, StorageError> DeleteMeta(WriteBatch& batch,
                                                             std::string_view key) const;

  // Monitoring figures (thread-safe, cheap).
  EngineStats Stats() const;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* raft_cf() const { return cfs_[1]; }
  rocksdb::ColumnFamilyHandle* data_cf() const { return cfs_[2]; }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return cfs_[3]; }

  // The database directory, for messages that must say where a problem is.
  const std::string& dir() const { return dir_; }
  // Bytes available to this process on the file system holding dir(); nullopt if statvfs fails.
  std::optional<uint64_t> FreeBytes() const;
  // Whether O_DIRECT is in use (false when disabled or refused by the filesystem).
  bool direct_io() const { return direct_io_; }
  // Things the operator should know about how the engine was opened (e.g. the O_DIRECT
  // fallback), one line each, for the caller to log.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  Engine() = default;

  std::unique_ptr<rocksdb::DB> db_;
  // Tickers only (no histograms or timers): block cache hits/misses and stall time for Stats().
  std::shared_ptr<rocksdb::Statistics> statistics_;
  // default, raft, data, meta — in this order.
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  std::string dir_;
  uint64_t min_free_bytes_ = 0;
  bool direct_io_ = false;
  std::vector<std::string> warnings_;
};

// Whether the filesystem holding `dir` accepts O_DIRECT (tmpfs, for one, does not). `dir` must
// exist. On false, *why says what failed.
bool SupportsDirectIo(const std::string& dir, std::string* why);

}  // namespace claw::storage
