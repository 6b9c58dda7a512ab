// Split keys that never cut a named checkpoint's key range (client/checkpoint_layout.h): every
// checkpoint call is one atomic Raft command of the one shard that holds the checkpoint, so the
// range [CheckpointStart(name), CheckpointEnd(name)) must stay inside one shard.
//
// Used where splits are decided: RaftWorker::SplitShard (every split is proposed there, whoever
// asked: the admin API, the placement service's size, load and rule-boundary splits, the
// checkpoint service), Store::SplitShard (the middle of the data), PolicyFromRules (rule
// boundaries) and the placement service's view (ShardInfo::splittable). Pure functions, header
// only, no state.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "client/checkpoint_layout.h"
#include "server/placement/operator.h"

namespace claw::server {

// The key a split of a shard starting at `start` asked at `key` (strictly inside the shard)
// happens at: `key` itself when it cuts no checkpoint, else the start of the checkpoint it falls
// in (below `key`, so still below the shard's end). The error (a message for INVALID_ARGUMENT)
// when that start is not above `start`: the shard's keys below `key` all belong to that
// checkpoint.
inline std::expected<std::string, std::string> CheckpointSafeSplitKeyInside(std::string_view start,
                                                                           std::string_view key) {
  std::string safe = client::CheckpointSafeSplitKey(key);
  if (safe > start) return safe;
  const std::string name = client::CheckpointOfKey(key).value_or("");
  return std::unexpected("split key " + placement::QuoteKey(key) + " lies inside checkpoint '" + name +
                         "''s key range, which starts at or before the shard's start " +
                         placement::QuoteKey(start) +
                         ": a split never cuts a checkpoint (every checkpoint call is one atomic command of "
                         "one shard); split at or after the checkpoint's end " +
                         placement::QuoteKey(client::CheckpointEnd(name)) + " instead");
}

// Whether some key strictly inside [start, end) cuts no checkpoint: false exactly when the range
// lies within one checkpoint's keys (from inside it, or its start, up to at most its end).
inline bool SplittableRange(std::string_view start, std::string_view end) {
  if (auto name = client::CheckpointOfKey(start)) {
    // Every key below the checkpoint's end maps to its start (<= start); its end cuts nothing.
    return end.empty() || end > client::CheckpointEnd(*name);
  }
  // start + "\0" (the next key) cuts nothing: it is a checkpoint's start or outside every range.
  std::string next(start);
  next.push_back('\0');
  return end.empty() || end > next;
}

// For a split at the middle of the data: `middle` moved off any checkpoint's inside — to the
// checkpoint's start, or to its end when the start is not strictly inside [start, end) (the
// shard begins with that checkpoint) — or `middle` unchanged when neither is (the split is then
// refused with CheckpointSafeSplitKeyInside's message).
inline std::string CheckpointSafeMiddleKey(std::string_view start, std::string_view end, std::string_view middle) {
  std::string safe = client::CheckpointSafeSplitKey(middle);
  if (safe > start) return safe;
  if (auto name = client::CheckpointOfKey(middle)) {
    std::string after = client::CheckpointEnd(*name);
    if (after > start && (end.empty() || after < end)) return after;
  }
  return std::string(middle);
}

}  // namespace claw::server
