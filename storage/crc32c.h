// CRC-32C (Castagnoli), the checksum of Raft log entries and snapshot files. Uses the SSE 4.2
// crc32 instruction where the CPU has it (checked once at start), else a table; pure
// functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace claw::storage {

// Extends `crc` (0 to start) with `data`.
uint32_t Crc32c(uint32_t crc, std::string_view data);
inline uint32_t Crc32c(std::string_view data) { return Crc32c(0, data); }

// The table-driven form, whatever the CPU has (tests compare both).
uint32_t Crc32cSoftware(uint32_t crc, std::string_view data);

}  // namespace claw::storage
