// storage_bench: the Raft log write path on this machine's disk. A program, not a test: it
// prints figures and exits 0.
//
// For 1, 16 and 1,000 groups, each group keeps one 256-byte append in flight (a closed loop, as a
// leader waiting for its own durability) through GroupLog + LogWriter (group commit); reported:
// synced appends/s, fsyncs/s and appends per fsync. Baselines in the same run, on the same
// directory: raw RocksDB one-Put-per-synced-write (the "one sync per append" floor), and raw
// RocksDB sequential WriteBatches of the same size as the group-commit rounds (the ceiling).
//
// Usage: storage_bench [dir] [seconds per run]   (default dir /var/tmp, 3 s)
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/engine.h"
#include "storage/log_writer.h"
#include "storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kEntryBytes = 256;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::unique_ptr<Engine> OpenEngine(const std::string& dir) {
  StorageOptions o;
  o.dir = dir;
  auto engine = Engine::Open(o);
  if (!engine) {
    std::fprintf(stderr, "storage_bench: %s\n", engine.error().message.c_str());
    std::exit(1);
  }
  for (const std::string& w : (*engine)->warnings()) std::printf("warning: %s\n", w.c_str());
  return std::move(*engine);
}

// Raw RocksDB: batches of `per_batch` 256-byte Puts, each batch synced; returns appends/s.
double RawSyncedWrites(Engine& engine, int per_batch, double seconds) {
  const std::string value(kEntryBytes, 'r');
  uint64_t n = 0;
  const auto start = Clock::now();
  while (Seconds(start) < seconds) {
    rocksdb::WriteBatch batch;
    for (int i = 0; i < per_batch; ++i, ++n) {
      if (!batch.Put(engine.raft_cf(), RaftEntryKey(999'999, n + 1), value).ok()) std::abort();
    }
    if (!engine.Write(batch, Durability::kSync)) std::abort();
  }
  return double(n) / Seconds(start);
}

struct GroupRun {
  double appends_per_sec;
  double syncs_per_sec;
  double appends_per_sync;
};

// `groups` groups, each with one append in flight; two producer threads own half the groups each.
GroupRun GroupCommit(Engine& engine, int groups, double seconds, GroupId first_group) {
  std::vector<std::unique_ptr<GroupLog>> logs;
  for (int g = 0; g < groups; ++g) {
    raft::ConfState conf;
    conf.voters.push_back(raft::NodeId(1));
    auto log =
        GroupLog::Bootstrap(&engine, first_group + GroupId(g), raft::SnapshotMeta{.conf = conf});
    if (!log) std::abort();
    logs.push_back(std::move(*log));
  }
  auto writer = std::make_unique<LogWriter>(&engine);
  const LogWriterStats before = writer->stats();
  constexpr int kProducers = 2;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<GroupWrite>> done(kProducers);  // guarded by mu
  const auto start = Clock::now();
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::vector<int> mine;
      for (int g = p; g < groups; g += kProducers) mine.push_back(g);
      auto submit = [&](int g) {
        raft::Ready rd;
        const uint64_t next = logs[g]->LastIndex().value() + 1;
        rd.entries.push_back(raft::Entry{.term = raft::Term(1),
                                         .index = raft::LogIndex(next),
                                         .data = std::string(kEntryBytes, 'e')});
        rd.must_sync = true;
        writer->Submit(logs[g]->PrepareWrite(rd), [&, p](GroupWrite& w) {
          std::lock_guard<std::mutex> lock(mu);
          done[p].push_back(std::move(w));
          cv.notify_all();
        });
      };
      for (int g : mine) submit(g);
      while (Seconds(start) < seconds) {
        std::vector<GroupWrite> finished;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return !done[p].empty(); });
          finished.swap(done[p]);
        }
        for (GroupWrite& w : finished) {
          const int g = int(w.group - first_group);
          logs[g]->OnWritten(w);
          submit(g);
        }
      }
    });
  }
  for (auto& t : producers) t.join();
  const double elapsed = Seconds(start);
  const LogWriterStats after = writer->stats();
  writer.reset();  // drains the last writes while `done` and friends are still alive
  const double entries = double(after.entries - before.entries);
  const double syncs = double(after.syncs - before.syncs);
  return GroupRun{entries / elapsed, syncs / elapsed, syncs > 0 ? entries / syncs : 0};
}

}  // namespace
}  // namespace claw::storage

int main(int argc, char** argv) {
  using namespace claw::storage;
  if (argc > 3 || (argc > 1 && std::string(argv[1]).starts_with("-"))) {
    std::fputs(
        "Usage: storage_bench [dir] [seconds per run]\n"
        "Measures synced Raft log appends/s (256 B) through group commit for 1, 16 and\n"
        "1,000 groups against raw RocksDB baselines on the same disk.\n",
        stderr);
    return 64;
  }
  test::TempDir dir(argc > 1 ? argv[1] : "");
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  if (dir.path().empty() || !(seconds > 0)) {
    std::fputs("storage_bench: cannot create a directory there, or bad seconds\n", stderr);
    return 64;
  }
  auto engine = OpenEngine(dir.path() + "/db");
  std::printf("storage_bench: %s, 256-byte entries, %.1f s per run, direct I/O %s\n",
              dir.path().c_str(), seconds, engine->direct_io() ? "on" : "off");
  const double one_per_sync = RawSyncedWrites(*engine, 1, seconds);
  std::printf("raw rocksdb, 1 Put per synced write:        %10.0f appends/s  (= fsyncs/s)\n",
              one_per_sync);
  GroupId next_group = 1;
  for (int groups : {1, 16, 1000}) {
    const GroupRun run = GroupCommit(*engine, groups, seconds, next_group);
    next_group += GroupId(groups);
    const int per_batch = std::max(1, int(run.appends_per_sync + 0.5));
    const double ceiling = RawSyncedWrites(*engine, per_batch, seconds);
    std::printf(
        "group commit, %4d groups: %10.0f appends/s %8.0f fsyncs/s %7.1f appends/fsync"
        " | %6.1fx one-sync-per-append | raw batches of %d: %10.0f appends/s (%.2fx)\n",
        groups, run.appends_per_sec, run.syncs_per_sec, run.appends_per_sync,
        run.appends_per_sec / one_per_sync, per_batch, ceiling, ceiling / run.appends_per_sec);
  }
  return 0;
}
