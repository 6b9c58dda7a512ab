// server/node's pure parts: InitialShards (ids, ranges tiling the key space with no gap or overlap,
// min(3, nodes) replicas on distinct nodes, preferred leaders spread evenly) and ClusterId (stable,
// sensitive to names, addresses and their order).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "server/node.h"
#include "server/router.h"

namespace claw::server {
namespace {

// The two-byte boundary for value v, trailing zero bytes dropped (as bootstrap writes it).
std::string Boundary(uint32_t v) {
  std::string s{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

TEST_CASE("InitialShards: ids and ranges tile the key space", "[server]") {
  for (int shards : {1, 2, 3, 16, 255, 256, 257, 4096}) {
    for (int nodes : {1, 3}) {
      CAPTURE(shards, nodes);
      const std::vector<v1::ShardDescriptor> ds = InitialShards(shards, nodes);
      REQUIRE(ds.size() == static_cast<size_t>(shards) + 1);
      // The meta shard first: id 1, no user keys of its own (never routed).
      CHECK(ds[0].id() == kMetaShard);
      CHECK(ds[0].start_key().empty());
      CHECK(ds[0].end_key().empty());
      // Data shards 2.., the first from the empty key, the last to +inf, each ending where the
      // next starts, every range non-empty.
      CHECK(ds[1].start_key().empty());
      CHECK(ds.back().end_key().empty());
      bool tiled = true;
      for (int i = 0; i < shards; ++i) {
        const v1::ShardDescriptor& d = ds[static_cast<size_t>(i) + 1];
        tiled = tiled && d.id() == static_cast<uint64_t>(i) + 2;
        tiled = tiled && d.epoch().conf_version() == 1 && d.epoch().range_version() == 1;
        if (i + 1 < shards) {
          const v1::ShardDescriptor& next = ds[static_cast<size_t>(i) + 2];
          tiled = tiled && !d.end_key().empty() && d.end_key() == next.start_key();
          tiled = tiled && d.start_key() < d.end_key();
          tiled =
              tiled && d.end_key() == Boundary(static_cast<uint32_t>(65536ull * (i + 1) / shards));
        }
        if (!tiled) {
          FAIL_CHECK("shard index " << i << " id " << d.id() << " breaks the tiling");
          break;
        }
      }
      CHECK(tiled);

      // Routed: every probe key lands in exactly the shard whose range holds it.
      Router r(1);
      for (const auto& d : ds) r.Upsert(d, /*local=*/false);
      CHECK(r.All().size() == static_cast<size_t>(shards));
      for (uint32_t v = 0; v < 65536; v += 97) {
        const std::string key{static_cast<char>(v >> 8), static_cast<char>(v & 0xff), 'x'};
        auto route = r.Lookup(key);
        REQUIRE(route.has_value());
        const uint64_t want =
            2 + static_cast<uint64_t>(
                    std::upper_bound(ds.begin() + 2, ds.end(), key,
                                     [](const std::string& k, const v1::ShardDescriptor& d) {
                                       return k < d.start_key();
                                     }) -
                    (ds.begin() + 2));
        if (route->shard.id() != want) {
          FAIL_CHECK("key value " << v << " routed to " << route->shard.id() << ", want " << want);
          break;
        }
      }
    }
  }
}

TEST_CASE("InitialShards: exact split keys", "[server]") {
  auto ends = [](int shards) {
    std::vector<std::string> out;
    for (const auto& d : InitialShards(shards, 3)) {
      if (d.id() != kMetaShard) out.push_back(d.end_key());
    }
    return out;
  };
  CHECK(ends(1) == std::vector<std::string>{""});
  CHECK(ends(2) == std::vector<std::string>{"\x80", ""});
  CHECK(ends(4) == std::vector<std::string>{"\x40", "\x80", "\xc0", ""});
  const auto e256 = ends(256);
  CHECK(e256[0] == "\x01");
  CHECK(e256[254] == "\xff");
  const auto e257 = ends(257);
  CHECK(e257[0] == std::string("\x00\xff", 2));    // 65536 / 257 = 255
  CHECK(e257[254] == std::string("\xfe\x01", 2));  // 65536 * 255 / 257 = 65025
  CHECK(e257[255] == "\xff");                      // 65536 * 256 / 257 = 65280
  const auto e4096 = ends(4096);
  CHECK(e4096[0] == std::string("\x00\x10", 2));
  CHECK(e4096[15] == "\x01");
  CHECK(e4096[4094] == std::string("\xff\xf0", 2));
}

TEST_CASE("InitialShards: min(3, nodes) voters on distinct nodes", "[server]") {
  for (int nodes : {1, 2, 3, 4, 5, 7}) {
    for (int shards : {1, 16, 257}) {
      CAPTURE(nodes, shards);
      const size_t want = static_cast<size_t>(std::min(3, nodes));
      std::map<uint64_t, int> hosted;
      bool ok = true;
      for (const v1::ShardDescriptor& d : InitialShards(shards, nodes)) {
        std::set<uint64_t> distinct;
        ok = ok && static_cast<size_t>(d.replicas_size()) == want;
        for (const v1::Replica& rep : d.replicas()) {
          ok = ok && rep.node_id() >= 1 && rep.node_id() <= static_cast<uint64_t>(nodes);
          ok = ok && rep.replica_id() == rep.node_id();
          ok = ok && rep.role() == v1::Replica::VOTER;
          distinct.insert(rep.node_id());
          ++hosted[rep.node_id()];
        }
        ok = ok && distinct.size() == want;
        if (!ok) {
          FAIL_CHECK("shard " << d.id() << " has a bad replica set");
          break;
        }
      }
      CHECK(ok);
      // Replicas spread: with at least as many shards as nodes every node hosts some, and no
      // node hosts more than `want` above another.
      int lo = INT32_MAX, hi = 0;
      for (uint64_t n = 1; n <= static_cast<uint64_t>(nodes); ++n) {
        lo = std::min(lo, hosted[n]);
        hi = std::max(hi, hosted[n]);
      }
      if (shards >= nodes) CHECK(lo > 0);
      CHECK(hi - lo <= static_cast<int>(want));
    }
  }
}

TEST_CASE("InitialShards: preferred leaders (first replica) spread evenly", "[server]") {
  for (int nodes : {1, 2, 3, 5}) {
    for (int shards : {1, 3, 16, 255, 256, 257, 4096}) {
      CAPTURE(nodes, shards);
      std::map<uint64_t, int> data_leaders;
      const auto ds = InitialShards(shards, nodes);
      for (size_t i = 1; i < ds.size(); ++i) ++data_leaders[ds[i].replicas(0).node_id()];
      int lo = INT32_MAX, hi = 0;
      for (uint64_t n = 1; n <= static_cast<uint64_t>(nodes); ++n) {
        lo = std::min(lo, data_leaders[n]);
        hi = std::max(hi, data_leaders[n]);
      }
      CHECK(hi - lo <= 1);
      CHECK(hi == (shards + nodes - 1) / nodes);
    }
  }
  // 3 nodes, 16 shards: the meta shard leads on node 1, data shards rotate from node 2.
  const auto ds = InitialShards(16, 3);
  CHECK(ds[0].replicas(0).node_id() == 1);
  CHECK(ds[1].replicas(0).node_id() == 2);
  CHECK(ds[2].replicas(0).node_id() == 3);
  CHECK(ds[3].replicas(0).node_id() == 1);
  std::map<uint64_t, int> all;
  for (const auto& d : ds) ++all[d.replicas(0).node_id()];
  CHECK(all == std::map<uint64_t, int>{{1, 6}, {2, 6}, {3, 5}});
}

TEST_CASE("ClusterId: stable, and different for different members or orders", "[server]") {
  using config::Member;
  const std::vector<Member> abc = {{"a", "h1:7000"}, {"b", "h2:7000"}, {"c", "h3:7000"}};
  const uint64_t id = ClusterId(abc);
  CHECK(id == ClusterId(std::vector<Member>(abc)));
  CHECK(id != 0);
  // Pinned: a data directory stores it, so a change breaks every existing node (exit 76).
  // (FNV-1a over name, 0xff, peer address, 0xff, ... computed outside this code base.)
  CHECK(id == 0x97b7fef4edd7cf52ull);

  std::set<uint64_t> ids = {id};
  const std::vector<std::vector<Member>> others = {
      {{"b", "h2:7000"}, {"a", "h1:7000"}, {"c", "h3:7000"}},  // order
      {{"a", "h1:7000"}, {"b", "h2:7000"}},                    // fewer
      {{"a", "h1:7000"}, {"b", "h2:7000"}, {"d", "h3:7000"}},  // a name
      {{"a", "h1:7000"}, {"b", "h2:7000"}, {"c", "h3:7001"}},  // an address
      {{"a", "h2:7000"}, {"b", "h1:7000"}, {"c", "h3:7000"}},  // addresses swapped
      {{"ah1:7000", ""}, {"b", "h2:7000"}, {"c", "h3:7000"}},  // field boundary moved
      {{"a", "h1:7000b"}, {"", "h2:7000"}, {"c", "h3:7000"}},  // member boundary moved
      {},
  };
  for (size_t i = 0; i < others.size(); ++i) {
    CAPTURE(i);
    CHECK(ClusterId(others[i]) == ClusterId(others[i]));
    CHECK(ids.insert(ClusterId(others[i])).second);
  }
}

}  // namespace
}  // namespace claw::server
