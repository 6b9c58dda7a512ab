// Runner: drives a Target with the requests of one workload and measures them.
//
// Closed loop (--rate 0): each of the --clients sends its next request when its previous one
// returned, so at most `clients` are in flight. Fixed rate (--rate R): request i is scheduled at
// start + i / R on one timetable; it is sent at that time by whichever client is free (a request
// waits when all `clients` are busy), and its latency counts from its scheduled time, not from
// when it could be sent: a stalled server shows up as latency, not as fewer samples (no
// coordinated omission). Both stop after --total requests or when --duration ends, whichever
// comes first; requests already sent are waited for.
//
// Errors are counted by code (with the first message of each); latency is recorded for
// successful requests only.
//
// RequestMaker is pure apart from its own random generator; Run blocks the calling thread for
// the run and uses the target's threads for completions.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "tools/clawbench/histogram.h"
#include "tools/clawbench/keys.h"
#include "tools/clawbench/options.h"
#include "tools/clawbench/target.h"

namespace claw::clawbench {

// Makes the requests of a workload: kinds and keys. One per client (not thread-safe); the
// sequential-key counter is shared by all makers of a run.
class RequestMaker {
 public:
  RequestMaker(const Options& options, const ZipfianGenerator* zipf, std::atomic<uint64_t>* sequential,
               uint64_t seed);
  Request Next(uint32_t client);

 private:
  uint64_t NextIndex();

  const Options& options_;
  KeyPicker picker_;
  std::atomic<uint64_t>* sequential_;
};

struct RunResult {
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::map<std::string, uint64_t> errors{};  // by code; the values add up to `failed`
  std::map<std::string, std::string> error_text{};  // the first message of each code
  std::map<std::string, uint64_t> ops{};  // successful requests by kind: put, get, scan, batch
  uint64_t not_found = 0;  // successful gets of a missing key
  uint64_t keys_read = 0;  // scans: keys returned in total
  uint64_t keys_written = 0;  // successful puts plus the puts of successful batches
  double elapsed_s = 0;    // from the first request sent to the last one completed
  HistogramSnapshot latency{};  // of the successful requests, nanoseconds
};

[[nodiscard]] RunResult Run(const Options& options, Target& target);

std::string_view OpKindName(OpKind kind);

}  // namespace claw::clawbench
