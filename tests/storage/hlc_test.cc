// Timestamp layout (round trips, ordering, carry) and HybridClock: monotonicity under a stalled or
// backwards-jumping physical clock, logical overflow, the receive-event merge rules of Kulkarni et
// al. and the max-offset rejection. The physical clock is injected; no sleeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "storage/hlc.h"

namespace claw::storage {
namespace {

TEST_CASE("timestamp: parts round trip in the TSO layout", "[storage]") {
  const Timestamp ts = Timestamp::FromParts(1'700'000'000'123, 42);
  CHECK(ts.physical_ms() == 1'700'000'000'123);
  CHECK(ts.logical() == 42);
  CHECK(ts.value() == ((uint64_t{1'700'000'000'123} << 18) | 42));
  CHECK(ts.ToString() == "1700000000123.42");
  CHECK(Timestamp(ts.value()) == ts);

  const Timestamp top = Timestamp::FromParts(Timestamp::kMaxPhysicalMs, Timestamp::kMaxLogical);
  CHECK(top == Timestamp::Max());
  CHECK(top.physical_ms() == Timestamp::kMaxPhysicalMs);
  CHECK(top.logical() == Timestamp::kMaxLogical);

  CHECK(Timestamp().IsZero());
  CHECK(Timestamp::FromParts(0, 0).IsZero());
  CHECK_FALSE(Timestamp::FromParts(0, 1).IsZero());
}

TEST_CASE("timestamp: numeric order is (physical, logical) order", "[storage]") {
  const std::vector<std::pair<uint64_t, uint64_t>> parts = {
      {0, 1}, {0, Timestamp::kMaxLogical}, {1, 0}, {1, 1}, {5, 7}, {5, 8}, {6, 0}, {1ull << 40, 3}};
  for (size_t i = 0; i < parts.size(); ++i) {
    for (size_t j = 0; j < parts.size(); ++j) {
      const Timestamp a = Timestamp::FromParts(parts[i].first, parts[i].second);
      const Timestamp b = Timestamp::FromParts(parts[j].first, parts[j].second);
      CHECK((a < b) == (parts[i] < parts[j]));
      CHECK((a == b) == (i == j));
    }
  }
  CHECK(Timestamp() < Timestamp::FromParts(0, 1));
  CHECK(Timestamp::FromParts(Timestamp::kMaxPhysicalMs, 0) < Timestamp::Max());
}

TEST_CASE("timestamp: Next carries a logical overflow into the physical part", "[storage]") {
  CHECK(Timestamp::FromParts(9, 3).Next() == Timestamp::FromParts(9, 4));
  CHECK(Timestamp::FromParts(9, Timestamp::kMaxLogical).Next() == Timestamp::FromParts(10, 0));
}

TEST_CASE("hlc: Now follows an advancing physical clock with logical 0", "[storage]") {
  uint64_t now_ms = 1000;
  HybridClock clock(500, [&] { return now_ms; });
  CHECK(clock.Last().IsZero());
  CHECK(clock.Now() == Timestamp::FromParts(1000, 0));
  now_ms = 1001;
  CHECK(clock.Now() == Timestamp::FromParts(1001, 0));
  now_ms = 2000;
  CHECK(clock.Now() == Timestamp::FromParts(2000, 0));
  CHECK(clock.Last() == Timestamp::FromParts(2000, 0));
}

TEST_CASE("hlc: Now stays strictly increasing when the physical clock stalls", "[storage]") {
  uint64_t now_ms = 1000;
  HybridClock clock(500, [&] { return now_ms; });
  Timestamp prev = clock.Now();
  for (uint64_t i = 1; i <= 100; ++i) {
    const Timestamp ts = clock.Now();
    CHECK(ts > prev);
    CHECK(ts == Timestamp::FromParts(1000, i));
    prev = ts;
  }
  now_ms = 1001;  // the clock moves again: logical resets
  CHECK(clock.Now() == Timestamp::FromParts(1001, 0));
}

TEST_CASE("hlc: Now stays strictly increasing when the physical clock jumps back", "[storage]") {
  uint64_t now_ms = 5000;
  HybridClock clock(500, [&] { return now_ms; });
  const Timestamp before = clock.Now();
  now_ms = 4000;  // NTP step backwards
  Timestamp prev = before;
  for (int i = 0; i < 10; ++i) {
    const Timestamp ts = clock.Now();
    CHECK(ts > prev);
    CHECK(ts.physical_ms() == 5000);  // the physical part never goes back
    prev = ts;
  }
  now_ms = 4999;  // still behind: keep counting
  CHECK(clock.Now() == Timestamp::FromParts(5000, 11));
  now_ms = 5001;  // caught up: physical time wins again
  CHECK(clock.Now() == Timestamp::FromParts(5001, 0));
}

TEST_CASE("hlc: logical overflow carries into the physical part", "[storage]") {
  uint64_t now_ms = 7000;
  HybridClock clock(500, [&] { return now_ms; });
  Timestamp prev = clock.Now();
  for (uint64_t i = 0; i < Timestamp::kMaxLogical; ++i) prev = clock.Now();
  CHECK(prev == Timestamp::FromParts(7000, Timestamp::kMaxLogical));
  const Timestamp carried = clock.Now();
  CHECK(carried == Timestamp::FromParts(7001, 0));
  CHECK(clock.Now() == Timestamp::FromParts(7001, 1));
  now_ms = 7001;  // physical time reaches the borrowed millisecond: still increasing
  CHECK(clock.Now() == Timestamp::FromParts(7001, 2));
  now_ms = 7002;
  CHECK(clock.Now() == Timestamp::FromParts(7002, 0));
}

TEST_CASE("hlc: Update follows the receive rules of Kulkarni et al.", "[storage]") {
  uint64_t now_ms = 1000;
  HybridClock clock(500, [&] { return now_ms; });

  SECTION("physical time ahead of both: l = pt, c = 0") {
    REQUIRE(clock.Now() == Timestamp::FromParts(1000, 0));
    now_ms = 1100;
    REQUIRE(clock.Update(Timestamp::FromParts(1050, 9)).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(1100, 0));
  }
  SECTION("remote ahead: l = l_m, c = c_m + 1") {
    REQUIRE(clock.Now() == Timestamp::FromParts(1000, 0));
    REQUIRE(clock.Update(Timestamp::FromParts(1200, 7)).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(1200, 8));
    CHECK(clock.Now() == Timestamp::FromParts(1200, 9));  // later events stay ahead of remote
  }
  SECTION("local ahead: l = l', c = c' + 1") {
    now_ms = 2000;
    REQUIRE(clock.Now() == Timestamp::FromParts(2000, 0));
    REQUIRE(clock.Now() == Timestamp::FromParts(2000, 1));
    now_ms = 1500;
    REQUIRE(clock.Update(Timestamp::FromParts(1900, 50)).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(2000, 2));
  }
  SECTION("equal physical parts: c = max(c', c_m) + 1") {
    REQUIRE(clock.Now() == Timestamp::FromParts(1000, 0));
    REQUIRE(clock.Now() == Timestamp::FromParts(1000, 1));
    REQUIRE(clock.Update(Timestamp::FromParts(1000, 5)).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(1000, 6));
    REQUIRE(clock.Update(Timestamp::FromParts(1000, 2)).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(1000, 7));
  }
  SECTION("remote at the logical limit carries") {
    REQUIRE(clock.Update(Timestamp::FromParts(1300, Timestamp::kMaxLogical)).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(1301, 0));
  }
  SECTION("the zero timestamp merges like any old one") {
    REQUIRE(clock.Update(Timestamp()).has_value());
    CHECK(clock.Last() == Timestamp::FromParts(1000, 0));
  }
}

TEST_CASE("hlc: Update rejects a remote beyond the max clock offset", "[storage]") {
  uint64_t now_ms = 10'000;
  HybridClock clock(250, [&] { return now_ms; });
  CHECK(clock.max_offset_ms() == 250);
  const Timestamp before = clock.Now();

  // Exactly at the offset: accepted.
  REQUIRE(clock.Update(Timestamp::FromParts(10'250, 3)).has_value());
  CHECK(clock.Last() == Timestamp::FromParts(10'250, 4));

  // One millisecond further: rejected, clock unchanged, message says by how much and names the
  // setting.
  const Timestamp last = clock.Last();
  auto rejected = clock.Update(Timestamp::FromParts(10'251, 0));
  REQUIRE_FALSE(rejected.has_value());
  CHECK(rejected.error().code == StorageErrorCode::kInvalidArgument);
  CHECK_THAT(rejected.error().message, Catch::Contains("251 ms ahead"));
  CHECK_THAT(rejected.error().message, Catch::Contains("max_clock_offset_ms = 250"));
  CHECK(clock.Last() == last);

  // Far in the future (a broken peer clock): rejected too.
  CHECK_FALSE(clock.Update(Timestamp::FromParts(99'999'999, 0)).has_value());
  CHECK(clock.Now() > before);

  // With max offset 0 nothing ahead of the local clock is accepted, but equal is.
  HybridClock strict(0, [&] { return now_ms; });
  CHECK(strict.Update(Timestamp::FromParts(10'000, 99)).has_value());
  CHECK_FALSE(strict.Update(Timestamp::FromParts(10'001, 0)).has_value());
}

TEST_CASE("hlc: the system clock is close to now and Now is unique across threads", "[storage]") {
  HybridClock clock(500);
  const Timestamp first = clock.Now();
  // Sanity: after 2023-01-01 and before 2100.
  CHECK(first.physical_ms() > 1'672'531'200'000ull);
  CHECK(first.physical_ms() < 4'102'444'800'000ull);

  constexpr int kThreads = 4;
  constexpr int kPerThread = 20'000;
  std::vector<std::vector<Timestamp>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&clock, &out = seen[size_t(t)]] {
      out.reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) out.push_back(clock.Now());
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<Timestamp> all;
  for (const auto& out : seen) {
    CHECK(std::is_sorted(out.begin(), out.end()));
    all.insert(out.begin(), out.end());
    CHECK(out.front() > first);
  }
  CHECK(all.size() == size_t(kThreads) * kPerThread);
}

}  // namespace
}  // namespace claw::storage
