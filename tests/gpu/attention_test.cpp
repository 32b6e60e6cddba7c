// On CUDA, at::scaled_dot_product_attention (the default path, a fused kernel) equals
// the explicit chunked math path: causal, GQA, KV-cache tails, forward and backward, in
// float32 and in bf16 at Llama-2-7B's head size; and the kernel LibTorch picks for
// Llama-2-7B at 4K in bf16 is a fused one, as the memory plan assumes.
#include "cream/model/presets.h"
#include "gpu_fixtures.h"

namespace {

using cream::model::AttentionOptions;
using cream::model::causal_attention;
using namespace cream::gpu_testing;

struct Qkv {
  torch::Tensor q, k, v;
};

// q [2, heads, tq, dim], k and v [2, kv_heads, tk, dim], N(0, 1) float32 on the device.
Qkv random_qkv(int64_t heads, int64_t kv_heads, int64_t tq, int64_t tk, int64_t dim, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const auto draw = [&](int64_t h, int64_t t) {
    return torch::randn({2, h, t, dim}, gen, torch::kFloat).to(device_under_test());
  };
  return {draw(heads, tq), draw(kv_heads, tk), draw(kv_heads, tk)};
}

AttentionOptions math_path(int64_t query_chunk) {
  AttentionOptions options;
  options.force_math = true;
  options.query_chunk = query_chunk;
  return options;
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

TEST(CudaAttention, SdpaEqualsTheMathPathInFloat32) {
  CREAM_REQUIRE_GPU();
  NoTf32Guard exact_fp32;
  torch::NoGradGuard no_grad;
  struct Case {
    const char* name;
    int64_t heads, kv_heads, tq, tk;
  };
  for (const Case& c : {Case{"mha", 4, 4, 37, 37}, Case{"gqa", 6, 2, 37, 37}, Case{"mqa", 4, 1, 19, 19},
                        Case{"gqa tail", 6, 2, 7, 40}, Case{"one query", 4, 2, 1, 23},
                        Case{"long gqa", 8, 2, 300, 300}}) {
    const auto t = random_qkv(c.heads, c.kv_heads, c.tq, c.tk, 64, 11);
    const auto sdpa = causal_attention(t.q, t.k, t.v, AttentionOptions{});
    const auto math = causal_attention(t.q, t.k, t.v, math_path(16));
    ASSERT_EQ(sdpa.sizes(), math.sizes()) << c.name;
    // outputs are convex mixes of N(0, 1) values: |out| <= ~4; float32 kernels agree to ~1e-6
    EXPECT_LE(max_difference(sdpa, math), 1e-5) << c.name;
  }
}

TEST(CudaAttention, SdpaGradientsEqualTheMathPathInFloat32) {
  CREAM_REQUIRE_GPU();
  NoTf32Guard exact_fp32;
  const auto t = random_qkv(6, 2, 129, 129, 64, 12);
  auto gen = at::detail::createCPUGenerator(13);
  const auto upstream = torch::randn({2, 6, 129, 64}, gen, torch::kFloat).to(device_under_test());
  std::vector<torch::Tensor> grads[2];
  for (int path = 0; path < 2; ++path) {
    auto q = t.q.clone().requires_grad_(), k = t.k.clone().requires_grad_(), v = t.v.clone().requires_grad_();
    const auto out = causal_attention(q, k, v, path == 0 ? AttentionOptions{} : math_path(32));
    (out * upstream).sum().backward();
    grads[path] = {q.grad(), k.grad(), v.grad()};
  }
  const char* names[] = {"dq", "dk", "dv"};
  for (int i = 0; i < 3; ++i) EXPECT_LE(relative_max_error(grads[0][i], grads[1][i]), 1e-4) << names[i];
}

// bf16 at head_dim 128 over 1024 tokens: the flash / cuDNN kernels' own shapes. The
// reference is the float32 math path on the same (bf16-rounded) inputs, so only the
// kernel's bf16 arithmetic is measured.
TEST(CudaAttention, Bf16SdpaForwardAndBackwardStayNearTheFloat32MathPath) {
  CREAM_REQUIRE_GPU();
  const int64_t time = small_shapes() ? 96 : 1024;
  const auto t = random_qkv(8, 2, time, time, 128, 14);
  auto gen = at::detail::createCPUGenerator(15);
  const auto upstream = torch::randn({2, 8, time, 128}, gen, torch::kFloat).to(device_under_test());
  const auto bf16 = [](const torch::Tensor& x) { return x.to(torch::kBFloat16); };
  std::vector<torch::Tensor> results[2];  // out, dq, dk, dv
  for (int path = 0; path < 2; ++path) {
    const auto dtype = path == 0 ? torch::kBFloat16 : torch::kFloat;
    auto q = bf16(t.q).to(dtype).requires_grad_(), k = bf16(t.k).to(dtype).requires_grad_(),
         v = bf16(t.v).to(dtype).requires_grad_();
    const auto out = causal_attention(q, k, v, path == 0 ? AttentionOptions{} : math_path(256));
    (out * bf16(upstream).to(dtype)).sum().backward();
    results[path] = {out, q.grad(), k.grad(), v.grad()};
  }
  EXPECT_EQ(results[0][0].scalar_type(), torch::kBFloat16);
  const char* names[] = {"out", "dq", "dk", "dv"};
  // bf16 outputs and gradients: 2^-8 relative per value plus bf16 accumulation inside the
  // kernel; a wrong mask or GQA mapping errs by O(1) of the scale.
  for (int i = 0; i < 4; ++i) EXPECT_LE(relative_max_error(results[0][i], results[1][i]), 3e-2) << names[i];
}

TEST(CudaAttention, Llama2At4kInBf16GetsAFusedKernel) {
  if (!have_cuda()) GTEST_SKIP() << "no CUDA device (the CPU always reports math)";
  const auto config = cream::model::preset("llama2-7b");
  const auto backend = cream::model::sdpa_backend(config, 4096, torch::kBFloat16, device_under_test());
  EXPECT_TRUE(backend == "flash" || backend == "cudnn" || backend == "efficient") << backend;
}

}  // namespace
