#include "cream/positions/stats.h"

#include <algorithm>
#include <sstream>

#include "cream/util/error.h"

namespace cream::positions {
namespace {

struct Run {
  std::int64_t first, length;
};

std::vector<Run> consecutive_runs(const std::vector<std::int64_t>& positions) {
  std::vector<Run> runs;
  for (const std::int64_t p : positions) {
    if (!runs.empty() && runs.back().first + runs.back().length == p)
      ++runs.back().length;
    else
      runs.push_back({p, 1});
  }
  return runs;
}

std::vector<std::int64_t> bucketed(const std::vector<std::int64_t>& counts, std::int64_t width) {
  std::vector<std::int64_t> buckets((counts.size() + width - 1) / width, 0);
  for (std::size_t i = 0; i < counts.size(); ++i) buckets[i / width] += counts[i];
  return buckets;
}

nlohmann::json histogram_json(const std::vector<std::int64_t>& counts, std::int64_t width) {
  std::int64_t total = 0, seen = 0, low = -1, high = -1;
  double sum = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (!counts[i]) continue;
    total += counts[i];
    ++seen;
    sum += static_cast<double>(counts[i]) * static_cast<double>(i);
    if (low < 0) low = static_cast<std::int64_t>(i);
    high = static_cast<std::int64_t>(i);
  }
  return {{"counts", counts},
          {"bucket_width", width},
          {"bucket_counts", bucketed(counts, width)},
          {"total", total},
          {"distinct_values_seen", seen},
          {"min", low},
          {"max", high},
          {"mean", total ? sum / static_cast<double>(total) : 0.0}};
}

}  // namespace

PositionStats::PositionStats(const Options& options, std::int64_t bucket_count) : options_(options) {
  options_.validate();
  CREAM_CHECK(bucket_count >= 1, "positions stats: bucket count must be >= 1");
  const std::int64_t l = options_.target_length;
  bucket_width_ = std::max<std::int64_t>(1, (l + bucket_count - 1) / bucket_count);
  position_counts_.assign(l, 0);
  distance_second_difference_.assign(l + 2, 0);
  if (options_.method == Method::cream) scale_counts_.assign(2 * options_.scale_factor() + 1, 0);
  if (options_.method == Method::cream || options_.method == Method::pose) middle_end_counts_.assign(l, 0);
}

void PositionStats::add(const Sample& sample) {
  const std::int64_t l = options_.target_length;
  for (std::size_t i = 0; i < sample.positions.size(); ++i) {
    const std::int64_t p = sample.positions[i];
    CREAM_CHECK(p >= 0 && p < l, "positions stats: position " + std::to_string(p) + " outside [0, " + std::to_string(l) + ")");
    CREAM_CHECK(i == 0 || p > sample.positions[i - 1], "positions stats: positions must be strictly increasing");
    ++position_counts_[p];
  }
  add_pair_distances(sample.positions);
  const SampleInfo& info = sample.info;
  if (info.branch == Branch::relativity) ++relativity_;
  if (info.branch == Branch::continuity) ++continuity_;
  if (!scale_counts_.empty() && info.scale >= 2 && info.scale < static_cast<std::int64_t>(scale_counts_.size()))
    ++scale_counts_[info.scale];
  if (!middle_end_counts_.empty() && info.middle_end >= 0 && info.middle_end < l) ++middle_end_counts_[info.middle_end];
  if (info.middle_fallback) ++middle_fallbacks_;
  ++samples_;
}

// Second differences of the pair-distance counts, run by run (see header).
void PositionStats::add_pair_distances(const std::vector<std::int64_t>& positions) {
  auto& d2 = distance_second_difference_;
  const std::vector<Run> runs = consecutive_runs(positions);
  for (std::size_t a = 0; a < runs.size(); ++a) {
    const std::int64_t p = runs[a].length;
    // Within a run: distance d in [1, p-1] appears p - d times.
    if (p > 1) {
      d2[1] += p - 1;
      d2[2] -= p;
      d2[p + 1] += 1;
    }
    // Run a before run b: distances start at gap = first_b - last_a; the counts
    // are the convolution of two boxes of lengths p and q (a trapezoid).
    for (std::size_t b = a + 1; b < runs.size(); ++b) {
      const std::int64_t q = runs[b].length;
      const std::int64_t gap = runs[b].first - (runs[a].first + p - 1);
      d2[gap] += 1;
      d2[gap + p] -= 1;
      d2[gap + q] -= 1;
      d2[gap + p + q] += 1;  // <= L: the largest distance is at most L - 1
    }
  }
}

std::vector<std::int64_t> PositionStats::distance_counts() const {
  const std::int64_t l = options_.target_length;
  std::vector<std::int64_t> counts(l, 0);
  std::int64_t slope = 0, value = 0;
  for (std::int64_t d = 0; d < l; ++d) {
    slope += distance_second_difference_[d];
    value += slope;
    counts[d] = value;
  }
  return counts;
}

nlohmann::json PositionStats::to_json() const {
  const auto distances = distance_counts();
  nlohmann::json out = {
      {"method", method_name(options_.method)},
      {"train_length", options_.train_length},
      {"target_length", options_.target_length},
      {"samples", samples_},
      {"absolute_coverage", histogram_json(position_counts_, bucket_width_)},
      {"relative_coverage", histogram_json(distances, bucket_width_)},
  };
  out["absolute_coverage"]["meaning"] = "counts[p] = number of samples containing position p";
  out["relative_coverage"]["meaning"] =
      "counts[d] = number of pairs i > j within a sample with positions[i] - positions[j] = d, summed over samples";
  out["relative_coverage"]["computation"] = "exact (runs of consecutive positions, trapezoids via second differences)";
  out["relative_coverage"]["distances_covered_fraction"] =
      options_.target_length > 1
          ? static_cast<double>(out["relative_coverage"]["distinct_values_seen"].get<std::int64_t>()) /
                static_cast<double>(options_.target_length - 1)
          : 0.0;
  if (options_.method == Method::cream) {
    const std::int64_t tossed = relativity_ + continuity_;
    out["branch"] = {{"relativity", relativity_},
                     {"continuity", continuity_},
                     {"relativity_share", tossed ? static_cast<double>(relativity_) / tossed : 0.0}};
    std::vector<std::int64_t> r_values, r_counts;
    for (std::size_t r = 2; r < scale_counts_.size(); ++r) {
      r_values.push_back(static_cast<std::int64_t>(r));
      r_counts.push_back(scale_counts_[r]);
    }
    out["scale_histogram"] = {{"r", r_values}, {"counts", r_counts}};
    out["middle_fallbacks"] = middle_fallbacks_;
  }
  if (!middle_end_counts_.empty()) {
    out["middle_end"] = histogram_json(middle_end_counts_, bucket_width_);
    out["middle_end"]["meaning"] = options_.method == Method::cream
                                       ? "e = last position of the middle segment"
                                       : "last position of the shifted chunk (N - 1 + s)";
  }
  return out;
}

std::string PositionStats::summary() const {
  const auto json = to_json();
  std::ostringstream out;
  out << "method " << json["method"].get<std::string>() << ", N " << options_.train_length << ", L "
      << options_.target_length << ", " << samples_ << " samples\n";
  out << "absolute positions seen: " << json["absolute_coverage"]["distinct_values_seen"].get<std::int64_t>() << " of "
      << options_.target_length << "\n";
  out << "relative distances seen: " << json["relative_coverage"]["distinct_values_seen"].get<std::int64_t>() << " of "
      << options_.target_length - 1 << "\n";
  if (json.contains("branch"))
    out << "relativity share: " << json["branch"]["relativity_share"].get<double>() << " (" << relativity_
        << " relativity, " << continuity_ << " continuity)\n";
  if (json.contains("middle_end"))
    out << "middle end: mean " << json["middle_end"]["mean"].get<double>() << ", range ["
        << json["middle_end"]["min"].get<std::int64_t>() << ", " << json["middle_end"]["max"].get<std::int64_t>()
        << "]\n";
  return out.str();
}

}  // namespace cream::positions
