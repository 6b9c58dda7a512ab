// Load(): defaults, the precedence of file < environment < flags, derived fields, and the
// messages of every class of error (with exact file positions).

#include "config/load.h"

#include <catch2/catch.hpp>

#include "config_test_util.h"

namespace claw::config {
namespace {

using test::FileError;
using test::FileOk;
using test::LoadError;
using test::LoadOk;
using test::TempDir;

TEST_CASE("no file, no environment, no flags: the built-in defaults, resolved", "[config]") {
  const auto result = test::LoadWith({});
  REQUIRE(result.has_value());
  CHECK(result->config_file.empty());
  CHECK_FALSE(result->help);
  CHECK_FALSE(result->print_config);
  CHECK_FALSE(result->check_config);
  Config expected;
  expected.initial_cluster = {{"n1", "127.0.0.1:7380"}};
  expected.advertise_client_addr = "127.0.0.1:7379";
  CHECK(result->config == expected);
  const Config& c = result->config;
  CHECK(c.data_dir == "./clawd-data");
  CHECK(c.shards == 16);
  CHECK(c.log_level == LogLevel::kInfo);
  CHECK(c.raft.tick_ms == 100);
  CHECK(c.raft.election_ticks == 6);
  CHECK(c.storage.block_cache_bytes == 256 * kMiB);
  CHECK(c.limits.max_peer_message_bytes == 64 * kMiB);
  CHECK(c.kv.dedup_window_ms == 60'000);
  CHECK(c.shutdown.drain_timeout_ms == 10'000);
}

TEST_CASE("each layer overrides the previous: defaults < file < env < flags", "[config]") {
  const std::string yaml = "shards: 32\nzone: file-zone\nrack: file-rack\nhost: file-host\n";
  Config c = FileOk(yaml);
  CHECK(c.shards == 32);
  CHECK(c.zone == "file-zone");
  CHECK(c.raft.tick_ms == 100);  // default where the file is silent

  const Environment env = {{"CLAWD_ZONE", "env-zone"}, {"CLAWD_RACK", "env-rack"}};
  c = FileOk(yaml, {}, env);
  CHECK(c.shards == 32);
  CHECK(c.zone == "env-zone");
  CHECK(c.rack == "env-rack");

  c = FileOk(yaml, {"--rack", "flag-rack", "--host=flag-host"}, env);
  CHECK(c.zone == "env-zone");
  CHECK(c.rack == "flag-rack");
  CHECK(c.host == "flag-host");
  CHECK(c.shards == 32);
}

TEST_CASE("the file is named by --config, else by CLAWD_CONFIG", "[config]") {
  TempDir dir;
  const std::string a = dir.Write("a.yaml", "shards: 2\n");
  const std::string b = dir.Write("b.yaml", "shards: 3\n");
  auto result = test::LoadWith({}, {{"CLAWD_CONFIG", a}});
  REQUIRE(result.has_value());
  CHECK(result->config_file == a);
  CHECK(result->config.shards == 2);
  result = test::LoadWith({"--config=" + b}, {{"CLAWD_CONFIG", a}});
  REQUIRE(result.has_value());
  CHECK(result->config_file == b);
  CHECK(result->config.shards == 3);
  result = test::LoadWith({}, {{"CLAWD_CONFIG", ""}});
  REQUIRE(result.has_value());
  CHECK(result->config_file.empty());
  CHECK(LoadError({"--config="}) == "--config: needs a file path");
}

TEST_CASE("flags: both spellings, booleans, modes", "[config]") {
  auto result = test::LoadWith({"--raft-pre-vote=false", "--storage-direct-io", "--shards", "8",
                                "--print-config", "--check-config", "--log-level=debug"});
  REQUIRE(result.has_value());
  CHECK_FALSE(result->config.raft.pre_vote);
  CHECK(result->config.storage.direct_io);
  CHECK(result->config.shards == 8);
  CHECK(result->config.log_level == LogLevel::kDebug);
  CHECK(result->print_config);
  CHECK(result->check_config);
  CHECK(LoadOk({"--storage-direct-io=false"}).storage.direct_io == false);
  CHECK(LoadOk({"--raft-tick-ms", "1s", "--raft-node-dead-after-ms=1h"}).raft.tick_ms == 1000);
  CHECK(LoadOk({"--storage-block-cache-bytes", "1GiB"}).storage.block_cache_bytes == kGiB);
  CHECK(LoadOk({"--advertise-client-addr", ""}).advertise_client_addr == "127.0.0.1:7379");
}

TEST_CASE("--help short-circuits everything else", "[config]") {
  for (const char* help : {"--help", "-h"}) {
    const auto result = test::LoadWith({"--bogus", help, "--shards=0"}, {{"CLAWD_BOGUS", "1"}});
    REQUIRE(result.has_value());
    CHECK(result->help);
  }
}

TEST_CASE("flag errors name the flag", "[config]") {
  CHECK(LoadError({"--raft-election-tick", "5"}) ==
        "--raft-election-tick: unknown flag; did you mean --raft-election-ticks?\n"
        "5: unexpected argument; flags start with --");
  CHECK(LoadError({"--frobnicate"}) == "--frobnicate: unknown flag; run clawd --help");
  CHECK(LoadError({"--shards"}) == "--shards: needs a value, as in --shards VALUE or --shards=VALUE");
  CHECK(LoadError({"--shards", "--zone=a"}) ==
        "--shards: needs a value, as in --shards VALUE or --shards=VALUE");
  CHECK(LoadError({"--config"}) ==
        "--config: needs a value, as in --config VALUE or --config=VALUE");
  CHECK(LoadError({"--shards=0"}) == "--shards: shards: must be in [1, 16384], got 0");
  CHECK(LoadError({"--shards=abc"}) == "--shards: shards: expected an integer, got \"abc\"");
  CHECK(LoadError({"--shards=-1"}) == "--shards: shards: must not be negative, got \"-1\"");
  CHECK(LoadError({"--shards=2", "--shards=3"}) == "--shards: given more than once; give each "
                                                    "flag once");
  CHECK(LoadError({"--raft-pre-vote", "false"}) ==
        "false: unexpected argument; a boolean flag takes its value after '=', as in "
        "--raft-pre-vote=false");
  CHECK(LoadError({"--raft-pre-vote=yes"}) ==
        "--raft-pre-vote: raft.pre_vote: expected true or false, got \"yes\"");
  CHECK(LoadError({"--print-config=true"}) == "--print-config: takes no value");
  CHECK(LoadError({"-v"}) == "-v: unexpected argument; flags start with --");
  CHECK(LoadError({"--"}) == "--: unexpected argument; flags start with --");
  CHECK(LoadError({"serve"}) == "serve: unexpected argument; flags start with --");
}

TEST_CASE("environment errors name the variable", "[config]") {
  CHECK(LoadError({}, {{"CLAWD_SHARD", "3"}}) ==
        "CLAWD_SHARD: unknown environment variable; did you mean CLAWD_SHARDS?");
  CHECK(LoadError({}, {{"CLAWD_FOO", "1"}}) ==
        "CLAWD_FOO: unknown environment variable; unset it or run clawd --help");
  CHECK(LoadError({}, {{"CLAWD_RAFT_TICK_MS", "fast"}}) ==
        "CLAWD_RAFT_TICK_MS: raft.tick_ms: expected a duration: integer milliseconds, or an "
        "integer with a unit ms, s, m or h, such as 5s; got \"fast\"");
  CHECK(LoadError({}, {{"CLAWD_LIMITS_MAX_KEY_BYTES", "0"}}) ==
        "CLAWD_LIMITS_MAX_KEY_BYTES: limits.max_key_bytes: must be between 1 and 64KiB (1..65536 "
        "bytes), got 0");
  // Other variables are none of clawd's business.
  CHECK(LoadOk({}, {{"HOME", "/root"}, {"CLAWDX", "1"}}).shards == 16);
  // Every problem is reported, in a stable order.
  CHECK(LoadError({"--zone=a b"}, {{"CLAWD_B", "1"}, {"CLAWD_A", "1"}}) ==
        "CLAWD_A: unknown environment variable; unset it or run clawd --help\n"
        "CLAWD_B: unknown environment variable; unset it or run clawd --help\n"
        "--zone: zone: may hold only letters, digits, '.', '_' and '-'; got \"a b\"");
}

TEST_CASE("EnvironmentFrom keeps the CLAWD_* entries of an envp array", "[config]") {
  const char* envp[] = {"HOME=/root", "CLAWD_ZONE=z=1", "CLAWD_EMPTY=", "CLAWD_NOEQ", nullptr};
  const Environment env = EnvironmentFrom(envp);
  CHECK(env == Environment{{"CLAWD_ZONE", "z=1"}, {"CLAWD_EMPTY", ""}});
  CHECK(EnvironmentFrom(nullptr).empty());
}

TEST_CASE("file values: all syntaxes of a config file", "[config]") {
  const Config c = FileOk(R"(# a comment
name: n2
data_dir: /var/lib/clawd
initial_cluster:
  - n1=10.0.0.1:7380
  - n2=10.0.0.2:7380
client_addr: 0.0.0.0:7379
advertise_client_addr: "10.0.0.2:7379"
log_level: warn
raft: {tick_ms: 50ms, election_ticks: 20, pre_vote: false}
storage:
  block_cache_bytes: 1GiB
  write_buffer_bytes: "32 MiB"
  compaction_rate_bytes_per_sec: 0
kv:
  dedup_window_ms: 5m
)");
  CHECK(c.name == "n2");
  CHECK(c.data_dir == "/var/lib/clawd");
  CHECK(c.initial_cluster == std::vector<Member>{{"n1", "10.0.0.1:7380"}, {"n2", "10.0.0.2:7380"}});
  CHECK(c.peer_addr == "10.0.0.2:7380");  // taken from initial_cluster
  CHECK(c.advertise_client_addr == "10.0.0.2:7379");
  CHECK(c.log_level == LogLevel::kWarn);
  CHECK(c.raft.tick_ms == 50);
  CHECK(c.raft.election_ticks == 20);
  CHECK_FALSE(c.raft.pre_vote);
  CHECK(c.storage.block_cache_bytes == kGiB);
  CHECK(c.storage.write_buffer_bytes == 32 * kMiB);
  CHECK(c.kv.dedup_window_ms == 300'000);
}

TEST_CASE("an empty file, a comment-only file and empty sections are fine", "[config]") {
  CHECK(FileOk("").shards == 16);
  CHECK(FileOk("# nothing\n").shards == 16);
  CHECK(FileOk("raft:\nshards: 4\n").shards == 4);
  CHECK(FileOk("zone: \"\"\n").zone.empty());
}

TEST_CASE("file errors carry path:line:col and name the key", "[config]") {
  CHECK(FileError("raft:\n  election_tick: 5\n") ==
        "F:2:3: raft.election_tick: unknown key; did you mean raft.election_ticks?");
  CHECK(FileError("tick_ms: 5\n") == "F:1:1: tick_ms: unknown key; did you mean raft.tick_ms?");
  CHECK(FileError("raf:\n  tick_ms: 5\n") == "F:1:1: raf: unknown key; did you mean raft?");
  CHECK(FileError("\"raft.tick_ms\": 5\n") ==
        "F:1:1: raft.tick_ms: a key must not contain '.'; nest it in its section");
  CHECK(FileError("zzz: 1\n") == "F:1:1: zzz: unknown key; run clawd --help for the list of keys");
  CHECK(FileError("raft:\n  tick_ms: 100\n  tick_ms: 200\n") ==
        "F:3:3: raft.tick_ms: duplicate key (first at line 2:3); remove one of them");
  CHECK(FileError("raft: {}\nshards: 2\nraft:\n  tick_ms: 20\n") ==
        "F:3:1: raft: duplicate key (first at line 1:1); remove one of them");
  CHECK(FileError("shards: abc\n") == "F:1:9: shards: expected an integer, got \"abc\"");
  CHECK(FileError("shards: -4\n") == "F:1:9: shards: must not be negative, got \"-4\"");
  CHECK(FileError("shards: 20000\n") == "F:1:9: shards: must be in [1, 16384], got 20000");
  CHECK(FileError("shards: 0x10\n") == "F:1:9: shards: expected an integer, got \"0x10\"");
  CHECK(FileError("shards:\n") == "F:1:1: shards: has no value (write \"\" for an empty string)");
  CHECK(FileError("shards: [1, 2]\n") == "F:1:9: shards: expected a single value, got a sequence");
  CHECK(FileError("name: {a: 1}\n") == "F:1:7: name: expected a single value, got a mapping");
  CHECK(FileError("raft: 5\n") == "F:1:7: raft: must be a mapping of raft.* keys, got a scalar");
  CHECK(FileError("raft:\n  pre_vote: yes\n") ==
        "F:2:13: raft.pre_vote: expected true or false, got \"yes\"");
  CHECK(FileError("storage:\n  block_cache_bytes: 1MiB\n") ==
        "F:2:22: storage.block_cache_bytes: must be between 8MiB and 1TiB (8388608..1099511627776 "
        "bytes), got 1048576");
  CHECK(FileError("storage:\n  block_cache_bytes: 99999999999999999999\n") ==
        "F:2:22: storage.block_cache_bytes: integer \"99999999999999999999\" is too large");
  CHECK(FileError("- a\n- b\n") == "F:1:1: must be a mapping of keys such as name: n1, got a "
                                   "sequence");
  CHECK(FileError("? [a]\n: 1\n") == "F:1:3: a key must be a plain name, got a sequence");
  CHECK(FileError("shards: 1\n---\nshards: 2\n") ==
        "F:3:1: holds 2 YAML documents; a config file holds one");
  CHECK(FileError("initial_cluster: [n1=h:1, {a: b}]\n") ==
        "F:1:27: initial_cluster: each member must be a name=host:port string");
}

TEST_CASE("every problem of a file is reported, one per line", "[config]") {
  CHECK(FileError("shards: 0\nzone: a/b\nraft:\n  workers: 999\n") ==
        "F:1:9: shards: must be in [1, 16384], got 0\n"
        "F:2:7: zone: may hold only letters, digits, '.', '_' and '-'; got \"a/b\"\n"
        "F:4:12: raft.workers: must be in [0, 256], got 999");
}

TEST_CASE("malformed YAML and unreadable files", "[config]") {
  CHECK(FileError("raft: [1, 2\nshards: 3\n") ==
        "F:2:7: invalid YAML: end of sequence flow not found");
  CHECK(FileError("a: b: c\n") == "F:1:5: invalid YAML: illegal map value");
  CHECK(FileError("{name: n1\n") == "F:2:1: invalid YAML: end of map flow not found");
  CHECK(FileError("\tname: n1\n") == "F:1:6: invalid YAML: illegal map value");
  CHECK(FileError("zone: &x a\nrack: *y\n") ==
        "F:2:7: invalid YAML: the referenced anchor is not defined");
  TempDir dir;
  const std::string missing = dir.path() + "/missing.yaml";
  CHECK(LoadError({"--config", missing}) ==
        missing + ": cannot open the config file named by --config: No such file or directory");
  CHECK(LoadError({}, {{"CLAWD_CONFIG", missing}}) ==
        missing + ": cannot open the config file named by CLAWD_CONFIG: No such file or "
                  "directory");
  CHECK(LoadError({"--config", dir.path()}) ==
        dir.path() + ": cannot read the config file named by --config: Is a directory");
}

TEST_CASE("initial_cluster: peer_addr and node ids", "[config]") {
  const std::string cluster = "n1=10.0.0.1:7380,n2=10.0.0.2:7380,n3=10.0.0.3:7380";
  Config c = LoadOk({"--name=n3", "--initial-cluster", cluster});
  CHECK(c.initial_cluster.size() == 3);
  CHECK(c.initial_cluster[2].name == "n3");
  CHECK(c.peer_addr == "10.0.0.3:7380");
  c = LoadOk({"--name=n3", "--initial-cluster", cluster, "--peer-addr=10.0.0.3:7380"});
  CHECK(c.peer_addr == "10.0.0.3:7380");
  c = LoadOk({"--name=n3", "--initial-cluster", cluster, "--peer-addr=0.0.0.0:7380"});
  CHECK(c.peer_addr == "0.0.0.0:7380");
  CHECK(LoadError({"--name=n3", "--initial-cluster", cluster, "--peer-addr=10.0.0.9:7380"}) ==
        "--peer-addr: peer_addr: differs from this node's entry n3=10.0.0.3:7380 in "
        "initial_cluster; make them equal (or bind a wildcard host on the same port), or leave "
        "peer_addr unset to take it from initial_cluster");
  CHECK(LoadError({"--name=n3", "--initial-cluster", cluster, "--peer-addr=0.0.0.0:7390"})
            .starts_with("--peer-addr: peer_addr: differs from this node's entry"));
  CHECK(LoadError({"--name=n4", "--initial-cluster", cluster}) ==
        "--initial-cluster: initial_cluster: has no member named \"n4\" (name = n4 (from "
        "--name)); add n4=host:port to it or set name to one of its members");
  CHECK(LoadError({"--initial-cluster", "n2=h:1"}) ==
        "--initial-cluster: initial_cluster: has no member named \"n1\" (name = n1 (default)); "
        "add n1=host:port to it or set name to one of its members");
  CHECK(LoadError({"--initial-cluster", "n1=h:1,n1=h:2"}) ==
        "--initial-cluster: initial_cluster: member name \"n1\" appears twice");
  CHECK(LoadError({"--initial-cluster", "n1=h:1,n2=h:1"}) ==
        "--initial-cluster: initial_cluster: members n1 and n2 have the same address h:1");
  CHECK(LoadError({"--initial-cluster", "n1=h:70000"}) ==
        "--initial-cluster: initial_cluster: member n1: port must be an integer in [1, 65535], "
        "got \"70000\" in \"h:70000\"");
  CHECK(LoadOk({"--initial-cluster", " n1=h:1 , n2=h:2 "}).initial_cluster.size() == 2);
}

TEST_CASE("join: seeds of a running cluster instead of initial_cluster", "[config]") {
  Config c = LoadOk({"--name=n4", "--join", "10.0.0.1:7379, 10.0.0.2:7379", "--peer-addr=10.0.0.4:7380"});
  CHECK(c.join == std::vector<std::string>{"10.0.0.1:7379", "10.0.0.2:7379"});
  CHECK(c.initial_cluster.empty());
  CHECK(c.advertise_peer_addr == "10.0.0.4:7380");
  c = LoadOk({"--join=10.0.0.1:7379", "--peer-addr=0.0.0.0:7380", "--advertise-peer-addr=10.0.0.4:7380"});
  CHECK(c.advertise_peer_addr == "10.0.0.4:7380");
  CHECK(LoadError({"--join=10.0.0.1:7379", "--initial-cluster=n1=10.0.0.1:7380"})
            .starts_with("--join: join: excludes initial_cluster (initial_cluster = n1=10.0.0.1:7380 (from "
                         "--initial-cluster))"));
  CHECK(LoadError({"--join=10.0.0.1:7379", "--peer-addr=0.0.0.0:7380"}) ==
        "--peer-addr: advertise_peer_addr: must be set because peer_addr = 0.0.0.0:7380 (from "
        "--peer-addr) binds every interface and cannot be handed to other nodes");
  CHECK(LoadError({"--advertise-peer-addr=10.0.0.4:7380"})
            .starts_with("--advertise-peer-addr: advertise_peer_addr: is only for nodes that join"));
  CHECK(LoadError({"--join=10.0.0.1:7379,10.0.0.1:7379"}) ==
        "--join: join: address 10.0.0.1:7379 appears twice");
  CHECK(LoadError({"--join=0.0.0.0:7379"}) ==
        "--join: join: 0.0.0.0:7379 binds every interface; give an address this node can dial");
  CHECK(LoadError({"--join=10.0.0.1:7379,"}).starts_with("--join: join: empty entry at position 2"));
  CHECK(FileOk("join:\n  - 10.0.0.1:7379\n  - 10.0.0.2:7379\n").join.size() == 2);
  CHECK(FileError("join:\n  - {a: 1}\n") == "F:2:5: join: each entry must be a host:port string");
}

TEST_CASE("cross-field rules name every key involved and where it was set", "[config]") {
  CHECK(LoadError({"--placement-node-dead-after-ms=3000"}) ==
        "--placement-node-dead-after-ms: placement.node_dead_after_ms: must exceed 3 heartbeat "
        "intervals: placement.node_dead_after_ms = 3000 (from --placement-node-dead-after-ms), "
        "placement.heartbeat_interval_ms = 1000 (default)");
  CHECK(LoadOk({"--placement-node-dead-after-ms=3001"}).placement.node_dead_after_ms == 3001);
  CHECK(FileError("raft:\n  heartbeat_ticks: 10\n") ==
        "F:2:20: raft.heartbeat_ticks: must be less than raft.election_ticks: "
        "raft.heartbeat_ticks = 10 (from F:2:20), raft.election_ticks = 6 (default)");
  CHECK(LoadError({"--raft-election-ticks=3"}, {{"CLAWD_RAFT_HEARTBEAT_TICKS", "3"}}) ==
        "CLAWD_RAFT_HEARTBEAT_TICKS: raft.heartbeat_ticks: must be less than "
        "raft.election_ticks: raft.heartbeat_ticks = 3 (from CLAWD_RAFT_HEARTBEAT_TICKS), "
        "raft.election_ticks = 3 (from --raft-election-ticks)");
  CHECK(LoadError({"--raft-tick-ms=500"}) ==
        "--raft-tick-ms: raft.node_dead_after_ms: must exceed the election timeout "
        "raft.election_ticks * raft.tick_ms = 3000 ms: raft.node_dead_after_ms = 3000 (default), "
        "raft.election_ticks = 6 (default), raft.tick_ms = 500 (from --raft-tick-ms)");
  CHECK(LoadError({"--limits-max-value-bytes=4MiB"}) ==
        "--limits-max-value-bytes: limits.max_request_bytes: must hold the largest key plus the "
        "largest value: limits.max_request_bytes = 4MiB (default), limits.max_key_bytes = 4KiB "
        "(default), limits.max_value_bytes = 4MiB (from --limits-max-value-bytes)");
  CHECK(LoadOk({"--limits-max-value-bytes=4092KiB"}).limits.max_value_bytes == 4092 * kKiB);
  CHECK(LoadError({"--limits-max-peer-message-bytes=4MiB"}) ==
        "--limits-max-peer-message-bytes: limits.max_peer_message_bytes: must exceed "
        "(limits.max_request_bytes + 64KiB) / 0.95 so that every Raft entry fits in a peer "
        "message: limits.max_peer_message_bytes = 4MiB (from --limits-max-peer-message-bytes), "
        "limits.max_request_bytes = 4MiB (default)");
  CHECK(LoadError({"--raft-max-append-bytes=64MiB"}) ==
        "--raft-max-append-bytes: raft.max_append_bytes: must be less than "
        "limits.max_peer_message_bytes: raft.max_append_bytes = 64MiB (from "
        "--raft-max-append-bytes), limits.max_peer_message_bytes = 64MiB (default)");
}

TEST_CASE("listeners: distinct ports, dialable advertised addresses", "[config]") {
  CHECK(LoadError({"--http-addr=127.0.0.1:7379"}) ==
        "--http-addr: http_addr: conflicts with another listener: client_addr = 127.0.0.1:7379 "
        "(default), http_addr = 127.0.0.1:7379 (from --http-addr); give each listener its own "
        "port");
  CHECK(LoadError({"--client-addr=0.0.0.0:7381"}).starts_with(
      "--client-addr: advertise_client_addr: must be set because client_addr = 0.0.0.0:7381"));
  CHECK(LoadOk({"--http-addr=127.0.0.2:7379"}).http_addr == "127.0.0.2:7379");
  CHECK(LoadError({"--client-addr=0.0.0.0:7379"}) ==
        "--client-addr: advertise_client_addr: must be set because client_addr = 0.0.0.0:7379 "
        "(from --client-addr) binds every interface and cannot be handed to clients");
  CHECK(LoadOk({"--client-addr=0.0.0.0:7379", "--advertise-client-addr=db1:7379"})
            .advertise_client_addr == "db1:7379");
  CHECK(LoadError({"--advertise-client-addr=[::]:7379"}) ==
        "--advertise-client-addr: advertise_client_addr: is a wildcard address that clients "
        "cannot dial; set the address clients should use");
  CHECK(LoadError({"--peer-addr=0.0.0.0:7380"}) ==
        "--peer-addr: initial_cluster: must be set because peer_addr = 0.0.0.0:7380 (from "
        "--peer-addr) binds every interface and cannot be handed to other nodes; set "
        "n1=<dialable host>:7380");
}

}  // namespace
}  // namespace claw::config
