// Stochastic rounding float32 -> bf16: unbiased where round-to-nearest is not, only
// ever the two neighbours, special values untouched, reproducible from its generator.
#include <gtest/gtest.h>

#include <cmath>

#include "cream/train/stochastic_round.h"

namespace cream::train {
namespace {

// The bf16 neighbours of x: `low`, the bf16 next to x towards zero, and the signed
// `step` to the other one (away from zero).
struct Neighbours {
  double low, step;
};

Neighbours bf16_neighbours(float x) {
  // Truncating the low 16 bits of the float32 pattern gives `low`; adding one to the
  // bf16 pattern gives the next bf16 away from zero (also across a binade, and for
  // subnormals).
  const auto bits = torch::tensor({x}).view(torch::kInt32).bitwise_and(static_cast<int32_t>(0xFFFF0000u));
  const double low = bits.view(torch::kFloat32).item<double>();
  const double high = (bits + 0x10000).view(torch::kFloat32).item<double>();
  return {low, high - low};
}

constexpr int64_t kDraws = 200000;

// The mean of kDraws roundings of x equals x within 5 standard errors of the mean: the
// rounding is low + step * Bernoulli(f), f the fraction of the step x lies above low,
// so one rounding has standard deviation |step| * sqrt(f (1 - f)). A false alarm at 5
// standard errors happens about once in 1.7 million runs.
TEST(StochasticRounding, MeanOfManyRoundingsEqualsTheFloat32Value) {
  auto generator = make_rounding_generator(torch::kCPU, 1234);
  for (const float x : {1.0f + 0.3f / 128, 1.0f + 0.1f / 128, 1.0f + 0.77f / 128, -3.1e-5f, 1234.567f, -0.015625f * 1.6f,
                        2.5e-39f /* subnormal */}) {
    const auto [low, step] = bf16_neighbours(x);
    const double fraction = (static_cast<double>(x) - low) / step;
    ASSERT_GT(fraction, 0.0) << x;
    ASSERT_LT(fraction, 1.0) << x;
    const auto values = torch::full({kDraws}, x, torch::kFloat32);
    const auto rounded = stochastic_round_bf16(values, generator).to(torch::kFloat64);
    // Only the two neighbours ever come out.
    const auto is_low = rounded.eq(low), is_high = rounded.eq(low + step);
    EXPECT_TRUE(is_low.logical_or(is_high).all().item<bool>()) << x;
    const double mean = rounded.mean().item<double>();
    const double standard_error = std::abs(step) * std::sqrt(fraction * (1 - fraction) / kDraws);
    EXPECT_LE(std::abs(mean - x), 5 * standard_error) << "x " << x << " mean " << mean << " fraction " << fraction;
    // The control: round-to-nearest is off by min(f, 1 - f) steps every time.
    const double nearest = values.to(torch::kBFloat16).to(torch::kFloat64).mean().item<double>();
    EXPECT_GT(std::abs(nearest - x), 5 * standard_error) << "round-to-nearest is biased on " << x;
  }
}

TEST(StochasticRounding, ExactValuesZeroInfinityAndNanPassThrough) {
  auto generator = make_rounding_generator(torch::kCPU, 5);
  const float inf = std::numeric_limits<float>::infinity();
  const auto exact = torch::tensor({0.0f, -0.0f, 1.0f, -2.5f, 0.0078125f, 3.3895313892515355e38f /* bf16 max */, inf, -inf});
  for (int repeat = 0; repeat < 20; ++repeat) {
    const auto rounded = stochastic_round_bf16(exact, generator);
    EXPECT_EQ(rounded.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(rounded.to(torch::kFloat32), exact)) << rounded;
    EXPECT_TRUE(std::isnan(stochastic_round_bf16(torch::tensor({std::nanf("")}), generator).item<float>()));
  }
}

TEST(StochasticRounding, TheGeneratorStateReproducesTheStream) {
  auto first = make_rounding_generator(torch::kCPU, 77);
  auto second = make_rounding_generator(torch::kCPU, 77);
  const auto values = torch::rand({1000}) * 10;
  EXPECT_TRUE(torch::equal(stochastic_round_bf16(values, first), stochastic_round_bf16(values, second)));
  // Saved mid-stream and restored into a generator seeded differently: the same draws follow.
  const auto saved = generator_state(first);
  EXPECT_EQ(saved.scalar_type(), torch::kUInt8);
  const auto expected = stochastic_round_bf16(values, first);
  auto restored = make_rounding_generator(torch::kCPU, 1);
  ASSERT_TRUE(set_generator_state(restored, saved));
  EXPECT_TRUE(torch::equal(stochastic_round_bf16(values, restored), expected));
  // A state that does not fit (a CUDA generator's 16 bytes) is refused, nothing changes.
  const auto before = generator_state(restored);
  EXPECT_FALSE(set_generator_state(restored, torch::zeros({16}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(generator_state(restored), before));
}

TEST(StochasticRounding, RefusesAnythingButFloat32) {
  auto generator = make_rounding_generator(torch::kCPU, 0);
  EXPECT_ANY_THROW(stochastic_round_bf16(torch::zeros({3}, torch::kFloat64), generator));
}

}  // namespace
}  // namespace cream::train
