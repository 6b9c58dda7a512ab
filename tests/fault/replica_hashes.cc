#include "replica_hashes.h"

#include <sstream>

#include "client/client.h"
#include "tools/clawctl/hash_check.h"

namespace claw::fault {

ReplicaHashOutcome CheckReplicaHashes(const e2e::TestCluster& cluster, std::chrono::milliseconds wait) {
  ReplicaHashOutcome out;
  const auto started = std::chrono::steady_clock::now();
  client::ClientOptions o;
  clawctl::HashCheckOptions options{.wait = wait};
  std::string skipped;
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.Running(i)) {
      o.endpoints.push_back(cluster.client_address(i));
    } else {
      options.skip_nodes.insert(cluster.node_id(i));
      skipped += " n" + std::to_string(cluster.node_id(i));
    }
  }
  o.default_deadline = std::chrono::seconds(5);
  o.async_threads = 1;
  auto client = client::Client::Open(o);
  if (!client) {
    out.failures = "cannot open a client: " + client.error().ToString();
    out.summary = "replica hashes: not checked (" + out.failures + ")";
    return out;
  }
  auto report = clawctl::RunHashCheck(**client, options);
  if (!report) {
    out.failures = "the hash check could not run: " + report.error().ToString();
    out.summary = "replica hashes: not checked (" + out.failures + ")";
    return out;
  }
  out.ok = report->ok;
  out.minority_nodes = report->minority_nodes;
  out.failures = clawctl::DescribeHashFailures(*report);
  size_t replicas = 0, agreeing = 0;
  for (const clawctl::ShardHashCheck& s : report->shards) {
    for (const clawctl::ReplicaHashRow& r : s.replicas) {
      replicas += r.state != "skipped" ? 1 : 0;
      agreeing += r.state == "done" && !r.minority ? 1 : 0;
    }
  }
  std::ostringstream summary;
  summary << "replica hashes: " << (out.ok ? "equal" : "NOT EQUAL") << " on " << report->shards.size()
          << " shards, " << agreeing << " of " << replicas << " replicas agree"
          << (skipped.empty() ? "" : ", skipped (not running):" + skipped) << ", "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
          << " ms";
  out.summary = summary.str();
  return out;
}

}  // namespace claw::fault
