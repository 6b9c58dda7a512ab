#include "raft/read_only.h"

#include <algorithm>
#include <optional>

namespace claw::raft {

bool ReadOnlyQueue::Add(ReadId id, NodeId from, LogIndex index) {
  for (const PendingRead& r : queue_) {
    if (r.id == id) return false;
  }
  queue_.push_back(PendingRead{.id = id, .from = from, .index = index, .acks = {}});
  return true;
}

std::vector<PendingRead> ReadOnlyQueue::Ack(ReadId id, NodeId voter, NodeId self,
                                            const ProgressTracker& tracker) {
  auto it =
      std::find_if(queue_.begin(), queue_.end(), [id](const PendingRead& r) { return r.id == id; });
  if (it == queue_.end()) return {};
  if (std::find(it->acks.begin(), it->acks.end(), voter) == it->acks.end()) {
    it->acks.push_back(voter);
  }
  const auto& conf = tracker.conf();
  const VoteTally tally =
      JointTally(conf.voters, conf.voters_outgoing, [&](NodeId v) -> std::optional<bool> {
        if (v == self) return true;
        if (std::find(it->acks.begin(), it->acks.end(), v) != it->acks.end()) {
          return true;
        }
        return std::nullopt;
      });
  if (tally != VoteTally::kWon) return {};
  std::vector<PendingRead> released(std::make_move_iterator(queue_.begin()),
                                    std::make_move_iterator(it + 1));
  queue_.erase(queue_.begin(), it + 1);
  return released;
}

std::vector<PendingRead> ReadOnlyQueue::TakeAll() {
  std::vector<PendingRead> all(std::make_move_iterator(queue_.begin()),
                               std::make_move_iterator(queue_.end()));
  queue_.clear();
  return all;
}

}  // namespace claw::raft
