// `cream train --dry-run` (the plan from the config alone), the memory check of a real
// run, and the command entry point. The memory model itself is memory_plan.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "cream/io/tokenizer.h"
#include "cream/model/presets.h"
#include "cream/model/random_init.h"
#include "cream/positions/sampler.h"
#include "cream/train/device.h"
#include "cream/train/memory_plan.h"
#include "cream/train/rope_setup.h"
#include "cream/train/run_folder.h"
#include "cream/train/trainer.h"
#include "cream/dist/launch.h"
#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::train {

namespace fs = std::filesystem;
using config::MemoryMode;

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


// The model a plan is for, and where its config came from.
std::pair<model::LlamaConfig, std::string> planned_model(const config::ExperimentConfig& config) {
  const bool folder = !config.model.path.empty() && fs::exists(fs::path(config.model.path) / "config.json");
  if (folder)
    return {model::LlamaConfig::from_file(fs::path(config.model.path) / "config.json"), "model.path " + config.model.path};
  if (!config.model.arch.empty())
    return {model::preset(config.model.arch),
            "model.arch " + config.model.arch + (config.model.path.empty() ? "" : " (" + config.model.path + " absent)")};
  if (!config.model.init.empty()) {
    // As the run does: a fresh model takes the tokenizer's vocabulary and special ids.
    auto model = init_model_config(config.model.init);
    std::string source = "model.init " + config.model.init;
    if (!config.model.tokenizer.empty() && fs::exists(config.model.tokenizer)) {
      model::adopt_tokenizer(model, io::Tokenizer(config.model.tokenizer));
      source += " (vocabulary of " + config.model.tokenizer + ")";
    }
    return {model, source};
  }
  throw Error(config.source + ": model.arch: " + config.model.path +
              " has no config.json; set model.arch to plan without the model folder");
}

PlanDevice plan_device(const config::ExperimentConfig& config, const PlanTarget& target) {
  if (target.device_memory) return named_device(config.model.device, *target.device_memory);
  try {
    return this_machine_device(config.model.device);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; `cream train --dry-run --device-memory 80GiB` plans for another machine");
  }
}

}  // namespace

MemorySettings memory_settings(const config::ExperimentConfig& config, int world_size, int64_t sequence_length,
                               bool cuda) {
  MemorySettings s;
  s.dtype = config.model.dtype;
  s.mode = config.train.memory_mode.value_or(config.model.dtype == config::Dtype::bf16 ? MemoryMode::bf16_sr
                                                                                       : MemoryMode::fp32_masters);
  s.grad_accumulation = config.train.grad_accumulation.value_or(config::GradAccumulation::fp32);
  s.micro_batch = config.train.micro_batch;
  s.sequence_length = sequence_length;
  s.accumulation = config.accumulation_steps(world_size);
  s.checkpointing = config.train.activation_checkpointing;
  s.checkpointing_stride = config.train.activation_checkpointing_stride;
  s.cuda = cuda;
  s.optimizer_shards = config.dist.zero == 1 ? world_size : 1;
  return s;
}

bool plan_fits(const MemoryPlan& plan, const PlanDevice& device) {
  const bool device_fits = plan.peak + device.reserve <= device.capacity;
  const bool host_fits = !device.cuda || device.host_capacity == 0 || plan.host <= device.host_capacity;
  return device_fits && host_fits;
}

std::string format_gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

bool TrainPlan::fits() const { return plan_fits(memory, device); }

uint64_t TrainPlan::free_bytes() const {
  const uint64_t used = memory.peak + device.reserve;
  return used < device.capacity ? device.capacity - used : 0;
}

model::LlamaConfig source_model_config(const config::ExperimentConfig& config) {
  if (!config.model.path.empty()) return model::LlamaConfig::from_file(fs::path(config.model.path) / "config.json");
  CREAM_CHECK(!config.model.init.empty(), config.source + ": model: set model.path or model.init");
  return init_model_config(config.model.init);
}

TrainPlan plan_training(const config::ExperimentConfig& config, const PlanTarget& target) {
  TrainPlan plan;
  auto [model_config, source] = planned_model(config);
  plan.model_source = source;
  plan.model = apply_rope_section(model_config, config);
  plan.parameters = plan.model.num_parameters();
  plan.sequence_length = positions::Sampler(config.positions.sampler_options()).sequence_length();
  // A sliding window shorter than the trained sequences: refused here, before any work
  // (dry-run included), not at the first step.
  plan.model.check_sequence_length(plan.sequence_length);
  plan.global_batch = config.train.global_batch;
  plan.micro_batch = config.train.micro_batch;
  plan.world_size = target.world_size;
  plan.accumulation = config.accumulation_steps(target.world_size);
  plan.tokens_per_step = plan.global_batch * plan.sequence_length;
  plan.steps = config.train.steps;
  plan.device = plan_device(config, target);
  plan.settings = memory_settings(config, target.world_size, plan.sequence_length, plan.device.cuda);
  plan.memory = plan_memory(plan.model, plan.settings);
  return plan;
}

// --- options that fit -----------------------------------------------------------------

namespace {

struct Variant {
  std::map<std::string, std::string> sets;  // key path -> value, only what differs
  double cost = 0;                          // how much slower or less exact the run gets
};

struct Policy {
  bool on;
  int64_t stride;
};

// A copy of `config` with the variant applied, or nothing when the config refuses it.
std::optional<config::ExperimentConfig> apply_variant(const config::ExperimentConfig& config, MemoryMode current,
                                                      MemoryMode mode,
                                                      std::optional<config::GradAccumulation> accumulation,
                                                      Policy policy, int64_t micro_batch, int world_size,
                                                      Variant& variant) {
  auto c = config;
  auto set = [&](const std::string& key, const std::string& before, const std::string& after) {
    if (before != after) variant.sets[key] = after;
  };
  if (mode != MemoryMode::fp32_masters && c.model.dtype != config::Dtype::bf16) {
    set("model.dtype", "fp32", "bf16");
    c.model.dtype = config::Dtype::bf16;
  }
  set("train.memory_mode", config::to_string(current), config::to_string(mode));
  c.train.memory_mode = mode;
  c.train.grad_accumulation = accumulation;
  if (accumulation)  // unset resolves to fp32
    set("train.grad_accumulation",
        config::to_string(config.train.grad_accumulation.value_or(config::GradAccumulation::fp32)),
        config::to_string(*accumulation));
  if (mode == MemoryMode::step_in_backward && c.train.grad_clip != 0.0) {
    variant.sets["train.grad_clip"] = "0";
    c.train.grad_clip = 0.0;
  }
  set("train.activation_checkpointing", c.train.activation_checkpointing ? "true" : "false", policy.on ? "true" : "false");
  c.train.activation_checkpointing = policy.on;
  if (policy.on) {
    set("train.activation_checkpointing_stride", std::to_string(c.train.activation_checkpointing_stride),
        std::to_string(policy.stride));
    c.train.activation_checkpointing_stride = policy.stride;
  }
  set("train.micro_batch", std::to_string(c.train.micro_batch), std::to_string(micro_batch));
  c.train.micro_batch = micro_batch;
  try {
    c.validate(world_size);
  } catch (const Error&) {
    return std::nullopt;
  }
  return c;
}

double variant_cost(MemoryMode mode, std::optional<config::GradAccumulation> accumulation, Policy policy,
                    int64_t micro_batch, int64_t original_micro_batch) {
  double cost = 0;
  if (mode == MemoryMode::offload || mode == MemoryMode::step_in_backward) cost += 3;  // host step / no clipping
  if (accumulation == config::GradAccumulation::bf16) cost += 2;                      // bf16 sums lose bits
  if (policy.on) cost += 2.0 / static_cast<double>(policy.stride);                    // recompute share
  for (int64_t b = micro_batch; b < original_micro_batch; b *= 2) cost += 1;          // smaller GEMMs
  return cost;
}

std::string format_sets(const std::map<std::string, std::string>& sets) {
  std::string out;
  for (const auto& [key, value] : sets) out += (out.empty() ? "" : " ") + std::string("--set ") + key + "=" + value;
  return out;
}

}  // namespace

std::vector<std::string> options_that_fit(const config::ExperimentConfig& config, const TrainPlan& plan, size_t limit) {
  const auto current = plan.settings.mode;
  std::vector<MemoryMode> modes = {current};
  // bf16-rtn is the control of the quality study, never a recommendation.
  for (auto mode : {MemoryMode::bf16_sr, MemoryMode::fp32_masters, MemoryMode::offload, MemoryMode::step_in_backward})
    if (mode != current) modes.push_back(mode);
  std::vector<Policy> policies = {{false, 1}};
  for (int64_t stride : {4, 2, 1})
    if (stride < plan.model.num_hidden_layers || stride == 1) policies.push_back({true, stride});
  std::vector<int64_t> micro_batches;
  for (int64_t b = config.train.micro_batch; b >= 1; b /= 2) micro_batches.push_back(b);

  std::map<std::set<std::string>, Variant> best;  // per set of changed keys, the cheapest
  for (const auto mode : modes) {
    const bool sums = mode == MemoryMode::bf16_sr || mode == MemoryMode::bf16_rtn;
    std::vector<std::optional<config::GradAccumulation>> sum_dtypes = {std::nullopt};
    if (sums) sum_dtypes = {config::GradAccumulation::fp32, config::GradAccumulation::bf16};
    for (const auto& accumulation : sum_dtypes) {
      for (const auto policy : policies) {
        for (const int64_t micro_batch : micro_batches) {
          Variant variant;
          const auto changed = apply_variant(config, current, mode, accumulation, policy, micro_batch,
                                             static_cast<int>(plan.world_size), variant);
          if (!changed || variant.sets.empty()) continue;
          auto candidate = plan;
          candidate.settings = memory_settings(*changed, static_cast<int>(plan.world_size), plan.sequence_length,
                                               plan.device.cuda);
          candidate.memory = plan_memory(plan.model, candidate.settings);
          if (!candidate.fits()) continue;
          variant.cost = variant_cost(mode, accumulation, policy, micro_batch, config.train.micro_batch);
          std::set<std::string> keys;
          for (const auto& item : variant.sets) keys.insert(item.first);
          auto found = best.find(keys);
          if (found == best.end() || variant.cost < found->second.cost) best[keys] = variant;
        }
      }
    }
  }
  std::vector<Variant> ranked;
  for (const auto& item : best) ranked.push_back(item.second);
  std::stable_sort(ranked.begin(), ranked.end(), [](const Variant& a, const Variant& b) {
    if (a.sets.size() != b.sets.size()) return a.sets.size() < b.sets.size();
    return a.cost < b.cost;
  });
  std::vector<std::string> out;
  for (const auto& variant : ranked) {
    if (out.size() >= limit) break;
    out.push_back(format_sets(variant.sets));
  }
  return out;
}

// --- printing ---------------------------------------------------------------------------

namespace {

struct Row {
  std::string name;
  uint64_t bytes;
  std::string where;
  std::string note;
};

std::string gradient_note(const MemorySettings& s) {
  switch (s.mode) {
    case MemoryMode::fp32_masters:
      return s.dtype == config::Dtype::bf16 ? "float32 master gradients (bf16 .grad converted at the step)"
                                            : "float32 .grad";
    case MemoryMode::offload: return "bf16 .grad, streamed to the host at the step";
    case MemoryMode::step_in_backward: return "none kept: each tensor's gradient is consumed in backward";
    default:
      return s.grad_accumulation == config::GradAccumulation::fp32 ? "float32 accumulators" : "bf16 .grad";
  }
}

std::string policy_text(const MemorySettings& s) {
  if (!s.checkpointing) return "no activation checkpointing";
  if (s.checkpointing_stride <= 1) return "activation checkpointing of every layer";
  return "activation checkpointing of every " + std::to_string(s.checkpointing_stride) + "th layer";
}

std::vector<Row> memory_rows(const TrainPlan& plan) {
  const auto& s = plan.settings;
  const auto& m = plan.memory;
  const bool offload = s.mode == MemoryMode::offload;
  const std::string device = plan.device.cuda ? "device" : "RAM";
  const std::string host = plan.device.cuda ? "host" : "RAM";
  const bool bf16_weights = !(s.mode == MemoryMode::fp32_masters && s.dtype == config::Dtype::fp32);
  const bool bf16_moments = s.mode != MemoryMode::fp32_masters && !offload;
  std::vector<Row> rows = {
      {"weights", m.state.weights, device, bf16_weights ? "bf16 compute weights" : "float32 weights"},
      {"gradients", m.state.gradients, device, gradient_note(s)},
      {"optimizer states", m.state.optimizer, offload ? host : device,
       std::string(bf16_moments ? "AdamW moments, bf16" : "AdamW moments, float32") +
           (s.optimizer_shards > 1 ? ", this rank's ZeRO-1 share of " + std::to_string(s.optimizer_shards) : "")},
      {"masters", m.state.masters, offload ? host : device, m.state.masters ? "float32 master weights" : "none"},
  };
  if (m.state.staging > 0) rows.push_back({"staging", m.state.staging, "host", "pinned bf16 copy buffers"});
  rows.push_back({"activations", m.activations, device, "saved for backward, " + policy_text(s)});
  if (m.recomputed_layer > 0)
    rows.push_back({"recomputed layer", m.recomputed_layer, device, "one layer's activations, rebuilt in its backward"});
  rows.push_back({"loss chunk", m.loss_chunk, device, "one chunk's logits and log-probs, the output weight's gradient sum"});
  rows.push_back({"working space", m.working, device, "largest transient of a layer's backward or of the step"});
  return rows;
}

std::string table_line(const std::string& name, uint64_t bytes, int64_t parameters, const std::string& where,
                       const std::string& note) {
  char text[160];
  const double gib_value = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
  const double per_parameter = parameters > 0 ? static_cast<double>(bytes) / static_cast<double>(parameters) : 0.0;
  std::snprintf(text, sizeof(text), "  %-17s %9.2f %9.2f  %-7s ", name.c_str(), gib_value, per_parameter, where.c_str());
  return std::string(text) + note + "\n";
}

}  // namespace

std::string format_plan(const TrainPlan& plan) {
  std::ostringstream out;
  const auto& s = plan.settings;
  const auto& m = plan.memory;
  out << "model: " << plan.model_source << ": " << plan.parameters << " parameters ("
      << plan.model.num_hidden_layers << " layers, hidden " << plan.model.hidden_size << ", vocab "
      << plan.model.vocab_size << "), rope " << model::rope_type_name(plan.model.rope.type) << " factor "
      << plan.model.rope.factor << ", max_position_embeddings " << plan.model.max_position_embeddings << "\n"
      << "sequence length: " << plan.sequence_length << " tokens\n"
      << "batch: global " << plan.global_batch << " = micro " << plan.micro_batch << " x world "
      << plan.world_size << " x accumulation " << plan.accumulation << "\n"
      << "tokens per step: " << plan.tokens_per_step << "\n"
      << "steps: " << plan.steps << " (" << plan.steps * plan.tokens_per_step << " tokens)\n";
  out << "memory plan per process: train.memory_mode " << config::to_string(s.mode);
  if (s.mode == MemoryMode::bf16_sr || s.mode == MemoryMode::bf16_rtn)
    out << " (" << config::to_string(s.grad_accumulation) << " gradient accumulation)";
  out << ", model.dtype " << config::to_string(s.dtype) << ", " << policy_text(s) << ", " << (s.cuda ? "CUDA" : "CPU")
      << " kernels (SDPA: fused attention)\n";
  out << "  component               GiB   B/param  where\n";
  for (const auto& row : memory_rows(plan)) out << table_line(row.name, row.bytes, plan.parameters, row.where, row.note);
  out << table_line("peak", m.peak, plan.parameters, plan.device.cuda ? "device" : "RAM",
                    "at " + m.peak_at + " (" + std::to_string(m.peak) + " bytes)");
  if (m.host > 0)
    out << table_line("host memory", m.host, plan.parameters, "host", "masters, moments, pinned staging, the update's chunk");
  out << "capacity: " << plan.device.name << ": " << format_gib(plan.device.capacity) << ", reserve " << format_gib(plan.device.reserve)
      << (plan.device.cuda ? " (CUDA context, kernels, library workspaces)" : " (this process before training)")
      << "\n";
  if (plan.fits()) {
    out << "fits: peak " << format_gib(m.peak) << " + reserve " << format_gib(plan.device.reserve) << " <= "
        << format_gib(plan.device.capacity) << ", " << format_gib(plan.free_bytes()) << " to spare\n";
  } else {
    out << "does not fit: peak " << format_gib(m.peak) << " + reserve " << format_gib(plan.device.reserve) << " > "
        << format_gib(plan.device.capacity);
    if (plan.device.cuda && plan.device.host_capacity > 0 && m.host > plan.device.host_capacity)
      out << "; host " << format_gib(m.host) << " > RAM " << format_gib(plan.device.host_capacity);
    out << "\n";
  }
  return out.str();
}

std::string refusal_message(const TrainPlan& plan, const std::vector<std::string>& fitting) {
  auto rows = memory_rows(plan);
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.bytes > b.bytes; });
  std::string largest;
  for (size_t i = 0; i < std::min<size_t>(3, rows.size()); ++i)
    largest += (i ? ", " : "") + rows[i].name + " " + format_gib(rows[i].bytes) + (rows[i].where == "host" ? " (host)" : "");
  std::string text = "memory plan: peak " + format_gib(plan.memory.peak) + " (at " + plan.memory.peak_at + ") + reserve " +
                     format_gib(plan.device.reserve) + " exceeds " + plan.device.name + "'s " + format_gib(plan.device.capacity);
  if (plan.device.cuda && plan.device.host_capacity > 0 && plan.memory.host > plan.device.host_capacity)
    text += " (or host " + format_gib(plan.memory.host) + " exceeds RAM " + format_gib(plan.device.host_capacity) + ")";
  text += "; largest: " + largest + "; ";
  if (fitting.empty()) {
    text += "no memory mode, checkpointing or micro-batch fits: use a device with more memory";
  } else {
    text += "fits with: ";
    for (size_t i = 0; i < fitting.size(); ++i) text += (i ? " or " : "") + fitting[i];
  }
  return text + " (`cream train --dry-run` prints the plan; --no-memory-check starts anyway)";
}

// --- the command ------------------------------------------------------------------------

namespace {

// model.path may name a run folder: it stands for its newest complete checkpoint, as a
// run folder does for --model and --checkpoint, and the command says which one.
config::ExperimentConfig with_run_folder_resolved(config::ExperimentConfig config) {
  const fs::path path = config.model.path;
  const auto resolved = resolve_run_folder(config.model.path, "model.path");
  if (resolved == config.model.path) return config;
  // A tokenizer that resolve() derived from the run folder is derived again from the checkpoint.
  if (config.model.tokenizer == (path / "tokenizer.model").string() ||
      config.model.tokenizer == (path / "tokenizer.json").string())
    config.model.tokenizer.clear();
  config.model.path = resolved;
  config.resolve();
  return config;
}

}  // namespace

int run_train_command(const TrainCommand& command, const PlanTarget& target, bool check_memory, std::ostream& out) {
  CREAM_CHECK(target.world_size >= 1, "--world-size: must be >= 1");
  CREAM_CHECK(command.dry_run || target.world_size == 1,
              "--world-size: only with --dry-run (a real run takes its world size from the launcher: torchrun, srun)");
  // A real run of several processes: WORLD_SIZE (or SLURM_NTASKS) sets the accumulation.
  PlanTarget run_target = target;
  if (!command.dry_run) run_target.world_size = dist::read_launch_env().world_size;
  // Until the trainer has checked its inputs (the run folder's lock, the data, the
  // model), an error must be the only line: hold the info lines back (log.h).
  if (!command.dry_run) log::hold_info(std::chrono::seconds(10));
  const auto config =
      with_run_folder_resolved(config::load_experiment(command.config_path, command.overrides, run_target.world_size));
  if (command.dry_run) {
    for (const auto& warning : config.warnings()) log::warn("config: {}", warning);
    const auto plan = plan_training(config, target);
    if (!target.device_memory) warn_if_large_model_falls_back_to_cpu(config.model.device, plan.device.cuda, plan.parameters);
    out << "plans for: " << plan.device.name << " (model.device " << config::to_string(config.model.device)
        << "), model.dtype " << config::to_string(config.model.dtype) << ", world size " << target.world_size << "\n";
    out << format_plan(plan);
    if (!plan.fits()) {
      const auto fitting = options_that_fit(config, plan);
      out << (fitting.empty() ? std::string("nothing fits: no memory mode, checkpointing or micro-batch\n")
                              : "fits with: ");
      for (size_t i = 0; i < fitting.size(); ++i) out << (i ? "\n           " : "") << fitting[i];
      if (!fitting.empty()) out << "\n";
    }
    return 0;
  }
  if (check_memory) {
    const auto plan = plan_training(config, run_target);
    if (!plan.fits()) throw Error(refusal_message(plan, options_that_fit(config, plan)));
    log::info("memory plan: peak {} (at {}) of {} on {}", format_gib(plan.memory.peak), plan.memory.peak_at,
              format_gib(plan.device.capacity), plan.device.name);
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

int run_train_command(const TrainCommand& command, std::ostream& out) {
  return run_train_command(command, PlanTarget{}, true, out);
}

}  // namespace cream::train
