// CheckpointService: claw.v1.Checkpoint (proto/claw/v1/checkpoint.proto), named checkpoints in
// the SA Forum model, served by the leader of the shard holding a checkpoint's keys
// (client/checkpoint_layout.h). server/README.md "Checkpoints" has the design; in short:
//
// - A checkpoint is plain MVCC data of one shard: a header key, one key per open handle (attached
//   to the opener's session lease, so the lease's end closes the handle) and one key per section.
//   Every call that changes it is ONE KV transaction of that shard, built on this node from a
//   linearizable read of the current state and guarded by compares on the header's (and the
//   handle's) mod_ts: a concurrent change makes the compare fail and the call is re-planned from
//   a fresh read (at most kMaxAttempts times). So limits (sizes, section counts), modes and
//   handle validity are checked against exactly the state the change applies to.
// - Every change bumps the header's sequence number in the same transaction; a trailing get of
//   the header returns the sequence (and the request's dedup record keeps it, so a retried call
//   gets its first answer). Attempt n of a call carries request id `id/n`.
// - SYNCHRONOUS checkpoints: after the apply, Store::WaitReplicated waits until every voter
//   stored the entry. Synchronize does the same for the last applied index.
// - The cleanup loop (every sweep_interval_ms) visits the checkpoints of the shards this node
//   leads: stamps the close time of a checkpoint whose last handle went with its session,
//   deletes checkpoints whose retention ran out (or unlinked ones without handles), deletes
//   expired sections, and gives a collocated checkpoint a shard of its own (splits at its range
//   boundaries) whose preferred leader is the chosen node.
//
// Threads: gRPC handlers validate and route; reads come back on raft workers, which only take a
// RocksDB snapshot and hand it to this service's executor thread, where every call is planned
// (reads of the snapshot, the transaction) and proposed; the cleanup loop has its own thread.
// Lifecycle: construct (starts both threads) -> serve -> Stop() (before the Store stops) ->
// destroy.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "claw/v1/checkpoint.grpc.pb.h"
#include "server/requests.h"
#include "server/router.h"
#include "server/store.h"

namespace claw::server {

class KvService;
class Metrics;

struct CheckpointOptions {
  uint64_t node_id = 0;
  uint64_t default_retention_ms = 60'000;
  uint64_t max_retention_ms = 365ull * 86'400'000;
  uint64_t max_checkpoint_bytes = 64ull << 20;
  uint64_t max_sections = 10'000;
  uint64_t max_section_bytes = (1 << 20) - 4096;
  uint64_t sweep_interval_ms = 1000;
  uint64_t default_deadline_ms = 5000;
  // The KV limits a call must stay within (one transaction).
  uint64_t max_request_bytes = 4 << 20;
  uint64_t max_txn_ops = 128;
  // Where the checkpoint series go (server/metrics.h); nullptr: none.
  Metrics* metrics = nullptr;
};

class CheckpointService final : public v1::Checkpoint::CallbackService {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxAttempts = 16;

  CheckpointService(CheckpointOptions options, Store* store, Router* router, KvService* kv);
  ~CheckpointService() override;
  CheckpointService(const CheckpointService&) = delete;
  CheckpointService& operator=(const CheckpointService&) = delete;
  void Stop();

  grpc::ServerUnaryReactor* Open(grpc::CallbackServerContext* ctx, const v1::CheckpointOpenRequest* req,
                                 v1::CheckpointOpenResponse* resp) override;
  grpc::ServerUnaryReactor* Close(grpc::CallbackServerContext* ctx, const v1::CheckpointCloseRequest* req,
                                  v1::CheckpointCloseResponse* resp) override;
  grpc::ServerUnaryReactor* Unlink(grpc::CallbackServerContext* ctx, const v1::CheckpointUnlinkRequest* req,
                                   v1::CheckpointUnlinkResponse* resp) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::CheckpointStatusRequest* req,
                                   v1::CheckpointStatus* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const v1::CheckpointListRequest* req,
                                 v1::CheckpointListResponse* resp) override;
  grpc::ServerUnaryReactor* SetRetention(grpc::CallbackServerContext* ctx,
                                         const v1::CheckpointSetRetentionRequest* req,
                                         v1::CheckpointStatus* resp) override;
  grpc::ServerUnaryReactor* SetActiveReplica(grpc::CallbackServerContext* ctx,
                                             const v1::CheckpointSetActiveReplicaRequest* req,
                                             v1::CheckpointStatus* resp) override;
  grpc::ServerUnaryReactor* CreateSection(grpc::CallbackServerContext* ctx, const v1::SectionCreateRequest* req,
                                          v1::SectionCreateResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteSection(grpc::CallbackServerContext* ctx, const v1::SectionDeleteRequest* req,
                                          v1::SectionWriteResponse* resp) override;
  grpc::ServerUnaryReactor* Overwrite(grpc::CallbackServerContext* ctx, const v1::SectionOverwriteRequest* req,
                                      v1::SectionWriteResponse* resp) override;
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* ctx, const v1::CheckpointWriteRequest* req,
                                  v1::SectionWriteResponse* resp) override;
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* ctx, const v1::CheckpointReadRequest* req,
                                 v1::CheckpointReadResponse* resp) override;
  grpc::ServerUnaryReactor* Iterate(grpc::CallbackServerContext* ctx, const v1::SectionIterateRequest* req,
                                    v1::SectionIterateResponse* resp) override;
  grpc::ServerUnaryReactor* SetSectionExpiration(grpc::CallbackServerContext* ctx,
                                                 const v1::SectionExpirationRequest* req,
                                                 v1::SectionWriteResponse* resp) override;
  grpc::ServerUnaryReactor* Synchronize(grpc::CallbackServerContext* ctx,
                                        const v1::CheckpointSynchronizeRequest* req,
                                        v1::SectionWriteResponse* resp) override;
  grpc::ServerUnaryReactor* ResolveSequence(grpc::CallbackServerContext* ctx,
                                            const v1::ResolveSequenceRequest* req,
                                            v1::ResolveSequenceResponse* resp) override;

  // One call's plan for the state it was read at (executor thread); see the .cc.
  struct View;
  struct Plan;
  struct Call;

 private:
  void Post(std::function<void()> task);
  void ExecutorLoop();
  void SweepLoop();
  void SweepOnce();
  // Runs `call`: route, read, plan, propose, wait; re-planned on a failed compare.
  void Start(std::shared_ptr<Call> call);
  void Attempt(std::shared_ptr<Call> call);
  void Propose(std::shared_ptr<Call> call, std::shared_ptr<Plan> plan);
  Clock::time_point Deadline(const grpc::CallbackServerContext* ctx) const;

  // Series (null without metrics).
  prometheus::Gauge* checkpoints_ = nullptr;
  prometheus::Counter* replans_ = nullptr;
  prometheus::Counter* deleted_retention_ = nullptr;
  prometheus::Counter* deleted_unlinked_ = nullptr;
  prometheus::Counter* sections_expired_ = nullptr;
  prometheus::Counter* session_closes_ = nullptr;
  static void Inc(prometheus::Counter* c, double n = 1) {
    if (c != nullptr && n > 0) c->Increment(n);
  }

  CheckpointOptions options_;
  Store* store_;
  Router* router_;
  KvService* kv_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  bool executor_stopping_ = false;           // guarded by mu_
  bool executor_stopped_ = false;            // guarded by mu_
  std::thread executor_;
  std::thread sweeper_;
};

}  // namespace claw::server
