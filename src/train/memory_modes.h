// The memory modes behind TrainingState (include/cream/train/training_state.h): one
// class per way of holding weights, gradients and AdamW state.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cream/train/adamw.h"
#include "cream/train/training_state.h"

namespace cream::train::detail {

using DecayRule = std::function<bool(const std::string&)>;

class ModeState {
 public:
  virtual ~ModeState() = default;
  virtual model::LlamaForCausalLM compute() const = 0;
  virtual void begin_step(double lr) {}
  // Before each micro-batch's backward; `last` for the step's final one.
  virtual void begin_micro_batch(bool last) {}
  virtual double clip_gradients(double max_norm) = 0;
  virtual void step(double lr) = 0;
  virtual NamedTensors checkpoint_weights() const = 0;
  virtual StateBytes allocated_bytes() const = 0;
  // The step's summed gradients (aliases), as step() consumes them; empty where the mode
  // has no such tensors to show (see TrainingState::gradient_sums).
  virtual std::vector<torch::Tensor> gradient_sums() const { return {}; }
  // Several processes: the step's summed gradients, one per parameter in module order,
  // every one defined (zeros where backward gave none), for the all-reduce before
  // clip_gradients(). Aliases of the buffers the update reads. A mode that already
  // started sums during backward waits for them and returns only the rest.
  virtual std::vector<torch::Tensor> gradients_to_sum() = 0;
  // ZeRO-1, after step(): parameters not owned here got their new values broadcast
  // into checkpoint_weights(); bring the compute copy (if separate) up to date.
  virtual void refresh_compute(const std::vector<bool>& received) {}
  // The optimizer whose state checkpoints hold.
  virtual AdamW& optimizer() = 0;
  virtual const AdamW& optimizer() const = 0;
};

// fp32-masters: `held` is float32 on the device; with dtype bf16 a bf16 compute copy.
std::unique_ptr<ModeState> make_masters_state(model::LlamaForCausalLM held, config::Dtype dtype,
                                              const TrainingStateOptions& options, const DecayRule& decays);
// bf16-sr / bf16-rtn / step-in-backward: `held` is the bf16 model on the device.
std::unique_ptr<ModeState> make_lean_state(model::LlamaForCausalLM held, const TrainingStateOptions& options,
                                           const DecayRule& decays);
// offload: `held` is the float32 masters on the host; the bf16 compute model goes to `device`.
std::unique_ptr<ModeState> make_offload_state(model::LlamaForCausalLM held, const torch::Device& device,
                                              const TrainingStateOptions& options, const DecayRule& decays);

// Shared helpers.
std::vector<NamedParameter> named_parameters(model::LlamaForCausalLMImpl& model, const DecayRule& decays);
NamedTensors detached_parameters(const model::LlamaForCausalLMImpl& model);
// A new model like `like` in `options`, holding a copy of its weights (converted).
model::LlamaForCausalLM copy_model(const model::LlamaForCausalLMImpl& like, const torch::TensorOptions& options);
// Copies every parameter of `source` into `target` (same layout), converting.
void copy_weights(const model::LlamaForCausalLMImpl& source, model::LlamaForCausalLMImpl& target);
uint64_t parameter_bytes(const model::LlamaForCausalLMImpl& model);
uint64_t parameter_count(const model::LlamaForCausalLMImpl& model);
// p.grad() of each parameter, a zero gradient created where there is none.
std::vector<torch::Tensor> defined_grads(const std::vector<torch::Tensor>& params);

}  // namespace cream::train::detail
