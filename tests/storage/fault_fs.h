// FaultInjectionFileSystem: a rocksdb::FileSystemWrapper for crash and disk-full tests. It passes
// every call to the wrapped (default) FileSystem and remembers what a power loss would undo:
//
//   1. For every file written through it, the bytes appended so far and the size at its last
//      Sync/Fsync (a durability point). RangeSync (sync_file_range) and Close are not: Linux
//      gives no durability for either, and RocksDB never relies on them.
//   2. Per directory, the entries created or renamed into it since its last FsyncDirectory
//      (FSDirectory::Fsync / FsyncWithDirOptions). A new file whose directory was never synced
//      afterwards vanishes at a crash, whatever was synced inside it; a rename that was never made
//      durable is undone (the source name comes back and an overwritten target gets its old
//      durable contents back).
//
// DropUnsyncedData() applies that power loss to the real directory: every tracked file is cut to
// its last synced size, then the undurable directory operations are undone, newest first. Call it
// only when nothing writes through this filesystem any more (the DB is destroyed), then reopen.
// The model, like leveldb's db/fault_injection_test.cc, is stricter than ext4 in practice but
// allowed by POSIX. Simplifications, all in the direction of "more survives": deletions are
// durable at once (RocksDB deletes only files it no longer needs), directories created through it
// are durable at once, and files written otherwise (the info LOG, NewRandomRWFile) are not cut.
//
// Fail points, for crashing at a precise point while the DB object is still open:
//   - SetFilesystemActive(false): every later mutation (append, sync, create, rename, delete,
//     directory sync) fails with IOError and changes nothing on disk, as if the machine had lost
//     power at that instant. Reads still work, so the DB can be destroyed normally.
//   - DeactivateAfter(n): the next n mutations succeed, then the filesystem deactivates itself:
//     crash "at step n" of a write path, for n in 0..Mutations() of a dry run.
//   - SetNoSpace(true): appends fail with IOStatus::NoSpace() (ENOSPC) until SetNoSpace(false).
//
// Typical crash test:
//   auto fs = std::make_shared<FaultInjectionFileSystem>();
//   auto env = NewFaultInjectionEnv(fs);                  // pass env.get() to Engine::Open
//   ... write, acknowledging some writes as durable ...
//   fs->SetFilesystemActive(false);                       // power is cut here
//   engine.reset();                                       // the process goes away
//   REQUIRE(fs->DropUnsyncedData().ok());                 // unsynced bytes and names vanish
//   fs->SetFilesystemActive(true);                        // the machine reboots
//   ... reopen on the same dir and check what survived ...
//
// Thread-safety: all methods may be called from any thread (RocksDB writes and syncs from its
// background threads); one mutex guards the model. Lifetime: must outlive every DB and Env using
// it; hold it in a shared_ptr (NewCompositeEnv requires one).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace claw::storage::test {

class FaultInjectionFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultInjectionFileSystem(
      std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default());

  const char* Name() const override { return "FaultInjectionFileSystem"; }

  // --- Fail points and the crash -------------------------------------------------------------

  // Inactive: every mutation fails with IOError("filesystem inactive") and does nothing.
  void SetFilesystemActive(bool active);
  bool IsFilesystemActive() const;
  // Lets the next `mutations` mutations through, then deactivates (0: deactivate now).
  void DeactivateAfter(uint64_t mutations);
  // While set, Append/PositionedAppend/Allocate fail with IOStatus::NoSpace().
  void SetNoSpace(bool no_space);
  // Mutations attempted through this filesystem since construction (or ResetMutationCount),
  // whether they succeeded or not; for choosing a DeactivateAfter point from a dry run.
  uint64_t Mutations() const;
  void ResetMutationCount();

  // Simulates power loss (see the class comment). Also clears the model: what is on disk
  // afterwards counts as durable. Returns the first error met, after trying everything.
  rocksdb::IOStatus DropUnsyncedData();

  // Model queries, for tests and for diagnosing a failed crash test.
  // The bytes a crash would cut from `fname` (0 for untracked or fully synced files).
  uint64_t UnsyncedBytes(const std::string& fname) const;
  // Paths whose directory entry is not durable yet (created or renamed into place since their
  // directory's last sync).
  std::vector<std::string> UndurableNames() const;

  // --- FileSystem overrides (the tracked operations) ----------------------------------------

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  // Implemented as DeleteFile(old_fname) + NewWritableFile(fname): same contents for RocksDB
  // (a recycled WAL's old bytes are garbage to it), simpler to model.
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& opts, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size, const rocksdb::IOOptions& opts,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname, const rocksdb::IOOptions& opts,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname, const rocksdb::IOOptions& opts,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname, const rocksdb::IOOptions& opts,
                              rocksdb::IODebugContext* dbg) override;

  // --- Called by the file and directory wrappers (fault_fs.cc) ------------------------------

  struct FileState {
    uint64_t size = 0;         // bytes appended (what the file holds now)
    uint64_t synced_size = 0;  // bytes that survive a crash
  };
  // Counts one mutation; returns the error it must fail with, or OK.
  rocksdb::IOStatus CheckMutation();
  // Like CheckMutation, and fails with NoSpace while the disk-full fail point is set.
  rocksdb::IOStatus CheckWrite();
  // A successful write of `len` bytes at `offset` (nullopt: at the end).
  void OnWrite(const std::shared_ptr<FileState>& file, std::optional<uint64_t> offset,
               uint64_t len);
  void OnTruncate(const std::shared_ptr<FileState>& file, uint64_t size);
  // Returns the size to record as synced once the sync succeeds (the size when it started).
  uint64_t SizeBeforeSync(const std::shared_ptr<FileState>& file);
  void OnSync(const std::shared_ptr<FileState>& file, uint64_t synced_size);
  void OnDirectorySync(const std::string& dir);

 private:
  // A directory operation that is not durable until its directory is synced.
  struct DirOp {
    enum class Kind : uint8_t { kCreate, kRename };
    Kind kind = Kind::kCreate;
    std::string dir{};   // directory whose sync makes it durable
    std::string name{};  // kCreate: the new path; kRename: the target path
    std::string src{};   // kRename: the source path
    // kRename over an existing file: that file's durable contents, restored on undo.
    std::optional<std::string> overwritten{};
  };

  rocksdb::IOStatus CheckMutationLocked();
  std::shared_ptr<FileState> TrackNewFileLocked(const std::string& fname, bool existed,
                                                uint64_t size);
  rocksdb::IOStatus UndoLocked(const DirOp& op);

  mutable std::mutex mu_;
  bool active_ = true;                      // guarded by mu_
  bool no_space_ = false;                   // guarded by mu_
  std::optional<uint64_t> mutations_left_;  // guarded by mu_; DeactivateAfter countdown
  uint64_t mutations_ = 0;                  // guarded by mu_
  // Files written through this filesystem since the last DropUnsyncedData, by current path.
  std::map<std::string, std::shared_ptr<FileState>> files_;  // guarded by mu_
  std::vector<DirOp> dir_ops_;                               // guarded by mu_; oldest first
};

// A composite Env that does its file I/O through `fs` (threads and clock from Env::Default()),
// for Engine::Open(options, env.get()). The Env shares ownership of `fs`.
std::unique_ptr<rocksdb::Env> NewFaultInjectionEnv(
    const std::shared_ptr<FaultInjectionFileSystem>& fs);

}  // namespace claw::storage::test
