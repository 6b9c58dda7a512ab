// server/rpc_status: RequestError -> grpc::Status -> claw.v1.Error round trip (code, message,
// leader hint, shard descriptors, retry_after_ms, definite), the "(outcome unknown)" marker for
// indeterminate errors, the google.rpc.Status wire form of the details, and ErrorDetail refusing
// statuses without (or with broken) details.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include "server/rpc_status.h"

namespace claw::server {
namespace {

v1::ShardDescriptor Descriptor(uint64_t id, const std::string& start, const std::string& end) {
  v1::ShardDescriptor d;
  d.set_id(id);
  d.set_start_key(start);
  d.set_end_key(end);
  d.mutable_epoch()->set_conf_version(id + 10);
  d.mutable_epoch()->set_range_version(id + 20);
  for (uint64_t n : {1, 2, 3}) {
    v1::Replica* r = d.add_replicas();
    r->set_node_id(n);
    r->set_replica_id(n + 100);
    r->set_role(n == 3 ? v1::Replica::LEARNER : v1::Replica::VOTER);
  }
  return d;
}

RequestError FullError(bool definite) {
  RequestError e;
  e.rpc = RpcCode::kFailedPrecondition;
  e.definite = definite;
  e.detail.set_code(v1::Error::EPOCH_MISMATCH);
  e.detail.set_message("shard 3 is at epoch 4/5");
  e.detail.mutable_leader()->set_node_id(2);
  e.detail.mutable_leader()->set_address("10.0.0.2:9000");
  *e.detail.add_shards() = Descriptor(3, "g", "p");
  *e.detail.add_shards() = Descriptor(4, "p", std::string("\0\xff", 2));
  e.detail.set_retry_after_ms(250);
  return e;
}

TEST_CASE("rpc_status: a definite error round-trips through grpc::Status", "[server]") {
  const RequestError e = FullError(/*definite=*/true);
  const grpc::Status st = ToGrpcStatus(e);
  CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(st.error_message() == "shard 3 is at epoch 4/5");
  CHECK_FALSE(st.error_details().empty());

  v1::Error got;
  REQUIRE(ErrorDetail(st, &got));
  CHECK(got.code() == v1::Error::EPOCH_MISMATCH);
  CHECK(got.message() == "shard 3 is at epoch 4/5");
  CHECK(got.leader().node_id() == 2);
  CHECK(got.leader().address() == "10.0.0.2:9000");
  REQUIRE(got.shards_size() == 2);
  CHECK(got.shards(0).SerializeAsString() == Descriptor(3, "g", "p").SerializeAsString());
  CHECK(got.shards(1).end_key() == std::string("\0\xff", 2));
  CHECK(got.shards(1).replicas(2).role() == v1::Replica::LEARNER);
  CHECK(got.shards(1).epoch().range_version() == 24);
  CHECK(got.retry_after_ms() == 250);
  CHECK(got.definite());
}

TEST_CASE("rpc_status: an indeterminate error says so in the message and the detail", "[server]") {
  RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE, "leader lost",
                             /*definite=*/false);
  e.detail.set_definite(true);  // the RequestError's flag wins
  const grpc::Status st = ToGrpcStatus(e);
  CHECK(st.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(st.error_message() == "leader lost (outcome unknown)");
  v1::Error got;
  REQUIRE(ErrorDetail(st, &got));
  CHECK(got.code() == v1::Error::UNAVAILABLE);
  CHECK(got.message() == "leader lost");
  CHECK_FALSE(got.definite());

  const grpc::Status definite =
      ToGrpcStatus(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE, "no leader"));
  CHECK(definite.error_message() == "no leader");
  REQUIRE(ErrorDetail(definite, &got));
  CHECK(got.definite());
}

TEST_CASE("rpc_status: every code used by the server maps to the same grpc code", "[server]") {
  const std::pair<RpcCode, grpc::StatusCode> codes[] = {
      {RpcCode::kCancelled, grpc::StatusCode::CANCELLED},
      {RpcCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {RpcCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {RpcCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {RpcCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {RpcCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {RpcCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {RpcCode::kInternal, grpc::StatusCode::INTERNAL},
      {RpcCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
  };
  for (const auto& [rpc, grpc_code] : codes) {
    CAPTURE(static_cast<int>(rpc));
    RequestError e = MakeError(rpc, v1::Error::OVERLOADED, "m");
    e.detail.set_retry_after_ms(7);
    const grpc::Status st = ToGrpcStatus(e);
    CHECK(st.error_code() == grpc_code);
    v1::Error got;
    REQUIRE(ErrorDetail(st, &got));
    CHECK(got.code() == v1::Error::OVERLOADED);
    CHECK(got.retry_after_ms() == 7);
  }
}

TEST_CASE("rpc_status: details are a google.rpc.Status with the Error packed in an Any",
          "[server]") {
  // A long message: its length takes a two-byte varint.
  RequestError e = MakeError(RpcCode::kResourceExhausted, v1::Error::OVERLOADED,
                             std::string(300, 'x') + "\xe2\x82\xac");
  e.detail.set_retry_after_ms(1000);
  const grpc::Status st = ToGrpcStatus(e);

  google::protobuf::UnknownFieldSet fields;
  REQUIRE(fields.ParseFromString(st.error_details()));
  REQUIRE(fields.field_count() == 3);
  CHECK(fields.field(0).number() == 1);
  CHECK(fields.field(0).varint() == 8);  // RESOURCE_EXHAUSTED
  CHECK(fields.field(1).number() == 2);
  CHECK(fields.field(1).length_delimited() == std::string(300, 'x') + "\xe2\x82\xac");
  CHECK(fields.field(2).number() == 3);
  google::protobuf::Any any;
  REQUIRE(any.ParseFromString(fields.field(2).length_delimited()));
  CHECK(any.type_url() == "type.googleapis.com/claw.v1.Error");
  v1::Error unpacked;
  REQUIRE(any.UnpackTo(&unpacked));
  CHECK(unpacked.retry_after_ms() == 1000);
  CHECK(unpacked.definite());

  v1::Error got;
  REQUIRE(ErrorDetail(st, &got));
  CHECK(got.message().size() == 303);
}

TEST_CASE("rpc_status: ErrorDetail is false without a claw.v1.Error detail", "[server]") {
  v1::Error got;
  got.set_code(v1::Error::NOT_LEADER);
  CHECK_FALSE(ErrorDetail(grpc::Status::OK, &got));
  CHECK_FALSE(ErrorDetail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "plain"), &got));
  CHECK_FALSE(
      ErrorDetail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "junk", "\xff\xff\xff"), &got));

  // A google.rpc.Status whose Any holds another type.
  google::protobuf::Any other;
  v1::ShardDescriptor d;
  d.set_id(5);
  other.PackFrom(d);
  std::string any_bytes = other.SerializeAsString();
  std::string details;
  details += '\x08';  // field 1, varint
  details += '\x0e';  // 14
  details += '\x1a';  // field 3, length-delimited
  details += static_cast<char>(any_bytes.size());
  details += any_bytes;
  REQUIRE(any_bytes.size() < 128);
  CHECK_FALSE(ErrorDetail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "other", details), &got));

  // Truncated details.
  const grpc::Status full = ToGrpcStatus(FullError(/*definite=*/true));
  const std::string cut = full.error_details().substr(0, full.error_details().size() - 5);
  CHECK_FALSE(ErrorDetail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "cut", cut), &got));
}

}  // namespace
}  // namespace claw::server
