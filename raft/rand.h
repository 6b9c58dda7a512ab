// SplitMix64: a tiny deterministic PRNG for election-timeout jitter. The core must be reproducible
// from its seed on every platform, so it uses no <random> distribution (their outputs are
// implementation-defined). Value type; thread-compatible.
#pragma once

#include <cstdint>

namespace claw::raft {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) for bound > 0 (the modulo bias is negligible for small bounds).
  uint64_t Below(uint64_t bound) { return Next() % bound; }

 private:
  uint64_t state_;
};

}  // namespace claw::raft
