// Derived fields and the rules that span several keys. Each message names the key it is about,
// where to look (where that key, or the other key forcing the rule, was set), the other keys
// involved with their values and origins, and what to change.

#include <initializer_list>
#include <string>
#include <string_view>

#include "config/load_state.h"
#include "config/values.h"

namespace claw::config {
namespace {

constexpr uint64_t kEntryOverheadBytes = 64 * kKiB;

class Resolver {
 public:
  explicit Resolver(LoadState& state) : state_(state), c_(state.config) {}

  void ResolveCluster();
  void ResolveAdvertise();
  void CheckListeners();
  void CheckRaft();
  void CheckLimits();

 private:
  // "raft.election_ticks = 10 (from --raft-election-ticks)".
  std::string Describe(std::string_view path) const {
    const KeySpec* key = FindKey(path);
    const auto it = state_.origin.find(path);
    return std::string(path) + " = " + ValueText(*key, c_) + " (" +
           (it == state_.origin.end() ? std::string("default") : "from " + it->second) + ")";
  }
  // Reports `problem` of key `first` at the place `first` was set, else where the first of
  // `others` (the keys that force the rule) that was set, else "defaults".
  void Fail(std::string_view first, std::initializer_list<std::string_view> others,
            const std::string& problem) {
    auto it = state_.origin.find(first);
    for (std::string_view other : others) {
      if (it == state_.origin.end()) it = state_.origin.find(other);
    }
    state_.Error(it == state_.origin.end() ? "defaults" : it->second, first, problem);
  }

  LoadState& state_;
  Config& c_;
};

void Resolver::ResolveCluster() {
  if (!c_.join.empty()) {
    if (!c_.initial_cluster.empty()) {
      Fail("join", {"initial_cluster"},
           "excludes initial_cluster (" + Describe("initial_cluster") +
               "): initial_cluster creates a new cluster, join adds this node to a running one; "
               "set only one of them");
      return;
    }
    if (c_.advertise_peer_addr.empty()) {
      if (IsWildcardAddr(c_.peer_addr)) {
        Fail("advertise_peer_addr", {"peer_addr", "join"},
             "must be set because " + Describe("peer_addr") +
                 " binds every interface and cannot be handed to other nodes");
        return;
      }
      c_.advertise_peer_addr = c_.peer_addr;
    } else if (IsWildcardAddr(c_.advertise_peer_addr)) {
      Fail("advertise_peer_addr", {}, "is a wildcard address that other nodes cannot dial");
    }
    return;
  }
  if (!c_.advertise_peer_addr.empty()) {
    Fail("advertise_peer_addr", {"initial_cluster"},
         "is only for nodes that join (set join); a node of initial_cluster is reached at its "
         "initial_cluster address");
    return;
  }
  if (c_.initial_cluster.empty()) {
    if (IsWildcardAddr(c_.peer_addr)) {
      Fail("initial_cluster", {"peer_addr"},
           "must be set because " + Describe("peer_addr") +
               " binds every interface and cannot be handed to other nodes; set " + c_.name +
               "=<dialable host>:" + std::string(PortOf(c_.peer_addr)));
      return;
    }
    c_.initial_cluster.push_back(Member{c_.name, c_.peer_addr});
    return;
  }
  const Member* self = nullptr;
  for (const Member& m : c_.initial_cluster) {
    if (m.name == c_.name) self = &m;
  }
  if (self == nullptr) {
    Fail("initial_cluster", {"name"},
         "has no member named \"" + c_.name + "\" (" + Describe("name") + "); add " + c_.name +
             "=host:port to it or set name to one of its members");
    return;
  }
  if (!state_.IsSet("peer_addr")) {
    c_.peer_addr = self->peer_addr;
    state_.origin["peer_addr"] = "initial_cluster";
    return;
  }
  const bool same = c_.peer_addr == self->peer_addr ||
                    (IsWildcardAddr(c_.peer_addr) && PortOf(c_.peer_addr) == PortOf(self->peer_addr));
  if (!same) {
    Fail("peer_addr", {"initial_cluster"},
         "differs from this node's entry " + c_.name + "=" + self->peer_addr +
             " in initial_cluster; make them equal (or bind a wildcard host on the same port), or "
             "leave peer_addr unset to take it from initial_cluster");
  }
}

void Resolver::ResolveAdvertise() {
  if (!c_.advertise_client_addr.empty()) {
    if (IsWildcardAddr(c_.advertise_client_addr)) {
      Fail("advertise_client_addr", {"client_addr"},
           "is a wildcard address that clients cannot dial; set the address clients should use");
    }
    return;
  }
  if (IsWildcardAddr(c_.client_addr)) {
    Fail("advertise_client_addr", {"client_addr"},
         "must be set because " + Describe("client_addr") +
             " binds every interface and cannot be handed to clients");
    return;
  }
  c_.advertise_client_addr = c_.client_addr;
}

void Resolver::CheckListeners() {
  static constexpr std::string_view kListeners[] = {"client_addr", "peer_addr", "http_addr"};
  for (size_t i = 0; i < std::size(kListeners); ++i) {
    for (size_t j = i + 1; j < std::size(kListeners); ++j) {
      const std::string a = ValueText(*FindKey(kListeners[i]), c_);
      const std::string b = ValueText(*FindKey(kListeners[j]), c_);
      const bool same_host = a.substr(0, a.rfind(':')) == b.substr(0, b.rfind(':')) ||
                             IsWildcardAddr(a) || IsWildcardAddr(b);
      if (same_host && PortOf(a) == PortOf(b)) {
        Fail(kListeners[j], {kListeners[i]},
             "conflicts with another listener: " + Describe(kListeners[i]) + ", " +
                 Describe(kListeners[j]) + "; give each listener its own port");
      }
    }
  }
}

void Resolver::CheckRaft() {
  const RaftConfig& r = c_.raft;
  if (r.heartbeat_ticks >= r.election_ticks) {
    Fail("raft.heartbeat_ticks", {"raft.election_ticks"},
         "must be less than raft.election_ticks: " + Describe("raft.heartbeat_ticks") + ", " +
             Describe("raft.election_ticks"));
  }
  const uint64_t election_ms = static_cast<uint64_t>(r.election_ticks) * r.tick_ms;
  if (r.node_dead_after_ms <= election_ms) {
    Fail("raft.node_dead_after_ms", {"raft.election_ticks", "raft.tick_ms"},
         "must exceed the election timeout raft.election_ticks * raft.tick_ms = " +
             std::to_string(election_ms) + " ms: " + Describe("raft.node_dead_after_ms") + ", " +
             Describe("raft.election_ticks") + ", " + Describe("raft.tick_ms"));
  }
  if (c_.lease.min_ttl_ms > c_.lease.max_ttl_ms) {
    Fail("lease.min_ttl_ms", {"lease.max_ttl_ms"},
         "must not exceed lease.max_ttl_ms: " + Describe("lease.min_ttl_ms") + ", " + Describe("lease.max_ttl_ms"));
  }
  const CheckpointConfig& ck = c_.checkpoint;
  if (ck.default_retention_ms > ck.max_retention_ms) {
    Fail("checkpoint.default_retention_ms", {"checkpoint.max_retention_ms"},
         "must not exceed checkpoint.max_retention_ms: " + Describe("checkpoint.default_retention_ms") + ", " +
             Describe("checkpoint.max_retention_ms"));
  }
  if (ck.max_section_bytes + 64 > c_.limits.max_value_bytes) {
    Fail("checkpoint.max_section_bytes", {"limits.max_value_bytes"},
         "must leave 64 bytes of limits.max_value_bytes for the section's record: " +
             Describe("checkpoint.max_section_bytes") + ", " + Describe("limits.max_value_bytes"));
  }
  const PlacementConfig& p = c_.placement;
  if (p.node_dead_after_ms <= 3 * p.heartbeat_interval_ms) {
    Fail("placement.node_dead_after_ms", {"placement.heartbeat_interval_ms"},
         "must exceed 3 heartbeat intervals: " + Describe("placement.node_dead_after_ms") + ", " +
             Describe("placement.heartbeat_interval_ms"));
  }
  if (r.max_append_bytes >= c_.limits.max_peer_message_bytes) {
    Fail("raft.max_append_bytes", {"limits.max_peer_message_bytes"},
         "must be less than limits.max_peer_message_bytes: " + Describe("raft.max_append_bytes") +
             ", " + Describe("limits.max_peer_message_bytes"));
  }
}

void Resolver::CheckLimits() {
  const LimitsConfig& l = c_.limits;
  if (l.max_key_bytes + l.max_value_bytes > l.max_request_bytes) {
    Fail("limits.max_request_bytes", {"limits.max_value_bytes", "limits.max_key_bytes"},
         "must hold the largest key plus the largest value: " +
             Describe("limits.max_request_bytes") + ", " + Describe("limits.max_key_bytes") +
             ", " + Describe("limits.max_value_bytes"));
  }
  // A Raft entry holds one request plus framing and must fit in one peer message with room
  // for the message's own fields: (request + 64 KiB) < 95% of the message limit.
  if ((l.max_request_bytes + kEntryOverheadBytes) * 100 >= 95 * l.max_peer_message_bytes) {
    Fail("limits.max_peer_message_bytes", {"limits.max_request_bytes"},
         "must exceed (limits.max_request_bytes + 64KiB) / 0.95 so that every Raft entry fits "
         "in a peer message: " + Describe("limits.max_peer_message_bytes") + ", " +
             Describe("limits.max_request_bytes"));
  }
}

}  // namespace

void Resolve(LoadState& state) {
  Resolver resolver(state);
  resolver.ResolveCluster();
  resolver.ResolveAdvertise();
  resolver.CheckListeners();
  resolver.CheckRaft();
  resolver.CheckLimits();
}

}  // namespace claw::config
