// `cream train`: the training loop (llm.c / torchtitan style) and its plan.
//
// One optimizer step = accumulation_steps() micro-batches of train.micro_batch
// sequences; each sequence is a loader window -> a sampler draw (positions + token
// indices) -> gathered tokens (also the labels). Backward runs on sum / (labels in
// the whole step), so accumulation yields the token-weighted mean. Then the gradient
// norm is clipped, a non-finite loss or norm stops the run BEFORE the optimizer step,
// and AdamW steps at the scheduled rate. dtype bf16 keeps a bf16 compute copy of the
// model and float32 master weights and AdamW moments; fp32 trains the model itself.
//
// Run folder (checkpoint.output_dir):
//   config.yaml          the resolved config (written at start)
//   metrics.jsonl        one line per logged step (+ eval_* fields on eval steps)
//   step-NNNNNN/         a complete checkpoint (written atomically, see checkpointing.h):
//     config.json          HF Llama config with the run's RoPE scaling, torch_dtype float32
//     model.safetensors    float32 master weights, HF tensor names
//     tokenizer.model      when the run knows its tokenizer
//     trainer_state.json   step, sampler RNG + per-batch state, loader cursor, fingerprint
//     optimizer.safetensors AdamW state ("step", "exp_avg.<name>", "exp_avg_sq.<name>")
//     config.yaml          the resolved config, compared on --resume
//     COMPLETE             the completion marker
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

namespace cream::train {

struct TrainOptions {
  bool resume = false;  // continue from the latest complete checkpoint of output_dir
  bool force = false;   // resume even when the config changed (changes are logged)
};

// Test hooks: called after the backward pass of every step, before the gradients
// are copied to the masters and checked (e.g. to inject a NaN gradient).
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
  // The float32 master weights (HF names, module order).
  std::vector<std::pair<std::string, torch::Tensor>> master_weights() const;
  torch::Device device() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
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
  // Rough memory per process, in bytes.
  uint64_t weight_bytes = 0;     // compute weights (+ float32 masters in bf16)
  uint64_t gradient_bytes = 0;   // compute gradients (+ float32 master gradients in bf16)
  uint64_t optimizer_bytes = 0;  // AdamW moments, float32
  uint64_t activation_bytes = 0; // one micro-batch's saved activations
  uint64_t total_bytes() const { return weight_bytes + gradient_bytes + optimizer_bytes + activation_bytes; }
};

// Needs no weights and no data: the model config comes from model.path/config.json
// when present, else the preset model.arch, else model.init.
TrainPlan plan_training(const config::ExperimentConfig& config, int world_size = 1);
std::string format_plan(const TrainPlan& plan);

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
