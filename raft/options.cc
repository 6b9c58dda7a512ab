#include "raft/options.h"

namespace claw::raft {

std::string Options::Validate() const {
  if (id == kNoNode) return "id must be non-zero";
  if (heartbeat_ticks <= 0) return "heartbeat_ticks must be positive";
  if (election_ticks <= heartbeat_ticks) return "election_ticks must exceed heartbeat_ticks";
  if (max_inflight_appends == 0) return "max_inflight_appends must be positive";
  if (max_append_bytes == 0) return "max_append_bytes must be positive";
  if (max_apply_bytes == 0) return "max_apply_bytes must be positive";
  if (max_clock_drift_ppm >= 500'000) return "max_clock_drift_ppm must be below 500000 (50%)";
  if (read_mode == ReadMode::kLease && !check_quorum) {
    return "read_mode kLease requires check_quorum (a leader must step down when it loses its "
           "quorum)";
  }
  if (hibernate_after_ticks < 0) return "hibernate_after_ticks must not be negative";
  return {};
}

int Options::LeaseTicks() const {
  if (read_mode != ReadMode::kLease || !check_quorum) return 0;
  // A voter refuses campaigns for election_ticks of its own ticks after hearing from the leader,
  // which is at least (election_ticks - 1) tick periods of real time (the first tick may come
  // right after the message). The leader dates an acknowledgement by its tick counter when it sent
  // the request, and knows real time since then only to within one period. Scaling by the worst
  // ratio of two clocks' rates, (1 - d) / (1 + d), keeps the lease inside the voters' refusal.
  const uint64_t d = max_clock_drift_ppm;
  const uint64_t scaled = uint64_t(election_ticks - 1) * (1'000'000 - d) / (1'000'000 + d);
  return scaled > 1 ? int(scaled - 1) : 0;
}

}  // namespace claw::raft
