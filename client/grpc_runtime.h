// Process-wide settings of the gRPC runtime for the programs of this project (clawd, clawctl,
// clawbench) and for applications that link the client library.
#pragma once

namespace claw::client {

// Debian builds abseil without NDEBUG, so every absl::Mutex lock that gRPC takes runs
// abseil's debug-only lock-order checker: a global lock graph lookup per lock and a stack
// capture for each new pair of locks. Under load that costs several per cent of a process's
// CPU (perf under `clawbench put --clients 256`: GraphCycles::GetId and UpdateStackTrace,
// ≈4 % of the machine summed over clawd and clawbench). This turns it off. Call once, first
// thing in main(); safe to call again.
void DisableLockOrderChecks();

}  // namespace claw::client
