// GrpcTransport: the Raft peer transport over gRPC (proto/claw/v1/raft_peer.proto). One sender
// thread per peer node keeps one long-lived client stream (RaftPeer.Send) open to that node and
// writes every message queued for it since its last write as one PeerBatch, heartbeats coalesced.
// A broken stream is reopened with exponential backoff (50 ms doubling to 2 s, with jitter);
// messages queued while the peer is unreachable are dropped (Raft retransmits). When a sender has
// had nothing to send for `keepalive`, it writes an empty batch: node-level liveness, which wakes
// hibernating followers of a dead leader's node (Store, RaftWorker::Tick).
//
// Snapshots travel on RaftPeer.Snapshot streams, one at a time (a dedicated sender thread,
// paced to snapshot_bytes_per_second), in chunks of at most 1 MiB; the receiver writes them under snapshot_dir, verifies every
// checksum (storage::VerifyShardSnapshot) and only then hands them to the store.
//
// The receiving side is RaftPeerService, registered on the node's peer gRPC server: it checks the
// Hello of each stream (cluster id, node ids), decodes batches and hands them to the store. A
// stream from a node not yet known (one that joined) is accepted when the cluster id matches; its
// Hello's peer address makes it a peer at once.
//
// Threads: Send and LastHeard are thread-safe. Lifecycle: construct -> Start -> ... -> destroy
// (closes streams, joins senders). The deliver callback must stay valid until destruction.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "claw/v1/raft_peer.grpc.pb.h"
#include "server/router.h"
#include "server/transport.h"

namespace claw::server {

class Metrics;

struct TransportOptions {
  uint64_t self = 0;
  uint64_t cluster_id = 0;
  // What this node tells its peers about itself.
  v1::Hello hello{};
  // Peer node id -> peer address ("host:port"); excludes this node.
  std::map<uint64_t, std::string> peers{};
  // Messages queued per peer before new ones are dropped.
  size_t max_queued_messages = 100'000;
  // Largest PeerBatch written at once (bytes, approximate); the rest goes in the next write.
  uint64_t max_batch_bytes = 4ull << 20;
  // gRPC message size limit on the peer port, both directions.
  uint64_t max_message_bytes = 64ull << 20;
  std::chrono::milliseconds keepalive{500};
  // Where received snapshots are written (one subdirectory each).
  std::string snapshot_dir{};
  // Snapshot bytes sent per second, over all peers (0 = unlimited): bounds what re-replication
  // and rebalancing take from the disk and the network serving clients.
  uint64_t snapshot_bytes_per_second = 0;
  // Where snapshot and round-trip series go (server/metrics.h); nullptr: not recorded.
  Metrics* metrics = nullptr;
};

// A snapshot received and verified: its InstallSnapshot message and the directory holding it.
// The receiver of the callback owns the directory from then on.
using SnapshotSink = std::function<void(GroupMessage message, std::string dir)>;

class GrpcTransport final : public Transport {
 public:
  using Deliver = std::function<void(std::vector<GroupMessage>)>;

  GrpcTransport(TransportOptions options, Router* router, Deliver deliver, SnapshotSink sink);
  ~GrpcTransport() override;

  void Start();
  // Adds a peer node learned after construction (a node that joined: from the placement
  // service's node table or its own Hello), or changes a known peer's address. Thread-safe.
  void AddPeer(uint64_t node, const std::string& address);
  void Send(uint64_t node, std::vector<GroupMessage> messages) override;
  std::chrono::steady_clock::time_point LastHeard(uint64_t node) const override;
  void SetDraining() override { draining_.store(true); }
  bool Draining(uint64_t node) const override;
  void SendSnapshot(uint64_t node, GroupMessage message, std::string dir,
                    std::function<void(bool ok)> done) override;

  // The receiving side: register on the peer server.
  grpc::Service* service();

  struct Stats {
    uint64_t batches_sent = 0;
    uint64_t messages_sent = 0;
    uint64_t messages_dropped = 0;
    uint64_t reconnects = 0;
  };
  Stats stats() const;

 private:
  class PeerService;
  struct Peer;
  // The peer's sender state; nullptr when unknown. Peers are never removed, so the pointer stays
  // valid until destruction.
  Peer* FindPeer(uint64_t node) const;
  void RunSender(Peer* peer);
  bool SendLoop(Peer* peer, grpc::ClientWriter<v1::PeerBatch>* writer);
  void OnBatch(uint64_t from, v1::PeerBatch& batch);
  void Touch(uint64_t node);
  struct SnapshotJob {
    uint64_t node = 0;
    GroupMessage message{};
    std::string dir{};
    std::function<void(bool)> done{};
  };
  void RunSnapshotSender();
  bool StreamSnapshot(const SnapshotJob& job);
  // Receives one snapshot stream; returns the error to answer with, empty on success.
  std::string ReceiveSnapshot(grpc::ServerReader<v1::SnapshotChunk>* reader);

  TransportOptions options_;
  Router* router_;
  Deliver deliver_;
  SnapshotSink sink_;
  std::mutex snap_mu_;
  std::condition_variable snap_cv_;
  std::vector<SnapshotJob> snap_queue_;  // guarded by snap_mu_
  std::thread snap_thread_;
  std::atomic<uint64_t> snap_seq_{0};
  std::unique_ptr<PeerService> service_;
  mutable std::shared_mutex peers_mu_;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;  // guarded by peers_mu_
  bool started_ = false;                              // guarded by peers_mu_
  mutable std::mutex heard_mu_;
  std::map<uint64_t, std::chrono::steady_clock::time_point> last_heard_;  // guarded by heard_mu_
  std::map<uint64_t, bool> peer_draining_;                                 // guarded by heard_mu_
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> batches_sent_{0}, messages_sent_{0}, messages_dropped_{0}, reconnects_{0};
};

}  // namespace claw::server
