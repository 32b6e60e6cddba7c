// cream::util::Rng against reference outputs (scripts/reference/positions_law.py
// writes tests/fixtures/positions/rng_golden.json from an independent Python
// implementation) and statistical sanity of its distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/util/error.h"
#include "cream/util/rng.h"

using cream::util::Rng;

namespace {

nlohmann::json golden() {
  std::ifstream in(std::string(CREAM_SOURCE_DIR) + "/tests/fixtures/positions/rng_golden.json");
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

std::uint64_t as_u64(const nlohmann::json& text) { return std::stoull(text.get<std::string>()); }

}  // namespace

TEST(Rng, Splitmix64MatchesReference) {
  const auto expected = golden()["splitmix64_from_0"];
  std::uint64_t state = 0;
  for (const auto& value : expected) EXPECT_EQ(cream::util::splitmix64_next(state), as_u64(value));
  EXPECT_EQ(expected[0], "16294208416658607535");  // 0xe220a8397b1dcdaf, the published first output
}

TEST(Rng, XoshiroStepMatchesReference) {
  Rng rng;
  rng.set_state({1, 2, 3, 4});
  for (const auto& value : golden()["xoshiro_from_1234"]) EXPECT_EQ(rng.next_u64(), as_u64(value));
}

TEST(Rng, SeedingAndDerivedStreamsMatchReference) {
  const auto g = golden();
  Rng seeded(42);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(seeded.state()[i], as_u64(g["rng_seed_42_state"][i]));
  Rng fresh(42);
  for (const auto& value : g["rng_seed_42"]) EXPECT_EQ(fresh.next_u64(), as_u64(value));
  Rng derived = Rng::derive(42, 7);
  for (const auto& value : g["rng_derive_42_7"]) EXPECT_EQ(derived.next_u64(), as_u64(value));
}

TEST(Rng, DistributionsMatchReferenceDraws) {
  const auto g = golden();
  Rng ints(1);
  for (const auto& value : g["rng_seed_1_uniform_int_0_9"]) EXPECT_EQ(ints.uniform_int(0, 9), value.get<std::int64_t>());
  Rng big(2);
  for (const auto& value : g["rng_seed_2_uniform_below_3e18"])
    EXPECT_EQ(big.uniform_below(3000000000000000000ULL), as_u64(value));
  Rng unif(3);
  for (const auto& value : g["rng_seed_3_uniform01"]) EXPECT_EQ(unif.uniform01(), value.get<double>());
}

TEST(Rng, DerivedStreamsDifferAndAreReproducible) {
  EXPECT_EQ(Rng::derive(5, 1).next_u64(), Rng::derive(5, 1).next_u64());
  EXPECT_NE(Rng::derive(5, 1).next_u64(), Rng::derive(5, 2).next_u64());
  EXPECT_NE(Rng::derive(5, 1).next_u64(), Rng::derive(6, 1).next_u64());
  EXPECT_NE(Rng::derive(5, 0).next_u64(), Rng(5).next_u64());
}

TEST(Rng, UniformIntIsUnbiasedForAwkwardBounds) {
  // bound = 3 * 2^62: a plain modulo would give values below 2^62 half of the
  // time; the unbiased draw gives them 1/3 of the time.
  Rng rng(11);
  const std::uint64_t bound = 3ULL << 62;
  int below = 0;
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) {
    const std::uint64_t v = rng.uniform_below(bound);
    ASSERT_LT(v, bound);
    below += v < (1ULL << 62);
  }
  const double share = static_cast<double>(below) / draws;
  EXPECT_NEAR(share, 1.0 / 3.0, 5 * std::sqrt(2.0 / 9.0 / draws));
}

TEST(Rng, UniformIntCoversClosedRangeUniformly) {
  Rng rng(12);
  std::vector<int> counts(7, 0);
  const int draws = 70000;
  for (int i = 0; i < draws; ++i) {
    const auto v = rng.uniform_int(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    ++counts[v + 3];
  }
  double chi2 = 0;
  for (int c : counts) chi2 += (c - 10000.0) * (c - 10000.0) / 10000.0;
  EXPECT_LT(chi2, 22.46);  // chi-square(6) quantile at 1 - 1e-3
  EXPECT_EQ(rng.uniform_int(5, 5), 5);
  const auto extreme = rng.uniform_int(INT64_MIN, INT64_MAX);  // full 64-bit span
  (void)extreme;
  EXPECT_THROW(rng.uniform_int(2, 1), cream::Error);
  EXPECT_THROW(rng.uniform_below(0), cream::Error);
}

TEST(Rng, Uniform01AndNormalMoments) {
  Rng rng(13);
  const int draws = 200000;
  double sum = 0, normal_sum = 0, normal_sq = 0;
  int normal_below_minus1 = 0;
  for (int i = 0; i < draws; ++i) {
    const double u = rng.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    const double z = rng.normal();
    ASSERT_TRUE(std::isfinite(z));
    normal_sum += z;
    normal_sq += z * z;
    normal_below_minus1 += z < -1;
  }
  EXPECT_NEAR(sum / draws, 0.5, 5 * std::sqrt(1.0 / 12 / draws));
  EXPECT_NEAR(normal_sum / draws, 0.0, 5 / std::sqrt(draws));
  EXPECT_NEAR(normal_sq / draws, 1.0, 5 * std::sqrt(2.0 / draws));
  const double phi_minus1 = 0.15865525393145707;
  EXPECT_NEAR(static_cast<double>(normal_below_minus1) / draws, phi_minus1,
              5 * std::sqrt(phi_minus1 * (1 - phi_minus1) / draws));
}

TEST(Rng, StateSaveRestoreResumesTheStream) {
  Rng rng(99);
  for (int i = 0; i < 10; ++i) rng.next_u64();
  const auto saved = rng.state();
  const std::string text = rng.state_string();
  std::vector<std::uint64_t> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(rng.next_u64());

  Rng restored;
  restored.set_state(saved);
  Rng from_text = Rng::from_state_string(text);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(restored.next_u64(), expected[i]);
    EXPECT_EQ(from_text.next_u64(), expected[i]);
  }
  EXPECT_THROW(restored.set_state({0, 0, 0, 0}), cream::Error);
  EXPECT_THROW(Rng::from_state_string("12:zz:1:2"), cream::Error);
  EXPECT_THROW(Rng::from_state_string("1:2:3"), cream::Error);
  EXPECT_THROW(Rng::from_state_string("0:0:0:0"), cream::Error);
}
