// GrpcServerMetrics: a gRPC server interceptor that counts every RPC the node serves, by type,
// service, method and status code, and times it (clawd_grpc_server_started_total,
// clawd_grpc_server_handled_total, clawd_grpc_server_handling_seconds in server/metrics.h; the
// label names are go-grpc-prometheus's, so existing dashboards and alerts port over).
//
// Install on a grpc::ServerBuilder with InstallGrpcMetrics before BuildAndStart. Threads: gRPC's.
// Lifecycle: `metrics` must outlive the server.
#pragma once

#include <string_view>

#include <grpcpp/server_builder.h>

#include "server/metrics.h"

namespace claw::server {

void InstallGrpcMetrics(grpc::ServerBuilder& builder, Metrics* metrics);

// The status code's name as the labels carry it ("OK", "UNAVAILABLE", ...).
std::string_view GrpcCodeName(int code);

}  // namespace claw::server
