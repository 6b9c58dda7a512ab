// Process-wide settings of the gRPC runtime for the programs of this project (clawd, clawctl,
// clawbench) and for applications that link the client library.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace claw::client {

// An insecure channel to one node that reconnects quickly (back-off from 100 ms up to
// `max_backoff_ms`; gRPC's default waits 1 s .. 120 s), so a restarted node or a new leader is
// reachable again soon. `max_receive_bytes` 0 keeps gRPC's 4 MiB limit.
std::shared_ptr<grpc::Channel> NodeChannel(const std::string& address, int max_backoff_ms = 1000,
                                           int max_receive_bytes = 0);

// Debian builds abseil without NDEBUG, so every absl::Mutex lock that gRPC takes runs
// abseil's debug-only lock-order checker: a global lock graph lookup per lock and a stack
// capture for each new pair of locks. Under load that costs several per cent of a process's
// CPU (perf under `clawbench put --clients 256`: GraphCycles::GetId and UpdateStackTrace,
// ≈4 % of the machine summed over clawd and clawbench). This turns it off. Call once, first
// thing in main(); safe to call again.
void DisableLockOrderChecks();

}  // namespace claw::client
