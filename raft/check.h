// Invariant checks for the Raft core. A failed check means corrupt storage or a misused API; the
// core cannot continue safely, so it reports and aborts (fail-stop). raft/ has no logging library:
// the host installs a handler that logs before the abort.
#pragma once

namespace claw::raft {

// Called with the failed condition's location and text; must not return (the core aborts anyway).
using CheckFailureHandler = void (*)(const char* file, int line, const char* message);

// Installs `handler` process-wide and returns the previous one. Call before starting replicas.
CheckFailureHandler SetCheckFailureHandler(CheckFailureHandler handler);

[[noreturn]] void CheckFailed(const char* file, int line, const char* message);

}  // namespace claw::raft

#define CLAW_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::claw::raft::CheckFailed(__FILE__, __LINE__, "check failed: " #cond); \
  } while (0)

#define CLAW_CHECK_MSG(cond, msg)                                          \
  do {                                                                     \
    if (!(cond)) [[unlikely]]                                              \
      ::claw::raft::CheckFailed(__FILE__, __LINE__, "check failed: " msg); \
  } while (0)
