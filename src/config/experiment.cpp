// Defaults that depend on other keys, and the checks across sections.
#include "cream/config/experiment.h"

#include <cmath>
#include <filesystem>

#include "cream/config/scalars.h"
#include "yaml_tree.h"

namespace cream::config {
namespace {

namespace fs = std::filesystem;

std::string number(double value) { return format_double(value); }
std::string number(int64_t value) { return std::to_string(value); }

void require(bool condition, const std::string& key_path, const std::string& detail) {
  if (!condition) throw KeyError(key_path, detail);
}

// The absolute, normalised form of a folder path, without a trailing separator,
// whether or not it exists (symbolic links of the existing part resolved).
fs::path canonical_folder(const std::string& path) {
  std::error_code error;
  fs::path result = fs::weakly_canonical(fs::absolute(path), error);
  if (error) result = fs::absolute(path);
  result = result.lexically_normal();
  if (!result.has_filename() && result.has_parent_path() && result != result.root_path()) {
    result = result.parent_path();
  }
  return result;
}

// True when `inner` is `outer` or lies below it (path components compared).
bool is_same_or_inside(const fs::path& inner, const fs::path& outer) {
  auto inner_it = inner.begin();
  for (auto outer_it = outer.begin(); outer_it != outer.end(); ++outer_it, ++inner_it) {
    if (inner_it == inner.end() || *inner_it != *outer_it) return false;
  }
  return true;
}

// The run folder must not be (or be inside) a folder that the run reads.
void check_output_dir(const ExperimentConfig& c) {
  const auto output = canonical_folder(c.checkpoint.output_dir);
  const std::pair<std::string, const char*> read_folders[] = {
      {c.model.path, "the model folder (model.path)"},
      {c.data.train, "the training data folder (data.train)"},
      {c.data.valid, "the validation data folder (data.valid)"}};
  for (const auto& [folder, what] : read_folders) {
    if (folder.empty()) continue;
    const auto read_folder = canonical_folder(folder);
    if (!is_same_or_inside(output, read_folder)) continue;
    throw KeyError("checkpoint.output_dir",
                   "\"" + c.checkpoint.output_dir + "\" " + (output == read_folder ? "is " : "is inside ") + what +
                       " \"" + folder + "\"; a run must not write into what it reads");
  }
}

void check_rope_against_lengths(const ExperimentConfig& c) {
  if (!c.rope.factor) return;
  const double factor = *c.rope.factor;
  const double extension = c.positions.extension_factor();
  require(c.rope.type == RopeType::none || factor > 1.0, "rope.factor",
          std::string("rope.type ") + to_string(c.rope.type) +
              " with factor 1 scales nothing; use rope.type none (or a target_length above train_length)");
  // Linear interpolation maps [0, L) onto [0, L/factor): any other factor
  // either leaves positions outside the pre-trained window or wastes it, and
  // the exported max_position_embeddings would disagree with the scaling.
  require(c.rope.type != RopeType::linear || factor == extension, "rope.factor",
          "linear scaling must equal target_length / train_length = " + number(extension) + ", got " +
              number(factor) + " (remove the key to use the default)");
}

// The memory mode against the dtype, clipping and accumulation it needs.
void check_memory_mode(const ExperimentConfig& c, int world_size) {
  if (!c.train.memory_mode) return;
  const MemoryMode mode = *c.train.memory_mode;
  const std::string name = to_string(mode);
  require(c.model.dtype == Dtype::bf16 || mode == MemoryMode::fp32_masters, "train.memory_mode",
          name + " keeps bf16 weights; with model.dtype fp32 the only mode is fp32-masters");
  const bool lean = mode == MemoryMode::bf16_sr || mode == MemoryMode::bf16_rtn;
  require(lean || !c.train.grad_accumulation, "train.grad_accumulation",
          "only applies with train.memory_mode bf16-sr or bf16-rtn, not " + name);
  if (mode != MemoryMode::step_in_backward) return;
  require(world_size == 1, "train.memory_mode",
          "step-in-backward updates each tensor inside backward, before the ranks' gradients are averaged: it runs "
          "on one process only (with " + std::to_string(world_size) + " processes use bf16-sr, optionally dist.zero 1)");
  require(c.train.grad_clip == 0.0, "train.grad_clip",
          "step-in-backward updates each tensor as soon as its gradient is final, before a global norm exists: "
          "set train.grad_clip 0, or choose another train.memory_mode (bf16-sr clips)");
  require(c.train.global_batch == c.train.micro_batch * world_size, "train.global_batch",
          "step-in-backward cannot accumulate micro-batches: global_batch " + number(c.train.global_batch) +
              " must equal micro_batch " + number(c.train.micro_batch) + " x world_size " +
              std::to_string(world_size) + ", or choose another train.memory_mode (bf16-sr accumulates)");
}

void check_training_combinations(const ExperimentConfig& c, int world_size) {
  // global_batch % (micro_batch x world_size) == 0, without forming the product.
  const bool divisible =
      c.train.global_batch % c.train.micro_batch == 0 && (c.train.global_batch / c.train.micro_batch) % world_size == 0;
  require(divisible, "train.micro_batch",
          "global_batch " + number(c.train.global_batch) + " is not divisible by micro_batch " +
              number(c.train.micro_batch) + " x world_size " + std::to_string(world_size));
  require(c.schedule.warmup_steps <= c.train.steps, "schedule.warmup_steps",
          "warm-up of " + number(c.schedule.warmup_steps) + " steps is longer than train.steps " +
              number(c.train.steps));
  require(c.schedule.min_lr <= c.optim.lr, "schedule.min_lr",
          "must be <= optim.lr " + number(c.optim.lr) + ", got " + number(c.schedule.min_lr));
  require(c.eval.every == 0 || !c.data.valid.empty(), "eval.every",
          "evaluating every " + number(c.eval.every) + " steps needs data.valid (or set eval.every 0)");
}

}  // namespace

void ExperimentConfig::resolve() {
  if (model.tokenizer.empty() && !model.path.empty()) {
    // tokenizer.model, or the folder's tokenizer.json when it has that one only.
    const auto folder = fs::path(model.path);
    const bool json_only = !fs::exists(folder / "tokenizer.model") && fs::exists(folder / "tokenizer.json");
    model.tokenizer = (folder / (json_only ? "tokenizer.json" : "tokenizer.model")).string();
  }
  const bool lengths_known = positions.train_length > 0 && positions.target_length > 0;
  if (!rope.factor && lengths_known) {
    rope.factor = rope.type == RopeType::none ? 1.0 : positions.extension_factor();
  }
  if (rope.type == RopeType::yarn || rope.type == RopeType::yarn_cream) {
    if (!rope.beta_fast) rope.beta_fast = 32.0;
    if (!rope.beta_slow) rope.beta_slow = 1.0;
    if (!rope.attention_factor && rope.factor) {
      rope.attention_factor = *rope.factor <= 1.0 ? 1.0 : 0.1 * std::log(*rope.factor) + 1.0;
    }
  }
  if (rope.type == RopeType::llama3) {
    if (!rope.low_freq_factor) rope.low_freq_factor = 1.0;
    if (!rope.high_freq_factor) rope.high_freq_factor = 4.0;
  }
  if (positions.method == PositionMethod::cream) {
    if (!positions.sigma) positions.sigma = 3.0;
    if (positions.continuity_length.value_or(0) == 0 && positions.train_length > 0) {
      positions.continuity_length = positions.default_continuity_length();
    }
    if (!positions.relativity_share) positions.relativity_share = 0.5;
    if (!positions.exact_truncnorm) positions.exact_truncnorm = false;
    if (!positions.branch_per) positions.branch_per = BranchPer::sequence;
    if (positions.branch_per == BranchPer::batch && !positions.branch_batch_size) positions.branch_batch_size = 3000;
  }
  if (eval.lengths.empty() && positions.target_length > 0) eval.lengths = {positions.target_length};
  if (!train.memory_mode) train.memory_mode = model.dtype == Dtype::bf16 ? MemoryMode::bf16_sr : MemoryMode::fp32_masters;
  const bool lean = train.memory_mode == MemoryMode::bf16_sr || train.memory_mode == MemoryMode::bf16_rtn;
  if (lean && !train.grad_accumulation) train.grad_accumulation = GradAccumulation::fp32;
}

void ExperimentConfig::validate(int world_size) const {
  CREAM_CHECK(world_size >= 1, source + ": world_size must be >= 1, got " + std::to_string(world_size));
  try {
    model.validate();
    data.validate();
    positions.validate();
    rope.validate();
    train.validate();
    optim.validate();
    schedule.validate();
    eval.validate();
    checkpoint.validate();
    log.validate();
    dist.validate();
    check_rope_against_lengths(*this);
    check_training_combinations(*this, world_size);
    check_memory_mode(*this, world_size);
    check_output_dir(*this);
  } catch (const KeyError& e) {
    throw cream::Error(locate(e, source, overridden));
  }
  // The sampler's own checks, so that no config passes here and fails later.
  try {
    positions.sampler_options().validate();
  } catch (const cream::Error& e) {
    throw cream::Error(source + ": " + e.what());
  }
}

std::vector<std::string> ExperimentConfig::warnings() const {
  std::vector<std::string> result;
  const double extension = positions.extension_factor();
  const bool scaled_type = rope.type != RopeType::none && rope.type != RopeType::linear;
  if (scaled_type && rope.factor && *rope.factor != extension) {
    result.push_back(source + ": rope.factor: " + number(*rope.factor) + " differs from target_length / " +
                     "train_length = " + number(extension));
  }
  if (rope.type == RopeType::none && positions.target_length > positions.train_length &&
      positions.method != PositionMethod::standard) {
    result.push_back(source + ": rope.type: none trains positions up to " +
                     number(positions.target_length - 1) + " without interpolation (pure extrapolation)");
  }
  if (positions.method == PositionMethod::full && !train.activation_checkpointing) {
    result.push_back(source + ": positions.method: full trains on sequences of target_length " +
                     number(positions.target_length) + " tokens; consider train.activation_checkpointing");
  }
  return result;
}

}  // namespace cream::config
