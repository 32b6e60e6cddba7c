// AdamW over an ordered list of named tensors: float32 (the masters) or bfloat16.
//
// Our own implementation (not torch::optim::AdamW) so that the optimizer state is a
// plain, named list of tensors that checkpoints save and restore exactly, whatever
// LibTorch's serialization does. The update is torch.optim.AdamW's, step for step:
//   t += 1
//   p *= 1 - lr * weight_decay                 (decoupled decay, skipped if decay off)
//   m  = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// float32 parameters keep float32 moments. On the CPU the update runs in the same
// tensor operations and order as LibTorch's AdamW, so results agree to the last bit;
// on CUDA, step() runs LibTorch's fused kernel (_fused_adamw_, same math, one launch
// per group).
//
// bfloat16 parameters keep bfloat16 moments (4 bytes of state per parameter instead
// of 8, and no float32 copy of the weights): each tensor is upcast to float32 in
// chunks of kUpdateChunkElements, updated with the float32 math above, and written back
// into the bf16 weight AND moments by round-to-nearest or stochastic rounding
// (AdamWOptions::rounding). Stochastic rounding matters for the moments too: with
// beta2 = 0.999 a round-to-nearest v can neither grow nor decay by less than half a
// bf16 step (0.2%), so it would freeze.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/torch.h>

namespace cream::train {

struct NamedParameter {
  std::string name;      // e.g. "model.layers.0.mlp.up_proj.weight"
  torch::Tensor tensor;  // float32 or bfloat16 weight, updated in place; its grad() is read by step(lr)
  bool weight_decay = true;  // false for norms/biases when the recipe excludes them
};

// How a float32 result is written back into bfloat16 storage.
enum class Rounding { nearest, stochastic };

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  Rounding rounding = Rounding::nearest;  // bfloat16 parameters only
  uint64_t rounding_seed = 0;             // seeds the stochastic-rounding generator
  // ZeRO-1 (dist.zero 1): owned[i] says whether this rank holds params[i]'s moments and
  // updates it; the others skip it (their weights arrive by broadcast). Empty: all.
  std::vector<bool> owned;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// bf16 updates work on float32 copies of at most this many elements at a time (the
// weight, its gradient and both moments: ~7 float32 temporaries, ~450 MB at 2^24).
inline constexpr int64_t kUpdateChunkElements = int64_t{1} << 24;

class AdamW {
 public:
  // Validates options (cream::Error naming optim.betas / optim.eps /
  // optim.weight_decay) and parameters (float32 or bfloat16, unique names); allocates
  // zeroed moments of the parameter's dtype next to each parameter (same device).
  // A stochastic-rounding generator (on the first bf16 parameter's device) is made
  // when some parameter is bfloat16 and options.rounding is stochastic.
  AdamW(std::vector<NamedParameter> params, AdamWOptions options);

  // Only the owned tensors (AdamWOptions::owned) have moments, are updated, and appear
  // in state_tensors() / load_state(); update() of another one does nothing.
  //
  // One update at learning rate `lr`. Parameters whose grad() is undefined are left
  // untouched (as torch does); the bias correction uses the optimizer-wide step count.
  void step(double lr);
  // Same, with grads[i] (any floating dtype, same shape) for params()[i] instead of
  // the .grad fields; undefined entries are skipped.
  void step(double lr, const std::vector<torch::Tensor>& grads);

  // Per-tensor stepping, for updates that cannot wait for every gradient (the step
  // inside backward) or that stream tensors through the host (offload): begin_step()
  // counts one step, then update() each tensor at most once. begin_step() + update()
  // of every tensor on the CPU equals step(lr) bit for bit.
  void begin_step();
  // `apply` (optional, a bool scalar on the parameter's device): when false the tensor
  // and its moments keep their values, decided on the device without a host sync.
  // Only for bfloat16 parameters.
  void update(size_t index, const torch::Tensor& grad, double lr, const torch::Tensor& apply = {});
  // update() of elements [start, end) of the flattened tensor only, `grad` holding those
  // elements (float32 parameters, contiguous): offload streams big tensors in chunks.
  void update_range(size_t index, int64_t start, int64_t end, const torch::Tensor& grad, double lr);

  // Sets every parameter's gradient to undefined (frees the memory).
  void zero_grad();

  int64_t step_count() const { return step_count_; }
  const std::vector<NamedParameter>& params() const { return params_; }
  const AdamWOptions& options() const { return options_; }
  // The stochastic-rounding generator, or nullptr when no tensor rounds stochastically.
  at::Generator* rounding_generator() { return generator_ ? &*generator_ : nullptr; }
  bool rounds_stochastically() const { return generator_.has_value(); }
  // Bytes of the moments (both of them, every parameter).
  uint64_t moment_bytes() const;

  // The complete state, in a stable order: "step" (int64, shape [1]), then for each
  // parameter "exp_avg.<name>" and "exp_avg_sq.<name>" (in the parameter's dtype), then
  // "rounding_rng" (uint8, the generator state) when there is a rounding generator.
  // The moment tensors alias the live state: save them before the next step() (or clone).
  NamedTensors state_tensors() const;

  // Restores a state written by state_tensors(). Every expected tensor must be present
  // with the same shape and dtype and nothing else ("rounding_rng" may be missing: the
  // generator then keeps its seeded state): a mismatch throws cream::Error naming the
  // tensor, before anything is changed. Values are copied into the existing state
  // (keeping its device), so subsequent steps are bit-identical to the original run.
  // Returns false when a rounding_rng was given but did not fit this device's
  // generator (written on another device type): the generator keeps its state.
  bool load_state(const NamedTensors& state);

 private:
  struct Moments {
    torch::Tensor exp_avg;
    torch::Tensor exp_avg_sq;
  };
  void fused_cuda_step(double lr, const std::vector<torch::Tensor>& grads);
  bool owns(size_t index) const { return options_.owned.empty() || options_.owned[index]; }

  std::vector<NamedParameter> params_;
  std::vector<Moments> moments_;
  AdamWOptions options_;
  int64_t step_count_ = 0;
  std::optional<at::Generator> generator_;
};

}  // namespace cream::train
