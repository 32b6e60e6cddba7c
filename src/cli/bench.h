// `cream bench`: the pieces shared by its two timings, the training step
// (bench_train.cpp) and the long eval forward (bench_eval.cpp). cmd_bench.cpp parses
// the flags into BenchSettings and prints the JSON line these return.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cream/config/sections.h"
#include "cream/model/config.h"
#include "cream/model/llama.h"
#include "cream/util/memory_usage.h"

namespace cream::cli::bench {

// Keys in the order written, so the JSON line reads settings first.
using Json = nlohmann::ordered_json;

// Every setting of one benchmark run, resolved and checked.
struct BenchSettings {
  std::string preset;
  bool custom_shape = false;  // a shape flag changed the preset
  model::LlamaConfig config;
  int64_t seq = 0;            // tokens per sequence of a training step
  int64_t micro_batch = 1;    // sequences per forward pass
  int64_t micro_batches = 1;  // forward passes per optimizer step
  int64_t steps = 0;
  int64_t warmup = 0;
  config::Dtype dtype = config::Dtype::bf16;
  config::MemoryMode memory_mode = config::MemoryMode::bf16_sr;
  std::optional<config::GradAccumulation> grad_accumulation;  // bf16-sr / bf16-rtn only
  int64_t checkpointing_stride = 0;                           // 0: none, 1: all, k: every k-th layer
  torch::Device device{torch::kCPU};
  int64_t eval_length = 0;  // > 0: time an eval forward at this length instead of training
  double peak_tflops = 0;   // > 0: the peak to divide by, instead of the device table
  uint64_t seed = 0;
};

// "none", "all" or "every:K"
std::string checkpointing_name(int64_t stride);

// Training FLOPs per token (forward + backward): 6 x (parameters that multiply: all but
// the input embedding table, which is a lookup) + 12 x layers x hidden x seq (attention
// scores and their weighted sum). A tied output projection counts once, as the matmul.
double training_flops_per_token(const model::LlamaConfig& config, int64_t seq);

// The device's dense peak in FLOP/s for the compute dtype (bf16, or TF32 for fp32) from
// its name: H100 / H200 989e12 (H100 PCIe 756e12), A100 312e12; `override_tflops` > 0
// wins. nullopt on the CPU and unknown GPUs (MFU is then reported as null).
struct Peak {
  double flops = 0;
  std::string source;  // "device table (H100/H200 bf16)" or "--peak-tflops"
};
std::optional<Peak> peak_flops(const torch::Device& device, const std::string& device_name, config::Dtype dtype,
                               double override_tflops);

// The model with random weights, made directly where and as `options` say (a device
// generator seeded with `seed`): HF's init shape (N(0, 0.02), norms 1) at device speed,
// since the values do not matter for speed, only that the loss stays finite.
model::LlamaForCausalLM random_model(const model::LlamaConfig& config, const torch::TensorOptions& options,
                                     uint64_t seed);

// Random token ids [rows, length] on `device` and positions 0..length-1 of the same shape.
struct Batch {
  torch::Tensor tokens;
  torch::Tensor positions;
};
Batch random_batch(int64_t vocab, int64_t rows, int64_t length, const torch::Device& device, uint64_t seed);

// Host and device memory watched over one run: the host baseline is taken before the
// model exists; the peaks cover the timed steps (restarted after warm-up).
class MemoryWatch {
 public:
  explicit MemoryWatch(const torch::Device& device);  // takes the baseline
  void restart_peaks();                               // before the first timed step
  Json report() const;                      // after the last one
  // The headline figure: the CUDA allocator's peak on a GPU, else the host peak over baseline.
  uint64_t peak_bytes() const;

 private:
  torch::Device device_;
  util::HostMemory baseline_{};
  bool host_reset_ok_ = false;
};

// Wall-clock seconds of each timed step, and the process CPU time over all of them.
struct Timing {
  std::vector<double> seconds;
  double cpu_seconds = 0;
  double total() const;
};

// Settings common to both JSON lines (shape, device, versions, threads...).
Json settings_json(const BenchSettings& s);
// tokens/s, ms per step, FLOPs per token, peak and MFU.
Json speed_json(const BenchSettings& s, const Timing& timing, int64_t tokens_per_step,
                          double flops_per_token);

double rounded(double value, double scale);

// The two timings; each returns its complete JSON line.
Json run_train(const BenchSettings& s);
Json run_eval(const BenchSettings& s);

}  // namespace cream::cli::bench
