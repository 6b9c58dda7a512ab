#include "raft/check.h"

#include <cstdlib>

namespace claw::raft {
namespace {

// The last failure, kept for debuggers and core dumps when no handler prints it.
const char* g_last_failure_file = nullptr;
int g_last_failure_line = 0;
const char* g_last_failure_message = nullptr;

CheckFailureHandler g_handler = nullptr;

}  // namespace

CheckFailureHandler SetCheckFailureHandler(CheckFailureHandler handler) {
  CheckFailureHandler previous = g_handler;
  g_handler = handler;
  return previous;
}

void CheckFailed(const char* file, int line, const char* message) {
  g_last_failure_file = file;
  g_last_failure_line = line;
  g_last_failure_message = message;
  if (g_handler != nullptr) g_handler(file, line, message);
  std::abort();
}

}  // namespace claw::raft
