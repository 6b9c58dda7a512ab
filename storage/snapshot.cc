#include "storage/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table_properties.h>

#include "storage/crc32c.h"

namespace claw::storage {
namespace {

constexpr std::string_view kManifestMagic = "CLAWSNAP";
constexpr std::string_view kManifestTempName = "MANIFEST.tmp";
constexpr std::string_view kIngestStagingName = "ingest.tmp";
// A manifest lists file names and a configuration: far below this. Bounds the read of a damaged
// or hostile file.
constexpr uint64_t kMaxManifestBytes = 64ull << 20;
constexpr size_t kReadChunk = 1 << 20;

using Result = std::expected<void, StorageError>;

StorageError Error(StorageErrorCode code, std::string message) {
  return StorageError{.code = code, .message = std::move(message)};
}

StorageError Corruption(std::string message) {
  return Error(StorageErrorCode::kCorruption, std::move(message));
}

StorageError ErrnoError(int err, const std::string& context) {
  const StorageErrorCode code =
      (err == ENOSPC || err == EDQUOT) ? StorageErrorCode::kNoSpace : StorageErrorCode::kIo;
  return Error(code, context + ": " + std::strerror(err));
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08" PRIx32, v);
  return buf;
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

// The data-CF key range of user range [start, end): [Enc(start), Enc(end)); nullopt upper for
// an unbounded end.
std::string DataLowerBound(const ShardRange& range) {
  std::string out;
  EncodeMemcomparable(out, range.start);
  return out;
}

std::optional<std::string> DataUpperBound(const ShardRange& range) {
  if (range.end.empty()) return std::nullopt;
  std::string out;
  EncodeMemcomparable(out, range.end);
  return out;
}

// --- POSIX helpers.

// Closes the descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close() may carry (delayed write errors).
  Result Close(const std::string& path) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return std::unexpected(ErrnoError(errno, "close " + path));
    return {};
  }

 private:
  int fd_;
};

Result FsyncPath(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(ErrnoError(errno, "open " + path));
  if (::fsync(fd.get()) != 0) return std::unexpected(ErrnoError(errno, "fsync " + path));
  return fd.Close(path);
}

Result FsyncFile(const std::string& path) { return FsyncPath(path, O_RDONLY); }
Result FsyncDir(const std::string& path) { return FsyncPath(path, O_RDONLY | O_DIRECTORY); }

// CRC-32C and byte count of the whole file.
struct FileDigest {
  uint64_t size = 0;
  uint32_t crc = 0;
};

// Reads `fd` to its end, handing each chunk to `consume`, which may stop the read with an error.
template <typename Consume>
std::expected<void, StorageError> ReadChunks(int fd, const std::string& path, Consume consume) {
  std::string buf(kReadChunk, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(ErrnoError(errno, "read " + path));
    }
    if (n == 0) return {};
    if (auto consumed = consume(std::string_view(buf.data(), size_t(n))); !consumed) {
      return consumed;
    }
  }
}

std::expected<FileDigest, StorageError> DigestFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(ErrnoError(errno, "open " + path));
  FileDigest digest;
  auto read = ReadChunks(fd.get(), path, [&](std::string_view chunk) {
    digest.crc = Crc32c(digest.crc, chunk);
    digest.size += chunk.size();
    return std::expected<void, StorageError>();
  });
  if (!read) return std::unexpected(read.error());
  return digest;
}

std::expected<std::string, StorageError> ReadSmallFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return std::unexpected(Error(StorageErrorCode::kNotFound, "no snapshot manifest " + path));
    }
    return std::unexpected(ErrnoError(err, "open " + path));
  }
  std::string out;
  auto read =
      ReadChunks(fd.get(), path, [&](std::string_view chunk) -> std::expected<void, StorageError> {
        out.append(chunk);
        if (out.size() > kMaxManifestBytes) {
          return std::unexpected(Corruption("snapshot manifest " + path + " is larger than " +
                                            std::to_string(kMaxManifestBytes) + " bytes"));
        }
        return {};
      });
  if (!read) return std::unexpected(read.error());
  return out;
}

// Writes `bytes` to dir/final_name atomically: temp file, fsync, rename, fsync dir.
Result WriteFileAtomically(const std::string& dir, std::string_view temp_name,
                           std::string_view final_name, std::string_view bytes) {
  const std::string temp = JoinPath(dir, temp_name);
  {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return std::unexpected(ErrnoError(errno, "create " + temp));
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(ErrnoError(errno, "write " + temp));
      }
      bytes.remove_prefix(size_t(n));
    }
    if (::fsync(fd.get()) != 0) return std::unexpected(ErrnoError(errno, "fsync " + temp));
    if (Result r = fd.Close(temp); !r) return r;
  }
  const std::string final_path = JoinPath(dir, final_name);
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    return std::unexpected(ErrnoError(errno, "rename " + temp + " to " + final_path));
  }
  return FsyncDir(dir);
}

// Creates `dir` if needed and requires it to be empty.
Result PrepareEmptyDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return std::unexpected(ErrnoError(ec.value(), "create snapshot dir " + dir));
  const bool empty = std::filesystem::is_empty(dir, ec);
  if (ec) return std::unexpected(ErrnoError(ec.value(), "list snapshot dir " + dir));
  if (!empty) {
    return std::unexpected(
        Error(StorageErrorCode::kInvalidArgument, "snapshot dir " + dir + " is not empty"));
  }
  return {};
}

// --- Manifest encoding.

void PutString(std::string& out, std::string_view s) {
  PutBigEndian64(out, s.size());
  out.append(s);
}

// Bounds-checked reader over manifest bytes; every failure becomes one kCorruption.
class ManifestReader {
 public:
  explicit ManifestReader(std::string_view in) : in_(in) {}
  bool U64(uint64_t& v) {
    if (in_.size() < 8) return false;
    v = GetBigEndian64(in_);
    in_.remove_prefix(8);
    return true;
  }
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = GetFixed32(in_);
    in_.remove_prefix(4);
    return true;
  }
  bool String(std::string& s) {
    uint64_t n = 0;
    if (!U64(n) || n > in_.size()) return false;
    s.assign(in_.substr(0, size_t(n)));
    in_.remove_prefix(size_t(n));
    return true;
  }
  size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
};

// A name the manifest may list: a plain file name, never a path, never the manifest itself.
bool SafeFileName(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
         name != kSnapshotManifestName && name != kManifestTempName && name != kIngestStagingName;
}

std::expected<SnapshotManifest, std::string> DecodeManifestBody(std::string_view body) {
  if (!body.starts_with(kManifestMagic)) return std::unexpected("bad magic");
  ManifestReader r(body.substr(kManifestMagic.size()));
  SnapshotManifest m;
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t count = 0;
  if (!r.U64(m.format_version)) return std::unexpected("truncated header");
  if (m.format_version != kSnapshotFormatVersion) {
    return std::unexpected("unsupported format version " + std::to_string(m.format_version));
  }
  if (!r.U64(m.group) || !r.String(m.range.start) || !r.String(m.range.end) || !r.U64(index) ||
      !r.U64(term) || !r.String(m.conf) || !r.U64(count)) {
    return std::unexpected("truncated header");
  }
  if (!m.range.Valid()) return std::unexpected("range start is not below its end");
  m.applied_index = raft::LogIndex(index);
  m.applied_term = raft::Term(term);
  constexpr uint64_t kMinFileRecord = 8 + 8 + 8 + 4 + 8;  // name length, size, crc, count
  if (count > r.remaining() / kMinFileRecord) return std::unexpected("file count too large");
  for (uint64_t i = 0; i < count; ++i) {
    SnapshotFile f;
    if (!r.String(f.name) || !r.U64(f.size) || !r.U32(f.crc32c) || !r.U64(f.key_count)) {
      return std::unexpected("truncated file list");
    }
    if (!SafeFileName(f.name))
      return std::unexpected("bad file name in entry " + std::to_string(i));
    for (const SnapshotFile& prev : m.files) {
      if (prev.name == f.name) return std::unexpected("file " + f.name + " listed twice");
    }
    m.files.push_back(std::move(f));
  }
  if (r.remaining() != 0) return std::unexpected("trailing bytes");
  return m;
}

// --- Export.

// Writes the SST files of one export; owns the file currently open.
class SstSplitter {
 public:
  SstSplitter(const rocksdb::Options& options, std::string dir, uint64_t max_file_bytes)
      : options_(options), dir_(std::move(dir)), max_file_bytes_(max_file_bytes) {}

  Result Add(const rocksdb::Slice& key, const rocksdb::Slice& value) {
    if (!writer_) {
      if (Result r = OpenNext(); !r) return r;
    }
    rocksdb::Status s = writer_->Put(key, value);
    if (!s.ok()) return std::unexpected(FromRocks(s, "write " + current_path_));
    if (writer_->FileSize() >= max_file_bytes_) return FinishCurrent();
    return {};
  }

  // Finishes the open file (if any); returns the files written, with size, CRC and key count.
  std::expected<std::vector<SnapshotFile>, StorageError> Finish() {
    if (writer_) {
      if (Result r = FinishCurrent(); !r) return std::unexpected(r.error());
    }
    return std::move(files_);
  }

 private:
  Result OpenNext() {
    char name[32];
    std::snprintf(name, sizeof(name), "data-%06zu.sst", files_.size() + 1);
    current_name_ = name;
    current_path_ = JoinPath(dir_, current_name_);
    // No column family handle: the files carry "unknown column family" and can be ingested into
    // the data CF of any engine, whatever its column family ids.
    writer_ = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), options_);
    rocksdb::Status s = writer_->Open(current_path_);
    if (!s.ok()) return std::unexpected(FromRocks(s, "create " + current_path_));
    return {};
  }

  Result FinishCurrent() {
    rocksdb::ExternalSstFileInfo info;
    rocksdb::Status s = writer_->Finish(&info);
    writer_.reset();
    if (!s.ok()) return std::unexpected(FromRocks(s, "finish " + current_path_));
    if (Result r = FsyncFile(current_path_); !r) return r;
    auto digest = DigestFile(current_path_);
    if (!digest) return std::unexpected(digest.error());
    if (digest->size != info.file_size) {
      return std::unexpected(
          Error(StorageErrorCode::kIo, "snapshot file " + current_path_ + " reads back " +
                                           std::to_string(digest->size) + " bytes, wrote " +
                                           std::to_string(info.file_size)));
    }
    files_.push_back(SnapshotFile{.name = current_name_,
                                  .size = digest->size,
                                  .crc32c = digest->crc,
                                  .key_count = info.num_entries});
    return {};
  }

  const rocksdb::Options options_;
  const std::string dir_;
  const uint64_t max_file_bytes_;
  std::unique_ptr<rocksdb::SstFileWriter> writer_;
  std::string current_name_;
  std::string current_path_;
  std::vector<SnapshotFile> files_;
};

// Options for SstFileWriter: those of the data CF (comparator, table format, block size, Bloom
// filter, compression: SstFileWriter uses the bottommost compression, ZSTD), so that ingested
// files look like the CF's own bottommost files. Buffered I/O: the snapshot directory may live
// on a filesystem without O_DIRECT.
rocksdb::Options SstOptions(Engine& engine) {
  rocksdb::Options options(engine.db()->GetDBOptions(), engine.db()->GetOptions(engine.data_cf()));
  options.use_direct_reads = false;
  options.use_direct_io_for_flush_and_compaction = false;
  return options;
}

// Copies every data-CF key of `range`, as of `snapshot`, into SST files in `dir`.
std::expected<std::vector<SnapshotFile>, StorageError> ExportRange(
    Engine& engine, const rocksdb::Snapshot* snapshot, const ShardRange& range,
    const std::string& dir, uint64_t max_file_bytes) {
  const std::string lower = DataLowerBound(range);
  const std::optional<std::string> upper = DataUpperBound(range);
  const rocksdb::Slice lower_slice(lower);
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.fill_cache = false;  // a one-off scan must not evict the serving working set
  // The scan crosses user keys: without total order, the data column family's prefix filters
  // (SSTs and memtables) would judge the whole scan by the start key's prefix and skip files and
  // memtables holding the range's data.
  ro.total_order_seek = true;
  ro.iterate_lower_bound = &lower_slice;
  if (upper) {
    upper_slice = rocksdb::Slice(*upper);
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(engine.db()->NewIterator(ro, engine.data_cf()));
  SstSplitter splitter(SstOptions(engine), dir, max_file_bytes);
  for (it->Seek(lower_slice); it->Valid(); it->Next()) {
    if (Result r = splitter.Add(it->key(), it->value()); !r) return std::unexpected(r.error());
  }
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "scan for snapshot"));
  return splitter.Finish();
}

// --- Verify.

// Opens one SST of the snapshot and checks its key count and that its keys are inside
// [lower, upper) and above `*prev_largest`, which it then advances to the file's largest key.
Result CheckSstKeys(const std::string& path, const SnapshotFile& file, const std::string& lower,
                    const std::optional<std::string>& upper, std::string* prev_largest) {
  rocksdb::Options options;  // bytewise comparator, block-based table reader: as the data CF
  rocksdb::SstFileReader reader(options);
  rocksdb::Status s = reader.Open(path);
  if (!s.ok()) return std::unexpected(FromRocks(s, "snapshot file " + path));
  const auto props = reader.GetTableProperties();
  if (props->num_entries != file.key_count || props->num_range_deletions != 0) {
    return std::unexpected(Corruption(
        "snapshot file " + path + ": key count expected " + std::to_string(file.key_count) +
        ", actual " + std::to_string(props->num_entries) + " (+" +
        std::to_string(props->num_range_deletions) + " range deletions)"));
  }
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.total_order_seek = true;  // first and last key of the file, whatever its prefix filter says
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
  it->SeekToFirst();
  if (!it->Valid()) {
    if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "read " + path));
    return std::unexpected(Corruption("snapshot file " + path + " has no keys"));
  }
  const std::string smallest = it->key().ToString();
  it->SeekToLast();
  if (!it->Valid()) return std::unexpected(FromRocks(it->status(), "read " + path));
  const std::string largest = it->key().ToString();
  if (smallest < lower || (upper && largest >= *upper)) {
    return std::unexpected(
        Corruption("snapshot file " + path + " has keys outside the manifest's range"));
  }
  if (!prev_largest->empty() && smallest <= *prev_largest) {
    return std::unexpected(
        Corruption("snapshot file " + path + " overlaps or precedes the previous file"));
  }
  *prev_largest = largest;
  return {};
}

Result VerifyFile(const std::string& dir, const SnapshotFile& file) {
  const std::string path = JoinPath(dir, file.name);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return std::unexpected(Corruption("snapshot file " + path + " is missing"));
    return std::unexpected(ErrnoError(errno, "stat " + path));
  }
  if (uint64_t(st.st_size) != file.size) {
    return std::unexpected(Corruption("snapshot file " + path + ": size expected " +
                                      std::to_string(file.size) + ", actual " +
                                      std::to_string(st.st_size)));
  }
  auto digest = DigestFile(path);
  if (!digest) return std::unexpected(digest.error());
  if (digest->size != file.size || digest->crc != file.crc32c) {
    return std::unexpected(Corruption("snapshot file " + path + ": crc32c expected " +
                                      Hex32(file.crc32c) + ", actual " + Hex32(digest->crc) + " (" +
                                      std::to_string(digest->size) + " bytes)"));
  }
  return {};
}

// --- Ingest.

// Writes `path`: an SST holding one range tombstone over the shard's data-CF range, or nothing
// (returns false) when the range is unbounded and the engine holds no key in it. For an unbounded
// range the tombstone ends just past the engine's last key (key + 0x00 is its successor): no key
// bytes can bound "+infinity", and no other shard's keys lie above (contract: no concurrent
// writer in the range).
// The exclusive data-CF end of a range tombstone over `range` (which starts at `lower`): the
// encoded end key, or for an unbounded range the successor of the engine's last key (no key bytes
// can bound "+infinity"); nullopt when the unbounded range holds no key.
std::expected<std::optional<std::string>, StorageError> TombstoneEnd(Engine& engine, const ShardRange& range,
                                                                     const std::string& lower) {
  if (std::optional<std::string> upper = DataUpperBound(range)) return upper;
  const rocksdb::Slice lower_slice(lower);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.total_order_seek = true;  // the last key of the column family, not of one prefix
  ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(engine.db()->NewIterator(ro, engine.data_cf()));
  it->SeekToLast();
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "scan shard range"));
  if (!it->Valid()) return std::optional<std::string>();
  std::string upper = it->key().ToString();
  upper.push_back('\0');
  return upper;
}

std::expected<bool, StorageError> WriteRangeTombstone(Engine& engine, const ShardRange& range,
                                                      const std::string& path) {
  const std::string lower = DataLowerBound(range);
  auto upper = TombstoneEnd(engine, range, lower);
  if (!upper) return std::unexpected(upper.error());
  if (!*upper) return false;
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), SstOptions(engine));
  rocksdb::Status s = writer.Open(path);
  if (s.ok()) s = writer.DeleteRange(lower, **upper);
  if (s.ok()) s = writer.Finish();
  if (!s.ok()) return std::unexpected(FromRocks(s, "write range tombstone " + path));
  return true;
}

std::string DescribeRange(const ShardRange& r) {
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        out.push_back(char(c));
      } else {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02x", unsigned(c));
        out += buf;
      }
    }
    return out + "\"";
  };
  return "[" + quote(r.start) + ", " + (r.end.empty() ? std::string("+inf") : quote(r.end)) + ")";
}

Result RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return std::unexpected(ErrnoError(ec.value(), "remove " + path));
  return {};
}

}  // namespace

uint64_t SnapshotManifest::KeyCount() const {
  uint64_t n = 0;
  for (const SnapshotFile& f : files) n += f.key_count;
  return n;
}

uint64_t SnapshotManifest::TotalBytes() const {
  uint64_t n = 0;
  for (const SnapshotFile& f : files) n += f.size;
  return n;
}

std::string EncodeSnapshotManifest(const SnapshotManifest& m) {
  std::string out(kManifestMagic);
  PutBigEndian64(out, m.format_version);
  PutBigEndian64(out, m.group);
  PutString(out, m.range.start);
  PutString(out, m.range.end);
  PutBigEndian64(out, m.applied_index.value());
  PutBigEndian64(out, m.applied_term.value());
  PutString(out, m.conf);
  PutBigEndian64(out, m.files.size());
  for (const SnapshotFile& f : m.files) {
    PutString(out, f.name);
    PutBigEndian64(out, f.size);
    PutFixed32(out, f.crc32c);
    PutBigEndian64(out, f.key_count);
  }
  PutFixed32(out, Crc32c(out));
  return out;
}

std::expected<SnapshotManifest, StorageError> DecodeSnapshotManifest(std::string_view bytes) {
  if (bytes.size() < kManifestMagic.size() + 4) {
    return std::unexpected(
        Corruption("snapshot manifest: truncated (" + std::to_string(bytes.size()) + " bytes)"));
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  const uint32_t stored = GetFixed32(bytes.substr(bytes.size() - 4));
  const uint32_t actual = Crc32c(body);
  if (stored != actual) {
    return std::unexpected(Corruption("snapshot manifest: crc32c expected " + Hex32(stored) +
                                      ", actual " + Hex32(actual)));
  }
  auto m = DecodeManifestBody(body);
  if (!m) return std::unexpected(Corruption("snapshot manifest: " + m.error()));
  return std::move(*m);
}

std::expected<SnapshotManifest, StorageError> ExportShardSnapshot(Engine& engine,
                                                                  const SnapshotRequest& request) {
  if (!request.range.Valid()) {
    return std::unexpected(Error(StorageErrorCode::kInvalidArgument,
                                 "snapshot range " + DescribeRange(request.range) + " is empty"));
  }
  if (request.max_file_bytes == 0 || request.dir.empty()) {
    return std::unexpected(Error(StorageErrorCode::kInvalidArgument,
                                 "snapshot request needs a dir and max_file_bytes > 0"));
  }
  if (Result r = PrepareEmptyDir(request.dir); !r) return std::unexpected(r.error());

  // Released when the export ends, so compaction may drop the versions it pinned.
  rocksdb::ManagedSnapshot snapshot(engine.db());
  auto files = request.state_only
                   ? std::expected<std::vector<SnapshotFile>, StorageError>{}
                   : ExportRange(engine, snapshot.snapshot(), request.range, request.dir,
                                 request.max_file_bytes);
  if (!files) return std::unexpected(files.error());

  SnapshotManifest manifest{.format_version = kSnapshotFormatVersion,
                            .group = request.group,
                            .range = request.range,
                            .applied_index = request.applied_index,
                            .applied_term = request.applied_term,
                            .conf = request.conf,
                            .files = std::move(*files)};
  // The files' directory entries are durable before the manifest that names them exists.
  if (Result r = FsyncDir(request.dir); !r) return std::unexpected(r.error());
  if (Result r = WriteFileAtomically(request.dir, kManifestTempName, kSnapshotManifestName,
                                     EncodeSnapshotManifest(manifest));
      !r) {
    return std::unexpected(r.error());
  }
  return manifest;
}

std::expected<SnapshotManifest, StorageError> VerifyShardSnapshot(const std::string& dir) {
  const std::string manifest_path = JoinPath(dir, kSnapshotManifestName);
  auto bytes = ReadSmallFile(manifest_path);
  if (!bytes) return std::unexpected(bytes.error());
  auto manifest = DecodeSnapshotManifest(*bytes);
  if (!manifest) {
    return std::unexpected(Corruption(manifest_path + ": " + std::move(manifest.error().message)));
  }
  const std::string lower = DataLowerBound(manifest->range);
  const std::optional<std::string> upper = DataUpperBound(manifest->range);
  std::string prev_largest;
  for (const SnapshotFile& f : manifest->files) {
    if (Result r = VerifyFile(dir, f); !r) return std::unexpected(r.error());
    if (Result r = CheckSstKeys(JoinPath(dir, f.name), f, lower, upper, &prev_largest); !r) {
      return std::unexpected(r.error());
    }
  }
  return manifest;
}

// Why one ingestion of [tombstone, data files...] rather than DeleteRange + ingest: the two-step
// form is not atomic; a crash between them leaves the shard's range empty under the old applied
// index. In one IngestExternalFile call the files overlap (the tombstone spans them all), so
// RocksDB puts them in L0 with increasing sequence numbers in list order: the tombstone hides
// every older key of the range, and the data files, newer, are not hidden by it. One version
// edit makes it all-or-nothing across a crash.
// Why copy rather than move_files: move hard-links the files into the DB and then unlinks them
// from `dir`; the snapshot could not be ingested again (the caller's recovery if it crashes
// before recording the applied index), and a later write to a shared inode would corrupt a live
// DB file. Snapshots are rare; one extra copy of the shard's bytes is the price.
std::expected<SnapshotManifest, StorageError> IngestShardSnapshot(
    Engine& engine, const std::string& dir, GroupId expected_group,
    const ShardRange& expected_range) {
  auto manifest = VerifyShardSnapshot(dir);
  if (!manifest) return std::unexpected(manifest.error());
  if (manifest->group != expected_group || manifest->range != expected_range) {
    return std::unexpected(
        Error(StorageErrorCode::kInvalidArgument,
              "snapshot " + dir + " is of group " + std::to_string(manifest->group) + " range " +
                  DescribeRange(manifest->range) + ", expected group " +
                  std::to_string(expected_group) + " range " + DescribeRange(expected_range)));
  }
  const std::string staging = JoinPath(dir, kIngestStagingName);
  if (Result r = RemoveAll(staging); !r) return std::unexpected(r.error());
  if (::mkdir(staging.c_str(), 0755) != 0) {
    return std::unexpected(ErrnoError(errno, "mkdir " + staging));
  }
  std::vector<std::string> paths;
  const std::string tombstone = JoinPath(staging, "range-tombstone.sst");
  auto wrote = WriteRangeTombstone(engine, manifest->range, tombstone);
  if (!wrote) {
    (void)RemoveAll(staging);  // best effort: the error being returned matters more
    return std::unexpected(wrote.error());
  }
  if (*wrote) paths.push_back(tombstone);
  for (const SnapshotFile& f : manifest->files) paths.push_back(JoinPath(dir, f.name));

  rocksdb::Status s;
  if (!paths.empty()) {
    rocksdb::IngestExternalFileOptions io;
    io.move_files = false;  // copy: see above
    io.snapshot_consistency = true;
    io.allow_global_seqno = true;    // required: the files overlap the DB and each other
    io.allow_blocking_flush = true;  // the memtable may hold keys of the range
    io.write_global_seqno = false;   // never rewrite a file's bytes; seqno lives in the MANIFEST
    io.verify_checksums_before_ingest = true;  // block checksums too, on top of the CRC-32C
    s = engine.db()->IngestExternalFile(engine.data_cf(), paths, io);
  }
  Result cleanup = RemoveAll(staging);
  if (!s.ok()) return std::unexpected(FromRocks(s, "ingest snapshot " + dir));
  if (!cleanup) return std::unexpected(cleanup.error());
  return manifest;
}

}  // namespace claw::storage

// --- Replica removal.

namespace claw::storage {

std::expected<void, StorageError> DestroyReplica(Engine& engine, GroupId group,
                                                 const std::optional<ShardRange>& range,
                                                 uint64_t replica_id) {
  if (group == 0 || group == ~GroupId{0}) {
    return std::unexpected(Error(StorageErrorCode::kInvalidArgument,
                                 "cannot destroy group " + std::to_string(group)));
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.DeleteRange(engine.raft_cf(), RaftEntryKey(group, 0), RaftEntryKey(group + 1, 0));
  if (s.ok()) s = batch.Delete(engine.raft_cf(), RaftHardStateKey(group));
  if (s.ok()) s = batch.Delete(engine.raft_cf(), RaftLogStateKey(group));
  if (s.ok()) s = batch.DeleteRange(engine.meta_cf(), DedupPrefix(group), DedupPrefix(group + 1));
  if (s.ok()) s = batch.DeleteRange(engine.meta_cf(), DedupBucketPrefix(group), DedupBucketPrefix(group + 1));
  if (s.ok()) s = batch.DeleteRange(engine.meta_cf(), HostStatePrefix(group), HostStatePrefix(group + 1));
  if (s.ok()) s = batch.Delete(engine.meta_cf(), ApplyStateKey(group));
  if (s.ok()) s = batch.Delete(engine.meta_cf(), ShardDescriptorKey(group));
  std::string id;
  PutBigEndian64(id, replica_id);
  if (s.ok()) s = batch.Put(engine.meta_cf(), ReplicaTombstoneKey(group), id);
  if (!s.ok()) return std::unexpected(FromRocks(s, "batch replica removal"));
  if (range) {
    if (!range->Valid()) {
      return std::unexpected(Error(StorageErrorCode::kInvalidArgument,
                                   "replica range " + DescribeRange(*range) + " is empty"));
    }
    const std::string lower = DataLowerBound(*range);
    auto upper = TombstoneEnd(engine, *range, lower);
    if (!upper) return std::unexpected(upper.error());
    if (*upper) {
      s = batch.DeleteRange(engine.data_cf(), lower, **upper);
      if (!s.ok()) return std::unexpected(FromRocks(s, "batch replica data removal"));
    }
  }
  return engine.Write(batch, Durability::kSync);
}

std::expected<uint64_t, StorageError> ApproximateShardBytes(Engine& engine, const ShardRange& range) {
  if (!range.Valid()) {
    return std::unexpected(Error(StorageErrorCode::kInvalidArgument, "range " + DescribeRange(range) + " is empty"));
  }
  const std::string lower = DataLowerBound(range);
  const std::string upper = DataUpperBound(range).value_or(std::string(9, '\xff'));
  rocksdb::Range r(lower, upper);
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  options.include_files = true;
  options.files_size_error_margin = 0.1;
  uint64_t size = 0;
  rocksdb::Status s = engine.db()->GetApproximateSizes(options, engine.data_cf(), &r, 1, &size);
  if (!s.ok()) return std::unexpected(FromRocks(s, "approximate shard size"));
  return size;
}

std::expected<uint64_t, StorageError> ReplicaTombstone(Engine& engine, GroupId group) {
  auto value = engine.GetMeta(ReplicaTombstoneKey(group));
  if (!value) return std::unexpected(value.error());
  if (!*value) return uint64_t{0};
  if ((*value)->size() != 8) {
    return std::unexpected(Corruption("replica tombstone of group " + std::to_string(group) +
                                      " has " + std::to_string((*value)->size()) + " bytes"));
  }
  return GetBigEndian64(**value);
}

}  // namespace claw::storage
