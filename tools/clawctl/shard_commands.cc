#include "tools/clawctl/shard_commands.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

#include "tools/clawctl/backoff.h"
#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl {
namespace {

using client::Error;
using client::ErrorCode;
using client::ShardInfo;
using std::chrono::milliseconds;

std::string EpochText(const client::ShardEpoch& epoch) {
  return std::to_string(epoch.conf_version) + "." + std::to_string(epoch.range_version);
}

std::string RangeText(const ShardInfo& shard) {
  return "[" + (shard.start_key.empty() ? std::string("(start)") : Escape(shard.start_key)) + ", " +
         (shard.end_key.empty() ? std::string("(end)") : Escape(shard.end_key)) + ")";
}

const client::ReplicaInfo* ReplicaOn(const ShardInfo& shard, uint64_t node) {
  for (const client::ReplicaInfo& replica : shard.replicas) {
    if (replica.node_id == node) return &replica;
  }
  return nullptr;
}

// Errors after which the same request may succeed later (contract 2 of the header).
bool Retryable(const Error& error) {
  switch (error.code) {
    case ErrorCode::kNotLeader:
    case ErrorCode::kUnavailable:
    case ErrorCode::kEpochMismatch:
    case ErrorCode::kShardNotFound:
    case ErrorCode::kOverloaded:
    case ErrorCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

// The state of one command's run: its deadline, the members' addresses, and the back-off.
class ShardRun {
 public:
  ShardRun(const Invocation& inv, ShardAdmin& admin, milliseconds budget)
      : inv_(inv), admin_(admin), deadline_(admin.Now() + budget) {}

  // The directory (and, the first time, the members), retrying failed reads until the deadline.
  client::Result<std::vector<ShardInfo>> List() {
    while (true) {
      auto shards = admin_.ListShards(RequestTimeout());
      if (shards) {
        if (members_.empty()) {
          // Best effort: without addresses, requests go to the leader the directory names.
          if (auto members = admin_.ListMembers(RequestTimeout())) members_ = std::move(*members);
        }
        return shards;
      }
      if (!Backoff(shards.error())) return std::unexpected(shards.error());
    }
  }

  // The command's shard: its directory entry (nullopt when the directory has no such id), made
  // current from its replicas (FromReplicas).
  client::Result<std::optional<ShardInfo>> Find() {
    auto shards = List();
    if (!shards) return std::unexpected(shards.error());
    for (ShardInfo& shard : *shards) {
      if (shard.id == inv_.shard_id) return FromReplicas(std::move(shard));
    }
    return std::nullopt;
  }

  // The shard as its leader knows it, else as the replica with the newest epoch knows it, from
  // Cluster.Status of the nodes `listed` names (leader first, then each reported leader): a
  // node's directory entry for a shard it hosts no replica of is not kept current. `listed`
  // itself when no replica answers.
  ShardInfo FromReplicas(ShardInfo listed) {
    std::vector<uint64_t> nodes;
    auto add = [&](uint64_t node, bool first) {
      if (node == 0) return;
      if (auto it = std::find(nodes.begin(), nodes.end(), node); it != nodes.end()) {
        if (!first) return;
        nodes.erase(it);
      }
      nodes.insert(first ? nodes.begin() : nodes.end(), node);
    };
    for (const client::ReplicaInfo& replica : listed.replicas) add(replica.node_id, false);
    add(listed.leader_node_id, true);
    std::vector<uint64_t> asked;
    std::optional<ShardInfo> best;
    while (!nodes.empty() && !Expired()) {
      const uint64_t node = nodes.front();
      nodes.erase(nodes.begin());
      asked.push_back(node);
      const std::string address = AddressOf(node);
      if (address.empty()) continue;
      auto status = admin_.NodeStatus(address, RequestTimeout());
      if (!status) continue;
      for (const client::ReplicaStatusInfo& replica : status->replicas) {
        if (replica.shard.id != listed.id) continue;
        ShardInfo seen = replica.shard;
        seen.leader_node_id = replica.is_leader ? node : replica.leader_node_id;
        seen.leader_address = AddressOf(seen.leader_node_id);
        if (replica.is_leader) return seen;
        const auto& e = seen.epoch;
        if (!best || e.conf_version + e.range_version > best->epoch.conf_version + best->epoch.range_version) {
          best = seen;
        }
        if (std::find(asked.begin(), asked.end(), seen.leader_node_id) == asked.end()) {
          add(seen.leader_node_id, true);  // ask the leader it follows next
        }
      }
    }
    return best.value_or(std::move(listed));
  }

  // The shard [left.end_key, end) that a split of `left`'s shard created, as a node hosting
  // `left` knows it (splits keep the replicas on the same nodes), else as the directory has it.
  std::optional<ShardInfo> RightHalf(const ShardInfo& left, const std::string& end) {
    auto right_of = [&](const ShardInfo& s) {
      return s.id != left.id && s.start_key == left.end_key && s.end_key == end;
    };
    for (const client::ReplicaInfo& replica : left.replicas) {
      const std::string address = AddressOf(replica.node_id);
      if (address.empty() || Expired()) continue;
      auto status = admin_.NodeStatus(address, RequestTimeout());
      if (!status) continue;
      for (const client::ReplicaStatusInfo& r : status->replicas) {
        if (right_of(r.shard)) return r.shard;
      }
    }
    auto shards = admin_.ListShards(RequestTimeout());
    if (!shards) return std::nullopt;
    for (const ShardInfo& s : *shards) {
      if (right_of(s)) return s;
    }
    return std::nullopt;
  }

  // Runs `call` on the shard's leader: the one the directory names, else each replica's node in
  // turn, following NOT_LEADER hints (contract 2). Updates `shard`'s leader fields with what it
  // learns; on success they name the node that answered. On failure, the last answer, with
  // `definite` false when any attempt's outcome was unknown.
  template <typename T>
  client::Result<T> AtLeader(ShardInfo& shard,
                             const std::function<client::Result<T>(const std::string&, milliseconds)>& call) {
    std::vector<std::string> candidates;
    auto add = [&](const std::string& address) {
      if (!address.empty() && std::find(candidates.begin(), candidates.end(), address) == candidates.end()) {
        candidates.push_back(address);
      }
    };
    add(shard.leader_address);
    if (shard.leader_node_id != 0) add(AddressOf(shard.leader_node_id));
    for (const client::ReplicaInfo& replica : shard.replicas) {
      if (!replica.learner) add(AddressOf(replica.node_id));
    }
    if (candidates.empty()) {
      return std::unexpected(Error{.code = ErrorCode::kUnavailable,
                                   .message = "no address is known for a replica of shard " +
                                              std::to_string(shard.id) +
                                              " (see `clawctl member list`)"});
    }
    Error last;
    bool unknown_outcome = false;
    int redirects = 0;
    for (const std::string& candidate : candidates) {
      std::string address = candidate;
      while (true) {
        auto result = call(address, RequestTimeout());
        if (result) {
          shard.leader_address = address;
          shard.leader_node_id = NodeAt(address).value_or(shard.leader_node_id);
          return result;
        }
        last = result.error();
        unknown_outcome = unknown_outcome || !last.definite;
        if (last.code != ErrorCode::kNotLeader || last.leader_address.empty() ||
            last.leader_address == address || redirects >= kMaxRedirects) {
          break;
        }
        ++redirects;
        shard.leader_node_id = last.leader_node_id;
        shard.leader_address = address = last.leader_address;
      }
      // Another node may know better when this one was no (reachable) leader.
      const bool ask_another = last.code == ErrorCode::kNotLeader ||
                               last.code == ErrorCode::kShardNotFound ||
                               (last.code == ErrorCode::kUnavailable && !last.definite);
      if (!ask_another || Expired()) break;
    }
    last.definite = !unknown_outcome;
    return std::unexpected(last);
  }

  // Waits before retrying after `error` (BackoffBeforeRetry, backoff.h). False when no time is
  // left for another attempt.
  bool Backoff(const Error& error) {
    return BackoffBeforeRetry(admin_, deadline_, error, backoffs_);
  }
  void ResetBackoff() { backoffs_ = 0; }

  std::string AddressOf(uint64_t node) const {
    for (const client::MemberInfo& member : members_) {
      if (member.node_id == node) return member.client_address;
    }
    return "";
  }
  std::optional<uint64_t> NodeAt(const std::string& address) const {
    for (const client::MemberInfo& member : members_) {
      if (member.client_address == address) return member.node_id;
    }
    return std::nullopt;
  }
  const std::vector<client::MemberInfo>& members() const { return members_; }

 private:
  milliseconds RequestTimeout() const {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - admin_.Now());
    return std::max(milliseconds(1), std::min(inv_.global.timeout, left));
  }
  bool Expired() const { return admin_.Now() >= deadline_; }

  const Invocation& inv_;
  ShardAdmin& admin_;
  const ShardAdmin::Clock::time_point deadline_;
  std::vector<client::MemberInfo> members_;
  int backoffs_ = 0;
};

int Failed(const Error& error, std::ostream& err) {
  err << FormatError(error);
  return kExitFailed;
}

int NoSuchShard(uint64_t id, std::ostream& err) {
  err << "Error: no shard " << id << " (see `clawctl shard list`)\n";
  return kExitNotFound;
}

int RunShow(const Invocation& inv, ShardAdmin& admin, std::ostream& out, std::ostream& err) {
  ShardRun run(inv, admin, inv.global.timeout);
  auto shard = run.Find();
  if (!shard) return Failed(shard.error(), err);
  if (!*shard) return NoSuchShard(inv.shard_id, err);
  out << FormatShardShow(**shard, run.members(), inv.global.format);
  return kExitOk;
}

// After a split attempt whose outcome was unknown, the shard's range changed: whether `now`
// (the shard as its replicas know it) is the left half of the split this command asked for —
// the same start and id, one range_version later, ending at the key asked for — and the right
// half exists.
std::optional<SplitResult> SplitDone(ShardRun& run, const ShardInfo& before, const ShardInfo& now,
                                     const std::string& key) {
  if (now.start_key != before.start_key || now.epoch.range_version != before.epoch.range_version + 1 ||
      now.end_key.empty() || (!key.empty() && now.end_key != key)) {
    return std::nullopt;
  }
  auto right = run.RightHalf(now, before.end_key);
  if (!right) return std::nullopt;
  return SplitResult{now, *right};
}

int RunSplit(const Invocation& inv, ShardAdmin& admin, Interactive interactive, std::istream& in,
             std::ostream& out, std::ostream& err) {
  if (!inv.yes && interactive == Interactive::kNo) {
    return NeedsYes(inv.command == Command::kShardSplit ? "shard split" : "shard move", err);
  }
  ShardRun run(inv, admin, inv.command_timeout.value_or(inv.global.timeout));
  auto found = run.Find();
  if (!found) return Failed(found.error(), err);
  if (!*found) return NoSuchShard(inv.shard_id, err);
  ShardInfo shard = std::move(**found);
  const std::string key = inv.split_key.value_or("");
  const std::string question = "Split shard " + std::to_string(shard.id) + " " + RangeText(shard) +
                               (key.empty() ? " at the middle of its data?" : " at " + Escape(key) + "?");
  if (Confirm(inv, interactive, question, in, err) == Consent::kRefused) return kExitUsage;
  const ShardInfo before = shard;
  bool maybe_applied = false;  // an attempt failed with an unknown outcome
  while (true) {
    const client::ShardEpoch planned = shard.epoch;
    auto split = run.AtLeader<SplitResult>(shard, [&](const std::string& address, milliseconds timeout) {
      return admin.SplitShard(address, shard.id, key, planned, timeout);
    });
    if (split) {
      split->left.leader_node_id = shard.leader_node_id;
      split->left.leader_address = shard.leader_address;
      out << FormatShards({split->left, split->right}, inv.global.format);
      return kExitOk;
    }
    Error error = split.error();
    maybe_applied = maybe_applied || !error.definite;
    if (!Retryable(error) || !run.Backoff(error)) {
      error.definite = !maybe_applied;
      return Failed(error, err);
    }
    auto found_again = run.Find();
    if (!found_again) return Failed(found_again.error(), err);
    if (!*found_again) return NoSuchShard(shard.id, err);
    const ShardInfo* fresh = &**found_again;
    if (fresh->epoch.range_version == planned.range_version) {
      shard = *fresh;  // the same range (perhaps a membership change): try again
      continue;
    }
    if (maybe_applied) {
      if (auto halves = SplitDone(run, before, *fresh, key)) {
        err << "clawctl: shard " << shard.id << ": an attempt's answer was lost; the replicas "
            << "show the shard split as asked\n";
        out << FormatShards({halves->left, halves->right}, inv.global.format);
        return kExitOk;
      }
    }
    return Failed(Error{.code = ErrorCode::kEpochMismatch,
                        .message = "shard " + std::to_string(shard.id) + "'s range changed meanwhile (epoch " +
                                   EpochText(planned) + " -> " + EpochText(fresh->epoch) +
                                   "); see `clawctl shard list`",
                        .definite = !maybe_applied},
                  err);
  }
}

int RunTransfer(const Invocation& inv, ShardAdmin& admin, std::ostream& out, std::ostream& err) {
  ShardRun run(inv, admin, inv.command_timeout.value_or(inv.global.timeout));
  auto found = run.Find();
  if (!found) return Failed(found.error(), err);
  if (!*found) return NoSuchShard(inv.shard_id, err);
  ShardInfo shard = std::move(**found);
  while (true) {
    auto moved = run.AtLeader<ShardInfo>(shard, [&](const std::string& address, milliseconds timeout) {
      return admin.TransferLeader(address, shard.id, inv.to_node, timeout);
    });
    if (moved) {
      moved->leader_node_id = inv.to_node;
      moved->leader_address = run.AddressOf(inv.to_node);
      out << FormatShards({*moved}, inv.global.format);
      return kExitOk;
    }
    if (!Retryable(moved.error()) || !run.Backoff(moved.error())) return Failed(moved.error(), err);
    auto fresh = run.Find();
    if (!fresh) return Failed(fresh.error(), err);
    if (!*fresh) return NoSuchShard(inv.shard_id, err);
    shard = std::move(**fresh);
  }
}

// One step of a move on the shard's leader; on success `shard` is the new descriptor, with the
// leader that answered (the new one after kTransferLeader).
client::Result<ShardInfo> RunMoveStep(ShardRun& run, ShardAdmin& admin, const MoveStep& step,
                                      ShardInfo& shard) {
  if (step.kind == MoveStep::Kind::kTransferLeader) {
    auto moved = run.AtLeader<ShardInfo>(shard, [&](const std::string& address, milliseconds timeout) {
      return admin.TransferLeader(address, shard.id, step.node_id, timeout);
    });
    if (moved) {
      moved->leader_node_id = step.node_id;
      moved->leader_address = run.AddressOf(step.node_id);
    }
    return moved;
  }
  ReplicaChange change{.shard_id = shard.id, .epoch = shard.epoch, .node_id = step.node_id};
  change.kind = step.kind == MoveStep::Kind::kAddLearner ? ReplicaChange::Kind::kAddLearner
                : step.kind == MoveStep::Kind::kPromote  ? ReplicaChange::Kind::kPromote
                                                         : ReplicaChange::Kind::kRemove;
  auto changed = run.AtLeader<ShardInfo>(shard, [&](const std::string& address, milliseconds timeout) {
    return admin.ChangeReplicas(address, change, timeout);
  });
  if (changed) {
    changed->leader_node_id = shard.leader_node_id;
    changed->leader_address = shard.leader_address;
  }
  return changed;
}

std::string Completed(const MoveStep& step, uint64_t old_leader, const ShardInfo& shard) {
  const std::string node = std::to_string(step.node_id);
  const std::string epoch = " (epoch " + EpochText(shard.epoch) + ")";
  switch (step.kind) {
    case MoveStep::Kind::kAddLearner: return "added a learner on node " + node + epoch;
    case MoveStep::Kind::kPromote: return "promoted the learner on node " + node + " to voter" + epoch;
    case MoveStep::Kind::kTransferLeader:
      return "moved the leadership from node " + std::to_string(old_leader) + " to node " + node;
    case MoveStep::Kind::kRemove: return "removed the replica on node " + node + epoch;
    case MoveStep::Kind::kDone: break;
  }
  return "done";
}

int MoveStopped(const Error& error, uint64_t shard, std::ostream& err) {
  err << FormatError(error);
  err << "clawctl: shard " << shard << ": the move stopped; the steps done stay done: run the "
      << "same command again to resume\n";
  return kExitFailed;
}

int RunMove(const Invocation& inv, ShardAdmin& admin, Interactive interactive, std::istream& in,
            std::ostream& out, std::ostream& err) {
  if (!inv.yes && interactive == Interactive::kNo) {
    return NeedsYes(inv.command == Command::kShardSplit ? "shard split" : "shard move", err);
  }
  ShardRun run(inv, admin, inv.command_timeout.value_or(kMoveTimeout));
  auto found = run.Find();
  if (!found) return Failed(found.error(), err);
  if (!*found) return NoSuchShard(inv.shard_id, err);
  ShardInfo shard = std::move(**found);
  const std::string prefix = "clawctl: shard " + std::to_string(shard.id) + ": ";
  auto first = NextMoveStep(shard, inv.from_node, inv.to_node);
  if (!first) return Failed(Error{.code = ErrorCode::kInvalidArgument, .message = first.error()}, err);
  if (first->kind == MoveStep::Kind::kDone) {
    err << prefix << "node " << inv.to_node << " hosts a voter and node " << inv.from_node
        << " no replica: nothing to do\n";
    out << FormatShards({shard}, inv.global.format);
    return kExitOk;
  }
  const std::string question = "Move shard " + std::to_string(shard.id) + "'s replica from node " +
                               std::to_string(inv.from_node) + " to node " + std::to_string(inv.to_node) +
                               " (next step: " + DescribeMoveStep(*first, shard.leader_node_id) + ")?";
  if (Confirm(inv, interactive, question, in, err) == Consent::kRefused) return kExitUsage;
  std::ostream& progress = ProgressStream(inv, err);
  if (first->kind != MoveStep::Kind::kAddLearner) {
    progress << prefix << "resuming: " << DescribeMoveStep(*first, shard.leader_node_id) << '\n';
  }
  bool waiting = false;  // "waiting for the learner" was printed
  while (true) {
    auto step = NextMoveStep(shard, inv.from_node, inv.to_node);
    if (!step) return MoveStopped(Error{.code = ErrorCode::kInvalidArgument, .message = step.error()}, shard.id, err);
    if (step->kind == MoveStep::Kind::kDone) {
      out << FormatShards({shard}, inv.global.format);
      return kExitOk;
    }
    const uint64_t old_leader = shard.leader_node_id;
    auto done = RunMoveStep(run, admin, *step, shard);
    if (done) {
      shard = std::move(*done);
      progress << prefix << Completed(*step, old_leader, shard) << '\n';
      run.ResetBackoff();
      waiting = false;
      continue;
    }
    const Error& error = done.error();
    if (step->kind == MoveStep::Kind::kPromote && error.code == ErrorCode::kUnavailable && error.definite) {
      // The leader refuses to promote a learner that still lags: wait and ask again.
      if (!waiting) progress << prefix << "waiting for the learner on node " << step->node_id << " to catch up\n";
      waiting = true;
      if (!run.Backoff(error)) return MoveStopped(error, shard.id, err);
      continue;
    }
    if (step->kind == MoveStep::Kind::kRemove &&
        error.grpc_code == static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION) &&
        error.code == ErrorCode::kInvalidArgument) {
      // The leader refuses to remove itself: --from leads by now; hand the leadership over first.
      shard.leader_node_id = step->node_id;
      shard.leader_address = run.AddressOf(step->node_id);
      if (!run.Backoff(error)) return MoveStopped(error, shard.id, err);
      continue;
    }
    if (!Retryable(error) || !run.Backoff(error)) return MoveStopped(error, shard.id, err);
    auto fresh = run.Find();
    if (!fresh) return MoveStopped(fresh.error(), shard.id, err);
    if (!*fresh) return NoSuchShard(shard.id, err);
    shard = std::move(**fresh);
  }
}

}  // namespace

std::expected<MoveStep, std::string> NextMoveStep(const ShardInfo& shard, uint64_t from, uint64_t to) {
  const client::ReplicaInfo* on_from = ReplicaOn(shard, from);
  const client::ReplicaInfo* on_to = ReplicaOn(shard, to);
  if (on_to == nullptr) {
    if (on_from == nullptr) {
      return std::unexpected("node " + std::to_string(from) + " hosts no replica of shard " +
                             std::to_string(shard.id) + " (see `clawctl shard show " +
                             std::to_string(shard.id) + "`)");
    }
    return MoveStep{MoveStep::Kind::kAddLearner, to};
  }
  if (on_to->learner) return MoveStep{MoveStep::Kind::kPromote, to};
  if (on_from == nullptr) return MoveStep{MoveStep::Kind::kDone, 0};
  // A learner never leads; a voter on --from that leads hands over to --to, a voter by now.
  if (!on_from->learner && shard.leader_node_id == from) return MoveStep{MoveStep::Kind::kTransferLeader, to};
  return MoveStep{MoveStep::Kind::kRemove, from};
}

std::string DescribeMoveStep(const MoveStep& step, uint64_t leader) {
  const std::string node = std::to_string(step.node_id);
  switch (step.kind) {
    case MoveStep::Kind::kAddLearner: return "add a learner on node " + node;
    case MoveStep::Kind::kPromote: return "promote the learner on node " + node;
    case MoveStep::Kind::kTransferLeader:
      return "move the leadership from node " + std::to_string(leader) + " to node " + node;
    case MoveStep::Kind::kRemove: return "remove the replica on node " + node;
    case MoveStep::Kind::kDone: break;
  }
  return "nothing";
}

Consent Confirm(const Invocation& inv, Interactive interactive, std::string_view question, std::istream& in,
                std::ostream& err) {
  if (inv.yes) return Consent::kGiven;
  if (interactive == Interactive::kYes && AskYesNo(question, in, err) == Answer::kYes) return Consent::kGiven;
  err << "Error: not confirmed; nothing was changed\n";
  return Consent::kRefused;
}

int NeedsYes(std::string_view command_name, std::ostream& err) {
  err << "Error: " << command_name
      << " changes the cluster: add --yes to confirm (stdin is not a terminal to ask on)\n";
  return kExitUsage;
}

std::ostream& ProgressStream(const Invocation& inv, std::ostream& err) {
  static std::ostream dropped(nullptr);  // no buffer: every write fails quietly
  return inv.global.progress ? err : dropped;
}

Answer AskYesNo(std::string_view question, std::istream& in, std::ostream& err) {
  err << question << " [y/N] " << std::flush;
  std::string line;
  if (!std::getline(in, line)) {
    err << '\n';
    return Answer::kNo;
  }
  std::string word;
  for (const char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return word == "y" || word == "yes" ? Answer::kYes : Answer::kNo;
}

int RunShardCommand(const Invocation& inv, ShardAdmin& admin, Interactive interactive,
                    std::istream& in, std::ostream& out, std::ostream& err) {
  switch (inv.command) {
    case Command::kShardShow: return RunShow(inv, admin, out, err);
    case Command::kShardSplit: return RunSplit(inv, admin, interactive, in, out, err);
    case Command::kShardTransferLeader: return RunTransfer(inv, admin, out, err);
    case Command::kShardMove: return RunMove(inv, admin, interactive, in, out, err);
    default: return kExitUsage;
  }
}

}  // namespace claw::clawctl
