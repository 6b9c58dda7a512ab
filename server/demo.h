// `clawd demo`: a local, in-process cluster that shows the Raft core at work before the networked
// node exists. Several nodes, each hosting many groups (one per shard), run in one thread over
// virtual time: leaders are elected, writes commit, idle groups hibernate, the node leading the
// most groups crashes, node liveness wakes its followers, new leaders take over, and the node
// comes back and catches up. Every replica's applied history is compared at the end.
#pragma once

#include <cstdint>
#include <cstdio>

namespace claw::server {

struct DemoOptions {
  int nodes = 3;
  int groups = 16;
  int writes_per_group = 100;
  uint64_t seed = 1;
};

// Runs the demo, narrating to `out`. Returns 0 when every check passed, 1 otherwise.
int RunDemo(const DemoOptions& options, std::FILE* out);

}  // namespace claw::server
