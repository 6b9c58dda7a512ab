// Group: everything a node keeps for one local replica of one shard — the Raft replica, its log,
// the shard's state machine and descriptor, and the client requests waiting on it. Owned by one
// RaftWorker and touched only on its thread (no locks).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

#include "claw/v1/command.pb.h"
#include "claw/v1/shard.pb.h"
#include "raft/replica.h"
#include "server/kv_state_machine.h"
#include "server/replica_id.h"
#include "server/watch_stream.h"
#include "server/requests.h"
#include "storage/raft_log_store.h"

namespace claw::server {

struct PendingProposal {
  raft::Term term{};
  v1::WriteDurability durability = v1::QUORUM;
  std::chrono::steady_clock::time_point deadline{};
  std::function<void(std::expected<ProposalResult, RequestError>)> done{};
  // Answered already (durability LEADER acknowledges at the leader's fsync, before apply).
  bool answered = false;
};

struct WaitingRead {
  uint64_t index = 0;  // serve once applied >= index; 0 = the read index is not known yet
  ReadRequest request{};
};

struct Group {
  uint64_t id = 0;
  v1::ShardDescriptor desc{};
  // This node's replica id in the group.
  uint64_t self = 0;
  std::unique_ptr<storage::GroupLog> log;
  std::unique_ptr<KvStateMachine> fsm;
  std::unique_ptr<raft::Replica> replica;

  raft::SoftState soft{};
  std::chrono::steady_clock::time_point last_leader_contact{};
  // Bounded-staleness reads: the latest time t such that this replica has applied everything the
  // group had committed at t (RaftWorker::NoteLeaderCommit).
  std::chrono::steady_clock::time_point current_as_of{};
  // Commit indexes known but not applied yet: (as of, commit), both ascending; bounded (older ones
  // dropped: only conservative).
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> currency{};
  // The follower's currency probe in flight (a read id, 0 = none) and when it was sent; when
  // STALE reads last asked for this replica (probes run for 10 s after).
  uint64_t probe_id = 0;
  std::chrono::steady_clock::time_point probe_sent{};
  std::chrono::steady_clock::time_point stale_wanted{};
  // STALE reads waiting for a currency probe to show this replica current within their bound,
  // with the time they give up (RaftWorker::ServeParkedStaleReads).
  std::vector<std::pair<std::chrono::steady_clock::time_point, ReadRequest>> stale_reads{};
  // Proposals by log index, on the leader; an entry of packed commands has one per command, in
  // the commands' order (a multimap keeps equal keys in insertion order).
  std::multimap<uint64_t, PendingProposal> proposals;
  // Client writes taken in this round of the worker, proposed together as one entry at the
  // round's end (RaftWorker::ProposePack): serialized commands and their bytes.
  std::vector<std::pair<std::string, PendingProposal>> pack{};
  size_t pack_bytes = 0;
  // Linearizable reads by read id; ordered so that serving stops at the first unready one.
  std::map<uint64_t, WaitingRead> reads;
  uint64_t next_read_id = 1;
  // A brand-new group's preferred leader campaigns at this worker tick (0 = no), once the peer
  // streams had time to open, so that the first leaders spread over the nodes as bootstrap chose.
  uint64_t campaign_at_tick = 0;
  // The replica leadership was last handed to because this node's disk is full (logs it once).
  uint64_t space_handoff_to = 0;
  // Applies of this group sit in the worker's unwritten apply batch: the state machine's applied
  // index is ahead of what reads would see, so reads wait for the batch.
  bool apply_pending = false;

  // Snapshots. Outgoing: the directory of the snapshot offered to the Raft core (at out_index).
  // Incoming: received, verified snapshots by index, waiting for the core to install them.
  std::string out_dir{};
  uint64_t out_index = 0;
  struct IncomingSnapshot {
    std::string dir{};
    v1::ShardSnapshotState state{};  // read from its manifest when it arrived
  };
  std::map<uint64_t, IncomingSnapshot> incoming{};
  // Transfers in progress, of out_dir or of a directory in retired_out_dirs.
  int sending = 0;
  // Snapshot directories replaced by a newer export while a transfer ran; removed once none runs.
  std::vector<std::string> retired_out_dirs{};
  // Log compaction stops at a snapshot sent to a peer (Raft peer id -> its index) until the
  // peer's match reaches it or the hold expires: compacting past it while it streams and
  // installs makes it useless on arrival, and a busy shard then sends snapshot after snapshot.
  struct SnapshotHold {
    uint64_t index = 0;
    std::chrono::steady_clock::time_point until{};
  };
  std::map<uint64_t, SnapshotHold> snapshot_holds{};

  // A replica created for a membership change has no state until its first snapshot installs:
  // it knows neither its range nor its members and serves nothing.
  bool initialized = true;
  // Removed from the group (or told so by a member): destroyed, with its data, once no write of
  // it is in flight.
  bool destroy = false;
  // The descriptor changed in the unwritten apply batch: the router learns it once written.
  bool desc_changed = false;
  // Client requests taken as leader (load reports: requests per second).
  uint64_t leader_requests = 0;
  uint64_t leader_writes = 0;  // of leader_requests, the proposals
  // Log writes submitted and not yet reported persisted.
  int writes_in_flight = 0;
  // Leadership transfers asked for by the admin API, answered once done or at the deadline.
  struct Transfer {
    uint64_t to = 0;  // replica id
    std::chrono::steady_clock::time_point deadline{};
    std::function<void(std::expected<v1::ShardDescriptor, RequestError>)> done{};
  };
  std::vector<Transfer> transfers{};
  // Callers waiting until every voter stored the log through `index` (synchronous checkpoints,
  // Store::WaitReplicated), answered once it did, at the deadline, or when leadership is lost.
  struct ReplicationWait {
    uint64_t index = 0;
    std::chrono::steady_clock::time_point deadline{};
    std::function<void(std::expected<void, RequestError>)> done{};
  };
  std::vector<ReplicationWait> replication_waits{};
  // When a REPLICA_GONE notice was last sent to each removed replica (rate limit).
  std::unordered_map<uint64_t, std::chrono::steady_clock::time_point> gone_sent{};
  // When this replica last asked its peers whether it is still a member (a snapshot of another
  // shard overlapping it was refused: RaftWorker::NudgeOverlappingReplica), and when such a
  // refused snapshot of this group was last logged (rate limits).
  std::chrono::steady_clock::time_point member_query_sent{};
  std::chrono::steady_clock::time_point overlap_warned{};

  // Watch streams served from this replica (server/watch_stream.h); while any is open the state
  // machine records change events.
  std::vector<std::shared_ptr<WatchStream>> watchers{};
  // History: no version at or below this revision may be assumed present here (MVCC GC ran up to
  // it, or this replica's data came from a snapshot taken there). Watches from below it fail with
  // COMPACTED.
  uint64_t gc_threshold = 0;

  // Node of a replica of this group (part of its id); 0 for 0.
  static uint64_t NodeOf(uint64_t replica_id) { return ReplicaNode(replica_id); }
  bool IsLeader() const { return soft.role == raft::Role::kLeader; }
};

}  // namespace claw::server
