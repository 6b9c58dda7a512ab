// Key layouts of the three column families (storage/README.md is the spec) and the
// memcomparable encoding of user keys. Pure functions over bytes; thread-safe.
//
// raft CF:  0x01 | group (8B BE) | index (8B BE)  -> entry record (see raft_log_store.h)
//           0x02 | group (8B BE)                  -> hard state
//           0x03 | group (8B BE)                  -> log state (snapshot point: index, term, conf)
// data CF:  memcomparable(user key) | ~timestamp (8B BE)  -> MVCC value (see mvcc.h)
// meta CF:  0x01 | group (8B BE)                  -> apply state of the group's shard
//           0x02                                  -> node identity
//           0x03 | group (8B BE) | request id     -> write-dedup record (server/README.md)
//           0x04 | group (8B BE)                  -> shard descriptor (claw.v1.ShardDescriptor)
//           0x05 | group (8B BE)                  -> replica tombstone (last destroyed replica id)
//           0x06                                  -> shard id sequence of this node (8B BE)
//           0x07 | group (8B BE) | sub-key        -> host state of the group's state machine
//                                                    (the meta shard's node table and directory)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace claw::storage {

using GroupId = uint64_t;

// --- Fixed-width big-endian integers (ordering-preserving).
void PutBigEndian64(std::string& out, uint64_t v);
uint64_t GetBigEndian64(std::string_view in);   // requires in.size() >= 8
void PutFixed32(std::string& out, uint32_t v);  // little-endian, for checksums in values
uint32_t GetFixed32(std::string_view in);

// --- raft column family.
inline constexpr char kRaftEntryPrefix = 0x01;
inline constexpr char kRaftHardStatePrefix = 0x02;
inline constexpr char kRaftLogStatePrefix = 0x03;
std::string RaftEntryKey(GroupId group, uint64_t index);
std::string RaftHardStateKey(GroupId group);
std::string RaftLogStateKey(GroupId group);
// Decodes a RaftEntryKey; nullopt when `key` is not one.
struct RaftEntryKeyParts {
  GroupId group;
  uint64_t index;
};
std::optional<RaftEntryKeyParts> ParseRaftEntryKey(std::string_view key);

// --- meta column family.
std::string ApplyStateKey(GroupId group);
std::string NodeIdentityKey();
// Legacy (one record per request id; read at start, never written any more).
std::string DedupKey(GroupId group, std::string_view request_id);
// Every DedupKey of `group` starts with this prefix.
std::string DedupPrefix(GroupId group);
// The write-dedup records of one apply batch, keyed by the applied index that ended it.
std::string DedupBucketKey(GroupId group, uint64_t index);
// Every DedupBucketKey of `group` starts with this prefix.
std::string DedupBucketPrefix(GroupId group);
std::string ShardDescriptorKey(GroupId group);
// Every ShardDescriptorKey starts with this prefix.
std::string ShardDescriptorPrefix();
// Decodes a ShardDescriptorKey; nullopt when `key` is not one.
std::optional<GroupId> ParseShardDescriptorKey(std::string_view key);
std::string ReplicaTombstoneKey(GroupId group);
std::string ShardIdSequenceKey();
// The cluster's nodes as this node last learnt them (peer addresses of nodes that joined).
std::string PeerTableKey();
// Extra replicated state a group's state machine keeps beside its data (the meta shard's).
std::string HostStateKey(GroupId group, std::string_view sub_key);
std::string HostStatePrefix(GroupId group);
// The node's lease index: one empty record per (lease, user key) attached on this node, over all
// the shards the node hosts (a key belongs to one shard at a time, so no group in the key; a
// record whose key left the node is stale and is dropped when the lease is revoked).
std::string LeaseIndexKey(uint64_t lease, std::string_view user_key);
// Every LeaseIndexKey of `lease` starts with this prefix.
std::string LeaseIndexPrefix(uint64_t lease);

// --- Memcomparable user keys (order-preserving, prefix-free): every 0x00 byte becomes 0x00 0xFF
// and the key ends with 0x00 0x01. For any keys a, b: a < b (bytewise) iff Enc(a) < Enc(b), and
// no encoding is a prefix of another, so a timestamp suffix never disturbs the order.
void EncodeMemcomparable(std::string& out, std::string_view user_key);
// Decodes one encoded key from the front of `in`, advancing it; nullopt when malformed.
std::optional<std::string> DecodeMemcomparable(std::string_view& in);

}  // namespace claw::storage
