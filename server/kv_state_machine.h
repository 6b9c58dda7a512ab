// KvStateMachine: the state machine of one shard on this node — applies committed RaftCommands
// (claw.v1, proto/claw/v1/command.proto) to MVCC data in the `data` column family, keeps the
// shard's apply state (applied index, last timestamp) and the write-dedup window in `meta`, and
// serves reads of the applied state.
//
// Determinism: every replica applies the same log and must store the same bytes. So the version
// timestamp of a command is max(proposed ts, last applied ts + 1) (a function of the log only),
// dedup expiry is judged against command timestamps, and nothing here reads a clock.
//
// Stored value (payload of an MVCC put): version (8B BE) | create_ts (8B BE) | mod_ts (8B BE) |
// [lease (8B BE)] | user value. Version counts writes since the key was (re)created; its top bit
// (never set by a count) says that the lease id follows mod_ts, so values written before leases
// existed read unchanged.
//
// Leases: a put naming a lease records it in the value and adds (lease, key) to the node's lease
// index in `meta` (storage::LeaseIndexKey), in the same batch; an overwrite with another or no
// lease, a delete or a range delete moves or drops the record. ApplyLeaseRevoke finds a lease's
// keys through the index (no scan of the shard) and deletes those it owns in one apply. Revoked
// ids are remembered for the dedup window (`revoked_`, in `meta` under the group's host-state
// prefix "R", carried by snapshots and splits in ShardSnapshotState.revoked_leases), and a put
// naming one is refused (RevokedLeaseOf): a put racing a revoke cannot leave an orphan key. The
// index itself is not in snapshots: a replica rebuilds it from the ingested values
// (RebuildLeaseIndex).
//
// Atomicity: a command's effects and the apply state that records it land in one WriteBatch,
// written without fsync (the Raft log is the durable copy: a lost apply is redone from it, and the
// apply state says exactly where to resume). Commands applied in one round share a batch; an
// in-memory overlay lets later commands of the round read earlier ones' writes.
//
// Threads: owned by the raft worker that owns the shard's group; not thread-safe. The read
// functions (ReadKey / Scan via MvccReader) only touch the engine and may run elsewhere.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "claw/v1/command.pb.h"
#include "claw/v1/kv.pb.h"
#include "server/flat_string_map.h"
#include "server/key_header_cache.h"
#include "storage/engine.h"
#include "storage/error.h"
#include "storage/hlc.h"
#include "storage/mvcc.h"

namespace claw::server {

struct StoredValue {
  uint64_t version = 0;
  uint64_t create_ts = 0;
  uint64_t mod_ts = 0;
  std::string value{};
  uint64_t lease = 0;
};
std::string EncodeStoredValue(const StoredValue& v);
[[nodiscard]] std::expected<StoredValue, std::string> DecodeStoredValue(std::string_view payload);
// Fills a wire KeyValue (value omitted with keys_only).
void ToKeyValue(std::string_view key, const StoredValue& v, bool keys_only, v1::KeyValue* out);

// One change to one key made by an applied command, for watches (server/watch_stream.h): the
// key, its new stored value (PUT) or none (DELETE), and its value just before. All changes of
// one command share its timestamp (the revision).
struct ChangeEvent {
  uint64_t ts = 0;
  std::string key{};
  std::optional<StoredValue> value{};  // nullopt: deleted
  std::optional<StoredValue> prev{};   // nullopt: the key did not exist
};
// Keys of [start, end) (end empty = +inf) that the node's lease index lists under `lease`. Stale
// records (the key was overwritten without the lease, or left the node) are included: check the
// key's current value.
[[nodiscard]] std::expected<std::vector<std::string>, storage::StorageError> LeaseIndexKeys(
    storage::Engine& engine, uint64_t lease, const std::string& start, const std::string& end);

// The durable position of the state machine.
struct ApplyState {
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  uint64_t last_ts = 0;
};

class KvStateMachine {
 public:
  // `header_budget` (may be null: no header cache) is shared by the node's state machines and
  // must outlive this one.
  KvStateMachine(storage::Engine* engine, uint64_t group, KeyHeaderCacheBudget* header_budget = nullptr);

  // Loads the apply state and the dedup window from `meta` (a missing apply state = a new shard).
  [[nodiscard]] std::expected<void, storage::StorageError> Load();

  // Result of a duplicate request recorded within the window, if any.
  const v1::TxnResponse* FindDuplicate(const std::string& request_id) const;

  // Applies the command of entry (index, term) into `batch`; returns its result (TxnResponse is
  // the general form: `succeeded` plus one OpResult per op that ran). A duplicate request id is
  // answered from the dedup record without effects. Storage failures are fatal to the node.
  v1::TxnResponse Apply(uint64_t index, uint64_t term, const v1::RaftCommand& cmd,
                        storage::WriteBatch& batch);
  // Deletes the keys within [start, end) (the shard's range at this entry) attached to the
  // command's leases (cmd.lease_keys()), and remembers the ids as revoked. Returns how many keys
  // it deleted per lease id.
  std::vector<uint64_t> ApplyLeaseRevoke(uint64_t index, uint64_t term, const v1::RaftCommand& cmd,
                            const std::string& start, const std::string& end, storage::WriteBatch& batch);
  // A lease named by a put of the command that this shard saw revoked within the window, if any:
  // the command must be refused, not applied.
  std::optional<uint64_t> RevokedLeaseOf(const v1::RaftCommand& cmd) const;
  // Adds index records for every live key of [start, end) attached to a lease (after a snapshot
  // was ingested).
  void RebuildLeaseIndex(const std::string& start, const std::string& end, storage::WriteBatch& batch);
  // Keys of [start, end) attached to `lease` (committed state, via the index).
  [[nodiscard]] std::expected<std::vector<std::string>, storage::StorageError> LeaseKeys(
      uint64_t lease, const std::string& start, const std::string& end) const;
  // An entry without effects on data (leader no-op, configuration change).
  void ApplyEmpty(uint64_t index, uint64_t term);
  // Adds the apply state record to `batch`; call after the round's last Apply.
  void FinishBatch(storage::WriteBatch& batch);
  // The batch of FinishBatch was written: the overlay is no longer needed (its keys' headers
  // move to the header cache).
  void OnBatchWritten();
  // Drops the header cache if no command wrote since the last call (the raft worker's sweeps),
  // or at once (a split: keys that left the shard are never asked for again).
  void TrimHeaderCache() { headers_.ClearIfIdle(); }
  void DropHeaderCache() { headers_.Clear(); }

  // Point read of the applied state (committed in RocksDB; not the overlay).
  [[nodiscard]] std::expected<std::optional<StoredValue>, storage::StorageError> ReadKey(
      std::string_view key) const;

  // The apply state a snapshot at the current applied index must carry (last_ts, dedup window).
  void FillSnapshotState(v1::ShardSnapshotState* out) const;
  // After the snapshot's data was ingested: adopt its apply state (index, term, last_ts, dedup
  // window), recording it in `batch` in place of the current one.
  void InstallSnapshotState(uint64_t index, uint64_t term, const v1::ShardSnapshotState& state,
                            storage::WriteBatch& batch);

  // Watches: while on, every write of applied commands is recorded as a ChangeEvent (in apply
  // order) until TakeEvents; while off (no watcher on the shard), nothing is recorded.
  void set_collect_events(bool on) {
    collect_events_ = on;
    if (!on) events_.clear();
  }
  bool collect_events() const { return collect_events_; }
  std::vector<ChangeEvent> TakeEvents() { return std::exchange(events_, {}); }

  const ApplyState& state() const { return state_; }
  uint64_t dedup_entries() const { return dedup_.size(); }
  // Dedup window length in timestamp units (ms << 18); set from config.
  void set_dedup_window_ms(uint64_t ms) { dedup_window_ = ms << storage::Timestamp::kLogicalBits; }

 private:
  // Current value of `key` as of the commands applied so far (overlay, then RocksDB).
  std::optional<StoredValue> Current(const std::string& key);
  // Its header only (overlay, header cache, then RocksDB): what a write needs unless it returns
  // or publishes the previous value.
  KeyHeader CurrentHeader(const std::string& key);
  // What a write of `key` needs of its previous version: the header, and in `prev` the whole
  // value when the write returns it (`prev_kv`) or watchers are told.
  KeyHeader Previous(const std::string& key, bool prev_kv, std::optional<StoredValue>* prev);
  void WritePut(storage::WriteBatch& batch, const std::string& key, std::string value, uint64_t ts,
                bool prev_kv, uint64_t lease, v1::PutResponse* out);
  void IndexSet(storage::WriteBatch& batch, uint64_t lease, const std::string& key, bool present);
  void ExpireRevoked(uint64_t now_ts, storage::WriteBatch& batch);
  // Advances the apply state to (index, term) and returns the entry's timestamp.
  uint64_t Advance(uint64_t index, uint64_t term, uint64_t proposed_ts, storage::WriteBatch& batch);
  void WriteDelete(storage::WriteBatch& batch, const std::string& key, uint64_t ts, bool prev_kv,
                   v1::DeleteResponse* out);
  uint64_t WriteDeleteRange(storage::WriteBatch& batch, const std::string& start,
                            const std::string& end, uint64_t ts);
  void RunOps(const google::protobuf::RepeatedPtrField<v1::Op>& ops, uint64_t ts,
              storage::WriteBatch& batch, v1::TxnResponse* out);
  bool Holds(const v1::Compare& c);
  void RecordDedup(const std::string& request_id, uint64_t ts, const v1::TxnResponse& result,
                   storage::WriteBatch& batch);
  void ExpireDedup(uint64_t now_ts, storage::WriteBatch& batch);
  static void Fatal(const storage::StorageError& e, const char* what);

  storage::Engine* engine_;
  uint64_t group_;
  bool collect_events_ = false;
  std::vector<ChangeEvent> events_;
  ApplyState state_;
  uint64_t dedup_window_ = uint64_t{60'000} << storage::Timestamp::kLogicalBits;
  // Writes of this round not yet in RocksDB; nullopt = deleted.
  std::map<std::string, std::optional<StoredValue>> overlay_;
  // Headers of keys written or read by earlier rounds (server/key_header_cache.h).
  KeyHeaderCache headers_;
  struct DedupRecord {
    uint64_t expires_ts = 0;
    v1::TxnResponse result;
  };
  FlatStringMap<DedupRecord> dedup_;
  // Request ids in expiry order (timestamps only grow, so insertion order is expiry order).
  std::deque<std::pair<uint64_t, std::string>> dedup_order_;
  // On disk the records of one apply batch share one key (storage/README.md, meta `0x09`): one
  // memtable insert and one delete per batch instead of per write. `bucket_` collects this
  // batch's records (FinishBatch writes it); `buckets_` lists the written ones as (latest
  // expiry, key index), deleted once all their records expired.
  std::string bucket_;
  uint64_t bucket_expires_ = 0;
  std::deque<std::pair<uint64_t, uint64_t>> buckets_;
  // Records found under the legacy one-key-per-request layout (`0x03`), deleted as they expire.
  std::unordered_set<std::string> legacy_ids_;
  // Lease index records written this round (true) or deleted (false), not yet in RocksDB.
  std::map<std::pair<uint64_t, std::string>, bool> index_overlay_;
  // Leases revoked in this shard -> the revoke's timestamp; dropped after the dedup window.
  std::map<uint64_t, uint64_t> revoked_;
};

}  // namespace claw::server
