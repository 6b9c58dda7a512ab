#include "tools/clawctl/hash_check.h"

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "claw/v1/error.pb.h"
#include "client/errors.h"
#include "tools/clawctl/node_stubs.h"

namespace claw::clawctl {
namespace {

using Clock = std::chrono::steady_clock;

client::Error ToError(const grpc::Status& status, const std::string& address) {
  v1::Error detail;
  const bool has_detail = client::DecodeErrorDetail(status.error_details(), &detail);
  client::Error e = client::ErrorFromStatus(status, has_detail ? &detail : nullptr, /*is_write=*/false);
  e.message = address + ": " + e.message;
  return e;
}

// Cluster stubs by client address, made on first use.
void SetDeadline(grpc::ClientContext* context, Clock::time_point deadline) {
  const auto left = std::clamp<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(50),
                                                 std::chrono::seconds(5));
  context->set_deadline(std::chrono::system_clock::now() + left);
}

// Starts a check of `shard` on its leader: the directory's leader first, then NOT_LEADER hints,
// then every member, until one accepts or the deadline passes.
client::Result<v1::CheckConsistencyResponse> StartCheck(ClusterStubs& stubs, const client::ShardInfo& shard,
                                                        const std::vector<client::MemberInfo>& members,
                                                        Clock::time_point deadline) {
  std::vector<std::string> candidates;
  if (!shard.leader_address.empty()) candidates.push_back(shard.leader_address);
  for (const client::MemberInfo& m : members) {
    if (!m.client_address.empty()) candidates.push_back(m.client_address);
  }
  if (candidates.empty()) {
    return std::unexpected(client::Error{.code = client::ErrorCode::kUnavailable,
                                         .message = "no node address is known"});
  }
  client::Error last{.code = client::ErrorCode::kUnavailable, .message = "no attempt"};
  size_t next = 0;
  std::string hint;
  while (Clock::now() < deadline) {
    const std::string address = !hint.empty() ? hint : candidates[next++ % candidates.size()];
    hint.clear();
    v1::CheckConsistencyRequest request;
    request.set_shard_id(shard.id);
    v1::CheckConsistencyResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, deadline);
    const grpc::Status status = stubs.At(address).CheckConsistency(&context, request, &response);
    if (status.ok()) return response;
    last = ToError(status, address);
    if (last.code == client::ErrorCode::kInvalidArgument) return std::unexpected(last);
    if (last.code == client::ErrorCode::kNotLeader && !last.leader_address.empty() &&
        last.leader_address != address) {
      hint = last.leader_address;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::unexpected(last);
}

// Polls one replica until it answers DONE / UNAVAILABLE / NOT_FOUND or the deadline passes.
ReplicaHashRow PollReplica(ClusterStubs& stubs, uint64_t shard, uint64_t index, ReplicaHashRow row,
                           Clock::time_point deadline, std::chrono::milliseconds poll) {
  row.state = "pending";
  while (true) {
    v1::GetReplicaHashRequest request;
    request.set_shard_id(shard);
    request.set_index(index);
    v1::GetReplicaHashResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, deadline);
    const grpc::Status status = stubs.At(row.address).GetReplicaHash(&context, request, &response);
    if (status.ok()) {
      row.applied_index = response.applied_index();
      row.error.clear();
      if (response.replica_id() != 0) row.replica_id = response.replica_id();
      if (response.state() == v1::GetReplicaHashResponse::DONE) {
        row.state = "done";
        row.hash = response.hash();
        row.keys = response.keys();
        return row;
      }
      if (response.state() == v1::GetReplicaHashResponse::UNAVAILABLE) {
        row.state = "unavailable";
        row.error = response.error();
        return row;
      }
    } else {
      client::Error e = ToError(status, row.address);
      row.error = std::string(client::ErrorCodeName(e.code)) + ": " + e.message;
      if (e.code == client::ErrorCode::kShardNotFound || e.code == client::ErrorCode::kNotFound) {
        row.state = "not-found";
        return row;
      }
      if (e.code == client::ErrorCode::kInvalidArgument) {
        row.state = "error";
        return row;
      }
    }
    if (Clock::now() + poll >= deadline) return row;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace

void JudgeHashes(ShardHashCheck& check) {
  std::map<std::string, int> votes;
  std::vector<std::string> silent;
  for (const ReplicaHashRow& r : check.replicas) {
    if (r.state == "done") {
      ++votes[r.hash];
    } else if (r.state != "skipped") {
      silent.push_back("replica " + std::to_string(r.replica_id) + " on node " + std::to_string(r.node_id) + " (" +
                       r.state + (r.error.empty() ? "" : ": " + r.error) + ")");
    }
  }
  int best = 0;
  for (const auto& [hash, n] : votes) best = std::max(best, n);
  std::ostringstream why;
  if (votes.size() > 1) {
    // With a tie (no strict majority), every replica outside one of the tied hashes is named:
    // a tie names them all.
    int tied = 0;
    for (const auto& [hash, n] : votes) tied += n == best ? 1 : 0;
    why << "hashes differ at index " << check.index << ": ";
    bool first = true;
    for (ReplicaHashRow& r : check.replicas) {
      if (r.state != "done") continue;
      r.minority = tied > 1 || votes[r.hash] != best;
      if (!r.minority) continue;
      why << (first ? "" : ", ") << "replica " << r.replica_id << " on node " << r.node_id << " has " << r.hash
          << " over " << r.keys << " keys";
      first = false;
    }
    for (const auto& [hash, n] : votes) {
      if (n == best && tied == 1) {
        why << "; the majority (" << n << ") has " << hash;
      }
    }
  }
  if (!silent.empty()) {
    why << (votes.size() > 1 ? "; " : "") << "no hash from ";
    for (size_t i = 0; i < silent.size(); ++i) why << (i ? ", " : "") << silent[i];
  }
  if (votes.empty() && silent.empty()) why << "no replica was asked (all skipped)";
  check.consistent = votes.size() == 1 && silent.empty();
  check.error = check.consistent ? "" : why.str();
}

namespace {

ShardHashCheck CheckShard(ClusterStubs& stubs, const client::ShardInfo& shard, const std::vector<client::MemberInfo>& members,
                          const HashCheckOptions& options) {
  ShardHashCheck check{.shard_id = shard.id};
  const Clock::time_point deadline = Clock::now() + options.wait;
  std::map<uint64_t, std::string> address;
  for (const client::MemberInfo& m : members) address[m.node_id] = m.client_address;
  while (true) {
    ++check.attempts;
    auto started = StartCheck(stubs, shard, members, deadline);
    if (!started) {
      check.error = "could not start a check on the shard's leader: " + std::string(client::ErrorCodeName(started.error().code)) +
                    ": " + started.error().message;
      return check;
    }
    check.index = started->index();
    check.leader_node_id = started->leader_node_id();
    check.replicas.clear();
    for (const v1::Replica& r : started->shard().replicas()) {
      ReplicaHashRow row{.node_id = r.node_id(), .replica_id = r.replica_id(), .address = address[r.node_id()]};
      if (options.skip_nodes.contains(r.node_id())) {
        row.state = "skipped";
      } else if (row.address.empty()) {
        row.state = "error";
        row.error = "node " + std::to_string(r.node_id()) + " has no known client address";
      } else {
        row = PollReplica(stubs, shard.id, check.index, row, deadline, options.poll);
      }
      check.replicas.push_back(std::move(row));
    }
    JudgeHashes(check);
    const bool missed = std::any_of(check.replicas.begin(), check.replicas.end(),
                                    [](const ReplicaHashRow& r) { return r.state == "unavailable"; });
    // A replica that skipped the entry (snapshot) gets another chance at a new index.
    if (check.consistent || !missed || Clock::now() + options.poll >= deadline) return check;
  }
}

std::string RowState(const ReplicaHashRow& r) { return r.state + (r.error.empty() ? "" : " (" + r.error + ")"); }

}  // namespace

client::Result<HashCheckReport> RunHashCheck(client::Client& client, const HashCheckOptions& options) {
  client::CallOptions call;
  call.deadline = std::chrono::milliseconds(std::min<int64_t>(options.wait.count(), 10'000));
  auto shards = client.ListShards(call);
  if (!shards) return std::unexpected(shards.error());
  auto members = client.ListMembers(call);
  if (!members) return std::unexpected(members.error());
  std::vector<client::ShardInfo> chosen;
  for (uint64_t id : options.shards) {
    if (id == 1) {
      return std::unexpected(client::Error{.code = client::ErrorCode::kInvalidArgument,
                                           .message = "shard 1 is the meta shard: it owns no keys; consistency "
                                                      "checks cover data shards"});
    }
    auto it = std::find_if(shards->begin(), shards->end(), [id](const client::ShardInfo& s) { return s.id == id; });
    if (it == shards->end()) {
      return std::unexpected(client::Error{.code = client::ErrorCode::kShardNotFound,
                                           .message = "no shard " + std::to_string(id) + " (see `clawctl shard list`)"});
    }
    chosen.push_back(*it);
  }
  if (options.shards.empty()) {
    for (const client::ShardInfo& s : *shards) {
      if (s.id != 1) chosen.push_back(s);  // 1: the meta shard, no keys
    }
  }
  ClusterStubs stubs;
  HashCheckReport report{.ok = true};
  for (const client::ShardInfo& s : chosen) {
    ShardHashCheck check = CheckShard(stubs, s, *members, options);
    report.ok = report.ok && check.consistent;
    for (const ReplicaHashRow& r : check.replicas) {
      if (r.minority) report.minority_nodes.insert(r.node_id);
    }
    report.shards.push_back(std::move(check));
  }
  return report;
}

std::string FormatHashCheck(const HashCheckReport& report, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter w;
    w.BeginObject().Key("ok").Bool(report.ok).Key("minority_nodes").BeginArray();
    for (uint64_t n : report.minority_nodes) w.Uint64(n);
    w.EndArray().Key("shards").BeginArray();
    for (const ShardHashCheck& s : report.shards) {
      w.BeginObject()
          .Key("shard_id").Uint64(s.shard_id)
          .Key("index").Uint64(s.index)
          .Key("leader_node_id").Uint64(s.leader_node_id)
          .Key("consistent").Bool(s.consistent)
          .Key("error").String(s.error)
          .Key("replicas").BeginArray();
      for (const ReplicaHashRow& r : s.replicas) {
        w.BeginObject()
            .Key("node_id").Uint64(r.node_id)
            .Key("replica_id").Uint64(r.replica_id)
            .Key("address").String(r.address)
            .Key("state").String(r.state)
            .Key("hash").String(r.hash)
            .Key("keys").Uint64(r.keys)
            .Key("applied_index").Uint64(r.applied_index)
            .Key("minority").Bool(r.minority)
            .Key("error").String(r.error)
            .EndObject();
      }
      w.EndArray().EndObject();
    }
    w.EndArray().EndObject();
    return w.str() + "\n";
  }
  Table table({"SHARD", "INDEX", "NODE", "REPLICA", "STATE", "HASH", "KEYS"});
  for (const ShardHashCheck& s : report.shards) {
    if (s.replicas.empty()) {
      table.AddRow({std::to_string(s.shard_id), std::to_string(s.index), "-", "-", "error", "-", "-"});
    }
    for (const ReplicaHashRow& r : s.replicas) {
      table.AddRow({std::to_string(s.shard_id), std::to_string(s.index), std::to_string(r.node_id),
                    std::to_string(r.replica_id), RowState(r), r.hash.empty() ? "-" : r.hash + (r.minority ? " *" : ""),
                    r.state == "done" ? std::to_string(r.keys) : "-"});
    }
  }
  std::ostringstream out;
  table.Print(out, format);
  return out.str();
}

std::string DescribeHashFailures(const HashCheckReport& report) {
  std::string out;
  for (const ShardHashCheck& s : report.shards) {
    if (!s.consistent) out += "shard " + std::to_string(s.shard_id) + ": " + s.error + "\n";
  }
  if (!report.minority_nodes.empty()) {
    out += "minority replicas on node(s):";
    for (uint64_t n : report.minority_nodes) out += " " + std::to_string(n);
    out += "\n";
  }
  return out;
}

}  // namespace claw::clawctl
