// LeaseClient: leases of a clawd cluster (claw.v1.Lease, proto/claw/v1/lease.proto).
//
//   auto leases = claw::client::LeaseClient::Open({.endpoints = {"10.0.0.1:7379"}});
//   auto lease = (*leases)->Grant(std::chrono::seconds(10));         // Result<LeaseInfo>
//   auto keeper = (*leases)->KeepAlive(lease->id);                     // renews in the background
//   client->Put("svc/worker-1", "10.0.0.7", {.lease = lease->id});     // Client::Put (client.h)
//   ...                                                                // keeper destroyed: the key
//                                                                      // goes TTL later
//
// Leases are served by the meta shard's leader. The client sends each call to the leader it last
// found (first: the seed endpoints in turn), follows NOT_LEADER hints at once and backs off
// (100 ms) on UNAVAILABLE, within the call's deadline (CallOptions::deadline, else
// ClientOptions::default_deadline). Grant is retried only when its failure was definite (a retry
// after an unknown outcome could leave a second lease, which then expires on its own).
//
// LeaseKeepAlive: one background thread per kept lease. It opens a KeepAlive stream at the meta
// leader and renews every TTL/3 (at least 100 ms, at most 5 s); each stream lives at most
// min(2 renewal intervals, 1 s), so a leader that stopped answering (crashed, SIGSTOPped) is left
// within 1 s, and the new leader is found through the other seeds' NOT_LEADER hints (the seed
// that did not answer is skipped once). It stops when destroyed, on Stop(), or when the
// cluster answers that the lease is gone (alive() turns false and on_lost runs once).
//
// Thread-safety: LeaseClient's methods may be called from any thread. This header includes no
// protobuf or gRPC headers (pimpl).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"

namespace claw::client {

struct LeaseInfo {
  enum class State : uint8_t { kActive, kRevoking };
  uint64_t id = 0;
  // Remaining TTL (0 once expired or revoking) and the TTL it was granted with.
  uint64_t ttl_ms = 0;
  uint64_t granted_ttl_ms = 0;
  State state = State::kActive;
  // With TimeToLive(.., kWithKeys): the keys attached to it.
  std::vector<std::string> keys{};
};

class LeaseKeepAlive;

class LeaseClient {
 public:
  enum class Keys : uint8_t { kWithout, kWithKeys };

  [[nodiscard]] static Result<std::unique_ptr<LeaseClient>> Open(ClientOptions options);
  ~LeaseClient();
  LeaseClient(const LeaseClient&) = delete;
  LeaseClient& operator=(const LeaseClient&) = delete;

  // A new lease of `ttl`; `id` 0 lets the cluster allocate one.
  [[nodiscard]] Result<LeaseInfo> Grant(std::chrono::milliseconds ttl, uint64_t id = 0,
                                        const CallOptions& options = {});
  // Revokes the lease and deletes its keys in every shard; returns the keys deleted.
  [[nodiscard]] Result<uint64_t> Revoke(uint64_t id, const CallOptions& options = {});
  [[nodiscard]] Result<LeaseInfo> TimeToLive(uint64_t id, Keys keys = Keys::kWithout,
                                             const CallOptions& options = {});
  [[nodiscard]] Result<std::vector<LeaseInfo>> List(const CallOptions& options = {});
  // One renewal: the TTL the lease now has (ms); kLeaseNotFound when it is gone.
  [[nodiscard]] Result<uint64_t> KeepAliveOnce(uint64_t id, const CallOptions& options = {});
  // Keeps `id` alive in the background until the returned object is destroyed.
  [[nodiscard]] std::unique_ptr<LeaseKeepAlive> KeepAlive(uint64_t id, std::function<void(const Error&)> on_lost = {});

  class Impl;

 private:
  explicit LeaseClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

class LeaseKeepAlive {
 public:
  LeaseKeepAlive(std::shared_ptr<LeaseClient::Impl> impl, uint64_t id, std::function<void(const Error&)> on_lost);
  ~LeaseKeepAlive();
  LeaseKeepAlive(const LeaseKeepAlive&) = delete;
  LeaseKeepAlive& operator=(const LeaseKeepAlive&) = delete;

  // Stops renewing (joins the thread). The lease then expires TTL after its last renewal.
  void Stop();
  // False once the cluster said the lease is gone.
  bool alive() const { return alive_.load(); }
  // The TTL of the last successful renewal (ms); 0 before the first.
  uint64_t last_ttl_ms() const { return last_ttl_ms_.load(); }
  // Renewals answered so far.
  uint64_t renewals() const { return renewals_.load(); }

 private:
  void Run();

  std::shared_ptr<LeaseClient::Impl> impl_;
  const uint64_t id_;
  std::function<void(const Error&)> on_lost_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> alive_{true};
  std::atomic<uint64_t> last_ttl_ms_{0};
  std::atomic<uint64_t> renewals_{0};
  std::thread thread_;
};

}  // namespace claw::client
