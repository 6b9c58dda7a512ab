// clawd's start-up refusals as a process: configuration errors exit 78 (EX_CONFIG) with the
// offending key named, a data directory of another cluster exits 76 (EX_PROTOCOL) with a clear
// message and is left intact, an uncreatable data directory exits 73 (EX_CANTCREAT).
#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

ProcessResult Clawd(std::vector<std::string> args) {
  args.insert(args.begin(), ClawdPath());
  ProcessResult r = RunProcess(args, "", std::chrono::seconds(20));
  UNSCOPED_INFO("clawd exit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

}  // namespace

TEST_CASE("config: --check-config exits 78 on a bad flag and 0 on a good configuration", "[e2e]") {
  SECTION("a value out of range names its key") {
    ProcessResult r = Clawd({"--check-config", "--raft-tick-ms", "5"});
    CHECK(r.exit_code == 78);
    CHECK(r.err.find("tick") != std::string::npos);
  }
  SECTION("an unknown flag") {
    ProcessResult r = Clawd({"--check-config", "--raft-tick-msec", "50"});
    CHECK(r.exit_code == 78);
    CHECK(r.err.find("--raft-tick-msec") != std::string::npos);
  }
  SECTION("a malformed value and a broken cross-field rule") {
    CHECK(Clawd({"--check-config", "--limits-max-value-bytes", "lots"}).exit_code == 78);
    // heartbeat_ticks must be below election_ticks.
    CHECK(Clawd({"--check-config", "--raft-election-ticks", "5", "--raft-heartbeat-ticks", "5"}).exit_code == 78);
    // The name must be in initial_cluster.
    CHECK(Clawd({"--check-config", "--name", "n9", "--initial-cluster", "n1=127.0.0.1:7380"}).exit_code == 78);
  }
  SECTION("a good configuration passes and does not start a node") {
    ProcessResult r = Clawd({"--check-config", "--name", "n2", "--initial-cluster",
                             "n1=127.0.0.1:7380,n2=127.0.0.1:7480", "--peer-addr", "127.0.0.1:7480",
                             "--raft-tick-ms", "50"});
    CHECK(r.exit_code == 0);
    CHECK_FALSE(r.out.empty());
  }
}

TEST_CASE("config: a data directory of another cluster is refused (exit 76) and left intact", "[e2e]") {
  TestCluster c({.nodes = 1, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  {
    auto client = OpenClient(c);
    REQUIRE(client->Put("owner", "first-cluster").has_value());
  }
  REQUIRE(c.Stop(0) == 0);

  const std::string peer = "127.0.0.1:" + std::to_string(FreePort());
  const std::vector<std::string> common = {
      "--data-dir", c.data_dir(0), "--client-addr", "127.0.0.1:" + std::to_string(FreePort()),
      "--http-addr", "127.0.0.1:" + std::to_string(FreePort()), "--storage-direct-io=false", "--shards", "4"};
  SECTION("another initial cluster (another cluster id)") {
    std::vector<std::string> args = {"--name", "n1", "--peer-addr", peer, "--initial-cluster",
                                     "n1=" + peer + ",n2=127.0.0.1:" + std::to_string(FreePort())};
    args.insert(args.end(), common.begin(), common.end());
    ProcessResult r = Clawd(args);
    CHECK(r.exit_code == 76);
    const std::string all = r.out + r.err;
    CHECK(all.find(c.data_dir(0)) != std::string::npos);
    CHECK(all.find("belongs to node 1 of cluster") != std::string::npos);
  }
  SECTION("another member of a cluster that includes the real node (another node id)") {
    // The directory's node is n1 at its peer address; this process claims to be n2 beside it.
    std::vector<std::string> args = {"--name", "n2", "--peer-addr", peer, "--initial-cluster",
                                     "n1=" + c.peer_address(0) + ",n2=" + peer};
    args.insert(args.end(), common.begin(), common.end());
    ProcessResult r = Clawd(args);
    CHECK(r.exit_code == 76);
    CHECK((r.out + r.err).find("belongs to node 1") != std::string::npos);
    CHECK((r.out + r.err).find("makes this node 2") != std::string::npos);
  }
  // Either way the directory still belongs to its node, which starts with its data.
  c.Start(0);
  REQUIRE(c.WaitServing(0));
  REQUIRE(c.WaitLeaders(0));
  auto client = OpenClient(c);
  auto got = client->Get("owner");
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->value == "first-cluster");
}

TEST_CASE("config: a data directory that cannot be created exits 73", "[e2e]") {
  ProcessResult r = Clawd({"--data-dir", "/dev/null/clawd-data", "--client-addr",
                           "127.0.0.1:" + std::to_string(FreePort()), "--peer-addr",
                           "127.0.0.1:" + std::to_string(FreePort()), "--http-addr",
                           "127.0.0.1:" + std::to_string(FreePort()), "--storage-direct-io=false"});
  CHECK(r.exit_code == 73);
  CHECK((r.out + r.err).find("/dev/null/clawd-data") != std::string::npos);
}

}  // namespace claw::e2e
