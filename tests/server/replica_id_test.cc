// server/replica_id: the replica id layout, descriptors from Raft configurations, and the rule
// that decides whether a descriptor proves a replica was removed (a snapshot taken before the
// entry that added a replica must not make it destroy itself: found by the 3-zone e2e test).
#include <catch2/catch.hpp>

#include "server/replica_id.h"

namespace claw::server {
namespace {

v1::ShardDescriptor Desc(uint64_t conf_version, std::initializer_list<uint64_t> voters) {
  v1::ShardDescriptor d;
  d.set_id(7);
  d.mutable_epoch()->set_conf_version(conf_version);
  d.mutable_epoch()->set_range_version(1);
  for (uint64_t id : voters) {
    v1::Replica* r = d.add_replicas();
    r->set_node_id(ReplicaNode(id));
    r->set_replica_id(id);
    r->set_role(v1::Replica::VOTER);
  }
  return d;
}

}  // namespace

TEST_CASE("replica ids carry their node and generation", "[server]") {
  const uint64_t id = MakeReplicaId(9, 4);
  CHECK(ReplicaNode(id) == 9);
  CHECK(ReplicaGeneration(id) == 4);
  CHECK(MakeReplicaId(3, 0) == 3);  // bootstrap replicas: id = node id
  CHECK(ReplicaNode(MakeReplicaId(kMaxNodeId, 1)) == kMaxNodeId);
}

TEST_CASE("WithConf lists voters of both halves as voters, learners as learners, and bumps conf_version",
          "[server]") {
  raft::ConfState conf{.voters = {raft::NodeId(1), raft::NodeId(MakeReplicaId(4, 2))},
                       .learners = {raft::NodeId(MakeReplicaId(5, 3))},
                       .voters_outgoing = {raft::NodeId(1), raft::NodeId(2)},
                       .learners_next = {raft::NodeId(2)}};
  v1::ShardDescriptor d = WithConf(Desc(2, {1, 2, 3}), conf);
  CHECK(d.epoch().conf_version() == 3);
  REQUIRE(d.replicas_size() == 4);
  CHECK(ReplicaOn(d, 2)->role() == v1::Replica::VOTER);  // outgoing voter, learner next
  CHECK(ReplicaOn(d, 4)->role() == v1::Replica::VOTER);
  CHECK(ReplicaOn(d, 5)->role() == v1::Replica::LEARNER);
  CHECK(ReplicaOn(d, 3) == nullptr);
  raft::ConfState back = ConfOf(WithConf(Desc(1, {}), raft::ConfState{.voters = {raft::NodeId(1)}}));
  CHECK(back.voters == std::vector<raft::NodeId>{raft::NodeId(1)});
}

TEST_CASE("a descriptor proves removal only when it is as new as the replica's generation", "[server]") {
  const uint64_t added = MakeReplicaId(4, 5);  // added by the entry that makes conf_version 5
  // A snapshot from before that entry does not list it: no proof.
  CHECK_FALSE(RemovedBy(Desc(4, {1, 2, 3}), added));
  // Once the entry applied, it is listed.
  CHECK_FALSE(RemovedBy(Desc(5, {1, 2, 3, added}), added));
  // A later descriptor without it: removed.
  CHECK(RemovedBy(Desc(6, {1, 2, 3}), added));
  // Bootstrap replicas (generation 0) are proven removed by any descriptor that omits them.
  CHECK(RemovedBy(Desc(1, {1, 2}), 3));
  CHECK_FALSE(RemovedBy(Desc(1, {1, 2, 3}), 3));
}

}  // namespace claw::server
