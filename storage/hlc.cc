#include "storage/hlc.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace claw::storage {

std::string Timestamp::ToString() const {
  return std::to_string(physical_ms()) + "." + std::to_string(logical());
}

uint64_t HybridClock::SystemClockMs() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count());
}

HybridClock::HybridClock(uint64_t max_offset_ms, PhysicalClock physical)
    : max_offset_ms_(max_offset_ms), physical_(std::move(physical)) {}

Timestamp HybridClock::Advance(uint64_t floor) {
  // Kulkarni et al. with the TSO layout: "l = max(l, pt); c = (l unchanged) ? c + 1 : 0" is
  // max(last + 1, pt << 18), and the receive rule adds the remote's successor to the max. The
  // logical counter overflowing into the physical bits is the carry the layout gives for free.
  uint64_t last = last_.load(std::memory_order_acquire);
  uint64_t next = 0;
  do {
    next = std::max(last + 1, floor);
  } while (!last_.compare_exchange_weak(last, next, std::memory_order_acq_rel,
                                        std::memory_order_acquire));
  return Timestamp(next);
}

Timestamp HybridClock::Now() { return Advance(Timestamp::FromParts(physical_(), 0).value()); }

std::expected<void, StorageError> HybridClock::Update(Timestamp remote) {
  const uint64_t physical = physical_();
  if (remote.physical_ms() > physical && remote.physical_ms() - physical > max_offset_ms_) {
    return std::unexpected(StorageError{
        .code = StorageErrorCode::kInvalidArgument,
        .message = "remote timestamp " + remote.ToString() + " is " +
                   std::to_string(remote.physical_ms() - physical) +
                   " ms ahead of the local physical clock, more than max_clock_offset_ms = " +
                   std::to_string(max_offset_ms_)});
  }
  const uint64_t local = Timestamp::FromParts(physical, 0).value();
  Advance(std::max(local, remote.value() + 1));
  return {};
}

}  // namespace claw::storage
