// The placement service's node side (claw.v1.Placement, proto/claw/v1/placement.proto).
//
// PlacementService: the gRPC service every node serves; only while this node's replica of the
// meta shard leads does it answer (others: NOT_LEADER with the meta leader's address). It keeps
// in memory what is not replicated — each node's last heartbeat and load, each shard's last
// report — and writes what is (node records, the directory) through the meta shard
// (Store::ProposeMeta), reading it back from the MetaStateMachine. A new meta leader starts with
// empty liveness: every node counts as alive until node_dead_after passes without a heartbeat
// from it (never mass-declaring the cluster dead after a failover).
//
// PlacementReporter: the heartbeat loop of every node. Each interval it sends this node's
// record, load and the shards it leads to the meta shard's leader (the router knows it when this
// node hosts a meta replica; otherwise it asks the members in turn and follows NOT_LEADER hints).
//
// Threads: service handlers on gRPC threads (a mutex guards the liveness tables); the reporter
// owns one thread, stopped by Stop() or the destructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "claw/v1/placement.grpc.pb.h"
#include "server/placement/planner.h"
#include "server/router.h"
#include "server/store.h"

namespace claw::server {

class Metrics;

struct PlacementOptions {
  uint64_t node_id = 0;
  uint64_t cluster_id = 0;
  uint64_t heartbeat_interval_ms = 1000;
  uint64_t node_dead_after_ms = 300'000;
  // An operator not finished in this long is dropped (the next plan decides afresh).
  uint64_t operator_timeout_ms = 120'000;
  uint64_t split_bytes = 256ull << 20;
  uint64_t split_qps = 3000;
  uint32_t max_operators_per_node = 4;
  // The data directory, whose file system's used and free bytes every heartbeat reports (the
  // planner sends no replica to a node above its disk_full_ratio). Empty: not reported.
  std::string data_dir{};
  // The configured capacity (config `capacity`); 0 = the file system's. When set, the disk used
  // reported is the node's own replicas' bytes, and free is what is left of the capacity.
  uint64_t capacity = 0;
  // Operator counts and gauges (server/metrics.h); nullptr: not recorded.
  Metrics* metrics = nullptr;
};

class PlacementService final : public v1::Placement::CallbackService {
 public:
  // Starts the planner thread: while this node leads the meta shard (and has for three
  // heartbeat intervals, so that every live node reported), it plans every interval
  // (placement::PlanWithFindings over the node table, liveness, directory and leader reports)
  // and hands the next step of each operator to the shard's leader in its heartbeat answer.
  PlacementService(PlacementOptions options, Store* store, Router* router);
  ~PlacementService() override;
  PlacementService(const PlacementService&) = delete;
  PlacementService& operator=(const PlacementService&) = delete;
  void Stop();

  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx, const v1::HeartbeatRequest* req,
                                      v1::HeartbeatResponse* resp) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* ctx, const v1::ListNodesRequest* req,
                                      v1::ListNodesResponse* resp) override;
  grpc::ServerUnaryReactor* GetDirectory(grpc::CallbackServerContext* ctx, const v1::GetDirectoryRequest* req,
                                         v1::GetDirectoryResponse* resp) override;
  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* ctx, const v1::DrainNodeRequest* req,
                                      v1::DrainNodeResponse* resp) override;
  grpc::ServerUnaryReactor* RemoveNode(grpc::CallbackServerContext* ctx, const v1::RemoveNodeRequest* req,
                                       v1::RemoveNodeResponse* resp) override;
  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* ctx, const v1::ExplainRequest* req,
                                    v1::ExplainResponse* resp) override;
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* ctx, const v1::JoinRequest* req,
                                 v1::JoinResponse* resp) override;
  grpc::ServerUnaryReactor* GetRules(grpc::CallbackServerContext* ctx, const v1::GetRulesRequest* req,
                                     v1::PlacementRules* resp) override;
  grpc::ServerUnaryReactor* SetRules(grpc::CallbackServerContext* ctx, const v1::SetRulesRequest* req,
                                     v1::PlacementRules* resp) override;

 private:
  struct Pending {
    placement::Operator op{};
    v1::Epoch planned{};  // the shard's epoch when planned
    std::chrono::steady_clock::time_point started{};
  };
  void PlanLoop();
  void PlanOnce(std::chrono::steady_clock::time_point now);
  // Metrics (under mu_): one operator's outcome; the running / needing-repair / leader gauges.
  void CountOperator(const placement::Operator& op, std::string_view outcome);
  void UpdateGauges(bool leading);
  // The planner's input (mu_ held).
  placement::ClusterView View(std::chrono::steady_clock::time_point now);
  bool Dead(uint64_t node, std::chrono::steady_clock::time_point now) const;  // mu_ held
  // No heartbeat from `node` for 3 intervals (mu_ held): its preferred-leader pins are ignored.
  bool Silent(uint64_t node, std::chrono::steady_clock::time_point now) const;
  // The next step of `p` for a shard now described by `d` and led by `leader`; nullopt = done.
  static std::optional<v1::OperatorStep> NextStep(const Pending& p, const v1::ShardDescriptor& d, uint64_t leader);
  // Proposes `command` and calls `done` with the outcome.
  void ProposeAndWait(v1::MetaCommand command, std::function<void(std::expected<void, RequestError>)> done);

  // The error to answer with when this node does not lead the meta shard.
  std::optional<RequestError> NotMetaLeader() const;
  // Finishes `reactor` with that error and returns true when this node does not lead the meta shard.
  bool RefuseUnlessMetaLeader(grpc::ServerUnaryReactor* reactor) const;
  // Fire-and-forget proposal of a meta command (its effect is read back from the state machine;
  // a lost one is proposed again by the next heartbeat).
  void Propose(v1::MetaCommand command);

  PlacementOptions options_;
  Store* store_;
  Router* router_;
  struct Liveness {
    std::chrono::steady_clock::time_point last{};
    v1::NodeLoad load{};
    // Slow-node judgement (JudgeSlowness): consecutive heartbeats over / under the bar, and the
    // verdict with its reason.
    int over = 0;
    int under = 0;
    bool slow = false;
    std::string slow_reason{};
  };
  // Updates liveness_[node]'s slow verdict from its latest load against the other nodes'.
  void JudgeSlowness(uint64_t node);
  mutable std::mutex mu_;
  std::map<uint64_t, Liveness> liveness_;  // guarded by mu_
  // Shard -> the node that last reported leading it, and its last reported size, load and
  // preferred leader.
  std::map<uint64_t, uint64_t> shard_leader_;  // guarded by mu_
  // Grows with every change of shard_leader_; this node's id in the high 24 bits, so that the
  // versions of two meta leaders never match (guarded by mu_).
  uint64_t leaders_version_ = 0;
  struct ShardStats {
    uint64_t bytes = 0;
    double qps = 0;
    // The last preferred leader reported (0 = none), and the reports without one since.
    uint64_t preferred_leader = 0;
    int reports_without_pin = 0;
  };
  static void NotePreferredLeader(ShardStats* stats, uint64_t reported);
  std::map<uint64_t, ShardStats> shard_stats_;  // guarded by mu_
  placement::PlacementConfig Config() const;
  std::map<uint64_t, Pending> pending_;        // guarded by mu_, by shard
  // Shard -> the conf version its leader reported when an operator of ours finished, and when:
  // the shard counts as having an operator in flight until the directory (updated through the
  // meta shard, a moment later) holds that version, so that no plan acts on the replicas the
  // shard had before the operator (guarded by mu_; dropped after operator_timeout_ms).
  struct Settling {
    uint64_t conf_version = 0;
    std::chrono::steady_clock::time_point since{};
  };
  std::map<uint64_t, Settling> settling_;
  // (shard, node) of every learner in the directory -> when this leader first saw it.
  std::map<std::pair<uint64_t, uint64_t>, std::chrono::steady_clock::time_point> learner_since_;  // guarded by mu_
  // Whether learner_since_ holds the learners present when this node took over (mu_).
  bool learners_baselined_ = false;
  placement::PlanResult last_plan_;            // guarded by mu_
  bool stop_ = false;                          // guarded by mu_
  std::condition_variable cv_;
  std::thread planner_;
};

class PlacementReporter {
 public:
  // Called on the reporter thread with the node table of every heartbeat answer.
  using OnNodes = std::function<void(const std::vector<v1::NodeRecord>&)>;
  // `seeds`: client addresses tried after the members the router knows (the `join` list).
  PlacementReporter(PlacementOptions options, v1::NodeRecord self, Store* store, Router* router,
                    std::vector<std::string> seeds = {}, OnNodes on_nodes = nullptr);
  ~PlacementReporter();
  PlacementReporter(const PlacementReporter&) = delete;
  PlacementReporter& operator=(const PlacementReporter&) = delete;
  void Stop();

 private:
  void Run();
  bool SendTo(const std::string& address, const v1::HeartbeatRequest& req, v1::HeartbeatResponse* resp,
              std::string* redirect);
  // Starts the steps of the answer on the local shard leaders (one at a time per shard).
  void Execute(const v1::HeartbeatResponse& resp);

  PlacementOptions options_;
  v1::NodeRecord self_;
  Store* store_;
  Router* router_;
  std::vector<std::string> seeds_;
  OnNodes on_nodes_;
  std::string last_good_;  // reporter thread only
  // The directory last received (reporter thread only).
  uint64_t directory_version_ = 0;
  uint64_t directory_from_ = 0;
  // The leader table last received (reporter thread only).
  uint64_t leaders_version_ = 0;
  // Per led shard: its request counters at the previous report (reporter thread only).
  struct Counts {
    uint64_t requests = 0;
    uint64_t writes = 0;
    std::chrono::steady_clock::time_point at{};
  };
  std::map<uint64_t, Counts> last_requests_;
  std::mutex mu_;
  // Shards with a step running; shared with the steps' completion callbacks, which may run after
  // the reporter is gone.
  struct Executing {
    std::mutex mu;
    std::set<uint64_t> shards;
  };
  std::shared_ptr<Executing> executing_ = std::make_shared<Executing>();
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace claw::server
