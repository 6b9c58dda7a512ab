// clawctl's node and placement commands (node list, node drain, node remove, placement explain)
// against an in-memory placement service with a fake clock: finding the meta leader through
// NOT_LEADER redirects (bounded), retries while there is none or an endpoint is down, refusals
// and their exit codes, drain --wait's progress lines and its timeout, the table and JSON
// output, the --yes / [y/N] confirmation, and bad command lines.

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/support/status_code_enum.h>

#include "tests/tools/clawctl_test_util.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/node_commands.h"

namespace claw::clawctl::testing {
namespace {

// The placement service of a cluster of nodes 1..n as clawd's PlacementService answers: only the
// meta leader serves; other nodes answer NOT_LEADER naming the leader when they know one (else
// with retry_after_ms 500); a down node UNAVAILABLE. DrainNode of an unknown or removed node and
// RemoveNode of an unknown one: NOT_FOUND; RemoveNode while replicas remain: FAILED_PRECONDITION.
// Time is fake: Sleep advances Now.
class FakePlacement final : public FakeClockAdmin<PlacementAdmin> {
 public:
  FakePlacement(int n, uint64_t meta_leader) : leader(meta_leader) {
    for (int i = 1; i <= n; ++i) {
      PlacementNode node;
      node.node_id = static_cast<uint64_t>(i);
      node.name = "n" + std::to_string(i);
      node.client_address = AddressOf(node.node_id);
      node.peer_address = "node" + std::to_string(i) + ":7380";
      node.zone = "z" + std::to_string((i + 1) / 2);
      node.state = PlacementNode::State::kUp;
      node.replicas = 3;
      node.leaders = 1;
      node.last_heartbeat_ms_ago = 300;
      node.reported_replicas = 3;
      node.reported_leaders = 1;
      node.disk_used_bytes = 3ULL << 29;   // 1.5 GiB
      node.disk_free_bytes = 20ULL << 30;  // 20 GiB
      nodes[node.node_id] = node;
    }
  }

  uint64_t leader = 0;           // the meta leader; 0 = none (an election)
  bool followers_know_leader = true;
  std::map<uint64_t, uint64_t> stale_hints{};  // node -> the (wrong) leader it names
  std::set<uint64_t> down{};                   // nodes that answer UNAVAILABLE
  std::map<uint64_t, PlacementNode> nodes{};
  // Replica and leader counts a draining node shows at each ListNodes after its drain.
  std::deque<std::pair<uint64_t, uint64_t>> drain_progress{};
  std::map<uint64_t, std::vector<std::string>> explain{};
  // Effects run just before the call with this index (0-based, over every RPC), e.g. an election.
  std::map<size_t, std::function<void(FakePlacement&)>> at_call{};
  std::deque<Error> faults{};     // answers of the leader to its next calls, in order
  std::vector<std::string> calls{};  // "ListNodes @2", "DrainNode 3 @2", ...

  client::Result<std::vector<PlacementNode>> ListNodes(const std::string& address, Timeout) override {
    if (auto refused = Answer("ListNodes", address)) return std::unexpected(*refused);
    std::vector<PlacementNode> out;
    for (auto& [id, node] : nodes) {
      if (node.state == PlacementNode::State::kDraining && !drain_progress.empty()) {
        node.replicas = drain_progress.front().first;
        node.leaders = drain_progress.front().second;
        drain_progress.pop_front();
      }
      out.push_back(node);
    }
    return out;
  }

  client::Result<PlacementNode> DrainNode(const std::string& address, uint64_t node_id, Timeout) override {
    if (auto refused = Answer("DrainNode " + std::to_string(node_id), address)) return std::unexpected(*refused);
    auto it = nodes.find(node_id);
    if (it == nodes.end() || it->second.state == PlacementNode::State::kRemoved) {
      return std::unexpected(NotFound("node " + std::to_string(node_id) +
                                      (it == nodes.end() ? " is not a member" : " was removed")));
    }
    it->second.state = PlacementNode::State::kDraining;
    return Record(it->second);
  }

  client::Result<PlacementNode> RemoveNode(const std::string& address, uint64_t node_id, Timeout) override {
    if (auto refused = Answer("RemoveNode " + std::to_string(node_id), address)) return std::unexpected(*refused);
    auto it = nodes.find(node_id);
    if (it == nodes.end()) return std::unexpected(NotFound("node " + std::to_string(node_id) + " is not a member"));
    if (it->second.replicas > 0) {
      const std::string id = std::to_string(node_id);
      return std::unexpected(Error{.code = ErrorCode::kFailedPrecondition,
                                   .message = "node " + id + " still holds " + std::to_string(it->second.replicas) +
                                              " replicas (shards 1, 2, 3): drain it first (clawctl node drain " +
                                              id + ") and wait until it holds none",
                                   .grpc_code = static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION)});
    }
    it->second.state = PlacementNode::State::kRemoved;
    return Record(it->second);
  }

  client::Result<std::vector<std::string>> Explain(const std::string& address, uint64_t shard_id,
                                                   Timeout) override {
    if (auto refused = Answer("Explain " + std::to_string(shard_id), address)) return std::unexpected(*refused);
    auto it = explain.find(shard_id);
    if (it == explain.end()) {
      return std::unexpected(NotFound("shard " + std::to_string(shard_id) + " is not in the directory"));
    }
    return it->second;
  }

  // As PlacementService::Join: a live node of the same name and peer address is answered as it
  // is; a name or peer address of another live node is ALREADY_EXISTS; else a new id.
  client::Result<PlacementNode> Join(const std::string& address, const PlacementNode& node, Timeout) override {
    if (auto refused = Answer("Join " + node.name, address)) return std::unexpected(*refused);
    uint64_t next_id = 1;
    for (const auto& [id, n] : nodes) {
      next_id = std::max(next_id, id + 1);
      if (n.state == PlacementNode::State::kRemoved) continue;
      if (n.name == node.name && n.peer_address == node.peer_address) return Record(n);
      if (n.name == node.name || n.peer_address == node.peer_address) {
        return std::unexpected(Error{.code = ErrorCode::kAlreadyExists,
                                     .message = "the name or peer address belongs to node " + std::to_string(id),
                                     .grpc_code = static_cast<int>(grpc::StatusCode::ALREADY_EXISTS)});
      }
    }
    PlacementNode joined = node;
    joined.node_id = next_id;
    joined.state = PlacementNode::State::kUp;
    nodes[next_id] = joined;
    return Record(joined);
  }

  // The rules commands are tested against their own fake (clawctl_rules_test.cc).
  client::Result<PlacementRules> GetRules(const std::string&, Timeout) override {
    return NotInThisFake();
  }
  client::Result<PlacementRules> SetRules(const std::string&, const PlacementRules&, Timeout) override {
    return NotInThisFake();
  }

 private:
  static Error NotFound(std::string message) {
    return Error{.code = ErrorCode::kNotFound, .message = std::move(message),
                 .grpc_code = static_cast<int>(grpc::StatusCode::NOT_FOUND)};
  }
  static PlacementNode Record(PlacementNode node) {
    PlacementNode record;
    record.node_id = node.node_id;
    record.name = node.name;
    record.client_address = node.client_address;
    record.peer_address = node.peer_address;
    record.zone = node.zone;
    record.state = node.state;
    return record;
  }
  // Records the call; the refusal of the node at `address` unless it leads and has no fault.
  std::optional<Error> Answer(const std::string& what, const std::string& address) {
    if (auto effect = at_call.find(calls.size()); effect != at_call.end()) effect->second(*this);
    const uint64_t node = NodeOf(address);
    calls.push_back(what + " @" + std::to_string(node));
    if (down.contains(node) || !nodes.contains(node)) {
      return Error{.code = ErrorCode::kUnavailable, .message = "failed to connect to all addresses"};
    }
    if (node != leader) {
      Error e = NotMetaLeader(node);
      uint64_t hint = followers_know_leader ? leader : 0;
      if (auto stale = stale_hints.find(node); stale != stale_hints.end()) hint = stale->second;
      if (hint != 0) {
        e.leader_node_id = hint;
        e.leader_address = AddressOf(hint);
      } else {
        e.retry_after_ms = 500;
      }
      return e;
    }
    if (!faults.empty()) {
      Error fault = faults.front();
      faults.pop_front();
      return fault;
    }
    return std::nullopt;
  }
};

// Runs clawctl with `args` (endpoints node1, node2, node3 unless given) against `admin`.
Run RunOn(FakePlacement& admin, std::vector<std::string> args, Interactive interactive = Interactive::kNo,
          const std::string& stdin_text = "") {
  auto inv = ParseArgs(args, "node1:7379,node2:7379,node3:7379");
  REQUIRE(inv);
  return Capture(
      [&](std::istream& in, std::ostream& out, std::ostream& err) {
        return RunNodeCommand(*inv, admin, interactive, in, out, err);
      },
      stdin_text);
}

}  // namespace

TEST_CASE("clawctl node and placement commands: arguments", "[tools]") {
  auto parse = [](std::vector<std::string> args) { return ParseArgs(args, nullptr); };
  auto drain = parse({"node", "drain", "3", "--wait", "--yes", "--command-timeout", "2m"});
  REQUIRE(drain);
  CHECK(drain->command == Command::kNodeDrain);
  CHECK(drain->node_id == 3);
  CHECK(drain->wait);
  CHECK(drain->yes);
  CHECK(drain->command_timeout == milliseconds(120'000));
  auto remove = parse({"node", "remove", "4"});
  REQUIRE(remove);
  CHECK(remove->command == Command::kNodeRemove);
  CHECK(remove->node_id == 4);
  CHECK_FALSE(remove->yes);
  CHECK(parse({"node", "list"})->command == Command::kNodeList);
  auto explain = parse({"-w", "json", "placement", "explain", "7"});
  REQUIRE(explain);
  CHECK(explain->command == Command::kPlacementExplain);
  CHECK(explain->shard_id == 7);
  CHECK(explain->global.format == OutputFormat::kJson);

  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"node"}, "'node' wants a subcommand: list, drain, remove"},
      {{"node", "frob"}, "'node' wants a subcommand: list, drain, remove"},
      {{"node", "drain"}, "usage: clawctl node drain N [--wait] [--yes] [--command-timeout D]"},
      {{"node", "drain", "1", "2"}, "usage: clawctl node drain N [--wait] [--yes] [--command-timeout D]"},
      {{"node", "drain", "0"}, "node N wants a node id (a number > 0, see `clawctl node list`), not '0'"},
      {{"node", "remove", "n3"}, "node N wants a node id (a number > 0, see `clawctl node list`), not 'n3'"},
      {{"node", "remove", "3", "--wait"}, "option --wait does not apply to 'node remove'"},
      {{"node", "list", "--yes"}, "option --yes does not apply to 'node list'"},
      {{"node", "list", "3"}, "usage: clawctl node list"},
      {{"node", "drain", "3", "--command-timeout", "soon"},
       "--command-timeout wants a positive duration like 60s or 2m, not 'soon'"},
      {{"placement"}, "'placement' wants a subcommand: explain SHARD, rules, rule set, rule delete"},
      {{"placement", "explain"}, "usage: clawctl placement explain SHARD"},
      {{"placement", "explain", "x"}, "shard ID wants a number > 0 (see `clawctl shard list`), not 'x'"},
      {{"placement", "explain", "2", "--wait"}, "option --wait does not apply to 'placement explain'"},
  };
  for (const auto& [args, message] : bad) {
    auto inv = parse(args);
    REQUIRE_FALSE(inv);
    CHECK(inv.error() == message);
  }

  // Help: each command has its own; the usage lists them.
  auto help = parse({"node", "drain", "--help"});
  REQUIRE(help);
  CHECK(help->command == Command::kHelp);
  CHECK(help->help_topic == Command::kNodeDrain);
  CHECK(std::string(HelpText(Command::kNodeDrain)).find("--wait") != std::string::npos);
  CHECK(parse({"help", "placement", "explain"})->help_topic == Command::kPlacementExplain);
  for (Command topic : {Command::kNodeList, Command::kNodeDrain, Command::kNodeRemove, Command::kPlacementExplain}) {
    CHECK(HelpText(topic) != UsageText());
    CHECK(HelpText(topic).find("exit codes:") != std::string_view::npos);
  }
  for (const char* line : {"node list", "node drain N [--wait] [--yes]", "node remove N [--yes]",
                           "placement explain SHARD"}) {
    CHECK(UsageText().find(line) != std::string_view::npos);
  }
}

TEST_CASE("clawctl node list: the node table from the meta leader, as a table and as JSON", "[tools]") {
  FakePlacement admin(4, 2);
  admin.nodes[3].state = PlacementNode::State::kDraining;
  admin.nodes[4].dead = true;
  admin.nodes[4].last_heartbeat_ms_ago = 312'000;
  admin.nodes[4].rack = "r4";
  admin.nodes[4].host = "h4";
  admin.nodes[1].last_heartbeat_ms_ago.reset();  // not heard from since the meta leader took over
  admin.nodes[1].disk_used_bytes = 0;
  admin.nodes[1].disk_free_bytes = 0;
  Run table = RunOn(admin, {"node", "list"});
  CHECK(table.code == kExitOk);
  // Node 1 redirects to node 2, the meta leader.
  CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @2"}));
  CHECK(table.out ==
        "ID  NAME  STATE     ZONE/RACK/HOST  ADDRESS     REPLICAS  LEADERS  HEARTBEAT  DISK_USED  DISK_FREE\n"
        "1   n1    UP        z1/-/-          node1:7379  3         1        -          -          -\n"
        "2   n2    UP        z1/-/-          node2:7379  3         1        0.3s       1.5GiB     20GiB\n"
        "3   n3    DRAINING  z2/-/-          node3:7379  3         1        0.3s       1.5GiB     20GiB\n"
        "4   n4    DEAD      z2/r4/h4        node4:7379  3         1        5m12s      1.5GiB     20GiB\n");
  CHECK(table.err.empty());

  Run json = RunOn(admin, {"-w", "json", "node", "list"});
  CHECK(json.code == kExitOk);
  // The second command starts afresh: node 1 again, then the leader.
  CHECK(json.out.starts_with(
      R"({"nodes":[{"node_id":"1","name":"n1","state":"UP","dead":false,"client_address":"node1:7379",)"
      R"("peer_address":"node1:7380","zone":"z1","rack":"","host":"","capacity_bytes":"0","replicas":"3",)"
      R"("leaders":"1"},{"node_id":"2",)"));
  CHECK(json.out.find(R"("last_heartbeat_ms_ago":"300","load":{"replicas":"3","leaders":"1","bytes":"0",)"
                      R"("disk_used_bytes":"1610612736","disk_free_bytes":"21474836480"}})") != std::string::npos);
  CHECK(json.out.find(R"("node_id":"3","name":"n3","state":"DRAINING","dead":false)") != std::string::npos);
  CHECK(json.out.find(R"("node_id":"4","name":"n4","state":"UP","dead":true)") != std::string::npos);
  CHECK(json.out.ends_with("}]}\n"));
}

TEST_CASE("clawctl node commands: state, age and size formats", "[tools]") {
  PlacementNode node;
  node.state = PlacementNode::State::kUp;
  CHECK(NodeStateText(node) == "UP");
  node.dead = true;
  CHECK(NodeStateText(node) == "DEAD");
  node.state = PlacementNode::State::kDraining;
  CHECK(NodeStateText(node) == "DRAINING,DEAD");
  node.dead = false;
  CHECK(NodeStateText(node) == "DRAINING");
  node.state = PlacementNode::State::kRemoved;
  CHECK(NodeStateText(node) == "REMOVED");

  CHECK(FormatAge(0) == "0.0s");
  CHECK(FormatAge(345) == "0.3s");
  CHECK(FormatAge(9'999) == "9.9s");
  CHECK(FormatAge(12'500) == "12s");
  CHECK(FormatAge(245'000) == "4m05s");
  CHECK(FormatAge(7'980'000) == "2h13m");

  CHECK(FormatBytes(0) == "0B");
  CHECK(FormatBytes(1023) == "1023B");
  CHECK(FormatBytes(1536) == "1.5KiB");
  CHECK(FormatBytes(10ULL << 20) == "10MiB");
  CHECK(FormatBytes((20ULL << 30) - 1) == "19GiB");
  CHECK(FormatBytes(~0ULL) == "16EiB");
}

TEST_CASE("clawctl node commands find the meta leader: redirects, down endpoints, elections", "[tools]") {
  SECTION("a down endpoint: the next one") {
    FakePlacement admin(3, 3);
    admin.down = {1};
    CHECK(RunOn(admin, {"node", "list"}).code == kExitOk);
    CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @2", "ListNodes @3"}));
    CHECK(admin.slept == milliseconds(0));
  }
  SECTION("a leader outside the endpoints is reached through the redirect") {
    FakePlacement admin(5, 5);
    CHECK(RunOn(admin, {"node", "list"}).code == kExitOk);
    CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @5"}));
  }
  SECTION("no leader during an election: retried after the server's retry_after_ms") {
    FakePlacement admin(3, 0);
    admin.at_call[6] = [](FakePlacement& a) { a.leader = 2; };
    Run run = RunOn(admin, {"node", "list"});
    CHECK(run.code == kExitOk);
    // Two rounds over the three endpoints, 500 ms apart each, then node 1 names the new leader.
    CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @2", "ListNodes @3", "ListNodes @1", "ListNodes @2",
                                "ListNodes @3", "ListNodes @1", "ListNodes @2"}));
    CHECK(admin.slept == milliseconds(1000));
  }
  SECTION("no leader within --timeout: NOT_LEADER, exit 1") {
    FakePlacement admin(3, 0);
    Run run = RunOn(admin, {"--timeout", "3s", "node", "list"});
    CHECK(run.code == kExitFailed);
    CHECK(run.err.starts_with("Error: NOT_LEADER: node 3 does not lead the meta shard\n"
                              "hint: the meta shard, which runs the placement service, has no leader"));
    CHECK(admin.slept == milliseconds(3000));
    CHECK(run.out.empty());
  }
  SECTION("redirects that go round in circles are bounded") {
    FakePlacement admin(4, 4);
    admin.stale_hints = {{1, 2}, {2, 1}, {3, 1}};
    Run run = RunOn(admin, {"--timeout", "1s", "node", "list"});
    CHECK(run.code == kExitFailed);
    // The first round: 1 -> 2 -> 1 -> 2 (three redirects), then node 2 and node 3 alone.
    const std::vector<std::string> first(admin.calls.begin(), admin.calls.begin() + 6);
    CHECK(first == Calls({"ListNodes @1", "ListNodes @2", "ListNodes @1", "ListNodes @2", "ListNodes @2",
                          "ListNodes @3"}));
    CHECK(run.err.find("NOT_LEADER") != std::string::npos);
    CHECK(run.err.find("hint: the leader is node 1 at node1:7379") != std::string::npos);
  }
  SECTION("the leader moves while a drain waits: the new one is found") {
    FakePlacement admin(4, 1);
    admin.drain_progress = {{2, 1}, {1, 0}, {0, 0}};
    admin.at_call[3] = [](FakePlacement& a) { a.leader = 3; };
    admin.at_call[5] = [](FakePlacement& a) { a.faults.push_back(Error{.code = ErrorCode::kOverloaded,
                                                                        .message = "busy"}); };
    Run run = RunOn(admin, {"node", "drain", "4", "--wait", "--yes"});
    CHECK(run.code == kExitOk);
    // Node 1 (asked first, having answered before) names node 3; node 3 is asked directly from
    // then on, also after its OVERLOADED answer (retried after a back-off).
    CHECK(admin.calls == Calls({"ListNodes @1", "DrainNode 4 @1", "ListNodes @1", "ListNodes @1", "ListNodes @3",
                                "ListNodes @3", "ListNodes @3"}));
    CHECK(run.err.find("clawctl: node 4: 1 replica, 0 leaders left\n") != std::string::npos);
    CHECK(admin.slept == 2 * kDrainPollInterval + milliseconds(50));
  }
  SECTION("an error no other node can help with fails at once") {
    FakePlacement admin(3, 1);
    admin.faults.push_back(Error{.code = ErrorCode::kUnimplemented, .message = "unknown service claw.v1.Placement"});
    Run run = RunOn(admin, {"node", "list"});
    CHECK(run.code == kExitFailed);
    CHECK(run.err == "Error: UNIMPLEMENTED: unknown service claw.v1.Placement\n");
    CHECK(admin.calls.size() == 1);
    CHECK(admin.slept == milliseconds(0));
  }
}

TEST_CASE("clawctl node drain --wait prints what is left until the node holds nothing", "[tools]") {
  FakePlacement admin(4, 2);
  admin.nodes[3].replicas = 4;
  admin.nodes[3].leaders = 2;
  admin.drain_progress = {{4, 2}, {3, 1}, {3, 1}, {1, 0}, {0, 0}};
  Run run = RunOn(admin, {"node", "drain", "3", "--wait", "--yes"});
  CHECK(run.code == kExitOk);
  CHECK(run.err ==
        "clawctl: node 3 is draining: the placement service moves its replicas and leaderships to other nodes\n"
        "clawctl: node 3: 4 replicas, 2 leaders left\n"
        "clawctl: node 3: 3 replicas, 1 leader left\n"
        "clawctl: node 3: 1 replica, 0 leaders left\n"
        "clawctl: node 3: drained: no replica or leadership left; remove it for good with `clawctl node remove 3`\n");
  CHECK(run.out ==
        "ID  NAME  STATE     ZONE/RACK/HOST  ADDRESS     REPLICAS  LEADERS  HEARTBEAT  DISK_USED  DISK_FREE\n"
        "3   n3    DRAINING  z2/-/-          node3:7379  0         0        0.3s       1.5GiB     20GiB\n");
  CHECK(admin.slept == 4 * kDrainPollInterval);
  CHECK(admin.calls[2] == "DrainNode 3 @2");

  // Again, as JSON: it drains already (no DrainNode sent) and holds nothing: done at once.
  admin.calls.clear();
  Run json = RunOn(admin, {"-w", "json", "node", "drain", "3", "--wait", "--yes"});
  CHECK(json.code == kExitOk);
  CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @2", "ListNodes @2"}));
  CHECK(json.err.starts_with("clawctl: node 3 is draining already\nclawctl: node 3: drained"));
  CHECK(json.out.starts_with(R"({"nodes":[{"node_id":"3","name":"n3","state":"DRAINING","dead":false,)"));
  CHECK(json.out.find(R"("replicas":"0","leaders":"0")") != std::string::npos);
}

TEST_CASE("clawctl node drain --wait prints no progress when stderr is not a terminal", "[tools]") {
  FakePlacement admin(4, 2);
  admin.nodes[3].replicas = 2;
  admin.drain_progress = {{2, 1}, {1, 0}, {0, 0}};
  auto inv = ParseArgs({"node", "drain", "3", "--wait", "--yes"}, "node1:7379,node2:7379,node3:7379");
  REQUIRE(inv);
  inv->global.progress = false;
  Run run = Capture([&](std::istream& in, std::ostream& out, std::ostream& err) {
    return RunNodeCommand(*inv, admin, Interactive::kNo, in, out, err);
  });
  CHECK(run.code == kExitOk);
  CHECK(run.err ==
        "clawctl: node 3 is draining: the placement service moves its replicas and leaderships to other nodes\n"
        "clawctl: node 3: drained: no replica or leadership left; remove it for good with `clawctl node remove 3`\n");
  CHECK(run.out.find("DRAINING") != std::string::npos);
}

TEST_CASE("clawctl member add registers a node through Placement.Join on the meta leader", "[tools]") {
  FakePlacement admin(3, 2);
  Run run = RunOn(admin, {"member", "add", "n4", "--peer-urls", "node4:7380", "--client-urls", "node4:7379",
                          "--zone", "z3"});
  CHECK(run.code == kExitOk);
  CHECK(admin.calls == Calls({"Join n4 @1", "Join n4 @2"}));
  CHECK(run.out ==
        "ID  NAME  STATE  ZONE/RACK/HOST  ADDRESS     REPLICAS  LEADERS  HEARTBEAT  DISK_USED  DISK_FREE\n"
        "4   n4    UP     z3/-/-          node4:7379  0         0        -          -          -\n");
  CHECK(run.err ==
        "clawctl: node 4 (n4 at node4:7379) is a member; start it with (clawd config) name: n4, "
        "advertise_peer_addr: node4:7380, join: [node1:7379, node2:7379, node3:7379], zone: z3\n");
  REQUIRE(admin.nodes.contains(4));
  CHECK(admin.nodes[4].peer_address == "node4:7380");
  CHECK(admin.nodes[4].zone == "z3");

  // The same again (a retry, or the node joined by itself): the same id, no second node.
  Run again = RunOn(admin, {"-w", "json", "member", "add", "n4", "--peer-urls", "node4:7380", "--client-urls",
                            "node4:7379"});
  CHECK(again.code == kExitOk);
  CHECK(again.out.starts_with(R"({"nodes":[{"node_id":"4","name":"n4","state":"UP",)"));
  CHECK(admin.nodes.size() == 4);

  // Another node's name: refused, exit 1.
  Run taken = RunOn(admin, {"member", "add", "n2", "--peer-urls", "node9:7380", "--client-urls", "node9:7379"});
  CHECK(taken.code == kExitFailed);
  CHECK(taken.err == "Error: the name or peer address belongs to node 2 (see `clawctl member list`)\n");
  CHECK(taken.out.empty());
}

TEST_CASE("clawctl member remove is node remove: it needs --yes without a terminal", "[tools]") {
  FakePlacement admin(4, 1);
  admin.nodes[4].replicas = 0;
  admin.nodes[4].leaders = 0;
  Run refused = RunOn(admin, {"member", "remove", "4"});
  CHECK(refused.code == kExitUsage);
  CHECK(refused.err ==
        "Error: node remove changes the cluster: add --yes to confirm (stdin is not a terminal to ask on)\n");
  CHECK(admin.calls.empty());
  Run removed = RunOn(admin, {"member", "remove", "4", "--yes"});
  CHECK(removed.code == kExitOk);
  CHECK(admin.nodes[4].state == PlacementNode::State::kRemoved);
}

TEST_CASE("clawctl node drain --wait stops at --command-timeout; the drain goes on", "[tools]") {
  FakePlacement admin(4, 1);
  admin.nodes[2].replicas = 5;
  admin.nodes[2].leaders = 0;
  Run run = RunOn(admin, {"node", "drain", "2", "--wait", "--yes", "--command-timeout", "5s"});
  CHECK(run.code == kExitFailed);
  CHECK(run.err.find("clawctl: node 2: 5 replicas, 0 leaders left\n") != std::string::npos);
  CHECK(run.err.ends_with("clawctl: node 2: still 5 replicas, 0 leaders left when the --command-timeout ran out; "
                          "the drain goes on in the background: run `clawctl node drain 2 --wait` again to keep "
                          "waiting\n"));
  CHECK(admin.slept == milliseconds(5000));
  CHECK(run.out.empty());
  CHECK(admin.nodes[2].state == PlacementNode::State::kDraining);

  // The default budget of --wait is 10 minutes; without --wait, --timeout (and no polling).
  FakePlacement slow(4, 1);
  CHECK(RunOn(slow, {"node", "drain", "2", "--wait", "--yes"}).code == kExitFailed);
  CHECK(slow.slept == kDrainWaitTimeout);
  FakePlacement quick(4, 1);
  Run once = RunOn(quick, {"node", "drain", "2", "--yes"});
  CHECK(once.code == kExitOk);
  CHECK(quick.calls == Calls({"ListNodes @1", "DrainNode 2 @1"}));
  CHECK(once.out.find("2   n2    DRAINING  z1/-/-          node2:7379  3         1") != std::string::npos);
  CHECK(once.err.find("`clawctl node drain 2 --wait`") != std::string::npos);
}

TEST_CASE("clawctl node drain and remove need --yes without a terminal and ask [y/N] on one", "[tools]") {
  FakePlacement admin(4, 1);
  SECTION("no terminal, no --yes: exit 2 before any request") {
    for (const auto& args : std::vector<std::vector<std::string>>{{"node", "drain", "3", "--wait"},
                                                                  {"node", "remove", "3"}}) {
      Run run = RunOn(admin, args);
      CHECK(run.code == kExitUsage);
      CHECK(run.err.find("changes the cluster: add --yes to confirm") != std::string::npos);
    }
    CHECK(admin.calls.empty());
  }
  SECTION("a terminal: no changes nothing, y goes ahead") {
    Run no = RunOn(admin, {"node", "drain", "3"}, Interactive::kYes, "n\n");
    CHECK(no.code == kExitUsage);
    CHECK(no.err == "Drain node 3 (n3 at node3:7379), moving its 3 replicas, 1 leader to other nodes? [y/N] "
                    "Error: not confirmed; nothing was changed\n");
    CHECK(admin.calls == Calls({"ListNodes @1"}));
    Run yes = RunOn(admin, {"node", "drain", "3"}, Interactive::kYes, "y\n");
    CHECK(yes.code == kExitOk);
    CHECK(admin.nodes[3].state == PlacementNode::State::kDraining);
    admin.nodes[3].replicas = 0;
    Run remove = RunOn(admin, {"node", "remove", "3"}, Interactive::kYes, "yes\n");
    CHECK(remove.code == kExitOk);
    CHECK(remove.err.starts_with("Remove node 3 (n3 at node3:7379) from the cluster for good? [y/N] "));
    CHECK(admin.nodes[3].state == PlacementNode::State::kRemoved);
  }
}

TEST_CASE("clawctl node remove: refused while replicas remain, with the reason and a hint", "[tools]") {
  FakePlacement admin(4, 2);
  Run refused = RunOn(admin, {"node", "remove", "3", "--yes"});
  CHECK(refused.code == kExitFailed);
  CHECK(refused.err ==
        "Error: node 3 cannot be removed: node 3 still holds 3 replicas (shards 1, 2, 3): drain it first "
        "(clawctl node drain 3) and wait until it holds none\n"
        "hint: drain it first: clawctl node drain 3 --wait\n");
  CHECK(refused.out.empty());
  CHECK(admin.nodes[3].state == PlacementNode::State::kUp);

  // Drained: removed; then again: nothing to do.
  admin.nodes[3].replicas = 0;
  admin.nodes[3].leaders = 0;
  Run removed = RunOn(admin, {"node", "remove", "3", "--yes"});
  CHECK(removed.code == kExitOk);
  CHECK(removed.err == "clawctl: node 3 is removed from the cluster\n");
  CHECK(removed.out.find("3   n3    REMOVED  z2/-/-") != std::string::npos);
  admin.calls.clear();
  Run again = RunOn(admin, {"node", "remove", "3", "--yes"});
  CHECK(again.code == kExitOk);
  CHECK(again.err == "clawctl: node 3 is removed already\n");
  CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @2"}));
  // A removed node cannot be drained.
  Run drain = RunOn(admin, {"node", "drain", "3", "--yes"});
  CHECK(drain.code == kExitNotFound);
  CHECK(drain.err.find("node 3 was removed from the cluster") != std::string::npos);
}

TEST_CASE("clawctl node drain / remove exit 3 for a node the cluster does not know", "[tools]") {
  FakePlacement admin(3, 1);
  for (const auto& args : std::vector<std::vector<std::string>>{{"node", "drain", "9", "--yes"},
                                                                {"node", "remove", "9", "--yes"},
                                                                {"node", "drain", "9", "--wait", "--yes"}}) {
    Run run = RunOn(admin, args);
    CHECK(run.code == kExitNotFound);
    CHECK(run.err == "Error: no node 9 (see `clawctl node list`)\n");
  }
  CHECK(admin.calls == Calls({"ListNodes @1", "ListNodes @1", "ListNodes @1"}));
  // Listed, but gone by the time the change arrives: the server's NOT_FOUND, exit 3.
  admin.at_call[1] = [](FakePlacement& a) { a.nodes.erase(3); };
  admin.calls.clear();
  Run raced = RunOn(admin, {"node", "drain", "3", "--yes"});
  CHECK(raced.code == kExitNotFound);
  CHECK(raced.err == "Error: node 3 is not a member (see `clawctl node list`)\n");
}

TEST_CASE("clawctl node drain retries an answer lost on the way (idempotent)", "[tools]") {
  FakePlacement admin(3, 1);
  // The leader's answer to DrainNode is lost (UNAVAILABLE, outcome unknown): the next endpoint
  // redirects to the leader, which takes the drain again.
  admin.at_call[1] = [](FakePlacement& a) {
    a.faults.push_back(Error{.code = ErrorCode::kUnavailable, .message = "connection reset", .definite = false});
  };
  Run run = RunOn(admin, {"node", "drain", "2", "--yes"});
  CHECK(run.code == kExitOk);
  CHECK(admin.calls == Calls({"ListNodes @1", "DrainNode 2 @1", "DrainNode 2 @2", "DrainNode 2 @1"}));
  CHECK(admin.slept == milliseconds(0));
  CHECK(admin.nodes[2].state == PlacementNode::State::kDraining);
  // Unknown outcome at the end: the error says so.
  FakePlacement lost(3, 1);
  lost.at_call[1] = [](FakePlacement& a) {
    for (int i = 0; i < 1000; ++i) {
      a.faults.push_back(Error{.code = ErrorCode::kUnavailable, .message = "connection reset", .definite = false});
    }
  };
  Run failed = RunOn(lost, {"--timeout", "1s", "node", "drain", "2", "--yes"});
  CHECK(failed.code == kExitFailed);
  CHECK(failed.err.find("note: the outcome is unknown") != std::string::npos);
}

TEST_CASE("clawctl placement explain prints the service's lines", "[tools]") {
  FakePlacement admin(3, 3);
  // The rule line holds the shard's boundary keys as they are (binary): escaped like keys.
  admin.explain[2] = {"shard 2 [\"\", \"\x80\"): rule \"default\"",
                      "  n1: voter, leader; zone z1, rack ?, host ?; up", "placement is optimal"};
  Run table = RunOn(admin, {"placement", "explain", "2"});
  CHECK(table.code == kExitOk);
  CHECK(table.out == "shard 2 [\"\", \"\\x80\"): rule \"default\"\n"
                     "  n1: voter, leader; zone z1, rack ?, host ?; up\n"
                     "placement is optimal\n");
  CHECK(admin.calls == Calls({"Explain 2 @1", "Explain 2 @3"}));
  Run json = RunOn(admin, {"-w", "json", "placement", "explain", "2"});
  CHECK(json.out == R"({"shard_id":"2","lines":["shard 2 [\"\", \"\\x80\"): rule \"default\"",)"
                    R"("  n1: voter, leader; zone z1, rack ?, host ?; up","placement is optimal"]})"
                    "\n");
  Run missing = RunOn(admin, {"placement", "explain", "9"});
  CHECK(missing.code == kExitNotFound);
  CHECK(missing.err == "Error: shard 9 is not in the directory (see `clawctl shard list`)\n");
  CHECK(missing.out.empty());
}

}  // namespace claw::clawctl::testing
