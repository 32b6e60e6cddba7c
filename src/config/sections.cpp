// Enum spellings and the checks each section can make on its own.
#include "cream/config/sections.h"

#include <cmath>
#include <limits>

#include "cream/config/scalars.h"

namespace cream::config {
namespace {

std::string number(double value) { return format_double(value); }
std::string number(int64_t value) { return std::to_string(value); }

void require(bool condition, const char* key_path, const std::string& detail) {
  if (!condition) throw KeyError(key_path, detail);
}

void require_at_least(int64_t value, int64_t minimum, const char* key_path, const std::string& meaning = "") {
  require(value >= minimum, key_path,
          "must be >= " + number(minimum) + meaning + ", got " + number(value));
}

void require_positive(double value, const char* key_path) {
  require(std::isfinite(value) && value > 0.0, key_path, "must be > 0, got " + number(value));
}

}  // namespace

const char* to_string(Dtype value) { return value == Dtype::bf16 ? "bf16" : "fp32"; }

const char* to_string(Device value) {
  switch (value) {
    case Device::auto_select: return "auto";
    case Device::cpu: return "cpu";
    case Device::cuda: return "cuda";
  }
  return "?";
}

const char* to_string(ShortDocs value) { return value == ShortDocs::pack ? "pack" : "skip"; }

const char* to_string(PositionMethod value) {
  switch (value) {
    case PositionMethod::cream: return "cream";
    case PositionMethod::pose: return "pose";
    case PositionMethod::randpos: return "randpos";
    case PositionMethod::full: return "full";
    case PositionMethod::standard: return "standard";
  }
  return "?";
}

const char* to_string(BranchPer value) { return value == BranchPer::sequence ? "sequence" : "batch"; }

const char* to_string(RopeType value) {
  switch (value) {
    case RopeType::none: return "none";
    case RopeType::linear: return "linear";
    case RopeType::ntk: return "ntk";
    case RopeType::dynamic: return "dynamic";
    case RopeType::yarn: return "yarn";
    case RopeType::yarn_cream: return "yarn-cream";
    case RopeType::llama3: return "llama3";
  }
  return "?";
}

const char* to_string(OptimizerName) { return "adamw"; }

const char* to_string(ScheduleName value) {
  switch (value) {
    case ScheduleName::constant: return "constant";
    case ScheduleName::warmup_decay: return "warmup_decay";
    case ScheduleName::cosine: return "cosine";
  }
  return "?";
}

const char* to_string(WarmupType value) { return value == WarmupType::linear ? "linear" : "log"; }

const char* to_string(MemoryMode value) {
  switch (value) {
    case MemoryMode::fp32_masters: return "fp32-masters";
    case MemoryMode::bf16_sr: return "bf16-sr";
    case MemoryMode::bf16_rtn: return "bf16-rtn";
    case MemoryMode::offload: return "offload";
    case MemoryMode::step_in_backward: return "step-in-backward";
  }
  return "?";
}

const char* to_string(GradAccumulation value) { return value == GradAccumulation::fp32 ? "fp32" : "bf16"; }

template <> std::vector<Dtype> all_values() { return {Dtype::bf16, Dtype::fp32}; }
template <> std::vector<Device> all_values() { return {Device::auto_select, Device::cpu, Device::cuda}; }
template <> std::vector<ShortDocs> all_values() { return {ShortDocs::pack, ShortDocs::skip}; }
template <> std::vector<PositionMethod> all_values() {
  return {PositionMethod::cream, PositionMethod::pose, PositionMethod::randpos, PositionMethod::full,
          PositionMethod::standard};
}
template <> std::vector<BranchPer> all_values() { return {BranchPer::sequence, BranchPer::batch}; }
template <> std::vector<RopeType> all_values() {
  return {RopeType::none, RopeType::linear,     RopeType::ntk,   RopeType::dynamic,
          RopeType::yarn, RopeType::yarn_cream, RopeType::llama3};
}
template <> std::vector<OptimizerName> all_values() { return {OptimizerName::adamw}; }
template <> std::vector<ScheduleName> all_values() {
  return {ScheduleName::constant, ScheduleName::warmup_decay, ScheduleName::cosine};
}
template <> std::vector<WarmupType> all_values() { return {WarmupType::linear, WarmupType::log}; }
template <> std::vector<MemoryMode> all_values() {
  return {MemoryMode::fp32_masters, MemoryMode::bf16_sr, MemoryMode::bf16_rtn, MemoryMode::offload,
          MemoryMode::step_in_backward};
}
template <> std::vector<GradAccumulation> all_values() { return {GradAccumulation::fp32, GradAccumulation::bf16}; }

void ModelSection::validate() const {
  const bool has_path = !path.empty();
  const bool has_init = !init.empty();
  require(has_path != has_init, "model",
          std::string("set exactly one of model.path (a Hugging Face folder to start from) and model.init "
                      "(a preset or model config file), got ") +
              (has_path ? "both" : "neither"));
  require_at_least(threads, 0, "model.threads", " (0 = one per core)");
}

void PositionsSection::validate() const {
  require_at_least(train_length, 2, "positions.train_length");
  require(train_length % 2 == 0, "positions.train_length",
          "must be even (the CREAM bounds need r*N/2 integral), got " + number(train_length));
  require_at_least(target_length, 1, "positions.target_length");
  const bool multiple = target_length % train_length == 0;
  const int64_t factor = target_length / train_length;
  if (method == PositionMethod::standard) {
    require(multiple && factor != 0, "positions.target_length",
            number(target_length) + " is neither train_length " + number(train_length) +
                " nor a multiple of it (method standard needs L = N or L = f x N with integer f >= 2)");
  } else {
    require(multiple && factor >= 2, "positions.target_length",
            number(target_length) + " is not a multiple >= 2 of train_length " + number(train_length) +
                " (method " + to_string(method) + " needs L = f x N with integer f >= 2)");
  }

  if (method != PositionMethod::cream) {
    const std::string only = std::string("only applies to method cream (method is ") + to_string(method) + ")";
    require(!sigma, "positions.sigma", only);
    require(!continuity_length, "positions.continuity_length", only);
    require(!relativity_share, "positions.relativity_share", only);
    require(!exact_truncnorm, "positions.exact_truncnorm", only);
    require(!branch_per, "positions.branch_per", only);
    require(!branch_batch_size, "positions.branch_batch_size", only);
    return;
  }
  if (sigma) require_positive(*sigma, "positions.sigma");
  if (relativity_share) {
    require(*relativity_share >= 0.0 && *relativity_share <= 1.0, "positions.relativity_share",
            "must be in [0, 1], got " + number(*relativity_share));
  }
  if (continuity_length) {
    require_at_least(*continuity_length, 0, "positions.continuity_length", " (0 = 4 x L/N)");
  }
  const int64_t k = continuity_length.value_or(0) == 0 ? default_continuity_length() : *continuity_length;
  const bool continuity_used = relativity_share.value_or(0.5) < 1.0;
  // 2k < N, written so that a huge k cannot overflow (N is even here).
  require(!continuity_used || k <= (train_length - 1) / 2, "positions.continuity_length",
          "head and tail of " + number(k) + " tokens each leave no middle segment in train_length " +
              number(train_length) + " (need 2 x continuity_length < train_length; the default is 4 x L/N = " +
              number(default_continuity_length()) + ")");
  if (branch_batch_size) {
    require(branch_per == BranchPer::batch, "positions.branch_batch_size",
            "only applies with positions.branch_per batch");
    require_at_least(*branch_batch_size, 1, "positions.branch_batch_size");
  }
}

int64_t PositionsSection::default_continuity_length() const {
  if (train_length <= 0) return 0;
  const int64_t factor = target_length / train_length;
  return factor > std::numeric_limits<int64_t>::max() / 4 ? std::numeric_limits<int64_t>::max() : 4 * factor;
}

positions::Options PositionsSection::sampler_options() const {
  positions::Options options;
  options.method = positions::parse_method(to_string(method));
  options.train_length = train_length;
  options.target_length = target_length;
  options.sigma = sigma.value_or(options.sigma);
  if (continuity_length.value_or(0) > 0) options.continuity_length = continuity_length;
  options.relativity_share = relativity_share.value_or(options.relativity_share);
  options.exact_truncnorm = exact_truncnorm.value_or(options.exact_truncnorm);
  options.branch_per = positions::parse_branch_per(to_string(branch_per.value_or(BranchPer::sequence)));
  options.branch_batch_size = branch_batch_size.value_or(options.branch_batch_size);
  return options;
}

void RopeSection::validate() const {
  if (factor) {
    require(std::isfinite(*factor) && *factor >= 1.0, "rope.factor", "must be >= 1, got " + number(*factor));
    require(type != RopeType::none || *factor == 1.0, "rope.factor",
            "rope.type none scales nothing, so factor must be 1 or absent, got " + number(*factor));
  }
  const bool yarn_like = type == RopeType::yarn || type == RopeType::yarn_cream;
  const std::string type_note = std::string(" (type is ") + to_string(type) + ")";
  require(yarn_like || !beta_fast, "rope.beta_fast", "only applies to rope.type yarn or yarn-cream" + type_note);
  require(yarn_like || !beta_slow, "rope.beta_slow", "only applies to rope.type yarn or yarn-cream" + type_note);
  require(yarn_like || !attention_factor, "rope.attention_factor",
          "only applies to rope.type yarn or yarn-cream" + type_note);
  require(type == RopeType::llama3 || !low_freq_factor, "rope.low_freq_factor",
          "only applies to rope.type llama3" + type_note);
  require(type == RopeType::llama3 || !high_freq_factor, "rope.high_freq_factor",
          "only applies to rope.type llama3" + type_note);
  if (beta_fast) require_positive(*beta_fast, "rope.beta_fast");
  if (beta_slow) require_positive(*beta_slow, "rope.beta_slow");
  if (beta_fast && beta_slow) {
    require(*beta_fast > *beta_slow, "rope.beta_fast",
            "must be > beta_slow " + number(*beta_slow) + ", got " + number(*beta_fast));
  }
  if (attention_factor) require_positive(*attention_factor, "rope.attention_factor");
  if (low_freq_factor) require_positive(*low_freq_factor, "rope.low_freq_factor");
  if (high_freq_factor) require_positive(*high_freq_factor, "rope.high_freq_factor");
  if (low_freq_factor && high_freq_factor) {
    require(*high_freq_factor > *low_freq_factor, "rope.high_freq_factor",
            "must be > low_freq_factor " + number(*low_freq_factor) + ", got " + number(*high_freq_factor));
  }
}

void TrainSection::validate() const {
  require_at_least(steps, 1, "train.steps");
  require_at_least(global_batch, 1, "train.global_batch");
  require_at_least(micro_batch, 1, "train.micro_batch");
  require_at_least(seed, 0, "train.seed");
  require_at_least(activation_checkpointing_stride, 1, "train.activation_checkpointing_stride",
                   " (1 = every layer, k = every k-th layer)");
  require(std::isfinite(grad_clip) && grad_clip >= 0.0, "train.grad_clip",
          "must be >= 0 (0 = no clipping), got " + number(grad_clip));
}

void OptimSection::validate() const {
  require_positive(lr, "optim.lr");
  for (double beta : betas) {
    require(beta >= 0.0 && beta < 1.0, "optim.betas", "each beta must be in [0, 1), got " + number(beta));
  }
  require_positive(eps, "optim.eps");
  require(std::isfinite(weight_decay) && weight_decay >= 0.0, "optim.weight_decay",
          "must be >= 0, got " + number(weight_decay));
}

void ScheduleSection::validate() const {
  require_at_least(warmup_steps, 0, "schedule.warmup_steps");
  require(std::isfinite(min_lr) && min_lr >= 0.0, "schedule.min_lr", "must be >= 0, got " + number(min_lr));
  // With constant, min_lr is only where the warm-up starts.
  require(name != ScheduleName::constant || warmup_steps > 0 || min_lr == 0.0, "schedule.min_lr",
          "has no effect with schedule.name constant and no warm-up (the rate is optim.lr throughout)");
}

void EvalSection::validate() const {
  require_at_least(every, 0, "eval.every", " (0 = no evaluation during training)");
  require_at_least(batches, 1, "eval.batches");
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const std::string key = "eval.lengths[" + std::to_string(i) + "]";
    require(lengths[i] >= 2, key.c_str(), "must be >= 2, got " + number(lengths[i]));
  }
}

void CheckpointSection::validate() const {
  require(!output_dir.empty(), "checkpoint.output_dir", "missing required key");
  require_at_least(every, 0, "checkpoint.every", " (0 = only the final checkpoint)");
  require_at_least(keep, 0, "checkpoint.keep", " (0 = keep all)");
}

void DistSection::validate() const {
  require(zero == 0 || zero == 1, "dist.zero", "must be 0 (plain data parallel) or 1 (sharded AdamW state), got " +
                                                   std::to_string(zero));
  require_at_least(timeout_s, 1, "dist.timeout_s");
  require_at_least(bucket_mb, 1, "dist.bucket_mb");
}

void LogSection::validate() const { require_at_least(every, 1, "log.every"); }

}  // namespace cream::config
