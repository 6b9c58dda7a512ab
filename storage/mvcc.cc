#include "storage/mvcc.h"

#include <memory>
#include <utility>

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>

#include "storage/key_codec.h"

namespace claw::storage {

namespace {

constexpr size_t kTsSize = 8;
// How many versions a scan steps over with Next/Prev before it seeks instead (TiKV's
// SEEK_BOUND): stepping is cheaper for a few versions, seeking for many.
constexpr int kStepsBeforeSeek = 8;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out.push_back(kDigits[uint8_t(c) >> 4]);
    out.push_back(kDigits[uint8_t(c) & 0xf]);
  }
  return out;
}

StorageError Corruption(std::string_view raw_key, const std::string& what) {
  return StorageError{.code = StorageErrorCode::kCorruption,
                      .message = "mvcc: data key " + Hex(raw_key) + ": " + what};
}

StorageError InvalidArgument(const std::string& what) {
  return StorageError{.code = StorageErrorCode::kInvalidArgument, .message = "mvcc: " + what};
}

std::string EncodeUserKey(std::string_view user_key) {
  std::string out;
  EncodeMemcomparable(out, user_key);
  return out;
}

// The smallest byte string above every MVCC key of the user key whose encoding is `enc`: the
// encoding ends with the terminator 0x00 0x01, so replacing its 0x01 by 0x02 gives a string above
// enc | any suffix and, the encoding being prefix-free, at or below every later user key's keys.
std::string UserKeySuccessor(std::string enc) {
  enc.back() = char(0x02);
  return enc;
}

std::string SeekKey(std::string_view enc, Timestamp ts) {
  std::string out(enc);
  PutBigEndian64(out, ~ts.value());
  return out;
}

Timestamp VersionTs(std::string_view raw_key) {
  return Timestamp(~GetBigEndian64(raw_key.substr(raw_key.size() - kTsSize)));
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

std::expected<void, StorageError> CheckRange(std::string_view start, std::string_view end) {
  if (!end.empty() && end < start) {
    return std::unexpected(
        InvalidArgument("range end " + Hex(end) + " is below start " + Hex(start)));
  }
  return {};
}

// An iterator over the data column family restricted to [lower, upper) with the bounds it needs
// kept alive beside it (ReadOptions holds pointers to them).
class BoundedIterator {
 public:
  // `lower` / `upper` empty: unbounded. kCrossUserKeys: iteration leaves the first user key, so
  // it must not be a prefix seek should the data column family ever get a prefix extractor.
  enum class Span : uint8_t { kOneUserKey, kCrossUserKeys };
  BoundedIterator(const Engine& engine, const rocksdb::Snapshot* snapshot, std::string lower,
                  std::string upper, Span span)
      : lower_(std::move(lower)), upper_(std::move(upper)) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    ro.total_order_seek = span == Span::kCrossUserKeys;
#ifdef CLAW_BREAK_IGNORE_CRC
    // POSITIVE CONTROL, never in clawd: only tests/fault's clawd_broken_ignore_crc defines it.
    // Reads data blocks without verifying their checksums; S17 must catch the damaged value.
    ro.verify_checksums = false;
#endif
    if (!lower_.empty()) {
      lower_slice_ = ToSlice(lower_);
      ro.iterate_lower_bound = &lower_slice_;
    }
    if (!upper_.empty()) {
      upper_slice_ = ToSlice(upper_);
      ro.iterate_upper_bound = &upper_slice_;
    }
    it_.reset(engine.db()->NewIterator(ro, engine.data_cf()));
  }

  rocksdb::Iterator& operator*() { return *it_; }
  rocksdb::Iterator* operator->() { return it_.get(); }

  std::expected<void, StorageError> Status(const char* context) const {
    if (!it_->status().ok()) return std::unexpected(FromRocks(it_->status(), context));
    return {};
  }

 private:
  std::string lower_;
  std::string upper_;
  rocksdb::Slice lower_slice_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

// Where the iterator stands relative to the user key whose encoding is `enc`.
enum class Position : uint8_t { kSameUser, kOtherUser };

// kSameUser when the iterator is valid and on a version of `enc`'s user key. A key that starts
// with `enc` but has the wrong length is corrupt (encodings are prefix-free).
std::expected<Position, StorageError> Locate(rocksdb::Iterator& it, std::string_view enc) {
  if (!it.Valid()) return Position::kOtherUser;
  const std::string_view key = ToView(it.key());
  if (!key.starts_with(enc)) return Position::kOtherUser;
  if (key.size() != enc.size() + kTsSize) return std::unexpected(Corruption(key, "bad length"));
  return Position::kSameUser;
}

// The iterator is on some version of `enc`'s user key; moves it to the first key of the next
// user key (or off the end).
std::expected<void, StorageError> SkipForward(rocksdb::Iterator& it, const std::string& enc) {
  for (int step = 0; step < kStepsBeforeSeek; ++step) {
    it.Next();
    auto pos = Locate(it, enc);
    if (!pos) return std::unexpected(pos.error());
    if (*pos == Position::kOtherUser) return {};
  }
  it.Seek(UserKeySuccessor(enc));
  return {};
}

// Forward scan. Invariant at the top of the loop: the iterator is on the newest version of a user
// key (or invalid).
std::expected<void, StorageError> VisitForward(rocksdb::Iterator& it, std::string_view start_enc,
                                               Timestamp ts, const MvccReader::Visitor& visit) {
  it.Seek(ToSlice(start_enc));
  while (it.Valid()) {
    auto decoded = DecodeMvccKey(ToView(it.key()));
    if (!decoded) return std::unexpected(decoded.error());
    const std::string enc(ToView(it.key()).substr(0, it.key().size() - kTsSize));
    // Find the newest version at or below ts: step a few versions, then seek straight to it.
    Position pos = Position::kSameUser;
    for (int step = 0; pos == Position::kSameUser && VersionTs(ToView(it.key())) > ts; ++step) {
      if (step < kStepsBeforeSeek) {
        it.Next();
      } else {
        it.Seek(SeekKey(enc, ts));
      }
      auto located = Locate(it, enc);
      if (!located) return std::unexpected(located.error());
      pos = *located;
    }
    if (pos == Position::kOtherUser) continue;  // no version at or below ts: next user key
    auto value = DecodeMvccValue(ToView(it.key()), ToView(it.value()));
    if (!value) return std::unexpected(value.error());
    if (value->type == MvccValueType::kPut && !visit(decoded->user_key, value->payload)) return {};
    if (auto skipped = SkipForward(it, enc); !skipped) return skipped;
  }
  return {};
}

// Reverse scan. Versions of one user key sort newest first, so walking backwards meets them
// oldest first: the visible version is the last one met before a version above ts (or before the
// previous user key). Invariant at the top of the loop: the iterator is on the oldest version of
// a user key (or invalid).
std::expected<void, StorageError> VisitReverse(rocksdb::Iterator& it, Timestamp ts,
                                               const MvccReader::Visitor& visit) {
  it.SeekToLast();
  while (it.Valid()) {
    auto decoded = DecodeMvccKey(ToView(it.key()));
    if (!decoded) return std::unexpected(decoded.error());
    const std::string enc(ToView(it.key()).substr(0, it.key().size() - kTsSize));
    std::optional<std::string> visible;  // raw value of the newest version <= ts seen so far
    std::string visible_key;
    Position pos = Position::kSameUser;
    for (int step = 0; pos == Position::kSameUser && VersionTs(ToView(it.key())) <= ts; ++step) {
      if (step == kStepsBeforeSeek) {
        // Many versions: seek forward straight to the visible one (it exists: this one is <= ts).
        it.Seek(SeekKey(enc, ts));
        auto located = Locate(it, enc);
        if (!located) return std::unexpected(located.error());
        if (*located == Position::kSameUser) {
          visible = it.value().ToString();
          visible_key = it.key().ToString();
        }
        break;
      }
      visible = it.value().ToString();
      visible_key = it.key().ToString();
      it.Prev();
      auto located = Locate(it, enc);
      if (!located) return std::unexpected(located.error());
      pos = *located;
    }
    // Unless Prev already left this user key, the iterator is still inside it (at a version
    // above ts, or wherever the forward seek put it): jump to the oldest version of the previous
    // user key, i.e. the last key below `enc` (no stored key equals `enc` itself).
    if (pos == Position::kSameUser) it.SeekForPrev(enc);
    if (!visible) continue;
    auto value = DecodeMvccValue(visible_key, *visible);
    if (!value) return std::unexpected(value.error());
    if (value->type == MvccValueType::kPut && !visit(decoded->user_key, value->payload)) return {};
  }
  return {};
}

}  // namespace

// --- Encoding.

std::string EncodeMvccKey(std::string_view user_key, Timestamp ts) {
  std::string out;
  out.reserve(user_key.size() + 2 + kTsSize);
  EncodeMemcomparable(out, user_key);
  PutBigEndian64(out, ~ts.value());
  return out;
}

std::expected<MvccKey, StorageError> DecodeMvccKey(std::string_view key) {
  if (key.size() < 2 + kTsSize) return std::unexpected(Corruption(key, "too short"));
  std::string_view body = key.substr(0, key.size() - kTsSize);
  std::optional<std::string> user_key = DecodeMemcomparable(body);
  if (!user_key || !body.empty()) {
    return std::unexpected(Corruption(key, "user key does not decode"));
  }
  const Timestamp ts = VersionTs(key);
  if (ts.IsZero()) return std::unexpected(Corruption(key, "version at timestamp 0"));
  return MvccKey{.user_key = std::move(*user_key), .ts = ts};
}

std::string EncodeMvccPut(std::string_view value) {
  std::string out;
  out.reserve(1 + value.size());
  out.push_back(char(MvccValueType::kPut));
  out.append(value);
  return out;
}

std::string EncodeMvccTombstone() { return std::string(1, char(MvccValueType::kTombstone)); }

std::expected<MvccValue, StorageError> DecodeMvccValue(std::string_view raw_key,
                                                       std::string_view value) {
  if (value.empty()) return std::unexpected(Corruption(raw_key, "empty value"));
  const uint8_t type = uint8_t(value[0]);
  if (type == uint8_t(MvccValueType::kPut)) {
    return MvccValue{.type = MvccValueType::kPut, .payload = value.substr(1)};
  }
  if (type == uint8_t(MvccValueType::kTombstone)) {
    if (value.size() != 1) return std::unexpected(Corruption(raw_key, "tombstone with payload"));
    return MvccValue{.type = MvccValueType::kTombstone, .payload = {}};
  }
  return std::unexpected(Corruption(raw_key, "unknown value type 0x" + Hex(value.substr(0, 1))));
}

// --- MvccWriter.

MvccWriter::MvccWriter(const Engine& engine, rocksdb::WriteBatch& batch)
    : engine_(engine), batch_(batch) {}

std::expected<void, StorageError> MvccWriter::Put(std::string_view key, Timestamp ts,
                                                  std::string_view value) {
  if (ts.IsZero()) return std::unexpected(InvalidArgument("write at timestamp 0"));
  rocksdb::Status s = batch_.Put(engine_.data_cf(), EncodeMvccKey(key, ts), EncodeMvccPut(value));
  if (!s.ok()) return std::unexpected(FromRocks(s, "mvcc put"));
  return {};
}

std::expected<void, StorageError> MvccWriter::Delete(std::string_view key, Timestamp ts) {
  if (ts.IsZero()) return std::unexpected(InvalidArgument("delete at timestamp 0"));
  rocksdb::Status s = batch_.Put(engine_.data_cf(), EncodeMvccKey(key, ts), EncodeMvccTombstone());
  if (!s.ok()) return std::unexpected(FromRocks(s, "mvcc delete"));
  return {};
}

std::expected<uint64_t, StorageError> MvccWriter::DeleteRange(std::string_view start,
                                                              std::string_view end, Timestamp ts) {
  if (ts.IsZero()) return std::unexpected(InvalidArgument("delete range at timestamp 0"));
  if (auto ok = CheckRange(start, end); !ok) return std::unexpected(ok.error());
  MvccReader reader(engine_);
  uint64_t deleted = 0;
  std::expected<void, StorageError> write_result;
  auto visited = reader.ForEach(start, end, ts, ScanDirection::kForward,
                                [&](std::string_view key, std::string_view) {
                                  write_result = Delete(key, ts);
                                  if (!write_result) return false;
                                  ++deleted;
                                  return true;
                                });
  if (!visited) return std::unexpected(visited.error());
  if (!write_result) return std::unexpected(write_result.error());
  return deleted;
}

// --- MvccReader.

MvccReader::MvccReader(const Engine& engine)
    : engine_(engine), snapshot_(engine.db()->GetSnapshot()), owns_snapshot_(true) {}

MvccReader::MvccReader(const Engine& engine, const rocksdb::Snapshot* snapshot)
    : engine_(engine), snapshot_(snapshot), owns_snapshot_(false) {}

MvccReader::~MvccReader() {
  if (owns_snapshot_) engine_.db()->ReleaseSnapshot(snapshot_);
}

std::expected<std::optional<std::string>, StorageError> MvccReader::Get(std::string_view key,
                                                                        Timestamp ts) const {
  const std::string enc = EncodeUserKey(key);
  BoundedIterator it(engine_, snapshot_, /*lower=*/"", UserKeySuccessor(enc),
                     BoundedIterator::Span::kOneUserKey);
  it->Seek(SeekKey(enc, ts));
  auto pos = Locate(*it, enc);
  if (!pos) return std::unexpected(pos.error());
  if (auto status = it.Status("mvcc get"); !status) return std::unexpected(status.error());
  if (*pos == Position::kOtherUser) return std::nullopt;
  auto value = DecodeMvccValue(ToView(it->key()), ToView(it->value()));
  if (!value) return std::unexpected(value.error());
  if (value->type == MvccValueType::kTombstone) return std::nullopt;
  return std::string(value->payload);
}

std::expected<void, StorageError> MvccReader::ForEach(std::string_view start, std::string_view end,
                                                      Timestamp ts, ScanDirection direction,
                                                      const Visitor& visit) const {
  if (auto ok = CheckRange(start, end); !ok) return ok;
  std::string lower = EncodeUserKey(start);
  BoundedIterator it(engine_, snapshot_, lower, end.empty() ? "" : EncodeUserKey(end),
                     BoundedIterator::Span::kCrossUserKeys);
  auto visited = direction == ScanDirection::kForward ? VisitForward(*it, lower, ts, visit)
                                                      : VisitReverse(*it, ts, visit);
  if (!visited) return visited;
  return it.Status("mvcc scan");
}

std::expected<ScanResult, StorageError> MvccReader::Scan(const ScanRequest& request) const {
  ScanResult result;
  auto visited = ForEach(request.start, request.end, request.ts, request.direction,
                         [&](std::string_view key, std::string_view value) {
                           if (request.limit != 0 && result.kvs.size() == request.limit) {
                             result.resume_key = request.direction == ScanDirection::kForward
                                                     ? std::string(key)
                                                     : result.kvs.back().key;
                             return false;
                           }
                           result.kvs.push_back(KeyValue{std::string(key), std::string(value)});
                           return true;
                         });
  if (!visited) return std::unexpected(visited.error());
  return result;
}

// --- History.

std::expected<void, StorageError> ForEachVersion(const MvccReader& reader,
                                                 const VersionScanRequest& request,
                                                 const VersionVisitor& visit) {
  if (auto ok = CheckRange(request.start, request.end); !ok) return ok;
  if (request.upto < request.after) {
    return std::unexpected(InvalidArgument("version window ends before it starts"));
  }
  const std::string lower = EncodeUserKey(request.start);
  BoundedIterator it(reader.engine(), reader.snapshot(), lower,
                     request.end.empty() ? "" : EncodeUserKey(request.end),
                     BoundedIterator::Span::kCrossUserKeys);
  it->Seek(ToSlice(lower));
  while (it->Valid()) {
    auto decoded = DecodeMvccKey(ToView(it->key()));
    if (!decoded) return std::unexpected(decoded.error());
    const std::string enc(ToView(it->key()).substr(0, it->key().size() - kTsSize));
    // Versions above the window: seek straight to the newest one inside it.
    if (VersionTs(ToView(it->key())) > request.upto) {
      it->Seek(SeekKey(enc, request.upto));
      auto pos = Locate(*it, enc);
      if (!pos) return std::unexpected(pos.error());
      if (*pos == Position::kOtherUser) continue;
    }
    bool in_window = false;
    for (;;) {
      auto pos = Locate(*it, enc);
      if (!pos) return std::unexpected(pos.error());
      if (*pos == Position::kOtherUser) break;
      const std::string_view raw = ToView(it->key());
      const Timestamp ts = VersionTs(raw);
      const bool base = ts <= request.after;
      if (base && (!request.with_base || !in_window)) break;  // below the window: next user key
      auto value = DecodeMvccValue(raw, ToView(it->value()));
      if (!value) return std::unexpected(value.error());
      MvccVersion v{.key = decoded->user_key, .ts = ts, .type = value->type,
                    .payload = value->payload, .base = base};
      if (!visit(v)) return it.Status("mvcc version scan");
      if (base) break;
      in_window = true;
      it->Next();
    }
    if (auto pos = Locate(*it, enc); !pos) {
      return std::unexpected(pos.error());
    } else if (*pos == Position::kSameUser) {
      it->Seek(UserKeySuccessor(enc));
    }
  }
  return it.Status("mvcc version scan");
}

// --- GC.

std::expected<GcStats, StorageError> MvccGc(Engine& engine, std::string_view start,
                                            std::string_view end, Timestamp safe_point,
                                            const GcOptions& options) {
  if (auto ok = CheckRange(start, end); !ok) return std::unexpected(ok.error());
  GcStats stats;
  const std::string lower = EncodeUserKey(start);
  BoundedIterator it(engine, nullptr, lower, end.empty() ? "" : EncodeUserKey(end),
                     BoundedIterator::Span::kCrossUserKeys);
  rocksdb::WriteBatch batch;
  auto flush = [&]() -> std::expected<void, StorageError> {
    if (batch.Count() == 0) return {};
    auto written = engine.Write(batch, Durability::kNoSync);
    batch.Clear();
    return written;
  };
  std::string enc;                  // current user key's encoding
  bool seen_at_safe_point = false;  // its newest version <= safe_point has been met
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    if (enc.empty() || !key.starts_with(enc) || key.size() != enc.size() + kTsSize) {
      auto decoded = DecodeMvccKey(key);
      if (!decoded) return std::unexpected(decoded.error());
      enc.assign(key.substr(0, key.size() - kTsSize));
      seen_at_safe_point = false;
      ++stats.keys_scanned;
    }
    ++stats.versions_scanned;
    if (VersionTs(key) > safe_point) continue;  // rule 1
    if (!seen_at_safe_point) {
      seen_at_safe_point = true;
      auto value = DecodeMvccValue(key, ToView(it->value()));
      if (!value) return std::unexpected(value.error());
      if (value->type == MvccValueType::kPut) continue;  // rule 2: the version readers see
    }
    rocksdb::Status s = batch.Delete(engine.data_cf(), it->key());  // rules 2 (tombstone) and 3
    if (!s.ok()) return std::unexpected(FromRocks(s, "mvcc gc"));
    ++stats.versions_removed;
    stats.bytes_removed += it->key().size() + it->value().size();
    if (batch.GetDataSize() >= options.max_batch_bytes) {
      if (auto flushed = flush(); !flushed) return std::unexpected(flushed.error());
    }
  }
  if (auto status = it.Status("mvcc gc"); !status) return std::unexpected(status.error());
  if (auto flushed = flush(); !flushed) return std::unexpected(flushed.error());
  return stats;
}

}  // namespace claw::storage
