// Summary statistics of many samples (what `cream positions --stats` writes):
// coverage of absolute positions and of relative distances, the CREAM branch
// share, and histograms of the middle scale r and the middle end e.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/positions/options.h"
#include "cream/positions/sampler.h"

namespace cream::positions {

class PositionStats {
 public:
  // Positions must lie in [0, L). Histograms are also reported in about
  // `bucket_count` buckets of equal width (for plotting long ranges).
  explicit PositionStats(const Options& options, std::int64_t bucket_count = 256);

  void add(const Sample& sample);

  std::int64_t samples() const { return samples_; }
  // count[p]: how many samples contain position p, p in [0, L).
  const std::vector<std::int64_t>& position_counts() const { return position_counts_; }
  // count[d]: number of pairs i > j within a sample with positions[i] - positions[j] = d,
  // summed over samples, d in [0, L) (count[0] is 0: positions are distinct).
  // Exact: each sample is split into runs of consecutive positions; a pair of
  // runs contributes a trapezoid of distances, added in O(1) to a
  // second-difference array (O(R^2) per sample for R runs, O(L) at the end).
  std::vector<std::int64_t> distance_counts() const;

  nlohmann::json to_json() const;
  std::string summary() const;  // a few human-readable lines

 private:
  void add_pair_distances(const std::vector<std::int64_t>& positions);

  Options options_;
  std::int64_t bucket_width_;
  std::int64_t samples_ = 0;
  std::vector<std::int64_t> position_counts_;
  std::vector<std::int64_t> distance_second_difference_;  // size L + 2
  std::int64_t relativity_ = 0, continuity_ = 0;
  std::vector<std::int64_t> scale_counts_;  // index r (0..2f)
  std::vector<std::int64_t> middle_end_counts_;  // index e in [0, L)
  std::int64_t middle_fallbacks_ = 0;
};

}  // namespace cream::positions
