#include "storage/raft_log_store.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include <rocksdb/iterator.h>

#include "raft/conf_change.h"
#include "storage/crc32c.h"

namespace claw::storage {
namespace {

constexpr uint64_t kMaxIndex = ~0ull;

uint32_t EntryCrc(GroupId group, const raft::Entry& e) {
  std::string header;
  PutBigEndian64(header, group);
  PutBigEndian64(header, e.index.value());
  PutBigEndian64(header, e.term.value());
  header.push_back(char(e.type));
  return Crc32c(Crc32c(header), e.data);
}

std::string EncodeHardState(const raft::HardState& hs) {
  std::string v;
  PutBigEndian64(v, hs.term.value());
  PutBigEndian64(v, hs.vote.value());
  PutBigEndian64(v, hs.commit.value());
  PutFixed32(v, Crc32c(v));
  return v;
}

std::expected<raft::HardState, StorageError> DecodeHardState(GroupId group, std::string_view v) {
  if (v.size() != 28 || GetFixed32(v.substr(24)) != Crc32c(v.substr(0, 24))) {
    return std::unexpected(StorageError{
        .code = StorageErrorCode::kCorruption,
        .message = "group " + std::to_string(group) + ": hard state record fails its checksum"});
  }
  return raft::HardState{.term = raft::Term(GetBigEndian64(v)),
                         .vote = raft::NodeId(GetBigEndian64(v.substr(8))),
                         .commit = raft::LogIndex(GetBigEndian64(v.substr(16)))};
}

std::string EncodeLogState(const raft::SnapshotMeta& point) {
  std::string v;
  PutBigEndian64(v, point.index.value());
  PutBigEndian64(v, point.term.value());
  v += raft::EncodeConfState(point.conf);
  PutFixed32(v, Crc32c(v));
  return v;
}

std::expected<raft::SnapshotMeta, StorageError> DecodeLogState(GroupId group, std::string_view v) {
  auto corrupt = [&](const std::string& why) {
    return std::unexpected(
        StorageError{.code = StorageErrorCode::kCorruption,
                     .message = "group " + std::to_string(group) + ": log state record " + why});
  };
  if (v.size() < 20 || GetFixed32(v.substr(v.size() - 4)) != Crc32c(v.substr(0, v.size() - 4))) {
    return corrupt("fails its checksum");
  }
  auto conf = raft::DecodeConfState(v.substr(16, v.size() - 20));
  if (!conf) return corrupt("has a bad configuration: " + conf.error());
  return raft::SnapshotMeta{.index = raft::LogIndex(GetBigEndian64(v)),
                            .term = raft::Term(GetBigEndian64(v.substr(8))),
                            .conf = std::move(*conf)};
}

}  // namespace

std::string EncodeEntryRecord(GroupId group, const raft::Entry& e) {
  std::string v;
  v.reserve(13 + e.data.size());
  PutFixed32(v, EntryCrc(group, e));
  PutBigEndian64(v, e.term.value());
  v.push_back(char(e.type));
  v += e.data;
  return v;
}

std::expected<raft::Entry, StorageError> DecodeEntryRecord(GroupId group, uint64_t index,
                                                           std::string_view record) {
  auto corrupt = [&](const char* why) {
    return std::unexpected(StorageError{.code = StorageErrorCode::kCorruption,
                                        .message = "group " + std::to_string(group) + " index " +
                                                   std::to_string(index) + ": entry record " +
                                                   why});
  };
  if (record.size() < 13) return corrupt("is truncated");
  const uint8_t type = uint8_t(record[12]);
  if (type > uint8_t(raft::EntryType::kConfig)) return corrupt("has an unknown type");
  raft::Entry e{.term = raft::Term(GetBigEndian64(record.substr(4))),
                .index = raft::LogIndex(index),
                .type = raft::EntryType(type),
                .data = std::string(record.substr(13))};
#ifndef CLAW_BREAK_IGNORE_CRC  // POSITIVE CONTROL (tests/fault's clawd_broken_ignore_crc): no CRC check
  if (GetFixed32(record) != EntryCrc(group, e)) return corrupt("fails its checksum");
#endif
  return e;
}

void EncodeGroupWrite(const GroupWrite& w, rocksdb::ColumnFamilyHandle* cf,
                      rocksdb::WriteBatch& batch) {
  auto ok = [](const rocksdb::Status& s) {
    if (!s.ok()) {  // only on a malformed batch: a programming error
      std::fprintf(stderr, "clawd: cannot encode a raft log write: %s\n", s.ToString().c_str());
      std::abort();
    }
  };
  if (w.drop_from < w.drop_to) {
    ok(batch.DeleteRange(cf, RaftEntryKey(w.group, w.drop_from), RaftEntryKey(w.group, w.drop_to)));
  }
  if (w.point) ok(batch.Put(cf, RaftLogStateKey(w.group), EncodeLogState(*w.point)));
  for (const raft::Entry& e : w.entries) {
    ok(batch.Put(cf, RaftEntryKey(w.group, e.index.value()), EncodeEntryRecord(w.group, e)));
  }
  if (w.hard_state) ok(batch.Put(cf, RaftHardStateKey(w.group), EncodeHardState(*w.hard_state)));
}

std::expected<std::unique_ptr<GroupLog>, StorageError> GroupLog::Bootstrap(
    Engine* engine, GroupId group, const raft::SnapshotMeta& point, GroupLogOptions options) {
  std::string existing;
  rocksdb::Status s = engine->db()->Get(rocksdb::ReadOptions(), engine->raft_cf(),
                                        RaftLogStateKey(group), &existing);
  if (s.ok()) {
    return std::unexpected(StorageError{
        .code = StorageErrorCode::kInvalidArgument,
        .message = "group " + std::to_string(group) + " already exists; cannot bootstrap it"});
  }
  if (!s.IsNotFound()) return std::unexpected(FromRocks(s, "bootstrap group"));
  GroupWrite w{.group = group, .point = point, .hard_state = raft::HardState{}};
  rocksdb::WriteBatch batch;
  EncodeGroupWrite(w, engine->raft_cf(), batch);
  if (auto r = engine->Write(batch, Durability::kSync); !r) return std::unexpected(r.error());
  std::unique_ptr<GroupLog> log(new GroupLog(engine, group, options));
  log->point_ = point;
  log->last_index_ = log->prepared_last_ = point.index.value();
  return log;
}

std::expected<std::unique_ptr<GroupLog>, StorageError> GroupLog::Open(Engine* engine, GroupId group,
                                                                      GroupLogOptions options) {
  const std::string where = "raft log in " + engine->dir() + ", group " + std::to_string(group);
  std::unique_ptr<GroupLog> log(new GroupLog(engine, group, options));
  std::string value;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->raft_cf(), RaftLogStateKey(group), &value);
  if (!s.ok()) return std::unexpected(FromRocks(s, where + ": read log state"));
  auto with_where = [&](StorageError e) {
    e.message = "raft log in " + engine->dir() + ": " + e.message;
    return std::unexpected(std::move(e));
  };
  auto point = DecodeLogState(group, value);
  if (!point) return with_where(point.error());
  log->point_ = std::move(*point);
  s = engine->db()->Get(rocksdb::ReadOptions(), engine->raft_cf(), RaftHardStateKey(group), &value);
  if (s.ok()) {
    auto hs = DecodeHardState(group, value);
    if (!hs) return with_where(hs.error());
    log->hard_state_ = *hs;
  } else if (!s.IsNotFound()) {
    return std::unexpected(FromRocks(s, where + ": read hard state"));
  }

  // Verify every stored entry: checksums and contiguity from the snapshot point on.
  const std::string lower = RaftEntryKey(group, log->point_.index.value() + 1);
  const std::string upper = RaftEntryKey(group, kMaxIndex);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.verify_checksums = true;
#ifdef CLAW_BREAK_IGNORE_CRC
  ro.verify_checksums = false;  // POSITIVE CONTROL (tests/fault's clawd_broken_ignore_crc)
#endif
  std::unique_ptr<rocksdb::Iterator> it(engine->db()->NewIterator(ro, engine->raft_cf()));
  uint64_t expected = log->point_.index.value() + 1;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    auto key = ParseRaftEntryKey(it->key().ToStringView());
    if (!key || key->group != group || key->index != expected) {
      return std::unexpected(StorageError{
          .code = StorageErrorCode::kCorruption,
          .message = where + ": log has a gap or a stray record at index " +
                     std::to_string(expected) + " (found " +
                     (key ? std::to_string(key->index) : std::string("a malformed key")) + ")"});
    }
    auto e = DecodeEntryRecord(group, key->index, it->value().ToStringView());
    if (!e) return with_where(e.error());
    log->cache_.push_back(std::move(*e));
    log->cache_bytes_ += log->cache_.back().PayloadSize();
    log->TrimCache();
    ++expected;
  }
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), where + ": scan log"));
  log->last_index_ = log->prepared_last_ = expected - 1;
  if (log->hard_state_.commit.value() > log->last_index_) {
    return std::unexpected(StorageError{
        .code = StorageErrorCode::kCorruption,
        .message = where + ": hard state commit " +
                   std::to_string(log->hard_state_.commit.value()) + " is beyond the last entry " +
                   std::to_string(log->last_index_) + " (committed entries were lost)"});
  }
  return log;
}

std::expected<std::vector<GroupId>, StorageError> GroupLog::ListGroups(Engine* engine) {
  std::vector<GroupId> groups;
  const std::string lower(1, kRaftLogStatePrefix);
  const std::string upper(1, char(kRaftLogStatePrefix + 1));
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(engine->db()->NewIterator(ro, engine->raft_cf()));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (it->key().size() == 9) groups.push_back(GetBigEndian64(it->key().ToStringView().substr(1)));
  }
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "list groups"));
  return groups;
}

GroupWrite GroupLog::PrepareWrite(raft::Ready& ready) {
  GroupWrite w{.group = group_, .write_id = ready.write_id};
  w.sync = ready.must_sync;
  if (ready.snapshot) {
    w.drop_from = 0;
    w.drop_to = kMaxIndex;
    w.point = *ready.snapshot;
    prepared_last_ = ready.snapshot->index.value();
  }
  if (!ready.entries.empty()) {
    const uint64_t first = ready.entries.front().index.value();
    const uint64_t last = ready.entries.back().index.value();
    if (first <= prepared_last_ && !ready.snapshot) {
      // A conflicting append replaces the suffix from `first`: drop what lies beyond the new end.
      w.drop_from = last + 1;
      w.drop_to = std::max(prepared_last_ + 1, last + 1);
    }
    prepared_last_ = last;
    w.entries = std::move(ready.entries);
  }
  w.hard_state = ready.hard_state;
  return w;
}

GroupWrite GroupLog::PrepareCompaction(uint64_t through, const raft::ConfState& conf) {
  GroupWrite w{.group = group_, .sync = false};
  if (through <= point_.index.value()) return w;
  auto term = TermAt(raft::LogIndex(through));
  if (!term) {
    std::fprintf(stderr, "clawd: group %llu: compaction through %llu beyond the durable log\n",
                 static_cast<unsigned long long>(group_), static_cast<unsigned long long>(through));
    std::abort();
  }
  w.drop_from = point_.index.value() + 1;
  w.drop_to = through + 1;
  w.point = raft::SnapshotMeta{.index = raft::LogIndex(through), .term = *term, .conf = conf};
  return w;
}

void GroupLog::OnWritten(GroupWrite& w) {
  if (w.point) {
    const bool compaction = w.drop_from != 0;
    point_ = *w.point;
    if (compaction) {
      while (!cache_.empty() && cache_.front().index <= point_.index) {
        cache_bytes_ -= cache_.front().PayloadSize();
        cache_.pop_front();
      }
    } else {
      cache_.clear();
      cache_bytes_ = 0;
      last_index_ = point_.index.value();
    }
  }
  if (!w.entries.empty()) {
    const uint64_t first = w.entries.front().index.value();
    // Drop cached entries the write replaced, then keep the cache contiguous.
    while (!cache_.empty() && cache_.back().index.value() >= first) {
      cache_bytes_ -= cache_.back().PayloadSize();
      cache_.pop_back();
    }
    if (!cache_.empty() && cache_.back().index.value() + 1 != first) {
      cache_.clear();
      cache_bytes_ = 0;
    }
    for (raft::Entry& e : w.entries) {
      cache_bytes_ += e.PayloadSize();
      cache_.push_back(std::move(e));
    }
    last_index_ = cache_.back().index.value();
    TrimCache();
  }
  if (w.hard_state) hard_state_ = *w.hard_state;
}

void GroupLog::TrimCache() {
  // Keep at least the last entry (term lookups at the end of the log are the hottest).
  while (cache_.size() > 1 && cache_bytes_ > options_.cache_bytes) {
    cache_bytes_ -= cache_.front().PayloadSize();
    cache_.pop_front();
  }
}

raft::InitialState GroupLog::GetInitialState() const {
  return raft::InitialState{.hard_state = hard_state_, .conf = point_.conf};
}

raft::LogIndex GroupLog::FirstIndex() const { return point_.index + 1; }
raft::LogIndex GroupLog::LastIndex() const { return raft::LogIndex(last_index_); }

std::expected<raft::SnapshotMeta, raft::LogError> GroupLog::Snapshot() const {
  if (!shippable_) return std::unexpected(raft::LogError::kUnavailable);
  return *shippable_;
}

std::expected<raft::Term, raft::LogError> GroupLog::TermAt(raft::LogIndex i) const {
  if (i < point_.index) return std::unexpected(raft::LogError::kCompacted);
  if (i == point_.index) return point_.term;
  if (i.value() > last_index_) return std::unexpected(raft::LogError::kUnavailable);
  if (!cache_.empty() && i >= cache_.front().index) return cache_[i - cache_.front().index].term;
  return ReadFromDisk(i.value(), i.value() + 1, 0).front().term;
}

std::expected<std::vector<raft::Entry>, raft::LogError> GroupLog::Entries(
    raft::LogIndex lo, raft::LogIndex hi, uint64_t max_bytes) const {
  if (lo <= point_.index) return std::unexpected(raft::LogError::kCompacted);
  if (hi.value() > last_index_ + 1) return std::unexpected(raft::LogError::kUnavailable);
  std::vector<raft::Entry> out;
  uint64_t bytes = 0;
  uint64_t next = lo.value();
  const uint64_t cache_first = cache_.empty() ? last_index_ + 1 : cache_.front().index.value();
  if (next < cache_first) {
    out = ReadFromDisk(next, std::min(hi.value(), cache_first), max_bytes);
    for (const raft::Entry& e : out) bytes += e.PayloadSize();
    next = out.empty() ? next : out.back().index.value() + 1;
    if (next < std::min(hi.value(), cache_first)) return out;  // size cap reached on disk
  }
  for (; next < hi.value(); ++next) {
    const raft::Entry& e = cache_[next - cache_first];
    bytes += e.PayloadSize();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

std::vector<raft::Entry> GroupLog::ReadFromDisk(uint64_t lo, uint64_t hi,
                                                uint64_t max_bytes) const {
  ++cache_misses_;
  std::vector<raft::Entry> out;
  const std::string upper = RaftEntryKey(group_, hi);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
#ifdef CLAW_BREAK_IGNORE_CRC
  ro.verify_checksums = false;  // POSITIVE CONTROL (tests/fault's clawd_broken_ignore_crc)
#endif
  std::unique_ptr<rocksdb::Iterator> it(engine_->db()->NewIterator(ro, engine_->raft_cf()));
  uint64_t bytes = 0;
  uint64_t expected = lo;
  for (it->Seek(RaftEntryKey(group_, lo)); it->Valid(); it->Next(), ++expected) {
    auto key = ParseRaftEntryKey(it->key().ToStringView());
    auto e = key && key->index == expected
                 ? DecodeEntryRecord(group_, expected, it->value().ToStringView())
                 : std::unexpected(StorageError{.code = StorageErrorCode::kCorruption,
                                                .message = "missing entry"});
    if (!e) {
      std::fprintf(stderr, "clawd: group %llu index %llu: %s; stopping (fail-stop)\n",
                   static_cast<unsigned long long>(group_),
                   static_cast<unsigned long long>(expected), e.error().message.c_str());
      std::abort();
    }
    bytes += e->PayloadSize();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(*e));
  }
  if (!it->status().ok() || (out.empty() && lo < hi)) {
    std::fprintf(stderr, "clawd: group %llu: cannot read log [%llu, %llu): %s\n",
                 static_cast<unsigned long long>(group_), static_cast<unsigned long long>(lo),
                 static_cast<unsigned long long>(hi), it->status().ToString().c_str());
    std::abort();
  }
  return out;
}

}  // namespace claw::storage
