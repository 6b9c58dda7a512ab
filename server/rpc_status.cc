#include "server/rpc_status.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

namespace claw::server {
namespace {

// google.rpc.Status field numbers: 1 code (int32), 2 message (string), 3 details (repeated Any).
constexpr uint32_t kCodeTag = (1 << 3) | 0;
constexpr uint32_t kMessageTag = (2 << 3) | 2;
constexpr uint32_t kDetailsTag = (3 << 3) | 2;

}  // namespace

grpc::Status ToGrpcStatus(const RequestError& e) {
  v1::Error detail = e.detail;
  detail.set_definite(e.definite);
  google::protobuf::Any any;
  any.PackFrom(detail);
  std::string any_bytes = any.SerializeAsString();
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag(kCodeTag);
    coded.WriteVarint32(static_cast<uint32_t>(e.rpc));
    coded.WriteTag(kMessageTag);
    coded.WriteVarint32(static_cast<uint32_t>(e.detail.message().size()));
    coded.WriteString(e.detail.message());
    coded.WriteTag(kDetailsTag);
    coded.WriteVarint32(static_cast<uint32_t>(any_bytes.size()));
    coded.WriteString(any_bytes);
  }
  std::string message = e.detail.message();
  if (!e.definite) message += " (outcome unknown)";
  return grpc::Status(static_cast<grpc::StatusCode>(e.rpc), message, out);
}

bool ErrorDetail(const grpc::Status& status, v1::Error* out) {
  const std::string& bytes = status.error_details();
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    if (tag == kDetailsTag) {
      std::string any_bytes;
      uint32_t len = 0;
      if (!in.ReadVarint32(&len) || !in.ReadString(&any_bytes, static_cast<int>(len))) return false;
      google::protobuf::Any any;
      if (any.ParseFromString(any_bytes) && any.Is<v1::Error>() && any.UnpackTo(out)) return true;
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return false;
}

}  // namespace claw::server
