// server/metrics.h and server/http_server.h: the exposition follows the text format 0.0.4 rules
// that promtool does not check (families contiguous, HELP and TYPE first, cumulative buckets, +Inf
// equal to _count, no duplicate series, naming), passes `promtool check metrics`, and is served
// over HTTP with the right status codes and Content-Type.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server/http_server.h"
#include "server/metrics.h"
#include "tests/common/http_get.h"

namespace claw::server {
namespace {

struct Sample {
  std::string name;
  std::string labels;  // as written, without braces
  double value = 0;
};

// The labels of a sample line without the `le` label.
std::string WithoutLe(const std::string& labels, std::string* le) {
  std::string rest;
  size_t i = 0;
  while (i < labels.size()) {
    size_t end = labels.find("\",", i);
    end = end == std::string::npos ? labels.size() : end + 1;
    std::string one = labels.substr(i, end - i);
    if (one.starts_with("le=\"")) {
      *le = one.substr(4, one.size() - 5);
    } else {
      if (!rest.empty()) rest += ",";
      rest += one;
    }
    i = end + 1;
  }
  return rest;
}

// The semantic rules of the text format that promtool lets through, plus our naming rules.
std::vector<std::string> CheckExposition(const std::string& text) {
  std::vector<std::string> problems;
  if (text.empty() || text.back() != '\n') problems.push_back("does not end with a newline");
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> closed;              // families whose group ended
  std::set<std::string> series;
  std::string current;
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // family+labels -> (le, count)
  std::map<std::string, double> counts;
  std::istringstream in(text);
  std::string line;
  auto family_of = [&](const std::string& sample) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (sample.ends_with(s)) {
        const std::string base = sample.substr(0, sample.size() - s.size());
        if (types.count(base) && types[base] == "histogram") return base;
      }
    }
    return sample;
  };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      if (name != current) {
        if (!current.empty()) closed.insert(current);
        if (closed.count(name)) problems.push_back(name + ": family split into two groups");
        current = name;
      }
      if (line.starts_with("# TYPE ")) {
        if (types.count(name)) problems.push_back(name + ": two TYPE lines");
        types[name] = type;
        if (type == "counter" && !name.ends_with("_total")) problems.push_back(name + ": counter without _total");
        if (type != "counter" && name.ends_with("_total")) problems.push_back(name + ": non-counter with _total");
        if (!name.starts_with("clawd_") && !name.starts_with("process_")) problems.push_back(name + ": no clawd_ prefix");
      }
      continue;
    }
    if (line.starts_with("#")) continue;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    std::string name = line.substr(0, std::min(brace, line.find(' ')));
    std::string labels;
    if (brace != std::string::npos) labels = line.substr(brace + 1, line.rfind('}') - brace - 1);
    const double value = std::strtod(line.c_str() + space + 1, nullptr);
    const std::string family = family_of(name);
    if (family != current) problems.push_back(name + ": sample outside its family's group");
    if (!types.count(family)) problems.push_back(name + ": sample before its TYPE");
    if (!series.insert(name + "{" + labels + "}").second) problems.push_back(name + "{" + labels + "}: duplicate series");
    if (name.ends_with("_bucket")) {
      std::string le;
      const std::string key = family + "{" + WithoutLe(labels, &le) + "}";
      const double bound = le == "+Inf" ? HUGE_VAL : std::strtod(le.c_str(), nullptr);
      buckets[key].emplace_back(bound, value);
    } else if (name.ends_with("_count") && types[family] == "histogram") {
      counts[family + "{" + labels + "}"] = value;
    }
  }
  for (const auto& [key, bs] : buckets) {
    for (size_t i = 1; i < bs.size(); ++i) {
      if (bs[i].first <= bs[i - 1].first) problems.push_back(key + ": buckets not in increasing le order");
      if (bs[i].second < bs[i - 1].second) problems.push_back(key + ": buckets not cumulative");
    }
    if (bs.empty() || bs.back().first != HUGE_VAL) {
      problems.push_back(key + ": no +Inf bucket");
    } else if (!counts.count(key) || counts[key] != bs.back().second) {
      problems.push_back(key + ": +Inf bucket differs from _count");
    }
  }
  return problems;
}

// `promtool check metrics` on `text`: its exit code and output.
std::pair<int, std::string> Promtool(const std::string& text) {
  char path[] = "/tmp/claw-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << text;
  const std::string out_path = std::string(path) + ".out";
  const std::string cmd = "promtool check metrics < " + std::string(path) + " > " + out_path + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream out(out_path);
  std::stringstream ss;
  ss << out.rdbuf();
  std::remove(path);
  std::remove(out_path.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST_CASE("the exposition checker catches the mistakes promtool lets through", "[server]") {
  const std::string good =
      "# HELP clawd_x_seconds x\n# TYPE clawd_x_seconds histogram\n"
      "clawd_x_seconds_bucket{le=\"0.1\"} 1\nclawd_x_seconds_bucket{le=\"+Inf\"} 2\n"
      "clawd_x_seconds_sum 0.3\nclawd_x_seconds_count 2\n";
  CHECK(CheckExposition(good).empty());
  // Not cumulative, and +Inf differs from the count.
  CHECK(!CheckExposition("# HELP clawd_x_seconds x\n# TYPE clawd_x_seconds histogram\n"
                         "clawd_x_seconds_bucket{le=\"0.1\"} 3\nclawd_x_seconds_bucket{le=\"+Inf\"} 2\n"
                         "clawd_x_seconds_sum 0.3\nclawd_x_seconds_count 5\n")
             .empty());
  // A family split in two, and a duplicate series.
  CHECK(!CheckExposition("# TYPE clawd_a gauge\nclawd_a 1\n# TYPE clawd_b gauge\nclawd_b 1\nclawd_a 2\n").empty());
  CHECK(!CheckExposition("# TYPE clawd_a gauge\nclawd_a 1\nclawd_a 1\n").empty());
  // Naming: a counter without _total, a gauge with it, no prefix, no final newline.
  CHECK(!CheckExposition("# TYPE clawd_c counter\nclawd_c 1\n").empty());
  CHECK(!CheckExposition("# TYPE clawd_g_total gauge\nclawd_g_total 1\n").empty());
  CHECK(!CheckExposition("# TYPE other gauge\nother 1\n").empty());
  CHECK(!CheckExposition("# TYPE clawd_a gauge\nclawd_a 1").empty());
}

TEST_CASE("a node's metrics render in valid text format with every documented family", "[server]") {
  Metrics m;
  m.proposals_committed.Increment(3);
  m.wal_fsync_duration.Observe(0.002);
  m.wal_fsync_duration.Observe(20);  // beyond the last bound: only +Inf
  m.PeerRoundTrip(2).Observe(0.0004);
  m.PeerRoundTrip(2).Observe(0.0005);  // the same series again
  const auto& put = m.Grpc("/claw.v1.KV/Put", "unary");
  put.started->Increment();
  put.handling->Observe(0.001);
  m.GrpcHandled(put, "OK").Increment();
  m.GrpcHandled(put, "UNAVAILABLE").Increment();
  CHECK(&m.Grpc("/claw.v1.KV/Put", "unary") == &put);
  m.PlacementOperator("move_replica", "succeeded").Increment();
  int collected = 0;
  const uint64_t id = m.AddCollector([&](Metrics& mm) {
    ++collected;
    mm.shards_leader.Set(7);
  });

  const std::string text = m.Render();
  CHECK(collected == 1);
  INFO(text);
  const auto problems = CheckExposition(text);
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  for (const char* family :
       {"clawd_raft_proposals_committed_total", "clawd_raft_proposals_applied_total",
        "clawd_raft_proposals_failed_total", "clawd_raft_proposals_packed_total", "clawd_raft_proposals_pending", "clawd_raft_leader_changes_total",
        "clawd_shards", "clawd_shards_without_leader", "clawd_shards_under_replicated",
        "clawd_raft_log_append_duration_seconds", "clawd_wal_fsync_duration_seconds",
        "clawd_raft_apply_duration_seconds", "clawd_snapshot_sent_total", "clawd_snapshot_sent_bytes_total",
        "clawd_snapshot_received_total", "clawd_peer_round_trip_time_seconds", "clawd_grpc_server_handled_total",
        "clawd_grpc_server_handling_seconds", "clawd_rocksdb_sst_files_size_bytes",
        "clawd_rocksdb_pending_compaction_bytes", "clawd_rocksdb_write_stall_seconds_total",
        "clawd_rocksdb_block_cache_hit_ratio", "clawd_placement_operators_total", "clawd_build_info",
        "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds",
        "process_start_time_seconds"}) {
    CHECK(text.find("# TYPE " + std::string(family) + " ") != std::string::npos);
  }
  CHECK(text.find("clawd_shards{role=\"leader\"} 7") != std::string::npos);
  CHECK(text.find("clawd_raft_proposals_committed_total 3") != std::string::npos);
  CHECK(text.find("clawd_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 2") != std::string::npos);
  CHECK(text.find("clawd_wal_fsync_duration_seconds_count 2") != std::string::npos);
  CHECK(text.find("clawd_peer_round_trip_time_seconds_count{peer=\"2\"} 2") != std::string::npos);
  CHECK(text.find("clawd_grpc_server_handled_total{grpc_code=\"UNAVAILABLE\",grpc_method=\"Put\","
                  "grpc_service=\"claw.v1.KV\",grpc_type=\"unary\"} 1") != std::string::npos);
  CHECK(text.find("clawd_placement_operators_total{outcome=\"succeeded\",type=\"move_replica\"} 1") !=
        std::string::npos);
  CHECK(text.find("clawd_build_info{revision=\"") != std::string::npos);

  const auto [code, out] = Promtool(text);
  INFO("promtool: " << out);
  CHECK(code == 0);

  m.RemoveCollector(id);
  m.Render();
  CHECK(collected == 1);
}

TEST_CASE("counters only move forward when raised to a cumulative figure", "[server]") {
  Metrics m;
  Metrics::AdvanceTo(m.rocksdb_block_cache_hits, 10);
  Metrics::AdvanceTo(m.rocksdb_block_cache_hits, 4);  // a smaller total never lowers it
  CHECK(m.rocksdb_block_cache_hits.Value() == 10);
  Metrics::AdvanceTo(m.rocksdb_block_cache_hits, 12.5);
  CHECK(m.rocksdb_block_cache_hits.Value() == 12.5);
}

TEST_CASE("the HTTP listener serves /metrics, /healthz and /readyz with the right codes", "[server]") {
  std::string unhealthy, unready = "starting: recovering the local store";
  const int port = FreeLoopbackPort();
  auto server = HttpServer::Start("127.0.0.1:" + std::to_string(port),
                                  HttpHandlers{.metrics = [] { return std::string("clawd_x 1\n"); },
                                               .unhealthy = [&] { return unhealthy; },
                                               .unready = [&] { return unready; }});
  REQUIRE(server.has_value());
  CHECK((*server)->port() == port);

  auto r = testing::HttpGet(port, "/metrics");
  CHECK(r.status == 200);
  CHECK(r.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8") != std::string::npos);
  CHECK(r.body == "clawd_x 1\n");
  r = testing::HttpGet(port, "/healthz");
  CHECK(r.status == 200);
  CHECK(r.body == "ok\n");
  r = testing::HttpGet(port, "/readyz");
  CHECK(r.status == 503);
  CHECK(r.body == "starting: recovering the local store\n");
  unready.clear();
  unhealthy = "raft worker 0 has not run its loop for 12000 ms";
  CHECK(testing::HttpGet(port, "/readyz").status == 200);
  r = testing::HttpGet(port, "/healthz");
  CHECK(r.status == 503);
  CHECK(r.body == unhealthy + "\n");

  r = testing::HttpRequest("127.0.0.1", port, "/metrics", "HEAD");
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  r = testing::HttpRequest("127.0.0.1", port, "/metrics", "POST");
  CHECK(r.status == 405);
  CHECK(r.headers.find("Allow: GET, HEAD") != std::string::npos);
  CHECK(testing::HttpGet(port, "/").status == 404);
  CHECK(testing::HttpGet(port, "/metricsx").status == 404);

  // The port is taken now: a second listener fails with a message naming the address.
  auto second = HttpServer::Start("127.0.0.1:" + std::to_string(port), HttpHandlers{});
  REQUIRE(!second.has_value());
  CHECK(second.error().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

}  // namespace
}  // namespace claw::server
