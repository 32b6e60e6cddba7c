// Gradient norm and clipping against a direct computation.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cream/train/grad.h"

namespace cream::train {
namespace {

std::vector<torch::Tensor> params_with_grads(std::vector<std::vector<double>> grads) {
  std::vector<torch::Tensor> params;
  for (const auto& g : grads) {
    auto p = torch::zeros({static_cast<int64_t>(g.size())});
    p.mutable_grad() = torch::tensor(g, torch::kFloat32);
    params.push_back(p);
  }
  return params;
}

TEST(GradNorm, MatchesDirectComputation) {
  auto params = params_with_grads({{3, 4}, {12}, {}});
  params.push_back(torch::zeros({3}));  // no gradient: skipped
  EXPECT_DOUBLE_EQ(grad_norm(params), 13.0);
  torch::manual_seed(0);
  std::vector<torch::Tensor> random;
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    auto p = torch::zeros({100 + i});
    p.mutable_grad() = torch::randn({100 + i});
    const auto as_double = p.grad().to(torch::kFloat64);
    auto acc = as_double.accessor<double, 1>();
    for (int64_t j = 0; j < acc.size(0); ++j) sum += acc[j] * acc[j];
    random.push_back(p);
  }
  EXPECT_NEAR(grad_norm(random), std::sqrt(sum), 1e-12 * std::sqrt(sum));
}

TEST(GradNorm, AccumulatesInDoublePrecision) {
  // 2^24 + many ones would stall in float32 accumulation; float64 keeps them.
  auto big = torch::zeros({1});
  big.mutable_grad() = torch::tensor({4096.0f});  // square = 2^24
  auto ones = torch::zeros({1000});
  ones.mutable_grad() = torch::ones({1000});
  EXPECT_DOUBLE_EQ(grad_norm({big, ones}), std::sqrt(16777216.0 + 1000.0));
}

TEST(ClipGradNorm, ScalesToMaxNormAndReturnsTheNormBefore) {
  auto params = params_with_grads({{3, 4}, {12}});
  EXPECT_DOUBLE_EQ(clip_grad_norm(params, 1.0), 13.0);
  const double coefficient = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(params[0].grad()[0].item<double>(), 3 * coefficient, 1e-7);
  EXPECT_NEAR(params[1].grad()[0].item<double>(), 12 * coefficient, 1e-7);
  EXPECT_NEAR(grad_norm(params), 1.0, 1e-6);
}

TEST(ClipGradNorm, LeavesGradientsAloneBelowTheLimitOrWhenDisabled) {
  auto params = params_with_grads({{3, 4}});
  EXPECT_DOUBLE_EQ(clip_grad_norm(params, 10.0), 5.0);
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::tensor({3.0f, 4.0f})));
  EXPECT_DOUBLE_EQ(clip_grad_norm(params, 0.0), 5.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(params, -1.0), 5.0);
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::tensor({3.0f, 4.0f})));
  EXPECT_EQ(clip_grad_norm({torch::zeros({2})}, 1.0), 0.0);
}

TEST(ClipGradNorm, NonFiniteNormIsReportedAndNothingIsScaled) {
  const double inf = std::numeric_limits<double>::infinity();
  auto params = params_with_grads({{1, inf}, {2}});
  EXPECT_TRUE(std::isinf(clip_grad_norm(params, 1.0)));
  EXPECT_EQ(params[1].grad()[0].item<float>(), 2.0f);
  EXPECT_FALSE(grads_all_finite(params));
  auto nan_params = params_with_grads({{std::nan("")}});
  EXPECT_TRUE(std::isnan(grad_norm(nan_params)));
  EXPECT_FALSE(grads_all_finite(nan_params));
}

TEST(AllFinite, ChecksEveryElement) {
  EXPECT_TRUE(all_finite({torch::ones({3}), torch::Tensor(), torch::arange(5)}));
  auto t = torch::ones({2, 3});
  t[1][2] = -std::numeric_limits<float>::infinity();
  EXPECT_FALSE(all_finite({torch::ones({3}), t}));
  EXPECT_TRUE(grads_all_finite(params_with_grads({{1, 2}, {3}})));
  EXPECT_TRUE(all_finite({torch::ones({2}, torch::kBFloat16)}));
}

}  // namespace
}  // namespace cream::train
