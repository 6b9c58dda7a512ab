// FaultNet: the network namespace a fault test runs in, and the nftables partitions inside it.
//
// Picture: one namespace "claw-fault-<pid>" per test process, created on first use with its
// loopback up. The calling thread (the test's main thread) enters it before any other thread
// exists, so everything the process starts afterwards — gRPC's threads, the workload clients and
// every clawd child — lives inside it; nothing of a fault test touches the host's network or its
// nftables ruleset. Node i listens on 127.0.0.(i+1) (NodeHost). Loopback connections take the
// route's preferred source address, so the namespace's 127.0.0.0/8 route gets source 127.0.0.254
// (a client address no node uses) and a node's packets are told apart by the user id it runs as
// (TestCluster's node_uid_base; nft `meta skuid`), not by their source address.
//
// Partitions: Apply() replaces the whole table `inet claw_fault` with one drop rule per directed
// pair (from node a's sockets to node b's address); Heal() deletes the table. A dropped direction
// stops new connections and the data of existing ones; replies of the other direction pass, so
// a one-way rule lets b still talk to a over b's own connections.
//
// Lifecycle: Get() creates it (and first removes stale claw-fault-<pid> namespaces of processes
// that no longer run, killing what still runs in them); an atexit hook deletes it, and the
// namespace itself dies with the last process inside. Children are killed by TestCluster (and by
// PR_SET_PDEATHSIG when the test process dies). Thread-safety: Get() on the main thread first;
// Apply/Heal from one test thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace claw::fault {

// The loopback address of node i (0-based) inside the namespace.
std::string NodeHost(int i);

// One dropped direction: packets from the sockets of user `from_uid` to address `to_host`; all
// of them, or `percent` of them at random (nft `numgen random mod 100 < percent`: packet loss).
struct Drop {
  uint32_t from_uid = 0;
  std::string to_host{};
  int percent = 100;
};

class FaultNet {
 public:
  // The namespace of this process, created and entered on first call. Fails the test (Catch
  // FAIL) when it cannot be made: not root, `ip` missing, or threads already running.
  static FaultNet& Get();

  const std::string& name() const { return name_; }

  // Replaces the partition with `drops` (empty = healed). Returns "" or the nft error text.
  [[nodiscard]] std::string Apply(const std::vector<Drop>& drops);
  [[nodiscard]] std::string Heal() { return Apply({}); }
  // The current nft ruleset of the namespace, for reports.
  std::string Ruleset() const;

  // Runs argv (argv[0] a command on PATH) with its output captured; returns exit code and output.
  static int Run(const std::vector<std::string>& argv, std::string* output = nullptr,
                 const std::string& input = "");

 private:
  FaultNet() = default;
  std::string name_{};
};

// Deletes namespaces named claw-fault-<pid> whose process no longer runs (killing whatever still
// runs inside them). Returns how many it removed.
int RemoveStaleNamespaces();

}  // namespace claw::fault
