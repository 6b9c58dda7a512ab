// The clawctl binary against the shared cluster: data commands (put, get, scan, del, txn) and
// admin commands (status, shard list, member list) in table and JSON output, and the exit codes
// of tools/README.md (0 ok, 1 request failed, 2 usage, 3 get of a missing key, 4 txn else).
#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

std::string Endpoints(const TestCluster& c) {
  std::string out;
  for (int i = 0; i < c.size(); ++i) out += (i ? "," : "") + c.client_address(i);
  return out;
}

// Runs clawctl with the cluster's endpoints and `args`.
ProcessResult Ctl(const TestCluster& c, std::vector<std::string> args, const std::string& input = "") {
  std::vector<std::string> argv = {ClawctlPath(), "--endpoints", Endpoints(c), "--timeout", "5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv, input);
  UNSCOPED_INFO("clawctl exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

// Keys "?ctl/..." (0x3f) and "@ctl/..." (0x40) sit on both sides of the first shard boundary.
TEST_CASE("clawctl: data commands in table and JSON output, with their exit codes", "[e2e]") {
  TestCluster& c = SharedCluster();
  REQUIRE(Ctl(c, {"del", "--range", "?ctl/", "@ctl0"}).exit_code == 0);

  SECTION("put, get, del") {
    ProcessResult put = Ctl(c, {"put", "?ctl/a", "hello"});
    CHECK(put.exit_code == 0);
    CHECK(put.out.rfind("OK\n", 0) == 0);
    ProcessResult get = Ctl(c, {"get", "?ctl/a"});
    CHECK(get.exit_code == 0);
    CHECK(get.out == "hello\n");
    ProcessResult prev = Ctl(c, {"put", "?ctl/a", "world", "--prev-kv"});
    CHECK(prev.exit_code == 0);
    CHECK(prev.out == "OK\n?ctl/a\thello\n");
    ProcessResult json = Ctl(c, {"-w", "json", "get", "?ctl/a"});
    CHECK(json.exit_code == 0);
    // base64("?ctl/a") = P2N0bC9h, base64("world") = d29ybGQ=; 64-bit numbers as strings.
    CHECK(json.out.rfind(R"({"key":"P2N0bC9h","value":"d29ybGQ=","version":"2","mod_ts":")", 0) == 0);
    CHECK(Count(json.out, "\n") == 1);
    ProcessResult del = Ctl(c, {"-w", "json", "del", "?ctl/a", "--prev-kv"});
    CHECK(del.exit_code == 0);
    CHECK(del.out.rfind(R"({"deleted":"1","prev":{"key":"P2N0bC9h","value":"d29ybGQ=","version":"2",)", 0) == 0);
    ProcessResult del_again = Ctl(c, {"del", "?ctl/a"});
    CHECK(del_again.exit_code == 0);
    CHECK(del_again.out.rfind("0\n", 0) == 0);
  }
  SECTION("get of a missing key exits 3 (null in JSON)") {
    ProcessResult table = Ctl(c, {"get", "?ctl/missing"});
    CHECK(table.exit_code == 3);
    CHECK(table.out.empty());
    CHECK(table.err.find("not found") != std::string::npos);
    ProcessResult json = Ctl(c, {"-w", "json", "get", "?ctl/missing"});
    CHECK(json.exit_code == 3);
    CHECK(json.out == "null\n");
  }
  SECTION("scan across the shard boundary: table, keys only, reverse, limit, prefix, JSON") {
    for (const char* k : {"?ctl/1", "?ctl/2", "@ctl/1", "@ctl/2"}) {
      REQUIRE(Ctl(c, {"put", k, std::string("v") + k}).exit_code == 0);
    }
    ProcessResult all = Ctl(c, {"scan", "?ctl/", "@ctl0"});
    CHECK(all.exit_code == 0);
    CHECK(all.out == "?ctl/1\tv?ctl/1\n?ctl/2\tv?ctl/2\n@ctl/1\tv@ctl/1\n@ctl/2\tv@ctl/2\n");
    ProcessResult keys = Ctl(c, {"scan", "?ctl/", "@ctl0", "--keys-only", "--reverse"});
    CHECK(keys.exit_code == 0);
    CHECK(keys.out == "@ctl/2\n@ctl/1\n?ctl/2\n?ctl/1\n");
    ProcessResult limited = Ctl(c, {"scan", "?ctl/", "@ctl0", "--limit", "3", "--keys-only"});
    CHECK(limited.exit_code == 0);
    CHECK(limited.out == "?ctl/1\n?ctl/2\n@ctl/1\n");
    ProcessResult prefix = Ctl(c, {"scan", "--prefix", "@ctl/", "--keys-only"});
    CHECK(prefix.exit_code == 0);
    CHECK(prefix.out == "@ctl/1\n@ctl/2\n");
    ProcessResult json = Ctl(c, {"-w", "json", "scan", "?ctl/", "@ctl0", "--limit", "2"});
    CHECK(json.exit_code == 0);
    CHECK(Count(json.out, R"("key":)") == 2);
    CHECK(json.out.find(R"("count":"2","more":true})") != std::string::npos);
    ProcessResult range = Ctl(c, {"del", "--range", "?ctl/", "@ctl0"});
    CHECK(range.exit_code == 0);
    CHECK(range.out == "4\n");
  }
  SECTION("txn: success exits 0, else branch exits 4") {
    REQUIRE(Ctl(c, {"put", "?ctl/lock", "free"}).exit_code == 0);
    ProcessResult won = Ctl(c, {"txn", "--if", "value(?ctl/lock) = free", "--then", "put ?ctl/lock me",
                                "--else", "get ?ctl/lock"});
    CHECK(won.exit_code == 0);
    CHECK(won.out.rfind("SUCCEEDED\n", 0) == 0);
    ProcessResult lost = Ctl(c, {"txn", "--if", "value(?ctl/lock) = free", "--then", "put ?ctl/lock you",
                                 "--else", "get ?ctl/lock"});
    CHECK(lost.exit_code == 4);
    CHECK(lost.out.rfind("FAILED\n", 0) == 0);
    CHECK(lost.out.find("me") != std::string::npos);
    // The same from a script on stdin: compares, blank line, success ops, blank line, failure ops.
    ProcessResult script = Ctl(c, {"txn"}, "version(?ctl/lock) = 2\n\nput ?ctl/lock done\n\nget ?ctl/lock\n");
    CHECK(script.exit_code == 0);
    ProcessResult got = Ctl(c, {"get", "?ctl/lock"});
    CHECK(got.out == "done\n");
  }
  SECTION("failed requests exit 1 with the error code on stderr") {
    ProcessResult big = Ctl(c, {"put", "?ctl/" + std::string(5000, 'k'), "v"});
    CHECK(big.exit_code == 1);
    CHECK(big.err.find("TOO_LARGE") != std::string::npos);
    CHECK(big.out.empty());
    ProcessResult span = Ctl(c, {"txn", "--then", "put ?ctl/x 1", "--then", "put @ctl/x 2"});
    CHECK(span.exit_code == 1);
    CHECK(span.err.find("INVALID_ARGUMENT") != std::string::npos);
    ProcessResult nobody = RunProcess({ClawctlPath(), "--endpoints", "127.0.0.1:" + std::to_string(FreePort()),
                                       "--timeout", "500ms", "get", "x"});
    CHECK(nobody.exit_code == 1);
    CHECK_FALSE(nobody.err.empty());
  }
  SECTION("usage errors exit 2") {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"frobnicate"}, {"get"}, {"put", "only-key"},
                                               {"scan", "a", "--limit", "lots"}, {"-w", "yaml", "get", "a"},
                                               {"txn", "--if", "value(x) ~ y"}}) {
      ProcessResult r = Ctl(c, args);
      CHECK(r.exit_code == 2);
      CHECK_FALSE(r.err.empty());
      CHECK(r.out.empty());
    }
  }
}

TEST_CASE("clawctl: put and del print exactly OK and the count without --prev-kv", "[e2e]") {
  TestCluster& c = SharedCluster();
  ProcessResult put = Ctl(c, {"put", "?ctl/exact", "v"});
  CHECK(put.exit_code == 0);
  CHECK(put.out == "OK\n");
  ProcessResult del = Ctl(c, {"del", "?ctl/exact"});
  CHECK(del.exit_code == 0);
  CHECK(del.out == "1\n");
}

TEST_CASE("clawctl: status, shard list and member list describe the cluster", "[e2e]") {
  TestCluster& c = SharedCluster();
  SECTION("status asks every endpoint") {
    ProcessResult table = Ctl(c, {"status"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("ENDPOINT", 0) == 0);
    for (int i = 0; i < c.size(); ++i) CHECK(table.out.find(c.client_address(i)) != std::string::npos);
    CHECK(Count(table.out, "\n") == 4);  // header + 3 nodes
    ProcessResult json = Ctl(c, {"-w", "json", "status"});
    CHECK(json.exit_code == 0);
    for (const char* id : {R"("node_id":"1")", R"("node_id":"2")", R"("node_id":"3")"}) {
      CHECK(json.out.find(id) != std::string::npos);
    }
    CHECK(Count(json.out, R"("replicas":"5")") == 3);  // 4 data shards + the meta shard each
    // One endpoint that does not answer: the others are listed, and the exit code is 1.
    ProcessResult partial = RunProcess({ClawctlPath(), "--endpoints",
                                        c.client_address(0) + ",127.0.0.1:" + std::to_string(FreePort()),
                                        "--timeout", "1s", "status"});
    CHECK(partial.exit_code == 1);
    CHECK(partial.out.find(c.client_address(0)) != std::string::npos);
  }
  SECTION("shard list") {
    ProcessResult table = Ctl(c, {"shard", "list"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("SHARD", 0) == 0);
    CHECK(Count(table.out, "\n") == 5);  // header + 4 data shards
    CHECK(table.out.find("(start)") != std::string::npos);
    CHECK(table.out.find("(end)") != std::string::npos);
    CHECK(table.out.find("\\x80") != std::string::npos);
    CHECK(table.out.find("\\xc0") != std::string::npos);
    ProcessResult json = Ctl(c, {"-w", "json", "shard", "list"});
    CHECK(json.exit_code == 0);
    // Boundaries 0x40, 0x80, 0xc0 in base64: QA==, gA==, wA==.
    CHECK(json.out.find(R"("id":"2","start_key":"","end_key":"QA==")") != std::string::npos);
    CHECK(json.out.find(R"("id":"3","start_key":"QA==","end_key":"gA==")") != std::string::npos);
    CHECK(json.out.find(R"("id":"4","start_key":"gA==","end_key":"wA==")") != std::string::npos);
    CHECK(json.out.find(R"("id":"5","start_key":"wA==","end_key":"")") != std::string::npos);
    CHECK(Count(json.out, R"("role":"VOTER")") == 12);
  }
  SECTION("member list") {
    ProcessResult table = Ctl(c, {"member", "list"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.rfind("NODE", 0) == 0);
    CHECK(Count(table.out, "\n") == 4);
    CHECK(Count(table.out, "yes") == 3);
    ProcessResult json = Ctl(c, {"-w", "json", "member", "list"});
    CHECK(json.exit_code == 0);
    for (int i = 0; i < c.size(); ++i) {
      CHECK(json.out.find(R"("name":"n)" + std::to_string(i + 1) + R"(","client_address":")" +
                          c.client_address(i) + "\"") != std::string::npos);
    }
    CHECK(Count(json.out, R"("reachable":true)") == 3);
  }
}

}  // namespace claw::e2e
