// Error: why a client call failed, as a small value returned in std::expected; and the mapping
// from a failed grpc::Status (with its claw.v1.Error detail) to it.
//
// Error codes mirror claw.v1.Error.Code (the server's structured reasons) followed by the gRPC
// status codes a call can end with when no claw.v1.Error is attached, plus client-side ones.
// `definite` is true when the call certainly had no effect (always true for reads); a write that
// failed indeterminately may have been applied, exactly once thanks to its request id.
//
// The decoding functions at the end are used inside client/ only; they take gRPC and protobuf
// types by forward declaration so that this header stays free of generated code.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace grpc {
class Status;
}
namespace claw::v1 {
class Error;
}

namespace claw::client {

enum class ErrorCode : uint8_t {
  // From claw.v1.Error.Code (same meaning; see proto/claw/v1/error.proto).
  kNotLeader,
  kEpochMismatch,
  kKeyOutOfRange,
  kTooLarge,
  kOverloaded,
  kNoSpace,
  kShardNotFound,
  kUnavailable,  // claw.v1 UNAVAILABLE, gRPC UNAVAILABLE, or an unknown claw.v1 code
  // From the gRPC status when no claw.v1.Error is attached, and client-side checks.
  kDeadlineExceeded,
  kInvalidArgument,  // also bad arguments caught by the client (empty key, keys span shards)
  kCancelled,
  kNotFound,
  kUnimplemented,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kAlreadyExists,
  kInternal,
  kUnknown,
  // claw.v1 COMPACTED: a watch's start revision is older than the retained history
  // (Error::resume_revision = the oldest one available).
  kCompacted,
  // claw.v1 WATCH_FELL_BEHIND: a watch stream's server-side queue filled up (the client library
  // resumes on its own from Error::resume_revision).
  kWatchFellBehind,
  // claw.v1 LEASE_NOT_FOUND: the lease named by the call does not exist (expired, revoked).
  kLeaseNotFound,
  // Checkpoints (claw.v1.Checkpoint, client/checkpoint.h): claw.v1 CHECKPOINT_* codes 13..19.
  kCheckpointNotFound,         // no checkpoint of that name (never created, unlinked, deleted)
  kCheckpointHandleNotFound,   // the handle is closed or unknown (its session ended): open again
  kCheckpointSectionNotFound,  // no section of that id (never created, deleted, expired)
  kCheckpointAccessDenied,     // the handle's open mode does not allow the call
  kCheckpointNoSpace,          // max_size or max_sections would be exceeded
  // A SYNCHRONOUS write or a Synchronize did not reach every replica in time. The write IS
  // applied at the active replica (Error::definite is false); Synchronize waits for the rest.
  kCheckpointNotAllReplicas,
  kCheckpointExists,           // the checkpoint (with other attributes) or the section exists
};

// "NOT_LEADER", "DEADLINE_EXCEEDED", ...: the claw.v1 / gRPC spelling, for logs and clawctl.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kUnknown;
  std::string message{};
  // True when the operation certainly did not take effect.
  bool definite = true;
  // With kNotLeader (when known): the shard's leader.
  uint64_t leader_node_id = 0;
  std::string leader_address{};
  // With kOverloaded / kUnavailable: the server's suggested wait, 0 = none.
  uint64_t retry_after_ms = 0;
  // Watch streams ended by the server: the revision to resume from (see watch.proto).
  uint64_t resume_revision = 0;
  // The gRPC status code of the last attempt (0 = OK: the error arose in the client).
  int grpc_code = 0;

  // "CODE: message", for logs.
  std::string ToString() const;
};

// --- used by client/ internally -------------------------------------------------------------

// The type_url of a claw.v1.Error packed in google.protobuf.Any.
inline constexpr std::string_view kErrorTypeUrl = "type.googleapis.com/claw.v1.Error";

// Finds the claw.v1.Error in `status_details` (a serialized google.rpc.Status, as carried by
// grpc::Status::error_details()) and parses it into *out. False when there is none or the bytes
// do not parse. Debian ships no google/rpc/status.pb.h, so the wire format is decoded by hand:
// google.rpc.Status field 3 = repeated google.protobuf.Any {1: type_url, 2: value}.
bool DecodeErrorDetail(std::string_view status_details, claw::v1::Error* out);

// Serializes `error` into a google.rpc.Status with gRPC code `grpc_code` and `message`: the
// inverse of DecodeErrorDetail, for grpc::Status(code, message, details) in test servers.
std::string EncodeErrorDetail(int grpc_code, std::string_view message,
                              const claw::v1::Error& error);

// Whether a write that failed with this status may still have been applied, per kv.proto:
// DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE (claw.v1 or gRPC: the client cannot tell a refused
// connection from one lost after sending), INTERNAL, UNKNOWN and DATA_LOSS are indeterminate.
bool IsIndeterminate(const grpc::Status& status, const claw::v1::Error* detail);

// Maps a failed status (and its detail, when present) to an Error. `is_write` decides
// `definite` for indeterminate statuses (reads are always definite).
Error ErrorFromStatus(const grpc::Status& status, const claw::v1::Error* detail, bool is_write);

}  // namespace claw::client
