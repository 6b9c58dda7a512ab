// Watches with real processes (claw.v1.Watch and client::Watcher): events in revision order with
// previous values; a watch from a past revision (catch-up, then live: nothing missing, nothing
// twice); resume across a kill -9 of the watched shard's leader and across a split of the watched
// range; a watcher that falls behind (the raw stream ends with WATCH_FELL_BEHIND and the resume
// revision; the client library resumes and loses nothing); a start revision below the GC
// threshold (COMPACTED, naming the oldest revision); bad input; clawctl watch.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "claw/v1/watch.grpc.pb.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using client::WatchEvent;
using client::WatchUpdate;

// Collects a Watcher's updates and checks, as they arrive, that each part's events come in
// revision order and that no (key, revision) arrives twice.
class Collector {
 public:
  std::function<void(const WatchUpdate&)> Callback() {
    return [this](const WatchUpdate& u) { Add(u); };
  }
  void Add(const WatchUpdate& u) {
    std::lock_guard lock(mu_);
    ++updates_;
    uint64_t& last = last_by_part_[u.start];
    for (const WatchEvent& e : u.events) {
      if (e.kv.mod_ts < last) out_of_order_ = true;
      last = e.kv.mod_ts;
      if (!seen_.insert({e.kv.key, e.kv.mod_ts}).second) duplicates_ = true;
      events_.push_back(e);
    }
    cv_.notify_all();
  }
  // Waits until `ok` holds over the events (bounded).
  bool WaitFor(const std::function<bool(const std::vector<WatchEvent>&)>& ok,
               std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ok(events_); });
  }
  bool WaitUpdates(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return updates_ >= n; });
  }
  std::vector<WatchEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  bool duplicates() {
    std::lock_guard lock(mu_);
    return duplicates_;
  }
  bool out_of_order() {
    std::lock_guard lock(mu_);
    return out_of_order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
  std::set<std::pair<std::string, uint64_t>> seen_;
  std::map<std::string, uint64_t> last_by_part_;
  size_t updates_ = 0;
  bool duplicates_ = false;
  bool out_of_order_ = false;
};

std::function<bool(const std::vector<WatchEvent>&)> AtLeast(size_t n) {
  return [n](const std::vector<WatchEvent>& e) { return e.size() >= n; };
}

// Writes keys prefix + 00000, 00001, ... until stopped, recording every acknowledged write's
// revision (and every failed one: it may or may not have applied).
struct Writer {
  std::map<std::string, uint64_t> acked;
  std::set<std::string> unknown;
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread thread;

  void Start(client::Client& c, std::string prefix) {
    thread = std::thread([this, &c, prefix] {
      for (int i = 0; !stop.load(); ++i) {
        char key[16];
        std::snprintf(key, sizeof key, "%05d", i);
        const std::string k = prefix + key;
        auto put = c.Put(k, "v" + std::to_string(i));
        if (put) {
          acked[k] = put->mod_ts;
        } else {
          unknown.insert(k);
        }
        written.fetch_add(1);
      }
    });
  }
  void Stop() {
    stop.store(true);
    if (thread.joinable()) thread.join();
  }
};

// Every acknowledged write appears exactly once with its revision; failed writes at most once;
// nothing else appears.
void CheckExactlyOnce(const Writer& w, const std::vector<WatchEvent>& events) {
  std::map<std::string, int> count;
  for (const WatchEvent& e : events) {
    CHECK(e.type == WatchEvent::Type::kPut);
    ++count[e.kv.key];
    auto acked = w.acked.find(e.kv.key);
    if (acked != w.acked.end()) {
      CHECK(e.kv.mod_ts == acked->second);
    } else {
      CHECK(w.unknown.count(e.kv.key) == 1);  // not invented
    }
  }
  for (const auto& [key, rev] : w.acked) {
    INFO("key " << key);
    CHECK(count[key] == 1);
  }
  for (const auto& [key, n] : count) CHECK(n == 1);
}

v1::WatchRequest RawRequest(const std::string& start, const std::string& end, uint64_t rev) {
  v1::WatchRequest req;
  req.set_start_key(start);
  req.set_end_key(end);
  req.set_start_revision(rev);
  return req;
}

std::unique_ptr<v1::Watch::Stub> WatchAt(const std::string& address) {
  return v1::Watch::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

}  // namespace

TEST_CASE("watch: events in revision order with previous values", "[e2e][watch]") {
  TestCluster& c = SharedCluster();
  auto client = OpenClient(c);
  const std::string p = K(0x21, "watch/order/");
  REQUIRE(client->DeleteRange(p, client::PrefixEnd(p)).has_value());
  Collector got;
  auto watcher = client->Watch(p, client::PrefixEnd(p), {.start_revision = 0, .prev_kv = true}, got.Callback());
  REQUIRE(watcher.has_value());
  REQUIRE(got.WaitUpdates(1));  // registered: later writes are live events

  auto a1 = client->Put(p + "a", "1");
  auto a2 = client->Put(p + "a", "2");
  auto b1 = client->Put(p + "b", "1");
  REQUIRE((a1 && a2 && b1));
  auto del = client->Delete(p + "a");
  REQUIRE(del.has_value());
  REQUIRE(client->Put(p + "c", "1").has_value());
  REQUIRE(client->DeleteRange(p + "b", p + "d").value() == 2);  // one event per deleted key
  REQUIRE(client->Put("\x21watch/orde", "outside").has_value());  // not in the range

  REQUIRE(got.WaitFor(AtLeast(7)));
  const auto events = got.events();
  REQUIRE(events.size() == 7);
  CHECK(events[0].type == WatchEvent::Type::kPut);
  CHECK(events[0].kv.key == p + "a");
  CHECK(events[0].kv.value == "1");
  CHECK(events[0].kv.mod_ts == a1->mod_ts);
  CHECK_FALSE(events[0].prev.has_value());
  CHECK(events[1].kv.value == "2");
  CHECK(events[1].kv.version == 2);
  REQUIRE(events[1].prev.has_value());
  CHECK(events[1].prev->value == "1");
  CHECK(events[2].kv.key == p + "b");
  CHECK(events[3].type == WatchEvent::Type::kDelete);
  CHECK(events[3].kv.key == p + "a");
  REQUIRE(events[3].prev.has_value());
  CHECK(events[3].prev->value == "2");
  CHECK(events[4].kv.key == p + "c");
  // The range delete: b and c at one revision, in key order, with their values before.
  CHECK(events[5].type == WatchEvent::Type::kDelete);
  CHECK(events[6].type == WatchEvent::Type::kDelete);
  CHECK(events[5].kv.key == p + "b");
  CHECK(events[6].kv.key == p + "c");
  CHECK(events[5].kv.mod_ts == events[6].kv.mod_ts);
  CHECK(events[5].prev->value == "1");
  for (size_t i = 1; i + 1 < events.size(); ++i) CHECK(events[i].kv.mod_ts > events[i - 1].kv.mod_ts);
  CHECK_FALSE(got.duplicates());
  (*watcher)->Cancel();
  CHECK((*watcher)->Wait().code == client::ErrorCode::kCancelled);
}

TEST_CASE("watch: from a past revision across two shards, catch-up then live with no gap or duplicate",
          "[e2e][watch]") {
  TestCluster& c = SharedCluster();
  auto client = OpenClient(c);
  // Keys on both sides of the 0x40 shard boundary.
  const std::string lo = K(0x3f, "watch/past/");
  const std::string hi = K(0x40, "watch/past/");
  REQUIRE(client->DeleteRange(lo, client::PrefixEnd(hi)).has_value());
  std::map<std::pair<std::string, uint64_t>, std::string> written;
  uint64_t first = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string key = (i % 2 == 0 ? lo : hi) + std::to_string(i);
    auto put = client->Put(key, "old" + std::to_string(i));
    REQUIRE(put.has_value());
    if (first == 0) first = put->mod_ts;
    written[{key, put->mod_ts}] = "old" + std::to_string(i);
  }
  Collector got;
  auto watcher = client->Watch(lo, client::PrefixEnd(hi), {.start_revision = first - 1}, got.Callback());
  REQUIRE(watcher.has_value());
  for (int i = 0; i < 40; ++i) {
    const std::string key = (i % 2 == 0 ? hi : lo) + "new" + std::to_string(i);
    auto put = client->Put(key, "new" + std::to_string(i));
    REQUIRE(put.has_value());
    written[{key, put->mod_ts}] = "new" + std::to_string(i);
  }
  REQUIRE(got.WaitFor(AtLeast(80)));
  // A moment for anything extra (a duplicate) to arrive: wait for a further progress note.
  (void)got.WaitFor(AtLeast(81), std::chrono::milliseconds(500));
  const auto events = got.events();
  std::map<std::pair<std::string, uint64_t>, std::string> seen;
  for (const WatchEvent& e : events) seen[{e.kv.key, e.kv.mod_ts}] = e.kv.value;
  CHECK(events.size() == 80);
  CHECK(seen == written);
  CHECK_FALSE(got.duplicates());
  CHECK_FALSE(got.out_of_order());
}

TEST_CASE("watch: bad input gets clear errors", "[e2e][watch]") {
  TestCluster& c = SharedCluster();
  auto client = OpenClient(c);
  auto bad = client->Watch("b", "a", {}, [](const WatchUpdate&) {});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == client::ErrorCode::kInvalidArgument);

  auto stub = WatchAt(c.client_address(0));
  {
    auto ctx = Ctx();
    auto reader = stub->Watch(ctx.get(), RawRequest("b", "a", 0));
    v1::WatchResponse r;
    CHECK_FALSE(reader->Read(&r));
    grpc::Status s = reader->Finish();
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(Detail(s).code() == v1::Error::INVALID_ARGUMENT);
    CHECK_THAT(Detail(s).message(), Catch::Contains("end_key must be after start_key"));
  }
  {
    auto ctx = Ctx();
    v1::WatchRequest req = RawRequest("a", "", 0);
    req.mutable_header()->set_shard_id(987654321);
    auto reader = stub->Watch(ctx.get(), req);
    v1::WatchResponse r;
    CHECK_FALSE(reader->Read(&r));
    grpc::Status s = reader->Finish();
    CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(Detail(s).code() == v1::Error::SHARD_NOT_FOUND);
  }
}

TEST_CASE("watch: resumes across a kill -9 of the watched shard's leader", "[e2e][watch]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string p = K(0x50, "watch/kill/");
  Collector got;
  auto watcher = client->Watch(p, client::PrefixEnd(p), {}, got.Callback());
  REQUIRE(watcher.has_value());
  REQUIRE(got.WaitUpdates(1));
  Writer w;
  w.Start(*client, p);
  REQUIRE(Eventually([&] { return w.written.load() >= 40; }));
  const int leader = LeaderIndex(c, p);
  REQUIRE(leader >= 0);
  c.Kill(leader);
  const int before = w.written.load();
  REQUIRE(Eventually([&] { return w.written.load() >= before + 60; }, std::chrono::seconds(20)));
  w.Stop();
  REQUIRE(got.WaitFor([&](const std::vector<WatchEvent>& e) {
    std::set<std::string> keys;
    for (const WatchEvent& x : e) keys.insert(x.kv.key);
    return std::all_of(w.acked.begin(), w.acked.end(), [&](const auto& kv) { return keys.count(kv.first) > 0; });
  }, std::chrono::seconds(20)));
  CheckExactlyOnce(w, got.events());
  CHECK_FALSE(got.duplicates());
  CHECK_FALSE(got.out_of_order());
  CHECK((*watcher)->resumes() >= 1);  // the stream on the killed node ended and was resumed
}

TEST_CASE("watch: resumes across a split of the watched range", "[e2e][watch]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string p = K(0x10, "watch/split/");
  Collector got;
  auto watcher = client->Watch(p, client::PrefixEnd(p), {}, got.Callback());
  REQUIRE(watcher.has_value());
  REQUIRE(got.WaitUpdates(1));
  Writer w;
  w.Start(*client, p);
  REQUIRE(Eventually([&] { return w.written.load() >= 40; }));
  const v1::ShardRoute route = RouteFor(c, p);
  const int leader = c.IndexOfAddress(route.leader_address());
  REQUIRE(leader >= 0);
  v1::SplitShardRequest req;
  req.set_shard_id(route.shard().id());
  req.set_split_key(p + "00020");  // inside the watched range, among keys written already
  v1::SplitShardResponse resp;
  grpc::Status s = c.Admin(leader)->SplitShard(Ctx(10000).get(), req, &resp);
  REQUIRE(s.ok());
  const int before = w.written.load();
  REQUIRE(Eventually([&] { return w.written.load() >= before + 60; }, std::chrono::seconds(20)));
  w.Stop();
  REQUIRE(got.WaitFor([&](const std::vector<WatchEvent>& e) { return e.size() >= w.acked.size(); },
                      std::chrono::seconds(20)));
  CheckExactlyOnce(w, got.events());
  // Events of both halves (the keys below the split key went to the old shard's part, the
  // others, written after the split, to the new shard's).
  bool left = false, right = false;
  for (const WatchEvent& e : got.events()) (e.kv.key < p + "00020" ? left : right) = true;
  CHECK(left);
  CHECK(right);
  CHECK(w.written.load() > 100);
  CHECK((*watcher)->resumes() >= 1);  // the split ended the stream; the parts resumed
  CHECK_FALSE(got.duplicates());
  CHECK_FALSE(got.out_of_order());
}

TEST_CASE("watch: a watcher that falls behind is told the revision to resume from", "[e2e][watch]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--kv-watch-max-queue-bytes", "32KiB"});
  TestCluster c({.nodes = 1, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string p = K(0x10, "watch/slow/");
  const std::string value(8 << 10, 'x');

  // Writes `n` keys of 8 KiB in one Batch (one revision): 64 KiB of events at once, more than the
  // server queues for one watcher (32 KiB).
  auto burst = [&](int first_key, int n) {
    std::vector<client::Op> ops;
    for (int i = 0; i < n; ++i) ops.push_back(client::Op::Put(p + std::to_string(first_key + i), value));
    REQUIRE(client->Batch(ops).has_value());
  };

  // A raw stream that does not read while a burst arrives: the stream ends with the error. (A
  // first write, so that the shard's revision is not 0, which would mean "now" below.)
  REQUIRE(client->Put(p + "0", "seed").has_value());
  auto stub = WatchAt(c.client_address(0));
  grpc::ClientContext ctx;
  auto reader = stub->Watch(&ctx, RawRequest(p, client::PrefixEnd(p), 0));
  v1::WatchResponse first;
  REQUIRE(reader->Read(&first));
  CHECK(first.created());
  for (int i = 0; i < 5; ++i) REQUIRE(client->Put(p + std::to_string(100 + i), "small").has_value());
  burst(1000, 8);
  uint64_t reached = first.progress_revision();
  size_t events = 0;
  v1::WatchResponse r;
  while (reader->Read(&r)) {
    events += static_cast<size_t>(r.events_size());
    reached = std::max(reached, r.progress_revision());
  }
  grpc::Status s = reader->Finish();
  CHECK(events <= 5);
  CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(Detail(s).code() == v1::Error::WATCH_FELL_BEHIND);
  CHECK(Detail(s).resume_revision() == reached);
  CHECK_THAT(Detail(s).message(), Catch::Contains("resume from revision " + std::to_string(reached)));

  // The client library resumes on its own (a new catch-up from the revision it reached): a slow
  // consumer of bursts still gets every event exactly once.
  Collector got;
  std::atomic<int> slow{20};
  auto watcher = client->Watch(p, client::PrefixEnd(p), {.start_revision = first.progress_revision()},
                               [&](const WatchUpdate& u) {
                                 if (slow.fetch_sub(1) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                 got.Add(u);
                               });
  REQUIRE(watcher.has_value());
  for (int b = 0; b < 10; ++b) {
    burst(2000 + b * 8, 8);
    REQUIRE(client->Put(p + std::to_string(3000 + b), "small").has_value());
  }
  const size_t want = 5 + 8 + 10 * 9;
  // (Each burst overflows a live queue: the client resumes from a catch-up every time.)
  const bool all = got.WaitFor(AtLeast(want), std::chrono::seconds(20));
  INFO("events " << got.events().size() << ", watcher done " << (*watcher)->Done());
  if ((*watcher)->Done()) INFO((*watcher)->Wait().ToString());
  REQUIRE(all);
  CHECK(got.events().size() == want);
  CHECK((*watcher)->resumes() >= 1);
  CHECK_FALSE(got.duplicates());
  CHECK_FALSE(got.out_of_order());
}

TEST_CASE("watch: a start revision below the GC threshold gets COMPACTED with the oldest revision",
          "[e2e][watch]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--storage-mvcc-retention-ms", "1000", "--storage-mvcc-gc-interval-ms", "200"});
  TestCluster c({.nodes = 1, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto client = OpenClient(c, std::chrono::seconds(10));
  const std::string p = K(0x10, "watch/gc/");
  auto put = client->Put(p + "k", "v1");
  REQUIRE(put.has_value());
  REQUIRE(client->Put(p + "k", "v2").has_value());
  auto stub = WatchAt(c.client_address(0));
  grpc::Status s;
  REQUIRE(Eventually([&] {
    auto ctx = Ctx();
    auto reader = stub->Watch(ctx.get(), RawRequest(p, client::PrefixEnd(p), put->mod_ts - 1));
    v1::WatchResponse r;
    while (reader->Read(&r)) {
    }
    s = reader->Finish();
    return !s.ok() && Detail(s).code() == v1::Error::COMPACTED;
  }, std::chrono::seconds(15)));
  CHECK(s.error_code() == grpc::StatusCode::OUT_OF_RANGE);
  const uint64_t oldest = Detail(s).resume_revision();
  CHECK(oldest > put->mod_ts);
  CHECK_THAT(Detail(s).message(), Catch::Contains("the oldest revision still available is " + std::to_string(oldest)));
  // A recent revision is served.
  auto fresh = client->Put(p + "k", "v3");
  REQUIRE(fresh.has_value());
  auto ctx = Ctx();
  auto reader = stub->Watch(ctx.get(), RawRequest(p, client::PrefixEnd(p), fresh->mod_ts - 1));
  v1::WatchResponse r;
  REQUIRE(reader->Read(&r));
  CHECK(r.created());
  ctx->TryCancel();
  // The client library stops with the same error.
  Collector got;
  auto watcher = client->Watch(p, client::PrefixEnd(p), {.start_revision = put->mod_ts - 1}, got.Callback());
  REQUIRE(watcher.has_value());
  auto end = (*watcher)->WaitFor(std::chrono::seconds(10));
  REQUIRE(end.has_value());
  CHECK(end->code == client::ErrorCode::kCompacted);
  CHECK(end->resume_revision >= oldest);  // the threshold moves on with every GC pass
}

}  // namespace claw::e2e

namespace claw::e2e {

TEST_CASE("watch: clawctl watch prints events, stops after --count or --timeout", "[e2e][watch]") {
  TestCluster& c = SharedCluster();
  auto client = OpenClient(c);
  const std::string p = K(0x22, "watch/ctl/");
  REQUIRE(client->DeleteRange(p, client::PrefixEnd(p)).has_value());
  auto first = client->Put(p + "a", "1");
  REQUIRE(first.has_value());
  REQUIRE(client->Put(p + "a", "2").has_value());
  REQUIRE(client->Delete(p + "a").has_value());
  const std::string rev = std::to_string(first->mod_ts - 1);

  // From a past revision: the three events, then exit 0 at --count.
  ProcessResult r = RunClawctl(Endpoints(c), {"watch", p, "--prefix", "--rev", rev, "--count", "3", "--prev-kv"});
  CHECK(r.exit_code == 0);
  CHECK(Count(r.out, "\n") == 3);
  CHECK(r.out.find("PUT " + p + "a 1 [" + std::to_string(first->mod_ts) + "]") == 0);
  CHECK(Count(r.out, "PUT " + p + "a 2 [") == 1);
  CHECK(Count(r.out, "(prev: 1)") == 1);
  CHECK(Count(r.out, "DELETE " + p + "a [") == 1);
  CHECK(Count(r.out, "(prev: 2)") == 1);

  // JSON: one object per line; a single key (not the prefix) sees only its own events.
  REQUIRE(client->Put(p + "ab", "other").has_value());
  r = RunClawctl(Endpoints(c), {"-w", "json", "watch", p + "a", "--rev", rev, "--count", "2"});
  CHECK(r.exit_code == 0);
  CHECK(Count(r.out, "\n") == 2);
  CHECK(Count(r.out, "{\"type\":\"PUT\"") == 2);
  CHECK(Count(r.out, "\"mod_ts\":\"" + std::to_string(first->mod_ts) + "\"") == 1);

  // --timeout ends a watch that saw fewer events (the global --timeout, given again, wins).
  r = RunClawctl(Endpoints(c), {"watch", p + "zzz", "--count", "5", "--timeout", "1s"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());

  // Usage errors.
  r = RunClawctl(Endpoints(c), {"watch", p, "--prefix", "--range-end", p + "z"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--prefix and --range-end exclude each other"));
  r = RunClawctl(Endpoints(c), {"watch", p + "b", "--range-end", p + "a"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--range-end must be after KEY"));
}

}  // namespace claw::e2e
