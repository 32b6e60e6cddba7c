// The model on CUDA computes what it computes on the CPU: logits, the chunked loss and
// every parameter gradient of a tiny random Llama (GQA, sparse CREAM positions), in
// float32 on both devices, and in bf16 on CUDA against float32 on the CPU.
#include <cmath>
#include <map>
#include <string>

#include "gpu_fixtures.h"

namespace {

using namespace cream::gpu_testing;

struct Pass {
  torch::Tensor logits;                        // [B, T, vocab], CPU float32
  double loss = 0;                             // mean next-token loss
  std::map<std::string, torch::Tensor> grads;  // parameter name -> gradient, CPU float32
};

// One forward for the logits, one for the loss (chunked, 7 rows per chunk so that several
// chunks and a ragged last one run), backward of the loss.
Pass run_pass(cream::model::LlamaForCausalLM& m, const torch::Tensor& tokens, const torch::Tensor& positions) {
  const auto device = m->parameters().front().device();
  const auto t = tokens.to(device), p = positions.to(device);
  Pass out;
  {
    torch::NoGradGuard no_grad;
    out.logits = m->forward(t, p).to(torch::kCPU, torch::kFloat);
  }
  m->zero_grad();
  m->loss_chunk_rows = 7;
  const auto loss = m->loss(t, p, t);
  loss.backward();
  out.loss = loss.item<double>();
  for (const auto& named : m->named_parameters())
    out.grads[named.key()] = named.value().grad().to(torch::kCPU, torch::kFloat);
  return out;
}

struct Inputs {
  torch::Tensor tokens, positions;
};

Inputs tiny_inputs(const cream::model::LlamaConfig& c) {
  return {random_tokens(2, 48, c.vocab_size, 21), sparse_positions(2, 48, c.max_position_embeddings, 22)};
}

TEST(CudaForwardBackward, Float32LogitsLossAndGradientsEqualTheCpu) {
  CREAM_REQUIRE_GPU();
  NoTf32Guard exact_fp32;
  const auto config = tiny_llama();
  const auto in = tiny_inputs(config);
  auto cpu_model = random_llama(config, torch::TensorOptions().dtype(torch::kFloat), 5);
  auto dev_model = random_llama(config, torch::TensorOptions().dtype(torch::kFloat).device(device_under_test()), 5);
  const auto cpu = run_pass(cpu_model, in.tokens, in.positions);
  const auto dev = run_pass(dev_model, in.tokens, in.positions);

  // Float32 on both sides, sums in different orders (cuBLAS vs MKL, SDPA kernels):
  // ~1e-6 relative; 1e-4 still catches any wrong weight, position or mask.
  EXPECT_LE(relative_max_error(dev.logits, cpu.logits), 1e-4);
  EXPECT_NEAR(dev.loss, cpu.loss, 1e-5 * std::abs(cpu.loss));
  ASSERT_EQ(dev.grads.size(), cpu.grads.size());
  for (const auto& [name, grad] : cpu.grads) {
    ASSERT_GT(grad.abs().max().item<double>(), 0) << name << ": no gradient on the CPU";
    EXPECT_LE(relative_max_error(dev.grads.at(name), grad), 1e-3) << name;
  }
}

TEST(CudaForwardBackward, Bf16StaysWithinBf16PrecisionOfCpuFloat32) {
  CREAM_REQUIRE_GPU();
  const auto config = tiny_llama();
  const auto in = tiny_inputs(config);
  auto cpu_model = random_llama(config, torch::TensorOptions().dtype(torch::kFloat), 5);
  auto dev_model = random_llama(config, torch::TensorOptions().dtype(torch::kBFloat16).device(device_under_test()), 5);
  const auto cpu = run_pass(cpu_model, in.tokens, in.positions);
  const auto dev = run_pass(dev_model, in.tokens, in.positions);

  // bf16 keeps 8 significant bits (relative step 2^-8 = 0.4%): rounding the weights and
  // every activation through two layers stays within a few percent, where a wrong weight,
  // mask or position would be off by the logits' whole scale.
  EXPECT_LE(relative_max_error(dev.logits, cpu.logits), 5e-2);
  EXPECT_NEAR(dev.loss, cpu.loss, 2e-2 * std::abs(cpu.loss));
  for (const auto& [name, grad] : cpu.grads)
    EXPECT_LE(relative_norm_error(dev.grads.at(name), grad), 8e-2) << name;
}

}  // namespace
