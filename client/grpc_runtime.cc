#include "client/grpc_runtime.h"

#include <absl/synchronization/mutex.h>

namespace claw::client {

void DisableLockOrderChecks() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace claw::client
