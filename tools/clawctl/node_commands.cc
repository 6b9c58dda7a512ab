#include "tools/clawctl/node_commands.h"

#include <algorithm>
#include <cstdio>
#include <expected>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <sstream>
#include <utility>

#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"
#include "tools/clawctl/meta_run.h"

namespace claw::clawctl {
namespace {

using client::Error;
using client::ErrorCode;
using std::chrono::milliseconds;

int Failed(const Error& error, std::ostream& err) { return MetaFailed(error, err); }

const PlacementNode* FindNode(const std::vector<PlacementNode>& nodes, uint64_t id) {
  for (const PlacementNode& node : nodes) {
    if (node.node_id == id) return &node;
  }
  return nullptr;
}

int NoSuchNode(uint64_t id, std::ostream& err) {
  err << "Error: no node " << id << " (see `clawctl node list`)\n";
  return kExitNotFound;
}

// The server's NOT_FOUND ("node 9 is not a member", "node 9 was removed", "shard 9 is not in the
// directory"), with where to look.
int NotFound(const Error& error, std::string_view see, std::ostream& err) {
  err << "Error: " << error.message << " (see `" << see << "`)\n";
  return kExitNotFound;
}

// "node 3 (n3 at 127.0.0.1:7379)", leaving out what the table does not know.
std::string Describe(const PlacementNode& node) {
  std::string text = "node " + std::to_string(node.node_id);
  if (node.name.empty() && node.client_address.empty()) return text;
  text += " (" + node.name;
  if (!node.client_address.empty()) text += (node.name.empty() ? "" : " ") + std::string("at ") + node.client_address;
  return text + ")";
}

std::string Counts(const PlacementNode& node) {
  return std::to_string(node.replicas) + (node.replicas == 1 ? " replica, " : " replicas, ") +
         std::to_string(node.leaders) + (node.leaders == 1 ? " leader" : " leaders");
}

client::Result<std::vector<PlacementNode>> ListNodes(MetaRun& run, PlacementAdmin& admin) {
  return run.Call<std::vector<PlacementNode>>(
      [&](const std::string& address, milliseconds timeout) { return admin.ListNodes(address, timeout); });
}

// Node inv.node_id's row of the node table, or the exit code once the failure is printed: the
// request's (Failed), or kExitNotFound when the table has no such node.
[[nodiscard]] std::expected<PlacementNode, int> FetchNode(const Invocation& inv, MetaRun& run,
                                                          PlacementAdmin& admin, std::ostream& err) {
  auto nodes = ListNodes(run, admin);
  if (!nodes) return std::unexpected(Failed(nodes.error(), err));
  const PlacementNode* found = FindNode(*nodes, inv.node_id);
  if (found == nullptr) return std::unexpected(NoSuchNode(inv.node_id, err));
  return *found;
}

int RunList(const Invocation& inv, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  MetaRun run(inv, admin, inv.global.timeout);
  auto nodes = ListNodes(run, admin);
  if (!nodes) return Failed(nodes.error(), err);
  out << FormatNodes(*nodes, inv.global.format);
  return kExitOk;
}

int RunExplain(const Invocation& inv, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  MetaRun run(inv, admin, inv.global.timeout);
  auto lines = run.Call<std::vector<std::string>>([&](const std::string& address, milliseconds timeout) {
    return admin.Explain(address, inv.shard_id, timeout);
  });
  if (!lines) {
    if (IsNotFoundError(lines.error())) return NotFound(lines.error(), "clawctl shard list", err);
    return Failed(lines.error(), err);
  }
  out << FormatExplain(inv.shard_id, *lines, inv.global.format);
  return kExitOk;
}

// Contract 6: polls the node table until `id` holds nothing or the deadline passes.
int WaitDrained(const Invocation& inv, MetaRun& run, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  const std::string prefix = "clawctl: node " + std::to_string(inv.node_id) + ": ";
  const std::string again = "the drain goes on in the background: run `clawctl node drain " +
                            std::to_string(inv.node_id) + " --wait` again to keep waiting\n";
  std::optional<std::pair<uint64_t, uint64_t>> shown;  // the counts last printed
  while (true) {
    auto nodes = ListNodes(run, admin);
    if (!nodes) {
      Failed(nodes.error(), err);
      err << prefix << "stopped waiting; " << again;
      return kExitFailed;
    }
    const PlacementNode* node = FindNode(*nodes, inv.node_id);
    if (node == nullptr) {
      err << prefix << "no longer in the node table (see `clawctl node list`)\n";
      return kExitFailed;
    }
    if (node->replicas == 0 && node->leaders == 0) {
      err << prefix << "drained: no replica or leadership left; remove it for good with `clawctl node remove "
          << inv.node_id << "`\n";
      out << FormatNodes({*node}, inv.global.format);
      return kExitOk;
    }
    const std::pair<uint64_t, uint64_t> counts{node->replicas, node->leaders};
    if (shown != counts) {
      ProgressStream(inv, err) << prefix << Counts(*node) << " left" << (node->dead ? " (the node is dead)" : "") << '\n';
      shown = counts;
    }
    if (!run.Expired()) admin.Sleep(std::min(kDrainPollInterval, run.Left()));
    if (run.Expired()) {
      err << prefix << "still " << Counts(*node) << " left when the --command-timeout ran out; " << again;
      return kExitFailed;
    }
  }
}

int RunDrain(const Invocation& inv, PlacementAdmin& admin, Interactive interactive, std::istream& in,
             std::ostream& out, std::ostream& err) {
  if (!inv.yes && interactive == Interactive::kNo) {
    return NeedsYes(inv.command == Command::kNodeDrain ? "node drain" : "node remove", err);
  }
  MetaRun run(inv, admin, inv.command_timeout.value_or(inv.wait ? kDrainWaitTimeout : inv.global.timeout));
  auto fetched = FetchNode(inv, run, admin, err);
  if (!fetched) return fetched.error();
  PlacementNode node = *fetched;
  const std::string id = std::to_string(inv.node_id);
  if (node.state == PlacementNode::State::kRemoved) {
    err << "Error: node " << id << " was removed from the cluster; there is nothing to drain (see `clawctl "
        << "node list`)\n";
    return kExitNotFound;
  }
  if (node.state == PlacementNode::State::kDraining) {
    err << "clawctl: node " << id << " is draining already\n";
  } else {
    const std::string question = "Drain " + Describe(node) + ", moving its " + Counts(node) +
                                 " to other nodes?";
    if (Confirm(inv, interactive, question, in, err) == Consent::kRefused) return kExitUsage;
    auto drained = run.Call<PlacementNode>([&](const std::string& address, milliseconds timeout) {
      return admin.DrainNode(address, inv.node_id, timeout);
    });
    if (!drained) {
      if (IsNotFoundError(drained.error())) return NotFound(drained.error(), "clawctl node list", err);
      return Failed(drained.error(), err);
    }
    node.state = drained->state == PlacementNode::State::kUnspecified ? PlacementNode::State::kDraining
                                                                      : drained->state;
    err << "clawctl: node " << id << " is draining: the placement service moves its replicas and "
        << "leaderships to other nodes\n";
  }
  if (inv.wait) return WaitDrained(inv, run, admin, out, err);
  err << "clawctl: follow it with `clawctl node list` or `clawctl node drain " << id << " --wait`; once it "
      << "holds nothing, `clawctl node remove " << id << "`\n";
  out << FormatNodes({node}, inv.global.format);
  return kExitOk;
}

int RunRemove(const Invocation& inv, PlacementAdmin& admin, Interactive interactive, std::istream& in,
              std::ostream& out, std::ostream& err) {
  if (!inv.yes && interactive == Interactive::kNo) {
    return NeedsYes(inv.command == Command::kNodeDrain ? "node drain" : "node remove", err);
  }
  MetaRun run(inv, admin, inv.command_timeout.value_or(inv.global.timeout));
  auto fetched = FetchNode(inv, run, admin, err);
  if (!fetched) return fetched.error();
  PlacementNode node = *fetched;
  const std::string id = std::to_string(inv.node_id);
  if (node.state == PlacementNode::State::kRemoved) {
    err << "clawctl: node " << id << " is removed already\n";
    out << FormatNodes({node}, inv.global.format);
    return kExitOk;
  }
  std::string question = "Remove " + Describe(node) + " from the cluster for good?";
  if (node.replicas > 0) question += " (the directory still places " + Counts(node) + " on it)";
  if (Confirm(inv, interactive, question, in, err) == Consent::kRefused) return kExitUsage;
  auto removed = run.Call<PlacementNode>([&](const std::string& address, milliseconds timeout) {
    return admin.RemoveNode(address, inv.node_id, timeout);
  });
  if (!removed) {
    const Error& error = removed.error();
    if (IsNotFoundError(error)) return NotFound(error, "clawctl node list", err);
    if (IsFailedPreconditionError(error)) {
      err << "Error: node " << id << " cannot be removed: " << error.message << '\n'
          << "hint: drain it first: clawctl node drain " << id << " --wait\n";
      return kExitFailed;
    }
    return Failed(error, err);
  }
  node.state = removed->state == PlacementNode::State::kUnspecified ? PlacementNode::State::kRemoved
                                                                    : removed->state;
  err << "clawctl: node " << id << " is removed from the cluster\n";
  out << FormatNodes({node}, inv.global.format);
  return kExitOk;
}

// member add: Placement.Join with the node's name, addresses and locality. Join is idempotent for
// the same name and peer address, so retries (MetaRun) are harmless.
int RunMemberAdd(const Invocation& inv, PlacementAdmin& admin, std::ostream& out, std::ostream& err) {
  MetaRun run(inv, admin, inv.global.timeout);
  const PlacementNode asked{.name = inv.member_name,
                            .client_address = inv.client_address,
                            .peer_address = inv.peer_address,
                            .zone = inv.zone,
                            .rack = inv.rack,
                            .host = inv.host};
  auto joined = run.Call<PlacementNode>(
      [&](const std::string& address, milliseconds timeout) { return admin.Join(address, asked, timeout); });
  if (!joined) {
    if (joined.error().code == ErrorCode::kAlreadyExists) {
      err << "Error: " << joined.error().message << " (see `clawctl member list`)\n";
      return kExitFailed;
    }
    return Failed(joined.error(), err);
  }
  std::string endpoints;
  for (const std::string& e : inv.global.endpoints) endpoints += (endpoints.empty() ? "" : ", ") + e;
  err << "clawctl: " << Describe(*joined) << " is a member; start it with (clawd config) name: " << joined->name
      << ", advertise_peer_addr: " << joined->peer_address << ", join: [" << endpoints << "]"
      << (joined->zone.empty() ? "" : ", zone: " + joined->zone) << "\n";
  out << FormatNodes({*joined}, inv.global.format);
  return kExitOk;
}

std::string_view StateName(PlacementNode::State state) {
  switch (state) {
    case PlacementNode::State::kUp: return "UP";
    case PlacementNode::State::kDraining: return "DRAINING";
    case PlacementNode::State::kRemoved: return "REMOVED";
    case PlacementNode::State::kUnspecified: break;
  }
  return "STATE_UNSPECIFIED";
}

std::string Dash(const std::string& text) { return text.empty() ? std::string("-") : text; }

}  // namespace

std::string NodeStateText(const PlacementNode& node) {
  if (!node.dead) return std::string(StateName(node.state));
  if (node.state == PlacementNode::State::kUp) return "DEAD";
  return std::string(StateName(node.state)) + ",DEAD";
}

std::string FormatAge(uint64_t ms) {
  if (ms < 10'000) return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + "s";
  const uint64_t seconds = ms / 1000;
  if (seconds < 60) return std::to_string(seconds) + "s";
  auto two = [](uint64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  if (seconds < 3600) return std::to_string(seconds / 60) + "m" + two(seconds % 60) + "s";
  return std::to_string(seconds / 3600) + "h" + two(seconds / 60 % 60) + "m";
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + "B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  // One decimal below 10 ("1.5GiB"), whole units above ("20GiB"); truncated, never rounded up
  // past what is there.
  if (value < 10) {
    std::snprintf(text, sizeof text, "%.1f%s", static_cast<double>(static_cast<uint64_t>(value * 10)) / 10,
                  kUnits[unit]);
  } else {
    std::snprintf(text, sizeof text, "%llu%s", static_cast<unsigned long long>(value), kUnits[unit]);
  }
  return text;
}

std::string FormatNodes(const std::vector<PlacementNode>& nodes, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    Table table({"ID", "NAME", "STATE", "ZONE/RACK/HOST", "ADDRESS", "REPLICAS", "LEADERS", "HEARTBEAT",
                 "DISK_USED", "DISK_FREE"});
    for (const PlacementNode& n : nodes) {
      const bool heard = n.last_heartbeat_ms_ago.has_value();
      const bool disk = heard && (n.disk_used_bytes != 0 || n.disk_free_bytes != 0);
      table.AddRow({std::to_string(n.node_id), Dash(n.name), NodeStateText(n),
                    Dash(n.zone) + "/" + Dash(n.rack) + "/" + Dash(n.host), Dash(n.client_address),
                    std::to_string(n.replicas), std::to_string(n.leaders),
                    heard ? FormatAge(*n.last_heartbeat_ms_ago) : "-", disk ? FormatBytes(n.disk_used_bytes) : "-",
                    disk ? FormatBytes(n.disk_free_bytes) : "-"});
    }
    std::ostringstream out;
    table.Print(out, format);
    return out.str();
  }
  JsonWriter json;
  json.BeginObject().Key("nodes").BeginArray();
  for (const PlacementNode& n : nodes) {
    json.BeginObject().Key("node_id").Uint64(n.node_id).Key("name").String(n.name);
    json.Key("state").String(StateName(n.state)).Key("dead").Bool(n.dead);
    json.Key("client_address").String(n.client_address).Key("peer_address").String(n.peer_address);
    json.Key("zone").String(n.zone).Key("rack").String(n.rack).Key("host").String(n.host);
    json.Key("capacity_bytes").Uint64(n.capacity_bytes);
    json.Key("replicas").Uint64(n.replicas).Key("leaders").Uint64(n.leaders);
    if (n.last_heartbeat_ms_ago) {
      json.Key("last_heartbeat_ms_ago").Uint64(*n.last_heartbeat_ms_ago);
      json.Key("load").BeginObject().Key("replicas").Uint64(n.reported_replicas);
      json.Key("leaders").Uint64(n.reported_leaders).Key("bytes").Uint64(n.bytes);
      json.Key("disk_used_bytes").Uint64(n.disk_used_bytes).Key("disk_free_bytes").Uint64(n.disk_free_bytes);
      json.EndObject();
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.str() + "\n";
}

std::string FormatExplain(uint64_t shard_id, const std::vector<std::string>& lines, OutputFormat format) {
  if (format != OutputFormat::kJson) {
    std::string text;
    for (const std::string& line : lines) text += Escape(line) + "\n";
    return text;
  }
  JsonWriter json;
  json.BeginObject().Key("shard_id").Uint64(shard_id).Key("lines").BeginArray();
  for (const std::string& line : lines) json.String(Escape(line));
  json.EndArray().EndObject();
  return json.str() + "\n";
}

int RunNodeCommand(const Invocation& inv, PlacementAdmin& admin, Interactive interactive, std::istream& in,
                   std::ostream& out, std::ostream& err) {
  switch (inv.command) {
    case Command::kNodeList: return RunList(inv, admin, out, err);
    case Command::kNodeDrain: return RunDrain(inv, admin, interactive, in, out, err);
    case Command::kNodeRemove: return RunRemove(inv, admin, interactive, in, out, err);
    case Command::kMemberAdd: return RunMemberAdd(inv, admin, out, err);
    case Command::kPlacementExplain: return RunExplain(inv, admin, out, err);
    default: return kExitUsage;
  }
}

}  // namespace claw::clawctl
