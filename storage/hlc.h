// Timestamp and HybridClock: the hybrid logical clock (Kulkarni et al., "Logical Physical Clocks
// and Consistent Snapshots in Globally Distributed Databases", 2014) that stamps MVCC versions.
//
// Timestamp is a plain 64-bit value in the TiKV TSO layout (storage/README.md "Timestamps"):
//
//   bits 63..18  physical: milliseconds since the Unix epoch (46 bits, good until year 4199)
//   bits 17..0   logical:  counter within one millisecond (18 bits, 262,144 values)
//
// so that numeric order is (physical, logical) order and `raw + 1` is the next timestamp, a
// logical overflow carrying into the physical part. Timestamp{} (zero) means "none"; no version is
// ever written at it. Timestamp::Max() reads the newest version of everything.
//
// HybridClock: owns the node's last issued timestamp. Thread-safety: every method may be called
// concurrently; the state is one std::atomic<uint64_t> advanced by compare-and-swap, so Now() is
// strictly increasing across all threads without a lock. The physical clock function is called
// outside any critical section and must itself be thread-safe. Lifecycle: construct, use, destroy;
// nothing persists. After a restart the clock starts from the physical time again, so the node
// (not this class) must make sure that time has passed everything issued before the crash, e.g.
// by waiting out max_offset_ms before serving, as CockroachDB does.
#pragma once

#include <atomic>
#include <compare>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>

#include "storage/error.h"

namespace claw::storage {

class Timestamp {
 public:
  static constexpr int kLogicalBits = 18;
  static constexpr uint64_t kMaxLogical = (uint64_t{1} << kLogicalBits) - 1;
  static constexpr uint64_t kMaxPhysicalMs = (uint64_t{1} << (64 - kLogicalBits)) - 1;

  constexpr Timestamp() = default;
  constexpr explicit Timestamp(uint64_t raw) : raw_(raw) {}

  // Requires physical_ms <= kMaxPhysicalMs and logical <= kMaxLogical.
  static constexpr Timestamp FromParts(uint64_t physical_ms, uint64_t logical) {
    return Timestamp((physical_ms << kLogicalBits) | (logical & kMaxLogical));
  }
  static constexpr Timestamp Max() { return Timestamp(~uint64_t{0}); }

  constexpr uint64_t value() const { return raw_; }
  constexpr uint64_t physical_ms() const { return raw_ >> kLogicalBits; }
  constexpr uint64_t logical() const { return raw_ & kMaxLogical; }
  constexpr bool IsZero() const { return raw_ == 0; }

  // The smallest timestamp after this one (logical + 1, carrying into physical). Requires
  // *this != Max().
  constexpr Timestamp Next() const { return Timestamp(raw_ + 1); }

  constexpr auto operator<=>(const Timestamp&) const = default;

  // "physical_ms.logical", e.g. "1700000000000.3"; for logs and error messages.
  std::string ToString() const;

 private:
  uint64_t raw_ = 0;
};

class HybridClock {
 public:
  // Returns milliseconds since the Unix epoch; must not exceed Timestamp::kMaxPhysicalMs.
  using PhysicalClock = std::function<uint64_t()>;

  // std::chrono::system_clock in milliseconds.
  static uint64_t SystemClockMs();

  // `max_offset_ms`: the largest clock difference tolerated between nodes (config
  // `max_clock_offset_ms`); Update rejects a remote timestamp further ahead of the local physical
  // clock than this. 0 tolerates no remote timestamp ahead of the local clock at all.
  explicit HybridClock(uint64_t max_offset_ms, PhysicalClock physical = SystemClockMs);
  HybridClock(const HybridClock&) = delete;
  HybridClock& operator=(const HybridClock&) = delete;

  // A timestamp greater than every timestamp this clock issued or merged before (HLC "send or
  // local event"): max(physical now, last + 1), where last + 1 carries a logical overflow into
  // the physical part. Monotonic even when the physical clock stalls or jumps backwards.
  Timestamp Now();

  // Merges a timestamp received from another node (HLC "receive event"): afterwards the clock is
  // past both `remote` and its own previous state, so every later Now() is > remote. Fails with
  // kInvalidArgument, leaving the clock unchanged, when remote's physical part is more than
  // max_offset_ms ahead of the local physical clock (a misconfigured or broken peer clock must
  // not drag this node's timestamps into the future).
  [[nodiscard]] std::expected<void, StorageError> Update(Timestamp remote);

  // The last timestamp issued or merged (Timestamp{} before the first); does not advance.
  Timestamp Last() const { return Timestamp(last_.load(std::memory_order_acquire)); }

  uint64_t max_offset_ms() const { return max_offset_ms_; }

 private:
  // Advances last_ to max(last_ + 1, floor) and returns the new value.
  Timestamp Advance(uint64_t floor);

  const uint64_t max_offset_ms_;
  const PhysicalClock physical_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace claw::storage
