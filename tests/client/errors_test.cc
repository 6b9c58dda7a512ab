// Error decoding: the claw.v1.Error inside a google.rpc.Status (grpc-status-details-bin), the
// mapping of statuses to client errors, and which failures leave a write's outcome unknown.

#include <string>

#include <google/protobuf/any.pb.h>
#include <grpcpp/support/status.h>
#include <catch2/catch.hpp>

#include "claw/v1/error.pb.h"
#include "client/errors.h"

namespace claw::client {
namespace {

v1::Error NotLeader() {
  v1::Error error;
  error.set_code(v1::Error::NOT_LEADER);
  error.set_message("replica 2 of shard 7 is not the leader");
  error.mutable_leader()->set_node_id(3);
  error.mutable_leader()->set_address("10.0.0.3:7379");
  return error;
}

// A google.rpc.Status built with protobuf's own Any, as other gRPC stacks produce it: code 9,
// message, then an unrelated detail before ours.
std::string ForeignStatus(const v1::Error& error) {
  google::protobuf::Any other;
  other.set_type_url("type.googleapis.com/google.rpc.DebugInfo");
  other.set_value("\x0a\x03" "abc");
  google::protobuf::Any ours;
  ours.PackFrom(error);
  std::string out;
  out += '\x08';  // field 1, varint
  out += '\x09';
  const std::string message = "failed";
  out += '\x12';  // field 2, bytes
  out += static_cast<char>(message.size());
  out += message;
  for (const auto* any : {&other, &ours}) {
    const std::string bytes = any->SerializeAsString();
    out += '\x1a';  // field 3, bytes
    REQUIRE(bytes.size() < 128);
    out += static_cast<char>(bytes.size());
    out += bytes;
  }
  return out;
}

}  // namespace

TEST_CASE("DecodeErrorDetail reads what EncodeErrorDetail wrote", "[client]") {
  const std::string wire = EncodeErrorDetail(9, "not leader", NotLeader());
  v1::Error decoded;
  REQUIRE(DecodeErrorDetail(wire, &decoded));
  CHECK(decoded.code() == v1::Error::NOT_LEADER);
  CHECK(decoded.leader().node_id() == 3);
  CHECK(decoded.leader().address() == "10.0.0.3:7379");
}

TEST_CASE("DecodeErrorDetail finds claw.v1.Error among other details", "[client]") {
  v1::Error decoded;
  REQUIRE(DecodeErrorDetail(ForeignStatus(NotLeader()), &decoded));
  CHECK(decoded.message() == "replica 2 of shard 7 is not the leader");
}

TEST_CASE("DecodeErrorDetail rejects empty and malformed details", "[client]") {
  v1::Error decoded;
  CHECK_FALSE(DecodeErrorDetail("", &decoded));
  CHECK_FALSE(DecodeErrorDetail("\x1a\x7f\x01", &decoded));  // truncated Any
  CHECK_FALSE(DecodeErrorDetail("garbage that is not a status", &decoded));
  std::string wire = EncodeErrorDetail(9, "x", NotLeader());
  wire.resize(wire.size() - 3);
  CHECK_FALSE(DecodeErrorDetail(wire, &decoded));
}

TEST_CASE("ErrorFromStatus maps the detail's code and hint", "[client]") {
  const v1::Error detail = NotLeader();
  const grpc::Status status(grpc::StatusCode::FAILED_PRECONDITION, "x");
  const Error error = ErrorFromStatus(status, &detail, /*is_write=*/true);
  CHECK(error.code == ErrorCode::kNotLeader);
  CHECK(error.leader_node_id == 3);
  CHECK(error.leader_address == "10.0.0.3:7379");
  CHECK(error.message == "replica 2 of shard 7 is not the leader");
  CHECK(error.definite);
  CHECK(error.grpc_code == static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  CHECK(error.ToString() == "NOT_LEADER: replica 2 of shard 7 is not the leader");
}

TEST_CASE("ErrorFromStatus treats an unknown claw code as UNAVAILABLE", "[client]") {
  v1::Error detail;
  detail.set_code(static_cast<v1::Error::Code>(1000));
  detail.set_retry_after_ms(40);
  const Error error = ErrorFromStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "x"), &detail,
                                      /*is_write=*/false);
  CHECK(error.code == ErrorCode::kUnavailable);
  CHECK(error.retry_after_ms == 40);
}

TEST_CASE("ErrorFromStatus without detail uses the gRPC code", "[client]") {
  CHECK(ErrorFromStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"), nullptr, false)
            .code == ErrorCode::kDeadlineExceeded);
  CHECK(ErrorFromStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad"), nullptr, true)
            .code == ErrorCode::kInvalidArgument);
  CHECK(ErrorFromStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"), nullptr, true).code ==
        ErrorCode::kUnavailable);
}

TEST_CASE("A detail's INVALID_ARGUMENT, or a code this build does not know, keeps its meaning", "[client]") {
  v1::Error invalid;
  invalid.set_code(v1::Error::INVALID_ARGUMENT);
  invalid.set_message("split key outside the shard");
  const Error error =
      ErrorFromStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "x"), &invalid, true);
  CHECK(error.code == ErrorCode::kInvalidArgument);
  CHECK(error.definite);
  CHECK(error.ToString() == "INVALID_ARGUMENT: split key outside the shard");
  v1::Error future;
  future.set_code(static_cast<v1::Error::Code>(77));  // from a newer server
  CHECK(ErrorFromStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, ""), &future, true).code ==
        ErrorCode::kFailedPrecondition);
}

TEST_CASE("Writes that may have been applied are indeterminate", "[client]") {
  const grpc::Status unavailable(grpc::StatusCode::UNAVAILABLE, "conn reset");
  CHECK_FALSE(ErrorFromStatus(unavailable, nullptr, /*is_write=*/true).definite);
  CHECK(ErrorFromStatus(unavailable, nullptr, /*is_write=*/false).definite);  // reads: no effect
  CHECK_FALSE(
      ErrorFromStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, ""), nullptr, true)
          .definite);
  v1::Error overloaded;
  overloaded.set_code(v1::Error::OVERLOADED);
  CHECK(ErrorFromStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, ""), &overloaded, true)
            .definite);
  v1::Error too_large;
  too_large.set_code(v1::Error::TOO_LARGE);
  const Error large =
      ErrorFromStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, ""), &too_large, true);
  CHECK(large.code == ErrorCode::kTooLarge);
  CHECK(large.definite);
  v1::Error unavailable_detail;
  unavailable_detail.set_code(v1::Error::UNAVAILABLE);
  CHECK_FALSE(ErrorFromStatus(unavailable, &unavailable_detail, true).definite);
}

TEST_CASE("Every error code has a name", "[client]") {
  CHECK(ErrorCodeName(ErrorCode::kEpochMismatch) == "EPOCH_MISMATCH");
  CHECK(ErrorCodeName(ErrorCode::kDeadlineExceeded) == "DEADLINE_EXCEEDED");
  CHECK(ErrorCodeName(ErrorCode::kUnknown) == "UNKNOWN");
}

}  // namespace claw::client

namespace claw::client {
namespace {

TEST_CASE("The checkpoint error codes map to their own ErrorCode values and names", "[client][checkpoint]") {
  struct Case {
    v1::Error::Code wire;
    grpc::StatusCode grpc;
    ErrorCode code;
    std::string_view name;
  };
  const Case cases[] = {
      {v1::Error::CHECKPOINT_NOT_FOUND, grpc::StatusCode::NOT_FOUND, ErrorCode::kCheckpointNotFound,
       "CHECKPOINT_NOT_FOUND"},
      {v1::Error::CHECKPOINT_HANDLE_NOT_FOUND, grpc::StatusCode::NOT_FOUND, ErrorCode::kCheckpointHandleNotFound,
       "CHECKPOINT_HANDLE_NOT_FOUND"},
      {v1::Error::CHECKPOINT_SECTION_NOT_FOUND, grpc::StatusCode::NOT_FOUND, ErrorCode::kCheckpointSectionNotFound,
       "CHECKPOINT_SECTION_NOT_FOUND"},
      {v1::Error::CHECKPOINT_ACCESS_DENIED, grpc::StatusCode::FAILED_PRECONDITION,
       ErrorCode::kCheckpointAccessDenied, "CHECKPOINT_ACCESS_DENIED"},
      {v1::Error::CHECKPOINT_NO_SPACE, grpc::StatusCode::INVALID_ARGUMENT, ErrorCode::kCheckpointNoSpace,
       "CHECKPOINT_NO_SPACE"},
      {v1::Error::CHECKPOINT_EXISTS, grpc::StatusCode::ALREADY_EXISTS, ErrorCode::kCheckpointExists,
       "CHECKPOINT_EXISTS"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    v1::Error detail;
    detail.set_code(c.wire);
    detail.set_message("m");
    const Error error = ErrorFromStatus(grpc::Status(c.grpc, "x"), &detail, /*is_write=*/true);
    CHECK(error.code == c.code);
    CHECK(error.definite);  // refused: nothing was applied
    CHECK(ErrorCodeName(c.code) == c.name);
  }
  // NOT_ALL_REPLICAS: the write is applied at the active replica, only not everywhere yet.
  v1::Error lagging;
  lagging.set_code(v1::Error::CHECKPOINT_NOT_ALL_REPLICAS);
  const Error error = ErrorFromStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "x"), &lagging, true);
  CHECK(error.code == ErrorCode::kCheckpointNotAllReplicas);
  CHECK_FALSE(error.definite);
  CHECK(ErrorCodeName(error.code) == "CHECKPOINT_NOT_ALL_REPLICAS");
}

}  // namespace
}  // namespace claw::client
