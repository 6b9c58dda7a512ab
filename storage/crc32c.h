// CRC-32C (Castagnoli), the checksum of Raft log entries and snapshot files. Software,
// table-driven (slice-by-1); pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace claw::storage {

// Extends `crc` (0 to start) with `data`.
uint32_t Crc32c(uint32_t crc, std::string_view data);
inline uint32_t Crc32c(std::string_view data) { return Crc32c(0, data); }

}  // namespace claw::storage
