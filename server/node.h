// Node: the composition root of a clawd process. Start() brings the parts up in dependency order
// — engine (recovery), node identity (first start: bootstrap the initial shards), log writer,
// router, transport, store (opens and verifies every local replica, starts the raft workers),
// peer gRPC server, client gRPC server (KV, Cluster, health, reflection) — and Shutdown() takes
// them down in reverse after draining (DESIGN.md "Operations": SIGTERM -> NOT_SERVING, transfer
// leaderships away, drain, close RocksDB).
//
// Threads: Start and Shutdown are called from the main thread; everything else runs on the
// parts' own threads. Lifecycle: Start -> (serve) -> Shutdown -> destroy.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "claw/v1/shard.pb.h"
#include "config/config.h"

namespace claw::server {

struct StartError {
  // sysexits-style process exit code: 78 config (EX_CONFIG), 73 cannot create (EX_CANTCREAT),
  // 76 data belongs to another cluster or node (EX_PROTOCOL), 69 unavailable (EX_UNAVAILABLE,
  // e.g. a port in use), 74 I/O error or corruption (EX_IOERR).
  int exit_code = 1;
  std::string message{};
};

// The initial shard directory of a new cluster: the meta shard (id 1) plus `shards` data shards
// (ids 2..) splitting the key space evenly by its first two bytes, each replicated on
// min(3, nodes) nodes, the preferred leader (listed first) rotating over the nodes.
std::vector<v1::ShardDescriptor> InitialShards(int shards, int nodes);
// A stable hash of the initial cluster (names and peer addresses, in order).
uint64_t ClusterId(const std::vector<config::Member>& members);

class Node {
 public:
  [[nodiscard]] static std::expected<std::unique_ptr<Node>, StartError> Start(const config::Config& config);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Graceful stop: stop taking requests, move leaderships away, drain, close. Idempotent.
  void Shutdown();

  uint64_t node_id() const;
  // Where the servers actually listen (resolved ports), for logs and tests.
  const std::string& client_address() const;

 private:
  struct Parts;
  Node();
  std::unique_ptr<Parts> p_;
};

}  // namespace claw::server
