// CRC-32C: the published check values (RFC 3720 appendix B.4 and the "123456789" check value),
// incremental extension, and the hardware kernel (where the CPU has one) against the table on
// every length and alignment of a buffer, so that a wrong tail or word loop cannot hide.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>

#include "storage/crc32c.h"

namespace claw::storage {
namespace {

TEST_CASE("crc32c: published check values", "[storage]") {
  CHECK(Crc32c("") == 0u);
  CHECK(Crc32c("123456789") == 0xe3069283u);
  CHECK(Crc32c(std::string(32, '\0')) == 0x8a9136aau);
  CHECK(Crc32c(std::string(32, '\xff')) == 0x62a8ab43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(Crc32c(ascending) == 0x46dd794eu);
  CHECK(Crc32cSoftware(0, "123456789") == 0xe3069283u);
}

TEST_CASE("crc32c: extending equals checksumming the concatenation", "[storage]") {
  const std::string a = "the raft log entry header", b = " and its payload bytes";
  CHECK(Crc32c(Crc32c(a), b) == Crc32c(a + b));
  CHECK(Crc32cSoftware(Crc32cSoftware(0, a), b) == Crc32c(a + b));
}

TEST_CASE("crc32c: the dispatched kernel agrees with the table at every length and offset",
          "[storage]") {
  std::mt19937 rng(7);
  std::string buf(300, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t len = 0; offset + len <= buf.size(); ++len) {
      const std::string_view piece(buf.data() + offset, len);
      REQUIRE(Crc32c(piece) == Crc32cSoftware(0, piece));
    }
  }
}

}  // namespace
}  // namespace claw::storage
