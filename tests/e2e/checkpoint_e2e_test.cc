// Named checkpoints between real processes (claw.v1.Checkpoint through client/checkpoint.h and
// clawctl): sections (create, generated ids, atomic vector writes, vector reads with offsets,
// overwrite, delete, iterate filters, expiration); every limit and bad input with its error code;
// a writer process killed with kill -9 while holding an open handle, whose checkpoint survives
// its retention, is readable by a standby that followed its update stream, and is then deleted;
// synchronous vs asynchronous replication observable with a SIGSTOPped follower; Follow resumed
// from a sequence number; clawctl's checkpoint commands.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "claw/v1/checkpoint.grpc.pb.h"
#include "client/checkpoint.h"
#include "e2e_util.h"

#ifndef CHECKPOINT_WRITER_BINARY
#error "CHECKPOINT_WRITER_BINARY must name tests/e2e/checkpoint_writer"
#endif

namespace claw::e2e {
namespace {

using client::CheckpointClient;
using client::ErrorCode;
using std::chrono::milliseconds;

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// What a Follow delivered, for the test thread to look at.
struct Standby {
  std::mutex mu;
  std::map<std::string, std::string> sections;
  std::vector<client::CheckpointUpdate> updates;
  bool deleted = false;

  std::function<void(const client::CheckpointUpdate&)> Callback() {
    return [this](const client::CheckpointUpdate& u) {
      std::lock_guard lock(mu);
      updates.push_back(u);
      if (u.snapshot) sections.clear();
      for (const client::SectionChange& c : u.sections) {
        if (c.deleted) {
          sections.erase(c.section_id);
        } else {
          sections[c.section_id] = c.data;
        }
      }
      if (u.deleted) deleted = true;
    };
  }
  std::vector<uint64_t> Sequences() {
    std::lock_guard lock(mu);
    std::vector<uint64_t> out;
    for (const auto& u : updates) out.push_back(u.sequence);
    return out;
  }
  std::optional<std::string> Section(const std::string& id) {
    std::lock_guard lock(mu);
    auto it = sections.find(id);
    if (it == sections.end()) return std::nullopt;
    return it->second;
  }
};

std::string Data(const client::Result<client::CheckpointReadResult>& read, size_t i = 0) {
  REQUIRE(read.has_value());
  REQUIRE(read->sections.size() > i);
  return read->sections[i].data;
}

#define CHECK_CODE(result, expected)                                             \
  do {                                                                           \
    const auto& r_ = (result);                                                   \
    REQUIRE_FALSE(r_.has_value());                                               \
    INFO("error: " << r_.error().ToString());                                    \
    CHECK(r_.error().code == (expected));                                        \
    CHECK_FALSE(r_.error().message.empty());                                     \
  } while (false)

// A child process whose standard output goes to a file; killed (SIGKILL) and reaped on
// destruction if still running.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    char tmpl[] = "/tmp/claw-e2e-child-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    out_path_ = dir_ + "/out";
    const std::string err_path = dir_ + "/err";
    pid_ = SpawnProcess(argv, "", out_path_, err_path);
  }
  ~Child() {
    Kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool Exited() {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_ && (pid_ = -1, true);
  }
  std::string Out() const { return Read(out_path_); }
  std::string Err() const { return Read(dir_ + "/err"); }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
  }
  std::string dir_;
  std::string out_path_;
  pid_t pid_ = -1;
};

// Whether node i's own replica holds section `section` of `name` with `data` (a STALE KV read
// served there, not forwarded).
bool ReplicaHas(const TestCluster& c, int i, const std::string& name, const std::string& section,
                const std::string& data) {
  v1::GetRequest get;
  get.set_key(client::CheckpointSectionKey(name, section));
  get.mutable_header()->set_consistency(v1::STALE);
  get.mutable_header()->set_forward(false);
  v1::GetResponse got;
  if (!c.Kv(i)->Get(Ctx(2000).get(), get, &got).ok() || !got.found()) return false;
  v1::CheckpointSectionRecord record;
  return record.ParseFromString(got.kv().value()) && record.data() == data;
}

}  // namespace

TEST_CASE("checkpoint: sections are created, written atomically, read, overwritten, deleted, iterated, expired",
          "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  auto kv = OpenClient(c, std::chrono::seconds(10));
  CheckpointClient ckpt(*kv);
  auto session = ckpt.StartSession(std::chrono::seconds(10));
  REQUIRE(session.has_value());
  const std::string name = "e2e-sections";
  auto h = ckpt.Open(**session, name,
                     {.read = true,
                      .write = true,
                      .create = true,
                      .attributes = {.max_size = 1024, .max_sections = 8, .max_section_size = 64}});
  REQUIRE(h.has_value());
  CHECK(h->created());
  CHECK(h->status_at_open().attributes.max_sections == 8);

  REQUIRE(h->CreateSection({.section_id = "a", .data = "hello"}).has_value());
  auto generated = h->CreateSection({.generate = true, .data = "gen"});
  REQUIRE(generated.has_value());
  CHECK_FALSE(generated->section_id.empty());
  auto b = h->CreateSection({.section_id = "b", .data = "world"});
  REQUIRE(b.has_value());
  CHECK(b->sequence > generated->sequence);
  CHECK(Data(h->Read({{.section_id = generated->section_id}})) == "gen");

  // A vector write: every element, in one change.
  auto wrote = h->Write({{.section_id = "a", .offset = 5, .data = " there"}, {.section_id = "b", .data = "W"}});
  REQUIRE(wrote.has_value());
  CHECK(wrote->sequence == b->sequence + 1);
  auto both = h->Read({{.section_id = "a"}, {.section_id = "b"}});
  CHECK(Data(both, 0) == "hello there");
  CHECK(Data(both, 1) == "World");
  CHECK(both->sequence == wrote->sequence);
  // One bad element (an unknown section; an offset past the end) and nothing is applied.
  CHECK_CODE(h->Write({{.section_id = "a", .data = "X"}, {.section_id = "zz", .data = "Y"}}),
             ErrorCode::kCheckpointSectionNotFound);
  auto past_end = h->Write({{.section_id = "a", .data = "X"}, {.section_id = "b", .offset = 6, .data = "Y"}});
  REQUIRE_FALSE(past_end.has_value());
  CHECK(past_end.error().code == ErrorCode::kInvalidArgument);
  CHECK(Data(h->Read({{.section_id = "a"}})) == "hello there");

  // Reads with offsets and lengths, from one state.
  auto parts = h->Read({{.section_id = "a", .offset = 6, .length = 5}, {.section_id = "b", .offset = 1}});
  CHECK(Data(parts, 0) == "there");
  CHECK(parts->sections[0].section_size == 11);
  CHECK(Data(parts, 1) == "orld");

  REQUIRE(h->Overwrite("b", "new").has_value());
  CHECK(Data(h->Read({{.section_id = "b"}})) == "new");
  REQUIRE(h->DeleteSection(generated->section_id).has_value());
  CHECK_CODE(h->Read({{.section_id = generated->section_id}}), ErrorCode::kCheckpointSectionNotFound);

  // Iterate filters: a expires in an hour, b never.
  const uint64_t hour = NowUnixMs() + 3'600'000;
  REQUIRE(h->SetSectionExpiration("a", hour).has_value());
  auto any = h->Iterate();
  REQUIRE(any.has_value());
  REQUIRE(any->size() == 2);
  CHECK((*any)[0].section_id == "a");
  CHECK((*any)[0].expiration_unix_ms == hour);
  CHECK((*any)[1].section_id == "b");
  CHECK((*any)[1].size == 3);
  auto forever = h->Iterate(client::SectionFilter::kForever);
  REQUIRE(forever.has_value());
  REQUIRE(forever->size() == 1);
  CHECK((*forever)[0].section_id == "b");
  auto before = h->Iterate(client::SectionFilter::kLeqExpiration, hour + 1);
  REQUIRE(before.has_value());
  REQUIRE(before->size() == 1);
  CHECK((*before)[0].section_id == "a");
  auto after = h->Iterate(client::SectionFilter::kGeqExpiration, hour + 1);
  REQUIRE(after.has_value());
  CHECK(after->empty());

  // A section whose expiration passes reads as absent, and goes.
  REQUIRE(h->CreateSection({.section_id = "short", .data = "x", .expiration_unix_ms = NowUnixMs() + 3000}).has_value());
  REQUIRE(Eventually(
      [&] {
        auto read = h->Read({{.section_id = "short"}});
        return !read.has_value() && read.error().code == ErrorCode::kCheckpointSectionNotFound;
      },
      std::chrono::seconds(10)));
  CHECK_CODE(h->Overwrite("short", "y"), ErrorCode::kCheckpointSectionNotFound);
  REQUIRE(Eventually([&] {
    auto listed = h->Iterate();
    return listed.has_value() && listed->size() == 2;
  }));

  REQUIRE(h->Close().has_value());
  REQUIRE(ckpt.Unlink(name).has_value());
  REQUIRE((*session)->End().has_value());
}

TEST_CASE("checkpoint: every limit and bad input gets a clear error", "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  auto kv = OpenClient(c, std::chrono::seconds(10));
  CheckpointClient ckpt(*kv);
  auto session = ckpt.StartSession(std::chrono::seconds(10));
  REQUIRE(session.has_value());

  // Unknown checkpoint; bad names (refused by the client, and by the server).
  CHECK_CODE(ckpt.Status("e2e-no-such"), ErrorCode::kCheckpointNotFound);
  CHECK_CODE(ckpt.Open(**session, "e2e-no-such", {.read = true}), ErrorCode::kCheckpointNotFound);
  CHECK_CODE(ckpt.Status("bad name"), ErrorCode::kInvalidArgument);
  CHECK_CODE(ckpt.Status(std::string(256, 'n')), ErrorCode::kInvalidArgument);
  {
    auto stub = v1::Checkpoint::NewStub(grpc::CreateCustomChannel(c.client_address(0),
                                                                  grpc::InsecureChannelCredentials(),
                                                                  TestChannelArgs()));
    v1::CheckpointStatusRequest req;
    req.set_name("bad name");
    req.mutable_header()->set_forward(true);
    v1::CheckpointStatus resp;
    const grpc::Status s = stub->Status(Ctx().get(), req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(Detail(s).code() == v1::Error::INVALID_ARGUMENT);
    CHECK(Detail(s).message().find("bad name") != std::string::npos);
  }
  // No open mode; no session; a session that does not exist.
  CHECK_CODE(ckpt.Open(**session, "e2e-limits", {.create = false}), ErrorCode::kInvalidArgument);
  CHECK_CODE(ckpt.Open(0, "e2e-limits", {.read = true, .create = true}), ErrorCode::kInvalidArgument);
  CHECK_CODE(ckpt.Open(987654321, "e2e-limits", {.read = true, .write = true, .create = true}),
             ErrorCode::kLeaseNotFound);

  const client::CheckpointAttributes attributes{.max_size = 12, .max_sections = 2, .max_section_size = 8};
  auto h = ckpt.Open(**session, "e2e-limits", {.read = true, .write = true, .create = true, .attributes = attributes});
  REQUIRE(h.has_value());
  // Create again with other attributes: refused; with the same: opened.
  client::CheckpointAttributes other = attributes;
  other.max_size = 13;
  CHECK_CODE(ckpt.Open(**session, "e2e-limits", {.write = true, .create = true, .attributes = other}),
             ErrorCode::kCheckpointExists);
  auto again = ckpt.Open(**session, "e2e-limits", {.read = true, .create = true, .attributes = attributes});
  REQUIRE(again.has_value());
  CHECK_FALSE(again->created());

  // Section size, max_size, max_sections, duplicate ids, id length.
  CHECK_CODE(h->CreateSection({.section_id = "a", .data = std::string(9, 'x')}), ErrorCode::kTooLarge);
  REQUIRE(h->CreateSection({.section_id = "a", .data = std::string(8, 'x')}).has_value());
  CHECK_CODE(h->CreateSection({.section_id = "a", .data = "y"}), ErrorCode::kCheckpointExists);
  CHECK_CODE(h->CreateSection({.section_id = "b", .data = std::string(5, 'y')}), ErrorCode::kCheckpointNoSpace);
  CHECK_CODE(h->Write({{.section_id = "a", .offset = 8, .data = "z"}}), ErrorCode::kTooLarge);
  REQUIRE(h->CreateSection({.section_id = "b", .data = std::string(4, 'y')}).has_value());
  CHECK_CODE(h->CreateSection({.section_id = "c", .data = ""}), ErrorCode::kCheckpointNoSpace);
  CHECK_CODE(h->CreateSection({.section_id = std::string(257, 'i'), .data = ""}), ErrorCode::kTooLarge);
  CHECK_CODE(h->CreateSection({.section_id = "", .data = "d"}), ErrorCode::kInvalidArgument);
  auto status = ckpt.Status("e2e-limits");
  REQUIRE(status.has_value());
  CHECK(status->size == 12);
  CHECK(status->sections == 2);

  // Wrong mode: a write through the read-only handle, a read through a write-only one.
  CHECK_CODE(again->Overwrite("a", "r"), ErrorCode::kCheckpointAccessDenied);
  auto writer = ckpt.Open(**session, "e2e-limits", {.write = true});
  REQUIRE(writer.has_value());
  CHECK_CODE(writer->Read({{.section_id = "a"}}), ErrorCode::kCheckpointAccessDenied);

  // An expired section: reads and writes answer SECTION_NOT_FOUND.
  REQUIRE(h->SetSectionExpiration("b", NowUnixMs() + 1500).has_value());
  REQUIRE(Eventually([&] {
    auto read = h->Read({{.section_id = "b"}});
    return !read.has_value() && read.error().code == ErrorCode::kCheckpointSectionNotFound;
  }));
  CHECK_CODE(h->Write({{.section_id = "b", .data = "w"}}), ErrorCode::kCheckpointSectionNotFound);

  // A closed handle is unknown; the checkpoint stays for the others.
  REQUIRE(writer->Close().has_value());
  CHECK_CODE(writer->Overwrite("a", "w"), ErrorCode::kCheckpointHandleNotFound);
  CHECK_CODE(writer->Close(), ErrorCode::kCheckpointHandleNotFound);
  CHECK(Data(h->Read({{.section_id = "a"}})) == std::string(8, 'x'));

  // Unlinked: new opens fail, open handles keep working until closed.
  auto unlinked = ckpt.Unlink("e2e-limits");
  REQUIRE(unlinked.has_value());
  CHECK_FALSE(*unlinked);
  CHECK_CODE(ckpt.Open(**session, "e2e-limits", {.read = true}), ErrorCode::kCheckpointNotFound);
  REQUIRE(h->Overwrite("a", "after").has_value());
  REQUIRE((*session)->End().has_value());
  REQUIRE(Eventually([&] {
    auto gone = ckpt.Status("e2e-limits");
    return !gone.has_value() && gone.error().code == ErrorCode::kCheckpointNotFound;
  }));
  CHECK_CODE(h->Read({{.section_id = "a"}}), ErrorCode::kCheckpointNotFound);
}

TEST_CASE("checkpoint: a writer killed with kill -9 leaves its checkpoint to a standby for the retention time",
          "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  auto kv = OpenClient(c, std::chrono::seconds(10));
  CheckpointClient ckpt(*kv);
  const std::string name = "e2e-kill9";
  // Long enough that the reads after the writer died cannot miss it on a slow machine.
  const uint64_t retention_ms = 8000;
  const uint64_t session_ttl_ms = 2000;
  // The test creates it and holds a handle until the writer has its own.
  auto session = ckpt.StartSession(std::chrono::seconds(10));
  REQUIRE(session.has_value());
  auto creator = ckpt.Open(**session, name,
                           {.read = true, .write = true, .create = true,
                            .attributes = {.retention_ms = retention_ms, .max_sections = 16}});
  REQUIRE(creator.has_value());

  // The standby follows from the current state on.
  Standby standby;
  auto follower = ckpt.Follow(name, {}, standby.Callback());
  REQUIRE(follower.has_value());
  {
    std::lock_guard lock(standby.mu);
    REQUIRE(standby.updates.size() == 1);
    CHECK(standby.updates.front().snapshot);
  }

  Child writer({CHECKPOINT_WRITER_BINARY, Endpoints(c), name, std::to_string(session_ttl_ms), "5"});
  REQUIRE(Eventually([&] { return writer.Out().find("ready ") != std::string::npos || writer.Exited(); },
                     std::chrono::seconds(20)));
  INFO("writer stdout:\n" << writer.Out() << "writer stderr:\n" << writer.Err());
  REQUIRE(writer.Out().find("ready ") != std::string::npos);
  std::vector<uint64_t> written;
  {
    std::istringstream lines(writer.Out());
    std::string word, section;
    uint64_t sequence = 0;
    while (lines >> word) {
      if (word == "wrote" && lines >> section >> sequence) written.push_back(sequence);
    }
  }
  REQUIRE(written.size() == 5);
  REQUIRE(creator->Close().has_value());
  REQUIRE((*session)->End().has_value());

  writer.Kill();  // SIGKILL: no close, no revoke; its session expires TTL later

  // The standby has every write, by sequence, with its data.
  REQUIRE(Eventually([&] {
    for (int i = 0; i < 5; ++i) {
      if (standby.Section("s" + std::to_string(i)) != "v" + std::to_string(i)) return false;
    }
    return true;
  }));
  const std::vector<uint64_t> seen = standby.Sequences();
  for (uint64_t s : written) CHECK(std::find(seen.begin(), seen.end(), s) != seen.end());
  CHECK(std::is_sorted(seen.begin(), seen.end()));

  // The writer's handle closes when its session expires; the retention timer starts then.
  client::CheckpointStatus closed;
  REQUIRE(Eventually(
      [&] {
        auto s = ckpt.Status(name);
        if (!s.has_value() || !s->handles.empty() || s->closed_unix_ms == 0) return false;
        closed = *s;
        return true;
      },
      std::chrono::seconds(15)));
  CHECK(closed.closed_unix_ms > 0);
  CHECK(closed.delete_at_unix_ms >= closed.closed_unix_ms + retention_ms);
  CHECK(closed.sequence >= written.back());
  // Still there, and readable, after the writer died.
  {
    auto reader_session = ckpt.StartSession(std::chrono::seconds(5));
    REQUIRE(reader_session.has_value());
    auto reader = ckpt.Open(**reader_session, name, {.read = true});
    INFO("open: " << (reader.has_value() ? "ok" : reader.error().ToString()));
    REQUIRE(reader.has_value());
    auto all = reader->Read({{.section_id = "s0"}, {.section_id = "s4"}});
    CHECK(Data(all, 0) == "v0");
    CHECK(Data(all, 1) == "v4");
    REQUIRE(reader->Close().has_value());
    REQUIRE((*reader_session)->End().has_value());
  }
  // Then deleted once the retention passed (never before its delete time), and the standby is told.
  auto last = ckpt.Status(name);
  REQUIRE(last.has_value());
  const uint64_t delete_at = last->delete_at_unix_ms;
  REQUIRE(Eventually(
      [&] {
        auto s = ckpt.Status(name);
        return !s.has_value() && s.error().code == ErrorCode::kCheckpointNotFound;
      },
      std::chrono::seconds(20)));
  CHECK(NowUnixMs() >= delete_at);
  REQUIRE(Eventually([&] {
    std::lock_guard lock(standby.mu);
    return standby.deleted;
  }));
  (*follower)->Cancel();
}

TEST_CASE("checkpoint: Follow resumes from a sequence number", "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  auto kv = OpenClient(c, std::chrono::seconds(10));
  CheckpointClient ckpt(*kv);
  auto session = ckpt.StartSession(std::chrono::seconds(10));
  REQUIRE(session.has_value());
  const std::string name = "e2e-follow";
  auto h = ckpt.Open(**session, name, {.read = true, .write = true, .create = true,
                                       .attributes = {.max_sections = 4}});
  REQUIRE(h.has_value());
  std::vector<uint64_t> sequences;
  auto created = h->CreateSection({.section_id = "k", .data = "0"});
  REQUIRE(created.has_value());
  sequences.push_back(created->sequence);
  for (int i = 1; i < 5; ++i) {
    auto w = h->Overwrite("k", std::to_string(i));
    REQUIRE(w.has_value());
    sequences.push_back(w->sequence);
  }
  // From the third write: exactly the writes from it on, in order, with their data.
  Standby from_third;
  auto follower = ckpt.Follow(name, {.from_sequence = sequences[2]}, from_third.Callback());
  REQUIRE(follower.has_value());
  REQUIRE(Eventually([&] { return from_third.Sequences().size() >= 3; }));
  {
    std::lock_guard lock(from_third.mu);
    REQUIRE(from_third.updates.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(from_third.updates[i].sequence == sequences[2 + i]);
      CHECK_FALSE(from_third.updates[i].snapshot);
      REQUIRE(from_third.updates[i].sections.size() == 1);
      CHECK(from_third.updates[i].sections[0].data == std::to_string(2 + i));
    }
  }
  // From the next sequence, not yet written (a standby resuming with last + 1): only new changes.
  Standby from_next;
  auto next = ckpt.Follow(name, {.from_sequence = (*follower)->last_sequence() + 1}, from_next.Callback());
  REQUIRE(next.has_value());
  auto more = h->Overwrite("k", "5");
  REQUIRE(more.has_value());
  REQUIRE(Eventually([&] { return from_next.Section("k") == "5" && from_third.Section("k") == "5"; }));
  CHECK(from_next.Sequences() == std::vector<uint64_t>{more->sequence});
  // From 0: the current state first, as one snapshot.
  Standby from_now;
  auto now = ckpt.Follow(name, {}, from_now.Callback());
  REQUIRE(now.has_value());
  {
    std::lock_guard lock(from_now.mu);
    REQUIRE(from_now.updates.size() == 1);
    CHECK(from_now.updates[0].snapshot);
    CHECK(from_now.updates[0].sequence >= more->sequence);
    CHECK(from_now.sections == std::map<std::string, std::string>{{"k", "5"}});
    CHECK(from_now.updates[0].handles_opened == std::vector<uint64_t>{h->id()});
  }
  // Bad input: an unknown checkpoint; a sequence never reached.
  CHECK_CODE(ckpt.Follow("e2e-no-such", {}, from_now.Callback()), ErrorCode::kCheckpointNotFound);
  auto future = ckpt.Follow(name, {.from_sequence = more->sequence + 100}, from_now.Callback());
  CHECK_FALSE(future.has_value());
  REQUIRE(h->Close().has_value());
  REQUIRE(ckpt.Unlink(name).has_value());
  REQUIRE((*session)->End().has_value());
}

TEST_CASE("checkpoint: synchronous writes wait for every replica, asynchronous ones for the active one",
          "[e2e][checkpoint]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto kv = OpenClient(c, std::chrono::seconds(10));
  CheckpointClient ckpt(*kv);
  auto session = ckpt.StartSession(std::chrono::seconds(30));
  REQUIRE(session.has_value());
  auto sync = ckpt.Open(**session, "sync-ck",
                        {.read = true, .write = true, .create = true,
                         .attributes = {.replication = client::CheckpointReplication::kSynchronous}});
  REQUIRE(sync.has_value());
  auto async = ckpt.Open(**session, "async-ck",
                         {.read = true, .write = true, .create = true,
                          .attributes = {.replication = client::CheckpointReplication::kAsynchronous}});
  REQUIRE(async.has_value());
  REQUIRE(sync->Overwrite("", "s0").has_value());
  REQUIRE(async->Overwrite("", "a0").has_value());

  // Stop one follower of the checkpoints' shard (both live in the last shard).
  const int leader = LeaderIndex(c, client::CheckpointHeaderKey("sync-ck"));
  REQUIRE(leader >= 0);
  const int paused = (leader + 1) % 3;
  REQUIRE(Eventually([&] { return ReplicaHas(c, paused, "sync-ck", "", "s0"); }));
  c.Pause(paused);
  auto async_write = async->Overwrite("", "a1");
  REQUIRE(async_write.has_value());
  auto sync_write = sync->Overwrite("", "s1", {.deadline = milliseconds(2000)});
  REQUIRE_FALSE(sync_write.has_value());
  CHECK(sync_write.error().code == ErrorCode::kCheckpointNotAllReplicas);
  CHECK_FALSE(sync_write.error().definite);  // applied at the active replica
  CHECK(Data(sync->Read({{.section_id = ""}})) == "s1");
  // The running replicas hold both writes; the stopped one neither.
  const int running = (leader + 2) % 3;
  CHECK(Eventually([&] { return ReplicaHas(c, running, "async-ck", "", "a1"); }));
  CHECK(Eventually([&] { return ReplicaHas(c, running, "sync-ck", "", "s1"); }));
  CHECK_CODE(async->Synchronize({.deadline = milliseconds(1500)}), ErrorCode::kCheckpointNotAllReplicas);

  c.Resume(paused);
  auto synced = async->Synchronize({.deadline = milliseconds(10000)});
  REQUIRE(synced.has_value());
  CHECK(synced->sequence >= async_write->sequence);
  // Synchronize returned: the resumed replica stored the data; it shows in a STALE read served
  // there once applied (the commit index reaches it with the next append).
  CHECK(Eventually([&] { return ReplicaHas(c, paused, "async-ck", "", "a1"); }, std::chrono::seconds(5)));
  REQUIRE(sync->Synchronize({.deadline = milliseconds(10000)}).has_value());
  CHECK(Eventually([&] { return ReplicaHas(c, paused, "sync-ck", "", "s1"); }, std::chrono::seconds(5)));
  // A synchronous write returns once every replica stored it.
  REQUIRE(sync->Overwrite("", "s2").has_value());
  for (int i = 0; i < 3; ++i) {
    CHECK(Eventually([&] { return ReplicaHas(c, i, "sync-ck", "", "s2"); }, std::chrono::seconds(5)));
  }
}

TEST_CASE("checkpoint: handle calls and the update stream continue across a kill -9 of the shard's leader",
          "[e2e][checkpoint]") {
  TestCluster c({.nodes = 3, .shards = 2, .flags = FastFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto kv = OpenClient(c, std::chrono::seconds(15));
  CheckpointClient ckpt(*kv);
  auto session = ckpt.StartSession(std::chrono::seconds(10));
  REQUIRE(session.has_value());
  const std::string name = "failover-ck";
  auto h = ckpt.Open(**session, name, {.read = true, .write = true, .create = true,
                                       .attributes = {.max_sections = 4}});
  REQUIRE(h.has_value());
  REQUIRE(h->CreateSection({.section_id = "k", .data = "0"}).has_value());
  Standby standby;
  auto follower = ckpt.Follow(name, {}, standby.Callback());
  REQUIRE(follower.has_value());
  std::vector<uint64_t> written;
  for (int i = 1; i <= 3; ++i) {
    auto w = h->Overwrite("k", std::to_string(i));
    REQUIRE(w.has_value());
    written.push_back(w->sequence);
  }
  const int leader = LeaderIndex(c, client::CheckpointHeaderKey(name));
  REQUIRE(leader >= 0);
  c.Kill(leader);
  // The client finds the new leader (NOT_LEADER hints, UNAVAILABLE back-off) within the deadline;
  // the follower's watch resumes there from its last revision.
  for (int i = 4; i <= 6; ++i) {
    auto w = h->Overwrite("k", std::to_string(i), {.deadline = std::chrono::seconds(15)});
    INFO("write " << i << ": " << (w.has_value() ? "ok" : w.error().ToString()));
    REQUIRE(w.has_value());
    written.push_back(w->sequence);
  }
  CHECK(Data(h->Read({{.section_id = "k"}})) == "6");
  REQUIRE(Eventually([&] { return standby.Section("k") == "6"; }, std::chrono::seconds(15)));
  // Every write reached the standby once, in sequence order (a retried write may have taken a
  // sequence of its own, so the stream may hold more than the acknowledged ones, never fewer).
  const std::vector<uint64_t> seen = standby.Sequences();
  for (uint64_t s : written) CHECK(std::count(seen.begin(), seen.end(), s) == 1);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK((*follower)->resumes() >= 1);
  auto status = ckpt.Status(name);
  REQUIRE(status.has_value());
  CHECK(status->active_node_id != c.node_id(leader));
  (*follower)->Cancel();
}

TEST_CASE("checkpoint: clawctl checkpoint commands", "[e2e][checkpoint]") {
  TestCluster& c = SharedCluster();
  const std::string endpoints = Endpoints(c);
  ProcessResult created = RunClawctl(endpoints, {"checkpoint", "create", "e2e-ctl", "--sync", "--retention", "30s",
                                                 "--max-sections", "4"});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  CHECK(created.out == "checkpoint e2e-ctl created; retained 30000 ms once no handle is open\n");
  ProcessResult same = RunClawctl(endpoints, {"checkpoint", "create", "e2e-ctl", "--sync", "--retention", "30s",
                                              "--max-sections", "4"});
  CHECK(same.exit_code == 0);
  CHECK(same.out.find("exists with these attributes") != std::string::npos);
  ProcessResult mismatch = RunClawctl(endpoints, {"checkpoint", "create", "e2e-ctl", "--async"});
  CHECK(mismatch.exit_code == 1);
  CHECK(mismatch.err.find("CHECKPOINT_EXISTS") != std::string::npos);

  ProcessResult write = RunClawctl(endpoints, {"checkpoint", "write", "e2e-ctl", "s1", "hello", "--create"});
  INFO(write.out << write.err);
  REQUIRE(write.exit_code == 0);
  CHECK(write.out.starts_with("OK sequence "));
  ProcessResult stdin_write = RunClawctl(endpoints, {"-w", "json", "checkpoint", "write", "e2e-ctl", "s2", "--file", "-",
                                                     "--create"},
                                         std::string("bin\0ary", 7));
  REQUIRE(stdin_write.exit_code == 0);
  CHECK(stdin_write.out.starts_with("{\"sequence\":\""));
  ProcessResult read = RunClawctl(endpoints, {"checkpoint", "read", "e2e-ctl", "s1"});
  REQUIRE(read.exit_code == 0);
  CHECK(read.out == "hello");
  ProcessResult all = RunClawctl(endpoints, {"-w", "json", "checkpoint", "read", "e2e-ctl"});
  REQUIRE(all.exit_code == 0);
  CHECK(all.out.find("{\"id\":\"czE=\",\"data\":\"aGVsbG8=\",\"size\":\"5\"}") != std::string::npos);
  CHECK(all.out.find("\"data\":\"YmluAGFyeQ==\"") != std::string::npos);
  ProcessResult table = RunClawctl(endpoints, {"checkpoint", "read", "e2e-ctl"});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("bin\\x00ary") != std::string::npos);

  ProcessResult show = RunClawctl(endpoints, {"-w", "json", "checkpoint", "show", "e2e-ctl"});
  REQUIRE(show.exit_code == 0);
  CHECK(show.out.find("\"name\":\"e2e-ctl\"") != std::string::npos);
  CHECK(show.out.find("\"replication\":\"SYNCHRONOUS\"") != std::string::npos);
  CHECK(show.out.find("\"sections\":\"2\"") != std::string::npos);
  CHECK(show.out.find("\"handles\":[]") != std::string::npos);  // every command closed its own
  ProcessResult list = RunClawctl(endpoints, {"checkpoint", "list"});
  REQUIRE(list.exit_code == 0);
  CHECK(list.out.starts_with("NAME"));
  CHECK(list.out.find("e2e-ctl") != std::string::npos);

  ProcessResult watch = RunClawctl(endpoints, {"checkpoint", "watch", "e2e-ctl", "--count", "1", "--timeout", "10s"});
  REQUIRE(watch.exit_code == 0);
  CHECK(watch.out.starts_with("SNAPSHOT "));
  CHECK(watch.out.find(" s1=hello") != std::string::npos);

  ProcessResult missing_section = RunClawctl(endpoints, {"checkpoint", "read", "e2e-ctl", "nope"});
  CHECK(missing_section.exit_code == 3);
  CHECK(missing_section.err.find("CHECKPOINT_SECTION_NOT_FOUND") != std::string::npos);
  ProcessResult missing = RunClawctl(endpoints, {"checkpoint", "show", "e2e-ctl-nope"});
  CHECK(missing.exit_code == 3);
  CHECK(missing.err.find("CHECKPOINT_NOT_FOUND") != std::string::npos);
  ProcessResult bad = RunClawctl(endpoints, {"checkpoint", "create", "bad name"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("checkpoint names use only") != std::string::npos);
  ProcessResult too_many = RunClawctl(endpoints, {"checkpoint", "write", "e2e-ctl", "s3", "x", "--create"});
  REQUIRE(too_many.exit_code == 0);
  RunClawctl(endpoints, {"checkpoint", "write", "e2e-ctl", "s4", "x", "--create"});
  ProcessResult full = RunClawctl(endpoints, {"checkpoint", "write", "e2e-ctl", "s5", "x", "--create"});
  CHECK(full.exit_code == 1);
  CHECK(full.err.find("CHECKPOINT_NO_SPACE") != std::string::npos);

  ProcessResult removed = RunClawctl(endpoints, {"checkpoint", "delete-section", "e2e-ctl", "s1"});
  CHECK(removed.exit_code == 0);
  ProcessResult retention = RunClawctl(endpoints, {"-w", "json", "checkpoint", "retention", "e2e-ctl", "1s"});
  CHECK(retention.exit_code == 0);
  CHECK(retention.out.find("\"retention_ms\":\"1000\"") != std::string::npos);
  ProcessResult unlink = RunClawctl(endpoints, {"checkpoint", "unlink", "e2e-ctl"});
  CHECK(unlink.exit_code == 0);
  CHECK(unlink.out == "checkpoint e2e-ctl unlinked and deleted\n");
  CHECK(RunClawctl(endpoints, {"checkpoint", "show", "e2e-ctl"}).exit_code == 3);
}

}  // namespace claw::e2e
