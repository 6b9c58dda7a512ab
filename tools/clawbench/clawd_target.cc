// The clawd target: requests go through the client library (client/client.h), as an
// application's would, so the figures include its routing and retries. Puts, gets and batches
// use the library's asynchronous calls (--client-calls async, the default): no thread per
// request in flight. Other requests (and --client-calls blocking) use its blocking calls: each connection
// (one Client: its own channels, route cache and request ids) gets a pool of threads so that
// `clients` requests can be in flight at once.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "client/checkpoint.h"
#include "client/client.h"
#include "tools/clawbench/target.h"

namespace claw::clawbench {

namespace {

// A fixed set of threads running queued tasks; the destructor runs what is queued, then joins.
class Workers {
 public:
  explicit Workers(size_t n) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~Workers() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

Outcome Failed(const client::Error& e) {
  return Outcome{.ok = false, .error_code = std::string(client::ErrorCodeName(e.code)), .error_message = e.message};
}

class ClawdTarget : public Target {
 public:
  explicit ClawdTarget(const Options& o) : options_(o), value_(o.val_size, 'v') {
    call_.deadline = o.timeout;
    call_.durability = o.durability == WriteDurability::kLeader ? client::Durability::kLeader : client::Durability::kQuorum;
    call_.consistency = o.consistency == ReadConsistency::kSerializable ? client::Consistency::kStale
                                                                        : client::Consistency::kLinearizable;
  }
  ~ClawdTarget() override {
    // Each Conn's workers finish their queue before its client goes; its checkpoint handles
    // close and its session ends (the checkpoints go after their 1 s retention).
    conns_.clear();
  }

  std::string Prepare() override {
    const size_t per_conn = static_cast<size_t>((options_.clients + options_.conns - 1) / options_.conns);
    for (int i = 0; i < options_.conns; ++i) {
      auto opened = client::Client::Open({.endpoints = options_.endpoints,
                                          .default_deadline = options_.timeout,
                                          .async_threads = per_conn,
                                          .multiplex = options_.multiplex,
                                          .seed = options_.seed + static_cast<uint64_t>(i) + 1});
      if (!opened) return opened.error().ToString();
      auto conn = std::make_unique<Conn>();
      conn->client = std::move(*opened);
      if (auto up = conn->client->WaitForConnection(options_.dial_timeout); !up) return up.error().ToString();
      // Load the routes now, so that the first measured request does not pay for them.
      if (auto shards = conn->client->ListShards(); !shards) return "cannot list shards: " + shards.error().ToString();
      conn->workers = std::make_unique<Workers>(per_conn);
      conns_.push_back(std::move(conn));
    }
    if (options_.workload == Workload::kCheckpoint) return OpenCheckpoints();
    return {};
  }

  void Start(const Request& request, std::function<void(Outcome)> done) override {
    Conn& conn = *conns_[request.client % conns_.size()];
    if (options_.async_calls && request.kind == OpKind::kPut) {
      conn.client->PutAsync(request.keys[0], value_, call_, [done = std::move(done)](client::Result<client::PutResult> put) {
        done(put ? Outcome{.ok = true} : Failed(put.error()));
      });
      return;
    }
    if (options_.async_calls && request.kind == OpKind::kBatch) {
      std::vector<client::Op> ops;
      ops.reserve(request.keys.size());
      for (const auto& k : request.keys) ops.push_back(client::Op::Put(k, value_));
      conn.client->BatchAsync(std::move(ops), call_, [done = std::move(done)](client::Result<std::vector<client::OpResult>> batch) {
        done(batch ? Outcome{.ok = true} : Failed(batch.error()));
      });
      return;
    }
    if (options_.async_calls && request.kind == OpKind::kGet) {
      conn.client->GetAsync(request.keys[0], call_, [done = std::move(done)](client::Result<std::optional<client::KeyValue>> got) {
        done(got ? Outcome{.ok = true, .found = got->has_value()} : Failed(got.error()));
      });
      return;
    }
    conn.workers->Submit([this, &conn, request, done = std::move(done)] { done(Run(*conn.client, request)); });
  }

 private:
  struct Conn {
    std::unique_ptr<client::Client> client;
    // The checkpoint workload: one checkpoint per client of this connection, one session.
    std::unique_ptr<client::CheckpointClient> checkpoints;
    std::unique_ptr<client::CheckpointSession> session;
    std::map<uint32_t, client::CheckpointHandle> handles;  // by client; filled before the run
    std::unique_ptr<Workers> workers;  // destroyed first: it uses `client`
    ~Conn() {
      workers.reset();
      for (auto& [i, h] : handles) (void)h.Close();
      if (session) (void)session->End();
    }
  };

  // Creates each client's checkpoint (bench/<seed>/<client>) with its sections.
  std::string OpenCheckpoints() {
    for (int i = 0; i < options_.clients; ++i) {
      Conn& conn = *conns_[static_cast<size_t>(i) % conns_.size()];
      if (!conn.checkpoints) {
        conn.checkpoints = std::make_unique<client::CheckpointClient>(*conn.client);
        auto session = conn.checkpoints->StartSession(std::chrono::seconds(30));
        if (!session) return "cannot start a checkpoint session: " + session.error().ToString();
        conn.session = std::move(*session);
      }
      client::CheckpointOpenOptions open;
      open.read = true;
      open.write = true;
      open.create = true;
      open.attributes.replication = options_.sync_replication ? client::CheckpointReplication::kSynchronous
                                                             : client::CheckpointReplication::kAsynchronous;
      open.attributes.retention_ms = 1000;
      open.attributes.max_sections = std::max<uint64_t>(options_.sections, 2);
      const std::string name = "bench/" + std::to_string(options_.seed) + "/" + std::to_string(i);
      auto handle = conn.checkpoints->Open(*conn.session, name, open);
      if (!handle) return "cannot open checkpoint " + name + ": " + handle.error().ToString();
      for (uint64_t s = 0; s < options_.sections; ++s) {
        auto created = handle->CreateSection({.section_id = "s" + std::to_string(s), .generate = false, .data = value_,
                                              .expiration_unix_ms = 0});
        if (!created && created.error().code != client::ErrorCode::kCheckpointExists) {
          return "cannot create section s" + std::to_string(s) + " of " + name + ": " + created.error().ToString();
        }
      }
      conn.handles.emplace(static_cast<uint32_t>(i), std::move(*handle));
    }
    return {};
  }

  Outcome Run(client::Client& c, const Request& r) {
    switch (r.kind) {
      case OpKind::kPut: {
        auto put = c.Put(r.keys[0], value_, call_);
        return put ? Outcome{.ok = true} : Failed(put.error());
      }
      case OpKind::kGet: {
        auto got = c.Get(r.keys[0], call_);
        if (!got) return Failed(got.error());
        return Outcome{.ok = true, .found = got->has_value()};
      }
      case OpKind::kScan: {
        auto scan = c.Scan(r.keys[0], "", {.limit = options_.scan_limit}, call_);
        if (!scan) return Failed(scan.error());
        return Outcome{.ok = true, .keys_read = scan->kvs.size()};
      }
      case OpKind::kBatch: {
        std::vector<client::Op> ops;
        ops.reserve(r.keys.size());
        for (const auto& k : r.keys) ops.push_back(client::Op::Put(k, value_));
        auto batch = c.Batch(ops, call_);
        return batch ? Outcome{.ok = true} : Failed(batch.error());
      }
      case OpKind::kCheckpointWrite: {
        const Conn& conn = *conns_[r.client % conns_.size()];
        auto w = conn.handles.at(r.client).Overwrite(r.keys[0], value_, call_);
        return w ? Outcome{.ok = true} : Failed(w.error());
      }
    }
    return Outcome{.ok = false, .error_code = "INTERNAL", .error_message = "unknown request kind"};
  }

  Options options_;
  std::string value_;
  client::CallOptions call_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace

std::unique_ptr<Target> MakeClawdTarget(const Options& options) { return std::make_unique<ClawdTarget>(options); }

}  // namespace claw::clawbench
