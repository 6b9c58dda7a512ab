// server/flat_string_map: the open-addressing map against std::unordered_map over long random
// sequences of puts, erases and lookups (small key spaces, so runs collide, wrap around the
// array's end and get erased from the middle), plus growth, Clear and keys the inline buffer
// cannot hold.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>

#include "server/flat_string_map.h"

namespace claw::server {
namespace {

// Every entry of `want` is found with its value, ForEach visits exactly `want`, sizes agree.
void RequireSame(const FlatStringMap<uint64_t>& m, const std::unordered_map<std::string, uint64_t>& want) {
  REQUIRE(m.size() == want.size());
  for (const auto& [k, v] : want) {
    const uint64_t* got = m.Find(k);
    REQUIRE(got != nullptr);
    REQUIRE(*got == v);
  }
  size_t seen = 0;
  m.ForEach([&](std::string_view k, uint64_t v) {
    auto it = want.find(std::string(k));
    REQUIRE(it != want.end());
    REQUIRE(it->second == v);
    ++seen;
  });
  REQUIRE(seen == want.size());
}

TEST_CASE("flat string map: random puts, erases and lookups match std::unordered_map", "[server]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    // Few distinct keys for some seeds (dense, long runs), more for others; some keys longer
    // than std::string's inline buffer.
    const uint64_t space = seed % 2 == 0 ? 40 : 3000;
    auto key = [&](uint64_t i) {
      return i % 3 == 0 ? "a-longer-key-beyond-the-inline-buffer/" + std::to_string(i) : std::to_string(i);
    };
    FlatStringMap<uint64_t> m;
    std::unordered_map<std::string, uint64_t> want;
    for (int op = 0; op < 20'000; ++op) {
      const std::string k = key(rng() % space);
      switch (rng() % 4) {
        case 0:
        case 1: {
          const uint64_t v = rng();
          REQUIRE(m.Put(k, v) == v);
          want[k] = v;
          break;
        }
        case 2:
          REQUIRE(m.Erase(k) == (want.erase(k) == 1));
          break;
        default: {
          const uint64_t* got = m.Find(k);
          auto it = want.find(k);
          REQUIRE((got != nullptr) == (it != want.end()));
          if (got != nullptr) REQUIRE(*got == it->second);
        }
      }
      REQUIRE(m.size() == want.size());
      if (op % 4'000 == 0) RequireSame(m, want);
    }
    RequireSame(m, want);
    // The array stays at most 3/4 full.
    REQUIRE(m.size() * 4 <= m.capacity() * 3);
  }
}

TEST_CASE("flat string map: growth keeps every entry; erase all; clear releases the array", "[server]") {
  FlatStringMap<uint64_t> m;
  CHECK(m.capacity() == 0);
  CHECK(m.Find("x") == nullptr);
  CHECK_FALSE(m.Erase("x"));
  for (uint64_t i = 0; i < 10'000; ++i) m.Put("key" + std::to_string(i), i);
  CHECK(m.size() == 10'000);
  CHECK(m.capacity() == 16'384);
  for (uint64_t i = 0; i < 10'000; ++i) {
    const uint64_t* v = m.Find("key" + std::to_string(i));
    REQUIRE(v != nullptr);
    REQUIRE(*v == i);
  }
  // Overwrite keeps the size.
  m.Put("key7", 70);
  CHECK(*m.Find("key7") == 70);
  CHECK(m.size() == 10'000);
  // Erase every other key, then all: lookups of erased keys miss, of the rest hit.
  for (uint64_t i = 0; i < 10'000; i += 2) REQUIRE(m.Erase("key" + std::to_string(i)));
  for (uint64_t i = 0; i < 10'000; ++i) REQUIRE((m.Find("key" + std::to_string(i)) != nullptr) == (i % 2 == 1));
  for (uint64_t i = 1; i < 10'000; i += 2) REQUIRE(m.Erase("key" + std::to_string(i)));
  CHECK(m.empty());
  m.Put("again", 1);
  m.Clear();
  CHECK(m.capacity() == 0);
  CHECK(m.Find("again") == nullptr);
  m.Put("after-clear", 2);
  CHECK(*m.Find("after-clear") == 2);
}

TEST_CASE("flat string map: empty and binary keys", "[server]") {
  FlatStringMap<uint64_t> m;
  m.Put("", 1);
  m.Put(std::string("\0a", 2), 2);
  m.Put(std::string("\0b", 2), 3);
  CHECK(*m.Find("") == 1);
  CHECK(*m.Find(std::string("\0a", 2)) == 2);
  CHECK(*m.Find(std::string("\0b", 2)) == 3);
  CHECK(m.Find(std::string("\0", 1)) == nullptr);
  CHECK(m.Erase(""));
  CHECK(m.Find("") == nullptr);
  CHECK(m.size() == 2);
}

}  // namespace
}  // namespace claw::server
