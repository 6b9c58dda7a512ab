#include "server/placement_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "server/rpc_status.h"

namespace claw::server {
namespace {

using Clock = std::chrono::steady_clock;

bool SameRecord(const v1::NodeRecord& a, const v1::NodeRecord& b) {
  return a.name() == b.name() && a.peer_address() == b.peer_address() && a.client_address() == b.client_address() &&
         a.zone() == b.zone() && a.rack() == b.rack() && a.host() == b.host() &&
         a.capacity_bytes() == b.capacity_bytes();
}

}  // namespace

PlacementService::PlacementService(PlacementOptions options, Store* store, Router* router)
    : options_(options), store_(store), router_(router) {}

std::optional<RequestError> PlacementService::NotMetaLeader() const {
  auto meta = router_->Get(kMetaShard);
  if (meta && meta->local && meta->leader == options_.node_id) return std::nullopt;
  RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::NOT_LEADER,
                             "node " + std::to_string(options_.node_id) +
                                 " does not lead the meta shard, which runs the placement service");
  if (meta && meta->leader != 0) {
    e.detail.mutable_leader()->set_node_id(meta->leader);
    e.detail.mutable_leader()->set_address(router_->ClientAddress(meta->leader));
  } else {
    e.detail.set_retry_after_ms(500);
  }
  return e;
}

void PlacementService::Propose(v1::MetaCommand command) {
  ProposalRequest p;
  p.shard = kMetaShard;
  *p.command.mutable_meta() = std::move(command);
  p.deadline = Clock::now() + std::chrono::seconds(5);
  p.done = [](std::expected<ProposalResult, RequestError> r) {
    if (!r) SPDLOG_DEBUG("placement: a meta shard proposal failed: {}", r.error().detail.message());
  };
  store_->Propose(std::move(p));
}

grpc::ServerUnaryReactor* PlacementService::Heartbeat(grpc::CallbackServerContext* ctx,
                                                      const v1::HeartbeatRequest* req,
                                                      v1::HeartbeatResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  const uint64_t node = req->node().node_id();
  if (node == 0) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "heartbeat without a node id"));
    return reactor;
  }
  MetaStateMachine& meta = store_->meta();
  {
    std::lock_guard lock(mu_);
    liveness_[node] = Liveness{.last = Clock::now(), .load = req->load()};
  }
  // Replicated facts that changed: the node's record, and descriptors newer than the directory's.
  auto known = meta.Node(node);
  if (!known || !SameRecord(*known, req->node())) {
    v1::MetaCommand cmd;
    *cmd.mutable_upsert_node() = req->node();
    Propose(std::move(cmd));
  }
  v1::MetaCommand report;
  std::map<uint64_t, v1::ShardDescriptor> directory;
  for (v1::ShardDescriptor& d : meta.Shards()) directory[d.id()] = std::move(d);
  for (const v1::ShardReport& r : req->shards()) {
    auto it = directory.find(r.shard().id());
    if (it == directory.end() || MetaStateMachine::Newer(r.shard(), it->second)) {
      *report.mutable_report_shards()->add_shards() = r.shard();
    }
  }
  if (report.report_shards().shards_size() > 0) Propose(std::move(report));
  resp->set_node_id(node);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::ListNodes(grpc::CallbackServerContext* ctx,
                                                      const v1::ListNodesRequest* /*req*/,
                                                      v1::ListNodesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  const auto now = Clock::now();
  const auto dead_after = std::chrono::milliseconds(options_.node_dead_after_ms);
  // Liveness counts from when this node took the meta leadership at the earliest: a new leader
  // has heard no heartbeats yet and must not call everyone dead.
  const Clock::time_point since = store_->meta_leader_since();
  std::lock_guard lock(mu_);
  for (const v1::NodeRecord& n : store_->meta().Nodes()) {
    v1::NodeStatus* out = resp->add_nodes();
    *out->mutable_node() = n;
    auto it = liveness_.find(n.node_id());
    Clock::time_point last = since;
    if (it != liveness_.end()) {
      *out->mutable_load() = it->second.load;
      out->set_last_heartbeat_ms_ago(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.last).count()));
      last = std::max(last, it->second.last);
    }
    out->set_dead(n.state() != v1::NodeRecord::REMOVED && now - last > dead_after);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PlacementService::GetDirectory(grpc::CallbackServerContext* ctx,
                                                         const v1::GetDirectoryRequest* /*req*/,
                                                         v1::GetDirectoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto err = NotMetaLeader()) {
    reactor->Finish(ToGrpcStatus(*err));
    return reactor;
  }
  for (v1::ShardDescriptor& d : store_->meta().Shards()) *resp->add_shards() = std::move(d);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// ---------------------------------------------------------------------------------------------

PlacementReporter::PlacementReporter(PlacementOptions options, v1::NodeRecord self, Store* store, Router* router)
    : options_(options), self_(std::move(self)), store_(store), router_(router) {
  thread_ = std::thread([this] { Run(); });
}

PlacementReporter::~PlacementReporter() { Stop(); }

void PlacementReporter::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PlacementReporter::SendTo(const std::string& address, const v1::HeartbeatRequest& req, std::string* redirect) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::Placement::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::max<uint64_t>(options_.heartbeat_interval_ms, 500)));
  v1::HeartbeatResponse resp;
  grpc::Status s = stub->Heartbeat(&ctx, req, &resp);
  if (s.ok()) return true;
  v1::Error detail;
  if (ErrorDetail(s, &detail) && detail.code() == v1::Error::NOT_LEADER) *redirect = detail.leader().address();
  return false;
}

void PlacementReporter::Run() {
  const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, interval, [this] { return stop_; })) return;
    }
    v1::HeartbeatRequest req;
    *req.mutable_node() = self_;
    uint64_t replicas = 0, leaders = 0;
    for (const v1::ReplicaStatus& r : store_->Status()) {
      ++replicas;
      if (!r.is_leader()) continue;
      ++leaders;
      v1::ShardReport* rep = req.add_shards();
      *rep->mutable_shard() = r.shard();
    }
    req.mutable_load()->set_replicas(replicas);
    req.mutable_load()->set_leaders(leaders);

    // Where to send: the last address that answered, the meta leader this node knows of, then
    // every member in turn (one NOT_LEADER hint followed per attempt).
    std::vector<std::string> targets;
    if (!last_good_.empty()) targets.push_back(last_good_);
    if (auto meta = router_->Get(kMetaShard); meta && meta->leader != 0) {
      targets.push_back(router_->ClientAddress(meta->leader));
    }
    for (const MemberInfo& m : router_->Members()) {
      if (!m.client_address.empty()) targets.push_back(m.client_address);
    }
    bool sent = false;
    for (size_t i = 0; i < targets.size() && !sent; ++i) {
      std::string redirect;
      if (SendTo(targets[i], req, &redirect)) {
        last_good_ = targets[i];
        sent = true;
      } else if (!redirect.empty() && SendTo(redirect, req, &redirect)) {
        last_good_ = redirect;
        sent = true;
      }
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (!sent) {
      last_good_.clear();
      SPDLOG_DEBUG("placement: no meta leader took this node's heartbeat");
    }
  }
}

}  // namespace claw::server
