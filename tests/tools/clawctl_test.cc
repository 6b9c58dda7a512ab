// clawctl: command-line parsing (the shard admin commands' too), the txn language, output
// formatting (table and JSON), and whole commands run against the client's FakeCluster with their
// exit codes. The shard admin commands' logic is in clawctl_shard_test.cc.

#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/client/fake_cluster.h"
#include "tests/tools/clawctl_test_util.h"
#include "tools/clawctl/args.h"
#include "tools/clawctl/commands.h"
#include "tools/clawctl/format.h"
#include "tools/clawctl/txn_script.h"

namespace claw::clawctl::testing {
namespace {

std::expected<Invocation, std::string> Parse(std::vector<std::string> args,
                                             const char* env = nullptr) {
  return ParseArgs(args, env);
}

// Runs `clawctl ARGS` against `cluster`, with `stdin_text` as standard input.
Run RunOn(const client::testing::FakeCluster& cluster, std::vector<std::string> args,
          const std::string& stdin_text = "") {
  std::string endpoints;
  for (const auto& address : cluster.addresses()) endpoints += address + ",";
  args.insert(args.begin(), {"--endpoints", endpoints, "--timeout", "2s"});
  auto inv = ParseArgs(args, nullptr);
  REQUIRE(inv);
  auto client = client::Client::Open({.endpoints = inv->global.endpoints,
                                      .backoff_base = milliseconds(1),
                                      .backoff_max = milliseconds(10)});
  REQUIRE(client);
  return Capture(
      [&](std::istream& in, std::ostream& out, std::ostream& err) {
        return RunCommand(*inv, **client, in, out, err);
      },
      stdin_text);
}

}  // namespace

TEST_CASE("clawctl parses global options anywhere on the line", "[tools]") {
  auto inv = Parse({"-w", "json", "get", "k", "--timeout", "500ms", "--endpoints=a:1, b:2",
                    "--consistency", "stale", "--durability", "leader", "--forward"});
  REQUIRE(inv);
  CHECK(inv->command == Command::kGet);
  CHECK(inv->args == std::vector<std::string>{"k"});
  CHECK(inv->global.format == OutputFormat::kJson);
  CHECK(inv->global.timeout == milliseconds(500));
  CHECK(inv->global.endpoints == std::vector<std::string>{"a:1", "b:2"});
  CHECK(inv->global.consistency == client::Consistency::kStale);
  CHECK(inv->global.durability == client::Durability::kLeader);
  CHECK(inv->global.forward);
}

TEST_CASE("clawctl takes endpoints from the environment, then the default", "[tools]") {
  CHECK(Parse({"status"})->global.endpoints == std::vector<std::string>{"127.0.0.1:7379"});
  CHECK(Parse({"status"}, "x:1,y:2")->global.endpoints == std::vector<std::string>{"x:1", "y:2"});
  CHECK(Parse({"status", "--endpoints", "z:3"}, "x:1")->global.endpoints ==
        std::vector<std::string>{"z:3"});
}

TEST_CASE("clawctl parses each command's arguments and flags", "[tools]") {
  auto put = Parse({"put", "k", "v", "--prev-kv"});
  REQUIRE(put);
  CHECK(put->prev_kv);
  auto range = Parse({"del", "--range", "a", "b"});
  REQUIRE(range);
  CHECK(range->range);
  CHECK(range->args.size() == 2);
  auto scan = Parse({"scan", "a", "--limit", "10", "--reverse", "--keys-only"});
  REQUIRE(scan);
  CHECK(scan->limit == 10);
  CHECK(scan->reverse);
  CHECK(scan->keys_only);
  CHECK(Parse({"get", "k", "--stale"})->global.consistency == client::Consistency::kStale);
  CHECK(Parse({"shard", "list"})->command == Command::kShardList);
  CHECK(Parse({"member", "list"})->command == Command::kMemberList);
  auto txn = Parse({"txn", "--if", "value(k) = v", "--then", "put k w", "--else", "get k"});
  REQUIRE(txn);
  CHECK(txn->txn_if == std::vector<std::string>{"value(k) = v"});
  CHECK(Parse({"put", "k", "-1"})->args[1] == "-1");           // a negative-looking value
  CHECK(Parse({"put", "--", "--k", "v"})->args[0] == "--k");   // `--` ends the options
  CHECK(Parse({"--help"})->command == Command::kHelp);
  CHECK(Parse({"put", "--version"})->command == Command::kVersion);
}

TEST_CASE("clawctl rejects bad command lines with a reason", "[tools]") {
  CHECK_FALSE(Parse({}));
  CHECK(Parse({"frobnicate"}).error().find("unknown command") != std::string::npos);
  CHECK(Parse({"put", "k"}).error().find("put KEY VALUE") != std::string::npos);
  CHECK(Parse({"get", "k", "--limit", "3"}).error().find("does not apply") != std::string::npos);
  CHECK(Parse({"scan", "a", "--limit", "x"}).error().find("--limit") != std::string::npos);
  CHECK_FALSE(Parse({"get", "k", "-w", "yaml"}));
  CHECK_FALSE(Parse({"get", "k", "--timeout", "soon"}));
  CHECK_FALSE(Parse({"get", "k", "--bogus"}));
  CHECK_FALSE(Parse({"del", "--range", "a"}));
  CHECK_FALSE(Parse({"del", "--range", "--prefix", "a"}));
  CHECK_FALSE(Parse({"shard"}));
  CHECK_FALSE(Parse({"member", "show"}));
  CHECK_FALSE(Parse({"get", "k", "--timeout"}));
}

TEST_CASE("clawctl parses the lease commands and put --lease", "[tools][lease]") {
  auto grant = Parse({"lease", "grant", "1500ms"});
  REQUIRE(grant);
  CHECK(grant->command == Command::kLeaseGrant);
  CHECK(grant->lease_ttl == milliseconds(1500));
  CHECK(Parse({"lease", "grant", "30"})->lease_ttl == milliseconds(30'000));
  auto ttl = Parse({"lease", "ttl", "42", "--keys"});
  REQUIRE(ttl);
  CHECK(ttl->command == Command::kLeaseTtl);
  CHECK(ttl->lease_id == 42);
  CHECK(ttl->lease_keys);
  auto keep = Parse({"lease", "keep-alive", "7", "--once"});
  REQUIRE(keep);
  CHECK(keep->command == Command::kLeaseKeepAlive);
  CHECK(keep->once);
  CHECK(Parse({"lease", "revoke", "9"})->command == Command::kLeaseRevoke);
  CHECK(Parse({"lease", "list"})->command == Command::kLeaseList);
  auto put = Parse({"put", "k", "v", "--lease", "12"});
  REQUIRE(put);
  CHECK(put->lease_id == 12);

  CHECK(Parse({"lease"}).error().find("grant TTL") != std::string::npos);
  CHECK(Parse({"lease", "grant", "0s"}).error().find("positive duration") != std::string::npos);
  CHECK(Parse({"lease", "grant"}).error().find("lease grant TTL") != std::string::npos);
  CHECK(Parse({"lease", "revoke", "zero"}).error().find("lease id") != std::string::npos);
  CHECK(Parse({"lease", "revoke", "0"}).error().find("lease id") != std::string::npos);
  CHECK(Parse({"put", "k", "v", "--lease", "-3"}).error().find("--lease") != std::string::npos);
  CHECK(Parse({"lease", "list", "--keys"}).error().find("does not apply") != std::string::npos);
  CHECK(Parse({"get", "k", "--lease", "3"}).error().find("does not apply") != std::string::npos);
}

TEST_CASE("clawctl parses the shard admin commands", "[tools]") {
  auto show = Parse({"shard", "show", "7"});
  REQUIRE(show);
  CHECK(show->command == Command::kShardShow);
  CHECK(show->shard_id == 7);
  auto split = Parse({"shard", "split", "2", "--key", "-k", "--yes", "--command-timeout", "30s"});
  REQUIRE(split);
  CHECK(split->command == Command::kShardSplit);
  CHECK(split->shard_id == 2);
  CHECK(split->split_key == "-k");  // a value that looks like an option is still the key
  CHECK(split->yes);
  CHECK(split->command_timeout == milliseconds(30000));
  CHECK(Parse({"shard", "split", "2", "--key-hex", "00Ff7a"})->split_key == std::string("\x00\xff\x7a", 3));
  CHECK_FALSE(Parse({"shard", "split", "2"})->split_key);  // the middle of the data
  CHECK_FALSE(Parse({"shard", "split", "2"})->yes);
  auto transfer = Parse({"shard", "transfer-leader", "3", "--to=2"});
  REQUIRE(transfer);
  CHECK(transfer->command == Command::kShardTransferLeader);
  CHECK(transfer->to_node == 2);
  CHECK_FALSE(transfer->command_timeout);
  auto move = Parse({"--to", "1", "shard", "move", "2", "--from", "4", "--yes"});
  REQUIRE(move);
  CHECK(move->command == Command::kShardMove);
  CHECK(move->from_node == 4);
  CHECK(move->to_node == 1);
  CHECK(move->yes);
  CHECK(kMoveTimeout == milliseconds(60000));
  // Each command's own help, as `COMMAND --help` and as `help COMMAND`.
  CHECK(Parse({"shard", "move", "--help"})->help_topic == Command::kShardMove);
  CHECK(Parse({"shard", "split", "2", "-h"})->help_topic == Command::kShardSplit);
  CHECK(Parse({"help", "shard", "transfer-leader"})->help_topic == Command::kShardTransferLeader);
  CHECK(Parse({"--help"})->help_topic == Command::kHelp);
  CHECK(Parse({"help", "nonsense"})->help_topic == Command::kHelp);
  CHECK(HelpText(Command::kShardMove).starts_with("usage: clawctl shard move ID --from NODE --to NODE"));
  CHECK(HelpText(Command::kShardShow).starts_with("usage: clawctl shard show ID"));
  CHECK(HelpText(Command::kPut) == UsageText());
  for (std::string_view command : {"shard show ID", "shard split ID", "shard transfer-leader ID",
                                   "shard move ID", "--key-hex HEX"}) {
    CHECK(UsageText().find(command) != std::string_view::npos);
  }
}

TEST_CASE("clawctl rejects bad shard admin command lines with a reason", "[tools]") {
  auto error = [](std::vector<std::string> args) {
    auto inv = Parse(std::move(args));
    REQUIRE_FALSE(inv);
    return inv.error();
  };
  CHECK(error({"shard", "frobnicate"}).find("list, show, split, transfer-leader, move") != std::string::npos);
  CHECK(error({"shard", "show"}).find("usage: clawctl shard show ID") != std::string::npos);
  CHECK(error({"shard", "show", "1", "2"}).find("usage: clawctl shard show ID") != std::string::npos);
  CHECK(error({"shard", "show", "two"}).find("shard ID wants a number") != std::string::npos);
  CHECK(error({"shard", "show", "0"}).find("shard ID wants a number > 0") != std::string::npos);
  CHECK(error({"shard", "show", "-3"}).find("shard ID wants a number") != std::string::npos);
  CHECK(error({"shard", "split", "2x"}).find("'2x'") != std::string::npos);
  CHECK(error({"shard", "transfer-leader", "2"}).find("needs --to NODE") != std::string::npos);
  CHECK(error({"shard", "transfer-leader", "2", "--to", "n2"}).find("--to wants a node id") != std::string::npos);
  CHECK(error({"shard", "transfer-leader", "2", "--to", "0"}).find("--to wants a node id") != std::string::npos);
  CHECK(error({"shard", "transfer-leader", "2", "--to"}).find("needs a value") != std::string::npos);
  CHECK(error({"shard", "move", "2", "--to", "1"}).find("needs --from NODE") != std::string::npos);
  CHECK(error({"shard", "move", "2", "--from", "1"}).find("needs --to NODE") != std::string::npos);
  CHECK(error({"shard", "move", "2", "--from", "1", "--to", "1"}).find("same node") != std::string::npos);
  CHECK(error({"shard", "split", "2", "--key", "a", "--key-hex", "61"}).find("one --key or --key-hex") !=
        std::string::npos);
  CHECK(error({"shard", "split", "2", "--key", "a", "--key", "b"}).find("one --key or --key-hex") !=
        std::string::npos);
  CHECK(error({"shard", "split", "2", "--key", ""}).find("--key is empty") != std::string::npos);
  CHECK(error({"shard", "split", "2", "--key-hex", "abc"}).find("--key-hex wants pairs") != std::string::npos);
  CHECK(error({"shard", "split", "2", "--key-hex", "zz"}).find("--key-hex wants pairs") != std::string::npos);
  CHECK(error({"shard", "split", "2", "--to", "1"}).find("does not apply to 'shard split'") != std::string::npos);
  CHECK(error({"shard", "transfer-leader", "2", "--to", "1", "--yes"}).find("does not apply") != std::string::npos);
  CHECK(error({"shard", "show", "2", "--yes"}).find("does not apply to 'shard show'") != std::string::npos);
  CHECK(error({"put", "k", "v", "--key", "x"}).find("does not apply to 'put'") != std::string::npos);
  CHECK(error({"shard", "move", "2", "--from", "1", "--to", "2", "--command-timeout", "soon"})
            .find("--command-timeout wants a positive duration") != std::string::npos);
  CHECK(error({"shard", "list", "2"}).find("usage: clawctl shard list") != std::string::npos);
}

TEST_CASE("clawctl decodes hex keys", "[tools]") {
  CHECK(ParseHex("6b6579") == "key");
  CHECK(ParseHex("00FF") == std::string("\x00\xff", 2));
  CHECK_FALSE(ParseHex(""));
  CHECK_FALSE(ParseHex("0"));
  CHECK_FALSE(ParseHex("0x00"));
  CHECK_FALSE(ParseHex("g0"));
}

TEST_CASE("clawctl durations", "[tools]") {
  CHECK(ParseDuration("5s") == milliseconds(5000));
  CHECK(ParseDuration("7") == milliseconds(7000));
  CHECK(ParseDuration("250ms") == milliseconds(250));
  CHECK(ParseDuration("2m") == milliseconds(120000));
  CHECK_FALSE(ParseDuration("1h"));
  CHECK_FALSE(ParseDuration("ms"));
  CHECK_FALSE(ParseDuration(""));
}

TEST_CASE("clawctl escapes bytes for terminals and base64s them for JSON", "[tools]") {
  CHECK(Escape("plain key/1") == "plain key/1");
  CHECK(Escape(std::string("a\0b\n\xff\\", 6)) == "a\\x00b\\x0a\\xff\\\\");
  CHECK(Base64("") == "");
  CHECK(Base64("f") == "Zg==");
  CHECK(Base64("fo") == "Zm8=");
  CHECK(Base64("foo") == "Zm9v");
  CHECK(Base64("foobar") == "Zm9vYmFy");
  CHECK(Base64(std::string("\xff\x00", 2)) == "/wA=");
}

TEST_CASE("clawctl writes valid JSON", "[tools]") {
  JsonWriter json;
  json.BeginObject().Key("a").String("q\"\\\n\x01").Key("n").Uint64(18446744073709551615ULL);
  json.Key("list").BeginArray().Bool(true).Bool(false).BeginObject().EndObject().EndArray();
  json.Key("b").Bytes("hi").EndObject();
  CHECK(json.str() ==
        R"({"a":"q\"\\\n\u0001","n":"18446744073709551615","list":[true,false,{}],"b":"aGk="})");
}

TEST_CASE("clawctl parses txn compares and operations", "[tools]") {
  auto value = ParseCompare("value(k) = v");
  REQUIRE(value);
  CHECK(value->key == "k");
  CHECK(value->target == client::Compare::Target::kValue);
  CHECK(value->op == client::Compare::Op::kEqual);
  CHECK(value->value == "v");
  auto quoted = ParseCompare(R"x(value("a b)") != "x\x00y")x");
  REQUIRE(quoted);
  CHECK(quoted->key == "a b)");
  CHECK(quoted->value == std::string("x\0y", 3));
  auto version = ParseCompare("version(k) > 3");
  REQUIRE(version);
  CHECK(version->number == 3);
  CHECK(version->op == client::Compare::Op::kGreater);
  CHECK(ParseCompare("mod(k) < 99")->target == client::Compare::Target::kModTs);
  CHECK(ParseCompare("exists(k)")->exists);
  CHECK_FALSE(ParseCompare("!exists(k)")->exists);
  CHECK_FALSE(ParseCompare("version(k) = x"));
  CHECK_FALSE(ParseCompare("value(k) ~ v"));
  CHECK_FALSE(ParseCompare("size(k) = 1"));
  CHECK_FALSE(ParseCompare("value k = v"));

  CHECK(ParseOp("put k \"two words\"")->value == "two words");
  CHECK(ParseOp("get k")->type == client::Op::Type::kGet);
  CHECK(ParseOp("del k")->type == client::Op::Type::kDelete);
  CHECK(ParseOp("delrange a b")->end_key == "b");
  CHECK_FALSE(ParseOp("put k"));
  CHECK_FALSE(ParseOp("put k \"open"));
}

TEST_CASE("clawctl reads an etcdctl-style txn script", "[tools]") {
  std::istringstream script("# compares\nvalue(k) = v\nversion(k) > 0\n\nput k w\n\nget k\n");
  auto spec = ParseTxnScript(script);
  REQUIRE(spec);
  CHECK(spec->compares.size() == 2);
  CHECK(spec->success.size() == 1);
  CHECK(spec->failure.size() == 1);
  std::istringstream too_many("a\n\nb\n\nc\n\nd\n");
  CHECK_FALSE(ParseTxnScript(too_many));
}

TEST_CASE("clawctl renders shard and member tables", "[tools]") {
  client::ShardInfo shard;
  shard.id = 7;
  shard.end_key = "m\x01";
  shard.epoch = {2, 3};
  shard.replicas = {{1, 1, false}, {4, 2, true}};
  shard.leader_node_id = 1;
  CHECK(FormatShards({shard}, OutputFormat::kTable) ==
        "SHARD  START    END    EPOCH  REPLICAS      LEADER\n"
        "7      (start)  m\\x01  2.3    1,4(learner)  1\n");
  const std::string json = FormatShards({shard}, OutputFormat::kJson);
  CHECK(json.find(R"("end_key":"bQE=")") != std::string::npos);
  CHECK(json.find(R"("role":"LEARNER")") != std::string::npos);
  client::MemberInfo member{3, "n3", "h:1", "h:2", "z1", "", "host3", true};
  CHECK(FormatMembers({member}, OutputFormat::kTable) ==
        "NODE  NAME  CLIENT  PEER  ZONE/RACK/HOST  REACHABLE\n"
        "3     n3    h:1     h:2   z1/-/host3      yes\n");
}

TEST_CASE("clawctl error messages carry code, message and hint", "[tools]") {
  client::Error error;
  error.code = client::ErrorCode::kNotLeader;
  error.message = "no";
  error.leader_node_id = 2;
  error.leader_address = "h:2";
  CHECK(FormatError(error) == "Error: NOT_LEADER: no\nhint: the leader is node 2 at h:2\n");
  error.code = client::ErrorCode::kDeadlineExceeded;
  error.definite = false;
  const std::string text = FormatError(error);
  CHECK(text.find("--timeout") != std::string::npos);
  CHECK(text.find("may have been applied") != std::string::npos);
}

TEST_CASE("clawctl commands against a cluster, with their exit codes", "[tools]") {
  client::testing::FakeCluster cluster(3);
  cluster.Split("m", 2, 2);
  CHECK(RunOn(cluster, {"put", "a", "1"}).out == "OK\n");
  CHECK(RunOn(cluster, {"put", "z", "26"}).code == kExitOk);
  CHECK(RunOn(cluster, {"put", "a", "2", "--prev-kv"}).out == "OK\na\t1\n");
  CHECK(RunOn(cluster, {"get", "a"}).out == "2\n");
  auto missing = RunOn(cluster, {"get", "nope"});
  CHECK(missing.code == kExitNotFound);
  CHECK(missing.out.empty());
  CHECK(missing.err.find("not found") != std::string::npos);
  CHECK(RunOn(cluster, {"-w", "json", "get", "a"}).out.starts_with(R"({"key":"YQ==","value":"Mg==")"));
  CHECK(RunOn(cluster, {"scan", ""}).out == "a\t2\nz\t26\n");
  CHECK(RunOn(cluster, {"scan", "", "--reverse", "--keys-only"}).out == "z\na\n");
  auto limited = RunOn(cluster, {"scan", "", "--limit", "1"});
  CHECK(limited.out == "a\t2\n");
  CHECK(limited.err.find("more keys") != std::string::npos);
  CHECK(RunOn(cluster, {"-w", "json", "scan", "a", "b"}).out ==
        R"({"kvs":[{"key":"YQ==","value":"Mg==","version":"2","mod_ts":"3","create_ts":"1"}],)"
        R"("count":"1","more":false})" "\n");

  auto ok = RunOn(cluster, {"txn", "--if", "value(a) = 2", "--then", "put a 3", "--else", "get a"});
  CHECK(ok.code == kExitOk);
  CHECK(ok.out == "SUCCEEDED\nOK\n");
  auto failed = RunOn(cluster, {"txn"}, "value(a) = 2\n\nput a 4\n\nget a\n");
  CHECK(failed.code == kExitTxnFailed);
  CHECK(failed.out == "FAILED\na\t3\n");
  auto spanning = RunOn(cluster, {"txn", "--then", "put a 1", "--then", "put z 1"});
  CHECK(spanning.code == kExitFailed);
  CHECK(spanning.err.find("INVALID_ARGUMENT") != std::string::npos);

  CHECK(RunOn(cluster, {"del", "--prefix", "z"}).out == "1\n");
  CHECK(RunOn(cluster, {"del", "a"}).out == "1\n");
  CHECK(RunOn(cluster, {"del", "--range", "a", "zz"}).out == "0\n");

  auto shards = RunOn(cluster, {"shard", "list"});
  CHECK(shards.code == kExitOk);
  INFO(shards.out);
  CHECK(shards.out.find("\n2      m        (end)  1.2    1,2,3     2\n") != std::string::npos);
  auto members = RunOn(cluster, {"-w", "json", "member", "list"});
  CHECK(members.out.find(R"("zone":"z2")") != std::string::npos);
  auto status = RunOn(cluster, {"status"});
  CHECK(status.code == kExitOk);
  CHECK(status.out.find("0.0.0-fake") != std::string::npos);
}

TEST_CASE("clawctl reports a failed request on stderr with exit code 1", "[tools]") {
  client::testing::FakeCluster cluster(1);
  v1::Error too_large;
  too_large.set_code(v1::Error::TOO_LARGE);
  too_large.set_message("value of 2 MiB exceeds 1 MiB");
  cluster.Inject({.method = "Put", .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                  .error = too_large});
  auto run = RunOn(cluster, {"put", "k", "v"});
  CHECK(run.code == kExitFailed);
  CHECK(run.out.empty());
  CHECK(run.err.starts_with("Error: TOO_LARGE: value of 2 MiB exceeds 1 MiB\nhint: "));
}

}  // namespace claw::clawctl::testing
