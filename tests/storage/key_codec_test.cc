// Key encodings: memcomparable order preservation (property-tested over random keys), prefix
// freedom, round trips, malformed input, and the raft column family layout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "raft/rand.h"
#include "storage/key_codec.h"

namespace claw::storage {
namespace {

// Deterministic, so failures reproduce.
using Rng = raft::SplitMix64;

// Keys rich in the bytes that matter: 0x00, 0x01, 0xFF and a few others.
std::string RandomKey(Rng& rng) {
  static constexpr char kAlphabet[] = {'\0', '\x01', '\xff', 'a', 'b', '\x7f', '\x80'};
  std::string key(rng.Next() % 9, '\0');
  for (char& c : key) c = kAlphabet[rng.Next() % sizeof(kAlphabet)];
  return key;
}

std::string Enc(const std::string& key) {
  std::string out;
  EncodeMemcomparable(out, key);
  return out;
}

TEST_CASE("memcomparable: encoding preserves order and equality", "[storage]") {
  Rng rng{42};
  for (int i = 0; i < 200'000; ++i) {
    const std::string a = RandomKey(rng);
    const std::string b = RandomKey(rng);
    INFO("iteration " << i);
    REQUIRE((a < b) == (Enc(a) < Enc(b)));
    REQUIRE((a == b) == (Enc(a) == Enc(b)));
  }
}

TEST_CASE("memcomparable: no encoding is a prefix of another; suffixes keep order", "[storage]") {
  Rng rng{7};
  for (int i = 0; i < 50'000; ++i) {
    const std::string a = RandomKey(rng);
    const std::string b = RandomKey(rng);
    if (a == b) continue;
    const std::string ea = Enc(a), eb = Enc(b);
    REQUIRE_FALSE(eb.starts_with(ea));
    // Any timestamp suffix on either side leaves the user-key order intact.
    std::string sa = ea, sb = eb;
    PutBigEndian64(sa, rng.Next());
    PutBigEndian64(sb, rng.Next());
    REQUIRE((a < b) == (sa < sb));
  }
}

TEST_CASE("memcomparable: round trip, and malformed input is rejected", "[storage]") {
  Rng rng{99};
  for (int i = 0; i < 10'000; ++i) {
    const std::string key = RandomKey(rng);
    std::string encoded = Enc(key) + "tail";
    std::string_view in = encoded;
    auto decoded = DecodeMemcomparable(in);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == key);
    CHECK(in == "tail");
  }
  for (std::string bad : {std::string("abc"), std::string("a\0", 2), std::string("a\0\x02", 3)}) {
    std::string_view in = bad;
    CHECK_FALSE(DecodeMemcomparable(in).has_value());
  }
}

TEST_CASE("raft keys: entries of a group are contiguous and ordered by index", "[storage]") {
  std::vector<std::string> keys;
  for (uint64_t g : {1ull, 2ull, 256ull, 1ull << 40}) {
    for (uint64_t i : {0ull, 1ull, 255ull, 256ull, 1ull << 33, ~0ull})
      keys.push_back(RaftEntryKey(g, i));
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == keys);  // generated in (group, index) order
  auto parts = ParseRaftEntryKey(RaftEntryKey(77, 12345));
  REQUIRE(parts.has_value());
  CHECK(parts->group == 77);
  CHECK(parts->index == 12345);
  CHECK_FALSE(ParseRaftEntryKey(RaftHardStateKey(77)).has_value());
  // Hard and log state keys never fall inside any group's entry range.
  CHECK(RaftHardStateKey(1) > RaftEntryKey(~0ull, ~0ull));
  CHECK(RaftLogStateKey(1) > RaftHardStateKey(~0ull));
}

TEST_CASE("fixed-width integers round trip", "[storage]") {
  for (uint64_t v : {0ull, 1ull, 0x0102030405060708ull, ~0ull}) {
    std::string s;
    PutBigEndian64(s, v);
    CHECK(GetBigEndian64(s) == v);
  }
  for (uint32_t v : {0u, 1u, 0xdeadbeefu}) {
    std::string s;
    PutFixed32(s, v);
    CHECK(GetFixed32(s) == v);
  }
}

}  // namespace
}  // namespace claw::storage
