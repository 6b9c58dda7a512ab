// Named checkpoints and placement between real nodes: no split cuts a checkpoint's key range
// (client/checkpoint_layout.h) — an admin split inside one lands at the checkpoint's start or is
// refused with the reason, the placement service's size splits and rule-boundary splits go to
// the checkpoint's start or end, and a shard holding only one checkpoint is never re-planned for
// a split it cannot get. Checkpoints are written through claw.v1.Checkpoint (raw stubs).
#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "claw/v1/checkpoint.grpc.pb.h"
#include "claw/v1/placement.grpc.pb.h"
#include "client/checkpoint.h"
#include "client/checkpoint_layout.h"
#include "client/lease.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using client::CheckpointEnd;
using client::CheckpointSectionKey;
using client::CheckpointStart;

// One open checkpoint: calls go to the leader of the shard holding it (retried while it moves or
// splits).
class Checkpoint {
 public:
  Checkpoint(const TestCluster& c, std::string name, uint64_t session, uint64_t max_sections)
      : c_(c), name_(std::move(name)) {
    v1::CheckpointOpenRequest open;
    open.set_name(name_);
    open.set_read(true);
    open.set_write(true);
    open.set_create(true);
    open.set_session(session);
    open.mutable_attributes()->set_max_sections(max_sections);
    open.mutable_attributes()->set_max_section_size(4096);
    v1::CheckpointOpenResponse opened;
    REQUIRE(Call(&v1::Checkpoint::Stub::Open, open, &opened).ok());
    handle_ = opened.handle();
  }

  grpc::Status CreateSection(const std::string& id, const std::string& data) {
    v1::SectionCreateRequest req;
    req.set_name(name_);
    req.set_handle(handle_);
    req.set_section_id(id);
    req.set_data(data);
    v1::SectionCreateResponse resp;
    return Call(&v1::Checkpoint::Stub::CreateSection, req, &resp);
  }
  std::string Read(const std::string& id) {
    v1::CheckpointReadRequest req;
    req.set_name(name_);
    req.set_handle(handle_);
    req.add_elements()->set_section_id(id);
    v1::CheckpointReadResponse resp;
    grpc::Status s = Call(&v1::Checkpoint::Stub::Read, req, &resp);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(resp.results_size() == 1);
    return resp.results(0).data();
  }

 private:
  template <class Req, class Resp, class Fn>
  grpc::Status Call(Fn fn, const Req& req, Resp* resp) {
    grpc::Status last;
    Eventually(
        [&] {
          const int i = LeaderIndex(c_, client::CheckpointHeaderKey(name_));
          if (i < 0) return false;
          auto& stub = stubs_[i];
          if (!stub) stub = v1::Checkpoint::NewStub(grpc::CreateChannel(c_.client_address(i), grpc::InsecureChannelCredentials()));
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          last = (stub.get()->*fn)(&ctx, req, resp);
          // Retried: no leader yet, a moved leader, and a split between routing and apply (the
          // write was refused, not applied).
          return last.error_code() != grpc::StatusCode::UNAVAILABLE && Detail(last).code() != v1::Error::NOT_LEADER &&
                 Detail(last).code() != v1::Error::EPOCH_MISMATCH &&
                 Detail(last).code() != v1::Error::KEY_OUT_OF_RANGE;
        },
        std::chrono::seconds(10));
    return last;
  }

  const TestCluster& c_;
  std::string name_;
  uint64_t handle_ = 0;
  std::map<int, std::unique_ptr<v1::Checkpoint::Stub>> stubs_;
};

// A session lease kept alive for the test's checkpoints.
struct Session {
  explicit Session(const TestCluster& c) {
    client::ClientOptions o;
    for (int i = 0; i < c.size(); ++i) o.endpoints.push_back(c.client_address(i));
    auto opened = client::LeaseClient::Open(o);
    REQUIRE(opened.has_value());
    leases = std::move(*opened);
    auto lease = leases->Grant(std::chrono::seconds(30));
    REQUIRE(lease.has_value());
    id = lease->id;
    keep = leases->KeepAlive(id);
  }
  std::unique_ptr<client::LeaseClient> leases;
  uint64_t id = 0;
  std::unique_ptr<client::LeaseKeepAlive> keep;
};

// Splits `shard` at `key` on its leader (as node 0 knows it).
grpc::Status SplitAt(TestCluster& c, uint64_t shard, const std::string& key, v1::SplitShardResponse* out) {
  int leader = -1;
  for (const auto& r : Routes(c, 0)) {
    if (r.shard().id() == shard) leader = c.IndexOfAddress(r.leader_address());
  }
  if (leader < 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the shard's leader is not known yet");
  v1::SplitShardRequest req;
  req.set_shard_id(shard);
  req.set_split_key(key);
  return c.Admin(leader)->SplitShard(Ctx(10000).get(), req, out);
}

// Retries while the leader is unknown or moving (NOT_LEADER, UNAVAILABLE); returns the last status.
grpc::Status SplitRetrying(TestCluster& c, uint64_t shard, const std::string& key, v1::SplitShardResponse* out) {
  grpc::Status last;
  Eventually(
      [&] {
        last = SplitAt(c, shard, key, out);
        return last.error_code() != grpc::StatusCode::UNAVAILABLE && Detail(last).code() != v1::Error::NOT_LEADER;
      },
      std::chrono::seconds(10));
  return last;
}

std::set<std::string> StartKeys(const TestCluster& c) {
  std::set<std::string> out;
  for (const auto& r : Routes(c, 0)) out.insert(r.shard().start_key());
  return out;
}

std::string Printable(const std::string& key) {
  std::string out;
  for (const char ch : key) {
    const auto b = static_cast<unsigned char>(ch);
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", b);
    out += (b >= 0x20 && b < 0x7f) ? std::string(1, ch) : std::string(hex);
  }
  return "\"" + out + "\"";
}

// No start key strictly inside checkpoint `name`'s range.
bool Uncut(const std::set<std::string>& starts, const std::string& name) {
  auto it = starts.upper_bound(CheckpointStart(name));
  return it == starts.end() || *it >= CheckpointEnd(name);
}

}  // namespace

TEST_CASE("checkpoint ranges: an admin split inside one lands at its start, or is refused saying why",
          "[e2e][placement]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  Session session(c);
  Checkpoint x(c, "x", session.id, 4);
  REQUIRE(x.CreateSection("A", std::string(2000, 'a')).ok());
  const std::string x_section = CheckpointSectionKey("x", "A");

  // Inside checkpoint x: the split happens at x's start.
  v1::SplitShardResponse resp;
  const uint64_t holder = RouteFor(c, x_section).shard().id();
  grpc::Status s = SplitRetrying(c, holder, x_section, &resp);
  REQUIRE(s.ok());
  CHECK(resp.right().start_key() == CheckpointStart("x"));
  CHECK(resp.left().end_key() == CheckpointStart("x"));
  const uint64_t x_shard = resp.right().id();

  // The shard now starts with x: a key inside x cannot split it.
  s = SplitRetrying(c, x_shard, x_section, &resp);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Detail(s).code() == v1::Error::INVALID_ARGUMENT);
  CHECK(s.error_message().find("lies inside checkpoint 'x''s key range") != std::string::npos);
  CHECK(s.error_message().find("split at or after the checkpoint's end") != std::string::npos);

  // At the middle of its data: it falls in x (section A is most of it), so the split goes to x's
  // end, leaving x a shard of its own...
  s = SplitRetrying(c, x_shard, "", &resp);
  REQUIRE(s.ok());
  CHECK(resp.left().start_key() == CheckpointStart("x"));
  CHECK(resp.right().start_key() == CheckpointEnd("x"));
  // ... which no split can cut.
  s = SplitRetrying(c, x_shard, "", &resp);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("lies inside checkpoint 'x''s key range") != std::string::npos);

  CHECK(Uncut(StartKeys(c), "x"));
  CHECK(x.Read("A") == std::string(2000, 'a'));
  REQUIRE(x.CreateSection("B", "after the splits").ok());  // still one shard: one atomic command
  CHECK(x.Read("B") == "after the splits");
}

TEST_CASE("checkpoint ranges: size splits and rule boundaries avoid them, and are not re-planned",
          "[e2e][placement]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "100", "--placement-split-bytes", "64KiB"});
  TestCluster c({.nodes = 3, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  Session session(c);
  // ~240 KB in checkpoint x's sections, in the last shard ["\x80", +inf), and checkpoint y.
  // Nearly 4x the split size: shard sizes come from RocksDB's estimate, which for data still in
  // the memtable is the range's estimated entry count times the memtable's average entry size
  // (small entries of other keys pull it down). With ~2x, one CI run saw the part holding x
  // estimated below 64 KiB after the first split, and never split again.
  Checkpoint x(c, "x", session.id, 200);
  const std::string value(2000, 'v');
  for (int i = 0; i < 120; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "s%03d", i);
    grpc::Status s = x.CreateSection(id, value);
    INFO(id << ": " << s.error_message());
    REQUIRE(s.ok());
  }
  Checkpoint y(c, "y", session.id, 1);

  // Past 64 KiB the shard splits at x's start, then (x is most of it) at x's end; x, still past
  // the size, is then left alone: one checkpoint, unsplittable.
  std::string last;
  const bool split = Eventually(
      [&] {
        const std::set<std::string> starts = StartKeys(c);
        last.clear();
        for (const std::string& k : starts) last += Printable(k) + " ";
        return starts.contains(CheckpointStart("x")) && starts.contains(CheckpointEnd("x"));
      },
      std::chrono::seconds(20));
  INFO("shard starts: " << last);
  INFO(c.DumpLogs(80));
  REQUIRE(split);
  CHECK(Uncut(StartKeys(c), "x"));

  // A placement rule starting inside y's range splits at y's start instead.
  const uint64_t y_shard = RouteFor(c, client::CheckpointHeaderKey("y")).shard().id();
  v1::SetRulesRequest req;
  v1::PlacementRule* rule = req.mutable_rules()->add_rules();
  rule->set_name("y-and-after");
  rule->set_start_key(client::CheckpointHeaderKey("y"));
  v1::PlacementRules stored;
  REQUIRE(Eventually(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          auto stub = v1::Placement::NewStub(grpc::CreateChannel(c.client_address(i), grpc::InsecureChannelCredentials()));
          if (stub->SetRules(Ctx(2000).get(), req, &stored).ok()) return true;
        }
        return false;
      },
      std::chrono::seconds(10)));
  REQUIRE(Eventually([&] { return StartKeys(c).contains(CheckpointStart("y")); }, std::chrono::seconds(20)));
  CHECK(RouteFor(c, client::CheckpointHeaderKey("y")).shard().id() != y_shard);
  CHECK(Uncut(StartKeys(c), "y"));

  // Settled: 20 more heartbeat intervals plan no split the leaders refuse, and add no shard.
  const size_t shards = Routes(c, 0).size();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(Routes(c, 0).size() == shards);
  const std::string logs = c.DumpLogs(100000);
  CHECK(logs.find("lies inside checkpoint") == std::string::npos);
  CHECK(Uncut(StartKeys(c), "x"));
  CHECK(x.Read("s007") == value);
}

TEST_CASE("collocated checkpoint: a shard of its own, led by the chosen node, which gets a voter; SetActiveReplica moves it; it dies and comes back",
          "[e2e][placement]") {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--placement-heartbeat-interval-ms", "100", "--checkpoint-sweep-interval-ms", "200"});
  TestCluster c({.nodes = 4, .shards = 2, .flags = flags});
  c.StartAll();
  for (int i = 0; i < c.size(); ++i) REQUIRE(c.WaitServing(i));
  INFO(c.DumpLogs(100));
  const std::string name = "pinned.one";
  const std::string header = client::CheckpointHeaderKey(name);
  REQUIRE(Eventually([&] { return !RouteFor(c, header).leader_address().empty(); }, std::chrono::seconds(20)));
  // The chosen node holds no replica of the shard the checkpoint starts in.
  const v1::ShardRoute holder = RouteFor(c, header);
  int chosen = -1;
  for (int i = 0; i < c.size() && chosen < 0; ++i) {
    bool has = false;
    for (const auto& r : holder.shard().replicas()) has = has || r.node_id() == c.node_id(i);
    if (!has) chosen = i;
  }
  REQUIRE(chosen >= 0);
  Session session(c);
  v1::CheckpointOpenRequest open;
  open.set_name(name);
  open.set_read(true);
  open.set_write(true);
  open.set_create(true);
  open.set_session(session.id);
  open.mutable_attributes()->set_collocated(true);
  open.set_active_node(std::to_string(c.node_id(chosen)));
  v1::CheckpointOpenResponse opened;
  REQUIRE(Eventually([&] {
    const int i = LeaderIndex(c, header);
    if (i < 0) return false;
    auto stub = v1::Checkpoint::NewStub(grpc::CreateChannel(c.client_address(i), grpc::InsecureChannelCredentials()));
    return stub->Open(Ctx(5000).get(), open, &opened).ok();
  }));
  std::string last;
  // Whether node index `node` leads the checkpoint's own shard, which has 3 voters (its own view).
  auto leads = [&](int node) {
    v1::StatusResponse st;
    if (!c.Admin(node)->Status(Ctx(1000).get(), v1::StatusRequest(), &st).ok()) return false;
    last = "no replica of the checkpoint's own shard on node " + std::to_string(c.node_id(node));
    for (const auto& r : st.replicas()) {
      if (r.shard().start_key() != client::CheckpointStart(name) || r.shard().end_key() != client::CheckpointEnd(name)) {
        continue;
      }
      int voters = 0;
      last = "shard " + std::to_string(r.shard().id()) + (r.is_leader() ? " led" : " not led") +
             " by node " + std::to_string(c.node_id(node)) + "; voters on nodes";
      for (const auto& rep : r.shard().replicas()) {
        last += " " + std::to_string(rep.node_id());
        voters += rep.role() == v1::Replica::VOTER ? 1 : 0;
      }
      return r.is_leader() && voters == 3 && r.shard().replicas_size() == 3;
    }
    return false;
  };
  const bool placed = Eventually([&] { return leads(chosen); }, std::chrono::seconds(20));
  INFO("chosen node " << c.node_id(chosen) << "; " << last);
  REQUIRE(placed);

  // SetActiveReplica moves it: to another node, which leads the shard next.
  const int next = (chosen + 1) % c.size();
  v1::CheckpointSetActiveReplicaRequest move;
  move.set_name(name);
  move.set_node(std::to_string(c.node_id(next)));
  v1::CheckpointStatus status;
  // Every node in turn: only the shard's leader serves it, and a node without a replica of the
  // new shard may not know its leader yet.
  std::string refusals;
  const bool accepted = Eventually([&] {
    refusals.clear();
    for (int i = 0; i < c.size(); ++i) {
      auto stub = v1::Checkpoint::NewStub(grpc::CreateChannel(c.client_address(i), grpc::InsecureChannelCredentials()));
      const grpc::Status s = stub->SetActiveReplica(Ctx(2000).get(), move, &status);
      if (s.ok()) return true;
      refusals += " n" + std::to_string(c.node_id(i)) + ": " + s.error_message() + ";";
    }
    return false;
  });
  INFO("SetActiveReplica refused by every node:" << refusals);
  REQUIRE(accepted);
  const bool moved = Eventually([&] { return leads(next); }, std::chrono::seconds(20));
  INFO("next node " << c.node_id(next) << "; " << last);
  REQUIRE(moved);

  // The client library's SetActiveReplica returns once the node it names leads.
  {
    auto kv = OpenClient(c, std::chrono::seconds(20));
    client::CheckpointClient ckpt(*kv);
    auto back = ckpt.SetActiveReplica(name, std::to_string(c.node_id(chosen)));
    INFO((back ? "" : back.error().ToString()));
    REQUIRE(back.has_value());
    CHECK(back->active_node_id == c.node_id(chosen));
    CHECK(back->preferred_active_node_id == c.node_id(chosen));
    CHECK(Eventually([&] { return leads(chosen); }, std::chrono::seconds(5)));
    // clawctl checkpoint active: the same through the CLI.
    ProcessResult moved_by_cli = RunClawctl(Endpoints(c), {"checkpoint", "active", name, std::to_string(c.node_id(next)),
                                                           "--timeout", "20s", "-w", "json"});
    INFO(moved_by_cli.out << moved_by_cli.err);
    REQUIRE(moved_by_cli.exit_code == 0);
    CHECK(moved_by_cli.out.find("\"active_node_id\":\"" + std::to_string(c.node_id(next)) + "\"") != std::string::npos);
    CHECK(Eventually([&] { return leads(next); }, std::chrono::seconds(5)));
  }

  // The chosen node dies: another voter leads meanwhile (the pin on a silent node is ignored)...
  c.Kill(next);
  REQUIRE(Eventually([&] {
    for (int i = 0; i < c.size(); ++i) {
      if (i != next && leads(i)) return true;
    }
    return false;
  }, std::chrono::seconds(20)));
  // ... and when it is back, the leadership returns to it.
  c.Start(next);
  REQUIRE(c.WaitServing(next));
  CHECK(Eventually([&] { return leads(next); }, std::chrono::seconds(20)));
}

}  // namespace claw::e2e
