#include "server/codec.h"

#include <type_traits>
#include <utility>
#include <variant>

namespace claw::server {
namespace {

template <class>
inline constexpr bool kAlwaysFalse = false;

void EncodeIds(const std::vector<raft::NodeId>& ids, google::protobuf::RepeatedField<uint64_t>* out) {
  for (raft::NodeId id : ids) out->Add(id.value());
}

std::vector<raft::NodeId> DecodeIds(const google::protobuf::RepeatedField<uint64_t>& in) {
  std::vector<raft::NodeId> out;
  out.reserve(in.size());
  for (uint64_t id : in) out.emplace_back(id);
  return out;
}

raft::ElectionKind Kind(bool pre_vote) {
  return pre_vote ? raft::ElectionKind::kPreVote : raft::ElectionKind::kVote;
}

}  // namespace

void EncodeConfState(const raft::ConfState& c, v1::RaftConfState* out) {
  EncodeIds(c.voters, out->mutable_voters());
  EncodeIds(c.learners, out->mutable_learners());
  EncodeIds(c.voters_outgoing, out->mutable_voters_outgoing());
  EncodeIds(c.learners_next, out->mutable_learners_next());
}

raft::ConfState DecodeConfState(const v1::RaftConfState& in) {
  return raft::ConfState{.voters = DecodeIds(in.voters()),
                         .learners = DecodeIds(in.learners()),
                         .voters_outgoing = DecodeIds(in.voters_outgoing()),
                         .learners_next = DecodeIds(in.learners_next())};
}

void EncodeRaftMessage(uint64_t group, const raft::Message& m, v1::RaftMessage* out) {
  out->set_group(group);
  out->set_from(m.from.value());
  out->set_to(m.to.value());
  out->set_term(m.term.value());
  std::visit(
      [out](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, raft::AppendRequest>) {
          out->set_type(v1::RaftMessage::APPEND);
          out->set_index(b.prev_index.value());
          out->set_log_term(b.prev_term.value());
          out->set_commit(b.commit.value());
          out->set_leader_tick(b.leader_tick);
          out->mutable_entries()->Reserve(static_cast<int>(b.entries.size()));
          for (const raft::Entry& e : b.entries) {
            v1::RaftEntry* pe = out->add_entries();
            pe->set_term(e.term.value());
            pe->set_index(e.index.value());
            pe->set_type(static_cast<uint32_t>(e.type));
            pe->set_data(e.data);
          }
        } else if constexpr (std::is_same_v<T, raft::AppendResponse>) {
          out->set_type(v1::RaftMessage::APPEND_RESPONSE);
          out->set_index(b.index.value());
          out->set_rejected(b.rejected);
          out->set_reject_hint(b.reject_hint.value());
          out->set_hint_term(b.hint_term.value());
          out->set_leader_tick(b.leader_tick);
        } else if constexpr (std::is_same_v<T, raft::VoteRequest>) {
          out->set_type(v1::RaftMessage::VOTE);
          out->set_pre_vote(b.kind == raft::ElectionKind::kPreVote);
          out->set_index(b.last_index.value());
          out->set_log_term(b.last_term.value());
          out->set_leader_transfer(b.leader_transfer);
        } else if constexpr (std::is_same_v<T, raft::VoteResponse>) {
          out->set_type(v1::RaftMessage::VOTE_RESPONSE);
          out->set_pre_vote(b.kind == raft::ElectionKind::kPreVote);
          out->set_granted(b.granted);
        } else if constexpr (std::is_same_v<T, raft::Heartbeat>) {
          out->set_type(v1::RaftMessage::HEARTBEAT);
          out->set_commit(b.commit.value());
          out->set_read_id(b.read_id.value());
          out->set_leader_tick(b.leader_tick);
        } else if constexpr (std::is_same_v<T, raft::HeartbeatResponse>) {
          out->set_type(v1::RaftMessage::HEARTBEAT_RESPONSE);
          out->set_read_id(b.read_id.value());
          out->set_leader_tick(b.leader_tick);
        } else if constexpr (std::is_same_v<T, raft::InstallSnapshot>) {
          out->set_type(v1::RaftMessage::INSTALL_SNAPSHOT);
          v1::RaftSnapshotMeta* s = out->mutable_snapshot();
          s->set_index(b.meta.index.value());
          s->set_term(b.meta.term.value());
          EncodeConfState(b.meta.conf, s->mutable_conf());
        } else if constexpr (std::is_same_v<T, raft::TimeoutNow>) {
          out->set_type(v1::RaftMessage::TIMEOUT_NOW);
        } else if constexpr (std::is_same_v<T, raft::ReadIndexRequest>) {
          out->set_type(v1::RaftMessage::READ_INDEX);
          out->set_read_id(b.read_id.value());
        } else if constexpr (std::is_same_v<T, raft::ReadIndexResponse>) {
          out->set_type(v1::RaftMessage::READ_INDEX_RESPONSE);
          out->set_read_id(b.read_id.value());
          out->set_index(b.index.value());
        } else if constexpr (std::is_same_v<T, raft::TransferLeaderRequest>) {
          out->set_type(v1::RaftMessage::TRANSFER_LEADER);
          out->set_target(b.target.value());
        } else if constexpr (std::is_same_v<T, raft::Hibernate>) {
          out->set_type(v1::RaftMessage::HIBERNATE);
          out->set_index(b.index.value());
          out->set_commit(b.commit.value());
          out->set_leader_tick(b.leader_tick);
        } else {
          static_assert(kAlwaysFalse<T>, "unhandled raft message type");
        }
      },
      m.body);
}

namespace {

std::expected<raft::MessageBody, std::string> DecodeBody(v1::RaftMessage& in) {
  using raft::LogIndex;
  using raft::Term;
  switch (in.type()) {
    case v1::RaftMessage::APPEND: {
      raft::AppendRequest b{.prev_index = LogIndex(in.index()),
                            .prev_term = Term(in.log_term()),
                            .commit = LogIndex(in.commit()),
                            .leader_tick = in.leader_tick()};
      b.entries.reserve(in.entries_size());
      uint64_t expect = in.index() + 1;
      for (v1::RaftEntry& pe : *in.mutable_entries()) {
        if (pe.index() != expect) return std::unexpected("append entries are not contiguous");
        if (pe.type() > 1) return std::unexpected("unknown entry type");
        ++expect;
        b.entries.push_back(raft::Entry{.term = Term(pe.term()),
                                        .index = LogIndex(pe.index()),
                                        .type = static_cast<raft::EntryType>(pe.type()),
                                        .data = std::move(*pe.mutable_data())});
      }
      return b;
    }
    case v1::RaftMessage::APPEND_RESPONSE:
      return raft::AppendResponse{.index = LogIndex(in.index()),
                                  .rejected = in.rejected(),
                                  .reject_hint = LogIndex(in.reject_hint()),
                                  .hint_term = Term(in.hint_term()),
                                  .leader_tick = in.leader_tick()};
    case v1::RaftMessage::VOTE:
      return raft::VoteRequest{.kind = Kind(in.pre_vote()),
                               .last_index = LogIndex(in.index()),
                               .last_term = Term(in.log_term()),
                               .leader_transfer = in.leader_transfer()};
    case v1::RaftMessage::VOTE_RESPONSE:
      return raft::VoteResponse{.kind = Kind(in.pre_vote()), .granted = in.granted()};
    case v1::RaftMessage::HEARTBEAT:
      return raft::Heartbeat{.commit = LogIndex(in.commit()),
                             .read_id = raft::ReadId(in.read_id()),
                             .leader_tick = in.leader_tick()};
    case v1::RaftMessage::HEARTBEAT_RESPONSE:
      return raft::HeartbeatResponse{.read_id = raft::ReadId(in.read_id()),
                                     .leader_tick = in.leader_tick()};
    case v1::RaftMessage::INSTALL_SNAPSHOT:
      return raft::InstallSnapshot{.meta = raft::SnapshotMeta{
                                       .index = LogIndex(in.snapshot().index()),
                                       .term = Term(in.snapshot().term()),
                                       .conf = DecodeConfState(in.snapshot().conf())}};
    case v1::RaftMessage::TIMEOUT_NOW:
      return raft::TimeoutNow{};
    case v1::RaftMessage::READ_INDEX:
      return raft::ReadIndexRequest{.read_id = raft::ReadId(in.read_id())};
    case v1::RaftMessage::READ_INDEX_RESPONSE:
      return raft::ReadIndexResponse{.read_id = raft::ReadId(in.read_id()),
                                     .index = LogIndex(in.index())};
    case v1::RaftMessage::TRANSFER_LEADER:
      return raft::TransferLeaderRequest{.target = raft::NodeId(in.target())};
    case v1::RaftMessage::HIBERNATE:
      return raft::Hibernate{.index = LogIndex(in.index()),
                             .commit = LogIndex(in.commit()),
                             .leader_tick = in.leader_tick()};
    default:
      return std::unexpected("unknown raft message type " + std::to_string(in.type()));
  }
}

}  // namespace

void EncodeGroupMessage(const GroupMessage& m, v1::RaftMessage* out) {
  if (!IsHostNotice(m)) {
    EncodeRaftMessage(m.group, m.message, out);
    return;
  }
  out->set_group(m.group);
  out->set_from(m.message.from.value());
  out->set_to(m.message.to.value());
  if (m.member_query) {
    out->set_type(v1::RaftMessage::REPLICA_QUERY);
    return;
  }
  out->set_type(v1::RaftMessage::REPLICA_GONE);
  out->set_conf_version(m.gone_conf_version);
}

std::expected<GroupMessage, std::string> DecodeRaftMessage(v1::RaftMessage&& in) {
  if (in.group() == 0) return std::unexpected("raft message for group 0");
  if (in.from() == 0 || in.to() == 0) return std::unexpected("raft message without sender or recipient");
  if (in.type() == v1::RaftMessage::REPLICA_GONE) {
    if (in.conf_version() == 0) return std::unexpected("replica-gone notice without conf_version");
    return GroupMessage{.group = in.group(),
                        .message = raft::Message{.from = raft::NodeId(in.from()),
                                                 .to = raft::NodeId(in.to())},
                        .gone_conf_version = in.conf_version()};
  }
  if (in.type() == v1::RaftMessage::REPLICA_QUERY) {
    return GroupMessage{.group = in.group(),
                        .message = raft::Message{.from = raft::NodeId(in.from()),
                                                 .to = raft::NodeId(in.to())},
                        .member_query = true};
  }
  auto body = DecodeBody(in);
  if (!body) return std::unexpected(std::move(body.error()));
  return GroupMessage{.group = in.group(),
                      .message = raft::Message{.from = raft::NodeId(in.from()),
                                               .to = raft::NodeId(in.to()),
                                               .term = raft::Term(in.term()),
                                               .body = std::move(*body)}};
}

bool IsCoalescible(const raft::Message& m) {
  return std::holds_alternative<raft::Heartbeat>(m.body) ||
         std::holds_alternative<raft::HeartbeatResponse>(m.body);
}

void EncodeHeartbeat(uint64_t group, const raft::Message& m, v1::CoalescedHeartbeat* out) {
  out->set_group(group);
  out->set_from(m.from.value());
  out->set_to(m.to.value());
  out->set_term(m.term.value());
  if (const auto* h = std::get_if<raft::Heartbeat>(&m.body)) {
    out->set_commit(h->commit.value());
    out->set_read_id(h->read_id.value());
    out->set_leader_tick(h->leader_tick);
  } else if (const auto* r = std::get_if<raft::HeartbeatResponse>(&m.body)) {
    out->set_read_id(r->read_id.value());
    out->set_leader_tick(r->leader_tick);
  }
}

std::expected<GroupMessage, std::string> DecodeHeartbeat(const v1::CoalescedHeartbeat& in, bool response) {
  if (in.group() == 0) return std::unexpected("heartbeat for group 0");
  if (in.from() == 0 || in.to() == 0) return std::unexpected("heartbeat without sender or recipient");
  raft::Message m{.from = raft::NodeId(in.from()),
                  .to = raft::NodeId(in.to()),
                  .term = raft::Term(in.term())};
  if (response) {
    m.body = raft::HeartbeatResponse{.read_id = raft::ReadId(in.read_id()),
                                     .leader_tick = in.leader_tick()};
  } else {
    m.body = raft::Heartbeat{.commit = raft::LogIndex(in.commit()),
                             .read_id = raft::ReadId(in.read_id()),
                             .leader_tick = in.leader_tick()};
  }
  return GroupMessage{.group = in.group(), .message = std::move(m)};
}

}  // namespace claw::server
