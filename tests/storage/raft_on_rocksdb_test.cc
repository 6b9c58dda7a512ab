// Real raft::Replicas over GroupLog + LogWriter: three nodes (one RocksDB each) host a few
// groups, persist asynchronously through group commit, elect, commit and apply; one node then
// restarts from its RocksDB and catches up. Proves the storage honours the core's Ready contract.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "raft/replica.h"
#include "storage/log_writer.h"
#include "storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace claw::storage {
namespace {

constexpr int kNodes = 3;
constexpr int kGroups = 4;

struct Node {
  std::string dir;
  std::unique_ptr<Engine> engine;
  // Declared before the writer: its callbacks use them until it is destroyed.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<GroupWrite> completed;  // guarded by mu
  std::unique_ptr<LogWriter> writer;
  std::vector<std::unique_ptr<GroupLog>> logs;
  std::vector<std::unique_ptr<raft::Replica>> replicas;
  std::vector<std::vector<std::string>> applied{kGroups};
};

struct Envelope {
  int group;
  raft::Message m;
};

class Cluster {
 public:
  explicit Cluster(const std::string& root) {
    raft::ConfState conf;
    for (int n = 1; n <= kNodes; ++n) conf.voters.push_back(raft::NodeId(uint64_t(n)));
    for (int n = 0; n < kNodes; ++n) {
      nodes_[n].dir = root + "/n" + std::to_string(n + 1);
      Open(n, [&](Engine* e, GroupId g) {
        return GroupLog::Bootstrap(e, g, raft::SnapshotMeta{.conf = conf});
      });
    }
  }

  template <typename MakeLog>
  void Open(int n, MakeLog make_log) {
    Node& node = nodes_[n];
    StorageOptions o;
    o.dir = node.dir;
    o.block_cache_bytes = 8 << 20;
    auto engine = Engine::Open(o);
    REQUIRE(engine.has_value());
    node.engine = std::move(*engine);
    node.writer = std::make_unique<LogWriter>(node.engine.get());
    node.logs.clear();
    node.replicas.clear();
    for (int g = 0; g < kGroups; ++g) {
      auto log = make_log(node.engine.get(), GroupId(g + 1));
      REQUIRE(log.has_value());
      node.logs.push_back(std::move(*log));
      raft::Options ro;
      ro.id = raft::NodeId(uint64_t(n + 1));
      ro.seed = uint64_t(n * 100 + g);
      node.replicas.push_back(std::make_unique<raft::Replica>(ro, node.logs.back().get()));
    }
  }

  void Crash(int n) {
    Node& node = nodes_[n];
    node.writer.reset();  // what was submitted is written; a kill -9 is storage's crash tests' job
    node.replicas.clear();
    node.logs.clear();
    node.engine.reset();
    node.completed.clear();
    for (auto& a : node.applied) a.clear();  // the state machine is rebuilt from the log
    down_ = n;
  }

  void Restart(int n) {
    Open(n, [](Engine* e, GroupId g) { return GroupLog::Open(e, g); });
    down_ = -1;
  }

  // One round: deliver, drain Readys, hand writes to the log writer, apply finished writes.
  void Round(bool tick) {
    std::deque<Envelope> inbox;
    inbox.swap(net_);
    for (Envelope& env : inbox) {
      const int to = int(env.m.to.value()) - 1;
      if (to != down_) nodes_[to].replicas[env.group]->Step(std::move(env.m));
    }
    for (int n = 0; n < kNodes; ++n) {
      if (n == down_) continue;
      Node& node = nodes_[n];
      {
        std::vector<GroupWrite> done;
        {
          std::lock_guard<std::mutex> lock(node.mu);
          done.swap(node.completed);
        }
        for (GroupWrite& w : done) {
          const int g = int(w.group) - 1;
          node.logs[g]->OnWritten(w);
          node.replicas[g]->OnPersisted(w.write_id);
        }
      }
      for (int g = 0; g < kGroups; ++g) {
        raft::Replica& r = *node.replicas[g];
        if (tick) r.Tick();
        while (r.HasReady()) {
          raft::Ready rd = r.TakeReady();
          for (raft::Message& m : rd.messages) net_.push_back(Envelope{g, std::move(m)});
          for (const raft::Entry& e : rd.committed_entries) {
            if (e.type == raft::EntryType::kNormal && !e.data.empty())
              node.applied[g].push_back(e.data);
          }
          if (!rd.committed_entries.empty()) r.OnApplied(rd.committed_entries.back().index);
          if (rd.HasWrite()) {
            node.writer->Submit(node.logs[g]->PrepareWrite(rd), [&node](GroupWrite& w) {
              std::lock_guard<std::mutex> lock(node.mu);
              node.completed.push_back(std::move(w));
              node.cv.notify_one();
            });
          }
        }
      }
    }
  }

  // Runs rounds (a tick every 10th) until `done`, at most `max_rounds`; waits briefly for the
  // log writers when there is nothing else to do.
  template <typename Done>
  bool RunUntil(Done done, int max_rounds) {
    for (int i = 0; i < max_rounds; ++i) {
      if (done()) return true;
      Round(i % 10 == 0);
      if (net_.empty()) {
        for (int n = 0; n < kNodes; ++n) {
          if (n == down_) continue;
          std::unique_lock<std::mutex> lock(nodes_[n].mu);
          nodes_[n].cv.wait_for(lock, std::chrono::milliseconds(1),
                                [&] { return !nodes_[n].completed.empty(); });
        }
      }
    }
    return done();
  }

  int LeaderOf(int g) {
    for (int n = 0; n < kNodes; ++n) {
      if (n != down_ && nodes_[n].replicas[g]->role() == raft::Role::kLeader) return n;
    }
    return -1;
  }

  bool AllLed() {
    for (int g = 0; g < kGroups; ++g) {
      if (LeaderOf(g) < 0) return false;
    }
    return true;
  }

  bool Applied(int n, size_t count) {
    for (int g = 0; g < kGroups; ++g) {
      if (nodes_[n].applied[g].size() < count) return false;
    }
    return true;
  }

  Node& node(int n) { return nodes_[n]; }

 private:
  Node nodes_[kNodes];
  std::deque<Envelope> net_;
  int down_ = -1;
};

TEST_CASE("raft on rocksdb: replicas elect, commit, restart from disk and catch up", "[storage]") {
  test::TempDir dir;
  Cluster c(dir.path());
  REQUIRE(c.RunUntil([&] { return c.AllLed(); }, 20'000));

  auto propose = [&](int count, const std::string& tag) {
    for (int g = 0; g < kGroups; ++g) {
      const int leader = c.LeaderOf(g);
      REQUIRE(leader >= 0);
      for (int i = 0; i < count; ++i) {
        REQUIRE(c.node(leader).replicas[g]->Propose(tag + std::to_string(i)).has_value());
      }
    }
  };
  propose(50, "a");
  REQUIRE(
      c.RunUntil([&] { return c.Applied(0, 50) && c.Applied(1, 50) && c.Applied(2, 50); }, 50'000));
  for (int g = 0; g < kGroups; ++g) {
    CHECK(c.node(0).applied[g] == c.node(1).applied[g]);
    CHECK(c.node(1).applied[g] == c.node(2).applied[g]);
  }

  // Node 3 goes away; the others keep committing; node 3 restarts from RocksDB and catches up.
  c.Crash(2);
  REQUIRE(c.RunUntil([&] { return c.AllLed(); }, 20'000));
  propose(30, "b");
  REQUIRE(c.RunUntil([&] { return c.Applied(0, 80) && c.Applied(1, 80); }, 50'000));
  c.Restart(2);
  REQUIRE(c.RunUntil([&] { return c.Applied(2, 80); }, 50'000));
  for (int g = 0; g < kGroups; ++g) CHECK(c.node(2).applied[g] == c.node(0).applied[g]);
  CHECK(c.node(0).writer->stats().syncs > 0);
}

}  // namespace
}  // namespace claw::storage
