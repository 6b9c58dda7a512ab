#include "tools/clawctl/placement_admin.h"

#include <map>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "claw/v1/placement.grpc.pb.h"
#include "client/errors.h"
#include "tools/clawctl/node_stubs.h"

namespace claw::clawctl {
namespace {

// Whether a failed call may have changed the cluster (Error::definite for indeterminate statuses).
enum class CallKind : uint8_t { kRead, kWrite };

client::Error ToError(const grpc::Status& status, CallKind kind) {
  v1::Error detail;
  const bool has_detail = client::DecodeErrorDetail(status.error_details(), &detail);
  return client::ErrorFromStatus(status, has_detail ? &detail : nullptr, kind == CallKind::kWrite);
}

void SetDeadline(grpc::ClientContext* context, PlacementAdmin::Timeout timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

PlacementNode::State ToState(v1::NodeRecord::State state) {
  switch (state) {
    case v1::NodeRecord::UP: return PlacementNode::State::kUp;
    case v1::NodeRecord::DRAINING: return PlacementNode::State::kDraining;
    case v1::NodeRecord::REMOVED: return PlacementNode::State::kRemoved;
    default: return PlacementNode::State::kUnspecified;
  }
}

PlacementNode FromRecord(const v1::NodeRecord& record) {
  PlacementNode node;
  node.node_id = record.node_id();
  node.name = record.name();
  node.client_address = record.client_address();
  node.peer_address = record.peer_address();
  node.zone = record.zone();
  node.rack = record.rack();
  node.host = record.host();
  node.capacity_bytes = record.capacity_bytes();
  node.state = ToState(record.state());
  return node;
}

PlacementNode FromStatus(const v1::NodeStatus& status) {
  PlacementNode node = FromRecord(status.node());
  node.dead = status.dead();
  node.replicas = status.replicas();
  node.leaders = status.leaders();
  // last_heartbeat_ms_ago is a plain proto3 field: the server sets it together with the load, so
  // the load's presence tells "no heartbeat yet" from "0 ms ago".
  if (status.has_load() || status.last_heartbeat_ms_ago() != 0) {
    node.last_heartbeat_ms_ago = status.last_heartbeat_ms_ago();
  }
  const v1::NodeLoad& load = status.load();
  node.reported_replicas = load.replicas();
  node.reported_leaders = load.leaders();
  node.bytes = load.bytes();
  node.disk_used_bytes = load.disk_used_bytes();
  node.disk_free_bytes = load.disk_free_bytes();
  return node;
}

PlacementRules FromProto(const v1::PlacementRules& proto) {
  PlacementRules rules;
  rules.version = proto.version();
  rules.rules.reserve(static_cast<size_t>(proto.rules_size()));
  for (const v1::PlacementRule& r : proto.rules()) {
    rules.rules.push_back(
        PlacementRule{.name = r.name(),
                      .start_key = r.start_key(),
                      .end_key = r.end_key(),
                      .replication_factor = r.replication_factor(),
                      .zones = {r.zones().begin(), r.zones().end()},
                      .leader_zones = {r.leader_zones().begin(), r.leader_zones().end()}});
  }
  return rules;
}

void ToProto(const PlacementRules& rules, v1::PlacementRules* proto) {
  proto->set_version(rules.version);
  for (const PlacementRule& rule : rules.rules) {
    v1::PlacementRule* r = proto->add_rules();
    r->set_name(rule.name);
    r->set_start_key(rule.start_key);
    r->set_end_key(rule.end_key);
    r->set_replication_factor(rule.replication_factor);
    for (const std::string& zone : rule.zones) r->add_zones(zone);
    for (const std::string& zone : rule.leader_zones) r->add_leader_zones(zone);
  }
}

}  // namespace

class GrpcPlacementAdmin::Stubs : public NodeStubs<v1::Placement> {};

GrpcPlacementAdmin::GrpcPlacementAdmin() : stubs_(std::make_unique<Stubs>()) {}

GrpcPlacementAdmin::~GrpcPlacementAdmin() = default;

client::Result<std::vector<PlacementNode>> GrpcPlacementAdmin::ListNodes(const std::string& address,
                                                                         Timeout timeout) {
  v1::ListNodesResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).ListNodes(&context, v1::ListNodesRequest(), &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kRead));
  std::vector<PlacementNode> nodes;
  nodes.reserve(static_cast<size_t>(response.nodes_size()));
  for (const v1::NodeStatus& node : response.nodes()) nodes.push_back(FromStatus(node));
  return nodes;
}

client::Result<PlacementNode> GrpcPlacementAdmin::DrainNode(const std::string& address, uint64_t node_id,
                                                            Timeout timeout) {
  v1::DrainNodeRequest request;
  request.set_node_id(node_id);
  v1::DrainNodeResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).DrainNode(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kWrite));
  return FromRecord(response.node());
}

client::Result<PlacementNode> GrpcPlacementAdmin::RemoveNode(const std::string& address, uint64_t node_id,
                                                             Timeout timeout) {
  v1::RemoveNodeRequest request;
  request.set_node_id(node_id);
  v1::RemoveNodeResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).RemoveNode(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kWrite));
  return FromRecord(response.node());
}

client::Result<PlacementNode> GrpcPlacementAdmin::Join(const std::string& address, const PlacementNode& node,
                                                       Timeout timeout) {
  v1::JoinRequest request;
  v1::NodeRecord* record = request.mutable_node();
  record->set_name(node.name);
  record->set_peer_address(node.peer_address);
  record->set_client_address(node.client_address);
  record->set_zone(node.zone);
  record->set_rack(node.rack);
  record->set_host(node.host);
  record->set_capacity_bytes(node.capacity_bytes);
  v1::JoinResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).Join(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kWrite));
  for (const v1::NodeRecord& member : response.nodes()) {
    if (member.node_id() == response.node_id()) return FromRecord(member);
  }
  // An answer without the node's own record: what the request said, with the id given.
  PlacementNode joined = node;
  joined.node_id = response.node_id();
  joined.state = PlacementNode::State::kUp;
  return joined;
}

// The server escapes key bytes in the lines (placement::QuoteKey), so they are valid UTF-8; the
// caller escapes them again for output all the same (an older server wrote raw keys).
client::Result<std::vector<std::string>> GrpcPlacementAdmin::Explain(const std::string& address,
                                                                     uint64_t shard_id, Timeout timeout) {
  v1::ExplainRequest request;
  request.set_shard_id(shard_id);
  v1::ExplainResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).Explain(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kRead));
  return std::vector<std::string>(response.lines().begin(), response.lines().end());
}

client::Result<PlacementRules> GrpcPlacementAdmin::GetRules(const std::string& address,
                                                            Timeout timeout) {
  v1::PlacementRules response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status =
      stubs_->At(address).GetRules(&context, v1::GetRulesRequest(), &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kRead));
  return FromProto(response);
}

client::Result<PlacementRules> GrpcPlacementAdmin::SetRules(const std::string& address,
                                                            const PlacementRules& rules,
                                                            Timeout timeout) {
  v1::SetRulesRequest request;
  ToProto(rules, request.mutable_rules());
  v1::PlacementRules response;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  const grpc::Status status = stubs_->At(address).SetRules(&context, request, &response);
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kWrite));
  return FromProto(response);
}

PlacementAdmin::Clock::time_point GrpcPlacementAdmin::Now() { return Clock::now(); }

void GrpcPlacementAdmin::Sleep(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

}  // namespace claw::clawctl
