#include "tests/sim/sim_trace.h"

#include <cinttypes>
#include <cstdio>
#include <type_traits>
#include <variant>

namespace claw::sim {
namespace {

const char* const kMessageNames[] = {
    "append",     "append_resp",     "vote_req",        "vote_resp",
    "heartbeat",  "heartbeat_resp",  "install_snap",    "timeout_now",
    "read_index", "read_index_resp", "transfer_leader", "hibernate",
};
static_assert(std::size(kMessageNames) == std::variant_size_v<raft::MessageBody>);

const char* const kRoleNames[] = {"follower", "pre_candidate", "candidate", "leader"};

std::string FormatMessageDetails(const TraceRecord& r) {
  char buf[160];
  switch (r.msg_type) {
    case 0:
      std::snprintf(buf, sizeof buf,
                    "prev=(%" PRIu64 ",t%" PRIu64 ") commit=%" PRIu64 " entries=%" PRIu64, r.a, r.b,
                    r.c, r.d);
      break;
    case 1:
      std::snprintf(buf, sizeof buf, "index=%" PRIu64 "%s hint=(%" PRIu64 ",t%" PRIu64 ")", r.a,
                    r.b != 0 ? " REJECTED" : "", r.c, r.d);
      break;
    case 2:
      std::snprintf(buf, sizeof buf, "%s last=(%" PRIu64 ",t%" PRIu64 ")%s",
                    r.a == 0 ? "prevote" : "vote", r.b, r.c, r.d != 0 ? " transfer" : "");
      break;
    case 3:
      std::snprintf(buf, sizeof buf, "%s %s", r.a == 0 ? "prevote" : "vote",
                    r.b != 0 ? "granted" : "denied");
      break;
    case 4:
      std::snprintf(buf, sizeof buf, "commit=%" PRIu64 " read=%" PRIu64 " tick=%" PRIu64, r.a, r.b,
                    r.c);
      break;
    case 5:
      std::snprintf(buf, sizeof buf, "read=%" PRIu64 " tick=%" PRIu64, r.a, r.b);
      break;
    case 6:
      std::snprintf(buf, sizeof buf, "snapshot=(%" PRIu64 ",t%" PRIu64 ")", r.a, r.b);
      break;
    case 8:
      std::snprintf(buf, sizeof buf, "read=%" PRIu64, r.a);
      break;
    case 9:
      std::snprintf(buf, sizeof buf, "read=%" PRIu64 " index=%" PRIu64, r.a, r.b);
      break;
    case 10:
      std::snprintf(buf, sizeof buf, "target=n%" PRIu64, r.a);
      break;
    case 11:
      std::snprintf(buf, sizeof buf, "index=%" PRIu64 " commit=%" PRIu64, r.a, r.b);
      break;
    default:
      buf[0] = '\0';
  }
  return buf;
}

}  // namespace

void Trace::Add(const TraceRecord& r) {
  ring_[added_ % kTraceCapacity] = r;
  ++added_;
  if (verbose_) std::fprintf(stderr, "%s\n", Format(r).c_str());
}

TraceRecord Trace::ForMessage(Time t, TraceKind kind, int group, const raft::Message& m) {
  TraceRecord r;
  r.time = t;
  r.kind = kind;
  r.group = group;
  r.node = static_cast<int16_t>(m.to.value() - 1);
  r.msg_type = static_cast<uint8_t>(m.body.index());
  r.from = m.from.value();
  r.to = m.to.value();
  r.term = m.term.value();
  std::visit(
      [&r](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, raft::AppendRequest>) {
          r.a = b.prev_index.value();
          r.b = b.prev_term.value();
          r.c = b.commit.value();
          r.d = b.entries.size();
        } else if constexpr (std::is_same_v<T, raft::AppendResponse>) {
          r.a = b.index.value();
          r.b = b.rejected ? 1 : 0;
          r.c = b.reject_hint.value();
          r.d = b.hint_term.value();
        } else if constexpr (std::is_same_v<T, raft::VoteRequest>) {
          r.a = b.kind == raft::ElectionKind::kVote ? 1 : 0;
          r.b = b.last_index.value();
          r.c = b.last_term.value();
          r.d = b.leader_transfer ? 1 : 0;
        } else if constexpr (std::is_same_v<T, raft::VoteResponse>) {
          r.a = b.kind == raft::ElectionKind::kVote ? 1 : 0;
          r.b = b.granted ? 1 : 0;
        } else if constexpr (std::is_same_v<T, raft::Heartbeat>) {
          r.a = b.commit.value();
          r.b = b.read_id.value();
          r.c = b.leader_tick;
        } else if constexpr (std::is_same_v<T, raft::HeartbeatResponse>) {
          r.a = b.read_id.value();
          r.b = b.leader_tick;
        } else if constexpr (std::is_same_v<T, raft::InstallSnapshot>) {
          r.a = b.meta.index.value();
          r.b = b.meta.term.value();
        } else if constexpr (std::is_same_v<T, raft::ReadIndexRequest>) {
          r.a = b.read_id.value();
        } else if constexpr (std::is_same_v<T, raft::ReadIndexResponse>) {
          r.a = b.read_id.value();
          r.b = b.index.value();
        } else if constexpr (std::is_same_v<T, raft::TransferLeaderRequest>) {
          r.a = b.target.value();
        } else if constexpr (std::is_same_v<T, raft::Hibernate>) {
          r.a = b.index.value();
          r.b = b.commit.value();
        }
      },
      m.body);
  return r;
}

std::string Trace::Format(const TraceRecord& r) {
  char head[64];
  std::snprintf(head, sizeof head, "t=%" PRIu64 ".%03" PRIu64 "ms ", r.time / 1000, r.time % 1000);
  std::string out = head;
  char buf[200];
  switch (r.kind) {
    case TraceKind::kDeliver:
    case TraceKind::kDrop:
      std::snprintf(buf, sizeof buf, "%s g%d n%" PRIu64 "->n%" PRIu64 " %s term=%" PRIu64 " ",
                    r.kind == TraceKind::kDeliver ? "deliver" : "DROP", r.group, r.from, r.to,
                    kMessageNames[r.msg_type], r.term);
      out += buf;
      out += FormatMessageDetails(r);
      return out;
    case TraceKind::kSync:
      std::snprintf(buf, sizeof buf, "sync n%d writes=%" PRIu64, r.node + 1, r.a);
      break;
    case TraceKind::kRole:
      std::snprintf(buf, sizeof buf, "role g%d n%d term=%" PRIu64 " %s leader=n%" PRIu64 "%s",
                    r.group, r.node + 1, r.term, kRoleNames[r.a & 3], r.b,
                    r.c != 0 ? " hibernating" : "");
      break;
    case TraceKind::kPropose:
      std::snprintf(buf, sizeof buf, "propose g%d n%d -> %s index=%" PRIu64 " err=%" PRIu64,
                    r.group, r.node + 1, r.b == 0 ? "ok" : "failed", r.a, r.b == 0 ? 0 : r.b - 1);
      break;
    case TraceKind::kRead:
      std::snprintf(buf, sizeof buf, "read_index g%d n%d id=%" PRIu64 " known_commit=%" PRIu64,
                    r.group, r.node + 1, r.a, r.b);
      break;
    case TraceKind::kReadState:
      std::snprintf(buf, sizeof buf, "read_state g%d n%d id=%" PRIu64 " index=%" PRIu64 " %s",
                    r.group, r.node + 1, r.a, r.b, r.c == 0 ? "ready" : "dropped");
      break;
    case TraceKind::kTransfer:
      std::snprintf(buf, sizeof buf, "transfer g%d at n%d to n%" PRIu64, r.group, r.node + 1, r.a);
      break;
    case TraceKind::kConfChange:
      std::snprintf(buf, sizeof buf,
                    "conf_change g%d at n%d -> index=%" PRIu64 " err=%" PRIu64 " (%" PRIu64
                    " steps)",
                    r.group, r.node + 1, r.a, r.b, r.c);
      break;
    case TraceKind::kCompact:
      std::snprintf(buf, sizeof buf, "compact g%d n%d through=%" PRIu64, r.group, r.node + 1, r.a);
      break;
    case TraceKind::kCrash:
      std::snprintf(buf, sizeof buf, "CRASH n%d (lost %" PRIu64 " unsynced writes)", r.node + 1,
                    r.a);
      break;
    case TraceKind::kRestart:
      std::snprintf(buf, sizeof buf, "RESTART n%d", r.node + 1);
      break;
    case TraceKind::kFault:
      std::snprintf(buf, sizeof buf,
                    "faults drop=%" PRIu64 "ppm dup=%" PRIu64 "ppm blocked_links=%" PRIu64
                    " spike=%" PRIu64 "ppm",
                    r.a, r.b, r.c, r.d);
      break;
    case TraceKind::kWakeUp:
      std::snprintf(buf, sizeof buf, "wake_up g%d n%d (leader n%" PRIu64 " suspected)", r.group,
                    r.node + 1, r.a);
      break;
    case TraceKind::kCampaign:
      std::snprintf(buf, sizeof buf, "campaign g%d n%d", r.group, r.node + 1);
      break;
  }
  out += buf;
  return out;
}

std::string Trace::Dump() const {
  std::string out;
  const uint64_t n = added_ < kTraceCapacity ? added_ : kTraceCapacity;
  for (uint64_t i = added_ - n; i < added_; ++i) {
    out += "  ";
    out += Format(ring_[i % kTraceCapacity]);
    out += '\n';
  }
  return out;
}

}  // namespace claw::sim
