#include "server/placement/diversity.h"

#include <algorithm>
#include <set>

namespace claw::placement {
namespace {

// Counts the nodes that share no `same` domain with an earlier node.
template <typename Same>
int Distinct(std::span<const NodeInfo* const> nodes, Same same) {
  int count = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = same(*nodes[i], *nodes[j]);
    if (!seen) ++count;
  }
  return count;
}

// Keys naming a node's domains, for counting many nodes. Labels are [A-Za-z0-9._-] (config/), so
// the separators cannot occur in them.
std::string RackKey(const NodeInfo& n) { return n.locality.zone + '\x1f' + n.locality.rack; }
std::string HostKey(const NodeInfo& n) {
  if (n.locality.host.empty()) return "\x1e" + std::to_string(n.id.value());
  return RackKey(n) + '\x1f' + n.locality.host;
}

}  // namespace

std::string_view NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kUp: return "up";
    case NodeState::kDraining: return "draining";
    case NodeState::kDead: return "dead";
    case NodeState::kRemoved: return "removed";
  }
  return "?";
}

std::string ToString(const Diversity& d) {
  auto part = [](int n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  return part(d.zones, "zone", "zones") + ", " + part(d.racks, "rack", "racks") + ", " +
         part(d.hosts, "host", "hosts");
}

bool SameZone(const NodeInfo& a, const NodeInfo& b) { return a.locality.zone == b.locality.zone; }

bool SameRack(const NodeInfo& a, const NodeInfo& b) {
  return SameZone(a, b) && a.locality.rack == b.locality.rack;
}

bool SameHost(const NodeInfo& a, const NodeInfo& b) {
  if (a.id == b.id) return true;
  if (a.locality.host.empty() || b.locality.host.empty()) return false;
  return SameRack(a, b) && a.locality.host == b.locality.host;
}

Diversity DiversityOf(std::span<const NodeInfo* const> nodes) {
  return Diversity{.zones = Distinct(nodes, SameZone),
                   .racks = Distinct(nodes, SameRack),
                   .hosts = Distinct(nodes, SameHost)};
}

DomainCounts CountDomains(std::span<const NodeInfo* const> nodes) {
  std::set<std::string> zones, racks, hosts;
  for (const NodeInfo* n : nodes) {
    zones.insert(n->locality.zone);
    racks.insert(RackKey(*n));
    hosts.insert(HostKey(*n));
  }
  return DomainCounts{zones.size(), racks.size(), hosts.size(), nodes.size()};
}

Diversity BestDiversity(const DomainCounts& candidates, size_t replicas) {
  const size_t k = std::min(replicas, candidates.nodes);
  auto level = [k](size_t distinct) { return static_cast<int>(std::min(k, distinct)); };
  return Diversity{.zones = level(candidates.zones),
                   .racks = level(candidates.racks),
                   .hosts = level(candidates.hosts)};
}

Diversity BestDiversity(std::span<const NodeInfo* const> candidates, size_t replicas) {
  return BestDiversity(CountDomains(candidates), replicas);
}

}  // namespace claw::placement
