#include "storage/key_codec.h"

namespace claw::storage {

void PutBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(char(uint8_t(v >> shift)));
}

uint64_t GetBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | uint8_t(in[size_t(i)]);
  return v;
}

void PutFixed32(std::string& out, uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(char(uint8_t(v >> shift)));
}

uint32_t GetFixed32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(in[size_t(i)]);
  return v;
}

namespace {

std::string GroupKey(char prefix, GroupId group) {
  std::string key;
  key.reserve(17);
  key.push_back(prefix);
  PutBigEndian64(key, group);
  return key;
}

}  // namespace

std::string RaftEntryKey(GroupId group, uint64_t index) {
  std::string key = GroupKey(kRaftEntryPrefix, group);
  PutBigEndian64(key, index);
  return key;
}

std::string RaftHardStateKey(GroupId group) { return GroupKey(kRaftHardStatePrefix, group); }
std::string RaftLogStateKey(GroupId group) { return GroupKey(kRaftLogStatePrefix, group); }

std::optional<RaftEntryKeyParts> ParseRaftEntryKey(std::string_view key) {
  if (key.size() != 17 || key[0] != kRaftEntryPrefix) return std::nullopt;
  return RaftEntryKeyParts{.group = GetBigEndian64(key.substr(1)),
                           .index = GetBigEndian64(key.substr(9))};
}

std::string ApplyStateKey(GroupId group) { return GroupKey(0x01, group); }
std::string NodeIdentityKey() { return std::string(1, char(0x02)); }
std::string DedupPrefix(GroupId group) { return GroupKey(0x03, group); }
std::string DedupKey(GroupId group, std::string_view request_id) {
  std::string key = GroupKey(0x03, group);
  key.append(request_id);
  return key;
}
std::string DedupBucketPrefix(GroupId group) { return GroupKey(0x09, group); }
std::string DedupBucketKey(GroupId group, uint64_t index) {
  std::string key = GroupKey(0x09, group);
  PutBigEndian64(key, index);
  return key;
}
std::string ShardDescriptorKey(GroupId group) { return GroupKey(0x04, group); }
std::string ShardDescriptorPrefix() { return std::string(1, char(0x04)); }
std::string ReplicaTombstoneKey(GroupId group) { return GroupKey(0x05, group); }
std::string ShardIdSequenceKey() { return std::string(1, char(0x06)); }
std::string PeerTableKey() { return std::string(1, char(0x08)); }
std::string HostStatePrefix(GroupId group) { return GroupKey(0x07, group); }
std::string HostStateKey(GroupId group, std::string_view sub_key) {
  std::string key = GroupKey(0x07, group);
  key.append(sub_key);
  return key;
}
std::string LeaseIndexPrefix(uint64_t lease) { return GroupKey(0x0a, lease); }
std::string LeaseIndexKey(uint64_t lease, std::string_view user_key) {
  std::string key = GroupKey(0x0a, lease);
  key.append(user_key);
  return key;
}
std::optional<GroupId> ParseShardDescriptorKey(std::string_view key) {
  if (key.size() != 9 || key[0] != char(0x04)) return std::nullopt;
  return GetBigEndian64(key.substr(1));
}

void EncodeMemcomparable(std::string& out, std::string_view user_key) {
  for (char c : user_key) {
    out.push_back(c);
    if (c == '\0') out.push_back(char(0xff));
  }
  out.push_back('\0');
  out.push_back(char(0x01));
}

std::optional<std::string> DecodeMemcomparable(std::string_view& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\0') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 >= in.size()) return std::nullopt;
    const uint8_t next = uint8_t(in[i + 1]);
    if (next == 0xff) {
      out.push_back('\0');
      ++i;
    } else if (next == 0x01) {
      in.remove_prefix(i + 2);
      return out;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace claw::storage
