// Engine: the node's one RocksDB instance with column families `raft`, `data` and `meta`, opened
// with StorageOptions. The only owner of rocksdb::DB in clawd (DESIGN.md "Storage").
//
// Thread-safety: RocksDB is thread-safe; Engine adds no state after Open, so all methods may be
// called concurrently. Lifecycle: Open -> use -> destroy (closes the DB after a final flush of
// nothing: the WAL makes unflushed memtables durable).
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "storage/error.h"
#include "storage/options.h"

namespace claw::storage {

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

  [[nodiscard]] std::expected<void, StorageError> Write(rocksdb::WriteBatch& batch,
                                                        Durability durability);

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* raft_cf() const { return cfs_[1]; }
  rocksdb::ColumnFamilyHandle* data_cf() const { return cfs_[2]; }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return cfs_[3]; }

  // The database directory, for messages that must say where a problem is.
  const std::string& dir() const { return dir_; }
  // Whether O_DIRECT is in use (false when disabled or refused by the filesystem).
  bool direct_io() const { return direct_io_; }
  // Things the operator should know about how the engine was opened (e.g. the O_DIRECT
  // fallback), one line each, for the caller to log.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  Engine() = default;

  std::unique_ptr<rocksdb::DB> db_;
  // default, raft, data, meta — in this order.
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  std::string dir_;
  bool direct_io_ = false;
  std::vector<std::string> warnings_;
};

// Whether the filesystem holding `dir` accepts O_DIRECT (tmpfs, for one, does not). `dir` must
// exist. On false, *why says what failed.
bool SupportsDirectIo(const std::string& dir, std::string* why);

}  // namespace claw::storage
