// The weights, gradients and AdamW state of a run, held as its memory mode says
// (train.memory_mode; configs/README.md "Memory modes" has the table). P = parameters
// (a tied embedding counted once); bytes per parameter as allocated_bytes() counts them:
//
//   mode               weights  gradients  optimizer  masters  total  where
//   fp32-masters fp32     4        4          8          -      16     device
//   fp32-masters bf16     2        4          8          4      18     device (bf16 grads are converted
//                                                                      tensor by tensor into the fp32 ones)
//   bf16-sr, fp32 acc.    2        4          4          -      10     device
//   bf16-sr, bf16 acc.    2        2          4          -       8     device
//   bf16-rtn              as bf16-sr (round-to-nearest: the control that shows why SR matters)
//   offload               2        2          8 host     4 host  4 device + 12 host
//   step-in-backward      2        0          4          -       6     device (one tensor's bf16
//                                                                      gradient lives at a time)
//
// bf16-sr writes the float32 AdamW result back into the bf16 weights AND moments by
// unbiased stochastic rounding; bf16-rtn rounds to nearest. offload keeps float32 masters
// and moments on the host and streams each tensor's gradient down and its new bf16
// weights up; on the CPU it computes exactly what fp32-masters with bf16 computes.
// step-in-backward runs each tensor's AdamW update inside backward, as soon as its
// gradient is final, and frees the gradient: it cannot clip by the global norm nor
// accumulate micro-batches (the config refuses both). A non-finite gradient masks that
// tensor's update on the device (no sync); clip_gradients() then returns the non-finite
// norm, and the caller stops without saving (the last checkpoint stays good).
//
// One TrainingState serves the trainer and `cream bench`: the loop is
//   state.begin_step(lr);  for each micro-batch: compute()->loss_sum(...) -> backward();
//   norm = state.clip_gradients(max_norm);  stop if !isfinite(norm);  state.step(lr);
// With several processes (TrainingStateOptions::group) clip_gradients() sums the
// gradients over the ranks first, so the norm, the clipping and the stop decision are
// global and the same everywhere; step-in-backward is single-process only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "cream/config/sections.h"
#include "cream/dist/process_group.h"
#include "cream/model/llama.h"
#include "cream/train/adamw.h"
#include "cream/train/stochastic_round.h"

namespace cream::train {

// Bytes of the tensors a TrainingState holds, by component. Persistent tensors are
// counted by their nbytes(); gradients by numel x element size of the buffers that exist
// together at their peak, i.e. just before the optimizer step:
//   weights    the compute model's parameters (device): 4P fp32, 2P bf16.
//   gradients  fp32-masters: the float32 gradients of the masters (4P; in bf16 the bf16
//              .grad of each tensor is freed as soon as it is converted); bf16-sr/rtn:
//              the float32 accumulators (4P) or the bf16 .grad (2P); offload: the bf16
//              .grad on the device (2P); step-in-backward: 0.
//   optimizer  the AdamW moments exp_avg + exp_avg_sq: 8P fp32, 4P bf16.
//   masters    float32 master weights kept apart from the compute model: 4P for
//              fp32-masters with bf16 and for offload, else 0.
//   host       the part of the above in host memory: offload's masters + moments (12P).
//   staging    offload on CUDA: the pinned host buffers the per-chunk copies go through
//              (2 slots x 2 directions x min(largest tensor, kUpdateChunkElements) x 2 B); not
//              part of the other fields.
// Not counted: the rounding generator's state (5 KB on the CPU, 16 B on CUDA), the step
// counter, one tensor's transient gradient in the hook modes, and the update's float32
// working copies (at most ~7 x 4 B x min(largest tensor, kUpdateChunkElements)).
struct StateBytes {
  uint64_t weights = 0;
  uint64_t gradients = 0;
  uint64_t optimizer = 0;
  uint64_t masters = 0;
  uint64_t host = 0;
  uint64_t staging = 0;
  uint64_t device_total() const { return weights + gradients + optimizer + masters - host; }
};

struct TrainingStateOptions {
  config::MemoryMode mode = config::MemoryMode::fp32_masters;
  config::GradAccumulation accumulation = config::GradAccumulation::fp32;  // bf16-sr / bf16-rtn
  AdamWOptions adamw;  // rounding and rounding_seed are set from `mode` and `seed`
  uint64_t seed = 0;   // the stochastic-rounding stream (saved in checkpoints)
  // Several processes: clip_gradients() first sums the step's gradients over `group`
  // (bucketed all-reduce; each rank's backward already divided by the global label
  // count). With shard_optimizer (ZeRO-1) each tensor has one owner rank
  // (shard_owners()): only it holds the tensor's AdamW moments and updates it, then
  // broadcasts the updated weights (float32 masters where the mode keeps them).
  dist::ProcessGroup* group = nullptr;
  bool shard_optimizer = false;
};

// ZeRO-1's split: the owner rank of each tensor (sizes in module order), balancing the
// element counts greedily (largest first, ties to the lower rank). The same on every rank.
std::vector<int> shard_owners(const std::vector<int64_t>& numels, int world_size);

// The dtype and device the run loads (or initialises) its weights in, before handing
// them to TrainingState: float32 on `device` for fp32-masters, bf16 on `device` for the
// lean modes (bf16-sr, bf16-rtn, step-in-backward), float32 on the host for offload
// (the masters). A 7B checkpoint therefore loads tensor by tensor straight into bf16
// on the GPU in the lean modes, with no float32 copy anywhere.
torch::TensorOptions held_weight_options(config::MemoryMode mode, config::Dtype dtype, const torch::Device& device);

// The dtype checkpoint_weights() are in: float32 for fp32-masters and offload, bfloat16
// for the lean modes (config.json's torch_dtype follows it).
torch::ScalarType checkpoint_weight_dtype(config::MemoryMode mode);

class TrainingState {
 public:
  // `held`: the model in held_weight_options(...) (checked). Builds whatever else the
  // mode needs (bf16 compute copy, AdamW moments, gradient hooks, staging buffers).
  // `decays(name)` says which parameters get weight decay.
  TrainingState(model::LlamaForCausalLM held, config::Dtype dtype, const torch::Device& device,
                TrainingStateOptions options, const std::function<bool(const std::string&)>& decays);
  ~TrainingState();
  TrainingState(const TrainingState&) = delete;
  TrainingState& operator=(const TrainingState&) = delete;

  // The model forward and backward run on (bf16 or fp32, on the device).
  model::LlamaForCausalLM compute() const;
  const TrainingStateOptions& options() const;

  // Before the first micro-batch of a step (step-in-backward applies `lr` inside backward).
  void begin_step(double lr);
  // Before each micro-batch's backward (`last`: the step's final one). With several
  // processes and float32 accumulation (bf16-sr, bf16-rtn) each tensor's sum over the
  // ranks then starts inside the final backward, as soon as its gradient is complete.
  void begin_micro_batch(bool last);
  // The global L2 norm of the step's gradients (before clipping), after scaling them down
  // to `max_norm` when above it (0: no clipping). NaN/inf are returned, not clipped.
  // One host sync. step-in-backward: the norm of the gradients its hooks consumed
  // (max_norm must be 0).
  double clip_gradients(double max_norm);
  // The AdamW update at `lr`, gradients freed, the compute model refreshed.
  void step(double lr);
  int64_t step_count() const;

  // What a checkpoint holds: the weights the optimizer updates (float32 masters, or the
  // bf16 weights), HF names in module order, detached (aliases of the live tensors), and
  // the optimizer state: "step", "exp_avg.<name>", "exp_avg_sq.<name>" in the moments'
  // dtype (+ "rounding_rng", uint8, for bf16-sr and step-in-backward).
  std::vector<std::pair<std::string, torch::Tensor>> checkpoint_weights() const;
  NamedTensors optimizer_state() const;
  // Restores optimizer_state() of a checkpoint written in ANY memory mode: moments of
  // another floating dtype are converted (logged), a rounding_rng this mode has no use
  // for is dropped (logged), a missing or foreign one leaves the stream seeded from
  // `seed` (logged); anything else that does not match throws cream::Error naming the tensor.
  void load_optimizer_state(const NamedTensors& state);

  StateBytes allocated_bytes() const;

  // bf16-sr / bf16-rtn, between the last backward and step(): the summed gradients the
  // update will read, one per parameter in module order (undefined for a tensor that got
  // none), aliases of the live buffers: float32 accumulators or the bf16 .grad, as
  // train.grad_accumulation says. For measurements and tests; other modes throw.
  std::vector<torch::Tensor> gradient_sums() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cream::train
