// FakeCluster: an in-process stand-in for a clawd cluster, for the client's end-to-end tests
// until real clawd processes can serve KV. N nodes, each a real gRPC server on 127.0.0.1 with an
// ephemeral port, serving claw.v1.KV and claw.v1.Cluster over one shared, mutex-guarded state:
// the shard directory (descriptors + leader per shard), the data, and a record of every KV
// request received.
//
// It behaves like clawd where the client's behaviour depends on it: a node that is not the
// shard's leader answers NOT_LEADER with a hint; a request naming a stale shard epoch gets
// EPOCH_MISMATCH with the fresh descriptors; keys outside the named shard get KEY_OUT_OF_RANGE;
// writes with a request id already applied are not applied again; Scan streams pages of
// `page_size` keys and ends with more/resume_key or next_shard/next_key. Tests inject failures.
//
// Thread-safety: all methods may be called while clients talk to the nodes.
// Lifecycle: construct (servers start), use, destroy (servers shut down).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "claw/v1/cluster.grpc.pb.h"
#include "claw/v1/error.pb.h"
#include "claw/v1/kv.grpc.pb.h"

namespace claw::client::testing {

class FakeCluster {
 public:
  // One KV request as a node received it.
  struct Received {
    std::string method{};  // "Get", "Put", "Delete", "DeleteRange", "Scan", "Batch", "Txn"
    uint64_t node_id = 0;
    std::string key{};     // the (first) key
    v1::RequestHeader header{};
  };

  // A failure to return instead of serving a KV request.
  struct Injection {
    uint64_t node_id = 0;        // the node that fails; 0 = any
    std::string method{};        // "" = any KV method
    grpc::StatusCode grpc_code = grpc::StatusCode::UNAVAILABLE;
    v1::Error error{};           // attached as the detail unless `no_detail`
    bool no_detail = false;
    bool apply_first = false;    // serve the write, then fail (an indeterminate outcome)
    int count = 1;               // how many requests it hits
  };

  // Nodes 1..nodes; one shard ["", +inf) with id 1 on every node, led by node 1.
  explicit FakeCluster(int nodes);
  ~FakeCluster();

  std::string address(uint64_t node_id) const;
  std::vector<std::string> addresses() const;

  // Splits the shard holding `key` at `key`: the left part keeps its id, the right part gets
  // `new_id`; both get range_version + 1. The new shard's leader is `leader` (0 = the same).
  void Split(const std::string& key, uint64_t new_id, uint64_t leader = 0);
  // Moves the leadership of shard `shard_id` to `node_id`.
  void SetLeader(uint64_t shard_id, uint64_t node_id);
  // Stops node `node_id`'s server: calls to it fail with gRPC UNAVAILABLE.
  void StopNode(uint64_t node_id);
  // Whether ListShards reports leaders (false: the client must discover them).
  void set_report_leaders(bool report);
  void set_page_size(int keys);
  // Whether the nodes serve claw.v1.KV.Multiplex (default false: UNIMPLEMENTED, as an older
  // clawd). Each call of a message runs through its unary handler (recorded, injectable, the
  // same answers); one answer message per request message.
  void set_multiplex(bool serve);
  // A stalled node reads Multiplex calls and never answers them (a SIGSTOPped clawd keeps its
  // connections open): only the caller's deadline ends them.
  void set_stalled(uint64_t node_id, bool stalled);
  // Calls received over Multiplex streams, by every node.
  int multiplexed_calls() const;
  // Batch calls hold until `calls` of them are in flight together (at most 2 s each), so that a
  // test sees whether the client sends a batch's per-shard requests at once.
  void set_batch_barrier(int calls);
  int max_batches_in_flight() const;

  void Inject(Injection injection);
  std::vector<Received> received() const;
  void ClearReceived();
  // How many times a write with this request id reached a serving leader (applied the first
  // time only).
  int deliveries(const std::string& request_id) const;
  // A key's version: how many times it was written since created (0 = absent).
  uint64_t version(const std::string& key) const;
  std::map<std::string, std::string> data() const;
  int list_shards_calls() const;

 private:
  class KvService;
  class ClusterService;
  struct Node;
  struct State;

  std::unique_ptr<State> state_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace claw::client::testing
