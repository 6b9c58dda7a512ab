#include "tools/clawctl/placement_admin.h"

#include <future>
#include <map>
#include <string_view>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "claw/v1/placement.grpc.pb.h"
#include "client/errors.h"

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

// Reads a base-128 varint at `*pos` of `bytes`, advancing `*pos`. False past the end or when it
// runs over 10 bytes.
bool ReadVarint(std::string_view bytes, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 70 && *pos < bytes.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// The repeated field 1 (claw.v1.ExplainResponse.lines) of a serialized message, read as bytes;
// other fields are skipped. The protobuf wire format by hand: tools/ includes only the generated
// headers of protobuf (STYLE.md boundaries). False on malformed input.
bool ReadLines(std::string_view message, std::vector<std::string>* lines) {
  constexpr uint64_t kLinesField = 1;
  enum WireType : uint64_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };
  size_t pos = 0;
  while (pos < message.size()) {
    uint64_t tag = 0;
    if (!ReadVarint(message, &pos, &tag)) return false;
    uint64_t skip = 0;
    switch (tag & 7) {
      case kVarint: {
        uint64_t ignored = 0;
        if (!ReadVarint(message, &pos, &ignored)) return false;
        continue;
      }
      case kFixed64: skip = 8; break;
      case kFixed32: skip = 4; break;
      case kLengthDelimited:
        if (!ReadVarint(message, &pos, &skip)) return false;
        break;
      default: return false;  // groups: not in this message
    }
    if (skip > message.size() - pos) return false;
    if ((tag & 7) == kLengthDelimited && tag >> 3 == kLinesField) lines->emplace_back(message.substr(pos, skip));
    pos += skip;
  }
  return true;
}

}  // namespace

class GrpcPlacementAdmin::Stubs {
 public:
  v1::Placement::Stub& At(const std::string& address) {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) it = stubs_.emplace(address, v1::Placement::NewStub(Channel(address))).first;
    return *it->second;
  }
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    auto it = channels_.find(address);
    if (it == channels_.end()) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      it = channels_.emplace(address, grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args))
               .first;
    }
    return it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::map<std::string, std::unique_ptr<v1::Placement::Stub>> stubs_;
};

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

// A generic call instead of the generated stub: ExplainResponse.lines is a proto3 `string`, but
// the service writes shard boundaries (arbitrary key bytes, e.g. 0x80) into the lines, and the
// generated parser rejects a whole response holding invalid UTF-8. Read as bytes, every line
// arrives; the caller escapes them for output.
client::Result<std::vector<std::string>> GrpcPlacementAdmin::Explain(const std::string& address,
                                                                     uint64_t shard_id, Timeout timeout) {
  v1::ExplainRequest request;
  request.set_shard_id(shard_id);
  grpc::Slice request_slice(request.SerializeAsString());
  const grpc::ByteBuffer request_bytes(&request_slice, 1);
  grpc::ByteBuffer response_bytes;
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  std::promise<grpc::Status> done;
  grpc::GenericStub(stubs_->Channel(address))
      .UnaryCall(&context, "/claw.v1.Placement/Explain", grpc::StubOptions(), &request_bytes, &response_bytes,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) return std::unexpected(ToError(status, CallKind::kRead));
  std::vector<grpc::Slice> slices;
  std::string message;
  if (response_bytes.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      message.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  std::vector<std::string> lines;
  if (!ReadLines(message, &lines)) {
    return std::unexpected(client::Error{.code = client::ErrorCode::kInternal,
                                         .message = "the Explain answer does not parse"});
  }
  return lines;
}

PlacementAdmin::Clock::time_point GrpcPlacementAdmin::Now() { return Clock::now(); }

void GrpcPlacementAdmin::Sleep(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

}  // namespace claw::clawctl
