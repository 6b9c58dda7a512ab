// clawctl's etcdctl-shaped surface: global options from flags and CLAWCTL_* variables (flag >
// environment > default), -w simple, --dial-timeout, the endpoint commands (endpoint health,
// endpoint status, config show) against a fake EndpointProbe, member add's parsing, and the bash
// completion script run by a real bash.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/client/fake_cluster.h"
#include "tests/tools/clawctl_test_util.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/commands.h"
#include "tools/clawctl/completion.h"
#include "tools/clawctl/endpoint_commands.h"
#include "tools/clawctl/format.h"

namespace claw::clawctl::testing {
namespace {

std::expected<Invocation, std::string> Parse(std::vector<std::string> args, const Environment& env = {}) {
  return ParseArgs(args, env);
}

std::string ParseError(std::vector<std::string> args, const Environment& env = {}) {
  auto inv = Parse(std::move(args), env);
  REQUIRE_FALSE(inv);
  return inv.error();
}

// Endpoints "nodeN:7379" answer as node N; `down` ones are unreachable, `sick` ones NOT_SERVING.
// Each call takes 2 ms of fake time.
class FakeProbe final : public EndpointProbe {
 public:
  std::set<uint64_t> down{};
  std::set<uint64_t> sick{};

  client::Result<ServingState> Health(const std::string& address, Timeout) override {
    now_ += milliseconds(2);
    if (auto refused = Refuse(address)) return std::unexpected(*refused);
    return sick.contains(NodeOf(address)) ? ServingState::kNotServing : ServingState::kServing;
  }
  client::Result<client::NodeStatus> Status(const std::string& address, Timeout) override {
    if (auto refused = Refuse(address)) return std::unexpected(*refused);
    const uint64_t node = NodeOf(address);
    client::NodeStatus status{.endpoint = address, .node_id = node, .name = "n" + std::to_string(node),
                              .version = "0.1.0", .cluster_id = 77, .uptime_seconds = 42};
    client::ReplicaStatusInfo meta;
    meta.shard.id = 1;
    meta.shard.replicas = {{.node_id = 1, .replica_id = 1}, {.node_id = 2, .replica_id = 2}};
    meta.term = 3;
    meta.leader_node_id = 1;
    meta.is_leader = node == 1;
    meta.commit_index = 20;
    meta.applied_index = 19;
    meta.last_index = 21;
    if (node <= 2) status.replicas.push_back(meta);
    client::ReplicaStatusInfo data;
    data.shard.id = 2;
    data.is_leader = true;
    status.replicas.push_back(data);
    return status;
  }
  client::Result<NodeConfig> Config(const std::string& address, Timeout) override {
    if (auto refused = Refuse(address)) return std::unexpected(*refused);
    const uint64_t node = NodeOf(address);
    return NodeConfig{.node_id = node, .name = "n" + std::to_string(node),
                      .yaml = "name: n" + std::to_string(node) + "\nclient_addr: " + address + "\n"};
  }
  Clock::time_point Now() override { return now_; }

 private:
  std::optional<Error> Refuse(const std::string& address) {
    if (!down.contains(NodeOf(address))) return std::nullopt;
    return Error{.code = ErrorCode::kUnavailable, .message = address + ": failed to connect to all addresses"};
  }
  Clock::time_point now_{};
};

Run RunOn(FakeProbe& probe, std::vector<std::string> args) {
  auto inv = ParseArgs(args, Environment{{"CLAWCTL_ENDPOINTS", "node1:7379,node2:7379,node3:7379"}});
  REQUIRE(inv);
  return Capture([&](std::istream&, std::ostream& out, std::ostream& err) {
    return RunEndpointCommand(*inv, probe, out, err);
  });
}

// Runs `script` with bash (-c) and returns its standard output.
std::string RunBash(const std::string& script) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("clawctl_completion_test_" + std::to_string(::getpid()) + ".sh");
  std::ofstream(file) << script;
  std::string output;
  FILE* pipe = ::popen(("bash " + file.string() + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  std::filesystem::remove(file);
  UNSCOPED_INFO("bash output:\n" << output);
  CHECK(status == 0);
  return output;
}

}  // namespace

TEST_CASE("clawctl global options: flag > CLAWCTL_* variable > default", "[tools]") {
  SECTION("defaults") {
    auto inv = Parse({"get", "k"});
    REQUIRE(inv);
    CHECK(inv->global.endpoints == std::vector<std::string>{"127.0.0.1:7379"});
    CHECK(inv->global.format == OutputFormat::kTable);
    CHECK(inv->global.timeout == kDefaultTimeout);
    CHECK(inv->global.dial_timeout == kDefaultDialTimeout);
    CHECK_FALSE(inv->command_timeout);
    CHECK_FALSE(inv->global.forward);
  }
  const Environment env = {{"CLAWCTL_ENDPOINTS", "e:1,e:2"},      {"CLAWCTL_WRITE_OUT", "simple"},
                           {"CLAWCTL_DIAL_TIMEOUT", "700ms"},     {"CLAWCTL_COMMAND_TIMEOUT", "9s"},
                           {"CLAWCTL_CONSISTENCY", "stale"},      {"CLAWCTL_DURABILITY", "leader"},
                           {"CLAWCTL_FORWARD", "true"}};
  SECTION("the environment over the defaults") {
    auto inv = Parse({"get", "k"}, env);
    REQUIRE(inv);
    CHECK(inv->global.endpoints == std::vector<std::string>{"e:1", "e:2"});
    CHECK(inv->global.format == OutputFormat::kSimple);
    CHECK(inv->global.dial_timeout == milliseconds(700));
    CHECK(inv->command_timeout == milliseconds(9000));
    CHECK(inv->global.timeout == milliseconds(9000));  // get is one request
    CHECK(inv->global.consistency == client::Consistency::kStale);
    CHECK(inv->global.durability == client::Durability::kLeader);
    CHECK(inv->global.forward);
  }
  SECTION("flags over the environment") {
    auto inv = Parse({"get", "k", "--endpoints", "f:1", "-w", "json", "--dial-timeout", "1s",
                      "--command-timeout", "3s", "--consistency", "linearizable", "--durability", "quorum"},
                     env);
    REQUIRE(inv);
    CHECK(inv->global.endpoints == std::vector<std::string>{"f:1"});
    CHECK(inv->global.format == OutputFormat::kJson);
    CHECK(inv->global.dial_timeout == milliseconds(1000));
    CHECK(inv->command_timeout == milliseconds(3000));
    CHECK(inv->global.timeout == milliseconds(3000));
    CHECK(inv->global.consistency == client::Consistency::kLinearizable);
    CHECK(inv->global.durability == client::Durability::kQuorum);
  }
  SECTION("--timeout (CLAWCTL_TIMEOUT) is each request's; multi-step commands keep it apart") {
    auto get = Parse({"get", "k", "--timeout", "2s"}, env);
    REQUIRE(get);
    CHECK(get->global.timeout == milliseconds(2000));
    CHECK(get->command_timeout == milliseconds(9000));
    auto move = Parse({"shard", "move", "2", "--from", "1", "--to", "4", "--command-timeout", "2m"});
    REQUIRE(move);
    CHECK(move->command_timeout == milliseconds(120'000));
    CHECK(move->global.timeout == kDefaultTimeout);
    auto env_timeout = Parse({"get", "k"}, {{"CLAWCTL_TIMEOUT", "750ms"}});
    REQUIRE(env_timeout);
    CHECK(env_timeout->global.timeout == milliseconds(750));
  }
  SECTION("--command-timeout is global: any command takes it") {
    for (std::vector<std::string> args : {std::vector<std::string>{"put", "k", "v", "--command-timeout", "1s"},
                                          {"node", "list", "--command-timeout", "1s"},
                                          {"endpoint", "health", "--command-timeout", "1s"}}) {
      CAPTURE(args);
      CHECK(Parse(args));
    }
  }
  SECTION("an empty or false variable is as unset") {
    auto inv = Parse({"get", "k"}, {{"CLAWCTL_ENDPOINTS", ""}, {"CLAWCTL_FORWARD", "0"}});
    REQUIRE(inv);
    CHECK(inv->global.endpoints == std::vector<std::string>{"127.0.0.1:7379"});
    CHECK_FALSE(inv->global.forward);
  }
  SECTION("bad values name their source") {
    CHECK(ParseError({"get", "k"}, {{"CLAWCTL_WRITE_OUT", "yaml"}}) ==
          "$CLAWCTL_WRITE_OUT must be table, simple or json, not 'yaml'");
    CHECK(ParseError({"get", "k", "-w", "yaml"}) == "-w must be table, simple or json, not 'yaml'");
    CHECK(ParseError({"get", "k"}, {{"CLAWCTL_DIAL_TIMEOUT", "soon"}}) ==
          "$CLAWCTL_DIAL_TIMEOUT wants a positive duration like 2s or 500ms, not 'soon'");
    CHECK(ParseError({"get", "k", "--dial-timeout", "0s"}) ==
          "--dial-timeout wants a positive duration like 2s or 500ms, not '0s'");
    CHECK(ParseError({"get", "k"}, {{"CLAWCTL_FORWARD", "yes"}}) ==
          "$CLAWCTL_FORWARD must be true, false, 1 or 0, not 'yes'");
    CHECK(ParseError({"get", "k"}, {{"CLAWCTL_CONSISTENCY", "eventual"}}) ==
          "$CLAWCTL_CONSISTENCY must be linearizable or stale");
  }
  SECTION("EnvironmentOf reads the CLAWCTL_* variable of every global option, and only those") {
    std::vector<std::string> asked;
    const Environment found = EnvironmentOf([&](const char* name) -> const char* {
      asked.emplace_back(name);
      return std::string_view(name) == "CLAWCTL_DIAL_TIMEOUT" ? "3s" : nullptr;
    });
    CHECK(found == Environment{{"CLAWCTL_DIAL_TIMEOUT", "3s"}});
    for (const char* name : {"CLAWCTL_ENDPOINTS", "CLAWCTL_WRITE_OUT", "CLAWCTL_DIAL_TIMEOUT",
                             "CLAWCTL_COMMAND_TIMEOUT", "CLAWCTL_TIMEOUT", "CLAWCTL_CONSISTENCY",
                             "CLAWCTL_DURABILITY", "CLAWCTL_FORWARD"}) {
      CAPTURE(name);
      CHECK(std::find(asked.begin(), asked.end(), name) != asked.end());
    }
    CHECK(std::find(asked.begin(), asked.end(), "CLAWCTL_HELP") == asked.end());
  }
}

TEST_CASE("clawctl parses the endpoint, member, config, version and completion commands", "[tools]") {
  CHECK(Parse({"endpoint", "health"})->command == Command::kEndpointHealth);
  CHECK(Parse({"endpoint", "status"})->command == Command::kStatus);
  CHECK(Parse({"status"})->command == Command::kStatus);
  CHECK(Parse({"config", "show"})->command == Command::kConfigShow);
  CHECK(Parse({"version"})->command == Command::kVersion);
  CHECK(Parse({"completion", "bash"})->command == Command::kCompletion);
  auto remove = Parse({"member", "remove", "4", "--yes"});
  REQUIRE(remove);
  CHECK(remove->command == Command::kNodeRemove);
  CHECK(remove->node_id == 4);
  CHECK(remove->yes);
  auto add = Parse({"member", "add", "n4", "--peer-urls", "http://10.0.0.4:7380", "--client-urls", "10.0.0.4:7379",
                    "--zone", "z2", "--rack", "r1", "--host", "h4"});
  REQUIRE(add);
  CHECK(add->command == Command::kMemberAdd);
  CHECK(add->member_name == "n4");
  CHECK(add->peer_address == "10.0.0.4:7380");
  CHECK(add->client_address == "10.0.0.4:7379");
  CHECK(add->zone == "z2");
  CHECK(add->rack == "r1");
  CHECK(add->host == "h4");

  CHECK(ParseError({"endpoint"}) == "'endpoint' wants a subcommand: health, status");
  CHECK(ParseError({"endpoint", "hashkv"}) == "'endpoint' wants a subcommand: health, status");
  CHECK(ParseError({"config"}) == "'config' wants a subcommand: show");
  CHECK(ParseError({"member", "promote", "3"}) == "'member' wants a subcommand: list, add, remove");
  CHECK(ParseError({"completion", "zsh"}) == "completion: only bash is supported, not 'zsh'");
  CHECK(ParseError({"completion"}) == "usage: clawctl completion bash");
  CHECK(ParseError({"config", "show", "extra"}) == "usage: clawctl config show");
  CHECK(ParseError({"endpoint", "health", "--yes"}) == "option --yes does not apply to 'endpoint health'");
  CHECK(ParseError({"member", "remove", "x", "--yes"}).starts_with("node N wants a node id"));
  CHECK(ParseError({"member", "add", "n4", "--client-urls", "h:1"}) ==
        "member add needs --peer-urls HOST:PORT (the node's advertise_peer_addr)");
  CHECK(ParseError({"member", "add", "n4", "--peer-urls", "h:1"}) ==
        "member add needs --client-urls HOST:PORT (the node's client address)");
  CHECK(ParseError({"member", "add", "n4", "--peer-urls", "h:1,h:2", "--client-urls", "h:3"}) ==
        "--peer-urls wants one address host:port, not 'h:1,h:2'");
  CHECK(ParseError({"member", "add", "n4", "--peer-urls", "nohost", "--client-urls", "h:3"}) ==
        "--peer-urls wants host:port, not 'nohost'");
  CHECK(ParseError({"member", "add", "bad name", "--peer-urls", "h:1", "--client-urls", "h:3"})
            .starts_with("member NAME must be 1..64 of"));
  CHECK(ParseError({"member", "add", "n4", "--peer-urls", "h:1", "--client-urls", "h:3", "--zone", "a b"})
            .starts_with("--zone: 'a b' is not a locality name"));
  CHECK(ParseError({"put", "k", "v", "--peer-urls", "h:1"}) == "option --peer-urls does not apply to 'put'");
}

TEST_CASE("clawctl: every command of the command table parses to its command", "[tools]") {
  for (const CommandWords& command : AllCommands()) {
    if (command.command == Command::kHelp || command.command == Command::kVersion) continue;
    CAPTURE(command.words);
    std::vector<std::string> args;
    std::string_view rest = command.words;
    while (!rest.empty()) {
      const size_t space = std::min(rest.find(' '), rest.size());
      args.emplace_back(rest.substr(0, space));
      rest.remove_prefix(std::min(space + 1, rest.size()));
    }
    args.push_back("--help");  // no arguments needed: the help topic names the command
    auto inv = Parse(args);
    REQUIRE(inv);
    CHECK(inv->help_topic == command.command);
  }
}

TEST_CASE("clawctl -w simple prints plain lines without a header", "[tools]") {
  client::ShardInfo shard;
  shard.id = 2;
  shard.start_key = "a";
  shard.epoch = {.conf_version = 1, .range_version = 2};
  shard.replicas = {{.node_id = 1, .replica_id = 5}, {.node_id = 2, .replica_id = 6, .learner = true}};
  shard.leader_node_id = 1;
  CHECK(FormatShards({shard}, OutputFormat::kSimple) == "2, a, (end), 1.2, 1,2(learner), 1\n");
  CHECK(FormatShards({shard}, OutputFormat::kTable).starts_with("SHARD  START  END    EPOCH  REPLICAS"));
  const std::vector<client::MemberInfo> members = {
      {.node_id = 1, .name = "n1", .client_address = "h:1", .peer_address = "h:2", .reachable = true}};
  CHECK(FormatMembers(members, OutputFormat::kSimple) == "1, n1, h:1, h:2, -/-/-, yes\n");
  CHECK(FormatShardShow(shard, members, OutputFormat::kSimple) ==
        "2, a, (end), 1.2, 1\n"
        "1, 5, VOTER, yes, h:1\n"
        "2, 6, LEARNER, no, -\n");
  // Data commands print the same in simple as in table.
  client::KeyValue kv{.key = "k", .value = "v\x01", .version = 1, .mod_ts = 2, .create_ts = 2};
  CHECK(FormatGet(kv, OutputFormat::kSimple) == "v\\x01\n");
  CHECK(FormatDeleteCount(3, OutputFormat::kSimple) == "3\n");
}

TEST_CASE("clawctl endpoint health checks each endpoint: table, simple, json, exit codes", "[tools]") {
  FakeProbe probe;
  SECTION("all SERVING") {
    Run run = RunOn(probe, {"endpoint", "health"});
    CHECK(run.code == kExitOk);
    CHECK(run.out ==
          "ENDPOINT    HEALTH  STATE    TOOK   ERROR\n"
          "node1:7379  true    SERVING  2.0ms  -\n"
          "node2:7379  true    SERVING  2.0ms  -\n"
          "node3:7379  true    SERVING  2.0ms  -\n");
    CHECK(run.err.empty());
  }
  SECTION("one down, one NOT_SERVING: exit 1") {
    probe.down = {2};
    probe.sick = {3};
    Run simple = RunOn(probe, {"-w", "simple", "endpoint", "health"});
    CHECK(simple.code == kExitFailed);
    CHECK(simple.out ==
          "node1:7379 is healthy: SERVING, took 2.0ms\n"
          "node2:7379 is unhealthy: UNAVAILABLE: node2:7379: failed to connect to all addresses, took 2.0ms\n"
          "node3:7379 is unhealthy: NOT_SERVING, took 2.0ms\n");
    CHECK(simple.err == "Error: unhealthy cluster: not every endpoint is SERVING\n");
    Run json = RunOn(probe, {"-w", "json", "endpoint", "health"});
    CHECK(json.code == kExitFailed);
    CHECK(json.out ==
          R"({"endpoints":[{"endpoint":"node1:7379","health":true,"state":"SERVING","took_us":"2000"},)"
          R"({"endpoint":"node2:7379","health":false,"took_us":"2000","error":{"code":"UNAVAILABLE",)"
          R"("message":"node2:7379: failed to connect to all addresses"}},)"
          R"({"endpoint":"node3:7379","health":false,"state":"NOT_SERVING","took_us":"2000"}]})"
          "\n");
  }
  SECTION("none reachable: the cannot-connect exit code") {
    probe.down = {1, 2, 3};
    Run run = RunOn(probe, {"endpoint", "health"});
    CHECK(run.code == kExitCannotConnect);
    CHECK(run.err == "Error: no endpoint could be reached (see --endpoints)\n");
  }
}

TEST_CASE("clawctl endpoint status: one row per endpoint with its meta shard replica", "[tools]") {
  FakeProbe probe;
  probe.down = {3};
  Run table = RunOn(probe, {"endpoint", "status"});
  CHECK(table.code == kExitFailed);
  CHECK(table.out ==
        "ENDPOINT    NODE  NAME  VERSION  UPTIME  REPLICAS  LEADERS  META      META TERM  META APPLIED  ERROR\n"
        "node1:7379  1     n1    0.1.0    42s     2         2        leader    3          19            -\n"
        "node2:7379  2     n2    0.1.0    42s     2         1        follower  3          19            -\n"
        "node3:7379  -     -     -        -       -         -        -         -          -             UNAVAILABLE\n");
  CHECK(table.err.starts_with("Error: UNAVAILABLE: node3:7379: failed to connect to all addresses\n"));
  Run simple = RunOn(probe, {"status", "-w", "simple"});
  CHECK(simple.out.starts_with("node1:7379, 1, n1, 0.1.0, 42s, 2, 2, leader, 3, 19, -\n"));
  Run json = RunOn(probe, {"-w", "json", "endpoint", "status", "--endpoints", "node2:7379"});
  CHECK(json.code == kExitOk);
  CHECK(json.out ==
        R"({"nodes":[{"endpoint":"node2:7379","node_id":"2","name":"n2","version":"0.1.0","cluster_id":"77",)"
        R"("uptime_seconds":"42","replicas":"2","leaders":"1","meta":{"role":"follower","term":"3",)"
        R"("leader_node_id":"1","commit_index":"20","applied_index":"19","last_index":"21"}}]})"
        "\n");
  probe.down = {1, 2, 3};
  CHECK(RunOn(probe, {"status"}).code == kExitCannotConnect);
}

TEST_CASE("clawctl config show prints the first endpoint's configuration", "[tools]") {
  FakeProbe probe;
  Run yaml = RunOn(probe, {"config", "show"});
  CHECK(yaml.code == kExitOk);
  CHECK(yaml.out ==
        "# the effective configuration of node 1 (n1) at node1:7379\n"
        "name: n1\n"
        "client_addr: node1:7379\n");
  Run json = RunOn(probe, {"-w", "json", "config", "show", "--endpoints", "node2:7379,node1:7379"});
  CHECK(json.out ==
        R"({"endpoint":"node2:7379","node_id":"2","name":"n2","yaml":"name: n2\nclient_addr: node2:7379\n"})"
        "\n");
  probe.down = {1};
  Run down = RunOn(probe, {"config", "show"});  // the first endpoint only, never another node's
  CHECK(down.code == kExitCannotConnect);
  CHECK(down.out.empty());
  CHECK(down.err.starts_with("Error: UNAVAILABLE: node1:7379: "));
}

TEST_CASE("clawctl --dial-timeout: no endpoint connects -> exit 5 before any request", "[tools]") {
  client::testing::FakeCluster cluster(1);
  auto run_with = [&](const std::string& endpoints) {
    auto inv = ParseArgs({"--endpoints", endpoints, "--dial-timeout", "300ms", "shard", "list"}, nullptr);
    REQUIRE(inv);
    auto client = client::Client::Open({.endpoints = inv->global.endpoints});
    REQUIRE(client);
    return Capture([&](std::istream& in, std::ostream& out, std::ostream& err) {
      return RunCommand(*inv, **client, in, out, err);
    });
  };
  // A port nothing listens on: taken from the cluster after it is stopped is racy, so use the
  // discard port, which no test machine serves gRPC on.
  Run refused = run_with("127.0.0.1:9");
  CHECK(refused.code == kExitCannotConnect);
  CHECK(refused.out.empty());
  CHECK(refused.err.starts_with("Error: cannot connect to any endpoint (127.0.0.1:9) within --dial-timeout 300ms\n"));
  // One endpoint that answers is enough.
  Run ok = run_with("127.0.0.1:9," + cluster.addresses()[0]);
  CHECK(ok.code == kExitOk);
  CHECK(ok.out.starts_with("SHARD"));
}

TEST_CASE("clawctl completion bash: valid bash that completes commands and options", "[tools]") {
  const std::string script = BashCompletionScript();
  CHECK(script.find("complete -F _clawctl clawctl") != std::string::npos);
  // _complete WORDS...: the candidates for the last word.
  const std::string output = RunBash(script + R"(
_complete() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _clawctl; echo "${COMPREPLY[*]}"; }
_complete clawctl sh
_complete clawctl shard ''
_complete clawctl -w json placement rule ''
_complete clawctl -w ''
_complete clawctl --endpoints h:1 node drain 3 --w
_complete clawctl member add n4 --peer
_complete clawctl get k --dial
_complete clawctl completion ''
)");
  CHECK(output ==
        "shard\n"
        "list show split transfer-leader move\n"
        "set delete\n"
        "table simple json\n"
        "--write-out --wait\n"
        "--peer-urls\n"
        "--dial-timeout\n"
        "bash\n");
  RunBash("set -e\nbash -n <<'EOF'\n" + script + "EOF\n");
}

}  // namespace claw::clawctl::testing
