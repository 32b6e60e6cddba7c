// Activation checkpointing gives the same gradients as plain backward.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cream/train/checkpointing.h"

namespace cream::train {
namespace {

constexpr int64_t kWidth = 16;

// A residual MLP block and a causal single-head attention block, Llama-style.
struct Blocks {
  std::vector<torch::Tensor> params;
  std::vector<BlockFunction> blocks;

  explicit Blocks(uint64_t seed, double dropout = 0.0) {
    torch::manual_seed(seed);
    for (int layer = 0; layer < 3; ++layer) {
      auto wq = param({kWidth, kWidth}), wk = param({kWidth, kWidth}), wv = param({kWidth, kWidth});
      auto gate = param({2 * kWidth, kWidth}), up = param({2 * kWidth, kWidth}),
           down = param({kWidth, 2 * kWidth});
      auto norm = torch::ones({kWidth}).requires_grad_(true);
      params.push_back(norm);
      blocks.push_back([=](const torch::Tensor& x) {
        const auto h = x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-5) * norm;
        auto scores = torch::matmul(torch::matmul(h, wq.t()), torch::matmul(h, wk.t()).transpose(-1, -2)) /
                      std::sqrt(static_cast<double>(kWidth));
        const auto t = x.size(-2);
        scores = scores.masked_fill(torch::ones({t, t}, torch::kBool).triu(1), -1e9);
        auto probs = torch::softmax(scores, -1);
        if (dropout > 0) probs = torch::dropout(probs, dropout, /*train=*/true);
        return x + torch::matmul(probs, torch::matmul(h, wv.t()));
      });
      blocks.push_back([=](const torch::Tensor& x) {
        return x + torch::matmul(torch::silu(torch::matmul(x, gate.t())) * torch::matmul(x, up.t()), down.t());
      });
    }
  }

  torch::Tensor param(std::vector<int64_t> shape) {
    auto p = (torch::randn(shape) * 0.2).requires_grad_(true);
    params.push_back(p);
    return p;
  }

  torch::Tensor run(const torch::Tensor& input, bool checkpointed) const {
    auto x = input;
    for (const auto& block : blocks) x = checkpointed ? checkpoint(block, x) : block(x);
    return (x * x).mean();
  }
};

struct Gradients {
  std::vector<torch::Tensor> params;
  torch::Tensor input;
  torch::Tensor loss;
};

Gradients gradients(bool checkpointed, bool input_requires_grad, double dropout = 0.0) {
  Blocks model(42, dropout);
  torch::manual_seed(7);
  auto input = torch::randn({2, 5, kWidth}).requires_grad_(input_requires_grad);
  torch::manual_seed(123);  // the dropout masks start from the same state
  auto loss = model.run(input, checkpointed);
  loss.backward();
  Gradients g;
  for (const auto& p : model.params) g.params.push_back(p.grad().clone());
  if (input_requires_grad) g.input = input.grad().clone();
  g.loss = loss.detach();
  return g;
}

void expect_same(const Gradients& plain, const Gradients& checkpointed) {
  EXPECT_TRUE(torch::equal(plain.loss, checkpointed.loss));
  ASSERT_EQ(plain.params.size(), checkpointed.params.size());
  for (size_t i = 0; i < plain.params.size(); ++i) {
    ASSERT_TRUE(checkpointed.params[i].defined()) << "parameter " << i << " got no gradient";
    EXPECT_TRUE(torch::allclose(plain.params[i], checkpointed.params[i], 1e-6, 1e-6)) << i;
    EXPECT_TRUE(torch::equal(plain.params[i], checkpointed.params[i])) << "not bitwise: " << i;
  }
  if (plain.input.defined()) {
    EXPECT_TRUE(torch::equal(plain.input, checkpointed.input));
  }
}

TEST(Checkpoint, SameGradientsForParametersAndInput) {
  expect_same(gradients(false, true), gradients(true, true));
}

TEST(Checkpoint, ParametersGetGradientsWhenTheInputNeedsNone) {
  expect_same(gradients(false, false), gradients(true, false));
}

TEST(Checkpoint, RecomputationReplaysTheRandomState) {
  const auto plain = gradients(false, true, 0.3);
  expect_same(plain, gradients(true, true, 0.3));
  // and the dropout really was active: without it the loss differs
  EXPECT_FALSE(torch::equal(plain.loss, gradients(false, true, 0.0).loss));
}

TEST(Checkpoint, RandomStateAfterBackwardIsUnaffectedByRecomputation) {
  Blocks model(1, 0.5);
  auto input = torch::randn({1, 4, kWidth}).requires_grad_(true);
  torch::manual_seed(5);
  auto plain_loss = model.run(input, false);
  plain_loss.backward();
  const auto after_plain = torch::rand({4});
  torch::manual_seed(5);
  auto loss = model.run(input, true);
  loss.backward();
  EXPECT_TRUE(torch::equal(after_plain, torch::rand({4})));
}

TEST(Checkpoint, KeepsNoGraphInsideTheBlockAndIsPlainWithoutGradMode) {
  Blocks model(3);
  auto input = torch::randn({1, 3, kWidth}).requires_grad_(true);
  const auto out = checkpoint(model.blocks[1], input);
  ASSERT_TRUE(out.grad_fn());
  // The only edge leads straight to the input: the block's ops were not recorded.
  EXPECT_EQ(out.grad_fn()->num_inputs(), 1u);
  ASSERT_GE(out.grad_fn()->next_edges().size(), 1u);
  EXPECT_EQ(out.grad_fn()->next_edges()[0].function->name(), "torch::autograd::AccumulateGrad");
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(checkpoint(model.blocks[1], input).requires_grad());
}

}  // namespace
}  // namespace cream::train
