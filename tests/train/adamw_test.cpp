// Our AdamW against LibTorch's torch::optim::AdamW, and exact resume.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cream/train/adamw.h"
#include "cream/util/error.h"

namespace cream::train {
namespace {

std::vector<torch::Tensor> random_tensors(uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({7, 5}), torch::randn({13}), torch::randn({2, 3, 4})};
}

// Deterministic pseudo-gradients for step `k` (same for both optimizers).
torch::Tensor gradient_for(const torch::Tensor& p, int k, size_t index) {
  auto g = torch::sin(p * (0.3 + 0.1 * k) + static_cast<double>(index)) * (1.0 + 0.5 * k);
  return g.detach().clone();
}

std::vector<NamedParameter> named(const std::vector<torch::Tensor>& tensors) {
  std::vector<NamedParameter> params;
  for (size_t i = 0; i < tensors.size(); ++i) params.push_back({"p" + std::to_string(i), tensors[i]});
  return params;
}

TEST(AdamW, MatchesLibTorchAdamWOverTwentySteps) {
  const AdamWOptions o{0.9, 0.95, 1e-8, 0.1};
  auto ours_tensors = random_tensors(1);
  auto theirs_tensors = random_tensors(1);
  for (auto& t : theirs_tensors) t.requires_grad_(true);
  AdamW ours(named(ours_tensors), o);
  torch::optim::AdamW theirs(theirs_tensors, torch::optim::AdamWOptions(1e-3)
                                                 .betas({o.beta1, o.beta2})
                                                 .eps(o.eps)
                                                 .weight_decay(o.weight_decay));
  for (int k = 0; k < 20; ++k) {
    const double lr = 1e-3 * (1.0 + 0.1 * k);  // a schedule changes lr every step
    static_cast<torch::optim::AdamWOptions&>(theirs.param_groups()[0].options()).lr(lr);
    for (size_t i = 0; i < ours_tensors.size(); ++i) {
      ours_tensors[i].mutable_grad() = gradient_for(ours_tensors[i], k, i);
      theirs_tensors[i].mutable_grad() = gradient_for(theirs_tensors[i].detach(), k, i);
    }
    ours.step(lr);
    theirs.step();
    for (size_t i = 0; i < ours_tensors.size(); ++i) {
      ASSERT_TRUE(torch::allclose(ours_tensors[i], theirs_tensors[i].detach(), 1e-6, 1e-6))
          << "step " << k << " tensor " << i;
    }
  }
  EXPECT_EQ(ours.step_count(), 20);
  // Same operations in the same order: expected to agree exactly on one machine.
  for (size_t i = 0; i < ours_tensors.size(); ++i) {
    EXPECT_TRUE(torch::equal(ours_tensors[i], theirs_tensors[i].detach())) << i;
  }
}

TEST(AdamW, FirstStepClosedForm) {
  // After one step m/(1-b1) = g and sqrt(v/(1-b2)) = |g|: p -= lr*wd*p, then
  // p -= lr * g / (|g| + eps).
  auto p = torch::tensor({1.0f, -2.0f, 0.5f});
  const auto g = torch::tensor({0.25f, -4.0f, 0.0f});
  const auto expected_after_decay = p * (1 - 0.01 * 0.5);
  AdamW opt({{"w", p}}, AdamWOptions{0.9, 0.999, 1e-8, 0.5});
  p.mutable_grad() = g.clone();
  opt.step(0.01);
  const auto expected = expected_after_decay - 0.01 * g / (g.abs() + 1e-8);
  EXPECT_TRUE(torch::allclose(p, expected, 1e-6, 1e-7)) << p << expected;
}

TEST(AdamW, ExcludedParametersGetNoDecayAndMissingGradsAreSkipped) {
  auto decayed = torch::ones({4});
  auto kept = torch::ones({4});
  auto untouched = torch::ones({4});
  AdamW opt({{"a", decayed, true}, {"b", kept, false}, {"c", untouched}}, AdamWOptions{0.9, 0.999, 1e-8, 0.1});
  decayed.mutable_grad() = torch::zeros({4});
  kept.mutable_grad() = torch::zeros({4});
  opt.step(0.5);
  EXPECT_TRUE(torch::allclose(decayed, torch::full({4}, 0.95f)));
  EXPECT_TRUE(torch::equal(kept, torch::ones({4})));
  EXPECT_TRUE(torch::equal(untouched, torch::ones({4})));
  opt.zero_grad();
  EXPECT_FALSE(decayed.grad().defined());
}

void run_steps(AdamW& opt, std::vector<torch::Tensor>& tensors, int from, int to) {
  for (int k = from; k < to; ++k) {
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].mutable_grad() = gradient_for(tensors[i], k, i);
    opt.step(2e-3);
  }
}

NamedTensors deep_copy(const NamedTensors& state) {
  NamedTensors copy;
  for (const auto& [name, t] : state) copy.emplace_back(name, t.clone());
  return copy;
}

TEST(AdamW, ResumeFromSavedStateIsBitwiseIdentical) {
  const AdamWOptions o{0.9, 0.999, 1e-8, 0.01};
  auto reference = random_tensors(7);
  AdamW uninterrupted(named(reference), o);
  run_steps(uninterrupted, reference, 0, 12);

  auto first_half = random_tensors(7);
  AdamW before(named(first_half), o);
  run_steps(before, first_half, 0, 5);
  const auto saved_state = deep_copy(before.state_tensors());
  std::vector<torch::Tensor> saved_weights;
  for (const auto& t : first_half) saved_weights.push_back(t.clone());

  auto resumed = saved_weights;
  AdamW after(named(resumed), o);
  after.load_state(saved_state);
  EXPECT_EQ(after.step_count(), 5);
  run_steps(after, resumed, 5, 12);
  for (size_t i = 0; i < reference.size(); ++i) EXPECT_TRUE(torch::equal(reference[i], resumed[i])) << i;

  const auto names = after.state_tensors();
  ASSERT_EQ(names.size(), 7u);
  EXPECT_EQ(names[0].first, "step");
  EXPECT_EQ(names[1].first, "exp_avg.p0");
  EXPECT_EQ(names[2].first, "exp_avg_sq.p0");
}

std::string load_error(AdamW& opt, const NamedTensors& state) {
  try {
    opt.load_state(state);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AdamW, LoadStateRejectsMismatchesNamingTheTensorAndChangesNothing) {
  auto tensors = random_tensors(3);
  AdamW opt(named(tensors), AdamWOptions{});
  run_steps(opt, tensors, 0, 2);
  const auto good = deep_copy(opt.state_tensors());

  auto missing = good;
  missing.erase(missing.begin() + 3);
  EXPECT_NE(load_error(opt, missing).find("exp_avg.p1"), std::string::npos);

  auto extra = good;
  extra.emplace_back("exp_avg.ghost", torch::zeros({1}));
  EXPECT_NE(load_error(opt, extra).find("exp_avg.ghost"), std::string::npos);

  auto wrong_shape = good;
  wrong_shape[2].second = torch::zeros({5, 7});
  EXPECT_NE(load_error(opt, wrong_shape).find("p0"), std::string::npos);

  auto wrong_dtype = good;
  wrong_dtype[1].second = wrong_dtype[1].second.to(torch::kFloat64);
  EXPECT_NE(load_error(opt, wrong_dtype).find("p0"), std::string::npos);

  auto zeroed = deep_copy(good);
  zeroed[0].second.fill_(99);
  zeroed.pop_back();  // and make it invalid: nothing must be applied
  load_error(opt, zeroed);
  EXPECT_EQ(opt.step_count(), 2);
  for (size_t i = 0; i < good.size(); ++i) EXPECT_TRUE(torch::equal(opt.state_tensors()[i].second, good[i].second));
}

// bf16 weights near 1 have a rounding step of 2^-7: a learning rate of 1e-4 is under
// half a step, so round-to-nearest never moves them, while stochastic rounding moves
// them by the float32 amount on average (200 steps of -lr each: 1 -> 0.98).
TEST(AdamW, SmallUpdatesSurviveInBf16OnlyWithStochasticRounding) {
  for (const auto rounding : {Rounding::nearest, Rounding::stochastic}) {
    auto weights = torch::ones({4096}, torch::kBFloat16);
    AdamWOptions options;
    options.rounding = rounding;
    options.rounding_seed = 9;
    AdamW opt({{"w", weights}}, options);
    EXPECT_EQ(opt.rounds_stochastically(), rounding == Rounding::stochastic);
    // A constant gradient: m / sqrt(v) = 1 after bias correction, so each step is -lr.
    for (int step = 0; step < 200; ++step) opt.step(1e-4, {torch::ones({4096})});
    const double mean = weights.to(torch::kFloat64).mean().item<double>();
    if (rounding == Rounding::nearest) {
      EXPECT_EQ(mean, 1.0) << "round-to-nearest loses every update";
    } else {
      // Per element: 200 roundings, each of variance <= (2^-7)^2 / 4: sd <= 0.055; the
      // mean of 4096 elements has a standard error <= 0.0009.
      EXPECT_NEAR(mean, 0.98, 0.0045);
    }
    EXPECT_EQ(opt.state_tensors()[1].second.scalar_type(), torch::kBFloat16) << "bf16 moments";
  }
}

// What offload does on CUDA: the same update streamed through in element ranges.
TEST(AdamW, UpdatingInRangesEqualsUpdatingWholeTensors) {
  const AdamWOptions o{0.9, 0.95, 1e-8, 0.1};
  auto whole = random_tensors(5), ranged = random_tensors(5);
  AdamW a(named(whole), o), b(named(ranged), o);
  for (int k = 0; k < 3; ++k) {
    a.begin_step();
    b.begin_step();
    for (size_t i = 0; i < whole.size(); ++i) {
      const auto grad = gradient_for(whole[i], k, i);
      a.update(i, grad, 1e-2);
      const int64_t n = ranged[i].numel();
      for (int64_t start = 0; start < n; start += 7)
        b.update_range(i, start, std::min(n, start + 7), grad.reshape({-1}).slice(0, start, std::min(n, start + 7)), 1e-2);
    }
  }
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_TRUE(torch::equal(whole[i], ranged[i])) << i;
  EXPECT_THROW(b.update_range(0, 30, 40, torch::zeros({10}), 1e-2), Error);  // past the 35 elements
}

TEST(AdamW, RejectsBadOptionsAndParameters) {
  EXPECT_THROW(AdamW({}, AdamWOptions{1.0, 0.999, 1e-8, 0}), Error);
  EXPECT_THROW(AdamW({}, AdamWOptions{0.9, 0.999, 0.0, 0}), Error);
  EXPECT_THROW(AdamW({}, AdamWOptions{0.9, 0.999, 1e-8, -1}), Error);
  EXPECT_THROW(AdamW({{"x", torch::zeros({2}, torch::kFloat64)}}, AdamWOptions{}), Error);
  EXPECT_THROW(AdamW({{"x", torch::zeros({2}, torch::kFloat16)}}, AdamWOptions{}), Error);
  EXPECT_THROW(AdamW({{"x", torch::zeros({2})}, {"x", torch::zeros({2})}}, AdamWOptions{}), Error);
}

}  // namespace
}  // namespace cream::train
