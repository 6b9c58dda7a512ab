// TestCluster: real clawd processes on loopback for end-to-end tests. Each node gets free ports
// (client, peer, HTTP) and its own data directory under one temp directory; the harness starts,
// kills (SIGKILL), stops (SIGTERM), pauses (SIGSTOP) and restarts them, and waits for them to
// serve. Logs go to <dir>/<name>.log and are printed when a test fails (see DumpLogs).
//
// Not thread-safe: one test thread drives it. The destructor kills what still runs and removes
// the directory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "claw/v1/cluster.grpc.pb.h"
#include "claw/v1/kv.grpc.pb.h"

namespace claw::e2e {

// A TCP port on `host` (an IPv4 address of this network namespace) that was free a moment ago.
int FreePort(const std::string& host = "127.0.0.1");

struct ClusterOptions {
  int nodes = 3;
  // Nodes in initial_cluster (0 = all): the others start with --join (the client addresses of
  // the initial nodes) and get their ids from the placement service — i + 1 when they first
  // start one at a time in index order.
  int initial = 0;
  int shards = 4;
  // Extra flags for every node, e.g. {"--raft-tick-ms", "50"}.
  std::vector<std::string> flags{};
  // The IPv4 address node i binds all its listeners to (client, peer, HTTP): hosts[i], or
  // 127.0.0.1 when hosts has no entry i. tests/fault gives each node its own loopback address.
  std::vector<std::string> hosts{};
  // The clawd executable; empty = the one under test (CLAWD_BINARY).
  std::string binary{};
  // Non-zero: node i runs as user and group id node_uid_base + i (the harness drops root in the
  // child before exec), so that nftables can tell the nodes' packets apart by `meta skuid`.
  // Needs root.
  uint32_t node_uid_base = 0;
};

class TestCluster {
 public:
  explicit TestCluster(ClusterOptions options);
  ~TestCluster();
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  // Starts node i (0-based) with its flags plus `extra`.
  void Start(int i, const std::vector<std::string>& extra = {});
  // Environment entries ("NAME=value") added to, or replacing those of, the test's environment
  // for node i's next starts (tests/fault: LD_PRELOAD shims, libfaketime, libfiu). {} = none.
  void SetEnv(int i, std::vector<std::string> env) { nodes_[i].env = std::move(env); }
  // Flags for node i's later starts, replacing ClusterOptions::flags of the same names (clawd
  // refuses a flag given twice), e.g. a smaller memtable for one node.
  void SetFlags(int i, std::vector<std::string> flags) { nodes_[i].flags = std::move(flags); }
  void StartAll();
  // Starts every node, then waits until each serves and node 0 knows every shard's leader.
  bool StartAllAndWait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void Kill(int i);              // SIGKILL, reaped
  int Stop(int i);               // SIGTERM, returns the exit status (or -signal)
  // SIGTERM to every running node at once, then reaps them; the exit statuses by node.
  std::vector<int> StopAll();
  void KillAll();                // SIGKILL to every running node at once, reaped
  void Pause(int i);             // SIGSTOP; returns once every thread is stopped (at most 1 s)
  void Resume(int i);            // SIGCONT
  bool Running(int i) const { return nodes_[i].pid > 0; }
  // When node i has exited on its own, reaps it and returns true (Running is then false) with its
  // exit status (-signal if killed) in *status; false while it runs (or was never started).
  bool ReapIfExited(int i, int* status = nullptr);
  // The 1-based node id of node i (its position in the initial cluster).
  uint64_t node_id(int i) const { return static_cast<uint64_t>(i) + 1; }
  // The node index whose client address is `address`, or -1.
  int IndexOfAddress(const std::string& address) const;

  // Waits until node i answers Cluster.Status.
  bool WaitServing(int i, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits until every data shard has a leader that `via` (a running node) knows of.
  bool WaitLeaders(int via, std::chrono::milliseconds timeout = std::chrono::seconds(30));

  std::string client_address(int i) const;
  // The port of node i's HTTP listener (/metrics, /healthz, /readyz) on host(i).
  int http_port(int i) const { return nodes_[i].http_port; }
  // The address node i listens on (ClusterOptions::hosts).
  const std::string& host(int i) const { return nodes_[i].host; }
  // The user id node i runs as (0: the test's own).
  uint32_t uid(int i) const { return nodes_[i].uid; }
  pid_t pid(int i) const { return nodes_[i].pid; }
  // The path of node i's log (stdout and stderr of every start).
  std::string log_path(int i) const;
  std::string peer_address(int i) const;
  std::string data_dir(int i) const;
  const std::string& dir() const { return dir_; }
  int size() const { return static_cast<int>(nodes_.size()); }

  std::unique_ptr<v1::KV::Stub> Kv(int i) const;
  std::unique_ptr<v1::Cluster::Stub> Admin(int i) const;
  // The last `lines` lines of every node's log, for failure reports.
  std::string DumpLogs(size_t lines = 40) const;
  // Every running node's threads' stacks (gdb -batch, `frames` innermost frames each), for
  // failure reports: a node that went silent shows where it waits. Bounded to 20 s per node;
  // says so when gdb is missing.
  std::string DumpStacks(int frames = 10) const;

 private:
  struct NodeProc {
    std::string name;
    std::string host;
    int client_port = 0, peer_port = 0, http_port = 0;
    uint32_t uid = 0;
    pid_t pid = -1;
    std::vector<std::string> env{};
    std::vector<std::string> flags{};
  };
  std::vector<std::string> Args(int i) const;
  int Reap(int i);

  ClusterOptions options_;
  std::string dir_;
  std::vector<NodeProc> nodes_;
};

// Channel arguments of every stub the harness makes: 64 MiB messages, own subchannels.
grpc::ChannelArguments TestChannelArgs();

// A client context with a deadline `ms` from now.
std::unique_ptr<grpc::ClientContext> Ctx(int ms = 5000);

// The clusters alive in this process (for failure reports: see e2e_util.cc's listener).
std::vector<const TestCluster*> LiveClusters();

// What a child process did: its exit status (-signal if killed; -1000 if it outlived its time
// and was killed) and everything it wrote.
struct ProcessResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};
// Starts argv[0] (a path) with argv in a child process that dies with this one: stdin from
// `in_path` (empty: inherited), stdout and stderr into the named files. Returns its pid.
pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& in_path, const std::string& out_path,
                   const std::string& err_path);
// Runs argv[0] (a path) with argv, feeding `input` on stdin; kills it after `timeout`.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace claw::e2e
