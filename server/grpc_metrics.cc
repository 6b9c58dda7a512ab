#include "server/grpc_metrics.h"

#include <chrono>
#include <memory>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

namespace claw::server {

std::string_view GrpcCodeName(int code) {
  static constexpr std::string_view kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",       "UNIMPLEMENTED",     "INTERNAL",         "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

std::string_view TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY: return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING: return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING: return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unknown";
}

class Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(ServerRpcInfo* info, Metrics* metrics)
      : metrics_(metrics),
        method_(metrics->Grpc(info->method() == nullptr ? "" : info->method(), TypeName(info->type()))),
        started_(std::chrono::steady_clock::now()) {
    method_.started->Increment();
  }

  // A call that ends without a status sent (the client went away first) counts as CANCELLED.
  ~Interceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started_;
    method_.handling->Observe(took.count());
    metrics_->GrpcHandled(method_, static_cast<int>(code), GrpcCodeName(static_cast<int>(code))).Increment();
  }

  Metrics* metrics_;
  const Metrics::GrpcMethod& method_;
  std::chrono::steady_clock::time_point started_;
  bool recorded_ = false;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new Interceptor(info, metrics_);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

void InstallGrpcMetrics(grpc::ServerBuilder& builder, Metrics* metrics) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<Factory>(metrics));
  builder.experimental().SetInterceptorCreators(std::move(creators));
}

}  // namespace claw::server
