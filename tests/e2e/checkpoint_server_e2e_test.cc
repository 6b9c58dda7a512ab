// claw.v1.Checkpoint over raw gRPC stubs against real clawd processes: what the server itself
// guarantees (handles, limits, atomic vector writes, retention and session ends), independent
// of the client library (checkpoint_e2e_test.cc covers that and clawctl).
#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "claw/v1/checkpoint.grpc.pb.h"
#include "client/checkpoint_layout.h"
#include "client/lease.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using namespace std::chrono_literals;

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Calls on the leader of the checkpoint's shard.
class Ckpt {
 public:
  Ckpt(const TestCluster& c, std::string name) : c_(c), name_(std::move(name)) {}

  v1::Checkpoint::Stub& Leader() {
    const int i = LeaderIndex(c_, client::CheckpointHeaderKey(name_));
    REQUIRE(i >= 0);
    auto& stub = stubs_[i];
    if (!stub) stub = v1::Checkpoint::NewStub(grpc::CreateChannel(c_.client_address(i), grpc::InsecureChannelCredentials()));
    return *stub;
  }
  template <class Req, class Resp, class Fn>
  grpc::Status Call(Fn fn, Req req, Resp* resp) {
    req.set_name(name_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return (Leader().*fn)(&ctx, req, resp);
  }
  const std::string& name() const { return name_; }

 private:
  const TestCluster& c_;
  std::string name_;
  std::map<int, std::unique_ptr<v1::Checkpoint::Stub>> stubs_;
};

v1::Error::Code CodeOf(const grpc::Status& s) { return Detail(s).code(); }

std::unique_ptr<client::LeaseClient> Leases(const TestCluster& c) {
  client::ClientOptions o;
  for (int i = 0; i < c.size(); ++i) o.endpoints.push_back(c.client_address(i));
  auto l = client::LeaseClient::Open(o);
  REQUIRE(l.has_value());
  return std::move(*l);
}

}  // namespace

TEST_CASE("checkpoint server: handles, sections, atomic vector writes and every limit", "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  auto leases = Leases(c);
  auto session = leases->Grant(30s);
  REQUIRE(session.has_value());
  auto keep = leases->KeepAlive(session->id);
  Ckpt ck(c, "srv/limits." + std::to_string(NowMs()));

  v1::CheckpointOpenRequest open;
  open.set_read(true);
  open.set_write(true);
  open.set_create(true);
  open.set_session(session->id);
  open.mutable_attributes()->set_max_sections(3);
  open.mutable_attributes()->set_max_section_size(100);
  open.mutable_attributes()->set_max_size(200);
  open.mutable_attributes()->set_retention_ms(60'000);
  v1::CheckpointOpenResponse opened;
  grpc::Status s = ck.Call(&v1::Checkpoint::Stub::Open, open, &opened);
  REQUIRE(s.ok());
  CHECK(opened.created());
  const uint64_t h = opened.handle();
  CHECK(h != 0);
  CHECK(opened.status().attributes().replication() == v1::ASYNCHRONOUS);

  // Opening again with the same attributes is fine; with others it is refused.
  v1::CheckpointOpenResponse again;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Open, open, &again).ok());
  CHECK_FALSE(again.created());
  const uint64_t h2 = again.handle();
  CHECK(h2 != h);
  open.mutable_attributes()->set_max_sections(4);
  s = ck.Call(&v1::Checkpoint::Stub::Open, open, &again);
  CHECK(s.error_code() == grpc::StatusCode::ALREADY_EXISTS);
  CHECK(CodeOf(s) == v1::Error::CHECKPOINT_EXISTS);

  auto create = [&](const std::string& id, const std::string& data, uint64_t exp = 0) {
    v1::SectionCreateRequest r;
    r.set_handle(h);
    r.set_section_id(id);
    r.set_data(data);
    r.set_expiration_unix_ms(exp);
    v1::SectionCreateResponse out;
    return ck.Call(&v1::Checkpoint::Stub::CreateSection, r, &out);
  };
  REQUIRE(create("a", "0123456789").ok());
  REQUIRE(create("b", "abc").ok());
  CHECK(CodeOf(create("a", "x")) == v1::Error::CHECKPOINT_EXISTS);
  CHECK(CodeOf(create("big", std::string(101, 'x'))) == v1::Error::TOO_LARGE);

  // A vector write: all or nothing.
  v1::CheckpointWriteRequest w;
  w.set_handle(h);
  auto* e1 = w.add_elements();
  e1->set_section_id("a");
  e1->set_offset(5);
  e1->set_data("XYZ");
  auto* e2 = w.add_elements();
  e2->set_section_id("b");
  e2->set_offset(3);
  e2->set_data("def");
  v1::SectionWriteResponse wr;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Write, w, &wr).ok());
  const uint64_t seq = wr.sequence();
  CHECK(seq > 0);
  auto* e3 = w.add_elements();
  e3->set_section_id("missing");
  e3->set_data("!");
  s = ck.Call(&v1::Checkpoint::Stub::Write, w, &wr);
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(CodeOf(s) == v1::Error::CHECKPOINT_SECTION_NOT_FOUND);
  w.mutable_elements()->RemoveLast();
  w.mutable_elements(0)->set_offset(11);  // a hole
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Write, w, &wr)) == v1::Error::INVALID_ARGUMENT);

  v1::CheckpointReadRequest rd;
  rd.set_handle(h);
  rd.add_elements()->set_section_id("a");
  auto* re = rd.add_elements();
  re->set_section_id("b");
  re->set_offset(1);
  re->set_length(3);
  v1::CheckpointReadResponse got;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Read, rd, &got).ok());
  REQUIRE(got.results_size() == 2);
  CHECK(got.results(0).data() == "01234XYZ89");
  CHECK(got.results(1).data() == "bcd");
  CHECK(got.results(1).section_size() == 6);
  CHECK(got.sequence() == seq);

  // max_sections (3) and max_size (200).
  REQUIRE(create("c", std::string(100, 'c')).ok());
  CHECK(CodeOf(create("d", "")) == v1::Error::CHECKPOINT_NO_SPACE);
  v1::SectionOverwriteRequest ow;
  ow.set_handle(h);
  ow.set_section_id("b");
  ow.set_data(std::string(100, 'b'));
  s = ck.Call(&v1::Checkpoint::Stub::Overwrite, ow, &wr);
  CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(CodeOf(s) == v1::Error::CHECKPOINT_NO_SPACE);
  ow.set_data("short");
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Overwrite, ow, &wr).ok());

  // A read-only handle cannot write; a write-only one cannot read.
  v1::CheckpointOpenRequest ro = open;
  ro.set_create(false);
  ro.set_write(false);
  ro.clear_attributes();
  v1::CheckpointOpenResponse ro_open;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Open, ro, &ro_open).ok());
  ow.set_handle(ro_open.handle());
  s = ck.Call(&v1::Checkpoint::Stub::Overwrite, ow, &wr);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(CodeOf(s) == v1::Error::CHECKPOINT_ACCESS_DENIED);

  // An expiring section disappears; Iterate filters by expiration.
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::DeleteSection,
                  [&] {
                    v1::SectionDeleteRequest d;
                    d.set_handle(h);
                    d.set_section_id("c");
                    return d;
                  }(),
                  &wr)
              .ok());
  const uint64_t exp = NowMs() + 700;
  REQUIRE(create("soon", "gone", exp).ok());
  v1::SectionIterateRequest it;
  it.set_handle(h);
  it.set_filter(v1::SectionIterateRequest::LEQ_EXPIRATION);
  it.set_expiration_unix_ms(exp);
  v1::SectionIterateResponse listed;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Iterate, it, &listed).ok());
  REQUIRE(listed.sections_size() == 1);
  CHECK(listed.sections(0).section_id() == "soon");
  it.set_filter(v1::SectionIterateRequest::FOREVER);
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Iterate, it, &listed).ok());
  CHECK(listed.sections_size() == 2);  // a, b
  v1::CheckpointReadRequest rs;
  rs.set_handle(h);
  rs.add_elements()->set_section_id("soon");
  CHECK(Eventually([&] { return CodeOf(ck.Call(&v1::Checkpoint::Stub::Read, rs, &got)) == v1::Error::CHECKPOINT_SECTION_NOT_FOUND; },
                   5s));
  // The cleanup loop removes it: the section count drops back to 2.
  v1::CheckpointStatusRequest st;
  v1::CheckpointStatus status;
  CHECK(Eventually([&] { return ck.Call(&v1::Checkpoint::Stub::Status, st, &status).ok() && status.sections() == 2; }, 5s));
  CHECK(status.handles_size() == 3);
  CHECK(status.size() == 10 + 5);

  // A sequence number resolves to the revision of its change.
  v1::ResolveSequenceRequest rsq;
  rsq.set_sequence(seq);
  v1::ResolveSequenceResponse rev;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::ResolveSequence, rsq, &rev).ok());
  CHECK(rev.revision() > 0);
  rsq.set_sequence(status.sequence() + 5);
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::ResolveSequence, rsq, &rev)) == v1::Error::INVALID_ARGUMENT);

  // The KV API cannot write checkpoint keys; whole-keyspace scans of the client library skip them.
  {
    auto kv = KvAt(c.client_address(LeaderIndex(c, client::CheckpointHeaderKey(ck.name()))));
    v1::PutRequest put;
    put.set_key(client::CheckpointSectionKey(ck.name(), "a"));
    put.set_value("forged");
    v1::PutResponse pr;
    grpc::ClientContext ctx;
    grpc::Status ps = kv->Put(&ctx, put, &pr);
    CHECK(ps.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(Detail(ps).message().find("claw.v1.Checkpoint") != std::string::npos);
    auto cl = OpenClient(c);
    auto all = cl->Scan(std::string(1, '\x01'), "", {.limit = 0, .reverse = false, .keys_only = true});
    REQUIRE(all.has_value());
    for (const auto& kv_ : all->kvs) CHECK_FALSE(client::OverlapsCheckpointSpace(kv_.key, kv_.key + '\0'));
    auto mine = cl->Scan(client::CheckpointStart(ck.name()), client::CheckpointEnd(ck.name()));
    REQUIRE(mine.has_value());
    CHECK(mine->kvs.size() >= 4);  // header, handles, sections
  }

  // Bad input.
  Ckpt unknown(c, "srv/never-created");
  CHECK(CodeOf(unknown.Call(&v1::Checkpoint::Stub::Status, st, &status)) == v1::Error::CHECKPOINT_NOT_FOUND);
  v1::CheckpointCloseRequest cl;
  v1::CheckpointCloseResponse closed;
  cl.set_handle(12345);
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Close, cl, &closed)) == v1::Error::CHECKPOINT_HANDLE_NOT_FOUND);
  v1::CheckpointOpenRequest no_session = open;
  no_session.set_session(0);
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Open, no_session, &again)) == v1::Error::INVALID_ARGUMENT);
  v1::CheckpointOpenRequest bad_lease = ro;
  bad_lease.set_session(987654321);
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Open, bad_lease, &again)) == v1::Error::LEASE_NOT_FOUND);
  Ckpt bad_name(c, "has space");
  CHECK(CodeOf(bad_name.Call(&v1::Checkpoint::Stub::Status, st, &status)) == v1::Error::INVALID_ARGUMENT);

  // Unlink with handles open: the name is gone for new opens, the handles keep working.
  v1::CheckpointUnlinkResponse ul;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Unlink, v1::CheckpointUnlinkRequest(), &ul).ok());
  CHECK_FALSE(ul.deleted());
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Open, ro, &again)) == v1::Error::CHECKPOINT_NOT_FOUND);
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Read, rd, &got).ok());
  // Closing the last handle deletes it.
  for (uint64_t handle : {h, h2}) {
    cl.set_handle(handle);
    REQUIRE(ck.Call(&v1::Checkpoint::Stub::Close, cl, &closed).ok());
    REQUIRE(ck.Call(&v1::Checkpoint::Stub::Status, st, &status).ok());
    CHECK(status.unlinked());
  }
  cl.set_handle(ro_open.handle());
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Close, cl, &closed).ok());
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Status, st, &status)) == v1::Error::CHECKPOINT_NOT_FOUND);
}

TEST_CASE("checkpoint server: a session's end closes its handles; retention then deletes the checkpoint",
          "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  auto leases = Leases(c);
  auto session = leases->Grant(1500ms);  // never kept alive: the "process" dies at once
  REQUIRE(session.has_value());
  Ckpt ck(c, "srv/retention." + std::to_string(NowMs()));
  v1::CheckpointOpenRequest open;
  open.set_write(true);
  open.set_create(true);
  open.set_session(session->id);
  open.mutable_attributes()->set_retention_ms(2000);
  v1::CheckpointOpenResponse opened;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Open, open, &opened).ok());
  v1::SectionOverwriteRequest ow;
  ow.set_handle(opened.handle());
  ow.set_data("state");  // the default section (max_sections 1)
  v1::SectionWriteResponse wr;
  REQUIRE(ck.Call(&v1::Checkpoint::Stub::Overwrite, ow, &wr).ok());

  // The lease expires: the handle is closed and the retention timer starts.
  v1::CheckpointStatusRequest st;
  v1::CheckpointStatus status;
  REQUIRE(Eventually([&] { return ck.Call(&v1::Checkpoint::Stub::Status, st, &status).ok() && status.handles_size() == 0 &&
                                  status.closed_unix_ms() != 0; },
                     10s));
  CHECK(status.delete_at_unix_ms() == status.closed_unix_ms() + 2000);
  CHECK(status.size() == 5);
  CHECK(CodeOf(ck.Call(&v1::Checkpoint::Stub::Overwrite, ow, &wr)) == v1::Error::CHECKPOINT_HANDLE_NOT_FOUND);
  // Not before the retention runs out (checked early, with margin), deleted after it.
  const uint64_t delete_at = status.delete_at_unix_ms();
  if (NowMs() + 500 < delete_at) CHECK(ck.Call(&v1::Checkpoint::Stub::Status, st, &status).ok());
  CHECK(Eventually([&] { return CodeOf(ck.Call(&v1::Checkpoint::Stub::Status, st, &status)) == v1::Error::CHECKPOINT_NOT_FOUND; },
                   10s));
  CHECK(NowMs() >= delete_at);
}

TEST_CASE("checkpoint server: a synchronous write waits for every replica, an asynchronous one for a majority",
          "[e2e][checkpoint]") {
  TestCluster c(ClusterOptions{.nodes = 3, .shards = 1, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  auto leases = Leases(c);
  auto session = leases->Grant(30s);
  REQUIRE(session.has_value());
  auto keep = leases->KeepAlive(session->id);
  const std::string stamp = std::to_string(NowMs());
  Ckpt sync(c, "srv/sync." + stamp), async(c, "srv/async." + stamp);
  auto open = [&](Ckpt& ck, v1::CheckpointReplication mode) {
    v1::CheckpointOpenRequest o;
    o.set_write(true);
    o.set_create(true);
    o.set_session(session->id);
    o.mutable_attributes()->set_replication(mode);
    v1::CheckpointOpenResponse out;
    REQUIRE(ck.Call(&v1::Checkpoint::Stub::Open, o, &out).ok());
    return out.handle();
  };
  const uint64_t hs = open(sync, v1::SYNCHRONOUS), ha = open(async, v1::ASYNCHRONOUS);
  auto write = [&](Ckpt& ck, uint64_t h, const std::string& data, std::chrono::milliseconds deadline) {
    v1::SectionOverwriteRequest ow;
    ow.set_name(ck.name());
    ow.set_handle(h);
    ow.set_data(data);
    v1::SectionWriteResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    return ck.Leader().Overwrite(&ctx, ow, &out);
  };
  REQUIRE(write(sync, hs, "s1", 5s).ok());
  REQUIRE(write(async, ha, "a1", 5s).ok());

  // With one follower stopped, the asynchronous write is acknowledged, the synchronous one not.
  const std::string key = client::CheckpointHeaderKey(sync.name());
  const int follower = FollowerIndex(c, key);
  REQUIRE(follower >= 0);
  c.Pause(follower);
  CHECK(write(async, ha, "a2", 5s).ok());
  grpc::Status s = write(sync, hs, "s2", 1500ms);
  CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(Detail(s).code() == v1::Error::CHECKPOINT_NOT_ALL_REPLICAS);
  CHECK(Detail(s).message().find("node " + std::to_string(follower + 1)) != std::string::npos);
  CHECK_FALSE(Detail(s).definite());
  // Synchronize waits for that replica too.
  v1::CheckpointSynchronizeRequest sy;
  sy.set_handle(ha);
  v1::SectionWriteResponse synced;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 1s);
    sy.set_name(async.name());
    CHECK(Detail(async.Leader().Synchronize(&ctx, sy, &synced)).code() == v1::Error::CHECKPOINT_NOT_ALL_REPLICAS);
  }
  c.Resume(follower);
  REQUIRE(async.Call(&v1::Checkpoint::Stub::Synchronize, sy, &synced).ok());
  // Then the stopped replica holds both checkpoints' last writes (a STALE read there).
  auto kv = KvAt(c.client_address(follower));
  for (const auto& [ck, want] : {std::pair<Ckpt*, std::string>{&sync, "s2"}, {&async, "a2"}}) {
    v1::GetRequest g;
    g.set_key(client::CheckpointSectionKey(ck->name(), ""));
    g.mutable_header()->set_consistency(v1::STALE);
    CHECK(Eventually([&, want = want] {
      v1::GetResponse got;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 2s);
      v1::CheckpointSectionRecord rec;
      return kv->Get(&ctx, g, &got).ok() && got.found() && rec.ParseFromString(got.kv().value()) && rec.data() == want;
    }, 5s));
  }
}

}  // namespace claw::e2e
