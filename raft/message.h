// Messages exchanged between the replicas of one Raft group.
//
// Values: a Message owns its entries and is moved, never shared. The core neither knows nor cares
// how messages travel; the node batches them per destination node (DESIGN.md, write path step 5)
// and adds the group id. The transport may drop, delay, duplicate or reorder any message: the
// protocol tolerates all of these.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "raft/types.h"

namespace claw::raft {

enum class ElectionKind : uint8_t {
  kPreVote,  // thesis §9.6: ask whether a real election could succeed, without bumping terms
  kVote,     // thesis §3.4
};

// AppendEntries (thesis §3.5). Also carries the leader's tick at sending, echoed back in the
// response, which dates the follower's acknowledgement for leader leases (thesis §6.4.1).
struct AppendRequest {
  LogIndex prev_index{};
  Term prev_term{};
  LogIndex commit{};
  std::vector<Entry> entries{};
  uint64_t leader_tick = 0;
};

struct AppendResponse {
  // Accepted: the follower's log matches the leader's up to `index`.
  // Rejected: `index` is the rejected prev_index; (reject_hint, hint_term) is the follower's guess
  // of the last index where the logs could agree (fast backtracking, thesis §5.4.2 / etcd).
  LogIndex index{};
  bool rejected = false;
  LogIndex reject_hint{};
  Term hint_term{};
  uint64_t leader_tick = 0;
};

// RequestVote (thesis §3.4) or PreVote (§9.6). The message term is the term the candidate asks for.
struct VoteRequest {
  ElectionKind kind = ElectionKind::kVote;
  LogIndex last_index{};
  Term last_term{};
  // Set by a candidate that was told to campaign by the old leader (TimeoutNow, thesis §3.10);
  // voters then skip the "I heard from a leader recently" check that otherwise protects leases.
  bool leader_transfer = false;
};

struct VoteResponse {
  ElectionKind kind = ElectionKind::kVote;
  bool granted = false;
};

// Leader liveness and commit propagation. `commit` is min(follower match, leader commit) so that a
// follower never commits past what it is known to hold. `read_id` piggybacks a ReadIndex round.
struct Heartbeat {
  LogIndex commit{};
  ReadId read_id{};
  uint64_t leader_tick = 0;
};

struct HeartbeatResponse {
  ReadId read_id{};
  uint64_t leader_tick = 0;
};

// Tells a follower to replace its log and state with a snapshot. The snapshot's bytes travel beside
// this message (the host streams them); the core only sees the metadata.
struct InstallSnapshot {
  SnapshotMeta meta{};
};

// Leadership transfer (thesis §3.10): the target campaigns at once.
struct TimeoutNow {};

// A follower or learner forwards a linearizable read to its leader.
struct ReadIndexRequest {
  ReadId read_id{};
};

// The leader's answer: once the asker has applied up to `index`, it may serve the read.
struct ReadIndexResponse {
  ReadId read_id{};
  LogIndex index{};
};

// A follower forwards a host's transfer request to its leader.
struct TransferLeaderRequest {
  NodeId target{};
};

// The leader tells a caught-up follower that the group is idle: stop ticking until woken. A
// follower that is not at (index, commit) ignores it and the leader stays awake on its next
// response.
struct Hibernate {
  LogIndex index{};
  LogIndex commit{};
  // The leader's tick when it fell asleep. A follower ignores a Hibernate older than leader traffic
  // it already saw (the leader woke since), and wakes on traffic newer than this.
  uint64_t leader_tick = 0;
};

using MessageBody =
    std::variant<AppendRequest, AppendResponse, VoteRequest, VoteResponse, Heartbeat,
                 HeartbeatResponse, InstallSnapshot, TimeoutNow, ReadIndexRequest,
                 ReadIndexResponse, TransferLeaderRequest, Hibernate>;

struct Message {
  NodeId from{};
  NodeId to{};
  Term term{};
  MessageBody body{};
};

// Short stable name of a message's type, for logs and metrics labels ("append", "vote", ...).
std::string_view MessageTypeName(const Message& m);

}  // namespace claw::raft
