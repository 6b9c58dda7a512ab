#include "tools/clawctl/endpoint_commands.h"

#include <future>
#include <map>
#include <ostream>
#include <sstream>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "claw/v1/cluster.grpc.pb.h"
#include "claw/v1/error.pb.h"
#include "client/errors.h"
#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl {
namespace {

using std::chrono::microseconds;

constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

client::Error ToError(const grpc::Status& status, const std::string& address) {
  v1::Error detail;
  const bool has_detail = client::DecodeErrorDetail(status.error_details(), &detail);
  client::Error error = client::ErrorFromStatus(status, has_detail ? &detail : nullptr, /*is_write=*/false);
  error.message = address + ": " + error.message;
  return error;
}

std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

// HealthCheckResponse is `ServingStatus status = 1` (an enum, varint): "08 NN", or no bytes at
// all for UNKNOWN (0, the default, is not written).
std::optional<ServingState> DecodeHealth(const std::string& bytes) {
  if (bytes.empty()) return ServingState::kUnknown;
  if (bytes.size() != 2 || bytes[0] != '\x08' || bytes[1] < 0 || bytes[1] > 3) return std::nullopt;
  return static_cast<ServingState>(bytes[1]);
}

// Whether `error` means the endpoint could not be reached (rather than answering badly).
bool Unreachable(const client::Error& error) {
  return error.code == client::ErrorCode::kUnavailable || error.code == client::ErrorCode::kDeadlineExceeded;
}

std::string TookText(microseconds took) {
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(1);
  text << static_cast<double>(took.count()) / 1000.0 << "ms";
  return text.str();
}

int RunHealth(const Invocation& inv, EndpointProbe& probe, std::ostream& out, std::ostream& err) {
  std::vector<EndpointHealth> checks;
  bool all_healthy = true;
  bool any_reached = false;
  for (const std::string& endpoint : inv.global.endpoints) {
    EndpointHealth check{.endpoint = endpoint};
    const auto start = probe.Now();
    auto state = probe.Health(endpoint, inv.global.timeout);
    check.took = std::chrono::duration_cast<microseconds>(probe.Now() - start);
    if (state) {
      check.state = *state;
      any_reached = true;
      all_healthy = all_healthy && *state == ServingState::kServing;
    } else {
      check.error = state.error();
      any_reached = any_reached || !Unreachable(state.error());
      all_healthy = false;
    }
    checks.push_back(std::move(check));
  }
  out << FormatHealth(checks, inv.global.format);
  if (all_healthy) return kExitOk;
  if (!any_reached) {
    err << "Error: no endpoint could be reached (see --endpoints)\n";
    return kExitCannotConnect;
  }
  err << "Error: unhealthy cluster: not every endpoint is SERVING\n";
  return kExitFailed;
}

int RunStatus(const Invocation& inv, EndpointProbe& probe, std::ostream& out, std::ostream& err) {
  std::vector<EndpointStatus> nodes;
  bool all_ok = true;
  bool any_reached = false;
  for (const std::string& endpoint : inv.global.endpoints) {
    EndpointStatus node{endpoint, std::nullopt, std::nullopt};
    auto status = probe.Status(endpoint, inv.global.timeout);
    if (status) {
      node.status = std::move(*status);
      any_reached = true;
    } else {
      node.error = status.error();
      all_ok = false;
      any_reached = any_reached || !Unreachable(status.error());
      err << FormatError(status.error());
    }
    nodes.push_back(std::move(node));
  }
  out << FormatStatus(nodes, inv.global.format);
  if (all_ok) return kExitOk;
  return any_reached ? kExitFailed : kExitCannotConnect;
}

int RunConfigShow(const Invocation& inv, EndpointProbe& probe, std::ostream& out, std::ostream& err) {
  const std::string& endpoint = inv.global.endpoints.front();
  auto config = probe.Config(endpoint, inv.global.timeout);
  if (!config) {
    err << FormatError(config.error());
    return Unreachable(config.error()) ? kExitCannotConnect : kExitFailed;
  }
  out << FormatConfig(endpoint, *config, inv.global.format);
  return kExitOk;
}

}  // namespace

class GrpcEndpointProbe::Channels {
 public:
  std::shared_ptr<grpc::Channel> At(const std::string& address) {
    auto it = channels_.find(address);
    if (it == channels_.end()) {
      it = channels_.emplace(address, grpc::CreateChannel(address, grpc::InsecureChannelCredentials())).first;
    }
    return it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

GrpcEndpointProbe::GrpcEndpointProbe(client::Client& client)
    : client_(client), channels_(std::make_unique<Channels>()) {}

GrpcEndpointProbe::~GrpcEndpointProbe() = default;

client::Result<ServingState> GrpcEndpointProbe::Health(const std::string& address, Timeout timeout) {
  grpc::GenericStub stub(channels_->At(address));
  // HealthCheckRequest{service = ""}: the empty message asks about the whole server.
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(timeout));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, kHealthCheckMethod, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) return std::unexpected(ToError(status, address));
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (response.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  auto state = DecodeHealth(bytes);
  if (!state) {
    return std::unexpected(client::Error{.code = client::ErrorCode::kInternal,
                                         .message = address + ": an undecodable health check answer"});
  }
  return *state;
}

client::Result<client::NodeStatus> GrpcEndpointProbe::Status(const std::string& address, Timeout timeout) {
  client::CallOptions options;
  options.deadline = timeout;
  return client_.Status(address, options);
}

client::Result<NodeConfig> GrpcEndpointProbe::Config(const std::string& address, Timeout timeout) {
  auto stub = v1::Cluster::NewStub(channels_->At(address));
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(timeout));
  v1::GetConfigResponse response;
  const grpc::Status status = stub->GetConfig(&context, v1::GetConfigRequest(), &response);
  if (!status.ok()) return std::unexpected(ToError(status, address));
  return NodeConfig{.node_id = response.node_id(), .name = response.name(), .yaml = response.yaml()};
}

EndpointProbe::Clock::time_point GrpcEndpointProbe::Now() { return Clock::now(); }

std::string_view ServingStateName(ServingState state) {
  switch (state) {
    case ServingState::kUnknown: return "UNKNOWN";
    case ServingState::kServing: return "SERVING";
    case ServingState::kNotServing: return "NOT_SERVING";
    case ServingState::kServiceUnknown: return "SERVICE_UNKNOWN";
  }
  return "?";
}

std::string FormatHealth(const std::vector<EndpointHealth>& checks, OutputFormat format) {
  auto healthy = [](const EndpointHealth& c) { return c.state == ServingState::kServing; };
  auto state = [](const EndpointHealth& c) {
    return c.state ? std::string(ServingStateName(*c.state)) : std::string("-");
  };
  auto error = [](const EndpointHealth& c) {
    return c.error ? std::string(client::ErrorCodeName(c.error->code)) + ": " + c.error->message : std::string("-");
  };
  if (format == OutputFormat::kSimple) {
    std::string text;
    for (const EndpointHealth& c : checks) {
      text += c.endpoint + (healthy(c) ? " is healthy: " : " is unhealthy: ");
      text += (c.state ? state(c) : error(c)) + ", took " + TookText(c.took) + "\n";
    }
    return text;
  }
  if (format == OutputFormat::kTable) {
    Table table({"ENDPOINT", "HEALTH", "STATE", "TOOK", "ERROR"});
    for (const EndpointHealth& c : checks) {
      table.AddRow({c.endpoint, healthy(c) ? "true" : "false", state(c), TookText(c.took), error(c)});
    }
    std::ostringstream out;
    table.Print(out, format);
    return out.str();
  }
  JsonWriter json;
  json.BeginObject().Key("endpoints").BeginArray();
  for (const EndpointHealth& c : checks) {
    json.BeginObject().Key("endpoint").String(c.endpoint).Key("health").Bool(healthy(c));
    if (c.state) json.Key("state").String(ServingStateName(*c.state));
    json.Key("took_us").Uint64(static_cast<uint64_t>(c.took.count()));
    if (c.error) {
      json.Key("error").BeginObject().Key("code").String(client::ErrorCodeName(c.error->code));
      json.Key("message").String(c.error->message).EndObject();
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.str() + "\n";
}

std::string FormatConfig(const std::string& endpoint, const NodeConfig& config, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("endpoint").String(endpoint).Key("node_id").Uint64(config.node_id);
    json.Key("name").String(config.name).Key("yaml").String(config.yaml).EndObject();
    return json.str() + "\n";
  }
  std::string text = "# the effective configuration of node " + std::to_string(config.node_id) + " (" +
                     (config.name.empty() ? std::string("-") : config.name) + ") at " + endpoint + "\n";
  text += config.yaml;
  if (!text.ends_with('\n')) text += '\n';
  return text;
}

int RunEndpointCommand(const Invocation& inv, EndpointProbe& probe, std::ostream& out, std::ostream& err) {
  switch (inv.command) {
    case Command::kEndpointHealth: return RunHealth(inv, probe, out, err);
    case Command::kStatus: return RunStatus(inv, probe, out, err);
    case Command::kConfigShow: return RunConfigShow(inv, probe, out, err);
    default: return kExitUsage;
  }
}

}  // namespace claw::clawctl
