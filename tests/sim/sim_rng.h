// Rng: the simulator's pseudo-random source, xoshiro256** seeded through SplitMix64.
//
// Every random choice of a simulation run (network delays, faults, workload, scenario shape) comes
// from Rng streams derived from the run's one uint64 seed, so the seed reproduces the run exactly
// on every platform. No <random> distributions: their outputs are implementation-defined. Value
// type; thread-compatible.
#pragma once

#include <cstdint>

namespace claw::sim {

// SplitMix64 finalizer: a good 64-bit mix, used to derive seeds and to hash.
inline uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Derives an independent stream seed from a run seed and a stream label.
inline uint64_t DeriveSeed(uint64_t seed, uint64_t label) { return Mix64(seed ^ Mix64(label)); }

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : s_) {
      seed = Mix64(seed);
      word = seed;
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound) for bound > 0 (modulo bias is negligible for the small bounds used).
  uint64_t Below(uint64_t bound) { return Next() % bound; }
  // Uniform in [lo, hi], inclusive on both ends; requires lo <= hi.
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  // True with probability ppm / 1,000,000.
  bool ChancePpm(uint64_t ppm) { return Below(1'000'000) < ppm; }
  // True with probability num / den.
  bool Chance(uint64_t num, uint64_t den) { return Below(den) < num; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace claw::sim
