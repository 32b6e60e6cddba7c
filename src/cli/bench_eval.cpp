// `cream bench --eval-length N`: times the evaluation forward at a long length (the 32K
// check: `cream eval` scores perplexity at N with exactly this call), without gradients:
// loss_sum over micro_batch sequences of N random tokens at positions 0..N-1. The model
// is held in the compute dtype on the device, as `cream eval` holds it.
#include <chrono>
#include <cmath>
#include <ctime>

#include "bench.h"
#include "cream/train/device_memory.h"
#include "cream/util/error.h"

namespace cream::cli::bench {
namespace {

using Clock = std::chrono::steady_clock;

double eval_forward(model::LlamaForCausalLMImpl& model, const Batch& batch) {
  const auto loss = model.loss_sum(batch.tokens, batch.positions, batch.tokens);
  const double value = loss.sum.item<double>() / static_cast<double>(loss.count.item<int64_t>());
  CREAM_CHECK(std::isfinite(value), "bench: non-finite eval loss at --eval-length " +
                                        std::to_string(batch.tokens.size(1)));
  return value;
}

}  // namespace

Json run_eval(const BenchSettings& s) {
  MemoryWatch memory(s.device);  // baseline before the model exists
  const auto compute_dtype = s.dtype == config::Dtype::bf16 ? torch::kBFloat16 : torch::kFloat;
  auto model = random_model(s.config, torch::TensorOptions().dtype(compute_dtype).device(s.device), s.seed);
  model->eval();
  model->check_inputs_on_device = false;  // valid by construction; the checks would sync
  const auto batch = random_batch(s.config.vocab_size, s.micro_batch, s.eval_length, s.device, s.seed + 1);

  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < s.warmup; ++i) eval_forward(*model, batch);
  memory.restart_peaks();
  Timing timing;
  double loss = 0;
  const std::clock_t cpu_started = std::clock();
  for (int64_t i = 0; i < s.steps; ++i) {
    train::synchronize(s.device);
    const auto started = Clock::now();
    loss = eval_forward(*model, batch);
    train::synchronize(s.device);
    timing.seconds.push_back(std::chrono::duration<double>(Clock::now() - started).count());
  }
  timing.cpu_seconds = static_cast<double>(std::clock() - cpu_started) / CLOCKS_PER_SEC;

  const int64_t tokens_per_step = s.micro_batch * s.eval_length;
  Json json = {{"bench", "eval"}};
  json.update(settings_json(s));
  json["eval_length"] = s.eval_length;
  json["tokens_per_step"] = tokens_per_step;
  json["sdpa_backend"] = model::sdpa_backend(s.config, s.eval_length, compute_dtype, s.device);
  // A forward is a third of a training step's FLOPs (backward costs two forwards).
  json.update(speed_json(s, timing, tokens_per_step, training_flops_per_token(s.config, s.eval_length) / 3.0));
  json["peak_memory_bytes"] = memory.peak_bytes();
  json["memory"] = memory.report();
  json["final_loss"] = rounded(loss, 1e4);
  return json;
}

}  // namespace cream::cli::bench
