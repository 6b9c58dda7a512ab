#include "server/replica_id.h"

#include <algorithm>

namespace claw::server {

raft::ConfState ConfOf(const v1::ShardDescriptor& d) {
  raft::ConfState conf;
  for (const v1::Replica& r : d.replicas()) {
    (r.role() == v1::Replica::LEARNER ? conf.learners : conf.voters).emplace_back(r.replica_id());
  }
  std::sort(conf.voters.begin(), conf.voters.end());
  std::sort(conf.learners.begin(), conf.learners.end());
  return conf;
}

v1::ShardDescriptor WithConf(const v1::ShardDescriptor& d, const raft::ConfState& conf) {
  v1::ShardDescriptor out = d;
  out.clear_replicas();
  std::vector<uint64_t> voters, learners;
  for (const auto* list : {&conf.voters, &conf.voters_outgoing}) {
    for (raft::NodeId id : *list) voters.push_back(id.value());
  }
  for (const auto* list : {&conf.learners, &conf.learners_next}) {
    for (raft::NodeId id : *list) learners.push_back(id.value());
  }
  std::sort(voters.begin(), voters.end());
  voters.erase(std::unique(voters.begin(), voters.end()), voters.end());
  std::sort(learners.begin(), learners.end());
  learners.erase(std::unique(learners.begin(), learners.end()), learners.end());
  for (uint64_t id : voters) {
    v1::Replica* r = out.add_replicas();
    r->set_node_id(ReplicaNode(id));
    r->set_replica_id(id);
    r->set_role(v1::Replica::VOTER);
  }
  for (uint64_t id : learners) {
    if (std::binary_search(voters.begin(), voters.end(), id)) continue;  // demoted in a joint conf
    v1::Replica* r = out.add_replicas();
    r->set_node_id(ReplicaNode(id));
    r->set_replica_id(id);
    r->set_role(v1::Replica::LEARNER);
  }
  out.mutable_epoch()->set_conf_version(d.epoch().conf_version() + 1);
  return out;
}

const v1::Replica* ReplicaOn(const v1::ShardDescriptor& d, uint64_t node) {
  for (const v1::Replica& r : d.replicas()) {
    if (r.node_id() == node) return &r;
  }
  return nullptr;
}

bool HasReplica(const v1::ShardDescriptor& d, uint64_t replica_id) {
  return std::any_of(d.replicas().begin(), d.replicas().end(),
                     [&](const v1::Replica& r) { return r.replica_id() == replica_id; });
}

bool RemovedBy(const v1::ShardDescriptor& d, uint64_t replica_id) {
  return !HasReplica(d, replica_id) && ReplicaGeneration(replica_id) <= d.epoch().conf_version();
}

}  // namespace claw::server
