// Diversity: how many distinct failure domains a shard's replicas span, compared zones first,
// then racks, then hosts (CockroachDB's locality-tier diversity; PD's DistinctScore with
// location-labels zone,rack,host).
//
// Pure functions over NodeInfo; no state.
#pragma once

#include <compare>
#include <cstddef>
#include <span>
#include <string>

#include "server/placement/types.h"

namespace claw::placement {

// Distinct zones, racks (within zones) and hosts (within racks) among some nodes. Compared
// lexicographically: more zones always wins, then more racks, then more hosts.
struct Diversity {
  int zones = 0;
  int racks = 0;
  int hosts = 0;
  auto operator<=>(const Diversity&) const = default;
};
// "3 zones, 3 racks, 3 hosts".
std::string ToString(const Diversity& diversity);

// Failure-domain equality under Locality's rules for unknown values: an unknown zone or rack is
// one shared domain; an unknown host is the node itself.
bool SameZone(const NodeInfo& a, const NodeInfo& b);
bool SameRack(const NodeInfo& a, const NodeInfo& b);
bool SameHost(const NodeInfo& a, const NodeInfo& b);

// The diversity of replicas placed on `nodes` (distinct nodes expected).
Diversity DiversityOf(std::span<const NodeInfo* const> nodes);

// How many distinct zones, racks and hosts some nodes span, and how many nodes they are.
struct DomainCounts {
  size_t zones = 0;
  size_t racks = 0;
  size_t hosts = 0;
  size_t nodes = 0;
};
DomainCounts CountDomains(std::span<const NodeInfo* const> nodes);

// The best diversity `replicas` replicas can reach on `candidates` (distinct nodes). Because
// hosts nest in racks and racks in zones, the lexicographic optimum is reached at every level at
// once: min(k, distinct zones), min(k, distinct racks), min(k, distinct hosts), k = min(replicas,
// candidates).
Diversity BestDiversity(const DomainCounts& candidates, size_t replicas);
Diversity BestDiversity(std::span<const NodeInfo* const> candidates, size_t replicas);

}  // namespace claw::placement
