// server/codec: every raft::Message body type survives EncodeRaftMessage -> protobuf bytes ->
// DecodeRaftMessage with every field intact (distinct values per field, so a swap is caught),
// heartbeats survive the coalesced form, and decoding refuses what the core must never see.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "server/codec.h"

namespace claw::server {
namespace {

using raft::ConfState;
using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;
using raft::ReadId;
using raft::Term;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

std::vector<NodeId> Ids(std::initializer_list<uint64_t> ids) {
  std::vector<NodeId> out;
  for (uint64_t id : ids) out.emplace_back(id);
  return out;
}

// A joint configuration with all four lists set and distinct.
ConfState JointConf() {
  return ConfState{.voters = Ids({1, 2, 3}),
                   .learners = Ids({9}),
                   .voters_outgoing = Ids({1, 2, 4}),
                   .learners_next = Ids({4, 7})};
}

// Binary payloads: NUL, 0xFF, an empty one and a large one.
std::vector<Entry> SampleEntries(uint64_t first) {
  std::string big(200'000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  return {
      Entry{.term = Term(7),
            .index = LogIndex(first),
            .type = EntryType::kNormal,
            .data = std::string("\0a\xff\x00z", 5)},
      Entry{.term = Term(7),
            .index = LogIndex(first + 1),
            .type = EntryType::kConfig,
            .data = "conf"},
      Entry{.term = Term(8), .index = LogIndex(first + 2), .type = EntryType::kNormal, .data = ""},
      Entry{
          .term = Term(8), .index = LogIndex(first + 3), .type = EntryType::kNormal, .data = big}};
}

Message Msg(raft::MessageBody body) {
  return Message{.from = NodeId(3), .to = NodeId(5), .term = Term(11), .body = std::move(body)};
}

// One message of every body type (two for the ones with an enum or a flag), every field set to a
// value that differs from the default and from the other fields.
std::vector<Message> AllSamples() {
  return {
      Msg(raft::AppendRequest{.prev_index = LogIndex(40),
                              .prev_term = Term(6),
                              .commit = LogIndex(38),
                              .entries = SampleEntries(41),
                              .leader_tick = 1234}),
      Msg(raft::AppendRequest{.prev_index = LogIndex(0),
                              .prev_term = Term(0),
                              .commit = LogIndex(0),
                              .entries = {},
                              .leader_tick = kMax}),
      Msg(raft::AppendResponse{.index = LogIndex(77),
                               .rejected = true,
                               .reject_hint = LogIndex(70),
                               .hint_term = Term(4),
                               .leader_tick = 99}),
      Msg(raft::AppendResponse{.index = LogIndex(kMax), .rejected = false}),
      Msg(raft::VoteRequest{.kind = raft::ElectionKind::kPreVote,
                            .last_index = LogIndex(55),
                            .last_term = Term(9),
                            .leader_transfer = false}),
      Msg(raft::VoteRequest{.kind = raft::ElectionKind::kVote,
                            .last_index = LogIndex(56),
                            .last_term = Term(10),
                            .leader_transfer = true}),
      Msg(raft::VoteResponse{.kind = raft::ElectionKind::kPreVote, .granted = true}),
      Msg(raft::VoteResponse{.kind = raft::ElectionKind::kVote, .granted = false}),
      Msg(raft::Heartbeat{.commit = LogIndex(21), .read_id = ReadId(22), .leader_tick = 23}),
      Msg(raft::HeartbeatResponse{.read_id = ReadId(31), .leader_tick = 32}),
      Msg(raft::InstallSnapshot{
          .meta =
              raft::SnapshotMeta{.index = LogIndex(1000), .term = Term(12), .conf = JointConf()}}),
      Msg(raft::TimeoutNow{}),
      Msg(raft::ReadIndexRequest{.read_id = ReadId(61)}),
      Msg(raft::ReadIndexResponse{.read_id = ReadId(62), .index = LogIndex(63)}),
      Msg(raft::TransferLeaderRequest{.target = NodeId(4)}),
      Msg(raft::Hibernate{.index = LogIndex(81), .commit = LogIndex(80), .leader_tick = 82}),
  };
}

// Every field of every body, compared one by one.
void CheckSameBody(const raft::MessageBody& want, const raft::MessageBody& got) {
  REQUIRE(want.index() == got.index());
  std::visit(
      [&got](const auto& w) {
        using T = std::decay_t<decltype(w)>;
        const T& g = std::get<T>(got);
        if constexpr (std::is_same_v<T, raft::AppendRequest>) {
          CHECK(g.prev_index == w.prev_index);
          CHECK(g.prev_term == w.prev_term);
          CHECK(g.commit == w.commit);
          CHECK(g.leader_tick == w.leader_tick);
          CHECK(g.entries == w.entries);
        } else if constexpr (std::is_same_v<T, raft::AppendResponse>) {
          CHECK(g.index == w.index);
          CHECK(g.rejected == w.rejected);
          CHECK(g.reject_hint == w.reject_hint);
          CHECK(g.hint_term == w.hint_term);
          CHECK(g.leader_tick == w.leader_tick);
        } else if constexpr (std::is_same_v<T, raft::VoteRequest>) {
          CHECK(g.kind == w.kind);
          CHECK(g.last_index == w.last_index);
          CHECK(g.last_term == w.last_term);
          CHECK(g.leader_transfer == w.leader_transfer);
        } else if constexpr (std::is_same_v<T, raft::VoteResponse>) {
          CHECK(g.kind == w.kind);
          CHECK(g.granted == w.granted);
        } else if constexpr (std::is_same_v<T, raft::Heartbeat>) {
          CHECK(g.commit == w.commit);
          CHECK(g.read_id == w.read_id);
          CHECK(g.leader_tick == w.leader_tick);
        } else if constexpr (std::is_same_v<T, raft::HeartbeatResponse>) {
          CHECK(g.read_id == w.read_id);
          CHECK(g.leader_tick == w.leader_tick);
        } else if constexpr (std::is_same_v<T, raft::InstallSnapshot>) {
          CHECK(g.meta == w.meta);
        } else if constexpr (std::is_same_v<T, raft::TimeoutNow>) {
          SUCCEED("no fields");
        } else if constexpr (std::is_same_v<T, raft::ReadIndexRequest>) {
          CHECK(g.read_id == w.read_id);
        } else if constexpr (std::is_same_v<T, raft::ReadIndexResponse>) {
          CHECK(g.read_id == w.read_id);
          CHECK(g.index == w.index);
        } else if constexpr (std::is_same_v<T, raft::TransferLeaderRequest>) {
          CHECK(g.target == w.target);
        } else if constexpr (std::is_same_v<T, raft::Hibernate>) {
          CHECK(g.index == w.index);
          CHECK(g.commit == w.commit);
          CHECK(g.leader_tick == w.leader_tick);
        } else {
          static_assert(!sizeof(T), "a new message body type needs a sample and a comparison");
        }
      },
      want);
}

// Encode, go through wire bytes (as the transport does), decode.
std::expected<GroupMessage, std::string> RoundTrip(uint64_t group, const Message& m) {
  v1::RaftMessage pb;
  EncodeRaftMessage(group, m, &pb);
  std::string wire = pb.SerializeAsString();
  v1::RaftMessage parsed;
  REQUIRE(parsed.ParseFromString(wire));
  return DecodeRaftMessage(std::move(parsed));
}

TEST_CASE("codec: every message body type round-trips with all its fields", "[server]") {
  const std::vector<Message> samples = AllSamples();
  std::set<size_t> covered;
  for (const Message& m : samples) covered.insert(m.body.index());
  REQUIRE(covered.size() == std::variant_size_v<raft::MessageBody>);

  const uint64_t groups[] = {1, 2, 0xdeadbeefcafeull, kMax};
  for (size_t i = 0; i < samples.size(); ++i) {
    const Message& m = samples[i];
    const uint64_t group = groups[i % 4];
    CAPTURE(i, raft::MessageTypeName(m), group);
    auto got = RoundTrip(group, m);
    REQUIRE(got.has_value());
    CHECK(got->group == group);
    CHECK(got->message.from == NodeId(3));
    CHECK(got->message.to == NodeId(5));
    CHECK(got->message.term == Term(11));
    CheckSameBody(m.body, got->message.body);
  }
}

TEST_CASE("codec: wire type and field placement of an append", "[server]") {
  Message m = AllSamples()[0];
  v1::RaftMessage pb;
  EncodeRaftMessage(17, m, &pb);
  CHECK(pb.type() == v1::RaftMessage::APPEND);
  CHECK(pb.group() == 17);
  CHECK(pb.index() == 40);
  CHECK(pb.log_term() == 6);
  CHECK(pb.commit() == 38);
  CHECK(pb.leader_tick() == 1234);
  REQUIRE(pb.entries_size() == 4);
  CHECK(pb.entries(0).index() == 41);
  CHECK(pb.entries(0).data() == std::string("\0a\xff\x00z", 5));
  CHECK(pb.entries(1).type() == 1);
  CHECK(pb.entries(3).data().size() == 200'000);
}

TEST_CASE("codec: conf state round-trips on its own, joint and empty", "[server]") {
  for (const ConfState& c : {JointConf(), ConfState{}, ConfState{.voters = Ids({kMax, 1})}}) {
    v1::RaftConfState pb;
    EncodeConfState(c, &pb);
    CHECK(pb.voters_size() == static_cast<int>(c.voters.size()));
    v1::RaftConfState parsed;
    REQUIRE(parsed.ParseFromString(pb.SerializeAsString()));
    CHECK(DecodeConfState(parsed) == c);
  }
}

TEST_CASE("codec: heartbeats and responses round-trip through the coalesced form", "[server]") {
  const Message hb =
      Msg(raft::Heartbeat{.commit = LogIndex(21), .read_id = ReadId(22), .leader_tick = 23});
  const Message hr = Msg(raft::HeartbeatResponse{.read_id = ReadId(31), .leader_tick = kMax});
  CHECK(IsCoalescible(hb));
  CHECK(IsCoalescible(hr));
  for (const Message& m : AllSamples()) {
    const bool heartbeat = std::holds_alternative<raft::Heartbeat>(m.body) ||
                           std::holds_alternative<raft::HeartbeatResponse>(m.body);
    CAPTURE(raft::MessageTypeName(m));
    CHECK(IsCoalescible(m) == heartbeat);
  }

  for (const auto& [m, response] : {std::pair{hb, false}, std::pair{hr, true}}) {
    v1::CoalescedHeartbeat pb;
    EncodeHeartbeat(42, m, &pb);
    v1::CoalescedHeartbeat parsed;
    REQUIRE(parsed.ParseFromString(pb.SerializeAsString()));
    auto decoded = DecodeHeartbeat(parsed, response);
    REQUIRE(decoded.has_value());
    GroupMessage got = std::move(*decoded);
    CHECK(got.group == 42);
    CHECK(got.message.from == NodeId(3));
    CHECK(got.message.to == NodeId(5));
    CHECK(got.message.term == Term(11));
    CheckSameBody(m.body, got.message.body);
  }
}

v1::RaftMessage ValidAppend() {
  v1::RaftMessage pb;
  EncodeRaftMessage(2, AllSamples()[0], &pb);
  return pb;
}

TEST_CASE("codec: decoding refuses zero group, zero endpoints and unknown types", "[server]") {
  REQUIRE(DecodeRaftMessage(ValidAppend()).has_value());

  v1::RaftMessage pb = ValidAppend();
  pb.set_group(0);
  auto r = DecodeRaftMessage(std::move(pb));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == "raft message for group 0");

  pb = ValidAppend();
  pb.set_from(0);
  r = DecodeRaftMessage(std::move(pb));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == "raft message without sender or recipient");

  pb = ValidAppend();
  pb.set_to(0);
  r = DecodeRaftMessage(std::move(pb));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == "raft message without sender or recipient");

  pb = ValidAppend();
  pb.set_type(v1::RaftMessage::TYPE_UNSPECIFIED);
  r = DecodeRaftMessage(std::move(pb));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == "unknown raft message type 0");

  // A type from a newer peer: proto3 enums keep unknown values.
  pb = ValidAppend();
  pb.set_type(static_cast<v1::RaftMessage::Type>(99));
  v1::RaftMessage parsed;
  REQUIRE(parsed.ParseFromString(pb.SerializeAsString()));
  CHECK(static_cast<int>(parsed.type()) == 99);
  r = DecodeRaftMessage(std::move(parsed));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == "unknown raft message type 99");
}

TEST_CASE("codec: decoding refuses non-contiguous entries and unknown entry types", "[server]") {
  SECTION("first entry is not prev_index + 1") {
    v1::RaftMessage pb = ValidAppend();
    pb.set_index(39);  // entries start at 41
    auto r = DecodeRaftMessage(std::move(pb));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "append entries are not contiguous");
  }
  SECTION("a gap in the middle") {
    v1::RaftMessage pb = ValidAppend();
    pb.mutable_entries(2)->set_index(44);
    auto r = DecodeRaftMessage(std::move(pb));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "append entries are not contiguous");
  }
  SECTION("a repeated index") {
    v1::RaftMessage pb = ValidAppend();
    pb.mutable_entries(1)->set_index(41);
    auto r = DecodeRaftMessage(std::move(pb));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "append entries are not contiguous");
  }
  SECTION("descending indexes") {
    v1::RaftMessage pb = ValidAppend();
    pb.mutable_entries(3)->set_index(43);
    auto r = DecodeRaftMessage(std::move(pb));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "append entries are not contiguous");
  }
  SECTION("entry type 2") {
    v1::RaftMessage pb = ValidAppend();
    pb.mutable_entries(1)->set_type(2);
    auto r = DecodeRaftMessage(std::move(pb));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "unknown entry type");
  }
  SECTION("entry type 0xFFFFFFFF") {
    v1::RaftMessage pb = ValidAppend();
    pb.mutable_entries(0)->set_type(0xFFFFFFFFu);
    auto r = DecodeRaftMessage(std::move(pb));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == "unknown entry type");
  }
}

TEST_CASE("codec: coalesced heartbeats with zero group or endpoints are refused", "[server]") {
  v1::CoalescedHeartbeat zero_group;
  zero_group.set_group(0);
  zero_group.set_from(3);
  zero_group.set_to(5);
  v1::CoalescedHeartbeat zero_from;
  zero_from.set_group(2);
  zero_from.set_from(0);
  zero_from.set_to(5);
  v1::CoalescedHeartbeat zero_to;
  zero_to.set_group(2);
  zero_to.set_from(3);
  zero_to.set_to(0);
  for (bool response : {false, true}) {
    auto g = DecodeHeartbeat(zero_group, response);
    REQUIRE_FALSE(g.has_value());
    CHECK(g.error() == "heartbeat for group 0");
    for (const v1::CoalescedHeartbeat& pb : {zero_from, zero_to}) {
      auto r = DecodeHeartbeat(pb, response);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error() == "heartbeat without sender or recipient");
    }
  }
}

}  // namespace
TEST_CASE("codec: a replica-gone notice round-trips and needs its conf version", "[server]") {
  GroupMessage gone{.group = 9,
                    .message = Message{.from = raft::NodeId(2), .to = raft::NodeId((uint64_t{3} << 32) | 4)},
                    .gone_conf_version = 12};
  v1::RaftMessage pb;
  EncodeGroupMessage(gone, &pb);
  CHECK(pb.type() == v1::RaftMessage::REPLICA_GONE);
  v1::RaftMessage parsed;
  REQUIRE(parsed.ParseFromString(pb.SerializeAsString()));
  auto back = DecodeRaftMessage(std::move(parsed));
  REQUIRE(back.has_value());
  CHECK(back->group == 9);
  CHECK(back->message.from == raft::NodeId(2));
  CHECK(back->message.to == raft::NodeId((uint64_t{3} << 32) | 4));
  CHECK(back->gone_conf_version == 12);

  pb.set_conf_version(0);
  auto bad = DecodeRaftMessage(std::move(pb));
  REQUIRE_FALSE(bad.has_value());
  CHECK_THAT(bad.error(), Catch::Contains("conf_version"));

  // A plain Raft message encodes as before, with no conf version.
  GroupMessage plain{.group = 9, .message = Message{.from = raft::NodeId(2), .to = raft::NodeId(3), .term = raft::Term(1),
                                                    .body = raft::TimeoutNow{}}};
  v1::RaftMessage pb2;
  EncodeGroupMessage(plain, &pb2);
  CHECK(pb2.type() == v1::RaftMessage::TIMEOUT_NOW);
  CHECK(pb2.conf_version() == 0);
  CHECK_FALSE(IsHostNotice(plain));
}

TEST_CASE("codec: a membership query round-trips as a host notice, never as a heartbeat", "[server]") {
  // Its body is the default (not meaningful): the transport must not coalesce it as a heartbeat.
  GroupMessage query{.group = 9,
                     .message = Message{.from = raft::NodeId((uint64_t{1} << 32) | 1), .to = raft::NodeId(2),
                                        .body = raft::Heartbeat{}},
                     .member_query = true};
  CHECK(IsHostNotice(query));
  v1::RaftMessage pb;
  EncodeGroupMessage(query, &pb);
  CHECK(pb.type() == v1::RaftMessage::REPLICA_QUERY);
  v1::RaftMessage parsed;
  REQUIRE(parsed.ParseFromString(pb.SerializeAsString()));
  auto back = DecodeRaftMessage(std::move(parsed));
  REQUIRE(back.has_value());
  CHECK(back->member_query);
  CHECK(back->gone_conf_version == 0);
  CHECK(back->group == 9);
  CHECK(back->message.from == raft::NodeId((uint64_t{1} << 32) | 1));
  CHECK(back->message.to == raft::NodeId(2));
}

}  // namespace claw::server
