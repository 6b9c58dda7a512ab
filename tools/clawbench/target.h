// Target: the system under test behind one asynchronous interface, so that the runner drives
// clawd (native API through client/client.h) and etcd (v3 KV API over gRPC) the same way.
//
// Contract: Start() hands one request to the target and returns without waiting for it; `done`
// runs exactly once, on a thread of the target, when the request completed or failed (by its
// deadline at the latest). `done` may call Start() again. Start() may be called from any thread
// at once. The destructor waits for every started request to call its `done`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tools/clawbench/options.h"

namespace claw::clawbench {

enum class OpKind : uint8_t { kPut, kGet, kScan, kBatch, kCheckpointWrite };

struct Request {
  OpKind kind = OpKind::kPut;
  uint32_t client = 0;            // which of the --clients sends it (picks its connection)
  std::vector<std::string> keys{};  // one; kBatch: ops_per_request distinct keys; kCheckpointWrite: the section id
};

struct Outcome {
  bool ok = false;
  std::string error_code{};  // when !ok: "DEADLINE_EXCEEDED", "UNAVAILABLE", ...
  std::string error_message{};
  bool found = true;       // kGet: whether the key existed
  uint64_t keys_read = 0;  // kScan: keys returned
};

class Target {
 public:
  virtual ~Target() = default;
  // Connects (or checks the connection) before the run; an error text when it cannot.
  [[nodiscard]] virtual std::string Prepare() = 0;
  virtual void Start(const Request& request, std::function<void(Outcome)> done) = 0;
};

// The clawd target: `options.conns` clients of the library, each with a pool of
// ceil(clients / conns) threads running its blocking calls.
std::unique_ptr<Target> MakeClawdTarget(const Options& options);
// The etcd target: `options.conns` gRPC channels, callback API.
std::unique_ptr<Target> MakeEtcdTarget(const Options& options);

}  // namespace claw::clawbench
