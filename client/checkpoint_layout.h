// Where a named checkpoint's state lives in the key space (proto/claw/v1/checkpoint.proto). Shared
// by the client library (routing: a checkpoint call goes to the leader of the shard owning
// CheckpointHeaderKey(name); update streams watch CheckpointRange(name)), by the server
// (server/checkpoint_service.*) and by the split path, which never cuts a checkpoint's range.
//
// Keys: "\xff\xff" "ckpt/" name "\0" then
//   "h"              -> CheckpointHeader
//   "o" handle (8B BE) -> CheckpointHandleRecord (attached to the handle's session lease)
//   "s" section id   -> CheckpointSectionRecord (the default section has the empty id)
// A name is 1..255 bytes of [A-Za-z0-9._:/=@-] (no 0 byte), so a checkpoint's keys are exactly
// [prefix + name + "\0", prefix + name + "\1") and names sort like their keys.
//
// Header-only, no protobuf: usable from client/, server/ and tools/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace claw::client {

inline constexpr std::string_view kCheckpointPrefix{"\xff\xff" "ckpt/", 7};
inline constexpr size_t kMaxCheckpointNameBytes = 255;

// Empty when `name` is a valid checkpoint name, else what is wrong with it.
inline std::string CheckpointNameError(std::string_view name) {
  if (name.empty()) return "a checkpoint name must not be empty";
  if (name.size() > kMaxCheckpointNameBytes) {
    return "checkpoint name of " + std::to_string(name.size()) + " bytes is over the limit of 255";
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '/' || c == '=' || c == '@' || c == '-';
    if (!ok) return "checkpoint names use only [A-Za-z0-9._:/=@-]; '" + std::string(name) + "' does not";
  }
  return {};
}

// The end of the whole checkpoint key space ("\xff\xff" "ckpt0").
inline std::string CheckpointPrefixEnd() {
  std::string k(kCheckpointPrefix);
  k.back() = static_cast<char>(k.back() + 1);
  return k;
}

// Start and end of the checkpoint's key range.
inline std::string CheckpointStart(std::string_view name) {
  std::string k(kCheckpointPrefix);
  k.append(name);
  k.push_back('\0');
  return k;
}
inline std::string CheckpointEnd(std::string_view name) {
  std::string k(kCheckpointPrefix);
  k.append(name);
  k.push_back('\1');
  return k;
}
inline std::string CheckpointHeaderKey(std::string_view name) { return CheckpointStart(name) + "h"; }
inline std::string CheckpointHandleKey(std::string_view name, uint64_t handle) {
  std::string k = CheckpointStart(name) + "o";
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>((handle >> shift) & 0xff));
  return k;
}
inline std::string CheckpointHandlesStart(std::string_view name) { return CheckpointStart(name) + "o"; }
inline std::string CheckpointHandlesEnd(std::string_view name) { return CheckpointStart(name) + "p"; }
inline std::string CheckpointSectionKey(std::string_view name, std::string_view section) {
  std::string k = CheckpointStart(name) + "s";
  k.append(section);
  return k;
}
inline std::string CheckpointSectionsStart(std::string_view name) { return CheckpointStart(name) + "s"; }
inline std::string CheckpointSectionsEnd(std::string_view name) { return CheckpointStart(name) + "t"; }

// The checkpoint whose range holds `key`, if any (the name, unvalidated).
inline std::optional<std::string> CheckpointOfKey(std::string_view key) {
  if (!key.starts_with(kCheckpointPrefix)) return std::nullopt;
  const std::string_view rest = key.substr(kCheckpointPrefix.size());
  const size_t end = rest.find('\0');
  if (end == std::string_view::npos || end == 0) return std::nullopt;
  return std::string(rest.substr(0, end));
}

// A split at `key` would cut a checkpoint's range: the key to split at instead (the start of that
// checkpoint's range), or `key` itself when it cuts nothing. A key inside the prefix but between
// checkpoints, and any key equal to a range start, cut nothing.
inline std::string CheckpointSafeSplitKey(std::string_view key) {
  if (auto name = CheckpointOfKey(key)) {
    std::string start = CheckpointStart(*name);
    if (key > start) return start;
  }
  return std::string(key);
}

// Whole-keyspace operations leave checkpoints alone: the KV API refuses writes inside the
// checkpoint key space [kCheckpointPrefix, CheckpointPrefixEnd()), and the client library's Scan
// and DeleteRange skip it when their range also covers keys outside it (a range entirely inside
// it is served as asked: a scan of a checkpoint's keys is how tools inspect one). Returns the
// parts of [start, end) (empty end = +inf) outside that space when the range covers both kinds
// of key, else nullopt (use the range as it is).
inline std::optional<std::vector<std::pair<std::string, std::string>>> OutsideCheckpointSpace(std::string_view start,
                                                                                            std::string_view end) {
  const std::string lo(kCheckpointPrefix);
  const std::string hi = CheckpointPrefixEnd();
  const bool overlaps = (end.empty() || end > lo) && start < hi;
  const bool inside = start >= lo && !end.empty() && end <= hi;
  if (!overlaps || inside) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> parts;
  if (start < lo) parts.emplace_back(std::string(start), lo);
  if (end.empty() || end > hi) parts.emplace_back(hi, std::string(end));
  return parts;
}

// Whether [start, end) (empty end = +inf) holds a key of the checkpoint key space.
inline bool OverlapsCheckpointSpace(std::string_view start, std::string_view end) {
  return (end.empty() || end > kCheckpointPrefix) && start < CheckpointPrefixEnd();
}

}  // namespace claw::client
