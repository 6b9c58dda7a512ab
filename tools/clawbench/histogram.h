// Histogram: latencies in nanoseconds, recorded from many threads at once, with percentiles
// within 1/64 (1.6 %) of the true value. Log-linear buckets as in HdrHistogram: values below 128
// have a bucket each; above, every power of two is cut into 64 equal buckets. A percentile is the
// highest value of the bucket that holds its rank (clamped to the largest value recorded), so
// percentiles are never below the true value and always ordered.
//
// Thread-safety: Record may run on any number of threads at once (relaxed atomics); read the
// results (Count, Percentile, ...) after the recording threads are done, or merge into a copy.
// Lifecycle: a plain object; not copyable (atomics), see Snapshot for a copy.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace claw::clawbench {

// The buckets of a finished histogram, as plain numbers.
struct HistogramSnapshot {
  std::vector<uint64_t> buckets{};  // counts by bucket index
  uint64_t count = 0;
  uint64_t min = 0;  // 0 when empty
  uint64_t max = 0;
  double sum = 0;     // of the values, for the mean
  double sum_sq = 0;  // of their squares, for the standard deviation

  double Mean() const;
  double Stddev() const;
  // The value at fraction p (0 < p <= 1) of the recorded values: the highest value of the bucket
  // holding rank ceil(p * count), at most max; 0 when empty.
  uint64_t Percentile(double p) const;
  // Counts per power-of-two range [2^k, 2^(k+1)) ns, from the smallest to the largest non-empty
  // range: {upper bound (exclusive) in ns, count}. Their counts add up to `count`.
  std::vector<std::pair<uint64_t, uint64_t>> PowerOfTwoRanges() const;
};

class Histogram {
 public:
  static constexpr int kSubBits = 6;  // 64 buckets per power of two
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * (size_t{1} << kSubBits);

  Histogram();
  void Record(uint64_t value_ns);
  HistogramSnapshot Snapshot() const;

  static size_t BucketOf(uint64_t value);
  // The highest value that falls in `bucket`.
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> min_{UINT64_MAX};
  std::atomic<uint64_t> max_{0};
  std::atomic<double> sum_{0};
  std::atomic<double> sum_sq_{0};
};

}  // namespace claw::clawbench
