// train.grad_accumulation measured: 32 micro-batches' bf16 gradients of a tiny bf16 model,
// summed the two ways the lean modes offer, against their exact (float64) sum. float32
// accumulators keep the sum to float32 precision; summing in the bf16 .grad rounds every
// partial sum to 8 significant bits. The relative errors are printed (configs/README.md
// quotes them) and bounded on both sides, so a change that made either path exact or
// broke it shows.
#include <gtest/gtest.h>

#include <cstdio>

#include "cream/model/presets.h"
#include "cream/train/training_state.h"

namespace cream::train {
namespace {

constexpr int kMicroBatches = 32;

model::LlamaForCausalLM tiny_bf16_model() {
  auto config = model::preset("tiny");
  config.tie_word_embeddings = false;
  model::LlamaForCausalLM model(config, torch::TensorOptions().dtype(torch::kBFloat16));
  model::initialize_weights(*model, 11);
  return model;
}

std::vector<torch::Tensor> micro_batches() {
  auto generator = at::detail::createCPUGenerator(5);
  std::vector<torch::Tensor> out;
  for (int i = 0; i < kMicroBatches; ++i) out.push_back(torch::randint(0, 512, {1, 32}, generator, torch::kInt64));
  return out;
}

torch::Tensor positions() { return torch::arange(32).unsqueeze(0); }

void backward(model::LlamaForCausalLMImpl& model, const torch::Tensor& tokens) {
  const auto loss = model.loss_sum(tokens, positions(), tokens);
  (loss.sum / static_cast<double>(kMicroBatches * 31)).backward();
}

// The exact sum of every micro-batch's bf16 gradient, in float64, one per parameter.
std::vector<torch::Tensor> exact_sums(const std::vector<torch::Tensor>& batches) {
  auto model = tiny_bf16_model();
  std::vector<torch::Tensor> sums;
  for (const auto& p : model->parameters()) sums.push_back(torch::zeros_like(p, torch::kFloat64));
  for (const auto& tokens : batches) {
    backward(*model, tokens);
    const auto params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      sums[i] += params[i].grad().to(torch::kFloat64);
      params[i].mutable_grad() = torch::Tensor();
    }
  }
  return sums;
}

// ||accumulated - exact|| / ||exact|| over all parameters.
double accumulation_error(config::GradAccumulation accumulation, const std::vector<torch::Tensor>& batches,
                          const std::vector<torch::Tensor>& exact) {
  TrainingStateOptions options;
  options.mode = config::MemoryMode::bf16_sr;
  options.accumulation = accumulation;
  TrainingState state(tiny_bf16_model(), config::Dtype::bf16, torch::kCPU, options, [](const std::string&) {
    return true;
  });
  state.begin_step(1e-3);
  for (const auto& tokens : batches) backward(*state.compute(), tokens);
  const auto sums = state.gradient_sums();
  EXPECT_EQ(sums.size(), exact.size());
  double error = 0.0, norm = 0.0;
  for (size_t i = 0; i < sums.size() && i < exact.size(); ++i) {
    EXPECT_EQ(sums[i].scalar_type(),
              accumulation == config::GradAccumulation::fp32 ? torch::kFloat32 : torch::kBFloat16);
    error += (sums[i].to(torch::kFloat64) - exact[i]).pow(2).sum().item<double>();
    norm += exact[i].pow(2).sum().item<double>();
  }
  return std::sqrt(error / norm);
}

TEST(GradAccumulation, Float32SumsKeep32MicroBatchesExactWhereBf16SumsLoseBits) {
  const auto batches = micro_batches();
  const auto exact = exact_sums(batches);
  const double fp32 = accumulation_error(config::GradAccumulation::fp32, batches, exact);
  const double bf16 = accumulation_error(config::GradAccumulation::bf16, batches, exact);
  std::printf("relative error of the summed gradient over %d micro-batches: fp32 accumulators %.3g, bf16 sums %.3g\n",
              kMicroBatches, fp32, bf16);
  // float32 rounds each partial sum at 2^-24 relative: a few 1e-8 over 32 terms.
  EXPECT_LT(fp32, 1e-6);
  // bf16 rounds each partial sum at 2^-9 relative: the error is of the order 1e-3.
  EXPECT_GT(bf16, 3e-4);
  EXPECT_LT(bf16, 3e-2);
}

TEST(GradAccumulation, GradientSumsAreRefusedByNameWhereTheModeHasNone) {
  TrainingStateOptions options;
  options.mode = config::MemoryMode::step_in_backward;
  TrainingState state(tiny_bf16_model(), config::Dtype::bf16, torch::kCPU, options, [](const std::string&) {
    return true;
  });
  try {
    state.gradient_sums();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("step-in-backward"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cream::train
