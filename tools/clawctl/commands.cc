#include "tools/clawctl/commands.h"

#include "tools/clawctl/checkpoint_commands.h"
#include "tools/clawctl/lease_commands.h"

#include <istream>
#include <ostream>
#include <sstream>

#include "tools/clawctl/endpoint_commands.h"
#include "tools/clawctl/format.h"
#include "tools/clawctl/watch_command.h"
#include "tools/clawctl/hash_check.h"
#include "tools/clawctl/node_commands.h"
#include "tools/clawctl/placement_admin.h"
#include "tools/clawctl/rules_commands.h"
#include "tools/clawctl/shard_admin.h"
#include "tools/clawctl/txn_script.h"

namespace claw::clawctl {
namespace {

using client::ErrorCode;
using client::KeyValue;
using client::Op;

std::string ErrorHint(const client::Error& error) {
  switch (error.code) {
    case ErrorCode::kNotLeader:
      if (!error.leader_address.empty()) {
        return "the leader is node " + std::to_string(error.leader_node_id) + " at " +
               error.leader_address;
      }
      return "the shard has no known leader; retry shortly, or see `clawctl shard list`";
    case ErrorCode::kDeadlineExceeded:
      return "no answer within --timeout; raise it, or check `clawctl status` and `clawctl member "
             "list`";
    case ErrorCode::kUnavailable:
      return "check --endpoints (or $CLAWCTL_ENDPOINTS) and `clawctl member list`";
    case ErrorCode::kTooLarge:
      return "keys are limited to 4 KiB, values to 1 MiB, requests to 4 MiB (config limits.*)";
    case ErrorCode::kNoSpace:
      return "a node's disk is full; free space or add nodes";
    case ErrorCode::kOverloaded:
      return "the cluster is shedding load; retry later or raise --timeout";
    case ErrorCode::kInvalidArgument:
      return "see `clawctl --help`";
    case ErrorCode::kLeaseNotFound:
      return "the lease expired or was revoked; `clawctl lease grant TTL` makes a new one";
    case ErrorCode::kCheckpointNotFound:
      return "no such checkpoint (never created, unlinked, or deleted after its retention); "
             "`clawctl checkpoint list` shows them, `checkpoint create NAME` makes one";
    case ErrorCode::kCheckpointSectionNotFound:
      return "no such section (never created, deleted or expired); `clawctl checkpoint read NAME` lists "
             "them, `checkpoint write NAME SECTION VALUE --create` makes one";
    case ErrorCode::kCheckpointHandleNotFound:
      return "the handle is closed (its session ended); open the checkpoint again";
    case ErrorCode::kCheckpointAccessDenied:
      return "the handle's open mode does not allow this (a write needs a write handle, a read a read handle)";
    case ErrorCode::kCheckpointNoSpace:
      return "the checkpoint's max_size or max_sections is reached; delete sections or create it with "
             "larger limits";
    case ErrorCode::kCheckpointNotAllReplicas:
      return "the write is applied at the active replica but not yet on every replica; retry to wait for them";
    case ErrorCode::kCheckpointExists:
      return "it exists already (a checkpoint with other attributes, or the section); `clawctl checkpoint "
             "show NAME` prints its attributes";
    default:
      return "";
  }
}

void WriteKv(JsonWriter& json, const KeyValue& kv) {
  json.BeginObject();
  json.Key("key").Bytes(kv.key);
  json.Key("value").Bytes(kv.value);
  json.Key("version").Uint64(kv.version);
  json.Key("mod_ts").Uint64(kv.mod_ts);
  json.Key("create_ts").Uint64(kv.create_ts);
  json.EndObject();
}

std::string_view OpTypeName(Op::Type type) {
  switch (type) {
    case Op::Type::kGet: return "get";
    case Op::Type::kPut: return "put";
    case Op::Type::kDelete: return "del";
    case Op::Type::kDeleteRange: return "delrange";
  }
  return "?";
}

std::string RangeBound(const std::string& key, std::string_view when_empty) {
  return key.empty() ? std::string(when_empty) : Escape(key);
}

std::string ReplicaList(const client::ShardInfo& shard) {
  std::string text;
  for (const client::ReplicaInfo& replica : shard.replicas) {
    if (!text.empty()) text += ',';
    text += std::to_string(replica.node_id);
    if (replica.learner) text += "(learner)";
  }
  return text.empty() ? "-" : text;
}

// The shard's object of `shard list -w json`; with `addresses`, each replica's "address" too.
void WriteShard(JsonWriter& json, const client::ShardInfo& shard,
                const std::vector<client::MemberInfo>* addresses = nullptr) {
  json.BeginObject().Key("id").Uint64(shard.id);
  json.Key("start_key").Bytes(shard.start_key).Key("end_key").Bytes(shard.end_key);
  json.Key("epoch").BeginObject().Key("conf_version").Uint64(shard.epoch.conf_version);
  json.Key("range_version").Uint64(shard.epoch.range_version).EndObject();
  json.Key("replicas").BeginArray();
  for (const client::ReplicaInfo& replica : shard.replicas) {
    json.BeginObject().Key("node_id").Uint64(replica.node_id);
    json.Key("replica_id").Uint64(replica.replica_id);
    json.Key("role").String(replica.learner ? "LEARNER" : "VOTER");
    if (addresses != nullptr) {
      std::string address;
      for (const client::MemberInfo& m : *addresses) {
        if (m.node_id == replica.node_id) address = m.client_address;
      }
      json.Key("address").String(address);
    }
    json.EndObject();
  }
  json.EndArray().Key("leader_node_id").Uint64(shard.leader_node_id);
  json.Key("leader_address").String(shard.leader_address).EndObject();
}

std::string EpochText(const client::ShardEpoch& epoch) {
  return std::to_string(epoch.conf_version) + "." + std::to_string(epoch.range_version);
}

std::string LeaderText(const client::ShardInfo& shard) {
  return shard.leader_node_id == 0 ? "-" : std::to_string(shard.leader_node_id);
}

client::CallOptions CallOptionsOf(const Invocation& inv) {
  client::CallOptions options;
  options.consistency = inv.global.consistency;
  options.durability = inv.global.durability;
  options.deadline = inv.global.timeout;
  options.forward = inv.global.forward;
  options.prev_kv = inv.prev_kv;
  options.lease = inv.lease_id;
  return options;
}

int Failed(const client::Error& error, std::ostream& err) {
  err << FormatError(error);
  return kExitFailed;
}

int RunScan(const Invocation& inv, client::Client& client, std::ostream& out, std::ostream& err) {
  std::string start = inv.args[0];
  std::string end = inv.args.size() > 1 ? inv.args[1] : "";
  if (inv.prefix) end = client::PrefixEnd(start);
  const client::ScanOptions scan{inv.limit, inv.reverse, inv.keys_only};
  if (inv.global.format == OutputFormat::kJson) {
    auto result = client.Scan(start, end, scan, CallOptionsOf(inv));
    if (!result) return Failed(result.error(), err);
    out << FormatScan(*result, inv.keys_only, inv.global.format);
    return kExitOk;
  }
  // Table mode streams: a large scan prints as it arrives.
  auto more = client.ScanEach(
      start, end, scan,
      [&](const KeyValue& kv) {
        out << Escape(kv.key);
        if (!inv.keys_only) out << '\t' << Escape(kv.value);
        out << '\n';
        return true;
      },
      CallOptionsOf(inv));
  if (!more) return Failed(more.error(), err);
  if (*more) err << "clawctl: more keys remain beyond --limit " << inv.limit << '\n';
  return kExitOk;
}

int RunDel(const Invocation& inv, client::Client& client, std::ostream& out, std::ostream& err) {
  if (inv.range || inv.prefix) {
    const std::string& start = inv.args[0];
    const std::string end = inv.prefix ? client::PrefixEnd(start) : inv.args[1];
    if (inv.prefix && start.empty()) {
      err << "Error: del --prefix wants a non-empty prefix\n";
      return kExitUsage;
    }
    auto deleted = client.DeleteRange(start, end, CallOptionsOf(inv));
    if (!deleted) return Failed(deleted.error(), err);
    out << FormatDeleteCount(*deleted, inv.global.format);
    return kExitOk;
  }
  auto deleted = client.Delete(inv.args[0], CallOptionsOf(inv));
  if (!deleted) return Failed(deleted.error(), err);
  out << FormatDelete(*deleted, inv.global.format);
  return kExitOk;
}

int RunTxn(const Invocation& inv, client::Client& client, std::istream& in, std::ostream& out,
           std::ostream& err) {
  const bool from_flags = !inv.txn_if.empty() || !inv.txn_then.empty() || !inv.txn_else.empty();
  auto spec = from_flags ? ParseTxnFlags(inv.txn_if, inv.txn_then, inv.txn_else)
                         : ParseTxnScript(in);
  if (!spec) {
    err << "Error: txn: " << spec.error() << '\n';
    return kExitUsage;
  }
  auto result = client.Txn(spec->compares, spec->success, spec->failure, CallOptionsOf(inv));
  if (!result) return Failed(result.error(), err);
  out << FormatTxn(*result, inv.global.format);
  return result->succeeded ? kExitOk : kExitTxnFailed;
}

int RunDebugHash(const Invocation& inv, client::Client& client, std::ostream& out, std::ostream& err) {
  HashCheckOptions options{.wait = inv.command_timeout.value_or(kHashWaitTimeout)};
  if (inv.shard_id != 0) options.shards.push_back(inv.shard_id);
  auto report = RunHashCheck(client, options);
  if (!report) {
    if (report.error().code == client::ErrorCode::kShardNotFound) {
      err << "Error: " << report.error().message << '\n';
      return kExitNotFound;
    }
    return Failed(report.error(), err);
  }
  out << FormatHashCheck(*report, inv.global.format);
  if (report->ok) return kExitOk;
  err << "Error: replica hashes do not agree\n" << DescribeHashFailures(*report);
  return kExitFailed;
}

// Whether the command talks to the cluster through the client's connections (and so waits for
// one first, --dial-timeout). The endpoint commands ask each endpoint on its own instead.
bool NeedsConnection(Command command) {
  switch (command) {
    case Command::kStatus:
    case Command::kEndpointHealth:
    case Command::kConfigShow:
    case Command::kHelp:
    case Command::kVersion:
    case Command::kCompletion: return false;
    default: return true;
  }
}

std::string DurationText(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + "s";
  return std::to_string(duration.count()) + "ms";
}

}  // namespace

std::string FormatError(const client::Error& error) {
  std::string text = "Error: " + error.ToString() + "\n";
  if (const std::string hint = ErrorHint(error); !hint.empty()) text += "hint: " + hint + "\n";
  if (!error.definite) text += "note: the outcome is unknown: the write may have been applied\n";
  return text;
}

std::string FormatGet(const KeyValue& kv, OutputFormat format) {
  if (format != OutputFormat::kJson) return Escape(kv.value) + "\n";
  JsonWriter json;
  WriteKv(json, kv);
  return json.str() + "\n";
}

std::string FormatPut(const client::PutResult& result, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    std::string text = "OK\n";
    if (result.prev) text += Escape(result.prev->key) + "\t" + Escape(result.prev->value) + "\n";
    return text;
  }
  JsonWriter json;
  json.BeginObject().Key("mod_ts").Uint64(result.mod_ts);
  if (result.prev) WriteKv(json.Key("prev"), *result.prev);
  json.EndObject();
  return json.str() + "\n";
}

std::string FormatDelete(const client::DeleteResult& result, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    std::string text = std::to_string(result.deleted) + "\n";
    if (result.prev) text += Escape(result.prev->key) + "\t" + Escape(result.prev->value) + "\n";
    return text;
  }
  JsonWriter json;
  json.BeginObject().Key("deleted").Uint64(result.deleted);
  if (result.prev) WriteKv(json.Key("prev"), *result.prev);
  json.EndObject();
  return json.str() + "\n";
}

std::string FormatDeleteCount(uint64_t deleted, OutputFormat format) {
  if (format != OutputFormat::kJson) return std::to_string(deleted) + "\n";
  JsonWriter json;
  json.BeginObject().Key("deleted").Uint64(deleted).EndObject();
  return json.str() + "\n";
}

std::string FormatScan(const client::ScanResult& result, bool keys_only, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    std::string text;
    for (const KeyValue& kv : result.kvs) {
      text += Escape(kv.key);
      if (!keys_only) text += "\t" + Escape(kv.value);
      text += "\n";
    }
    return text;
  }
  JsonWriter json;
  json.BeginObject().Key("kvs").BeginArray();
  for (const KeyValue& kv : result.kvs) WriteKv(json, kv);
  json.EndArray().Key("count").Uint64(result.kvs.size()).Key("more").Bool(result.more);
  json.EndObject();
  return json.str() + "\n";
}

std::string FormatTxn(const client::TxnResult& result, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    std::string text = result.succeeded ? "SUCCEEDED\n" : "FAILED\n";
    for (const client::OpResult& op : result.results) {
      switch (op.type) {
        case Op::Type::kGet:
          text += op.kv ? Escape(op.kv->key) + "\t" + Escape(op.kv->value) + "\n"
                        : std::string("(not found)\n");
          break;
        case Op::Type::kPut: text += "OK\n"; break;
        case Op::Type::kDelete:
        case Op::Type::kDeleteRange: text += std::to_string(op.deleted) + "\n"; break;
      }
    }
    return text;
  }
  JsonWriter json;
  json.BeginObject().Key("succeeded").Bool(result.succeeded).Key("results").BeginArray();
  for (const client::OpResult& op : result.results) {
    json.BeginObject().Key("type").String(OpTypeName(op.type));
    if (op.kv) WriteKv(json.Key(op.type == Op::Type::kGet ? "kv" : "prev"), *op.kv);
    if (op.type == Op::Type::kDelete || op.type == Op::Type::kDeleteRange) {
      json.Key("deleted").Uint64(op.deleted);
    }
    if (op.type == Op::Type::kPut) json.Key("mod_ts").Uint64(op.mod_ts);
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.str() + "\n";
}

std::string FormatShards(const std::vector<client::ShardInfo>& shards, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    Table table({"SHARD", "START", "END", "EPOCH", "REPLICAS", "LEADER"});
    for (const client::ShardInfo& shard : shards) {
      table.AddRow({std::to_string(shard.id), RangeBound(shard.start_key, "(start)"),
                    RangeBound(shard.end_key, "(end)"), EpochText(shard.epoch),
                    ReplicaList(shard), LeaderText(shard)});
    }
    std::ostringstream out;
    table.Print(out, format);
    return out.str();
  }
  JsonWriter json;
  json.BeginObject().Key("shards").BeginArray();
  for (const client::ShardInfo& shard : shards) WriteShard(json, shard);
  json.EndArray().EndObject();
  return json.str() + "\n";
}

std::string FormatShardShow(const client::ShardInfo& shard,
                            const std::vector<client::MemberInfo>& members, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    WriteShard(json, shard, &members);
    return json.str() + "\n";
  }
  std::ostringstream out;
  Table head({"SHARD", "START", "END", "EPOCH", "LEADER"});
  head.AddRow({std::to_string(shard.id), RangeBound(shard.start_key, "(start)"),
               RangeBound(shard.end_key, "(end)"), EpochText(shard.epoch), LeaderText(shard)});
  head.Print(out, format);
  if (format == OutputFormat::kTable) out << '\n';
  Table replicas({"NODE", "REPLICA", "ROLE", "LEADER", "ADDRESS"});
  for (const client::ReplicaInfo& replica : shard.replicas) {
    std::string address = "-";
    for (const client::MemberInfo& m : members) {
      if (m.node_id == replica.node_id && !m.client_address.empty()) address = m.client_address;
    }
    replicas.AddRow({std::to_string(replica.node_id), std::to_string(replica.replica_id),
                     replica.learner ? "LEARNER" : "VOTER",
                     replica.node_id == shard.leader_node_id ? "yes" : "no", address});
  }
  replicas.Print(out, format);
  return out.str();
}

std::string FormatMembers(const std::vector<client::MemberInfo>& members, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    Table table({"NODE", "NAME", "CLIENT", "PEER", "ZONE/RACK/HOST", "REACHABLE"});
    for (const client::MemberInfo& m : members) {
      auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
      table.AddRow({std::to_string(m.node_id), dash(m.name), dash(m.client_address),
                    dash(m.peer_address), dash(m.zone) + "/" + dash(m.rack) + "/" + dash(m.host),
                    m.reachable ? "yes" : "no"});
    }
    std::ostringstream out;
    table.Print(out, format);
    return out.str();
  }
  JsonWriter json;
  json.BeginObject().Key("members").BeginArray();
  for (const client::MemberInfo& m : members) {
    json.BeginObject().Key("node_id").Uint64(m.node_id).Key("name").String(m.name);
    json.Key("client_address").String(m.client_address).Key("peer_address").String(m.peer_address);
    json.Key("zone").String(m.zone).Key("rack").String(m.rack).Key("host").String(m.host);
    json.Key("reachable").Bool(m.reachable).EndObject();
  }
  json.EndArray().EndObject();
  return json.str() + "\n";
}

std::string FormatStatus(const std::vector<EndpointStatus>& nodes, OutputFormat format) {
  auto leaders = [](const client::NodeStatus& s) {
    uint64_t n = 0;
    for (const auto& replica : s.replicas) n += replica.is_leader ? 1 : 0;
    return n;
  };
  // The node's replica of the meta shard (shard 1), when it hosts one.
  auto meta = [](const client::NodeStatus& s) -> const client::ReplicaStatusInfo* {
    for (const auto& replica : s.replicas) {
      if (replica.shard.id == kMetaShardId) return &replica;
    }
    return nullptr;
  };
  auto meta_role = [](const client::NodeStatus& s, const client::ReplicaStatusInfo& r) {
    if (r.is_leader) return "leader";
    for (const client::ReplicaInfo& replica : r.shard.replicas) {
      if (replica.node_id == s.node_id && replica.learner) return "learner";
    }
    return "follower";
  };
  if (format != OutputFormat::kJson) {
    Table table({"ENDPOINT", "NODE", "NAME", "VERSION", "UPTIME", "REPLICAS", "LEADERS", "META",
                 "META TERM", "META APPLIED", "ERROR"});
    for (const EndpointStatus& node : nodes) {
      if (!node.status) {
        table.AddRow({node.endpoint, "-", "-", "-", "-", "-", "-", "-", "-", "-",
                      std::string(client::ErrorCodeName(node.error->code))});
        continue;
      }
      const client::NodeStatus& s = *node.status;
      const client::ReplicaStatusInfo* m = meta(s);
      table.AddRow({node.endpoint, std::to_string(s.node_id), s.name.empty() ? "-" : s.name,
                    s.version, std::to_string(s.uptime_seconds) + "s",
                    std::to_string(s.replicas.size()), std::to_string(leaders(s)),
                    m != nullptr ? meta_role(s, *m) : "-",
                    m != nullptr ? std::to_string(m->term) : "-",
                    m != nullptr ? std::to_string(m->applied_index) : "-", "-"});
    }
    std::ostringstream out;
    table.Print(out, format);
    return out.str();
  }
  JsonWriter json;
  json.BeginObject().Key("nodes").BeginArray();
  for (const EndpointStatus& node : nodes) {
    json.BeginObject().Key("endpoint").String(node.endpoint);
    if (node.status) {
      const client::NodeStatus& s = *node.status;
      json.Key("node_id").Uint64(s.node_id).Key("name").String(s.name);
      json.Key("version").String(s.version).Key("cluster_id").Uint64(s.cluster_id);
      json.Key("uptime_seconds").Uint64(s.uptime_seconds);
      json.Key("replicas").Uint64(s.replicas.size()).Key("leaders").Uint64(leaders(s));
      if (const client::ReplicaStatusInfo* m = meta(s); m != nullptr) {
        json.Key("meta").BeginObject().Key("role").String(meta_role(s, *m));
        json.Key("term").Uint64(m->term).Key("leader_node_id").Uint64(m->leader_node_id);
        json.Key("commit_index").Uint64(m->commit_index).Key("applied_index").Uint64(m->applied_index);
        json.Key("last_index").Uint64(m->last_index).EndObject();
      }
    } else {
      json.Key("error").BeginObject().Key("code").String(client::ErrorCodeName(node.error->code));
      json.Key("message").String(node.error->message).EndObject();
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.str() + "\n";
}

int RunCommand(const Invocation& inv, client::Client& client, std::istream& in, std::ostream& out,
               std::ostream& err, Interactive interactive) {
  const OutputFormat format = inv.global.format;
  if (NeedsConnection(inv.command)) {
    if (auto connected = client.WaitForConnection(inv.global.dial_timeout); !connected) {
      std::string endpoints;
      for (const std::string& e : inv.global.endpoints) endpoints += (endpoints.empty() ? "" : ",") + e;
      err << "Error: cannot connect to any endpoint (" << endpoints << ") within --dial-timeout "
          << DurationText(inv.global.dial_timeout) << "\n"
          << "hint: check --endpoints (or $CLAWCTL_ENDPOINTS) and that clawd runs there; "
             "`clawctl endpoint health` checks each endpoint\n";
      return kExitCannotConnect;
    }
  }
  switch (inv.command) {
    case Command::kPut: {
      auto put = client.Put(inv.args[0], inv.args[1], CallOptionsOf(inv));
      if (!put) return Failed(put.error(), err);
      out << FormatPut(*put, format);
      return kExitOk;
    }
    case Command::kGet: {
      auto got = client.Get(inv.args[0], CallOptionsOf(inv));
      if (!got) return Failed(got.error(), err);
      if (!*got) {
        if (format == OutputFormat::kJson) out << "null\n";
        err << "Error: key not found: " << Escape(inv.args[0]) << '\n';
        return kExitNotFound;
      }
      out << FormatGet(**got, format);
      return kExitOk;
    }
    case Command::kDel: return RunDel(inv, client, out, err);
    case Command::kScan: return RunScan(inv, client, out, err);
    case Command::kTxn: return RunTxn(inv, client, in, out, err);
    case Command::kStatus:
    case Command::kEndpointHealth:
    case Command::kConfigShow: {
      GrpcEndpointProbe probe(client);
      return RunEndpointCommand(inv, probe, out, err);
    }
    case Command::kDebugHash: return RunDebugHash(inv, client, out, err);
    case Command::kWatch: return RunWatch(inv, client, out, err);
    case Command::kLeaseGrant:
    case Command::kLeaseRevoke:
    case Command::kLeaseTtl:
    case Command::kLeaseList:
    case Command::kLeaseKeepAlive: return RunLeaseCommand(inv, out, err);
    case Command::kCheckpointCreate:
    case Command::kCheckpointList:
    case Command::kCheckpointShow:
    case Command::kCheckpointRead:
    case Command::kCheckpointWrite:
    case Command::kCheckpointUnlink:
    case Command::kCheckpointWatch:
    case Command::kCheckpointDeleteSection:
    case Command::kCheckpointActive:
    case Command::kCheckpointRetention: return RunCheckpointCommand(inv, client, in, out, err);
    case Command::kShardList: {
      auto shards = client.ListShards(CallOptionsOf(inv));
      if (!shards) return Failed(shards.error(), err);
      out << FormatShards(*shards, format);
      return kExitOk;
    }
    case Command::kShardShow:
    case Command::kShardSplit:
    case Command::kShardTransferLeader:
    case Command::kShardMove: {
      GrpcShardAdmin admin(client);
      return RunShardCommand(inv, admin, interactive, in, out, err);
    }
    case Command::kMemberList: {
      auto members = client.ListMembers(CallOptionsOf(inv));
      if (!members) return Failed(members.error(), err);
      out << FormatMembers(*members, format);
      return kExitOk;
    }
    case Command::kMemberAdd:
    case Command::kNodeList:
    case Command::kNodeDrain:
    case Command::kNodeRemove:
    case Command::kPlacementExplain: {
      GrpcPlacementAdmin admin;
      return RunNodeCommand(inv, admin, interactive, in, out, err);
    }
    case Command::kPlacementRules:
    case Command::kPlacementRuleSet:
    case Command::kPlacementRuleDelete: {
      GrpcPlacementAdmin admin;
      return RunRulesCommand(inv, admin, out, err);
    }
    case Command::kHelp:
    case Command::kVersion:
    case Command::kCompletion:
      break;  // handled by main before a client exists
  }
  return kExitUsage;
}

}  // namespace claw::clawctl
