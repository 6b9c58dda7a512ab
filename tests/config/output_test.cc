// Generated text: --print-config YAML round-trips through Load, --help and config/README.md cover
// every key, and the key table's three spellings agree.

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "config/keys.h"
#include "config/load.h"
#include "config_test_util.h"

namespace claw::config {
namespace {

using test::FileOk;
using test::LoadOk;

// A value different from the default for every key, as flags.
const std::map<std::string, std::string> kNonDefault = {
    {"name", "node-b"},
    {"data_dir", "/srv/cl\"aw d\\ata #1: ü"},
    {"client_addr", "0.0.0.0:8379"},
    {"peer_addr", "[::]:8380"},
    {"http_addr", "[::1]:8381"},
    {"advertise_client_addr", "db-b.example.com:8379"},
    {"initial_cluster", "node-a=10.0.0.1:8380,node-b=[fd00::2]:8380,node-c=db-c:8380"},
    {"shards", "64"},
    {"zone", "eu-1"},
    {"rack", "r.7"},
    {"host", "h_9"},
    {"log_level", "trace"},
    {"raft.tick_ms", "50"},
    {"raft.election_ticks", "30"},
    {"raft.heartbeat_ticks", "3"},
    {"raft.workers", "8"},
    {"raft.hibernate_after_ticks", "0"},
    {"raft.max_inflight_appends", "32"},
    {"raft.max_append_bytes", "3000"},
    {"raft.max_uncommitted_bytes", "0"},
    {"raft.pre_vote", "false"},
    {"raft.lease_reads", "false"},
    {"raft.max_clock_drift_ppm", "1000"},
    {"raft.snapshot_after_entries", "500"},
    {"raft.node_dead_after_ms", "10s"},
    {"raft.consistency_check_interval_ms", "0"},
    {"storage.direct_io", "false"},
    {"storage.block_cache_bytes", "1GiB"},
    {"storage.bloom_bits_per_key", "0"},
    {"storage.write_buffer_bytes", "1536KiB"},
    {"storage.max_write_buffers", "2"},
    {"storage.max_background_jobs", "16"},
    {"storage.compaction_rate_bytes_per_sec", "100MiB"},
    {"storage.bytes_per_sync", "0"},
    {"storage.wal_bytes_per_sync", "1000"},
    {"storage.compression", "false"},
    {"storage.min_free_bytes", "0"},
    {"storage.mvcc_retention_ms", "86400000"},
    {"storage.mvcc_gc_interval_ms", "500"},
    {"limits.max_key_bytes", "1"},
    {"limits.max_value_bytes", "100"},
    {"limits.max_request_bytes", "1KiB"},
    {"limits.max_batch_ops", "1"},
    {"limits.max_txn_ops", "10000"},
    {"limits.max_scan_limit", "7"},
    {"limits.max_peer_message_bytes", "2147483647"},
    {"kv.dedup_window_ms", "1h"},
    {"kv.key_header_cache_keys", "0"},
    {"kv.max_staleness_ms", "0"},
    {"kv.default_deadline_ms", "1"},
    {"kv.max_pending_proposals", "3"},
    {"kv.max_pending_bytes", "1TiB"},
    {"kv.watch_max_queue_events", "7"},
    {"kv.watch_max_queue_bytes", "2KiB"},
    {"shutdown.drain_timeout_ms", "0"},
    {"placement.heartbeat_interval_ms", "50"},
    {"placement.node_dead_after_ms", "86400000"},
    {"placement.split_bytes", "64KiB"},
    {"placement.split_qps", "1"},
    {"placement.max_operators_per_node", "64"},
    {"placement.snapshot_bytes_per_second", "0"},
    {"lease.min_ttl_ms", "500"},
    {"lease.max_ttl_ms", "3600000"},
    {"lease.checkpoint_interval_ms", "1000"},
    {"checkpoint.default_retention_ms", "1000"},
    {"checkpoint.max_retention_ms", "86400000"},
    {"checkpoint.max_checkpoint_bytes", "1MiB"},
    {"checkpoint.max_sections", "7"},
    {"checkpoint.max_section_bytes", "16"},
    {"checkpoint.sweep_interval_ms", "200"},
    {"capacity", "2TiB"},
};

// Keys that exclude some of kNonDefault (join excludes initial_cluster), set non-default on
// their own.
const std::vector<std::pair<std::string_view, std::string>> kJoinNonDefault = {
    {"join", "10.0.0.1:7379,10.0.0.2:7379"},
    {"advertise_peer_addr", "10.0.0.9:7380"},
};

std::vector<std::string> NonDefaultFlags() {
  std::vector<std::string> args;
  for (const auto& [path, value] : kNonDefault) {
    args.push_back(FlagName(*FindKey(path)) + "=" + value);
  }
  return args;
}

TEST_CASE("the key table: unique paths, derived flag and env names, valid defaults", "[config]") {
  std::set<std::string_view> paths;
  for (const KeySpec& key : AllKeys()) {
    CHECK(paths.insert(key.path).second);
    CHECK(FindKeyByFlag(FlagName(key).substr(2)) == &key);
    CHECK(FindKeyByEnv(EnvName(key)) == &key);
    CHECK(key.field != nullptr);
    CHECK_FALSE(key.doc.empty());
    // Every default is accepted back by its own key.
    Config c;
    CHECK(SetFromText(key, ValueText(key, Config{}), c) == std::nullopt);
    CHECK(c == Config{});
  }
  CHECK(FlagName(*FindKey("raft.election_ticks")) == "--raft-election-ticks");
  CHECK(EnvName(*FindKey("raft.election_ticks")) == "CLAWD_RAFT_ELECTION_TICKS");
  CHECK(FlagName(*FindKey("data_dir")) == "--data-dir");
  CHECK(EnvName(*FindKey("data_dir")) == "CLAWD_DATA_DIR");
  CHECK(paths.size() == kNonDefault.size() + kJoinNonDefault.size());
}

TEST_CASE("every key can be set to a non-default value by flag", "[config]") {
  const Config c = LoadOk(NonDefaultFlags());
  std::vector<std::string> join_args;
  for (const auto& [path, value] : kJoinNonDefault) join_args.push_back(FlagName(*FindKey(path)) + "=" + value);
  const Config joining = LoadOk(join_args);
  for (const KeySpec& key : AllKeys()) {
    INFO(key.path);
    const bool join_key = std::any_of(kJoinNonDefault.begin(), kJoinNonDefault.end(),
                                      [&](const auto& kv) { return kv.first == key.path; });
    CHECK(ValueText(key, join_key ? joining : c) != ValueText(key, Config{}));
  }
  CHECK(joining.join == std::vector<std::string>{"10.0.0.1:7379", "10.0.0.2:7379"});
  CHECK(joining.initial_cluster.empty());
}

TEST_CASE("ToYaml round-trips through Load", "[config]") {
  for (const std::vector<std::string>& args : {std::vector<std::string>{}, NonDefaultFlags()}) {
    const Config c = LoadOk(args);
    const std::string yaml = ToYaml(c);
    INFO(yaml);
    CHECK(FileOk(yaml) == c);
    CHECK(ToYaml(FileOk(yaml)) == yaml);
  }
  // A default-constructed (unresolved) Config loads too, and resolves to the defaults.
  CHECK(FileOk(ToYaml(Config{})) == LoadOk({}));
}

TEST_CASE("ToYaml writes every key with its doc as a comment", "[config]") {
  const std::string yaml = ToYaml(LoadOk({}));
  CHECK(yaml.find("\nname: \"n1\"\n") != std::string::npos);
  CHECK(yaml.find("\nraft:\n  # Length of one Raft tick.\n  tick_ms: 100\n") != std::string::npos);
  CHECK(yaml.find("  block_cache_bytes: 256MiB\n") != std::string::npos);
  CHECK(yaml.find("\ninitial_cluster: \"n1=127.0.0.1:7380\"\n") != std::string::npos);
  CHECK(yaml.find("\nlog_level: info\n") != std::string::npos);
}

TEST_CASE("HelpText documents every key with its flag, variable and default", "[config]") {
  const std::string help = HelpText();
  for (const KeySpec& key : AllKeys()) {
    INFO(key.path);
    CHECK(help.find("  " + FlagName(key) + (key.kind == KeyKind::kBool ? "[" : " ")) !=
          std::string::npos);
    CHECK(help.find(" " + EnvName(key) + "\n") != std::string::npos);
    CHECK(help.find("[" + std::string(key.path) + "]") != std::string::npos);
  }
  for (const char* text : {"--config FILE", "CLAWD_CONFIG", "--print-config", "--check-config",
                           "--help"}) {
    CHECK(help.find(text) != std::string::npos);
  }
  CHECK(help.find("  --raft-election-ticks N                    CLAWD_RAFT_ELECTION_TICKS\n"
                  "      Ticks without a leader before a follower campaigns. Default 6; 3..1000.\n"
                  "      [raft.election_ticks]\n") != std::string::npos);
  CHECK(help.find("Default 256MiB; 8MiB..1TiB. [storage.block_cache_bytes]") != std::string::npos);
  CHECK(help.find("  --raft-pre-vote[=true|false]") != std::string::npos);
}

TEST_CASE("config/README.md lists every key with its flag, variable and default", "[config]") {
  std::ifstream in(CLAW_CONFIG_README);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  for (const KeySpec& key : AllKeys()) {
    INFO(key.path);
    const std::string value = ValueText(key, Config{});
    CHECK(readme.find("| `" + std::string(key.path) + "` | `" + FlagName(key) + "` | `" +
                      EnvName(key) + "` | " + (value.empty() ? "\"\"" : value) + " |") !=
          std::string::npos);
  }
}

TEST_CASE("CheckReport names the file, the node id and the cluster", "[config]") {
  test::TempDir dir;
  const std::string file = dir.Write("c.yaml", "name: b\ninitial_cluster: a=h1:1,b=h2:1\n");
  const auto result = test::LoadWith({"--config", file, "--check-config"});
  REQUIRE(result.has_value());
  CHECK(result->check_config);
  CHECK(CheckReport(*result) ==
        "config OK: " + file + "\n"
        "node b (node id 2 of 2), data_dir ./clawd-data\n"
        "client 127.0.0.1:7379 (advertised 127.0.0.1:7379), peer h2:1, http 127.0.0.1:7381\n"
        "initial_cluster a=h1:1,b=h2:1\n");
  CHECK(CheckReport(test::LoadWith({}).value())
            .starts_with("config OK: no config file (defaults, environment and flags)\n"));
}

}  // namespace
}  // namespace claw::config
