// Shared pieces of tests/gpu (CTest label `gpu`): the device under test, small random
// Llama models with identical weights on two devices, and comparison helpers.
//
// Every test runs on the first CUDA device and skips where none is visible, so the CPU
// suite passes. CREAM_GPU_TESTS_ON_CPU=1 runs them on the CPU instead (device against
// device is then CPU against CPU, on the smallest shapes): that only proves the tests
// themselves run, which is how they were checked on a machine without a GPU.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cream/model/llama.h"
#include "cream/model/presets.h"

namespace cream::gpu_testing {

inline bool dry_run_on_cpu() {
  const char* value = std::getenv("CREAM_GPU_TESTS_ON_CPU");
  return value != nullptr && std::string(value) == "1";
}

inline bool have_cuda() { return torch::cuda::is_available(); }

// The device the GPU tests exercise: cuda:0, or the CPU in a dry run.
inline torch::Device device_under_test() { return have_cuda() ? torch::Device(torch::kCUDA, 0) : torch::kCPU; }

// True on the CPU dry run: tests pick their small shapes then.
inline bool small_shapes() { return !have_cuda(); }

#define CREAM_REQUIRE_GPU()                                                                       \
  do {                                                                                            \
    if (!::cream::gpu_testing::have_cuda() && !::cream::gpu_testing::dry_run_on_cpu())           \
      GTEST_SKIP() << "no CUDA device (CREAM_GPU_TESTS_ON_CPU=1 runs this on the CPU)";          \
  } while (0)

// Float32 matmuls exactly in float32 (no TF32) while alive; the previous setting returns
// after. LibTorch's default is already off; this guards against a test that turned it on.
class NoTf32Guard {
 public:
  NoTf32Guard() : previous_(at::globalContext().allowTF32CuBLAS()) { at::globalContext().setAllowTF32CuBLAS(false); }
  ~NoTf32Guard() { at::globalContext().setAllowTF32CuBLAS(previous_); }
  NoTf32Guard(const NoTf32Guard&) = delete;
  NoTf32Guard& operator=(const NoTf32Guard&) = delete;

 private:
  bool previous_;
};

// GQA (4 heads over 2 kv heads), untied head, two layers: every weight kind of a Llama.
inline model::LlamaConfig tiny_llama() {
  model::LlamaConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 160;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.num_hidden_layers = 2;
  c.vocab_size = 256;
  c.max_position_embeddings = 1024;
  c.rms_norm_eps = 1e-5;
  return c;
}

// The 7B-shaped slice of issue 14: Llama-2-7B's widths (hidden 4096, intermediate 11008,
// 32 heads, vocab 32000) with two layers, ~0.67e9 parameters.
inline model::LlamaConfig llama2_7b_slice() {
  auto c = model::preset("llama2-7b");
  c.num_hidden_layers = 2;
  return c;
}

// A random model in `options` (dtype, device). Weights come from initialize_weights
// (drawn on the CPU from `seed`, so every device gets the same values) with std 0.1, a
// scale at which every weight visibly moves the logits; norm weights 1 + N(0, 0.1) so
// that they matter too.
inline model::LlamaForCausalLM random_llama(const model::LlamaConfig& config, const torch::TensorOptions& options,
                                            uint64_t seed) {
  model::LlamaForCausalLM m(config, options);
  model::initialize_weights(*m, seed, /*std=*/0.1);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed + 1);
  for (auto& p : m->named_parameters()) {
    if (p.key().find("norm") != std::string::npos)
      p.value().copy_(1.0 + 0.1 * torch::randn(p.value().sizes(), gen, torch::kFloat));
  }
  return m;
}

// Random token ids [batch, time] in [0, vocab) and sorted distinct positions in
// [0, limit) (CREAM's sparse position ids), both int64 on the CPU.
inline torch::Tensor random_tokens(int64_t batch, int64_t time, int64_t vocab, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, vocab, {batch, time}, gen, torch::kLong);
}

inline torch::Tensor sparse_positions(int64_t batch, int64_t time, int64_t limit, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < batch; ++b)
    rows.push_back(std::get<0>(torch::randperm(limit, gen, torch::kLong).narrow(0, 0, time).sort()));
  return torch::stack(rows);
}

// max |a - b| / max |b|, in float64 on the CPU.
inline double relative_max_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.detach().to(torch::kCPU, torch::kDouble), y = b.detach().to(torch::kCPU, torch::kDouble);
  return ((x - y).abs().max() / y.abs().max()).item<double>();
}

// ||a - b|| / ||b|| (Frobenius), in float64 on the CPU.
inline double relative_norm_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.detach().to(torch::kCPU, torch::kDouble), y = b.detach().to(torch::kCPU, torch::kDouble);
  return ((x - y).norm() / y.norm()).item<double>();
}

}  // namespace cream::gpu_testing
