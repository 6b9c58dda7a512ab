#include "tests/storage/fault_fs.h"

#include <algorithm>
#include <filesystem>
#include <utility>

namespace claw::storage::test {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using FileState = FaultInjectionFileSystem::FileState;

std::string NormalPath(const std::string& path) {
  std::string s = std::filesystem::path(path).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string DirOf(const std::string& normal_path) {
  std::string dir = std::filesystem::path(normal_path).parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

// FileSystem::Truncate is optional (the POSIX one does not implement it): reopen and cut.
IOStatus TruncateFile(rocksdb::FileSystem* fs, const std::string& path, uint64_t size) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = fs->ReopenWritableFile(path, rocksdb::FileOptions(), &file, nullptr);
  if (s.ok()) s = file->Truncate(size, IOOptions(), nullptr);
  if (s.ok()) s = file->Fsync(IOOptions(), nullptr);
  if (file) {
    IOStatus closed = file->Close(IOOptions(), nullptr);
    if (s.ok()) s = closed;
  }
  return s;
}

// A file opened for writing: every mutation asks the filesystem first, then reports success.
class FaultWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target, FaultInjectionFileSystem* fs,
                    std::shared_ptr<FileState> state)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), state_(std::move(state)) {}

  IOStatus Append(const rocksdb::Slice& data, const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckWrite(); !s.ok()) return s;
    IOStatus s = target()->Append(data, opts, dbg);
    if (s.ok()) fs_->OnWrite(state_, std::nullopt, data.size());
    return s;
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& opts,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckWrite(); !s.ok()) return s;
    IOStatus s = target()->Append(data, opts, info, dbg);
    if (s.ok()) fs_->OnWrite(state_, std::nullopt, data.size());
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& opts,
                            IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckWrite(); !s.ok()) return s;
    IOStatus s = target()->PositionedAppend(data, offset, opts, dbg);
    if (s.ok()) fs_->OnWrite(state_, offset, data.size());
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& opts,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckWrite(); !s.ok()) return s;
    IOStatus s = target()->PositionedAppend(data, offset, opts, info, dbg);
    if (s.ok()) fs_->OnWrite(state_, offset, data.size());
    return s;
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& opts,
                    IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckWrite(); !s.ok()) return s;
    return target()->Allocate(offset, len, opts, dbg);
  }
  IOStatus Truncate(uint64_t size, const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    IOStatus s = target()->Truncate(size, opts, dbg);
    if (s.ok()) fs_->OnTruncate(state_, size);
    return s;
  }
  IOStatus Flush(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    return target()->Flush(opts, dbg);
  }
  IOStatus Sync(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    const uint64_t size = fs_->SizeBeforeSync(state_);
    IOStatus s = target()->Sync(opts, dbg);
    if (s.ok()) fs_->OnSync(state_, size);
    return s;
  }
  IOStatus Fsync(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    const uint64_t size = fs_->SizeBeforeSync(state_);
    IOStatus s = target()->Fsync(opts, dbg);
    if (s.ok()) fs_->OnSync(state_, size);
    return s;
  }
  // sync_file_range: starts writeback, durable nothing (see the class comment).
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& opts,
                     IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    return target()->RangeSync(offset, nbytes, opts, dbg);
  }
  // Always closes the descriptor; while inactive, reports the failure too.
  IOStatus Close(const IOOptions& opts, IODebugContext* dbg) override {
    IOStatus check = fs_->CheckMutation();
    IOStatus s = target()->Close(opts, dbg);
    return check.ok() ? s : check;
  }

 private:
  FaultInjectionFileSystem* fs_;
  std::shared_ptr<FileState> state_;
};

// Random-access writes (RocksDB uses them only for ingested files): failed when inactive or full,
// not modelled for the crash.
class FaultRandomRWFile : public rocksdb::FSRandomRWFileOwnerWrapper {
 public:
  FaultRandomRWFile(std::unique_ptr<rocksdb::FSRandomRWFile> target, FaultInjectionFileSystem* fs)
      : FSRandomRWFileOwnerWrapper(std::move(target)), fs_(fs) {}

  IOStatus Write(uint64_t offset, const rocksdb::Slice& data, const IOOptions& opts,
                 IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckWrite(); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Write(offset, data, opts, dbg);
  }
  IOStatus Flush(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Flush(opts, dbg);
  }
  IOStatus Sync(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Sync(opts, dbg);
  }
  IOStatus Fsync(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    return FSRandomRWFileOwnerWrapper::Fsync(opts, dbg);
  }

 private:
  FaultInjectionFileSystem* fs_;
};

// A directory handle whose Fsync makes the directory's pending entries durable.
class FaultDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  FaultDirectory(std::unique_ptr<rocksdb::FSDirectory> target, FaultInjectionFileSystem* fs,
                 std::string dir)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), dir_(std::move(dir)) {}

  IOStatus Fsync(const IOOptions& opts, IODebugContext* dbg) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    IOStatus s = FSDirectoryWrapper::Fsync(opts, dbg);
    if (s.ok()) fs_->OnDirectorySync(dir_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const IOOptions& opts, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_opts) override {
    if (IOStatus s = fs_->CheckMutation(); !s.ok()) return s;
    IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(opts, dbg, dir_opts);
    if (s.ok()) fs_->OnDirectorySync(dir_);
    return s;
  }

 private:
  FaultInjectionFileSystem* fs_;
  std::string dir_;
};

}  // namespace

FaultInjectionFileSystem::FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(base) {}

// --- Fail points ----------------------------------------------------------------------------

void FaultInjectionFileSystem::SetFilesystemActive(bool active) {
  std::lock_guard lock(mu_);
  active_ = active;
  mutations_left_.reset();
}

bool FaultInjectionFileSystem::IsFilesystemActive() const {
  std::lock_guard lock(mu_);
  return active_;
}

void FaultInjectionFileSystem::DeactivateAfter(uint64_t mutations) {
  std::lock_guard lock(mu_);
  if (mutations == 0) {
    active_ = false;
    mutations_left_.reset();
  } else {
    mutations_left_ = mutations;
  }
}

void FaultInjectionFileSystem::SetNoSpace(bool no_space) {
  std::lock_guard lock(mu_);
  no_space_ = no_space;
}

uint64_t FaultInjectionFileSystem::Mutations() const {
  std::lock_guard lock(mu_);
  return mutations_;
}

void FaultInjectionFileSystem::ResetMutationCount() {
  std::lock_guard lock(mu_);
  mutations_ = 0;
}

IOStatus FaultInjectionFileSystem::CheckMutationLocked() {
  ++mutations_;
  if (mutations_left_.has_value()) {
    if (*mutations_left_ == 0) {
      active_ = false;
      mutations_left_.reset();
    } else {
      --*mutations_left_;
    }
  }
  if (!active_) return IOStatus::IOError("filesystem inactive (simulated power loss)");
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::CheckMutation() {
  std::lock_guard lock(mu_);
  return CheckMutationLocked();
}

IOStatus FaultInjectionFileSystem::CheckWrite() {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckMutationLocked(); !s.ok()) return s;
  if (no_space_) return IOStatus::NoSpace("simulated disk full");
  return IOStatus::OK();
}

// --- Model updates from the wrappers ---------------------------------------------------------

void FaultInjectionFileSystem::OnWrite(const std::shared_ptr<FileState>& file,
                                       std::optional<uint64_t> offset, uint64_t len) {
  std::lock_guard lock(mu_);
  const uint64_t end = offset.value_or(file->size) + len;
  file->size = std::max(file->size, end);
}

void FaultInjectionFileSystem::OnTruncate(const std::shared_ptr<FileState>& file, uint64_t size) {
  std::lock_guard lock(mu_);
  file->size = size;
  file->synced_size = std::min(file->synced_size, size);
}

uint64_t FaultInjectionFileSystem::SizeBeforeSync(const std::shared_ptr<FileState>& file) {
  std::lock_guard lock(mu_);
  return file->size;
}

void FaultInjectionFileSystem::OnSync(const std::shared_ptr<FileState>& file,
                                      uint64_t synced_size) {
  std::lock_guard lock(mu_);
  file->synced_size = std::max(file->synced_size, std::min(synced_size, file->size));
}

void FaultInjectionFileSystem::OnDirectorySync(const std::string& dir) {
  std::lock_guard lock(mu_);
  std::erase_if(dir_ops_, [&](const DirOp& op) { return op.dir == dir; });
}

std::shared_ptr<FileState> FaultInjectionFileSystem::TrackNewFileLocked(const std::string& fname,
                                                                        bool existed,
                                                                        uint64_t size) {
  auto state = std::make_shared<FileState>();
  state->size = size;
  state->synced_size = size;
  files_[fname] = state;
  if (!existed) {
    dir_ops_.push_back(DirOp{.kind = DirOp::Kind::kCreate, .dir = DirOf(fname), .name = fname});
  }
  return state;
}

// --- Tracked FileSystem operations -----------------------------------------------------------

IOStatus FaultInjectionFileSystem::NewWritableFile(const std::string& fname,
                                                   const rocksdb::FileOptions& opts,
                                                   std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                   IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  const std::string path = NormalPath(fname);
  const bool existed = target()->FileExists(fname, IOOptions(), dbg).ok();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mu_);
    // An existing file is truncated to 0, which counts as durable only after a sync.
    state = TrackNewFileLocked(path, existed, 0);
  }
  *result = std::make_unique<FaultWritableFile>(std::move(file), this, std::move(state));
  return s;
}

IOStatus FaultInjectionFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  const std::string path = NormalPath(fname);
  const bool existed = target()->FileExists(fname, IOOptions(), dbg).ok();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->ReopenWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  uint64_t size = 0;
  if (existed) target()->GetFileSize(fname, IOOptions(), &size, dbg).PermitUncheckedError();
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mu_);
    if (auto it = files_.find(path); it != files_.end()) {
      state = it->second;
      state->size = size;
      state->synced_size = std::min(state->synced_size, size);
    } else {
      // Not written through here since the last crash: what is on disk is durable.
      state = TrackNewFileLocked(path, existed, size);
    }
  }
  *result = std::make_unique<FaultWritableFile>(std::move(file), this, std::move(state));
  return s;
}

IOStatus FaultInjectionFileSystem::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  if (IOStatus s = DeleteFile(old_fname, IOOptions(), dbg); !s.ok()) return s;
  return NewWritableFile(fname, opts, result, dbg);
}

IOStatus FaultInjectionFileSystem::NewRandomRWFile(const std::string& fname,
                                                   const rocksdb::FileOptions& opts,
                                                   std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                                   IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSRandomRWFile> file;
  IOStatus s = target()->NewRandomRWFile(fname, opts, &file, dbg);
  if (s.ok()) *result = std::make_unique<FaultRandomRWFile>(std::move(file), this);
  return s;
}

IOStatus FaultInjectionFileSystem::NewDirectory(const std::string& name, const IOOptions& opts,
                                                std::unique_ptr<rocksdb::FSDirectory>* result,
                                                IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, opts, &dir, dbg);
  if (s.ok()) *result = std::make_unique<FaultDirectory>(std::move(dir), this, NormalPath(name));
  return s;
}

IOStatus FaultInjectionFileSystem::DeleteFile(const std::string& fname, const IOOptions& opts,
                                              IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  IOStatus s = target()->DeleteFile(fname, opts, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    files_.erase(NormalPath(fname));
  }
  return s;
}

IOStatus FaultInjectionFileSystem::RenameFile(const std::string& src, const std::string& target,
                                              const IOOptions& opts, IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  const std::string from = NormalPath(src);
  const std::string to = NormalPath(target);
  // What a crash brings back under `to` if the rename is not made durable: its durable bytes.
  std::optional<std::string> overwritten;
  if (target_->FileExists(target, IOOptions(), dbg).ok()) {
    std::string contents;
    if (rocksdb::ReadFileToString(target_.get(), target, &contents).ok()) {
      std::lock_guard lock(mu_);
      if (auto it = files_.find(to); it != files_.end()) {
        contents.resize(std::min<uint64_t>(contents.size(), it->second->synced_size));
      }
      overwritten = std::move(contents);
    }
  }
  IOStatus s = target_->RenameFile(src, target, opts, dbg);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  files_.erase(to);
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  }
  dir_ops_.push_back(DirOp{.kind = DirOp::Kind::kRename,
                           .dir = DirOf(to),
                           .name = to,
                           .src = from,
                           .overwritten = std::move(overwritten)});
  return s;
}

IOStatus FaultInjectionFileSystem::LinkFile(const std::string& src, const std::string& target,
                                            const IOOptions& opts, IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  IOStatus s = target_->LinkFile(src, target, opts, dbg);
  if (s.ok()) {
    const std::string to = NormalPath(target);
    std::lock_guard lock(mu_);
    dir_ops_.push_back(DirOp{.kind = DirOp::Kind::kCreate, .dir = DirOf(to), .name = to});
  }
  return s;
}

IOStatus FaultInjectionFileSystem::Truncate(const std::string& fname, size_t size,
                                            const IOOptions& opts, IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  IOStatus s = target()->Truncate(fname, size, opts, dbg);
  if (s.ok()) {
    std::shared_ptr<FileState> state;
    {
      std::lock_guard lock(mu_);
      if (auto it = files_.find(NormalPath(fname)); it != files_.end()) state = it->second;
    }
    if (state) OnTruncate(state, size);
  }
  return s;
}

IOStatus FaultInjectionFileSystem::CreateDir(const std::string& dirname, const IOOptions& opts,
                                             IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  return target()->CreateDir(dirname, opts, dbg);
}

IOStatus FaultInjectionFileSystem::CreateDirIfMissing(const std::string& dirname,
                                                      const IOOptions& opts, IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  return target()->CreateDirIfMissing(dirname, opts, dbg);
}

IOStatus FaultInjectionFileSystem::DeleteDir(const std::string& dirname, const IOOptions& opts,
                                             IODebugContext* dbg) {
  if (IOStatus s = CheckMutation(); !s.ok()) return s;
  return target()->DeleteDir(dirname, opts, dbg);
}

// --- The crash -------------------------------------------------------------------------------

IOStatus FaultInjectionFileSystem::UndoLocked(const DirOp& op) {
  const IOOptions opts;
  if (!target()->FileExists(op.name, opts, nullptr).ok()) return IOStatus::OK();
  if (op.kind == DirOp::Kind::kCreate) return target()->DeleteFile(op.name, opts, nullptr);
  IOStatus s = target()->RenameFile(op.name, op.src, opts, nullptr);
  if (s.ok() && op.overwritten.has_value()) {
    s = rocksdb::WriteStringToFile(target(), *op.overwritten, op.name, /*should_sync=*/true);
  }
  return s;
}

IOStatus FaultInjectionFileSystem::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  IOStatus first;
  auto keep_first = [&](IOStatus s) {
    if (!s.ok() && first.ok()) first = std::move(s);
  };
  const IOOptions opts;
  for (const auto& [path, state] : files_) {
    uint64_t on_disk = 0;
    if (!target()->GetFileSize(path, opts, &on_disk, nullptr).ok()) continue;  // gone already
    if (on_disk > state->synced_size) keep_first(TruncateFile(target(), path, state->synced_size));
  }
  for (auto it = dir_ops_.rbegin(); it != dir_ops_.rend(); ++it) keep_first(UndoLocked(*it));
  files_.clear();
  dir_ops_.clear();
  return first;
}

uint64_t FaultInjectionFileSystem::UnsyncedBytes(const std::string& fname) const {
  std::lock_guard lock(mu_);
  auto it = files_.find(NormalPath(fname));
  return it == files_.end() ? 0 : it->second->size - it->second->synced_size;
}

std::vector<std::string> FaultInjectionFileSystem::UndurableNames() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const DirOp& op : dir_ops_) names.push_back(op.name);
  return names;
}

std::unique_ptr<rocksdb::Env> NewFaultInjectionEnv(
    const std::shared_ptr<FaultInjectionFileSystem>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace claw::storage::test
