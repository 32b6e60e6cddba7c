// The memory plan of a run: what `cream train --dry-run` prints and what a real run
// checks before it builds anything. Everything is computed from the config alone
// (no weights, no data, no allocation).
//
// Per process, in bytes:
//   weights, gradients, optimizer states, masters   exactly what TrainingState allocates
//       for the memory mode (equal to TrainingState::allocated_bytes(); tested)
//   saved activations   what autograd keeps from the forward for the backward of one
//       micro-batch, for the checkpointing policy, tensor by tensor as the model's
//       kernels save them (the SDPA path: fused attention keeps O(T) per head, never
//       [T, T] scores; see README.md "Memory plan" for the per-layer sums)
//   recomputed layer    with checkpointing: one layer's activations rebuilt in backward
//   loss chunk          the chunked cross-entropy's backward: one chunk's logits and
//       log-probabilities, and the float32 sum of the output weight's gradient
//   working space       the largest transient of one layer's backward (the MLP's
//       [tokens, intermediate] gradients, RMSNorm's float32 gradients on the CPU...)
//       or of the optimizer step (AdamW's float32 working copies)
// The peak walks through one step (forward, loss backward, each layer's backward from
// the last, the optimizer step), with the gradients that exist at each point, and takes
// the largest total. CUDA and the CPU differ in their kernels (fused RMSNorm and AdamW
// on CUDA, float32 RMSNorm statistics on the CPU) and are modelled separately.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cream/config/experiment.h"
#include "cream/model/config.h"
#include "cream/train/training_state.h"

namespace cream::train {

// What one process does, as far as its memory is concerned.
struct MemorySettings {
  config::Dtype dtype = config::Dtype::bf16;
  config::MemoryMode mode = config::MemoryMode::bf16_sr;
  config::GradAccumulation grad_accumulation = config::GradAccumulation::fp32;  // bf16-sr / bf16-rtn
  int64_t micro_batch = 1;
  int64_t sequence_length = 0;  // tokens per sequence
  int64_t accumulation = 1;     // micro-batches per optimizer step on this process
  bool checkpointing = false;
  int64_t checkpointing_stride = 1;  // layers 0, k, 2k, ... are recomputed
  int64_t loss_chunk_rows = 0;       // 0: the loss's automatic chunk
  bool cuda = false;                 // CUDA kernels, or the CPU's
  // dist.zero 1 over this many ranks: each holds the AdamW moments of its share of the
  // tensors (the heaviest rank's share of shard_owners() is planned). 1: all of them.
  int64_t optimizer_shards = 1;
};

// The heaviest rank's share of the parameters under ZeRO-1's split (shard_owners over
// the model's tensors); 1 for one shard.
double heaviest_shard_fraction(const model::LlamaConfig& model, int64_t shards);

// The state's bytes for `settings` (no other field of it matters than dtype, mode,
// grad_accumulation and cuda): what TrainingState::allocated_bytes() reports for the
// same model and options.
StateBytes planned_state_bytes(const model::LlamaConfig& model, const MemorySettings& settings);

struct MemoryPlan {
  int64_t parameters = 0;
  StateBytes state;
  uint64_t activations = 0;       // saved for backward, one micro-batch
  uint64_t recomputed_layer = 0;  // checkpointing: one layer's activations during its backward
  uint64_t loss_chunk = 0;        // the loss's backward transient (or forward, when larger)
  uint64_t working = 0;           // the largest transient of a layer's backward or of the step
  uint64_t peak = 0;              // device bytes at the busiest moment of a step
  std::string peak_at;            // "loss backward", "backward of layer 31", "optimizer step", ...
  uint64_t host = 0;              // offload: pinned host bytes (masters, moments, staging)
};

MemoryPlan plan_memory(const model::LlamaConfig& model, const MemorySettings& settings);

// The memory a plan is checked against.
struct PlanDevice {
  std::string name;       // "cuda:0 NVIDIA H100 80GB HBM3", "cpu (physical RAM)", "--device-memory 80GiB (cuda)"
  bool cuda = false;      // which kernels the plan models
  uint64_t capacity = 0;  // bytes of device memory (the CPU: physical RAM)
  // Bytes in use outside the plan: on CUDA a fixed allowance for the context, kernels
  // and library workspaces, which the caching allocator does not count; on the CPU
  // the process's own resident memory before training (the LibTorch libraries).
  uint64_t reserve = 0;
  // Physical RAM, for offload's host bytes (0 when planning for another machine).
  uint64_t host_capacity = 0;
};

inline constexpr uint64_t kCudaReserveBytes = uint64_t{1} << 30;

// This machine's device for model.device (cuda: the GPU of LOCAL_RANK; cpu: physical
// RAM; auto: the GPU when one is visible). cream::Error when cuda is asked for and no
// GPU is visible (pass --device-memory to plan for another machine).
PlanDevice this_machine_device(config::Device device);
// Another machine: `capacity` bytes of device memory; model.device cpu plans the CPU's
// kernels, cuda and auto plan CUDA's.
PlanDevice named_device(config::Device device, uint64_t capacity);

// Whether `plan` fits `device`: peak + reserve within the capacity and, on CUDA, the
// host bytes (offload) within the RAM when that is known.
bool plan_fits(const MemoryPlan& plan, const PlanDevice& device);

// "12.55 GiB"
std::string format_gib(uint64_t bytes);

// Physical RAM of this machine (sysconf).
uint64_t physical_memory_bytes();

// Where a plan is for: the world size and, to plan for another machine, its memory.
struct PlanTarget {
  int world_size = 1;
  std::optional<uint64_t> device_memory;  // --device-memory
};

// The --dry-run plan: what a run would do, computed from the config alone.
struct TrainPlan {
  std::string model_source;  // "model.path <dir>", "model.arch <preset>", "model.init <name>"
  model::LlamaConfig model;  // with the rope section applied
  int64_t parameters = 0;
  int64_t sequence_length = 0;  // tokens per sequence (N, or L for method full)
  int64_t global_batch = 0;
  int64_t micro_batch = 0;
  int64_t world_size = 1;
  int64_t accumulation = 0;
  int64_t tokens_per_step = 0;
  int64_t steps = 0;
  MemorySettings settings;
  MemoryPlan memory;
  PlanDevice device;
  bool fits() const;
  uint64_t free_bytes() const;  // capacity - reserve - peak (0 when it does not fit)
};

// Needs no weights and no data: the model config comes from model.path/config.json
// when present, else the preset model.arch, else model.init.
TrainPlan plan_training(const config::ExperimentConfig& config, const PlanTarget& target = {});
std::string format_plan(const TrainPlan& plan);

// The settings the plan of `config` uses on `cuda` (or the CPU) with `world_size`.
MemorySettings memory_settings(const config::ExperimentConfig& config, int world_size, int64_t sequence_length,
                               bool cuda);

// Changes of the config that make the plan fit the same device, fewest changes first,
// each as the --set arguments that make it ("--set train.activation_checkpointing=true").
// At most `limit`; empty when nothing fits.
std::vector<std::string> options_that_fit(const config::ExperimentConfig& config, const TrainPlan& plan,
                                          size_t limit = 3);

// The one-line refusal of a plan over its device: peak vs capacity, the largest
// components and the options that would fit.
std::string refusal_message(const TrainPlan& plan, const std::vector<std::string>& fitting);

// `cream train` with a plan target (--world-size, --device-memory) and the memory check:
// a real run whose plan exceeds its device throws the refusal as a cream::Error before
// anything is built, unless `check_memory` is false (--no-memory-check).
struct TrainCommand;
int run_train_command(const TrainCommand& command, const PlanTarget& target, bool check_memory, std::ostream& out);

}  // namespace cream::train
