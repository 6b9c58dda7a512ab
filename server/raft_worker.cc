#include "server/raft_worker.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/codec.h"
#include "server/group.h"
#include "server/metrics.h"
#include "server/replica_id.h"
#include "server/split_key.h"
#include "storage/key_codec.h"
#include "server/store.h"
#include "server/thread_name.h"
#include "storage/snapshot.h"
#include "storage/mvcc.h"

namespace claw::server {
namespace {

using Clock = std::chrono::steady_clock;

// How long log compaction spares a snapshot sent to a peer (Group::snapshot_holds): at most this
// long while it streams, then this long for the peer to install it and answer.
constexpr auto kSnapshotHoldWhileSending = std::chrono::minutes(10);
constexpr auto kSnapshotHoldAfterSending = std::chrono::seconds(30);

RequestError Unavailable(std::string message, bool definite) {
  return MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE, std::move(message), definite);
}

// A key for logs: printable ASCII as is, other bytes as \xNN, at most 64 bytes shown.
std::string PrintableKey(std::string_view key) {
  std::string out = "\"";
  for (size_t i = 0; i < key.size() && i < 64; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (key.size() > 64) out += "...";
  return out + "\"";
}

const char* RoleName(raft::Role r) {
  switch (r) {
    case raft::Role::kLeader: return "leader";
    case raft::Role::kCandidate: return "candidate";
    case raft::Role::kPreCandidate: return "pre-candidate";
    case raft::Role::kFollower: return "follower";
  }
  return "?";
}

}  // namespace

RequestError MakeError(RpcCode rpc, v1::Error::Code code, std::string message, bool definite) {
  RequestError e{.rpc = rpc, .definite = definite};
  e.detail.set_code(code);
  e.detail.set_message(std::move(message));
  return e;
}

RaftWorker::RaftWorker(Store* store, int index) : store_(store), index_(index) {}

RaftWorker::~RaftWorker() { Stop(); }

void RaftWorker::Stop() {
  std::vector<Event> left;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    left.swap(inbox_);
  }
  // Fail whatever is still waiting, so that no gRPC call hangs.
  for (auto& [id, g] : groups_) {
    for (auto& [index, p] : g->proposals) {
      if (!p.answered) p.done(std::unexpected(Unavailable("node shutting down; the write may or may not be applied", false)));
    }
    g->proposals.clear();
    for (auto& [rid, r] : g->reads) r.request.done(std::unexpected(Unavailable("node shutting down", true)));
    g->reads.clear();
    for (Group::Transfer& t : g->transfers) t.done(std::unexpected(Unavailable("node shutting down", true)));
    g->transfers.clear();
    FailReplicationWaits(g.get(), Unavailable("node shutting down", true));
    EndWatchers(g.get(), Unavailable("node " + std::to_string(store_->options_.node_id) + " is shutting down; watch elsewhere", true),
                WatchEnd::kShutdown);
  }
  deferred_.clear();
  for (Event& e : left) FailClientRequest(e);
}

void RaftWorker::FailClientRequest(Event& e) {
  if (auto* p = std::get_if<ProposalRequest>(&e)) p->done(std::unexpected(Unavailable("node shutting down", true)));
  if (auto* r = std::get_if<ReadRequest>(&e)) r->done(std::unexpected(Unavailable("node shutting down", true)));
}

void RaftWorker::AddGroup(std::unique_ptr<Group> group) {
  Group* g = group.get();
  if (auto old = groups_.find(g->id); old != groups_.end()) {
    awake_.erase(old->second.get());
    dirty_.erase(old->second.get());
    destroying_.erase(old->second.get());
  }
  groups_[g->id] = std::move(group);
  dirty_.insert(g);
  awake_.insert(g);
}

void RaftWorker::Start() {
  next_tick_ = Clock::now() + std::chrono::milliseconds(store_->options().tick_ms);
  thread_ = std::thread([this] { Run(); });
}

bool RaftWorker::Post(Event event) {
  const bool is_message = std::holds_alternative<GroupMessage>(event);
  {
    std::unique_lock lock(mu_);
    if (stopped_) {
      lock.unlock();
      FailClientRequest(event);
      return true;
    }
    if (is_message) {
      if (inbox_messages_ >= store_->options().max_mailbox_messages) return false;
      ++inbox_messages_;
    }
    inbox_.push_back(std::move(event));
  }
  cv_.notify_one();
  return true;
}

std::vector<Group*> RaftWorker::groups() {
  std::vector<Group*> out;
  for (auto& [id, g] : groups_) out.push_back(g.get());
  return out;
}

Group* RaftWorker::Find(uint64_t group) {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : it->second.get();
}

void RaftWorker::Run() {
  NameThisThread("raft-worker-" + std::to_string(index_));
  std::vector<Event> events;
  const auto tick = std::chrono::milliseconds(store_->options().tick_ms);
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_tick_, [this] { return stopping_ || !inbox_.empty(); });
      if (stopping_) return;
      events.swap(inbox_);
      inbox_messages_ = 0;
    }
    const Clock::time_point now = Clock::now();
    last_loop_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    for (Event& e : events) HandleEvent(e, now);
    events.clear();
    ProposePacks();
    if (now >= next_tick_) {
      store_->metrics_->slow.RecordTickLag(now - next_tick_);
      Tick(now);
      // Deliver missed ticks (a stalled worker must catch up before it serves lease reads), but
      // never more than an election timeout's worth at once.
      int missed = 0;
      while (next_tick_ <= now && missed < store_->options().election_ticks) {
        next_tick_ += tick;
        ++missed;
      }
      if (next_tick_ <= now) next_tick_ = now + tick;
    }
    ProcessReadies();
    DestroyRemoved();
  }
}

void RaftWorker::HandleEvent(Event& event, Clock::time_point now) {
  std::visit(
      [&](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, GroupMessage>) {
          HandleMessage(e, now);
        } else if constexpr (std::is_same_v<T, ProposalRequest>) {
          HandleProposal(e);
        } else if constexpr (std::is_same_v<T, ReadRequest>) {
          HandleRead(e, now);
        } else if constexpr (std::is_same_v<T, Persisted>) {
          HandlePersisted(e);
        } else {
          e(*this);
        }
      },
      event);
}

void RaftWorker::HandleMessage(GroupMessage& m, Clock::time_point now) {
  Group* g = Find(m.group);
  if (m.gone_conf_version != 0) {
    HandleReplicaGone(g, m);
    return;
  }
  if (m.member_query) {
    // Whichever replica of ours was addressed (the asker's view may be old), ours judges by its
    // applied configuration; never creates a replica.
    if (g != nullptr && !g->destroy) MaybeSendGone(g, m.message.from.value(), now);
    return;
  }
  if (g == nullptr) {
    g = CreateReplica(m);
    if (g == nullptr) return;
  }
  // To another replica id of ours. An older one: dropped. A newer one: the group added this node
  // again, which its leader only does once the removal of our replica committed (a node hosts one
  // replica of a shard) — but a removed learner never hears so, as nobody sends to it any more.
  // Destroy it now; the leader's next message creates the new one.
  if (m.message.to.value() != g->self) {
    if (ReplicaNode(m.message.to.value()) == store_->options_.node_id && m.message.to.value() > g->self &&
        !g->destroy) {
      SPDLOG_INFO("shard {}: replica {} of this node is addressed; the older replica {} was removed, destroying it",
                  g->id, m.message.to.value(), g->self);
      MarkForDestroy(g);
    }
    return;
  }
  if (g->destroy) return;
  // A node shutting down refuses leaderships handed to it (its peers also stop choosing it).
  if (std::holds_alternative<raft::TimeoutNow>(m.message.body) && !store_->accepting_.load()) return;
  const bool from_leader = std::holds_alternative<raft::AppendRequest>(m.message.body) ||
                           std::holds_alternative<raft::Heartbeat>(m.message.body) ||
                           std::holds_alternative<raft::Hibernate>(m.message.body);
  if (from_leader && m.message.term >= g->replica->term()) g->last_leader_contact = now;
  MaybeSendGone(g, m.message.from.value(), now);
  g->replica->Step(std::move(m.message));
  dirty_.insert(g);
}

Group* RaftWorker::CreateReplica(const GroupMessage& m) {
  const uint64_t to = m.message.to.value();
  // Only a leader's traffic creates a replica: a learner added by a membership change hears
  // first from the leader, which then sends it a snapshot (logs start after index 5, so a new
  // replica always needs one).
  const bool from_leader = std::holds_alternative<raft::AppendRequest>(m.message.body) ||
                           std::holds_alternative<raft::Heartbeat>(m.message.body);
  // Generation 0 replicas come from bootstrap or a split, both created locally by the log; a
  // message to one that does not exist (a split this node has not applied yet) waits.
  if (!from_leader || ReplicaNode(to) != store_->options_.node_id || ReplicaGeneration(to) == 0 ||
      !store_->accepting_.load()) {
    return nullptr;
  }
  auto tombstone = storage::ReplicaTombstone(*store_->engine_, m.group);
  if (!tombstone) {
    SPDLOG_ERROR("shard {}: reading the replica tombstone failed: {}", m.group, tombstone.error().message);
    return nullptr;
  }
  if (to <= *tombstone) return nullptr;  // a destroyed replica (or older): never again
  auto g = store_->CreateUninitializedGroup(m.group, to);
  if (!g) {
    SPDLOG_ERROR("shard {}: creating replica {} failed: {}", m.group, to, g.error());
    return nullptr;
  }
  SPDLOG_INFO("shard {}: created replica {} (generation {}) for a membership change; waiting for a snapshot",
              m.group, to, ReplicaGeneration(to));
  Group* raw = g->get();
  AddGroup(std::move(*g));
  return raw;
}

void RaftWorker::MaybeSendGone(Group* g, uint64_t from, Clock::time_point now) {
  // `from` is garbage when the applied configuration, which is at least as new as the one that
  // added it (its generation says when), does not list it: it was removed, or added by an entry
  // that never committed. Tell it, at most once a second.
  if (!g->initialized || !RemovedBy(g->desc, from) || raft::IsMember(g->replica->conf(), raft::NodeId(from))) {
    return;
  }
  auto& last = g->gone_sent[from];
  if (now - last < std::chrono::seconds(1)) return;
  last = now;
  SPDLOG_INFO("shard {}: replica {} on node {} is not a member at conf version {}; telling it", g->id,
              from, ReplicaNode(from), g->desc.epoch().conf_version());
  std::vector<GroupMessage> out;
  out.push_back(GroupMessage{.group = g->id,
                             .message = raft::Message{.from = raft::NodeId(g->self), .to = raft::NodeId(from)},
                             .gone_conf_version = g->desc.epoch().conf_version()});
  store_->transport_->Send(ReplicaNode(from), std::move(out));
}

void RaftWorker::HandleReplicaGone(Group* g, const GroupMessage& m) {
  if (g == nullptr || g->self != m.message.to.value() || g->destroy) return;
  if (g->initialized && g->desc.epoch().conf_version() >= m.gone_conf_version) return;  // we know better
  SPDLOG_INFO("shard {}: replica {} is not a member at conf version {} (told by replica {}); removing it",
              g->id, g->self, m.gone_conf_version, m.message.from.value());
  MarkForDestroy(g);
}

RequestError RaftWorker::NotLeader(Group* g) {
  RequestError e = MakeError(RpcCode::kUnavailable, v1::Error::NOT_LEADER,
                             "node " + std::to_string(store_->options_.node_id) +
                                 " does not lead shard " + std::to_string(g->id));
  const uint64_t leader = g->NodeOf(g->soft.leader.value());
  if (leader != 0) {
    e.detail.mutable_leader()->set_node_id(leader);
    e.detail.mutable_leader()->set_address(store_->router_->ClientAddress(leader));
  } else {
    e.detail.set_retry_after_ms(store_->options_.tick_ms * 2);
  }
  *e.detail.add_shards() = g->desc;
  return e;
}

v1::ResponseHeader RaftWorker::Header(Group* g) {
  v1::ResponseHeader h;
  h.set_shard_id(g->id);
  *h.mutable_epoch() = g->desc.epoch();
  h.set_node_id(store_->options_.node_id);
  h.set_applied_index(g->fsm->state().applied_index);
  return h;
}

std::optional<RequestError> RaftWorker::Check(Group* g, uint64_t shard, bool check_epoch,
                                              const v1::Epoch& epoch,
                                              const std::vector<std::string>& keys,
                                              bool need_leader) {
  if (g == nullptr || !g->initialized) {
    return MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                     "node " + std::to_string(store_->options_.node_id) + " hosts no replica of shard " +
                         std::to_string(shard));
  }
  if (check_epoch && (epoch.conf_version() != g->desc.epoch().conf_version() ||
                      epoch.range_version() != g->desc.epoch().range_version())) {
    RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::EPOCH_MISMATCH,
                               "shard " + std::to_string(g->id) + " has a newer epoch");
    *e.detail.add_shards() = g->desc;
    return e;
  }
  for (const std::string& k : keys) {
    if (!InRange(g->desc, k)) {
      RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::KEY_OUT_OF_RANGE,
                                 "a key lies outside shard " + std::to_string(g->id));
      *e.detail.add_shards() = g->desc;
      return e;
    }
  }
  if (need_leader && !g->IsLeader()) return NotLeader(g);
  return std::nullopt;
}

void RaftWorker::HandleProposal(ProposalRequest& p) {
  Group* g = Find(p.shard);
  if (auto err = Check(g, p.shard, p.check_epoch, p.epoch, p.keys, true)) {
    p.done(std::unexpected(std::move(*err)));
    return;
  }
  ++g->leader_requests;
  ++g->leader_writes;
  const std::string& rid = p.command.request_id();
  if (!rid.empty()) {
    if (const v1::TxnResponse* dup = g->fsm->FindDuplicate(rid)) {
      p.done(ProposalResult{.result = *dup, .header = Header(g)});
      return;
    }
  }
  if (store_->NoSpace()) {
    // Nothing new is proposed here while this node cannot write: the write fails definitely and
    // leadership moves to a replica on a node with space, where a retry can succeed.
    store_->metrics_->proposals_failed.Increment();
    p.done(std::unexpected(MakeError(
        RpcCode::kResourceExhausted, v1::Error::NO_SPACE,
        "node " + std::to_string(store_->options_.node_id) +
            "'s disk is full; the write was not proposed. Leadership of shard " + std::to_string(g->id) +
            " is moving to a node with space; free space in this node's data directory")));
    HandOffForSpace(g);
    return;
  }
  p.command.set_ts(store_->clock_->Now().value());
  std::string data = p.command.SerializeAsString();
  if (data.size() > store_->options_.max_command_bytes) {
    p.done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::TOO_LARGE,
                                     "the encoded command has " + std::to_string(data.size()) +
                                         " bytes; the limit is " +
                                         std::to_string(store_->options_.max_command_bytes))));
    return;
  }
  PendingProposal pending{.durability = p.durability, .deadline = p.deadline, .done = std::move(p.done)};
  if (!p.command.has_batch() && !p.command.has_txn()) {
    // Not a client write (a lease revoke, a meta command): its own entry, after what this round
    // packed so far.
    ProposePack(g);
    std::vector<std::pair<std::string, PendingProposal>> one;
    one.emplace_back(std::move(data), std::move(pending));
    ProposeEntry(g, std::move(one));
    return;
  }
  // Client writes wait for the round's end and go as one entry (each packed entry at most
  // max_command_bytes, framing included, and 256 commands).
  const size_t framed = data.size() + 8;  // PackedCommands' tag and length per command, at most
  if (!g->pack.empty() && (g->pack_bytes + framed > store_->options_.max_command_bytes || g->pack.size() >= 256)) {
    ProposePack(g);
  }
  if (g->pack.empty()) packing_.push_back(g);
  g->pack_bytes += framed;
  g->pack.emplace_back(std::move(data), std::move(pending));
}

void RaftWorker::ProposePack(Group* g) {
  if (g->pack.empty()) return;
  std::vector<std::pair<std::string, PendingProposal>> pack;
  pack.swap(g->pack);
  g->pack_bytes = 0;
  ProposeEntry(g, std::move(pack));
}

void RaftWorker::ProposePacks() {
  for (Group* g : packing_) ProposePack(g);
  packing_.clear();
}

void RaftWorker::ProposeEntry(Group* g, std::vector<std::pair<std::string, PendingProposal>> commands) {
  std::string data;
  if (commands.size() == 1) {
    data = std::move(commands.front().first);
  } else {
    v1::RaftCommand packed;
    for (auto& [command, pending] : commands) packed.mutable_packed()->add_commands(std::move(command));
    data = packed.SerializeAsString();
    store_->metrics_->proposals_packed.Increment(static_cast<double>(commands.size()));
  }
  auto fail = [&](const RequestError& e) {
    store_->metrics_->proposals_failed.Increment(static_cast<double>(commands.size()));
    for (auto& [command, pending] : commands) pending.done(std::unexpected(e));
  };
  auto index = g->replica->Propose(std::move(data));
  if (!index) {
    switch (index.error()) {
      case raft::ProposeError::kNotLeader:
        return fail(NotLeader(g));
      case raft::ProposeError::kUncommittedLimit: {
        RequestError e = MakeError(RpcCode::kResourceExhausted, v1::Error::OVERLOADED,
                                   "shard " + std::to_string(g->id) + " has too many uncommitted writes");
        e.detail.set_retry_after_ms(store_->options_.tick_ms);
        return fail(e);
      }
      default: {
        RequestError e = Unavailable("shard " + std::to_string(g->id) +
                                         " cannot take writes right now (new leader or transfer)",
                                     true);
        e.detail.set_retry_after_ms(store_->options_.tick_ms);
        return fail(e);
      }
    }
  }
  for (auto& [command, pending] : commands) {
    pending.term = g->replica->term();
    g->proposals.emplace(index->value(), std::move(pending));
  }
  dirty_.insert(g);
}

void RaftWorker::HandleRead(ReadRequest& r, Clock::time_point now) {
  Group* g = Find(r.shard);
  const bool stale = r.consistency == v1::STALE;
#ifdef CLAW_BREAK_SERVE_LOCAL_READS
  // POSITIVE CONTROL, never in clawd: only tests/fault's clawd_broken_local_reads defines it.
  // Serves a LINEARIZABLE read from this replica at once, without leadership, ReadIndex or lease;
  // the fault suite must catch the stale reads (tests/fault/README.md).
  if (!stale) {
    if (auto err = Check(g, r.shard, r.check_epoch, r.epoch, r.keys, false)) {
      r.done(std::unexpected(std::move(*err)));
      return;
    }
    r.done(ReadContext{.engine = store_->engine_, .shard = g->desc, .header = Header(g)});
    return;
  }
#endif
  if (auto err = Check(g, r.shard, r.check_epoch, r.epoch, r.keys, !stale)) {
    r.done(std::unexpected(std::move(*err)));
    return;
  }
  if (stale) {
    const uint64_t bound_ms = r.max_staleness_ms != 0 ? r.max_staleness_ms : store_->options_.max_staleness_ms;
    g->stale_wanted = now;
    if (!FreshWithin(g, now, bound_ms)) {
      MaybeProbe(g, now);
      // A probe in flight will show the replica current (or not) within a round trip: wait for
      // it, up to an election timeout (a lost probe is replaced after that) or the deadline.
      if (g->probe_id != 0 && !g->soft.hibernating) {
        auto give_up = now + ElectionTimeout();
        if (r.deadline != Clock::time_point{}) give_up = std::min(give_up, r.deadline);
        g->stale_reads.emplace_back(give_up, std::move(r));
        return;
      }
      r.done(std::unexpected(NotCurrent(g, bound_ms)));
      return;
    }
    r.done(ReadContext{.engine = store_->engine_, .shard = g->desc, .header = Header(g)});
    return;
  }
  ++g->leader_requests;
  const uint64_t id = g->next_read_id++;
  g->reads[id] = WaitingRead{.index = 0, .request = std::move(r)};
  g->replica->ReadIndex(raft::ReadId(id));
  dirty_.insert(g);
}

void RaftWorker::HandlePersisted(Persisted& p) {
  Group* g = Find(p.group);
  if (g == nullptr) return;
  --g->writes_in_flight;
  g->log->OnWritten(p.write);
  if (p.write.write_id != 0) g->replica->OnPersisted(p.write.write_id);  // 0: a compaction
  // Durability LEADER: acknowledge proposals whose entry is now durable here.
  const uint64_t last = g->log->LastIndex().value();
  for (auto it = g->proposals.begin(); it != g->proposals.end() && it->first <= last; ++it) {
    PendingProposal& pp = it->second;
    if (pp.durability != v1::LEADER || pp.answered) continue;
    auto term = g->log->TermAt(raft::LogIndex(it->first));
    if (!term || *term != pp.term) continue;
    pp.answered = true;
    v1::TxnResponse result;
    result.set_succeeded(true);
    pp.done(ProposalResult{.result = std::move(result), .header = Header(g)});
  }
  dirty_.insert(g);
}

void RaftWorker::Tick(Clock::time_point now) {
  ++ticks_;
  TickWatchers();
  const auto dead_after = std::chrono::milliseconds(store_->options_.node_dead_after_ms);
  RunDeferred(now);
  // Liveness per node once per tick, not per group: a hibernating follower only needs to know
  // whether its leader's node went silent (asking the transport per group took its lock
  // thousands of times a tick).
  std::vector<std::pair<uint64_t, bool>> silent;  // (node, silent), a few entries
  auto is_silent = [&](uint64_t node) {
    for (const auto& [n, s] : silent) {
      if (n == node) return s;
    }
    const bool s = now - store_->transport_->LastHeard(node) > dead_after;
    silent.emplace_back(node, s);
    return s;
  };
  // Every 5th tick visits every group (a sweep); the others only the awake set: groups not
  // hibernating or with something in flight at the last sweep, plus every group stepped since
  // (ProcessReadies adds them). A hibernating group's one duty here is noticing a silent leader
  // node, which takes node_dead_after_ms anyway. At 10,000 shards per node, touching every group
  // every tick was most of an idle node's CPU (cache misses, not work).
  // Returns whether the group stays in the awake set.
  // A node whose disk is full hands its leaderships away (checked on sweeps).
  const bool no_space = ticks_ % 5 == 0 && store_->NoSpace();
  auto visit = [&](Group* g) {
    if (no_space && g->IsLeader()) HandOffForSpace(g);
    if (ticks_ % 10 == 0) g->fsm->TrimHeaderCache();  // a sweep: idle shards free their share
    // A leader still acknowledged by a quorum knows the group's commit index now (bounded-
    // staleness reads: FreshWithin).
    if (g->IsLeader() && !g->soft.hibernating && g->replica->TicksSinceQuorumAck() <= 1) {
      NoteLeaderCommit(g, now, g->replica->commit().value());
    } else if (!g->IsLeader() && !g->soft.hibernating && now - g->stale_wanted < std::chrono::seconds(10)) {
      MaybeProbe(g, now);
    }
    if (!g->proposals.empty() || !g->reads.empty()) ExpireDeadlines(g, now);
    if (!g->stale_reads.empty()) ServeParkedStaleReads(g, now);
    if (!g->transfers.empty()) CheckTransfers(g, now);
    if (!g->replication_waits.empty()) CheckReplicationWaits(g, now);
    if (g->campaign_at_tick != 0 && ticks_ >= g->campaign_at_tick) {
      g->campaign_at_tick = 0;
      if (g->replica->term().IsZero()) g->replica->Campaign();
    }
    if (ticks_ % 10 == 0 && g->IsLeader()) MaybeExportSnapshot(g);
    if (!g->soft.hibernating) {
      g->replica->Tick();
      dirty_.insert(g);
      return true;
    }
    // A sleeping follower cannot notice a dead leader by itself: node liveness does it.
    if (!g->IsLeader()) {
      const uint64_t leader_node = g->NodeOf(g->soft.leader.value());
      if (leader_node != 0 && leader_node != store_->options_.node_id && is_silent(leader_node)) {
        SPDLOG_INFO("shard {}: leader's node {} silent for {} ms; waking to elect", g->id,
                    leader_node, dead_after.count());
        g->replica->WakeUp(raft::WakeReason::kLeaderSuspected);
        dirty_.insert(g);
        return true;
      }
    }
    return !g->proposals.empty() || !g->reads.empty() || !g->stale_reads.empty() || !g->transfers.empty() ||
           !g->replication_waits.empty() || g->campaign_at_tick != 0;
  };
  if (ticks_ % 5 == 0) {
    awake_.clear();
    for (auto& [id, gp] : groups_) {
      if (visit(gp.get())) awake_.insert(gp.get());
    }
  } else {
    for (auto it = awake_.begin(); it != awake_.end();) {
      it = visit(*it) ? std::next(it) : awake_.erase(it);
    }
  }
  if (ticks_ % 10 == 0) UpdateGauges(now);
}

void RaftWorker::UpdateGauges(Clock::time_point now) {
  const auto dead_after = std::chrono::milliseconds(store_->options_.node_dead_after_ms);
  const uint64_t self_node = store_->options_.node_id;
  Gauges out;
  for (auto& [id, gp] : groups_) {
    const Group* g = gp.get();
    if (!g->initialized || g->destroy) continue;
    const raft::ConfState& conf = g->replica->conf();
    const bool learner = std::find(conf.learners.begin(), conf.learners.end(), raft::NodeId(g->self)) !=
                         conf.learners.end();
    if (g->IsLeader()) {
      ++out.leader;
      const bool voter_silent = std::any_of(conf.voters.begin(), conf.voters.end(), [&](raft::NodeId v) {
        const uint64_t node = g->NodeOf(v.value());
        return node != self_node && now - store_->transport_->LastHeard(node) > dead_after;
      });
      if (voter_silent) ++out.under_replicated;
    } else if (learner) {
      ++out.learner;
    } else if (g->soft.role == raft::Role::kFollower) {
      ++out.follower;
    } else {
      ++out.candidate;  // pre-candidate or candidate
    }
    if (g->soft.leader.IsZero()) ++out.without_leader;
    if (g->soft.hibernating) ++out.hibernating;
  }
  std::lock_guard lock(gauges_mu_);
  gauges_ = out;
}

RaftWorker::Gauges RaftWorker::gauges() const {
  std::lock_guard lock(gauges_mu_);
  return gauges_;
}

void RaftWorker::ExpireDeadlines(Group* g, Clock::time_point now) {
  {
    for (auto& [index, p] : g->proposals) {
      if (p.answered || p.deadline == Clock::time_point{} || now < p.deadline) continue;
      p.answered = true;
      p.done(std::unexpected(MakeError(RpcCode::kDeadlineExceeded, v1::Error::UNAVAILABLE,
                                       "deadline exceeded while the write was being replicated; it "
                                       "may or may not be applied",
                                       false)));
    }
    for (auto it = g->reads.begin(); it != g->reads.end();) {
      const auto deadline = it->second.request.deadline;
      if (deadline != Clock::time_point{} && now >= deadline) {
        it->second.request.done(std::unexpected(MakeError(
            RpcCode::kDeadlineExceeded, v1::Error::UNAVAILABLE, "deadline exceeded waiting for a read point")));
        it = g->reads.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void RaftWorker::OnLeadershipLost(Group* g) {
  store_->metrics_->proposals_failed.Increment(static_cast<double>(g->proposals.size()));
  for (auto& [index, p] : g->proposals) {
    if (p.answered) continue;
    p.done(std::unexpected(Unavailable("shard " + std::to_string(g->id) +
                                           " lost its leader while the write was in flight; it may "
                                           "or may not be applied: retry with the same request id",
                                       false)));
  }
  g->proposals.clear();
  for (auto& [id, r] : g->reads) {
    r.request.done(std::unexpected(NotLeader(g)));
  }
  g->reads.clear();
}

void RaftWorker::ProcessReadies() {
  // An apply batch the disk had no room for is written first; nothing else moves until it is.
  if (!round_.groups.empty()) {
    FlushApplies();
    if (!round_.groups.empty()) return;
  }
  // A round may release held replies (OnPersisted, OnApplied) that make new Readies: loop a few
  // times, then leave the rest for the next round.
  for (int pass = 0; pass < 4 && !dirty_.empty(); ++pass) {
    std::unordered_map<uint64_t, std::vector<GroupMessage>> outbox;
    std::vector<Group*> current(dirty_.begin(), dirty_.end());
    awake_.insert(current.begin(), current.end());  // anything stepped may have woken up
    dirty_.clear();
    for (Group* g : current) {
      if (g->replica->HasReady()) HandleReady(g, outbox);
    }
    for (auto& [node, msgs] : outbox) store_->transport_->Send(node, std::move(msgs));
    FlushApplies();
    for (Group* g : current) {
      // An acknowledgement stepped this round may have completed a replication wait; one that
      // only moved a follower's match (the commit had its quorum already) makes no Ready.
      if (!g->replication_waits.empty()) CheckReplicationWaits(g, Clock::now());
      if (g->replica->HasReady()) dirty_.insert(g);
    }
    if (!round_.groups.empty()) return;  // out of space: see WriteApplies
  }
}

void RaftWorker::HandleReady(Group* g, std::unordered_map<uint64_t, std::vector<GroupMessage>>& outbox) {
  raft::Ready r = g->replica->TakeReady();
  if (r.soft_state) {
    const raft::SoftState before = g->soft;
    g->soft = *r.soft_state;
    if (before.leader != g->soft.leader && !g->soft.leader.IsZero()) store_->metrics_->leader_changes.Increment();
    if (before.leader != g->soft.leader || before.role != g->soft.role) {
      const uint64_t leader_node = g->NodeOf(g->soft.leader.value());
      store_->router_->SetLeader(g->id, leader_node);
      if (g->soft.role == raft::Role::kLeader || before.role == raft::Role::kLeader || leader_node != 0) {
        SPDLOG_INFO("shard {}: {} at term {}, leader node {}", g->id, RoleName(g->soft.role),
                    g->replica->term().value(), leader_node);
      } else {
        SPDLOG_DEBUG("shard {}: {} at term {}", g->id, RoleName(g->soft.role), g->replica->term().value());
      }
    }
    if (before.role == raft::Role::kLeader && g->soft.role != raft::Role::kLeader) OnLeadershipLost(g);
    if (g->id == kMetaShard && g->IsLeader() && before.role != raft::Role::kLeader) {
      store_->meta_leader_since_.store(Clock::now().time_since_epoch().count());
    }
  }
  if (r.HasWrite()) {
    if (r.snapshot) InstallSnapshot(g, *r.snapshot);
    storage::GroupWrite w = g->log->PrepareWrite(r);
    const uint64_t group = g->id;
    ++g->writes_in_flight;
    const Clock::time_point submitted = Clock::now();
    store_->log_writer_->Submit(std::move(w), [this, group, submitted](storage::GroupWrite& done) {
      store_->metrics_->log_append_duration.Observe(
          std::chrono::duration<double>(Clock::now() - submitted).count());
      Post(Persisted{.group = group, .write = std::move(done)});
    });
  }
  for (raft::Message& m : r.messages) {
    const uint64_t node = g->NodeOf(m.to.value());
    if (node == 0 || node == store_->options_.node_id) continue;
    if (std::holds_alternative<raft::InstallSnapshot>(m.body)) {
      SendSnapshot(g, node, std::move(m));
      continue;
    }
    outbox[node].push_back(GroupMessage{.group = g->id, .message = std::move(m)});
  }
  if (!r.committed_entries.empty()) ApplyEntries(g, r.committed_entries);
  for (const raft::ReadState& rs : r.read_states) {
    if (g->probe_id != 0 && rs.id.value() == g->probe_id) {
      // A currency probe (MaybeProbe): the leader's commit index when it got the request, which
      // is at least the group's commit when we sent it.
      g->probe_id = 0;
      if (rs.status == raft::ReadStatus::kReady) NoteLeaderCommit(g, g->probe_sent, rs.index.value());
      continue;
    }
    auto it = g->reads.find(rs.id.value());
    if (it == g->reads.end()) continue;
    if (rs.status == raft::ReadStatus::kDropped) {
      it->second.request.done(std::unexpected(NotLeader(g)));
      g->reads.erase(it);
    } else {
      it->second.index = std::max<uint64_t>(rs.index.value(), 1);
    }
  }
  // Reads whose point is already applied (and written: a pass writes its applies before the
  // next one starts) are served now; the others once FlushApplies passes their index.
  if (!r.read_states.empty()) ServeReads(g);
}

void RaftWorker::ApplyEntries(Group* g, std::vector<raft::Entry>& entries) {
  if (round_.started == Clock::time_point{}) round_.started = Clock::now();
  store_->metrics_->proposals_applied.Increment(static_cast<double>(entries.size()));
  // One command's effects at `index` (each command of a packed entry in turn): its result, or
  // why every replica refused it.
  auto apply_command = [&](uint64_t index, const raft::Entry& e, const v1::RaftCommand& cmd, v1::TxnResponse& result,
                           std::optional<RequestError>& refused) {
    if (cmd.has_epoch() && cmd.epoch().range_version() != g->desc.epoch().range_version()) {
      // A split committed between proposal and apply: the keys may belong to another shard
      // now. Every replica sees the same descriptor at this index, so all skip it alike.
      g->fsm->ApplyEmpty(index, e.term.value());
      RequestError err = MakeError(RpcCode::kFailedPrecondition, v1::Error::EPOCH_MISMATCH,
                                   "shard " + std::to_string(g->id) +
                                       " split while the request was in flight; it was not applied");
      *err.detail.add_shards() = g->desc;
      refused = std::move(err);
    } else if (cmd.has_meta()) {
      g->fsm->ApplyEmpty(index, e.term.value());
      if (g->id == kMetaShard) {
        store_->meta_.Apply(cmd.meta(), round_.batch);
      } else {
        SPDLOG_ERROR("shard {}: ignoring a meta shard command at index {}", g->id, index);
      }
    } else if (cmd.has_split()) {
      g->fsm->ApplyEmpty(index, e.term.value());
      ApplySplit(g, index, cmd.split());
    } else if (cmd.has_consistency_check()) {
      g->fsm->ApplyEmpty(index, e.term.value());
      StartConsistencyCheck(g, index);
    } else if (cmd.has_lease_keys()) {
      if (g->id == kMetaShard || !InRange(g->desc, cmd.lease_keys().owner_key())) {
        // The meta leader walked to this shard with a stale directory: the key moved (a split).
        g->fsm->ApplyEmpty(index, e.term.value());
        RequestError err = MakeError(RpcCode::kFailedPrecondition, v1::Error::KEY_OUT_OF_RANGE,
                                     "shard " + std::to_string(g->id) + " no longer owns the key");
        *err.detail.add_shards() = g->desc;
        refused = std::move(err);
      } else {
        // Result: one delete_range count per lease id, then a get whose key is the shard's end
        // key at this entry (where the meta leader's walk continues; empty = the last shard).
        const std::vector<uint64_t> deleted =
            g->fsm->ApplyLeaseRevoke(index, e.term.value(), cmd, g->desc.start_key(), g->desc.end_key(), round_.batch);
        result.set_succeeded(true);
        uint64_t total = 0;
        for (uint64_t n : deleted) {
          result.add_results()->mutable_delete_range()->set_deleted(n);
          total += n;
        }
        result.add_results()->mutable_get()->mutable_kv()->set_key(g->desc.end_key());
        if (g->IsLeader()) store_->metrics_->lease_keys_deleted.Increment(static_cast<double>(total));
      }
    } else if (auto revoked = g->fsm->RevokedLeaseOf(cmd)) {
      // A put racing its lease's revoke: the revoke applied first, so the put must not create
      // a key nobody will delete. Every replica has the same revoked set at this index.
      g->fsm->ApplyEmpty(index, e.term.value());
      refused = MakeError(RpcCode::kNotFound, v1::Error::LEASE_NOT_FOUND,
                          "lease " + std::to_string(*revoked) + " was revoked; grant a new lease");
    } else {
      result = g->fsm->Apply(index, e.term.value(), cmd, round_.batch);
#ifdef CLAW_BREAK_DIVERGE_REPLICA
      DivergeOnce(g);
#endif
    }
    // Keep this node's clock above every applied version, so that its own proposals (should it
    // lead later) stamp above them. A timestamp too far ahead is not merged (HybridClock::Update
    // refuses it); the apply rule max(ts, last + 1) keeps versions ordered regardless.
    if (auto merged = store_->clock_->Update(storage::Timestamp(g->fsm->state().last_ts)); !merged) {
      SPDLOG_DEBUG("shard {}: not merging timestamp: {}", g->id, merged.error().message);
    }
  };
  for (raft::Entry& e : entries) {
    const uint64_t index = e.index.value();
    // One outcome per command: a packed entry has several, every other entry one.
    std::vector<std::pair<v1::TxnResponse, std::optional<RequestError>>> outcomes(1);
    if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
      v1::RaftCommand cmd;
      if (!cmd.ParseFromString(e.data)) {
        SPDLOG_CRITICAL("shard {}: committed entry {} is not a command; refusing to apply", g->id, index);
        std::abort();
      }
      if (cmd.has_packed()) {
        outcomes.resize(cmd.packed().commands_size());
        g->fsm->ApplyEmpty(index, e.term.value());
        for (int i = 0; i < cmd.packed().commands_size(); ++i) {
          v1::RaftCommand one;
          if (!one.ParseFromString(cmd.packed().commands(i)) || (!one.has_batch() && !one.has_txn())) {
            SPDLOG_CRITICAL("shard {}: committed entry {} packs a command ({}) that is not a client write; "
                            "refusing to apply", g->id, index, i);
            std::abort();
          }
          apply_command(index, e, one, outcomes[i].first, outcomes[i].second);
        }
      } else {
        apply_command(index, e, cmd, outcomes[0].first, outcomes[0].second);
      }
    } else if (e.type == raft::EntryType::kConfig) {
      g->fsm->ApplyEmpty(index, e.term.value());
      ApplyConfig(g, index, e.data);
    } else {
      g->fsm->ApplyEmpty(index, e.term.value());
    }
    // This entry's proposals here, in the order of its commands (several only when packed).
    auto [it, end] = g->proposals.equal_range(index);
    for (size_t i = 0; it != end; ++i) {
      PendingProposal p = std::move(it->second);
      it = g->proposals.erase(it);
      const bool ours = p.term == e.term && i < outcomes.size();
      if (ours) {
        store_->metrics_->proposals_committed.Increment();
      } else {
        store_->metrics_->proposals_failed.Increment();
      }
      if (p.answered) continue;
      if (ours) {
        round_.completions.push_back({g, std::move(p.done), std::move(outcomes[i].first), std::move(outcomes[i].second)});
      } else {
        round_.superseded.push_back(std::move(p.done));
      }
    }
  }
  g->fsm->FinishBatch(round_.batch);
  if (!g->apply_pending) round_.groups.push_back(g);
  g->apply_pending = true;
}

void RaftWorker::ApplyConfig(Group* g, uint64_t index, const std::string& data) {
  auto conf = raft::DecodeConfState(data);
  if (!conf) {
    SPDLOG_CRITICAL("shard {}: committed configuration entry {} is corrupt: {}", g->id, index, conf.error());
    std::abort();
  }
  g->desc = WithConf(g->desc, *conf);
  if (auto put = store_->engine_->PutMeta(round_.batch, storage::ShardDescriptorKey(g->id), g->desc.SerializeAsString());
      !put) {
    SPDLOG_CRITICAL("shard {}: recording its descriptor failed: {}", g->id, put.error().message);
    std::abort();
  }
  g->desc_changed = true;
  std::string members;
  for (const v1::Replica& r : g->desc.replicas()) {
    members += (members.empty() ? "" : ", ") + std::to_string(r.replica_id()) + "@n" +
               std::to_string(r.node_id()) + (r.role() == v1::Replica::LEARNER ? " (learner)" : "");
  }
  SPDLOG_INFO("shard {}: configuration at index {} applied: conf version {}, replicas [{}]", g->id, index,
              g->desc.epoch().conf_version(), members);
  if (RemovedBy(g->desc, g->self)) {
    SPDLOG_INFO("shard {}: this replica ({}) was removed; destroying it", g->id, g->self);
    MarkForDestroy(g);
  }
}

void RaftWorker::ApplySplit(Group* g, uint64_t index, const v1::SplitCommand& split) {
  const std::string& key = split.split_key();
  const v1::ShardDescriptor& d = g->desc;
  if (key <= d.start_key() || (!d.end_key().empty() && key >= d.end_key()) || split.new_shard_id() <= kMetaShard) {
    // The leader checked this against the same descriptor (the epoch check above passed), so
    // this is a corrupt or hostile entry: every replica ignores it alike.
    SPDLOG_ERROR("shard {}: ignoring split entry {} with key outside the range or a bad shard id", g->id, index);
    return;
  }
  v1::ShardDescriptor left = d;
  left.set_end_key(key);
  left.mutable_epoch()->set_range_version(d.epoch().range_version() + 1);
  v1::ShardDescriptor right;
  right.set_id(split.new_shard_id());
  right.set_start_key(key);
  right.set_end_key(d.end_key());
  right.mutable_epoch()->set_conf_version(1);
  right.mutable_epoch()->set_range_version(left.epoch().range_version());
  for (const v1::Replica& r : d.replicas()) {
    v1::Replica* nr = right.add_replicas();
    nr->set_node_id(r.node_id());
    nr->set_replica_id(MakeReplicaId(r.node_id(), 0));
    nr->set_role(r.role());
  }
  // The new shard's log (a bootstrap point like the initial shards', synced now: it must exist
  // before its descriptor does) and its apply state, dedup window and descriptor (in this round's
  // batch, with the parent's new descriptor). After a crash before the batch, the split entry is
  // applied again and finds the log already there.
  raft::SnapshotMeta point{.index = raft::LogIndex(kInitialLogIndex), .term = raft::Term(0), .conf = ConfOf(right)};
  auto log = storage::GroupLog::Bootstrap(store_->engine_, right.id(), point);
  if (!log && log.error().code != storage::StorageErrorCode::kInvalidArgument) {
    SPDLOG_CRITICAL("shard {}: creating the log of split shard {} failed: {}", g->id, right.id(), log.error().message);
    std::abort();
  }
  v1::ShardSnapshotState state;
  g->fsm->FillSnapshotState(&state);
  KvStateMachine child(store_->engine_, right.id());
  child.InstallSnapshotState(kInitialLogIndex, 0, state, round_.batch);
  for (const v1::ShardDescriptor* out : {&left, &right}) {
    if (auto put = store_->engine_->PutMeta(round_.batch, storage::ShardDescriptorKey(out->id()), out->SerializeAsString());
        !put) {
      SPDLOG_CRITICAL("shard {}: recording split descriptors failed: {}", g->id, put.error().message);
      std::abort();
    }
  }
  SPDLOG_INFO("shard {}: split at index {} at key {}; new shard {} takes the keys from there", g->id, index,
              PrintableKey(key), right.id());
  split_thresholds_[right.id()] = g->gc_threshold;
  g->fsm->DropHeaderCache();
  g->desc = std::move(left);
  g->desc_changed = true;
  round_.created.emplace_back(std::move(right), g->IsLeader());
}

void RaftWorker::StartConsistencyCheck(Group* g, uint64_t index) {
  if (g->id == kMetaShard) {
    SPDLOG_ERROR("shard {}: ignoring a consistency check entry at index {} (the meta shard has no keys)", g->id, index);
    return;
  }
  // The snapshot must show this shard at exactly `index`: write the round's batch now (this
  // group's entries through this one, with its apply state; other groups' finished applies), so
  // that entries after it in this round go to a fresh batch. Reads still wait for FlushApplies.
  g->fsm->FinishBatch(round_.batch);
  if (auto w = store_->engine_->Write(round_.batch, storage::Durability::kNoSync); !w) {
    SPDLOG_CRITICAL("applying committed entries failed: {}", w.error().message);
    std::abort();
  }
  round_.batch.Clear();
  g->fsm->OnBatchWritten();
  store_->hashes_->Start(g->id, index, g->desc.start_key(), g->desc.end_key());
}

#ifdef CLAW_BREAK_DIVERGE_REPLICA
// The S18 positive control (tests/fault/divergence_test.cc): node 2 writes one extra key into the
// last shard (the one whose range is unbounded), once per process, beside the first command it
// applies there. No other node has it: the replicas' hashes must differ.
void RaftWorker::DivergeOnce(Group* g) {
  static bool diverged = false;
  if (diverged || store_->options_.node_id != 2 || g->id == kMetaShard || !g->desc.end_key().empty()) return;
  diverged = true;
  const std::string key = "\xff\xff\xff" "claw-diverged-replica";
  const uint64_t ts = g->fsm->state().last_ts;
  storage::MvccWriter writer(*store_->engine_, round_.batch);
  if (auto put = writer.Put(key, storage::Timestamp(ts),
                            EncodeStoredValue({.version = 1, .create_ts = ts, .mod_ts = ts, .value = "diverged"}));
      !put) {
    std::abort();
  }
  SPDLOG_WARN("shard {}: CLAW_BREAK_DIVERGE_REPLICA: wrote an extra key on this replica only", g->id);
}
#endif

void RaftWorker::OpenSplitShard(const v1::ShardDescriptor& desc, bool campaign, uint64_t gc_threshold) {
  if (Find(desc.id()) != nullptr) return;  // applied twice (a restart replays the split entry)
  const v1::Replica* mine = ReplicaOn(desc, store_->options_.node_id);
  if (mine == nullptr) return;
  auto log = storage::GroupLog::Open(store_->engine_, desc.id());
  if (!log) {
    SPDLOG_CRITICAL("shard {}: opening the log of the new shard failed: {}", desc.id(), log.error().message);
    std::abort();
  }
  auto g = store_->NewGroup(desc, mine->replica_id(), std::move(*log));
  if (!g) {
    SPDLOG_CRITICAL("shard {}: opening the new shard failed: {}", desc.id(), g.error());
    std::abort();
  }
  // The parent's leader campaigns at once, so the new shard has a leader without an election
  // timeout (the others' replicas are created by the same entry, a moment apart).
  if (campaign) (*g)->campaign_at_tick = ticks_ + 1;
  (*g)->gc_threshold = gc_threshold;  // the history it shares with its parent
  SPDLOG_INFO("shard {}: opened after the split", desc.id());
  AddGroup(std::move(*g));
}

bool RaftWorker::WriteApplies() {
  auto w = store_->engine_->Write(round_.batch, storage::Durability::kNoSync, storage::Engine::Headroom::kApply);
  if (!w) {
    if (w.error().code != storage::StorageErrorCode::kNoSpace) {
      SPDLOG_CRITICAL("applying committed entries failed: {}", w.error().message);
      std::abort();
    }
    // Out of space even for applies (they may use most of storage.min_free_bytes, so the log
    // writer stopped before): nothing of the batch was written. Keep it and try again on a
    // later loop of this worker; until then no Ready is handled here (ProcessReadies), so
    // nothing is answered or sent for these groups, and leaders here lose their leadership to
    // replicas on nodes with space. The loop keeps running: proposals get NO_SPACE at once.
    const Clock::time_point now = Clock::now();
    if (waiting_since_ == Clock::time_point{}) {
      waiting_since_ = now;
      waiting_for_space_.store(true, std::memory_order_relaxed);
      SPDLOG_ERROR("disk full: applying committed entries waits for space in the data directory "
                   "(free space there; nothing is lost): {}",
                   w.error().message);
    }
    // When RocksDB itself hit ENOSPC it refuses writes until resumed (as the log writer does;
    // a no-op without a background error). Not more often than every 200 ms: it may flush.
    if (now - last_resume_ >= std::chrono::milliseconds(200)) {
      last_resume_ = now;
      store_->engine_->db()->Resume().PermitUncheckedError();
    }
    return false;
  }
  if (waiting_since_ != Clock::time_point{}) {
    waiting_for_space_.store(false, std::memory_order_relaxed);
    SPDLOG_WARN("disk space is back: applying resumed after {} ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - waiting_since_).count());
    waiting_since_ = {};
  }
  return true;
}

void RaftWorker::FlushApplies() {
  if (round_.groups.empty()) return;
  // One write (no fsync) for every shard applied in this pass: data, dedup records and applied
  // indexes together.
  if (!WriteApplies()) return;  // kept in round_; retried by the next ProcessReadies
  if (round_.started != Clock::time_point{}) {
    store_->metrics_->apply_duration.Observe(std::chrono::duration<double>(Clock::now() - round_.started).count());
    round_.started = {};
  }
  round_.batch.Clear();
  for (Group* g : round_.groups) {
    g->apply_pending = false;
    if (g->desc_changed) {
      g->desc_changed = false;
      store_->router_->Upsert(g->desc, !g->destroy);
    }
    g->fsm->OnBatchWritten();
    PublishWatchEvents(g);
    g->replica->OnApplied(raft::LogIndex(g->fsm->state().applied_index));
    AdvanceCurrency(g);
    MaybeCompact(g);
    ServeReads(g);
    dirty_.insert(g);
  }
  // New shards of splits: their state is written; open them on their workers.
  for (auto& [desc, campaign] : round_.created) {
    store_->router_->Upsert(desc, true);
    const uint64_t threshold = split_thresholds_[desc.id()];
    split_thresholds_.erase(desc.id());
    store_->WorkerFor(desc.id()).Post(
        Task([desc, campaign, threshold](RaftWorker& w) { w.OpenSplitShard(desc, campaign, threshold); }));
  }
  round_.created.clear();
  for (ApplyRound::Completion& c : round_.completions) {
    if (c.refused) {
      c.done(std::unexpected(std::move(*c.refused)));
      continue;
    }
    c.done(ProposalResult{.result = std::move(c.result), .header = Header(c.group)});
  }
  for (auto& done : round_.superseded) {
    // Another leader's entry took this index: this proposal can never commit.
    done(std::unexpected(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                   "the write was superseded by a new leader; it was not applied")));
  }
  round_.groups.clear();
  round_.completions.clear();
  round_.superseded.clear();
}

void RaftWorker::ServeReads(Group* g) {
  if (g->apply_pending) return;  // FlushApplies serves them once the batch is written
  const uint64_t applied = g->fsm->state().applied_index;
  for (auto it = g->reads.begin(); it != g->reads.end();) {
    if (it->second.index == 0 || it->second.index > applied) {
      ++it;
      continue;
    }
    it->second.request.done(ReadContext{.engine = store_->engine_, .shard = g->desc, .header = Header(g)});
    it = g->reads.erase(it);
  }
}

namespace {

// The host metadata of the snapshot in `dir` (its manifest was verified on receipt).
std::expected<v1::ShardSnapshotState, std::string> ReadSnapshotState(const std::string& dir) {
  std::ifstream in(dir + "/" + std::string(storage::kSnapshotManifestName), std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return std::unexpected("cannot read the manifest in " + dir);
  auto manifest = storage::DecodeSnapshotManifest(bytes.str());
  if (!manifest) return std::unexpected(manifest.error().message);
  v1::ShardSnapshotState state;
  if (!state.ParseFromString(manifest->conf)) return std::unexpected("unreadable apply state in " + dir);
  return state;
}

bool Overlap(const v1::ShardDescriptor& a, const v1::ShardDescriptor& b) {
  const bool a_before_b = !a.end_key().empty() && a.end_key() <= b.start_key();
  const bool b_before_a = !b.end_key().empty() && b.end_key() <= a.start_key();
  return !a_before_b && !b_before_a;
}

}  // namespace

void RaftWorker::OfferIncomingSnapshot(GroupMessage m, const std::string& dir) {
  std::error_code ec;
  Group* g = Find(m.group);
  if (g == nullptr) g = CreateReplica(m);  // a snapshot may be the first a new replica hears
  if (g == nullptr || m.message.to.value() != g->self || g->destroy) {
    std::filesystem::remove_all(dir, ec);
    return;
  }
  auto state = ReadSnapshotState(dir);
  if (!state) {
    SPDLOG_WARN("shard {}: refusing a received snapshot: {}", g->id, state.error());
    std::filesystem::remove_all(dir, ec);
    return;
  }
  // Local replicas never overlap: a snapshot reaching into another local shard's range (a split
  // this node has not applied yet, or a stale replica not yet removed) waits until they agree.
  if (state->has_desc() && g->id != kMetaShard) {
    for (const Route& r : store_->router_->All()) {
      if (r.local && r.shard.id() != g->id && Overlap(r.shard, state->desc())) {
        // The leader retries every tick or so: say it every 10 s.
        const auto now = Clock::now();
        if (now - g->overlap_warned >= std::chrono::seconds(10)) {
          g->overlap_warned = now;
          SPDLOG_WARN("shard {}: refusing a snapshot whose range overlaps local shard {}; the leader will retry "
                      "(asking that replica's peers whether it is still a member)",
                      g->id, r.shard.id());
        }
        std::filesystem::remove_all(dir, ec);
        const uint64_t other = r.shard.id();
        store_->WorkerFor(other).Post(Task([other](RaftWorker& w) { w.NudgeOverlappingReplica(other); }));
        return;
      }
    }
  }
  const uint64_t index = std::get<raft::InstallSnapshot>(m.message.body).meta.index.value();
  if (auto it = g->incoming.find(index); it != g->incoming.end()) std::filesystem::remove_all(it->second.dir, ec);
  g->incoming[index] = Group::IncomingSnapshot{.dir = dir, .state = std::move(*state)};
  // Keep the two newest: an older one can no longer be asked for once a newer one arrived.
  while (g->incoming.size() > 2) {
    std::filesystem::remove_all(g->incoming.begin()->second.dir, ec);
    g->incoming.erase(g->incoming.begin());
  }
  g->replica->Step(std::move(m.message));
  dirty_.insert(g);
}

void RaftWorker::DestroyIfRemovedBy(const v1::ShardDescriptor& entry) {
  Group* g = Find(entry.id());
  if (g == nullptr || g->destroy || g->IsLeader()) return;
  if (g->initialized && g->desc.epoch().conf_version() >= entry.epoch().conf_version()) return;
  if (!RemovedBy(entry, g->self)) return;
  SPDLOG_INFO("shard {}: replica {} is not a member at conf version {} (the cluster directory says so); removing it",
              g->id, g->self, entry.epoch().conf_version());
  MarkForDestroy(g);
}

void RaftWorker::NudgeOverlappingReplica(uint64_t shard) {
  Group* g = Find(shard);
  if (g == nullptr || g->destroy || !g->initialized || g->IsLeader()) return;
  // Ask every other replica the applied descriptor lists, at most once a second; a removed
  // replica's former peers that applied the removal answer REPLICA_GONE (MaybeSendGone). Not
  // woken: a current follower behind on a split catches up by its leader's traffic, and waking a
  // sleeping follower of a sleeping group would only make it campaign.
  const auto now = Clock::now();
  if (now - g->member_query_sent < std::chrono::seconds(1)) return;
  g->member_query_sent = now;
  const uint64_t self_node = store_->options_.node_id;
  std::unordered_map<uint64_t, std::vector<GroupMessage>> by_node;
  for (const v1::Replica& r : g->desc.replicas()) {
    if (r.node_id() == self_node) continue;
    by_node[r.node_id()].push_back(GroupMessage{
        .group = g->id,
        .message = raft::Message{.from = raft::NodeId(g->self), .to = raft::NodeId(r.replica_id())},
        .member_query = true});
  }
  for (auto& [node, out] : by_node) store_->transport_->Send(node, std::move(out));
}

void RaftWorker::InstallSnapshot(Group* g, const raft::SnapshotMeta& meta) {
  auto it = g->incoming.find(meta.index.value());
  if (it == g->incoming.end()) {
    SPDLOG_CRITICAL("shard {}: the Raft core installs snapshot {} that was never received", g->id,
                    meta.index.value());
    std::abort();
  }
  const std::string dir = it->second.dir;
  const v1::ShardSnapshotState state = it->second.state;
  const v1::ShardDescriptor desc = state.has_desc() ? state.desc() : g->desc;
  uint64_t keys = 0;
  // The meta shard owns no user keys: its snapshots carry state only and are never ingested.
  if (g->id != kMetaShard) {
    storage::ShardRange range{.start = desc.start_key(), .end = desc.end_key()};
    auto manifest = storage::IngestShardSnapshot(*store_->engine_, dir, g->id, range);
    if (!manifest) {
      // The files were verified on receipt; failing now means the disk or the engine is broken.
      SPDLOG_CRITICAL("shard {}: ingesting snapshot {} failed: {}", g->id, meta.index.value(), manifest.error().message);
      std::abort();
    }
    keys = manifest->KeyCount();
  }
  // The replica's state jumps: its watchers resume elsewhere (or here, after the snapshot), and
  // history below the snapshot's point is not assumed present here.
  EndWatchers(g, Unavailable("shard " + std::to_string(g->id) + " installed a snapshot on node " +
                                 std::to_string(store_->options_.node_id), true),
              WatchEnd::kRemoved);
  g->gc_threshold = std::max(g->gc_threshold, state.last_ts());
  storage::WriteBatch batch;
  g->fsm->InstallSnapshotState(meta.index.value(), meta.term.value(), state, batch);
  if (g->id != kMetaShard) g->fsm->RebuildLeaseIndex(desc.start_key(), desc.end_key(), batch);
  if (g->id == kMetaShard) store_->meta_.Install(state.meta(), batch);
  if (auto put = store_->engine_->PutMeta(batch, storage::ShardDescriptorKey(g->id), desc.SerializeAsString()); !put) {
    SPDLOG_CRITICAL("shard {}: recording the descriptor of snapshot {} failed: {}", g->id, meta.index.value(),
                    put.error().message);
    std::abort();
  }
  if (auto w = store_->engine_->Write(batch, storage::Durability::kNoSync); !w) {
    SPDLOG_CRITICAL("shard {}: recording snapshot {} failed: {}", g->id, meta.index.value(), w.error().message);
    std::abort();
  }
  std::error_code ec;
  for (auto i = g->incoming.begin(); i != g->incoming.end() && i->first <= meta.index.value();) {
    std::filesystem::remove_all(i->second.dir, ec);
    i = g->incoming.erase(i);
  }
  const bool was_initialized = g->initialized;
  g->desc = desc;
  g->initialized = true;
  store_->router_->Upsert(g->desc, true);
  // A snapshot taken before the entry that added this replica does not list it yet (the entry
  // follows in the log); only a descriptor at least as new as our generation that omits us means
  // we were removed.
  if (RemovedBy(g->desc, g->self)) MarkForDestroy(g);
  SPDLOG_INFO("shard {}: installed snapshot at index {} term {} ({} keys){}", g->id, meta.index.value(),
              meta.term.value(), keys, was_initialized ? "" : "; the new replica is initialized");
}

void RaftWorker::SendSnapshot(Group* g, uint64_t node, raft::Message m) {
  const raft::SnapshotMeta& meta = std::get<raft::InstallSnapshot>(m.body).meta;
  const raft::NodeId to = m.to;
  if (g->out_dir.empty() || g->out_index != meta.index.value()) {
    g->replica->ReportSnapshot(to, raft::SnapshotOutcome::kFailed);
    dirty_.insert(g);
    return;
  }
  ++g->sending;
  // Held while it streams (bounded by a transfer's own timeout) and while the peer installs it.
  g->snapshot_holds[to.value()] = {.index = meta.index.value(), .until = Clock::now() + kSnapshotHoldWhileSending};
  const uint64_t group = g->id;
  SPDLOG_INFO("shard {}: sending snapshot at index {} to node {}", group, meta.index.value(), node);
  store_->transport_->SendSnapshot(
      node, GroupMessage{.group = group, .message = std::move(m)}, g->out_dir,
      [this, group, self = g->self, to](bool ok) {
        Post(Task([group, self, to, ok](RaftWorker& w) {
          Group* gg = w.Find(group);
          if (gg == nullptr || gg->self != self) return;  // destroyed (and maybe re-created)
          if (--gg->sending == 0) w.RemoveRetiredSnapshots(gg);
          if (auto hold = gg->snapshot_holds.find(to.value()); hold != gg->snapshot_holds.end()) {
            hold->second.until = Clock::now() + kSnapshotHoldAfterSending;
          }
          gg->replica->ReportSnapshot(to, ok ? raft::SnapshotOutcome::kSent : raft::SnapshotOutcome::kFailed);
          w.MarkDirty(gg);
        }));
      });
}

void RaftWorker::RemoveRetiredSnapshots(Group* g) {
  std::error_code ec;
  for (const std::string& dir : g->retired_out_dirs) std::filesystem::remove_all(dir, ec);
  g->retired_out_dirs.clear();
}

void RaftWorker::MaybeCompact(Group* g) {
  const uint64_t keep = store_->options_.snapshot_after_entries;
  const uint64_t applied = g->fsm->state().applied_index;
  const uint64_t first = g->log->FirstIndex().value();
  if (keep == 0 || applied < first + 2 * keep || g->replica->conf().IsJoint()) return;
  uint64_t through = applied - keep;
  if (!g->snapshot_holds.empty()) {
    const auto now = Clock::now();
    const raft::Status st = g->replica->GetStatus();
    for (auto it = g->snapshot_holds.begin(); it != g->snapshot_holds.end();) {
      const auto peer = std::find_if(st.peers.begin(), st.peers.end(),
                                     [&](const raft::PeerStatus& p) { return p.id.value() == it->first; });
      if (now >= it->second.until || peer == st.peers.end() || peer->match.value() >= it->second.index) {
        it = g->snapshot_holds.erase(it);
        continue;
      }
      through = std::min(through, it->second.index);
      ++it;
    }
    if (through < first) return;  // nothing to compact below the held snapshot
  }
  // The applied configuration: committed, so it is never truncated (the replica's own may hold
  // an uncommitted change). Entries between the compaction point and the applied index are
  // scanned on recovery, so the point's configuration being that newer one is harmless.
  storage::GroupWrite w = g->log->PrepareCompaction(through, ConfOf(g->desc));
  const uint64_t group = g->id;
  ++g->writes_in_flight;
  store_->log_writer_->Submit(std::move(w), [this, group](storage::GroupWrite& done) {
    Post(Persisted{.group = group, .write = std::move(done)});
  });
}

void RaftWorker::MaybeExportSnapshot(Group* g) {
  const uint64_t first = g->log->FirstIndex().value();
  // Only a snapshot the log can follow is shipped (raft/log_storage.h), so one the log has been
  // compacted past is replaced, even while transfers of it run (they finish from the retired
  // directory: re-sending it instead starved a follower in fault scenario S10).
  if (first <= 1 || g->out_index + 1 >= first) return;
  raft::Status st = g->replica->GetStatus();
  const bool needed = std::any_of(st.peers.begin(), st.peers.end(), [&](const raft::PeerStatus& p) {
    return p.id.value() != g->self && p.match.value() + 1 < first;
  });
  if (!needed) return;
  const ApplyState& as = g->fsm->state();
  // The configuration and descriptor as of the applied index (the replica's own configuration
  // may include appended, uncommitted changes).
  const raft::ConfState applied_conf = ConfOf(g->desc);
  v1::ShardSnapshotState state;
  EncodeConfState(applied_conf, state.mutable_conf());
  g->fsm->FillSnapshotState(&state);
  *state.mutable_desc() = g->desc;
  if (g->id == kMetaShard) store_->meta_.Fill(state.mutable_meta());
  const std::string dir = store_->options_.snapshot_dir + "/out-" + std::to_string(g->id) + "-" +
                          std::to_string(as.applied_index);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  storage::SnapshotRequest req{.group = g->id,
                               .range = {.start = g->desc.start_key(), .end = g->desc.end_key()},
                               .applied_index = raft::LogIndex(as.applied_index),
                               .applied_term = raft::Term(as.applied_term),
                               .conf = state.SerializeAsString(),
                               .dir = dir,
                               .state_only = g->id == kMetaShard};
  auto manifest = storage::ExportShardSnapshot(*store_->engine_, req);
  if (!manifest) {
    SPDLOG_WARN("shard {}: exporting a snapshot failed: {}", g->id, manifest.error().message);
    std::filesystem::remove_all(dir, ec);
    return;
  }
  if (!g->out_dir.empty()) g->retired_out_dirs.push_back(g->out_dir);
  if (g->sending == 0) RemoveRetiredSnapshots(g);
  g->out_dir = dir;
  g->out_index = as.applied_index;
  g->log->SetShippableSnapshot(raft::SnapshotMeta{.index = raft::LogIndex(as.applied_index),
                                                  .term = raft::Term(as.applied_term),
                                                  .conf = applied_conf});
  SPDLOG_INFO("shard {}: exported a snapshot at index {} ({} keys, {} bytes) for a follower behind the log",
              g->id, as.applied_index, manifest->KeyCount(), manifest->TotalBytes());
  dirty_.insert(g);
}

}  // namespace claw::server

namespace claw::server {

void RaftWorker::MarkForDestroy(Group* g) {
  g->destroy = true;
  destroying_.insert(g);
}

void RaftWorker::DestroyRemoved() {
  // Runs after every round: it looks only at the groups marked for destruction (scanning every
  // group here was a quarter of an idle node's CPU at 10,000 shards).
  for (auto next = destroying_.begin(); next != destroying_.end();) {
    Group* g = *next;
    if (g->writes_in_flight > 0 || g->apply_pending || g->sending > 0) {
      ++next;
      continue;
    }
    next = destroying_.erase(next);
    auto it = groups_.find(g->id);
    for (auto& [index, p] : g->proposals) {
      if (!p.answered) {
        p.done(std::unexpected(Unavailable("the replica of shard " + std::to_string(g->id) +
                                               " on this node was removed; the write may or may not be applied",
                                           false)));
      }
    }
    for (auto& [rid, r] : g->reads) {
      r.request.done(std::unexpected(Unavailable("the replica of shard " + std::to_string(g->id) + " on this node was removed", true)));
    }
    for (Group::Transfer& t : g->transfers) {
      t.done(std::unexpected(Unavailable("the replica of shard " + std::to_string(g->id) + " on this node was removed", true)));
    }
    for (auto& [give_up, r] : g->stale_reads) {
      r.done(std::unexpected(Unavailable("the replica of shard " + std::to_string(g->id) + " on this node was removed", true)));
    }
    FailReplicationWaits(g, Unavailable("the replica of shard " + std::to_string(g->id) + " on this node was removed", true));
    EndWatchers(g, Unavailable("the replica of shard " + std::to_string(g->id) + " on node " +
                                   std::to_string(store_->options_.node_id) + " was removed",
                               true),
                WatchEnd::kRemoved);
    watched_.erase(g);
    store_->hashes_->Forget(g->id);
    std::optional<storage::ShardRange> range;
    if (g->initialized && g->id != kMetaShard) range = storage::ShardRange{.start = g->desc.start_key(), .end = g->desc.end_key()};
    if (auto d = storage::DestroyReplica(*store_->engine_, g->id, range, g->self); !d) {
      SPDLOG_CRITICAL("shard {}: destroying replica {} failed: {}", g->id, g->self, d.error().message);
      std::abort();
    }
    std::error_code ec;
    for (auto& [index, in] : g->incoming) std::filesystem::remove_all(in.dir, ec);
    if (!g->out_dir.empty()) std::filesystem::remove_all(g->out_dir, ec);
    RemoveRetiredSnapshots(g);
    if (g->initialized) store_->router_->Upsert(g->desc, false);
    if (g->id == kMetaShard) store_->meta_.Clear();
    SPDLOG_INFO("shard {}: replica {} destroyed with its data", g->id, g->self);
    dirty_.erase(g);
    awake_.erase(g);
    groups_.erase(it);
  }
}

void RaftWorker::Defer(Clock::time_point at, Task task) { deferred_.emplace_back(at, std::move(task)); }

void RaftWorker::RunDeferred(Clock::time_point now) {
  if (deferred_.empty()) return;
  std::vector<std::pair<Clock::time_point, Task>> due;
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->first <= now) {
      due.push_back(std::move(*it));
      it = deferred_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [at, task] : due) task(*this);
}

std::expected<Group*, RequestError> RaftWorker::AdminLeader(uint64_t shard, const v1::Epoch* epoch) {
  Group* g = Find(shard);
  if (g == nullptr || !g->initialized || g->destroy) {
    return std::unexpected(MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                                     "node " + std::to_string(store_->options_.node_id) +
                                         " hosts no replica of shard " + std::to_string(shard)));
  }
  if (!g->IsLeader()) return std::unexpected(NotLeader(g));
  if (epoch != nullptr && (epoch->conf_version() != g->desc.epoch().conf_version() ||
                           epoch->range_version() != g->desc.epoch().range_version())) {
    RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::EPOCH_MISMATCH,
                               "shard " + std::to_string(g->id) + " changed since the request was planned");
    *e.detail.add_shards() = g->desc;
    return std::unexpected(std::move(e));
  }
  return g;
}

void RaftWorker::ChangeReplicas(const v1::ChangeReplicasRequest& req, Clock::time_point deadline,
                                DescriptorDone done) {
  const Clock::time_point now = Clock::now();
  auto leader = AdminLeader(req.shard_id(), req.has_epoch() ? &req.epoch() : nullptr);
  if (!leader) {
    done(std::unexpected(std::move(leader.error())));
    return;
  }
  Group* g = *leader;
  // Every committed configuration must be applied (so the descriptor, and with it the new
  // replica's generation, is current) and none may be pending. Wait for that, within the deadline.
  if (g->fsm->state().applied_index < g->replica->commit().value() || !(g->replica->conf() == ConfOf(g->desc))) {
    if (now >= deadline) {
      done(std::unexpected(Unavailable("a membership change of shard " + std::to_string(g->id) +
                                           " is still in progress; retry",
                                       true)));
      return;
    }
    Defer(now + std::chrono::milliseconds(store_->options_.tick_ms),
          [req, deadline, done = std::move(done)](RaftWorker& w) mutable { w.ChangeReplicas(req, deadline, std::move(done)); });
    return;
  }
  const uint64_t node = req.node_id();
  const std::string where = " on node " + std::to_string(node) + " of shard " + std::to_string(g->id);
  auto invalid = [&](std::string message) {
    done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT, std::move(message))));
  };
  if (node == 0 || node > kMaxNodeId) return invalid("node id " + std::to_string(node) + " is out of range");
  const v1::Replica* existing = ReplicaOn(g->desc, node);
  raft::ConfChange change;
  switch (req.change()) {
    case v1::ChangeReplicasRequest::ADD_LEARNER:
      if (existing != nullptr) {
        return invalid("node " + std::to_string(node) + " already hosts replica " +
                       std::to_string(existing->replica_id()) + " of shard " + std::to_string(g->id));
      }
      change.steps.push_back({raft::ConfChangeType::kAddLearner,
                              raft::NodeId(MakeReplicaId(node, g->desc.epoch().conf_version() + 1))});
      break;
    case v1::ChangeReplicasRequest::PROMOTE: {
      if (existing == nullptr || existing->role() != v1::Replica::LEARNER) return invalid("there is no learner" + where);
      // A learner that still needs a snapshot or lags far behind would only slow the quorum.
      const raft::Status st = g->replica->GetStatus();
      uint64_t match = 0;
      for (const raft::PeerStatus& p : st.peers) {
        if (p.id.value() == existing->replica_id()) match = p.match.value();
      }
      const uint64_t commit = g->replica->commit().value();
      if (match + 1 < g->log->FirstIndex().value() || match + 1000 < commit) {
        done(std::unexpected(Unavailable("the learner" + where + " has not caught up (it has index " +
                                             std::to_string(match) + " of " + std::to_string(commit) + "); retry",
                                         true)));
        return;
      }
      change.steps.push_back({raft::ConfChangeType::kAddVoter, raft::NodeId(existing->replica_id())});
      break;
    }
    case v1::ChangeReplicasRequest::REMOVE:
      if (existing == nullptr) return invalid("there is no replica" + where);
      if (existing->replica_id() == g->self) {
        RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::INVALID_ARGUMENT,
                                   "the replica" + where + " leads the shard; transfer leadership first");
        done(std::unexpected(std::move(e)));
        return;
      }
      change.steps.push_back({raft::ConfChangeType::kRemove, raft::NodeId(existing->replica_id())});
      break;
    default:
      return invalid("change must be ADD_LEARNER, PROMOTE or REMOVE");
  }
  auto index = g->replica->ProposeConfChange(change);
  if (!index) {
    switch (index.error()) {
      case raft::ProposeError::kNotLeader:
        done(std::unexpected(NotLeader(g)));
        return;
      case raft::ProposeError::kInvalidConfChange:
        return invalid("the change would leave shard " + std::to_string(g->id) + " without a voter");
      default:
        done(std::unexpected(Unavailable("shard " + std::to_string(g->id) +
                                             " cannot change membership right now (a change is pending, or a "
                                             "new leader has not committed yet); retry",
                                         true)));
        return;
    }
  }
  SPDLOG_INFO("shard {}: proposed {} at index {}", g->id,
              v1::ChangeReplicasRequest::Change_Name(req.change()) + " of node " + std::to_string(node),
              index->value());
  const uint64_t group = g->id;
  g->proposals.emplace(index->value(), PendingProposal{
      .term = g->replica->term(),
      .durability = v1::QUORUM,
      .deadline = deadline,
      .done = [this, group, done = std::move(done)](std::expected<ProposalResult, RequestError> r) {
        if (!r) return done(std::unexpected(std::move(r.error())));
        Group* gg = Find(group);  // answered on this thread, after the apply
        done(gg != nullptr ? gg->desc : v1::ShardDescriptor{});
      }});
  dirty_.insert(g);
}

void RaftWorker::TransferLeader(uint64_t shard, uint64_t to_node, Clock::time_point deadline, DescriptorDone done) {
  Group* g = Find(shard);
  if (g == nullptr || !g->initialized || g->destroy) {
    done(std::unexpected(MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                                   "node " + std::to_string(store_->options_.node_id) +
                                       " hosts no replica of shard " + std::to_string(shard))));
    return;
  }
  const v1::Replica* target = ReplicaOn(g->desc, to_node);
  if (target == nullptr || target->role() != v1::Replica::VOTER) {
    done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                   "node " + std::to_string(to_node) + " hosts no voter of shard " +
                                       std::to_string(shard))));
    return;
  }
  if (g->soft.leader.value() == target->replica_id()) return done(g->desc);
  if (!g->IsLeader()) {
    done(std::unexpected(NotLeader(g)));
    return;
  }
  g->replica->TransferLeadership(raft::NodeId(target->replica_id()));
  g->transfers.push_back(Group::Transfer{.to = target->replica_id(), .deadline = deadline, .done = std::move(done)});
  dirty_.insert(g);
}

void RaftWorker::NoteLeaderCommit(Group* g, Clock::time_point now, uint64_t leader_commit) {
  if (g->fsm->state().applied_index >= leader_commit) {
    g->current_as_of = std::max(g->current_as_of, now);
    AdvanceCurrency(g);
    return;
  }
  if (!g->currency.empty() && g->currency.back().second >= leader_commit) {
    // Not newer than what is already waiting: a later arrival for it, or an old leader's figure.
    if (g->currency.back().second == leader_commit) g->currency.back().first = now;
  } else {
    g->currency.emplace_back(now, leader_commit);
    if (g->currency.size() > 64) g->currency.pop_front();
  }
  AdvanceCurrency(g);
}

void RaftWorker::MaybeProbe(Group* g, Clock::time_point now) {
  if (g->soft.leader.IsZero()) return;
  // One probe in flight; a lost one (leader change, partition) is replaced after an election
  // timeout.
  if (g->probe_id != 0 && now - g->probe_sent < ElectionTimeout()) return;
  // The leader keys pending reads by id alone, its own and its followers': a probe's id carries
  // this node's id in its top 16 bits (the leader's own ids are a counter far below), and the
  // low bits continue from a clock-seeded counter, so a restarted node does not reuse an id its
  // former incarnation may still have pending there.
  if (probe_seq_ == 0) probe_seq_ = (uint64_t(now.time_since_epoch().count()) & 0xFFFF'FFFF) << 8 | 1;
  g->probe_id = (store_->options_.node_id << 48) | (probe_seq_++ & 0xFFFF'FFFF'FFFF);
  g->probe_sent = now;
  g->replica->ReadIndex(raft::ReadId(g->probe_id));
  dirty_.insert(g);
}

void RaftWorker::AdvanceCurrency(Group* g) {
  const uint64_t applied = g->fsm->state().applied_index;
  while (!g->currency.empty() && g->currency.front().second <= applied) {
    g->current_as_of = std::max(g->current_as_of, g->currency.front().first);
    g->currency.pop_front();
  }
  if (!g->stale_reads.empty()) ServeParkedStaleReads(g, Clock::now());
}

void RaftWorker::ServeParkedStaleReads(Group* g, Clock::time_point now) {
  if (g->apply_pending) return;  // applied but unwritten state: FlushApplies comes back here
  auto parked = std::move(g->stale_reads);
  g->stale_reads.clear();
  for (auto& [give_up, r] : parked) {
    const uint64_t bound_ms = r.max_staleness_ms != 0 ? r.max_staleness_ms : store_->options_.max_staleness_ms;
    if (FreshWithin(g, now, bound_ms)) {
      // Checked again: a split may have applied while it waited.
      if (auto err = Check(g, r.shard, r.check_epoch, r.epoch, r.keys, false)) {
        r.done(std::unexpected(std::move(*err)));
      } else {
        r.done(ReadContext{.engine = store_->engine_, .shard = g->desc, .header = Header(g)});
      }
    } else if (now >= give_up) {
      r.done(std::unexpected(NotCurrent(g, bound_ms)));
    } else {
      g->stale_reads.emplace_back(give_up, std::move(r));
    }
  }
}

RequestError RaftWorker::NotCurrent(const Group* g, uint64_t bound_ms) const {
  return Unavailable("the replica of shard " + std::to_string(g->id) + " on node " +
                         std::to_string(store_->options_.node_id) +
                         " is not known to be current within the staleness bound (" + std::to_string(bound_ms) +
                         " ms; leader node " + std::to_string(g->NodeOf(g->soft.leader.value())) +
                         (g->soft.hibernating ? ", idle" : "") + "); try another replica",
                     true);
}

std::chrono::milliseconds RaftWorker::ElectionTimeout() const {
  return std::chrono::milliseconds(uint64_t(store_->options_.tick_ms) * store_->options_.election_ticks);
}

bool RaftWorker::FreshWithin(const Group* g, Clock::time_point now, uint64_t bound_ms) const {
  const auto bound = std::chrono::milliseconds(bound_ms);
  const auto heard = [&](uint64_t node) { return now - store_->transport_->LastHeard(node) <= bound; };
  if (g->soft.hibernating) {
    // An idle group: no ticks, no heartbeats; it holds everything committed as long as no write
    // came, and a write would wake it. What remains to know is that no other leader can have
    // taken over meanwhile: a sleeping follower must hear its leader's node (node keepalives), a
    // sleeping leader a quorum of its voters' nodes, within the bound. (A partition cuts those.)
    if (!g->IsLeader()) {
      const uint64_t leader_node = g->NodeOf(g->soft.leader.value());
      return leader_node != 0 && g->currency.empty() && heard(leader_node);
    }
    size_t voters = 0, reachable = 0;
    for (const v1::Replica& r : g->desc.replicas()) {
      if (r.role() != v1::Replica::VOTER) continue;
      ++voters;
      if (r.node_id() == store_->options_.node_id || heard(r.node_id())) ++reachable;
    }
    return 2 * reachable > voters;
  }
  if (g->IsLeader()) {
    // As current as the leader's latest proof that it still leads: a quorum's acknowledgement
    // (a leader cut off or paused keeps IsLeader() until it notices).
    const uint64_t ticks = g->replica->TicksSinceQuorumAck();
    if (ticks == UINT64_MAX || ticks * store_->options_.tick_ms > bound_ms) return false;
  }
  return g->current_as_of != Clock::time_point{} && now - g->current_as_of <= bound;
}

void RaftWorker::HandOffForSpace(Group* g) {
  if (!g->IsLeader()) return;
  const raft::Status st = g->replica->GetStatus();
  const raft::PeerStatus* best = nullptr;
  for (const raft::PeerStatus& peer : st.peers) {
    if (peer.learner || !peer.recent_active || peer.id == st.id) continue;
    if (best == nullptr || peer.match > best->match) best = &peer;
  }
  if (best == nullptr) return;  // no live voter to take over: writes keep failing with NO_SPACE
  if (g->space_handoff_to != best->id.value()) {
    g->space_handoff_to = best->id.value();
    SPDLOG_INFO("shard {}: disk full here; handing leadership to replica {}", g->id, best->id.value());
  }
  g->replica->TransferLeadership(best->id);
  dirty_.insert(g);
}

void RaftWorker::WaitReplicated(uint64_t shard, uint64_t index, Clock::time_point deadline,
                                std::function<void(std::expected<void, RequestError>)> done) {
  auto leader = AdminLeader(shard, nullptr);
  if (!leader) return done(std::unexpected(std::move(leader.error())));
  Group* g = *leader;
  g->replication_waits.push_back(Group::ReplicationWait{.index = index, .deadline = deadline, .done = std::move(done)});
  // A hibernating leader sends nothing: wake it so that lagging followers are caught up.
  g->replica->WakeUp(raft::WakeReason::kActivity);
  awake_.insert(g);
  dirty_.insert(g);
  CheckReplicationWaits(g, Clock::now());
}

void RaftWorker::FailReplicationWaits(Group* g, const RequestError& why) {
  for (Group::ReplicationWait& w : g->replication_waits) w.done(std::unexpected(why));
  g->replication_waits.clear();
}

void RaftWorker::CheckReplicationWaits(Group* g, Clock::time_point now) {
  if (!g->IsLeader()) {
    RequestError e = NotLeader(g);
    e.detail.set_message("shard " + std::to_string(g->id) +
                         " changed leader while waiting for every replica; what was written is committed: "
                         "synchronize again at the new leader");
    FailReplicationWaits(g, e);
    return;
  }
  const raft::Status st = g->replica->GetStatus();
  const uint64_t self = g->self;
  // The voters that have not stored the log through `index` (this replica: durably).
  auto lagging = [&](uint64_t index) {
    std::vector<uint64_t> nodes;
    for (const v1::Replica& r : g->desc.replicas()) {
      if (r.role() != v1::Replica::VOTER) continue;
      uint64_t stored = 0;
      if (r.replica_id() == self) {
        stored = st.persisted_index.value();
      } else {
        for (const raft::PeerStatus& p : st.peers) {
          if (p.id.value() == r.replica_id()) stored = p.match.value();
        }
      }
      if (stored < index) nodes.push_back(r.node_id());
    }
    return nodes;
  };
  for (auto it = g->replication_waits.begin(); it != g->replication_waits.end();) {
    std::vector<uint64_t> behind = lagging(it->index);
    if (behind.empty()) {
      it->done({});
    } else if (now >= it->deadline) {
      std::string names;
      for (uint64_t n : behind) names += (names.empty() ? "" : ", ") + std::string("node ") + std::to_string(n);
      it->done(std::unexpected(MakeError(
          RpcCode::kUnavailable, v1::Error::CHECKPOINT_NOT_ALL_REPLICAS,
          "shard " + std::to_string(g->id) + ": " + names + " had not stored index " + std::to_string(it->index) +
              " by the deadline; the change is committed and applied at the leader, and reaches them when they "
              "catch up (synchronize to wait for it)",
          false)));
    } else {
      ++it;
      continue;
    }
    it = g->replication_waits.erase(it);
  }
}

void RaftWorker::CheckTransfers(Group* g, Clock::time_point now) {
  for (auto it = g->transfers.begin(); it != g->transfers.end();) {
    if (g->soft.leader.value() == it->to) {
      it->done(g->desc);
    } else if (now >= it->deadline) {
      it->done(std::unexpected(MakeError(RpcCode::kDeadlineExceeded, v1::Error::UNAVAILABLE,
                                         "leadership of shard " + std::to_string(g->id) +
                                             " did not move within the deadline")));
    } else {
      ++it;
      continue;
    }
    it = g->transfers.erase(it);
  }
}

}  // namespace claw::server

namespace claw::server {

void RaftWorker::SplitShard(const v1::SplitShardRequest& req, Clock::time_point deadline, SplitDone done) {
  auto leader = AdminLeader(req.shard_id(), req.has_epoch() ? &req.epoch() : nullptr);
  if (!leader) {
    done(std::unexpected(std::move(leader.error())));
    return;
  }
  Group* g = *leader;
  if (g->id == kMetaShard) {
    done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                   "the meta shard owns no keys and cannot be split")));
    return;
  }
  const std::string& asked = req.split_key();
  if (asked.empty() || asked <= g->desc.start_key() || (!g->desc.end_key().empty() && asked >= g->desc.end_key())) {
    done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                   "split key " + PrintableKey(asked) + " does not lie strictly inside shard " +
                                       std::to_string(g->id) + "'s range")));
    return;
  }
  // Never inside a checkpoint's range (server/split_key.h): at its start instead, or refused.
  auto safe = CheckpointSafeSplitKeyInside(g->desc.start_key(), asked);
  if (!safe) {
    done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                   "shard " + std::to_string(g->id) + ": " + safe.error())));
    return;
  }
  const std::string& key = *safe;
  if (key != asked) {
    SPDLOG_INFO("shard {}: split key {} lies inside a checkpoint's range; splitting at its start {}", g->id,
                PrintableKey(asked), PrintableKey(key));
  }
  auto id = store_->AllocateShardId();
  if (!id) {
    done(std::unexpected(Unavailable("allocating a shard id failed: " + id.error(), true)));
    return;
  }
  v1::RaftCommand cmd;
  cmd.set_ts(store_->clock_->Now().value());
  *cmd.mutable_epoch() = g->desc.epoch();
  cmd.mutable_split()->set_split_key(key);
  cmd.mutable_split()->set_new_shard_id(*id);
  auto index = g->replica->Propose(cmd.SerializeAsString());
  if (!index) {
    done(std::unexpected(index.error() == raft::ProposeError::kNotLeader
                             ? NotLeader(g)
                             : Unavailable("shard " + std::to_string(g->id) + " cannot take a split right now; retry", true)));
    return;
  }
  SPDLOG_INFO("shard {}: proposed a split at key {} (new shard {}) at index {}", g->id, PrintableKey(key), *id,
              index->value());
  const uint64_t group = g->id;
  const uint64_t right = *id;
  g->proposals.emplace(index->value(), PendingProposal{
      .term = g->replica->term(),
      .durability = v1::QUORUM,
      .deadline = deadline,
      .done = [this, group, right, done = std::move(done)](std::expected<ProposalResult, RequestError> r) {
        if (!r) return done(std::unexpected(std::move(r.error())));
        v1::SplitShardResponse resp;
        if (Group* gg = Find(group)) *resp.mutable_left() = gg->desc;
        if (auto route = store_->router_->Get(right)) *resp.mutable_right() = route->shard;
        done(std::move(resp));
      }});
  dirty_.insert(g);
}

}  // namespace claw::server

namespace claw::server {

void RaftWorker::CheckConsistency(uint64_t shard, Clock::time_point deadline, CheckDone done) {
  if (shard == kMetaShard) {
    done(std::unexpected(MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT,
                                   "shard 1 is the meta shard: it owns no keys; consistency checks cover data shards")));
    return;
  }
  auto leader = AdminLeader(shard, nullptr);
  if (!leader) {
    done(std::unexpected(std::move(leader.error())));
    return;
  }
  Group* g = *leader;
  v1::RaftCommand cmd;
  cmd.set_ts(store_->clock_->Now().value());
  cmd.mutable_consistency_check();
  auto index = g->replica->Propose(cmd.SerializeAsString());
  if (!index) {
    done(std::unexpected(index.error() == raft::ProposeError::kNotLeader
                             ? NotLeader(g)
                             : Unavailable("shard " + std::to_string(g->id) + " cannot take a proposal right now; retry",
                                           true)));
    return;
  }
  const uint64_t at = index->value();
  SPDLOG_DEBUG("shard {}: proposed a consistency check at index {}", g->id, at);
  g->proposals.emplace(at, PendingProposal{
      .term = g->replica->term(),
      .durability = v1::QUORUM,
      .deadline = deadline,
      .done = [this, shard, at, done = std::move(done)](std::expected<ProposalResult, RequestError> r) {
        if (!r) return done(std::unexpected(std::move(r.error())));
        v1::CheckConsistencyResponse resp;
        resp.set_index(at);
        if (Group* gg = Find(shard)) *resp.mutable_shard() = gg->desc;
        resp.set_leader_node_id(store_->options_.node_id);
        done(std::move(resp));
      }});
  dirty_.insert(g);
}

void RaftWorker::ReplicaHash(uint64_t shard, uint64_t index, HashDone done) {
  Group* g = Find(shard);
  if (g == nullptr || g->destroy) {
    done(std::unexpected(MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                                   "node " + std::to_string(store_->options_.node_id) +
                                       " hosts no replica of shard " + std::to_string(shard))));
    return;
  }
  v1::GetReplicaHashResponse resp;
  resp.set_node_id(store_->options_.node_id);
  resp.set_replica_id(g->self);
  resp.set_shard_id(shard);
  resp.set_index(index);
  resp.set_applied_index(g->fsm->state().applied_index);
  // The apply path records the check (pending) before its applied index passes the entry, and
  // this runs on the same thread: no result past the index means there will be none.
  if (auto r = store_->hashes_->Find(shard, index)) {
    switch (r->state) {
      case ReplicaHashes::State::kPending: resp.set_state(v1::GetReplicaHashResponse::PENDING); break;
      case ReplicaHashes::State::kDone:
        resp.set_state(v1::GetReplicaHashResponse::DONE);
        resp.set_hash(r->hash);
        resp.set_keys(r->keys);
        break;
      case ReplicaHashes::State::kFailed:
        resp.set_state(v1::GetReplicaHashResponse::UNAVAILABLE);
        resp.set_error(r->error);
        break;
    }
  } else if (!g->initialized || g->fsm->state().applied_index < index) {
    resp.set_state(v1::GetReplicaHashResponse::PENDING);
  } else {
    resp.set_state(v1::GetReplicaHashResponse::UNAVAILABLE);
    resp.set_error("replica " + std::to_string(g->self) + " passed index " + std::to_string(index) +
                   " without this check's result (a snapshot installed past it, not a check entry there, or "
                   "the result was evicted)");
  }
  done(std::move(resp));
}

}  // namespace claw::server

namespace claw::server {

void RaftWorker::RegisterWatch(WatchRegistration reg) {
  auto fail = [&](RequestError e) { reg.done(std::unexpected(std::move(e))); };
  Group* g = Find(reg.shard);
  if (g == nullptr || g->destroy || !g->initialized || g->id == kMetaShard) {
    fail(MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                   "node " + std::to_string(store_->options_.node_id) + " hosts no replica of shard " +
                       std::to_string(reg.shard) + " that can serve a watch; refresh the routes"));
    return;
  }
  const v1::ShardDescriptor& d = g->desc;
  if (reg.check_epoch && (reg.epoch.conf_version() != d.epoch().conf_version() ||
                          reg.epoch.range_version() != d.epoch().range_version())) {
    RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::EPOCH_MISMATCH,
                               "shard " + std::to_string(g->id) + " has a newer epoch; refresh the routes");
    *e.detail.add_shards() = d;
    fail(std::move(e));
    return;
  }
  const WatchStream::Options& o = reg.stream->options();
  if (o.start < d.start_key() || (!d.end_key().empty() && o.start >= d.end_key())) {
    RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::KEY_OUT_OF_RANGE,
                               "the watch's start key is not in shard " + std::to_string(g->id));
    *e.detail.add_shards() = d;
    fail(std::move(e));
    return;
  }
  if (g->apply_pending) {
    fail(Unavailable("shard " + std::to_string(g->id) + " is waiting to write applied entries; retry", true));
    return;
  }
  const uint64_t last = g->fsm->state().last_ts;
  if (o.start_revision != 0 && o.start_revision < g->gc_threshold) {
    RequestError e = MakeError(
        RpcCode::kOutOfRange, v1::Error::COMPACTED,
        "revision " + std::to_string(o.start_revision) + " is compacted on shard " + std::to_string(g->id) +
            " (node " + std::to_string(store_->options_.node_id) + "): the oldest revision still available is " +
            std::to_string(g->gc_threshold) + "; watch from it or later (history is kept for storage.mvcc_retention_ms)");
    e.detail.set_resume_revision(g->gc_threshold);
    fail(std::move(e));
    return;
  }
  const uint64_t from = o.start_revision == 0 ? last : o.start_revision;
  std::string start = std::max(o.start, d.start_key());
  std::string end = o.end;
  if (!d.end_key().empty() && (end.empty() || d.end_key() < end)) end = d.end_key();
  WatchRegistration::CatchUp c{.engine = store_->engine_,
                               .snapshot = std::make_shared<storage::ReadSnapshot>(*store_->engine_),
                               .from = from,
                               .snapshot_ts = last,
                               .start = start,
                               .end = end,
                               .header = Header(g)};
  g->watchers.push_back(reg.stream);
  g->fsm->set_collect_events(true);
  watched_.insert(g);
  const v1::ResponseHeader header = c.header;
  // The reactor must hold the catch-up point before the first response is written.
  reg.done(std::move(c));
  reg.stream->Registered(from, last, std::move(start), std::move(end), header);
}

void RaftWorker::PublishWatchEvents(Group* g) {
  if (g->watchers.empty()) return;
  std::vector<ChangeEvent> events = g->fsm->TakeEvents();
  const uint64_t applied = g->fsm->state().last_ts;
  const v1::ResponseHeader header = Header(g);
  const v1::ShardDescriptor& d = g->desc;
  std::vector<const ChangeEvent*> mine;
  for (const std::shared_ptr<WatchStream>& w : g->watchers) {
    if (w->done()) continue;
    mine.clear();
    for (const ChangeEvent& e : events) {
      if (w->Covers(e.key)) mine.push_back(&e);
    }
    w->Deliver(mine, applied, header);
    const bool inside = w->served_start() >= d.start_key() &&
                        (d.end_key().empty() || (!w->served_end().empty() && w->served_end() <= d.end_key()));
    if (!inside) {
      RequestError e = MakeError(RpcCode::kFailedPrecondition, v1::Error::EPOCH_MISMATCH,
                                 "shard " + std::to_string(g->id) + " split: the watched range is no longer all in it; "
                                 "refresh the routes and watch each shard");
      *e.detail.add_shards() = d;
      w->End(std::move(e), WatchEnd::kSplit);
    }
  }
  std::erase_if(g->watchers, [](const std::shared_ptr<WatchStream>& w) { return w->done(); });
  if (g->watchers.empty()) {
    g->fsm->set_collect_events(false);
    watched_.erase(g);
  }
}

void RaftWorker::EndWatchers(Group* g, const RequestError& error, WatchEnd why) {
  for (const std::shared_ptr<WatchStream>& w : g->watchers) w->End(error, why);
  g->watchers.clear();
  g->fsm->set_collect_events(false);
  watched_.erase(g);
}

void RaftWorker::TickWatchers() {
  if (watched_.empty()) return;
  const uint64_t now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
  std::vector<Group*> idle;
  for (Group* g : watched_) {
    if (g->apply_pending) continue;
    const v1::ResponseHeader header = Header(g);
    for (const std::shared_ptr<WatchStream>& w : g->watchers) w->MaybeProgress(g->fsm->state().last_ts, now_ms, header);
    std::erase_if(g->watchers, [](const std::shared_ptr<WatchStream>& w) { return w->done(); });
    if (g->watchers.empty()) idle.push_back(g);
  }
  for (Group* g : idle) {
    g->fsm->set_collect_events(false);
    watched_.erase(g);
  }
}

std::vector<std::tuple<uint64_t, std::string, std::string>> RaftWorker::RaiseGcThresholds(uint64_t safe_point) {
  std::vector<std::tuple<uint64_t, std::string, std::string>> out;
  for (auto& [id, g] : groups_) {
    if (g->destroy || !g->initialized || id == kMetaShard) continue;
    g->gc_threshold = std::max(g->gc_threshold, safe_point);
    out.emplace_back(id, g->desc.start_key(), g->desc.end_key());
  }
  return out;
}

}  // namespace claw::server
