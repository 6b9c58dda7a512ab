// Metrics on a real cluster: every node's /metrics passes `promtool check metrics` and carries the
// series the work done implies (proposals, gRPC by method and code, peer round trips, shards by
// role); /healthz and /readyz answer; and a real Prometheus server (Debian's, started here on
// loopback with a generated config) scrapes all three nodes and answers PromQL queries over them.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "cluster.h"
#include "e2e_util.h"
#include "tests/common/http_get.h"

namespace claw::e2e {
namespace {

using testing::HttpGet;

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

// A process started in the background that dies with the test process; killed by the destructor.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::freopen(log.c_str(), "w", stdout);
      std::freopen(log.c_str(), "a", stderr);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::_Exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

 private:
  pid_t pid_ = -1;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The single value of an instant-vector PromQL answer ({"value":[<time>,"<v>"]}), or -1.
double PromScalar(int port, const std::string& query) {
  const auto r = HttpGet(port, "/api/v1/query?query=" + UrlEncode(query));
  if (r.status != 200) return -1;
  static const std::regex value(R"re("value":\[[0-9.]+,"([^"]+)"\])re");
  std::smatch m;
  if (!std::regex_search(r.body, m, value)) return -1;
  return std::strtod(m[1].str().c_str(), nullptr);
}

}  // namespace

TEST_CASE("metrics: every node's exposition is valid and reflects the work done", "[e2e]") {
  TestCluster& c = SharedCluster();
  auto client = OpenClient(c);
  for (int i = 0; i < 40; ++i) {
    auto put = client->Put(K(static_cast<unsigned char>(i * 6), "metrics-" + std::to_string(i)), "v");
    REQUIRE(put.has_value());
  }
  double leaders = 0, committed = 0;
  for (int i = 0; i < c.size(); ++i) {
    INFO("node " << i);
    const int port = c.http_port(i);
    CHECK(HttpGet(port, "/healthz").status == 200);
    CHECK(HttpGet(port, "/readyz").status == 200);
    // Peer round trips are sampled from the keepalive batches (every 500 ms when idle).
    std::string text;
    CHECK(Eventually([&] {
      text = HttpGet(port, "/metrics").body;
      return SampleValue(text, "clawd_peer_round_trip_time_seconds_count{peer=\"" +
                                   std::to_string(c.node_id((i + 1) % 3)) + "\"}") > 0;
    }));
    const std::string path = c.dir() + "/metrics-" + std::to_string(i) + ".txt";
    std::ofstream(path) << text;
    const ProcessResult check = RunProcess({"/bin/sh", "-c", "promtool check metrics < " + path});
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
    CHECK(SampleValue(text, "clawd_ready") == 1);
    CHECK(text.find("\nclawd_build_info{revision=\"") != std::string::npos);
    CHECK(SampleValue(text, "clawd_shards_without_leader") == 0);
    CHECK(SampleValue(text, "clawd_raft_proposals_applied_total") > 0);
    CHECK(SampleValue(text, "clawd_wal_fsync_duration_seconds_count") > 0);
    CHECK(SampleValue(text, "process_open_fds") > 0);
    committed += SampleValue(text, "clawd_raft_proposals_committed_total");
    // The peer streams are counted too (they stay open: started, not yet handled).
    CHECK(SampleValue(text, "clawd_grpc_server_started_total{grpc_method=\"Send\",grpc_service=\"claw.v1.RaftPeer\","
                            "grpc_type=\"client_stream\"}") >= 2);
  }
  // The meta shard and the 4 data shards (more if an earlier test split some): one leader each,
  // once every worker's gauge pass (each 10 ticks) has seen the elections.
  CHECK(Eventually([&] {
    leaders = 0;
    for (int i = 0; i < c.size(); ++i) {
      leaders += SampleValue(HttpGet(c.http_port(i), "/metrics").body, "clawd_shards{role=\"leader\"}");
    }
    return leaders >= 5;
  }));
  CHECK(committed >= 40);
  // The puts went to the leaders' nodes: their KV.Put OK counts add up to at least 40, unary
  // RPCs and calls of the client library's Multiplex streams together.
  double puts = 0;
  for (int i = 0; i < c.size(); ++i) {
    const std::string body = HttpGet(c.http_port(i), "/metrics").body;
    for (const char* type : {"unary", "multiplexed"}) {
      puts += std::max(0.0, SampleValue(body, std::string("clawd_grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Put\","
                                                          "grpc_service=\"claw.v1.KV\",grpc_type=\"") + type + "\"}"));
    }
  }
  CHECK(puts >= 40);
}

TEST_CASE("metrics: a real Prometheus server scrapes the cluster and answers PromQL over it", "[e2e]") {
  TestCluster& c = SharedCluster();
  const int port = FreePort();
  const std::string dir = c.dir() + "/prometheus";
  REQUIRE(std::system(("mkdir -p " + dir).c_str()) == 0);
  std::string targets;
  for (int i = 0; i < c.size(); ++i) {
    targets += (i ? ", " : "") + std::string("'127.0.0.1:") + std::to_string(c.http_port(i)) + "'";
  }
  std::ofstream(dir + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                         << "scrape_configs:\n  - job_name: clawd\n    static_configs:\n"
                                         << "      - targets: [" << targets << "]\n";
  const std::string log = dir + "/prometheus.log";
  Background prometheus({"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
                         "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                        log);
  // Every target up with no scrape error.
  std::string body;
  const bool up = Eventually(
      [&] {
        body = HttpGet(port, "/api/v1/targets").body;
        return Count(body, "\"health\":\"up\"") == 3 && Count(body, "\"lastError\":\"\"") == 3;
      },
      std::chrono::seconds(30));
  INFO("targets: " << body << "\nprometheus log:\n" << ReadAll(log));
  REQUIRE(up);
  CHECK(Eventually([&] { return PromScalar(port, "count(clawd_build_info)") == 3; }, std::chrono::seconds(15)));
  // The state gauges follow the cluster within a scrape or two (a fresh cluster is still
  // electing when the first scrapes come in).
  const auto soon = std::chrono::seconds(15);
  CHECK(PromScalar(port, "sum(up{job=\"clawd\"})") == 3);
  CHECK(Eventually([&] { return PromScalar(port, "sum(clawd_shards{role=\"leader\"})") >= 5; }, soon));
  CHECK(Eventually([&] { return PromScalar(port, "max(clawd_shards_without_leader)") == 0; }, soon));
  CHECK(Eventually([&] { return PromScalar(port, "count(clawd_peer_round_trip_time_seconds_count)") == 6; },
                   soon));  // 3 nodes x 2 peers
  // One meta leader (a scrape or two after a fresh cluster elected it).
  CHECK(Eventually([&] { return PromScalar(port, "sum(clawd_meta_leader)") == 1; }, soon));
}

}  // namespace claw::e2e
