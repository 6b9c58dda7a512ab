#include "server/kv_state_machine.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

#include "storage/crc32c.h"
#include "storage/key_codec.h"

namespace claw::server {
namespace {

using storage::GetBigEndian64;
using storage::PutBigEndian64;

constexpr size_t kStoredHeader = 24;
// Set in a stored value's version field: the lease id follows mod_ts.
constexpr uint64_t kLeaseFlag = uint64_t{1} << 63;

// Host-state sub-key of a revoked lease: "R" | id (8B BE) -> revoke timestamp (8B BE).
std::string RevokedSubKey(uint64_t id) {
  std::string sub = "R";
  PutBigEndian64(sub, id);
  return sub;
}

std::string EncodeApplyState(const ApplyState& s) {
  std::string out;
  PutBigEndian64(out, s.applied_index);
  PutBigEndian64(out, s.applied_term);
  PutBigEndian64(out, s.last_ts);
  storage::PutFixed32(out, storage::Crc32c(out));
  return out;
}

std::expected<ApplyState, std::string> DecodeApplyState(std::string_view in) {
  if (in.size() != 28) return std::unexpected("apply state has " + std::to_string(in.size()) + " bytes, want 28");
  if (storage::GetFixed32(in.substr(24)) != storage::Crc32c(in.substr(0, 24))) {
    return std::unexpected("apply state checksum mismatch");
  }
  return ApplyState{.applied_index = GetBigEndian64(in),
                    .applied_term = GetBigEndian64(in.substr(8)),
                    .last_ts = GetBigEndian64(in.substr(16))};
}

// Three-way comparison result against an operand, then the Compare op applied to it.
bool Test(int cmp, v1::Compare::Op op) {
  switch (op) {
    case v1::Compare::EQUAL: return cmp == 0;
    case v1::Compare::NOT_EQUAL: return cmp != 0;
    case v1::Compare::LESS: return cmp < 0;
    case v1::Compare::GREATER: return cmp > 0;
    default: return false;
  }
}

int Cmp(uint64_t a, uint64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// One record of a dedup bucket: id length (1 B), id, expiry (8 B BE), result length (4 B BE),
// serialized result.
void AppendDedupRecord(std::string& out, std::string_view id, uint64_t expires_ts,
                       const v1::TxnResponse& result) {
  out.push_back(static_cast<char>(id.size()));
  out.append(id);
  PutBigEndian64(out, expires_ts);
  const size_t at = out.size();
  out.append(4, '\0');
  result.AppendToString(&out);
  const auto len = static_cast<uint32_t>(out.size() - at - 4);
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>(len >> (24 - 8 * i));
}

// Calls `fn(id, expires_ts, result)` for each record of a bucket; false when malformed.
template <typename Fn>
bool ForEachDedupRecord(std::string_view in, Fn&& fn) {
  while (!in.empty()) {
    const size_t id_len = static_cast<unsigned char>(in[0]);
    if (in.size() < 1 + id_len + 12) return false;
    const std::string_view id = in.substr(1, id_len);
    const uint64_t expires = GetBigEndian64(in.substr(1 + id_len));
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len = (len << 8) | static_cast<unsigned char>(in[9 + id_len + i]);
    in.remove_prefix(13 + id_len);
    if (in.size() < len) return false;
    v1::TxnResponse result;
    if (!result.ParseFromArray(in.data(), static_cast<int>(len))) return false;
    in.remove_prefix(len);
    fn(id, expires, std::move(result));
  }
  return true;
}

}  // namespace

std::string EncodeStoredValue(const StoredValue& v) {
  std::string out;
  out.reserve(kStoredHeader + 8 + v.value.size());
  PutBigEndian64(out, v.lease != 0 ? v.version | kLeaseFlag : v.version);
  PutBigEndian64(out, v.create_ts);
  PutBigEndian64(out, v.mod_ts);
  if (v.lease != 0) PutBigEndian64(out, v.lease);
  out.append(v.value);
  return out;
}

std::expected<StoredValue, std::string> DecodeStoredValue(std::string_view payload) {
  if (payload.size() < kStoredHeader) return std::unexpected("stored value shorter than its header");
  const uint64_t version = GetBigEndian64(payload);
  const bool leased = (version & kLeaseFlag) != 0;
  if (leased && payload.size() < kStoredHeader + 8) return std::unexpected("stored value shorter than its lease");
  const size_t header = leased ? kStoredHeader + 8 : kStoredHeader;
  return StoredValue{.version = version & ~kLeaseFlag,
                     .create_ts = GetBigEndian64(payload.substr(8)),
                     .mod_ts = GetBigEndian64(payload.substr(16)),
                     .value = std::string(payload.substr(header)),
                     .lease = leased ? GetBigEndian64(payload.substr(kStoredHeader)) : 0};
}

void ToKeyValue(std::string_view key, const StoredValue& v, bool keys_only, v1::KeyValue* out) {
  out->set_key(std::string(key));
  if (!keys_only) out->set_value(v.value);
  out->set_version(v.version);
  out->set_mod_ts(v.mod_ts);
  out->set_create_ts(v.create_ts);
  out->set_lease(v.lease);
}

KvStateMachine::KvStateMachine(storage::Engine* engine, uint64_t group, KeyHeaderCacheBudget* header_budget)
    : engine_(engine), group_(group), headers_(header_budget) {}

namespace {

KeyHeader HeaderOf(const std::optional<StoredValue>& v) {
  if (!v) return KeyHeader{};
  return KeyHeader{.version = v->version, .create_ts = v->create_ts, .mod_ts = v->mod_ts, .lease = v->lease};
}

}  // namespace

void KvStateMachine::Fatal(const storage::StorageError& e, const char* what) {
  // Apply failures leave the replica's state unknown: stop the node (fail-stop); the Raft log
  // redoes the work after a restart.
  std::fprintf(stderr, "clawd: fatal storage error while %s: %s\n", what, e.message.c_str());
  std::abort();
}

std::expected<void, storage::StorageError> KvStateMachine::Load() {
  auto raw = engine_->GetMeta(storage::ApplyStateKey(group_));
  if (!raw) return std::unexpected(raw.error());
  if (raw->has_value()) {
    auto st = DecodeApplyState(**raw);
    if (!st) {
      return std::unexpected(storage::StorageError{
          storage::StorageErrorCode::kCorruption,
          "shard " + std::to_string(group_) + ": " + st.error() + " in " + engine_->dir()});
    }
    state_ = *st;
  }
  // Legacy per-request records first: every bucket is newer than all of them.
  const std::string prefix = storage::DedupPrefix(group_);
  std::vector<std::pair<uint64_t, std::string>> order;
  bool malformed = false;
  auto scan = engine_->ScanMeta(prefix, [&](std::string_view key, std::string_view v) {
    DedupRecord rec;
    if (v.size() < 8 || !rec.result.ParseFromArray(v.data() + 8, static_cast<int>(v.size() - 8))) {
      malformed = true;
      return false;
    }
    rec.expires_ts = GetBigEndian64(v);
    std::string id(key.substr(prefix.size()));
    order.emplace_back(rec.expires_ts, id);
    legacy_ids_.insert(id);
    dedup_.Put(id, std::move(rec));
    return true;
  });
  if (!scan) return std::unexpected(scan.error());
  const std::string bucket_prefix = storage::DedupBucketPrefix(group_);
  scan = engine_->ScanMeta(bucket_prefix, [&](std::string_view key, std::string_view v) {
    if (key.size() != bucket_prefix.size() + 8) {
      malformed = true;
      return false;
    }
    uint64_t latest = 0;
    malformed = !ForEachDedupRecord(v, [&](std::string_view id, uint64_t expires, v1::TxnResponse result) {
      latest = std::max(latest, expires);
      order.emplace_back(expires, std::string(id));
      dedup_.Put(id, DedupRecord{.expires_ts = expires, .result = std::move(result)});
    });
    buckets_.emplace_back(latest, GetBigEndian64(key.substr(bucket_prefix.size())));
    return !malformed;
  });
  if (!scan) return std::unexpected(scan.error());
  if (malformed) {
    return std::unexpected(storage::StorageError{
        storage::StorageErrorCode::kCorruption,
        "shard " + std::to_string(group_) + ": malformed dedup record in " + engine_->dir()});
  }
  std::sort(order.begin(), order.end());
  dedup_order_.assign(order.begin(), order.end());
  const std::string revoked_prefix = storage::HostStateKey(group_, "R");
  scan = engine_->ScanMeta(revoked_prefix, [&](std::string_view key, std::string_view v) {
    if (key.size() != revoked_prefix.size() + 8 || v.size() != 8) {
      malformed = true;
      return false;
    }
    revoked_[GetBigEndian64(key.substr(revoked_prefix.size()))] = GetBigEndian64(v);
    return true;
  });
  if (!scan) return std::unexpected(scan.error());
  if (malformed) {
    return std::unexpected(storage::StorageError{
        storage::StorageErrorCode::kCorruption,
        "shard " + std::to_string(group_) + ": malformed revoked-lease record in " + engine_->dir()});
  }
  return {};
}

const v1::TxnResponse* KvStateMachine::FindDuplicate(const std::string& request_id) const {
  const DedupRecord* rec = dedup_.Find(request_id);
  return rec == nullptr ? nullptr : &rec->result;
}

std::expected<std::optional<StoredValue>, storage::StorageError> KvStateMachine::ReadKey(
    std::string_view key) const {
  storage::MvccReader reader(*engine_);
  auto got = reader.Get(key, storage::Timestamp::Max());
  if (!got) return std::unexpected(got.error());
  if (!got->has_value()) return std::optional<StoredValue>{};
  auto v = DecodeStoredValue(**got);
  if (!v) {
    return std::unexpected(storage::StorageError{storage::StorageErrorCode::kCorruption, v.error()});
  }
  return std::optional<StoredValue>(std::move(*v));
}

std::optional<StoredValue> KvStateMachine::Current(const std::string& key) {
  if (auto it = overlay_.find(key); it != overlay_.end()) return it->second;
  auto v = ReadKey(key);
  if (!v) Fatal(v.error(), "reading a key during apply");
  headers_.Put(key, HeaderOf(*v));
  return std::move(*v);
}

KeyHeader KvStateMachine::CurrentHeader(const std::string& key) {
  if (auto it = overlay_.find(key); it != overlay_.end()) return HeaderOf(it->second);
  if (std::optional<KeyHeader> h = headers_.Find(key)) return *h;
  return HeaderOf(Current(key));
}

KeyHeader KvStateMachine::Previous(const std::string& key, bool prev_kv, std::optional<StoredValue>* prev) {
  // The whole previous value only when it is returned or published; otherwise its header suffices.
  if (!prev_kv && !collect_events_) return CurrentHeader(key);
  *prev = Current(key);
  return HeaderOf(*prev);
}

void KvStateMachine::OnBatchWritten() {
  for (const auto& [key, v] : overlay_) headers_.Put(key, HeaderOf(v));
  overlay_.clear();
  index_overlay_.clear();
}

void KvStateMachine::IndexSet(storage::WriteBatch& batch, uint64_t lease, const std::string& key, bool present) {
  const std::string k = storage::LeaseIndexKey(lease, key);
  auto r = present ? engine_->PutMeta(batch, k, "") : engine_->DeleteMeta(batch, k);
  if (!r) Fatal(r.error(), "updating the lease index");
  index_overlay_[{lease, key}] = present;
}

void KvStateMachine::WritePut(storage::WriteBatch& batch, const std::string& key, std::string value,
                              uint64_t ts, bool prev_kv, uint64_t lease, v1::PutResponse* out) {
  std::optional<StoredValue> prev;
  const KeyHeader head = Previous(key, prev_kv, &prev);
  StoredValue next{.version = head.exists() ? head.version + 1 : 1,
                   .create_ts = head.exists() ? head.create_ts : ts,
                   .mod_ts = ts,
                   .value = std::move(value),
                   .lease = lease};
  const uint64_t prev_lease = head.lease;
  if (prev_lease != lease) {
    if (prev_lease != 0) IndexSet(batch, prev_lease, key, false);
    if (lease != 0) IndexSet(batch, lease, key, true);
  }
  storage::MvccWriter writer(*engine_, batch);
  if (auto r = writer.Put(key, storage::Timestamp(ts), EncodeStoredValue(next)); !r) {
    Fatal(r.error(), "writing a put");
  }
  if (out) {
    out->set_mod_ts(ts);
    if (prev_kv && prev) ToKeyValue(key, *prev, false, out->mutable_prev());
  }
  if (collect_events_) events_.push_back(ChangeEvent{.ts = ts, .key = key, .value = next, .prev = prev});
  overlay_[key] = std::move(next);
}

void KvStateMachine::WriteDelete(storage::WriteBatch& batch, const std::string& key, uint64_t ts,
                                 bool prev_kv, v1::DeleteResponse* out) {
  std::optional<StoredValue> prev;
  const KeyHeader head = Previous(key, prev_kv, &prev);
  if (head.exists()) {
    storage::MvccWriter writer(*engine_, batch);
    if (auto r = writer.Delete(key, storage::Timestamp(ts)); !r) Fatal(r.error(), "writing a delete");
    overlay_[key] = std::nullopt;
    if (head.lease != 0) IndexSet(batch, head.lease, key, false);
    if (collect_events_) events_.push_back(ChangeEvent{.ts = ts, .key = key, .value = std::nullopt, .prev = prev});
  }
  if (out) {
    out->set_deleted(head.exists() ? 1 : 0);
    if (prev_kv && prev) ToKeyValue(key, *prev, false, out->mutable_prev());
  }
}

uint64_t KvStateMachine::WriteDeleteRange(storage::WriteBatch& batch, const std::string& start,
                                          const std::string& end, uint64_t ts) {
  // Live keys = committed live keys not deleted in the overlay, plus overlay keys alive now.
  // Each victim's lease (its index record goes too) and, with watchers, its value before the
  // delete for its event.
  std::vector<std::pair<std::string, uint64_t>> victims;  // key, lease
  std::map<std::string, StoredValue> prevs;
  std::string decode_error;
  storage::MvccReader reader(*engine_);
  auto r = reader.ForEach(start, end, storage::Timestamp::Max(), storage::ScanDirection::kForward,
                          [&](std::string_view key, std::string_view payload) {
                            auto it = overlay_.find(std::string(key));
                            if (it != overlay_.end()) return true;
                            auto v = DecodeStoredValue(payload);
                            if (!v) {
                              decode_error = v.error();
                              return false;
                            }
                            victims.emplace_back(key, v->lease);
                            if (collect_events_) prevs.emplace(std::string(key), std::move(*v));
                            return true;
                          });
  if (!r) Fatal(r.error(), "scanning a range delete");
  if (!decode_error.empty()) {
    Fatal(storage::StorageError{storage::StorageErrorCode::kCorruption, decode_error}, "scanning a range delete");
  }
  for (auto it = overlay_.lower_bound(start);
       it != overlay_.end() && (end.empty() || it->first < end); ++it) {
    if (it->second) {
      victims.emplace_back(it->first, it->second->lease);
      if (collect_events_) prevs.emplace(it->first, *it->second);
    }
  }
  // Key order, so that a watcher sees the events of one range delete sorted like a scan.
  std::sort(victims.begin(), victims.end());
  storage::MvccWriter writer(*engine_, batch);
  for (const auto& [key, lease] : victims) {
    if (auto d = writer.Delete(key, storage::Timestamp(ts)); !d) Fatal(d.error(), "writing a range delete");
    overlay_[key] = std::nullopt;
    if (lease != 0) IndexSet(batch, lease, key, false);
    if (collect_events_) {
      auto p = prevs.find(key);
      events_.push_back(ChangeEvent{.ts = ts, .key = key, .value = std::nullopt,
                                    .prev = p == prevs.end() ? std::nullopt : std::optional<StoredValue>(p->second)});
    }
  }
  return victims.size();
}

bool KvStateMachine::Holds(const v1::Compare& c) {
  if (c.target() == v1::Compare::VALUE) {
    std::optional<StoredValue> v = Current(c.key());
    if (!v) return c.op() == v1::Compare::NOT_EQUAL;
    return Test(v->value.compare(c.value()) < 0 ? -1 : (v->value == c.value() ? 0 : 1), c.op());
  }
  const KeyHeader h = CurrentHeader(c.key());
  switch (c.target()) {
    case v1::Compare::VERSION:
      return Test(Cmp(h.version, c.version()), c.op());
    case v1::Compare::MOD_TS:
      return Test(Cmp(h.mod_ts, c.mod_ts()), c.op());
    case v1::Compare::EXISTS:
      return Test(h.exists() == c.exists() ? 0 : 1, c.op());
    default:
      return false;
  }
}

void KvStateMachine::RunOps(const google::protobuf::RepeatedPtrField<v1::Op>& ops, uint64_t ts,
                            storage::WriteBatch& batch, v1::TxnResponse* out) {
  for (const v1::Op& op : ops) {
    v1::OpResult* res = out->add_results();
    switch (op.op_case()) {
      case v1::Op::kGet: {
        v1::GetResponse* g = res->mutable_get();
        if (std::optional<StoredValue> v = Current(op.get().key())) {
          g->set_found(true);
          ToKeyValue(op.get().key(), *v, false, g->mutable_kv());
        }
        break;
      }
      case v1::Op::kPut:
        WritePut(batch, op.put().key(), op.put().value(), ts, op.put().prev_kv(), op.put().lease(),
                 res->mutable_put());
        break;
      case v1::Op::kDelete:
        WriteDelete(batch, op.delete_().key(), ts, op.delete_().prev_kv(), res->mutable_delete_());
        break;
      case v1::Op::kDeleteRange:
        res->mutable_delete_range()->set_deleted(WriteDeleteRange(
            batch, op.delete_range().start_key(), op.delete_range().end_key(), ts));
        break;
      default:
        break;  // validated before proposing; an empty op has no effect
    }
  }
}

void KvStateMachine::RecordDedup(const std::string& request_id, uint64_t ts,
                                 const v1::TxnResponse& result, storage::WriteBatch&) {
  DedupRecord rec{.expires_ts = ts + dedup_window_, .result = result};
  AppendDedupRecord(bucket_, request_id, rec.expires_ts, result);
  bucket_expires_ = std::max(bucket_expires_, rec.expires_ts);
  dedup_order_.emplace_back(rec.expires_ts, request_id);
  dedup_.Put(request_id, std::move(rec));
}

void KvStateMachine::ExpireDedup(uint64_t now_ts, storage::WriteBatch& batch) {
  while (!dedup_order_.empty() && dedup_order_.front().first < now_ts) {
    auto& [expires, id] = dedup_order_.front();
    const DedupRecord* rec = dedup_.Find(id);
    // A re-recorded id (after expiry) has a later expiry; only drop the record this entry names.
    if (rec != nullptr && rec->expires_ts == expires) dedup_.Erase(id);
    if (!legacy_ids_.empty() && legacy_ids_.erase(id) > 0) {
      if (auto del = engine_->DeleteMeta(batch, storage::DedupKey(group_, id)); !del) {
        Fatal(del.error(), "expiring a request id");
      }
    }
    dedup_order_.pop_front();
  }
  while (!buckets_.empty() && buckets_.front().first < now_ts) {
    if (auto del = engine_->DeleteMeta(batch, storage::DedupBucketKey(group_, buckets_.front().second)); !del) {
      Fatal(del.error(), "expiring request ids");
    }
    buckets_.pop_front();
  }
}

uint64_t KvStateMachine::Advance(uint64_t index, uint64_t term, uint64_t proposed_ts, storage::WriteBatch& batch) {
  const uint64_t ts = std::max(proposed_ts, state_.last_ts + 1);
  state_.applied_index = index;
  state_.applied_term = term;
  state_.last_ts = ts;
  ExpireDedup(ts, batch);
  ExpireRevoked(ts, batch);
  return ts;
}

void KvStateMachine::ExpireRevoked(uint64_t now_ts, storage::WriteBatch& batch) {
  for (auto it = revoked_.begin(); it != revoked_.end();) {
    if (it->second + dedup_window_ < now_ts) {
      if (auto del = engine_->DeleteMeta(batch, storage::HostStateKey(group_, RevokedSubKey(it->first))); !del) {
        Fatal(del.error(), "expiring a revoked lease");
      }
      it = revoked_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<uint64_t> KvStateMachine::RevokedLeaseOf(const v1::RaftCommand& cmd) const {
  if (revoked_.empty()) return std::nullopt;
  auto scan = [&](const google::protobuf::RepeatedPtrField<v1::Op>& ops) -> std::optional<uint64_t> {
    for (const v1::Op& op : ops) {
      if (op.has_put() && op.put().lease() != 0 && revoked_.contains(op.put().lease())) return op.put().lease();
    }
    return std::nullopt;
  };
  if (cmd.has_batch()) return scan(cmd.batch().ops());
  if (cmd.has_txn()) {
    if (auto l = scan(cmd.txn().success())) return l;
    return scan(cmd.txn().failure());
  }
  return std::nullopt;
}

std::expected<std::vector<std::string>, storage::StorageError> KvStateMachine::LeaseKeys(
    uint64_t lease, const std::string& start, const std::string& end) const {
  return LeaseIndexKeys(*engine_, lease, start, end);
}

std::expected<std::vector<std::string>, storage::StorageError> LeaseIndexKeys(
    storage::Engine& engine, uint64_t lease, const std::string& start, const std::string& end) {
  std::vector<std::string> keys;
  const std::string prefix = storage::LeaseIndexPrefix(lease);
  auto scan = engine.ScanMeta(prefix, [&](std::string_view key, std::string_view) {
    std::string user(key.substr(prefix.size()));
    if (user >= start && (end.empty() || user < end)) keys.push_back(std::move(user));
    return true;
  });
  if (!scan) return std::unexpected(scan.error());
  return keys;
}

std::vector<uint64_t> KvStateMachine::ApplyLeaseRevoke(uint64_t index, uint64_t term, const v1::RaftCommand& cmd,
                                                      const std::string& start, const std::string& end,
                                                      storage::WriteBatch& batch) {
  const uint64_t ts = Advance(index, term, cmd.ts(), batch);
  std::vector<uint64_t> counts;
  for (uint64_t lease : cmd.lease_keys().ids()) {
    counts.push_back(0);
    uint64_t& deleted = counts.back();
    if (lease == 0) continue;
    if (!revoked_.contains(lease)) {
      revoked_[lease] = ts;
      std::string v;
      PutBigEndian64(v, ts);
      if (auto put = engine_->PutMeta(batch, storage::HostStateKey(group_, RevokedSubKey(lease)), v); !put) {
        Fatal(put.error(), "recording a revoked lease");
      }
    }
    // Index records: committed ones, corrected by this round's.
    auto committed = LeaseKeys(lease, start, end);
    if (!committed) Fatal(committed.error(), "reading the lease index");
    std::set<std::string> keys(committed->begin(), committed->end());
    for (auto it = index_overlay_.lower_bound({lease, start}); it != index_overlay_.end() && it->first.first == lease;
         ++it) {
      if (!end.empty() && it->first.second >= end) break;
      if (it->second) {
        keys.insert(it->first.second);
      } else {
        keys.erase(it->first.second);
      }
    }
    for (const std::string& key : keys) {
      std::optional<StoredValue> v = Current(key);
      if (v && v->lease == lease) {
        WriteDelete(batch, key, ts, false, nullptr);  // drops the index record too
        ++deleted;
      } else {
        IndexSet(batch, lease, key, false);  // stale: the key moved to another lease or is gone
      }
    }
  }
  return counts;
}

void KvStateMachine::RebuildLeaseIndex(const std::string& start, const std::string& end, storage::WriteBatch& batch) {
  storage::MvccReader reader(*engine_);
  auto r = reader.ForEach(start, end, storage::Timestamp::Max(), storage::ScanDirection::kForward,
                          [&](std::string_view key, std::string_view payload) {
                            auto v = DecodeStoredValue(payload);
                            if (v && v->lease != 0) IndexSet(batch, v->lease, std::string(key), true);
                            return true;
                          });
  if (!r) Fatal(r.error(), "rebuilding the lease index");
}

v1::TxnResponse KvStateMachine::Apply(uint64_t index, uint64_t term, const v1::RaftCommand& cmd,
                                      storage::WriteBatch& batch) {
  const uint64_t ts = Advance(index, term, cmd.ts(), batch);
  if (!cmd.request_id().empty()) {
    if (const v1::TxnResponse* dup = FindDuplicate(cmd.request_id())) return *dup;
  }
  v1::TxnResponse result;
  if (cmd.has_txn()) {
    bool ok = true;
    for (const v1::Compare& c : cmd.txn().compare()) ok = ok && Holds(c);
    result.set_succeeded(ok);
    RunOps(ok ? cmd.txn().success() : cmd.txn().failure(), ts, batch, &result);
  } else {
    result.set_succeeded(true);
    RunOps(cmd.batch().ops(), ts, batch, &result);
  }
  if (!cmd.request_id().empty()) RecordDedup(cmd.request_id(), ts, result, batch);
  return result;
}

void KvStateMachine::ApplyEmpty(uint64_t index, uint64_t term) {
  state_.applied_index = index;
  state_.applied_term = term;
}

void KvStateMachine::FillSnapshotState(v1::ShardSnapshotState* out) const {
  out->set_last_ts(state_.last_ts);
  for (const auto& [id, ts] : revoked_) {
    v1::RevokedLease* r = out->add_revoked_leases();
    r->set_id(id);
    r->set_ts(ts);
  }
  for (const auto& [expires, id] : dedup_order_) {
    const DedupRecord* rec = dedup_.Find(id);
    if (rec == nullptr || rec->expires_ts != expires) continue;
    v1::DedupEntry* e = out->add_dedup();
    e->set_request_id(id);
    e->set_expires_ts(expires);
    *e->mutable_result() = rec->result;
  }
}

void KvStateMachine::InstallSnapshotState(uint64_t index, uint64_t term,
                                          const v1::ShardSnapshotState& state,
                                          storage::WriteBatch& batch) {
  for (const std::string& id : legacy_ids_) {
    if (auto del = engine_->DeleteMeta(batch, storage::DedupKey(group_, id)); !del) {
      Fatal(del.error(), "replacing the dedup window");
    }
  }
  for (const auto& [expires, at] : buckets_) {
    if (auto del = engine_->DeleteMeta(batch, storage::DedupBucketKey(group_, at)); !del) {
      Fatal(del.error(), "replacing the dedup window");
    }
  }
  for (const auto& [id, ts] : revoked_) {
    if (auto del = engine_->DeleteMeta(batch, storage::HostStateKey(group_, RevokedSubKey(id))); !del) {
      Fatal(del.error(), "replacing the revoked leases");
    }
  }
  revoked_.clear();
  for (const v1::RevokedLease& r : state.revoked_leases()) {
    revoked_[r.id()] = r.ts();
    std::string v;
    PutBigEndian64(v, r.ts());
    if (auto put = engine_->PutMeta(batch, storage::HostStateKey(group_, RevokedSubKey(r.id())), v); !put) {
      Fatal(put.error(), "recording a revoked lease");
    }
  }
  index_overlay_.clear();
  legacy_ids_.clear();
  buckets_.clear();
  bucket_.clear();
  bucket_expires_ = 0;
  dedup_.Clear();
  dedup_order_.clear();
  overlay_.clear();
  headers_.Clear();  // the shard's data was replaced
  events_.clear();
  state_ = ApplyState{.applied_index = index, .applied_term = term, .last_ts = state.last_ts()};
  for (const v1::DedupEntry& e : state.dedup()) {
    AppendDedupRecord(bucket_, e.request_id(), e.expires_ts(), e.result());
    bucket_expires_ = std::max(bucket_expires_, e.expires_ts());
    dedup_order_.emplace_back(e.expires_ts(), e.request_id());
    dedup_.Put(e.request_id(), DedupRecord{.expires_ts = e.expires_ts(), .result = e.result()});
  }
  FinishBatch(batch);
}

void KvStateMachine::FinishBatch(storage::WriteBatch& batch) {
  if (!bucket_.empty()) {
    if (auto put = engine_->PutMeta(batch, storage::DedupBucketKey(group_, state_.applied_index), bucket_); !put) {
      Fatal(put.error(), "recording request ids");
    }
    buckets_.emplace_back(bucket_expires_, state_.applied_index);
    bucket_.clear();
    bucket_expires_ = 0;
  }
  if (auto put = engine_->PutMeta(batch, storage::ApplyStateKey(group_), EncodeApplyState(state_)); !put) {
    Fatal(put.error(), "recording the applied index");
  }
}

}  // namespace claw::server
