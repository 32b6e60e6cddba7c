// `cream train --dry-run` (the plan from the config alone) and the command entry point.
#include <filesystem>
#include <sstream>

#include "cream/io/size.h"
#include "cream/model/presets.h"
#include "cream/positions/sampler.h"
#include "cream/train/rope_setup.h"
#include "cream/train/trainer.h"
#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::train {

namespace fs = std::filesystem;

namespace {

bool is_preset(const std::string& name) {
  for (const auto& preset : model::preset_names())
    if (preset == name) return true;
  return false;
}

model::LlamaConfig init_model_config(const std::string& init) {
  if (is_preset(init)) return model::preset(init);
  CREAM_CHECK(fs::exists(init), "model.init: '" + init + "' is neither a preset (" + [] {
    std::string names;
    for (const auto& name : model::preset_names()) names += (names.empty() ? "" : ", ") + name;
    return names;
  }() + ") nor a model config file");
  return model::LlamaConfig::from_file(init);
}

std::string gib(uint64_t bytes) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(2);
  out << static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0) << " GiB";
  return out.str();
}

// Saved activations of one micro-batch (rough): per layer and token, the inputs of
// the norms, projections, RoPE and MLP (about 8 x hidden + 3 x intermediate values in
// the compute dtype) plus the float32 attention probabilities of the math path
// (heads x T per token). With checkpointing only each layer's input is kept, plus one
// layer recomputed at a time. The chunked loss keeps no [T, vocab] logits.
uint64_t activation_estimate(const model::LlamaConfig& m, int64_t batch, int64_t length, int64_t value_bytes,
                             bool checkpointing) {
  const double tokens = static_cast<double>(batch) * static_cast<double>(length);
  const double per_layer = tokens * (static_cast<double>(value_bytes) * (8.0 * m.hidden_size + 3.0 * m.intermediate_size) +
                                     4.0 * static_cast<double>(m.num_attention_heads) * static_cast<double>(length));
  const double layer_inputs = tokens * static_cast<double>(value_bytes * m.hidden_size);
  const double layers = static_cast<double>(m.num_hidden_layers);
  const double total = checkpointing ? layers * layer_inputs + per_layer : layers * per_layer;
  return static_cast<uint64_t>(total);
}

}  // namespace

model::LlamaConfig source_model_config(const config::ExperimentConfig& config) {
  if (!config.model.path.empty()) return model::LlamaConfig::from_file(fs::path(config.model.path) / "config.json");
  CREAM_CHECK(!config.model.init.empty(), config.source + ": model: set model.path or model.init");
  return init_model_config(config.model.init);
}

TrainPlan plan_training(const config::ExperimentConfig& config, int world_size) {
  TrainPlan plan;
  const bool folder = !config.model.path.empty() && fs::exists(fs::path(config.model.path) / "config.json");
  model::LlamaConfig model_config;
  if (folder) {
    plan.model_source = "model.path " + config.model.path;
    model_config = model::LlamaConfig::from_file(fs::path(config.model.path) / "config.json");
  } else if (!config.model.arch.empty()) {
    plan.model_source = "model.arch " + config.model.arch + (config.model.path.empty() ? "" : " (" + config.model.path + " absent)");
    model_config = model::preset(config.model.arch);
  } else if (!config.model.init.empty()) {
    plan.model_source = "model.init " + config.model.init;
    model_config = init_model_config(config.model.init);
  } else {
    throw Error(config.source + ": model.arch: " + config.model.path +
                " has no config.json; set model.arch to plan without the model folder");
  }
  plan.model = apply_rope_section(model_config, config);
  plan.parameters = plan.model.num_parameters();
  plan.sequence_length = positions::Sampler(config.positions.sampler_options()).sequence_length();
  plan.global_batch = config.train.global_batch;
  plan.micro_batch = config.train.micro_batch;
  plan.world_size = world_size;
  plan.accumulation = config.accumulation_steps(world_size);
  plan.tokens_per_step = plan.global_batch * plan.sequence_length;
  plan.steps = config.train.steps;

  const auto params = static_cast<uint64_t>(plan.parameters);
  const bool bf16 = config.model.dtype == config::Dtype::bf16;
  plan.weight_bytes = params * (bf16 ? 2 + 4 : 4);
  plan.gradient_bytes = params * (bf16 ? 2 + 4 : 4);
  plan.optimizer_bytes = params * 8;
  plan.activation_bytes = activation_estimate(plan.model, plan.micro_batch, plan.sequence_length, bf16 ? 2 : 4,
                                              config.train.activation_checkpointing);
  return plan;
}

std::string format_plan(const TrainPlan& plan) {
  std::ostringstream out;
  out << "model: " << plan.model_source << ": " << plan.parameters << " parameters ("
      << plan.model.num_hidden_layers << " layers, hidden " << plan.model.hidden_size << ", vocab "
      << plan.model.vocab_size << "), rope " << model::rope_type_name(plan.model.rope.type) << " factor "
      << plan.model.rope.factor << ", max_position_embeddings " << plan.model.max_position_embeddings << "\n"
      << "sequence length: " << plan.sequence_length << " tokens\n"
      << "batch: global " << plan.global_batch << " = micro " << plan.micro_batch << " x world "
      << plan.world_size << " x accumulation " << plan.accumulation << "\n"
      << "tokens per step: " << plan.tokens_per_step << "\n"
      << "steps: " << plan.steps << " (" << plan.steps * plan.tokens_per_step << " tokens)\n"
      << "memory per process (rough): weights " << gib(plan.weight_bytes) << ", gradients "
      << gib(plan.gradient_bytes) << ", AdamW moments " << gib(plan.optimizer_bytes) << ", activations "
      << gib(plan.activation_bytes) << ", total " << gib(plan.total_bytes()) << "\n";
  return out.str();
}

int run_train_command(const TrainCommand& command, std::ostream& out) {
  const auto config = config::load_experiment(command.config_path, command.overrides);
  if (command.dry_run) {
    for (const auto& warning : config.warnings()) log::warn("config: {}", warning);
    out << format_plan(plan_training(config));
    return 0;
  }
  TrainOptions options;
  options.resume = command.resume;
  options.force = command.force;
  Trainer trainer(config, options);
  const auto result = trainer.train();
  out << (result.stopped_by_signal ? "stopped at step " : "finished at step ") << result.final_step << " of "
      << config.train.steps;
  if (result.last_checkpoint) out << ": " << result.last_checkpoint->string();
  out << "\n";
  return 0;
}

}  // namespace cream::train
