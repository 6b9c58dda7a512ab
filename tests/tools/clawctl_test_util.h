// Fixture code shared by the clawctl command tests (tests/tools/clawctl_*_test.cc): the outcome
// of one command run with its captured output, the fakes' address scheme ("node3:7379"), a fake
// clock for the admin interfaces (ShardAdmin, PlacementAdmin), and the errors the placement
// fakes share.
//
// The tests live in namespace claw::clawctl::testing (each in an anonymous namespace within it),
// so these names need no qualification there.
//
// Thread-safety: none needed (the tests are single-threaded). Everything is header-only: the
// tools_tests glob compiles only *_test.cc files from this folder.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "client/errors.h"

namespace claw::clawctl::testing {

// The vocabulary of every fake: the client's errors, and the fake clocks' unit.
using client::Error;
using client::ErrorCode;
using std::chrono::milliseconds;

// The client address the fakes give node `node` (1..9): "node3:7379".
inline std::string AddressOf(uint64_t node) { return "node" + std::to_string(node) + ":7379"; }

// The node of an address made by AddressOf (its fifth character): "node3:7379" -> 3.
inline uint64_t NodeOf(const std::string& address) {
  return static_cast<uint64_t>(address[4] - '0');
}

// A list of expected calls, for comparison with a fake's `calls`.
inline std::vector<std::string> Calls(std::initializer_list<std::string> calls) { return calls; }

// One clawctl command's exit code and output.
struct Run {
  int code = -1;
  std::string out{};
  std::string err{};
};

// Reports `run` with the next assertion (Catch's UNSCOPED_INFO) and returns it.
inline Run Logged(Run run) {
  UNSCOPED_INFO("exit " << run.code << "\nstdout:\n" << run.out << "stderr:\n" << run.err);
  return run;
}

// One command run on its standard streams: (in, out, err) -> exit code.
using CommandFn = std::function<int(std::istream& in, std::ostream& out, std::ostream& err)>;

// Runs `command` with `stdin_text` as standard input and captures its output; Logged.
inline Run Capture(const CommandFn& command, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out;
  std::ostringstream err;
  Run run;
  run.code = command(in, out, err);
  run.out = out.str();
  run.err = err.str();
  return Logged(std::move(run));
}

// `Admin` (ShardAdmin or PlacementAdmin) with a fake clock: Sleep advances Now at once and adds
// to `slept`. The clock starts at Clock's epoch.
template <typename Admin>
class FakeClockAdmin : public Admin {
 public:
  std::chrono::milliseconds slept{0};  // the sum of every Sleep

  typename Admin::Clock::time_point Now() override { return now_; }
  void Sleep(std::chrono::milliseconds duration) override {
    now_ += duration;
    slept += duration;
  }

 private:
  typename Admin::Clock::time_point now_{};
};

// A placement fake's answer to an RPC it does not serve (each fake serves one command group).
inline std::unexpected<client::Error> NotInThisFake() {
  return std::unexpected(
      client::Error{.code = client::ErrorCode::kUnimplemented, .message = "not in this fake"});
}

// The NOT_LEADER answer of a node that does not lead the meta shard, without a leader hint.
inline client::Error NotMetaLeader(uint64_t node) {
  return client::Error{.code = client::ErrorCode::kNotLeader,
                       .message = "node " + std::to_string(node) + " does not lead the meta shard"};
}

}  // namespace claw::clawctl::testing
