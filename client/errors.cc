#include "client/errors.h"

#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/status.h>

#include "claw/v1/error.pb.h"

namespace claw::client {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

constexpr int kStatusDetailsField = 3;  // google.rpc.Status.details
constexpr int kAnyTypeUrlField = 1;     // google.protobuf.Any.type_url
constexpr int kAnyValueField = 2;       // google.protobuf.Any.value

// Reads the next length-delimited field numbered `wanted` of a message, skipping the others.
// Returns false at the end of the message or on malformed input.
bool NextBytesField(CodedInputStream& in, int wanted, std::string* out) {
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return false;
    if (WireFormatLite::GetTagFieldNumber(tag) == wanted &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t size = 0;
      return in.ReadVarint32(&size) && in.ReadString(out, static_cast<int>(size));
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
}

// Splits a serialized google.protobuf.Any into its type_url and value.
bool DecodeAny(std::string_view any, std::string* type_url, std::string* value) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(any.data()), static_cast<int>(any.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return true;  // end of the message (or a malformed tag: value stays empty)
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const bool delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (delimited && (field == kAnyTypeUrlField || field == kAnyValueField)) {
      uint32_t size = 0;
      if (!in.ReadVarint32(&size)) return false;
      if (!in.ReadString(field == kAnyTypeUrlField ? type_url : value, static_cast<int>(size))) {
        return false;
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
}

void WriteBytesField(CodedOutputStream& out, int field, std::string_view bytes) {
  out.WriteTag(WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  out.WriteVarint32(static_cast<uint32_t>(bytes.size()));
  out.WriteRaw(bytes.data(), static_cast<int>(bytes.size()));
}

ErrorCode FromGrpcCode(grpc::StatusCode code);

// The detail's code; UNSPECIFIED and codes this build does not know fall back to the gRPC code.
ErrorCode FromWireCode(int code, grpc::StatusCode grpc_code) {
  switch (code) {
    case v1::Error::NOT_LEADER: return ErrorCode::kNotLeader;
    case v1::Error::EPOCH_MISMATCH: return ErrorCode::kEpochMismatch;
    case v1::Error::KEY_OUT_OF_RANGE: return ErrorCode::kKeyOutOfRange;
    case v1::Error::TOO_LARGE: return ErrorCode::kTooLarge;
    case v1::Error::OVERLOADED: return ErrorCode::kOverloaded;
    case v1::Error::NO_SPACE: return ErrorCode::kNoSpace;
    case v1::Error::SHARD_NOT_FOUND: return ErrorCode::kShardNotFound;
    case v1::Error::UNAVAILABLE: return ErrorCode::kUnavailable;
    case v1::Error::INVALID_ARGUMENT: return ErrorCode::kInvalidArgument;
    case v1::Error::COMPACTED: return ErrorCode::kCompacted;
    case v1::Error::WATCH_FELL_BEHIND: return ErrorCode::kWatchFellBehind;
    case v1::Error::LEASE_NOT_FOUND: return ErrorCode::kLeaseNotFound;
    case v1::Error::CHECKPOINT_NOT_FOUND: return ErrorCode::kCheckpointNotFound;
    case v1::Error::CHECKPOINT_HANDLE_NOT_FOUND: return ErrorCode::kCheckpointHandleNotFound;
    case v1::Error::CHECKPOINT_SECTION_NOT_FOUND: return ErrorCode::kCheckpointSectionNotFound;
    case v1::Error::CHECKPOINT_ACCESS_DENIED: return ErrorCode::kCheckpointAccessDenied;
    case v1::Error::CHECKPOINT_NO_SPACE: return ErrorCode::kCheckpointNoSpace;
    case v1::Error::CHECKPOINT_NOT_ALL_REPLICAS: return ErrorCode::kCheckpointNotAllReplicas;
    case v1::Error::CHECKPOINT_EXISTS: return ErrorCode::kCheckpointExists;
    default: return FromGrpcCode(grpc_code);
  }
}

ErrorCode FromGrpcCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorCode::kDeadlineExceeded;
    case grpc::StatusCode::INVALID_ARGUMENT: return ErrorCode::kInvalidArgument;
    case grpc::StatusCode::CANCELLED: return ErrorCode::kCancelled;
    case grpc::StatusCode::NOT_FOUND: return ErrorCode::kNotFound;
    case grpc::StatusCode::UNIMPLEMENTED: return ErrorCode::kUnimplemented;
    case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::kPermissionDenied;
    case grpc::StatusCode::UNAUTHENTICATED: return ErrorCode::kUnauthenticated;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return ErrorCode::kResourceExhausted;
    case grpc::StatusCode::FAILED_PRECONDITION: return ErrorCode::kFailedPrecondition;
    case grpc::StatusCode::ABORTED: return ErrorCode::kAborted;
    case grpc::StatusCode::ALREADY_EXISTS: return ErrorCode::kAlreadyExists;
    case grpc::StatusCode::UNAVAILABLE: return ErrorCode::kUnavailable;
    case grpc::StatusCode::INTERNAL: return ErrorCode::kInternal;
    default: return ErrorCode::kUnknown;
  }
}

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotLeader: return "NOT_LEADER";
    case ErrorCode::kEpochMismatch: return "EPOCH_MISMATCH";
    case ErrorCode::kKeyOutOfRange: return "KEY_OUT_OF_RANGE";
    case ErrorCode::kTooLarge: return "TOO_LARGE";
    case ErrorCode::kOverloaded: return "OVERLOADED";
    case ErrorCode::kNoSpace: return "NO_SPACE";
    case ErrorCode::kShardNotFound: return "SHARD_NOT_FOUND";
    case ErrorCode::kUnavailable: return "UNAVAILABLE";
    case ErrorCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case ErrorCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::kCancelled: return "CANCELLED";
    case ErrorCode::kNotFound: return "NOT_FOUND";
    case ErrorCode::kUnimplemented: return "UNIMPLEMENTED";
    case ErrorCode::kPermissionDenied: return "PERMISSION_DENIED";
    case ErrorCode::kUnauthenticated: return "UNAUTHENTICATED";
    case ErrorCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case ErrorCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case ErrorCode::kAborted: return "ABORTED";
    case ErrorCode::kAlreadyExists: return "ALREADY_EXISTS";
    case ErrorCode::kInternal: return "INTERNAL";
    case ErrorCode::kUnknown: return "UNKNOWN";
    case ErrorCode::kCompacted: return "COMPACTED";
    case ErrorCode::kWatchFellBehind: return "WATCH_FELL_BEHIND";
    case ErrorCode::kLeaseNotFound: return "LEASE_NOT_FOUND";
    case ErrorCode::kCheckpointNotFound: return "CHECKPOINT_NOT_FOUND";
    case ErrorCode::kCheckpointHandleNotFound: return "CHECKPOINT_HANDLE_NOT_FOUND";
    case ErrorCode::kCheckpointSectionNotFound: return "CHECKPOINT_SECTION_NOT_FOUND";
    case ErrorCode::kCheckpointAccessDenied: return "CHECKPOINT_ACCESS_DENIED";
    case ErrorCode::kCheckpointNoSpace: return "CHECKPOINT_NO_SPACE";
    case ErrorCode::kCheckpointNotAllReplicas: return "CHECKPOINT_NOT_ALL_REPLICAS";
    case ErrorCode::kCheckpointExists: return "CHECKPOINT_EXISTS";
  }
  return "UNKNOWN";
}

std::string Error::ToString() const {
  std::string text(ErrorCodeName(code));
  if (!message.empty()) text += ": " + message;
  return text;
}

bool DecodeErrorDetail(std::string_view status_details, v1::Error* out) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(status_details.data()),
                      static_cast<int>(status_details.size()));
  std::string any;
  while (NextBytesField(in, kStatusDetailsField, &any)) {
    std::string type_url;
    std::string value;
    if (!DecodeAny(any, &type_url, &value)) return false;
    if (type_url == kErrorTypeUrl) return out->ParseFromString(value);
  }
  return false;
}

std::string EncodeErrorDetail(int grpc_code, std::string_view message, const v1::Error& error) {
  std::string any;
  {
    StringOutputStream stream(&any);
    CodedOutputStream out(&stream);
    WriteBytesField(out, kAnyTypeUrlField, kErrorTypeUrl);
    WriteBytesField(out, kAnyValueField, error.SerializeAsString());
  }
  std::string status;
  {
    StringOutputStream stream(&status);
    CodedOutputStream out(&stream);
    out.WriteTag(WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT));  // code
    out.WriteVarint32SignExtended(grpc_code);
    WriteBytesField(out, 2, message);  // message
    WriteBytesField(out, kStatusDetailsField, any);
  }
  return status;
}

bool IsIndeterminate(const grpc::Status& status, const v1::Error* detail) {
  // Only UNAVAILABLE may leave a write's outcome unknown, and the server says when it does not.
  // CHECKPOINT_NOT_ALL_REPLICAS: the write is applied at the active replica, only not everywhere.
  if (detail != nullptr && detail->code() == v1::Error::CHECKPOINT_NOT_ALL_REPLICAS) return true;
  if (detail != nullptr) return detail->code() == v1::Error::UNAVAILABLE && !detail->definite();
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

Error ErrorFromStatus(const grpc::Status& status, const v1::Error* detail, bool is_write) {
  Error error;
  error.grpc_code = static_cast<int>(status.error_code());
  error.definite = !is_write || !IsIndeterminate(status, detail);
  if (detail == nullptr) {
    error.code = FromGrpcCode(status.error_code());
    error.message = status.error_message();
    return error;
  }
  error.code = FromWireCode(detail->code(), status.error_code());
  error.message = detail->message().empty() ? status.error_message() : detail->message();
  if (detail->has_leader()) {
    error.leader_node_id = detail->leader().node_id();
    error.leader_address = detail->leader().address();
  }
  error.retry_after_ms = detail->retry_after_ms();
  error.resume_revision = detail->resume_revision();
  return error;
}

}  // namespace claw::client
