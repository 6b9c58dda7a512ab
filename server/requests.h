// What the gRPC front end hands to the raft workers, and what it gets back. Plain values and
// callbacks; no gRPC types, so that raft workers never see gRPC (STYLE.md "Threads" rule 5: the
// handlers decode and enqueue, the workers never call into gRPC).
//
// Every request carries a completion callback that is called exactly once, on a raft worker
// thread (or on the caller's thread when the request is refused before it is queued). Callbacks
// must be quick: they hand the answer to gRPC.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <vector>

#include "claw/v1/command.pb.h"
#include "claw/v1/error.pb.h"
#include "claw/v1/kv.pb.h"
#include "claw/v1/shard.pb.h"
#include "storage/engine.h"

namespace claw::server {

// gRPC status codes used by RequestError (numerically equal to grpc::StatusCode, kept here so that
// workers need no gRPC header).
enum class RpcCode : int {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kFailedPrecondition = 9,
  kOutOfRange = 11,
  kResourceExhausted = 8,
  kInternal = 13,
  kUnavailable = 14,
};

// A refused or failed request: the gRPC code plus the claw.v1.Error detail.
struct RequestError {
  RpcCode rpc = RpcCode::kUnavailable;
  v1::Error detail{};
  // True when the request certainly had no effect (it was refused before being proposed, or its
  // proposal can never commit). False: it may or may not have been applied.
  bool definite = true;
};

RequestError MakeError(RpcCode rpc, v1::Error::Code code, std::string message, bool definite = true);

// The outcome of a write: the command's result, the serving shard's header.
struct ProposalResult {
  v1::TxnResponse result{};
  v1::ResponseHeader header{};
};

struct ProposalRequest {
  uint64_t shard = 0;
  // Epoch named by the caller (unset = do not check).
  bool check_epoch = false;
  v1::Epoch epoch{};
  // Every key the command touches, for the range check ([start, end) pairs for ranges: a range
  // op contributes its start key and its end key with range_end = true).
  std::vector<std::string> keys{};
  v1::RaftCommand command{};
  v1::WriteDurability durability = v1::QUORUM;
  std::chrono::steady_clock::time_point deadline{};
  std::function<void(std::expected<ProposalResult, RequestError>)> done{};
};

// Handed to a read's callback once the read may be served from the engine: everything applied
// up to the read point is visible.
struct ReadContext {
  storage::Engine* engine = nullptr;
  v1::ShardDescriptor shard{};
  v1::ResponseHeader header{};
};

struct ReadRequest {
  uint64_t shard = 0;
  bool check_epoch = false;
  v1::Epoch epoch{};
  std::vector<std::string> keys{};
  v1::ReadConsistency consistency = v1::LINEARIZABLE;
  uint64_t max_staleness_ms = 0;
  std::chrono::steady_clock::time_point deadline{};
  // Runs on the raft worker that owns the shard, while nothing else applies to it: keep it short
  // (point reads; a scan takes a RocksDB snapshot and continues elsewhere).
  std::function<void(std::expected<ReadContext, RequestError>)> done{};
};

}  // namespace claw::server
