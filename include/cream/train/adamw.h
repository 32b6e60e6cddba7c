// AdamW over an ordered list of named float32 master tensors.
//
// Our own implementation (not torch::optim::AdamW) so that the optimizer state is a
// plain, named list of tensors that checkpoints save and restore exactly, whatever
// LibTorch's serialization does. The update is torch.optim.AdamW's, step for step:
//   t += 1
//   p *= 1 - lr * weight_decay                 (decoupled decay, skipped if decay off)
//   m  = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// in the same tensor operations and order as LibTorch's AdamW, so results agree to
// the last bit on the same hardware.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace cream::train {

struct NamedParameter {
  std::string name;      // e.g. "model.layers.0.mlp.up_proj.weight"
  torch::Tensor tensor;  // float32 master weight, updated in place; its grad() is read
  bool weight_decay = true;  // false for norms/biases when the recipe excludes them
};

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class AdamW {
 public:
  // Validates options (cream::Error naming optim.betas / optim.eps /
  // optim.weight_decay) and parameters (float32, unique names); allocates zeroed
  // moments next to each parameter (same device).
  AdamW(std::vector<NamedParameter> params, AdamWOptions options);

  // One update at learning rate `lr`. Parameters whose grad() is undefined are left
  // untouched (as torch does); the bias correction uses the optimizer-wide step count.
  void step(double lr);

  // Sets every parameter's gradient to undefined (frees the memory).
  void zero_grad();

  int64_t step_count() const { return step_count_; }
  const std::vector<NamedParameter>& params() const { return params_; }
  const AdamWOptions& options() const { return options_; }

  // The complete state, in a stable order: "step" (int64, shape [1]), then for each
  // parameter "exp_avg.<name>" and "exp_avg_sq.<name>". The tensors alias the live
  // state: save them before the next step() (or clone).
  NamedTensors state_tensors() const;

  // Restores a state written by state_tensors(). Every expected tensor must be
  // present with the same shape and dtype and nothing else: a mismatch throws
  // cream::Error naming the tensor. Values are copied into the existing state
  // (keeping its device), so subsequent steps are bit-identical to the original run.
  void load_state(const NamedTensors& state);

 private:
  struct Moments {
    torch::Tensor exp_avg;
    torch::Tensor exp_avg_sq;
  };

  std::vector<NamedParameter> params_;
  std::vector<Moments> moments_;
  AdamWOptions options_;
  int64_t step_count_ = 0;
};

}  // namespace cream::train
