// The endpoint commands — `endpoint health`, `endpoint status` (alias `status`) and `config
// show` — ask the nodes named by --endpoints themselves, each on its own, rather than the cluster
// through any of them: they describe those processes, not the data.
//
// What they ask a node is behind EndpointProbe (one attempt per call, no retries), so that tests
// run them against a fake. GrpcEndpointProbe is the real one: grpc.health.v1.Health/Check over a
// generic stub (the health proto is not part of claw.v1, so its two tiny messages are encoded by
// hand), Cluster.Status through the client, and Cluster.GetConfig over the generated stub.
//
// Contracts:
//  1. `endpoint health` checks every endpoint in order; an endpoint is healthy when its server
//     answers SERVING for the whole server (service ""). Exit 0 when all are, else 1; when no
//     endpoint could be reached at all (every one UNAVAILABLE or DEADLINE_EXCEEDED), the
//     "cannot connect" code kExitCannotConnect.
//  2. `endpoint status` asks Cluster.Status of every endpoint in order and prints one row each
//     (FormatStatus); exit codes as for health.
//  3. `config show` asks only the first endpoint (name another node with --endpoints): the
//     configuration of one process, never silently another's. UNAVAILABLE / DEADLINE_EXCEEDED
//     exit kExitCannotConnect, other errors 1.
//
// Thread-safety: none needed (one command thread). Lifecycle: GrpcEndpointProbe keeps its
// channels until destroyed; it holds a reference to the Client, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "tools/clawctl/args.h"

namespace claw::clawctl {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class ServingState : uint8_t { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// Cluster.GetConfig's answer.
struct NodeConfig {
  uint64_t node_id = 0;
  std::string name{};
  std::string yaml{};
};

class EndpointProbe {
 public:
  using Clock = std::chrono::steady_clock;
  using Timeout = std::chrono::milliseconds;

  virtual ~EndpointProbe() = default;

  [[nodiscard]] virtual client::Result<ServingState> Health(const std::string& address, Timeout timeout) = 0;
  [[nodiscard]] virtual client::Result<client::NodeStatus> Status(const std::string& address,
                                                                  Timeout timeout) = 0;
  [[nodiscard]] virtual client::Result<NodeConfig> Config(const std::string& address, Timeout timeout) = 0;
  virtual Clock::time_point Now() = 0;
};

class GrpcEndpointProbe final : public EndpointProbe {
 public:
  explicit GrpcEndpointProbe(client::Client& client);
  ~GrpcEndpointProbe() override;

  client::Result<ServingState> Health(const std::string& address, Timeout timeout) override;
  client::Result<client::NodeStatus> Status(const std::string& address, Timeout timeout) override;
  client::Result<NodeConfig> Config(const std::string& address, Timeout timeout) override;
  Clock::time_point Now() override;

 private:
  class Channels;  // gRPC channels by address (keeps gRPC headers out of this one)

  client::Client& client_;
  std::unique_ptr<Channels> channels_;
};

// One endpoint's health check: its state and how long the check took, or its error.
struct EndpointHealth {
  std::string endpoint{};
  std::optional<ServingState> state{};
  std::chrono::microseconds took{0};
  std::optional<client::Error> error{};
};

std::string_view ServingStateName(ServingState state);
// table: ENDPOINT, HEALTH (true/false), STATE, TOOK, ERROR; simple: etcdctl's lines
// ("127.0.0.1:7379 is healthy: SERVING, took 1.2ms"); json: {"endpoints":[{"endpoint",
// "health", "state", "took_us", "error":{"code","message"}}]}.
std::string FormatHealth(const std::vector<EndpointHealth>& checks, OutputFormat format);
// table and simple: the YAML as the node printed it, after a comment line naming the node (the
// output stays valid YAML); json: {"endpoint","node_id","name","yaml"}.
std::string FormatConfig(const std::string& endpoint, const NodeConfig& config, OutputFormat format);

// Runs kEndpointHealth, kStatus or kConfigShow; returns the exit code.
int RunEndpointCommand(const Invocation& inv, EndpointProbe& probe, std::ostream& out, std::ostream& err);

}  // namespace claw::clawctl
