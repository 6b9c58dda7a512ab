// WatchService: the claw.v1.Watch gRPC service (callback API). A call validates its request,
// finds the local replica of the shard owning start_key, registers a WatchStream on that shard's
// raft worker (Store::Watch) and then writes what the stream produces: the first response, the
// catch-up read from the RocksDB snapshot taken at registration (on the gRPC thread, not the
// worker), then the live events. Any local replica serves (leader or follower): every replica
// applies the same log. A node without a replica answers NOT_LEADER with the leader's address.
//
// Thread-safety: gRPC calls handlers concurrently; each call's state is its WatchStream's.
// Lifecycle: construct with a running Store; the gRPC server must be shut down before the Store
// is destroyed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "claw/v1/watch.grpc.pb.h"
#include "server/router.h"
#include "server/store.h"
#include "server/watch_stream.h"

namespace claw::server {

class Metrics;

class WatchService final : public v1::Watch::CallbackService {
 public:
  WatchService(Store* store, Router* router, WatchLimits limits, uint64_t max_key_bytes, Metrics* metrics);

  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(grpc::CallbackServerContext* ctx,
                                                     const v1::WatchRequest* req) override;

  Store* store() { return store_; }
  Router* router() { return router_; }
  const WatchLimits& limits() const { return limits_; }
  uint64_t max_key_bytes() const { return max_key_bytes_; }
  // Counts a stream that ended and why; and events sent.
  void Ended(WatchEnd why);
  void Opened();
  void Sent(uint64_t events);

 private:
  Store* store_;
  Router* router_;
  WatchLimits limits_;
  uint64_t max_key_bytes_;
  Metrics* metrics_;
  // /metrics: clawd_watchers (gauge), clawd_watch_events_sent_total,
  // clawd_watchers_ended_total{reason} (client, fell_behind, split, removed, shutdown, error).
  prometheus::Gauge* watchers_ = nullptr;
  prometheus::Counter* events_sent_ = nullptr;
  std::array<prometheus::Counter*, 6> ended_{};
};

}  // namespace claw::server
