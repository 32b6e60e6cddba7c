// PositionStats: exact pair-distance counts against a brute-force O(N^2)
// count, and the content of the JSON summary.
#include <gtest/gtest.h>

#include "cream/positions/stats.h"
#include "positions/test_support.h"

using namespace cream::positions;
using cream::positions::testing::make_options;
using cream::util::Rng;

namespace {

std::vector<std::int64_t> brute_force_distances(const std::vector<Sample>& samples, std::int64_t l) {
  std::vector<std::int64_t> counts(l, 0);
  for (const auto& s : samples)
    for (std::size_t i = 0; i < s.positions.size(); ++i)
      for (std::size_t j = 0; j < i; ++j) ++counts[s.positions[i] - s.positions[j]];
  return counts;
}

}  // namespace

TEST(PositionStats, DistanceCountsMatchBruteForceForEveryMethod) {
  for (const Method m : {Method::cream, Method::pose, Method::randpos, Method::full, Method::standard}) {
    const Options options = make_options(m, 64, 256);
    Sampler sampler(options);
    PositionStats stats(options, 16);
    Rng rng(21);
    std::vector<Sample> samples;
    for (int i = 0; i < 40; ++i) {
      samples.push_back(sampler.draw(256, rng));
      stats.add(samples.back());
    }
    EXPECT_EQ(stats.distance_counts(), brute_force_distances(samples, 256)) << method_name(m);
    std::vector<std::int64_t> positions(256, 0);
    for (const auto& s : samples)
      for (const auto p : s.positions) ++positions[p];
    EXPECT_EQ(stats.position_counts(), positions);
  }
}

TEST(PositionStats, JsonSummarisesCreamDraws) {
  Options options = make_options(Method::cream, 64, 256);
  Sampler sampler(options);
  PositionStats stats(options, 32);
  Rng rng(22);
  std::int64_t relativity = 0;
  std::vector<std::int64_t> r_counts(9, 0);
  for (int i = 0; i < 500; ++i) {
    const Sample s = sampler.draw(256, rng);
    relativity += s.info.branch == Branch::relativity;
    ++r_counts[s.info.scale];
    stats.add(s);
  }
  const auto json = stats.to_json();
  EXPECT_EQ(json["samples"], 500);
  EXPECT_EQ(json["branch"]["relativity"], relativity);
  EXPECT_EQ(json["branch"]["continuity"], 500 - relativity);
  EXPECT_EQ(json["scale_histogram"]["r"].front(), 2);
  EXPECT_EQ(json["scale_histogram"]["r"].back(), 8);
  for (int r = 2; r <= 8; ++r) EXPECT_EQ(json["scale_histogram"]["counts"][r - 2], r_counts[r]);
  // Every sample holds positions 0 and L-1, hence distance L-1.
  EXPECT_EQ(json["absolute_coverage"]["counts"][0], 500);
  EXPECT_EQ(json["absolute_coverage"]["counts"][255], 500);
  EXPECT_EQ(json["relative_coverage"]["counts"][255], 500);
  EXPECT_EQ(json["relative_coverage"]["counts"][0], 0);
  EXPECT_EQ(json["absolute_coverage"]["bucket_width"], 8);
  EXPECT_EQ(json["absolute_coverage"]["bucket_counts"].size(), 32u);
  EXPECT_EQ(json["middle_end"]["total"], 500);
  EXPECT_FALSE(stats.summary().empty());
}
