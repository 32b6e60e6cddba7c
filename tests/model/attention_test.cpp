// at::scaled_dot_product_attention (the default path) against the explicit chunked
// math path: causal, GQA, KV-cache tails (queries after earlier keys), any position
// ids (RoPE is applied before attention, so positions never reach the kernel), in
// float32 forward and backward and in bf16.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "cream/model/llama.h"

namespace {

using cream::model::AttentionOptions;
using cream::model::causal_attention;

struct Qkv {
  torch::Tensor q, k, v;
};

Qkv random_qkv(int64_t heads, int64_t kv_heads, int64_t tq, int64_t tk, torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  const auto options = torch::TensorOptions().dtype(dtype);
  const int64_t batch = 2, dim = 16;
  return {torch::randn({batch, heads, tq, dim}, options), torch::randn({batch, kv_heads, tk, dim}, options),
          torch::randn({batch, kv_heads, tk, dim}, options)};
}

AttentionOptions math_path() {
  AttentionOptions options;
  options.force_math = true;
  options.query_chunk = 5;
  return options;
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

TEST(Attention, SdpaEqualsMathPathForMhaGqaAndKvCacheTails) {
  torch::NoGradGuard no_grad;
  struct Case {
    const char* name;
    int64_t heads, kv_heads, tq, tk;
  };
  for (const Case& c : {Case{"mha", 4, 4, 37, 37}, Case{"gqa", 6, 2, 37, 37}, Case{"mqa", 4, 1, 19, 19},
                        Case{"gqa tail", 6, 2, 7, 40}, Case{"one query", 4, 2, 1, 23}}) {
    const auto t = random_qkv(c.heads, c.kv_heads, c.tq, c.tk, torch::kFloat, 11);
    const auto sdpa = causal_attention(t.q, t.k, t.v, AttentionOptions{});
    const auto math = causal_attention(t.q, t.k, t.v, math_path());
    ASSERT_EQ(sdpa.sizes(), math.sizes()) << c.name;
    EXPECT_LE(max_difference(sdpa, math), 2e-6) << c.name;
  }
}

TEST(Attention, SdpaGradientsEqualMathPath) {
  const auto t = random_qkv(6, 2, 29, 29, torch::kFloat, 12);
  const auto upstream = torch::randn({2, 6, 29, 16});
  std::vector<torch::Tensor> grads[2];
  for (int path = 0; path < 2; ++path) {
    auto q = t.q.clone().requires_grad_(), k = t.k.clone().requires_grad_(), v = t.v.clone().requires_grad_();
    const auto out = causal_attention(q, k, v, path == 0 ? AttentionOptions{} : math_path());
    (out * upstream).sum().backward();
    grads[path] = {q.grad(), k.grad(), v.grad()};
  }
  const char* names[] = {"dq", "dk", "dv"};
  for (int i = 0; i < 3; ++i) EXPECT_LE(max_difference(grads[0][i], grads[1][i]), 1e-5) << names[i];
}

TEST(Attention, SdpaInBf16StaysWithinBf16OfTheFloat32MathPath) {
  torch::NoGradGuard no_grad;
  const auto t = random_qkv(6, 2, 33, 33, torch::kFloat, 13);
  const auto exact = causal_attention(t.q, t.k, t.v, math_path());
  const auto bf16 = causal_attention(t.q.to(torch::kBFloat16), t.k.to(torch::kBFloat16), t.v.to(torch::kBFloat16),
                                     AttentionOptions{});
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_LE(max_difference(bf16, exact), 3e-2);
}

}  // namespace
