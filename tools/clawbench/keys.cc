#include "tools/clawbench/keys.h"

#include <algorithm>
#include <cmath>

namespace claw::clawbench {

bool KeySpaceFits(uint64_t key_space, size_t key_size) {
  if (key_space == 0 || key_size == 0) return false;
  if (key_size >= 8) return true;
  return key_space <= (uint64_t{1} << (8 * key_size));
}

std::string KeyName(uint64_t index, uint64_t key_space, size_t key_size) {
  // stride = floor(2^64 / n) in 64 bits: floor((2^64 - 1) / n), plus one when n divides 2^64.
  uint64_t stride = 0;
  if (key_space > 1) {
    stride = UINT64_MAX / key_space;
    if (UINT64_MAX % key_space == key_space - 1) ++stride;
  }
  const uint64_t spread = index * stride;
  std::string key(key_size, 'k');
  for (size_t i = 0; i < std::min<size_t>(key_size, 8); ++i) {
    key[i] = static_cast<char>((spread >> (56 - 8 * i)) & 0xff);
  }
  return key;
}

namespace {

double Zeta(uint64_t n, double theta) {
  double sum = 0;
  for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

}  // namespace

ZipfianGenerator::ZipfianGenerator(uint64_t n, double theta)
    : n_(std::max<uint64_t>(n, 1)), theta_(theta), zeta_n_(Zeta(n_, theta)) {
  const double zeta_2 = Zeta(std::min<uint64_t>(n_, 2), theta);
  alpha_ = 1.0 / (1.0 - theta_);
  eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n_), 1.0 - theta_)) / (1.0 - zeta_2 / zeta_n_);
  half_pow_theta_ = 1.0 + std::pow(0.5, theta_);
}

uint64_t ZipfianGenerator::Rank(double u) const {
  const double uz = u * zeta_n_;
  if (uz < 1.0 || n_ == 1) return 0;
  if (uz < half_pow_theta_) return 1;
  const double r = static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_);
  return std::min<uint64_t>(static_cast<uint64_t>(r), n_ - 1);
}

double ZipfianGenerator::Probability(uint64_t r) const {
  return 1.0 / std::pow(static_cast<double>(r + 1), theta_) / zeta_n_;
}

uint64_t ScrambleRank(uint64_t rank, uint64_t n) {
  uint64_t z = rank + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z % n;
}

KeyPicker::KeyPicker(const KeyPickerOptions& options, const ZipfianGenerator* zipf, uint64_t seed)
    : options_(options), zipf_(zipf), rng_(seed) {}

double KeyPicker::Uniform() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

uint64_t KeyPicker::Next() {
  if (options_.distribution == KeyDistribution::kZipfian && zipf_ != nullptr) {
    return ScrambleRank(zipf_->Rank(Uniform()), options_.key_space);
  }
  return std::uniform_int_distribution<uint64_t>(0, options_.key_space - 1)(rng_);
}

}  // namespace claw::clawbench
