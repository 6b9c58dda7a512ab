// The clawbench binary against a 3-node clawd cluster of its own (its keys spread over the whole
// key space, so it does not share the cluster of the other tests): every workload, closed loop
// and fixed rate, runs briefly and its -w json report is well-formed — counts add up, percentiles
// are ordered, no errors — and that failures are counted by code. tools/clawbench/idle measures a
// small idle cluster and prints a row per node. No timing is asserted.
#include <catch2/catch.hpp>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

ProcessResult Bench(const TestCluster& c, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CLAWBENCH_BINARY, "--endpoints", Endpoints(c), "--timeout", "10s"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv, "", std::chrono::seconds(60));
  UNSCOPED_INFO("clawbench " << args.back() << " exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

double Num(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  INFO("key " << key);
  REQUIRE(it != s.fields().end());
  REQUIRE(it->second.kind_case() == Value::kNumberValue);
  return it->second.number_value();
}

const Struct& Obj(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  INFO("key " << key);
  REQUIRE(it != s.fields().end());
  REQUIRE(it->second.kind_case() == Value::kStructValue);
  return it->second.struct_value();
}

// Parses a -w json report and checks what every report must satisfy; returns it.
Struct CheckReport(const ProcessResult& r, double total, const std::string& workload) {
  REQUIRE(r.exit_code == 0);
  Struct report;
  REQUIRE(google::protobuf::util::JsonStringToMessage(r.out, &report).ok());
  CHECK(report.fields().at("target").string_value() == "clawd");
  CHECK(report.fields().at("workload").string_value() == workload);
  const double ok = Num(report, "ok");
  CHECK(Num(report, "sent") == total);
  CHECK(ok == total);
  CHECK(Num(report, "failed") == 0);
  CHECK(Obj(report, "errors").fields().empty());
  double ops = 0;
  for (const auto& [kind, n] : Obj(report, "ops").fields()) ops += n.number_value();
  CHECK(ops == ok);
  CHECK(Num(report, "elapsed_s") > 0);
  CHECK(Num(report, "throughput") > 0);
  const Struct& latency = Obj(report, "latency_ms");
  CHECK(Num(latency, "count") == ok);
  double last = Num(latency, "min");
  CHECK(last > 0);
  for (const char* p : {"p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99_9", "max"}) {
    INFO(p);
    CHECK(Num(latency, p) >= last);
    last = Num(latency, p);
  }
  CHECK(Num(latency, "mean") >= Num(latency, "min"));
  CHECK(Num(latency, "mean") <= Num(latency, "max"));
  double in_histogram = 0;
  const auto& buckets = report.fields().at("histogram").list_value().values();
  CHECK_FALSE(buckets.empty());
  for (const auto& b : buckets) in_histogram += b.struct_value().fields().at("count").number_value();
  CHECK(in_histogram == ok);
  return report;
}

}  // namespace

TEST_CASE("clawbench runs every workload against 3 nodes with well-formed reports", "[e2e]") {
  TestCluster c(ClusterOptions{.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  const std::vector<std::string> keys = {"--key-size", "16", "--key-space-size", "500"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), keys.begin(), keys.end());
    return args;
  };

  // Every key of the key space, in order, so that the reads below find them.
  Struct put = CheckReport(
      Bench(c, with({"-w", "json", "--conns", "2", "--clients", "8", "--total", "500", "put", "--val-size", "64",
                     "--sequential-keys"})),
      500, "put");
  CHECK(Num(put, "keys_written") == 500);

  Struct get = CheckReport(Bench(c, with({"-w", "json", "--clients", "8", "--total", "300", "get"})), 300, "get");
  CHECK(Num(get, "not_found") == 0);
  // Stale reads may miss a key a lagging follower has not applied yet: not_found is not checked.
  CheckReport(Bench(c, with({"-w", "json", "--clients", "4", "--total", "200", "range", "--consistency", "s"})), 200,
              "get");

  Struct mixed = CheckReport(Bench(c, with({"-w", "json", "--clients", "8", "--total", "300", "--key-dist", "zipfian",
                                            "mixed", "--read-ratio", "0.7"})),
                             300, "mixed");
  CHECK(Num(Obj(mixed, "ops"), "get") > 0);
  CHECK(Num(Obj(mixed, "ops"), "put") > 0);

  Struct scan = CheckReport(Bench(c, with({"-w", "json", "--clients", "4", "--total", "50", "scan", "--limit", "10"})),
                            50, "scan");
  CHECK(Num(scan, "keys_read") > 0);
  CHECK(Num(scan, "keys_read") <= 500);

  Struct batch = CheckReport(
      Bench(c, with({"-w", "json", "--clients", "4", "--total", "40", "batch", "--ops-per-request", "20"})), 40,
      "batch");
  CHECK(Num(batch, "keys_written") == 800);

  // Fixed rate: the same counts; latency counts from the timetable.
  Struct rated = CheckReport(
      Bench(c, with({"-w", "json", "--clients", "4", "--total", "100", "--rate", "200", "put", "--durability", "leader"})),
      100, "put");
  CHECK(Num(rated, "rate") == 200);

  // The text report, and a usage error.
  ProcessResult text = Bench(c, with({"--clients", "2", "--total", "20", "get"}));
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("Requests/sec:"));
  CHECK_THAT(text.out, Catch::Contains("99.9% in "));
  ProcessResult usage = Bench(c, {"put", "--read-ratio", "0.5"});
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.err, Catch::Contains("--read-ratio is an option of mixed, not put"));

  // Failed requests are counted by code, and the run exits 1: values above the server's 1 MiB
  // limit are refused (TOO_LARGE) at once.
  ProcessResult failing = Bench(c, {"-w", "json", "--clients", "2", "--total", "6", "put", "--val-size", "2097152"});
  CHECK(failing.exit_code == 1);
  Struct report;
  REQUIRE(google::protobuf::util::JsonStringToMessage(failing.out, &report).ok());
  CHECK(Num(report, "sent") == 6);
  CHECK(Num(report, "ok") == 0);
  CHECK(Num(report, "failed") == 6);
  CHECK(Num(Obj(Obj(report, "errors"), "TOO_LARGE"), "count") == 6);
  CHECK(Num(Obj(report, "latency_ms"), "count") == 0);
  CHECK_THAT(failing.err, Catch::Contains("6 of 6 requests failed"));
}

TEST_CASE("clawbench idle: a small idle cluster's CPU, RSS and shard gauges per node", "[e2e]") {
  // Settle 5 s: the placement service starts balancing 3 heartbeat intervals (3 s) after its
  // meta leader is elected and may move leaderships, the meta shard's included, until about 4 s;
  // the per-node gauges trail a move by up to 1 s, so a shorter settle could count two meta
  // leaders (it did, once, with settle 2 on a loaded machine).
  const ProcessResult r = RunProcess({std::string(CLAW_SOURCE_DIR) + "/tools/clawbench/idle", "--shards", "6",
                                      "--settle", "5", "--seconds", "2", "--build", CLAW_BUILD_DIR},
                                     "", std::chrono::seconds(120));
  INFO("exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("clawd idle: 3 nodes on loopback, 6 shards") != std::string::npos);
  // One row per node: name, CPU %, RSS, leaders, followers, hibernating, meta leader; the
  // replicas (6 data shards + meta on each node) add up and exactly one node leads the meta shard.
  std::istringstream in(r.out);
  std::string line;
  int rows = 0, meta_leaders = 0;
  while (std::getline(in, line)) {
    if (line.size() < 2 || line[0] != 'n' || line[1] < '1' || line[1] > '9') continue;  // node rows
    std::istringstream fields(line);
    std::string name;
    double cpu = -1;
    long rss = 0, leaders = -1, followers = -1, hibernating = -1, meta = -1;
    fields >> name >> cpu >> rss >> leaders >> followers >> hibernating >> meta;
    INFO(line);
    REQUIRE_FALSE(fields.fail());
    CHECK(cpu >= 0);
    CHECK(rss > 0);
    CHECK(leaders + followers == 7);
    CHECK(hibernating <= 7);
    meta_leaders += static_cast<int>(meta);
    ++rows;
  }
  CHECK(rows == 3);
  CHECK(meta_leaders == 1);
}

}  // namespace claw::e2e
