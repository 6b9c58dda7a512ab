#include "tools/clawctl/meta_run.h"

#include <ostream>

#include <grpcpp/support/status_code_enum.h>

#include "tools/clawctl/backoff.h"
#include "tools/clawctl/commands.h"

namespace claw::clawctl {
namespace {

using client::Error;
using client::ErrorCode;
using std::chrono::milliseconds;

}  // namespace

bool MetaRetryable(const Error& error) {
  switch (error.code) {
    case ErrorCode::kNotLeader:
    case ErrorCode::kUnavailable:
    case ErrorCode::kOverloaded:
    case ErrorCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

bool MetaAskAnother(const Error& error) {
  return error.code == ErrorCode::kNotLeader || error.code == ErrorCode::kUnavailable ||
         error.code == ErrorCode::kDeadlineExceeded;
}

bool IsNotFoundError(const Error& error) {
  return error.code == ErrorCode::kNotFound ||
         error.grpc_code == static_cast<int>(grpc::StatusCode::NOT_FOUND);
}

bool IsFailedPreconditionError(const Error& error) {
  return error.code == ErrorCode::kFailedPrecondition ||
         error.grpc_code == static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION);
}

int MetaFailed(const Error& error, std::ostream& err) {
  if (error.code == ErrorCode::kNotLeader && error.leader_address.empty()) {
    // FormatError's hint speaks of data shards; this is the meta shard.
    err << "Error: " << error.ToString() << '\n'
        << "hint: the meta shard, which runs the placement service, has no leader the endpoints "
           "know of "
        << "(an election, or too few of its nodes up); retry shortly, or see `clawctl status`\n";
    return kExitFailed;
  }
  err << FormatError(error);
  return kExitFailed;
}

bool MetaRun::Backoff(const Error& error) {
  return BackoffBeforeRetry(admin_, deadline_, error, backoffs_);
}

milliseconds MetaRun::Left() const {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(deadline_ - admin_.Now()));
}

std::vector<std::string> MetaRun::Candidates() const {
  std::vector<std::string> candidates;
  auto add = [&](const std::string& address) {
    if (!address.empty() &&
        std::find(candidates.begin(), candidates.end(), address) == candidates.end()) {
      candidates.push_back(address);
    }
  };
  add(leader_);
  for (const std::string& endpoint : inv_.global.endpoints) add(endpoint);
  return candidates;
}

milliseconds MetaRun::RequestTimeout() const {
  return std::max(milliseconds(1), std::min(inv_.global.timeout, Left()));
}

}  // namespace claw::clawctl
