// What a Replica asks its host to do: the output half of the Ready / OnPersisted / OnApplied
// contract (see Replica's class comment for the full protocol).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace claw::raft {

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };

// Volatile facts the host reacts to: routing (who leads), ticking (hibernation).
struct SoftState {
  Role role = Role::kFollower;
  NodeId leader{};
  // The group sleeps: the host may stop ticking it until something wakes it.
  bool hibernating = false;
  bool operator==(const SoftState&) const = default;
};

enum class ReadStatus : uint8_t {
  kReady,    // serve the read once the host has applied through `index`
  kDropped,  // leadership changed or no leader known: the read must be retried
};

struct ReadState {
  ReadId id{};
  LogIndex index{};
  ReadStatus status = ReadStatus::kReady;
};

// Names one write for OnPersisted. Writes of one replica are numbered 1, 2, ... in Ready order.
using WriteId = uint64_t;

struct Ready {
  // --- Write: persist in this order, atomically or at least in order, then OnPersisted(write_id).
  // Install this snapshot (replaces the log up to its index and the state machine).
  std::optional<SnapshotMeta> snapshot{};
  // Append; first discard any stored entries at or after entries.front().index.
  std::vector<Entry> entries{};
  // Persist when set (term, vote and commit changed since the last write).
  std::optional<HardState> hard_state{};
  // 0 when there is nothing to write.
  WriteId write_id = 0;
  // False when the write only advances hard_state.commit: it may then be acknowledged without an
  // fsync of its own (a lost commit index is relearnt from the leader). True for entries, a
  // snapshot, or a new term or vote.
  bool must_sync = false;

  // --- Send now, in any order; they do not depend on this Ready's write.
  std::vector<Message> messages{};

  // --- Apply, in order. All are committed and durable locally.
  std::vector<Entry> committed_entries{};
  std::vector<ReadState> read_states{};

  // --- Set when it changed since the last Ready.
  std::optional<SoftState> soft_state{};

  bool HasWrite() const { return write_id != 0; }
};

}  // namespace claw::raft
