// Helpers shared by the end-to-end tests: the process-wide shared cluster, shard routes from the
// Admin API, raw stubs to a given address, a C++ client over all of a cluster's nodes, the
// claw.v1.Error of a failed status, and bounded polling.
//
// Key namespaces. Tests on the shared cluster run one after another in one process and may see
// each other's keys; each test writes only keys of its own namespace, named by a tag after the
// first byte (the first byte picks the shard: with 4 shards the boundaries are 0x40, 0x80, 0xc0).
// The client CRUD/scan tests wipe the whole key space first and rewrite what they read.
//
// Thread-safety: SharedCluster() is created on first use by the test thread; the rest are pure
// functions or make their own stubs.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "claw/v1/error.pb.h"
#include "client/client.h"
#include "cluster.h"

namespace claw::e2e {

// Flags that make elections, failure detection and shutdown quick on loopback.
const std::vector<std::string>& FastFlags();

// A 3-node, 4-shard cluster with FastFlags(), started (and waited for) on first use and killed at
// process exit. Tests that stop, kill or pause nodes make their own cluster instead.
TestCluster& SharedCluster();

// The claw.v1.Error detail of a failed status (code CODE_UNSPECIFIED when there is none).
v1::Error Detail(const grpc::Status& s);

// The shard directory as node `via` knows it.
std::vector<v1::ShardRoute> Routes(const TestCluster& c, int via = 0);
// The route of the shard owning `key`, from node `via`.
v1::ShardRoute RouteFor(const TestCluster& c, const std::string& key, int via = 0);
// The index of the node leading the shard of `key` (-1 if unknown, or if no shard owns the key at
// this moment: a split in flight), and one that does not lead it.
int LeaderIndex(const TestCluster& c, const std::string& key, int via = 0);
int FollowerIndex(const TestCluster& c, const std::string& key, int via = 0);

std::unique_ptr<v1::KV::Stub> KvAt(const std::string& address);

// A client with every node of `c` as a seed and a fixed seed for its ids.
std::unique_ptr<client::Client> OpenClient(const TestCluster& c,
                                           std::chrono::milliseconds deadline = std::chrono::seconds(5));

// A key whose first byte is `first` (which picks the shard), followed by `rest`.
std::string K(unsigned char first, std::string_view rest);

// Polls `ok` every 20 ms until it holds or `timeout` passes; returns its last answer.
bool Eventually(const std::function<bool()>& ok,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Paths of the binaries under test.
std::string ClawdPath();
std::string ClawctlPath();

// The client addresses of `c`'s nodes, comma-separated: clawctl's --endpoints.
std::string Endpoints(const TestCluster& c);

// Runs the clawctl binary as `clawctl --endpoints ENDPOINTS --timeout 5s ARGS...` with `input`
// as standard input, killed after `timeout` (RunProcess); its exit code and output are reported
// with the next assertion.
ProcessResult RunClawctl(const std::string& endpoints, const std::vector<std::string>& args,
                         const std::string& input = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// How many times `what` occurs in `text` (overlapping occurrences count).
size_t Count(const std::string& text, const std::string& what);

// The value of the first sample of `series` (the exact text before the value) in a Prometheus
// exposition, or -1 when absent.
double SampleValue(const std::string& text, const std::string& series);

}  // namespace claw::e2e
