// clawbench's pure parts: key names and the zipfian generator, the latency histogram, the command
// line, request making, and the runner's counting against a fake target (no timing asserted).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tools/clawbench/histogram.h"
#include "tools/clawbench/keys.h"
#include "tools/clawbench/options.h"
#include "tools/clawbench/report.h"
#include "tools/clawbench/runner.h"
#include "tools/clawbench/target.h"

namespace claw::clawbench {
namespace {

TEST_CASE("clawbench key names keep index order, stay distinct and spread over leading bytes", "[tools]") {
  const uint64_t n = 100'000;
  std::string previous;
  for (uint64_t i = 0; i < n; i += 7) {
    const std::string key = KeyName(i, n, 16);
    REQUIRE(key.size() == 16);
    if (i > 0) REQUIRE(previous < key);
    previous = key;
  }
  // The last key's first byte is near 0xff: the keys cover the whole space.
  CHECK(static_cast<unsigned char>(KeyName(n - 1, n, 16)[0]) == 0xff);
  CHECK(static_cast<unsigned char>(KeyName(n / 2, n, 16)[0]) == 0x7f);
  // Short keys: 256 keys fit into one byte, and all are distinct.
  CHECK(KeySpaceFits(256, 1));
  CHECK_FALSE(KeySpaceFits(257, 1));
  CHECK(KeySpaceFits(65536, 2));
  std::set<std::string> one_byte;
  for (uint64_t i = 0; i < 256; ++i) one_byte.insert(KeyName(i, 256, 1));
  CHECK(one_byte.size() == 256);
  CHECK(KeyName(0, 1, 3) == std::string(3, '\0'));
}

TEST_CASE("zipfian ranks follow 1/(r+1)^theta", "[tools]") {
  const uint64_t n = 1000;
  const ZipfianGenerator zipf(n, 0.99);
  double total = 0;
  for (uint64_t r = 0; r < n; ++r) total += zipf.Probability(r);
  CHECK(total == Approx(1.0).epsilon(1e-9));

  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<uint64_t> counts(n);
  const int draws = 400'000;
  for (int i = 0; i < draws; ++i) {
    const uint64_t r = zipf.Rank(u(rng));
    REQUIRE(r < n);
    ++counts[r];
  }
  // The head follows the law closely (the algorithm is exact for ranks 0 and 1, approximate
  // beyond); the hottest decile holds far more than a tenth.
  for (uint64_t r : {0u, 1u}) {
    const double expected = zipf.Probability(r) * draws;
    CHECK(std::abs(static_cast<double>(counts[r]) - expected) < 0.05 * expected);
  }
  CHECK(counts[0] > counts[1]);
  CHECK(counts[1] > counts[9]);
  CHECK(counts[9] > counts[99]);
  uint64_t head = 0;
  for (uint64_t r = 0; r < n / 10; ++r) head += counts[r];
  CHECK(static_cast<double>(head) / draws > 0.6);
  // Scrambled ranks stay in the key space and scatter the hot keys.
  std::set<uint64_t> hot;
  for (uint64_t r = 0; r < 10; ++r) {
    const uint64_t k = ScrambleRank(r, n);
    REQUIRE(k < n);
    hot.insert(k);
  }
  CHECK(hot.size() >= 9);
  CHECK(*hot.rbegin() - *hot.begin() > n / 4);
}

TEST_CASE("uniform key picker covers the key space", "[tools]") {
  KeyPicker picker({.key_space = 10, .distribution = KeyDistribution::kUniform, .zipf_theta = 0.99}, nullptr, 7);
  std::map<uint64_t, int> seen;
  for (int i = 0; i < 10'000; ++i) ++seen[picker.Next()];
  REQUIRE(seen.size() == 10);
  for (const auto& [k, c] : seen) {
    CHECK(k < 10);
    CHECK(c > 800);
    CHECK(c < 1200);
  }
}

TEST_CASE("histogram buckets bound their values within 1/64", "[tools]") {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100'000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    const size_t b = Histogram::BucketOf(v);
    REQUIRE(b < Histogram::kBuckets);
    const uint64_t high = Histogram::BucketHigh(b);
    REQUIRE(high >= v);
    REQUIRE(static_cast<double>(high - v) <= static_cast<double>(v) / 64.0);
    REQUIRE(Histogram::BucketOf(high) == b);
  }
  CHECK(Histogram::BucketOf(UINT64_MAX) < Histogram::kBuckets);
}

TEST_CASE("histogram percentiles are ordered and close to the true values", "[tools]") {
  Histogram h;
  CHECK(h.Snapshot().Percentile(0.5) == 0);
  // 1..10000 microseconds, in nanoseconds, shuffled.
  std::vector<uint64_t> values;
  for (uint64_t us = 1; us <= 10'000; ++us) values.push_back(us * 1000);
  std::shuffle(values.begin(), values.end(), std::mt19937_64(3));
  for (uint64_t v : values) h.Record(v);
  const HistogramSnapshot s = h.Snapshot();
  CHECK(s.count == 10'000);
  CHECK(s.min == 1000);
  CHECK(s.max == 10'000'000);
  CHECK(s.Mean() == Approx(5'000'500.0));
  for (double p : {0.1, 0.5, 0.9, 0.99, 0.999}) {
    const double truth = p * 10'000 * 1000;
    const double got = static_cast<double>(s.Percentile(p));
    CHECK(got >= truth);
    CHECK(got <= truth * (1 + 1.0 / 64));
  }
  CHECK(s.Percentile(1.0) == s.max);
  uint64_t last = 0;
  for (double p : {0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    CHECK(s.Percentile(p) >= last);
    last = s.Percentile(p);
  }
  uint64_t in_ranges = 0;
  for (const auto& [upper, count] : s.PowerOfTwoRanges()) in_ranges += count;
  CHECK(in_ranges == s.count);
  // One value: every percentile is that value.
  Histogram one;
  one.Record(123'456);
  CHECK(one.Snapshot().Percentile(0.5) == 123'456);
  CHECK(one.Snapshot().Percentile(0.999) == 123'456);
}

std::expected<Options, std::string> Parse(std::vector<std::string> args) { return ParseOptions(args); }

TEST_CASE("clawbench flags: defaults, forms and placement", "[tools]") {
  auto o = Parse({"put"});
  REQUIRE(o);
  CHECK(o->target == TargetKind::kClawd);
  CHECK(o->endpoints == std::vector<std::string>{"127.0.0.1:7379"});
  CHECK(o->total == 10000);
  CHECK(o->rate == 0);

  o = Parse({"--target", "etcd", "--endpoints=http://a:1,b:2", "--conns", "2", "--clients=256", "range",
             "--consistency", "s", "--total", "5", "-w", "json"});
  REQUIRE(o);
  CHECK(o->target == TargetKind::kEtcd);
  CHECK(o->endpoints == std::vector<std::string>{"a:1", "b:2"});
  CHECK(o->workload == Workload::kGet);
  CHECK(o->workload_name == "range");
  CHECK(o->consistency == ReadConsistency::kSerializable);
  CHECK(o->clients == 256);
  CHECK(o->format == OutputFormat::kJson);

  o = Parse({"batch", "--ops-per-request", "100", "--key-size", "16", "--val-size", "256", "--key-space-size",
             "100000", "--sequential-keys", "--key-dist", "zipfian", "--duration", "1.5s", "--total", "0",
             "--rate", "250"});
  REQUIRE(o);
  CHECK(o->ops_per_request == 100);
  CHECK(o->duration == std::chrono::milliseconds(1500));
  CHECK(o->total == 0);
  CHECK(o->sequential_keys);
  CHECK(o->key_dist == KeyDistribution::kZipfian);
  CHECK(o->rate == 250);

  o = Parse({"mixed", "--read-ratio", "0.9"});
  REQUIRE(o);
  CHECK(o->read_ratio == 0.9);
  CHECK(Parse({"--help"})->help);
  o = Parse({"checkpoint", "--sections", "4", "--replication", "sync", "--val-size", "100"});
  REQUIRE(o);
  CHECK(o->workload == Workload::kCheckpoint);
  CHECK(o->sections == 4);
  CHECK(o->sync_replication);
}

TEST_CASE("clawbench flags: bad input is a usage error naming the problem", "[tools]") {
  auto error = [](std::vector<std::string> args) {
    auto o = ParseOptions(args);
    REQUIRE_FALSE(o);
    return o.error();
  };
  CHECK(error({}) == "no workload given (put, get, range, mixed, scan, batch, checkpoint)");
  CHECK(error({"delete"}) == "unknown workload 'delete' (put, get, range, mixed, scan, batch, checkpoint)");
  CHECK(error({"put", "--sections", "4"}) == "--sections is an option of checkpoint, not put");
  CHECK(error({"checkpoint", "--replication", "maybe"}) == "--replication must be sync or async, not 'maybe'");
  CHECK(error({"checkpoint", "--target", "etcd"}) == "checkpoint is a clawd workload (etcd has no named checkpoints)");
  CHECK(error({"checkpoint", "--sections", "1000", "--val-size", "1000000"}) ==
        "--sections times --val-size must stay within 64 MiB (a checkpoint's default max_size)");
  CHECK(error({"put", "get"}) == "unexpected argument 'get' (one workload per run)");
  CHECK(error({"put", "--bogus"}) == "unknown flag --bogus");
  CHECK(error({"put", "--clients"}) == "--clients needs a value");
  CHECK(error({"put", "--clients", "0"}) == "--clients needs an integer in 1..65536, not '0'");
  CHECK(error({"put", "--clients", "12x"}) == "--clients needs an integer in 1..65536, not '12x'");
  CHECK(error({"put", "--read-ratio", "0.5"}) == "--read-ratio is an option of mixed, not put");
  CHECK(error({"put", "--consistency", "s"}) == "--consistency is an option of get, mixed, scan, not put");
  CHECK(error({"get", "--consistency", "x"}) == "--consistency must be l (linearizable) or s (serializable), not 'x'");
  CHECK(error({"mixed", "--read-ratio", "1.5"}) == "--read-ratio needs a fraction in 0..1, not '1.5'");
  CHECK(error({"put", "--target", "redis"}) == "--target must be clawd or etcd, not 'redis'");
  CHECK(error({"put", "--endpoints", "nohost"}) == "--endpoints needs HOST:PORT[,HOST:PORT...], not 'nohost'");
  CHECK(error({"put", "--duration", "soon"}) == "--duration needs a duration such as 10s, 500ms or 2m, not 'soon'");
  CHECK(error({"put", "--total", "0"}) == "--total 0 runs until --duration, which is not given");
  CHECK(error({"put", "--key-size", "1", "--key-space-size", "300"}) ==
        "--key-space-size 300 does not fit into --key-size 1 bytes");
  CHECK(error({"put", "--conns", "4", "--clients", "2"}) == "--conns must not exceed --clients");
  CHECK(error({"put", "--target", "etcd", "--durability", "leader"}) ==
        "--durability leader is clawd's; etcd always acknowledges after a quorum fsync");
  CHECK(error({"put", "--zipf-theta", "1"}) == "--zipf-theta needs a number between 0 and 1 (exclusive), not '1'");
  CHECK(error({"put", "--sequential-keys=yes"}) == "--sequential-keys takes no value");
  CHECK(error({"batch", "--ops-per-request", "20", "--key-space-size", "10"}) ==
        "--ops-per-request must not exceed --key-space-size (keys of a request are distinct)");
  CHECK(error({"put", "-w", "yaml"}) == "-w must be text or json, not 'yaml'");
}

TEST_CASE("request maker: checkpoint requests name one of --sections sections", "[tools]") {
  auto o = ParseOptions({"checkpoint", "--sections", "3", "--key-space-size", "100"});
  REQUIRE(o);
  std::atomic<uint64_t> sequential{0};
  RequestMaker maker(*o, nullptr, &sequential, 9);
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    const Request r = maker.Next(1);
    CHECK(r.kind == OpKind::kCheckpointWrite);
    REQUIRE(r.keys.size() == 1);
    ids.insert(r.keys[0]);
  }
  CHECK(ids == std::set<std::string>{"s0", "s1", "s2"});
}

TEST_CASE("durations", "[tools]") {
  CHECK(ParseDuration("10s") == std::chrono::milliseconds(10'000));
  CHECK(ParseDuration("250ms") == std::chrono::milliseconds(250));
  CHECK(ParseDuration("2m") == std::chrono::milliseconds(120'000));
  CHECK(ParseDuration("3") == std::chrono::milliseconds(3000));
  CHECK_FALSE(ParseDuration("-1s"));
  CHECK_FALSE(ParseDuration("s"));
  CHECK_FALSE(ParseDuration(""));
}

TEST_CASE("clawbench: --multiplex on|off picks the client library's transport", "[tools]") {
  auto o = ParseOptions({"put"});
  REQUIRE(o);
  CHECK(o->multiplex);
  o = ParseOptions({"--multiplex", "off", "put"});
  REQUIRE(o);
  CHECK_FALSE(o->multiplex);
  auto bad = ParseOptions({"--multiplex", "maybe", "put"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == "--multiplex must be on or off, not 'maybe'");
}

TEST_CASE("request maker: batch keys are distinct, sequential keys consecutive, mixes follow the ratio", "[tools]") {
  auto o = ParseOptions({"batch", "--ops-per-request", "50", "--key-space-size", "60", "--key-size", "4"});
  REQUIRE(o);
  std::atomic<uint64_t> sequential{0};
  RequestMaker maker(*o, nullptr, &sequential, 9);
  for (int i = 0; i < 100; ++i) {
    const Request r = maker.Next(3);
    CHECK(r.kind == OpKind::kBatch);
    CHECK(r.client == 3);
    REQUIRE(r.keys.size() == 50);
    CHECK(std::set<std::string>(r.keys.begin(), r.keys.end()).size() == 50);
  }

  o = ParseOptions({"put", "--sequential-keys", "--key-space-size", "5"});
  REQUIRE(o);
  RequestMaker seq(*o, nullptr, &sequential, 1);
  std::vector<std::string> keys;
  for (int i = 0; i < 7; ++i) keys.push_back(seq.Next(0).keys[0]);
  CHECK(keys[0] == KeyName(0, 5, 8));
  CHECK(keys[4] == KeyName(4, 5, 8));
  CHECK(keys[5] == KeyName(0, 5, 8));

  o = ParseOptions({"mixed", "--read-ratio", "0.8"});
  REQUIRE(o);
  RequestMaker mixed(*o, nullptr, &sequential, 5);
  int reads = 0;
  for (int i = 0; i < 10'000; ++i) reads += mixed.Next(0).kind == OpKind::kGet;
  CHECK(reads > 7600);
  CHECK(reads < 8400);
}

// Completes requests in order on a thread of its own, as a real target's threads would; every
// `fail_every`-th fails. With `start_after_clients`, it completes nothing until that many
// clients have sent a request (or 5 s passed): otherwise, on a busy machine, the first client's
// chain (which continues on this thread) can send every request before the others start.
class FakeTarget : public Target {
 public:
  explicit FakeTarget(uint64_t fail_every, size_t start_after_clients = 0)
      : fail_every_(fail_every), start_after_clients_(start_after_clients), thread_([this] { Loop(); }) {}
  ~FakeTarget() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  std::string Prepare() override { return {}; }
  void Start(const Request& r, std::function<void(Outcome)> done) override {
    {
      std::lock_guard lock(mu_);
      clients_seen_.insert(r.client);
      queue_.push_back(std::move(done));
    }
    wake_.notify_all();
  }
  std::set<uint32_t> clients_seen() {
    std::lock_guard lock(mu_);
    return clients_seen_;
  }

 private:
  void Loop() {
    {
      // Bounded: a runner that never starts the other clients fails the test's check, not hangs.
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, std::chrono::seconds(5),
                     [this] { return stopping_ || clients_seen_.size() >= start_after_clients_; });
    }
    for (uint64_t n = 1;; ++n) {
      std::function<void(Outcome)> done;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        done = std::move(queue_.front());
        queue_.pop_front();
      }
      if (fail_every_ && n % fail_every_ == 0) {
        done(Outcome{.ok = false, .error_code = "UNAVAILABLE", .error_message = "node down"});
      } else {
        done(Outcome{.ok = true, .error_code = {}, .error_message = {}, .found = n % 2 == 0, .keys_read = 0});
      }
    }
  }

  uint64_t fail_every_;
  size_t start_after_clients_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void(Outcome)>> queue_;  // GUARDED_BY(mu_)
  std::set<uint32_t> clients_seen_;                 // GUARDED_BY(mu_)
  bool stopping_ = false;                           // GUARDED_BY(mu_)
  std::thread thread_;
};

TEST_CASE("runner: closed loop sends --total requests and counts outcomes by code", "[tools]") {
  auto o = ParseOptions({"get", "--clients", "4", "--total", "300"});
  REQUIRE(o);
  FakeTarget target(10, 4);
  const RunResult r = Run(*o, target);
  CHECK(r.sent == 300);
  CHECK(r.ok == 270);
  CHECK(r.failed == 30);
  CHECK(r.errors == std::map<std::string, uint64_t>{{"UNAVAILABLE", 30}});
  CHECK(r.error_text.at("UNAVAILABLE") == "node down");
  CHECK(r.latency.count == r.ok);
  CHECK(r.ops.at("get") == 270);
  CHECK(target.clients_seen() == std::set<uint32_t>{0, 1, 2, 3});

  const std::string json = FormatJson(*o, r);
  CHECK(json.find("\"sent\":300,\"ok\":270,\"failed\":30") != std::string::npos);
  CHECK(json.find("\"UNAVAILABLE\":{\"count\":30,\"first\":\"node down\"}") != std::string::npos);
  const std::string text = FormatText(*o, r);
  CHECK(text.find("Requests/sec:") != std::string::npos);
  CHECK(text.find("UNAVAILABLE: 30 (first: node down)") != std::string::npos);
}

TEST_CASE("runner: fixed rate sends --total requests on the timetable", "[tools]") {
  auto o = ParseOptions({"batch", "--clients", "2", "--total", "50", "--rate", "100000", "--ops-per-request", "3"});
  REQUIRE(o);
  FakeTarget target(0);
  const RunResult r = Run(*o, target);
  CHECK(r.sent == 50);
  CHECK(r.ok == 50);
  CHECK(r.failed == 0);
  CHECK(r.keys_written == 150);
  CHECK(r.latency.count == 50);
}

}  // namespace
}  // namespace claw::clawbench
