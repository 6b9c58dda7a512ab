// kill -9 on a real process writing through GroupLog + LogWriter: a forked child appends to
// several groups and reports each acknowledged (durable) write over a pipe; the parent kills it
// with SIGKILL at a varying point, reopens the database, and checks that every acknowledged entry
// is there, every group's log verifies (checksums, no gaps), and writing can resume. Repeated over
// the same database so each round also recovers the previous one's crash.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/log_writer.h"
#include "storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

constexpr int kGroups = 8;

struct Ack {
  uint64_t group;
  uint64_t index;
};

StorageOptions Options(const std::string& dir) {
  StorageOptions o;
  o.dir = dir;
  o.block_cache_bytes = 8 << 20;
  return o;
}

// The child: appends forever (until killed), reporting each durable write on `fd`.
[[noreturn]] void Writer(const std::string& dir, int fd) {
  auto engine = Engine::Open(Options(dir));
  if (!engine) _exit(2);
  std::vector<std::unique_ptr<GroupLog>> logs;
  for (int g = 1; g <= kGroups; ++g) {
    auto log = GroupLog::Open(engine->get(), GroupId(g));
    if (!log) {
      raft::ConfState conf;
      conf.voters.push_back(raft::NodeId(1));
      log = GroupLog::Bootstrap(engine->get(), GroupId(g), raft::SnapshotMeta{.conf = conf});
    }
    if (!log) _exit(3);
    logs.push_back(std::move(*log));
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<GroupWrite> done;
  LogWriter writer(engine->get());
  auto submit = [&](int g) {
    raft::Ready rd;
    const uint64_t next = logs[g]->LastIndex().value() + 1;
    rd.entries.push_back(raft::Entry{.term = raft::Term(1),
                                     .index = raft::LogIndex(next),
                                     .data = "g" + std::to_string(g) + "-" + std::to_string(next)});
    rd.hard_state = raft::HardState{.term = raft::Term(1), .commit = raft::LogIndex(next)};
    rd.must_sync = true;
    writer.Submit(logs[g]->PrepareWrite(rd), [&](GroupWrite& w) {
      // Report only once durable: this is the acknowledgement a client would get.
      const Ack ack{w.group, w.entries.back().index.value()};
      if (::write(fd, &ack, sizeof(ack)) != sizeof(ack)) _exit(4);
      std::lock_guard<std::mutex> lock(mu);
      done.push_back(std::move(w));
      cv.notify_one();
    });
  };
  for (int g = 0; g < kGroups; ++g) submit(g);
  for (;;) {
    std::vector<GroupWrite> finished;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !done.empty(); });
      finished.swap(done);
    }
    for (GroupWrite& w : finished) {
      const int g = int(w.group) - 1;
      logs[g]->OnWritten(w);
      submit(g);
    }
  }
}

TEST_CASE("kill -9: every acknowledged raft log write survives", "[storage]") {
  test::TempDir dir;
  std::map<uint64_t, uint64_t> acked;  // group -> highest acknowledged index, over all rounds
  for (int round = 0; round < 4; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      Writer(dir.path(), fds[1]);
    }
    ::close(fds[1]);
    // Let it run for a varying number of acknowledgements, then kill it mid-flight.
    const int kill_after = 40 + round * 97;
    int seen = 0;
    Ack ack;
    while (seen < kill_after && ::read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) {
      acked[ack.group] = std::max(acked[ack.group], ack.index);
      ++seen;
    }
    REQUIRE(seen == kill_after);
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    // Acknowledgements already in the pipe were given before the kill: they count too.
    while (::read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) {
      acked[ack.group] = std::max(acked[ack.group], ack.index);
    }
    ::close(fds[0]);

    auto engine = Engine::Open(Options(dir.path()));
    REQUIRE(engine.has_value());
    for (const auto& [group, index] : acked) {
      auto log = GroupLog::Open(engine->get(), group);  // verifies checksums and contiguity
      REQUIRE(log.has_value());
      INFO("round " << round << " group " << group);
      CHECK((*log)->LastIndex().value() >= index);
      auto last = (*log)->Entries(raft::LogIndex(index), raft::LogIndex(index + 1), 1 << 20);
      REQUIRE(last.has_value());
      CHECK(last->front().data == "g" + std::to_string(group - 1) + "-" + std::to_string(index));
      CHECK((*log)->GetInitialState().hard_state.commit.value() >= index);
    }
  }
  CHECK(acked.size() == size_t(kGroups));
}

}  // namespace
}  // namespace claw::storage
