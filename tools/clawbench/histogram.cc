#include "tools/clawbench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace claw::clawbench {

namespace {

constexpr uint64_t kSub = uint64_t{1} << Histogram::kSubBits;  // 64

void AtomicAdd(std::atomic<double>& a, double v) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

}  // namespace

// Values below 2 * kSub map to themselves. A value of bit width m > kSubBits + 1 is shifted
// right by s = m - kSubBits - 1, which leaves kSub..2*kSub-1; bucket (s + 1) * kSub + (that - kSub).
size_t Histogram::BucketOf(uint64_t value) {
  const int m = std::bit_width(value);
  if (m <= kSubBits + 1) return static_cast<size_t>(value);
  const int s = m - kSubBits - 1;
  return static_cast<size_t>(s + 1) * kSub + static_cast<size_t>((value >> s) - kSub);
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < 2 * kSub) return bucket;
  const size_t s = bucket / kSub - 1;
  const uint64_t low = ((bucket % kSub) + kSub) << s;
  return low + ((uint64_t{1} << s) - 1);
}

Histogram::Histogram() {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
}

void Histogram::Record(uint64_t value_ns) {
  buckets_[BucketOf(value_ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t lo = min_.load(std::memory_order_relaxed);
  while (value_ns < lo && !min_.compare_exchange_weak(lo, value_ns, std::memory_order_relaxed)) {
  }
  uint64_t hi = max_.load(std::memory_order_relaxed);
  while (value_ns > hi && !max_.compare_exchange_weak(hi, value_ns, std::memory_order_relaxed)) {
  }
  const double v = static_cast<double>(value_ns);
  AtomicAdd(sum_, v);
  AtomicAdd(sum_sq_, v * v);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.buckets.resize(kBuckets);
  for (size_t i = 0; i < kBuckets; ++i) s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  s.count = count_.load(std::memory_order_relaxed);
  s.min = s.count ? min_.load(std::memory_order_relaxed) : 0;
  s.max = max_.load(std::memory_order_relaxed);
  s.sum = sum_.load(std::memory_order_relaxed);
  s.sum_sq = sum_sq_.load(std::memory_order_relaxed);
  return s;
}

double HistogramSnapshot::Mean() const { return count ? sum / static_cast<double>(count) : 0.0; }

double HistogramSnapshot::Stddev() const {
  if (count < 2) return 0.0;
  const double mean = Mean();
  const double var = sum_sq / static_cast<double>(count) - mean * mean;
  return var > 0 ? std::sqrt(var) : 0.0;
}

uint64_t HistogramSnapshot::Percentile(double p) const {
  if (count == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(count)));
  rank = std::clamp<uint64_t>(rank, 1, count);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) return std::clamp(Histogram::BucketHigh(i), min, max);
  }
  return max;
}

std::vector<std::pair<uint64_t, uint64_t>> HistogramSnapshot::PowerOfTwoRanges() const {
  // counts[k] holds values v with bit_width(v) == k, i.e. [2^(k-1), 2^k) (k = 0: v = 0).
  std::array<uint64_t, 65> counts{};
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i]) counts[std::bit_width(Histogram::BucketHigh(i))] += buckets[i];
  }
  std::vector<std::pair<uint64_t, uint64_t>> out;
  int first = -1, last = -1;
  for (int k = 0; k <= 64; ++k) {
    if (counts[k]) {
      if (first < 0) first = k;
      last = k;
    }
  }
  for (int k = first; first >= 0 && k <= last; ++k) {
    const uint64_t upper = k >= 64 ? UINT64_MAX : (uint64_t{1} << k);
    out.emplace_back(upper, counts[k]);
  }
  return out;
}

}  // namespace claw::clawbench
