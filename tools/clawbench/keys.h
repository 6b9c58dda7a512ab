// Keys of a clawbench run: which key index a request touches (uniform or zipfian; sequential
// keys are a counter shared by the run, see runner.h)
// and the bytes of the key with that index.
//
// Key bytes: key i of a key space of n keys is the big-endian encoding of i * floor(2^64 / n),
// cut to the first `key_size` bytes (longer keys are padded with 'k'). The mapping keeps key
// order (key i < key i+1, so scans walk keys in index order and sequential keys walk shards in
// order) and spreads the key space over every leading byte, so that the keys fall evenly into
// shards split on leading bytes (clawd's initial shards split the first two bytes evenly).
//
// Zipfian: the generator of Gray et al., "Quickly generating billion-record synthetic databases"
// (SIGMOD 1994), as YCSB uses it: rank r in [0, n) with probability proportional to
// 1 / (r + 1)^theta. Ranks are then scrambled (hashed onto [0, n)) so that the hot keys are
// scattered over the key space, not packed into one shard.
//
// Values, not shared: each client (or the rate scheduler) owns its KeyPicker. Not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace claw::clawbench {

enum class KeyDistribution : uint8_t { kUniform, kZipfian };

// The bytes of key `index` of a key space of `key_space` keys (see the header comment).
// Requires index < key_space and key_space <= 256^key_size (KeySpaceFits).
std::string KeyName(uint64_t index, uint64_t key_space, size_t key_size);

// Whether `key_space` distinct keys fit into `key_size` bytes.
bool KeySpaceFits(uint64_t key_space, size_t key_size);

// Ranks in [0, n) with P(r) proportional to 1 / (r + 1)^theta, 0 < theta < 1. Setup sums n
// terms (O(n): 10^7 keys take well under a second). Next() is O(1).
class ZipfianGenerator {
 public:
  ZipfianGenerator(uint64_t n, double theta);
  // u uniform in [0, 1).
  uint64_t Rank(double u) const;
  // Probability of rank r (for tests and reports).
  double Probability(uint64_t r) const;
  uint64_t n() const { return n_; }

 private:
  uint64_t n_;
  double theta_;
  double zeta_n_;
  double alpha_;
  double eta_;
  double half_pow_theta_;
};

// A bijection-free scramble of rank onto [0, n): splitmix64(rank) mod n.
uint64_t ScrambleRank(uint64_t rank, uint64_t n);

struct KeyPickerOptions {
  uint64_t key_space = 10000;
  KeyDistribution distribution = KeyDistribution::kUniform;
  double zipf_theta = 0.99;
};

class KeyPicker {
 public:
  // `zipf` may be null unless options.distribution is kZipfian; it must outlive the picker
  // (one generator is shared read-only by all pickers: its setup is the costly part).
  KeyPicker(const KeyPickerOptions& options, const ZipfianGenerator* zipf, uint64_t seed);
  uint64_t Next();
  // A uniform double in [0, 1) from the picker's generator (for read/write mixes).
  double Uniform();

 private:
  KeyPickerOptions options_;
  const ZipfianGenerator* zipf_;
  std::mt19937_64 rng_;
};

}  // namespace claw::clawbench
