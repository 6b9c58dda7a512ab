// CheckpointClient: named checkpoints of a clawd cluster (claw.v1.Checkpoint, the SA Forum AIS
// checkpoint service model; proto/claw/v1/checkpoint.proto holds the contract).
//
//   CheckpointClient ckpt(*client);                                   // borrows the Client
//   auto session = ckpt.StartSession(std::chrono::seconds(10));       // a lease, kept alive
//   auto handle = ckpt.Open(**session, "orders", {.read = true, .write = true, .create = true,
//                            .attributes = {.max_sections = 16}});
//   handle->CreateSection({.section_id = "s1", .data = "v1"});
//   handle->Write({{.section_id = "s1", .offset = 2, .data = "x"}});  // atomic vector
//   auto got = handle->Read({{.section_id = "s1"}});
//   auto standby = ckpt.Follow("orders", {}, [](const CheckpointUpdate& u) { ... });
//   handle->Close();  (*session)->End();
//
// Routing: a checkpoint lives in one shard (client/checkpoint_layout.h). Every call is routed by
// the client's Dispatcher like a KV call on CheckpointHeaderKey(name): to the cached leader with
// RequestHeader.shard_id / epoch, following NOT_LEADER hints, refreshing routes on EPOCH_MISMATCH
// / KEY_OUT_OF_RANGE / SHARD_NOT_FOUND, backing off on UNAVAILABLE / OVERLOADED, within the call's
// deadline (client/client.h, client/README.md). Mutating calls (Open, Close, Unlink, section
// changes, SetRetention, SetActiveReplica, Synchronize) carry a request id reused by their
// retries. The CHECKPOINT_* errors map to ErrorCode::kCheckpoint* and are not retried.
//
// Sessions: a CheckpointSession is a lease (client/lease.h) kept alive in the background. Handles
// opened with it close when it ends: End() revokes it (now), a dead process stops renewing it
// (TTL later). Destroying the session object only stops the renewals (like a crash).
//
// Update streams: Follow watches the checkpoint's key range (Client::Watch) and hands every
// change to the callback as one CheckpointUpdate per revision: its sequence number, the changed
// sections with their new data (or deleted), handles opened / closed, and `deleted` when the
// checkpoint itself went away. from_sequence 0 starts with the current state (one snapshot
// update) and continues live without a gap; from_sequence N > 0 replays every change from
// sequence N on (ResolveSequence maps it to a revision) and continues live.
//
// Thread-safety: CheckpointClient and CheckpointHandle may be used from any thread. Lifecycle:
// the Client must outlive the CheckpointClient, its handles, sessions and followers. This header
// includes no protobuf or gRPC headers (pimpl).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/checkpoint_layout.h"
#include "client/client.h"
#include "client/lease.h"

namespace claw::client {

enum class CheckpointReplication : uint8_t {
  kDefault,       // the service's default: asynchronous
  kSynchronous,   // a write returns once every replica of the shard stored it
  kAsynchronous,  // a write returns once the active replica applied it; Synchronize waits
};

// Creation attributes; 0 = the service's default (checkpoint.proto CheckpointAttributes).
struct CheckpointAttributes {
  CheckpointReplication replication = CheckpointReplication::kDefault;
  bool collocated = false;
  uint64_t retention_ms = 0;  // kept this long after its last handle closed
  uint64_t max_size = 0;      // sum of the sections' data
  uint64_t max_sections = 0;  // 1 = the default section only
  uint64_t max_section_size = 0;
  uint64_t max_section_id_size = 0;
};

struct CheckpointHandleInfo {
  uint64_t handle = 0;
  uint64_t session = 0;
  bool read = false;
  bool write = false;
  uint64_t opened_unix_ms = 0;
};

struct CheckpointStatus {
  std::string name{};
  CheckpointAttributes attributes{};
  uint64_t created_unix_ms = 0;
  uint64_t size = 0;
  uint64_t sections = 0;
  uint64_t sequence = 0;  // of the last change
  std::vector<CheckpointHandleInfo> handles{};
  bool unlinked = false;
  uint64_t closed_unix_ms = 0;     // with no open handle: when the last one closed
  uint64_t delete_at_unix_ms = 0;  // with no open handle: when it will be deleted
  uint64_t active_node_id = 0;     // the leader of the checkpoint's shard
  std::vector<uint64_t> replica_node_ids{};
  uint64_t preferred_active_node_id = 0;
  uint64_t shard_id = 0;
};

struct CheckpointOpenOptions {
  bool read = false;
  bool write = false;
  bool create = false;  // create with `attributes` when missing; when present they must match
  CheckpointAttributes attributes{};
  std::string active_node{};  // collocated creation: the node (name) to lead; "" = the creator
};

// Section calls.
struct SectionCreate {
  std::string section_id{};  // 1..max_section_id_size bytes; "" with generate
  bool generate = false;     // the service picks an unused id (returned)
  std::string data{};
  uint64_t expiration_unix_ms = 0;  // 0 = never
};
struct SectionCreated {
  std::string section_id{};
  uint64_t sequence = 0;
};
struct SectionWrite {
  std::string section_id{};
  uint64_t offset = 0;  // at most the section's size (a write may extend it, never leave a hole)
  std::string data{};
};
struct SectionReadRequest {
  std::string section_id{};
  uint64_t offset = 0;
  uint64_t length = 0;  // 0 = to the end
};
struct SectionData {
  std::string section_id{};
  std::string data{};
  uint64_t section_size = 0;
};
struct CheckpointReadResult {
  std::vector<SectionData> sections{};  // in the order asked
  uint64_t sequence = 0;                // the state read
};
struct SectionInfo {
  std::string section_id{};
  uint64_t size = 0;
  uint64_t expiration_unix_ms = 0;
  uint64_t last_update_unix_ms = 0;
};
enum class SectionFilter : uint8_t {
  kAny,
  kForever,        // never-expiring sections
  kLeqExpiration,  // expiration <= the given time (never-expiring ones excluded)
  kGeqExpiration,  // expiration >= the given time (never-expiring ones excluded)
};
// A change's sequence number and revision (KeyValue::mod_ts of its keys).
struct CheckpointWriteAck {
  uint64_t sequence = 0;
  uint64_t revision = 0;
};

// --- update streams ---

struct SectionChange {
  std::string section_id{};
  bool deleted = false;  // deleted or expired; no data
  std::string data{};    // the section's whole new data
  uint64_t expiration_unix_ms = 0;
  uint64_t sequence = 0;  // of the change that last wrote the section
};
struct CheckpointUpdate {
  // The checkpoint's sequence number after this change (the last one known when the change did
  // not write the header, e.g. a handle closed by its session's expiry before the service
  // recorded it).
  uint64_t sequence = 0;
  uint64_t revision = 0;
  // The initial state of a Follow from sequence 0: every section, every open handle.
  bool snapshot = false;
  std::vector<SectionChange> sections{};
  std::vector<uint64_t> handles_opened{};
  std::vector<uint64_t> handles_closed{};
  // The checkpoint itself was deleted (retention passed, or unlinked with no open handle).
  bool deleted = false;
};
struct FollowOptions {
  // 0: the current state as one snapshot update, then every later change. N > 0: every change
  // with sequence >= N, then live (CHECKPOINT / COMPACTED errors when history lost it).
  uint64_t from_sequence = 0;
};

class CheckpointClient;

// An open handle: the checkpoint's name and the handle id the service gave. A value; copies
// name the same handle. Close it (or end its session) when done: destroying the object does
// not close it.
class CheckpointHandle {
 public:
  class Impl;  // = CheckpointClient's shared state

  const std::string& name() const { return name_; }
  uint64_t id() const { return id_; }
  // Open created the checkpoint; and its status then.
  bool created() const { return created_; }
  const CheckpointStatus& status_at_open() const { return status_; }

  [[nodiscard]] Result<SectionCreated> CreateSection(const SectionCreate& section,
                                                     const CallOptions& options = {}) const;
  [[nodiscard]] Result<CheckpointWriteAck> DeleteSection(std::string_view section_id,
                                                         const CallOptions& options = {}) const;
  // Replaces the section's whole data.
  [[nodiscard]] Result<CheckpointWriteAck> Overwrite(std::string_view section_id, std::string_view data,
                                                     const CallOptions& options = {}) const;
  // All or nothing, in one change.
  [[nodiscard]] Result<CheckpointWriteAck> Write(const std::vector<SectionWrite>& writes,
                                                 const CallOptions& options = {}) const;
  // From one state of the checkpoint.
  [[nodiscard]] Result<CheckpointReadResult> Read(const std::vector<SectionReadRequest>& reads,
                                                  const CallOptions& options = {}) const;
  [[nodiscard]] Result<std::vector<SectionInfo>> Iterate(SectionFilter filter = SectionFilter::kAny,
                                                         uint64_t expiration_unix_ms = 0,
                                                         const CallOptions& options = {}) const;
  [[nodiscard]] Result<CheckpointWriteAck> SetSectionExpiration(std::string_view section_id,
                                                                uint64_t expiration_unix_ms,
                                                                const CallOptions& options = {}) const;
  // Waits until every replica stored every change so far (kCheckpointNotAllReplicas otherwise).
  [[nodiscard]] Result<CheckpointWriteAck> Synchronize(const CallOptions& options = {}) const;
  [[nodiscard]] Result<void> Close(const CallOptions& options = {}) const;

 private:
  friend class CheckpointClient;
  CheckpointHandle(std::shared_ptr<Impl> impl, std::string name, uint64_t id, bool created,
                   CheckpointStatus status);
  // A request of type Request naming this handle's checkpoint and id.
  template <typename Request>
  Request Named() const;

  std::shared_ptr<Impl> impl_;
  std::string name_;
  uint64_t id_ = 0;
  bool created_ = false;
  CheckpointStatus status_{};
};

// A session: a lease renewed in the background; handles opened with it close when it ends.
class CheckpointSession {
 public:
  ~CheckpointSession();
  CheckpointSession(const CheckpointSession&) = delete;
  CheckpointSession& operator=(const CheckpointSession&) = delete;

  uint64_t lease() const { return lease_; }
  // False once the cluster said the lease is gone (its handles are closed).
  bool alive() const { return keeper_ && keeper_->alive(); }
  // Revokes the lease: every handle opened with it closes now.
  [[nodiscard]] Result<void> End(const CallOptions& options = {});
  // Stops renewing without revoking: the handles close TTL later, as when the process dies.
  void Abandon();

 private:
  friend class CheckpointClient;
  CheckpointSession(std::shared_ptr<CheckpointHandle::Impl> impl, uint64_t lease,
                    std::unique_ptr<LeaseKeepAlive> keeper);

  std::shared_ptr<CheckpointHandle::Impl> impl_;  // its LeaseClient
  const uint64_t lease_;
  std::unique_ptr<LeaseKeepAlive> keeper_;
};

// A running Follow: cancel it (or destroy it) to stop.
class CheckpointFollower {
 public:
  struct State;
  CheckpointFollower(std::shared_ptr<State> state, std::unique_ptr<Watcher> watcher);
  ~CheckpointFollower();
  CheckpointFollower(const CheckpointFollower&) = delete;
  CheckpointFollower& operator=(const CheckpointFollower&) = delete;

  void Cancel();
  // The error that stopped the stream (kCancelled after Cancel).
  Error Wait();
  std::optional<Error> WaitFor(std::chrono::milliseconds timeout);
  bool Done() const;
  // The sequence number of the last update delivered (resume with last_sequence() + 1).
  uint64_t last_sequence() const;
  // Streams reopened after one ended (leader changes, ...): for monitoring.
  uint64_t resumes() const;

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<Watcher> watcher_;
};

class CheckpointClient {
 public:
  // Borrows `client` (its routes, channels and retries); the client must outlive this object.
  explicit CheckpointClient(Client& client);
  ~CheckpointClient();
  CheckpointClient(const CheckpointClient&) = delete;
  CheckpointClient& operator=(const CheckpointClient&) = delete;

  // Grants a lease of `ttl` and keeps it alive (renewed every ttl/3).
  [[nodiscard]] Result<std::unique_ptr<CheckpointSession>> StartSession(std::chrono::milliseconds ttl,
                                                                       const CallOptions& options = {});

  // Opens (with options.create: creates) `name`; the handle is bound to the session's lease.
  [[nodiscard]] Result<CheckpointHandle> Open(const CheckpointSession& session, std::string_view name,
                                              const CheckpointOpenOptions& open,
                                              const CallOptions& options = {});
  // The same with a lease kept alive by other means.
  [[nodiscard]] Result<CheckpointHandle> Open(uint64_t session_lease, std::string_view name,
                                              const CheckpointOpenOptions& open,
                                              const CallOptions& options = {});
  // Removes the name; true when no handle was open and the checkpoint is gone already.
  [[nodiscard]] Result<bool> Unlink(std::string_view name, const CallOptions& options = {});
  [[nodiscard]] Result<CheckpointStatus> Status(std::string_view name, const CallOptions& options = {});
  // Every checkpoint of the cluster in name order (all shards, page by page).
  [[nodiscard]] Result<std::vector<CheckpointStatus>> List(const CallOptions& options = {});
  [[nodiscard]] Result<CheckpointStatus> SetRetention(std::string_view name, uint64_t retention_ms,
                                                      const CallOptions& options = {});
  // Collocated checkpoints: moves the active replica to node `node` (its name or id) and returns
  // once that node leads the checkpoint's shard (the service records the choice; the placement
  // service adds a voter there if needed and moves the leadership). kDeadlineExceeded
  // (definite = false) when it does not lead by the deadline: the choice stays recorded and the
  // move goes on.
  [[nodiscard]] Result<CheckpointStatus> SetActiveReplica(std::string_view name, std::string_view node,
                                                          const CallOptions& options = {});
  // The revision of the change that took `sequence`.
  [[nodiscard]] Result<uint64_t> ResolveSequence(std::string_view name, uint64_t sequence,
                                                 const CallOptions& options = {});

  // Streams the checkpoint's changes to `on_update` (one call at a time, in sequence order). With
  // from_sequence 0 the snapshot update is delivered before Follow returns (kCheckpointNotFound
  // when the checkpoint does not exist). The callback must not cancel or destroy the follower.
  [[nodiscard]] Result<std::unique_ptr<CheckpointFollower>> Follow(
      std::string_view name, const FollowOptions& follow,
      std::function<void(const CheckpointUpdate&)> on_update, const CallOptions& options = {});

  LeaseClient& leases();

 private:
  std::shared_ptr<CheckpointHandle::Impl> impl_;
};

}  // namespace claw::client
