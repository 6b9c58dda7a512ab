// server/router: key -> shard lookups at range boundaries (empty start, split keys, the last shard
// with an empty end), backwards lookups for reverse scans, overlap queries for errors, the meta
// shard never routed, Upsert replacing a range, leaders, and members merging learnt facts.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/router.h"

namespace claw::server {
namespace {

// Upsert's `local` argument: whether this node hosts a replica.
constexpr bool kLocal = true;
constexpr bool kRemote = false;

v1::ShardDescriptor Shard(uint64_t id, const std::string& start, const std::string& end,
                          uint64_t range_version = 1) {
  v1::ShardDescriptor d;
  d.set_id(id);
  d.set_start_key(start);
  d.set_end_key(end);
  d.mutable_epoch()->set_conf_version(1);
  d.mutable_epoch()->set_range_version(range_version);
  return d;
}

// meta (1) + [ , g) (2) + [g, p) (3) + [p, ) (4). Router is neither copyable nor movable.
void AddThreeShards(Router& r) {
  r.Upsert(Shard(kMetaShard, "", ""), kLocal);
  r.Upsert(Shard(2, "", "g"), kRemote);
  r.Upsert(Shard(3, "g", "p"), kLocal);
  r.Upsert(Shard(4, "p", ""), kRemote);
}

uint64_t LookupId(const Router& r, const std::string& key) {
  auto route = r.Lookup(key);
  return route ? route->shard.id() : 0;
}
uint64_t BeforeId(const Router& r, const std::string& end) {
  auto route = r.LookupBefore(end);
  return route ? route->shard.id() : 0;
}
std::vector<uint64_t> Ids(const std::vector<v1::ShardDescriptor>& ds) {
  std::vector<uint64_t> out;
  for (const auto& d : ds) out.push_back(d.id());
  return out;
}

TEST_CASE("router: Lookup at range boundaries", "[server]") {
  Router r(/*self=*/1);
  AddThreeShards(r);
  CHECK(LookupId(r, "") == 2);
  CHECK(LookupId(r, std::string("\0", 1)) == 2);
  CHECK(LookupId(r, "a") == 2);
  CHECK(LookupId(r, "f\xff\xff\xff") == 2);
  CHECK(LookupId(r, "g") == 3);  // a split key belongs to the shard it starts
  CHECK(LookupId(r, std::string("g\0", 2)) == 3);
  CHECK(LookupId(r, "o\xff") == 3);
  CHECK(LookupId(r, "p") == 4);
  CHECK(LookupId(r, "\xff\xff\xff\xff") == 4);  // the last shard's end is +inf

  auto route = r.Lookup("h");
  REQUIRE(route.has_value());
  CHECK(route->local);
  CHECK(route->shard.start_key() == "g");
  CHECK(route->shard.end_key() == "p");
  CHECK(route->leader == 0);
  CHECK_FALSE(r.Lookup("q")->local);
}

TEST_CASE("router: LookupBefore finds the shard holding the keys just below an end", "[server]") {
  Router r(/*self=*/1);
  AddThreeShards(r);
  CHECK(BeforeId(r, "") == 4);  // empty end = the end of the key space
  CHECK(BeforeId(r, "\xff\xff") == 4);
  CHECK(BeforeId(r, std::string("p\0", 2)) == 4);
  CHECK(BeforeId(r, "p") == 3);  // keys below p live in [g, p)
  CHECK(BeforeId(r, "h") == 3);
  CHECK(BeforeId(r, std::string("g\0", 2)) == 3);
  CHECK(BeforeId(r, "g") == 2);
  CHECK(BeforeId(r, "a") == 2);
  CHECK(BeforeId(r, std::string("\0", 1)) == 2);
}

TEST_CASE("router: gaps and an empty directory route nowhere", "[server]") {
  Router r(1);
  CHECK_FALSE(r.Lookup("a").has_value());
  CHECK_FALSE(r.LookupBefore("").has_value());
  CHECK(r.All().empty());

  r.Upsert(Shard(5, "c", "f"), kRemote);
  r.Upsert(Shard(6, "m", "p"), kRemote);
  CHECK(LookupId(r, "") == 0);
  CHECK(LookupId(r, "b") == 0);
  CHECK(LookupId(r, "c") == 5);
  CHECK(LookupId(r, "f") == 0);  // in the gap [f, m)
  CHECK(LookupId(r, "m") == 6);
  CHECK(LookupId(r, "p") == 0);
  CHECK(BeforeId(r, "c") == 0);
  CHECK(BeforeId(r, "d") == 5);
}

TEST_CASE("router: the meta shard is kept but never routed to", "[server]") {
  Router meta_only(1);
  meta_only.Upsert(Shard(kMetaShard, "", ""), kLocal);
  CHECK_FALSE(meta_only.Lookup("").has_value());
  CHECK_FALSE(meta_only.Lookup("a").has_value());
  CHECK_FALSE(meta_only.LookupBefore("").has_value());
  CHECK(meta_only.All().empty());
  CHECK(meta_only.Overlapping("", "").empty());
  REQUIRE(meta_only.Get(kMetaShard).has_value());
  CHECK(meta_only.Get(kMetaShard)->local);

  Router r(/*self=*/1);
  AddThreeShards(r);
  std::vector<uint64_t> all;
  for (const Route& route : r.All()) all.push_back(route.shard.id());
  CHECK(all == std::vector<uint64_t>{2, 3, 4});  // ordered by start key, no meta
  for (const char* key : {"", "a", "g", "z"}) CHECK(LookupId(r, key) != kMetaShard);
  CHECK(r.Get(kMetaShard).has_value());
  CHECK_FALSE(r.Get(99).has_value());
}

TEST_CASE("router: Overlapping lists the data shards meeting [start, end)", "[server]") {
  Router r(/*self=*/1);
  AddThreeShards(r);
  CHECK(Ids(r.Overlapping("", "")) == std::vector<uint64_t>{2, 3, 4});
  CHECK(Ids(r.Overlapping("f", "q")) == std::vector<uint64_t>{2, 3, 4});
  CHECK(Ids(r.Overlapping("g", "p")) ==
        std::vector<uint64_t>{3});  // both bounds exclusive of neighbours
  CHECK(Ids(r.Overlapping("a", "g")) == std::vector<uint64_t>{2});
  CHECK(Ids(r.Overlapping("a", std::string("g\0", 2))) == std::vector<uint64_t>{2, 3});
  CHECK(Ids(r.Overlapping("o", "")) == std::vector<uint64_t>{3, 4});
  CHECK(Ids(r.Overlapping("x", "")) == std::vector<uint64_t>{4});
  CHECK(Ids(r.Overlapping("", "a")) == std::vector<uint64_t>{2});
}

TEST_CASE("router: Upsert replaces a shard's range and local flag", "[server]") {
  Router r(/*self=*/1);
  AddThreeShards(r);
  // The split point moves from g to k: shard 2 grows, shard 3 shrinks.
  r.Upsert(Shard(2, "", "k", 2), kLocal);
  r.Upsert(Shard(3, "k", "p", 2), kRemote);
  CHECK(LookupId(r, "g") == 2);
  CHECK(LookupId(r, "j\xff") == 2);
  CHECK(LookupId(r, "k") == 3);
  CHECK(BeforeId(r, "k") == 2);
  CHECK(r.All().size() == 3);
  auto two = r.Get(2);
  REQUIRE(two.has_value());
  CHECK(two->shard.end_key() == "k");
  CHECK(two->shard.epoch().range_version() == 2);
  CHECK(two->local);
  CHECK_FALSE(r.Get(3)->local);

  // A new shard takes the upper part of shard 4's range.
  r.Upsert(Shard(4, "p", "t", 2), kRemote);
  r.Upsert(Shard(5, "t", ""), kRemote);
  CHECK(LookupId(r, "s") == 4);
  CHECK(LookupId(r, "t") == 5);
  CHECK(LookupId(r, "\xff") == 5);
  CHECK(BeforeId(r, "") == 5);
  CHECK(Ids(r.Overlapping("q", "")) == std::vector<uint64_t>{4, 5});
}

TEST_CASE("router: Upsert of a shard whose old start another shard now owns",
          "[server]") {
  Router r(/*self=*/1);
  AddThreeShards(r);
  r.Upsert(Shard(5, "g", "k"), kRemote);
  r.Upsert(Shard(3, "k", "p", 2), kRemote);
  CHECK(LookupId(r, "g") == 5);
  CHECK(LookupId(r, "h") == 5);
  CHECK(LookupId(r, "k") == 3);
  CHECK(r.All().size() == 4);
}

TEST_CASE("router: leaders are set for known shards only", "[server]") {
  Router r(/*self=*/1);
  AddThreeShards(r);
  r.SetLeader(3, 2);
  r.SetLeader(77, 1);  // unknown shard: ignored, not created
  CHECK(r.Lookup("h")->leader == 2);
  CHECK(r.Get(3)->leader == 2);
  CHECK(r.Lookup("a")->leader == 0);
  CHECK_FALSE(r.Get(77).has_value());
  r.SetLeader(3, 0);
  CHECK(r.Get(3)->leader == 0);
  CHECK(r.self() == 1);
}

TEST_CASE("router: members merge learnt facts without erasing known ones", "[server]") {
  Router r(1);
  r.UpsertMember(MemberInfo{.id = 2,
                            .name = "n2",
                            .peer_address = "10.0.0.2:7000",
                            .client_address = "",
                            .zone = "z1",
                            .rack = "r1",
                            .host = "h1"});
  CHECK(r.ClientAddress(2).empty());

  // A hello: client address and name, no zone/rack/host.
  r.UpsertMember(MemberInfo{.id = 2, .name = "n2", .client_address = "10.0.0.2:9000"});
  auto m = r.Member(2);
  REQUIRE(m.has_value());
  CHECK(m->id == 2);
  CHECK(m->name == "n2");
  CHECK(m->peer_address == "10.0.0.2:7000");
  CHECK(m->client_address == "10.0.0.2:9000");
  CHECK(m->zone == "z1");
  CHECK(m->rack == "r1");
  CHECK(m->host == "h1");
  CHECK(r.ClientAddress(2) == "10.0.0.2:9000");

  // Non-empty facts replace.
  r.UpsertMember(MemberInfo{.id = 2, .client_address = "10.0.0.2:9001", .zone = "z2"});
  m = r.Member(2);
  CHECK(m->client_address == "10.0.0.2:9001");
  CHECK(m->zone == "z2");
  CHECK(m->rack == "r1");
  CHECK(m->name == "n2");

  r.UpsertMember(MemberInfo{.id = 3, .name = "n3"});
  r.UpsertMember(MemberInfo{.id = 1, .name = "n1"});
  std::vector<uint64_t> ids;
  for (const MemberInfo& mi : r.Members()) ids.push_back(mi.id);
  CHECK(ids == std::vector<uint64_t>{1, 2, 3});
  CHECK_FALSE(r.Member(9).has_value());
  CHECK(r.ClientAddress(9).empty());
}

TEST_CASE("router: InRange treats an empty end as +inf", "[server]") {
  CHECK(InRange(Shard(2, "", "g"), ""));
  CHECK(InRange(Shard(2, "", "g"), "f"));
  CHECK_FALSE(InRange(Shard(2, "", "g"), "g"));
  CHECK(InRange(Shard(3, "g", ""), "g"));
  CHECK(InRange(Shard(3, "g", ""), "\xff\xff"));
  CHECK_FALSE(InRange(Shard(3, "g", ""), "f\xff"));
}

}  // namespace
TEST_CASE("router: an older descriptor never replaces a newer one, but updates the local flag", "[server]") {
  Router r(1);
  AddThreeShards(r);
  v1::ShardDescriptor newer = Shard(3, "g", "p", 2);
  newer.mutable_epoch()->set_conf_version(5);
  r.Upsert(newer, kLocal);
  // Older in conf_version: ignored except for the flag.
  v1::ShardDescriptor older_conf = Shard(3, "g", "z", 2);
  older_conf.mutable_epoch()->set_conf_version(4);
  r.Upsert(older_conf, kRemote);
  auto route = r.Get(3);
  REQUIRE(route.has_value());
  CHECK(route->shard.end_key() == "p");
  CHECK(route->shard.epoch().conf_version() == 5);
  CHECK_FALSE(route->local);
  // Older in range_version: ignored too.
  v1::ShardDescriptor older_range = Shard(3, "g", "z", 1);
  older_range.mutable_epoch()->set_conf_version(9);
  r.Upsert(older_range, kLocal);
  CHECK(r.Get(3)->shard.end_key() == "p");
  CHECK(r.Get(3)->local);
  // Equal or newer replaces.
  v1::ShardDescriptor same = Shard(3, "g", "p", 2);
  same.mutable_epoch()->set_conf_version(5);
  same.add_replicas()->set_node_id(7);
  r.Upsert(same, kLocal);
  CHECK(r.Get(3)->shard.replicas_size() == 1);
  CHECK(LookupId(r, "h") == 3);
}

}  // namespace claw::server

namespace claw::server {

TEST_CASE("router: directory entries fill in shards without a local replica, newer epochs only", "[server]") {
  Router r(1);
  AddThreeShards(r);
  // Shard 4 [p, ) split at t elsewhere: the directory has both halves; this node hosts neither.
  CHECK(r.Learn(Shard(4, "p", "t", 2)));
  CHECK(r.Learn(Shard(9, "t", "", 2)));
  CHECK(LookupId(r, "q") == 4);
  CHECK(LookupId(r, "u") == 9);
  // Older or equal epochs change nothing.
  CHECK_FALSE(r.Learn(Shard(4, "p", "", 1)));
  CHECK_FALSE(r.Learn(Shard(9, "t", "", 2)));
  CHECK(LookupId(r, "u") == 9);
  // A local replica's own descriptor is authoritative, even against a newer directory entry.
  CHECK_FALSE(r.Learn(Shard(3, "g", "h", 5)));
  CHECK(LookupId(r, "k") == 3);
  CHECK(r.Get(3)->local);
  CHECK_FALSE(r.Get(9)->local);
  CHECK_FALSE(r.Learn(v1::ShardDescriptor()));
}

}  // namespace claw::server
