// server/key_header_cache: lookups, the two generations (a hit in the old one moves the entry to
// the young one), the node-wide budget (exact counts through puts, rotations and clears) and
// ClearIfIdle. The state machine's use of it is tested in kv_state_machine_test.cc.
#include <catch2/catch.hpp>

#include <string>

#include "server/key_header_cache.h"

namespace claw::server {
namespace {

KeyHeader Version(uint64_t v) { return KeyHeader{.version = v, .create_ts = 10, .mod_ts = 10 + v, .lease = 0}; }

TEST_CASE("header cache: put, find, overwrite, absent keys", "[server]") {
  KeyHeaderCacheBudget budget(100);
  KeyHeaderCache c(&budget);
  CHECK_FALSE(c.Find("a").has_value());
  c.Put("a", Version(1));
  c.Put("gone", KeyHeader{});  // a key known not to exist is worth remembering too
  REQUIRE(c.Find("a").has_value());
  CHECK(c.Find("a")->version == 1);
  CHECK(c.Find("a")->mod_ts == 11);
  REQUIRE(c.Find("gone").has_value());
  CHECK_FALSE(c.Find("gone")->exists());
  c.Put("a", Version(2));
  CHECK(c.Find("a")->version == 2);
  CHECK(c.size() == 2);
  CHECK(budget.used.load() == 2);
  // Every lookup counted once: a miss first, then hits.
  CHECK(budget.misses.load() == 1);
  CHECK(budget.hits.load() == 6);
}

TEST_CASE("header cache: over budget, the inserting cache drops its old generation", "[server]") {
  KeyHeaderCacheBudget budget(4);
  KeyHeaderCache c(&budget);
  for (int i = 0; i < 4; ++i) c.Put("k" + std::to_string(i), Version(1));
  CHECK(budget.used.load() == 4);
  c.Put("k4", Version(1));  // rotation: k0..k3 become old, k4 young
  CHECK(c.size() == 5);
  CHECK(budget.used.load() == 5);
  REQUIRE(c.Find("k1").has_value());  // moved back to the young generation
  c.Put("k5", Version(1));  // rotation: the old generation (k0, k2, k3) goes
  CHECK_FALSE(c.Find("k0").has_value());
  CHECK_FALSE(c.Find("k2").has_value());
  CHECK(c.Find("k1").has_value());
  CHECK(c.Find("k4").has_value());
  CHECK(c.Find("k5").has_value());
  CHECK(budget.used.load() == static_cast<int64_t>(c.size()));
}

TEST_CASE("header cache: caches share the budget; clears and destruction give it back", "[server]") {
  KeyHeaderCacheBudget budget(6);
  {
    KeyHeaderCache busy(&budget), idle(&budget);
    for (int i = 0; i < 4; ++i) idle.Put("i" + std::to_string(i), Version(1));
    for (int i = 0; i < 20; ++i) busy.Put("b" + std::to_string(i), Version(1));
    CHECK(budget.used.load() == static_cast<int64_t>(busy.size() + idle.size()));
    CHECK(budget.used.load() <= 8);  // the busy one rotates; the idle one keeps its 4
    busy.ClearIfIdle();  // it put since the last check: kept
    idle.ClearIfIdle();
    CHECK(busy.size() > 0);
    CHECK(idle.size() == 4);
    idle.ClearIfIdle();  // nothing put since: cleared
    CHECK(idle.size() == 0);
    CHECK(budget.used.load() == static_cast<int64_t>(busy.size()));
  }
  CHECK(budget.used.load() == 0);
}

TEST_CASE("header cache: no budget or a zero limit caches nothing", "[server]") {
  KeyHeaderCache none(nullptr);
  none.Put("a", Version(1));
  CHECK_FALSE(none.Find("a").has_value());
  KeyHeaderCacheBudget zero(0);
  KeyHeaderCache off(&zero);
  off.Put("a", Version(1));
  CHECK_FALSE(off.Find("a").has_value());
  CHECK(zero.used.load() == 0);
  CHECK(zero.misses.load() == 0);  // a disabled cache counts nothing
}

}  // namespace
}  // namespace claw::server
