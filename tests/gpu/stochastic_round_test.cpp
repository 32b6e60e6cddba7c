// Stochastic rounding to bf16 with a CUDA generator is unbiased: over many roundings of
// the same float32 value the mean equals the value within a bound stated from the
// binomial spread, every result is one of the value's two bf16 neighbours, and the same
// seed gives the same roundings. Round-to-nearest fails the same bound (the control
// that shows the check can fail).
#include <cmath>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "cream/train/stochastic_round.h"
#include "gpu_fixtures.h"

namespace {

using namespace cream::gpu_testing;
using cream::train::make_rounding_generator;
using cream::train::stochastic_round_bf16;

constexpr int64_t kRepeats = int64_t{1} << 16;  // roundings of each value

// Values between bf16 neighbours at several magnitudes and both signs, at fractions of
// the bf16 step away from 0 and 1 so that both neighbours occur. float32 [V].
torch::Tensor values_between_neighbours() {
  std::vector<float> values;
  for (float base : {1.0f, -1.0f, 3.0f, 0.02f, -7.5e-4f, 1536.0f, 1e-30f}) {
    const float step = std::ldexp(1.0f, std::ilogb(base) - 7);  // bf16 keeps 8 significant bits
    for (float fraction : {0.03f, 0.25f, 0.5f, 0.71f, 0.97f}) values.push_back(base + std::copysign(fraction * step, base));
  }
  return torch::tensor(values);
}

// The bf16 neighbour toward zero (low 16 bits of the float32 pattern cleared) and the
// one away from zero, as float32 [V].
std::pair<torch::Tensor, torch::Tensor> neighbours(const torch::Tensor& values) {
  const auto toward_zero = values.view(torch::kInt32).bitwise_and(static_cast<int32_t>(0xFFFF0000u)).view(torch::kFloat);
  const auto away = (toward_zero.view(torch::kInt32) + (1 << 16)).view(torch::kFloat);
  return {toward_zero, away};
}

struct Roundings {
  torch::Tensor rounded;  // float32 [V, kRepeats] on the device
  torch::Tensor mean;     // float64 [V] on the CPU
};

Roundings round_many(const torch::Tensor& values, const std::function<torch::Tensor(const torch::Tensor&)>& round) {
  const auto tiled = values.to(device_under_test()).unsqueeze(1).expand({values.size(0), kRepeats}).contiguous();
  Roundings r;
  r.rounded = round(tiled).to(torch::kFloat);
  r.mean = r.rounded.to(torch::kDouble).mean(1).cpu();
  return r;
}

// |mean - value| / bf16 step, per value, float64 [V].
torch::Tensor error_in_steps(const torch::Tensor& mean, const torch::Tensor& values) {
  const auto [low, high] = neighbours(values);
  const auto step = (high.to(torch::kDouble) - low.to(torch::kDouble)).abs();
  return (mean - values.to(torch::kDouble)).abs() / step;
}

// The mean of n roundings has standard deviation step * sqrt(p (1 - p) / n) <= step * 0.5 /
// sqrt(n); five of those (2^16 roundings: 0.0098 step) is never reached by chance over
// these 35 values, and a rounding biased by a hundredth of a step would exceed it.
const double kBoundInSteps = 5 * 0.5 / std::sqrt(static_cast<double>(kRepeats));

TEST(CudaStochasticRounding, MeanOfManyRoundingsIsTheFloat32Value) {
  CREAM_REQUIRE_GPU();
  const auto values = values_between_neighbours();
  auto gen = make_rounding_generator(device_under_test(), 1234);
  const auto r = round_many(values, [&](const torch::Tensor& x) { return stochastic_round_bf16(x, gen); });
  EXPECT_EQ(r.rounded.device(), device_under_test());
  const auto errors = error_in_steps(r.mean, values);
  for (int64_t i = 0; i < values.size(0); ++i)
    EXPECT_LE(errors[i].item<double>(), kBoundInSteps) << "value " << values[i].item<float>();

  const auto [low, high] = neighbours(values.to(device_under_test()));
  const auto is_neighbour = r.rounded.eq(low.unsqueeze(1)) | r.rounded.eq(high.unsqueeze(1));
  EXPECT_TRUE(is_neighbour.all().item<bool>()) << "a rounding landed on neither bf16 neighbour";
}

TEST(CudaStochasticRounding, RoundToNearestFailsTheSameBound) {
  CREAM_REQUIRE_GPU();
  const auto values = values_between_neighbours();
  const auto r = round_many(values, [](const torch::Tensor& x) { return x.to(torch::kBFloat16); });
  // fractions 0.03 ... 0.97 of a step: nearest rounding is off by up to 0.29 steps
  EXPECT_GT(error_in_steps(r.mean, values).max().item<double>(), 20 * kBoundInSteps);
}

TEST(CudaStochasticRounding, SameSeedSameRoundingsOtherSeedOthers) {
  CREAM_REQUIRE_GPU();
  const auto values = values_between_neighbours().to(device_under_test()).repeat({1000});
  auto a = make_rounding_generator(device_under_test(), 7), b = make_rounding_generator(device_under_test(), 7);
  auto c = make_rounding_generator(device_under_test(), 8);
  const auto first = stochastic_round_bf16(values, a);
  EXPECT_TRUE(torch::equal(first, stochastic_round_bf16(values, b)));
  EXPECT_FALSE(torch::equal(first, stochastic_round_bf16(values, c)));
  // the generator moves on: a second draw from `a` differs from its first
  EXPECT_FALSE(torch::equal(first, stochastic_round_bf16(values, a)));
}

TEST(CudaStochasticRounding, InfinitiesAndNanPassThrough) {
  CREAM_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity();
  const auto values = torch::tensor({inf, -inf, std::nanf(""), 1.0f}).to(device_under_test());
  auto gen = make_rounding_generator(device_under_test(), 3);
  const auto out = stochastic_round_bf16(values, gen).to(torch::kCPU, torch::kFloat);
  EXPECT_EQ(out[0].item<float>(), inf);
  EXPECT_EQ(out[1].item<float>(), -inf);
  EXPECT_TRUE(std::isnan(out[2].item<float>()));
  EXPECT_EQ(out[3].item<float>(), 1.0f);
}

}  // namespace
