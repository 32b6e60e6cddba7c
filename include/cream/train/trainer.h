// `cream train`: the training loop (llm.c / torchtitan style) and its plan.
//
// One optimizer step = accumulation_steps() micro-batches of train.micro_batch
// sequences; each sequence is a loader window -> a sampler draw (positions + token
// indices) -> gathered tokens (also the labels), checked on the host and copied to the
// device without a sync. Backward runs on sum / (labels in the whole step), so
// accumulation yields the token-weighted mean; the loss sum stays on the device until
// the step's one read-back. Then the gradient norm is clipped, a non-finite loss or
// norm stops the run BEFORE the optimizer step, and AdamW steps at the scheduled rate.
// Where weights, gradients and AdamW state live and in which precision is
// train.memory_mode's choice (TrainingState, training_state.h): fp32 trains the float32
// model itself; bf16 defaults to bf16-sr (bf16 weights and moments, float32 update
// written back by stochastic rounding); fp32-masters keeps float32 masters beside a bf16
// compute copy; offload keeps them on the host; step-in-backward updates inside backward
// (there a non-finite gradient masks that tensor's update and the run stops without
// saving the step).
//
// Run folder (checkpoint.output_dir):
//   config.yaml          the resolved config (written at start)
//   metrics.jsonl        one line per logged step (+ eval_* fields on eval steps)
//   step-NNNNNN/         a complete checkpoint (written atomically, see checkpointing.h):
//     config.json          HF Llama config with the run's RoPE scaling; torch_dtype float32
//                          (fp32-masters, offload) or bfloat16 (the lean modes)
//     model.safetensors    the weights the optimizer updates (float32 masters or bf16), HF names
//     tokenizer.model      when the run knows its tokenizer
//     trainer_state.json   step, sampler RNG + per-batch state, loader cursor, fingerprint
//     optimizer.safetensors AdamW state ("step", "exp_avg.<name>", "exp_avg_sq.<name>" in the
//                          moments' dtype, "rounding_rng" for stochastic rounding); a resume
//                          in another memory mode converts it (logged) or refuses by name
//     config.yaml          the resolved config, compared on --resume
//     COMPLETE             the completion marker
//   With several processes (torchrun, srun; rank_checkpoint.h): rank R > 0 adds
//   trainer_state.rank-R.json; with dist.zero 1 every rank writes
//   optimizer.rank-R-of-W.safetensors instead of optimizer.safetensors. Rank 0 writes
//   everything else, config.yaml and metrics.jsonl, and holds the folder's lock.
//   Gradients, the loss, the norm and a stop signal are summed over the ranks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cream/config/experiment.h"
#include "cream/model/config.h"
#include "cream/model/llama.h"
#include "cream/train/memory_plan.h"  // TrainPlan, plan_training, format_plan (--dry-run)
#include "cream/train/training_state.h"

namespace cream::train {

struct TrainOptions {
  bool resume = false;  // continue from the latest complete checkpoint of output_dir
  bool force = false;   // resume even when the config changed (changes are logged)
};

// Test hooks: called after the backward pass of every step, before the gradients
// are copied to the masters and checked (e.g. to inject a NaN gradient). In the lean
// modes with float32 accumulation and in step-in-backward the gradients have already
// left .grad (hooks moved or consumed them).
struct TrainHooks {
  std::function<void(int64_t step, model::LlamaForCausalLMImpl& compute_model)> after_backward;
};

struct StepRecord {
  int64_t step = 0;  // 1-based: the number of optimizer steps completed
  double loss = 0.0;
  double lr = 0.0;
  double grad_norm = 0.0;
};

struct EvalRecord {
  int64_t step = 0;
  int64_t length = 0;
  double loss = 0.0;
  double perplexity = 0.0;
  int64_t windows = 0;
};

struct TrainResult {
  int64_t start_step = 0;  // steps already done when train() began (resume)
  int64_t final_step = 0;
  std::vector<StepRecord> steps;  // the steps this call ran
  std::vector<EvalRecord> evals;
  bool stopped_by_signal = false;
  std::optional<std::filesystem::path> last_checkpoint;
};

class Trainer {
 public:
  // Sets up everything before any step: threads, device, model (from model.path or
  // model.init, with the rope section applied), tokenizer, data and loaders, sampler,
  // optimizer, schedule, run folder; on resume restores weights, optimizer, step,
  // random streams and loader cursor from the latest complete checkpoint. Problems
  // throw one-line cream::Errors. Logs the resolved config and config warnings.
  Trainer(config::ExperimentConfig config, TrainOptions options = {}, TrainHooks hooks = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Runs the remaining steps (checkpoints every checkpoint.every steps and at the end;
  // on SIGINT/SIGTERM finishes the step, saves and returns with stopped_by_signal).
  // A non-finite loss or gradient norm throws cream::Error before the optimizer step.
  TrainResult train();

  // Validation loss at `length` (positions 0..length-1) over eval.batches batches of
  // data.valid windows; requires data.valid.
  EvalRecord evaluate(int64_t length);

  int64_t step() const;
  const config::ExperimentConfig& config() const;
  const model::LlamaConfig& model_config() const;  // with the rope section applied
  // The weights the optimizer updates (TrainingState::checkpoint_weights(): float32
  // masters, or bf16 weights in the lean modes), HF names, module order.
  std::vector<std::pair<std::string, torch::Tensor>> master_weights() const;
  // TrainingState::allocated_bytes() of this run.
  StateBytes state_bytes() const;
  torch::Device device() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The model config a run uses before its tokenizer is adopted: model.path's
// config.json or model.init (a preset name or a config file).
model::LlamaConfig source_model_config(const config::ExperimentConfig& config);

// What `cream train` does with its arguments: load + validate the config (one-line
// errors before any work), then print the plan (dry_run) or train. Returns the exit status.
struct TrainCommand {
  std::filesystem::path config_path;
  std::vector<std::string> overrides;  // --set section.key=value
  bool resume = false;
  bool force = false;
  bool dry_run = false;
};
int run_train_command(const TrainCommand& command, std::ostream& out);

}  // namespace cream::train
