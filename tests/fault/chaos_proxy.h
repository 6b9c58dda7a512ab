// ChaosProxy: a user-space TCP proxy on the nodes' peer links, for the faults nftables cannot
// make here (no netem): delay with jitter, stalls, connection resets, bandwidth limits and
// one-way blackholes, set per directed link (the bytes node a sends to node b).
//
// Picture: one listener per ordered pair (dialer a, target b) on `listen_host`; ProxyNat makes
// node a's connections to b's peer port land on it (nft `dnat` in the output hook, matched by
// the uid node a runs as), and the proxy dials b's real peer address as root (nft partitions
// never match root). Bytes a sends on that connection travel the link a -> b; the answers on the
// same connection travel b -> a. Connections dialed by b to a use listener (b, a) and the same
// two links, so a link's faults apply to every byte between the two nodes in that direction.
//
// What each fault means for a byte stream (TCP cannot lose bytes; a proxy that dropped a chunk
// would corrupt the stream, not model packet loss):
//   delay ± jitter   each chunk read is held `delay + U(-jitter, +jitter)` (at least 0) before it
//                    is written on; a chunk never overtakes the one before it on its connection
//                    (TCP delivers in order), so jitter reorders only across connections and
//                    between the two directions.
//   stall p          with probability p a chunk is held `stall` longer: what a lost segment costs
//                    TCP (a retransmission timeout); every later chunk of the connection waits.
//   reset p          with probability p per chunk the connection carrying it is aborted (both
//                    sockets disconnected with an RST): heavy loss that makes TCP give up;
//                    the node reconnects through the proxy.
//   bandwidth        a token bucket of `bytes_per_second` (100 ms of burst) shared by every
//                    connection of the link.
//   blackhole        nothing is forwarded in that direction; what arrives is held (up to 8 MiB
//                    per connection, then the proxy stops reading: TCP backpressure) and
//                    delivered after the heal unless the connection was reset meanwhile, as TCP
//                    retransmits across a healed partition. New connections are still accepted
//                    (unlike an nft drop, whose SYNs time out).
//
// Thread-safety: Set/Heal/Stats from any thread. One thread accepts on every listener; each
// connection has one thread per direction. Lifecycle: listeners open in the constructor; the
// destructor aborts every connection and joins every thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace claw::fault {

// The faults of one directed link; the default is a clean link.
struct LinkFaults {
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds jitter{0};
  double stall_probability = 0;
  std::chrono::milliseconds stall{0};
  double reset_probability = 0;
  uint64_t bytes_per_second = 0;  // 0 = unlimited
  bool blackhole = false;
};

// What went over one directed link so far.
struct LinkStats {
  uint64_t bytes = 0;        // forwarded
  uint64_t chunks = 0;       // forwarded
  uint64_t stalls = 0;       // chunks held the extra stall
  uint64_t resets = 0;       // connections this link's faults reset
  uint64_t connections = 0;  // accepted on the listener of this ordered pair (dialer -> target)
};

struct ChaosProxyOptions {
  // targets[i] = node i's real peer address, "host:port".
  std::vector<std::string> targets{};
  std::string listen_host = "127.0.0.1";
  uint64_t seed = 1;
};

class ChaosProxy {
 public:
  // Opens the N*(N-1) listeners (ports chosen by the kernel) and starts accepting. Fails the
  // test (Catch REQUIRE) when a listener cannot be opened.
  explicit ChaosProxy(ChaosProxyOptions options);
  ~ChaosProxy();
  ChaosProxy(const ChaosProxy&) = delete;
  ChaosProxy& operator=(const ChaosProxy&) = delete;

  int size() const { return static_cast<int>(options_.targets.size()); }
  // Where connections dialed by node `from` to node `to` must go ("host:port").
  std::string ListenAddress(int from, int to) const;
  int ListenPort(int from, int to) const;
  // The faults of the link carrying what `from` sends to `to` (on either node's connections).
  void Set(int from, int to, const LinkFaults& faults);
  // Every link of `node`, both directions.
  void SetNode(int node, const LinkFaults& faults);
  // Every link clean again; held bytes flow.
  void Heal();
  LinkStats Stats(int from, int to) const;
  // Aborts every open connection (RST); the nodes reconnect.
  void ResetAll();

 private:
  struct Link {
    LinkFaults faults{};
    LinkStats stats{};
    // Token bucket (bandwidth).
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled{};
  };
  struct Conn;
  void AcceptLoop();
  void Open(int listener_index, int fd);
  void Pump(const std::shared_ptr<Conn>& conn, int direction);
  size_t LinkIndex(int from, int to) const;
  void CheckLink(int from, int to) const;  // Catch REQUIRE: a link of this proxy
  // How many of `want` bytes the link may send now; 0 and *wait when none.
  size_t TakeTokens(size_t link, size_t want, std::chrono::milliseconds* wait);
  void ReapFinished();

  ChaosProxyOptions options_;
  std::vector<int> listen_fds_{};  // index = from * N + to (from != to), -1 on the diagonal
  std::vector<int> listen_ports_{};
  mutable std::mutex mu_;
  std::vector<Link> links_{};  // index = from * N + to
  std::mt19937_64 rng_;        // under mu_
  std::list<std::shared_ptr<Conn>> conns_{};  // under mu_
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
};

// The nft table `ip claw_proxy` that sends node a's connections to node b's peer port to the
// proxy's listener (a, b): `meta skuid <uid a> ip daddr <host b> tcp dport <peer port b> dnat to
// <listener>`. It lives in the process's network namespace next to FaultNet's `inet claw_fault`,
// which it never touches; Install before the nodes start, removed by the destructor. Nft
// partitions match `ip daddr` after the DNAT, so they do not cut proxied links: a scenario uses
// the proxy or nft partitions on a link, not both.
class ProxyNat {
 public:
  struct Node {
    uint32_t uid = 0;
    std::string peer_host{};
    int peer_port = 0;
  };
  // Fails the test (Catch REQUIRE) when nft refuses the rules.
  ProxyNat(const std::vector<Node>& nodes, const ChaosProxy& proxy, const std::string& listen_host);
  ~ProxyNat();
  ProxyNat(const ProxyNat&) = delete;
  ProxyNat& operator=(const ProxyNat&) = delete;
};

// "host:port" -> host and port; false when it is not one.
bool SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace claw::fault
