// GroupLog and LogWriter under power loss, over FaultInjectionFileSystem (fault_fs.h).
//
// A deterministic workload for two groups (appends with hard states, commit-only writes that
// skip the fsync, a conflicting suffix in a new term, a compaction, a memtable flush) is first
// run without faults, recording each group's log after every round. Then, for k from 0 to the
// number of filesystem mutations that run made (every third k by default, every k in [slow]),
// the workload is run again with the power cut at mutation k (inside a WAL append, a WAL sync, a
// directory sync, a flush, ...), the unsynced data dropped and both groups reopened. What
// GroupLog::Open finds must be exactly the state after some round j with (last round acknowledged
// as synced) <= j <= (rounds attempted): every synced entry and hard state survives, each round is
// atomic across groups, and nothing later is visible.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/log_writer.h"
#include "storage/raft_log_store.h"
#include "tests/storage/crash_rig.h"
#include "tests/storage/fault_fs.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

using raft::LogIndex;
using raft::Term;
using test::FaultInjectionFileSystem;

constexpr GroupId kGroups[] = {1, 2};
constexpr int kRounds = 20;
constexpr int kConflictRound = 9;
constexpr int kCompactionRound = 14;
constexpr int kFlushAfterRound = 12;

raft::ConfState Conf() {
  raft::ConfState c;
  for (uint64_t id : {1, 2, 3}) c.voters.push_back(raft::NodeId(id));
  return c;
}

// A group's log as its Replica sees it.
struct LogView {
  uint64_t first = 0;
  uint64_t last = 0;
  std::vector<raft::Entry> entries{};
  raft::HardState hard_state{};
  bool operator==(const LogView&) const = default;
};

LogView Observe(const GroupLog& log) {
  LogView v;
  v.first = log.FirstIndex().value();
  v.last = log.LastIndex().value();
  if (v.last >= v.first) {
    auto entries =
        log.Entries(log.FirstIndex(), log.LastIndex() + 1, std::numeric_limits<uint64_t>::max());
    REQUIRE(entries.has_value());
    v.entries = std::move(*entries);
  }
  v.hard_state = log.GetInitialState().hard_state;
  return v;
}

using NodeView = std::vector<LogView>;  // one per group, in kGroups order

// The workload's position for one group.
struct GroupCursor {
  uint64_t term = 1;
  uint64_t last = 0;
  uint64_t commit = 0;
};

// Round r's write for one group (see the file comment for the shape of the workload).
GroupWrite PrepareRound(int r, GroupId group, GroupLog& log, GroupCursor& c) {
  raft::Ready rd;
  rd.write_id = uint64_t(r) + 1;
  if (r == kCompactionRound) return log.PrepareCompaction(c.commit, Conf());
  if (r % 3 == 2) {
    // Only the commit index moves: acknowledged without an fsync of its own.
    c.commit = std::max(c.commit, std::min(c.commit + 1, c.last >= 2 ? c.last - 2 : 0));
    rd.hard_state = raft::HardState{
        .term = Term(c.term), .vote = raft::NodeId(1), .commit = LogIndex(c.commit)};
    return log.PrepareWrite(rd);
  }
  uint64_t first = c.last + 1;
  uint64_t count = uint64_t(r % 3) + 1;
  if (r == kConflictRound) {
    // A new leader overwrites the last two (uncommitted) entries and adds one.
    ++c.term;
    first = c.last - 1;
    count = 3;
  }
  for (uint64_t i = first; i < first + count; ++i) {
    std::string data = "g" + std::to_string(group) + "/t" + std::to_string(c.term) + "/i" +
                       std::to_string(i) + "/";
    data.append(200 + 50 * (i % 7), static_cast<char>('a' + i % 26));
    rd.entries.push_back(raft::Entry{.term = Term(c.term), .index = LogIndex(i), .data = data});
  }
  c.commit = std::max(c.commit, c.last >= 2 ? c.last - 2 : 0);
  c.last = first + count - 1;
  rd.hard_state =
      raft::HardState{.term = Term(c.term), .vote = raft::NodeId(1), .commit = LogIndex(c.commit)};
  rd.must_sync = true;
  return log.PrepareWrite(rd);
}

// A node's storage on a FaultInjectionFileSystem: the engine and one GroupLog per group.
struct Node : test::CrashRig {
  std::vector<std::unique_ptr<GroupLog>> logs;
  std::vector<GroupCursor> cursors = std::vector<GroupCursor>(std::size(kGroups));

  void Bootstrap() {
    Open();
    for (GroupId g : kGroups) {
      auto log = GroupLog::Bootstrap(engine.get(), g, raft::SnapshotMeta{.conf = Conf()});
      REQUIRE(log.has_value());
      logs.push_back(std::move(*log));
    }
  }
  // Power loss, then the node restarts and opens its groups (which verifies them).
  void CrashAndReopen() {
    logs.clear();
    Crash();
    Open();
    for (GroupId g : kGroups) {
      auto log = GroupLog::Open(engine.get(), g);
      INFO("group " << g << ": " << (log.has_value() ? std::string() : log.error().message));
      REQUIRE(log.has_value());
      logs.push_back(std::move(*log));
    }
  }
  NodeView View() const {
    NodeView v;
    for (const auto& log : logs) v.push_back(Observe(*log));
    return v;
  }
  std::vector<GroupWrite> PrepareRound(int r) {
    std::vector<GroupWrite> round;
    for (size_t g = 0; g < logs.size(); ++g) {
      round.push_back(claw::storage::PrepareRound(r, kGroups[g], *logs[g], cursors[g]));
    }
    return round;
  }
  // Writes a round as one batch, as one LogWriter round does; false when the write failed.
  bool WriteRound(std::vector<GroupWrite>& round) {
    rocksdb::WriteBatch batch;
    bool sync = false;
    for (const GroupWrite& w : round) {
      EncodeGroupWrite(w, engine->raft_cf(), batch);
      sync = sync || w.sync;
    }
    if (!engine->Write(batch, sync ? Durability::kSync : Durability::kNoSync)) return false;
    for (size_t g = 0; g < logs.size(); ++g) logs[g]->OnWritten(round[g]);
    return true;
  }
  bool Flush() {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    return engine->db()->Flush(fo, engine->raft_cf()).ok();
  }
};

bool RoundSyncs(int r) { return r != kCompactionRound && r % 3 != 2; }

// The fault-free run: the node's view after 0, 1, ..., kRounds rounds, and the mutation count.
std::vector<NodeView> DryRun(uint64_t* mutations) {
  Node node;
  REQUIRE(!node.tmp.path().empty());
  node.Bootstrap();
  node.fs->ResetMutationCount();
  std::vector<NodeView> views = {node.View()};
  for (int r = 0; r < kRounds; ++r) {
    std::vector<GroupWrite> round = node.PrepareRound(r);
    REQUIRE(node.WriteRound(round));
    if (r == kFlushAfterRound) REQUIRE(node.Flush());
    views.push_back(node.View());
  }
  *mutations = node.fs->Mutations();
  // Sanity of the workload: the conflict replaced entries, the compaction moved the first index.
  REQUIRE(views.back()[0].first > 1);
  REQUIRE(views.back()[0].entries.back().term == Term(2));
  return views;
}

// Index j of the view `v` equals, searching [lo, hi]; nullopt if none does.
std::optional<int> MatchingRound(const std::vector<NodeView>& views, const NodeView& v, int lo,
                                 int hi) {
  for (int j = lo; j <= hi; ++j) {
    if (views[size_t(j)] == v) return j;
  }
  return std::nullopt;
}

// Cuts the power at mutations 0, stride, 2 * stride, ... up to one past the fault-free run's end
// (a crash after the last write), and checks what each reopened node finds.
void RunPowerCuts(uint64_t stride) {
  uint64_t mutations = 0;
  const std::vector<NodeView> views = DryRun(&mutations);
  INFO("mutations in the fault-free run: " << mutations);
  REQUIRE(mutations > 20);
  for (uint64_t k = 0; k <= mutations + 1; k += stride) {
    INFO("power cut at mutation " << k);
    Node node;
    REQUIRE(!node.tmp.path().empty());
    node.Bootstrap();
    node.fs->DeactivateAfter(k);
    int durable = 0;    // rounds [0, durable) were acknowledged as durable
    int attempted = 0;  // rounds whose write was started
    for (int r = 0; r < kRounds; ++r) {
      std::vector<GroupWrite> round = node.PrepareRound(r);
      attempted = r + 1;
      if (!node.WriteRound(round)) break;
      if (RoundSyncs(r)) durable = r + 1;
      // A successful flush makes everything before it durable too (SST, MANIFEST, directory).
      if (r == kFlushAfterRound && !node.Flush()) break;
      if (r == kFlushAfterRound) durable = r + 1;
    }
    node.CrashAndReopen();
    const NodeView recovered = node.View();
    const std::optional<int> j = MatchingRound(views, recovered, durable, attempted);
    INFO("durable " << durable << ", attempted " << attempted << ", recovered last index "
                    << recovered[0].last << " / " << recovered[1].last);
    CHECK(j.has_value());
  }
}

// A write path round is about four mutations (WAL append, flush, sync, ...): a stride of 3 lands
// on each kind of step in turn.
TEST_CASE("raft log crash: power cuts across the write path keep synced rounds, atomically",
          "[storage][fault]") {
  RunPowerCuts(3);
}

TEST_CASE("raft log crash: a power cut at every filesystem step", "[storage][fault][slow]") {
  RunPowerCuts(1);
}

// LogWriter acknowledges a write only once it is durable as asked: after the power goes, every
// write acknowledged with sync is there, and the log is the state after some later round.
TEST_CASE("raft log crash: what the LogWriter acknowledged as synced survives",
          "[storage][fault]") {
  uint64_t mutations = 0;
  const std::vector<NodeView> views = DryRun(&mutations);
  for (int crash_after : {0, 1, 2, 3, 5, 8, 11, 13, 15, 17, 19, 20}) {
    INFO("power cut after round " << crash_after);
    Node node;
    REQUIRE(!node.tmp.path().empty());
    node.Bootstrap();
    int durable = 0;
    {
      LogWriter writer(node.engine.get());
      for (int r = 0; r < crash_after; ++r) {
        std::vector<GroupWrite> round = node.PrepareRound(r);
        // Both groups' writes go in before waiting, so the writer may merge them in one batch.
        std::mutex mu;
        std::condition_variable cv;
        std::vector<GroupWrite> written;
        for (GroupWrite& w : round) {
          writer.Submit(std::move(w), [&](GroupWrite& done) {
            std::lock_guard lock(mu);
            written.push_back(std::move(done));
            cv.notify_one();
          });
        }
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return written.size() == round.size(); });
        for (GroupWrite& w : written) node.logs[size_t(w.group - 1)]->OnWritten(w);
        if (RoundSyncs(r)) durable = r + 1;
        if (r == kFlushAfterRound) {
          REQUIRE(node.Flush());
          durable = r + 1;
        }
      }
    }  // the writer drains and stops: nothing more reaches the disk from here
    node.CrashAndReopen();
    const NodeView recovered = node.View();
    INFO("durable " << durable);
    CHECK(MatchingRound(views, recovered, durable, crash_after).has_value());
  }
}

}  // namespace
}  // namespace claw::storage
