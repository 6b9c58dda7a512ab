// Mapping between server errors and grpc::Status: the gRPC code, a message, and the claw.v1.Error
// detail carried as a google.rpc.Status in the status' binary error details
// (grpc-status-details-bin), which is what every gRPC client library reads. The only place in the
// server where RequestError becomes a gRPC status (STYLE.md "Errors").
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "claw/v1/error.pb.h"
#include "server/requests.h"

namespace claw::server {

grpc::Status ToGrpcStatus(const RequestError& e);
// Decodes the claw.v1.Error detail of a status (false when it has none), e.g. to forward a
// leader's answer unchanged or to inspect a forwarded call's failure.
bool ErrorDetail(const grpc::Status& status, v1::Error* out);

}  // namespace claw::server
